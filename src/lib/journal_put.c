/*
 * journal_put.c -- the producer path: sp_journal_put upserts one point
 * inside the caller's write transaction.  It resolves the point's group
 * and series (cached in memory), inserts or updates the point row and
 * buffers its queue row; the queue helpers (sp_jn_queue_*) also serve
 * the drainer's dead-lettering and re-queue, and sp_jn_flush_meta writes
 * the transaction's counters at commit.
 *
 * Invariants (journal.c) kept here: (2) one point row per identity; a
 * new value takes a new seq, the same value changes nothing.  (3) the
 * queue row moves with the seq and carries the point's (hour, series,
 * value).  (5) a limit refuses the put with E_FULL; the caller rolls
 * back, no stored point is touched.  (6) seq is taken from next_seq as
 * read at BEGIN, under the write lock.
 *
 * The caches name only rows that exist: a rollback that may have undone
 * inserted rows clears them, and so does a compaction by any process
 * (meta.epoch changes).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "journal_int.h"

/*
 * The series cache is an open-addressing table that doubles from
 * CACHE_SLOTS_MIN up to CACHE_SLOTS as entries come, keeping at most
 * half its slots used.  A few thousand series then live in a table that
 * stays in the CPU's cache, where the full-size table (5 MiB) spread
 * them over as many cache lines and pages as there were lookups (the
 * commit that made it grow says what that cost).
 */
#define CACHE_SLOTS_MIN 4096u        /* first table; power of two */
#define CACHE_SLOTS (1u << 17)       /* largest table; power of two */
#define CACHE_MAX (CACHE_SLOTS / 2u) /* entries before the cache resets */
#define BYTES_CHECK_EVERY 1024u      /* puts between journal size checks */
#define ENCODE_MAX                                                        \
    (4 + SP_NAME_MAX + 4 + 16 +                                           \
     SP_MAX_DIMS * (4 + SP_DIM_KEY_MAX + 4 + SP_DIM_VAL_MAX))

/* Series cache: (stream, canonical encoding) -> series, group ids. */
struct cache_ent {
    uint64_t hash;
    int64_t series;
    int64_t grp;
    size_t key_len;
    uint8_t *key; /* NULL: empty slot */
};

/* Group cache: a handful of (stream, agg) pairs. */
struct grp_ent {
    char *stream;
    int agg;
    int64_t id;
};

/* ---- caches ---------------------------------------------------------- */

/* A fast non-cryptographic hash of the cache key, 8 bytes at a time. */
static uint64_t
key_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    uint64_t w;

    while (n >= 8) {
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        b += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, b, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* Forgets every cached series and group: their rows may be gone. */
void
sp_jn_cache_clear(struct sp_journal *j)
{
    if (j->cache) {
        for (size_t i = 0; i < j->cache_slots; i++) {
            free(j->cache[i].key);
            j->cache[i].key = NULL;
        }
    }
    j->cache_n = 0;
    for (size_t i = 0; i < j->n_grps; i++) {
        free(j->grps[i].stream);
    }
    free(j->grps);
    j->grps = NULL;
    j->n_grps = 0;
}

static struct cache_ent *
cache_find(struct sp_journal *j, uint64_t h, const uint8_t *key,
           size_t key_len)
{
    size_t i = (size_t)h & (j->cache_slots - 1);

    if (!j->cache) {
        return NULL;
    }
    for (;;) {
        struct cache_ent *c = &j->cache[i];

        if (!c->key) {
            return c; /* empty slot: where it would go */
        }
        if (c->hash == h && c->key_len == key_len &&
            memcmp(c->key, key, key_len) == 0) {
            return c;
        }
        i = (i + 1) & (j->cache_slots - 1);
    }
}

/* Doubles the table (or makes the first one); -1: out of memory. */
static int
cache_grow(struct sp_journal *j)
{
    size_t n = j->cache_slots ? 2 * j->cache_slots : CACHE_SLOTS_MIN;
    struct cache_ent *t = calloc(n, sizeof(*t));

    if (!t) {
        return -1;
    }
    for (size_t i = 0; i < j->cache_slots; i++) {
        if (j->cache[i].key) {
            size_t k = (size_t)j->cache[i].hash & (n - 1);

            while (t[k].key) {
                k = (k + 1) & (n - 1);
            }
            t[k] = j->cache[i];
        }
    }
    free(j->cache);
    j->cache = t;
    j->cache_slots = n;
    return 0;
}

/* Remembers key -> (series, grp); a cache failure is never an error. */
static void
cache_add(struct sp_journal *j, uint64_t h, const uint8_t *key,
          size_t key_len, int64_t series, int64_t grp)
{
    struct cache_ent *c;

    if (j->cache_n >= CACHE_MAX) {
        sp_jn_cache_clear(j); /* bounded memory: start over */
    }
    /* At most half the slots used (then at CACHE_SLOTS, by CACHE_MAX). */
    if (2 * (j->cache_n + 1) > j->cache_slots && cache_grow(j) != 0) {
        return;
    }
    c = cache_find(j, h, key, key_len);
    if (c->key) {
        return;
    }
    c->key = malloc(key_len ? key_len : 1);
    if (!c->key) {
        return;
    }
    memcpy(c->key, key, key_len);
    c->key_len = key_len;
    c->hash = h;
    c->series = series;
    c->grp = grp;
    j->cache_n++;
}

/* ---- producers ------------------------------------------------------- */

/*
 * The id of group (stream, agg) into *out, inserted when new; the events
 * group (agg SP_KIND_EVENTS) with its fixed id SP_GRP_EVENTS_ID.
 */
ctspool_rc
sp_jn_grp_resolve(struct sp_journal *j, const char *stream,
                  size_t stream_len, int agg, int64_t *out)
{
    sqlite3_stmt *s;
    struct grp_ent *g;
    int64_t id = 0;
    int r;

    for (size_t i = 0; i < j->n_grps; i++) {
        g = &j->grps[i];
        if (g->agg == agg && strlen(g->stream) == stream_len &&
            memcmp(g->stream, stream, stream_len) == 0) {
            *out = g->id;
            return CTSPOOL_OK;
        }
    }
    s = sp_jn_stmt(j, ST_GRP_FIND);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "group lookup");
    }
    sqlite3_bind_text(s, 1, stream, (int)stream_len, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, agg);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
    }
    sp_jn_done(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "group lookup");
    }
    if (r == SQLITE_DONE) {
        s = sp_jn_stmt(j, ST_GRP_INS);
        if (!s) {
            return sp_jn_db_fail(j, sqlite3_errcode(j->db), "group insert");
        }
        sqlite3_bind_text(s, 1, stream, (int)stream_len, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, agg);
        if (agg == SP_KIND_EVENTS) {
            sqlite3_bind_int64(s, 3, SP_GRP_EVENTS_ID);
        } else {
            sqlite3_bind_null(s, 3);
        }
        r = sqlite3_step(s);
        sp_jn_done(s);
        if (r != SQLITE_DONE) {
            return sp_jn_db_fail(j, r, "group insert");
        }
        id = sqlite3_last_insert_rowid(j->db);
        j->cache_dirty = 1;
    }
    g = realloc(j->grps, (j->n_grps + 1) * sizeof(*g));
    if (g) {
        j->grps = g;
        g = &j->grps[j->n_grps];
        g->stream = strndup(stream, stream_len);
        if (g->stream) {
            g->agg = agg;
            g->id = id;
            j->n_grps++;
        }
    }
    *out = id;
    return CTSPOOL_OK;
}

/*
 * sp_jn_series_find -- the series of (grp, rid[0..rid_len)) into
 * *series: OK, E_NOTFOUND (none), or a journal error.
 */
ctspool_rc
sp_jn_series_find(struct sp_journal *j, int64_t grp, const uint8_t *rid,
                  size_t rid_len, int64_t *series)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_SERIES_FIND);
    int r;

    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "record lookup");
    }
    sqlite3_bind_int64(s, 1, grp);
    sqlite3_bind_blob(s, 2, rid, (int)rid_len, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *series = sqlite3_column_int64(s, 0);
    }
    sp_jn_done(s);
    if (r == SQLITE_ROW) {
        return CTSPOOL_OK;
    }
    return r == SQLITE_DONE ? CTSPOOL_E_NOTFOUND
                            : sp_jn_db_fail(j, r, "record lookup");
}

/*
 * sp_jn_series_insert -- inserts the series (grp, rid[0..rid_len), name,
 * dims: JSON text of dims_len bytes, -1: NUL-terminated) by statement id
 * (ST_SERIES_INS, or ST_SERIES_ADD: nothing on a conflict): its id into
 * *series.  OK, E_NOTFOUND (ST_SERIES_ADD met the series), or a journal
 * error.
 */
ctspool_rc
sp_jn_series_insert(struct sp_journal *j, enum stmt_id id, int64_t grp,
                    const uint8_t *rid, size_t rid_len, const char *name,
                    size_t name_len, const char *dims, int dims_len,
                    int64_t *series)
{
    sqlite3_stmt *s = sp_jn_stmt(j, id);
    int r;

    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "record insert");
    }
    sqlite3_bind_int64(s, 1, grp);
    sqlite3_bind_blob(s, 2, rid, (int)rid_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, (int)name_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, dims, dims_len, SQLITE_STATIC);
    r = sqlite3_step(s);
    sp_jn_done(s);
    if (r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "record insert");
    }
    if (sqlite3_changes(j->db) != 1) {
        return CTSPOOL_E_NOTFOUND;
    }
    *series = sqlite3_last_insert_rowid(j->db);
    j->cache_dirty = 1;
    return CTSPOOL_OK;
}

static ctspool_rc
series_resolve(struct sp_journal *j, const struct sp_point *p,
               int64_t *series, int64_t *grp)
{
    uint8_t key[ENCODE_MAX + SP_STREAM_MAX + 8];
    uint8_t rid[SP_RECORD_ID_LEN];
    size_t enc_len, key_len;
    uint32_t sl = (uint32_t)p->stream_len;
    struct cache_ent *c;
    uint64_t h;
    ctspool_rc rc;

    /* key = stream length, stream, canonical encoding (name, agg, dims) */
    if (p->stream_len > SP_STREAM_MAX) {
        sp_err_set(&j->err, "data_stream_token: too long");
        return CTSPOOL_E_INVALID;
    }
    memcpy(key, &sl, 4);
    memcpy(key + 4, p->stream, p->stream_len);
    enc_len = sp_record_encode(p, key + 4 + p->stream_len, ENCODE_MAX);
    if (enc_len > ENCODE_MAX) {
        sp_err_set(&j->err, "point too large to encode");
        return CTSPOOL_E_INVALID;
    }
    key_len = 4 + p->stream_len + enc_len;
    h = key_hash(key, key_len);
    c = cache_find(j, h, key, key_len);
    if (c && c->key) {
        *series = c->series;
        *grp = c->grp;
        return CTSPOOL_OK;
    }
    rc = sp_jn_grp_resolve(j, p->stream, p->stream_len, p->agg, grp);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_record_id(p, rid);
    if (rc != CTSPOOL_OK) {
        sp_err_set(&j->err, "cannot compute record ID: %s",
                   ctspool_strerror(rc));
        return rc;
    }
    rc = sp_jn_series_find(j, *grp, rid, SP_RECORD_ID_LEN, series);
    if (rc == CTSPOOL_E_NOTFOUND) {
        char *dims = NULL;

        rc = sp_payload_dims_json(p, &dims);
        if (rc != CTSPOOL_OK) {
            sp_err_set(&j->err, "cannot encode custom_dimensions: %s",
                       ctspool_strerror(rc));
            return rc;
        }
        rc = sp_jn_series_insert(j, ST_SERIES_INS, *grp, rid,
                                 SP_RECORD_ID_LEN, p->name, p->name_len,
                                 dims, -1, series);
        free(dims);
    }
    if (rc == CTSPOOL_OK) {
        cache_add(j, h, key, key_len, *series, *grp);
    }
    return rc;
}

/*
 * E_FULL (j->err set) when one more pending point would pass
 * limits.max_pending_points.  The message counts what was pending
 * before this write (the savepoint's, else the transaction's), and says
 * when the write alone adds more than the limit: waiting cannot help
 * that one (sp_journal_full_alone()).
 */
ctspool_rc
sp_jn_pending_one_more(struct sp_journal *j)
{
    int64_t before = j->in_savepoint ? j->sv_pending : j->pending_begin;

    j->full_alone = 0;
    if (j->max_pending && (uint64_t)j->pending + 1 > j->max_pending) {
        j->full_pending = 1;
        if ((uint64_t)(j->pending - before) + 1 > j->max_pending) {
            j->full_alone = 1;
            sp_err_set(&j->err,
                       "spool full: this write alone adds more than "
                       "limits.max_pending_points (%llu) new points; "
                       "split it, or raise the limit",
                       (unsigned long long)j->max_pending);
        } else if ((uint64_t)before >= j->max_pending) {
            sp_err_set(&j->err,
                       "spool full: %lld points pending, "
                       "limits.max_pending_points is %llu",
                       (long long)before,
                       (unsigned long long)j->max_pending);
        } else {
            /* Room is left, only not for all of this write. */
            sp_err_set(&j->err,
                       "spool full: %lld points pending, "
                       "limits.max_pending_points is %llu, and this write "
                       "adds more new points than the %llu left",
                       (long long)before,
                       (unsigned long long)j->max_pending,
                       (unsigned long long)(j->max_pending -
                                            (uint64_t)before));
        }
        return CTSPOOL_E_FULL;
    }
    return CTSPOOL_OK;
}

int
sp_journal_full_alone(struct sp_journal *j, uint64_t n_items)
{
    if (!j->full_pending || !(j->full_alone || n_items > j->max_pending)) {
        return 0;
    }
    if (!j->full_alone) {
        sp_err_set(&j->err,
                   "spool full: this write holds %llu items, more than "
                   "limits.max_pending_points (%llu) takes at once; split "
                   "it, or raise the limit",
                   (unsigned long long)n_items,
                   (unsigned long long)j->max_pending);
    }
    return 1;
}

/* Binds row q at parameters base+1 .. base+5. */
static void
bind_qrow(sqlite3_stmt *s, int base, const struct qrow *q)
{
    sqlite3_bind_int64(s, base + 1, q->grp);
    sqlite3_bind_int64(s, base + 2, q->seq);
    sqlite3_bind_int64(s, base + 3, q->hour);
    sqlite3_bind_int64(s, base + 4, q->series);
    sqlite3_bind_double(s, base + 5, q->value);
}

/* Inserts the buffered queue rows.  On failure the caller rolls back. */
int
sp_jn_queue_flush(struct sp_journal *j)
{
    size_t n = j->qbuf_n;
    sqlite3_stmt *s;
    int r = SQLITE_DONE;

    j->qbuf_n = 0;
    if (n == QBUF_ROWS) {
        s = sp_jn_stmt(j, ST_Q_INS_MANY);
        if (!s) {
            return sqlite3_errcode(j->db);
        }
        for (size_t i = 0; i < n; i++) {
            bind_qrow(s, (int)(5 * i), &j->qbuf[i]);
        }
        r = sqlite3_step(s);
        sqlite3_reset(s);
        return r == SQLITE_DONE ? SQLITE_OK : r;
    }
    s = sp_jn_stmt(j, ST_Q_INS);
    if (!s) {
        return n ? sqlite3_errcode(j->db) : SQLITE_OK;
    }
    for (size_t i = 0; i < n && r == SQLITE_DONE; i++) {
        bind_qrow(s, 0, &j->qbuf[i]);
        r = sqlite3_step(s);
        sqlite3_reset(s);
    }
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/* Adds the queue row of a pending version (grp, seq): buffered. */
int
sp_jn_queue_add(struct sp_journal *j, int64_t grp, int64_t seq,
                int64_t hour, int64_t series, double value)
{
    struct qrow *q = &j->qbuf[j->qbuf_n++];

    assert(j->qbuf_n == 1 || q[-1].seq < seq);
    sp_jn_grp_touched(j, grp);
    q->grp = grp;
    q->seq = seq;
    q->hour = hour;
    q->series = series;
    q->value = value;
    return j->qbuf_n == QBUF_ROWS ? sp_jn_queue_flush(j) : SQLITE_OK;
}

/* Deletes the queue row (grp, seq); *was: 1 if there was one. */
int
sp_jn_queue_del(struct sp_journal *j, int64_t grp, int64_t seq, int *was)
{
    sqlite3_stmt *s;
    int r;

    sp_jn_grp_touched(j, grp);
    /* Still buffered?  The buffer is in seq order. */
    if (j->qbuf_n && seq >= j->qbuf[0].seq) {
        for (size_t i = 0; i < j->qbuf_n; i++) {
            if (j->qbuf[i].seq == seq && j->qbuf[i].grp == grp) {
                memmove(&j->qbuf[i], &j->qbuf[i + 1],
                        (j->qbuf_n - i - 1) * sizeof(j->qbuf[0]));
                j->qbuf_n--;
                *was = 1;
                return SQLITE_OK;
            }
        }
    }
    s = sp_jn_stmt(j, ST_Q_DEL);
    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int64(s, 1, grp);
    sqlite3_bind_int64(s, 2, seq);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    *was = sqlite3_changes(j->db) > 0;
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

void
sp_jn_grp_note(struct sp_journal *j, int64_t grp)
{
    for (size_t i = 0; i < j->qgrps_n; i++) {
        if (j->qgrps[i] == grp) {
            j->qgrps_last = i;
            return;
        }
    }
    if (j->qgrps_n < QGRPS_MAX) {
        j->qgrps_at[j->qgrps_n] = 0;
        j->qgrps_last = j->qgrps_n;
        j->qgrps[j->qgrps_n++] = grp;
    } else {
        j->qgrps_over = 1;
    }
}

int
sp_jn_run_ints(struct sp_journal *j, const char *sql, const int64_t *v,
               int n_v, int64_t *out, int n_out, int *changes)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
    int n_par = r == SQLITE_OK ? sqlite3_bind_parameter_count(s) : 0;

    for (int i = 0; r == SQLITE_OK && i < n_v && i < n_par; i++) {
        r = sqlite3_bind_int64(s, i + 1, v[i]);
    }
    if (r == SQLITE_OK) {
        r = sqlite3_step(s);
    }
    if (r == SQLITE_ROW) {
        for (int i = 0; i < n_out; i++) {
            if (sqlite3_column_type(s, i) != SQLITE_NULL) {
                out[i] = sqlite3_column_int64(s, i);
            }
        }
    }
    r = r == SQLITE_ROW || r == SQLITE_DONE ? SQLITE_OK : r;
    sqlite3_finalize(s);
    if (r == SQLITE_OK && changes) {
        *changes = sqlite3_changes(j->db);
    }
    return r;
}

/*
 * The grp_pending rows of the groups noted in this transaction, as their
 * queues now are (a savepoint rolled back may have taken rows back): set
 * with since = the group's written time, or now when it has none (or
 * kept when earlier), when it holds rows; cleared when not.  Past
 * QGRPS_MAX groups, every group, with the transaction's earliest time at.
 */
static int
flush_grp_pending(struct sp_journal *j, int64_t now, int64_t at)
{
    sqlite3_stmt *s;
    int r;

    if (j->qgrps_over) {
        r = sp_jn_run_ints(j,
                           "INSERT OR IGNORE INTO grp_pending (grp, since) "
                           "SELECT g.id, ?1 FROM grp g WHERE EXISTS "
                           "(SELECT 1 FROM queue q WHERE q.grp = g.id)",
                           &at, 1, NULL, 0, NULL);
        if (r == SQLITE_OK) {
            r = sp_jn_run_ints(j,
                               "DELETE FROM grp_pending WHERE NOT EXISTS "
                               "(SELECT 1 FROM queue q WHERE q.grp = "
                               "grp_pending.grp)",
                               NULL, 0, NULL, 0, NULL);
        }
        return r;
    }
    for (size_t i = 0; i < j->qgrps_n; i++) {
        for (int k = 0; k < 2; k++) {
            s = sp_jn_stmt(j, k ? ST_GP_CLEAR : ST_GP_SET);
            if (!s) {
                return sqlite3_errcode(j->db);
            }
            sqlite3_bind_int64(s, 1, j->qgrps[i]);
            if (!k) {
                int64_t t = j->qgrps_at[i];

                sqlite3_bind_int64(s, 2, t > 0 && t < now ? t : now);
            }
            r = sqlite3_step(s);
            sp_jn_done(s);
            if (r != SQLITE_DONE) {
                return r;
            }
        }
    }
    return SQLITE_OK;
}

/* A put's first step: the journal's size checked at a transaction's
 * first put and then now and then (limits.max_journal_bytes). */
ctspool_rc
sp_jn_put_check(struct sp_journal *j)
{
    assert(j->in_txn);
    if (j->puts_since_check == 0 ||
        ++j->puts_since_check > BYTES_CHECK_EVERY) {
        return sp_jn_check_bytes(j);
    }
    return CTSPOOL_OK;
}

/* sp_jn_put_check, then p's series and group ids (created when new). */
static ctspool_rc
resolve(struct sp_journal *j, const struct sp_point *p, int64_t *series,
        int64_t *grp)
{
    ctspool_rc rc = sp_jn_put_check(j);

    return rc == CTSPOOL_OK ? series_resolve(j, p, series, grp) : rc;
}

/*
 * Inserts the point (hour, series) of group grp with value as a new
 * pending version if it has no row yet: *res NEW, else UNCHANGED and
 * nothing written.  The series and group are resolved.
 */
ctspool_rc
sp_jn_insert_new(struct sp_journal *j, int64_t hour, double value,
                 int64_t series, int64_t grp, enum sp_put_result *res)
{
    sqlite3_stmt *s;
    ctspool_rc rc;
    int r;

    rc = sp_jn_folds_written(j); /* a fold held may be of this point */
    if (rc == CTSPOOL_OK) {
        rc = sp_jn_pending_one_more(j);
    }
    /* At the limit, only a point that would be new is refused: an
     * identity with a row is the caller's update (or nothing at all). */
    if (rc == CTSPOOL_E_FULL) {
        struct sp_row row;

        r = sp_jn_load_row(j, hour, series, &row);
        if (r == SQLITE_ROW) {
            *res = SP_PUT_UNCHANGED;
            return CTSPOOL_OK;
        }
        if (r != SQLITE_DONE) {
            return sp_jn_db_fail(j, r, "point lookup");
        }
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    s = sp_jn_stmt(j, ST_PT_INS);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "point insert");
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    sqlite3_bind_int64(s, 3, grp);
    sqlite3_bind_double(s, 4, value);
    sqlite3_bind_int64(s, 5, j->next_seq);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "point insert");
    }
    if (sqlite3_changes(j->db) == 1) {
        r = sp_jn_queue_add(j, grp, j->next_seq, hour, series, value);
        if (r != SQLITE_OK) {
            return sp_jn_db_fail(j, r, "queue insert");
        }
        j->next_seq++;
        sp_jn_count_new(j);
        *res = SP_PUT_NEW;
        return CTSPOOL_OK;
    }
    *res = SP_PUT_UNCHANGED; /* the identity has a row already */
    return CTSPOOL_OK;
}

/* The counters of a point made new by a put (invariant 4). */
void
sp_jn_count_new(struct sp_journal *j)
{
    j->pending++;
    j->points++;
    j->appended++;
}

ctspool_rc
sp_jn_fold_under_row(struct sp_journal *j, int64_t grp, int64_t hour,
                     int64_t series, const struct sp_row *row, int agg,
                     double value, const struct sp_avg *value_avg,
                     enum sp_fold_mark mark)
{
    const struct sp_avg row_parts = {row->sum, row->n};
    const struct sp_avg *avg;
    struct sp_folded f;
    int r;

    if (sp_jn_fold_merge(agg, value, value_avg, row->value,
                         row->had_avg ? &row_parts : NULL, &f) != 0) {
        return CTSPOOL_E_INVALID;
    }
    avg = f.has_avg ? &f.avg : NULL;
    if (f.value == row->value) {
        /* The value to upload stays: only the parts and the mark. */
        r = sp_jn_point_parts(j, hour, series, avg, mark);
    } else {
        ctspool_rc rc = sp_jn_unqueue(j, grp, row->seq);

        if (rc != CTSPOOL_OK) {
            return rc;
        }
        r = sp_jn_point_write(j, ST_PT_UPD, grp, hour, series, f.value, avg,
                              mark);
    }
    return r == SQLITE_OK ? CTSPOOL_OK : sp_jn_db_fail(j, r, "point update");
}

/*
 * p (origin o, NULL: one observation set by a replace) was observed
 * before the row of (hour, series) that the journal holds: when that
 * row was folded from nothing it lacks p's observations, and becomes
 * their fold, p's first (UPDATED); else it is newer and stays
 * (UNCHANGED).  E_INVALID (j->err) when the fold is not finite.
 */
static ctspool_rc
fold_under(struct sp_journal *j, const struct sp_point *p,
           const struct sp_origin *o, int64_t series, int64_t grp,
           enum sp_put_result *res)
{
    struct sp_row row = {0, 0, 0, 0, 0, 0};
    ctspool_rc rc;
    int r = sp_jn_load_row(j, p->hour, series, &row);

    if (r != SQLITE_ROW) {
        return sp_jn_db_fail(j, r == SQLITE_DONE ? SQLITE_CORRUPT : r,
                             "point lookup");
    }
    if (!row.folded) {
        return CTSPOOL_OK;
    }
    rc = sp_jn_fold_under_row(j, grp, p->hour, series, &row, p->agg,
                              p->value, o && o->has_avg ? &o->avg : NULL,
                              o && o->folded ? SP_MARK_SET : SP_MARK_CLEAR);
    if (rc == CTSPOOL_E_INVALID) {
        sp_err_set(&j->err, "folding it with the value observed since "
                            "gives a number that is not finite");
    } else if (rc == CTSPOOL_OK) {
        *res = SP_PUT_UPDATED;
    }
    return rc;
}

ctspool_rc
sp_journal_put_absent(struct sp_journal *j, const struct sp_point *p,
                      const struct sp_origin *o, enum sp_put_result *res)
{
    int64_t series = 0, grp = 0;
    ctspool_rc rc = resolve(j, p, &series, &grp);
    int r;

    if (rc == CTSPOOL_OK) {
        rc = sp_jn_insert_new(j, p->hour, p->value, series, grp, res);
    }
    if (rc == CTSPOOL_OK && *res == SP_PUT_NEW && o &&
        (o->has_avg || o->folded) &&
        (r = sp_jn_point_parts(j, p->hour, series,
                               o->has_avg ? &o->avg : NULL,
                               o->folded ? SP_MARK_SET : SP_MARK_KEEP)) !=
            SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, "point update");
    }
    if (rc == CTSPOOL_OK && *res == SP_PUT_UNCHANGED) {
        rc = fold_under(j, p, o, series, grp, res);
    }
    return rc;
}

/* The row of (hour, series) into *o: SQLITE_ROW, SQLITE_DONE (none), or
 * an error. */
int
sp_jn_load_row(struct sp_journal *j, int64_t hour, int64_t series,
               struct sp_row *o)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_PT_GET);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        o->value = sqlite3_column_double(s, 0);
        o->seq = sqlite3_column_int64(s, 1);
        o->had_avg = sqlite3_column_type(s, 3) != SQLITE_NULL;
        o->folded = sqlite3_column_int(s, 4) == 1;
        o->sum = sqlite3_column_double(s, 2);
        o->n = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return r;
}

/*
 * p replaces the value of the existing point (hour, series) of group
 * grp.  A value that does not change leaves the point as it is
 * (invariant 2), but that a replace ends an Average's parts.
 */
static ctspool_rc
put_existing(struct sp_journal *j, const struct sp_point *p, int64_t series,
             int64_t grp, enum sp_put_result *res)
{
    struct sp_row row = {0, 0, 0, 0, 0, 0};
    ctspool_rc rc;
    int r;

    rc = sp_jn_folds_written(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sp_jn_load_row(j, p->hour, series, &row);
    if (r != SQLITE_ROW) {
        return sp_jn_db_fail(j, r == SQLITE_DONE ? SQLITE_CORRUPT : r,
                             "point lookup");
    }
    if (p->value == row.value) {
        *res = SP_PUT_UNCHANGED;
        if (!row.had_avg && !row.folded) {
            return CTSPOOL_OK;
        }
        /* The value to upload stays: no new version, only the parts and
         * the mark (a replace set it now). */
        r = sp_jn_point_parts(j, p->hour, series, NULL, SP_MARK_CLEAR);
        return r == SQLITE_OK ? CTSPOOL_OK
                              : sp_jn_db_fail(j, r, "point update");
    }
    /* The old version leaves the queue; the new one joins at the end. */
    rc = sp_jn_unqueue(j, grp, row.seq);
    if (rc != CTSPOOL_OK) {
        return rc; /* nothing changed: the caller rolls back anyway */
    }
    r = sp_jn_point_write(j, ST_PT_UPD, grp, p->hour, series, p->value,
                          NULL, SP_MARK_CLEAR);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "point update");
    }
    j->appended++;
    *res = SP_PUT_UPDATED;
    return CTSPOOL_OK;
}

/*
 * Writes the point (hour, series) of group grp as a new pending version:
 * its row by statement id (ST_PT_UPD: the row exists; ST_PT_INS_AVG: it
 * is new) with value, seq next_seq, the Average parts avg (NULL: none)
 * and the mark (SP_MARK_KEEP: as the row has it; a new row has none), and
 * its queue row; next_seq moves on.  The counters are the caller's.
 */
int
sp_jn_point_write(struct sp_journal *j, enum stmt_id id, int64_t grp,
                  int64_t hour, int64_t series, double value,
                  const struct sp_avg *avg, enum sp_fold_mark mark)
{
    sqlite3_stmt *s = sp_jn_stmt(j, id);
    int r;

    assert(id == ST_PT_UPD || id == ST_PT_INS_AVG);
    if (!s) {
        return sqlite3_errcode(j->db);
    }
    /* Both statements: ?1 hour, ?2 series, ?3 value, ?4 seq, ?5 ?6 the
     * Average parts; ST_PT_INS_AVG also ?7 grp. */
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    sqlite3_bind_double(s, 3, value);
    sqlite3_bind_int64(s, 4, j->next_seq);
    if (avg) {
        sqlite3_bind_double(s, 5, avg->sum);
        sqlite3_bind_int64(s, 6, avg->n);
    } else {
        sqlite3_bind_null(s, 5);
        sqlite3_bind_null(s, 6);
    }
    if (id == ST_PT_INS_AVG) {
        sqlite3_bind_int64(s, 7, grp);
    }
    sqlite3_bind_int(s, 8, (int)mark);
    r = sqlite3_step(s);
    sp_jn_done(s);
    if (r != SQLITE_DONE) {
        return r;
    }
    if (sqlite3_changes(j->db) != 1) {
        return SQLITE_CORRUPT; /* the row was (not) there after all */
    }
    r = sp_jn_queue_add(j, grp, j->next_seq, hour, series, value);
    if (r == SQLITE_OK) {
        j->next_seq++;
    }
    return r;
}

/* Sets the Average parts of the point (hour, series) to avg (NULL: none)
 * and its mark, its value and version as they are. */
int
sp_jn_point_parts(struct sp_journal *j, int64_t hour, int64_t series,
                  const struct sp_avg *avg, enum sp_fold_mark mark)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_PT_AVG);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    if (avg) {
        sqlite3_bind_double(s, 3, avg->sum);
        sqlite3_bind_int64(s, 4, avg->n);
    } else {
        sqlite3_bind_null(s, 3);
        sqlite3_bind_null(s, 4);
    }
    sqlite3_bind_int(s, 5, (int)mark);
    r = sqlite3_step(s);
    sp_jn_done(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/*
 * The stored version seq of group grp leaves the queue before a new one
 * is written.  If it had left already (acknowledged), the point becomes
 * pending again: the pending limit is checked, then counted.  E_FULL
 * (nothing changed) or a failure (j->err).
 */
ctspool_rc
sp_jn_unqueue(struct sp_journal *j, int64_t grp, int64_t seq)
{
    int was = 0;
    int r = sp_jn_queue_del(j, grp, seq, &was);
    ctspool_rc rc;

    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "queue delete");
    }
    if (!was) {
        rc = sp_jn_pending_one_more(j);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        j->pending++;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_resolve(struct sp_journal *j, const struct sp_point *p,
                   struct sp_resolved *out)
{
    struct sp_event ev;

    if (sp_event_uncarry(p, &ev)) {
        return sp_journal_resolve_event(j, &ev, out);
    }
    out->hour = p->hour;
    out->value = p->value;
    return resolve(j, p, &out->series, &out->grp);
}

/* A resolved point whose identity has a row: the value replaced. */
static ctspool_rc
put_update(struct sp_journal *j, const struct sp_resolved *r,
           enum sp_put_result *res)
{
    struct sp_point p;

    memset(&p, 0, sizeof(p)); /* put_existing reads hour and value */
    p.hour = r->hour;
    p.value = r->value;
    return put_existing(j, &p, r->series, r->grp, res);
}

/* sp_journal_put of one resolved point: inserted if its identity is
 * new (the usual case), else its value replaced. */
static ctspool_rc
put_one(struct sp_journal *j, const struct sp_resolved *r,
        enum sp_put_result *res)
{
    ctspool_rc rc;

    rc = sp_jn_insert_new(j, r->hour, r->value, r->series, r->grp, res);
    if (rc != CTSPOOL_OK || *res == SP_PUT_NEW) {
        return rc;
    }
    return put_update(j, r, res);
}

ctspool_rc
sp_journal_put(struct sp_journal *j, const struct sp_point *p,
               enum sp_put_result *res)
{
    struct sp_resolved r = {p->hour, 0, 0, p->value};
    ctspool_rc rc = resolve(j, p, &r.series, &r.grp);

    return rc == CTSPOOL_OK ? put_one(j, &r, res) : rc;
}

/*
 * SP_PUT_BATCH resolved points, first all inserted by one statement
 * (each as a new version, seq first + i, unless its identity has a row:
 * then nothing).  When every one was new, that is all.  Else a point
 * whose stored seq is its own was inserted (new); the others (their
 * identity existed, or came earlier in the batch) are then put one by
 * one, in order, as updates: each sees what the points before it left,
 * as sp_journal_put would.  The seqs of points not inserted stay unused
 * (invariant 6 asks only that seqs increase).
 */
static ctspool_rc
put_many(struct sp_journal *j, const struct sp_resolved *r,
         enum sp_put_result *res)
{
    const size_t n = SP_PUT_BATCH;
    sqlite3_stmt *s = sp_jn_stmt(j, ST_PT_INS_MANY);
    int64_t first;
    uint64_t is_new = 0; /* bit i: point i was inserted */
    size_t inserted;
    ctspool_rc rc;
    int q;

    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "point insert");
    }
    rc = sp_jn_folds_written(j); /* a fold held may be of these points */
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    first = j->next_seq;
    for (size_t i = 0; i < n; i++) {
        int b = (int)(5 * i);

        sqlite3_bind_int64(s, b + 1, r[i].hour);
        sqlite3_bind_int64(s, b + 2, r[i].series);
        sqlite3_bind_int64(s, b + 3, r[i].grp);
        sqlite3_bind_double(s, b + 4, r[i].value);
        sqlite3_bind_int64(s, b + 5, first + (int64_t)i);
    }
    q = sqlite3_step(s);
    sqlite3_reset(s);
    if (q != SQLITE_DONE) {
        return sp_jn_db_fail(j, q, "point insert");
    }
    inserted = (size_t)sqlite3_changes(j->db);
    j->next_seq += (int64_t)n;
    if (inserted == n) {
        is_new = ~(uint64_t)0;
    } else {
        for (size_t i = 0; i < n && inserted; i++) {
            struct sp_row row;

            q = sp_jn_load_row(j, r[i].hour, r[i].series, &row);
            if (q != SQLITE_ROW) {
                return sp_jn_db_fail(j, q == SQLITE_DONE ? SQLITE_CORRUPT : q,
                                     "point lookup");
            }
            if (row.seq == first + (int64_t)i) {
                is_new |= (uint64_t)1 << i;
                inserted--;
            }
        }
    }
    /* The new versions' queue rows, in seq order. */
    for (size_t i = 0; i < n; i++) {
        if (is_new >> i & 1) {
            q = sp_jn_queue_add(j, r[i].grp, first + (int64_t)i, r[i].hour,
                                r[i].series, r[i].value);
            if (q != SQLITE_OK) {
                return sp_jn_db_fail(j, q, "queue insert");
            }
            j->pending++;
            j->points++;
            j->appended++;
            res[i] = SP_PUT_NEW;
        }
    }
    /* Then the others, in order, each a version after all of those. */
    for (size_t i = 0; i < n; i++) {
        if (!(is_new >> i & 1)) {
            rc = put_update(j, &r[i], &res[i]);
            if (rc != CTSPOOL_OK) {
                return rc;
            }
        }
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_put_resolved(struct sp_journal *j, const struct sp_resolved *r,
                        size_t n, enum sp_put_result *res)
{
    ctspool_rc rc = CTSPOOL_OK;

    assert(j->in_txn);
    /* With a pending limit that n new points might pass, one by one:
     * each then meets the limit exactly where sp_journal_put would. */
    if (n == SP_PUT_BATCH &&
        (!j->max_pending || (uint64_t)j->pending + n <= j->max_pending)) {
        return put_many(j, r, res);
    }
    for (size_t i = 0; i < n && rc == CTSPOOL_OK; i++) {
        rc = put_one(j, &r[i], &res[i]);
    }
    return rc;
}

void
sp_journal_set_written_at(struct sp_journal *j, int64_t at)
{
    assert(j->in_txn);
    /* The point just put: its group's too (flush_grp_pending). */
    if (at > 0 && j->qgrps_n > 0 && !j->qgrps_over &&
        (j->qgrps_at[j->qgrps_last] == 0 ||
         at < j->qgrps_at[j->qgrps_last])) {
        j->qgrps_at[j->qgrps_last] = at;
    }
    if (at > 0 && (j->written_at == 0 || at < j->written_at)) {
        j->written_at = at;
    }
}

/* Writes the transaction's counters back into meta (invariants 4, 6). */
int
sp_jn_flush_meta(struct sp_journal *j)
{
    int64_t now = (int64_t)time(NULL), at = now;
    sqlite3_stmt *s;
    int r;

    if (j->written_at > 0 && j->written_at < at) {
        at = j->written_at; /* salvaged: as first written */
    }

    if (j->next_seq != j->first_seq) {
        r = sp_jn_meta_set_int(j, ST_META_SET, "next_seq", j->next_seq);
        if (r != SQLITE_OK) {
            return r;
        }
        s = sp_jn_stmt(j, ST_SEQTIME_INS);
        if (!s) {
            return sqlite3_errcode(j->db);
        }
        sqlite3_bind_int64(s, 1, j->first_seq);
        sqlite3_bind_int64(s, 2, at);
        r = sqlite3_step(s);
        sp_jn_done(s);
        if (r != SQLITE_DONE) {
            return r;
        }
    }
    if (j->pending != j->pending_begin) {
        r = sp_jn_meta_set_int(j, ST_META_SET, "pending", j->pending);
        if (r != SQLITE_OK) {
            return r;
        }
    }
    /* Since when each group has waited: an update of a pending point (a
     * new seq, a new seqtime) does not restart it (journal_admin.c). */
    r = flush_grp_pending(j, now, at);
    if (r != SQLITE_OK) {
        return r;
    }
    if (j->points != j->points_begin) {
        r = sp_jn_meta_set_int(j, ST_META_SET, "points", j->points);
        if (r != SQLITE_OK) {
            return r;
        }
    }
    if (j->appended) {
        r = sp_jn_meta_set_int(j, ST_META_ADD, "appended_total", j->appended);
        if (r != SQLITE_OK) {
            return r;
        }
    }
    return sp_jn_flush_upload_times(j);
}

/*
 * Adds the dead letter (series, hour, value, origin o, status, body,
 * dead_at) unless an equal one is there (UNCHANGED).
 */
ctspool_rc
sp_jn_dead_add(struct sp_journal *j, int64_t series, int64_t hour,
               double value, const struct sp_origin *o, int status,
               const char *body, int64_t dead_at, enum sp_put_result *res)
{
    sqlite3_stmt *s;
    ctspool_rc rc;
    int r;

    rc = sp_jn_folds_written(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    s = sp_jn_stmt(j, ST_DEAD_FIND);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "dead letter lookup");
    }
    sqlite3_bind_int64(s, 1, series);
    sqlite3_bind_int64(s, 2, hour);
    sqlite3_bind_double(s, 3, value);
    sqlite3_bind_int(s, 4, status);
    sqlite3_bind_int64(s, 5, dead_at);
    r = sqlite3_step(s);
    sp_jn_done(s);
    if (r == SQLITE_ROW) {
        *res = SP_PUT_UNCHANGED;
        return CTSPOOL_OK;
    }
    if (r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "dead letter lookup");
    }
    s = sp_jn_stmt(j, ST_DEAD_PUT);
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "dead letter insert");
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    sqlite3_bind_double(s, 3, value);
    sqlite3_bind_int(s, 4, status);
    sqlite3_bind_text(s, 5, body ? body : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, dead_at);
    sqlite3_bind_int(s, 7, o && o->folded);
    if (o && o->has_avg) {
        sqlite3_bind_double(s, 8, o->avg.sum);
        sqlite3_bind_int64(s, 9, o->avg.n);
    } else {
        sqlite3_bind_null(s, 8);
        sqlite3_bind_null(s, 9);
    }
    r = sqlite3_step(s);
    sp_jn_done(s);
    if (r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "dead letter insert");
    }
    *res = SP_PUT_NEW;
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_put_dead(struct sp_journal *j, const struct sp_point *p,
                    const struct sp_origin *o, int status, const char *body,
                    int64_t dead_at, enum sp_put_result *res)
{
    int64_t series = 0, grp = 0;
    ctspool_rc rc;

    assert(j->in_txn);
    rc = series_resolve(j, p, &series, &grp);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return sp_jn_dead_add(j, series, p->hour, p->value, o, status, body,
                          dead_at, res);
}
