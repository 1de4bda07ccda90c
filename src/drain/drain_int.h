/*
 * drain_int.h -- what the files of `ctspool drain` share: the drainer's
 * state (struct dr_drainer) and the types it is built from.  Never
 * installed; included only by src/drain files.  One file, one
 * responsibility:
 *
 *   drain.c     cmd_drain: start-up, signals, the main loop, summaries
 *   deliver.c   uploads a batch and records upstream's answers in the
 *               journal: ack, split, dead letter, doubt
 *   park.c      groups upstream refuses as a whole (404): parked with
 *               their own backoff, unparked by a 2xx
 *   reload.c    SIGHUP: the configuration read again between requests
 *   pace.c      upload.max_points_per_s, max_requests_per_s: the waits
 *   handover.c  this drainer's landing record: announce each request,
 *               wait out the previous drainer's
 *   body.c      request bodies (Cloudthread JSON) in struct sp_buf
 *   mask.c      text made fit for logs: secrets masked, bytes escaped
 *   upload.c    the only libcurl user: POST, outcome (upload.h)
 *   metrics_http.c  drain.metrics_listen: /metrics, /healthz and
 *               /healthz/upstream in a thread of their own (src/obs
 *               renders them), the only libmicrohttpd user
 *   doubt.c     points whose upload outcome is unknown (doubt.h; its
 *               layout doubt_int.h)
 *   doubt_check.c  the invariants of doubt.c, checked (Debug: after
 *               each change)
 *   landing.c   the landing record's format (landing.h)
 *   lock.c      one drainer per journal; the record's file (lock.h)
 *   wake.c      idle: wakes on another process's commit (inotify)
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

#define DR_LOG_BODY_MAX 200 /* bytes of a response body in a log line */

/* What the last failed request said (for the log and the backoff). */
struct dr_failure {
    int status;             /* 0: no answer; -1: no request sent */
    int64_t retry_after_ms; /* -1: none */
    size_t n_points;
    char reason[DR_UPLOAD_REASON_MAX];
    char snippet[DR_LOG_BODY_MAX * 4 + 8];
};

/* A batch taken from the journal, and the start of its requests. */
struct dr_slot {
    struct sp_batch b;
    struct sp_buf prefix; /* {"data_stream_token":...,"data":[ */
};

/* Pacing (pace.c): when the next request may start, by each limit. */
struct dr_pace {
    long points_per_s;   /* the limits these dues follow; 0: none */
    long requests_per_s;
    double points_due;   /* monotonic ms; in the past: at once */
    double requests_due;
};

struct cli;
struct dr_wake;

struct dr_drainer {
    struct cli *cli;              /* its cfg is the one in force */
    const struct sp_config *cfg;  /* cli->cfg */
    struct sp_journal *j;
    struct dr_upload *up;
    struct dr_wake *wake;   /* NULL: idle polls data_version only */
    int is_once;
    char *api_key;          /* secret: owned; in up, and for masking */
    struct dr_slot slot[2]; /* the batch being sent, the one taken after it */
    struct dr_slot *cur;    /* the batch being sent: slot[0] or slot[1] */
    struct sp_buf body[2];  /* the request in flight, the next one */
    struct sp_buf scratch;
    int64_t last_hour;
    char last_hour_text[24];
    size_t req_max_points; /* learned from 413, else batch_max_points */
    int64_t req_max_until;
    uint64_t n_lone_413;   /* points dead-lettered for a 413 alone */
    unsigned attempt; /* consecutive transient failures */
    int is_in_outage; /* an upload failed, none succeeded since */
    int64_t outage_since; /* its first failure (monotonic ms) */
    struct dr_pace pace;
    int64_t rr_grp;   /* round robin: the group served last */
    int64_t sent_grp; /* the group of the last request that went out
                       * (deliver.c): a batch stopped before its first
                       * (a reload, a stop) has not had its turn */
    int64_t *parked;  /* groups this drainer knows parked (park.c) */
    size_t n_parked, cap_parked;
    int parked_all_said;  /* "every group is parked" logged */
    int64_t park_clock_ms; /* dr_park_now_ms() as last seen (0: not yet) */
    uint64_t rng;
    int64_t dv_before_take;
    int64_t next_compact;
    int64_t next_salvage; /* auto_salvage looks again (monotonic ms) */
    uint64_t journal_gen; /* sp_journal_gen() last seen (handover.c) */
    int64_t moved_hold_until; /* the journal was replaced: nothing is
                               * uploaded before (monotonic ms) */
    struct dr_doubt *doubt; /* points whose upload outcome is unknown */
    int64_t doubt_grace_ms; /* how long a late request may still land */
    int64_t doubt_until;    /* latest doubt deadline (monotonic ms) */
    uint64_t doubt_noted;   /* count last written to the journal */
    int doubt_full_said;    /* "in-doubt table full" logged */
    uint64_t doubt_dropped_said;
    int64_t (*hits)[2];     /* an ack's points to send again (deliver.c) */
    struct sp_batch owed;   /* points upstream took whose acknowledgement
                             * the journal could not record yet (n 0:
                             * none; names and dims not kept) */
    size_t hits_cap;
    int lock_fd;            /* the drainer lock file: landing record */
    int64_t window_ms;      /* a request may land this long after sent */
    int64_t landing_said;   /* what the record says; -1: unknown */
    int64_t landing_synced; /* ... and is on disk; -1: not known */
    int landing_warned;
    int has_awaited;        /* dr_handover_await() done */
    struct dr_metrics *metrics; /* drain.metrics_listen; NULL: none */
    /* Totals and the current summary window. */
    uint64_t n_points, n_requests, n_dead;
    uint64_t win_points, win_requests, win_dead;
    int64_t win_start, started;
};

/* ---- body.c ---------------------------------------------------------- */

/* The start of sl's requests, up to the data array, into sl->prefix. */
ctspool_rc dr_body_prefix(struct dr_slot *sl);
/* The request for sl->b.pts[from ..] into s; see body.c. */
ctspool_rc dr_body_build(struct dr_drainer *d, const struct dr_slot *sl,
                         struct sp_buf *s, size_t from, size_t max_n,
                         size_t *n);

/* ---- mask.c ---------------------------------------------------------- */

/* body with the API key and the current batch's stream token masked;
 * the result borrows d->scratch. */
const char *dr_mask_body(struct dr_drainer *d, const char *body, size_t len);
/* s as one log-safe, truncated line in out. */
void dr_mask_snippet(const char *s, char *out, size_t out_len);
/* url with any user:password@ masked, in out. */
void dr_mask_endpoint(const char *url, char *out, size_t len);

/* ---- drain.c --------------------------------------------------------- */

extern volatile sig_atomic_t dr_stop_flag; /* set by SIGTERM, SIGINT */
/* Sleeps ms milliseconds, returning early once a stop or a reload is
 * requested. */
void dr_nap_ms(int64_t ms);

/* ---- reload.c -------------------------------------------------------- */

extern volatile sig_atomic_t dr_reload_flag; /* set by SIGHUP */
/* Reads the configuration again (nothing in flight); clears the flag. */
void dr_reload(struct dr_drainer *d);
/* Warns when cfg's API key file is readable by group or others. */
void dr_key_file_check(const struct sp_config *cfg);

/* ---- pace.c ---------------------------------------------------------- */

/* n points, cut to what one request may carry under the points rate. */
size_t dr_pace_cap(const struct dr_drainer *d, size_t n);
/*
 * Nothing in flight: waits until a request of k points may start by the
 * rates in force, and counts it (0).  Without counting: -1 when a stop
 * is requested, 1 when a reload is (the request is to be built again
 * after it).
 */
int dr_pace_wait(struct dr_drainer *d, size_t k);
/* "at most N points/s and M requests/s", or "unpaced", into out. */
void dr_pace_text(const struct sp_config *cfg, char *out, size_t len);

/* ---- park.c ---------------------------------------------------------- */

/* Wall clock, Unix ms: parkings are seen by other processes. */
int64_t dr_park_now_ms(void);
/* Before the first take: the groups parked in the journal are known,
 * and may be taken at once. */
void dr_park_start(struct dr_drainer *d);
/* Upstream answered 404 for group b (f says how): parks it. */
void dr_park(struct dr_drainer *d, const struct sp_batch *b,
             const struct dr_failure *f);
/* Upstream answered for group b's points (why: how, for the log):
 * unparks it if it was parked. */
void dr_park_clear(struct dr_drainer *d, const struct sp_batch *b,
                   const char *why);
/* Has the wall clock stepped back since the last call?  Then parked
 * groups, parked until wall-clock times as far off as the step, may be
 * taken at once (logged).  1 or 0. */
int dr_park_clock_stepped(struct dr_drainer *d);
/* Nothing to take: are groups with pending points parked?  *due_ms:
 * when the first of them may be tried again (Unix ms; -1: none). */
int dr_park_idle(struct dr_drainer *d, int64_t *due_ms);

/* ---- metrics_http.c -------------------------------------------------- */

struct dr_metrics;

/* drain.metrics_listen resolves (when set).  OK or E_CONFIG (e). */
ctspool_rc dr_metrics_check(const struct sp_config *cfg, struct sp_err *e);
/*
 * dr_metrics_start -- with drain.metrics_listen set, bind it and serve
 * /metrics, /healthz and /healthz/upstream from a thread of their own on
 * a read-only handle of cfg->journal.  *out: transferred (NULL when the
 * setting is empty).  OK; E_IO with *at_listen set when the address
 * cannot be bound or served (e names it; exit 71, as serve's
 * server.listen); a journal error or E_NOMEM.
 */
ctspool_rc dr_metrics_start(const struct sp_config *cfg,
                            struct dr_metrics **out, int *at_listen,
                            struct sp_err *e);
/* A reloaded configuration: health.max_undelivered_s.  NULL m: no-op. */
void dr_metrics_reload(struct dr_metrics *m, const struct sp_config *cfg);
/* Stops the server (joins its thread) and frees.  NULL: no-op. */
void dr_metrics_stop(struct dr_metrics *m);

/*
 * Runs a journal write, waiting out other writers (each attempt waits up
 * to drain.c's BUSY_TIMEOUT_MS) until it succeeds or a stop is requested.
 */
#define JOURNAL_RETRY(rc, call)                                           \
    do {                                                                  \
        (rc) = (call);                                                    \
    } while ((rc) == CTSPOOL_E_BUSY && !dr_stop_flag)

/* ---- handover.c ------------------------------------------------------ */

/* A request is about to be sent: the landing record covers it. */
void dr_handover_begin(struct dr_drainer *d);
/* Nothing in flight: the record says what may still land. */
void dr_handover_settle(struct dr_drainer *d);
/* Before the first upload; 0, or -1 when stopped meanwhile. */
int dr_handover_await(struct dr_drainer *d);
/* At start: what an earlier drainer noted to send again, pending after
 * that wait; 0, or -1 when stopped meanwhile. */
int dr_handover_resend(struct dr_drainer *d);
/* Between requests: 1 while nothing may be uploaded because the journal
 * was replaced (a damaged one moved aside) while points were in doubt. */
int dr_handover_moved(struct dr_drainer *d);

/* ---- deliver.c ------------------------------------------------------- */

/* Records a failed upload in the journal (for status). */
void dr_failure_note(struct dr_drainer *d, int status, const char *what);
/* An upload failed and will be retried: an outage starts unless one is
 * going on; the next upload that succeeds logs its end. */
void dr_outage_begin(struct dr_drainer *d);
/* Short text for status / last_upload_error: "HTTP 503: {...}". */
void dr_failure_text(const struct dr_failure *f, char *out, size_t len);
/* Points read from the journal at once. */
size_t dr_deliver_take_size(const struct sp_config *cfg);
/* Makes pending again what a request in doubt until now could undo. */
void dr_deliver_settle_doubt(struct dr_drainer *d, int64_t now);
/* Is there room in the in-doubt table for another batch? */
int dr_deliver_may_take(const struct dr_drainer *d);
/* No room: waits for the oldest entries to expire (run() settles them). */
void dr_deliver_doubt_wait(struct dr_drainer *d);
/* Writes the count of points in doubt to the journal when it changed. */
void dr_deliver_note_doubt(struct dr_drainer *d);
/* Uploads the current batch, and more; see deliver.c. */
ctspool_rc dr_deliver_batch(struct dr_drainer *d, struct dr_failure *f);
/* Records the acknowledgement the journal could not record before (OK
 * when none is owed), or the journal's error: nothing is uploaded until
 * it is recorded. */
ctspool_rc dr_deliver_owed(struct dr_drainer *d);

/* ---- wake.c --------------------------------------------------------- */

/* Watches the journal's directory for commits to journal (its -wal
 * file); NULL when that is not possible (the idle drainer polls). */
struct dr_wake *dr_wake_open(const char *journal);
void dr_wake_close(struct dr_wake *w);
/*
 * Waits up to ms milliseconds, like dr_nap_ms(), or until the journal
 * may have changed: 1 then (possibly spurious: data_version tells),
 * else 0.  Shorter for a while after a wake (a commit may still be
 * under way).  w NULL: a nap.
 */
int dr_wake_wait(struct dr_wake *w, int64_t ms);

/* autosalvage.c: salvage quarantined journals between two requests
 * (auto_salvage), now if dr_salvage_soon() was called. */
void dr_maybe_salvage(struct dr_drainer *d);
void dr_salvage_soon(struct dr_drainer *d);

#endif /* DR_DRAIN_INT_H */
