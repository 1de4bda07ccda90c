/*
 * park.c -- upload groups upstream refuses as a whole (HTTP 404 on the
 * ingest endpoint: no stream found for the data stream token).  Such a
 * group is parked with a backoff of its own (full jitter from
 * upload.retry_base_ms up to upload.retry_max_ms, doubling with each
 * refusal in a row) while the other groups keep flowing; its points stay
 * pending.  Once its time is up the take offers it again; a 2xx unparks
 * it (DESIGN.md section 6), and so does a 400 or 422 for single points
 * (upstream found the stream, and refuses only some of its points).  The state lives in the journal
 * (journal_groups.c) so that status, streams and /metrics see it; this
 * file keeps the list of the groups it knows parked, for the log.
 *
 * A drainer that starts tries every parked group at once: a restart is
 * how an operator says "try now" (the count of refusals carries over).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain_int.h"

/* A step back of the wall clock larger than this is one (NTP's steps,
 * an operator's date): smaller ones are slews or noise. */
#define CLOCK_STEP_MS 2000

int64_t
dr_park_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The group of b for a log line: "****1234/Sum" (sp_group_name). */
static const char *
group_name(const struct sp_batch *b, char *out, size_t len)
{
    return sp_group_name(b->stream, b->agg, out, len);
}

static ptrdiff_t
find(const struct dr_drainer *d, int64_t grp)
{
    for (size_t i = 0; i < d->n_parked; i++) {
        if (d->parked[i] == grp) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

/* Remembers grp as parked; 0, or -1 when out of memory (the log then
 * misses its unparking, nothing else). */
static int
remember(struct dr_drainer *d, int64_t grp)
{
    if (find(d, grp) >= 0) {
        return 0;
    }
    if (d->n_parked == d->cap_parked) {
        size_t cap = d->cap_parked ? d->cap_parked * 2 : 8;
        int64_t *p = realloc(d->parked, cap * sizeof(*p));

        if (!p) {
            return -1;
        }
        d->parked = p;
        d->cap_parked = cap;
    }
    d->parked[d->n_parked++] = grp;
    return 0;
}

static ctspool_rc
remember_row(void *ctx, const struct sp_group_row *r)
{
    return remember(ctx, r->grp) == 0 ? CTSPOOL_OK : CTSPOOL_E_NOMEM;
}

void
dr_park_start(struct dr_drainer *d)
{
    uint64_t n = 0;

    if (sp_journal_groups(d->j, SP_GROUPS_PARKED, remember_row, d) !=
            CTSPOOL_OK ||
        d->n_parked == 0) {
        return;
    }
    if (sp_journal_groups_retry_now(d->j, &n) != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN,
               "cannot mark parked upload groups for a retry: %s",
               sp_journal_errmsg(d->j));
        return;
    }
    sp_log(SP_LOG_INFO,
           "%llu upload group%s parked by an earlier drainer: trying %s "
           "again now",
           (unsigned long long)n, n == 1 ? "" : "s",
           n == 1 ? "it" : "them");
}

void
dr_park(struct dr_drainer *d, const struct sp_batch *b,
        const struct dr_failure *f)
{
    const struct sp_config *cfg = d->cfg;
    char name[64], text[sizeof(f->reason) + sizeof(f->snippet) + 4];
    char reason[sizeof(f->snippet) + 64];
    int64_t failures = 0, wait;
    ctspool_rc rc;

    dr_failure_text(f, text, sizeof(text));
    dr_failure_note(d, f->status, text);
    if (f->status <= 0) {
        snprintf(reason, sizeof(reason), "%s", f->reason); /* local */
    } else {
        snprintf(reason, sizeof(reason), "%d %s: %s", f->status,
                 b->agg == SP_KIND_EVENTS ? "from the events endpoint"
                                          : "no stream found",
                 f->snippet[0] ? f->snippet : "(empty body)");
    }
    if (sp_journal_group_failures(d->j, b->grp, &failures) != CTSPOOL_OK) {
        failures = 0;
    }
    wait = sp_backoff_delay_ms(failures > 62 ? 62u : (unsigned)failures,
                               cfg->upload.retry_base_ms,
                               cfg->upload.retry_max_ms, sp_rand_splitmix64,
                               &d->rng);
    do {
        rc = sp_journal_group_park(d->j, b->grp, (int64_t)time(NULL),
                                   dr_park_now_ms() + wait, reason);
    } while (rc == CTSPOOL_E_BUSY && !dr_stop_flag);
    if (rc != CTSPOOL_OK) {
        /* Not parked: the next take offers it again, after the whole
         * drainer's backoff for the journal error. */
        sp_log(SP_LOG_ERROR, "cannot park upload group %s: %s",
               group_name(b, name, sizeof(name)), sp_journal_errmsg(d->j));
        return;
    }
    remember(d, b->grp);
    sp_log(SP_LOG_WARN,
           "group %s parked for %.1f s: %s (refusal %lld in a row; %s; "
           "its %s stay pending, the other groups go on)",
           group_name(b, name, sizeof(name)), (double)wait / 1000.0, reason,
           (long long)failures + 1,
           f->status < 0 ? "set upload.events_endpoint and restart the drainer"
           : b->agg == SP_KIND_EVENTS
               ? "upstream's events endpoint is not there: check "
                 "upload.events_endpoint"
               : "the data stream token is unknown upstream",
           b->agg == SP_KIND_EVENTS ? "events" : "points");
}

void
dr_park_clear(struct dr_drainer *d, const struct sp_batch *b, const char *why)
{
    ptrdiff_t i = find(d, b->grp);
    char name[64];
    int was = 0;
    ctspool_rc rc;

    if (i < 0) {
        return;
    }
    do {
        rc = sp_journal_group_unpark(d->j, b->grp, &was);
    } while (rc == CTSPOOL_E_BUSY && !dr_stop_flag);
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "cannot unpark upload group %s: %s",
               group_name(b, name, sizeof(name)), sp_journal_errmsg(d->j));
        return;
    }
    d->parked[i] = d->parked[--d->n_parked];
    sp_log(SP_LOG_INFO, "group %s unparked: %s",
           group_name(b, name, sizeof(name)), why);
}

int
dr_park_clock_stepped(struct dr_drainer *d)
{
    int64_t now = dr_park_now_ms(), last = d->park_clock_ms;
    uint64_t n = 0;

    d->park_clock_ms = now;
    if (!last || now >= last - CLOCK_STEP_MS) {
        return 0;
    }
    if (sp_journal_groups_retry_now(d->j, &n) != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN,
               "cannot mark parked upload groups for a retry: %s",
               sp_journal_errmsg(d->j));
        return 1;
    }
    sp_log(n ? SP_LOG_WARN : SP_LOG_INFO,
           "the wall clock stepped back %.0f s%s",
           (double)(last - now) / 1000.0,
           n ? ": parked upload groups are tried again now" : "");
    return 1;
}

int
dr_park_idle(struct dr_drainer *d, int64_t *due_ms)
{
    uint64_t n = 0;
    char where[512];

    *due_ms = -1;
    if (sp_journal_parked(d->j, dr_park_now_ms(), &n, due_ms) !=
        CTSPOOL_OK) {
        return 0;
    }
    if (n && !d->parked_all_said) {
        dr_mask_endpoint(d->cfg->upload.endpoint, where, sizeof(where));
        sp_log(SP_LOG_WARN,
               "every upload group with pending points is parked (%llu "
               "group%s; 'ctspool streams' says why); if upstream accepts "
               "no data stream token, check upload.endpoint %s",
               (unsigned long long)n, n == 1 ? "" : "s", where);
        d->parked_all_said = 1;
    }
    return n > 0;
}
