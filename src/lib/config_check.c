/*
 * config_check.c -- checks of one setting's value (a URL, a proxy, a
 * listen address, an API key, a stream token), for the settings of
 * config_keys.c and the environment overrides.  Each returns 0, or -1
 * with the reason ("must ...") in why; a reason never quotes the value,
 * which may be a secret.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "sp_int.h"

int
sp_config_has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* ---- value checks ----------------------------------------------------- */

int
sp_config_check_nonempty(const char *s, struct sp_err *why)
{
    if (!*s) {
        sp_err_set(why, "must not be empty");
        return -1;
    }
    return 0;
}

/*
 * The authority of a URL, a (up to the first of "/?#"): a host after any
 * user information ('@'), then an optional port of 1 to 65535 (empty:
 * the scheme's).  0, or -1 with why set.
 */
static int
authority_check(const char *a, struct sp_err *why)
{
    size_t n = strcspn(a, "/?#");
    const char *host = a, *end = a + n, *colon;

    for (const char *p = a; p < end; p++) {
        if (*p == '@') {
            host = p + 1;
        }
    }
    if (host < end && *host == '[') { /* an IPv6 address */
        const char *close = memchr(host, ']', (size_t)(end - host));

        colon = close && close + 1 < end && close[1] == ':' ? close + 1
                                                             : NULL;
        if (!close || close == host + 1 || (close + 1 < end && !colon)) {
            sp_err_set(why, "must name a host: an IPv6 address in [ ]");
            return -1;
        }
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if (host == end || host == colon) {
            sp_err_set(why, "must name a host after the scheme");
            return -1;
        }
    }
    if (colon) {
        unsigned long port = 0;
        const char *p = colon + 1;

        for (; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++) {
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (p != end || (colon + 1 < end && (port < 1 || port > 65535))) {
            sp_err_set(why, "must have a port from 1 to 65535");
            return -1;
        }
    }
    return 0;
}

int
sp_config_check_url(const char *s, struct sp_err *why)
{
    size_t skip = 0;

    if (strncasecmp(s, "https://", 8) == 0) {
        skip = 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        skip = 7;
    }
    if (skip == 0 || s[skip] == '\0') {
        sp_err_set(why, "must start with http:// or https:// and name a "
                        "host");
        return -1;
    }
    if (authority_check(s + skip, why) != 0) {
        return -1;
    }
    for (; *s; s++) {
        if (isspace((unsigned char)*s) || (unsigned char)*s < 0x20) {
            sp_err_set(why, "must not contain spaces or control "
                            "characters");
            return -1;
        }
    }
    return 0;
}

/* sp_config_check_url, or "" (unset: a default applies). */
int
sp_config_check_url_or_empty(const char *s, struct sp_err *why)
{
    return s[0] == '\0' ? 0 : sp_config_check_url(s, why);
}

/* "HOST:PORT" or "[IPV6]:PORT", port 1..65535. */
int
sp_config_check_listen(const char *s, struct sp_err *why)
{
    const char *host, *port, *end;
    size_t host_len;
    long n = 0;

    if (s[0] == '[') {
        host = s + 1;
        end = strchr(host, ']');
        if (!end || end[1] != ':') {
            goto bad;
        }
        host_len = (size_t)(end - host);
        port = end + 2;
    } else {
        host = s;
        end = strrchr(host, ':');
        if (!end) {
            goto bad;
        }
        host_len = (size_t)(end - host);
        if (memchr(host, ':', host_len)) {
            goto bad; /* a bare IPv6 address: brackets needed */
        }
        port = end + 1;
    }
    if (host_len == 0 || *port == '\0' || strlen(port) > 5) {
        goto bad;
    }
    for (size_t i = 0; i < host_len; i++) {
        unsigned char ch = (unsigned char)host[i];

        if (isspace(ch) || ch < 0x20 || ch == '[' || ch == ']') {
            goto bad;
        }
    }
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') {
            goto bad;
        }
        n = n * 10 + (*p - '0');
    }
    if (n < 1 || n > 65535) {
        goto bad;
    }
    return 0;
bad:
    sp_err_set(why, "must be \"HOST:PORT\" with a port from 1 to 65535 "
                    "(IPv6 as \"[::1]:8765\")");
    return -1;
}

/* An API key goes into an HTTP header: no line breaks or controls. */
int
sp_config_check_secret(const char *s, struct sp_err *why)
{
    if (sp_config_has_control(s)) {
        sp_err_set(why, "must not contain control characters (such as a "
                        "line break)");
        return -1;
    }
    return 0;
}

int
sp_config_check_stream(const char *s, struct sp_err *why)
{
    static const char prefix[] = "data_stream_token: ";
    struct sp_err v;
    const char *reason;

    if (!*s) {
        return 0; /* none */
    }
    /* validate.c's messages give lengths and offsets, never the token. */
    if (sp_valid_stream(s, strlen(s), &v) == CTSPOOL_OK) {
        return 0;
    }
    reason = v.msg;
    if (strncmp(reason, prefix, sizeof(prefix) - 1) == 0) {
        reason += sizeof(prefix) - 1;
    }
    sp_err_set(why, "is not a valid token: %s", reason);
    return -1;
}

int
sp_config_url_has_userinfo(const char *s)
{
    const char *scheme = strstr(s, "://");
    const char *host = scheme ? scheme + 3 : s;
    size_t n = strcspn(host, "/?#");
    const char *at = memchr(host, '@', n);

    return at != NULL;
}

int
sp_config_check_proxy(const char *s, struct sp_err *why)
{
    static const char *const schemes[] = {"http", "https", "socks4",
                                          "socks4a", "socks5", "socks5h"};
    const char *sep = strstr(s, "://");
    const char *host = s;
    const char *at;
    size_t i;

    if (!*s) {
        return 0; /* none: the proxy environment variables apply */
    }
    for (const char *p = s; *p; p++) {
        if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20 ||
            *p == 0x7f) {
            sp_err_set(why, "must not contain spaces or control "
                            "characters");
            return -1;
        }
    }
    if (sep) {
        for (i = 0; i < SP_ARRAY_LEN(schemes); i++) {
            if (strlen(schemes[i]) == (size_t)(sep - s) &&
                strncasecmp(s, schemes[i], (size_t)(sep - s)) == 0) {
                break;
            }
        }
        if (i == SP_ARRAY_LEN(schemes)) {
            sp_err_set(why, "must be http://, https://, socks4://, "
                            "socks4a://, socks5:// or socks5h:// "
                            "followed by a host");
            return -1;
        }
        host = sep + 3;
    }
    at = strchr(host, '@');
    if (at) {
        host = at + 1;
    }
    if (!*host || *host == ':' || *host == '/') {
        sp_err_set(why, "must name a host");
        return -1;
    }
    return 0;
}

/* An octal mode with read and write for the owner, nothing for others,
 * no execute bit: "0600", "0640" or "0660". */
int
sp_config_check_file_mode(const char *s, struct sp_err *why)
{
    char *end = NULL;
    unsigned long m;

    if (strlen(s) < 3 || strlen(s) > 4 || strspn(s, "01234567") !=
                                               strlen(s)) {
        goto bad;
    }
    m = strtoul(s, &end, 8);
    if (*end || (m & 0600) != 0600 || (m & ~0660UL) != 0) {
        goto bad;
    }
    return 0;
bad:
    sp_err_set(why, "must be an octal file mode giving the owner read and "
                    "write, others nothing and no execute bit: \"0600\", "
                    "\"0640\" or \"0660\"");
    return -1;
}

unsigned
sp_config_journal_mode(const struct sp_config *c)
{
    const char *s = c->journal_file_mode;
    struct sp_err why;

    return s && sp_config_check_file_mode(s, &why) == 0
               ? (unsigned)strtoul(s, NULL, 8)
               : 0600;
}
