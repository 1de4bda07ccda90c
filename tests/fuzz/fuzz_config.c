/*
 * fuzz_config.c -- libFuzzer harness for the configuration loader
 * (config.c: sp_config_load over libconfig, with its own int64 literal
 * rewrite).  The input is written to a memfd and loaded through
 * /proc/self/fd/N, so no file is left behind and nothing else is read.
 *
 * Contracts beyond "no crash, no leak, no UB":
 * - a failure is E_CONFIG with a one-line message naming the file;
 * - a success yields a configuration inside the documented bounds
 *   (DESIGN.md section 7, config.c's keys[]): required strings set,
 *   optional strings NULL rather than "", numbers within their ranges,
 *   durability and log level from their word lists, server.api_keys
 *   with n_api_keys entries, streams with n_streams valid tokens that
 *   include the default stream; a secret in a file readable by others
 *   gives a warning that names the file but not the secret.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"

/*
 * libconfig 1.5 (Debian's libconfig9) leaks the string of a token its
 * scanner has read when a syntax error follows (e.g. `a "x"` with the
 * '=' missing): not ctspool's memory.  Only those two allocation sites
 * of the scanner are suppressed.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static int memfd = -1;
static char path[64];

static void
init(void)
{
    /* The environment overrides would mask what the file says. */
    unsetenv("CTSPOOL_API_KEY");
    unsetenv("CTSPOOL_DATA_STREAM_TOKEN");
    unsetenv("CTSPOOL_CONFIG");
    memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
    if (memfd < 0) {
        fz_fail("memfd_create: %s", strerror(errno));
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
}

static void
range(const char *what, long long v, long long lo, long long hi)
{
    if (v < lo || v > hi) {
        fz_fail("%s = %lld outside [%lld, %lld]", what, v, lo, hi);
    }
}

static void
optional(const char *what, const char *s)
{
    if (s && !*s) {
        fz_fail("%s is \"\" instead of NULL", what);
    }
}

static void
check_config(const struct sp_config *c)
{
    if (!c->journal || !*c->journal) {
        fz_fail("journal is empty");
    }
    if (!c->upload.endpoint || !c->server.listen) {
        fz_fail("endpoint or listen missing");
    }
    range("durability_full", c->durability_full, 0, 1);
    range("log_level", c->log_level, SP_LOG_ERROR, SP_LOG_DEBUG);
    range("retain_acked_hours", c->retain_acked_hours, 0, 1000000);
    range("batch_max_points", c->upload.batch_max_points, 1, 1000000);
    range("batch_max_bytes", c->upload.batch_max_bytes, 1024, 1073741824);
    range("connect_timeout_ms", c->upload.connect_timeout_ms, 1, INT_MAX);
    range("request_timeout_ms", c->upload.request_timeout_ms, 1, INT_MAX);
    range("retry_base_ms", c->upload.retry_base_ms, 1, INT_MAX);
    range("retry_max_ms", c->upload.retry_max_ms, 1, INT_MAX);
    range("poll_ms", c->upload.poll_ms, 1, INT_MAX);
    range("allow_unauthenticated", c->server.allow_unauthenticated, 0, 1);
    range("max_body_bytes", c->server.max_body_bytes, 1024, 1073741824);
    range("max_pending_points", c->limits.max_pending_points, 0,
          LLONG_MAX);
    range("max_journal_bytes", c->limits.max_journal_bytes, 0, LLONG_MAX);
    optional("api_key", c->upload.api_key);
    optional("api_key_file", c->upload.api_key_file);
    optional("data_stream_token", c->upload.data_stream_token);
    optional("ca_file", c->upload.ca_file);
    if (c->upload.data_stream_token) {
        struct sp_err e;

        if (sp_valid_stream(c->upload.data_stream_token,
                            strlen(c->upload.data_stream_token),
                            &e) != CTSPOOL_OK) {
            fz_fail("accepted an invalid data_stream_token");
        }
    }
    if (c->n_streams > 0 && !c->streams) {
        fz_fail("n_streams %zu but no array", c->n_streams);
    }
    for (size_t i = 0; i < c->n_streams; i++) {
        struct sp_err e;

        if (!c->streams[i] ||
            sp_valid_stream(c->streams[i], strlen(c->streams[i]), &e) !=
                CTSPOOL_OK) {
            fz_fail("streams[%zu] is not a valid token", i);
        }
    }
    if (c->upload.data_stream_token && c->n_streams > 0) {
        const struct sp_defaults d = {.agg = -1, .streams = c->streams,
                                      .n_streams = c->n_streams};
        const char *t = c->upload.data_stream_token;
        struct sp_err e;

        if (sp_valid_stream_listed(&d, t, strlen(t), &e) != CTSPOOL_OK) {
            fz_fail("the default stream is not in the streams list");
        }
    }
    if (c->server.n_api_keys > 0 && !c->server.api_keys) {
        fz_fail("n_api_keys %zu but no array", c->server.n_api_keys);
    }
    for (size_t i = 0; i < c->server.n_api_keys; i++) {
        if (!c->server.api_keys[i]) {
            fz_fail("server.api_keys[%zu] is NULL", i);
        }
        if (c->warning && *c->server.api_keys[i] &&
            strlen(c->server.api_keys[i]) >= 8 &&
            strstr(c->warning, c->server.api_keys[i])) {
            fz_fail("the warning shows a server key");
        }
    }
    if (c->warning && !strstr(c->warning, path)) {
        fz_fail("the warning does not name the file: %s", c->warning);
    }
    if (c->warning && c->upload.api_key && strlen(c->upload.api_key) >= 8 &&
        strstr(c->warning, c->upload.api_key)) {
        fz_fail("the warning shows the api key");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_config *c = NULL;
    struct sp_err e;
    ctspool_rc rc;

    if (memfd < 0) {
        init();
    }
    if (ftruncate(memfd, 0) != 0 ||
        (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
        fz_fail("writing the memfd: %s", strerror(errno));
    }
    /* Odd sizes: a file readable by others, for the secrets warning. */
    if (fchmod(memfd, size % 2 ? 0644 : 0600) != 0) {
        fz_fail("fchmod: %s", strerror(errno));
    }
    memset(&e, 0, sizeof(e));
    rc = sp_config_load(path, &c, &e);
    if (rc == CTSPOOL_OK) {
        if (!c) {
            fz_fail("OK without a configuration");
        }
        check_config(c);
        sp_config_free(c);
        return 0;
    }
    if (c) {
        fz_fail("a configuration returned with %s", ctspool_errname(rc));
    }
    if (rc != CTSPOOL_E_CONFIG) {
        fz_fail("sp_config_load returned %s: %s", ctspool_errname(rc), e.msg);
    }
    fz_check_msg(&e, NULL, data, size);
    if (!strstr(e.msg, path)) {
        fz_fail("the error does not name the file: %s", e.msg);
    }
    return 0;
}
