/*
 * log.c -- levelled logging to stderr, one line per event, in logfmt:
 *   ts=2026-11-26T08:00:00.123Z level=info component=drain msg="text"
 * or as one JSON object a line (log_format = "json"), and masking of
 * secrets for display.  The library itself never logs; programs (CLI,
 * serve, drain) do.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sp_int.h"
#include "utf8.h"

static const char *log_component = "ctspool";
static atomic_int log_level = SP_LOG_INFO; /* SIGHUP may change it */
static atomic_int log_format = SP_LOG_LOGFMT;
/* A level from the command line or environment outlasts reloads. */
static atomic_int log_level_is_pinned;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"logfmt", "json"};

void
sp_log_init(const char *component, enum sp_log_level level)
{
    log_component = component;
    sp_log_set_level(level);
}

void
sp_log_set_level(enum sp_log_level level)
{
    if (!atomic_load(&log_level_is_pinned)) {
        atomic_store(&log_level, (int)level);
    }
}

void
sp_log_pin_level(enum sp_log_level level)
{
    atomic_store(&log_level, (int)level);
    atomic_store(&log_level_is_pinned, 1);
}

void
sp_log_set_format(enum sp_log_format format)
{
    atomic_store(&log_format, (int)format);
}

int
sp_log_level_parse(const char *s)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int
sp_log_format_parse(const char *s)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(format_names); i++) {
        if (strcmp(s, format_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- formatting -------------------------------------------------------- */

/* logfmt quotes a value that is empty or holds a space, '=', '"', '\\'
 * or a control character. */
static int
logfmt_needs_quotes(const char *s)
{
    if (*s == '\0') {
        return 1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' ||
            *p == 0x7f) {
            return 1;
        }
    }
    return 0;
}

static void
logfmt_add_value(struct sp_buf *b, const char *s)
{
    if (!logfmt_needs_quotes(s)) {
        sp_buf_adds(b, s);
        return;
    }
    sp_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            sp_buf_adds(b, "\\\"");
            break;
        case '\\':
            sp_buf_adds(b, "\\\\");
            break;
        case '\n':
            sp_buf_adds(b, "\\n");
            break;
        case '\r':
            sp_buf_adds(b, "\\r");
            break;
        case '\t':
            sp_buf_adds(b, "\\t");
            break;
        default:
            if (*p < ' ' || *p == 0x7f) {
                sp_buf_addf(b, "\\u%04x", (unsigned)*p);
            } else {
                sp_buf_add(b, p, 1);
            }
        }
    }
    sp_buf_add(b, "\"", 1);
}

static void
logfmt_line(struct sp_buf *b, const char *ts, const char *level,
            const char *component, const char *msg)
{
    static const char *const keys[] = {"ts=", " level=", " component=",
                                       " msg="};
    const char *values[] = {ts, level, component, msg};

    for (size_t i = 0; i < SP_ARRAY_LEN(keys); i++) {
        sp_buf_adds(b, keys[i]);
        logfmt_add_value(b, values[i]);
    }
}

/* s with every byte that is not strict UTF-8 replaced by U+FFFD: JSON
 * text must be UTF-8, and a message may quote any input. */
static void
utf8_clean(struct sp_buf *b, const char *s)
{
    size_t len = strlen(s), n;
    uint32_t cp;

    while (len > 0) {
        n = sp_utf8_seq((const unsigned char *)s, len, &cp);
        if (n == 0) {
            sp_buf_adds(b, "\xef\xbf\xbd");
            n = 1;
        } else {
            sp_buf_add(b, s, n);
        }
        s += n;
        len -= n;
    }
}

static void
json_line(struct sp_buf *b, const char *ts, const char *level,
          const char *component, const char *msg)
{
    static const char *const keys[] = {"ts", "level", "component", "msg"};
    const char *values[] = {ts, level, component, msg};
    cJSON *obj = cJSON_CreateObject();
    struct sp_buf clean;
    char *text = NULL;
    size_t i;

    sp_buf_init(&clean);
    for (i = 0; obj && i < SP_ARRAY_LEN(keys); i++) {
        sp_buf_reset(&clean);
        utf8_clean(&clean, values[i]);
        if (clean.has_failed ||
            !cJSON_AddStringToObject(obj, keys[i],
                                     clean.p ? clean.p : "")) {
            break;
        }
    }
    if (obj && i == SP_ARRAY_LEN(keys)) {
        text = cJSON_PrintUnformatted(obj);
    }
    if (text) {
        sp_buf_adds(b, text);
    } else {
        b->has_failed = 1;
    }
    cJSON_free(text);
    cJSON_Delete(obj);
    sp_buf_cleanup(&clean);
}

char *
sp_log_line(enum sp_log_format format, const char *ts, const char *level,
            const char *component, const char *msg)
{
    struct sp_buf b;

    sp_buf_init(&b);
    if (format == SP_LOG_JSON) {
        json_line(&b, ts, level, component, msg);
    } else {
        logfmt_line(&b, ts, level, component, msg);
    }
    if (b.has_failed || !b.p) {
        sp_buf_cleanup(&b);
        return NULL;
    }
    return b.p;
}

/* ---- output ------------------------------------------------------------ */

/* The line in the format chosen, even when memory is short. */
static void
put_line(const char *ts, const char *level, const char *msg)
{
    enum sp_log_format format = (enum sp_log_format)atomic_load(&log_format);
    char *line = sp_log_line(format, ts, level, log_component, msg);

    if (line) {
        fputs(line, stderr);
        free(line);
    } else if (format == SP_LOG_JSON) {
        /* The component names are plain words: nothing to escape. */
        fprintf(stderr,
                "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\","
                "\"msg\":\"(out of memory formatting a log line)\"}",
                ts, level, log_component);
    } else {
        fprintf(stderr,
                "ts=%s level=%s component=%s msg=\"(out of memory "
                "formatting a log line)\"",
                ts, level, log_component);
    }
    fputc('\n', stderr);
    fflush(stderr);
}

void
sp_log(enum sp_log_level level, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char ts[40], sec[32], small[512];
    char *msg = small;
    va_list ap;
    int n;

    if ((int)level > atomic_load(&log_level)) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof(ts), "%s.%03dZ", sec, (int)(tv.tv_usec / 1000));
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(small, sizeof(small), "(log message not formatted)");
    } else if ((size_t)n >= sizeof(small)) {
        msg = malloc((size_t)n + 1);
        if (msg) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        } else {
            msg = small; /* cut short rather than lost */
        }
    }
    pthread_mutex_lock(&log_lock);
    put_line(ts, level_names[level], msg);
    pthread_mutex_unlock(&log_lock);
    if (msg != small) {
        free(msg);
    }
}
const char *
sp_mask(const char *secret, char *buf, size_t buf_len)
{
    return sp_mask_n(secret, secret ? strlen(secret) : 0, buf, buf_len);
}

const char *
sp_group_name(const char *stream, int agg, char *buf, size_t buf_len)
{
    const char *name = sp_agg_name(agg);
    char mask[32];

    if (agg == SP_KIND_EVENTS || !name) {
        snprintf(buf, buf_len, "events");
    } else {
        snprintf(buf, buf_len, "%s/%s", sp_mask(stream, mask, sizeof(mask)),
                 name);
    }
    return buf;
}

/* The number of characters (UTF-8 sequences) in s[0..len). */
static size_t
utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return n;
}

const char *
sp_mask_n(const char *secret, size_t len, char *buf, size_t buf_len)
{
    size_t start, chars = len ? utf8_chars(secret, len) : 0;

    if (len == 0) {
        snprintf(buf, buf_len, "(none)");
    } else if (chars <= 8) {
        snprintf(buf, buf_len, "****");
    } else {
        /* The last 4 characters (not bytes: a table stays aligned). */
        start = len;
        for (int k = 0; k < 4 && start > 0;) {
            start--;
            k += ((unsigned char)secret[start] & 0xC0) != 0x80;
        }
        snprintf(buf, buf_len, "****%.*s", (int)(len - start),
                 secret + start);
    }
    return buf;
}
