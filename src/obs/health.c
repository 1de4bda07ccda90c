/*
 * health.c -- GET /healthz/upstream: is what the journal holds being
 * delivered?  503 when the oldest pending point has waited longer than
 * health.max_undelivered_s since it was stored, when an upload group is
 * parked (upstream answered 404 for its data stream token), or when the
 * journal cannot be read; else 200.  The body is always one JSON object
 * of the same shape:
 *
 *   {"status": "ok" | "unhealthy", "reasons": ["..."],
 *    "oldest_pending_age_s": N | null, "max_undelivered_s": N,
 *    "parked_groups": [{"kind": "points", "stream": "****abcd",
 *                       "metric_agg_func": "Sum", "pending": N,
 *                       "since": "...Z", "reason": "..."}]}
 *
 * (the events group: "kind": "events", stream and metric_agg_func null).
 *
 * Serve and the drainer answer it alike.  It reads the journal through
 * stats.c's connection: the statistics /metrics caches (at most a
 * second old) and, only when some group is parked, the parked groups;
 * read transactions that never wait for a writer.  Data stream tokens are shown masked (last 4 characters).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "obs.h"

/* What the answer says, gathered before it is written. */
struct upstream {
    struct sp_buf reasons; /* JSON strings, ", "-separated */
    struct sp_buf groups;  /* JSON objects, ", "-separated */
    size_t n_reasons;
    size_t n_groups;
};

static void
add_reason(struct upstream *u, const char *msg)
{
    sp_buf_adds(&u->reasons, u->n_reasons++ ? ", " : "");
    ob_buf_add_json(&u->reasons, msg, strlen(msg));
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t < 0 || !gmtime_r(&tt, &tm) ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, len, "unknown");
    }
}

/* sp_journal_groups callback: one parked group, a reason of its own. */
static ctspool_rc
parked_group(void *ctx, const struct sp_group_row *g)
{
    struct upstream *u = ctx;
    char mask[32], since[32], name[64], msg[768];
    const char *agg = sp_agg_name(g->agg);
    int is_events = g->agg == SP_KIND_EVENTS || !agg;

    if (g->pending == 0) {
        return CTSPOOL_OK; /* nothing held back */
    }
    sp_mask(g->stream, mask, sizeof(mask));
    fmt_time(g->parked_since, since, sizeof(since));
    sp_group_name(g->stream, g->agg, name, sizeof(name));
    snprintf(msg, sizeof(msg),
             "upload group %s is parked since %s with %llu %s%s pending: %s",
             name,
             since, (unsigned long long)g->pending,
             is_events ? "event" : "point", g->pending == 1 ? "" : "s",
             g->reason);
    add_reason(u, msg);
    sp_buf_adds(&u->groups, u->n_groups++ ? ", " : "");
    if (is_events) {
        sp_buf_adds(&u->groups, "{\"kind\": \"events\", \"stream\": null, "
                                "\"metric_agg_func\": null");
    } else {
        sp_buf_adds(&u->groups, "{\"kind\": \"points\", \"stream\": ");
        ob_buf_add_json(&u->groups, mask, strlen(mask));
        sp_buf_adds(&u->groups, ", \"metric_agg_func\": ");
        ob_buf_add_json(&u->groups, agg, strlen(agg));
    }
    sp_buf_addf(&u->groups, ", \"pending\": %llu, \"since\": \"%s\", "
                "\"reason\": ",
                (unsigned long long)g->pending, since);
    ob_buf_add_json(&u->groups, g->reason, strlen(g->reason));
    sp_buf_adds(&u->groups, "}");
    return CTSPOOL_OK;
}

void
ob_health_upstream(struct ob_stats *m, long max_undelivered_s,
                   struct sp_buf *b, unsigned *code)
{
    struct upstream u;
    struct sp_stats st;
    char msg[640], why[512];
    int64_t now = (int64_t)time(NULL);
    int64_t age = -1;
    ctspool_rc rc;

    memset(&u, 0, sizeof(u));
    sp_buf_init(&u.reasons);
    sp_buf_init(&u.groups);
    rc = ob_stats_read(m, &st);
    if (rc != CTSPOOL_OK) {
        snprintf(msg, sizeof(msg), "cannot read the journal: %s",
                 ctspool_strerror(rc));
        add_reason(&u, msg);
    } else {
        if (st.oldest_pending_at >= 0) {
            age = now > st.oldest_pending_at ? now - st.oldest_pending_at
                                             : 0;
        }
        if (age > max_undelivered_s) {
            snprintf(msg, sizeof(msg),
                     "the oldest pending point has waited %lld s since it "
                     "was stored (upload group %s), longer than "
                     "health.max_undelivered_s (%ld s)",
                     (long long)age, st.oldest_pending_group,
                     max_undelivered_s);
            add_reason(&u, msg);
        }
        if (st.parked_groups > 0 &&
            ob_stats_parked(m, parked_group, &u, why, sizeof(why)) !=
                CTSPOOL_OK) {
            snprintf(msg, sizeof(msg),
                     "cannot read the parked upload groups: %s", why);
            add_reason(&u, msg);
        }
    }
    *code = u.n_reasons ? 503 : 200;
    sp_buf_addf(b, "{\"status\": \"%s\", \"reasons\": [",
                u.n_reasons ? "unhealthy" : "ok");
    sp_buf_add(b, u.reasons.p ? u.reasons.p : "", u.reasons.len);
    if (age >= 0) {
        sp_buf_addf(b, "], \"oldest_pending_age_s\": %lld",
                    (long long)age);
    } else {
        sp_buf_adds(b, "], \"oldest_pending_age_s\": null");
    }
    sp_buf_addf(b, ", \"max_undelivered_s\": %ld, \"parked_groups\": [",
                max_undelivered_s);
    sp_buf_add(b, u.groups.p ? u.groups.p : "", u.groups.len);
    sp_buf_adds(b, "]}\n");
    if (u.reasons.has_failed || u.groups.has_failed) {
        b->has_failed = 1; /* out of memory: the answer is incomplete */
    }
    sp_buf_cleanup(&u.reasons);
    sp_buf_cleanup(&u.groups);
}
