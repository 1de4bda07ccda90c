/*
 * drain_int.h -- what the files of `ctspool drain` share: the drainer's
 * state (struct drainer) and the types it is built from.  Never
 * installed; included only by src/drain files.
 */
#ifndef DR_DRAIN_INT_H
#define DR_DRAIN_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "doubt.h"
#include "journal.h"
#include "sp_int.h"
#include "upload.h"

#define LOG_BODY_MAX 200      /* bytes of a response body in a log line */

/* A growable byte buffer. */
struct sbuf {
    char *p;
    size_t len, cap;
};

/* What the last failed request said (for the log and the backoff). */
struct failure {
    int status;             /* 0: no answer */
    int64_t retry_after_ms; /* -1: none */
    size_t n_points;
    char reason[DR_UPLOAD_REASON_MAX];
    char snippet[LOG_BODY_MAX * 4 + 8];
};

/* A batch taken from the journal, and the start of its requests. */
struct slot {
    struct sp_batch b;
    struct sbuf prefix; /* {"data_stream_token":...,"data":[ */
};

struct drainer {
    const struct sp_config *cfg;
    struct sp_journal *j;
    struct dr_upload *up;
    int is_once;
    const char *api_key; /* secret: only for masking bodies */
    struct slot slot[2]; /* the batch being sent, the one taken after it */
    struct slot *cur;    /* the batch being sent: slot[0] or slot[1] */
    struct sbuf body[2]; /* the request in flight, the next one */
    struct sbuf scratch;
    int64_t last_hour;
    char last_hour_text[24];
    size_t req_max_points; /* learned from 413, else batch_max_points */
    int64_t req_max_until;
    unsigned attempt; /* consecutive transient failures */
    uint64_t rng;
    int64_t dv_before_take;
    int64_t next_compact;
    struct dr_doubt *doubt; /* points whose upload outcome is unknown */
    int64_t doubt_grace_ms; /* how long a late request may still land */
    int64_t doubt_until;    /* latest doubt deadline (monotonic ms) */
    int lock_fd;            /* the drainer lock file: landing record */
    int64_t window_ms;      /* a request may land this long after sent */
    int64_t landing_said;   /* what the record says; -1: unknown */
    int64_t landing_synced; /* ... and is on disk; -1: not known */
    int landing_warned;
    int has_awaited;        /* await_predecessor() done */
    /* Totals and the current summary window. */
    uint64_t n_points, n_requests, n_dead;
    uint64_t win_points, win_requests, win_dead;
    int64_t win_start, started;
};

/* ---- body.c ---------------------------------------------------------- */

/* Room for extra more bytes, or appending them, keeping s NUL-terminated:
 * 0, or -1 (out of memory). */
int sbuf_reserve(struct sbuf *s, size_t extra);
int sbuf_add(struct sbuf *s, const void *data, size_t n);
int sbuf_adds(struct sbuf *s, const char *str);
/* The start of sl's requests, up to the data array, into sl->prefix. */
ctspool_rc build_prefix(struct slot *sl);
/* The request for sl->b.pts[from ..] into s; see body.c. */
ctspool_rc build_body(struct drainer *d, const struct slot *sl,
                      struct sbuf *s, size_t from, size_t max_n,
                      size_t *n);

/* ---- mask.c ---------------------------------------------------------- */

/* body with the API key and the current batch's stream token masked;
 * the result borrows d->scratch. */
const char *masked_body(struct drainer *d, const char *body, size_t len);
/* s as one log-safe, truncated line in out. */
void log_snippet(const char *s, char *out, size_t out_len);
/* url with any user:password@ masked, in out. */
void endpoint_for_log(const char *url, char *out, size_t len);

/* ---- drain.c --------------------------------------------------------- */

extern volatile sig_atomic_t stop_flag; /* set by SIGTERM, SIGINT */
/* Sleeps ms milliseconds, returning early once a stop is requested. */
void nap_ms(int64_t ms);

/* ---- handover.c ------------------------------------------------------ */

/* A request is about to be sent: the landing record covers it. */
void request_begin(struct drainer *d);
/* Nothing in flight: the record says what may still land. */
void landing_settle(struct drainer *d);
/* Before the first upload; 0, or -1 when stopped meanwhile. */
int await_predecessor(struct drainer *d);

/* ---- deliver.c ------------------------------------------------------- */

/* Records a failed upload in the journal (for status). */
void note_failure(struct drainer *d, int status, const char *what);
/* Short text for status / last_upload_error: "HTTP 503: {...}". */
void failure_text(const struct failure *f, char *out, size_t len);
/* Points read from the journal at once. */
size_t take_size(const struct sp_config *cfg);
/* Makes pending again what a request in doubt until now could undo. */
void settle_doubt(struct drainer *d, int64_t now);
/* Uploads the current batch, and more; see deliver.c. */
ctspool_rc deliver_batch(struct drainer *d, struct failure *f);

#endif /* DR_DRAIN_INT_H */
