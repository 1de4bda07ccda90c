/*
 * deliver.c -- delivers the drainer's batches: one request at a time
 * (the next one built while the last is in flight), and what upstream
 * answered recorded in the journal -- acknowledged, split and dead
 * lettered, or left pending and, when its outcome is unknown, in doubt
 * (doubt.c).  The invariants are drain.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain_int.h"

/* A request size learned from a 413 holds this long. */
#define SPLIT_HOLD_MS ((int64_t)3600 * 1000)
#define CHAIN_MS 1000         /* dr_deliver_batch() goes on this long */
#define DOUBT_NAP_MS 100      /* in-doubt table full: looks this often */

/* ---- endpoints ------------------------------------------------------- */

/*
 * Aims the upload handle at the endpoint of b's group: upload.endpoint,
 * or for the events group upload.events_endpoint.  OK; E_NOTFOUND with
 * *f saying why when events have no endpoint (run() parks the group:
 * the points flow on); E_NOMEM.
 */
static ctspool_rc
aim(struct dr_drainer *d, const struct sp_batch *b, struct dr_failure *f)
{
    const char *url = d->cfg->upload.endpoint;

    if (b->agg == SP_KIND_EVENTS) {
        url = d->cfg->upload.events_endpoint;
        if (!url || !url[0]) {
            memset(f, 0, sizeof(*f));
            f->status = -1; /* nothing was sent: no request counted */
            f->retry_after_ms = -1;
            f->n_points = b->n;
            snprintf(f->reason, sizeof(f->reason),
                     "upload.events_endpoint is not set, and "
                     "upload.endpoint does not end in streams/ingest to "
                     "derive it from");
            return CTSPOOL_E_NOTFOUND;
        }
    }
    if (dr_upload_set_url(d->up, url) != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR, "out of memory setting the upload URL");
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

/*
 * A 404 from the events endpoint that says "no team found" concerns
 * single events: it is bisected like a 400 (DESIGN.md section 6), not
 * parked.  Any other 404 there (a wrong events path: "not found") says
 * nothing of the events, and parks the group like an unknown stream:
 * bisecting it would dead-letter every event.
 */
static ctspool_rc
events_404(const struct dr_drainer *d, const struct dr_upload_result *r,
           ctspool_rc rc)
{
    return rc == CTSPOOL_E_NOTFOUND && d->cur->b.agg == SP_KIND_EVENTS &&
                   r->body && strcasestr(r->body, "team")
               ? CTSPOOL_E_REJECTED
               : rc;
}

/* ---- journal updates ------------------------------------------------- */

void
dr_failure_note(struct dr_drainer *d, int status, const char *what)
{
    ctspool_rc rc = sp_journal_note_failure(d->j, status, what,
                                            (int64_t)time(NULL));

    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "cannot record the upload failure: %s",
               sp_journal_errmsg(d->j));
    }
}

void
dr_outage_begin(struct dr_drainer *d)
{
    if (!d->is_in_outage) {
        d->is_in_outage = 1;
        d->outage_since = sp_clock_ms();
    }
}

/* The first success after failed uploads: "recovered after N s". */
static void
outage_end(struct dr_drainer *d)
{
    struct sp_stats st;
    int64_t secs = (sp_clock_ms() - d->outage_since) / 1000;
    char waiting[48] = "";

    d->is_in_outage = 0;
    if (sp_journal_stats(d->j, &st) == CTSPOOL_OK) {
        snprintf(waiting, sizeof(waiting), ", %llu point%s waiting",
                 (unsigned long long)st.pending_points,
                 st.pending_points == 1 ? "" : "s");
    }
    sp_log(SP_LOG_INFO, "recovered after %lld s%s", (long long)secs,
           waiting);
}

/* Short text for status / last_upload_error: "HTTP 503: {...}". */
void
dr_failure_text(const struct dr_failure *f, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", f->reason, f->snippet[0] ? ": " : "",
             f->snippet);
}

static void
fill_failure(struct dr_drainer *d, const struct dr_upload_result *r,
             size_t n_points, struct dr_failure *f)
{
    f->status = r->status;
    f->retry_after_ms = r->retry_after_ms;
    f->n_points = n_points;
    snprintf(f->reason, sizeof(f->reason), "%s", r->reason);
    dr_mask_snippet(dr_mask_body(d, r->body, r->body_len), f->snippet,
                    sizeof(f->snippet));
}

static ctspool_rc
dead_letter(struct dr_drainer *d, size_t idx, const struct dr_upload_result *r)
{
    const struct sp_batch_point *bp = &d->cur->b.pts[idx];
    const char *body = dr_mask_body(d, r->body, r->body_len);
    char name[DR_LOG_BODY_MAX * 4 + 8], snip[DR_LOG_BODY_MAX * 4 + 8];
    char hour[24], text[sizeof(name) + sizeof(snip) + 80];
    ctspool_rc rc;

    sp_hour_format(bp->hour, hour, sizeof(hour));
    dr_mask_snippet(bp->name, name, sizeof(name));
    dr_mask_snippet(body, snip, sizeof(snip));
    /* The last upload error too, as for any refusal (the request is
     * counted once), in the dead letter's own transaction. */
    snprintf(text, sizeof(text),
             "HTTP %d: metric \"%s\" at %s refused alone, dead-lettered: %s",
             r->status, name, hour, snip[0] ? snip : "(empty body)");
    JOURNAL_RETRY(rc, sp_journal_dead_noted(d->j, &d->cur->b, &idx, 1,
                                            r->status, body,
                                            (int64_t)time(NULL), text));
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR, "cannot dead-letter a point: %s",
               sp_journal_errmsg(d->j));
        return rc;
    }
    sp_log(SP_LOG_WARN,
           "dead letter: upstream refuses metric \"%s\" at %s alone "
           "(HTTP %d): %s",
           name, hour, r->status, snip[0] ? snip : "(empty body)");
    d->n_dead++;
    d->win_dead++;
    return CTSPOOL_OK;
}

/* ---- delivery -------------------------------------------------------- */

/* A request started at since (sp_clock_ms) ended with r: its duration
 * for the latency histogram (journal_drain.c), unless a stop aborted
 * it. */
static void
note_time(struct dr_drainer *d, const struct dr_upload_result *r,
          int64_t since)
{
    if (!r->is_aborted) {
        sp_journal_note_upload_time(d->j, sp_clock_ms() - since);
    }
}

static size_t
request_cap(struct dr_drainer *d)
{
    if (d->req_max_until && sp_clock_ms() >= d->req_max_until) {
        d->req_max_points = (size_t)d->cfg->upload.batch_max_points;
        d->req_max_until = 0;
        sp_log(SP_LOG_INFO, "back to requests of up to %zu points",
               d->req_max_points);
    }
    return dr_pace_cap(d, d->req_max_points);
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/*
 * The points of b->pts[from .. from+k) whose ack makes them hits of the
 * in-doubt table, into d->hits; *n := how many.  -1: out of memory.
 */
static int
collect_hits(struct dr_drainer *d, const struct sp_batch *b, size_t from,
             size_t k, size_t *n)
{
    *n = 0;
    if (!dr_doubt_count(d->doubt)) {
        return 0;
    }
    for (size_t i = from; i < from + k; i++) {
        const struct sp_batch_point *p = &b->pts[i];

        if (!dr_doubt_would_hit(d->doubt, p->hour, p->series, p->value)) {
            continue;
        }
        if (*n == d->hits_cap) {
            size_t cap = d->hits_cap ? 2 * d->hits_cap : 64;
            int64_t(*nh)[2] = realloc(d->hits, cap * sizeof(*nh));

            if (!nh) {
                return -1;
            }
            d->hits = nh;
            d->hits_cap = cap;
        }
        d->hits[*n][0] = p->hour;
        d->hits[*n][1] = p->series;
        (*n)++;
    }
    return 0;
}

/*
 * Keeps the acknowledgement of b->pts[from .. from+k) that the journal
 * could not record (a full disk, an I/O error, a lock held too long), to
 * record it before anything more is uploaded (dr_deliver_owed()):
 * upstream holds those points, and sending them again each time round
 * would repeat what it has while the disk stays full.  0, or -1 when
 * there is no memory for it (the points are then sent again).
 */
static int
owe(struct dr_drainer *d, const struct sp_batch *b, size_t from, size_t k)
{
    struct sp_batch *o = &d->owed;
    struct sp_batch_point *pts;

    if (b == o) {
        return 0; /* owed already */
    }
    sp_batch_cleanup(o);
    pts = malloc(k * sizeof(*pts));
    o->stream = b->stream ? strdup(b->stream) : NULL;
    if (!pts || (b->stream && !o->stream)) {
        free(pts);
        sp_batch_cleanup(o);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        pts[i] = b->pts[from + i];
        pts[i].name = pts[i].dims = NULL; /* in b's arena */
    }
    o->gen = b->gen;
    o->grp = b->grp;
    o->agg = b->agg;
    o->pts = pts;
    o->n = o->cap = k;
    return 0;
}

/*
 * Marks b->pts[from .. from+k) acknowledged after a 2xx (invariant 1).
 * Those acknowledged while another value of theirs is in doubt are
 * noted in the journal in the same transaction, so that they are sent
 * again even if this drainer dies before their doubt expires
 * (journal_resend.c, invariant 6).
 */
static ctspool_rc
acknowledge(struct dr_drainer *d, const struct sp_batch *b, size_t from,
            size_t k)
{
    size_t acked = 0, n_hits;
    ctspool_rc rc;

    if (collect_hits(d, b, from, k, &n_hits) != 0) {
        sp_log(SP_LOG_ERROR,
               "upstream took %zu points but there is no memory to record "
               "it (they will be sent again)",
               k);
        return CTSPOOL_E_NOMEM;
    }
    JOURNAL_RETRY(rc, sp_journal_ack_resend(
                          d->j, b, from, k, (int64_t)time(NULL),
                          (const int64_t(*)[2])d->hits, n_hits, &acked));
    if (rc != CTSPOOL_OK) {
        int kept = (rc == CTSPOOL_E_DISKFULL || rc == CTSPOOL_E_IO ||
                    rc == CTSPOOL_E_BUSY) &&
                   owe(d, b, from, k) == 0;

        sp_log(SP_LOG_ERROR,
               "upstream took %zu points but the journal cannot record "
               "it (%s): %s",
               k,
               kept ? "recorded again before anything more is uploaded"
                    : "they will be sent again",
               sp_journal_errmsg(d->j));
        return rc;
    }
    if (n_hits) {
        for (size_t i = from; i < from + k; i++) {
            dr_doubt_acked(d->doubt, b->pts[i].hour, b->pts[i].series,
                           b->pts[i].value);
        }
    }
    sp_log(SP_LOG_DEBUG,
           "%zu points taken upstream, %zu marked acknowledged (the others "
           "changed meanwhile and stay pending)",
           k, acked);
    dr_park_clear(d, b, "upstream took its points");
    d->n_points += k;
    d->win_points += k;
    d->attempt = 0;
    if (d->is_in_outage) {
        outage_end(d);
    }
    return CTSPOOL_OK;
}

ctspool_rc
dr_deliver_owed(struct dr_drainer *d)
{
    size_t k = d->owed.n;
    ctspool_rc rc;

    if (!k) {
        return CTSPOOL_OK;
    }
    rc = acknowledge(d, &d->owed, 0, k);
    if (rc == CTSPOOL_OK) {
        sp_log(SP_LOG_INFO,
               "recorded the acknowledgement of %zu point%s upstream took "
               "before the journal could write",
               k, k == 1 ? "" : "s");
        sp_batch_cleanup(&d->owed);
    }
    return rc;
}

static ctspool_rc deliver(struct dr_drainer *d, size_t from, size_t n,
                          struct dr_failure *f);

/* Upstream answered 415 to a compressed body: from now on they go as
 * they are (upload.c), and the request goes again at once.  Said once:
 * it can happen once. */
static void
gzip_refused(struct dr_drainer *d)
{
    sp_log(SP_LOG_WARN,
           "upstream refuses gzip-compressed request bodies (HTTP 415): "
           "sending them uncompressed from now on; set upload.compress = "
           "\"none\" to stop trying");
    /* A request upstream answered: counted with the 4xx (status). */
    dr_failure_note(d, 415, "HTTP 415: gzip-compressed bodies refused; "
                            "sending them uncompressed");
}

/*
 * Points read from the journal at once: one request's worth, so that
 * the read of the next batch fits in the time one request is in flight.
 * Paced (upload.max_points_per_s), a request carries at most a second's
 * worth (pace.c): a batch is no larger, so that a group's turn is one
 * request, not a batch sent in several paced ones while the other
 * groups wait (DESIGN.md section 6: no group holds back another).
 */
size_t
dr_deliver_take_size(const struct sp_config *cfg)
{
    long rate = cfg->upload.max_points_per_s;

    if (rate > 0 && rate < cfg->upload.batch_max_points) {
        return (size_t)rate;
    }
    return (size_t)cfg->upload.batch_max_points;
}

/*
 * A batch's points may all go into doubt (one failed request), and no
 * entry of the table may be forgotten: a batch is taken only when they
 * fit (doubt.c).
 */
int
dr_deliver_may_take(const struct dr_drainer *d)
{
    return dr_doubt_has_room(d->doubt, dr_deliver_take_size(d->cfg));
}

/*
 * A request of b.pts[from .. from+k) failed without a clear refusal (no
 * answer after its body went out, or 5xx): upstream may still apply it
 * later, so its points are in doubt for the grace period (doubt.c).
 */
static void
doubt_request(struct dr_drainer *d, size_t from, size_t k,
              const struct dr_upload_result *r)
{
    int64_t deadline = sp_clock_ms() + d->doubt_grace_ms;

    if ((r->status != 0 && r->status < 500) || r->is_unsent) {
        return; /* refused, or never sent whole: nothing was applied */
    }
    if (deadline > d->doubt_until) {
        d->doubt_until = deadline;
    }
    for (size_t i = from; i < from + k; i++) {
        dr_doubt_add(d->doubt, d->cur->b.pts[i].hour, d->cur->b.pts[i].series,
                     d->cur->b.pts[i].value, deadline);
    }
}

/*
 * Points acknowledged with a newer value while an older one was in
 * doubt are made pending again once the doubt expires, so the newest
 * value is the last one upstream gets.
 */
void
dr_deliver_settle_doubt(struct dr_drainer *d, int64_t now)
{
    int64_t keys[256][2];
    size_t n, total = 0;
    ctspool_rc rc;

    while ((n = dr_doubt_expire(d->doubt, now, keys, SP_ARRAY_LEN(keys))) > 0) {
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
 * The in-doubt table has no room for another batch: waits until its
 * oldest entries expire (run() settles them), without taking anything,
 * so that no point in doubt is forgotten (doubt.c).
 */
void
dr_deliver_doubt_wait(struct dr_drainer *d)
{
    int64_t due = dr_doubt_next_deadline(d->doubt);
    int64_t wait = due < 0 ? DOUBT_NAP_MS : due - sp_clock_ms();

    if (!d->doubt_full_said) {
        sp_log(SP_LOG_WARN,
               "%zu points are in doubt (uploads of unknown outcome), as "
               "many as this drainer keeps track of: no new uploads until "
               "the oldest of them expire in %.1f s",
               dr_doubt_count(d->doubt), (double)(wait > 0 ? wait : 0) /
                                             1000.0);
        d->doubt_full_said = 1;
    }
    dr_handover_settle(d);
    if (wait > 0) {
        dr_nap_ms(wait);
    }
}

/* Records the number of points in doubt for status, when it changed. */
void
dr_deliver_note_doubt(struct dr_drainer *d)
{
    uint64_t n = dr_doubt_count(d->doubt);

    if (n != d->doubt_noted &&
        sp_journal_note_doubt(d->j, n) == CTSPOOL_OK) {
        d->doubt_noted = n;
    }
    if (d->doubt_full_said && dr_deliver_may_take(d)) {
        sp_log(SP_LOG_INFO, "%llu points in doubt: uploading again",
               (unsigned long long)n);
        d->doubt_full_said = 0;
    }
    if (dr_doubt_dropped(d->doubt) != d->doubt_dropped_said) {
        d->doubt_dropped_said = dr_doubt_dropped(d->doubt);
        sp_log(SP_LOG_ERROR,
               "out of memory: %llu points of uploads of unknown outcome "
               "are not tracked; a late request may overwrite a newer "
               "value of them upstream",
               (unsigned long long)d->doubt_dropped_said);
    }
}

static ctspool_rc split_413(struct dr_drainer *d, size_t from, size_t k,
                            struct dr_failure *f);

/*
 * Acts on a 400/413/422 for the request of b.pts[from .. from+k): a lone
 * point becomes a dead letter, more are split in halves and delivered
 * (invariant 2).  Returns what deliver() returns.
 */
static ctspool_rc
settle_refused(struct dr_drainer *d, size_t from, size_t k,
               const struct dr_upload_result *r, struct dr_failure *f)
{
    char text[sizeof(f->reason) + sizeof(f->snippet) + 4];
    size_t half = k / 2;
    ctspool_rc rc;

    if (r->status != 413) {
        dr_park_clear(d, &d->cur->b,
                      "upstream knows its stream (it refuses single points)");
    }
    if (k == 1) {
        d->n_lone_413 += r->status == 413;
        return dead_letter(d, from, r);
    }
    fill_failure(d, r, k, f);
    dr_failure_text(f, text, sizeof(text));
    sp_log(SP_LOG_WARN,
           "upstream refuses a request of %zu points (%s); splitting it "
           "to isolate the cause",
           k, text);
    dr_failure_note(d, r->status, text);
    if (r->status != 413) {
        rc = deliver(d, from, half, f);
        return rc == CTSPOOL_OK ? deliver(d, from + half, k - half, f) : rc;
    }
    return split_413(d, from, k, f);
}

/*
 * A 413 for the request of b.pts[from .. from+k), k > 1: halves, and at
 * most half as many points per request for an hour.  When the halves
 * all went through but for one point too large alone (now a dead
 * letter), that point was the cause, not the request's size: the size
 * from before is back (a request too large after all says so again).
 */
static ctspool_rc
split_413(struct dr_drainer *d, size_t from, size_t k, struct dr_failure *f)
{
    size_t half = k / 2, cap0 = d->req_max_points;
    int64_t until0 = d->req_max_until;
    uint64_t lone0 = d->n_lone_413;
    ctspool_rc rc;

    d->req_max_points = half;
    d->req_max_until = sp_clock_ms() + SPLIT_HOLD_MS;
    sp_log(SP_LOG_INFO,
           "sending at most %zu points per request for the next hour "
           "(HTTP 413)",
           half);
    rc = deliver(d, from, half, f);
    if (rc == CTSPOOL_OK) {
        rc = deliver(d, from + half, k - half, f);
    }
    if (rc == CTSPOOL_OK && d->n_lone_413 > lone0 && d->req_max_points < cap0) {
        d->req_max_points = cap0;
        d->req_max_until = until0;
        sp_log(SP_LOG_INFO,
               "back to requests of up to %zu points: the 413 was a "
               "single point too large (dead-lettered), not the request's "
               "size",
               cap0);
    }
    return rc;
}

/*
 * A request of d->cur's group is about to go out: the handover sees it
 * (handover.c), and run()'s round robin goes on after its group even if
 * dr_deliver_batch() returns before the next one.  Returns when it
 * started (monotonic ms).
 */
static int64_t
going_out(struct dr_drainer *d)
{
    dr_handover_begin(d);
    d->sent_grp = d->cur->b.grp;
    return sp_clock_ms();
}

/*
 * deliver -- uploads b.pts[from .. from+n), one request at a time, in as
 * many requests as batch_max_bytes, the learned 413 size and pacing
 * allow; a reload asked for meanwhile is done between two requests
 * (d->cfg changes).  Returns OK when the whole range is acknowledged or dead (or a stop was
 * requested), E_TRANSIENT, E_AUTH or E_NOTFOUND (404: the group is
 * refused) with *f filled when a request failed otherwise (what was
 * already acknowledged stays so), or a journal error.
 */
static ctspool_rc
deliver(struct dr_drainer *d, size_t from, size_t n, struct dr_failure *f)
{
    size_t pos = from, end = from + n;
    ctspool_rc rc = CTSPOOL_OK;

    while (pos < end && !dr_stop_flag) {
        struct dr_upload_result r;
        struct sp_buf *body = &d->body[0];
        size_t k = 0;
        int64_t started;
        int pace;

        rc = dr_body_build(d, d->cur, body, pos,
                           min_size(end - pos, request_cap(d)), &k);
        if (rc != CTSPOOL_OK) {
            sp_log(SP_LOG_ERROR, "out of memory building a request");
            return rc;
        }
        pace = dr_pace_wait(d, k);
        if (pace < 0) {
            break; /* stopped: the rest stays pending */
        }
        if (pace > 0) {
            dr_reload(d); /* nothing in flight; build it again */
            continue;
        }
        rc = aim(d, &d->cur->b, f);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        started = going_out(d);
        rc = dr_upload_post(d->up, body->p, body->len, &r);
        rc = events_404(d, &r, rc);
        note_time(d, &r, started);
        d->n_requests++;
        d->win_requests++;
        if (r.is_gzip_refused) {
            gzip_refused(d);
            continue; /* the same points again, uncompressed */
        }
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
 * cur->b.pts[.. end), which ends the current batch: the next group's
 * turn (round robin; the same group when it is the only one).  Returns
 * that slot, or NULL when nothing else is pending, the in-doubt table
 * has no room for it, or the journal was replaced (dr_handover_moved()
 * sees to that first).  A failed read only means no batch is taken ahead
 * (run() takes again and reports it).
 */
static struct dr_slot *
take_ahead(struct dr_drainer *d, size_t end)
{
    struct dr_slot *o = d->cur == &d->slot[0] ? &d->slot[1] : &d->slot[0];
    struct sp_take_from from = {d->cur->b.grp, d->cur->b.pts[end - 1].seq,
                                dr_park_now_ms()};

    if (!dr_deliver_may_take(d) ||
        sp_journal_take_next(d->j, dr_deliver_take_size(d->cfg), &from,
                             &o->b) != CTSPOOL_OK ||
        o->b.n == 0 || o->b.gen != d->journal_gen ||
        dr_body_prefix(o) != CTSPOOL_OK) {
        return NULL;
    }
    return o;
}

/*
 * dr_deliver_batch -- uploads the current batch like deliver(), but while
 * one request is in flight the previous one is acknowledged and the next
 * one built -- once the batch is used up, from the next batch, taken
 * from the journal meanwhile -- so journal work overlaps the network and
 * upstream.  At most one request is in flight: a newer value taken
 * meanwhile is never sent before the answer to an older one, and a
 * request is only acknowledged after its 2xx.  From the first answer
 * that is not a 2xx on, the rest of that batch goes the one-at-a-time
 * way of deliver() (split, bisect, failure) and a batch taken ahead is
 * dropped.  Returns after about CHAIN_MS, for run()'s housekeeping, and
 * before the next request when a stop or a reload is requested.
 */
ctspool_rc
dr_deliver_batch(struct dr_drainer *d, struct dr_failure *f)
{
    const struct sp_batch *done_b = NULL;
    size_t pos, fl_from = 0, fl_k = 0, done_from = 0, done_k = 0, next_k;
    int cur = 0; /* d->body[cur] is the request in flight */
    int64_t until = sp_clock_ms() + CHAIN_MS;
    int64_t started = sp_clock_ms(); /* of the request in flight */
    ctspool_rc rc;

    if (dr_stop_flag) {
        return CTSPOOL_OK;
    }
    rc = dr_body_build(d, d->cur, &d->body[cur], 0,
                       min_size(d->cur->b.n, request_cap(d)), &fl_k);
    if (rc == CTSPOOL_OK && dr_pace_wait(d, fl_k) != 0) {
        return CTSPOOL_OK; /* stopped or reloading (run() does it) */
    }
    if (rc == CTSPOOL_OK) {
        rc = aim(d, &d->cur->b, f);
        if (rc == CTSPOOL_E_NOTFOUND) {
            return rc;
        }
    }
    if (rc == CTSPOOL_OK) {
        started = going_out(d);
        rc = dr_upload_start(d->up, d->body[cur].p, d->body[cur].len);
    }
    if (rc != CTSPOOL_OK) {
        return deliver(d, 0, d->cur->b.n, f);
    }
    pos = fl_k;
    for (;;) {
        struct dr_upload_result r;
        struct dr_slot *next = NULL; /* set: the next request starts it */
        ctspool_rc work = CTSPOOL_OK;

        /* Meanwhile: acknowledge the previous request, build the next. */
        if (done_k) {
            work = acknowledge(d, done_b, done_from, done_k);
        }
        next_k = 0;
        if (work == CTSPOOL_OK && !dr_stop_flag) {
            if (pos < d->cur->b.n) {
                work = dr_body_build(d, d->cur, &d->body[!cur], pos,
                                     min_size(d->cur->b.n - pos,
                                              request_cap(d)),
                                     &next_k);
            } else if (sp_clock_ms() < until) {
                next = take_ahead(d, pos);
                if (next) {
                    work = dr_body_build(d, next, &d->body[!cur], 0,
                                         min_size(next->b.n, request_cap(d)),
                                         &next_k);
                }
            }
        }
        rc = dr_upload_finish(d->up, &r);
        rc = events_404(d, &r, rc);
        note_time(d, &r, started);
        d->n_requests++;
        d->win_requests++;
        if (rc != CTSPOOL_OK && rc != CTSPOOL_E_REJECTED) {
            doubt_request(d, fl_from, fl_k, &r);
        }
        if (work != CTSPOOL_OK) {
            return work; /* this answer is dropped: re-sent later */
        }
        if (r.is_gzip_refused) {
            gzip_refused(d);
            return deliver(d, fl_from, d->cur->b.n - fl_from, f);
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
        if (dr_pace_wait(d, next_k) != 0) {
            break; /* stopped or reloading: the next one is taken again */
        }
        rc = aim(d, &d->cur->b, f);
        if (rc == CTSPOOL_OK) {
            started = going_out(d);
            rc = dr_upload_start(d->up, d->body[cur].p, d->body[cur].len);
        }
        if (rc != CTSPOOL_OK) {
            ctspool_rc why = rc;

            rc = acknowledge(d, done_b, done_from, done_k);
            if (rc != CTSPOOL_OK || why == CTSPOOL_E_NOTFOUND) {
                return rc != CTSPOOL_OK ? rc : why;
            }
            return deliver(d, pos, d->cur->b.n - pos, f);
        }
        fl_from = pos;
        fl_k = next_k;
        pos += next_k;
    }
    return acknowledge(d, done_b, done_from, done_k);
}
