/*
 * jscan.c -- one JSON value read two levels deep (jscan.h), with yajl's
 * callbacks: no tree is built, nothing is allocated once the scratch is
 * warm but yajl's own handle.
 *
 * Invariants:
 * (1) What is accepted is what yajl accepts (strict RFC 8259 grammar),
 *     less two things yajl lets through: a NUL character (raw bytes are
 *     refused by yajl's lexer, "\u0000" by the escape scan here) and a
 *     lone UTF-16 surrogate, which yajl would silently turn into '?' or
 *     into bytes that are not UTF-8.
 * (2) Strings are not checked as UTF-8 here: validate.c checks each
 *     field, naming it.
 * (3) Every node's text is copied into js->text; node pointers are set
 *     only once the value is read, as text may move while it grows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "jscan.h"

static const char *const type_names[] = {"null",     "a boolean",
                                         "a number", "a string",
                                         "an array", "an object"};

const char *
sp_jtype_name(int type)
{
    if (type < SP_J_NULL || type > SP_J_OBJECT) {
        return "an invalid value";
    }
    return type_names[type];
}

int
sp_json_blank(const char *s, size_t len)
{
    return sp_json_ws_end(s, len, 0) == len;
}

ctspool_rc
sp_jscan_line(struct sp_jscan *js, const char *line, size_t len,
              const char *item, struct sp_err *e)
{
    size_t end = 0;
    ctspool_rc rc = sp_jscan_value(js, line, len, &end, e);

    if (rc == CTSPOOL_OK && !sp_json_blank(line + end, len - end)) {
        sp_err_set(e,
                   "invalid JSON: unexpected text after the object at byte "
                   "offset %zu (one %s per line)",
                   end, item);
        return CTSPOOL_E_INVALID;
    }
    return rc;
}

void
sp_jscan_init(struct sp_jscan *js)
{
    memset(js, 0, sizeof(*js));
    sp_buf_init(&js->text);
}

void
sp_jscan_cleanup(struct sp_jscan *js)
{
    free(js->top);
    free(js->sub);
    sp_buf_cleanup(&js->text);
    memset(js, 0, sizeof(*js));
}

/* ---- the callbacks ---------------------------------------------------- */

struct scan {
    struct sp_jscan *js;
    yajl_handle h;
    size_t depth;             /* objects and arrays open */
    struct sp_jnode *want;    /* node whose value comes next, or NULL */
    struct sp_jnode *parent;  /* kept member object being read, or NULL */
    int done;                 /* the value is complete */
    int fatal;                /* err / rc end the scan */
    ctspool_rc rc;
    struct sp_err err;
};

static int
scan_fail(struct scan *sc, ctspool_rc rc)
{
    sc->fatal = 1;
    sc->rc = rc;
    return 0; /* cancels the parse */
}

static int
nomem(struct scan *sc)
{
    sp_err_set(&sc->err, "out of memory");
    return scan_fail(sc, CTSPOOL_E_NOMEM);
}

/* s[0..len) and a NUL into text: its offset, or SIZE_MAX. */
static size_t
keep_text(struct scan *sc, const void *s, size_t len)
{
    struct sp_buf *t = &sc->js->text;
    size_t at = t->len;

    if (sp_buf_reserve(t, len + 1) != 0) {
        return SIZE_MAX;
    }
    if (len) {
        memcpy(t->p + at, s, len); /* s may be NULL when 0 */
    }
    t->p[at + len] = '\0';
    t->len = at + len + 1;
    t->p[t->len] = '\0';
    return at;
}

/* A value of type k (with text s for a string or a number) at the
 * current depth; then, for a scalar, the end of a value at depth 0. */
static int
scan_value(struct scan *sc, int k, const void *s, size_t len)
{
    struct sp_jnode *n = sc->depth == 0 ? &sc->js->root : sc->want;

    sc->want = NULL;
    if (n) {
        n->type = k;
        if (k == SP_J_STRING || k == SP_J_NUMBER) {
            n->s_at = keep_text(sc, s, len);
            n->len = len;
            if (n->s_at == SIZE_MAX) {
                return nomem(sc);
            }
        }
    }
    if (sc->depth == 0 && k != SP_J_OBJECT && k != SP_J_ARRAY) {
        sc->done = 1;
        return 0; /* stop: the value ends here */
    }
    return 1;
}

static int
cb_null(void *ctx)
{
    return scan_value(ctx, SP_J_NULL, NULL, 0);
}

static int
cb_bool(void *ctx, int b)
{
    (void)b;
    return scan_value(ctx, SP_J_BOOL, NULL, 0);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
    return scan_value(ctx, SP_J_NUMBER, s, len);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return scan_value(ctx, SP_J_STRING, s, len);
}

static int
scan_open(struct scan *sc, int k)
{
    struct sp_jnode *n = sc->depth == 0 ? &sc->js->root : sc->want;

    if (sc->depth >= SP_JSON_DEPTH_MAX) {
        sp_err_set(&sc->err,
                   "invalid JSON: nested deeper than %d levels at byte "
                   "offset %zu",
                   SP_JSON_DEPTH_MAX, (size_t)yajl_get_bytes_consumed(sc->h));
        return scan_fail(sc, CTSPOOL_E_INVALID);
    }
    if (!scan_value(sc, k, NULL, 0)) {
        return 0;
    }
    if (sc->depth == 1 && n && k == SP_J_OBJECT) {
        n->first = sc->js->n_sub;
        sc->parent = n;
    }
    sc->depth++;
    if (sc->depth > sc->js->max_depth) {
        sc->js->max_depth = sc->depth;
    }
    return 1;
}

static int
cb_start_map(void *ctx)
{
    return scan_open(ctx, SP_J_OBJECT);
}

static int
cb_start_array(void *ctx)
{
    return scan_open(ctx, SP_J_ARRAY);
}

static int
cb_close(void *ctx)
{
    struct scan *sc = ctx;

    sc->depth--;
    if (sc->depth == 1) {
        sc->parent = NULL;
    }
    if (sc->depth == 0) {
        sc->done = 1;
        return 0; /* stop: the value ends here */
    }
    return 1;
}

/* A new member node of the root (depth 1) or of sc->parent (depth 2);
 * NULL when the member is not kept, or without memory (sc->fatal). */
static struct sp_jnode *
new_member(struct scan *sc)
{
    struct sp_jscan *js = sc->js;
    struct sp_jnode *o = sc->depth == 1 ? &js->root : sc->parent;

    if (!o) {
        return NULL; /* deeper, or in an object not kept */
    }
    o->n_members++;
    if (o->n_kept >= SP_JSCAN_KEEP) {
        return NULL;
    }
    if (o != &js->root && js->n_sub == js->cap_sub) {
        size_t cap = js->cap_sub ? 2 * js->cap_sub : SP_JSCAN_KEEP;
        struct sp_jnode *p = realloc(js->sub, cap * sizeof(*p));

        if (!p) {
            nomem(sc);
            return NULL;
        }
        js->sub = p;
        js->cap_sub = cap;
    }
    o->n_kept++;
    if (o == &js->root) {
        return &js->top[js->n_top++]; /* SP_JSCAN_KEEP allocated */
    }
    return &js->sub[js->n_sub++];
}

static int
cb_key(void *ctx, const unsigned char *key, size_t len)
{
    struct scan *sc = ctx;
    struct sp_jnode *n;

    if (sc->depth > 2) {
        return 1;
    }
    n = new_member(sc);
    if (!n) {
        sc->want = NULL;
        return !sc->fatal;
    }
    memset(n, 0, sizeof(*n));
    n->key_len = len;
    n->key_at = keep_text(sc, key, len);
    if (n->key_at == SIZE_MAX) {
        return nomem(sc);
    }
    sc->want = n;
    return 1;
}

static const yajl_callbacks callbacks = {
    cb_null,      cb_bool, NULL,     NULL,           cb_number, cb_string,
    cb_start_map, cb_key,  cb_close, cb_start_array, cb_close};

/* ---- escapes ---------------------------------------------------------- */

/* The value of the 4 hex digits at s (valid: yajl read them). */
static unsigned
hex4(const char *s)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        v = v * 16 + (unsigned)(c <= '9'   ? c - '0'
                                : c <= 'F' ? c - 'A' + 10
                                           : c - 'a' + 10);
    }
    return v;
}

/*
 * Invariant (1) for the JSON text s[0..len) that yajl accepted: every
 * "\u0000" and every UTF-16 surrogate that is not a high one directly
 * followed by a low one is refused, naming its byte offset.
 */
static ctspool_rc
check_escapes(const char *s, size_t len, struct sp_err *e)
{
    const char *p = s, *end = s + len;

    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        unsigned u;

        if (p[1] != 'u') {
            p += 2; /* a whole escape: "\\u0000" is not one */
            continue;
        }
        u = hex4(p + 2);
        if (u == 0) {
            sp_err_set(e,
                       "a string contains \\u0000 (a NUL character) at "
                       "byte offset %zu; NUL characters are not accepted",
                       (size_t)(p - s));
            return CTSPOOL_E_INVALID;
        }
        if (u >= 0xD800 && u <= 0xDBFF && end - p >= 12 && p[6] == '\\' &&
            p[7] == 'u' && hex4(p + 8) >= 0xDC00 && hex4(p + 8) <= 0xDFFF) {
            p += 12; /* a pair: one character */
            continue;
        }
        if (u >= 0xD800 && u <= 0xDFFF) {
            sp_err_set(e,
                       "invalid JSON: a string holds a lone UTF-16 "
                       "surrogate (\\u%04x), which is not a character",
                       u);
            return CTSPOOL_E_INVALID;
        }
        p += 6;
    }
    return CTSPOOL_OK;
}

/* ---- yajl's memory ---------------------------------------------------- */

/*
 * yajl allocates a handle, a lexer and a stack for every value: from
 * js->arena, which every scan starts afresh, so a warm scan calls no
 * malloc().  Each block is preceded by its size (for realloc); blocks
 * that do not fit (deep nesting, long escaped strings) come from
 * malloc() and are freed to it.  yajl does not check what its allocator
 * returns: a value of ordinary size never needs more than the arena.
 */
#define ARENA_ALIGN 16

static int
in_arena(const struct sp_jscan *js, const void *p)
{
    const char *c = p;

    return c >= js->arena && c < js->arena + SP_JSCAN_ARENA;
}

static void *
ar_malloc(void *ctx, size_t n)
{
    struct sp_jscan *js = ctx;
    size_t need =
        ARENA_ALIGN + ((n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));

    if (n < SP_JSCAN_ARENA && SP_JSCAN_ARENA - js->arena_used >= need) {
        char *b = js->arena + js->arena_used;

        memcpy(b, &n, sizeof(n));
        js->arena_used += need;
        return b + ARENA_ALIGN;
    }
    return malloc(n);
}

static void
ar_free(void *ctx, void *p)
{
    if (p && !in_arena(ctx, p)) {
        free(p);
    }
}

static void *
ar_realloc(void *ctx, void *p, size_t n)
{
    size_t old;
    void *q;

    if (!p) {
        return ar_malloc(ctx, n);
    }
    if (!in_arena(ctx, p)) {
        return realloc(p, n);
    }
    memcpy(&old, (char *)p - ARENA_ALIGN, sizeof(old));
    q = ar_malloc(ctx, n);
    if (q) {
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

/* ---- one value -------------------------------------------------------- */

/* Node pointers from their offsets in text (invariant 3). */
static void
set_text(struct sp_jscan *js, struct sp_jnode *n)
{
    n->key = n == &js->root ? NULL : js->text.p + n->key_at;
    n->s = n->type == SP_J_STRING || n->type == SP_J_NUMBER
               ? js->text.p + n->s_at
               : NULL;
}

void
sp_jscan_reason(void *h, char *buf, size_t n)
{
    unsigned char *msg = yajl_get_error((yajl_handle)h, 0, NULL, 0);
    size_t len;

    snprintf(buf, n, "%s", msg ? (const char *)msg : "");
    if (msg) {
        yajl_free_error((yajl_handle)h, msg);
    }
    len = strcspn(buf, "\r\n");
    while (len > 0 && (buf[len - 1] == '.' || buf[len - 1] == ' ')) {
        len--;
    }
    buf[len] = '\0';
    if (strcmp(buf, "unknown error") == 0) {
        *buf = '\0';
    }
}

/* yajl stopped on an error: name the offending byte (yajl counts it as
 * consumed) and yajl's reason, or the end of the text when that came
 * too early. */
static ctspool_rc
syntax(struct scan *sc, const char *buf, int at_end, size_t len,
       struct sp_err *e)
{
    size_t at = yajl_get_bytes_consumed(sc->h);
    const char *nul;
    char why[128];

    if (at_end) {
        sp_err_set(e,
                   "invalid JSON: parsing stopped at byte offset %zu (the "
                   "input ends inside the value)",
                   len);
        return CTSPOOL_E_INVALID;
    }
    /* A raw NUL is never JSON: when yajl stopped at one, name it. */
    nul = memchr(buf, '\0', at + 1 < len ? at + 1 : len);
    if (nul) {
        sp_err_set(e, "the input contains a NUL byte at byte offset %zu",
                   (size_t)(nul - buf));
        return CTSPOOL_E_INVALID;
    }
    sp_jscan_reason(sc->h, why, sizeof(why));
    sp_err_set(e, "invalid JSON: parsing stopped at byte offset %zu%s%s%s",
               at > 0 ? at - 1 : 0, *why ? " (" : "", why, *why ? ")" : "");
    return CTSPOOL_E_INVALID;
}

static ctspool_rc
scan_run(struct scan *sc, const char *buf, size_t len, size_t *end,
         struct sp_err *e)
{
    yajl_status st;
    int finished = 0;

    st = yajl_parse(sc->h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok && !sc->done) {
        /* A number at the very end is complete only now.  yajl then
         * counts bytes of its own: the value ends at len. */
        st = yajl_complete_parse(sc->h);
        finished = 1;
        if (st == yajl_status_error && !sc->fatal) {
            return syntax(sc, buf, 1, len, e);
        }
    }
    if (sc->fatal) {
        *e = sc->err;
        return sc->rc;
    }
    if (st == yajl_status_error) {
        return syntax(sc, buf, 0, len, e);
    }
    if (!sc->done) {
        return syntax(sc, buf, 1, len, e);
    }
    *end = finished ? len : yajl_get_bytes_consumed(sc->h);
    return check_escapes(buf, *end, e);
}

ctspool_rc
sp_jscan_value(struct sp_jscan *js, const char *buf, size_t len,
               size_t *end, struct sp_err *e)
{
    struct scan sc;
    ctspool_rc rc;

    *end = 0;
    memset(&js->root, 0, sizeof(js->root));
    js->n_top = 0;
    js->n_sub = 0;
    js->max_depth = 0;
    sp_buf_reset(&js->text);
    if (!js->top && !(js->top = malloc(SP_JSCAN_KEEP * sizeof(*js->top)))) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    memset(&sc, 0, sizeof(sc));
    sc.js = js;
    js->arena_used = 0;
    js->afs.malloc = ar_malloc;
    js->afs.realloc = ar_realloc;
    js->afs.free = ar_free;
    js->afs.ctx = js;
    sc.h = yajl_alloc(&callbacks, &js->afs, &sc);
    if (!sc.h) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    /* Strings are checked as UTF-8 by validate.c (invariant 2). */
    yajl_config(sc.h, yajl_dont_validate_strings, 1);
    rc = scan_run(&sc, buf, len, end, e);
    yajl_free(sc.h);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (js->text.has_failed) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    set_text(js, &js->root);
    for (size_t i = 0; i < js->n_top; i++) {
        set_text(js, &js->top[i]);
    }
    for (size_t i = 0; i < js->n_sub; i++) {
        set_text(js, &js->sub[i]);
    }
    return CTSPOOL_OK;
}
