/*
 * journal_int.h -- declarations shared by the files of the journal
 * (journal*.c) and by nothing else: the handle's layout, the prepared
 * statements and the helpers one file uses from another.
 */
#ifndef SP_JOURNAL_INT_H
#define SP_JOURNAL_INT_H

#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "journal.h"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_META_GET,
    ST_META_SET,
    ST_META_ADD,
    ST_GRP_FIND,
    ST_GRP_INS,
    ST_SERIES_FIND,
    ST_SERIES_INS,
    ST_SERIES_ADD,
    ST_PT_INS,
    ST_PT_INS_MANY,
    ST_PT_GET,
    ST_PT_UPD,
    ST_PT_AVG,
    ST_PT_INS_AVG,
    ST_Q_INS,
    ST_Q_INS_MANY,
    ST_PT_UPD_SEQ,
    ST_PT_ACKED,
    ST_Q_DEL,
    ST_ACKLOG,
    ST_SEQTIME_INS,
    ST_TAKE_GRP,
    ST_TAKE_PTS,
    ST_TAKE_QUEUE,
    ST_SERIES_TEXT,
    ST_ACK,
    ST_DEAD_INS,
    ST_DEAD_DEL_PT,
    ST_DATA_VERSION,
    ST_DEAD_FIND,
    ST_DEAD_PUT,
    ST_IDEM_GET,
    ST_IDEM_PUT,
    ST_IDEM_PRUNE,
    ST_RESEND_INS,
    ST_RESEND_DEL,
    ST_RESEND_SOME,
    ST_RESEND_ANY,
    ST_GP_SET,
    ST_GP_CLEAR,
    ST_GP_ACKED,
    ST_N
};

/*
 * Queue rows of a transaction are inserted QBUF_ROWS at a time by one
 * statement: a statement per row costs as much again as the point's own
 * insert.  The buffer is flushed before COMMIT and at savepoint
 * boundaries, and nothing reads queue in between (invariant 3 holds at
 * every commit).
 */
#define QBUF_ROWS 64

/*
 * SQL: since when the upload group g (an alias, with g.id) has had
 * points waiting, as Unix time; NULL when none wait.  Its grp_pending
 * row (since its queue was last empty, or its last acknowledgement if
 * later: schema 0010), or its oldest pending version's write time
 * (seqtime) if that is older.  The oldest version alone would restart
 * the wait at every update of a pending point (a new seq).
 */
#define SP_GRP_OLDEST_V                                                    \
    "(SELECT at FROM seqtime WHERE seq <= (SELECT min(seq) FROM queue q "  \
    "WHERE q.grp = g.id) ORDER BY seq DESC LIMIT 1)"
#define SP_GRP_WAITING_SQL                                                 \
    "min(" SP_GRP_OLDEST_V ", coalesce((SELECT since FROM grp_pending gp " \
    "WHERE gp.grp = g.id), " SP_GRP_OLDEST_V "))"

/*
 * Groups whose queue gained or lost rows in a transaction, noted for
 * their grp_pending row (schema 0010) at commit; past QGRPS_MAX, every
 * group is looked at.
 */
#define QGRPS_MAX 16

/* The lock wait when the opener sets none (journal_busy.c), and what
 * a quarantine restores after its short wait (journal_heal.c). */
#define SP_JN_BUSY_MS_DEFAULT (5 * 60 * 1000)

struct sp_journal {
    sqlite3 *db;
    char *path;
    char *vfs;
    struct sp_journal_opts opts; /* as opened; path, vfs: the copies above */
    dev_t dev;                   /* the file at path when connected: */
    ino_t ino;                   /* a rename shows as a change */
    uint64_t gen;                /* connections so far: a batch taken in
                                  * an earlier one is not acked here */
    struct sp_err err;
    int busy_ms;                 /* lock wait (journal_busy.c) */
    int64_t busy_since_us;       /* its current wait began */
    uint64_t max_pending;
    uint64_t max_bytes;
    sqlite3_stmt *st[ST_N];

    /* Transaction state, valid while in_txn. */
    int in_txn;
    int in_savepoint;
    int64_t next_seq, first_seq;
    int64_t pending;      /* meta.pending as of now in the transaction */
    int64_t points;       /* meta.points likewise */
    int64_t pending_begin, points_begin; /* both as BEGIN read them */
    int full_pending; /* the last E_FULL was limits.max_pending_points' */
    int full_alone;   /* ... and the write alone passed it */
    int64_t appended;     /* points made pending by puts in this txn */
    int64_t written_at;   /* 0: now; else sp_journal_set_written_at's */
    unsigned puts_since_check;
    /* Saved at the savepoint, restored by rollback_to. */
    int64_t sv_next_seq, sv_pending, sv_points, sv_appended;
    /* Queue rows added and not yet inserted, in seq order. */
    struct qrow {
        int64_t grp, seq, hour, series;
        double value;
    } qbuf[QBUF_ROWS];
    size_t qbuf_n;
    int64_t qgrps[QGRPS_MAX]; /* noted by sp_jn_grp_touched() */
    int64_t qgrps_at[QGRPS_MAX]; /* each one's written_at (0: now) */
    size_t qgrps_n;
    size_t qgrps_last; /* index of the group noted last */
    int qgrps_over; /* more than QGRPS_MAX: all groups */

    /* Caches; cleared when a rollback may have removed their rows, or
     * when another process compacted (epoch changed). */
    struct cache_ent *cache; /* cache_slots slots; NULL: none yet */
    size_t cache_slots, cache_n;
    int cache_dirty; /* rows inserted since begin: clear on rollback */
    int64_t cache_epoch;
    struct grp_ent *grps;
    size_t n_grps;

    /* The drainer's series texts (journal_names.c), read in epoch
     * names_epoch.  names_by_id: takes read rows alone, not joined to
     * their series (journal_drain.c); names_sampled, names_missed: rows
     * of sampled series since the last choice, and the cache's misses
     * among them. */
    struct names_ent *names;
    size_t names_slots, names_n;
    struct sp_buf names_text;
    int64_t names_epoch;
    int names_by_id;
    size_t names_sampled, names_missed;

    /* Upload durations noted and not yet in meta (journal_drain.c);
     * up_flushed: written by the transaction being committed. */
    uint64_t up_n, up_sum_ms, up_le[SP_UPLOAD_BUCKETS];
    int up_flushed;

    /* Text being built for a row, and the digest context of event IDs
     * (journal_event.c; EVP_MD_CTX, NULL until the first event). */
    struct sp_buf scratch;
    struct evp_md_ctx_st *md_ctx;

    /* sqlite3_total_changes64() at the last check (journal_check.c). */
    int64_t changes_seen;

    /* Folds of the transaction not yet written (journal_fold.c): a hash
     * table of fold_cap slots (a power of two, 0: none yet) holding
     * fold_n identities, and the undo records of the savepoint. */
    struct fold_ent *fold;
    size_t fold_cap, fold_n;
    struct fold_key *fold_order; /* fold_cap / 2 of them */
    struct fold_undo *fold_undo;
    size_t fold_undo_n, fold_undo_cap;
    uint64_t fold_sv; /* savepoints so far: an entry's undo record is
                       * written once per savepoint */
};

/* A series' texts, as journal_names.c holds them; both NUL-terminated. */
struct sp_journal_name {
    const char *name, *dims;
    size_t name_len, dims_len;
};

/* A point's stored row (ST_PT_GET). */
struct sp_row {
    double value, sum;
    int64_t seq, n;
    int had_avg;
    int folded; /* the value was folded from nothing (schema 0009) */
};

/*
 * Helpers one journal file uses from another (contracts at their
 * definitions).  Those returning int return a SQLite result code
 * (SQLITE_OK: done); those returning ctspool_rc set j->err on failure.
 */

/* journal_names.c: series id -> texts, for the drainer's takes.  find:
 * 1 with *out set, or 0; add: 0 with *out set, or -1 (no memory). */
void sp_jn_names_clear(struct sp_journal *j);
void sp_jn_names_free(struct sp_journal *j);
int sp_jn_names_find(const struct sp_journal *j, int64_t id,
                     struct sp_journal_name *out);
int sp_jn_names_add(struct sp_journal *j, int64_t id, const char *name,
                    size_t name_len, const char *dims, size_t dims_len,
                    struct sp_journal_name *out);

/* journal.c */
ctspool_rc sp_jn_connect(struct sp_journal *j, struct sp_err *e);
void sp_jn_disconnect(struct sp_journal *j);
ctspool_rc sp_jn_db_fail(struct sp_journal *j, int code, const char *what);
ctspool_rc sp_jn_finish(struct sp_journal *j, int r, const char *what);
sqlite3_stmt *sp_jn_stmt(struct sp_journal *j, enum stmt_id id);
void sp_jn_done(sqlite3_stmt *s);
int sp_jn_meta_get(struct sp_journal *j, const char *k, int64_t *v);
int sp_jn_meta_set_int(struct sp_journal *j, enum stmt_id id, const char *k,
                       int64_t v);
int sp_jn_meta_set_text(struct sp_journal *j, const char *k, const char *v);
ctspool_rc sp_jn_check_bytes(struct sp_journal *j);
/* The bytes j's journal takes on disk: its file and its -wal (status's
 * journal_bytes, and what limits.max_journal_bytes bounds). */
uint64_t sp_jn_disk_bytes(const struct sp_journal *j);

/* journal_put.c */
void sp_jn_cache_clear(struct sp_journal *j);
ctspool_rc sp_jn_grp_resolve(struct sp_journal *j, const char *stream,
                             size_t stream_len, int agg, int64_t *out);
ctspool_rc sp_jn_series_insert(struct sp_journal *j, enum stmt_id id,
                               int64_t grp, const uint8_t *rid,
                               size_t rid_len, const char *name,
                               size_t name_len, const char *dims,
                               int dims_len, int64_t *series);
ctspool_rc sp_jn_series_find(struct sp_journal *j, int64_t grp,
                             const uint8_t *rid, size_t rid_len,
                             int64_t *series);
ctspool_rc sp_jn_put_check(struct sp_journal *j);
ctspool_rc sp_jn_dead_add(struct sp_journal *j, int64_t series, int64_t hour,
                          double value, const struct sp_origin *o,
                          int status, const char *body, int64_t dead_at,
                          enum sp_put_result *res);
ctspool_rc sp_jn_insert_new(struct sp_journal *j, int64_t hour, double value,
                            int64_t series, int64_t grp,
                            enum sp_put_result *res);
ctspool_rc sp_jn_pending_one_more(struct sp_journal *j);
int sp_jn_queue_flush(struct sp_journal *j);
int sp_jn_queue_add(struct sp_journal *j, int64_t grp, int64_t seq,
                    int64_t hour, int64_t series, double value);
int sp_jn_queue_del(struct sp_journal *j, int64_t grp, int64_t seq, int *was);
/*
 * Runs sql (one statement, a change or a query of one row), its integer
 * parameters ?1.. from v (as many as it has, at most n_v).  The row's
 * first n_out columns go into out, but for NULL ones (and without a row:
 * out keeps its values); *changes: rows changed (may be NULL).  A SQLite
 * result code.
 */
int sp_jn_run_ints(struct sp_journal *j, const char *sql, const int64_t *v,
                   int n_v, int64_t *out, int n_out, int *changes);
void sp_jn_grp_note(struct sp_journal *j, int64_t grp);
/* grp's queue gained or lost rows in this transaction: its grp_pending
 * row is set or cleared by sp_jn_flush_meta().  Inline: once a point. */
static inline void
sp_jn_grp_touched(struct sp_journal *j, int64_t grp)
{
    if (j->qgrps_n == 0 || j->qgrps[j->qgrps_last] != grp) {
        sp_jn_grp_note(j, grp);
    }
}
int sp_jn_flush_meta(struct sp_journal *j);
int sp_jn_load_row(struct sp_journal *j, int64_t hour, int64_t series,
                   struct sp_row *o);
ctspool_rc sp_jn_exec_id(struct sp_journal *j, const char *sql, int64_t id,
                         int64_t seq, int *changes);
/* journal_admin.c: a one-value query (no parameters) into *out, -1 for
 * NULL; SQLITE_OK or the error. */
int sp_jn_query_int(struct sp_journal *j, const char *sql, int64_t *out);
/* What a fold leaves: the value, and for Average its parts. */
struct sp_folded {
    double value;
    int has_avg;
    struct sp_avg avg;
};

/*
 * sp_jn_fold_merge -- what folding the observations behind later into
 * base gives, by aggregation function agg (DESIGN.md section 10): each
 * a value with, for an Average, its parts (NULL: the value is one
 * observation).  0, or -1 when the result is not finite.
 */
int sp_jn_fold_merge(int agg, double base, const struct sp_avg *base_avg,
                     double later, const struct sp_avg *later_avg,
                     struct sp_folded *f);

/* The mark "folded from nothing" (point.folded) a write leaves. */
enum sp_fold_mark { SP_MARK_KEEP = -1, SP_MARK_CLEAR = 0, SP_MARK_SET = 1 };
int sp_jn_point_write(struct sp_journal *j, enum stmt_id id, int64_t grp,
                      int64_t hour, int64_t series, double value,
                      const struct sp_avg *avg, enum sp_fold_mark mark);
int sp_jn_point_parts(struct sp_journal *j, int64_t hour, int64_t series,
                      const struct sp_avg *avg, enum sp_fold_mark mark);
ctspool_rc sp_jn_unqueue(struct sp_journal *j, int64_t grp, int64_t seq);
/*
 * Observations made before the row of (hour, series) of group grp, row
 * (folded from nothing: it lacks them), go under it: value (value_avg:
 * its Average parts, NULL: one observation) and the row are folded by
 * agg, value first, and the row takes the fold with the mark mark: its
 * parts alone when the value stays, else a new pending version (one in
 * flight is not acknowledged for it).  E_INVALID (nothing written, no
 * message) when the fold is not finite.
 */
ctspool_rc sp_jn_fold_under_row(struct sp_journal *j, int64_t grp,
                                int64_t hour, int64_t series,
                                const struct sp_row *row, int agg,
                                double value, const struct sp_avg *value_avg,
                                enum sp_fold_mark mark);
void sp_jn_count_new(struct sp_journal *j);

/* journal_fold.c: sp_jn_fold_settle writes the folds held and forgets
 * them (before a put that is not a fold, and at commit); the others
 * follow the transaction (begin/rollback: reset; savepoint, release,
 * rollback to it). */
int sp_jn_fold_settle(struct sp_journal *j);
ctspool_rc sp_jn_folds_written(struct sp_journal *j); /* settle, or E_* */
void sp_jn_fold_savepoint(struct sp_journal *j);
void sp_jn_fold_release(struct sp_journal *j);
int sp_jn_fold_rollback_to(struct sp_journal *j);
void sp_jn_fold_reset(struct sp_journal *j);
void sp_jn_fold_free(struct sp_journal *j);
/* journal_drain.c: the upload durations noted since the last commit into
 * meta, inside the transaction; sp_jn_upload_times_done() once it
 * committed (they are then forgotten) or rolled back (kept). */
int sp_jn_flush_upload_times(struct sp_journal *j);
void sp_jn_upload_times_done(struct sp_journal *j, int committed);
/* journal_drain.c: the histogram's rows into st's upload_* (inside a
 * read transaction). */
int sp_jn_read_upload_times(struct sp_journal *j, struct sp_stats *st);
/* journal_resend.c: notes keys as points to send again, inside the
 * transaction (an ack's). */
int sp_jn_resend_note(struct sp_journal *j, const int64_t (*keys)[2],
                      size_t n);

/* journal_busy.c */
void sp_jn_busy_set(struct sp_journal *j, int ms);

/* journal_heal.c */
int sp_jn_dir_lock(const char *path, int op);
void sp_jn_dir_unlock(int fd);
ctspool_rc sp_jn_heal_at_open(struct sp_journal *j, struct sp_err *e);
ctspool_rc sp_jn_follow(struct sp_journal *j);
int sp_jn_same_file(const struct sp_journal *j);

/* journal_check.c */
void sp_jn_ok(struct sp_journal *j);
/* 0: the hook checks nothing.  For the allocation-failure loop: an
 * allocation failing in the checker's own queries makes SQLite roll the
 * transaction back, a failure of the checker, not of the code tested. */
extern int sp_jn_ok_enabled;

#endif
