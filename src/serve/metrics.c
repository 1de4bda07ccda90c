/*
 * metrics.c -- GET /metrics in the Prometheus text exposition format
 * (version 0.0.4): the journal's statistics, read on a connection of
 * their own at most once a second however often anyone scrapes, plus
 * the server's own counters (answers by HTTP status code, group
 * commits), the build's version and the standard process_* series
 * (process.c).  No secret ever appears: the journal statistics hold
 * counts and times only.  The same connection answers health.c's questions
 * (the cached statistics, the parked upload groups).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serve.h"

#define STATS_TTL_MS 1000
#define MAX_CODE 600

struct sv_metrics {
    pthread_mutex_t lock; /* guards ro and the cached statistics */
    struct sp_journal *ro;
    struct sp_stats st;
    ctspool_rc st_rc;
    int64_t st_at_ms; /* when st was read; 0: never */
    atomic_uint_fast64_t by_code[MAX_CODE];
};

/* Codes always shown, so a scrape has every series from the start. */
static const unsigned shown_codes[] = {200, 201, 400, 401, 404, 405,
                                       413, 429, 500, 503, 507};

ctspool_rc
sv_metrics_new(struct sp_journal *ro, struct sv_metrics **out)
{
    struct sv_metrics *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (!m) {
        sp_journal_close(ro);
        return CTSPOOL_E_NOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->ro = ro;
    for (size_t i = 0; i < MAX_CODE; i++) {
        atomic_init(&m->by_code[i], 0);
    }
    *out = m;
    return CTSPOOL_OK;
}

void
sv_metrics_free(struct sv_metrics *m)
{
    if (!m) {
        return;
    }
    sp_journal_close(m->ro);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void
sv_metrics_count(struct sv_metrics *m, unsigned code)
{
    if (code < MAX_CODE) {
        atomic_fetch_add_explicit(&m->by_code[code], 1,
                                  memory_order_relaxed);
    }
}

/* A copy of the journal statistics, refreshed when older than the TTL. */
ctspool_rc
sv_metrics_stats(struct sv_metrics *m, struct sp_stats *st)
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
sv_metrics_parked(struct sv_metrics *m, sp_group_cb cb, void *ctx,
                  char *why, size_t why_len)
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

static void
family(struct sp_buf *b, const char *name, const char *type,
       const char *help)
{
    sp_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metric_u64(struct sp_buf *b, const char *name, const char *type,
           const char *help, uint64_t v)
{
    family(b, name, type, help);
    sp_buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
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
    metric_u64(b, "ctspool_oldest_pending_age_seconds", "gauge",
               "Age of the oldest pending point (0 when none is pending).",
               age);
    metric_u64(b, "ctspool_journal_bytes", "gauge",
               "Size of the journal file and its write-ahead log.",
               st->journal_bytes);
    family(b, "ctspool_upload_requests_total", "counter",
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
    metric_u64(b, "ctspool_last_upload_success_timestamp_seconds", "gauge",
               "Unix time of the last successful upload (0: never).",
               st->last_upload_ok_at > 0 ? (uint64_t)st->last_upload_ok_at
                                         : 0);
}

void
sv_metrics_render(struct sv_metrics *m, struct sv_writer *w,
                  struct sp_buf *b)
{
    struct sv_writer_stats ws;
    struct sp_stats st;
    ctspool_rc rc = sv_metrics_stats(m, &st);

    family(b, "ctspool_build_info", "gauge",
           "Always 1; the version of ctspool in its label.");
    sp_buf_adds(b, "ctspool_build_info{version=\"" CTSPOOL_VERSION_STRING
                   "\"} 1\n");
    metric_u64(b, "ctspool_journal_stats_ok", "gauge",
               "1 when the journal statistics below could be read.",
               rc == CTSPOOL_OK);
    if (rc == CTSPOOL_OK) {
        journal_metrics(b, &st);
    }
    family(b, "ctspool_http_requests_total", "counter",
           "HTTP requests answered by this server, by status code.");
    for (unsigned c = 100; c < MAX_CODE; c++) {
        uint64_t v = atomic_load_explicit(&m->by_code[c],
                                          memory_order_relaxed);
        int always = 0;

        for (size_t i = 0; i < SP_ARRAY_LEN(shown_codes); i++) {
            always |= shown_codes[i] == c;
        }
        if (v || always) {
            sp_buf_addf(b, "ctspool_http_requests_total{code=\"%u\"} %llu\n",
                        c, (unsigned long long)v);
        }
    }
    sv_writer_stats(w, &ws);
    metric_u64(b, "ctspool_serve_commits_total", "counter",
               "Group commits: transactions that stored ingest requests.",
               ws.commits);
    metric_u64(b, "ctspool_serve_committed_requests_total", "counter",
               "Ingest requests stored by group commits.",
               ws.jobs_committed);
    metric_u64(b, "ctspool_serve_committed_points_total", "counter",
               "Points stored by group commits.", ws.points_committed);
    sv_process_render(b);
}
