/*
 * drain.c -- `ctspool drain [--once]`: the forwarding half of ctspool.
 * Takes the pending points of the upload groups in turn (round robin),
 * uploads them (upload.c) and records what upstream said (journal.c).
 * One drainer per journal (an flock); it alone loads the upload
 * credentials.  This file: the command and its main loop (drain_int.h
 * lists the others).
 *
 *   take (a request's worth of the next group's points -- groups in
 *      |   turn, parked ones skipped -- in journal order)
 *      |   --nothing--> idle: check data_version when another process
 *      |                commits (wake.c) or every poll_ms, wake when
 *      |                a parked group is due (--once: exit 0; 75 when
 *      |                parked groups hold points; 65 after dead letters)
 *      |   --in-doubt table full--> wait until its oldest entries expire
 *      v
 *   build body (batch_max_points, batch_max_bytes, >= 1 point) --POST-->
 *      2xx ........ ack exactly the versions sent; backoff reset; the
 *                   group unparked.  The ack of one request, and the
 *                   take and build of the next, run while it is in
 *                   flight (one in flight at most)
 *      400/413/422  split in halves and deliver each (recursively);
 *                   a lone point still refused -> dead letter
 *      404 ........ this group is parked with its own backoff (park.c);
 *                   the other groups go on
 *      408/429/5xx, no answer
 *                   note failure; wait full-jitter backoff (at least
 *                   Retry-After, capped at retry_max_ms); retake
 *      401/403/other
 *                   note failure; log "credentials/configuration";
 *                   wait ~retry_max_ms; retake (--once: exit 69)
 *   SIGHUP: the configuration is read again between requests (reload.c)
 *
 * Invariants:
 * (1) Only a 2xx acknowledges, and only the (hour, series, seq) versions
 *     that were in that request (sp_journal_ack): an update that arrived
 *     meanwhile stays pending.
 * (2) Points leave the queue only by ack or dead letter; a dead letter
 *     is always a single point refused alone (status and body kept).
 *     Parking a group leaves its points pending.
 * (3) After any failure the batch is taken again from the journal, so a
 *     retry never sends a value that was replaced meanwhile.
 * (4) Secrets: the API key and stream tokens are never logged; response
 *     bodies are logged truncated, with any secret in them masked (also
 *     in the dead letters' stored bodies).
 * (5) No upload starts while a request of an earlier drainer of the
 *     journal may still land upstream (landing.c), and every request of
 *     this one is announced in the lock file before it is sent.
 * (6) Every point of a request of unknown outcome is remembered until it
 *     can no longer land (doubt.c): no batch is taken without room.  A
 *     point acknowledged meanwhile with another value is also noted in
 *     the journal, in the ack's transaction, and made pending again once
 *     the doubt is over: by this drainer, or, if it dies first, by the
 *     next one after its wait of (5) (journal_resend.c).
 *
 * The drainer's journal connection commits with synchronous=NORMAL: an
 * ack lost to a power failure only means a re-send, which is safe.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "doubt.h"
#include "drain_int.h"
#include "lock.h"
#include "upload.h"

#define SUMMARY_EVERY_MS 10000
#define COMPACT_EVERY_MS ((int64_t)3600 * 1000)
#define COMPACT_RETRY_MS ((int64_t)300 * 1000) /* after a failed compaction */
#define IDLE_RECHECK_MS 30000 /* take again even if nothing changed */
#define NAP_STEP_MS 100       /* sleeps wake this often to see a signal */
#define BUSY_TIMEOUT_MS 1000  /* journal lock waits, between stop checks */
#define ONCE_RETRIES 3        /* --once: quick retries of a transient error */
#define ONCE_WAIT_MAX_MS 5000 /* --once: longest wait before giving up */
/*
 * The drainer's SQLite page cache.  What it reads once (series, queue
 * rows) and the queue's head that acks shrink fit in far less than a
 * producer needs, and a page cache SQLite empties whenever another
 * connection commits (serve's, every few ms under load) is refilled by
 * a malloc and a first touch per page: the smaller it is, the less that
 * costs (scripts/bench/drain and e2e in the commit that set it).
 */
#define CACHE_KIB 2048

volatile sig_atomic_t dr_stop_flag;

static void
on_signal(int sig)
{
    if (sig == SIGHUP) {
        dr_reload_flag = 1;
    } else {
        dr_stop_flag = 1;
    }
}

/* ---- time ------------------------------------------------------------ */

/* Sleeps ms milliseconds, returning early once a stop or a reload is
 * requested. */
void
dr_nap_ms(int64_t ms)
{
    int64_t end = sp_clock_ms() + ms;

    while (!dr_stop_flag && !dr_reload_flag) {
        int64_t left = end - sp_clock_ms();
        struct timespec ts;

        if (left <= 0) {
            break;
        }
        if (left > NAP_STEP_MS) {
            left = NAP_STEP_MS;
        }
        ts.tv_sec = (time_t)(left / 1000);
        ts.tv_nsec = (long)(left % 1000) * 1000000L;
        nanosleep(&ts, NULL); /* EINTR on a signal: the loop sees it */
    }
}

/* ---- logging --------------------------------------------------------- */

static const char *
plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static void
maybe_summary(struct dr_drainer *d, int force)
{
    int64_t t = sp_clock_ms();
    double secs = (double)(t - d->win_start) / 1000.0;

    if (!force && t - d->win_start < SUMMARY_EVERY_MS) {
        return;
    }
    if (d->win_points || d->win_dead) {
        char dead[64] = "";

        if (d->win_dead) {
            snprintf(dead, sizeof(dead), "; %llu dead-lettered",
                     (unsigned long long)d->win_dead);
        }
        sp_log(SP_LOG_INFO,
               "uploaded %llu point%s in %llu request%s in the last %.1f s "
               "(%.0f points/s)%s",
               (unsigned long long)d->win_points, plural(d->win_points),
               (unsigned long long)d->win_requests, plural(d->win_requests),
               secs, secs > 0 ? (double)d->win_points / secs : 0.0, dead);
    }
    d->win_points = d->win_requests = d->win_dead = 0;
    d->win_start = t;
}

static void
log_auth_failure(struct dr_drainer *d, const struct dr_failure *f,
                 int64_t retry_ms)
{
    char stream[32], key[32], where[512], retry[64];
    const char *snip = f->snippet[0] ? f->snippet : "(empty body)";

    sp_mask(d->cur->b.stream, stream, sizeof(stream));
    sp_mask(d->api_key, key, sizeof(key));
    dr_mask_endpoint(d->cfg->upload.endpoint, where, sizeof(where));
    if (d->is_once) {
        snprintf(retry, sizeof(retry), "exiting (--once)");
    } else {
        snprintf(retry, sizeof(retry), "retrying in %.0f s",
                 (double)retry_ms / 1000.0);
    }
    if (f->status == 401 || f->status == 403) {
        sp_log(SP_LOG_ERROR,
               "upstream rejects the API key (HTTP %d): %s; check "
               "upload.api_key, upload.api_key_file or CTSPOOL_API_KEY "
               "(key %s); nothing is dropped, %s",
               f->status, snip, key, retry);
    } else if (f->status >= 300 && f->status < 400) {
        sp_log(SP_LOG_ERROR,
               "upstream redirects upload.endpoint %s (%s); redirects are "
               "not followed: set upload.endpoint to where it points; "
               "nothing is dropped, %s",
               where, f->reason, retry);
    } else if (f->status == 407) {
        /* Proxy Authentication Required: the proxy's answer, not
         * upstream's. */
        sp_log(SP_LOG_ERROR,
               "the proxy refuses our credentials (HTTP 407): check the "
               "user and password of upload.proxy (or http_proxy / "
               "https_proxy); nothing is dropped, %s",
               retry);
    } else {
        sp_log(SP_LOG_ERROR,
               "upstream answers HTTP %d (%s), which points to a "
               "misconfiguration: check upload.endpoint %s, the API key "
               "(key %s) and the data stream token %s; nothing is "
               "dropped, %s",
               f->status, snip, where, key, stream, retry);
    }
}

/* ---- the loop -------------------------------------------------------- */

static void
maybe_compact(struct dr_drainer *d)
{
    uint64_t n = 0, n_keys = 0;
    ctspool_rc rc;

    if (sp_clock_ms() < d->next_compact) {
        return;
    }
    rc = cli_compact(d->j, d->cfg, &n, &n_keys);
    if (rc == CTSPOOL_E_CORRUPT && sp_journal_heal(d->j) == CTSPOOL_OK) {
        return; /* a fresh journal: dr_handover_moved() sees to it */
    }
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "compaction failed (retrying in %d min): %s",
               (int)(COMPACT_RETRY_MS / 60000), sp_journal_errmsg(d->j));
        d->next_compact = sp_clock_ms() + COMPACT_RETRY_MS;
        return;
    }
    sp_log(n ? SP_LOG_INFO : SP_LOG_DEBUG,
           "compaction: deleted %llu acknowledged points and events older "
           "than %ld h",
           (unsigned long long)n, d->cfg->retain_acked_hours);
    d->next_compact = sp_clock_ms() + COMPACT_EVERY_MS;
}

/*
 * Nothing to take: waits until another process commits, a parked group
 * is due (due_ms, Unix ms; -1: none), or a while.
 */
static void
idle_wait(struct dr_drainer *d, int64_t due_ms)
{
    int64_t until = sp_clock_ms() + IDLE_RECHECK_MS;
    int64_t dv = d->dv_before_take, doubt_due;

    while (!dr_stop_flag && sp_clock_ms() < until) {
        dr_wake_wait(d->wake, d->cfg->upload.poll_ms);
        if (sp_journal_data_version(d->j, &dv) != CTSPOOL_OK ||
            dv != d->dv_before_take) {
            break;
        }
        maybe_summary(d, 0);
        doubt_due = dr_doubt_next_deadline(d->doubt);
        if (sp_clock_ms() >= d->next_compact || dr_doubt_hits(d->doubt) ||
            (doubt_due >= 0 && sp_clock_ms() >= doubt_due) ||
            (due_ms >= 0 && dr_park_now_ms() >= due_ms) ||
            dr_park_clock_stepped(d) || dr_reload_flag) {
            /* compaction, a re-send or the end of a doubt (run() settles
             * it), a parked group or a reload is due */
            break;
        }
    }
}

/* Is a journal error worth waiting out (daemon mode)? */
static int
journal_error_is_transient(ctspool_rc rc)
{
    return rc == CTSPOOL_E_BUSY || rc == CTSPOOL_E_IO ||
           rc == CTSPOOL_E_DISKFULL;
}

/*
 * Waits after a transient upload failure.  Returns 0 to retry, or an
 * exit code (--once gives up).
 */
static int
after_transient(struct dr_drainer *d, const struct dr_failure *f)
{
    const struct sp_config *cfg = d->cfg;
    int64_t wait = sp_backoff_delay_ms(d->attempt, cfg->upload.retry_base_ms,
                                       cfg->upload.retry_max_ms,
                                       sp_rand_splitmix64, &d->rng);
    int64_t ra = f->retry_after_ms;
    char text[sizeof(f->reason) + sizeof(f->snippet) + 4];
    char extra[64] = "";

    dr_failure_text(f, text, sizeof(text));
    dr_failure_note(d, f->status, text);
    dr_outage_begin(d);
    d->attempt++;
    if (ra >= 0) {
        if (ra > cfg->upload.retry_max_ms) {
            ra = cfg->upload.retry_max_ms;
        }
        if (ra > wait) {
            wait = ra;
        }
        snprintf(extra, sizeof(extra), ", Retry-After %.1f s",
                 (double)f->retry_after_ms / 1000.0);
    }
    if (d->is_once && (d->attempt > ONCE_RETRIES || wait > ONCE_WAIT_MAX_MS)) {
        sp_log(SP_LOG_ERROR,
               "upload of %zu point%s failed: %s%s; giving up after %u "
               "attempt%s (--once): points stay pending",
               f->n_points, plural(f->n_points), text, extra, d->attempt,
               plural(d->attempt));
        return EXIT_TEMPFAIL;
    }
    sp_log(SP_LOG_WARN,
           "upload of %zu point%s failed: %s%s; retry %u in %.2f s",
           f->n_points, plural(f->n_points), text, extra, d->attempt,
           (double)wait / 1000.0);
    dr_nap_ms(wait);
    return 0;
}

/*
 * The exit code of `drain --once` from how run() ended (ex) and what it
 * left: 65 when it dead-lettered anything (only this run can report
 * that; 75 and the like are reported again by the next run), else 75
 * when a signal stopped it or parked groups hold pending points, else
 * ex.
 */
static int
once_exit(struct dr_drainer *d, int ex, int parked_left)
{
    if (ex == EXIT_OK && dr_stop_flag) {
        /* Stopped by a signal before it found nothing left to take. */
        sp_log(SP_LOG_WARN, "stopped before everything was delivered: "
               "what is left stays pending (--once: exit 75)");
        ex = EXIT_TEMPFAIL;
    }
    if (ex == EXIT_OK && parked_left) {
        ex = EXIT_TEMPFAIL;
    }
    if ((ex == EXIT_OK || ex == EXIT_TEMPFAIL) && d->n_dead) {
        ex = EXIT_DATAERR;
    }
    return ex;
}

/* Runs until stopped (or, --once, until nothing can be taken). */
static int
run(struct dr_drainer *d)
{
    ctspool_rc rc;
    int ex = EXIT_OK, parked_left = 0, held;

    dr_park_start(d);
    if (dr_handover_resend(d) != 0) {
        /* stopped: the notes stay for the next one */
        return d->is_once ? once_exit(d, EXIT_OK, 0) : EXIT_OK;
    }
    while (!dr_stop_flag) {
        const struct sp_config *cfg = d->cfg;
        struct sp_take_from from = {d->rr_grp, 0, 0};
        struct dr_failure f;
        int64_t due;

        if (dr_reload_flag) {
            dr_reload(d); /* between requests: none is in flight */
            cfg = d->cfg;
        }
        maybe_compact(d);
        held = dr_handover_moved(d); /* before salvage: it sees the move */
        dr_maybe_salvage(d);
        if (held) {
            dr_nap_ms(NAP_STEP_MS);
            continue;
        }
        maybe_summary(d, 0);
        dr_deliver_settle_doubt(d, sp_clock_ms());
        dr_deliver_note_doubt(d);
        if (!dr_deliver_may_take(d)) {
            dr_deliver_doubt_wait(d);
            continue;
        }
        if (sp_journal_data_version(d->j, &d->dv_before_take) !=
            CTSPOOL_OK) {
            d->dv_before_take = -1;
        }
        /* An acknowledgement the journal owes first: no upload before. */
        rc = dr_deliver_owed(d);
        dr_park_clock_stepped(d);
        from.now_ms = dr_park_now_ms();
        if (rc == CTSPOOL_OK) {
            rc = sp_journal_take_next(d->j, dr_deliver_take_size(cfg),
                                      &from, &d->cur->b);
        }
        if (rc == CTSPOOL_OK && d->cur->b.gen != d->journal_gen) {
            continue; /* from a fresh journal: dr_handover_moved() first */
        }
        if (rc == CTSPOOL_OK && d->cur->b.n == 0) {
            if (d->is_once && dr_doubt_hits(d->doubt)) {
                dr_nap_ms(NAP_STEP_MS); /* a re-send is due: wait for it */
                continue;
            }
            dr_handover_settle(d);
            parked_left = dr_park_idle(d, &due);
            if (d->is_once) {
                break;
            }
            idle_wait(d, due);
            continue;
        }
        if (rc == CTSPOOL_OK && !d->has_awaited) {
            if (dr_handover_await(d) != 0) {
                break;
            }
            d->has_awaited = 1;
            continue; /* take again: the journal moved on meanwhile */
        }
        if (rc == CTSPOOL_OK) {
            d->parked_all_said = 0;
            rc = dr_body_prefix(d->cur);
        }
        memset(&f, 0, sizeof(f));
        if (rc == CTSPOOL_OK) {
            d->sent_grp = d->rr_grp;
            rc = dr_deliver_batch(d, &f);
            /* The next group's turn: after the last one a request went
             * out for.  A batch a reload or a stop cut short before its
             * first request (also one taken ahead) is taken again. */
            d->rr_grp = d->sent_grp;
            cfg = d->cfg; /* a split may have reloaded it (deliver.c) */
        }
        if (rc == CTSPOOL_OK) {
            continue;
        }
        if (rc == CTSPOOL_E_NOTFOUND) {
            dr_park(d, &d->cur->b, &f); /* the others go on */
            continue;
        }
        if (rc == CTSPOOL_E_TRANSIENT) {
            if (dr_stop_flag) {
                break; /* the request was aborted: points stay pending */
            }
            ex = after_transient(d, &f);
            if (ex) {
                break;
            }
            continue;
        }
        if (rc == CTSPOOL_E_AUTH) {
            char text[sizeof(f.reason) + sizeof(f.snippet) + 4];
            /* "At the maximum backoff": jittered in [max/2, max]. */
            int64_t half = cfg->upload.retry_max_ms / 2;
            int64_t wait = half + (int64_t)(sp_rand_splitmix64(&d->rng) %
                                            (uint64_t)(half + 1));

            dr_failure_text(&f, text, sizeof(text));
            dr_failure_note(d, f.status, text);
            dr_outage_begin(d);
            log_auth_failure(d, &f, wait);
            if (d->is_once) {
                ex = EXIT_UNAVAILABLE;
                break;
            }
            dr_nap_ms(wait);
            continue;
        }
        /* The journal failed (or memory ran out). */
        if (dr_stop_flag && rc == CTSPOOL_E_BUSY) {
            break;
        }
        if (rc == CTSPOOL_E_CORRUPT && sp_journal_heal(d->j) == CTSPOOL_OK) {
            /* Moved aside, a fresh journal in its place (logged): what
             * was taken from the damaged one is not acknowledged here,
             * its points come back by salvage (dr_handover_moved() asks
             * for it at the next turn). */
            continue;
        }
        sp_log(SP_LOG_ERROR, "%s",
               rc == CTSPOOL_E_NOMEM ? "out of memory"
                                     : sp_journal_errmsg(d->j));
        if (d->is_once || !journal_error_is_transient(rc)) {
            ex = cli_exit_code(rc);
            break;
        }
        dr_nap_ms(sp_backoff_delay_ms(d->attempt++, cfg->upload.retry_base_ms,
                                      cfg->upload.retry_max_ms,
                                      sp_rand_splitmix64, &d->rng));
    }
    if (d->is_once && parked_left && ex == EXIT_OK) {
        sp_log(SP_LOG_WARN,
               "only parked upload groups have pending points left: they "
               "stay pending (--once: exit 75)");
    }
    return d->is_once ? once_exit(d, ex, parked_left) : ex;
}

/* ---- the command ----------------------------------------------------- */

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool drain [--once]\n"
            "\n"
            "Uploads pending points to upload.endpoint and marks what\n"
            "upstream acknowledged.  Upload groups (data stream token and\n"
            "aggregation function) take turns, each oldest point first.  A\n"
            "group upstream answers 404 (no stream found) is parked with a\n"
            "backoff of its own while the others go on; see 'ctspool\n"
            "streams'.  Runs until SIGTERM/SIGINT; whatever was not\n"
            "acknowledged stays pending.\n"
            "\n"
            "  --once   stop when nothing is pending (exit 0); exit 65 when\n"
            "           points were dead-lettered in this run, 75 when\n"
            "           transient failures, parked groups or a SIGTERM or\n"
            "           SIGINT leave points pending, 69 when upstream\n"
            "           rejects the credentials or configuration\n"
            "\n"
            "Only one drainer runs per journal: a second one exits 75.\n"
            "After a drainer that left a request of unknown outcome (killed,\n"
            "stopped or timed out mid-request), the next one waits up to\n"
            "3 x upload.request_timeout_ms + 10 s before its first upload,\n"
            "so that the old request cannot overwrite a newer value.\n"
            "\n"
            "upload.max_points_per_s and upload.max_requests_per_s (0:\n"
            "unlimited) pace the uploads: a request carries at most a\n"
            "second's worth of points, and waits until both rates allow\n"
            "it.\n"
            "\n"
            "upload.proxy (a URL) is the proxy for every request, in place\n"
            "of the proxy environment variables (http_proxy, ...).\n"
            "upload.client_cert and upload.client_key (both or neither)\n"
            "give a TLS client certificate.\n"
            "upload.compress = \"gzip\" sends bodies gzip-compressed\n"
            "(Content-Encoding: gzip) until upstream answers 415; then\n"
            "they go uncompressed for the rest of the run.\n"
            "\n"
            "SIGHUP re-reads the configuration between two requests: the\n"
            "API key, default stream, log level, batch sizes, pacing,\n"
            "retry_* and poll_ms take effect at once; journal, endpoint,\n"
            "timeouts, ca_file, compress, proxy, client_* and\n"
            "drain.metrics_listen need a restart (logged); a file that\n"
            "does not load changes nothing.\n"
            "\n"
            "With drain.metrics_listen (e.g. \"127.0.0.1:8766\") the drainer\n"
            "answers GET /metrics, /healthz and /healthz/upstream itself,\n"
            "as serve does; an address that cannot be bound: exit 71.\n");
}

static uint64_t
seed(void)
{
    uint64_t s = 0;

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
        s = (uint64_t)sp_clock_ms() ^ ((uint64_t)getpid() << 32);
    }
    return s;
}

static void
install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps end early */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int
cmd_drain(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dr_drainer d;
    struct sp_journal_opts jo;
    struct dr_upload_opts uo;
    struct sp_err e;
    const struct sp_config *cfg;
    char *api_key = NULL;
    char stream[32], where[512], pace[96], proxy[512] = "", events[560];
    int lock_fd = -1, at_listen = 0, ch, ex;
    ctspool_rc rc;

    memset(&d, 0, sizeof(d));
    for (size_t i = 0; i < SP_ARRAY_LEN(d.slot); i++) {
        sp_batch_init(&d.slot[i].b);
    }
    sp_batch_init(&d.owed);
    d.cur = &d.slot[0];
    d.lock_fd = -1;
    d.landing_said = d.landing_synced = -1;
    d.doubt_noted = UINT64_MAX; /* written at the first turn */
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            d.is_once = 1;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("drain");
        }
    }
    if (optind != argc) {
        cli_error("drain", "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint("drain");
    }
    /* First: a SIGTERM while starting up is a stop request too. */
    install_signals();
    ex = cli_config(c, "drain");
    if (ex) {
        return ex;
    }
    cfg = c->cfg; /* until run(): a reload may free it */
    d.cli = c;
    d.cfg = cfg;
    rc = sp_config_api_key(cfg, &api_key, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    d.api_key = api_key;
    api_key = NULL; /* d's now */
    dr_key_file_check(cfg);

    /* Acks need no fsync: one lost on power failure is re-sent, and
     * re-sending is safe (DESIGN.md section 1).  Limits are for
     * producers: the drainer only ever shrinks the queue. */
    memset(&jo, 0, sizeof(jo));
    jo.path = cfg->journal;
    jo.file_mode = sp_config_journal_mode(cfg);
    jo.durability_full = 0;
    jo.corrupt_stop = cfg->on_corrupt_stop;
    jo.busy_timeout_ms = BUSY_TIMEOUT_MS;
    jo.cache_kib = CACHE_KIB;
    /* What the drainer deletes (queue rows, the points of dead letters)
     * holds no secret: zeroing it cost 10% of its CPU, and the freed
     * pages their WAL frames.  Salvage is not misled by the bytes left
     * (salvage.c, is_stale_row). */
    jo.keep_deleted = 1;
    rc = sp_journal_open(&jo, &d.j, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    rc = dr_lock_open(cfg->journal, &lock_fd, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s%s", e.msg,
                  rc == CTSPOOL_E_LOCKED ? "; not starting a second one"
                                         : "");
        ex = cli_exit_code(rc);
        goto out;
    }
    rc = dr_metrics_start(cfg, &d.metrics, &at_listen, &e);
    if (rc != CTSPOOL_OK) {
        /* The address taken or not this host's: as serve's listen. */
        cli_error("drain", "%s", e.msg);
        ex = at_listen ? EXIT_OSERR : cli_exit_code(rc);
        goto out;
    }

    memset(&uo, 0, sizeof(uo));
    uo.endpoint = cfg->upload.endpoint;
    uo.api_key = d.api_key;
    uo.ca_file = cfg->upload.ca_file;
    uo.connect_timeout_ms = cfg->upload.connect_timeout_ms;
    uo.request_timeout_ms = cfg->upload.request_timeout_ms;
    uo.gzip = cfg->upload.compress == SP_COMPRESS_GZIP;
    uo.proxy = cfg->upload.proxy;
    uo.client_cert = cfg->upload.client_cert;
    uo.client_key = cfg->upload.client_key;
    uo.stop = &dr_stop_flag;
    rc = dr_upload_open(&uo, &d.up, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }

    if (!d.is_once) {
        d.wake = dr_wake_open(cfg->journal);
    }
    d.doubt = dr_doubt_new();
    if (!d.doubt) {
        cli_error("drain", "out of memory");
        ex = EXIT_OSERR;
        goto out;
    }
    /* A request abandoned at the timeout may still land for a while. */
    d.doubt_grace_ms = 2 * (int64_t)cfg->upload.request_timeout_ms;
    d.window_ms = (int64_t)cfg->upload.request_timeout_ms + d.doubt_grace_ms;
    d.lock_fd = lock_fd;
    d.rng = seed();
    d.req_max_points = (size_t)cfg->upload.batch_max_points;
    d.last_hour = -1;
    d.started = d.win_start = sp_clock_ms();
    dr_mask_endpoint(cfg->upload.endpoint, where, sizeof(where));
    dr_pace_text(cfg, pace, sizeof(pace));
    if (cfg->upload.proxy) {
        memcpy(proxy, " through proxy ", 16);
        dr_mask_endpoint(cfg->upload.proxy, proxy + 15, sizeof(proxy) - 15);
    }
    if (cfg->upload.events_endpoint && cfg->upload.events_endpoint[0]) {
        memcpy(events, ", events to ", 13);
        dr_mask_endpoint(cfg->upload.events_endpoint, events + 12,
                         sizeof(events) - 12);
    } else {
        snprintf(events, sizeof(events),
                 ", events held (no upload.events_endpoint)");
    }
    sp_log(SP_LOG_INFO,
           "ctspool %s draining journal %s to %s%s%s (default stream %s; "
           "batches of up to %ld points, %ld bytes%s, %s)%s",
           CTSPOOL_VERSION_STRING, cfg->journal, where, events, proxy,
           sp_mask(cfg->upload.data_stream_token, stream, sizeof(stream)),
           cfg->upload.batch_max_points, cfg->upload.batch_max_bytes,
           uo.gzip ? " gzip-compressed" : "", pace,
           d.is_once ? "; --once" : "");

    ex = run(&d);
    dr_handover_settle(&d);

    maybe_summary(&d, 1);
    sp_log(SP_LOG_INFO,
           "%s: uploaded %llu point%s in %llu request%s in %.1f s, %llu "
           "dead-lettered",
           dr_stop_flag ? "stopped by signal" : ex ? "stopped" : "done",
           (unsigned long long)d.n_points, plural(d.n_points),
           (unsigned long long)d.n_requests, plural(d.n_requests),
           (double)(sp_clock_ms() - d.started) / 1000.0,
           (unsigned long long)d.n_dead);
    if (dr_doubt_hits(d.doubt)) {
        /* Pending again now; the next drainer sends them once the
         * upload in doubt can no longer land (the landing record). */
        sp_log(SP_LOG_WARN,
               "%zu point%s acknowledged while an older value was in an "
               "upload of unknown outcome must be sent again: queued for "
               "the next drainer",
               dr_doubt_hits(d.doubt), dr_doubt_hits(d.doubt) == 1 ? "" : "s");
        dr_deliver_settle_doubt(&d, INT64_MAX);
    }
    if (dr_stop_flag && !d.is_once) {
        ex = EXIT_OK; /* asked to stop: unacknowledged points stay */
    }
out:
    dr_metrics_stop(d.metrics);
    dr_upload_close(d.up);
    dr_wake_close(d.wake);
    sp_journal_close(d.j);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    if (d.api_key) {
        explicit_bzero(d.api_key, strlen(d.api_key));
        free(d.api_key);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(d.slot); i++) {
        sp_batch_cleanup(&d.slot[i].b);
        sp_buf_cleanup(&d.slot[i].prefix);
    }
    sp_batch_cleanup(&d.owed);
    free(d.parked);
    dr_doubt_free(d.doubt);
    free(d.hits);
    sp_buf_cleanup(&d.body[0]);
    sp_buf_cleanup(&d.body[1]);
    sp_buf_cleanup(&d.scratch);
    return ex;
}
