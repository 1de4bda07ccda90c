/*
 * handover.c -- the drainer's side of the landing record (landing.c):
 * announces each request there before it is sent, lowers the record
 * when nothing is in flight, and before the first upload waits out what
 * a previous drainer of the journal left in flight (drain.c invariant 5);
 * at start, after that same wait, makes pending what that drainer noted
 * to send again and could not (journal_resend.c: it died inside a doubt,
 * invariant 6); and when the journal is replaced under it, waits out its
 * own doubt before uploading from the fresh one (dr_handover_moved).
 */
#include <errno.h>
#include <string.h>

#include "drain_int.h"
#include "landing.h"

/* The landing record runs up to this far (and a quarter of its window
 * at most) ahead of what a request needs, so that a busy drainer syncs
 * it once per that long (landing.c), and its successor waits at most
 * that much longer than needed. */
#define LANDING_AHEAD_MS 10000

/* Makes the lock file say until (wall clock ms; 0: nothing may land),
 * with sync on disk before returning. */
static void
promise(struct dr_drainer *d, int64_t until, int sync)
{
    if (d->lock_fd < 0 || (until == d->landing_said &&
                           (!sync || until == d->landing_synced))) {
        return;
    }
    if (dr_landing_write(d->lock_fd, until, d->window_ms, sync) != 0) {
        if (!d->landing_warned) {
            sp_log(SP_LOG_WARN,
                   "cannot write the drainer lock file: %s; a drainer "
                   "started after this one may not wait for its last "
                   "request",
                   strerror(errno));
            d->landing_warned = 1;
        }
        d->landing_said = d->landing_synced = -1;
        return;
    }
    d->landing_said = until;
    d->landing_synced = sync ? until : -1;
}

/* A request is about to be sent (invariant 5). */
void
dr_handover_begin(struct dr_drainer *d)
{
    int64_t need = dr_landing_now_ms() + d->window_ms;
    int64_t ahead = d->window_ms / 4;

    if (ahead > LANDING_AHEAD_MS) {
        ahead = LANDING_AHEAD_MS;
    }
    if (d->landing_synced < need) {
        promise(d, need + ahead, 1);
    }
}

/* Nothing in flight (idle, or exiting): what may still land is what is
 * in doubt.  Until dr_handover_await() is done, the record is the last
 * drainer's and stays as it is. */
void
dr_handover_settle(struct dr_drainer *d)
{
    int64_t left = d->doubt_until - sp_clock_ms();

    if (!d->has_awaited) {
        return;
    }
    promise(d, left > 0 ? dr_landing_now_ms() + left : 0, 0);
}

/*
 * Before the first upload (not at start: a drainer with nothing to send
 * has nothing to wait for): waits until no request of an earlier drainer
 * of this journal can land any more, so that nothing delivered here can
 * be overwritten upstream by an older value (invariant 5).  Returns 0,
 * or -1 when a stop was requested meanwhile.
 */
int
dr_handover_await(struct dr_drainer *d)
{
    int64_t window, until = dr_landing_read(d->lock_fd, &window);
    int64_t wait = dr_landing_wait(until, window, dr_landing_now_ms());

    if (wait > 0) {
        sp_log(SP_LOG_WARN,
               "the previous drainer of this journal left an upload of "
               "unknown outcome that upstream may still apply; waiting "
               "%.1f s before uploading, so that it cannot overwrite a "
               "newer value",
               (double)wait / 1000.0);
        for (int64_t end = sp_clock_ms() + wait;
             !dr_stop_flag && sp_clock_ms() < end;) {
            if (dr_reload_flag) {
                dr_reload(d); /* nothing in flight yet */
            }
            dr_nap_ms(end - sp_clock_ms());
        }
        if (dr_stop_flag) {
            return -1; /* the record stays for the next drainer */
        }
    }
    promise(d, 0, 0);
    return 0;
}

/*
 * At start: points an earlier drainer noted to send again and could not
 * are something to upload even with nothing pending.  Waits as before
 * any first upload (nothing of that drainer can land after it), then
 * makes them pending.  A failure to read or re-queue them leaves the
 * notes for the next drainer (no loss: the points are delivered, maybe
 * with an older value upstream, as before notes existed).  0, or -1
 * when a stop was requested meanwhile (the notes stay).
 */
int
dr_handover_resend(struct dr_drainer *d)
{
    size_t notes = 0, done_n = 0;
    ctspool_rc rc;
    int any = 0;

    if (sp_journal_resend_noted(d->j, &any) != CTSPOOL_OK || !any) {
        return 0;
    }
    if (dr_handover_await(d) != 0) {
        return -1;
    }
    d->has_awaited = 1;
    JOURNAL_RETRY(rc, sp_journal_resend_all(d->j, &notes, &done_n));
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR,
               "cannot queue again the points the previous drainer noted "
               "to send again: %s",
               sp_journal_errmsg(d->j));
    } else if (notes) {
        sp_log(SP_LOG_INFO,
               "sending %zu point%s again: the previous drainer stopped "
               "before it could, after an upload of unknown outcome that "
               "could have overwritten their newer value upstream",
               done_n, done_n == 1 ? "" : "s");
    }
    return 0;
}

/*
 * The journal was moved aside as damaged and a fresh one started at its
 * path, by this drainer or by another process (sp_journal_gen() moved
 * on).  The in-doubt table names points by the old file's ids, which
 * name other points, or none, in the fresh one; and its requests may
 * still land upstream.  Salvage brings their points into the fresh file
 * at their newest values (the noted re-sends too).  So the table is
 * emptied, and nothing is uploaded until no request sent from the old
 * file can land any more (d->doubt_until): what is sent from the fresh
 * file then cannot be overwritten by one of them.  Journal work
 * (salvage, compaction) goes on meanwhile.  Returns 1 while that lasts.
 */
int
dr_handover_moved(struct dr_drainer *d)
{
    uint64_t gen = sp_journal_gen(d->j);
    int64_t now = sp_clock_ms();
    size_t n = dr_doubt_count(d->doubt);

    if (gen != d->journal_gen) {
        d->journal_gen = gen;
        dr_salvage_soon(d);
        if (d->doubt_until > now) {
            d->moved_hold_until = d->doubt_until;
            sp_log(SP_LOG_WARN,
                   "the journal was replaced while %zu point%s in doubt "
                   "(uploads of unknown outcome); uploading nothing from "
                   "the fresh journal for %.1f s, until none of them can "
                   "land upstream any more",
                   n, n == 1 ? " was" : "s were",
                   (double)(d->doubt_until - now) / 1000.0);
        }
        dr_doubt_clear(d->doubt);
    }
    return now < d->moved_hold_until;
}
