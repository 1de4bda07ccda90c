/*
 * metrics.c -- serve's GET /metrics in the Prometheus text exposition
 * format (version 0.0.4): the journal's part and the process_* series,
 * rendered as the drainer renders them (src/obs: stats.c, process.c),
 * plus the server's own counters (answers by HTTP status code, group
 * commits).  No secret ever appears: the journal statistics hold counts
 * and times only, and data stream tokens are masked.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "serve.h"

#define MAX_CODE 600

struct sv_metrics {
    struct ob_stats *obs;
    atomic_uint_fast64_t by_code[MAX_CODE];
};

/* Codes always shown, so a scrape has every series from the start. */
static const unsigned shown_codes[] = {200, 201, 400, 401, 404, 405,
                                       413, 429, 500, 503, 507};

ctspool_rc
sv_metrics_new(struct sp_journal *ro, struct sv_metrics **out)
{
    struct sv_metrics *m = calloc(1, sizeof(*m));
    ctspool_rc rc;

    *out = NULL;
    if (!m) {
        sp_journal_close(ro);
        return CTSPOOL_E_NOMEM;
    }
    rc = ob_stats_new(ro, &m->obs);
    if (rc != CTSPOOL_OK) {
        free(m);
        return rc;
    }
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
    ob_stats_free(m->obs);
    free(m);
}

struct ob_stats *
sv_metrics_obs(struct sv_metrics *m)
{
    return m->obs;
}

void
sv_metrics_count(struct sv_metrics *m, unsigned code)
{
    if (code < MAX_CODE) {
        atomic_fetch_add_explicit(&m->by_code[code], 1,
                                  memory_order_relaxed);
    }
}

static void
metric_u64(struct sp_buf *b, const char *name, const char *type,
           const char *help, uint64_t v)
{
    ob_family(b, name, type, help);
    sp_buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

void
sv_metrics_render(struct sv_metrics *m, struct sv_writer *w,
                  unsigned long conns, struct sp_buf *b)
{
    struct sv_writer_stats ws;

    ob_stats_render(m->obs, b);
    ob_family(b, "ctspool_http_requests_total", "counter",
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
    metric_u64(b, "ctspool_serve_connections", "gauge",
               "HTTP connections open now.", conns);
    ob_process_render(b);
}
