/*
 * stats.c -- the journal's part of /metrics, for serve and the drainer
 * alike, in the Prometheus text exposition format (version 0.0.4): the
 * journal statistics, read on a connection of their own at most once a
 * second however often anyone scrapes; the pending points of each
 * upload group, read at most every GROUPS_TTL_MS (a count over the
 * queue); the upload latency histogram the drainer keeps in the journal
 * (schema 0004).  health.c asks the same connection its questions.
 *
 * Per-group series are bounded: the first OB_GROUPS_MAX label sets (in
 * group id order, stable from scrape to scrape) have a series each, the
 * pending points of all other groups are summed in one series with
 * stream="other" and agg="other".  The stream label is the masked token
 * (its last 4 characters); groups whose labels coincide are summed.
 * Those series have kind="points"; the events group has a series of its
 * own, kind="events" without stream or agg, outside that bound.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs.h"

#define STATS_TTL_MS 1000
#define GROUPS_TTL_MS 10000

/* One per-group series. */
struct group_series {
    char stream[40]; /* masked */
    char agg[16];
    uint64_t pending;
};

struct ob_stats {
    pthread_mutex_t lock; /* guards everything below */
    struct sp_journal *ro;
    struct sp_stats st;
    ctspool_rc st_rc;
    int64_t st_at_ms; /* when st was read; 0: never */
    struct group_series groups[OB_GROUPS_MAX];
    size_t n_groups;
    uint64_t other_pending;  /* groups past OB_GROUPS_MAX */
    int has_other;
    uint64_t events_pending; /* the events group's */
    int has_events;
    ctspool_rc groups_rc;
    int64_t groups_at_ms; /* 0: never */
};

ctspool_rc
ob_stats_new(struct sp_journal *ro, struct ob_stats **out)
{
    struct ob_stats *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (!m) {
        sp_journal_close(ro);
        return CTSPOOL_E_NOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->ro = ro;
    *out = m;
    return CTSPOOL_OK;
}

void
ob_stats_free(struct ob_stats *m)
{
    if (!m) {
        return;
    }
    sp_journal_close(m->ro);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

ctspool_rc
ob_stats_read(struct ob_stats *m, struct sp_stats *st)
{
    int64_t now = sp_clock_ms();
    ctspool_rc rc;

    pthread_mutex_lock(&m->lock);
    if (!m->st_at_ms || now - m->st_at_ms >= STATS_TTL_MS) {
        m->st_rc = sp_journal_stats(m->ro, &m->st);
        m->st_at_ms = now;
        if (m->st_rc != CTSPOOL_OK) {
            sp_log(SP_LOG_WARN, "metrics: cannot read journal statistics: %s",
                   sp_journal_errmsg(m->ro));
        }
    }
    *st = m->st;
    rc = m->st_rc;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

ctspool_rc
ob_stats_parked(struct ob_stats *m, sp_group_cb cb, void *ctx, char *why,
                size_t why_len)
{
    ctspool_rc rc;

    pthread_mutex_lock(&m->lock);
    rc = sp_journal_groups(m->ro, SP_GROUPS_PARKED, cb, ctx);
    if (rc != CTSPOOL_OK) {
        snprintf(why, why_len, "%s", sp_journal_errmsg(m->ro));
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* sp_journal_groups callback: one group into m's series (under lock). */
static ctspool_rc
add_group(void *ctx, const struct sp_group_row *g)
{
    struct ob_stats *m = ctx;
    char mask[40];
    const char *agg = sp_agg_name(g->agg);
    struct group_series *s;

    if (g->agg == SP_KIND_EVENTS || !agg) {
        m->events_pending += g->pending;
        m->has_events = 1;
        return CTSPOOL_OK;
    }
    sp_mask(g->stream, mask, sizeof(mask));
    for (size_t i = 0; i < m->n_groups; i++) {
        s = &m->groups[i];
        if (strcmp(s->stream, mask) == 0 && strcmp(s->agg, agg) == 0) {
            s->pending += g->pending;
            return CTSPOOL_OK;
        }
    }
    if (m->n_groups == OB_GROUPS_MAX) {
        m->other_pending += g->pending;
        m->has_other = 1;
        return CTSPOOL_OK;
    }
    s = &m->groups[m->n_groups++];
    snprintf(s->stream, sizeof(s->stream), "%s", mask);
    snprintf(s->agg, sizeof(s->agg), "%s", agg);
    s->pending = g->pending;
    return CTSPOOL_OK;
}

/* Refreshes the per-group series when older than GROUPS_TTL_MS (under
 * lock). */
static void
refresh_groups(struct ob_stats *m)
{
    int64_t now = sp_clock_ms();

    if (m->groups_at_ms && now - m->groups_at_ms < GROUPS_TTL_MS) {
        return;
    }
    m->n_groups = 0;
    m->other_pending = 0;
    m->has_other = 0;
    m->events_pending = 0;
    m->has_events = 0;
    m->groups_rc = sp_journal_groups(m->ro, SP_GROUPS_PENDING, add_group, m);
    m->groups_at_ms = now;
    if (m->groups_rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "metrics: cannot read the upload groups: %s",
               sp_journal_errmsg(m->ro));
    }
}

void
ob_family(struct sp_buf *b, const char *name, const char *type,
          const char *help)
{
    sp_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metric_u64(struct sp_buf *b, const char *name, const char *type,
           const char *help, uint64_t v)
{
    ob_family(b, name, type, help);
    sp_buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value: \, " and newline escaped as the text format says. */
static void
label_value(struct sp_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            sp_buf_addf(b, "\\%c", *s);
        } else if (*s == '\n') {
            sp_buf_adds(b, "\\n");
        } else {
            sp_buf_add(b, s, 1);
        }
    }
}

static void
group_metrics(struct ob_stats *m, struct sp_buf *b)
{
    pthread_mutex_lock(&m->lock);
    refresh_groups(m);
    if (m->groups_rc == CTSPOOL_OK) {
        ob_family(b, "ctspool_group_pending", "gauge",
                  "Pending items of an upload group: kind=\"points\" "
                  "(data stream token masked, aggregation function; "
                  "groups past the first 50 are summed in "
                  "stream=\"other\") or the events group, "
                  "kind=\"events\".");
        if (m->has_events) {
            sp_buf_addf(b, "ctspool_group_pending{kind=\"events\"} %llu\n",
                        (unsigned long long)m->events_pending);
        }
        for (size_t i = 0; i < m->n_groups; i++) {
            sp_buf_adds(b, "ctspool_group_pending{stream=\"");
            label_value(b, m->groups[i].stream);
            sp_buf_adds(b, "\",agg=\"");
            label_value(b, m->groups[i].agg);
            sp_buf_addf(b, "\",kind=\"points\"} %llu\n",
                        (unsigned long long)m->groups[i].pending);
        }
        if (m->has_other) {
            sp_buf_addf(b,
                        "ctspool_group_pending{stream=\"other\","
                        "agg=\"other\",kind=\"points\"} %llu\n",
                        (unsigned long long)m->other_pending);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static void
upload_histogram(struct sp_buf *b, const struct sp_stats *st)
{
    uint64_t cum = 0;

    ob_family(b, "ctspool_upload_duration_seconds", "histogram",
              "Duration of upload requests to Cloudthread, from the start "
              "of the request until its answer (or failure) was read.");
    for (size_t i = 0; i < SP_UPLOAD_BUCKETS; i++) {
        cum += st->upload_le[i];
        sp_buf_addf(b,
                    "ctspool_upload_duration_seconds_bucket{le=\"%g\"} "
                    "%llu\n",
                    (double)sp_upload_bucket_ms[i] / 1000.0,
                    (unsigned long long)cum);
    }
    sp_buf_addf(b,
                "ctspool_upload_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                "ctspool_upload_duration_seconds_sum %.3f\n"
                "ctspool_upload_duration_seconds_count %llu\n",
                (unsigned long long)st->upload_count,
                (double)st->upload_sum_ms / 1000.0,
                (unsigned long long)st->upload_count);
}

static void
journal_metrics(struct sp_buf *b, const struct sp_stats *st)
{
    int64_t now = (int64_t)time(NULL);
    uint64_t age = 0;

    if (st->oldest_pending_at >= 0 && now > st->oldest_pending_at) {
        age = (uint64_t)(now - st->oldest_pending_at);
    }
    metric_u64(b, "ctspool_points_appended_total", "counter",
               "Points stored as new or changed values by any producer.",
               st->appended_total);
    metric_u64(b, "ctspool_points_uploaded_total", "counter",
               "Points acknowledged by Cloudthread.", st->uploaded_total);
    metric_u64(b, "ctspool_points_dead_lettered_total", "counter",
               "Points Cloudthread rejected, moved to the dead letters.",
               st->dead_total);
    metric_u64(b, "ctspool_pending_points", "gauge",
               "Points waiting to be uploaded.", st->pending_points);
    metric_u64(b, "ctspool_acked_points", "gauge",
               "Acknowledged points still kept in the journal.",
               st->acked_points);
    metric_u64(b, "ctspool_dead_letters", "gauge",
               "Points in the dead-letter table.", st->dead_letters);
    metric_u64(b, "ctspool_pending_events", "gauge",
               "Event Overlay events waiting to be uploaded.",
               st->pending_events);
    metric_u64(b, "ctspool_acked_events", "gauge",
               "Acknowledged events still kept in the journal.",
               st->acked_events);
    metric_u64(b, "ctspool_dead_events", "gauge",
               "Events in the dead-letter table.", st->dead_events);
    metric_u64(b, "ctspool_oldest_pending_age_seconds", "gauge",
               "Age of the oldest pending point or event (0 when none is "
               "pending).",
               age);
    metric_u64(b, "ctspool_journal_bytes", "gauge",
               "Size of the journal file and its write-ahead log.",
               st->journal_bytes);
    ob_family(b, "ctspool_upload_requests_total", "counter",
              "Upload requests to Cloudthread by HTTP status class "
              "(failed: no answer).");
    sp_buf_addf(b,
                "ctspool_upload_requests_total{class=\"2xx\"} %llu\n"
                "ctspool_upload_requests_total{class=\"4xx\"} %llu\n"
                "ctspool_upload_requests_total{class=\"5xx\"} %llu\n"
                "ctspool_upload_requests_total{class=\"failed\"} %llu\n",
                (unsigned long long)st->requests_2xx,
                (unsigned long long)st->requests_4xx,
                (unsigned long long)st->requests_5xx,
                (unsigned long long)st->requests_failed);
    metric_u64(b, "ctspool_upload_groups_parked", "gauge",
               "Upload groups with pending points that the drainer parked "
               "(upstream answered 404: no stream found).",
               st->parked_groups);
    metric_u64(b, "ctspool_points_in_doubt", "gauge",
               "Points of uploads of unknown outcome, as the drainer last "
               "noted them.",
               st->in_doubt_points);
    metric_u64(b, "ctspool_points_to_resend", "gauge",
               "Points acknowledged while an older value of theirs was in "
               "an upload of unknown outcome: sent again once it can no "
               "longer land.",
               st->resend_points);
    metric_u64(b, "ctspool_last_upload_success_timestamp_seconds", "gauge",
               "Unix time of the last successful upload (0: never).",
               st->last_upload_ok_at > 0 ? (uint64_t)st->last_upload_ok_at
                                         : 0);
    metric_u64(b, "ctspool_last_upload_error_timestamp_seconds", "gauge",
               "Unix time of the last failed upload request (0: never).",
               st->last_upload_error_at > 0
                   ? (uint64_t)st->last_upload_error_at
                   : 0);
    upload_histogram(b, st);
}

void
ob_stats_render(struct ob_stats *m, struct sp_buf *b)
{
    struct sp_stats st;
    ctspool_rc rc = ob_stats_read(m, &st);

    ob_family(b, "ctspool_build_info", "gauge",
              "Always 1; the version of ctspool in its label.");
    sp_buf_adds(b, "ctspool_build_info{version=\"" CTSPOOL_VERSION_STRING
                   "\"} 1\n");
    metric_u64(b, "ctspool_journal_stats_ok", "gauge",
               "1 when the journal statistics below could be read.",
               rc == CTSPOOL_OK);
    if (rc == CTSPOOL_OK) {
        journal_metrics(b, &st);
        group_metrics(m, b);
    }
}
