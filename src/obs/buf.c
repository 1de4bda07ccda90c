/*
 * buf.c -- what the HTTP answers of serve and of the drainer add to the
 * shared byte buffer (struct sp_buf): JSON strings, escaped by cJSON
 * (answers are not a hot path), and handing the text over to
 * libmicrohttpd.  An allocation failure is sticky, so callers check
 * once, at ob_buf_take().
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "obs.h"

/* Length of the valid UTF-8 sequence at s[0..len), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
    size_t n;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
    } else {
        return 0;
    }
    if (n > len || !sp_utf8_valid((const char *)s, n)) {
        return 0;
    }
    return n;
}

void
ob_buf_add_json(struct sp_buf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    struct sp_buf clean;
    cJSON *item = NULL;
    char *text = NULL;
    size_t i = 0, n;

    if (b->has_failed) {
        return;
    }
    /* cJSON copies bytes >= 0x80 as they are: only UTF-8 may reach it,
     * for the answer to be valid JSON. */
    sp_buf_init(&clean);
    sp_buf_add(&clean, "", 0);
    while (i < len && u[i] != '\0') {
        n = utf8_len(u + i, len - i);
        if (n) {
            sp_buf_add(&clean, s + i, n);
            i += n;
        } else {
            sp_buf_adds(&clean, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        }
    }
    if (!clean.has_failed) {
        item = cJSON_CreateString(clean.p);
    }
    if (item) {
        text = cJSON_PrintUnformatted(item);
    }
    if (text) {
        sp_buf_adds(b, text);
    } else {
        b->has_failed = 1;
    }
    cJSON_free(text);
    cJSON_Delete(item);
    sp_buf_cleanup(&clean);
}

char *
ob_buf_take(struct sp_buf *b, size_t *len)
{
    char *p = NULL;

    if (!b->has_failed && sp_buf_reserve(b, 0) == 0) {
        p = b->p;
        *len = b->len;
        b->p = NULL;
    }
    sp_buf_cleanup(b);
    return p;
}
