/*
 * mask.c -- makes text fit for the drainer's log and dead letters:
 * secrets masked (API key, stream token, endpoint credentials), control
 * bytes escaped, long bodies truncated.
 */
#include <stdio.h>
#include <string.h>

#include "drain_int.h"

/* ---- secrets in text from upstream ----------------------------------- */

/*
 * Replaces every occurrence of secret in s (len bytes) by "****", and a
 * start of it (4 bytes or more) cut off by the end of s, since bodies
 * are kept truncated.
 */
static void
mask_in(struct sp_buf *out, const char *s, size_t len, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0;
    size_t i = 0;

    sp_buf_reset(out);
    if (sp_buf_reserve(out, len) != 0) {
        return; /* out holds "" when it has memory at all */
    }
    while (i < len) {
        size_t rest = len - i;

        if (slen >= 4 && (rest >= slen ? memcmp(s + i, secret, slen) == 0
                                       : rest >= 4 &&
                                             memcmp(s + i, secret, rest) ==
                                                 0)) {
            sp_buf_adds(out, "****");
            i += rest >= slen ? slen : rest;
        } else {
            sp_buf_add(out, s + i, 1);
            i++;
        }
    }
}

/*
 * A response body as upstream sent it, with the API key and the batch's
 * stream token masked: *out (NUL-terminated) borrows d->scratch.
 */
const char *
dr_mask_body(struct dr_drainer *d, const char *body, size_t len)
{
    struct sp_buf tmp;

    sp_buf_init(&tmp);
    mask_in(&tmp, body, len, d->api_key);
    mask_in(&d->scratch, tmp.p ? tmp.p : "", tmp.len, d->cur->b.stream);
    sp_buf_cleanup(&tmp);
    return d->scratch.p ? d->scratch.p : "";
}

/* One log-safe line: printable ASCII kept, the rest as \xNN; truncated. */
void
dr_mask_snippet(const char *s, char *out, size_t out_len)
{
    size_t o = 0, i;

    for (i = 0; i < DR_LOG_BODY_MAX && s[i] && o + 5 < out_len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
        }
    }
    if (s[i] && o + 4 < out_len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The endpoint (or proxy) for a log line, any user:password@ replaced
 * (up to the last '@' before the path: a password may hold one). */
void
dr_mask_endpoint(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *slash = strchr(host, '/');
    const char *at = NULL;

    for (const char *p = host; *p && (!slash || p < slash); p++) {
        if (*p == '@') {
            at = p;
        }
    }
    if (at) {
        snprintf(out, len, "%.*s****%s", (int)(host - url), url, at);
    } else {
        snprintf(out, len, "%s", url);
    }
}
