/*
 * http_answer.c -- the answers of serve's HTTP side (http.c): the JSON
 * body of each answer, the status a writer's outcome maps onto, and
 * the headers that go with it (Retry-After, Allow, Connection: close),
 * queued on the connection through libmicrohttpd.  An answer never
 * holds a key or a data stream token (http.c invariant (4)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http_int.h"
#include "serve.h"

#define RETRY_FULL_S 5
#define RETRY_BUSY_S 1

enum MHD_Result
sv_answer_send(struct sv_http *h, struct MHD_Connection *conn,
               const char *method, const char *url, struct answer *a)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[32];

    if (!a->body) {
        /* Out of memory building the body: answer without one. */
        a->len = 0;
    }
    resp = MHD_create_response_from_buffer(a->len, a->body,
                                           a->body ? MHD_RESPMEM_MUST_FREE
                                                   : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(a->body);
        return MHD_NO; /* closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
    if (a->retry_after) {
        snprintf(num, sizeof(num), "%u", a->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (a->allow) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow);
    }
    if (a->must_close) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    ret = MHD_queue_response(conn, a->code, resp);
    MHD_destroy_response(resp);
    sv_metrics_count(h->o.metrics, a->code);
    sp_log(SP_LOG_DEBUG, "%s %s -> %u", method, url, a->code);
    return ret;
}

/* {"error": msg} (plus "errors": [] for 400s, like the full form);
 * must_close: the connection is closed after it. */
static enum MHD_Result
answer_error(struct sv_http *h, struct MHD_Connection *conn,
             const char *method, const char *url, unsigned code,
             const char *msg, int must_close)
{
    struct answer a = {code, "application/json", NULL, 0, 0, NULL,
                       must_close};
    struct sp_buf b;

    sp_buf_init(&b);
    sp_buf_adds(&b, "{\"error\": ");
    ob_buf_add_json(&b, msg, strlen(msg));
    sp_buf_adds(&b, code == MHD_HTTP_BAD_REQUEST ? ", \"errors\": []}\n"
                                                 : "}\n");
    a.body = ob_buf_take(&b, &a.len);
    if (code == MHD_HTTP_TOO_MANY_REQUESTS) {
        a.retry_after = RETRY_FULL_S;
    } else if (code == MHD_HTTP_SERVICE_UNAVAILABLE) {
        a.retry_after = RETRY_BUSY_S;
    }
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) {
        a.allow = strcmp(url, "/healthz") == 0 ||
                          strcmp(url, "/healthz/upstream") == 0 ||
                          strcmp(url, "/metrics") == 0
                      ? "GET, HEAD"
                      : "POST";
    }
    if (code >= 500) {
        sp_log(SP_LOG_WARN, "%s %s: %u %s", method, url, code, msg);
    }
    return sv_answer_send(h, conn, method, url, &a);
}

enum MHD_Result
sv_answer_error(struct sv_http *h, struct MHD_Connection *conn,
                const char *method, const char *url, unsigned code,
                const char *msg)
{
    return answer_error(h, conn, method, url, code, msg, 0);
}

enum MHD_Result
sv_answer_error_close(struct sv_http *h, struct MHD_Connection *conn,
                      const char *method, const char *url, unsigned code,
                      const char *msg)
{
    return answer_error(h, conn, method, url, code, msg, 1);
}

enum MHD_Result
sv_answer_shutdown(struct sv_http *h, struct MHD_Connection *conn,
                   const char *method, const char *url)
{
    struct answer a = {MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                       NULL, 0, RETRY_BUSY_S, NULL, 1};

    a.body = strdup("{\"error\": \"server is shutting down\"}\n");
    a.len = a.body ? strlen(a.body) : 0;
    return sv_answer_send(h, conn, method, url, &a);
}

/* The 400 answer for a point the journal refused (a fold whose result
 * is not finite): the full form, with that one point listed. */
static enum MHD_Result
answer_refused(struct request *r, const struct sv_job *job)
{
    struct answer a = {MHD_HTTP_BAD_REQUEST, "application/json", NULL, 0, 0,
                       NULL, 0};
    const char *what = job->msg;
    const char *colon = strstr(what, "]: ");
    struct sp_buf b;

    if (strncmp(what, "data[", 5) == 0 && colon) {
        what = colon + 3; /* the index is its own field */
    }
    sp_buf_init(&b);
    sp_buf_adds(&b, "{\"error\": ");
    ob_buf_add_json(&b, job->msg, strlen(job->msg));
    sp_buf_addf(&b, ", \"errors\": [{\"index\": %ld, \"message\": ",
                job->bad_index);
    ob_buf_add_json(&b, what, strlen(what));
    sp_buf_adds(&b, "}]}\n");
    a.body = ob_buf_take(&b, &a.len);
    return sv_answer_send(r->h, r->conn, r->method, r->url, &a);
}

/* The 400 answer listing invalid points (at most SV_MAX_ERRORS). */
enum MHD_Result
sv_answer_invalid(struct request *r)
{
    struct answer a = {MHD_HTTP_BAD_REQUEST, "application/json", NULL, 0, 0,
                       NULL, 0};
    const struct sv_ingest *in = &r->in;
    struct sp_buf b;
    char msg[128];

    sp_buf_init(&b);
    if (in->has_doc_error) {
        sp_buf_adds(&b, "{\"error\": ");
        ob_buf_add_json(&b, in->doc_error.msg, strlen(in->doc_error.msg));
        sp_buf_adds(&b, ", \"errors\": []}\n");
    } else {
        snprintf(msg, sizeof(msg),
                 "%zu of %zu %s are invalid; nothing was stored",
                 in->n_invalid, in->n_total,
                 r->is_events ? "events" : "points");
        sp_buf_adds(&b, "{\"error\": ");
        ob_buf_add_json(&b, msg, strlen(msg));
        sp_buf_adds(&b, ", \"errors\": [");
        for (size_t i = 0; i < in->n_errors; i++) {
            sp_buf_addf(&b, "%s{\"index\": %zu, \"message\": ",
                        i ? ", " : "", in->errors[i].index);
            ob_buf_add_json(&b, in->errors[i].msg,
                            strlen(in->errors[i].msg));
            sp_buf_adds(&b, "}");
        }
        sp_buf_adds(&b, "]");
        if (in->n_invalid > in->n_errors) {
            sp_buf_addf(&b, ", \"errors_not_listed\": %zu",
                        in->n_invalid - in->n_errors);
        }
        sp_buf_adds(&b, "}\n");
    }
    a.body = ob_buf_take(&b, &a.len);
    return sv_answer_send(r->h, r->conn, r->method, r->url, &a);
}

enum MHD_Result
sv_answer_accepted(struct request *r, size_t n)
{
    struct answer a = {MHD_HTTP_CREATED, "application/json", NULL, 0, 0,
                       NULL, 0};
    char text[64];
    int len = snprintf(text, sizeof(text), "{\"accepted\": %zu}\n", n);

    a.body = malloc((size_t)len + 1);
    if (a.body) {
        memcpy(a.body, text, (size_t)len + 1);
        a.len = (size_t)len;
    }
    return sv_answer_send(r->h, r->conn, r->method, r->url, &a);
}

/* Maps a writer outcome onto the HTTP answer. */
enum MHD_Result
sv_answer_job(struct request *r)
{
    const struct sv_job *job = &r->job;
    struct sv_http *h = r->h;

    if (r->route == RT_HEALTH) {
        struct answer a = {MHD_HTTP_OK, "application/json", NULL, 0, 0,
                           NULL, 0};
        struct sp_buf b;

        sp_buf_init(&b);
        if (job->rc == CTSPOOL_OK) {
            sp_buf_adds(&b, "{\"status\": \"ok\"}\n");
        } else {
            a.code = MHD_HTTP_SERVICE_UNAVAILABLE;
            sp_buf_adds(&b, "{\"status\": \"unavailable\", \"error\": ");
            ob_buf_add_json(&b, job->msg, strlen(job->msg));
            sp_buf_adds(&b, "}\n");
            sp_log(SP_LOG_WARN, "GET /healthz: 503 %s", job->msg);
        }
        a.body = ob_buf_take(&b, &a.len);
        return sv_answer_send(h, r->conn, r->method, r->url, &a);
    }
    switch (job->rc) {
    case CTSPOOL_OK:
        if (job->replay && job->replay[0] != '{') {
            /* Answered before by `append --idempotency-key`, whose
             * answer is its summary ("appended N points: ..."). */
            unsigned long long n = 0;

            if (sscanf(job->replay, "appended %llu", &n) != 1) {
                n = 0;
            }
            return sv_answer_accepted(r, (size_t)n);
        }
        if (job->replay) {
            /* The Idempotency-Key was answered before: that answer. */
            struct answer a = {MHD_HTTP_CREATED, "application/json", NULL,
                               0, 0, NULL, 0};

            a.len = strlen(job->replay);
            a.body = malloc(a.len + 1);
            if (a.body) {
                memcpy(a.body, job->replay, a.len + 1);
            }
            return sv_answer_send(h, r->conn, r->method, r->url, &a);
        }
        return sv_answer_accepted(r, r->in.n_points);
    case CTSPOOL_E_FULL:
        return sv_answer_error(h, r->conn, r->method, r->url,
                               job->too_large ? MHD_HTTP_CONTENT_TOO_LARGE
                                              : MHD_HTTP_TOO_MANY_REQUESTS,
                               job->msg);
    case CTSPOOL_E_INVALID:
        if (job->bad_index >= 0) {
            return answer_refused(r, job);
        }
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_BAD_REQUEST, job->msg);
    case CTSPOOL_E_DISKFULL:
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_INSUFFICIENT_STORAGE, job->msg);
    case CTSPOOL_E_BUSY:
    case CTSPOOL_E_NOMEM:
    case CTSPOOL_E_CORRUPT: /* on_corrupt = "stop": not a bug of ours */
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_SERVICE_UNAVAILABLE, job->msg);
    default:
        sp_log(SP_LOG_WARN, "%s %s: 500 %s: %s", r->method, r->url,
               ctspool_strerror(job->rc), job->msg);
        return sv_answer_error(h, r->conn, r->method, r->url,
                               MHD_HTTP_INTERNAL_SERVER_ERROR,
                               ctspool_strerror(job->rc));
    }
}
