/*
 * input_detect.c -- which format an append input is in: the name given
 * (--format), else the file name's extension, else the first bytes.
 * Those are read ahead without seeking and handed back in front of the
 * rest by the input source (input_src.c), so stdin and pipes work; at
 * most SNIFF_MAX bytes, whatever the input.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "input_int.h"
#include "jscan.h"
#include "sp_int.h"

#define SNIFF_MAX (SP_INPUT_LINE_MAX + SP_INPUT_CHUNK)

int
sp_format_parse(const char *s)
{
    static const char *const names[] = {"auto", "cloudthread", "ndjson",
                                        "csv"};
    static const enum sp_format fmts[] = {SP_FMT_AUTO, SP_FMT_CLOUDTHREAD,
                                          SP_FMT_NDJSON, SP_FMT_CSV};

    if (!s) {
        return -1;
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            return (int)fmts[i];
        }
    }
    return -1;
}

/* ---- format detection ------------------------------------------------- */

/* The format a file name's extension implies, else SP_FMT_AUTO. */
enum sp_format
sp_input_format_by_name(const char *name)
{
    const char *base, *dot;

    if (!name || strcmp(name, "-") == 0) {
        return SP_FMT_AUTO;
    }
    base = strrchr(name, '/');
    base = base ? base + 1 : name;
    dot = strrchr(base, '.');
    if (!dot || dot == base) {
        return SP_FMT_AUTO;
    }
    if (strcasecmp(dot, ".json") == 0) {
        return SP_FMT_CLOUDTHREAD;
    }
    if (strcasecmp(dot, ".ndjson") == 0 || strcasecmp(dot, ".jsonl") == 0) {
        return SP_FMT_NDJSON;
    }
    if (strcasecmp(dot, ".csv") == 0) {
        return SP_FMT_CSV;
    }
    return SP_FMT_AUTO;
}

/* Keys that only a point (a data element, an NDJSON line) has. */
static int
is_point_key(const char *k, size_t n)
{
    static const char *const keys[] = {"timestamp", "metric_name",
                                       "metric_value", "custom_dimensions"};

    for (size_t i = 0; i < SP_ARRAY_LEN(keys); i++) {
        if (n == strlen(keys[i]) && memcmp(k, keys[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Decide the format from the first bytes of an input, s[0..len).
 * Returns SP_FMT_AUTO when more bytes are needed.  Not '{' first: CSV.
 * '{': the members of the first object decide: "data" makes it a
 * Cloudthread payload; a point's field, or the object ending without
 * "data", makes it NDJSON.  A first object too big to decide (or cut
 * short by the end of input) is taken as a payload.  Only blanks, to the
 * end of the input or for SNIFF_MAX bytes: NDJSON.
 */
static enum sp_format
format_by_content(const char *s, size_t len, int at_eof)
{
    size_t i = 0, key_start = 0, depth = 0;
    int in_str = 0, esc = 0, is_key = 0, expect_key = 0;

    if (len >= 3 && memcmp(s, sp_input_bom, 3) == 0) {
        i = 3;
    }
    i = sp_json_ws_end(s, len, i);
    if (i == len) {
        /* Nothing but blanks (or nothing): no points in any format;
         * NDJSON skips blank lines where CSV would want a header.  So
         * many of them that detection would hold more than SNIFF_MAX
         * bytes: NDJSON too, which reads on with bounded memory and
         * answers for an input of blanks only as it would at its end. */
        return at_eof || len >= SNIFF_MAX ? SP_FMT_NDJSON : SP_FMT_AUTO;
    }
    if (s[i] != '{') {
        return SP_FMT_CSV;
    }
    for (; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (esc) {
                esc = 0;
            } else if (c == '\\') {
                esc = 1;
            } else if (c == '"') {
                in_str = 0;
                if (is_key) {
                    size_t n = i - key_start;

                    if (n == 4 && memcmp(s + key_start, "data", 4) == 0) {
                        return SP_FMT_CLOUDTHREAD;
                    }
                    if (is_point_key(s + key_start, n)) {
                        return SP_FMT_NDJSON;
                    }
                    is_key = 0;
                    expect_key = 0;
                }
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            is_key = depth == 1 && expect_key;
            key_start = i + 1;
            break;
        case '{':
        case '[':
            depth++;
            expect_key = depth == 1;
            break;
        case '}':
        case ']':
            if (depth <= 1) {
                return SP_FMT_NDJSON; /* first object ended, no "data" */
            }
            depth--;
            break;
        case ',':
            expect_key = depth == 1;
            break;
        default:
            break;
        }
    }
    if (at_eof || len >= SNIFF_MAX) {
        return SP_FMT_CLOUDTHREAD;
    }
    return SP_FMT_AUTO;
}

/*
 * The bytes b read ahead of s given back to it, unless reading failed
 * (rc) or they begin with a UTF-16 or UTF-32 byte order mark (E_INVALID,
 * said in e).  Returns rc, or that E_INVALID.
 */
static ctspool_rc
give_back(struct sp_src *s, struct sp_buf *b, ctspool_rc rc, struct sp_err *e)
{
    const char *wide = rc == CTSPOOL_OK ? sp_wide_bom(b->p, b->len) : NULL;

    if (wide) {
        sp_err_set(e, "the input " SP_WIDE_SAID "; " SP_WIDE_CONVERT, wide,
                   wide);
        rc = CTSPOOL_E_INVALID;
    }
    if (rc != CTSPOOL_OK || b->len == 0) {
        sp_buf_cleanup(b);
    } else {
        sp_src_unread(s, b->p, b->len); /* transferred */
    }
    return rc;
}

/*
 * Read the start of s until its format is known, SNIFF_MAX bytes at the
 * most (format_by_content() decides by then).  The bytes read are given
 * back to s (sp_src_unread), to be read again before the rest: no
 * seeking, so stdin and pipes work.
 */
ctspool_rc
sp_input_sniff(struct sp_src *s, enum sp_format *fmt, struct sp_err *e)
{
    struct sp_buf b;
    size_t n;
    ctspool_rc rc = CTSPOOL_OK;

    sp_buf_init(&b);
    *fmt = SP_FMT_AUTO;
    while (*fmt == SP_FMT_AUTO) {
        rc = sp_buf_read(&b, s, SNIFF_MAX, &n);
        if (rc != CTSPOOL_OK) {
            rc = sp_input_read_failed(rc, e);
            break;
        }
        *fmt = format_by_content(b.p, b.len, n == 0);
    }
    return give_back(s, &b, rc, e);
}

/*
 * How many bytes tell whether b begins with a wide byte order mark: 2 for
 * UTF-16's; 4 for UTF-32's, only after a start no UTF-8 text has (FF FE,
 * 00 00), so that no UTF-8 input waits for bytes not yet written.
 */
static size_t
wide_mark_len(const struct sp_buf *b)
{
    if (b->len < 2) {
        return 2;
    }
    return memcmp(b->p, "\xFF\xFE", 2) == 0 || memcmp(b->p, "\0\0", 2) == 0
               ? 4
               : 2;
}

ctspool_rc
sp_input_refuse_wide(struct sp_src *s, struct sp_err *e)
{
    struct sp_buf b;
    size_t n = 1;
    ctspool_rc rc = CTSPOOL_OK;

    sp_buf_init(&b);
    while (n > 0 && b.len < wide_mark_len(&b)) {
        rc = sp_buf_read(&b, s, wide_mark_len(&b), &n);
        if (rc != CTSPOOL_OK) {
            rc = sp_input_read_failed(rc, e);
            break;
        }
    }
    return give_back(s, &b, rc, e);
}
