/*
 * drain.c -- `ctspool drain [--once]`: the forwarding half of ctspool.
 * Takes the oldest pending group's points from the journal, uploads them
 * (upload.c) and records what upstream said (journal.c).  One drainer
 * per journal (an flock); it alone loads the upload credentials.
 *
 *   take (a request's worth of the oldest pending group, in journal
 *      |   order) --empty--> idle: poll data_version every poll_ms
 *      |                     (--once: exit 0)
 *      v
 *   build body (batch_max_points, batch_max_bytes, >= 1 point) --POST-->
 *      2xx ........ ack exactly the versions sent; backoff reset.  The
 *                   ack of one request, and the take and build of the
 *                   next, run while it is in flight (one in flight at
 *                   most)
 *      400/413/422  split in halves and deliver each (recursively);
 *                   a lone point still refused -> dead letter
 *      408/429/5xx, no answer
 *                   note failure; wait full-jitter backoff (at least
 *                   Retry-After, capped at retry_max_ms); retake
 *      401/403/404/other
 *                   note failure; log "credentials/configuration";
 *                   wait ~retry_max_ms; retake (--once: exit 69)
 *
 * Invariants:
 * (1) Only a 2xx acknowledges, and only the (hour, series, seq) versions
 *     that were in that request (sp_journal_ack): an update that arrived
 *     meanwhile stays pending.
 * (2) Points leave the queue only by ack or dead letter; a dead letter
 *     is always a single point refused alone (status and body kept).
 * (3) After any failure the batch is taken again from the journal, so a
 *     retry never sends a value that was replaced meanwhile.
 * (4) Secrets: the API key and stream tokens are never logged; response
 *     bodies are logged truncated, with any secret in them masked (also
 *     in the dead letters' stored bodies).
 *
 * (5) No upload starts while a request of an earlier drainer of the
 *     journal may still land upstream (landing.c), and every request of
 *     this one is announced in the lock file before it is sent.
 *
 * The drainer's journal connection commits with synchronous=NORMAL: an
 * ack lost to a power failure only means a re-send, which is safe.
 */
#include <errno.h>
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
#include "landing.h"
#include "upload.h"

#define SUMMARY_EVERY_MS 10000
#define COMPACT_EVERY_MS ((int64_t)3600 * 1000)
#define COMPACT_RETRY_MS ((int64_t)300 * 1000) /* after a failed compaction */
#define IDLE_RECHECK_MS 30000 /* take again even if nothing changed */
#define NAP_STEP_MS 100       /* sleeps wake this often to see a signal */
#define BUSY_TIMEOUT_MS 1000  /* journal lock waits, between stop checks */
#define ONCE_RETRIES 3        /* --once: quick retries of a transient error */
#define ONCE_WAIT_MAX_MS 5000 /* --once: longest wait before giving up */
/* A request size learned from a 413 holds this long. */
#define SPLIT_HOLD_MS ((int64_t)3600 * 1000)
#define CHAIN_MS 1000         /* deliver_batch() goes on this long */

volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ---- time ------------------------------------------------------------ */


/* Sleeps ms milliseconds, returning early once a stop is requested. */
void
nap_ms(int64_t ms)
{
    int64_t end = sp_clock_ms() + ms;

    while (!stop_flag) {
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
        nanosleep(&ts, NULL); /* EINTR on a signal: loop sees stop_flag */
    }
}

/* ---- journal updates ------------------------------------------------- */

/*
 * Runs a journal write, waiting out other writers (each attempt waits up
 * to BUSY_TIMEOUT_MS) until it succeeds or a stop is requested.
 */
#define JOURNAL_RETRY(rc, call)                                           \
    do {                                                                  \
        (rc) = (call);                                                    \
    } while ((rc) == CTSPOOL_E_BUSY && !stop_flag)

static void
note_failure(struct drainer *d, int status, const char *what)
{
    ctspool_rc rc = sp_journal_note_failure(d->j, status, what,
                                            (int64_t)time(NULL));

    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "cannot record the upload failure: %s",
               sp_journal_errmsg(d->j));
    }
}

/* Short text for status / last_upload_error: "HTTP 503: {...}". */
static void
failure_text(const struct failure *f, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", f->reason, f->snippet[0] ? ": " : "",
             f->snippet);
}

static void
fill_failure(struct drainer *d, const struct sp_upload_result *r,
             size_t n_points, struct failure *f)
{
    f->status = r->status;
    f->retry_after_ms = r->retry_after_ms;
    f->n_points = n_points;
    snprintf(f->reason, sizeof(f->reason), "%s", r->reason);
    log_snippet(masked_body(d, r->body, r->body_len), f->snippet,
                sizeof(f->snippet));
}

static ctspool_rc
dead_letter(struct drainer *d, size_t idx, const struct sp_upload_result *r)
{
    const struct sp_batch_point *bp = &d->cur->b.pts[idx];
    const char *body = masked_body(d, r->body, r->body_len);
    char name[LOG_BODY_MAX * 4 + 8], snip[LOG_BODY_MAX * 4 + 8];
    char hour[24];
    ctspool_rc rc;

    JOURNAL_RETRY(rc, sp_journal_dead(d->j, &d->cur->b, &idx, 1, r->status,
                                      body, (int64_t)time(NULL)));
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR, "cannot dead-letter a point: %s",
               sp_journal_errmsg(d->j));
        return rc;
    }
    sp_hour_format(bp->hour, hour, sizeof(hour));
    log_snippet(bp->name, name, sizeof(name));
    log_snippet(body, snip, sizeof(snip));
    sp_log(SP_LOG_WARN,
           "dead letter: upstream refuses metric \"%s\" at %s alone "
           "(HTTP %d): %s",
           name, hour, r->status, snip[0] ? snip : "(empty body)");
    d->n_dead++;
    d->win_dead++;
    return CTSPOOL_OK;
}

/* ---- delivery -------------------------------------------------------- */

static size_t
request_cap(struct drainer *d)
{
    if (d->req_max_until && sp_clock_ms() >= d->req_max_until) {
        d->req_max_points = (size_t)d->cfg->upload.batch_max_points;
        d->req_max_until = 0;
        sp_log(SP_LOG_INFO, "back to requests of up to %zu points",
               d->req_max_points);
    }
    return d->req_max_points;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Marks b->pts[from .. from+k) acknowledged after a 2xx (invariant 1). */
static ctspool_rc
acknowledge(struct drainer *d, const struct sp_batch *b, size_t from,
            size_t k)
{
    size_t acked = 0;
    ctspool_rc rc;

    JOURNAL_RETRY(rc, sp_journal_ack(d->j, b, from, k,
                                     (int64_t)time(NULL), &acked));
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR,
               "upstream took %zu points but the journal cannot record "
               "it (they will be sent again): %s",
               k, sp_journal_errmsg(d->j));
        return rc;
    }
    if (doubt_count(d->doubt)) {
        for (size_t i = from; i < from + k; i++) {
            doubt_acked(d->doubt, b->pts[i].hour, b->pts[i].series,
                        b->pts[i].value);
        }
    }
    sp_log(SP_LOG_DEBUG,
           "%zu points taken upstream, %zu marked acknowledged (the others "
           "changed meanwhile and stay pending)",
           k, acked);
    d->n_points += k;
    d->win_points += k;
    d->attempt = 0;
    return CTSPOOL_OK;
}

static ctspool_rc deliver(struct drainer *d, size_t from, size_t n,
                          struct failure *f);

/*
 * Points read from the journal at once: one request's worth, so that
 * the read of the next batch fits in the time one request is in flight.
 */
static size_t
take_size(const struct sp_config *cfg)
{
    return (size_t)cfg->upload.batch_max_points;
}

/*
 * A request of b.pts[from .. from+k) failed without a clear refusal (no
 * answer after its body went out, or 5xx): upstream may still apply it
 * later, so its points are in doubt for the grace period (doubt.c).
 */
static void
doubt_request(struct drainer *d, size_t from, size_t k,
              const struct sp_upload_result *r)
{
    int64_t deadline = sp_clock_ms() + d->doubt_grace_ms;

    if ((r->status != 0 && r->status < 500) || r->is_unsent) {
        return; /* refused, or never sent whole: nothing was applied */
    }
    if (deadline > d->doubt_until) {
        d->doubt_until = deadline;
    }
    for (size_t i = from; i < from + k; i++) {
        doubt_add(d->doubt, d->cur->b.pts[i].hour, d->cur->b.pts[i].series,
                  d->cur->b.pts[i].value, deadline);
    }
}

/*
 * Points acknowledged with a newer value while an older one was in
 * doubt are made pending again once the doubt expires, so the newest
 * value is the last one upstream gets.
 */
static void
settle_doubt(struct drainer *d, int64_t now)
{
    int64_t keys[256][2];
    size_t n, total = 0;
    ctspool_rc rc;

    while ((n = doubt_expire(d->doubt, now, keys,
                             SP_ARRAY_LEN(keys))) > 0) {
        size_t done_n = 0;

        JOURNAL_RETRY(rc, sp_journal_repend(d->j, (const int64_t(*)[2])keys,
                                            n, &done_n));
        if (rc != CTSPOOL_OK) {
            sp_log(SP_LOG_ERROR,
                   "cannot queue %zu points again after an upload of "
                   "unknown outcome: %s",
                   n, sp_journal_errmsg(d->j));
            return;
        }
        total += done_n;
        if (n < SP_ARRAY_LEN(keys)) {
            break;
        }
    }
    if (total) {
        sp_log(SP_LOG_INFO,
               "sending %zu point%s again: an earlier request of unknown "
               "outcome could have overwritten their newer value upstream",
               total, total == 1 ? "" : "s");
    }
}

/*
 * Acts on a 400/413/422 for the request of b.pts[from .. from+k): a lone
 * point becomes a dead letter, more are split in halves and delivered
 * (invariant 2).  Returns what deliver() returns.
 */
static ctspool_rc
settle_refused(struct drainer *d, size_t from, size_t k,
               const struct sp_upload_result *r, struct failure *f)
{
    char text[sizeof(f->reason) + sizeof(f->snippet) + 4];
    size_t half = k / 2;
    ctspool_rc rc;

    if (k == 1) {
        return dead_letter(d, from, r);
    }
    fill_failure(d, r, k, f);
    failure_text(f, text, sizeof(text));
    sp_log(SP_LOG_WARN,
           "upstream refuses a request of %zu points (%s); splitting it "
           "to isolate the cause",
           k, text);
    note_failure(d, r->status, text);
    if (r->status == 413) {
        d->req_max_points = half;
        d->req_max_until = sp_clock_ms() + SPLIT_HOLD_MS;
        sp_log(SP_LOG_INFO,
               "sending at most %zu points per request for the next hour "
               "(HTTP 413)",
               half);
    }
    rc = deliver(d, from, half, f);
    if (rc == CTSPOOL_OK) {
        rc = deliver(d, from + half, k - half, f);
    }
    return rc;
}

/*
 * deliver -- uploads b.pts[from .. from+n), one request at a time, in as
 * many requests as batch_max_bytes and the learned 413 size allow.
 * Returns OK when the whole range is acknowledged or dead (or a stop was
 * requested), E_TRANSIENT or E_AUTH with *f filled when a request failed
 * otherwise (what was already acknowledged stays so), or a journal
 * error.
 */
static ctspool_rc
deliver(struct drainer *d, size_t from, size_t n, struct failure *f)
{
    size_t pos = from, end = from + n;
    ctspool_rc rc = CTSPOOL_OK;

    while (pos < end && !stop_flag) {
        struct sp_upload_result r;
        struct sbuf *body = &d->body[0];
        size_t k = 0;

        rc = build_body(d, d->cur, body, pos,
                        min_size(end - pos, request_cap(d)), &k);
        if (rc != CTSPOOL_OK) {
            sp_log(SP_LOG_ERROR, "out of memory building a request");
            return rc;
        }
        request_begin(d);
        rc = sp_upload_post(d->up, body->p, body->len, &r);
        d->n_requests++;
        d->win_requests++;
        if (rc != CTSPOOL_OK && rc != CTSPOOL_E_REJECTED) {
            fill_failure(d, &r, k, f);
            doubt_request(d, pos, k, &r);
        }
        if (rc == CTSPOOL_OK) {
            rc = acknowledge(d, &d->cur->b, pos, k);
        } else if (rc == CTSPOOL_E_REJECTED) {
            rc = settle_refused(d, pos, k, &r, f);
        }
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        pos += k;
    }
    return CTSPOOL_OK;
}

/*
 * Takes into the other slot the batch after the request in flight,
 * cur->b.pts[.. end), which ends the current batch: returns that slot,
 * or NULL when nothing else is pending.  A failed read only means no
 * batch is taken ahead (run() takes again and reports it).
 */
static struct slot *
take_ahead(struct drainer *d, size_t end)
{
    struct slot *o = d->cur == &d->slot[0] ? &d->slot[1] : &d->slot[0];

    if (sp_journal_take_after(d->j, take_size(d->cfg), &o->b, d->cur->b.grp,
                              d->cur->b.pts[end - 1].seq) != CTSPOOL_OK ||
        o->b.n == 0 || build_prefix(o) != CTSPOOL_OK) {
        return NULL;
    }
    return o;
}

/*
 * deliver_batch -- uploads the current batch like deliver(), but while
 * one request is in flight the previous one is acknowledged and the next
 * one built -- once the batch is used up, from the next batch, taken
 * from the journal meanwhile -- so journal work overlaps the network and
 * upstream.  At most one request is in flight: a newer value taken
 * meanwhile is never sent before the answer to an older one, and a
 * request is only acknowledged after its 2xx.  From the first answer
 * that is not a 2xx on, the rest of that batch goes the one-at-a-time
 * way of deliver() (split, bisect, failure) and a batch taken ahead is
 * dropped.  Returns after about CHAIN_MS, for run()'s housekeeping.
 */
static ctspool_rc
deliver_batch(struct drainer *d, struct failure *f)
{
    const struct sp_batch *done_b = NULL;
    size_t pos, fl_from = 0, fl_k = 0, done_from = 0, done_k = 0, next_k;
    int cur = 0; /* d->body[cur] is the request in flight */
    int64_t until = sp_clock_ms() + CHAIN_MS;
    ctspool_rc rc;

    if (stop_flag) {
        return CTSPOOL_OK;
    }
    rc = build_body(d, d->cur, &d->body[cur], 0,
                    min_size(d->cur->b.n, request_cap(d)), &fl_k);
    if (rc == CTSPOOL_OK) {
        request_begin(d);
        rc = sp_upload_start(d->up, d->body[cur].p, d->body[cur].len);
    }
    if (rc != CTSPOOL_OK) {
        return deliver(d, 0, d->cur->b.n, f);
    }
    pos = fl_k;
    for (;;) {
        struct sp_upload_result r;
        struct slot *next = NULL; /* set: the next request starts it */
        ctspool_rc work = CTSPOOL_OK;

        /* Meanwhile: acknowledge the previous request, build the next. */
        if (done_k) {
            work = acknowledge(d, done_b, done_from, done_k);
        }
        next_k = 0;
        if (work == CTSPOOL_OK && !stop_flag) {
            if (pos < d->cur->b.n) {
                work = build_body(d, d->cur, &d->body[!cur], pos,
                                  min_size(d->cur->b.n - pos, request_cap(d)),
                                  &next_k);
            } else if (sp_clock_ms() < until) {
                next = take_ahead(d, pos);
                if (next) {
                    work = build_body(d, next, &d->body[!cur], 0,
                                      min_size(next->b.n, request_cap(d)),
                                      &next_k);
                }
            }
        }
        rc = sp_upload_finish(d->up, &r);
        d->n_requests++;
        d->win_requests++;
        if (rc != CTSPOOL_OK && rc != CTSPOOL_E_REJECTED) {
            doubt_request(d, fl_from, fl_k, &r);
        }
        if (work != CTSPOOL_OK) {
            return work; /* this answer is dropped: re-sent later */
        }
        if (rc == CTSPOOL_E_REJECTED) {
            rc = settle_refused(d, fl_from, fl_k, &r, f);
            if (rc == CTSPOOL_OK) {
                rc = deliver(d, fl_from + fl_k, d->cur->b.n - fl_from - fl_k,
                             f);
            }
            return rc;
        }
        if (rc != CTSPOOL_OK) {
            fill_failure(d, &r, fl_k, f);
            return rc;
        }
        done_b = &d->cur->b;
        done_from = fl_from;
        done_k = fl_k;
        if (!next_k) {
            break;
        }
        if (next) {
            d->cur = next;
            pos = 0;
        }
        cur = !cur;
        request_begin(d);
        if (sp_upload_start(d->up, d->body[cur].p, d->body[cur].len) !=
            CTSPOOL_OK) {
            rc = acknowledge(d, done_b, done_from, done_k);
            return rc == CTSPOOL_OK ? deliver(d, pos, d->cur->b.n - pos, f)
                                    : rc;
        }
        fl_from = pos;
        fl_k = next_k;
        pos += next_k;
    }
    return acknowledge(d, done_b, done_from, done_k);
}

/* ---- logging --------------------------------------------------------- */

static const char *
plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static void
maybe_summary(struct drainer *d, int force)
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
log_auth_failure(struct drainer *d, const struct failure *f,
                 int64_t retry_ms)
{
    char stream[32], key[32], where[512], retry[64];
    const char *snip = f->snippet[0] ? f->snippet : "(empty body)";

    sp_mask(d->cur->b.stream, stream, sizeof(stream));
    sp_mask(d->api_key, key, sizeof(key));
    endpoint_for_log(d->cfg->upload.endpoint, where, sizeof(where));
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
    } else if (f->status == 404) {
        sp_log(SP_LOG_ERROR,
               "upstream answers HTTP 404 (%s): the data stream token %s "
               "is probably unknown upstream, or upload.endpoint %s is "
               "wrong; nothing is dropped, %s",
               snip, stream, where, retry);
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
maybe_compact(struct drainer *d)
{
    uint64_t n = 0;
    ctspool_rc rc;

    if (sp_clock_ms() < d->next_compact) {
        return;
    }
    rc = sp_journal_compact(d->j, (int64_t)time(NULL),
                            d->cfg->retain_acked_hours, &n);
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "compaction failed (retrying in %d min): %s",
               (int)(COMPACT_RETRY_MS / 60000), sp_journal_errmsg(d->j));
        d->next_compact = sp_clock_ms() + COMPACT_RETRY_MS;
        return;
    }
    sp_log(n ? SP_LOG_INFO : SP_LOG_DEBUG,
           "compaction: deleted %llu acknowledged points older than %ld h",
           (unsigned long long)n, d->cfg->retain_acked_hours);
    d->next_compact = sp_clock_ms() + COMPACT_EVERY_MS;
}

/* Nothing pending: waits until another process commits, or a while. */
static void
idle_wait(struct drainer *d)
{
    int64_t until = sp_clock_ms() + IDLE_RECHECK_MS;
    int64_t dv = d->dv_before_take;

    while (!stop_flag && sp_clock_ms() < until) {
        nap_ms(d->cfg->upload.poll_ms);
        if (sp_journal_data_version(d->j, &dv) != CTSPOOL_OK ||
            dv != d->dv_before_take) {
            break;
        }
        maybe_summary(d, 0);
        if (sp_clock_ms() >= d->next_compact || doubt_hits(d->doubt)) {
            break; /* compaction or a re-send (settle_doubt) is due */
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
after_transient(struct drainer *d, const struct failure *f)
{
    const struct sp_config *cfg = d->cfg;
    int64_t wait = sp_backoff_delay_ms(d->attempt, cfg->upload.retry_base_ms,
                                       cfg->upload.retry_max_ms,
                                       sp_rand_splitmix64, &d->rng);
    int64_t ra = f->retry_after_ms;
    char text[sizeof(f->reason) + sizeof(f->snippet) + 4];
    char extra[64] = "";

    failure_text(f, text, sizeof(text));
    note_failure(d, f->status, text);
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
    nap_ms(wait);
    return 0;
}

/* Runs until stopped (or, --once, until nothing is pending). */
static int
run(struct drainer *d)
{
    const struct sp_config *cfg = d->cfg;
    ctspool_rc rc;
    int ex = EXIT_OK;

    while (!stop_flag) {
        struct failure f;

        maybe_compact(d);
        maybe_summary(d, 0);
        settle_doubt(d, sp_clock_ms());
        if (sp_journal_data_version(d->j, &d->dv_before_take) !=
            CTSPOOL_OK) {
            d->dv_before_take = -1;
        }
        rc = sp_journal_take(d->j, take_size(cfg), &d->cur->b);
        if (rc == CTSPOOL_OK && d->cur->b.n == 0) {
            if (d->is_once && doubt_hits(d->doubt)) {
                nap_ms(NAP_STEP_MS); /* a re-send is due: wait for it */
                continue;
            }
            landing_settle(d);
            if (d->is_once) {
                break;
            }
            idle_wait(d);
            continue;
        }
        if (rc == CTSPOOL_OK && !d->has_awaited) {
            if (await_predecessor(d) != 0) {
                break;
            }
            d->has_awaited = 1;
            continue; /* take again: the journal moved on meanwhile */
        }
        if (rc == CTSPOOL_OK) {
            rc = build_prefix(d->cur);
        }
        memset(&f, 0, sizeof(f));
        if (rc == CTSPOOL_OK) {
            rc = deliver_batch(d, &f);
        }
        if (rc == CTSPOOL_OK) {
            continue;
        }
        if (rc == CTSPOOL_E_TRANSIENT) {
            if (stop_flag) {
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

            failure_text(&f, text, sizeof(text));
            note_failure(d, f.status, text);
            log_auth_failure(d, &f, wait);
            if (d->is_once) {
                ex = EXIT_UNAVAILABLE;
                break;
            }
            nap_ms(wait);
            continue;
        }
        /* The journal failed (or memory ran out). */
        if (stop_flag && rc == CTSPOOL_E_BUSY) {
            break;
        }
        sp_log(SP_LOG_ERROR, "%s",
               rc == CTSPOOL_E_NOMEM ? "out of memory"
                                     : sp_journal_errmsg(d->j));
        if (d->is_once || !journal_error_is_transient(rc)) {
            ex = cli_exit_code(rc);
            break;
        }
        nap_ms(sp_backoff_delay_ms(d->attempt++, cfg->upload.retry_base_ms,
                                   cfg->upload.retry_max_ms,
                                   sp_rand_splitmix64, &d->rng));
    }
    return ex;
}

/* ---- the command ----------------------------------------------------- */

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool drain [--once]\n"
            "\n"
            "Uploads pending points to upload.endpoint, oldest first, and\n"
            "marks what upstream acknowledged.  Runs until SIGTERM/SIGINT;\n"
            "whatever was not acknowledged stays pending.\n"
            "\n"
            "  --once   stop when nothing is pending (exit 0); exit 75 when\n"
            "           transient failures leave points pending, 69 when\n"
            "           upstream rejects the credentials or configuration\n"
            "\n"
            "Only one drainer runs per journal: a second one exits 75.\n"
            "After a drainer that left a request of unknown outcome (killed,\n"
            "stopped or timed out mid-request), the next one waits up to\n"
            "3 x upload.request_timeout_ms + 10 s before its first upload,\n"
            "so that the old request cannot overwrite a newer value.\n");
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
    struct drainer d;
    struct sp_journal_opts jo;
    struct sp_upload_opts uo;
    struct sp_err e;
    const struct sp_config *cfg;
    char *api_key = NULL;
    char stream[32], where[512];
    int lock_fd = -1, ch, ex;
    ctspool_rc rc;

    memset(&d, 0, sizeof(d));
    for (size_t i = 0; i < SP_ARRAY_LEN(d.slot); i++) {
        sp_batch_init(&d.slot[i].b);
    }
    d.cur = &d.slot[0];
    d.lock_fd = -1;
    d.landing_said = d.landing_synced = -1;
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
    cfg = c->cfg;
    d.cfg = cfg;
    rc = sp_config_api_key(cfg, &api_key, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    d.api_key = api_key;
    if (!cfg->upload.api_key && cfg->upload.api_key_file) {
        struct stat sb;

        if (stat(cfg->upload.api_key_file, &sb) == 0 &&
            (sb.st_mode & 077)) {
            sp_log(SP_LOG_WARN,
                   "API key file %s is readable by group or others "
                   "(mode %04o); chmod 600 it",
                   cfg->upload.api_key_file, (unsigned)(sb.st_mode & 07777));
        }
    }

    /* Acks need no fsync: one lost on power failure is re-sent, and
     * re-sending is safe (DESIGN.md section 1).  Limits are for
     * producers: the drainer only ever shrinks the queue. */
    memset(&jo, 0, sizeof(jo));
    jo.path = cfg->journal;
    jo.durability_full = 0;
    jo.busy_timeout_ms = BUSY_TIMEOUT_MS;
    rc = sp_journal_open(&jo, &d.j, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    rc = sp_journal_lock_drainer(cfg->journal, &lock_fd, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s%s", e.msg,
                  rc == CTSPOOL_E_LOCKED ? "; not starting a second one"
                                         : "");
        ex = cli_exit_code(rc);
        goto out;
    }

    memset(&uo, 0, sizeof(uo));
    uo.endpoint = cfg->upload.endpoint;
    uo.api_key = api_key;
    uo.ca_file = cfg->upload.ca_file;
    uo.connect_timeout_ms = cfg->upload.connect_timeout_ms;
    uo.request_timeout_ms = cfg->upload.request_timeout_ms;
    uo.stop = &stop_flag;
    rc = sp_upload_open(&uo, &d.up, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("drain", "%s", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }

    d.doubt = doubt_new();
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
    endpoint_for_log(cfg->upload.endpoint, where, sizeof(where));
    sp_log(SP_LOG_INFO,
           "ctspool %s draining journal %s to %s (default stream %s; "
           "batches of up to %ld points, %ld bytes)%s",
           CTSPOOL_VERSION_STRING, cfg->journal, where,
           sp_mask(cfg->upload.data_stream_token, stream, sizeof(stream)),
           cfg->upload.batch_max_points, cfg->upload.batch_max_bytes,
           d.is_once ? "; --once" : "");

    ex = run(&d);
    landing_settle(&d);

    maybe_summary(&d, 1);
    sp_log(SP_LOG_INFO,
           "%s: uploaded %llu point%s in %llu request%s in %.1f s, %llu "
           "dead-lettered",
           stop_flag ? "stopped by signal" : ex ? "stopped" : "done",
           (unsigned long long)d.n_points, plural(d.n_points),
           (unsigned long long)d.n_requests, plural(d.n_requests),
           (double)(sp_clock_ms() - d.started) / 1000.0,
           (unsigned long long)d.n_dead);
    if (doubt_hits(d.doubt)) {
        /* Pending again now; the next drainer sends them once the
         * upload in doubt can no longer land (the landing record). */
        sp_log(SP_LOG_WARN,
               "%zu point%s acknowledged while an older value was in an "
               "upload of unknown outcome must be sent again: queued for "
               "the next drainer",
               doubt_hits(d.doubt), doubt_hits(d.doubt) == 1 ? "" : "s");
        settle_doubt(&d, INT64_MAX);
    }
    if (stop_flag) {
        ex = EXIT_OK; /* asked to stop: unacknowledged points stay */
    }
out:
    sp_upload_close(d.up);
    sp_journal_close(d.j);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    if (api_key) {
        explicit_bzero(api_key, strlen(api_key));
        free(api_key);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(d.slot); i++) {
        sp_batch_cleanup(&d.slot[i].b);
        free(d.slot[i].prefix.p);
    }
    doubt_free(d.doubt);
    free(d.body[0].p);
    free(d.body[1].p);
    free(d.scratch.p);
    return ex;
}
