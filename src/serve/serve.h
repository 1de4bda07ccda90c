/*
 * serve.h -- what the files of `ctspool serve` share.  One file, one
 * responsibility:
 *
 *   serve.c    cmd_serve: configuration checks, listen socket, signals,
 *              start-up and the shutdown sequence
 *   http.c     with http_answer.c the only libmicrohttpd users (types
 *              in http_int.h): routing, bodies; http_answer.c: answers
 *   ingest.c   request body -> validated points, packed for the writer
 *   commit.c   the writer thread: group commit, the only user of the
 *              writing journal handle
 *   metrics.c  /metrics: serve's counters around src/obs's rendering
 *   auth.c     x-api-key check in constant time (OpenSSL)
 *
 * What serve shares with the drainer's metrics server is in src/obs
 * (obs.h): the journal statistics and their rendering, /healthz/upstream,
 * the process_* series, JSON strings, the listen address.
 *
 * Threads: libmicrohttpd's worker pool runs http*.c, ingest.c and the
 * rendering of metrics.c; one writer thread runs commit.c; the main
 * thread waits for signals.  Ownership of a request (struct sv_job and
 * what it points to) passes from a worker to the writer on
 * sv_writer_submit() and back when the writer calls job->done().
 */
#ifndef SV_SERVE_H
#define SV_SERVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "obs.h"
#include "sp_int.h"

/* ---- ingest.c --------------------------------------------------------- */

#define SV_MAX_ERRORS 100 /* invalid points listed in one 400 answer */

struct sv_point_error {
    size_t index; /* position in "data" */
    char *msg;    /* "field: reason" */
};

/*
 * One ingest request's points, validated and packed: every point of a
 * Cloudthread payload shares one data stream token and one aggregation
 * function, so those are kept once; each point is packed as hour,
 * value, and its strings (lengths first).  Owned by the request; the
 * writer reads it (sv_ingest_point) while it holds the job.
 */
struct sv_ingest {
    char *stream; /* copy of the token (a secret: never logged) */
    size_t stream_len;
    int agg;
    size_t n_total;  /* elements of "data", valid or not */
    size_t n_points; /* packed (0 when the payload is rejected) */
    struct sp_buf packed; /* the packed points' bytes */

    /* Rejections: the payload as a whole (has_doc_error), or points. */
    int has_doc_error;
    struct sp_err doc_error;
    size_t n_invalid;
    size_t n_errors; /* listed, at most SV_MAX_ERRORS */
    struct sv_point_error *errors;
};

void sv_ingest_init(struct sv_ingest *in);
void sv_ingest_cleanup(struct sv_ingest *in);
/*
 * sv_ingest_parse -- validate the payload body[0..len) (borrowed) and
 * pack its valid points.  d: defaults (borrowed; d->stream must outlive
 * nothing, it is copied).  Returns OK (then has_doc_error / n_invalid
 * say whether the payload is acceptable) or E_NOMEM.
 */
ctspool_rc sv_ingest_parse(struct sv_ingest *in, const char *body,
                           size_t len, const struct sp_defaults *d);
/*
 * sv_ingest_point -- unpack the point at *off into *p (strings borrowed
 * from in) and advance *off.  Returns 0 at the end, else 1.
 */
int sv_ingest_point(const struct sv_ingest *in, size_t *off,
                    struct sp_point *p);

/* ---- commit.c --------------------------------------------------------- */

enum sv_job_kind {
    SV_JOB_INGEST, /* store in->points as one unit: all or none */
    SV_JOB_PROBE   /* /healthz: can a write transaction begin? */
};

/*
 * A unit of work for the writer.  The submitter fills kind, in, done and
 * ctx; the writer fills rc and msg, then calls done(job) exactly once,
 * after which it never touches the job again.
 */
struct sv_job {
    struct sv_job *next; /* writer's queue */
    enum sv_job_kind kind;
    const struct sv_ingest *in; /* SV_JOB_INGEST: borrowed */
    void (*done)(struct sv_job *job);
    void *ctx;

    ctspool_rc rc;  /* OK: committed per durability */
    char msg[256];  /* reason when rc != OK */
    long bad_index; /* E_INVALID: the point refused (a fold not finite),
                     * its data[] index; -1 when none */
    int too_large;  /* E_FULL: the request alone passes the pending
                     * limit (413: retrying cannot help) */

    /* SV_JOB_INGEST, set by the HTTP side (DESIGN.md section 10). */
    int accumulate;        /* ?mode=accumulate: fold, not replace */
    char idem_key[256];    /* Idempotency-Key; "" when none */
    int64_t idem_min_at;   /* a key stored before this (Unix) is stale */
    char *replay;          /* set by the writer: the key's first answer
                            * (malloc'd; the HTTP side frees it) */
};

struct sv_writer;

/* Counters the writer keeps, for /metrics. */
struct sv_writer_stats {
    uint64_t commits;         /* transactions committed */
    uint64_t jobs_committed;  /* ingest requests they carried */
    uint64_t points_committed;
    uint64_t busy_ms;         /* how long the current batch has run; 0 */
};

/*
 * sv_writer_start -- start the writer thread on j (transferred: the
 * writer is its only user from now on, closed by sv_writer_stop).
 */
ctspool_rc sv_writer_start(struct sp_journal *j, struct sv_writer **out,
                           struct sp_err *e);
/* Queues job; 0, or -1 when the writer no longer takes work (job is
 * then untouched and still the caller's). */
int sv_writer_submit(struct sv_writer *w, struct sv_job *job);
/* Stop taking work (later submissions get -1), commit and answer
 * everything queued, join the thread, close the journal.  Does not free:
 * HTTP threads may still hold w.  Idempotent; NULL: no-op. */
void sv_writer_stop(struct sv_writer *w);
/* Stops w if needed, then frees it: only once nothing can reach w any
 * more (after sv_http_stop).  NULL: no-op. */
void sv_writer_free(struct sv_writer *w);
/* The journal is damaged and on_corrupt = "stop" (or it could not be
 * moved aside): serve was sent SIGTERM and exits 74. */
int sv_writer_damaged(struct sv_writer *w);
void sv_writer_stats(struct sv_writer *w, struct sv_writer_stats *st);
/* limits.max_pending_points and max_journal_bytes (SIGHUP), in force
 * from the writer's next batch on; any thread. */
void sv_writer_set_limits(struct sv_writer *w, uint64_t max_pending,
                          uint64_t max_bytes);

/* ---- metrics.c -------------------------------------------------------- */

struct sv_metrics;

/* ro: a journal handle for reading statistics (transferred). */
ctspool_rc sv_metrics_new(struct sp_journal *ro, struct sv_metrics **out);
void sv_metrics_free(struct sv_metrics *m);
/* Counts one HTTP answer.  Thread-safe, lock-free. */
void sv_metrics_count(struct sv_metrics *m, unsigned code);
/* Renders the Prometheus text into b; conns: HTTP connections open now.
 * Thread-safe; journal statistics are read at most once a second,
 * whoever asks. */
void sv_metrics_render(struct sv_metrics *m, struct sv_writer *w,
                       unsigned long conns, struct sp_buf *b);
/* The journal statistics /metrics and /healthz/upstream read (obs.h);
 * m's. */
struct ob_stats *sv_metrics_obs(struct sv_metrics *m);

/* ---- auth.c ----------------------------------------------------------- */

struct sv_auth {
    size_t n_keys;
    unsigned char (*digests)[32]; /* SHA-256 of each key */
};

/* keys: borrowed.  E_CONFIG (e) for an empty key, E_NOMEM. */
ctspool_rc sv_auth_init(struct sv_auth *a, char *const *keys, size_t n,
                        struct sp_err *e);
void sv_auth_cleanup(struct sv_auth *a);
/* 1 when the len bytes at presented (may be NULL) equal one of the keys.
 * Time does not depend on where or whether it matches, nor on the keys'
 * lengths. */
int sv_auth_check(const struct sv_auth *a, const char *presented,
                  size_t len);

/* ---- http.c ----------------------------------------------------------- */

struct sv_http;

/*
 * The settings a SIGHUP may change while requests run: sv_http_reload
 * swaps them under the daemon's lock.  An ingest request holds the ones
 * in force when its headers arrived (a reference) until it ends, so that
 * its key, default stream and streams list agree.  Copies: the
 * configuration they came from is freed after a reload.  Not changed
 * once built.
 */
struct sv_live {
    atomic_int refs;      /* sv_live_free() drops one; 1 when built */
    struct sv_auth auth;  /* n_keys 0: no authentication */
    char *default_stream; /* NULL: none */
    char **streams;       /* the streams list; n_streams 0: any token */
    size_t n_streams;
    long max_undelivered_s; /* health.max_undelivered_s */
    const char *keys_source; /* where the keys came from (static) */
};

/* Drops a reference (NULL: no-op); the last one frees l. */
void sv_live_free(struct sv_live *l);

/* ---- serve.c ---------------------------------------------------------- */

/*
 * sv_check_config -- what `ctspool serve` refuses at start, without
 * binding: server.listen resolves, and no server.api_keys only with
 * server.allow_unauthenticated on a loopback address.  OK, or E_CONFIG
 * with the reason (never a key) in e.
 */
ctspool_rc sv_check_config(const struct sp_config *cfg, struct sp_err *e);

struct sv_http_opts {
    int listen_fd;       /* bound and listening; still the caller's */
    unsigned n_threads;  /* worker pool size */
    int event_loop;      /* enum sp_event_loop (server.event_loop) */
    long max_body_bytes;
    long idempotency_hours;
    struct sv_live *live;       /* transferred to the daemon on success */
    struct sv_writer *writer;   /* borrowed */
    struct sv_metrics *metrics; /* borrowed */
};

ctspool_rc sv_http_start(const struct sv_http_opts *o, struct sv_http **out,
                         struct sp_err *e);
/* Puts live (transferred) in place of the current settings: requests
 * that start afterwards see only the new ones; the old are freed once
 * no request uses them. */
void sv_http_reload(struct sv_http *h, struct sv_live *live);
/* Stop accepting connections; new requests on open ones get 503. */
void sv_http_quiesce(struct sv_http *h);
/* Requests received but not yet answered and sent. */
unsigned long sv_http_inflight(struct sv_http *h);
/* HTTP connections open now. */
unsigned long sv_http_connections(struct sv_http *h);
/* Close every connection, join the workers and free.  The writer must be
 * stopped first (no connection may wait on it) and freed only after this
 * returns (a worker may still submit to it, and be refused).  NULL: no-op. */
void sv_http_stop(struct sv_http *h);

#endif /* SV_SERVE_H */
