/*
 * payload_doc.c -- Cloudthread payload objects of any size in bounded
 * memory: yajl reads the object's structure, payload.c's rules read
 * each element of "data", one at a time.  Event Overlay documents
 * ({"data": [...]}, nothing else at the top) are read the same way, each
 * element by event.c's rules.
 *
 * An object is read twice (but see one_pass(): a plain object in memory
 * is read once).  The first pass (yajl, events only) checks the JSON of
 * the whole object and its top level: members, their types,
 * metric_agg_func and data_stream_token, where "data" starts, where the
 * object ends.  Only then does the second pass hand elements on, so a
 * payload that is invalid as a whole reports nothing to on_point, as the
 * contract of sp_payload_parse() says, whatever the order of members
 * (upstream does not fix one: "data" may come before the token).
 *
 * Invariants:
 * (1) Memory is bounded by WINDOW (when reading a file), the longest
 *     string (yajl holds one string whole) and one element's text,
 *     whatever the size of the object.
 * (2) Every byte the second pass hands to jscan.c passed the first
 *     pass, so an element fails to scan only when it is over
 *     ELEMENT_MAX (one invalid point) or without memory (the end of the
 *     input).  A lone UTF-16 surrogate makes its element invalid.
 * (3) NUL bytes, raw or as \u0000, are rejected in the first pass
 *     (payload.c, invariant 4), before any point is handed on.
 * (4) Offsets in messages count from the object's first byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

#include "event.h"
#include "input_int.h"
#include "payload_int.h"
#include "sp_int.h"

#define ELEMENT_MAX ((size_t)1 << 20) /* longest element of "data" */
#define WINDOW (2 * ELEMENT_MAX)      /* bytes of a file held at once */
#define PASS_CHUNK ((size_t)64 * 1024)

/* ---- the bytes of a document ------------------------------------------ */

/*
 * Input byte 0 is mem[0], or byte base of fd (read with pread(), never
 * moving fd's offset).  A file is seen through a window of WINDOW bytes.
 */
struct sp_docsrc {
    const char *mem;
    size_t mem_len;
    int fd;
    uint64_t base;
    char *win; /* bytes [win_off, win_off + win_len) of the input */
    uint64_t win_off;
    size_t win_len;
    int win_to_end; /* the window reaches the end of the input */
    const struct sp_reject_hook *reject; /* NULL: none */
};

static void
src_mem(struct sp_docsrc *s, const char *buf, size_t len)
{
    memset(s, 0, sizeof(*s));
    s->mem = buf;
    s->mem_len = len;
    s->fd = -1;
}

ctspool_rc
sp_docsrc_open_fd(int fd, uint64_t base, struct sp_docsrc **out,
                  struct sp_err *e)
{
    struct sp_docsrc *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s || !(s->win = malloc(WINDOW))) {
        free(s);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    s->fd = fd;
    s->base = base;
    *out = s;
    return CTSPOOL_OK;
}

void
sp_docsrc_close(struct sp_docsrc *s)
{
    if (s) {
        free(s->win);
        free(s);
    }
}

/*
 * The input from off: returns a pointer to *avail bytes, at least
 * min(want, bytes left) of them (want <= WINDOW); *avail is 0 at the end.
 * NULL on a read error (e set).
 */
static const char *
src_at(struct sp_docsrc *s, uint64_t off, size_t want, size_t *avail,
       struct sp_err *e)
{
    size_t got = 0;

    if (s->mem) {
        *avail = off < s->mem_len ? s->mem_len - (size_t)off : 0;
        return s->mem + (off < s->mem_len ? off : s->mem_len);
    }
    if (off >= s->win_off && off - s->win_off <= s->win_len &&
        (s->win_len - (off - s->win_off) >= want || s->win_to_end)) {
        /* In the window, or the window already reaches the end. */
        *avail = s->win_len - (size_t)(off - s->win_off);
        return s->win + (off - s->win_off);
    }
    while (got < WINDOW) {
        ssize_t n = pread(s->fd, s->win + got, WINDOW - got,
                          (off_t)(s->base + off + got));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            s->win_len = 0;
            s->win_to_end = 0;
            sp_input_read_error(e);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    s->win_off = off;
    s->win_len = got;
    s->win_to_end = got < WINDOW;
    *avail = got;
    return s->win;
}

int
sp_docsrc_byte(struct sp_docsrc *s, uint64_t off, struct sp_err *e)
{
    size_t avail;
    const char *p = src_at(s, off, 1, &avail, e);

    if (!p) {
        return -2;
    }
    return avail ? (unsigned char)*p : -1;
}

/* ---- first pass: the top level ---------------------------------------- */

enum top_member { T_STREAM, T_AGG, T_DATA, T_N };
static const char *const top_names[T_N] = {"data_stream_token",
                                           "metric_agg_func", "data"};

struct top {
    yajl_handle h;
    uint64_t obj;       /* input offset of the object's first byte */
    uint64_t chunk;     /* input offset of the chunk yajl is given */
    size_t depth;
    int done;           /* the value at depth 0 is complete */
    enum sp_jtype kind; /* ... and its type */
    int cur;            /* member whose value is read (depth 1), or -1 */
    int seen[T_N];
    struct sp_jnode val[T_N]; /* stand-ins for the stream and agg */
    int has_val[T_N];
    char *own[T_N];     /* the text of a string val */
    int data_kind;      /* enum sp_jtype of data's value, -1: none */
    uint64_t data_at;   /* input offset just after data's '[' */
    int events;         /* an events document: {"data": [...]} only */
    int member_bad;     /* member_err holds the first member problem */
    struct sp_err member_err;
    int fatal;          /* fatal_err ends the input (rc) */
    ctspool_rc fatal_rc;
    struct sp_err fatal_err;
    int stop_at_data;   /* pause at data's '[' (one_pass()) */
    int paused;         /* ... and did: the parse is abandoned there */
};

/* Offset (from the object's start) just after the current token. */
static size_t
top_at(const struct top *t)
{
    return (size_t)(t->chunk + yajl_get_bytes_consumed(t->h) - t->obj);
}

static int
top_fail(struct top *t, ctspool_rc rc)
{
    t->fatal = 1;
    t->fatal_rc = rc;
    return 0; /* cancels the parse */
}

/* The value at depth 0 ends here: stop, the rest is the next object's. */
static int
top_value_end(struct top *t)
{
    if (t->depth == 0) {
        t->done = 1;
        return 0;
    }
    return 1;
}

static int
top_nul(struct top *t, const char *s, size_t len)
{
    if (len > 0 && memchr(s, '\0', len)) {
        sp_err_set(&t->fatal_err,
                   "a string contains \\u0000 (a NUL character) before byte "
                   "offset %zu; NUL characters are not accepted",
                   top_at(t));
        return top_fail(t, CTSPOOL_E_INVALID);
    }
    return 1;
}

/* A value of type k starts (or is, for a scalar) at the current depth. */
static int
top_value(struct top *t, enum sp_jtype k, const char *s, size_t len)
{
    struct sp_jnode *v;

    if (t->depth == 0) {
        t->kind = k;
    }
    if (t->depth != 1 || t->cur < 0) {
        return 1;
    }
    if (t->cur == T_DATA) {
        t->data_kind = (int)k;
        t->data_at = t->chunk + yajl_get_bytes_consumed(t->h);
        t->cur = -1;
        if (t->stop_at_data && k == SP_J_ARRAY) {
            t->paused = 1;
            return 0; /* cancels the parse */
        }
        return 1;
    }
    /* cb_key takes a member once: nothing to free here. */
    v = &t->val[t->cur];
    memset(v, 0, sizeof(*v));
    v->type = (int)k;
    if (k == SP_J_STRING) {
        char *copy = malloc(len + 1);

        if (!copy) {
            sp_err_set(&t->fatal_err, "out of memory");
            return top_fail(t, CTSPOOL_E_NOMEM);
        }
        memcpy(copy, s, len);
        copy[len] = '\0';
        t->own[t->cur] = copy;
        v->s = copy;
        v->len = len;
    }
    t->has_val[t->cur] = 1;
    t->cur = -1;
    return 1;
}

static int
cb_null(void *ctx)
{
    struct top *t = ctx;

    return top_value(t, SP_J_NULL, NULL, 0) && top_value_end(t);
}

static int
cb_bool(void *ctx, int b)
{
    struct top *t = ctx;

    (void)b;
    return top_value(t, SP_J_BOOL, NULL, 0) && top_value_end(t);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
    struct top *t = ctx;

    return top_value(t, SP_J_NUMBER, s, len) && top_value_end(t);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
    struct top *t = ctx;

    return top_nul(t, (const char *)s, len) &&
           top_value(t, SP_J_STRING, (const char *)s, len) && top_value_end(t);
}

static int
cb_open(struct top *t, enum sp_jtype k)
{
    if (t->depth >= SP_PAYLOAD_DEPTH_MAX) {
        sp_err_set(&t->fatal_err,
                   "invalid JSON: nested deeper than %d levels at byte "
                   "offset %zu",
                   SP_PAYLOAD_DEPTH_MAX, top_at(t));
        return top_fail(t, CTSPOOL_E_INVALID);
    }
    if (!top_value(t, k, NULL, 0)) {
        return 0;
    }
    t->depth++;
    return 1;
}

static int
cb_start_map(void *ctx)
{
    return cb_open(ctx, SP_J_OBJECT);
}

static int
cb_start_array(void *ctx)
{
    return cb_open(ctx, SP_J_ARRAY);
}

static int
cb_close(void *ctx)
{
    struct top *t = ctx;

    t->depth--;
    return top_value_end(t);
}

static int
cb_key(void *ctx, const unsigned char *key, size_t len)
{
    struct top *t = ctx;
    char name[SP_SHOW_BUF], q[SP_SHOW_BUF];
    int i;

    if (!top_nul(t, (const char *)key, len)) {
        return 0;
    }
    if (t->depth != 1) {
        return 1;
    }
    for (i = t->events ? T_DATA : 0; i < T_N; i++) {
        if (strlen(top_names[i]) == len &&
            memcmp(key, top_names[i], len) == 0) {
            break;
        }
    }
    t->cur = i < T_N && !t->seen[i] ? i : -1;
    if (t->member_bad) {
        if (i < T_N) {
            t->seen[i] = 1; /* a second value is never taken */
        }
        return 1; /* the first problem is the one reported */
    }
    if (i == T_N) {
        size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;

        memcpy(name, key, n);
        name[n] = '\0';
        if (t->events) {
            sp_err_set(&t->member_err,
                       "unknown field %s (an events document has only "
                       "\"data\")",
                       sp_payload_show(name, q));
        } else {
            sp_err_set(&t->member_err,
                       "unknown member %s in the payload (it has "
                       "data_stream_token, metric_agg_func and data)",
                       sp_payload_show(name, q));
        }
        t->member_bad = 1;
    } else if (t->seen[i]) {
        sp_err_set(&t->member_err, "%s: appears twice in the %s",
                   top_names[i], t->events ? "document" : "payload");
        t->member_bad = 1;
    }
    if (i < T_N) {
        t->seen[i] = 1;
    }
    return 1;
}

static const yajl_callbacks top_callbacks = {
    cb_null,  cb_bool, NULL,          NULL,     cb_number, cb_string,
    cb_start_map, cb_key, cb_close, cb_start_array, cb_close};

/* Ready to read the value at input offset at. */
static void
top_init(struct top *t, uint64_t at)
{
    memset(t, 0, sizeof(*t));
    t->obj = at;
    t->cur = -1;
    t->data_kind = -1;
}

static void
top_free(struct top *t)
{
    if (t->h) {
        yajl_free(t->h);
    }
    for (int i = 0; i < T_N; i++) {
        free(t->own[i]);
    }
}

/* yajl stopped at an error: the message of broken JSON, naming the
 * offending byte (yajl counts it as consumed), or the end of the input
 * when that came too early. */
static ctspool_rc
top_syntax(struct top *t, int at_end, struct sp_err *e)
{
    size_t at = top_at(t);
    char why[128];

    if (at_end) {
        sp_err_set(e,
                   "invalid JSON: parsing stopped at byte offset %zu (the "
                   "input ends inside the payload)",
                   (size_t)(t->chunk - t->obj));
        return CTSPOOL_E_INVALID;
    }
    if (yajl_get_bytes_consumed(t->h) > 0) {
        at--;
    }
    sp_jscan_reason(t->h, why, sizeof(why));
    sp_err_set(e, "invalid JSON: parsing stopped at byte offset %zu%s%s%s",
               at, *why ? " (" : "", why, *why ? ")" : "");
    return CTSPOOL_E_INVALID;
}

/*
 * First pass over the object at input offset t->obj: on OK, t->done and
 * *end (input offset just after the object).  E_INVALID: broken JSON or
 * NUL (e); E_IO, E_NOMEM.
 */
static ctspool_rc
top_pass(struct sp_docsrc *s, struct top *t, uint64_t *end,
         struct sp_err *e)
{
    uint64_t off = t->obj;
    yajl_status st = yajl_status_ok;

    t->h = yajl_alloc(&top_callbacks, NULL, t);
    if (!t->h) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    /* Strings are checked as UTF-8 by validate.c, field by field. */
    yajl_config(t->h, yajl_dont_validate_strings, 1);
    while (!t->done && !t->fatal && !t->paused) {
        size_t avail, n;
        const char *p = src_at(s, off, PASS_CHUNK, &avail, e);
        const char *nul;

        if (!p) {
            return CTSPOOL_E_IO;
        }
        t->chunk = off;
        if (avail == 0) {
            st = yajl_complete_parse(t->h);
            if (!t->done && !t->fatal) {
                return top_syntax(t, 1, e);
            }
            break;
        }
        /* All that is at hand: yajl lexes a token cut by the end of a
         * chunk again from its start, so small chunks would make a long
         * string quadratic. */
        n = avail;
        nul = memchr(p, '\0', n);
        st = yajl_parse(t->h, (const unsigned char *)p,
                        nul ? (size_t)(nul - p) : n);
        if (st == yajl_status_error) {
            return top_syntax(t, 0, e);
        }
        if (nul && !t->done && !t->fatal && !t->paused) {
            sp_err_set(e, "the input contains a NUL byte at byte offset %zu",
                       (size_t)(off + (size_t)(nul - p) - t->obj));
            return CTSPOOL_E_INVALID;
        }
        off += n;
    }
    if (t->fatal) {
        *e = t->fatal_err;
        return t->fatal_rc;
    }
    if (t->paused) {
        *end = 0;
        return CTSPOOL_OK;
    }
    if (st == yajl_status_error) {
        return top_syntax(t, 1, e);
    }
    *end = t->chunk + yajl_get_bytes_consumed(t->h);
    return CTSPOOL_OK;
}

/* The top level of a sound object: OK and *base, or E_INVALID (e). */
static ctspool_rc
top_check(const struct top *t, const struct sp_defaults *d,
          struct sp_point *base, struct sp_err *e)
{
    ctspool_rc rc;

    if (t->kind != SP_J_OBJECT) {
        if (t->events) {
            sp_err_set(e, "an events document is a JSON object {\"data\": "
                          "[...]}");
        } else {
            sp_err_set(e, "the payload must be a JSON object, not %s",
                       sp_jtype_name(t->kind));
        }
        return CTSPOOL_E_INVALID;
    }
    if (t->member_bad) {
        *e = t->member_err;
        return CTSPOOL_E_INVALID;
    }
    if (t->events) {
        memset(base, 0, sizeof(*base));
        if (t->data_kind != SP_J_ARRAY) {
            sp_err_set(e, "data: %s", t->data_kind < 0
                                          ? "missing"
                                          : "must be an array of events");
            return CTSPOOL_E_INVALID;
        }
        return CTSPOOL_OK;
    }
    rc = sp_payload_base(t->has_val[T_AGG] ? &t->val[T_AGG] : NULL,
                         t->has_val[T_STREAM] ? &t->val[T_STREAM] : NULL, d,
                         base, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (t->data_kind < 0) {
        sp_err_set(e, "data: missing (the payload has no \"data\" array)");
        return CTSPOOL_E_INVALID;
    }
    if (t->data_kind != SP_J_ARRAY) {
        sp_err_set(e, "data: must be an array, not %s",
                   sp_jtype_name(t->data_kind));
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

/* ---- second pass: the elements ---------------------------------------- */

/* *off past whitespace (and one sep, when given), up to end. */
static ctspool_rc
skip_ws(struct sp_docsrc *s, uint64_t *off, uint64_t end, char sep,
        struct sp_err *e)
{
    while (*off < end) {
        size_t avail, i = 0;
        const char *p = src_at(s, *off, PASS_CHUNK, &avail, e);

        if (!p) {
            return CTSPOOL_E_IO;
        }
        if (avail > end - *off) {
            avail = (size_t)(end - *off);
        }
        while (i < avail && (sp_json_ws(p[i]) || (sep && p[i] == sep))) {
            if (p[i] == sep) {
                sep = 0;
            }
            i++;
        }
        *off += i;
        if (i < avail || avail == 0) {
            break;
        }
    }
    return CTSPOOL_OK;
}

/* *len: the length of the JSON value at off (sound: the first pass read
 * it), found with the first pass's parser. */
static ctspool_rc
skip_value(struct sp_docsrc *s, uint64_t off, size_t *len, struct sp_err *e)
{
    struct top t;
    uint64_t end = off;
    ctspool_rc rc;

    top_init(&t, off);
    rc = top_pass(s, &t, &end, e);
    top_free(&t);
    *len = (size_t)(end - off);
    return rc;
}

/* One event of an events document's "data": as sp_payload_element(),
 * into its carrier point. */
static ctspool_rc
event_element(const char *buf, size_t len, size_t *end,
              struct sp_payload_scratch **scratch, struct sp_point *p,
              struct sp_err *e)
{
    struct sp_jscan *js = sp_payload_scan(scratch, e);
    struct sp_event ev;
    ctspool_rc rc;

    *end = 0;
    if (!js) {
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_jscan_value(js, buf, len, end, e);
    if (rc == CTSPOOL_OK) {
        rc = sp_event_from_scan(js, 0, &ev, e);
    }
    if (rc == CTSPOOL_OK) {
        sp_event_carry(&ev, p);
    }
    return rc;
}

/*
 * Every element of "data" (from t->data_at up to the object's end) to
 * on_point or on_error.  E_INVALID ends the input (invariant 2).
 */
static ctspool_rc
elements(struct sp_docsrc *s, const struct top *t, uint64_t end,
         const struct sp_point *base, const struct sp_defaults *d,
         sp_point_cb on_point, sp_error_cb on_error, void *ctx,
         struct sp_err *e)
{
    struct sp_payload_scratch *scratch = NULL;
    uint64_t off = t->data_at;
    ctspool_rc rc = CTSPOOL_OK;

    for (size_t index = 0;; index++) {
        size_t avail, used = 0;
        struct sp_point p;
        struct sp_err pe;
        const char *at;

        rc = skip_ws(s, &off, end, index ? ',' : 0, e);
        if (rc != CTSPOOL_OK) {
            break;
        }
        at = src_at(s, off, ELEMENT_MAX, &avail, e);
        if (!at) {
            rc = CTSPOOL_E_IO;
            break;
        }
        if (avail > end - off) {
            avail = (size_t)(end - off);
        }
        if (avail == 0 || *at == ']') {
            break;
        }
        p = *base;
        rc = t->events
                 ? event_element(at, avail, &used, &scratch, &p, &pe)
                 : sp_payload_element(at, avail, &used, d, &scratch, &p,
                                      &pe);
        if (rc == CTSPOOL_E_NOMEM) {
            *e = pe;
            break;
        }
        if (used == 0 && avail >= ELEMENT_MAX) {
            /* No valid element is that long: one invalid point. */
            rc = skip_value(s, off, &used, e);
            if (rc != CTSPOOL_OK) {
                break;
            }
            sp_err_set(&pe, "longer than %zu bytes (a valid data element "
                       "is far shorter)", ELEMENT_MAX);
            rc = CTSPOOL_E_INVALID;
        }
        if (used == 0) {
            sp_err_set(e,
                       "invalid JSON: data[%zu] at byte offset %zu cannot "
                       "be read",
                       index, (size_t)(off - t->obj));
            rc = CTSPOOL_E_INVALID;
            break;
        }
        if (rc != CTSPOOL_OK && s->reject && s->reject->element &&
            used <= avail) {
            s->reject->element(s->reject->ctx, at, used, base->stream,
                               base->stream_len, t->events ? -1 : base->agg);
        }
        rc = rc == CTSPOOL_OK ? on_point(ctx, &p) : on_error(ctx, index, &pe);
        if (rc != CTSPOOL_OK) {
            break;
        }
        off += used;
    }
    sp_payload_scratch_free(scratch);
    return rc;
}

/* ---- one pass over an object in memory --------------------------------- */

/*
 * The two passes read every element twice.  An object in memory of at
 * most ONE_PASS_MAX bytes is read once when it is plain: the first pass
 * stops at data's '[' with the top level complete, "data" is the last
 * member, and every element reads as JSON.  Its points and errors are
 * held, then handed on in order once the object's '}' is reached, so a
 * broken object still hands nothing on.  Anything else (broken JSON, a
 * member after "data", an element that cannot be read, a NUL byte,
 * nesting near the limit) makes one_pass() give up, having handed
 * nothing on, and parse_object() reads the object in two passes, which
 * report it as they always did.
 */
#define ONE_PASS_MAX ((size_t)1 << 20)
/*
 * From buf[*off], past JSON whitespace: the elements of "data" to h and
 * *off just after its ']'.  0; -1 to give up; -2 without memory.
 */
static int
one_pass_elements(const char *buf, size_t len, size_t *off, int events,
                  const struct sp_point *base, const struct sp_defaults *d,
                  struct sp_payload_scratch **scratch, struct sp_hold *h)
{
    size_t o = *off;

    for (size_t index = 0;; index++) {
        size_t used = 0, avail;
        struct sp_point p = *base;
        struct sp_err pe;
        struct sp_jscan *js;
        ctspool_rc rc;

        o = sp_json_ws_end(buf, len, o);
        if (o < len && buf[o] == ']') {
            *off = o + 1;
            return 0;
        }
        if (index > 0) {
            if (o == len || buf[o] != ',') {
                return -1;
            }
            o = sp_json_ws_end(buf, len, o + 1);
        }
        avail = len - o;
        rc = events ? event_element(buf + o, avail, &used, scratch, &p, &pe)
                    : sp_payload_element(buf + o, avail, &used, d, scratch,
                                         &p, &pe);
        if (rc == CTSPOOL_E_NOMEM) {
            return -2;
        }
        js = sp_payload_scan(scratch, &pe);
        /* The first pass counts the object and "data" too. */
        if (used == 0 || !js || js->max_depth + 2 >= SP_PAYLOAD_DEPTH_MAX) {
            return -1;
        }
        if (sp_hold_add(h, index, rc == CTSPOOL_OK ? &p : NULL, &pe) != 0) {
            return -2;
        }
        o += used;
    }
}

/* A NUL byte, raw or as \u0000 (perhaps "\\u0000": the two passes
 * tell), in s[0..len). */
static int
has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) || memmem(s, len, "\\u0000", 6);
}

/*
 * parse_object() in one pass where it can (above): 1 when it gave up
 * (nothing handed on), else 0 with the result in *rc and *consumed (and
 * e, for E_NOMEM).
 */
static int
one_pass(struct sp_docsrc *s, uint64_t at, int events,
         const struct sp_defaults *d, sp_point_cb on_point,
         sp_error_cb on_error, void *ctx, uint64_t *consumed,
         ctspool_rc *rc, struct sp_err *e)
{
    struct sp_payload_scratch *scratch = NULL;
    struct sp_point base;
    struct sp_hold h;
    struct top t;
    struct sp_err pe;
    uint64_t unused;
    size_t off, len = s->mem_len;
    int gave_up = 1;

    if (!s->mem || s->reject || at >= len || len - at > ONE_PASS_MAX) {
        return 1;
    }
    sp_hold_init(&h);
    top_init(&t, at);
    t.events = events;
    t.stop_at_data = 1;
    if (top_pass(s, &t, &unused, &pe) != CTSPOOL_OK || !t.paused ||
        top_check(&t, d, &base, &pe) != CTSPOOL_OK) {
        goto out;
    }
    off = (size_t)t.data_at;
    switch (one_pass_elements(s->mem, len, &off, events, &base, d, &scratch,
                              &h)) {
    case 0:
        break;
    case -2:
        sp_err_set(e, "out of memory");
        *rc = CTSPOOL_E_NOMEM;
        gave_up = 0;
        goto out;
    default:
        goto out;
    }
    off = sp_json_ws_end(s->mem, len, off);
    if (off == len || s->mem[off] != '}' ||
        has_nul(s->mem + at, off - (size_t)at)) {
        goto out;
    }
    gave_up = 0;
    *consumed = off + 1 - at;
    *rc = sp_hold_flush(&h, on_point, on_error, ctx);
    if (*rc == CTSPOOL_E_INVALID) {
        *consumed = 0; /* cannot go on after it */
    }
out:
    sp_payload_scratch_free(scratch);
    sp_hold_free(&h);
    top_free(&t);
    return gave_up;
}

/* ---- one object ------------------------------------------------------- */

/* A payload object, or with events an events document, at input offset
 * at: see sp_payload_parse(). */
static ctspool_rc
parse_object(struct sp_docsrc *s, uint64_t at, int events,
             const struct sp_defaults *d, sp_point_cb on_point,
             sp_error_cb on_error, void *ctx, uint64_t *consumed,
             struct sp_err *e)
{
    struct top t;
    struct sp_point base;
    uint64_t end = 0;
    ctspool_rc rc;

    *consumed = 0;
    if (one_pass(s, at, events, d, on_point, on_error, ctx, consumed, &rc,
                 e) == 0) {
        return rc;
    }
    top_init(&t, at);
    t.events = events;
    rc = top_pass(s, &t, &end, e);
    if (rc == CTSPOOL_OK) {
        *consumed = end - at;
        rc = top_check(&t, d, &base, e);
    }
    if (rc == CTSPOOL_OK) {
        rc = elements(s, &t, end, &base, d, on_point, on_error, ctx, e);
        if (rc == CTSPOOL_E_INVALID) {
            *consumed = 0; /* cannot go on after it */
        }
    }
    top_free(&t);
    return rc;
}

ctspool_rc
sp_payload_parse_at(struct sp_docsrc *s, uint64_t at,
                    const struct sp_defaults *d, sp_point_cb on_point,
                    sp_error_cb on_error, void *ctx, uint64_t *consumed,
                    struct sp_err *e)
{
    return parse_object(s, at, d && d->events, d, on_point, on_error, ctx,
                        consumed, e);
}

/*
 * parse_object() of the object at buf[0..len).  A document (doc) may
 * begin with a UTF-8 byte order mark, which is skipped, as append's
 * readers skip one at the start of an input (every producer path applies
 * the same rules); offsets stay buf's.  The next object of a stream
 * (!doc) may not: only the input's first bytes can hold the mark.
 */
static ctspool_rc
parse_mem(const char *buf, size_t len, int doc, int events,
          const struct sp_defaults *d, sp_point_cb on_point,
          sp_error_cb on_error, void *ctx, const struct sp_reject_hook *hook,
          size_t *consumed, struct sp_err *e)
{
    struct sp_docsrc s;
    uint64_t used = 0;
    uint64_t at =
        doc && len >= 3 && memcmp(buf, sp_input_bom, 3) == 0 ? 3 : 0;
    const char *wide = doc ? sp_wide_bom(buf, len) : NULL;
    ctspool_rc rc;

    if (wide) {
        *consumed = 0;
        sp_err_set(e, "the document " SP_WIDE_SAID "; send it as UTF-8",
                   wide);
        return CTSPOOL_E_INVALID;
    }
    src_mem(&s, buf, len);
    s.reject = hook;
    rc = parse_object(&s, at, events, d, on_point, on_error, ctx, &used, e);
    if (rc == CTSPOOL_E_INVALID && at > 0) {
        sp_err_offsets_from(e, at); /* counted from after the mark */
    }
    *consumed = used ? (size_t)(at + used) : 0;
    return rc;
}

/* See event.h: the elements are events, the rest as for payloads. */
ctspool_rc
sp_event_parse_doc(const char *buf, size_t len, sp_point_cb on_point,
                   sp_error_cb on_error, void *ctx,
                   const struct sp_reject_hook *hook, size_t *consumed,
                   struct sp_err *e)
{
    return parse_mem(buf, len, 1, 1, NULL, on_point, on_error, ctx, hook,
                     consumed, e);
}

void
sp_docsrc_set_reject(struct sp_docsrc *s, const struct sp_reject_hook *hook)
{
    s->reject = hook;
}

/* See sp_int.h; the message of broken JSON gives the offset in buf. */
ctspool_rc
sp_payload_parse(const char *buf, size_t len, const struct sp_defaults *d,
                 sp_point_cb on_point, sp_error_cb on_error, void *ctx,
                 size_t *consumed, struct sp_err *e)
{
    return sp_payload_parse_hooked(buf, len, d, on_point, on_error, ctx,
                                   NULL, consumed, e);
}

ctspool_rc
sp_payload_parse_hooked(const char *buf, size_t len,
                        const struct sp_defaults *d, sp_point_cb on_point,
                        sp_error_cb on_error, void *ctx,
                        const struct sp_reject_hook *hook, size_t *consumed,
                        struct sp_err *e)
{
    return parse_mem(buf, len, 1, d && d->events, d, on_point, on_error,
                     ctx, hook, consumed, e);
}

ctspool_rc
sp_payload_parse_next(const char *buf, size_t len,
                      const struct sp_defaults *d, sp_point_cb on_point,
                      sp_error_cb on_error, void *ctx,
                      const struct sp_reject_hook *hook, size_t *consumed,
                      struct sp_err *e)
{
    return parse_mem(buf, len, 0, d && d->events, d, on_point, on_error,
                     ctx, hook, consumed, e);
}
