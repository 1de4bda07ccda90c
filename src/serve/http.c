/*
 * http.c -- the HTTP side of `serve`: routing, authentication, bounded
 * request bodies; http_answer.c answers.  The two are the only
 * libmicrohttpd users.
 *
 *   POST /streams/ingest, /api/streams/ingest   upstream-compatible ingest
 *   GET  /healthz                               writer can write? 200/503
 *   GET  /healthz/upstream                      delivered in time? 200/503
 *   GET  /metrics                               Prometheus text
 *
 * A request's life (struct request, one per HTTP request):
 *
 *   (waiting for headers: closed past HEADERS_DEADLINE_MS, conns.c)
 *      |
 *   headers --refused (401/404/405/413/503)--> answered at once
 *      |
 *   RECEIVING (body into a buffer, bounded by max_body_bytes and by a
 *      |       global budget)
 *   complete --invalid (400) / nothing to store--> answered
 *      |
 *   QUEUED (connection suspended, job with the writer)
 *      |  writer: committed or refused -> done() -> resume
 *   answered from the job's outcome
 *
 * Invariants:
 * (1) 201 is sent for an ingest request only when its job's rc is OK,
 *     i.e. after the commit holding its points returned (commit.c (1)).
 * (2) A suspended connection always has exactly one job with the writer,
 *     and the writer's done() is what resumes it; so once the writer is
 *     stopped, no connection is suspended and the daemon may stop.
 * (3) Buffered bodies, and the packed points of requests waiting for
 *     the writer, of all requests together stay within body_budget; a
 *     request over max_body_bytes is never buffered whole.
 * (4) Keys and data stream tokens never reach a log line or an answer.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_int.h"
#include "serve.h"

#define CONN_LIMIT 1024              /* open connections at most */
#define CONN_TIMEOUT_S 30            /* idle connection closed after */
#define CONN_MEMORY (16 * 1024)      /* per connection: headers, reads */
#define REQUEST_DEADLINE_MS 120000   /* one request's upload at most */
#define HEADERS_DEADLINE_MS 60000    /* its headers at most (conns.c) */
#define DISCARD_MAX ((size_t)1024 * 1024) /* read past a 413 at most */
#define BODY_BUDGET_MIN ((size_t)64 * 1024 * 1024)
#define BODY_FIRST ((size_t)256 * 1024) /* body buffer before growing */
#define HEALTH_BUSY_MS 5000          /* writer stuck this long: 503 */
#define POLL_MANY_CONNS 256          /* open at once: epoll would serve
                                      * better (README, "serve's event
                                      * loop") */

/* ---- the writer hand-off ---------------------------------------------- */

/* Writer thread: the job has its outcome; let the worker answer it. */
static void
job_done(struct sv_job *job)
{
    struct request *r = job->ctx;

    /* r may be freed as soon as the connection is resumed. */
    MHD_resume_connection(r->conn);
}

static enum MHD_Result
queue_job(struct request *r, enum sv_job_kind kind)
{
    r->state = RS_QUEUED;
    r->job.kind = kind;
    r->job.in = kind == SV_JOB_INGEST ? &r->in : NULL;
    r->job.done = job_done;
    r->job.ctx = r;
    r->job.rc = CTSPOOL_OK;
    r->job.msg[0] = '\0';
    r->job.bad_index = -1;
    r->job.too_large = 0;
    /* Suspend first: the writer may finish the job at once. */
    MHD_suspend_connection(r->conn);
    if (sv_writer_submit(r->h->o.writer, &r->job) != 0) {
        r->job.rc = CTSPOOL_E_BUSY;
        snprintf(r->job.msg, sizeof(r->job.msg),
                 "server is shutting down");
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* ---- request bodies ---------------------------------------------------- */

/* Takes n more bytes of the budget; 0, or -1 when it is exhausted. */
static int
charge(struct request *r, size_t n)
{
    struct sv_http *h = r->h;
    size_t before = atomic_fetch_add(&h->body_bytes, n);

    if (before + n > h->body_budget) {
        atomic_fetch_sub(&h->body_bytes, n);
        return -1;
    }
    r->charged += n;
    return 0;
}

static void
release_body(struct request *r)
{
    sp_buf_cleanup(&r->body);
    atomic_fetch_sub(&r->h->body_bytes, r->charged);
    r->charged = 0;
}

/* Body parsed: what stays charged is the packed points (never larger
 * than the body they came from), until the request ends. */
static void
keep_packed(struct request *r)
{
    size_t keep = r->in.packed.cap < r->charged ? r->in.packed.cap
                                                : r->charged;

    sp_buf_cleanup(&r->body);
    atomic_fetch_sub(&r->h->body_bytes, r->charged - keep);
    r->charged = keep;
}

static enum MHD_Result
on_body(struct request *r, const char *data, size_t n)
{
    size_t max = (size_t)r->h->o.max_body_bytes;

    if (sp_clock_ms() - r->started_ms > REQUEST_DEADLINE_MS) {
        sp_log(SP_LOG_INFO, "%s %s: upload took longer than %d s, closing",
               r->method, r->url, REQUEST_DEADLINE_MS / 1000);
        return MHD_NO;
    }
    if (r->route != RT_INGEST || r->is_too_large || r->is_over_budget) {
        r->discarded += n;
        return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    if (n > max - r->body.len) {
        /* What lies past the limit counts towards DISCARD_MAX. */
        r->discarded = n - (max - r->body.len);
        r->is_too_large = 1;
        release_body(r);
        return MHD_YES;
    }
    if (r->body.cap <= r->body.len || n >= r->body.cap - r->body.len) {
        /* Grow with what arrives, never past the announced length: a
         * client that stalls holds only what it sent (invariant 3). */
        size_t room = r->body.cap ? r->body.cap - 1 : 0; /* the NUL's */
        size_t cap = room ? room : BODY_FIRST;

        while (cap - r->body.len < n) {
            cap = cap > max / 2 ? max : cap * 2;
        }
        if (cap > max) {
            cap = max;
        }
        if (r->expected_len && cap > r->expected_len &&
            r->expected_len - r->body.len >= n) {
            cap = r->expected_len;
        }
        if (charge(r, cap + 1 - r->body.cap) != 0 ||
            sp_buf_reserve_exact(&r->body, cap - r->body.len) != 0) {
            r->is_over_budget = 1;
            release_body(r);
            r->discarded = n;
            return MHD_YES;
        }
    }
    sp_buf_add(&r->body, data, n); /* room reserved above */
    return MHD_YES;
}

/* ---- routes ------------------------------------------------------------ */

static enum MHD_Result
complete_ingest(struct request *r)
{
    struct sv_http *h = r->h;
    struct sp_defaults d = {.stream = NULL, .agg = -1};
    ctspool_rc rc;

    if (r->is_too_large) {
        char msg[128];

        snprintf(msg, sizeof(msg),
                 "request body larger than server.max_body_bytes (%ld)",
                 h->o.max_body_bytes);
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (r->is_over_budget) {
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_SERVICE_UNAVAILABLE,
                               "too many request bodies in flight; retry");
    }
    /* Packed points copy what they keep (ingest.c invariant 3): the
     * settings are needed during the parse only. */
    /* The settings the request started with (its key was checked
     * against them), whatever a SIGHUP since put in force. */
    d.stream = r->live->default_stream;
    d.streams = r->live->streams;
    d.n_streams = r->live->n_streams;
    d.events = r->is_events;
    rc = sv_ingest_parse(&r->in, r->body.p ? r->body.p : "", r->body.len,
                         &d);
    keep_packed(r);
    if (rc != CTSPOOL_OK) {
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_SERVICE_UNAVAILABLE,
                               "out of memory parsing the request");
    }
    if (r->in.has_doc_error || r->in.n_invalid) {
        return sv_answer_invalid(r);
    }
    if (r->in.n_points == 0) {
        return sv_answer_accepted(r, 0); /* nothing to store */
    }
    return queue_job(r, SV_JOB_INGEST);
}

static enum MHD_Result
complete_health(struct request *r)
{
    struct sv_writer_stats ws;
    char msg[128];

    sv_writer_stats(r->h->o.writer, &ws);
    if (ws.busy_ms > HEALTH_BUSY_MS) {
        snprintf(msg, sizeof(msg),
                 "journal busy: a write has been waiting or running for "
                 "%llu ms",
                 (unsigned long long)ws.busy_ms);
        r->job.rc = CTSPOOL_E_BUSY;
        snprintf(r->job.msg, sizeof(r->job.msg), "%s", msg);
        return sv_answer_job(r);
    }
    return queue_job(r, SV_JOB_PROBE);
}

static enum MHD_Result
complete_upstream(struct request *r)
{
    struct answer a = {MHD_HTTP_OK, "application/json", NULL, 0, 0, NULL, 0};
    struct sv_http *h = r->h;
    struct sp_buf b;
    long max_s;

    pthread_rwlock_rdlock(&h->live_lock);
    max_s = h->live->max_undelivered_s;
    pthread_rwlock_unlock(&h->live_lock);
    sp_buf_init(&b);
    ob_health_upstream(sv_metrics_obs(h->o.metrics), max_s, &b,
                       &a.code);
    a.body = ob_buf_take(&b, &a.len);
    if (!a.body) {
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_SERVICE_UNAVAILABLE,
                               "out of memory checking upstream health");
    }
    return sv_answer_send(h, r->conn, r->method, r->url, &a);
}

static enum MHD_Result
complete_metrics(struct request *r)
{
    struct answer a = {MHD_HTTP_OK, "text/plain; version=0.0.4; "
                                    "charset=utf-8",
                       NULL, 0, 0, NULL, 0};
    struct sp_buf b;

    sp_buf_init(&b);
    sv_metrics_render(r->h->o.metrics, r->h->o.writer,
                      sv_http_connections(r->h), &b);
    a.body = ob_buf_take(&b, &a.len);
    if (!a.body) {
        return sv_answer_error(r->h, r->conn, r->method, r->url,
                               MHD_HTTP_SERVICE_UNAVAILABLE,
                               "out of memory rendering metrics");
    }
    return sv_answer_send(r->h, r->conn, r->method, r->url, &a);
}

/* First call for a request: headers only.  Refusals are answered here,
 * before any body byte is read. */
/* The settings in force now, a reference the caller drops with
 * sv_live_free(). */
static struct sv_live *
live_get(struct sv_http *h)
{
    struct sv_live *l;

    pthread_rwlock_rdlock(&h->live_lock);
    l = h->live;
    atomic_fetch_add(&l->refs, 1);
    pthread_rwlock_unlock(&h->live_lock);
    return l;
}

/* 1 when the request may ingest: its key is one of l's keys, or l asks
 * for none. */
static int
key_ok(const struct sv_live *l, const char *presented)
{
    size_t n = presented ? strlen(presented) : 0;

    /* Whitespace around a header value is not part of it (RFC 9110
     * section 5.5); libmicrohttpd drops what leads, not what trails. */
    while (n > 0 && (presented[n - 1] == ' ' || presented[n - 1] == '\t')) {
        n--;
    }
    return l->auth.n_keys == 0 || sv_auth_check(&l->auth, presented, n);
}

/* 1 when a Content-Encoding header value (NULL: none) leaves the body
 * as it is: none, or "identity". */
static int
identity_encoding(const char *v)
{
    size_t n;

    if (!v) {
        return 1;
    }
    v += strspn(v, " \t");
    n = strcspn(v, " \t");
    return (n == 0 || (n == 8 && strncasecmp(v, "identity", 8) == 0)) &&
           v[n + strspn(v + n, " \t")] == '\0';
}

/*
 * The path of an absolute-form request target (RFC 9112 section 3.2.2:
 * "http://host:port/path", what a client sends through a proxy), which a
 * server must accept; url itself otherwise.
 */
static const char *
origin_form(const char *url)
{
    const char *p;

    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
    } else {
        return url;
    }
    p = strchr(p, '/');
    return p ? p : "/";
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/*
 * Unescapes the path and the query arguments in place (%XX), as
 * libmicrohttpd does, but for "%00": a NUL decoded into the path would
 * cut it short, and /healthz%00junk be taken for /healthz.  Returns the
 * new length.
 */
static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    const char *rd = s;
    char *wr = s;

    (void)cls;
    (void)conn;
    while (*rd) {
        int hi = rd[0] == '%' ? hex_value(rd[1]) : -1;
        int lo = hi >= 0 ? hex_value(rd[2]) : -1;

        if (lo >= 0 && (hi | lo) != 0) {
            *wr++ = (char)(hi * 16 + lo);
            rd += 3;
        } else {
            *wr++ = *rd++;
        }
    }
    *wr = '\0';
    return (size_t)(wr - s);
}

/* Counts the framing headers of a request (framing_ambiguous()). */
static enum MHD_Result
count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
    int *n = cls;

    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        n[0]++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        n[1]++;
    }
    return MHD_YES;
}

/*
 * More than one Content-Length, or one beside Transfer-Encoding: where
 * the body ends is ambiguous (RFC 9112 section 6.3), and a proxy before
 * serve could see it end elsewhere than libmicrohttpd, which takes the
 * first Content-Length and reads what follows as the next request
 * (request smuggling).  Such a request is refused and its connection
 * closed, so that nothing after it is read as a request.
 */
static int
framing_ambiguous(struct MHD_Connection *conn)
{
    int n[2] = {0, 0};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, n);
    return n[0] > 1 || (n[0] && n[1]);
}

static enum MHD_Result
on_headers(struct sv_http *h, struct MHD_Connection *conn, const char *url,
           const char *method, void **con_cls)
{
    const char *cl, *mode = NULL, *idem = NULL;
    struct sv_live *live = NULL;
    enum MHD_Result ret;
    struct request *r;
    struct sp_err e;
    enum route route;
    int is_events = 0;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    size_t expected = 0;

    url = origin_form(url);
    if (framing_ambiguous(conn)) {
        return sv_answer_error_close(h, conn, method, url,
                                     MHD_HTTP_BAD_REQUEST,
                                     "ambiguous request framing: more than "
                                     "one Content-Length, or one beside "
                                     "Transfer-Encoding");
    }
    if (strcmp(url, "/streams/ingest") == 0 ||
        strcmp(url, "/api/streams/ingest") == 0) {
        route = RT_INGEST;
    } else if (strcmp(url, "/events") == 0 ||
               strcmp(url, "/api/events") == 0) {
        route = RT_INGEST; /* Event Overlay (DESIGN.md section 9) */
        is_events = 1;
    } else if (strcmp(url, "/healthz") == 0) {
        route = RT_HEALTH;
    } else if (strcmp(url, "/healthz/upstream") == 0) {
        route = RT_UPSTREAM;
    } else if (strcmp(url, "/metrics") == 0) {
        route = RT_METRICS;
    } else {
        return sv_answer_error(h, conn, method, url, MHD_HTTP_NOT_FOUND,
                               "not found: the ingest endpoints are POST "
                               "/streams/ingest and POST /events");
    }
    if (route == RT_INGEST ? strcmp(method, MHD_HTTP_METHOD_POST) != 0
                           : !is_get) {
        return sv_answer_error(h, conn, method, url,
                               MHD_HTTP_METHOD_NOT_ALLOWED,
                               "method not allowed");
    }
    if (atomic_load(&h->is_stopping)) {
        return sv_answer_shutdown(h, conn, method, url);
    }
    if (route == RT_INGEST) {
        live = live_get(h);
        if (!key_ok(live, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      "x-api-key"))) {
            ret = sv_answer_error(h, conn, method, url, MHD_HTTP_UNAUTHORIZED,
                                  "missing or invalid x-api-key");
            goto refused;
        }
        if (!identity_encoding(MHD_lookup_connection_value(
                conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING))) {
            /* As upstream: a client that compresses (a chained ctspool
             * drainer, upload.compress) sends it plain after a 415. */
            ret = sv_answer_error(h, conn, method, url,
                                  MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                  "Content-Encoding: only identity is "
                                  "accepted; send the body uncompressed");
            goto refused;
        }
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            unsigned long long v = strtoull(cl, &end, 10);

            if (end != cl && v > (unsigned long long)h->o.max_body_bytes) {
                char msg[128];

                snprintf(msg, sizeof(msg),
                         "request body of %llu bytes is larger than "
                         "server.max_body_bytes (%ld)",
                         v, h->o.max_body_bytes);
                ret = sv_answer_error(h, conn, method, url,
                                      MHD_HTTP_CONTENT_TOO_LARGE, msg);
                goto refused;
            }
            if (end != cl) {
                expected = (size_t)v;
            }
        }
        mode = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                           "mode");
        if (mode && strcmp(mode, "accumulate") != 0 &&
            strcmp(mode, "replace") != 0) {
            ret = sv_answer_error(h, conn, method, url,
                                  MHD_HTTP_BAD_REQUEST,
                                  "mode: must be \"replace\" (the default) "
                                  "or \"accumulate\"");
            goto refused;
        }
        if (is_events && mode && strcmp(mode, "accumulate") == 0) {
            ret = sv_answer_error(h, conn, method, url,
                                  MHD_HTTP_BAD_REQUEST,
                                  "mode: accumulate is for points; events "
                                  "have no value to fold");
            goto refused;
        }
        idem = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                           "Idempotency-Key");
        if (idem && sp_valid_idem_key(idem, strlen(idem), &e) != CTSPOOL_OK) {
            sp_err_prefix(&e, "Idempotency-Key: ");
            ret = sv_answer_error(h, conn, method, url,
                                  MHD_HTTP_BAD_REQUEST, e.msg);
            goto refused;
        }
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        sv_live_free(live);
        return MHD_NO;
    }
    r->live = live; /* NULL unless an ingest */
    r->job.accumulate = mode && strcmp(mode, "accumulate") == 0;
    r->is_events = is_events;
    if (idem) {
        snprintf(r->job.idem_key, sizeof(r->job.idem_key), "%s", idem);
        r->job.idem_min_at =
            (int64_t)time(NULL) - (int64_t)h->o.idempotency_hours * 3600;
    }
    r->h = h;
    r->conn = conn;
    r->method = method;
    r->url = url;
    r->route = route;
    r->state = RS_RECEIVING;
    r->started_ms = sp_clock_ms();
    sv_ingest_init(&r->in);
    r->expected_len = expected;
    atomic_fetch_add(&h->inflight, 1);
    *con_cls = r;
    return MHD_YES;
refused:
    sv_live_free(live);
    return ret;
}

/* conn's entry in the headers' registry (on_connection()), or NULL. */
static struct sv_conn *
conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    struct request *r = *con_cls;
    enum MHD_Result ret;

    (void)version;
    if (!r) {
        sv_conn_busy(conn_of(conn));
        return on_headers(cls, conn, url, method, con_cls);
    }
    if (*upload_data_size) {
        ret = on_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    if (r->state == RS_QUEUED) {
        return sv_answer_job(r); /* resumed by the writer */
    }
    switch (r->route) {
    case RT_INGEST:
        return complete_ingest(r);
    case RT_HEALTH:
        return complete_health(r);
    case RT_UPSTREAM:
        return complete_upstream(r);
    case RT_METRICS:
        return complete_metrics(r);
    }
    return MHD_NO;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct sv_http *h = cls;
    struct request *r = *con_cls;

    (void)toe;
    sv_conn_waiting(conn_of(conn)); /* for the next request's headers */
    if (!r) {
        return;
    }
    release_body(r);
    sv_ingest_cleanup(&r->in);
    sv_live_free(r->live);
    free(r->job.replay);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&h->inflight, 1);
}

/*
 * Counts open connections for /metrics.  On poll(2) a worker thread
 * looks at every open connection on each wake-up: the first time
 * POLL_MANY_CONNS are open at once, the log says that epoll would serve
 * them better (once per process: a warning per connection would flood
 * the log exactly when the server is busiest).
 */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
              enum MHD_ConnectionNotificationCode toe)
{
    struct sv_http *h = cls;
    const union MHD_ConnectionInfo *ci;
    unsigned long open;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        sv_conns_remove(h->registry, *socket_ctx);
        *socket_ctx = NULL;
        atomic_fetch_sub(&h->conns, 1);
        return;
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_ctx = ci ? sv_conns_add(h->registry, (int)ci->connect_fd) : NULL;
    open = atomic_fetch_add(&h->conns, 1) + 1;
    if (open >= POLL_MANY_CONNS &&
        h->o.event_loop == SP_EVENT_LOOP_POLL &&
        !atomic_exchange(&h->is_many_said, 1)) {
        sp_log(SP_LOG_WARN,
               "%lu connections are open at once; with server.event_loop "
               "= \"poll\" every wake-up of a worker thread looks at each "
               "of them: set it to \"epoll\" where hundreds of "
               "connections stay open",
               open);
    }
}

unsigned long
sv_http_connections(struct sv_http *h)
{
    return atomic_load(&h->conns);
}

/* ---- daemon ------------------------------------------------------------ */

/* libmicrohttpd's lines in the log (ob_mhd_log) carry no prefix. */
static char log_prefix[] = "";

ctspool_rc
sv_http_start(const struct sv_http_opts *o, struct sv_http **out,
              struct sp_err *e)
{
    struct sv_http *h;
    ctspool_rc rc;
    /*
     * poll(2) by default: a request that waits for the commit is
     * suspended and resumed, which under epoll costs two epoll_ctl()
     * calls each; a poll thread pays instead per open connection and
     * wake-up (README, "serve's event loop", has the figures).
     */
    unsigned flags = (o->event_loop == SP_EVENT_LOOP_EPOLL
                          ? MHD_USE_EPOLL_INTERNAL_THREAD
                          : MHD_USE_POLL_INTERNAL_THREAD) |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (!h) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    h->o = *o;
    h->o.live = NULL;
    h->live = o->live;
    pthread_rwlock_init(&h->live_lock, NULL);
    h->listen_fd = o->listen_fd;
    /* Four bodies of the largest size in flight at once; saturates
     * instead of wrapping for a huge server.max_body_bytes. */
    h->body_budget = (size_t)o->max_body_bytes > SIZE_MAX / 4
                         ? SIZE_MAX
                         : (size_t)o->max_body_bytes * 4;
    if (h->body_budget < BODY_BUDGET_MIN) {
        h->body_budget = BODY_BUDGET_MIN;
    }
    atomic_init(&h->body_bytes, 0);
    atomic_init(&h->inflight, 0);
    atomic_init(&h->conns, 0);
    atomic_init(&h->is_many_said, 0);
    atomic_init(&h->is_stopping, 0);
    rc = sv_conns_start(HEADERS_DEADLINE_MS, &h->registry, e);
    if (rc != CTSPOOL_OK) {
        pthread_rwlock_destroy(&h->live_lock);
        free(h);
        return rc;
    }
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER,
        ob_mhd_log, log_prefix, MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)o->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, o->n_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (!h->d) {
        sp_err_set(e, "cannot start the HTTP server (libmicrohttpd)");
        sv_conns_stop(h->registry);
        pthread_rwlock_destroy(&h->live_lock);
        free(h);
        return CTSPOOL_E_IO;
    }
    *out = h;
    return CTSPOOL_OK;
}

void
sv_http_quiesce(struct sv_http *h)
{
    MHD_socket fd;

    atomic_store(&h->is_stopping, 1);
    fd = MHD_quiesce_daemon(h->d);
    /* The listen socket is ours again; closed once the daemon stopped
     * (its threads may still poll it).  Shut down now, it listens no
     * more: a new connection is refused at once, and one waiting in the
     * backlog is reset, where it would hang until the exit. */
    h->listen_fd = fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
    if (h->listen_fd < 0) {
        sp_log(SP_LOG_WARN, "cannot stop accepting connections early");
    } else if (shutdown(h->listen_fd, SHUT_RDWR) != 0) {
        sp_log(SP_LOG_WARN, "cannot close the listening socket early: %s",
               strerror(errno));
    }
}

unsigned long
sv_http_inflight(struct sv_http *h)
{
    return atomic_load(&h->inflight);
}

void
sv_http_stop(struct sv_http *h)
{
    int quiesced;

    if (!h) {
        return;
    }
    quiesced = atomic_load(&h->is_stopping) && h->listen_fd >= 0;
    MHD_stop_daemon(h->d);
    sv_conns_stop(h->registry); /* every connection closed */
    /* Every request has ended: nothing may still be charged. */
    assert(atomic_load(&h->body_bytes) == 0);
    assert(atomic_load(&h->inflight) == 0);
    if (quiesced) {
        close(h->listen_fd);
    }
    sv_live_free(h->live);
    pthread_rwlock_destroy(&h->live_lock);
    free(h);
}

void
sv_http_reload(struct sv_http *h, struct sv_live *live)
{
    struct sv_live *old;

    pthread_rwlock_wrlock(&h->live_lock);
    old = h->live;
    h->live = live;
    pthread_rwlock_unlock(&h->live_lock);
    sv_live_free(old); /* freed once no request holds it */
}

void
sv_live_free(struct sv_live *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) > 1) {
        return;
    }
    sv_auth_cleanup(&l->auth);
    free(l->default_stream);
    for (size_t i = 0; i < l->n_streams; i++) {
        explicit_bzero(l->streams[i], strlen(l->streams[i]));
        free(l->streams[i]);
    }
    free(l->streams);
    free(l);
}
