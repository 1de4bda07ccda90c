/*
 * http_int.h -- what the files of serve's HTTP side share: the daemon's
 * state, a request and an answer.  http.c receives and routes requests,
 * http_answer.c answers them.
 */
#ifndef SV_HTTP_INT_H
#define SV_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "serve.h"

enum route { RT_INGEST, RT_HEALTH, RT_UPSTREAM, RT_METRICS };
enum rstate { RS_RECEIVING, RS_QUEUED };

struct sv_http {
    struct MHD_Daemon *d;
    struct sv_conns *registry; /* the headers' deadline (conns.c) */
    struct sv_http_opts o;
    int listen_fd; /* ours once quiesced, else the daemon's */
    size_t body_budget;
    atomic_size_t body_bytes; /* http.c invariant 3 */
    atomic_ulong inflight;
    atomic_ulong conns;       /* open connections */
    atomic_int is_many_said;  /* the poll(2) warning was logged */
    atomic_int is_stopping;
    pthread_rwlock_t live_lock; /* readers: requests; writer: reload */
    struct sv_live *live;
};

struct request {
    struct sv_http *h;
    struct MHD_Connection *conn;
    const char *method, *url; /* the connection's, valid for the request */
    enum route route;
    enum rstate state;
    int64_t started_ms;

    struct sp_buf body;  /* as it arrives; body.cap is charged */
    size_t expected_len; /* Content-Length, 0 if none */
    size_t charged; /* bytes of h->body_bytes this request holds */
    int is_too_large, is_over_budget;
    int is_events; /* POST /events: the body holds events */
    size_t discarded;
    struct sv_live *live; /* ingest: the settings it started with (a ref) */

    struct sv_ingest in;
    struct sv_job job;
};

/* One answer. */
struct answer {
    unsigned code;
    const char *ctype;
    char *body; /* malloc()ed, handed to libmicrohttpd */
    size_t len;
    unsigned retry_after; /* seconds; 0: no header */
    const char *allow;    /* Allow header for 405 */
    int must_close;
};

/* ---- conns.c: the deadline of a request's headers ---------------------- */

struct sv_conns;
struct sv_conn;

/* The registry, and its reaper thread: a connection that waits longer
 * than deadline_ms for a request's complete headers is shut down. */
ctspool_rc sv_conns_start(int64_t deadline_ms, struct sv_conns **out,
                          struct sp_err *e);
/* Once the daemon has stopped (every connection closed). */
void sv_conns_stop(struct sv_conns *c);
/* A connection accepted on socket fd, waiting for headers from now;
 * NULL when out of memory (then only the idle timeout watches it). */
struct sv_conn *sv_conns_add(struct sv_conns *c, int fd);
/* It closes (before its socket does); k may be NULL. */
void sv_conns_remove(struct sv_conns *c, struct sv_conn *k);
/* Its request's headers are complete / its request has ended and it
 * waits for the next one's.  k may be NULL. */
void sv_conn_busy(struct sv_conn *k);
void sv_conn_waiting(struct sv_conn *k);

/* ---- answers: the response queued on the connection ------------------- */

/* a (its body transferred) for method url on conn. */
enum MHD_Result sv_answer_send(struct sv_http *h, struct MHD_Connection *conn,
                               const char *method, const char *url,
                               struct answer *a);
/* {"error": msg} with code, and the headers code calls for. */
enum MHD_Result sv_answer_error(struct sv_http *h, struct MHD_Connection *conn,
                                const char *method, const char *url,
                                unsigned code, const char *msg);
/* The same, and the connection closes after it. */
enum MHD_Result sv_answer_error_close(struct sv_http *h,
                                      struct MHD_Connection *conn,
                                      const char *method, const char *url,
                                      unsigned code, const char *msg);
/* 503: the server is shutting down; the connection closes. */
enum MHD_Result sv_answer_shutdown(struct sv_http *h,
                                   struct MHD_Connection *conn,
                                   const char *method, const char *url);
/* 400 listing r's invalid points. */
enum MHD_Result sv_answer_invalid(struct request *r);
/* 201: n points accepted (201 like upstream). */
enum MHD_Result sv_answer_accepted(struct request *r, size_t n);
/* The outcome of r's job with the writer. */
enum MHD_Result sv_answer_job(struct request *r);

#endif
