/*
 * test_config.c -- unit tests of config.c: defaults, every key of
 * DESIGN.md section 7, 64-bit integers, each class of error (with file,
 * line and key in the message), environment overrides, the streams list,
 * the secret permission warning (configuration and API key file), the API
 * key sources, and scripts/ctspool.cfg.example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sp_int.h"
#include "testutil.h"

#define SECRET "s3cr3t-VALUE-do-not-print"

struct fixture {
    char *dir;
    char *cfg; /* dir/ctspool.cfg */
};

static void
clear_env(void)
{
    unsetenv("CTSPOOL_CONFIG");
    unsetenv("CTSPOOL_API_KEY");
    unsetenv("CTSPOOL_DATA_STREAM_TOKEN");
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f) {
        return -1;
    }
    f->dir = tu_tmpdir();
    f->cfg = tu_path(f->dir, "ctspool.cfg");
    clear_env();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    clear_env();
    free(f->cfg);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Write text to path with the given mode (not subject to umask). */
static void
write_mode(const char *path, const char *text, mode_t mode)
{
    tu_write_file(path, text, strlen(text));
    assert_int_equal(chmod(path, mode), 0);
}

static void
write_cfg(const struct fixture *f, const char *text)
{
    write_mode(f->cfg, text, 0600);
}

static void
assert_defaults(const struct sp_config *c)
{
    assert_string_equal(c->journal, "/var/lib/ctspool/journal.db");
    assert_int_equal(c->durability_full, 1);
    assert_int_equal(c->retain_acked_hours, 24);
    assert_int_equal(c->log_level, SP_LOG_INFO);
    assert_string_equal(c->upload.endpoint,
                        "https://api.cloudthread.io/streams/ingest");
    assert_null(c->upload.api_key);
    assert_null(c->upload.api_key_file);
    assert_null(c->upload.data_stream_token);
    assert_int_equal(c->upload.batch_max_points, 1000);
    assert_int_equal(c->upload.batch_max_bytes, 1048576);
    assert_int_equal(c->upload.connect_timeout_ms, 10000);
    assert_int_equal(c->upload.request_timeout_ms, 60000);
    assert_int_equal(c->upload.retry_base_ms, 1000);
    assert_int_equal(c->upload.retry_max_ms, 300000);
    assert_int_equal(c->upload.poll_ms, 1000);
    assert_null(c->upload.ca_file);
    assert_int_equal(c->upload.max_points_per_s, 0);
    assert_int_equal(c->upload.max_requests_per_s, 0);
    assert_int_equal(c->upload.compress, SP_COMPRESS_NONE);
    assert_null(c->upload.proxy);
    assert_null(c->upload.client_cert);
    assert_null(c->upload.client_key);
    assert_string_equal(c->server.listen, "127.0.0.1:8765");
    assert_int_equal(c->server.n_api_keys, 0);
    assert_int_equal(c->server.allow_unauthenticated, 0);
    assert_int_equal(c->server.max_body_bytes, 16777216);
    assert_int_equal(c->server.event_loop, SP_EVENT_LOOP_POLL);
    assert_true(c->limits.max_pending_points == 100000000);
    assert_true(c->limits.max_journal_bytes == INT64_C(17179869184));
    assert_int_equal(c->health.max_undelivered_s, 900);
    assert_int_equal(c->n_streams, 0);
    assert_null(c->warning);
}

/* Load f->cfg holding text, which must load: the configuration. */
static struct sp_config *
load_ok(const struct fixture *f, const char *text)
{
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f, text);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    return c;
}

/* Load f->cfg holding text; expect E_CONFIG with all of needles. */
static void
expect_error(const struct fixture *f, const char *text, unsigned line,
             const char *needle)
{
    struct sp_config *c = (struct sp_config *)1;
    struct sp_err e;
    char where[4096];

    write_cfg(f, text);
    memset(&e, 0, sizeof(e));
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(c);
    snprintf(where, sizeof(where), "%s:%u: ", f->cfg, line);
    if (!strstr(e.msg, where) || !strstr(e.msg, needle)) {
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", e.msg, where,
                 needle);
    }
    assert_null(strstr(e.msg, SECRET));
}

/* ---- tests ------------------------------------------------------------- */

static void
test_defaults_without_file(void **state)
{
    struct sp_config *c = NULL;
    struct sp_err e;

    (void)state;
    if (access("/etc/ctspool/ctspool.cfg", F_OK) == 0) {
        print_message("note: /etc/ctspool/ctspool.cfg exists; skipped\n");
        tu_skip();
    }
    assert_int_equal(sp_config_load(NULL, &c, &e), CTSPOOL_OK);
    assert_null(c->path);
    assert_defaults(c);
    sp_config_free(c);
}

static void
test_empty_file_gives_defaults(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f, "# nothing\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->path, f->cfg);
    assert_defaults(c);
    sp_config_free(c);
}

static void
test_full_file(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f,
              "journal    = \"/srv/spool/j.db\";\n"
              "durability = \"normal\";\n"
              "retain_acked_hours = 0;\n"
              "log_level  = \"debug\";\n"
              "upload: {\n"
              "  endpoint = \"http://localhost:9000/api/streams/ingest\";\n"
              "  api_key = \"inline-key-123456\";\n"
              "  api_key_file = \"/etc/ctspool/api_key\";\n"
              "  data_stream_token = \"stream-token-abcdef\";\n"
              "  batch_max_points = 500;  batch_max_bytes = 2048;\n"
              "  connect_timeout_ms = 1; request_timeout_ms = 2;\n"
              "  retry_base_ms = 3; retry_max_ms = 3; poll_ms = 5;\n"
              "  ca_file = \"/etc/ssl/extra.pem\";\n"
              "};\n"
              "server: { listen = \"[::1]:9999\";\n"
              "          api_keys = [ \"k-one\", \"k-two\" ];\n"
              "          allow_unauthenticated = true;\n"
              "          max_body_bytes = 1024; };\n"
              "limits: { max_pending_points = 5000000000L;\n"
              "          max_journal_bytes = 17179869184; };\n"
              "health: { max_undelivered_s = 60; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->path, f->cfg);
    assert_null(c->warning); /* mode 0600 */
    assert_string_equal(c->journal, "/srv/spool/j.db");
    assert_int_equal(c->durability_full, 0);
    assert_int_equal(c->retain_acked_hours, 0);
    assert_int_equal(c->log_level, SP_LOG_DEBUG);
    assert_string_equal(c->upload.endpoint,
                        "http://localhost:9000/api/streams/ingest");
    assert_string_equal(c->upload.api_key, "inline-key-123456");
    assert_string_equal(c->upload.api_key_file, "/etc/ctspool/api_key");
    assert_string_equal(c->upload.data_stream_token, "stream-token-abcdef");
    assert_int_equal(c->upload.batch_max_points, 500);
    assert_int_equal(c->upload.batch_max_bytes, 2048);
    assert_int_equal(c->upload.connect_timeout_ms, 1);
    assert_int_equal(c->upload.request_timeout_ms, 2);
    assert_int_equal(c->upload.retry_base_ms, 3);
    assert_int_equal(c->upload.retry_max_ms, 3);
    assert_int_equal(c->upload.poll_ms, 5);
    assert_string_equal(c->upload.ca_file, "/etc/ssl/extra.pem");
    assert_string_equal(c->server.listen, "[::1]:9999");
    assert_int_equal(c->server.n_api_keys, 2);
    assert_string_equal(c->server.api_keys[0], "k-one");
    assert_string_equal(c->server.api_keys[1], "k-two");
    assert_int_equal(c->server.allow_unauthenticated, 1);
    assert_int_equal(c->server.max_body_bytes, 1024);
    assert_true(c->limits.max_pending_points == INT64_C(5000000000));
    assert_true(c->limits.max_journal_bytes == INT64_C(17179869184));
    assert_int_equal(c->health.max_undelivered_s, 60);
    sp_config_free(c);
}

/* The drainer's network settings: pacing, compression, proxy, client
 * certificate. */
static void
test_network_keys(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f, "upload: { max_points_per_s = 1000;\n"
                 "          max_requests_per_s = 7; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(c->upload.max_points_per_s, 1000);
    assert_int_equal(c->upload.max_requests_per_s, 7);
    sp_config_free(c);
    expect_error(f, "upload: { max_points_per_s = -1; };\n", 1,
                 "'upload.max_points_per_s' must be between 0 and");
    expect_error(f, "\nupload: { max_requests_per_s = \"5\"; };\n", 2,
                 "'upload.max_requests_per_s' must be an integer");
    expect_error(f, "upload: { max_requests_per_s = 1000000001; };\n", 1,
                 "'upload.max_requests_per_s' must be between");

    c = load_ok(f, "upload: { compress = \"gzip\"; };\n");
    assert_int_equal(c->upload.compress, SP_COMPRESS_GZIP);
    sp_config_free(c);
    expect_error(f, "upload: { compress = \"deflate\"; };\n", 1,
                 "'upload.compress' must be \"none\" or \"gzip\"");

    c = load_ok(f, "server: { event_loop = \"epoll\"; };\n");
    assert_int_equal(c->server.event_loop, SP_EVENT_LOOP_EPOLL);
    sp_config_free(c);
    expect_error(f, "\nserver: { event_loop = \"select\"; };\n", 2,
                 "'server.event_loop' must be \"poll\" or \"epoll\"");

    /* A proxy without a password is no secret; with one, it is. */
    write_cfg(f, "upload: { proxy = \"http://proxy.example:3128\"; };\n");
    assert_int_equal(chmod(f->cfg, 0644), 0);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.proxy, "http://proxy.example:3128");
    assert_null(c->warning);
    sp_config_free(c);
    write_cfg(f, "upload: { proxy = \"socks5h://u:" SECRET
                 "@proxy.example:1080\"; };\n");
    assert_int_equal(chmod(f->cfg, 0644), 0);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_non_null(c->warning);
    assert_null(strstr(c->warning, SECRET));
    sp_config_free(c);
    write_cfg(f, "upload: { proxy = \"\"; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_null(c->upload.proxy);
    sp_config_free(c);
    expect_error(f, "upload: { proxy = \"ftp://u:" SECRET "@h:21\"; };\n",
                 1, "'upload.proxy' must be http://");
    expect_error(f, "upload: { proxy = \"http://u:" SECRET "@\"; };\n", 1,
                 "'upload.proxy' must name a host");
    expect_error(f, "upload: { proxy = \"http://h :1\"; };\n", 1,
                 "'upload.proxy' must not contain spaces");

    /* A client certificate and its key: both or neither. */
    write_cfg(f, "upload: { client_cert = \"/c.pem\";\n"
                 "          client_key = \"/k.pem\"; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.client_cert, "/c.pem");
    assert_string_equal(c->upload.client_key, "/k.pem");
    sp_config_free(c);
    expect_error(f, "upload: {\n client_cert = \"/c.pem\"; };\n", 2,
                 "'upload.client_cert' and 'upload.client_key' go "
                 "together");
    expect_error(f, "upload: { client_cert = \"\";\n"
                    "          client_key = \"/k.pem\"; };\n", 2,
                 "go together: set both, or neither");
}

static void
test_int64_forms(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    /* A string and a comment that look like big numbers stay as they
     * are; hex beyond 32 bits is promoted too; "L" on a small value. */
    write_cfg(f,
              "journal = \"/tmp/99999999999\"; # 88888888888\n"
              "/* 77777777777\n   66666666666 */\n"
              "limits: { max_pending_points = 0x100000000;\n"
              "          max_journal_bytes = 4096L; };\n"
              "server: { max_body_bytes = 1073741824L; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->journal, "/tmp/99999999999");
    assert_true(c->limits.max_pending_points == INT64_C(4294967296));
    assert_true(c->limits.max_journal_bytes == 4096);
    assert_int_equal(c->server.max_body_bytes, 1073741824L);
    sp_config_free(c);

    /* Unlimited. */
    write_cfg(f, "limits: { max_pending_points = 0;\n"
                 "          max_journal_bytes = 0; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_true(c->limits.max_pending_points == 0);
    assert_true(c->limits.max_journal_bytes == 0);
    sp_config_free(c);

    /* Negative beyond 32 bits must not wrap to a positive number. */
    expect_error(f, "\nlimits: { max_journal_bytes = -4294967296; };\n", 2,
                 "'limits.max_journal_bytes' must be at least 0");
    expect_error(f,
                 "limits: {\n max_journal_bytes = 99999999999999999999; };",
                 2, "integer 99999999999999999999 is out of range");
}

static void
test_syntax_error(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "journal = \"/x\";\n\nupload: { poll_ms = ; };\n", 3,
                 "syntax error");
    expect_error(f, "journal = \"/x\";\njournal = \"/y\";\n", 2,
                 "duplicate setting name (the line sets journal)");
    /* libconfig names the line only; the names set there are added,
     * never a value (a key's own text holding '=' or ':' is no name). */
    expect_error(f,
                 "upload: {\n  api_key = \"" SECRET "\";\n"
                 "  api_key = \"x = y: z\"; # poll_ms = 1\n};\n",
                 3, "duplicate setting name (the line sets api_key)");
    expect_error(f, "streams = [\"a\",\n /* s: */ 1];\n", 2,
                 "mismatched element type in array");
    expect_error(f, "journal = \"/x\";\n@include \"/etc/passwd\"\n", 2,
                 "@include is not supported");
}

static void
test_unknown_keys(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "journal = \"/x\";\njournl = \"/y\";\n", 2,
                 "unknown setting 'journl'; did you mean 'journal'?");
    expect_error(f,
                 "upload: {\n  poll_ms = 5;\n  batchmax_points = 10;\n};\n",
                 3, "unknown setting 'upload.batchmax_points'");
    expect_error(f, "server: {\n  listen = \"127.0.0.1:1\"; port = 5; };\n",
                 2, "unknown setting 'server.port'");
    expect_error(f, "limits: { max_points = 1; };\n", 1,
                 "unknown setting 'limits.max_points'");
    expect_error(f, "health: { max_undelivered = 1; };\n", 1,
                 "unknown setting 'health.max_undelivered'");
    expect_error(f, "\n\nuploads: { poll_ms = 5; };\n", 3,
                 "unknown setting 'uploads'; did you mean 'upload'?");
    /* A top-level key inside a group is still unknown there; a known
     * setting in the wrong group is named where it belongs. */
    expect_error(f, "upload: { journal = \"/x\"; };\n", 1,
                 "unknown setting 'upload.journal'; did you mean "
                 "'journal'?");
    expect_error(f, "api_key = \"k\";\n", 1,
                 "unknown setting 'api_key'; did you mean 'upload.api_key'?");
    expect_error(f, "upload: { listen = \"127.0.0.1:1\"; };\n", 1,
                 "unknown setting 'upload.listen'; did you mean "
                 "'server.listen'?");
}

/* sp_config_check(): the problems reported, one a line. */
static void
collect(void *arg, const char *msg)
{
    char *all = arg;

    strncat(all, msg, 4096 - strlen(all) - 2);
    strcat(all, "\n");
}

static void
test_check_reports_all(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char all[4096] = "", where[512];

    write_cfg(f, "journl = \"/x\";\n"
                 "upload: {\n  poll_ms = \"5\";\n"
                 "  api_key = \"" SECRET "\";\n"
                 "  retry_base_ms = 10;\n  retry_max_ms = 5;\n};\n"
                 "server: { listen = \"nowhere\"; };\n");
    assert_int_equal(sp_config_check(f->cfg, collect, all, &c, &e),
                     CTSPOOL_OK);
    assert_non_null(c);
    snprintf(where, sizeof(where), "%s:1: unknown setting 'journl'; did "
             "you mean 'journal'?\n", f->cfg);
    assert_non_null(strstr(all, where));
    snprintf(where, sizeof(where), "%s:3: 'upload.poll_ms' must be an "
             "integer\n", f->cfg);
    assert_non_null(strstr(all, where));
    snprintf(where, sizeof(where), "%s:5: 'upload.retry_base_ms'",
             f->cfg);
    assert_non_null(strstr(all, where));
    snprintf(where, sizeof(where), "%s:8: 'server.listen'", f->cfg);
    assert_non_null(strstr(all, where));
    assert_null(strstr(all, SECRET));
    /* Refused values keep their defaults. */
    assert_int_equal(c->upload.poll_ms, 1000);
    assert_string_equal(c->server.listen, "127.0.0.1:8765");
    sp_config_free(c);

    /* A syntax error stops libconfig: one error, nothing reported. */
    all[0] = '\0';
    write_cfg(f, "journal = ;\n");
    assert_int_equal(sp_config_check(f->cfg, collect, all, &c, &e),
                     CTSPOOL_E_CONFIG);
    assert_null(c);
    assert_string_equal(all, "");
}

static void
test_wrong_types(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "\nupload: { poll_ms = \"5\"; };\n", 2,
                 "'upload.poll_ms' must be an integer");
    expect_error(f, "upload: { poll_ms = 5.0; };\n", 1,
                 "'upload.poll_ms' must be an integer");
    expect_error(f, "journal = 5;\n", 1, "'journal' must be a string");
    expect_error(f, "durability = true;\n", 1,
                 "'durability' must be a string");
    expect_error(f, "server: { allow_unauthenticated = 1; };\n", 1,
                 "'server.allow_unauthenticated' must be a boolean");
    expect_error(f, "server: { api_keys = \"" SECRET "\"; };\n", 1,
                 "'server.api_keys' must be a list of strings");
    expect_error(f, "server: {\n api_keys = ( \"a-key\",\n 5 ); };\n", 3,
                 "'server.api_keys' must be a list of strings");
    expect_error(f, "upload = 5;\n", 1, "'upload' must be a group");
    expect_error(f, "limits = [ 1 ];\n", 1, "'limits' must be a group");
    expect_error(f, "health = 900;\n", 1, "'health' must be a group");
    expect_error(f, "health: { max_undelivered_s = \"900\"; };\n", 1,
                 "'health.max_undelivered_s' must be an integer");
    expect_error(f, "upload: { api_key = 12345; };\n", 1,
                 "'upload.api_key' must be a string");
}

static void
test_bad_values(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "durability = \"fast\";\n", 1,
                 "'durability' must be \"full\" or \"normal\"");
    expect_error(f, "\nlog_level = \"loud\";\n", 2,
                 "'log_level' must be one of");
    expect_error(f, "log_level = \"INFO\";\n", 1, "'log_level' must be");
    expect_error(f, "retain_acked_hours = -1;\n", 1,
                 "'retain_acked_hours' must be");
    expect_error(f, "upload: { batch_max_points = 0; };\n", 1,
                 "'upload.batch_max_points' must be between 1 and 1000000");
    expect_error(f, "upload: { batch_max_points = 1000001; };\n", 1,
                 "'upload.batch_max_points' must be between");
    expect_error(f, "upload: { batch_max_bytes = 1023; };\n", 1,
                 "'upload.batch_max_bytes' must be between 1024 and "
                 "1073741824");
    expect_error(f, "upload: { batch_max_bytes = 1073741825; };\n", 1,
                 "'upload.batch_max_bytes'");
    expect_error(f, "upload: { connect_timeout_ms = 0; };\n", 1,
                 "'upload.connect_timeout_ms' must be between 1");
    expect_error(f, "upload: { request_timeout_ms = -5; };\n", 1,
                 "'upload.request_timeout_ms'");
    expect_error(f, "upload: { poll_ms = 0; };\n", 1, "'upload.poll_ms'");
    expect_error(f, "upload: { retry_base_ms = 0; };\n", 1,
                 "'upload.retry_base_ms'");
    expect_error(f,
                 "upload: {\n retry_base_ms = 5000;\n"
                 " retry_max_ms = 4000; };\n",
                 2, "'upload.retry_base_ms' (5000) must not exceed "
                    "'upload.retry_max_ms' (4000)");
    expect_error(f, "upload: {\n retry_max_ms = 10; };\n", 2,
                 "must not exceed 'upload.retry_max_ms'");
    expect_error(f, "server: { max_body_bytes = 1000; };\n", 1,
                 "'server.max_body_bytes' must be between 1024 and "
                 "1073741824 (got 1000)");
    /* Beyond 1 GiB, also past 32 bits: no wrapping, a range error. */
    expect_error(f, "server: { max_body_bytes = 1073741825; };\n", 1,
                 "'server.max_body_bytes' must be between 1024 and "
                 "1073741824 (got 1073741825)");
    expect_error(f, "\nserver: { max_body_bytes = 4611686018427387904; };",
                 2, "'server.max_body_bytes' must be between 1024 and "
                    "1073741824");
    expect_error(f, "limits: { max_pending_points = -1; };\n", 1,
                 "'limits.max_pending_points' must be at least 0");
    expect_error(f, "health: { max_undelivered_s = 0; };\n", 1,
                 "'health.max_undelivered_s' must be between 1 and "
                 "31622400 (got 0)");
    expect_error(f, "\nhealth: { max_undelivered_s = 31622401; };\n", 2,
                 "'health.max_undelivered_s' must be between 1 and "
                 "31622400");
    expect_error(f, "journal = \"\";\n", 1, "'journal' must not be empty");
    expect_error(f, "upload: { endpoint = \"ftp://example.com/\"; };\n", 1,
                 "'upload.endpoint' must start with http:// or https://");
    expect_error(f, "upload: { endpoint = \"https://\"; };\n", 1,
                 "'upload.endpoint'");
    expect_error(f, "upload: { endpoint = \"\"; };\n", 1,
                 "'upload.endpoint'");
    /* What curl would take another way: no host, a port out of range. */
    expect_error(f, "upload: { endpoint = \"http:///streams/ingest\"; };\n",
                 1, "'upload.endpoint' must name a host after the scheme");
    expect_error(f, "upload: { endpoint = \"http://u:p@/x\"; };\n", 1,
                 "'upload.endpoint' must name a host after the scheme");
    expect_error(f,
                 "upload: { endpoint = \"http://127.0.0.1:99999/x\"; };\n",
                 1, "'upload.endpoint' must have a port from 1 to 65535");
    expect_error(f, "upload: { endpoint = \"http://h:0/x\"; };\n", 1,
                 "'upload.endpoint' must have a port from 1 to 65535");
    expect_error(f, "upload: { endpoint = \"http://[]/x\"; };\n", 1,
                 "'upload.endpoint' must name a host: an IPv6 address");
    expect_error(f, "upload: { api_key = \"" SECRET "\\n\"; };\n", 1,
                 "'upload.api_key' must not contain control characters");
    expect_error(f,
                 "upload: { data_stream_token = \"" SECRET "\\t\"; };\n", 1,
                 "'upload.data_stream_token' is not a valid token");
    expect_error(f, "server: { api_keys = [ \"a-key\", \"\" ]; };\n", 1,
                 "'server.api_keys' entry 2 is empty");
    /* Hosts curl takes: an IPv6 address, user information, an empty
     * port (the scheme's). */
    {
        static const char *const good[] = {
            "upload: { endpoint = \"https://[::1]:8443/x\"; };\n",
            "upload: { endpoint = \"http://u:p@h.example/x\"; };\n",
            "upload: { endpoint = \"http://h:/x\"; };\n",
        };
        struct sp_config *c = NULL;
        struct sp_err e;

        for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
            write_mode(f->cfg, good[i], 0600);
            assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
            sp_config_free(c);
        }
    }
}

static void
test_bad_listen(void **state)
{
    static const char *const bad[] = {
        "127.0.0.1",     "127.0.0.1:",     ":8765",       "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:http", "::1:8765",  "[::1]8765",
        "[::1]",         "[]:8765",        "host :8765",  "",
        "127.0.0.1:+80", "127.0.0.1:000080",
    };
    static const char *const good[] = {
        "127.0.0.1:8765", "0.0.0.0:1", "localhost:65535", "[::1]:8765",
        "[::]:80",
    };
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char text[256];

    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        snprintf(text, sizeof(text), "\nserver: { listen = \"%s\"; };\n",
                 bad[i]);
        expect_error(f, text, 2, "'server.listen' must be \"HOST:PORT\"");
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        snprintf(text, sizeof(text), "server: { listen = \"%s\"; };\n",
                 good[i]);
        write_cfg(f, text);
        assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
        assert_string_equal(c->server.listen, good[i]);
        sp_config_free(c);
    }
}

static void
test_missing_and_unreadable(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = (struct sp_config *)1;
    struct sp_err e;
    char want[4096];

    /* Explicit path. */
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(c);
    snprintf(want, sizeof(want),
             "cannot read config file %s: No such file or directory", f->cfg);
    assert_string_equal(e.msg, want);

    /* $CTSPOOL_CONFIG must exist too. */
    setenv("CTSPOOL_CONFIG", f->cfg, 1);
    c = (struct sp_config *)1;
    assert_int_equal(sp_config_load(NULL, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(c);
    assert_string_equal(e.msg, want);

    /* ... and is used when present; an explicit path wins over it. */
    write_cfg(f, "retain_acked_hours = 7;\n");
    assert_int_equal(sp_config_load(NULL, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->path, f->cfg);
    assert_int_equal(c->retain_acked_hours, 7);
    sp_config_free(c);
    assert_int_equal(sp_config_load(f->dir, &c, &e), CTSPOOL_E_CONFIG);
    assert_non_null(strstr(e.msg, "Is a directory"));
    assert_null(c);
}

static void
test_env_overrides(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f, "upload: { api_key = \"file-key-000000\";\n"
                 "          data_stream_token = \"file-token-0000\"; };\n");
    setenv("CTSPOOL_API_KEY", "env-key-111111", 1);
    setenv("CTSPOOL_DATA_STREAM_TOKEN", "env-token-2222", 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.api_key, "env-key-111111");
    assert_string_equal(c->upload.data_stream_token, "env-token-2222");
    sp_config_free(c);

    /* Empty variables do not override. */
    setenv("CTSPOOL_API_KEY", "", 1);
    setenv("CTSPOOL_DATA_STREAM_TOKEN", "", 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.api_key, "file-key-000000");
    assert_string_equal(c->upload.data_stream_token, "file-token-0000");
    sp_config_free(c);

    /* They apply without a file key too (and with an empty one). */
    write_cfg(f, "upload: { api_key = \"\"; };\n");
    setenv("CTSPOOL_API_KEY", "env-key-111111", 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.api_key, "env-key-111111");
    assert_null(c->upload.data_stream_token);
    sp_config_free(c);

    /* A bad token from the environment: named, never shown. */
    setenv("CTSPOOL_DATA_STREAM_TOKEN", SECRET "\n", 1);
    c = (struct sp_config *)1;
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(c);
    assert_non_null(strstr(e.msg, "CTSPOOL_DATA_STREAM_TOKEN"));
    assert_null(strstr(e.msg, SECRET));
}

static void
test_empty_optional_strings_are_null(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;

    write_cfg(f, "upload: { api_key = \"\"; api_key_file = \"\";\n"
                 "  data_stream_token = \"\"; ca_file = \"\"; };\n"
                 "server: { api_keys = ( ); };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_null(c->upload.api_key);
    assert_null(c->upload.api_key_file);
    assert_null(c->upload.data_stream_token);
    assert_null(c->upload.ca_file);
    assert_int_equal(c->server.n_api_keys, 0);
    sp_config_free(c);
}

/* Whether a file of each mode holding a secret gets a warning, and
 * which words say why (DESIGN.md section 7). */
static const struct {
    mode_t mode;
    const char *why; /* NULL: no warning */
} secret_modes[] = {
    {0600, NULL},
    {0400, NULL},
    {0640, NULL}, /* root:ctspool, the documented setup */
    {0620, NULL}, /* the group cannot read it */
    {0660, "is readable and writable by its group (mode 0660)"},
    {0644, "is readable by others (mode 0644)"},
    {0604, "is readable by others (mode 0604)"},
    {0664, "is readable by others (mode 0664)"},
    {0602, "is writable by others (anyone may change where points and "
           "keys go) (mode 0602)"},
    {0666, "is writable by others (anyone may change where points and "
           "keys go) (mode 0666)"},
};

static void
test_secret_warning(void **state)
{
    static const char *const secret_files[] = {
        "upload: { api_key = \"" SECRET "\"; };\n",
        "upload: { data_stream_token = \"" SECRET "\"; };\n",
        "server: { api_keys = [ \"" SECRET "\" ]; };\n",
        "streams = [ \"" SECRET "\" ];\n",
    };
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char want[4096];

    for (size_t i = 0; i < SP_ARRAY_LEN(secret_files); i++) {
        for (size_t m = 0; m < SP_ARRAY_LEN(secret_modes); m++) {
            write_mode(f->cfg, secret_files[i], secret_modes[m].mode);
            assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
            if (!secret_modes[m].why) {
                if (c->warning) {
                    fail_msg("mode %04o: unexpected warning \"%s\"",
                             (unsigned)secret_modes[m].mode, c->warning);
                }
                sp_config_free(c);
                continue;
            }
            snprintf(want, sizeof(want),
                     "config file %s holds secrets and %s; chmod 600 it, "
                     "or 640 with a group of its own",
                     f->cfg, secret_modes[m].why);
            assert_non_null(c->warning);
            assert_string_equal(c->warning, want);
            assert_null(strstr(c->warning, SECRET));
            sp_config_free(c);
        }
    }

    /* No secret (a key file path is not one): no warning while others
     * may only read it. */
    write_mode(f->cfg,
               "upload: { api_key = \"\"; api_key_file = \"/k\"; };\n"
               "streams = [ ];\n", 0644);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_null(c->warning);
    sp_config_free(c);

    /* A secret from the environment is not the file's. */
    setenv("CTSPOOL_API_KEY", SECRET, 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_null(c->warning);
    sp_config_free(c);

    /* Writable by others, secret or not: anyone may send the points and
     * the key (even one from the environment) elsewhere. */
    chmod(f->cfg, 0646);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    snprintf(want, sizeof(want),
             "config file %s is writable by others (anyone may change "
             "where points and keys go) (mode 0646); chmod 600 it, or 640 "
             "with a group of its own",
             f->cfg);
    assert_non_null(c->warning);
    assert_string_equal(c->warning, want);
    sp_config_free(c);
}

static void
test_key_file_warning(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char *key_file = tu_path(f->dir, "api_key");
    char *warning = (char *)1;
    char text[4096], want[4096];

    snprintf(text, sizeof(text), "upload: { api_key_file = \"%s\"; };\n",
             key_file);
    write_cfg(f, text);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);

    /* Not there (yet): reading it reports that, not this. */
    assert_int_equal(sp_config_key_file_warning(c, &warning, &e),
                     CTSPOOL_OK);
    assert_null(warning);

    for (size_t m = 0; m < SP_ARRAY_LEN(secret_modes); m++) {
        write_mode(key_file, SECRET "\n", secret_modes[m].mode);
        warning = (char *)1;
        assert_int_equal(sp_config_key_file_warning(c, &warning, &e),
                         CTSPOOL_OK);
        if (!secret_modes[m].why) {
            if (warning) {
                fail_msg("mode %04o: unexpected warning \"%s\"",
                         (unsigned)secret_modes[m].mode, warning);
            }
            continue;
        }
        snprintf(want, sizeof(want),
                 "API key file %s %s; chmod 600 it, or 640 with a group of "
                 "its own",
                 key_file, secret_modes[m].why);
        assert_non_null(warning);
        assert_string_equal(warning, want);
        free(warning);
    }
    sp_config_free(c);

    /* An inline key wins: the file is not used, so not judged. */
    write_mode(key_file, SECRET "\n", 0644);
    snprintf(text, sizeof(text),
             "upload: { api_key = \"inline-key-123456\";\n"
             "          api_key_file = \"%s\"; };\n",
             key_file);
    write_cfg(f, text);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    warning = (char *)1;
    assert_int_equal(sp_config_key_file_warning(c, &warning, &e),
                     CTSPOOL_OK);
    assert_null(warning);
    sp_config_free(c);
    free(key_file);
}

static void
test_streams(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char text[4096];
    char long_token[SP_STREAM_MAX + 2];

    /* A list (or an array) of tokens. */
    write_cfg(f, "streams = ( \"tok-one-12345\", \"tok-two-67890\" );\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(c->n_streams, 2);
    assert_string_equal(c->streams[0], "tok-one-12345");
    assert_string_equal(c->streams[1], "tok-two-67890");
    assert_null(c->streams[2]);
    sp_config_free(c);

    /* Empty: any token, also as the default stream. */
    write_cfg(f, "streams = [ ];\n"
                 "upload: { data_stream_token = \"" SECRET "\"; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(c->n_streams, 0);
    sp_config_free(c);

    /* The default stream must be one of them: both keys named, at the
     * default's line, the token never shown. */
    write_cfg(f, "streams = [ \"tok-one-12345\", \"" SECRET "\" ];\n"
                 "upload: { data_stream_token = \"" SECRET "\"; };\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.data_stream_token, SECRET);
    sp_config_free(c);
    expect_error(f,
                 "streams = [ \"tok-one-12345\" ];\n"
                 "upload: {\n data_stream_token = \"" SECRET "\"; };\n",
                 3, "'upload.data_stream_token' is not in 'streams'");

    /* From the environment the default is checked as well, and a file
     * default it replaces is not. */
    write_cfg(f, "streams = [ \"tok-one-12345\" ];\n"
                 "upload: { data_stream_token = \"tok-one-12345\"; };\n");
    setenv("CTSPOOL_DATA_STREAM_TOKEN", SECRET, 1);
    c = (struct sp_config *)1;
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(c);
    snprintf(text, sizeof(text),
             "$CTSPOOL_DATA_STREAM_TOKEN is not in 'streams' of %s", f->cfg);
    assert_non_null(strstr(e.msg, text));
    assert_null(strstr(e.msg, SECRET));
    write_cfg(f, "streams = [ \"tok-one-12345\" ];\n"
                 "upload: { data_stream_token = \"" SECRET "\"; };\n");
    setenv("CTSPOOL_DATA_STREAM_TOKEN", "tok-one-12345", 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_string_equal(c->upload.data_stream_token, "tok-one-12345");
    sp_config_free(c);
    unsetenv("CTSPOOL_DATA_STREAM_TOKEN");

    /* Each entry is a valid token; errors name the entry, not its value. */
    expect_error(f, "streams = \"" SECRET "\";\n", 1,
                 "'streams' must be a list of strings");
    expect_error(f, "\nstreams = ( \"" SECRET "\", 5 );\n", 2,
                 "'streams' must be a list of strings");
    expect_error(f, "streams = [ \"" SECRET "\", \"\" ];\n", 1,
                 "'streams' entry 2 is empty");
    expect_error(f, "streams = [ \"" SECRET "\\t\" ];\n", 1,
                 "'streams' entry 1 contains a control character");
    memset(long_token, 'a', SP_STREAM_MAX + 1);
    long_token[SP_STREAM_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "streams = [ \"%s\" ];\n", long_token);
    expect_error(f, text, 1, "'streams' entry 1 is not a valid token");
    write_cfg(f, text);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_E_CONFIG);
    assert_null(strstr(e.msg, "aaaaaaaa"));
    expect_error(f, "upload: { streams = [ \"tok-one-12345\" ]; };\n", 1,
                 "unknown setting 'upload.streams'");
}

static void
test_api_key_sources(void **state)
{
    struct fixture *f = *state;
    struct sp_config *c = NULL;
    struct sp_err e;
    char *key_file = tu_path(f->dir, "api_key");
    char *key = NULL;
    char text[4096];

    /* No key at all. */
    write_cfg(f, "journal = \"/x\";\n");
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    key = (char *)1;
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_null(key);
    assert_string_equal(e.msg, "no upload API key: set upload.api_key, "
                               "upload.api_key_file or CTSPOOL_API_KEY");
    sp_config_free(c);

    /* From the file: first line, trimmed. */
    snprintf(text, sizeof(text), "upload: { api_key_file = \"%s\"; };\n",
             key_file);
    write_cfg(f, text);
    write_mode(key_file, "  " SECRET " \r\nsecond line\n", 0600);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_OK);
    assert_string_equal(key, SECRET);
    free(key);

    /* No trailing newline at all. */
    write_mode(key_file, SECRET, 0600);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_OK);
    assert_string_equal(key, SECRET);
    free(key);

    /* Empty file, blank first line. */
    write_mode(key_file, "", 0600);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_null(key);
    assert_non_null(strstr(e.msg, key_file));
    assert_non_null(strstr(e.msg, "is empty"));
    write_mode(key_file, " \r\n" SECRET "\n", 0600);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_null(key);
    assert_null(strstr(e.msg, SECRET));

    /* Missing file: named with the errno text, no key. */
    assert_int_equal(unlink(key_file), 0);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_null(key);
    snprintf(text, sizeof(text),
             "cannot read API key file %s: No such file or directory",
             key_file);
    assert_string_equal(e.msg, text);
    /* Not a regular file (a FIFO would block the open), a NUL in the
     * key, a file too large to be a key: refused, saying so. */
    assert_int_equal(mkfifo(key_file, 0600), 0);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(unlink(key_file), 0);
    tu_write_file(key_file, "ABCD\0EFGHIJKL\n", 14);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_non_null(strstr(e.msg, "contains a NUL byte"));
    {
        char *big = calloc(1, 70000);

        assert_non_null(big);
        memset(big, 'k', 69999);
        tu_write_file(key_file, big, 69999);
        free(big);
    }
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_E_CONFIG);
    assert_non_null(strstr(e.msg, "is larger than 65536 bytes"));
    assert_null(key);
    assert_int_equal(unlink(key_file), 0);
    sp_config_free(c);

    /* The environment (and the inline key) win over the file. */
    setenv("CTSPOOL_API_KEY", "env-key-333333", 1);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_OK);
    assert_string_equal(key, "env-key-333333");
    free(key);
    sp_config_free(c);
    unsetenv("CTSPOOL_API_KEY");
    snprintf(text, sizeof(text),
             "upload: { api_key = \"inline-444444\";\n"
             "          api_key_file = \"%s\"; };\n",
             key_file);
    write_cfg(f, text);
    assert_int_equal(sp_config_load(f->cfg, &c, &e), CTSPOOL_OK);
    assert_int_equal(sp_config_api_key(c, &key, &e), CTSPOOL_OK);
    assert_string_equal(key, "inline-444444");
    free(key);
    sp_config_free(c);
    free(key_file);
}

static void
test_free_null(void **state)
{
    (void)state;
    sp_config_free(NULL);
}

/*
 * scripts/ctspool.cfg.example parses and documents exactly the built-in
 * defaults.  The source tree: $CTSPOOL_SOURCE_DIR, else the one this
 * file was compiled from.
 */
static void
test_example_file(void **state)
{
    static const char rel[] = "tests/unit/test_config.c";
    static const char example[] = "scripts/ctspool.cfg.example";
    const char *self = __FILE__;
    const char *src = getenv("CTSPOOL_SOURCE_DIR");
    struct sp_config *c = NULL;
    struct sp_err e;
    char path[4096];
    size_t n;

    (void)state;
    if (src && *src) {
        snprintf(path, sizeof(path), "%s/%s", src, example);
    } else {
        n = strlen(self);
        if (n < sizeof(rel) - 1 || n - (sizeof(rel) - 1) >= sizeof(path) ||
            strcmp(self + n - (sizeof(rel) - 1), rel) != 0) {
            print_message("note: set CTSPOOL_SOURCE_DIR to test %s\n",
                          example);
            tu_skip();
        }
        snprintf(path, sizeof(path), "%.*s%s",
                 (int)(n - (sizeof(rel) - 1)), self, example);
    }
    if (access(path, R_OK) != 0) {
        print_message("note: %s not found; set CTSPOOL_SOURCE_DIR\n", path);
        tu_skip();
    }
    if (sp_config_load(path, &c, &e) != CTSPOOL_OK) {
        fail_msg("%s", e.msg);
    }
    assert_defaults(c);
    sp_config_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_without_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_gives_defaults,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int64_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_unreadable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_optional_strings_are_null,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_warning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_warning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_sources, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_reports_all, setup,
                                        teardown),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test_setup_teardown(test_example_file, setup, teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
