/*
 * metrics_http.c -- drain.metrics_listen: the drainer's own read-only
 * HTTP server, for hosts that run no `serve`, and the drainer's only
 * libmicrohttpd user.  It answers what serve answers, rendered by the
 * same code (src/obs):
 *
 *   GET /metrics            Prometheus text: journal, uploads, per-group
 *                           pending, upload latency, process_*
 *   GET /healthz            200 while the journal can be read, else 503
 *   GET /healthz/upstream   200, or 503 with the reasons (obs/health.c)
 *
 * One thread of its own (libmicrohttpd's internal polling thread) and a
 * journal handle of its own, used for read transactions only: a scrape
 * never waits for the upload loop, nor the loop for a scrape.  Nothing
 * here ever sees the API key; stream tokens are masked by obs.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "drain_int.h"
#include "obs.h"

#define DEFAULT_PORT "8766"
#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 10
#define STATS_BUSY_MS 1000

struct dr_metrics {
    struct MHD_Daemon *d;
    struct ob_stats *obs;
    int fd;
    atomic_long max_undelivered_s;
};

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned code, const char *ctype,
          char *body, size_t len, const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body,
                                           body ? MHD_RESPMEM_MUST_FREE
                                                : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* {"error": msg} with code. */
static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned code, const char *msg,
           const char *allow)
{
    struct sp_buf b;
    char *body;
    size_t len = 0;

    sp_buf_init(&b);
    sp_buf_adds(&b, "{\"error\": ");
    ob_buf_add_json(&b, msg, strlen(msg));
    sp_buf_adds(&b, "}\n");
    body = ob_buf_take(&b, &len);
    return send_text(conn, code, "application/json", body, body ? len : 0,
                     allow);
}

static enum MHD_Result
answer_health(struct dr_metrics *m, struct MHD_Connection *conn)
{
    struct sp_stats st;
    struct sp_buf b;
    char *body;
    size_t len = 0;
    ctspool_rc rc = ob_stats_read(m->obs, &st);

    sp_buf_init(&b);
    if (rc == CTSPOOL_OK) {
        sp_buf_adds(&b, "{\"status\": \"ok\"}\n");
    } else {
        sp_buf_adds(&b, "{\"status\": \"unavailable\", \"error\": ");
        ob_buf_add_json(&b, ctspool_strerror(rc),
                        strlen(ctspool_strerror(rc)));
        sp_buf_adds(&b, "}\n");
    }
    body = ob_buf_take(&b, &len);
    return send_text(conn, rc == CTSPOOL_OK ? MHD_HTTP_OK
                                            : MHD_HTTP_SERVICE_UNAVAILABLE,
                     "application/json", body, body ? len : 0, NULL);
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    struct dr_metrics *m = cls;
    struct sp_buf b;
    unsigned code = MHD_HTTP_OK;
    char *body;
    size_t len = 0;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = m; /* headers only so far: wait for the request's end */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is read and dropped */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0 &&
        strcmp(url, "/healthz/upstream") != 0) {
        return send_error(conn, MHD_HTTP_NOT_FOUND,
                          "not found: the drainer serves GET /metrics, "
                          "/healthz and /healthz/upstream",
                          NULL);
    }
    if (!is_get) {
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed", "GET, HEAD");
    }
    if (strcmp(url, "/healthz") == 0) {
        return answer_health(m, conn);
    }
    sp_buf_init(&b);
    if (strcmp(url, "/metrics") == 0) {
        ob_stats_render(m->obs, &b);
        ob_process_render(&b);
    } else {
        ob_health_upstream(m->obs, atomic_load(&m->max_undelivered_s), &b,
                           &code);
    }
    body = ob_buf_take(&b, &len);
    if (!body) {
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "out of memory", NULL);
    }
    return send_text(conn, code,
                     strcmp(url, "/metrics") == 0
                         ? "text/plain; version=0.0.4; charset=utf-8"
                         : "application/json",
                     body, len, NULL);
}

/* A handle of its own on the journal, for reading statistics. */
static ctspool_rc
open_stats(const struct sp_config *cfg, struct ob_stats **out,
           struct sp_err *e)
{
    struct sp_journal_opts o;
    struct sp_journal *ro = NULL;
    ctspool_rc rc;

    memset(&o, 0, sizeof(o));
    o.path = cfg->journal;
    o.busy_timeout_ms = STATS_BUSY_MS;
    o.must_exist = 1;
    rc = sp_journal_open(&o, &ro, e);
    if (rc == CTSPOOL_OK) {
        rc = ob_stats_new(ro, out);
        if (rc != CTSPOOL_OK) {
            sp_err_set(e, "out of memory");
        }
    }
    return rc;
}

ctspool_rc
dr_metrics_check(const struct sp_config *cfg, struct sp_err *e)
{
    if (!cfg->drain.metrics_listen) {
        return CTSPOOL_OK;
    }
    return ob_listen_check("drain.metrics_listen", cfg->drain.metrics_listen,
                           DEFAULT_PORT, NULL, e);
}

/* libmicrohttpd's lines in the log (ob_mhd_log) name this endpoint. */
static char log_prefix[] = "metrics: ";

ctspool_rc
dr_metrics_start(const struct sp_config *cfg, struct dr_metrics **out,
                 int *at_listen, struct sp_err *e)
{
    struct dr_metrics *m;
    sigset_t all, old;
    char where[80];
    ctspool_rc rc;

    *out = NULL;
    *at_listen = 0;
    if (!cfg->drain.metrics_listen) {
        return CTSPOOL_OK;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    m->fd = -1;
    atomic_init(&m->max_undelivered_s, cfg->health.max_undelivered_s);
    rc = ob_listen_open("drain.metrics_listen", cfg->drain.metrics_listen,
                        DEFAULT_PORT, &m->fd, NULL, e);
    *at_listen = rc == CTSPOOL_E_IO;
    if (rc == CTSPOOL_OK) {
        rc = open_stats(cfg, &m->obs, e);
    }
    if (rc != CTSPOOL_OK) {
        dr_metrics_stop(m);
        return rc;
    }
    ob_listen_name(m->fd, where, sizeof(where));
    /* Its thread takes none of the signals the upload loop acts on. */
    sigemptyset(&all);
    sigaddset(&all, SIGTERM);
    sigaddset(&all, SIGINT);
    sigaddset(&all, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    m->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_access, m, MHD_OPTION_EXTERNAL_LOGGER, ob_mhd_log, log_prefix,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
        MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!m->d) {
        sp_err_set(e, "drain.metrics_listen: cannot start the HTTP server "
                   "on %s (libmicrohttpd)", cfg->drain.metrics_listen);
        dr_metrics_stop(m);
        *at_listen = 1;
        return CTSPOOL_E_IO;
    }
    m->fd = -1; /* the daemon's now: it closes it */
    sp_log(SP_LOG_INFO,
           "metrics: serving /metrics, /healthz and /healthz/upstream on "
           "http://%s",
           where);
    *out = m;
    return CTSPOOL_OK;
}

void
dr_metrics_reload(struct dr_metrics *m, const struct sp_config *cfg)
{
    if (m) {
        atomic_store(&m->max_undelivered_s, cfg->health.max_undelivered_s);
    }
}

void
dr_metrics_stop(struct dr_metrics *m)
{
    if (!m) {
        return;
    }
    if (m->d) {
        MHD_stop_daemon(m->d); /* joins its thread */
    }
    if (m->fd >= 0) {
        close(m->fd);
    }
    ob_stats_free(m->obs);
    free(m);
}
