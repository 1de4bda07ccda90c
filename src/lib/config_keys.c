/*
 * config_keys.c -- the settings of a configuration file (DESIGN.md
 * section 7), one row of sp_config_keys[] each: name, type, default,
 * bounds and the check of a value.  config.c applies them.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config_int.h"
#include "sp_int.h"

/* Millisecond settings end up in int-typed APIs (poll(2)). */
#define MS_MAX ((int64_t)INT_MAX)
/* Keeps retention arithmetic (hours * 3600 s) far from overflow. */
#define RETAIN_HOURS_MAX ((int64_t)1000000)
/* 1 GiB: serve's arithmetic on it (a budget of 4 bodies) stays small. */
#define BODY_BYTES_MAX ((int64_t)1073741824)
/* A year: a point undelivered for longer is long past any alert. */
#define UNDELIVERED_S_MAX ((int64_t)366 * 24 * 3600)
/* A rate above this is no limit anyone means. */
#define PACE_MAX ((int64_t)1000000000)

static int parse_durability(const char *s);
static int parse_on_corrupt(const char *s);
static int parse_compress(const char *s);
static int parse_event_loop(const char *s);
static int check_listen_or_none(const char *s, struct sp_err *why);

#define OFF(field) offsetof(struct sp_config, field)

/* DESIGN.md section 7, with its defaults. */
const struct key sp_config_keys[] = {
    {.name = "journal", .kind = K_STRING, .off = OFF(journal),
     .def_str = "/var/lib/ctspool/journal.db",
     .check = sp_config_check_nonempty},
    /* "0660" when serve and drain run as two users sharing a group. */
    {.name = "journal_file_mode", .kind = K_STRING,
     .off = OFF(journal_file_mode), .def_str = "0600",
     .check = sp_config_check_file_mode},
    {.name = "durability", .kind = K_ENUM, .off = OFF(durability_full),
     .def_int = 1, .parse = parse_durability,
     .words = "\"full\" or \"normal\""},
    {.name = "retain_acked_hours", .kind = K_LONG,
     .off = OFF(retain_acked_hours), .def_int = 24, .min = 0,
     .max = RETAIN_HOURS_MAX},
    {.name = "log_level", .kind = K_ENUM, .off = OFF(log_level),
     .def_int = SP_LOG_INFO, .parse = sp_log_level_parse,
     .words = "one of \"error\", \"warn\", \"info\", \"debug\""},
    {.name = "log_format", .kind = K_ENUM, .off = OFF(log_format),
     .def_int = SP_LOG_LOGFMT, .parse = sp_log_format_parse,
     .words = "\"logfmt\" or \"json\""},
    /* DESIGN.md section 11: a damaged journal is moved aside. */
    {.name = "on_corrupt", .kind = K_ENUM, .off = OFF(on_corrupt_stop),
     .def_int = 0, .parse = parse_on_corrupt,
     .words = "\"quarantine\" or \"stop\""},
    {.name = "auto_salvage", .kind = K_BOOL, .off = OFF(auto_salvage),
     .def_int = 1},

    {.group = "upload", .name = "endpoint", .kind = K_STRING,
     .off = OFF(upload.endpoint),
     .def_str = "https://api.cloudthread.io/streams/ingest",
     .check = sp_config_check_url},
    {.group = "upload", .name = "events_endpoint", .kind = K_STRING,
     .off = OFF(upload.events_endpoint), .flags = F_OPTIONAL,
     .check = sp_config_check_url_or_empty},
    {.group = "upload", .name = "api_key", .kind = K_STRING,
     .off = OFF(upload.api_key), .flags = F_SECRET | F_OPTIONAL,
     .check = sp_config_check_secret},
    /*
     * The default is "" (none), not the "/etc/ctspool/api_key" of
     * DESIGN.md's example: a key file that does not exist must not be a
     * silent default, and `ctspool serve` needs no upload key at all.
     */
    {.group = "upload", .name = "api_key_file", .kind = K_STRING,
     .off = OFF(upload.api_key_file), .flags = F_OPTIONAL},
    {.group = "upload", .name = "data_stream_token", .kind = K_STRING,
     .off = OFF(upload.data_stream_token), .flags = F_SECRET | F_OPTIONAL,
     .check = sp_config_check_stream},
    {.group = "upload", .name = "batch_max_points", .kind = K_LONG,
     .off = OFF(upload.batch_max_points), .def_int = 1000, .min = 1,
     .max = 1000000},
    {.group = "upload", .name = "batch_max_bytes", .kind = K_LONG,
     .off = OFF(upload.batch_max_bytes), .def_int = 1048576, .min = 1024,
     .max = 1073741824},
    {.group = "upload", .name = "connect_timeout_ms", .kind = K_LONG,
     .off = OFF(upload.connect_timeout_ms), .def_int = 10000, .min = 1,
     .max = MS_MAX},
    {.group = "upload", .name = "request_timeout_ms", .kind = K_LONG,
     .off = OFF(upload.request_timeout_ms), .def_int = 60000, .min = 1,
     .max = MS_MAX},
    {.group = "upload", .name = "retry_base_ms", .kind = K_LONG,
     .off = OFF(upload.retry_base_ms), .def_int = 1000, .min = 1,
     .max = MS_MAX},
    {.group = "upload", .name = "retry_max_ms", .kind = K_LONG,
     .off = OFF(upload.retry_max_ms), .def_int = 300000, .min = 1,
     .max = MS_MAX},
    {.group = "upload", .name = "poll_ms", .kind = K_LONG,
     .off = OFF(upload.poll_ms), .def_int = 1000, .min = 1, .max = MS_MAX},
    {.group = "upload", .name = "ca_file", .kind = K_STRING,
     .off = OFF(upload.ca_file), .flags = F_OPTIONAL},
    /* Pacing of the drainer; 0 means unlimited. */
    {.group = "upload", .name = "max_points_per_s", .kind = K_LONG,
     .off = OFF(upload.max_points_per_s), .def_int = 0, .min = 0,
     .max = PACE_MAX},
    {.group = "upload", .name = "max_requests_per_s", .kind = K_LONG,
     .off = OFF(upload.max_requests_per_s), .def_int = 0, .min = 0,
     .max = PACE_MAX},
    {.group = "upload", .name = "compress", .kind = K_ENUM,
     .off = OFF(upload.compress), .def_int = SP_COMPRESS_NONE,
     .parse = parse_compress, .words = "\"none\" or \"gzip\""},
    /* "": libcurl reads the proxy environment variables. */
    {.group = "upload", .name = "proxy", .kind = K_STRING,
     .off = OFF(upload.proxy), .flags = F_OPTIONAL | F_SECRET_USERINFO,
     .check = sp_config_check_proxy},
    /* A TLS client certificate: both or neither (config.c). */
    {.group = "upload", .name = "client_cert", .kind = K_STRING,
     .off = OFF(upload.client_cert), .flags = F_OPTIONAL},
    {.group = "upload", .name = "client_key", .kind = K_STRING,
     .off = OFF(upload.client_key), .flags = F_OPTIONAL},

    {.group = "server", .name = "listen", .kind = K_STRING,
     .off = OFF(server.listen), .def_str = "127.0.0.1:8765",
     .check = sp_config_check_listen},
    {.group = "server", .name = "api_keys", .kind = K_STRLIST,
     .off = OFF(server.api_keys), .count_off = OFF(server.n_api_keys),
     .flags = F_SECRET},
    /* One key a line; with api_keys, both are accepted. */
    {.group = "server", .name = "api_keys_file", .kind = K_STRING,
     .off = OFF(server.api_keys_file), .flags = F_OPTIONAL},
    {.group = "server", .name = "allow_unauthenticated", .kind = K_BOOL,
     .off = OFF(server.allow_unauthenticated), .def_int = 0},
    {.group = "server", .name = "idempotency_hours", .kind = K_LONG,
     .off = OFF(server.idempotency_hours), .def_int = 24, .min = 1,
     .max = (int64_t)366 * 24},
    {.group = "server", .name = "max_body_bytes", .kind = K_LONG,
     .off = OFF(server.max_body_bytes), .def_int = 16777216, .min = 1024,
     .max = BODY_BYTES_MAX},
    /* How serve's threads wait on their connections (README: "serve's
     * event loop"): poll(2) costs least per request, epoll(7) least
     * per idle connection. */
    {.group = "server", .name = "event_loop", .kind = K_ENUM,
     .off = OFF(server.event_loop), .def_int = SP_EVENT_LOOP_POLL,
     .parse = parse_event_loop, .words = "\"poll\" or \"epoll\""},

    /* 0 means unlimited. */
    {.group = "limits", .name = "max_pending_points", .kind = K_INT64,
     .off = OFF(limits.max_pending_points), .def_int = 100000000,
     .min = 0, .max = INT64_MAX},
    {.group = "limits", .name = "max_journal_bytes", .kind = K_INT64,
     .off = OFF(limits.max_journal_bytes), .def_int = INT64_C(17179869184),
     .min = 0, .max = INT64_MAX},

    /* GET /healthz/upstream turns 503 past this age of the oldest
     * pending point. */
    {.group = "health", .name = "max_undelivered_s", .kind = K_LONG,
     .off = OFF(health.max_undelivered_s), .def_int = 900, .min = 1,
     .max = UNDELIVERED_S_MAX},

    /* "": the drainer serves no /metrics of its own. */
    {.group = "drain", .name = "metrics_listen", .kind = K_STRING,
     .off = OFF(drain.metrics_listen), .flags = F_OPTIONAL,
     .check = check_listen_or_none},

    /* Empty: producers may use any token. */
    {.name = "streams", .kind = K_STRLIST, .off = OFF(streams),
     .count_off = OFF(n_streams), .flags = F_SECRET,
     .check = sp_config_check_stream},
};
const size_t sp_config_n_keys = SP_ARRAY_LEN(sp_config_keys);

/* The value of word s among two: a (va) or b (vb); -1 for any other. */
static int
one_of_two(const char *s, const char *a, int va, const char *b, int vb)
{
    if (strcmp(s, a) == 0) {
        return va;
    }
    return strcmp(s, b) == 0 ? vb : -1;
}

static int
parse_durability(const char *s)
{
    return one_of_two(s, "full", 1, "normal", 0);
}

static int
parse_on_corrupt(const char *s)
{
    return one_of_two(s, "quarantine", 0, "stop", 1);
}

static int
parse_compress(const char *s)
{
    return one_of_two(s, "none", SP_COMPRESS_NONE, "gzip", SP_COMPRESS_GZIP);
}

static int
parse_event_loop(const char *s)
{
    return one_of_two(s, "poll", SP_EVENT_LOOP_POLL, "epoll",
                      SP_EVENT_LOOP_EPOLL);
}

/* "" (none) or an address. */
static int
check_listen_or_none(const char *s, struct sp_err *why)
{
    return s[0] ? sp_config_check_listen(s, why) : 0;
}
