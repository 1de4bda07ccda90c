/*
 * serve.c -- `ctspool serve`: checks the server configuration, binds
 * server.listen, starts the writer (commit.c) and the HTTP workers
 * (http.c), and waits for SIGTERM/SIGINT; SIGHUP re-reads the
 * configuration (reload()).
 *
 * Refuses to start (exit 78) without API keys (server.api_keys,
 * server.api_keys_file or $CTSPOOL_SERVER_API_KEYS) unless
 * server.allow_unauthenticated is true AND the address is loopback.
 *
 * Shutdown, in this order:
 *   1. stop accepting connections; new requests on open ones get 503;
 *   2. wait (at most DRAIN_WAIT_MS) until every request already received
 *      has been answered;
 *   3. stop the writer: it commits and answers whatever is still queued
 *      (commit.c invariant 4), so no connection stays suspended; a body
 *      still arriving is refused with 503 once whole, if that is within
 *      ANSWER_WAIT_MS (else its connection closes unanswered);
 *   4. wait briefly for those answers to go out, stop the daemon (which
 *      joins every worker), and only then free the writer: a worker may
 *      hold it until the daemon stopped.  Exit 0.
 */
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

#define DEFAULT_PORT "8765"
#define DRAIN_WAIT_MS 10000  /* requests in progress at shutdown */
#define ANSWER_WAIT_MS 3000  /* answers of the last commits */
#define MIN_THREADS 2
#define MAX_THREADS 16

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool serve\n"
            "\n"
            "Runs the local HTTP ingest endpoint on server.listen (default\n"
            "127.0.0.1:8765), compatible with Cloudthread's API:\n"
            "\n"
            "  POST /streams/ingest   (also /api/streams/ingest) body as\n"
            "                         upstream, x-api-key from "
            "server.api_keys\n"
            "                         and server.api_keys_file (or only\n"
            "                         $CTSPOOL_SERVER_API_KEYS, comma-\n"
            "                         separated, when set);\n"
            "                         answered 201 {\"accepted\": N} once\n"
            "                         stored per durability\n"
            "  GET  /healthz          200 when the journal is writable\n"
            "  GET  /healthz/upstream 503 when the oldest pending point\n"
            "                         waited longer than\n"
            "                         health.max_undelivered_s or an upload\n"
            "                         group is parked (reasons in the JSON\n"
            "                         body), else 200\n"
            "  POST /events           (also /api/events) Event Overlay\n"
            "                         events, {\"data\": [...]}, answered\n"
            "                         like points\n"
            "  GET  /metrics          Prometheus text format: journal,\n"
            "                         uploads (and their latency), pending\n"
            "                         points per upload group, answers by\n"
            "                         status code, ctspool_build_info,\n"
            "                         process_* series\n"
            "\n"
            "A POST with ?mode=accumulate folds its points into the stored\n"
            "hourly values (local rollup); one with an Idempotency-Key\n"
            "header is stored once, a retry answered as the first time.\n"
            "\n"
            "SIGTERM or SIGINT: stops accepting, answers what it received,\n"
            "exits 0.  SIGHUP: re-reads the configuration and the keys\n"
            "file; API keys, the default data stream, streams,\n"
            "health.max_undelivered_s, limits.*, the log level and\n"
            "log_format change at once, other changes need a restart\n"
            "(logged).\n"
            "A configuration that does not load leaves the running one in\n"
            "force.\n");
}

/*
 * No API keys (n_keys 0: none in server.api_keys, server.api_keys_file
 * or $CTSPOOL_SERVER_API_KEYS) only with allow_unauthenticated on a
 * loopback address.  E_CONFIG with the reason in e.
 */
static ctspool_rc
auth_policy(const struct sp_config *cfg, size_t n_keys, int loopback,
            struct sp_err *e)
{
    if (n_keys > 0) {
        return CTSPOOL_OK;
    }
    if (!cfg->server.allow_unauthenticated) {
        sp_err_set(e,
                   "server.api_keys is empty: refusing to accept points "
                   "without authentication (set server.api_keys, "
                   "server.api_keys_file or CTSPOOL_SERVER_API_KEYS, or "
                   "server.allow_unauthenticated = true with a loopback "
                   "server.listen address)");
        return CTSPOOL_E_CONFIG;
    }
    if (!loopback) {
        sp_err_set(e,
                   "server.allow_unauthenticated is only allowed on a "
                   "loopback address, and server.listen is \"%s\": set "
                   "server.api_keys or listen on 127.0.0.1 or [::1]",
                   cfg->server.listen);
        return CTSPOOL_E_CONFIG;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sv_check_config(const struct sp_config *cfg, struct sp_err *e)
{
    struct sp_server_keys k;
    int loopback = 0;
    ctspool_rc rc;

    rc = ob_listen_check("server.listen", cfg->server.listen, DEFAULT_PORT,
                         &loopback, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_config_server_keys(cfg, &k, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (k.warning) {
        sp_log(SP_LOG_WARN, "%s", k.warning);
    }
    rc = auth_policy(cfg, k.n, loopback, e);
    sp_server_keys_cleanup(&k);
    return rc;
}

/*
 * The settings of cfg that a SIGHUP may change (serve.h), checked: no
 * server.api_keys only with allow_unauthenticated on a loopback address.
 * *out: transferred.  E_CONFIG or E_NOMEM with the reason in e.
 */
static ctspool_rc
build_live(const struct sp_config *cfg, int loopback, struct sv_live **out,
           struct sp_err *e)
{
    struct sv_live *l;
    struct sp_server_keys k;
    const char *ds = cfg->upload.data_stream_token;
    ctspool_rc rc;

    *out = NULL;
    rc = sp_config_server_keys(cfg, &k, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = auth_policy(cfg, k.n, loopback, e);
    if (rc != CTSPOOL_OK) {
        sp_server_keys_cleanup(&k);
        return rc;
    }
    if (k.warning) {
        sp_log(SP_LOG_WARN, "%s", k.warning);
    }
    l = calloc(1, sizeof(*l));
    if (!l || (ds && ds[0] && !(l->default_stream = strdup(ds)))) {
        free(l);
        sp_server_keys_cleanup(&k);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    atomic_init(&l->refs, 1);
    l->keys_source = k.source;
    l->max_undelivered_s = cfg->health.max_undelivered_s;
    if (cfg->n_streams) {
        l->streams = calloc(cfg->n_streams, sizeof(*l->streams));
        for (size_t i = 0; l->streams && i < cfg->n_streams; i++) {
            l->streams[i] = strdup(cfg->streams[i]);
            if (!l->streams[i]) {
                break;
            }
            l->n_streams++;
        }
        if (l->n_streams != cfg->n_streams) {
            sv_live_free(l);
            sp_server_keys_cleanup(&k);
            sp_err_set(e, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
    }
    rc = sv_auth_init(&l->auth, k.keys, k.n, e);
    sp_server_keys_cleanup(&k); /* the digests are kept, not the keys */
    if (rc != CTSPOOL_OK) {
        sv_live_free(l);
        return rc;
    }
    *out = l;
    return CTSPOOL_OK;
}

static int
differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* A setting read once at start (the journal's handle, the daemon) that
 * a reload found changed. */
static void
restart_only(const char *what, int changed)
{
    if (changed) {
        cli_restart_only(what);
    }
}

/*
 * SIGHUP: re-reads the configuration file.  API keys (server.api_keys,
 * the file server.api_keys_file, $CTSPOOL_SERVER_API_KEYS), the default
 * data stream, the streams list, health.max_undelivered_s, the log
 * level and limits.* take effect at once (limits from the writer's next
 * batch); a
 * change that needs a restart is logged and ignored; a file that does
 * not load, or settings that serve would refuse, leave everything as it
 * was.
 */
static void
reload(struct cli *c, struct sv_http *h, struct sv_writer *w, int loopback)
{
    const struct sp_config *old = c->cfg;
    struct sp_config *cfg = NULL;
    struct sv_live *live = NULL;
    const char *source;
    struct sp_err e;
    size_t n_keys;

    if (sp_config_load(c->config_path, &cfg, &e) != CTSPOOL_OK ||
        build_live(cfg, loopback, &live, &e) != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR, "SIGHUP: configuration not reloaded, the "
               "previous one stays in force: %s", e.msg);
        sp_config_free(cfg);
        return;
    }
    if (cfg->warning) {
        sp_log(SP_LOG_WARN, "%s", cfg->warning);
    }
    restart_only("journal", differs(old->journal, cfg->journal));
    restart_only("journal_file_mode",
                 differs(old->journal_file_mode, cfg->journal_file_mode));
    restart_only("durability", old->durability_full != cfg->durability_full);
    restart_only("on_corrupt", old->on_corrupt_stop != cfg->on_corrupt_stop);
    restart_only("server.listen",
                 differs(old->server.listen, cfg->server.listen));
    restart_only("server.max_body_bytes",
                 old->server.max_body_bytes != cfg->server.max_body_bytes);
    restart_only("server.event_loop",
                 old->server.event_loop != cfg->server.event_loop);
    restart_only("server.idempotency_hours",
                 old->server.idempotency_hours !=
                     cfg->server.idempotency_hours);
    sp_log_set_level((enum sp_log_level)cfg->log_level);
    sp_log_set_format((enum sp_log_format)cfg->log_format);
    sv_writer_set_limits(w, (uint64_t)cfg->limits.max_pending_points,
                         (uint64_t)cfg->limits.max_journal_bytes);
    n_keys = live->auth.n_keys;
    source = live->keys_source;
    sv_http_reload(h, live);
    sp_log(SP_LOG_INFO, "SIGHUP: configuration reloaded from %s (%zu API "
           "key%s from %s, %zu stream%s listed)",
           cfg->path ? cfg->path : "defaults", n_keys,
           n_keys == 1 ? "" : "s", source, cfg->n_streams,
           cfg->n_streams == 1 ? "" : "s");
    sp_config_free(cfg);
}

static unsigned
worker_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < MIN_THREADS) {
        n = MIN_THREADS;
    }
    if (n > MAX_THREADS) {
        n = MAX_THREADS;
    }
    return (unsigned)n;
}

/* Waits until no request is in flight, at most ms milliseconds. */
static void
wait_inflight(struct sv_http *h, long ms)
{
    struct timespec pause = {0, 10000000L};

    for (long waited = 0; sv_http_inflight(h) && waited < ms; waited += 10) {
        nanosleep(&pause, NULL);
    }
}

/* A second journal handle, for /metrics: reads never queue behind the
 * writer's transactions. */
static int
open_stats_journal(const struct sp_config *cfg, struct sp_journal **out)
{
    struct sp_journal_opts o;
    struct sp_err e;
    ctspool_rc rc;

    memset(&o, 0, sizeof(o));
    o.path = cfg->journal;
    o.durability_full = cfg->durability_full;
    o.corrupt_stop = cfg->on_corrupt_stop;
    rc = sp_journal_open(&o, out, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("serve", "%s", e.msg);
        return cli_exit_code(rc);
    }
    return 0;
}

int
cmd_serve(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sv_live *live = NULL;
    struct sv_http_opts ho;
    struct sp_journal *j = NULL, *ro = NULL;
    struct sv_writer *w = NULL;
    struct sv_metrics *m = NULL;
    struct sv_http *h = NULL;
    const struct sp_config *cfg;
    char where[INET6_ADDRSTRLEN + 16];
    sigset_t sigs;
    struct sp_err e;
    ctspool_rc rc;
    int ch, ex = 0, fd = -1, sig = 0, loopback = 0;
    size_t n_keys = 0;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("serve");
        }
    }
    if (optind < argc) {
        cli_error("serve", "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint("serve");
    }
    /*
     * Signals go to this thread only: block them before anything else
     * (a SIGTERM while starting up stops serve once it is up) and before
     * any thread starts, and take them with sigwait().
     */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    ex = cli_config(c, "serve");
    if (ex) {
        return ex;
    }
    cfg = c->cfg;
    if (cfg->server.max_body_bytes <= 0) {
        cli_error("serve", "server.max_body_bytes must be positive");
        return EXIT_CONFIG;
    }
    rc = ob_listen_check("server.listen", cfg->server.listen, DEFAULT_PORT,
                         &loopback, &e);
    if (rc == CTSPOOL_OK) {
        rc = build_live(cfg, loopback, &live, &e);
    }
    if (rc != CTSPOOL_OK) {
        cli_error("serve", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    n_keys = live->auth.n_keys;
    rc = ob_listen_open("server.listen", cfg->server.listen, DEFAULT_PORT,
                        &fd, NULL, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("serve", "%s", e.msg);
        ex = rc == CTSPOOL_E_IO ? EXIT_OSERR : EXIT_CONFIG;
        goto out;
    }
    ex = cli_journal(c, "serve", &j);
    if (ex) {
        goto out;
    }
    ex = open_stats_journal(cfg, &ro);
    if (ex) {
        goto out;
    }

    rc = sv_writer_start(j, &w, &e);
    j = NULL; /* the writer's now */
    if (rc == CTSPOOL_OK) {
        rc = sv_metrics_new(ro, &m);
        ro = NULL;
        snprintf(e.msg, sizeof(e.msg), "out of memory");
    }
    if (rc == CTSPOOL_OK) {
        memset(&ho, 0, sizeof(ho));
        ho.listen_fd = fd;
        ho.n_threads = worker_threads();
        ho.event_loop = cfg->server.event_loop;
        ho.max_body_bytes = cfg->server.max_body_bytes;
        ho.idempotency_hours = cfg->server.idempotency_hours;
        ho.live = live;
        ho.writer = w;
        ho.metrics = m;
        rc = sv_http_start(&ho, &h, &e);
        if (rc == CTSPOOL_OK) {
            live = NULL; /* the daemon's now */
        }
    }
    if (rc != CTSPOOL_OK) {
        cli_error("serve", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    ob_listen_name(fd, where, sizeof(where));
    fd = -1; /* the daemon's now */
    sp_log(SP_LOG_INFO,
           "listening on http://%s (durability %s, journal %s, %u worker "
           "threads on %s, %s)",
           where, cfg->durability_full ? "full" : "normal", cfg->journal,
           ho.n_threads,
           cfg->server.event_loop == SP_EVENT_LOOP_EPOLL ? "epoll" : "poll",
           n_keys ? "x-api-key required" : "NO AUTHENTICATION");

    for (;;) {
        if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            reload(c, h, w, loopback);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
    }
    /* The writer stops serve with a SIGTERM of its own when the journal
     * is damaged and on_corrupt = "stop" (it logged why). */
    sp_log(SP_LOG_INFO, "%s: finishing requests in progress",
           sv_writer_damaged(w) ? "stopping for the damaged journal"
           : sig == SIGTERM     ? "SIGTERM received"
                                : "SIGINT received");
    sv_http_quiesce(h);
    wait_inflight(h, DRAIN_WAIT_MS);
    sv_writer_stop(w); /* commits and answers what is still queued */
    if (sv_http_inflight(h)) {
        sp_log(SP_LOG_WARN,
               "%lu requests still arriving after %d s: nothing of them is "
               "stored; those whose body ends within %d s are refused "
               "(503), the others' connections close unanswered",
               sv_http_inflight(h), DRAIN_WAIT_MS / 1000,
               ANSWER_WAIT_MS / 1000);
    }
    wait_inflight(h, ANSWER_WAIT_MS);
    if (sv_http_inflight(h)) {
        sp_log(SP_LOG_WARN,
               "%lu requests still in progress at exit (not stored, not "
               "answered 201)",
               sv_http_inflight(h));
    }
    ex = sv_writer_damaged(w) ? EXIT_IOERR : EXIT_OK;
    sp_log(SP_LOG_INFO, "stopped%s", ex ? ": the journal is damaged" : "");
out:
    sv_http_stop(h); /* no worker holds w or m after this */
    sv_writer_free(w);
    sv_metrics_free(m);
    sp_journal_close(ro);
    sp_journal_close(j);
    if (fd >= 0) {
        close(fd);
    }
    sv_live_free(live);
    return ex;
}
