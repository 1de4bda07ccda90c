/*
 * utf8.c -- strict UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF), and the quoting of untrusted bytes in messages so that
 * a message stays printable, valid UTF-8 and one line whatever the input.
 * No I/O, no allocation, no global state.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sp_int.h"
#include "utf8.h"

/* ---- UTF-8 ------------------------------------------------------------ */

/*
 * Length of the strict UTF-8 sequence at s (len > 0 bytes available), or
 * 0 when it is malformed: overlong, surrogate, above U+10FFFF, truncated
 * or a stray continuation byte.  *cp receives the code point.
 */
size_t
sp_utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b0 = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    uint32_t c;

    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
        c = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        c = b0 & 0x0Fu;
        if (b0 == 0xE0) {
            lo = 0xA0; /* overlong below U+0800 */
        } else if (b0 == 0xED) {
            hi = 0x9F; /* U+D800..U+DFFF are surrogates */
        }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        c = b0 & 0x07u;
        if (b0 == 0xF0) {
            lo = 0x90; /* overlong below U+10000 */
        } else if (b0 == 0xF4) {
            hi = 0x8F; /* above U+10FFFF */
        }
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi) {
        return 0;
    }
    c = (c << 6) | (s[1] & 0x3Fu);
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    *cp = c;
    return n;
}

/* Offset of the first byte that is not strict UTF-8, or len if none. */
size_t
sp_utf8_bad_offset(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t cp;

    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        n = sp_utf8_seq(u + i, len - i, &cp);
        if (n == 0) {
            return i;
        }
        i += n;
    }
    return len;
}

int
sp_utf8_valid(const char *s, size_t len)
{
    if (len == 0) {
        return 1;
    }
    return sp_utf8_bad_offset(s, len) == len;
}

int
sp_utf8_scrub(const char *s, size_t len, struct sp_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t good = sp_utf8_bad_offset(s + i, len - i);

        if (sp_buf_add(out, u + i, good) != 0) {
            return -1;
        }
        i += good;
        if (i < len) {
            if (sp_buf_add(out, "\xef\xbf\xbd", 3) != 0) { /* U+FFFD */
                return -1;
            }
            i++;
        }
    }
    return sp_buf_add(out, "", 0); /* the NUL, also for nothing added */
}

const char *
sp_wide_bom(const void *s, size_t len)
{
    const unsigned char *b = s;

    if (len >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF) {
        return "UTF-32";
    }
    if (len < 2 || !((b[0] == 0xFF && b[1] == 0xFE) ||
                     (b[0] == 0xFE && b[1] == 0xFF))) {
        return NULL;
    }
    /* FF FE 00 00 as UTF-16 would be a NUL first: no text is. */
    return len >= 4 && b[0] == 0xFF && b[2] == 0 && b[3] == 0 ? "UTF-32"
                                                              : "UTF-16";
}

/* Code points shown literally in messages: no controls, no invisible
 * format characters that could disguise the text (bidi overrides). */
static int
cp_printable(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        return 0;
    }
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
        (cp >= 0xFFF9 && cp <= 0xFFFB)) {
        return 0;
    }
    return 1;
}

/*
 * Write s as a double-quoted string into buf (cap >= SP_QUOTE_BUF): at most
 * SP_QUOTE_IN input bytes, `"` and `\` escaped with a backslash, bytes that
 * are not printable (controls, invalid UTF-8, invisible characters) as
 * \xNN.  A longer input gets `...` after the closing quote.  Returns buf.
 */
const char *
sp_utf8_quote(const char *s, size_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t shown = len < SP_QUOTE_IN ? len : SP_QUOTE_IN;
    size_t i = 0, o = 0, n;
    uint32_t cp;

    assert(cap >= SP_QUOTE_BUF);
    (void)cap;
    buf[o++] = '"';
    while (i < shown) {
        unsigned char b = u[i];

        if (b == '"' || b == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)b;
            i++;
            continue;
        }
        if (b >= 0x20 && b < 0x7F) {
            buf[o++] = (char)b;
            i++;
            continue;
        }
        n = b >= 0x80 ? sp_utf8_seq(u + i, shown - i, &cp) : 0;
        if (n > 0 && cp_printable(cp)) {
            memcpy(buf + o, u + i, n);
            o += n;
            i += n;
            continue;
        }
        buf[o++] = '\\';
        buf[o++] = 'x';
        buf[o++] = hex[b >> 4];
        buf[o++] = hex[b & 0x0F];
        i++;
    }
    buf[o++] = '"';
    if (shown < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}
