/*
 * jscan.h -- one JSON value read two levels deep, with yajl: the type of
 * the value, its members and, for a member that is an object, that
 * object's members.  Deeper values are checked as JSON and typed, never
 * kept.  This is all an incoming point or event needs (an object of
 * scalars, one of which may be an object of scalars), without a tree.
 * Private to the library.
 */
#ifndef CTSPOOL_JSCAN_H
#define CTSPOOL_JSCAN_H

#include <stddef.h>

#include <yajl/yajl_common.h>

#include "sp_int.h"

/* JSON types, named in messages by sp_jtype_name(). */
enum sp_jtype { SP_J_NULL, SP_J_BOOL, SP_J_NUMBER, SP_J_STRING, SP_J_ARRAY,
                SP_J_OBJECT };

/* "null", "a boolean", "a number", "a string", "an array", "an object". */
const char *sp_jtype_name(int type);

/* yajl's reason for the error its handle h (a yajl_handle) stopped at,
 * one line without the final period ("parse error: trailing garbage"),
 * into buf; "" when it gives none. */
void sp_jscan_reason(void *h, char *buf, size_t n);

/* Bytes yajl's handle, lexer and stack take from a scan's arena. */
#define SP_JSCAN_ARENA 4096

/* Deepest nesting accepted (cJSON's limit, which ctspool always had). */
#define SP_JSON_DEPTH_MAX 1000

/* Members kept of one object (more are counted, not kept): a point or
 * an event has at most 6 distinct fields and 10 dimensions, so a rule
 * walking members in order meets its first problem among these. */
#define SP_JSCAN_KEEP 64

/*
 * The value (the root), a member of it, or a member of such a member.
 * key (NULL for the root), and s for a string or a number, are
 * NUL-terminated: a string decoded, a number as its JSON text; s is NULL
 * for other types.  An object that is the root or a member of the root
 * keeps its first SP_JSCAN_KEEP members (sp_jscan_member()); n_members
 * counts them all.
 */
struct sp_jnode {
    const char *key;
    size_t key_len;
    int type; /* enum sp_jtype */
    const char *s;
    size_t len;
    size_t n_members, n_kept;
    size_t first;          /* private: its first member kept in sub[] */
    size_t key_at, s_at;   /* private: offsets in text while reading */
};

/* Reused from value to value, so a warm scan allocates nothing. */
struct sp_jscan {
    struct sp_jnode root;
    struct sp_jnode *top;  /* the root's members */
    size_t n_top;
    struct sp_jnode *sub;  /* members of the root's members, each
                            * object's contiguous */
    size_t n_sub, cap_sub;
    struct sp_buf text;    /* keys and strings, while they are read */
    size_t max_depth;      /* deepest nesting of the value read (0: a
                            * scalar, 1: an object of scalars, ...) */
    yajl_alloc_funcs afs;  /* yajl's memory, from arena (jscan.c) */
    size_t arena_used;
    _Alignas(16) char arena[SP_JSCAN_ARENA];
};

void sp_jscan_init(struct sp_jscan *js);
void sp_jscan_cleanup(struct sp_jscan *js);

/*
 * Read the JSON value at buf[0..len) (whitespace before it allowed) into
 * js.  OK: *end is just after the value; js->node[0] is the root.
 * E_INVALID: not JSON (syntax, nested deeper than SP_JSON_DEPTH_MAX, a
 * NUL character raw or escaped), e says what and where, *end is 0; or
 * JSON holding a lone UTF-16 surrogate, *end set as for OK.  E_NOMEM.
 * The text of every node lives in js until the next scan.
 */
ctspool_rc sp_jscan_value(struct sp_jscan *js, const char *buf, size_t len,
                          size_t *end, struct sp_err *e);

/*
 * sp_jscan_value() of a whole NDJSON line: the value, then only
 * whitespace, else E_INVALID "unexpected text after the object ...
 * (one ITEM per line)".
 */
ctspool_rc sp_jscan_line(struct sp_jscan *js, const char *line, size_t len,
                         const char *item, struct sp_err *e);

/* JSON whitespace: space, tab, CR, LF. */
static inline int
sp_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first i' >= i with s[i'] not JSON whitespace, or len. */
static inline size_t
sp_json_ws_end(const char *s, size_t len, size_t i)
{
    while (i < len && sp_json_ws(s[i])) {
        i++;
    }
    return i;
}

/* Only JSON whitespace in s[0..len). */
int sp_json_blank(const char *s, size_t len);

/* Member number i (0-based, i < o->n_kept) of the object o: the root
 * or a member of it. */
static inline const struct sp_jnode *
sp_jscan_member(const struct sp_jscan *js, const struct sp_jnode *o,
                size_t i)
{
    return o == &js->root ? &js->top[i] : &js->sub[o->first + i];
}

#endif
