/*
 * log.c -- levelled logging to stderr, one line per event:
 *   2026-11-26T08:00:00.123Z level=info component=drain message text
 * and masking of secrets for display.  The library itself never logs;
 * programs (CLI, serve, drain) do.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "sp_int.h"

static const char *log_component = "ctspool";
static atomic_int log_level = SP_LOG_INFO; /* SIGHUP may change it */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
sp_log_init(const char *component, enum sp_log_level level)
{
    log_component = component;
    atomic_store(&log_level, (int)level);
}

void
sp_log_set_level(enum sp_log_level level)
{
    atomic_store(&log_level, (int)level);
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

void
sp_log(enum sp_log_level level, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char ts[32];
    va_list ap;

    if ((int)level > atomic_load(&log_level)) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s.%03dZ level=%s component=%s ", ts,
            (int)(tv.tv_usec / 1000), level_names[level], log_component);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

const char *
sp_mask(const char *secret, char *buf, size_t buf_len)
{
    return sp_mask_n(secret, secret ? strlen(secret) : 0, buf, buf_len);
}

const char *
sp_mask_n(const char *secret, size_t len, char *buf, size_t buf_len)
{
    size_t start;

    if (len == 0) {
        snprintf(buf, buf_len, "(none)");
    } else if (len <= 8) {
        snprintf(buf, buf_len, "****");
    } else {
        /* The last 4 bytes, less a cut-off start of a UTF-8 sequence. */
        start = len - 4;
        while (start < len && ((unsigned char)secret[start] & 0xC0) == 0x80) {
            start++;
        }
        snprintf(buf, buf_len, "****%.*s", (int)(len - start),
                 secret + start);
    }
    return buf;
}
