/*
 * ingest.c -- strict validation of one POST /streams/ingest or POST
 * /events body, as upstream applies it.
 *
 * Ingest: the body must be a JSON object with exactly the members
 * data_stream_token, metric_agg_func and data; each data element
 * exactly timestamp, metric_name, metric_value and, optionally,
 * custom_dimensions.  Checks, in order (the first failure answers):
 *
 *   body is JSON, an object             -> 400
 *   max_points fault: len(data) > M     -> 413
 *   top-level members                   -> 400
 *   unknown data_stream_token           -> 404
 *   each element, in index order        -> 400 {"message", "index"}
 *     (the poison_prefix fault is checked right after metric_name)
 *
 * Events (Event Overlay): exactly the member data; each element exactly
 * timestamp, payload and, optionally, team_id; payload exactly type,
 * description and, optionally, event_url.  Checks, in order:
 *
 *   body is JSON, an object             -> 400
 *   max_points fault: len(data) > M     -> 413
 *   top-level members                   -> 400
 *   each element, in index order        -> 400 {"message", "index"}
 *     (the poison_event_type fault is checked right after type)
 *   first element of an unknown team    -> 404 {"message", "index"}
 *
 * A request either validates completely or yields nothing to store.
 *
 * Parse arena: cJSON allocates one node per value and malloc/free of ~15k
 * nodes per 1000-point request dominated the profile.  While a thread
 * parses a request body, cJSON's hooks bump-allocate from that thread's
 * arena and free nothing; mock_request_cleanup() drops the whole tree at
 * once.  Outside such a parse the hooks are plain malloc/free, so other
 * cJSON users (the control API) are unaffected.  Invariant: a tree built
 * in the arena is never passed to cJSON_Delete() outside the parse.
 */
#include "mock.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#define ARENA_MIN (256u << 10)
#define ARENA_KEEP (16u << 20)       /* larger chunks are not kept */

struct achunk {
    struct achunk *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) char data[];
};

struct arena {
    struct achunk *head;             /* newest (and largest) chunk first */
    int active;                      /* cJSON hooks allocate from here */
    int in_use;                      /* holds a request's tree */
};

static pthread_key_t arena_key;

static struct arena *
arena_get(void)
{
    struct arena *a = pthread_getspecific(arena_key);

    if (!a) {
        a = mock_xmalloc(sizeof(*a));
        memset(a, 0, sizeof(*a));
        pthread_setspecific(arena_key, a);
    }
    return a;
}

/* Forgets every allocation; keeps the newest chunk unless it is huge. */
static void
arena_reset(struct arena *a)
{
    struct achunk *c = a->head, *next;

    if (c && c->cap <= ARENA_KEEP) {
        c->used = 0;
        c = c->next;
        a->head->next = NULL;
    } else {
        a->head = NULL;
    }
    for (; c; c = next) {
        next = c->next;
        free(c);
    }
    a->active = 0;
    a->in_use = 0;
}

static void
arena_free_all(void *p)
{
    struct arena *a = p;
    struct achunk *c, *next;

    if (!a) {
        return;
    }
    for (c = a->head; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static void *
hook_malloc(size_t n)
{
    struct arena *a = pthread_getspecific(arena_key);
    struct achunk *c;
    void *p;

    if (!a || !a->active) {
        return malloc(n);
    }
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : ARENA_MIN;
        if (cap < n) {
            cap = n;
        }
        c = malloc(sizeof(*c) + cap);
        if (!c) {
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += n;
    return p;
}

static void
hook_free(void *p)
{
    struct arena *a = pthread_getspecific(arena_key);

    if (a && a->active) {
        return;                      /* dropped by arena_reset() */
    }
    free(p);
}

void
mock_ingest_init(void)
{
    static cJSON_Hooks hooks = {hook_malloc, hook_free};

    pthread_key_create(&arena_key, arena_free_all);
    cJSON_InitHooks(&hooks);
}

void
mock_ingest_cleanup(void)
{
    arena_free_all(pthread_getspecific(arena_key));
    pthread_setspecific(arena_key, NULL);
}

static const char *const agg_names[] = {"Sum", "Average", "Maximum",
                                        "Minimum"};

static int
fail(struct mock_error *err, int status, long index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct mock_error *err, int status, long index, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

/* Input text is echoed in messages only when short and valid UTF-8. */
static const char *
echo(const char *s)
{
    size_t len = strlen(s);

    if (len > 40 || !mock_utf8_valid(s, len)) {
        return "(value not shown)";
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20) {
            return "(value not shown)";
        }
    }
    return s;
}

/*
 * Finds the named members of obj.  Every member must be one of names
 * (no duplicates, no others).  out[i] is NULL when names[i] is absent.
 * Returns NULL on success or the offending member's name.
 */
static const char *
members(const cJSON *obj, const char *const *names, size_t n_names,
        const cJSON **out, int *is_duplicate)
{
    const cJSON *m;
    size_t i;

    for (i = 0; i < n_names; i++) {
        out[i] = NULL;
    }
    *is_duplicate = 0;
    for (m = obj->child; m; m = m->next) {
        const char *name = m->string ? m->string : "";
        for (i = 0; i < n_names; i++) {
            if (strcmp(name, names[i]) == 0) {
                break;
            }
        }
        if (i == n_names) {
            return name;
        }
        if (out[i]) {
            *is_duplicate = 1;
            return name;
        }
        out[i] = m;
    }
    return NULL;
}

static int
check_top(const cJSON *root, const struct mock_ingest_opts *opts,
          struct mock_request *req, struct mock_error *err)
{
    static const char *const names[] = {"data_stream_token",
                                        "metric_agg_func", "data"};
    const cJSON *m[3];
    const char *bad;
    int dup;
    size_t i;

    bad = members(root, names, 3, m, &dup);
    if (bad) {
        return fail(err, 400, -1,
                    dup ? "duplicate member \"%s\" in request object"
                        : "unknown member \"%s\" in request object; "
                          "expected data_stream_token, metric_agg_func "
                          "and data",
                    echo(bad));
    }
    for (i = 0; i < 3; i++) {
        if (!m[i]) {
            return fail(err, 400, -1, "missing \"%s\" in request object",
                        names[i]);
        }
    }
    if (!cJSON_IsString(m[0]) || !m[0]->valuestring[0]) {
        return fail(err, 400, -1,
                    "data_stream_token must be a non-empty string");
    }
    if (!cJSON_IsString(m[1])) {
        return fail(err, 400, -1,
                    "metric_agg_func must be a string: one of Sum, "
                    "Average, Maximum, Minimum");
    }
    req->agg = NULL;
    for (i = 0; i < 4; i++) {
        if (strcmp(m[1]->valuestring, agg_names[i]) == 0) {
            req->agg = agg_names[i];
        }
    }
    if (!req->agg) {
        for (i = 0; i < 4; i++) {
            if (strcasecmp(m[1]->valuestring, agg_names[i]) == 0) {
                return fail(err, 400, -1,
                            "metric_agg_func \"%s\" is not valid; the "
                            "spelling is \"%s\"",
                            echo(m[1]->valuestring), agg_names[i]);
            }
        }
        return fail(err, 400, -1,
                    "metric_agg_func \"%s\" is not one of Sum, Average, "
                    "Maximum, Minimum",
                    echo(m[1]->valuestring));
    }
    if (!cJSON_IsArray(m[2]) || !m[2]->child) {
        return fail(err, 400, -1, "data must be a non-empty array");
    }
    req->token = m[0]->valuestring;
    if (opts->n_tokens > 0) {
        for (i = 0; i < opts->n_tokens; i++) {
            if (strcmp(opts->tokens[i], req->token) == 0) {
                break;
            }
        }
        if (i == opts->n_tokens) {
            return fail(err, 404, -1, "no stream found");
        }
    }
    return 0;
}

static int
check_dims(const cJSON *obj, long idx, struct mock_point *pt,
           struct mock_error *err)
{
    const cJSON *m, *prev;
    size_t n = 0;

    if (!cJSON_IsObject(obj)) {
        return fail(err, 400, idx,
                    "data[%ld].custom_dimensions must be an object of "
                    "string values",
                    idx);
    }
    for (m = obj->child; m; m = m->next) {
        const char *key = m->string ? m->string : "";
        size_t key_len = strlen(key), value_len;

        if (n == MOCK_MAX_DIMS) {
            return fail(err, 400, idx,
                        "data[%ld].custom_dimensions has more than %d "
                        "members",
                        idx, MOCK_MAX_DIMS);
        }
        if (key_len == 0 || key_len > MOCK_MAX_KEY_LEN ||
            !mock_utf8_valid(key, key_len)) {
            return fail(err, 400, idx,
                        "data[%ld].custom_dimensions: keys must be "
                        "non-empty UTF-8 of at most %d bytes",
                        idx, MOCK_MAX_KEY_LEN);
        }
        for (prev = obj->child; prev != m; prev = prev->next) {
            if (strcmp(prev->string, key) == 0) {
                return fail(err, 400, idx,
                            "data[%ld].custom_dimensions: duplicate key "
                            "\"%s\"",
                            idx, echo(key));
            }
        }
        if (!cJSON_IsString(m)) {
            return fail(err, 400, idx,
                        "data[%ld].custom_dimensions[\"%s\"] must be a "
                        "string",
                        idx, echo(key));
        }
        value_len = strlen(m->valuestring);
        if (value_len > MOCK_MAX_NAME_LEN ||
            !mock_utf8_valid(m->valuestring, value_len)) {
            return fail(err, 400, idx,
                        "data[%ld].custom_dimensions[\"%s\"] must be "
                        "UTF-8 of at most %d bytes",
                        idx, echo(key), MOCK_MAX_NAME_LEN);
        }
        pt->dims[n].key = key;
        pt->dims[n].key_len = key_len;
        pt->dims[n].value = m->valuestring;
        pt->dims[n].value_len = value_len;
        n++;
    }
    pt->n_dims = n;
    mock_dims_sort(pt->dims, n);
    return 0;
}

static int
check_point(const cJSON *el, long idx, const struct mock_ingest_opts *opts,
            const char *agg, struct mock_point *pt, struct mock_error *err)
{
    static const char *const names[] = {"timestamp", "metric_name",
                                        "metric_value",
                                        "custom_dimensions"};
    const cJSON *m[4];
    const char *bad;
    int dup, rc;
    size_t i, len;

    if (!cJSON_IsObject(el)) {
        return fail(err, 400, idx, "data[%ld] must be an object", idx);
    }
    bad = members(el, names, 4, m, &dup);
    if (bad) {
        return fail(err, 400, idx,
                    dup ? "data[%ld]: duplicate member \"%s\""
                        : "data[%ld]: unknown member \"%s\"; expected "
                          "timestamp, metric_name, metric_value and "
                          "custom_dimensions",
                    idx, echo(bad));
    }
    for (i = 0; i < 3; i++) {
        if (!m[i]) {
            return fail(err, 400, idx, "data[%ld]: missing \"%s\"", idx,
                        names[i]);
        }
    }
    if (!cJSON_IsString(m[0])) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp must be a string "
                    "\"YYYY-MM-DD HH:00:00\"",
                    idx);
    }
    len = strlen(m[0]->valuestring);
    rc = mock_parse_hour(m[0]->valuestring, len, &pt->hour);
    if (rc == -1) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp \"%s\" is not of the form "
                    "\"YYYY-MM-DD HH:00:00\"",
                    idx, echo(m[0]->valuestring));
    } else if (rc != 0) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp \"%s\" names no real date and "
                    "hour",
                    idx, echo(m[0]->valuestring));
    }
    if (!cJSON_IsString(m[1]) || !m[1]->valuestring[0]) {
        return fail(err, 400, idx,
                    "data[%ld].metric_name must be a non-empty string",
                    idx);
    }
    pt->metric_name = m[1]->valuestring;
    pt->name_len = strlen(pt->metric_name);
    if (pt->name_len > MOCK_MAX_NAME_LEN ||
        !mock_utf8_valid(pt->metric_name, pt->name_len)) {
        return fail(err, 400, idx,
                    "data[%ld].metric_name must be UTF-8 of at most %d "
                    "bytes",
                    idx, MOCK_MAX_NAME_LEN);
    }
    if (opts->poison_prefix && opts->poison_prefix[0] &&
        strncmp(pt->metric_name, opts->poison_prefix,
                strlen(opts->poison_prefix)) == 0) {
        return fail(err, 400, idx, "invalid metric_name");
    }
    if (!cJSON_IsNumber(m[2])) {
        return fail(err, 400, idx,
                    "data[%ld].metric_value must be a JSON number", idx);
    }
    pt->value = m[2]->valuedouble;
    if (!isfinite(pt->value)) {
        return fail(err, 400, idx,
                    "data[%ld].metric_value must be a finite number", idx);
    }
    pt->n_dims = 0;
    if (m[3]) {
        rc = check_dims(m[3], idx, pt, err);
        if (rc != 0) {
            return rc;
        }
    }
    mock_record_id(pt->metric_name, pt->name_len, agg, pt->dims, pt->n_dims,
                   pt->rid);
    return 0;
}

/*
 * Parses body in the calling thread's arena: one JSON object and nothing
 * after it.  Counts the elements of its "data" array (when it is one)
 * and applies the max_points fault.  On success returns 0 and *root;
 * otherwise the status (err filled) and the arena is reset.
 */
static int
parse_body(const char *body, size_t len, const struct mock_ingest_opts *opts,
           struct arena *a, const cJSON **root_out, size_t *n_out,
           struct mock_error *err)
{
    cJSON *root;
    const cJSON *data, *el;
    const char *end = NULL;
    size_t n = 0;
    int rc;

    err->status = 0;
    err->index = -1;
    err->n_points = 0;
    err->message[0] = '\0';

    assert(!a->in_use);
    a->active = 1;
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    a->active = 0;
    a->in_use = 1;
    if (!root) {
        rc = fail(err, 400, -1, "request body is not valid JSON");
        goto out;
    }
    while (end && end < body + len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) {
        end++;
    }
    if (end != body + len) {
        rc = fail(err, 400, -1, "unexpected data after the JSON object");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(err, 400, -1, "request body must be a JSON object");
        goto out;
    }
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (cJSON_IsArray(data)) {
        for (el = data->child; el; el = el->next) {
            n++;
        }
        err->n_points = n;
        if (opts->max_points > 0 && n > opts->max_points) {
            rc = fail(err, 413, -1, "payload too large");
            goto out;
        }
    }
    *root_out = root;
    *n_out = n;
    return 0;
out:
    arena_reset(a);
    return rc;
}

int
mock_ingest_parse(const char *body, size_t len,
                  const struct mock_ingest_opts *opts,
                  struct mock_request *req, struct mock_error *err)
{
    struct arena *a = arena_get();
    const cJSON *root = NULL, *data, *el;
    size_t n = 0;
    long idx = 0;
    int rc;

    memset(req, 0, sizeof(*req));
    rc = parse_body(body, len, opts, a, &root, &n, err);
    if (rc != 0) {
        return rc;
    }
    rc = check_top(root, opts, req, err);
    if (rc != 0) {
        goto out;
    }
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    req->points = mock_xmalloc(n * sizeof(*req->points));
    for (el = data->child; el; el = el->next, idx++) {
        rc = check_point(el, idx, opts, req->agg, &req->points[idx], err);
        if (rc != 0) {
            goto out;
        }
    }
    req->n_points = n;
    req->tree = a;
out:
    if (rc != 0) {
        free(req->points);
        memset(req, 0, sizeof(*req));
        arena_reset(a);
    }
    return rc;
}

void
mock_request_cleanup(struct mock_request *req)
{
    free(req->points);
    if (req->tree) {
        arena_reset(req->tree);
    }
    memset(req, 0, sizeof(*req));
}

/* ---- events ---- */

/* "http://" or "https://", then a non-empty host (after any user@ and
 * before any :port) ending at "/", "?", "#" or the end. */
static int
url_ok(const char *s, size_t len)
{
    size_t i, end, host;

    if (len >= 7 && strncmp(s, "http://", 7) == 0) {
        i = 7;
    } else if (len >= 8 && strncmp(s, "https://", 8) == 0) {
        i = 8;
    } else {
        return 0;
    }
    for (end = i; end < len; end++) {
        if (s[end] == '/' || s[end] == '?' || s[end] == '#') {
            break;
        }
    }
    host = i;
    for (; i < end; i++) {
        if (s[i] == '@') {
            host = i + 1;
        }
    }
    return host < end && s[host] != ':';
}

static int
check_payload(const cJSON *obj, long idx, const struct mock_ingest_opts *opts,
              struct mock_event *ev, struct mock_error *err)
{
    static const char *const names[] = {"type", "description", "event_url"};
    const cJSON *m[3];
    const char *bad, *poison = opts->poison_event_type;
    int dup;
    size_t i;

    if (!cJSON_IsObject(obj)) {
        return fail(err, 400, idx, "data[%ld].payload must be an object",
                    idx);
    }
    bad = members(obj, names, 3, m, &dup);
    if (bad && !dup && strcmp(bad, "decscription") == 0) {
        return fail(err, 400, idx,
                    "data[%ld].payload: unknown member \"decscription\"; "
                    "the spelling is \"description\"",
                    idx);
    }
    if (bad) {
        return fail(err, 400, idx,
                    dup ? "data[%ld].payload: duplicate member \"%s\""
                        : "data[%ld].payload: unknown member \"%s\"; "
                          "expected type, description and event_url",
                    idx, echo(bad));
    }
    for (i = 0; i < 2; i++) {
        if (!m[i]) {
            return fail(err, 400, idx, "data[%ld].payload: missing \"%s\"",
                        idx, names[i]);
        }
    }
    if (!cJSON_IsString(m[0]) || !m[0]->valuestring[0]) {
        return fail(err, 400, idx,
                    "data[%ld].payload.type must be a non-empty string",
                    idx);
    }
    ev->type = m[0]->valuestring;
    ev->type_len = strlen(ev->type);
    if (ev->type_len > MOCK_MAX_TYPE_LEN ||
        !mock_utf8_valid(ev->type, ev->type_len)) {
        return fail(err, 400, idx,
                    "data[%ld].payload.type must be UTF-8 of at most %d "
                    "bytes",
                    idx, MOCK_MAX_TYPE_LEN);
    }
    if (poison && poison[0] &&
        strncmp(ev->type, poison, strlen(poison)) == 0) {
        return fail(err, 400, idx, "invalid type");
    }
    if (!cJSON_IsString(m[1])) {
        return fail(err, 400, idx,
                    "data[%ld].payload.description must be a string", idx);
    }
    ev->description = m[1]->valuestring;
    ev->description_len = strlen(ev->description);
    if (ev->description_len == 0 ||
        ev->description_len > 4 * MOCK_MAX_DESC_CHARS ||
        !mock_utf8_valid(ev->description, ev->description_len) ||
        mock_utf8_count(ev->description, ev->description_len) >
            MOCK_MAX_DESC_CHARS) {
        return fail(err, 400, idx,
                    "data[%ld].payload.description must be UTF-8 of 1 to "
                    "%d characters",
                    idx, MOCK_MAX_DESC_CHARS);
    }
    ev->event_url = NULL;
    ev->url_len = 0;
    if (m[2]) {
        if (!cJSON_IsString(m[2])) {
            return fail(err, 400, idx,
                        "data[%ld].payload.event_url must be a string",
                        idx);
        }
        ev->event_url = m[2]->valuestring;
        ev->url_len = strlen(ev->event_url);
        if (ev->url_len > MOCK_MAX_URL_LEN ||
            !mock_utf8_valid(ev->event_url, ev->url_len) ||
            !url_ok(ev->event_url, ev->url_len)) {
            return fail(err, 400, idx,
                        "data[%ld].payload.event_url must be an http:// "
                        "or https:// URL with a host, UTF-8 of at most %d "
                        "bytes",
                        idx, MOCK_MAX_URL_LEN);
        }
    }
    return 0;
}

static int
check_event(const cJSON *el, long idx, const struct mock_ingest_opts *opts,
            struct mock_event *ev, struct mock_error *err)
{
    static const char *const names[] = {"timestamp", "team_id", "payload"};
    const cJSON *m[3];
    const char *bad;
    int dup, rc;
    double v;

    if (!cJSON_IsObject(el)) {
        return fail(err, 400, idx, "data[%ld] must be an object", idx);
    }
    bad = members(el, names, 3, m, &dup);
    if (bad) {
        return fail(err, 400, idx,
                    dup ? "data[%ld]: duplicate member \"%s\""
                        : "data[%ld]: unknown member \"%s\"; expected "
                          "timestamp, team_id and payload",
                    idx, echo(bad));
    }
    if (!m[0] || !m[2]) {
        return fail(err, 400, idx, "data[%ld]: missing \"%s\"", idx,
                    m[0] ? "payload" : "timestamp");
    }
    if (!cJSON_IsString(m[0])) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp must be a string "
                    "\"YYYY-MM-DD HH:00:00\"",
                    idx);
    }
    rc = mock_parse_hour(m[0]->valuestring, strlen(m[0]->valuestring),
                         &ev->hour);
    if (rc == -1) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp \"%s\" is not of the form "
                    "\"YYYY-MM-DD HH:00:00\"",
                    idx, echo(m[0]->valuestring));
    } else if (rc != 0) {
        return fail(err, 400, idx,
                    "data[%ld].timestamp \"%s\" names no real date and "
                    "hour",
                    idx, echo(m[0]->valuestring));
    }
    ev->team_id = 0;
    if (m[1]) {
        /* cJSON keeps no number text: 7.0 and 7e0 read as 7. */
        v = cJSON_IsNumber(m[1]) ? m[1]->valuedouble : 0.0;
        if (!(v >= 1.0 && v <= (double)MOCK_MAX_TEAM) || v != floor(v)) {
            return fail(err, 400, idx,
                        "data[%ld].team_id must be a JSON integer from 1 "
                        "to %lld",
                        idx, MOCK_MAX_TEAM);
        }
        ev->team_id = (int64_t)v;
    }
    rc = check_payload(m[2], idx, opts, ev, err);
    if (rc != 0) {
        return rc;
    }
    mock_event_id(ev->hour, ev->team_id, ev->type, ev->type_len,
                  ev->description, ev->description_len, ev->event_url,
                  ev->url_len, ev->eid);
    return 0;
}

static int
team_known(const struct mock_ingest_opts *opts, int64_t team)
{
    size_t i;

    for (i = 0; i < opts->n_teams; i++) {
        if (opts->teams[i] == team) {
            return 1;
        }
    }
    return 0;
}

int
mock_events_parse(const char *body, size_t len,
                  const struct mock_ingest_opts *opts,
                  struct mock_event_request *req, struct mock_error *err)
{
    static const char *const names[] = {"data"};
    struct arena *a = arena_get();
    const cJSON *root = NULL, *m[1], *el;
    const char *bad;
    size_t n = 0, i;
    long idx = 0;
    int dup, rc;

    memset(req, 0, sizeof(*req));
    rc = parse_body(body, len, opts, a, &root, &n, err);
    if (rc != 0) {
        return rc;
    }
    bad = members(root, names, 1, m, &dup);
    if (bad) {
        rc = fail(err, 400, -1,
                  dup ? "duplicate member \"%s\" in request object"
                      : "unknown member \"%s\" in request object; "
                        "expected only data",
                  echo(bad));
        goto out;
    }
    if (!m[0]) {
        rc = fail(err, 400, -1, "missing \"data\" in request object");
        goto out;
    }
    if (!cJSON_IsArray(m[0]) || !m[0]->child) {
        rc = fail(err, 400, -1, "data must be a non-empty array");
        goto out;
    }
    req->events = mock_xmalloc(n * sizeof(*req->events));
    for (el = m[0]->child; el; el = el->next, idx++) {
        rc = check_event(el, idx, opts, &req->events[idx], err);
        if (rc != 0) {
            goto out;
        }
    }
    if (opts->n_teams > 0) {
        for (i = 0; i < n; i++) {
            if (req->events[i].team_id > 0 &&
                !team_known(opts, req->events[i].team_id)) {
                rc = fail(err, 404, (long)i, "no team found");
                goto out;
            }
        }
    }
    req->n_events = n;
    req->tree = a;
out:
    if (rc != 0) {
        free(req->events);
        memset(req, 0, sizeof(*req));
        arena_reset(a);
    }
    return rc;
}

void
mock_event_request_cleanup(struct mock_event_request *req)
{
    free(req->events);
    if (req->tree) {
        arena_reset(req->tree);
    }
    memset(req, 0, sizeof(*req));
}
