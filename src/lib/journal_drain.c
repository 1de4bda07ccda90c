/*
 * journal_drain.c -- the drainer's side of the journal: take the oldest
 * pending run of the next group, round robin, as a batch (read only;
 * parked groups are skipped: journal_groups.c), then record what
 * upstream answered: ack (with the points to send again:
 * journal_resend.c), dead letters, and failed attempts (counters, last
 * error), and how long upload requests took (the histogram of
 * schema 0004).  Owns struct sp_batch's memory.  A take has its points'
 * series texts from journal_names.c where series repeat.
 *
 * Invariants (journal.c) kept here: (3) a take reads a group's queue in
 * seq order from its start (or from after a batch still in flight), so
 * an ack deletes exactly the queue rows of the seq run it sent, and a
 * dead-lettering names (hour, series, seq): a version updated after it
 * was taken has a new seq and stays pending.  (4) each record of an
 * answer is one transaction.  (5) ack and dead letter are the only ways
 * out of the queue.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"

#define DEAD_BODY_MAX 4096

/* ---- the drainer ----------------------------------------------------- */

void
sp_batch_init(struct sp_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void
sp_batch_cleanup(struct sp_batch *b)
{
    free(b->stream);
    free(b->pts);
    sp_buf_cleanup(&b->arena);
    memset(b, 0, sizeof(*b));
}

/* Copies text[0..len] (with its NUL) into the arena; returns the offset
 * or -1. */
static long
arena_put(struct sp_batch *b, const char *text, size_t len)
{
    size_t off = b->arena.len;

    if (b->arena.cap == 0 && sp_buf_reserve(&b->arena, 65536) != 0) {
        return -1;
    }
    if (sp_buf_add(&b->arena, text, len + 1) != 0) {
        return -1;
    }
    return (long)off;
}

/*
 * Series ids the cache judges itself by: one in 32, by a hash of the id
 * (ids are handed out in turn to interleaved groups), so that a series
 * is always or never among them.  Reading rows joined, only these go
 * through the cache: where series do not repeat, the cache then costs a
 * 32nd of its work per row, and its hits among them still tell what it
 * would hold if it held them all.
 */
#define NAMES_SAMPLED(id)                                                   \
    ((((uint64_t)(id) * 0x9e3779b97f4a7c15ull) >> 59) == 0)
#define NAMES_SAMPLE_MIN 16 /* sampled rows (of one take or more) to
                            * decide on */

/*
 * The texts of series id, read joined (columns 4 and 5 of take) or by
 * id (ST_SERIES_TEXT) where the cache has not got them.  SQLITE_ROW with
 * *out set, valid until the next call (take_points() copies them at
 * once); SQLITE_DONE: no such series (the join leaves such a row out);
 * SQLITE_NOMEM; or an error.
 */
static int
series_texts(struct sp_journal *j, sqlite3_stmt *take, int joined, int64_t id,
             struct sp_journal_name *out)
{
    int sampled = NAMES_SAMPLED(id);
    sqlite3_stmt *s = take;
    int r = SQLITE_ROW;
    int col = 4;

    j->names_sampled += (size_t)sampled;
    if ((sampled || !joined) && sp_jn_names_find(j, id, out)) {
        return SQLITE_ROW;
    }
    j->names_missed += (size_t)sampled;
    if (!joined) {
        /* Reset here, not after the step: its texts are still read. */
        s = sp_jn_stmt(j, ST_SERIES_TEXT);
        if (!s) {
            return sqlite3_errcode(j->db);
        }
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        r = sqlite3_step(s);
        col = 0;
    }
    if (r != SQLITE_ROW) {
        return r;
    }
    out->name = (const char *)sqlite3_column_text(s, col);
    out->dims = (const char *)sqlite3_column_text(s, col + 1);
    if (!out->name || !out->dims) {
        return SQLITE_NOMEM;
    }
    out->name_len = strlen(out->name);
    out->dims_len = strlen(out->dims);
    /* A series the cache cannot take (no memory) is still at hand. */
    if (sampled || !joined) {
        struct sp_journal_name kept;

        if (sp_jn_names_add(j, id, out->name, out->name_len, out->dims,
                            out->dims_len, &kept) == 0) {
            *out = kept;
        }
    }
    return SQLITE_ROW;
}

/*
 * Reads b->grp's queue rows after seq after into b, with their series'
 * texts.  Series repeat from hour to hour, so the rows are read alone
 * and the texts come from journal_names.c.  While it would not hold most
 * of them (more than a quarter of the sampled rows of the last takes
 * missed), the rows are read joined to their series: where series do not
 * repeat, the join costs less than a lookup per row.
 */
static ctspool_rc
take_points(struct sp_journal *j, size_t max_points, int64_t after,
            struct sp_batch *b)
{
    int64_t epoch = 0;
    sqlite3_stmt *s;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    r = sp_jn_meta_get(j, "epoch", &epoch);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "take");
    }
    if (epoch != j->names_epoch) {
        sp_jn_names_clear(j); /* a compaction: ids may name other series */
        j->names_epoch = epoch;
    }
    if (j->names_sampled >= NAMES_SAMPLE_MIN) {
        j->names_by_id = 4 * j->names_missed <= j->names_sampled;
        j->names_sampled = j->names_missed = 0;
    }
    s = sp_jn_stmt(j, j->names_by_id ? ST_TAKE_QUEUE : ST_TAKE_PTS);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "take");
    }
    sqlite3_bind_int64(s, 1, b->grp);
    sqlite3_bind_int64(s, 2, (int64_t)max_points);
    sqlite3_bind_int64(s, 3, after);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct sp_batch_point *bp = &b->pts[b->n];
        struct sp_journal_name t;
        long name_off, dims_off;

        bp->series = sqlite3_column_int64(s, 1);
        r = series_texts(j, s, !j->names_by_id, bp->series, &t);
        if (r == SQLITE_DONE) {
            continue; /* no series row: left out, as the join does */
        }
        if (r != SQLITE_ROW) {
            break;
        }
        bp->hour = sqlite3_column_int64(s, 0);
        bp->seq = sqlite3_column_int64(s, 2);
        bp->value = sqlite3_column_double(s, 3);
        name_off = arena_put(b, t.name, t.name_len);
        dims_off = arena_put(b, t.dims, t.dims_len);
        if (name_off < 0 || dims_off < 0) {
            r = SQLITE_NOMEM;
            break;
        }
        bp->dims_len = t.dims_len;
        /* Offsets now; pointers once the arena stops moving. */
        bp->name = (const char *)(uintptr_t)name_off;
        bp->dims = (const char *)(uintptr_t)dims_off;
        b->n++;
    }
    sp_jn_done(s);
    if (j->names_by_id) {
        sp_jn_done(j->st[ST_SERIES_TEXT]);
    }
    if (r == SQLITE_NOMEM) {
        rc = CTSPOOL_E_NOMEM;
    } else if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "take");
    }
    return rc;
}

ctspool_rc
sp_journal_take(struct sp_journal *j, size_t max_points, struct sp_batch *b)
{
    struct sp_take_from from = {0, 0, INT64_MAX};

    return sp_journal_take_next(j, max_points, &from, b);
}

/*
 * The next group for a take (round robin, ST_TAKE_GRP): the first after
 * from->grp by id, else from the start up to from->grp itself.  SQLITE_ROW
 * with the group in b, SQLITE_DONE when none qualifies, or an error.
 */
static int
take_group(struct sp_journal *j, const struct sp_take_from *from,
           struct sp_batch *b)
{
    const int64_t range[2][2] = {{from->grp, INT64_MAX},
                                 {INT64_MIN, from->grp}};
    sqlite3_stmt *s = sp_jn_stmt(j, ST_TAKE_GRP);
    int r = SQLITE_DONE;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    for (size_t i = 0; i < 2 && r == SQLITE_DONE; i++) {
        sqlite3_bind_int64(s, 1, from->grp);
        sqlite3_bind_int64(s, 2, from->seq);
        sqlite3_bind_int64(s, 3, range[i][0]);
        sqlite3_bind_int64(s, 4, range[i][1]);
        sqlite3_bind_int64(s, 5, from->now_ms);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            b->grp = sqlite3_column_int64(s, 0);
            b->stream = strdup((const char *)sqlite3_column_text(s, 1));
            b->agg = sqlite3_column_int(s, 2);
        }
        sp_jn_done(s);
    }
    return r;
}

ctspool_rc
sp_journal_take_next(struct sp_journal *j, size_t max_points,
                     const struct sp_take_from *from, struct sp_batch *b)
{
    int64_t after = 0;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    free(b->stream);
    b->stream = NULL;
    b->n = 0;
    sp_buf_reset(&b->arena);
    rc = sp_jn_follow(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    b->gen = j->gen;
    /* One read transaction: the group and its points agree. */
    r = sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "cannot begin a read transaction");
    }
    r = take_group(j, from, b);
    if (r == SQLITE_DONE) {
        goto out; /* nothing pending */
    }
    if (r != SQLITE_ROW) {
        rc = sp_jn_db_fail(j, r, "take");
        goto out;
    }
    if (!b->stream) {
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    if (b->cap < max_points) {
        struct sp_batch_point *np = realloc(b->pts, max_points * sizeof(*np));

        if (!np) {
            rc = CTSPOOL_E_NOMEM;
            goto out;
        }
        b->pts = np;
        b->cap = max_points;
    }
    if (b->grp == from->grp) {
        after = from->seq;
    }
    rc = take_points(j, max_points, after, b);
    for (size_t i = 0; i < b->n; i++) {
        b->pts[i].name = b->arena.p + (uintptr_t)b->pts[i].name;
        b->pts[i].dims = b->arena.p + (uintptr_t)b->pts[i].dims;
    }
out:
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    if (rc != CTSPOOL_OK) {
        b->n = 0;
    }
    return rc;
}

/* Meta key counting requests of an HTTP status class. */
static const char *
status_counter(int status)
{
    if (status >= 200 && status < 300) {
        return "requests_2xx";
    }
    if (status >= 400 && status < 500) {
        return "requests_4xx";
    }
    if (status >= 500 && status < 600) {
        return "requests_5xx";
    }
    return "requests_failed";
}

ctspool_rc
sp_journal_ack(struct sp_journal *j, const struct sp_batch *b, size_t from,
               size_t n, int64_t now, size_t *n_acked)
{
    return sp_journal_ack_resend(j, b, from, n, now, NULL, 0, n_acked);
}

ctspool_rc
sp_journal_ack_resend(struct sp_journal *j, const struct sp_batch *b,
                      size_t from, size_t n, int64_t now,
                      const int64_t (*resend)[2], size_t n_resend,
                      size_t *n_acked)
{
    sqlite3_stmt *s;
    size_t acked = 0;
    ctspool_rc rc;
    int r = SQLITE_OK;

    assert(from + n <= b->n);
    if (n == 0) {
        return CTSPOOL_OK;
    }
    /* The run must be in journal order (it is a run of one take). */
    for (size_t i = from + 1; i < from + n; i++) {
        assert(b->pts[i - 1].seq < b->pts[i].seq);
    }
    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (b->gen != j->gen) {
        /* Taken from a journal since moved aside (journal_heal.c): its
         * rows are not these; its points come back by salvage. */
        sp_journal_rollback(j);
        if (n_acked) {
            *n_acked = 0;
        }
        return CTSPOOL_OK;
    }
    /*
     * Invariant (3): the points taken were the first rows of the group's
     * queue, so [first seq, last seq] of the run holds exactly the rows
     * sent that are still pending; rows added since have larger seqs.
     */
    s = sp_jn_stmt(j, ST_ACK);
    if (!s) {
        rc = sp_jn_db_fail(j, sqlite3_errcode(j->db), "ack");
        goto out;
    }
    sqlite3_bind_int64(s, 1, b->grp);
    sqlite3_bind_int64(s, 2, b->pts[from].seq);
    sqlite3_bind_int64(s, 3, b->pts[from + n - 1].seq);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "ack");
        goto out;
    }
    acked = (size_t)sqlite3_changes(j->db);
    /* Delivered: what still waits in the group counts from now on (its
     * row goes at the commit if nothing does). */
    if (acked > 0) {
        sp_jn_grp_touched(j, b->grp);
        s = sp_jn_stmt(j, ST_GP_ACKED);
        if (!s) {
            rc = sp_jn_db_fail(j, sqlite3_errcode(j->db), "ack");
            goto out;
        }
        sqlite3_bind_int64(s, 1, b->grp);
        sqlite3_bind_int64(s, 2, now);
        r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE) {
            rc = sp_jn_db_fail(j, r, "ack");
            goto out;
        }
    }
    s = sp_jn_stmt(j, ST_ACKLOG);
    if (!s) {
        rc = sp_jn_db_fail(j, sqlite3_errcode(j->db), "ack");
        goto out;
    }
    sqlite3_bind_int64(s, 1, b->grp);
    sqlite3_bind_int64(s, 2, now / 60);
    sqlite3_bind_int64(s, 3, b->pts[from + n - 1].seq);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "ack");
        goto out;
    }
    r = sp_jn_resend_note(j, resend, n_resend);
    if (r != SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, "ack");
        goto out;
    }
    j->pending -= (int64_t)acked;
    if ((r = sp_jn_meta_set_int(j, ST_META_ADD, "uploaded_total",
                                (int64_t)acked)) != SQLITE_OK ||
        (r = sp_jn_meta_set_int(j, ST_META_ADD, "requests_2xx", 1)) !=
            SQLITE_OK ||
        (r = sp_jn_meta_set_int(j, ST_META_SET, "last_upload_ok_at", now)) !=
            SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, "ack");
        goto out;
    }
    rc = sp_journal_commit(j);
out:
    if (rc != CTSPOOL_OK) {
        sp_journal_rollback(j);
    } else if (n_acked) {
        *n_acked = acked;
    }
    return rc;
}

ctspool_rc
sp_journal_dead(struct sp_journal *j, const struct sp_batch *b,
                const size_t *idx, size_t n_idx, int status,
                const char *body, int64_t now)
{
    return sp_journal_dead_noted(j, b, idx, n_idx, status, body, now, NULL);
}

ctspool_rc
sp_journal_dead_noted(struct sp_journal *j, const struct sp_batch *b,
                      const size_t *idx, size_t n_idx, int status,
                      const char *body, int64_t now, const char *note)
{
    sqlite3_stmt *ins, *del;
    size_t body_len = body ? strlen(body) : 0;
    struct sp_buf text;
    int64_t moved = 0;
    ctspool_rc rc;
    int r;

    /* Upstream's answer as text: cut to DEAD_BODY_MAX, which may split a
     * character, and whatever it sent that is not UTF-8 as U+FFFD, so
     * that `dlq list --json` stays JSON. */
    if (body_len > DEAD_BODY_MAX) {
        body_len = DEAD_BODY_MAX;
    }
    sp_buf_init(&text);
    if (sp_utf8_scrub(body ? body : "", body_len, &text) != 0) {
        sp_buf_cleanup(&text);
        sp_err_set(&j->err, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        sp_buf_cleanup(&text);
        return rc;
    }
    if (b->gen != j->gen) {
        sp_journal_rollback(j); /* as in sp_journal_ack */
        sp_buf_cleanup(&text);
        return CTSPOOL_OK;
    }
    ins = sp_jn_stmt(j, ST_DEAD_INS);
    del = sp_jn_stmt(j, ST_DEAD_DEL_PT);
    if (!ins || !del) {
        rc = sp_jn_db_fail(j, sqlite3_errcode(j->db), "dead letter");
        goto out;
    }
    for (size_t k = 0; k < n_idx; k++) {
        const struct sp_batch_point *bp = &b->pts[idx[k]];

        assert(idx[k] < b->n);
        sqlite3_bind_int64(ins, 1, bp->hour);
        sqlite3_bind_int64(ins, 2, bp->series);
        sqlite3_bind_int64(ins, 3, bp->seq);
        sqlite3_bind_int(ins, 4, status);
        sqlite3_bind_text(ins, 5, text.p, (int)text.len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 6, now);
        r = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (r != SQLITE_DONE) {
            rc = sp_jn_db_fail(j, r, "dead letter");
            goto out;
        }
        if (sqlite3_changes(j->db) == 0) {
            continue; /* updated meanwhile: the new value gets its turn */
        }
        sqlite3_bind_int64(del, 1, bp->hour);
        sqlite3_bind_int64(del, 2, bp->series);
        sqlite3_bind_int64(del, 3, bp->seq);
        r = sqlite3_step(del);
        sqlite3_reset(del);
        if (r == SQLITE_DONE) {
            int was = 0;

            r = sp_jn_queue_del(j, b->grp, bp->seq, &was); /* SQLITE_OK */
        }
        if (r != SQLITE_OK) {
            rc = sp_jn_db_fail(j, r, "dead letter");
            goto out;
        }
        moved++;
    }
    j->pending -= moved;
    j->points -= moved;
    if ((r = sp_jn_meta_set_int(j, ST_META_ADD, "dead_total", moved)) !=
            SQLITE_OK ||
        (r = sp_jn_meta_set_int(j, ST_META_ADD, status_counter(status), 1)) !=
            SQLITE_OK ||
        (note &&
         ((r = sp_jn_meta_set_text(j, "last_upload_error", note)) !=
              SQLITE_OK ||
          (r = sp_jn_meta_set_int(j, ST_META_SET, "last_upload_error_at",
                                  now)) != SQLITE_OK))) {
        rc = sp_jn_db_fail(j, r, "dead letter");
        goto out;
    }
    rc = sp_journal_commit(j);
out:
    if (rc != CTSPOOL_OK) {
        sp_journal_rollback(j);
    }
    sp_buf_cleanup(&text);
    return rc;
}

ctspool_rc
sp_journal_note_failure(struct sp_journal *j, int status, const char *msg,
                        int64_t now)
{
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if ((r = sp_jn_meta_set_text(j, "last_upload_error", msg)) != SQLITE_OK ||
        (r = sp_jn_meta_set_int(j, ST_META_SET, "last_upload_error_at", now)) !=
            SQLITE_OK ||
        (status >= 0 && (r = sp_jn_meta_set_int(j, ST_META_ADD,
                                                status_counter(status), 1)) !=
                            SQLITE_OK)) {
        rc = sp_jn_db_fail(j, r, "record upload failure");
        sp_journal_rollback(j);
        return rc;
    }
    return sp_journal_commit(j);
}

/* ---- upload durations (the latency histogram) ----------------------- */

const int64_t sp_upload_bucket_ms[SP_UPLOAD_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};

void
sp_journal_note_upload_time(struct sp_journal *j, int64_t ms)
{
    if (ms < 0) {
        ms = 0;
    }
    j->up_n++;
    j->up_sum_ms += (uint64_t)ms;
    for (size_t i = 0; i < SP_UPLOAD_BUCKETS; i++) {
        if (ms <= sp_upload_bucket_ms[i]) {
            j->up_le[i]++;
            break;
        }
    }
}

/* Meta key of bucket i: "upload_ms_le_<bound>" (schema 0004). */
static void
bucket_key(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "upload_ms_le_%lld",
             (long long)sp_upload_bucket_ms[i]);
}

int
sp_jn_flush_upload_times(struct sp_journal *j)
{
    char k[32];
    int r;

    if (!j->up_n) {
        return SQLITE_OK;
    }
    r = sp_jn_meta_set_int(j, ST_META_ADD, "upload_count", (int64_t)j->up_n);
    if (r == SQLITE_OK) {
        r = sp_jn_meta_set_int(j, ST_META_ADD, "upload_sum_ms",
                               (int64_t)j->up_sum_ms);
    }
    for (size_t i = 0; r == SQLITE_OK && i < SP_UPLOAD_BUCKETS; i++) {
        if (j->up_le[i]) {
            bucket_key(i, k, sizeof(k));
            r = sp_jn_meta_set_int(j, ST_META_ADD, k, (int64_t)j->up_le[i]);
        }
    }
    j->up_flushed = r == SQLITE_OK;
    return r;
}

void
sp_jn_upload_times_done(struct sp_journal *j, int committed)
{
    if (committed && j->up_flushed) {
        j->up_n = j->up_sum_ms = 0;
        memset(j->up_le, 0, sizeof(j->up_le));
    }
    j->up_flushed = 0;
}

/* The histogram's meta rows into st (inside the caller's read
 * transaction).  A SQLite result code. */
int
sp_jn_read_upload_times(struct sp_journal *j, struct sp_stats *st)
{
    char k[32];
    int64_t v = 0;
    int r;

    if ((r = sp_jn_meta_get(j, "upload_count", &v)) != SQLITE_OK) {
        return r;
    }
    st->upload_count = v > 0 ? (uint64_t)v : 0;
    if ((r = sp_jn_meta_get(j, "upload_sum_ms", &v)) != SQLITE_OK) {
        return r;
    }
    st->upload_sum_ms = v > 0 ? (uint64_t)v : 0;
    for (size_t i = 0; i < SP_UPLOAD_BUCKETS; i++) {
        bucket_key(i, k, sizeof(k));
        if ((r = sp_jn_meta_get(j, k, &v)) != SQLITE_OK) {
            return r;
        }
        st->upload_le[i] = v > 0 ? (uint64_t)v : 0;
    }
    return SQLITE_OK;
}

ctspool_rc
sp_journal_data_version(struct sp_journal *j, int64_t *out)
{
    sqlite3_stmt *s;
    ctspool_rc rc = sp_jn_follow(j);
    int r;

    if (rc != CTSPOOL_OK) {
        return rc;
    }
    s = sp_jn_stmt(j, ST_DATA_VERSION);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "data_version");
    }
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        /* A reconnect restarts the count: the generation tells. */
        *out = sqlite3_column_int64(s, 0) + (int64_t)(j->gen << 40);
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? CTSPOOL_OK : sp_jn_db_fail(j, r, "data_version");
}
