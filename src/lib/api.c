/*
 * api.c -- the public ctspool_* producer API (include/ctspool.h): a thin
 * layer that validates with validate.c / payload.c and stores with
 * journal.c.  Owns the handle and its error message.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "journal.h"
#include "memwatch.h"
#include "sp_int.h"

struct ctspool {
    struct sp_journal *j;
    char *default_stream;
    char **streams; /* tokens points may use; n_streams 0: any */
    size_t n_streams;
    long idem_hours; /* idempotency keys are remembered this long */
    struct sp_err err;
};

static _Thread_local struct sp_err open_err;

CTSPOOL_EXTERN const char *
ctspool_errmsg(const ctspool *h)
{
    return h ? h->err.msg : open_err.msg;
}

/* A call the library refuses as made (CTSPOOL_E_USAGE): the reason goes
 * to h's message, so that ctspool_errmsg() never shows an older call's. */
static ctspool_rc
usage_error(ctspool *h, const char *fn, const char *why)
{
    if (h) {
        sp_err_set(&h->err, "%s: %s", fn, why);
    }
    return CTSPOOL_E_USAGE;
}

/*
 * SQLite answers some damage with "out of memory" (memwatch.c): the
 * counter that tells it from a shortage goes over SQLite's allocator
 * before the first open, unless the application started SQLite first
 * (sqlite3_config() then refuses; such damage then stays E_NOMEM).
 */
static pthread_once_t memwatch_once = PTHREAD_ONCE_INIT;

static void
memwatch_start(void)
{
    (void)sp_memwatch_install(NULL);
}

static ctspool_rc
open_with(const struct sp_journal_opts *o, ctspool **out)
{
    char why[PATH_MAX + 128];
    ctspool *h;
    ctspool_rc rc;

    *out = NULL;
    pthread_once(&memwatch_once, memwatch_start);
    h = calloc(1, sizeof(*h));
    if (!h) {
        sp_err_set(&open_err, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_journal_open(o, &h->j, &open_err);
    if (rc != CTSPOOL_OK) {
        free(h);
        return rc;
    }
    /* A producer's handle is for writing: said now, not at the first
     * append as an I/O error. */
    if (sp_journal_read_only(h->j, why, sizeof(why))) {
        sp_err_set(&open_err, "cannot write journal %s: %s", o->path, why);
        sp_journal_close(h->j);
        free(h);
        return CTSPOOL_E_CANTCREATE;
    }
    h->idem_hours = 24;
    *out = h;
    return CTSPOOL_OK;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_open(const char *path, unsigned flags, ctspool **out)
{
    struct sp_journal_opts o;

    if (!out) {
        sp_err_set(&open_err, "ctspool_open: out is NULL");
        return CTSPOOL_E_USAGE;
    }
    *out = NULL;
    if (!path || !*path) {
        sp_err_set(&open_err, "no journal path given");
        return CTSPOOL_E_USAGE;
    }
    if (flags & ~CTSPOOL_DURABILITY_NORMAL) {
        sp_err_set(&open_err, "ctspool_open: unknown flags");
        return CTSPOOL_E_USAGE;
    }
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.durability_full = !(flags & CTSPOOL_DURABILITY_NORMAL);
    return open_with(&o, out);
}

CTSPOOL_EXTERN ctspool_rc
ctspool_open_config(const char *config_path, ctspool **out)
{
    struct sp_config *c = NULL;
    struct sp_journal_opts o;
    ctspool_rc rc;

    if (!out) {
        sp_err_set(&open_err, "ctspool_open_config: out is NULL");
        return CTSPOOL_E_USAGE;
    }
    *out = NULL;
    rc = sp_config_load(config_path, &c, &open_err);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    memset(&o, 0, sizeof(o));
    o.path = c->journal;
    o.durability_full = c->durability_full;
    o.corrupt_stop = c->on_corrupt_stop;
    o.max_pending_points = (uint64_t)c->limits.max_pending_points;
    o.max_journal_bytes = (uint64_t)c->limits.max_journal_bytes;
    o.file_mode = sp_config_journal_mode(c);
    rc = open_with(&o, out);
    if (rc == CTSPOOL_OK) {
        (*out)->idem_hours = c->server.idempotency_hours;
    }
    if (rc == CTSPOOL_OK && c->upload.data_stream_token) {
        rc = ctspool_set_default_stream(*out, c->upload.data_stream_token);
    }
    if (rc == CTSPOOL_OK && c->n_streams) {
        rc = ctspool_set_streams(*out, (const char *const *)c->streams,
                                 c->n_streams);
    }
    if (rc != CTSPOOL_OK && *out) {
        snprintf(open_err.msg, sizeof(open_err.msg), "%s", (*out)->err.msg);
        ctspool_close(*out);
        *out = NULL;
    }
    sp_config_free(c);
    return rc;
}

static void
free_streams(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        explicit_bzero(v[i], strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

CTSPOOL_EXTERN void
ctspool_close(ctspool *h)
{
    if (!h) {
        return;
    }
    sp_journal_close(h->j);
    free(h->default_stream);
    free_streams(h->streams, h->n_streams);
    free(h);
}

CTSPOOL_EXTERN ctspool_rc
ctspool_set_default_stream(ctspool *h, const char *token)
{
    char *copy = NULL;

    if (!h) {
        return CTSPOOL_E_USAGE;
    }
    if (token && *token) {
        if (sp_valid_stream(token, strlen(token), &h->err) != CTSPOOL_OK) {
            return CTSPOOL_E_INVALID;
        }
        copy = strdup(token);
        if (!copy) {
            sp_err_set(&h->err, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
    }
    free(h->default_stream);
    h->default_stream = copy;
    return CTSPOOL_OK;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_set_streams(ctspool *h, const char *const *tokens, size_t n)
{
    char **copy = NULL;
    size_t i;

    if (!h || (n && !tokens)) {
        return usage_error(h, "ctspool_set_streams", "tokens is NULL");
    }
    for (i = 0; i < n; i++) {
        if (!tokens[i]) {
            sp_err_set(&h->err, "streams: entry %zu is NULL", i);
            return CTSPOOL_E_USAGE;
        }
        if (sp_valid_stream(tokens[i], strlen(tokens[i]), &h->err) !=
            CTSPOOL_OK) {
            sp_err_prefix(&h->err, "streams: entry %zu: ", i);
            return CTSPOOL_E_INVALID;
        }
    }
    if (n) {
        copy = calloc(n, sizeof(*copy));
        if (!copy) {
            sp_err_set(&h->err, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
    }
    for (i = 0; i < n; i++) {
        copy[i] = strdup(tokens[i]);
        if (!copy[i]) {
            free_streams(copy, i);
            sp_err_set(&h->err, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
    }
    free_streams(h->streams, h->n_streams);
    h->streams = copy;
    h->n_streams = n;
    return CTSPOOL_OK;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_set_limits(ctspool *h, uint64_t max_pending_points,
                   uint64_t max_journal_bytes)
{
    if (!h) {
        return CTSPOOL_E_USAGE;
    }
    sp_journal_set_limits(h->j, max_pending_points, max_journal_bytes);
    return CTSPOOL_OK;
}

/* Public point -> validated, finished internal point. */
static ctspool_rc
convert(const ctspool *h, const ctspool_point *in, struct sp_point *p,
        struct sp_err *e)
{
    const struct sp_defaults listed = {.agg = -1, .streams = h->streams,
                                       .n_streams = h->n_streams};
    const char *stream = in->data_stream_token ? in->data_stream_token
                                               : h->default_stream;

    memset(p, 0, sizeof(*p));
    if (!stream) {
        sp_err_set(e, "data_stream_token: missing (not in the point and no "
                      "default stream set)");
        return CTSPOOL_E_INVALID;
    }
    p->stream = stream;
    p->stream_len = strlen(stream);
    if (sp_valid_stream(p->stream, p->stream_len, e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    if (!in->metric_agg_func) {
        sp_err_set(e, "metric_agg_func: missing");
        return CTSPOOL_E_INVALID;
    }
    if (sp_valid_agg(in->metric_agg_func, strlen(in->metric_agg_func),
                     &p->agg, e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    if (!in->metric_name) {
        sp_err_set(e, "metric_name: missing");
        return CTSPOOL_E_INVALID;
    }
    p->name = in->metric_name;
    p->name_len = strlen(in->metric_name);
    if (sp_valid_name(p->name, p->name_len, e) != CTSPOOL_OK ||
        sp_valid_timestamp_num((double)in->timestamp, &p->hour, e) !=
            CTSPOOL_OK ||
        sp_valid_value_num(in->metric_value, e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    p->value = in->metric_value;
    if (in->n_dims && !in->dims) {
        sp_err_set(e, "custom_dimensions: n_dims set but dims is NULL");
        return CTSPOOL_E_INVALID;
    }
    for (size_t i = 0; i < in->n_dims; i++) {
        const ctspool_dim *d = &in->dims[i];

        if (!d->key || !d->value) {
            sp_err_set(e, "custom_dimensions: pair %zu has a NULL string",
                       i);
            return CTSPOOL_E_INVALID;
        }
        if (sp_point_add_dim(p, d->key, strlen(d->key), d->value,
                             strlen(d->value), e) != CTSPOOL_OK) {
            return CTSPOOL_E_INVALID;
        }
    }
    if (sp_point_finish(p, e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    /* Last, as in every other producer path. */
    return sp_valid_stream_listed(&listed, p->stream, p->stream_len, e);
}

static void
count_put(ctspool_append_result *res, enum sp_put_result r)
{
    if (r == SP_PUT_NEW) {
        res->n_new++;
    } else if (r == SP_PUT_UPDATED) {
        res->n_updated++;
    } else {
        res->n_unchanged++;
    }
}

/*
 * One producer call as one transaction: the idempotency key's check,
 * put(ctx) storing the points (replaced, or folded with
 * CTSPOOL_APPEND_ACCUMULATE), the key.  A journal found damaged is moved
 * aside and the call stored once more, into the fresh one.  *applied:
 * the key was stored before (nothing done).  The failure's detail is in
 * h->err.
 */
static ctspool_rc
store(ctspool *h, const char *key, size_t n_points,
      ctspool_rc (*put)(void *ctx), void *ctx, int *applied)
{
    int64_t min_at = (int64_t)time(NULL) - (int64_t)h->idem_hours * 3600;
    ctspool_rc rc = CTSPOOL_OK;

    *applied = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *answer = NULL, text[64];
        int64_t at;

        rc = sp_journal_begin(h->j);
        if (rc == CTSPOOL_OK && key) {
            rc = sp_journal_idem_get(h->j, key, min_at, &answer, &at);
            free(answer);
            if (rc == CTSPOOL_OK) {
                *applied = 1;
                sp_journal_rollback(h->j);
                return CTSPOOL_OK;
            }
            if (rc == CTSPOOL_E_NOTFOUND) {
                rc = CTSPOOL_OK;
            }
        }
        if (rc == CTSPOOL_OK) {
            rc = put(ctx);
        }
        /* More new points than limits.max_pending_points takes at all:
         * no retry can succeed, so not E_FULL ("retry later"), as the
         * CLI (exit 65) and serve (413) answer it. */
        if (rc == CTSPOOL_E_FULL && sp_journal_full_alone(h->j, n_points)) {
            snprintf(h->err.msg, sizeof(h->err.msg), "%s",
                     sp_journal_errmsg(h->j));
            rc = CTSPOOL_E_INVALID;
        }
        if (rc == CTSPOOL_OK && key) {
            snprintf(text, sizeof(text), "{\"accepted\": %zu}\n", n_points);
            rc = sp_journal_idem_put(h->j, key, text, (int64_t)time(NULL));
        }
        if (rc == CTSPOOL_OK) {
            rc = sp_journal_commit(h->j);
        } else {
            sp_journal_rollback(h->j);
        }
        if (rc != CTSPOOL_OK && rc != CTSPOOL_E_INVALID) {
            snprintf(h->err.msg, sizeof(h->err.msg), "%s",
                     sp_journal_errmsg(h->j));
        }
        if (rc != CTSPOOL_E_CORRUPT || attempt ||
            sp_journal_heal(h->j) != CTSPOOL_OK) {
            break;
        }
    }
    return rc;
}

/* key NULL, or a valid idempotency key (else h->err says why). */
static int
key_ok(ctspool *h, const char *key)
{
    struct sp_err e;

    if (key && sp_valid_idem_key(key, strlen(key), &e) != CTSPOOL_OK) {
        sp_err_set(&h->err, "idempotency key: %s", e.msg);
        return 0;
    }
    return 1;
}

/* A producer call's results: res (may be NULL) zero when the key was
 * applied before, else got; *applied_before (may be NULL). */
static void
give_result(ctspool_rc rc, int applied, const ctspool_append_result *got,
            ctspool_append_result *res, int *applied_before)
{
    if (applied_before) {
        *applied_before = applied;
    }
    if (rc == CTSPOOL_OK && res && applied) {
        memset(res, 0, sizeof(*res));
    } else if (rc == CTSPOOL_OK && res) {
        *res = *got;
    }
}

/* One point into the open transaction, replaced or folded. */
static ctspool_rc
put_one(ctspool *h, const struct sp_point *p, int fold,
        ctspool_append_result *res)
{
    enum sp_put_result r;
    ctspool_rc rc = fold ? sp_journal_fold(h->j, p, &r)
                         : sp_journal_put(h->j, p, &r);

    if (rc == CTSPOOL_OK) {
        count_put(res, r);
    }
    return rc;
}

struct points_ctx {
    ctspool *h;
    const ctspool_point *pts;
    size_t n;
    int fold;
    ctspool_append_result res;
};

static ctspool_rc
put_points(void *ctx)
{
    struct points_ctx *c = ctx;
    struct sp_point p;
    struct sp_err e;
    ctspool_rc rc = CTSPOOL_OK;

    memset(&c->res, 0, sizeof(c->res));
    for (size_t i = 0; rc == CTSPOOL_OK && i < c->n; i++) {
        convert(c->h, &c->pts[i], &p, &e); /* valid: checked before */
        rc = put_one(c->h, &p, c->fold, &c->res);
        if (rc == CTSPOOL_E_INVALID) {
            sp_err_set(&c->h->err, "point %zu: %s", i,
                       sp_journal_errmsg(c->h->j));
        }
    }
    return rc;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append_ex(ctspool *h, const ctspool_point *pts, size_t n,
                  unsigned flags, const char *idempotency_key,
                  ctspool_append_result *res, int *applied_before)
{
    struct points_ctx c;
    struct sp_point p;
    struct sp_err e;
    int applied = 0;
    ctspool_rc rc;

    if (!h || (n && !pts)) {
        return usage_error(h, "ctspool_append", "points is NULL");
    }
    if (flags & ~CTSPOOL_APPEND_ACCUMULATE) {
        return usage_error(h, "ctspool_append", "unknown flags");
    }
    if (!key_ok(h, idempotency_key)) {
        return CTSPOOL_E_USAGE;
    }
    /* Validate everything first: an invalid point stores nothing. */
    for (size_t i = 0; i < n; i++) {
        if (convert(h, &pts[i], &p, &e) != CTSPOOL_OK) {
            sp_err_set(&h->err, "point %zu: %s", i, e.msg);
            return CTSPOOL_E_INVALID;
        }
    }
    memset(&c, 0, sizeof(c));
    c.h = h;
    c.pts = pts;
    c.n = n;
    c.fold = (flags & CTSPOOL_APPEND_ACCUMULATE) != 0;
    rc = store(h, idempotency_key, n, put_points, &c, &applied);
    give_result(rc, applied, &c.res, res, applied_before);
    return rc;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append(ctspool *h, const ctspool_point *pts, size_t n,
               ctspool_append_result *res)
{
    return ctspool_append_ex(h, pts, n, 0, NULL, res, NULL);
}

/* Collects a JSON payload's first error, or stores its points. */
struct json_ctx {
    ctspool *h;
    ctspool_append_result res;
    int storing;
    int fold;
    size_t n_invalid, n_points;
    size_t k; /* storing: data[k] is the point at hand */
    const char *json;
    size_t len;
    const struct sp_defaults *d;
};

static ctspool_rc
json_on_point(void *ctx, const struct sp_point *p)
{
    struct json_ctx *c = ctx;
    ctspool_rc rc;

    if (!c->storing) {
        c->n_points++;
        return CTSPOOL_OK;
    }
    rc = put_one(c->h, p, c->fold, &c->res);
    c->k++;
    if (rc == CTSPOOL_E_INVALID) {
        sp_err_set(&c->h->err, "data[%zu]: %s", c->k - 1,
                   sp_journal_errmsg(c->h->j));
    } else if (rc != CTSPOOL_OK) {
        snprintf(c->h->err.msg, sizeof(c->h->err.msg), "%s",
                 sp_journal_errmsg(c->h->j));
    }
    return rc;
}

/* One more invalid element of a JSON body; the first one is h's error. */
static ctspool_rc
note_invalid(ctspool *h, size_t *n_invalid, size_t index,
             const struct sp_err *e)
{
    if ((*n_invalid)++ == 0) {
        sp_err_set(&h->err, "data[%zu]: %s", index, e->msg);
    }
    return CTSPOOL_OK;
}

/*
 * What the validating pass over a JSON body (rc, its document error e,
 * n_invalid elements, used bytes of json[0..len)) allows: OK to store,
 * else the code to return with h's error set (what: the object json
 * holds, for data after it).
 */
static ctspool_rc
validated(ctspool *h, ctspool_rc rc, const struct sp_err *e,
          size_t n_invalid, const char *json, size_t used, size_t len,
          const char *what)
{
    if (rc == CTSPOOL_E_INVALID) {
        sp_err_set(&h->err, "%s", e->msg);
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (n_invalid) {
        return CTSPOOL_E_INVALID; /* the first one is h's error */
    }
    for (size_t i = used; i < len; i++) {
        /* strchr() finds the NUL that ends its set: as the CLI and
         * serve, a NUL byte is refused. */
        if (json[i] == '\0') {
            sp_err_set(&h->err, "the input contains a NUL byte (byte %zu)",
                       i);
            return CTSPOOL_E_INVALID;
        }
        if (!strchr(" \t\r\n", json[i])) {
            sp_err_set(&h->err, "unexpected data after the %s at byte %zu",
                       what, i);
            return CTSPOOL_E_INVALID;
        }
    }
    return CTSPOOL_OK;
}

static ctspool_rc
json_on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct json_ctx *c = ctx;

    return note_invalid(c->h, &c->n_invalid, index, e);
}

static ctspool_rc
put_json(void *ctx)
{
    struct json_ctx *c = ctx;
    struct sp_err e;
    size_t used = 0;

    memset(&c->res, 0, sizeof(c->res));
    c->k = 0;
    return sp_payload_parse(c->json, c->len, c->d, json_on_point,
                            json_on_error, c, &used, &e);
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append_json_ex(ctspool *h, const char *json, size_t len,
                       unsigned flags, const char *idempotency_key,
                       ctspool_append_result *res, int *applied_before)
{
    struct sp_defaults d = {.stream = NULL, .agg = -1};
    struct json_ctx c;
    struct sp_err e;
    size_t used = 0;
    int applied = 0;
    ctspool_rc rc;

    if (!h || !json) {
        return usage_error(h, "ctspool_append_json", "json is NULL");
    }
    if (flags & ~CTSPOOL_APPEND_ACCUMULATE) {
        return usage_error(h, "ctspool_append_json", "unknown flags");
    }
    if (!key_ok(h, idempotency_key)) {
        return CTSPOOL_E_USAGE;
    }
    d.stream = h->default_stream;
    d.streams = h->streams;
    d.n_streams = h->n_streams;
    memset(&c, 0, sizeof(c));
    c.h = h;
    c.json = json;
    c.len = len;
    c.d = &d;
    c.fold = (flags & CTSPOOL_APPEND_ACCUMULATE) != 0;
    /* Pass 1 validates; pass 2 stores (parsing is cheap next to fsync). */
    rc = sp_payload_parse(json, len, &d, json_on_point, json_on_error, &c,
                          &used, &e);
    rc = validated(h, rc, &e, c.n_invalid, json, used, len,
                   "payload object");
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    c.storing = 1;
    rc = store(h, idempotency_key, c.n_points, put_json, &c, &applied);
    give_result(rc, applied, &c.res, res, applied_before);
    return rc;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append_json(ctspool *h, const char *json, size_t len,
                    ctspool_append_result *res)
{
    return ctspool_append_json_ex(h, json, len, 0, NULL, res, NULL);
}

/* ---- events ---------------------------------------------------------- */

/* One ctspool_event -> a validated event (strings borrowed). */
static ctspool_rc
convert_event(const ctspool_event *in, struct sp_event *ev, struct sp_err *e)
{
    ctspool_rc rc;

    memset(ev, 0, sizeof(*ev));
    if (!in->type || !in->description) {
        sp_err_set(e, "%s: missing (NULL)",
                   in->type ? "description" : "type");
        return CTSPOOL_E_INVALID;
    }
    rc = sp_valid_timestamp_num((double)in->timestamp, &ev->hour, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (in->team_id != 0) {
        rc = sp_event_team_num((double)in->team_id, &ev->team_id, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    ev->type = in->type;
    ev->type_len = strlen(in->type);
    ev->description = in->description;
    ev->description_len = strlen(in->description);
    if (in->event_url) {
        ev->url = in->event_url;
        ev->url_len = strlen(in->event_url);
    }
    return sp_event_check(ev, e);
}

struct events_ctx {
    ctspool *h;
    const ctspool_event *evs; /* or, for a JSON body: */
    size_t n;
    const char *json;
    size_t len;
    int storing;
    size_t n_invalid, n_events;
    ctspool_append_result res;
};

static ctspool_rc
put_event(struct events_ctx *c, const struct sp_event *ev)
{
    enum sp_put_result r;
    ctspool_rc rc = sp_journal_put_event(c->h->j, ev, &r);

    if (rc == CTSPOOL_OK) {
        count_put(&c->res, r);
    }
    return rc;
}

static ctspool_rc
put_events(void *ctx)
{
    struct events_ctx *c = ctx;
    struct sp_event ev;
    struct sp_err e;
    ctspool_rc rc = CTSPOOL_OK;

    memset(&c->res, 0, sizeof(c->res));
    for (size_t i = 0; rc == CTSPOOL_OK && i < c->n; i++) {
        convert_event(&c->evs[i], &ev, &e); /* valid: checked before */
        rc = put_event(c, &ev);
    }
    return rc;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append_events(ctspool *h, const ctspool_event *evs, size_t n,
                      ctspool_append_result *res)
{
    struct events_ctx c;
    struct sp_event ev;
    struct sp_err e;
    int applied = 0;
    ctspool_rc rc;

    if (!h || (n && !evs)) {
        return usage_error(h, "ctspool_append_events", "events is NULL");
    }
    for (size_t i = 0; i < n; i++) {
        if (convert_event(&evs[i], &ev, &e) != CTSPOOL_OK) {
            sp_err_set(&h->err, "event %zu: %s", i, e.msg);
            return CTSPOOL_E_INVALID;
        }
    }
    memset(&c, 0, sizeof(c));
    c.h = h;
    c.evs = evs;
    c.n = n;
    rc = store(h, NULL, n, put_events, &c, &applied);
    give_result(rc, applied, &c.res, res, NULL);
    return rc;
}

static ctspool_rc
events_json_point(void *ctx, const struct sp_point *p)
{
    struct events_ctx *c = ctx;
    struct sp_event ev;

    if (!c->storing) {
        c->n_events++;
        return CTSPOOL_OK;
    }
    sp_event_uncarry(p, &ev);
    return put_event(c, &ev);
}

static ctspool_rc
events_json_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct events_ctx *c = ctx;

    return note_invalid(c->h, &c->n_invalid, index, e);
}

static ctspool_rc
put_events_json(void *ctx)
{
    struct events_ctx *c = ctx;
    struct sp_err e;
    size_t used = 0;

    memset(&c->res, 0, sizeof(c->res));
    return sp_event_parse_doc(c->json, c->len, events_json_point,
                              events_json_error, c, NULL, &used, &e);
}

CTSPOOL_EXTERN ctspool_rc
ctspool_append_events_json(ctspool *h, const char *json, size_t len,
                           ctspool_append_result *res)
{
    struct events_ctx c;
    struct sp_err e;
    size_t used = 0;
    int applied = 0;
    ctspool_rc rc;

    if (!h || !json) {
        return usage_error(h, "ctspool_append_events_json", "json is NULL");
    }
    memset(&c, 0, sizeof(c));
    c.h = h;
    c.json = json;
    c.len = len;
    /* Pass 1 validates; pass 2 stores. */
    rc = sp_event_parse_doc(json, len, events_json_point, events_json_error,
                            &c, NULL, &used, &e);
    rc = validated(h, rc, &e, c.n_invalid, json, used, len,
                   "events document");
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    c.storing = 1;
    rc = store(h, NULL, c.n_events, put_events_json, &c, &applied);
    give_result(rc, applied, &c.res, res, NULL);
    return rc;
}

/* The journal's counts into *st; on failure the reason is h's error. */
static ctspool_rc
read_stats(ctspool *h, struct sp_stats *st)
{
    ctspool_rc rc = sp_journal_stats(h->j, st);

    if (rc != CTSPOOL_OK) {
        snprintf(h->err.msg, sizeof(h->err.msg), "%s",
                 sp_journal_errmsg(h->j));
    }
    return rc;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_get_stats(ctspool *h, ctspool_stats *out)
{
    struct sp_stats st;
    ctspool_rc rc;

    if (!h || !out) {
        return usage_error(h, "ctspool_get_stats", "out is NULL");
    }
    rc = read_stats(h, &st);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    out->pending_points = st.pending_points;
    out->acked_points = st.acked_points;
    out->dead_letters = st.dead_letters;
    out->journal_bytes = st.journal_bytes;
    out->oldest_pending_unix = st.oldest_pending_at;
    return CTSPOOL_OK;
}

CTSPOOL_EXTERN ctspool_rc
ctspool_get_event_stats(ctspool *h, ctspool_event_stats *out)
{
    struct sp_stats st;
    ctspool_rc rc;

    if (!h || !out) {
        return usage_error(h, "ctspool_get_event_stats", "out is NULL");
    }
    rc = read_stats(h, &st);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    out->pending_events = st.pending_events;
    out->acked_events = st.acked_events;
    out->dead_events = st.dead_events;
    return CTSPOOL_OK;
}
