/*
 * journal.h -- the SQLite journal's internal API, used by the public API
 * (api.c), the CLI, `serve` and `drain`.  See journal.c for the state
 * machine and its invariants.
 */
#ifndef SP_JOURNAL_H
#define SP_JOURNAL_H

#include <stdint.h>

#include "sp_int.h"

struct sp_journal;

struct sp_journal_opts {
    const char *path;            /* borrowed */
    int durability_full;         /* synchronous=FULL, else NORMAL */
    uint64_t max_pending_points; /* 0: unlimited */
    uint64_t max_journal_bytes;  /* 0: unlimited */
    int busy_timeout_ms;         /* 0: default (5 minutes) */
    const char *vfs;             /* SQLite VFS name; NULL: default (tests
                                  * use a power-loss simulating VFS) */
    int must_exist;              /* open only an existing journal: never
                                  * create one (read-only commands) */
    int corrupt_stop;            /* on_corrupt = "stop": a damaged journal
                                  * is an error (E_CORRUPT), never moved
                                  * aside (journal_heal.c) */
    unsigned file_mode;          /* of a journal created now (umask
                                  * aside); 0: 0600 */
    int cache_kib;               /* SQLite page cache; 0: 16 MiB (a
                                  * producer's transactions dirty many
                                  * pages: less would spill them) */
    int keep_deleted;            /* PRAGMA secure_delete = OFF: what
                                  * this handle deletes is not zeroed
                                  * (the drainer, whose deletes hold no
                                  * secret: -10% of its CPU); else ON,
                                  * whatever SQLite's build default, so
                                  * that a token compact deletes is
                                  * gone from the file */
    unsigned page_size;          /* of a journal created now; 0: 8 KiB
                                  * (tests make journals as older
                                  * versions did, with 4 KiB) */
};

/*
 * sp_journal_open -- open or create (mode o->file_mode) the journal and bring its
 * schema up to date.  *out: transferred, NULL on failure, with the reason
 * in e.  Returns OK, E_NOINPUT (must_exist and no file at the path:
 * nothing was created), E_CANTCREATE, E_SCHEMA, E_CORRUPT, E_IO,
 * E_NOMEM.
 */
ctspool_rc sp_journal_open(const struct sp_journal_opts *o,
                           struct sp_journal **out, struct sp_err *e);
/*
 * sp_journal_check_dir -- the directory of the journal at path exists
 * (sp_journal_open creates the file, never the directory).  OK, else
 * E_CANTCREATE (with sp_journal_open's reason in e) or E_NOMEM.
 */
ctspool_rc sp_journal_check_dir(const char *path, struct sp_err *e);
/*
 * sp_journal_read_only -- SQLite opened j's file read-only (it does when
 * this user cannot write it, and then fails at the first write): 1 with
 * the reason in why[0 .. n), else 0.
 */
int sp_journal_read_only(struct sp_journal *j, char *why, size_t n);
void sp_journal_close(struct sp_journal *j);
/* Detail of the last failure on j. */
const char *sp_journal_errmsg(const struct sp_journal *j);
void sp_journal_set_limits(struct sp_journal *j, uint64_t max_pending,
                           uint64_t max_bytes);
const char *sp_journal_path(const struct sp_journal *j);
/* Prefixes "what[k]: " to the detail of the last failure (an item's
 * place in its request). */
void sp_journal_err_locate(struct sp_journal *j, const char *what, size_t k);

/* ---- damaged journals (journal_heal.c) ------------------------------- */

/*
 * sp_journal_heal -- after an operation on j failed with E_CORRUPT
 * (outside a transaction, or the transaction is rolled back): with
 * on_corrupt = "quarantine", moves the journal's file set to
 * NAME.corrupt-STAMP, logs it, and reconnects j to a fresh journal at
 * the path (must_exist: does not; E_CORRUPT with the new name in
 * sp_journal_errmsg()).  OK: j works again, on the fresh journal.  With
 * "stop", or when the set cannot be moved: E_CORRUPT, the reason in
 * sp_journal_errmsg().  Opening and every transaction also follow a
 * journal another process moved aside (reconnect to the path).
 */
ctspool_rc sp_journal_heal(struct sp_journal *j);
/*
 * sp_journal_check_pages -- SQLite's quick_check of every page: OK, or
 * E_CORRUPT with the first problem in sp_journal_errmsg().  Reads the
 * whole file (about 0.1 s per 16 MB).
 */
ctspool_rc sp_journal_check_pages(struct sp_journal *j);
/* Connections so far: changes when j reconnected (sp_journal_heal, or
 * the journal was moved aside by another process). */
uint64_t sp_journal_gen(const struct sp_journal *j);
/*
 * sp_journal_quarantined -- the quarantined sets of the journal at path
 * not yet salvaged (NAME.corrupt-*, main files only), oldest first: *names
 * (free with sp_journal_quarantined_free), *n.  A set's points were all
 * written after those of every older set, so salvage takes the newest
 * first (it adds only what the journal does not hold).
 */
ctspool_rc sp_journal_quarantined(const char *path, char ***names,
                                  size_t *n, struct sp_err *e);
void sp_journal_quarantined_free(char **names, size_t n);
/*
 * sp_journal_mark_salvaged -- renames the quarantined set qpath
 * (NAME.corrupt-STAMP) to NAME.salvaged-STAMP, its new name into dest.
 * A file not named like a quarantined set is left as it is (dest "").
 */
ctspool_rc sp_journal_mark_salvaged(const char *qpath, char *dest,
                                    size_t destsz, struct sp_err *e);

/* ---- producers ------------------------------------------------------- */

/* What sp_journal_put did to one point. */
enum sp_put_result { SP_PUT_NEW, SP_PUT_UPDATED, SP_PUT_UNCHANGED };

/* Begins the write transaction (waits out other writers). */
ctspool_rc sp_journal_begin(struct sp_journal *j);
/*
 * Upserts one validated point (finished: dims sorted) inside the
 * transaction.  E_FULL when a limit would be passed (the transaction
 * must then be rolled back or rolled back to a savepoint).
 */
ctspool_rc sp_journal_put(struct sp_journal *j, const struct sp_point *p,
                          enum sp_put_result *res);

/*
 * The same upsert in two steps, for a producer with many points: each
 * point is resolved to its record and group as it comes (its strings
 * are not needed after), then up to SP_PUT_BATCH resolved points are
 * put at once, in order, each with the result sp_journal_put would
 * have given it: a point's identity met again later in the same call is
 * an update of the earlier one.  Faster than sp_journal_put when
 * n == SP_PUT_BATCH (one statement inserts them all).
 *
 * sp_journal_resolve takes an event's carrier point (event.h) as well:
 * it is then sp_journal_resolve_event (below).  E_INVALID (the point
 * cannot be stored, nothing was), or as sp_journal_put.  sp_journal_put_resolved: res[0..n) set;
 * on failure (as sp_journal_put) the transaction must be rolled back.
 */
#define SP_PUT_BATCH 64
struct sp_resolved {
    int64_t hour, series, grp;
    double value;
};
ctspool_rc sp_journal_resolve(struct sp_journal *j, const struct sp_point *p,
                              struct sp_resolved *out);
ctspool_rc sp_journal_put_resolved(struct sp_journal *j,
                                   const struct sp_resolved *r, size_t n,
                                   enum sp_put_result *res);
/*
 * sp_journal_fold -- accumulate mode (DESIGN.md section 10): folds the
 * observation p into the stored value of its identity by its
 * aggregation function (Sum adds, Maximum / Minimum keep the extreme,
 * Average keeps sum and count); without a stored value p is the value.
 * A fold that leaves the value to upload unchanged is UNCHANGED and
 * does not make the point pending.  E_INVALID (errmsg names the field
 * and why) when the result is not finite: nothing changed.
 */
ctspool_rc sp_journal_fold(struct sp_journal *j, const struct sp_point *p,
                           enum sp_put_result *res);
/*
 * sp_journal_put_event -- stores one validated Event Overlay event
 * (event.h) as pending inside the transaction: NEW, or UNCHANGED when
 * the journal holds that event already (same event ID: events are never
 * updated).  E_FULL as sp_journal_put.
 */
struct sp_event;
ctspool_rc sp_journal_put_event(struct sp_journal *j,
                                const struct sp_event *ev,
                                enum sp_put_result *res);
/* ev resolved for sp_journal_put_resolved(), which then stores it as
 * sp_journal_put_event would (its value is 0: a stored one is
 * UNCHANGED). */
ctspool_rc sp_journal_resolve_event(struct sp_journal *j,
                                    const struct sp_event *ev,
                                    struct sp_resolved *out);
/* sp_journal_put_dead for an event (salvage). */
ctspool_rc sp_journal_put_event_dead(struct sp_journal *j,
                                     const struct sp_event *ev, int status,
                                     const char *body, int64_t dead_at,
                                     enum sp_put_result *res);
/* An Average's parts in accumulate mode (DESIGN.md section 10): the sum
 * of its observations, and their number; the value is their quotient. */
struct sp_avg {
    double sum;
    int64_t n;
};

/* After E_FULL: 1 when the write (the transaction, or its savepoint)
 * of n_items items alone adds more new points than
 * limits.max_pending_points (it did, or it holds more items than that),
 * so that a retry can never succeed (the error says so); 0 when waiting
 * for the drainer helps. */
int sp_journal_full_alone(struct sp_journal *j, uint64_t n_items);

/* How a value came to be in accumulate mode (schema 0009), as salvage
 * carries it over: folded, it was built by folds alone from no stored
 * value; has_avg, an Average's parts (the value is their quotient). */
struct sp_origin {
    int folded;
    int has_avg;
    struct sp_avg avg;
};

/*
 * sp_journal_put_absent -- sp_journal_put, but only for an identity
 * without a row: then NEW (pending) with the origin o (NULL: a value
 * set by a replace; an accumulate fold goes on from o's parts), else
 * UNCHANGED and nothing written (salvage: what the live journal holds
 * is newer) -- except where that row was folded from nothing
 * (accumulate mode): it lacks the observations behind p, which are
 * folded under it (UPDATED).  The caller puts p once (salvage keeps its
 * progress).  E_INVALID (j->err) when that fold is not finite.
 */
ctspool_rc sp_journal_put_absent(struct sp_journal *j,
                                 const struct sp_point *p,
                                 const struct sp_origin *o,
                                 enum sp_put_result *res);
/*
 * sp_journal_put_dead -- adds p as a dead letter with the origin o
 * (NULL: as for put_absent), HTTP status, response body and Unix time
 * dead_at, unless an equal one is there (UNCHANGED).
 */
ctspool_rc sp_journal_put_dead(struct sp_journal *j, const struct sp_point *p,
                               const struct sp_origin *o, int status,
                               const char *body, int64_t dead_at,
                               enum sp_put_result *res);
/*
 * Idempotency keys (journal_idem.c), inside the caller's transaction:
 * sp_journal_idem_get -- the answer first given to key (malloc'd) and
 * when (Unix time), if at or after min_at: OK, or E_NOTFOUND.
 * sp_journal_idem_put -- key was answered answer at now (replaces an
 * older entry).  sp_journal_idem_prune -- its own transaction: deletes
 * the keys older than before; *n how many.
 */
ctspool_rc sp_journal_idem_get(struct sp_journal *j, const char *key,
                               int64_t min_at, char **answer, int64_t *at);
ctspool_rc sp_journal_idem_put(struct sp_journal *j, const char *key,
                               const char *answer, int64_t now);
ctspool_rc sp_journal_idem_prune(struct sp_journal *j, int64_t before,
                                 uint64_t *n);
/* Commits; "stored" is true only once this returns OK (invariant 1). */
ctspool_rc sp_journal_commit(struct sp_journal *j);
/*
 * sp_journal_set_written_at -- inside a write transaction: what it makes
 * pending was first written at Unix time at, not now (salvage: as the
 * damaged journal recorded it), so that the age of the oldest pending
 * point stays true.  The earliest time given before the commit counts; a
 * time in the future is ignored.  Called right after the put of a point,
 * it is also when that point's upload group began to wait, if earlier
 * than the group says (grp_pending).
 */
void sp_journal_set_written_at(struct sp_journal *j, int64_t at);
void sp_journal_rollback(struct sp_journal *j);
/* Nested units inside a transaction (group commit in `serve`). */
ctspool_rc sp_journal_savepoint(struct sp_journal *j);
ctspool_rc sp_journal_release(struct sp_journal *j);
ctspool_rc sp_journal_rollback_to(struct sp_journal *j);

/* ---- the drainer ----------------------------------------------------- */

struct sp_batch_point {
    int64_t hour;
    int64_t series;
    int64_t seq;
    double value;
    const char *name; /* into the batch's arena */
    const char *dims; /* JSON object text, into the arena */
    size_t dims_len;  /* strlen(dims) */
};

struct sp_batch {
    uint64_t gen; /* sp_journal_gen() when taken */
    int64_t grp;
    int agg;
    char *stream; /* secret: never log */
    size_t n;
    struct sp_batch_point *pts;
    size_t cap;
    struct sp_buf arena; /* the names and dims, each NUL-terminated */
};

void sp_batch_init(struct sp_batch *b);
void sp_batch_cleanup(struct sp_batch *b);

/* Where sp_journal_take_next starts. */
struct sp_take_from {
    int64_t grp;    /* the group served last: the groups after it (by id)
                     * come first, it comes last; 0: from the first */
    int64_t seq;    /* grp's points up to seq are in a request still in
                     * flight: not pending for this take (0: none) */
    int64_t now_ms; /* Unix ms: a group parked until after it is skipped */
};

/*
 * sp_journal_take_next -- read (without changing anything) up to
 * max_points pending points of one group, in journal order from its
 * oldest pending point: the first group after from->grp in round-robin
 * order (group id, wrapping) that has pending points and is not parked
 * beyond from->now_ms (journal_groups.c).  With from->seq, the batch
 * after one still in flight: grp's points up to seq are the first rows
 * of its queue, and any version queued later has a larger seq.
 * b->n == 0 when no group qualifies.
 */
ctspool_rc sp_journal_take_next(struct sp_journal *j, size_t max_points,
                                const struct sp_take_from *from,
                                struct sp_batch *b);
/* sp_journal_take_next from the first group, parked ones included. */
ctspool_rc sp_journal_take(struct sp_journal *j, size_t max_points,
                           struct sp_batch *b);
/*
 * sp_journal_ack -- in one transaction, mark acknowledged the points
 * b->pts[from .. from+n) whose version is still the one taken (a newer
 * value stays pending: invariant 3), and record the success (time,
 * counters).  *n_acked: how many were marked (may be NULL).
 */
ctspool_rc sp_journal_ack(struct sp_journal *j, const struct sp_batch *b,
                          size_t from, size_t n, int64_t now,
                          size_t *n_acked);
/* sp_journal_ack that also notes resend[0 .. n_resend) = (hour, series)
 * as points to send again (journal_resend.c), in the same transaction. */
ctspool_rc sp_journal_ack_resend(struct sp_journal *j,
                                 const struct sp_batch *b, size_t from,
                                 size_t n, int64_t now,
                                 const int64_t (*resend)[2],
                                 size_t n_resend, size_t *n_acked);
/*
 * sp_journal_dead -- move b->pts[idx[i]] (still at the taken version) to
 * the dead letters with the HTTP status and response body.
 */
ctspool_rc sp_journal_dead(struct sp_journal *j, const struct sp_batch *b,
                           const size_t *idx, size_t n_idx, int status,
                           const char *body, int64_t now);
/* sp_journal_dead that also records note (copied) as the last upload
 * error, at now, in the same transaction (no fsync of its own). */
ctspool_rc sp_journal_dead_noted(struct sp_journal *j,
                                 const struct sp_batch *b, const size_t *idx,
                                 size_t n_idx, int status, const char *body,
                                 int64_t now, const char *note);
/*
 * sp_journal_repend -- make the points keys[i] = (hour, series) pending
 * again with their current value, if they are acknowledged (one whose
 * upload may have been overwritten upstream by a late request), and drop
 * their notes to send again.  One transaction.  *n_done: how many became
 * pending (may be NULL).  (journal_resend.c)
 */
ctspool_rc sp_journal_repend(struct sp_journal *j, const int64_t (*keys)[2],
                             size_t n, size_t *n_done);
/*
 * sp_journal_resend_all -- sp_journal_repend of every point noted to be
 * sent again (by a drainer that stopped before it could): for a drainer
 * once no request of the last one can land any more.  One transaction.
 * *n_notes: the notes found, *n_done: the points made pending.
 */
ctspool_rc sp_journal_resend_all(struct sp_journal *j, size_t *n_notes,
                                 size_t *n_done);
/* *any := whether any point is noted to be sent again. */
ctspool_rc sp_journal_resend_noted(struct sp_journal *j, int *any);
/* Records a failed upload attempt: status (0: no answer; -1: refused
 * before any request, counted in no class), message. */
ctspool_rc sp_journal_note_failure(struct sp_journal *j, int status,
                                   const char *msg, int64_t now);
/* Upper bounds (ms) of the upload latency histogram's buckets. */
#define SP_UPLOAD_BUCKETS 10
extern const int64_t sp_upload_bucket_ms[SP_UPLOAD_BUCKETS];
/*
 * sp_journal_note_upload_time -- one upload request took ms
 * milliseconds.  Kept in memory only, and added to the journal's
 * histogram (schema 0004) by the next transaction j commits (the ack,
 * failure note, dead letter or parking that follows the request); lost
 * if none follows before j is closed.  No I/O, cannot fail.
 */
void sp_journal_note_upload_time(struct sp_journal *j, int64_t ms);
/* Cheap change detector: PRAGMA data_version. */
ctspool_rc sp_journal_data_version(struct sp_journal *j, int64_t *out);

/* ---- upload groups (journal_groups.c) -------------------------------- */

/* One upload group as `streams` and `status` show it. */
struct sp_group_row {
    int64_t grp;
    const char *stream; /* secret: mask before showing */
    int agg;
    uint64_t pending, acked, dead;
    /* Since when its points have waited (Unix time; -1 when nothing
     * pending): journal_int.h's SP_GRP_WAITING_SQL. */
    int64_t oldest_pending_at;
    int is_parked;
    int64_t parked_since;    /* Unix time; -1 when not parked */
    int64_t parked_until_ms; /* Unix ms; -1 when not parked */
    const char *reason;      /* why parked; "" when not parked */
    int64_t failures;        /* consecutive refusals; 0 when not parked */
};
typedef ctspool_rc (*sp_group_cb)(void *ctx, const struct sp_group_row *r);

/* Which groups sp_journal_groups() reports. */
enum sp_groups_what {
    SP_GROUPS_ALL,   /* every group, with all its counts */
    SP_GROUPS_PARKED, /* parked groups only; acked and dead left 0 (cheap) */
    SP_GROUPS_PENDING /* every group, its pending count only (acked, dead
                       * 0; oldest pending and parked state unknown) */
};

/*
 * sp_journal_groups -- calls cb for each upload group in id order, in one
 * read transaction.  The row is valid during the call only.  Returns OK,
 * an I/O error, or the first code other than OK cb returned.
 */
ctspool_rc sp_journal_groups(struct sp_journal *j, enum sp_groups_what what,
                             sp_group_cb cb, void *ctx);
/*
 * sp_journal_group_failures -- consecutive refusals of group grp so far
 * (0 when it is not parked), into *n.
 */
ctspool_rc sp_journal_group_failures(struct sp_journal *j, int64_t grp,
                                     int64_t *n);
/*
 * sp_journal_group_park -- one transaction: group grp is parked (not
 * taken by sp_journal_take_next before until_ms) for reason (borrowed,
 * copied), one more consecutive refusal; parked since now (Unix time)
 * unless it already was parked.  Nothing when grp has no pending point
 * (retired meanwhile).
 */
ctspool_rc sp_journal_group_park(struct sp_journal *j, int64_t grp,
                                 int64_t now, int64_t until_ms,
                                 const char *reason);
/* Group grp is no longer parked.  *was: whether it was (may be NULL). */
ctspool_rc sp_journal_group_unpark(struct sp_journal *j, int64_t grp,
                                   int *was);
/* Every parked group may be taken at once (it stays parked until a 2xx
 * unparks it).  *n: how many groups are parked (may be NULL). */
ctspool_rc sp_journal_groups_retry_now(struct sp_journal *j, uint64_t *n);
/*
 * sp_journal_parked -- of the groups that have pending points, how many
 * are parked (*n), and the earliest end of a parkage later than now_ms
 * (Unix ms; -1 when none).
 */
ctspool_rc sp_journal_parked(struct sp_journal *j, int64_t now_ms,
                             uint64_t *n, int64_t *next_ms);
/*
 * sp_journal_retire -- in one transaction, moves every pending point of
 * stream's groups (agg -1: all of them; else that aggregation function's
 * only) to the dead letters with status 0 and body "retired by
 * operator", and unparks those groups.  *n_groups, *n_points: groups
 * matched, points moved (either may be NULL).  E_NOTFOUND when stream
 * has no such group (nothing changed).
 */
ctspool_rc sp_journal_retire(struct sp_journal *j, const char *stream,
                             int agg, int64_t now, uint64_t *n_groups,
                             uint64_t *n_points);
/* Records how many points are in doubt in the drainer now (status). */
ctspool_rc sp_journal_note_doubt(struct sp_journal *j, uint64_t n);

/* ---- operators ------------------------------------------------------- */

struct sp_stats {
    uint64_t pending_points; /* points only: events are counted below */
    uint64_t acked_points;
    uint64_t dead_letters;
    uint64_t pending_events, acked_events, dead_events;
    uint64_t journal_bytes;
    /* The group waiting longest, as sp_group_row's (-1: none), and
     * which it is: "events", or its stream token masked (sp_mask) and
     * its aggregation function, "****abcd/Sum" ("" when none). */
    int64_t oldest_pending_at;
    char oldest_pending_group[48];
    uint64_t appended_total, uploaded_total, dead_total;
    uint64_t requests_2xx, requests_4xx, requests_5xx, requests_failed;
    int64_t last_upload_ok_at;    /* -1: never */
    int64_t last_upload_error_at; /* -1: never */
    uint64_t parked_groups;   /* groups with pending points, parked */
    uint64_t in_doubt_points; /* as the drainer last noted it */
    uint64_t resend_points;   /* noted to be sent again (schema 0008) */
    /* Upload requests and their durations (sp_journal_note_upload_time):
     * upload_le[i] counts those of at most sp_upload_bucket_ms[i] and
     * more than the bound before it. */
    uint64_t upload_count, upload_sum_ms;
    uint64_t upload_le[SP_UPLOAD_BUCKETS];
    char last_upload_error[512];  /* "" when none */
};

ctspool_rc sp_journal_stats(struct sp_journal *j, struct sp_stats *st);

/* Which points `list` shows. */
enum sp_list_what { SP_LIST_PENDING = 1, SP_LIST_ACKED = 2, SP_LIST_DEAD = 4 };

struct sp_list_row {
    const char *state; /* "pending", "acked", "dead" */
    const char *stream;
    int agg;
    const uint8_t *record_id; /* SP_RECORD_ID_LEN bytes; an event's: its
                               * event ID */
    const char *name;
    const char *dims; /* JSON object text */
    int64_t hour;
    double value;
    int64_t dead_id; /* dead letters only, else 0 */
    int status;      /* dead letters only */
    const char *body;
    int64_t at; /* dead letters: dead-lettered at; else 0 (the journal
                 * keeps no per-point acknowledgement time) */
};
typedef ctspool_rc (*sp_list_cb)(void *ctx, const struct sp_list_row *r);

ctspool_rc sp_journal_list(struct sp_journal *j, unsigned what,
                           sp_list_cb cb, void *ctx);

/* Which kind of item sp_journal_list_filtered keeps. */
enum sp_list_kind {
    SP_LIST_KIND_ANY = 0,
    SP_LIST_KIND_POINTS, /* the point groups' rows */
    SP_LIST_KIND_EVENTS  /* the events group's rows (agg SP_KIND_EVENTS) */
};

/* What sp_journal_list_filtered keeps; an unset member keeps all. */
struct sp_list_filter {
    const char *stream; /* exact data stream token; NULL: any */
    const char *metric; /* exact metric name (points only); NULL: any */
    int agg;            /* enum sp_agg; -1: any */
    int has_since, has_until;
    int64_t since_hour; /* hour >= since_hour (inclusive) */
    int64_t until_hour; /* hour < until_hour (exclusive) */
    uint64_t limit;     /* at most this many rows in all; 0: no limit */
    int kind;           /* enum sp_list_kind */
};
#define SP_LIST_FILTER_ALL {NULL, NULL, -1, 0, 0, 0, 0, 0, SP_LIST_KIND_ANY}

/*
 * sp_journal_list_filtered -- sp_journal_list with the filters of f
 * applied in the queries (bound parameters), in the same order.  The
 * limit counts rows over all the states of what.
 */
ctspool_rc sp_journal_list_filtered(struct sp_journal *j, unsigned what,
                                    const struct sp_list_filter *f,
                                    sp_list_cb cb, void *ctx);
/* Dead letters by id (all when n_ids == 0) back to pending.  A point
 * whose identity holds a newer value meanwhile keeps the newer value. */
ctspool_rc sp_journal_dlq_requeue(struct sp_journal *j, const int64_t *ids,
                                  size_t n_ids, uint64_t *n_requeued);
/*
 * Every dead letter back to pending, as sp_journal_dlq_requeue(j, NULL,
 * 0, ...), except that a letter that cannot come back (folded, its value
 * would not be finite) stays dead and goes to left(ctx, id, why) instead
 * of failing the call (left NULL: it fails it).  *n_left: how many,
 * committed.  left may be called again for a letter of a chunk whose
 * commit then failed (the call fails too).
 */
typedef void (*sp_dlq_left_cb)(void *ctx, int64_t id, const char *why);
ctspool_rc sp_journal_dlq_requeue_all(struct sp_journal *j,
                                      sp_dlq_left_cb left, void *ctx,
                                      uint64_t *n_requeued,
                                      uint64_t *n_left);
ctspool_rc sp_journal_dlq_purge(struct sp_journal *j, const int64_t *ids,
                                size_t n_ids, uint64_t *n_purged);
/*
 * Deletes points acknowledged before now - retain_s (seconds), records
 * and groups nothing refers to anymore, and gives free pages back.  An
 * acknowledgement is known to its minute and counts as at the minute's
 * end: a point is kept at least retain_s, at most retain_s + 60 s.
 */
ctspool_rc sp_journal_compact(struct sp_journal *j, int64_t now,
                              int64_t retain_s, uint64_t *n_deleted);

/*
 * sp_journal_check -- verify the invariants of journal.c that a query
 * can see (journal_check.c), outside a write transaction.  Returns 0
 * when they hold, else the number of the first one violated, with the
 * numbers in why (may be NULL with why_len 0); -1 when a query failed.
 * Builds with CTSPOOL_JOURNAL_CHECK (Debug) run it before COMMIT (every
 * one while the journal is small) and abort on a violation.
 */
int sp_journal_check(struct sp_journal *j, char *why, size_t why_len);

/* JSON text of a finished point's dimensions (payload_out.c).
 * *out: transferred (free()). */
ctspool_rc sp_payload_dims_json(const struct sp_point *p, char **out);
/* s as a JSON string literal, quotes included.  *out: free(). */
ctspool_rc sp_json_string(const char *s, char **out);

#endif /* SP_JOURNAL_H */
