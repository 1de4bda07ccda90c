/*
 * receiver.c -- ctspool-mock-receiver: a fake Cloudthread ingest
 * endpoint for integration tests, the README demo and benchmarks.
 * Owns the command line, the HTTP server (libmicrohttpd, one thread per
 * connection so injected delays are per connection), the fault knobs and
 * the control API under /_mock/.  README.md next to this file documents
 * both for users.
 *
 * One mutex (g.lock) guards the store, the counters and the fault knobs.
 * An ingest or events request takes it twice: once to count itself and
 * consume fault knobs, once to store what it carries; parsing and
 * hashing happen outside it.  Order of handling for both (they share
 * the fault knobs, each has its own counters):
 *
 *   body > max_body -> 413; drop_next -> close; delay; fail_next -> S;
 *   x-api-key -> 401; Content-Type, User-Agent -> 400;
 *   Content-Encoding other than gzip, or gzip refused -> 415; gzip body
 *   inflated (over max_body -> 413, broken -> 400);
 *   mock_ingest_parse or mock_events_parse (400/404/413, see ingest.c);
 *   store -> 201
 */
#include "mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <zlib.h>

#define EX_OK 0
#define EX_USAGE 64
#define EX_SOFTWARE 70
#define EX_IOERR 74

#define DEFAULT_MAX_BODY (64u << 20)
#define CONTROL_MAX_BODY (1u << 20)
#define ALT_INGEST_PATH "/api/streams/ingest"
#define ALT_EVENTS_PATH "/api/events"

struct faults {
    long fail_next;
    int fail_status;
    char *retry_after;               /* NULL: no Retry-After header */
    long drop_next;
    long delay_ms;
    long delay_next;                 /* -1: every request */
    long max_points;                 /* 0: off */
    char *poison_prefix;             /* NULL: off */
    char *poison_event_type;         /* NULL: off */
    int refuse_gzip;                 /* gzip bodies get 415 */
};

enum route {
    R_INGEST,
    R_EVENTS,
    R_FAULT,
    R_FAULT_GET,
    R_RESET,
    R_STATE,
    R_COUNTERS,
    R_NOT_FOUND,
    R_BAD_METHOD
};

/* Per-request context (MHD's con_cls); freed by on_completed(). */
struct reqctx {
    enum route route;
    int too_large;
    size_t limit;
    uint64_t received;
    struct mock_buf body;
};

struct config {
    struct sockaddr_in addr;
    const char *port_file;
    const char *state_file;
    const char *path;
    const char *events_path;
    char **api_keys;
    size_t n_api_keys;
    char **tokens;
    size_t n_tokens;
    int64_t *teams;
    size_t n_teams;
    size_t max_body;
    int quiet;
};

static struct {
    struct config cfg;
    pthread_mutex_t lock;            /* store, counters, faults */
    struct mock_store *store;
    struct faults faults;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stopping;
} g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .stop_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void
faults_clear(struct faults *f)
{
    free(f->retry_after);
    free(f->poison_prefix);
    free(f->poison_event_type);
    memset(f, 0, sizeof(*f));
    f->fail_status = 503;
}

/* ---- helpers ---- */

static void
log_line(const char *method, const char *url, const char *what,
         const char *detail)
{
    if (g.cfg.quiet) {
        return;
    }
    fprintf(stderr, "%s %s %s%s%s%s\n", method, url, what,
            detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

static enum MHD_Result
send_body(struct MHD_Connection *conn, unsigned int status, char *body,
          size_t len, enum MHD_ResponseMemoryMode mode,
          const char *retry_after)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    if (retry_after) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                                retry_after);
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned int status, const char *json)
{
    return send_body(conn, status, (char *)json, strlen(json),
                     MHD_RESPMEM_MUST_COPY, NULL);
}

/* {"message": msg[, "index": index]} */
static enum MHD_Result
send_message(struct MHD_Connection *conn, unsigned int status,
             const char *msg, long index, const char *retry_after)
{
    struct mock_buf b = {0};

    mock_buf_adds(&b, "{\"message\":");
    mock_buf_json_string(&b, msg, strlen(msg));
    if (index >= 0) {
        mock_buf_printf(&b, ",\"index\":%ld", index);
    }
    mock_buf_adds(&b, "}");
    return send_body(conn, status, b.p, b.len, MHD_RESPMEM_MUST_FREE,
                     retry_after);
}

/* The by-status counters of ingest requests or of events requests. */
static uint64_t *
by_status(struct mock_counters *c, int is_events)
{
    return is_events ? c->event_by_status : c->by_status;
}

static void
count_status(int is_events, unsigned int status)
{
    pthread_mutex_lock(&g.lock);
    if (status < MOCK_STATUS_MAX) {
        by_status(mock_store_counters(g.store), is_events)[status]++;
    }
    pthread_mutex_unlock(&g.lock);
}

/* Sleeps ms milliseconds, or less if the server is stopping. */
static void
pause_ms(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g.stop_lock);
    while (!g.stopping &&
           pthread_cond_timedwait(&g.stop_cond, &g.stop_lock, &ts) == 0) {
        continue;
    }
    pthread_mutex_unlock(&g.stop_lock);
}

static int
content_type_ok(const char *ct)
{
    static const char mime[] = "application/json";
    const char *p;

    if (!ct || strncasecmp(ct, mime, sizeof(mime) - 1) != 0) {
        return 0;
    }
    p = ct + sizeof(mime) - 1;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (!*p) {
        return 1;
    }
    if (*p++ != ';') {
        return 0;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (strncasecmp(p, "charset=", 8) != 0) {
        return 0;
    }
    p += 8;
    if (strncasecmp(p, "utf-8", 5) == 0) {
        p += 5;
    } else if (strncasecmp(p, "\"utf-8\"", 7) == 0) {
        p += 7;
    } else {
        return 0;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return !*p;
}

/* ---- ingest ---- */

/* The request's Content-Encoding: 0 none (or identity), 1 gzip, -1
 * anything else. */
static int
content_encoding(struct MHD_Connection *conn)
{
    const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 "Content-Encoding");

    if (!ce || !ce[0] || strcasecmp(ce, "identity") == 0) {
        return 0;
    }
    return strcasecmp(ce, "gzip") == 0 ? 1 : -1;
}

/*
 * Inflates the gzip body of ctx into out, at most g.cfg.max_body bytes.
 * Returns 0, 413 when it inflates to more, 400 when it is no whole gzip
 * stream.
 */
static int
gunzip_body(const struct reqctx *ctx, struct mock_buf *out)
{
    z_stream z;
    int zr = Z_OK, status = 0;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        return 400;
    }
    z.next_in = (Bytef *)ctx->body.p;
    z.avail_in = (uInt)ctx->body.len;
    while (zr != Z_STREAM_END) {
        size_t room;

        mock_buf_reserve(out, 65536);
        room = out->cap - out->len - 1;
        z.next_out = (Bytef *)out->p + out->len;
        z.avail_out = (uInt)room;
        zr = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        out->p[out->len] = '\0';
        if (zr != Z_OK && zr != Z_STREAM_END) {
            status = 400;
            break;
        }
        if (out->len > g.cfg.max_body) {
            status = 413;
            break;
        }
        if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            status = 400; /* cut short */
            break;
        }
    }
    if (!status && z.avail_in != 0) {
        status = 400; /* bytes after the stream */
    }
    inflateEnd(&z);
    return status;
}

/* POST to the ingest path or (ctx->route R_EVENTS) an events path. */
static enum MHD_Result
handle_post(struct MHD_Connection *conn, const char *url,
            struct reqctx *ctx)
{
    struct mock_counters *c;
    struct faults *f = &g.faults;
    struct mock_ingest_opts opts = {0};
    struct mock_request req;
    struct mock_event_request ereq;
    struct mock_error err;
    char *retry_after = NULL, *poison = NULL, *poison_ev = NULL;
    char what[64];
    const char *kind;
    int is_events = ctx->route == R_EVENTS;
    const char *key, *hdr;
    struct mock_buf plain = {0};
    const struct mock_buf *body = &ctx->body;
    long delay = 0;
    int fail_status = 0, refuse_gzip, enc, rc;
    size_t i, n;
    enum MHD_Result ret;

    kind = is_events ? "events" : "points";
    pthread_mutex_lock(&g.lock);
    c = mock_store_counters(g.store);
    if (is_events) {
        c->event_requests_total++;
    } else {
        c->requests_total++;
        c->bytes_received += ctx->received;
    }
    if (ctx->too_large) {
        by_status(c, is_events)[413]++;
        pthread_mutex_unlock(&g.lock);
        log_line("POST", url, "413", "body too large");
        return send_message(conn, 413, "request body too large", -1, NULL);
    }
    if (f->drop_next > 0) {
        f->drop_next--;
        if (!is_events) {
            c->connections_dropped++;
        }
        pthread_mutex_unlock(&g.lock);
        log_line("POST", url, "dropped", "injected");
        return MHD_NO;
    }
    if (f->delay_ms > 0 && f->delay_next != 0) {
        delay = f->delay_ms;
        if (f->delay_next > 0) {
            f->delay_next--;
        }
    }
    if (f->fail_next > 0) {
        f->fail_next--;
        fail_status = f->fail_status;
        if (f->retry_after) {
            retry_after = mock_xstrdup(f->retry_after);
        }
    }
    opts.max_points = (size_t)f->max_points;
    refuse_gzip = f->refuse_gzip;
    if (f->poison_prefix) {
        poison = mock_xstrdup(f->poison_prefix);
    }
    if (f->poison_event_type) {
        poison_ev = mock_xstrdup(f->poison_event_type);
    }
    pthread_mutex_unlock(&g.lock);
    opts.poison_prefix = poison;
    opts.tokens = g.cfg.tokens;
    opts.n_tokens = g.cfg.n_tokens;
    opts.poison_event_type = poison_ev;
    opts.teams = g.cfg.teams;
    opts.n_teams = g.cfg.n_teams;

    if (delay > 0) {
        pause_ms(delay);
    }
    if (fail_status) {
        count_status(is_events, (unsigned int)fail_status);
        snprintf(what, sizeof(what), "%d", fail_status);
        log_line("POST", url, what, "injected");
        ret = send_message(conn, (unsigned int)fail_status,
                           "injected failure", -1, retry_after);
        goto out;
    }

    key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
    if (!key || !key[0]) {
        count_status(is_events, 401);
        log_line("POST", url, "401", "missing x-api-key");
        ret = send_message(conn, 401, "missing x-api-key header", -1, NULL);
        goto out;
    }
    for (i = 0; i < g.cfg.n_api_keys; i++) {
        if (strcmp(g.cfg.api_keys[i], key) == 0) {
            break;
        }
    }
    if (g.cfg.n_api_keys > 0 && i == g.cfg.n_api_keys) {
        count_status(is_events, 401);
        log_line("POST", url, "401", "x-api-key not accepted");
        ret = send_message(conn, 401, "invalid api key", -1, NULL);
        goto out;
    }
    hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!content_type_ok(hdr)) {
        count_status(is_events, 400);
        log_line("POST", url, "400", "bad Content-Type");
        ret = send_message(conn, 400,
                           "Content-Type must be application/json", -1,
                           NULL);
        goto out;
    }
    hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_USER_AGENT);
    if (!hdr || strncmp(hdr, "ctspool/", 8) != 0) {
        count_status(is_events, 400);
        log_line("POST", url, "400", "bad User-Agent");
        ret = send_message(conn, 400, "User-Agent must start with ctspool/",
                           -1, NULL);
        goto out;
    }

    enc = content_encoding(conn);
    if (enc < 0 || (enc == 1 && refuse_gzip)) {
        count_status(is_events, 415);
        log_line("POST", url, "415", "Content-Encoding refused");
        ret = send_message(conn, 415, "unsupported content encoding", -1,
                           NULL);
        goto out;
    }
    if (enc == 1) {
        rc = gunzip_body(ctx, &plain);
        if (rc != 0) {
            count_status(is_events, (unsigned int)rc);
            log_line("POST", url, rc == 413 ? "413" : "400",
                     "gzip body");
            ret = send_message(conn, (unsigned int)rc,
                               rc == 413 ? "request body too large"
                                         : "body is not valid gzip",
                               -1, NULL);
            goto out;
        }
        if (!is_events) {
            pthread_mutex_lock(&g.lock);
            mock_store_counters(g.store)->requests_gzip++;
            pthread_mutex_unlock(&g.lock);
        }
        body = &plain;
    }

    if (is_events) {
        rc = mock_events_parse(body->p ? body->p : "", body->len, &opts,
                               &ereq, &err);
    } else {
        rc = mock_ingest_parse(body->p ? body->p : "", body->len, &opts,
                               &req, &err);
    }
    if (rc != 0) {
        count_status(is_events, (unsigned int)rc);
        snprintf(what, sizeof(what), "%d %s=%zu", rc, kind, err.n_points);
        log_line("POST", url, what, err.message);
        ret = send_message(conn, (unsigned int)rc, err.message, err.index,
                           NULL);
        goto out;
    }

    n = is_events ? ereq.n_events : req.n_points;
    pthread_mutex_lock(&g.lock);
    if (is_events) {
        mock_store_add_events(g.store, &ereq);
    } else {
        mock_store_upsert(g.store, &req);
    }
    by_status(mock_store_counters(g.store), is_events)[201]++;
    pthread_mutex_unlock(&g.lock);
    if (is_events) {
        mock_event_request_cleanup(&ereq);
    } else {
        mock_request_cleanup(&req);
    }

    snprintf(what, sizeof(what), "201 %s=%zu", kind, n);
    log_line("POST", url, what, NULL);
    {
        char buf[80];
        snprintf(buf, sizeof(buf), "{\"message\":\"created\",\"count\":%zu}",
                 n);
        ret = send_text(conn, 201, buf);
    }
out:
    mock_buf_cleanup(&plain);
    free(retry_after);
    free(poison);
    free(poison_ev);
    return ret;
}

/* ---- control API ---- */

static int
json_long(const cJSON *item, long min, long max, long *out)
{
    double v;

    if (!cJSON_IsNumber(item)) {
        return -1;
    }
    v = item->valuedouble;
    if (v != (double)(long)v || v < (double)min || v > (double)max) {
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* A string, a number (converted to text) or null/"" (cleared). */
static int
json_opt_string(const cJSON *item, char **out)
{
    long n;
    char buf[32];

    *out = NULL;
    if (cJSON_IsNull(item)) {
        return 0;
    }
    if (cJSON_IsString(item)) {
        if (item->valuestring[0]) {
            *out = mock_xstrdup(item->valuestring);
        }
        return 0;
    }
    if (json_long(item, 0, 1000000000L, &n) == 0) {
        snprintf(buf, sizeof(buf), "%ld", n);
        *out = mock_xstrdup(buf);
        return 0;
    }
    return -1;
}

static enum MHD_Result
handle_fault(struct MHD_Connection *conn, const char *url,
             struct reqctx *ctx)
{
    static const char *const names[] = {
        "fail_next", "fail_status", "retry_after", "drop_next",
        "delay_ms", "delay_next", "max_points", "poison_prefix",
        "refuse_gzip", "poison_event_type"};
    enum { N_KNOBS = sizeof(names) / sizeof(names[0]) };
    struct faults nf;
    const cJSON *m[N_KNOBS] = {NULL};
    const cJSON *it;
    cJSON *root;
    char *retry_after = NULL, *poison = NULL, *poison_ev = NULL;
    const char *bad = NULL;
    long status = 0;
    size_t i;

    memset(&nf, 0, sizeof(nf));
    if (ctx->too_large) {
        log_line("POST", url, "413", NULL);
        return send_message(conn, 413, "request body too large", -1, NULL);
    }
    root = cJSON_ParseWithLength(ctx->body.p ? ctx->body.p : "",
                                 ctx->body.len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        log_line("POST", url, "400", "not a JSON object");
        return send_message(conn, 400, "body must be a JSON object", -1,
                            NULL);
    }
    for (it = root->child; it && !bad; it = it->next) {
        for (i = 0; i < N_KNOBS; i++) {
            if (strcmp(it->string, names[i]) == 0) {
                break;
            }
        }
        if (i == N_KNOBS || m[i]) {
            bad = "unknown or duplicate member; known: fail_next, "
                  "fail_status, retry_after, drop_next, delay_ms, "
                  "delay_next, max_points, poison_prefix, refuse_gzip, "
                  "poison_event_type";
        } else {
            m[i] = it;
        }
    }
    if (!bad &&
        ((m[0] && json_long(m[0], 0, 1000000000L, &nf.fail_next)) ||
         (m[1] && json_long(m[1], 100, 599, &status)) ||
         (m[3] && json_long(m[3], 0, 1000000000L, &nf.drop_next)) ||
         (m[4] && json_long(m[4], 0, 3600000L, &nf.delay_ms)) ||
         (m[5] && json_long(m[5], -1, 1000000000L, &nf.delay_next)) ||
         (m[6] && json_long(m[6], 0, 1000000000L, &nf.max_points)))) {
        bad = "fault knobs must be integers in range (fail_status "
              "100-599, delay_next -1 = every request)";
    }
    if (!bad && m[2] && json_opt_string(m[2], &retry_after)) {
        bad = "retry_after must be a string, an integer or null";
    }
    if (!bad && m[7] &&
        !(cJSON_IsString(m[7]) || cJSON_IsNull(m[7]))) {
        bad = "poison_prefix must be a string or null";
    }
    if (!bad && m[8] && !cJSON_IsBool(m[8])) {
        bad = "refuse_gzip must be true or false";
    }
    if (!bad && m[9] &&
        !(cJSON_IsString(m[9]) || cJSON_IsNull(m[9]))) {
        bad = "poison_event_type must be a string or null";
    }
    if (bad) {
        free(retry_after);
        cJSON_Delete(root);
        log_line("POST", url, "400", bad);
        return send_message(conn, 400, bad, -1, NULL);
    }
    if (m[7] && cJSON_IsString(m[7]) && m[7]->valuestring[0]) {
        poison = mock_xstrdup(m[7]->valuestring);
    }
    if (m[9] && cJSON_IsString(m[9]) && m[9]->valuestring[0]) {
        poison_ev = mock_xstrdup(m[9]->valuestring);
    }

    pthread_mutex_lock(&g.lock);
    if (m[0]) {
        g.faults.fail_next = nf.fail_next;
    }
    if (m[1]) {
        g.faults.fail_status = (int)status;
    }
    if (m[2]) {
        free(g.faults.retry_after);
        g.faults.retry_after = retry_after;
        retry_after = NULL;
    }
    if (m[3]) {
        g.faults.drop_next = nf.drop_next;
    }
    if (m[4]) {
        g.faults.delay_ms = nf.delay_ms;
        if (!m[5]) {
            g.faults.delay_next = -1;
        }
    }
    if (m[5]) {
        g.faults.delay_next = nf.delay_next;
    }
    if (m[6]) {
        g.faults.max_points = nf.max_points;
    }
    if (m[7]) {
        free(g.faults.poison_prefix);
        g.faults.poison_prefix = poison;
        poison = NULL;
    }
    if (m[8]) {
        g.faults.refuse_gzip = cJSON_IsTrue(m[8]);
    }
    if (m[9]) {
        free(g.faults.poison_event_type);
        g.faults.poison_event_type = poison_ev;
        poison_ev = NULL;
    }
    pthread_mutex_unlock(&g.lock);

    free(retry_after);
    free(poison);
    free(poison_ev);
    cJSON_Delete(root);
    log_line("POST", url, "200", NULL);
    return send_text(conn, 200, "{\"ok\":true}");
}

static enum MHD_Result
handle_fault_get(struct MHD_Connection *conn, const char *url)
{
    struct mock_buf b = {0};
    const struct faults *f = &g.faults;

    pthread_mutex_lock(&g.lock);
    mock_buf_printf(&b,
                    "{\"fail_next\":%ld,\"fail_status\":%d,"
                    "\"retry_after\":",
                    f->fail_next, f->fail_status);
    if (f->retry_after) {
        mock_buf_json_string(&b, f->retry_after, strlen(f->retry_after));
    } else {
        mock_buf_adds(&b, "null");
    }
    mock_buf_printf(&b,
                    ",\"drop_next\":%ld,\"delay_ms\":%ld,\"delay_next\":%ld,"
                    "\"max_points\":%ld,\"poison_prefix\":",
                    f->drop_next, f->delay_ms, f->delay_next, f->max_points);
    if (f->poison_prefix) {
        mock_buf_json_string(&b, f->poison_prefix,
                             strlen(f->poison_prefix));
    } else {
        mock_buf_adds(&b, "null");
    }
    mock_buf_printf(&b, ",\"refuse_gzip\":%s,\"poison_event_type\":",
                    f->refuse_gzip ? "true" : "false");
    if (f->poison_event_type) {
        mock_buf_json_string(&b, f->poison_event_type,
                             strlen(f->poison_event_type));
    } else {
        mock_buf_adds(&b, "null");
    }
    mock_buf_adds(&b, "}");
    pthread_mutex_unlock(&g.lock);
    log_line("GET", url, "200", NULL);
    return send_body(conn, 200, b.p, b.len, MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result
handle_dump(struct MHD_Connection *conn, const char *url, int whole)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc;

    if (!out) {
        log_line("GET", url, "500", strerror(errno));
        return send_message(conn, 500, "open_memstream failed", -1, NULL);
    }
    pthread_mutex_lock(&g.lock);
    if (whole) {
        rc = mock_store_write_state(g.store, out);
    } else {
        mock_store_write_counters(g.store, out);
        fputc('\n', out);
        rc = ferror(out) ? -1 : 0;
    }
    pthread_mutex_unlock(&g.lock);
    if (fclose(out) != 0 || rc != 0) {
        free(buf);
        log_line("GET", url, "500", "dump failed");
        return send_message(conn, 500, "dump failed", -1, NULL);
    }
    log_line("GET", url, "200", NULL);
    return send_body(conn, 200, buf, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* ---- MHD callbacks ---- */

static enum route
route_of(const char *url, const char *method)
{
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    if (strcmp(url, g.cfg.path) == 0 || strcmp(url, ALT_INGEST_PATH) == 0) {
        return is_post ? R_INGEST : R_BAD_METHOD;
    }
    if (strcmp(url, g.cfg.events_path) == 0 ||
        strcmp(url, ALT_EVENTS_PATH) == 0) {
        return is_post ? R_EVENTS : R_BAD_METHOD;
    }
    if (strcmp(url, "/_mock/fault") == 0) {
        return is_post ? R_FAULT : is_get ? R_FAULT_GET : R_BAD_METHOD;
    }
    if (strcmp(url, "/_mock/reset") == 0) {
        return is_post ? R_RESET : R_BAD_METHOD;
    }
    if (strcmp(url, "/_mock/state") == 0) {
        return is_get ? R_STATE : R_BAD_METHOD;
    }
    if (strcmp(url, "/_mock/counters") == 0) {
        return is_get ? R_COUNTERS : R_BAD_METHOD;
    }
    return R_NOT_FOUND;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
    struct reqctx *ctx = *con_cls;

    (void)cls;
    (void)version;
    if (!ctx) {
        const char *cl;
        char *end;
        unsigned long long want = 0;
        int is_post;

        ctx = mock_xmalloc(sizeof(*ctx));
        memset(ctx, 0, sizeof(*ctx));
        ctx->route = route_of(url, method);
        is_post = ctx->route == R_INGEST || ctx->route == R_EVENTS;
        ctx->limit = is_post ? g.cfg.max_body : CONTROL_MAX_BODY;
        *con_cls = ctx;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            errno = 0;
            want = strtoull(cl, &end, 10);
            if (errno || end == cl) {
                want = 0;
            }
        }
        if (want > ctx->limit) {
            /* Answer before the body: MHD then closes the connection. */
            ctx->too_large = 1;
            if (is_post) {
                int is_events = ctx->route == R_EVENTS;
                struct mock_counters *c;

                pthread_mutex_lock(&g.lock);
                c = mock_store_counters(g.store);
                if (is_events) {
                    c->event_requests_total++;
                } else {
                    c->requests_total++;
                }
                by_status(c, is_events)[413]++;
                pthread_mutex_unlock(&g.lock);
            }
            log_line(method, url, "413", "Content-Length over the limit");
            return send_message(conn, 413, "request body too large", -1,
                                NULL);
        }
        if (want > 0 && (is_post || ctx->route == R_FAULT)) {
            mock_buf_reserve(&ctx->body, (size_t)want);
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        ctx->received += n;
        if (!ctx->too_large && ctx->body.len + n > ctx->limit) {
            ctx->too_large = 1;
            mock_buf_cleanup(&ctx->body);
        }
        if (!ctx->too_large) {
            mock_buf_add(&ctx->body, upload_data, n);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    switch (ctx->route) {
    case R_INGEST:
    case R_EVENTS:
        return handle_post(conn, url, ctx);
    case R_FAULT:
        return handle_fault(conn, url, ctx);
    case R_FAULT_GET:
        return handle_fault_get(conn, url);
    case R_RESET:
        pthread_mutex_lock(&g.lock);
        mock_store_clear(g.store);
        faults_clear(&g.faults);
        pthread_mutex_unlock(&g.lock);
        log_line(method, url, "200", NULL);
        return send_text(conn, 200, "{\"ok\":true}");
    case R_STATE:
        return handle_dump(conn, url, 1);
    case R_COUNTERS:
        return handle_dump(conn, url, 0);
    case R_BAD_METHOD:
        log_line(method, url, "405", NULL);
        return send_message(conn, 405, "method not allowed", -1, NULL);
    case R_NOT_FOUND:
    default:
        log_line(method, url, "404", NULL);
        return send_message(conn, 404, "not found", -1, NULL);
    }
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct reqctx *ctx = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (ctx) {
        mock_buf_cleanup(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* ---- files ---- */

/* Writes path atomically: a temporary file, fsync, rename. */
static int
write_atomic(const char *path, int (*writer)(FILE *, void *), void *arg)
{
    struct mock_buf tmp = {0};
    FILE *out;
    int rc = -1, saved;

    mock_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    out = fopen(tmp.p, "w");
    if (!out) {
        goto out;
    }
    if (writer(out, arg) != 0 || fflush(out) != 0 || fsync(fileno(out))) {
        saved = errno;
        fclose(out);
        unlink(tmp.p);
        errno = saved;
        goto out;
    }
    if (fclose(out) != 0) {
        saved = errno;
        unlink(tmp.p);
        errno = saved;
        goto out;
    }
    if (rename(tmp.p, path) != 0) {
        saved = errno;
        unlink(tmp.p);
        errno = saved;
        goto out;
    }
    rc = 0;
out:
    mock_buf_cleanup(&tmp);
    return rc;
}

static int
write_port(FILE *out, void *arg)
{
    return fprintf(out, "%u\n", *(unsigned int *)arg) < 0 ? -1 : 0;
}

static int
write_state(FILE *out, void *arg)
{
    int rc;

    (void)arg;
    pthread_mutex_lock(&g.lock);
    rc = mock_store_write_state(g.store, out);
    pthread_mutex_unlock(&g.lock);
    return rc;
}

/* ---- command line ---- */

static void
usage(FILE *out)
{
    fputs(
        "usage: ctspool-mock-receiver [OPTION]...\n"
        "A mock Cloudthread ingest endpoint for tests and demos.\n"
        "\n"
        "  --listen ADDR:PORT    IPv4 address and port (default "
        "127.0.0.1:0,\n"
        "                        0 = ephemeral)\n"
        "  --port-file FILE      write the bound port here once listening\n"
        "  --api-key KEY         accepted x-api-key (repeatable; none: any)\n"
        "  --token TOKEN         known data stream token (repeatable; none: "
        "any)\n"
        "  --state-file FILE     write the state JSON here on SIGTERM/SIGINT\n"
        "  --path PATH           ingest path (default /streams/ingest; "
        "/api/streams/ingest\n"
        "                        is always accepted too)\n"
        "  --events-path PATH    events path (default /events; /api/events "
        "is\n"
        "                        always accepted too)\n"
        "  --team N              known team ID (repeatable; none: any)\n"
        "  --max-body-bytes N    largest accepted body (default 64 MiB)\n"
        "  --quiet               no per-request log lines on stderr\n"
        "  --selftest            check record IDs and formats, then exit\n"
        "Fault injection (same as POST /_mock/fault):\n"
        "  --fail-next N --fail-status S [--retry-after VALUE]\n"
        "  --drop-next N   --delay-ms D [--delay-next N]\n"
        "  --max-points M  --poison-prefix P  --refuse-gzip\n"
        "  --poison-event-type P\n",
        out);
}

static int
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_listen(const char *s, struct sockaddr_in *addr)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    long port;

    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    if (!colon) {
        colon = s - 1;
        snprintf(host, sizeof(host), "127.0.0.1");
    } else if (colon == s) {
        snprintf(host, sizeof(host), "127.0.0.1");
    } else {
        if ((size_t)(colon - s) >= sizeof(host)) {
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1 ||
        parse_long(colon + 1, 0, 65535, &port) != 0) {
        return -1;
    }
    addr->sin_port = htons((uint16_t)port);
    return 0;
}

static void
push(char ***list, size_t *n, const char *s)
{
    *list = mock_xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = mock_xstrdup(s);
}

static void
free_list(char **list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

enum {
    O_LISTEN = 256,
    O_PORT_FILE,
    O_API_KEY,
    O_TOKEN,
    O_STATE_FILE,
    O_PATH,
    O_QUIET,
    O_MAX_BODY,
    O_SELFTEST,
    O_FAIL_NEXT,
    O_FAIL_STATUS,
    O_RETRY_AFTER,
    O_DROP_NEXT,
    O_DELAY_MS,
    O_DELAY_NEXT,
    O_MAX_POINTS,
    O_POISON_PREFIX,
    O_REFUSE_GZIP,
    O_EVENTS_PATH,
    O_TEAM,
    O_POISON_EVENT_TYPE,
    O_HELP
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"port-file", required_argument, NULL, O_PORT_FILE},
    {"api-key", required_argument, NULL, O_API_KEY},
    {"token", required_argument, NULL, O_TOKEN},
    {"state-file", required_argument, NULL, O_STATE_FILE},
    {"path", required_argument, NULL, O_PATH},
    {"quiet", no_argument, NULL, O_QUIET},
    {"max-body-bytes", required_argument, NULL, O_MAX_BODY},
    {"selftest", no_argument, NULL, O_SELFTEST},
    {"fail-next", required_argument, NULL, O_FAIL_NEXT},
    {"fail-status", required_argument, NULL, O_FAIL_STATUS},
    {"retry-after", required_argument, NULL, O_RETRY_AFTER},
    {"drop-next", required_argument, NULL, O_DROP_NEXT},
    {"delay-ms", required_argument, NULL, O_DELAY_MS},
    {"delay-next", required_argument, NULL, O_DELAY_NEXT},
    {"max-points", required_argument, NULL, O_MAX_POINTS},
    {"poison-prefix", required_argument, NULL, O_POISON_PREFIX},
    {"refuse-gzip", no_argument, NULL, O_REFUSE_GZIP},
    {"events-path", required_argument, NULL, O_EVENTS_PATH},
    {"team", required_argument, NULL, O_TEAM},
    {"poison-event-type", required_argument, NULL, O_POISON_EVENT_TYPE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to continue, else an exit status. */
static int
parse_args(int argc, char **argv)
{
    struct config *cfg = &g.cfg;
    struct faults *f = &g.faults;
    int opt, delay_next_set = 0;
    long v = 0;

    parse_listen("127.0.0.1:0", &cfg->addr);
    cfg->path = "/streams/ingest";
    cfg->events_path = "/events";
    cfg->max_body = DEFAULT_MAX_BODY;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int bad = 0;

        switch (opt) {
        case O_LISTEN:
            bad = parse_listen(optarg, &cfg->addr);
            break;
        case O_PORT_FILE:
            cfg->port_file = optarg;
            break;
        case O_API_KEY:
            bad = !optarg[0];
            push(&cfg->api_keys, &cfg->n_api_keys, optarg);
            break;
        case O_TOKEN:
            bad = !optarg[0];
            push(&cfg->tokens, &cfg->n_tokens, optarg);
            break;
        case O_STATE_FILE:
            cfg->state_file = optarg;
            break;
        case O_PATH:
            bad = optarg[0] != '/';
            cfg->path = optarg;
            break;
        case O_QUIET:
            cfg->quiet = 1;
            break;
        case O_MAX_BODY:
            bad = parse_long(optarg, 1, 1L << 32, &v);
            cfg->max_body = (size_t)v;
            break;
        case O_SELFTEST:
            return mock_selftest() == 0 ? EX_OK : 1;
        case O_FAIL_NEXT:
            bad = parse_long(optarg, 0, 1000000000L, &f->fail_next);
            break;
        case O_FAIL_STATUS:
            bad = parse_long(optarg, 100, 599, &v);
            f->fail_status = (int)v;
            break;
        case O_RETRY_AFTER:
            free(f->retry_after);
            f->retry_after = optarg[0] ? mock_xstrdup(optarg) : NULL;
            break;
        case O_DROP_NEXT:
            bad = parse_long(optarg, 0, 1000000000L, &f->drop_next);
            break;
        case O_DELAY_MS:
            bad = parse_long(optarg, 0, 3600000L, &f->delay_ms);
            break;
        case O_DELAY_NEXT:
            bad = parse_long(optarg, -1, 1000000000L, &f->delay_next);
            delay_next_set = 1;
            break;
        case O_MAX_POINTS:
            bad = parse_long(optarg, 0, 1000000000L, &f->max_points);
            break;
        case O_POISON_PREFIX:
            free(f->poison_prefix);
            f->poison_prefix = optarg[0] ? mock_xstrdup(optarg) : NULL;
            break;
        case O_REFUSE_GZIP:
            f->refuse_gzip = 1;
            break;
        case O_EVENTS_PATH:
            bad = optarg[0] != '/';
            cfg->events_path = optarg;
            break;
        case O_TEAM:
            bad = parse_long(optarg, 1, MOCK_MAX_TEAM, &v);
            cfg->teams = mock_xrealloc(cfg->teams, (cfg->n_teams + 1) *
                                                       sizeof(*cfg->teams));
            cfg->teams[cfg->n_teams++] = v;
            break;
        case O_POISON_EVENT_TYPE:
            free(f->poison_event_type);
            f->poison_event_type = optarg[0] ? mock_xstrdup(optarg) : NULL;
            break;
        case O_HELP:
            usage(stdout);
            return EX_OK;
        default:
            usage(stderr);
            return EX_USAGE;
        }
        if (bad) {
            fprintf(stderr, "ctspool-mock-receiver: invalid value for "
                            "--%s\n",
                    long_opts[opt - O_LISTEN].name);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ctspool-mock-receiver: unexpected argument: %s\n",
                argv[optind]);
        return EX_USAGE;
    }
    if (!delay_next_set) {
        f->delay_next = -1;
    }
    return -1;
}

int
main(int argc, char **argv)
{
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    pthread_condattr_t ca;
    sigset_t sigs;
    unsigned int port, flags;
    int rc = EX_SOFTWARE, sig = 0;

    faults_clear(&g.faults);
    mock_ingest_init();
    if (mock_canon_init() != 0) {
        fprintf(stderr, "ctspool-mock-receiver: SHA-256 not available\n");
        return EX_SOFTWARE;
    }
    rc = parse_args(argc, argv);
    if (rc >= 0) {
        goto out;
    }
    rc = EX_SOFTWARE;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    g.store = mock_store_new();

    /* Every thread MHD starts inherits this mask; main waits below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_AUTO;
    if (!g.cfg.quiet) {
        flags |= MHD_USE_ERROR_LOG;
    }
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&g.cfg.addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ctspool-mock-receiver: cannot listen on %s:%u\n",
                inet_ntoa(g.cfg.addr.sin_addr),
                (unsigned int)ntohs(g.cfg.addr.sin_port));
        goto out;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : ntohs(g.cfg.addr.sin_port);
    if (g.cfg.port_file && write_atomic(g.cfg.port_file, write_port, &port)) {
        fprintf(stderr, "ctspool-mock-receiver: %s: %s\n", g.cfg.port_file,
                strerror(errno));
        rc = EX_IOERR;
        goto out;
    }
    printf("listening on %s:%u\n", inet_ntoa(g.cfg.addr.sin_addr), port);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0) {
        continue;
    }
    if (!g.cfg.quiet) {
        fprintf(stderr, "ctspool-mock-receiver: signal %d, stopping\n", sig);
    }
    rc = EX_OK;
out:
    if (d) {
        /* Wake delayed requests, then wait for every connection. */
        pthread_mutex_lock(&g.stop_lock);
        g.stopping = 1;
        pthread_cond_broadcast(&g.stop_cond);
        pthread_mutex_unlock(&g.stop_lock);
        MHD_stop_daemon(d);
    }
    if (rc == EX_OK && g.store && g.cfg.state_file &&
        write_atomic(g.cfg.state_file, write_state, NULL) != 0) {
        fprintf(stderr, "ctspool-mock-receiver: %s: %s\n", g.cfg.state_file,
                strerror(errno));
        rc = EX_IOERR;
    }
    mock_store_free(g.store);
    faults_clear(&g.faults);
    free_list(g.cfg.api_keys, g.cfg.n_api_keys);
    free_list(g.cfg.tokens, g.cfg.n_tokens);
    free(g.cfg.teams);
    mock_ingest_cleanup();
    mock_canon_cleanup();
    return rc;
}
