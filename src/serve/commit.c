/*
 * commit.c -- group commit: one writer thread owns the writing journal
 * handle.  HTTP workers queue jobs (one per request); the writer takes
 * everything queued, stores it in ONE transaction with one savepoint
 * per job, commits (fsync per durability), and only then hands each job
 * its own outcome.  Many small requests therefore share one fsync.
 *
 *   submit --> QUEUED --taken--> IN TRANSACTION --commit ok--> done(OK)
 *                                  |  put: E_FULL/E_INVALID: the job's
 *                                  |  savepoint is rolled back, done(rc)
 *                                  |  put: other error: transaction
 *                                  |  rolled back, done(rc) for that
 *                                  |  job, the others are retried
 *                                  +--commit fails--> done(rc) for all
 *
 * Invariants:
 * (1) done(OK) is called only after sp_journal_commit() returned OK for
 *     a transaction holding every point of that job (durability per
 *     request; invariant 1 of journal.c).
 * (2) A job is stored whole or not at all (savepoint per job).
 * (3) One job's failure never fails another job: a refused job leaves
 *     only its own savepoint; a lost transaction is retried without the
 *     job that lost it, so every retry finishes at least one job and the
 *     loop ends.
 * (4) Every submitted job gets exactly one done() call, also at
 *     shutdown: sv_writer_stop() drains the queue before returning.
 *     After it, submissions are refused but the writer stays allocated
 *     (stats still answer) until sv_writer_free(), which comes only
 *     after every HTTP thread that may hold it has stopped.
 * (5) After done(job) the writer never touches that job again.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

/* Free bytes beyond those of the last disk-full write that count as room
 * made again (finish_probes()). */
#define PROBE_ROOM ((uint64_t)1 << 20)

/* Points per transaction at most (a job is never split): bounds the
 * latency one huge backlog adds to the requests behind it. */
#define BATCH_POINTS 65536

struct sv_writer {
    struct sp_journal *j; /* writer thread only, once started */
    pthread_t thread;
    int has_thread;
    int is_stopped; /* thread joined, journal closed (owner's thread) */

    pthread_mutex_t lock; /* guards the queue and is_closed */
    pthread_cond_t cond;
    struct sv_job *head, *tail;
    int is_closed;

    /* Writer thread only. */
    ctspool_rc last_write_rc;
    char last_write_msg[256];
    uint64_t avail_at_full; /* free bytes when a write found the disk
                             * full (last_write_rc E_DISKFULL) */

    /* Read by /metrics and /healthz from any thread. */
    atomic_uint_fast64_t commits;
    atomic_uint_fast64_t jobs_committed;
    atomic_uint_fast64_t points_committed;
    atomic_int_fast64_t busy_since_ms; /* 0: idle */
    atomic_int is_damaged; /* the journal is damaged and stays so */

    /* limits.* from a SIGHUP, applied before the next batch. */
    atomic_uint_fast64_t max_pending, max_bytes;
    atomic_int limits_changed;
};


/* Answers one job (invariant 5: nothing touches it afterwards). */
static void
finish(struct sv_job *job, ctspool_rc rc, const char *msg)
{
    job->rc = rc;
    snprintf(job->msg, sizeof(job->msg), "%s",
             rc == CTSPOOL_OK ? "" : msg);
    job->done(job);
}

static void
finish_list(struct sv_job *list, ctspool_rc rc, const char *msg)
{
    while (list) {
        struct sv_job *next = list->next;

        finish(list, rc, msg);
        list = next;
    }
}

/* The job itself is refused; the transaction goes on. */
static int
is_refusal(ctspool_rc rc)
{
    return rc == CTSPOOL_E_FULL || rc == CTSPOOL_E_INVALID;
}

/* Puts the *nb resolved points of rv (none: nothing); *nb = 0. */
static ctspool_rc
put_batch(struct sv_writer *w, const struct sp_resolved *rv, size_t *nb)
{
    enum sp_put_result res[SP_PUT_BATCH];
    size_t n = *nb;

    *nb = 0;
    return n ? sp_journal_put_resolved(w->j, rv, n, res) : CTSPOOL_OK;
}

/*
 * Stores one job inside the open transaction under its own savepoint.
 * Returns OK (stored, savepoint released), a refusal (savepoint rolled
 * back, transaction intact), or another code: the transaction is lost.
 */
static ctspool_rc
store_job(struct sv_writer *w, struct sv_job *job)
{
    const struct sv_ingest *in = job->in;
    struct sp_resolved rv[SP_PUT_BATCH];
    enum sp_put_result res;
    struct sp_point p;
    size_t off = 0, k = 0, nb = 0;
    int64_t at;
    ctspool_rc rc, rc2;

    if (job->kind == SV_JOB_PROBE) {
        return CTSPOOL_OK;
    }
    rc = sp_journal_savepoint(w->j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    free(job->replay); /* a batch stored again after a heal */
    job->replay = NULL;
    job->bad_index = -1;
    job->too_large = 0;
    if (job->idem_key[0]) {
        rc = sp_journal_idem_get(w->j, job->idem_key, job->idem_min_at,
                                 &job->replay, &at);
        if (rc == CTSPOOL_OK) {
            return sp_journal_release(w->j); /* answered before */
        }
        if (rc == CTSPOOL_E_NOTFOUND) {
            rc = CTSPOOL_OK;
        }
    }
    /* Points (replaced) and events go in batches of SP_PUT_BATCH
     * (journal.h); folds one by one. */
    while (rc == CTSPOOL_OK && sv_ingest_point(in, &off, &p)) {
        if (job->accumulate) {
            rc = sp_journal_fold(w->j, &p, &res);
        } else {
            rc = sp_journal_resolve(w->j, &p, &rv[nb]);
            if (rc == CTSPOOL_OK && ++nb == SP_PUT_BATCH) {
                rc = put_batch(w, rv, &nb);
            }
        }
        if (rc == CTSPOOL_E_INVALID) {
            /* A fold that is not finite: a 400 naming the point. */
            sp_journal_err_locate(w->j, "data", k);
            job->bad_index = (long)k;
        }
        k++;
    }
    if (rc == CTSPOOL_OK) {
        rc = put_batch(w, rv, &nb);
    }
    if (rc == CTSPOOL_OK && job->idem_key[0]) {
        char answer[64];

        snprintf(answer, sizeof(answer), "{\"accepted\": %zu}\n",
                 in->n_points);
        rc = sp_journal_idem_put(w->j, job->idem_key, answer,
                                 (int64_t)time(NULL));
    }
    if (rc == CTSPOOL_OK) {
        return sp_journal_release(w->j);
    }
    if (!is_refusal(rc)) {
        return rc; /* the caller rolls the whole transaction back */
    }
    job->too_large = rc == CTSPOOL_E_FULL &&
                     sp_journal_full_alone(w->j, in->n_points);
    rc2 = sp_journal_rollback_to(w->j);
    return rc2 == CTSPOOL_OK ? rc : rc2;
}

/* Bytes free for this user on the journal's file system; UINT64_MAX
 * when unknown. */
static uint64_t
disk_avail(struct sv_writer *w)
{
    struct statvfs sv;

    if (statvfs(sp_journal_path(w->j), &sv) != 0) {
        return UINT64_MAX;
    }
    return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static void
note_write(struct sv_writer *w, ctspool_rc rc)
{
    w->last_write_rc = rc;
    snprintf(w->last_write_msg, sizeof(w->last_write_msg), "%s",
             rc == CTSPOOL_OK ? "" : sp_journal_errmsg(w->j));
    if (rc == CTSPOOL_E_DISKFULL) {
        w->avail_at_full = disk_avail(w);
    }
}

/*
 * A probe's answer: the transaction's, unless the last write failed.
 * A disk found full counts as full until a write succeeds, or until
 * PROBE_ROOM more bytes are free than then: with /healthz at 503, a load
 * balancer sends no write that could find out that room was made.
 */
static void
finish_probes(struct sv_writer *w, struct sv_job **list, ctspool_rc rc,
              const char *msg)
{
    struct sv_job **pp = list;

    while (*pp) {
        struct sv_job *job = *pp;

        if (job->kind != SV_JOB_PROBE) {
            pp = &job->next;
            continue;
        }
        *pp = job->next;
        if (rc == CTSPOOL_OK && w->last_write_rc == CTSPOOL_E_DISKFULL) {
            uint64_t now = disk_avail(w);

            if (now != UINT64_MAX && now >= w->avail_at_full + PROBE_ROOM) {
                note_write(w, CTSPOOL_OK); /* room was made */
            }
        }
        if (rc == CTSPOOL_OK && w->last_write_rc != CTSPOOL_OK &&
            !is_refusal(w->last_write_rc)) {
            finish(job, w->last_write_rc, w->last_write_msg);
        } else {
            finish(job, rc, msg);
        }
    }
}

/*
 * After the journal failed with rc: a damaged journal is moved aside and
 * a fresh one started (sp_journal_heal, on_corrupt = "quarantine").  1:
 * healed, store the batch again (at most twice per batch); else 0.
 */
static int
healed(struct sv_writer *w, ctspool_rc rc, int *tries)
{
    if (rc != CTSPOOL_E_CORRUPT || *tries >= 2) {
        return 0;
    }
    ++*tries;
    if (sp_journal_heal(w->j) == CTSPOOL_OK) {
        return 1;
    }
    /* on_corrupt = "stop" (or the file cannot be moved): serve stops
     * with exit 74 (sv_writer_damaged), answering 503 meanwhile. */
    if (!atomic_exchange(&w->is_damaged, 1)) {
        sp_log(SP_LOG_ERROR, "%s; stopping", sp_journal_errmsg(w->j));
        kill(getpid(), SIGTERM);
    }
    return 0;
}

/* Stores and answers every job of the list (arrival order). */
static void
run_batch(struct sv_writer *w, struct sv_job *pending)
{
    char msg[256];
    int tries = 0;

    while (pending) {
        struct sv_job *stored = NULL, **stored_tail = &stored;
        struct sv_job *job, *next = NULL;
        uint64_t n_points = 0, n_jobs = 0;
        ctspool_rc rc = sp_journal_begin(w->j);

        if (rc != CTSPOOL_OK && healed(w, rc, &tries)) {
            continue;
        }
        if (rc != CTSPOOL_OK) {
            snprintf(msg, sizeof(msg), "%s", sp_journal_errmsg(w->j));
            /* Past max_journal_bytes the journal is full, not broken. */
            finish_probes(w, &pending,
                          rc == CTSPOOL_E_FULL ? CTSPOOL_OK : rc, msg);
            if (rc != CTSPOOL_E_FULL) {
                note_write(w, rc);
            }
            finish_list(pending, rc, msg);
            return;
        }
        for (job = pending; job; job = next) {
            next = job->next;
            rc = store_job(w, job);
            if (rc == CTSPOOL_OK) {
                job->next = NULL;
                *stored_tail = job;
                stored_tail = &job->next;
                if (job->kind == SV_JOB_INGEST) {
                    n_jobs++;
                    n_points += job->in->n_points;
                }
            } else if (is_refusal(rc)) {
                finish(job, rc, sp_journal_errmsg(w->j));
            } else {
                break;
            }
        }
        if (job) {
            sp_journal_rollback(w->j);
            if (healed(w, rc, &tries)) {
                /* A fresh journal: all of them again, this job too. */
                *stored_tail = job;
                pending = stored;
                continue;
            }
            /* Invariant 3: lost transaction; retry all but this job. */
            snprintf(msg, sizeof(msg), "%s", sp_journal_errmsg(w->j));
            note_write(w, rc);
            *stored_tail = next;
            finish(job, rc, msg);
            pending = stored;
            continue;
        }
        rc = sp_journal_commit(w->j);
        if (rc != CTSPOOL_OK && healed(w, rc, &tries)) {
            pending = stored;
            continue;
        }
        snprintf(msg, sizeof(msg), "%s",
                 rc == CTSPOOL_OK ? "" : sp_journal_errmsg(w->j));
        if (n_jobs) {
            note_write(w, rc);
        }
        if (rc == CTSPOOL_OK && n_jobs) {
            atomic_fetch_add(&w->commits, 1);
            atomic_fetch_add(&w->jobs_committed, n_jobs);
            atomic_fetch_add(&w->points_committed, n_points);
        }
        finish_probes(w, &stored, rc, msg);
        finish_list(stored, rc, msg);
        pending = NULL;
    }
}

/* Detaches the queue's head jobs, up to BATCH_POINTS points. */
static struct sv_job *
take_batch(struct sv_writer *w)
{
    struct sv_job *first = w->head, *last = w->head;
    size_t n_points = 0;

    for (;;) {
        if (last->kind == SV_JOB_INGEST) {
            n_points += last->in->n_points;
        }
        if (!last->next || n_points >= BATCH_POINTS ||
            (last->next->kind == SV_JOB_INGEST &&
             n_points + last->next->in->n_points > BATCH_POINTS)) {
            break;
        }
        last = last->next;
    }
    w->head = last->next;
    if (!w->head) {
        w->tail = NULL;
    }
    last->next = NULL;
    return first;
}

static void *
writer_main(void *arg)
{
    struct sv_writer *w = arg;
    struct sv_job *batch;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->is_closed) {
            pthread_cond_wait(&w->cond, &w->lock);
        }
        if (!w->head) {
            pthread_mutex_unlock(&w->lock); /* closed and drained */
            break;
        }
        batch = take_batch(w);
        pthread_mutex_unlock(&w->lock);
        if (atomic_exchange(&w->limits_changed, 0)) {
            sp_journal_set_limits(w->j, atomic_load(&w->max_pending),
                                  atomic_load(&w->max_bytes));
        }
        atomic_store(&w->busy_since_ms, sp_clock_ms());
        run_batch(w, batch);
        atomic_store(&w->busy_since_ms, 0);
    }
    return NULL;
}

ctspool_rc
sv_writer_start(struct sp_journal *j, struct sv_writer **out,
                struct sp_err *e)
{
    struct sv_writer *w;
    int r;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (!w) {
        sp_journal_close(j);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    w->j = j;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    atomic_init(&w->commits, 0);
    atomic_init(&w->jobs_committed, 0);
    atomic_init(&w->points_committed, 0);
    atomic_init(&w->busy_since_ms, 0);
    r = pthread_create(&w->thread, NULL, writer_main, w);
    if (r != 0) {
        sp_err_set(e, "cannot start the writer thread: %s", strerror(r));
        sv_writer_free(w);
        return CTSPOOL_E_NOMEM;
    }
    w->has_thread = 1;
    *out = w;
    return CTSPOOL_OK;
}

int
sv_writer_submit(struct sv_writer *w, struct sv_job *job)
{
    int was_idle;

    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->is_closed) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    was_idle = !w->head;
    if (w->tail) {
        w->tail->next = job;
    } else {
        w->head = job;
    }
    w->tail = job;
    pthread_mutex_unlock(&w->lock);
    if (was_idle) {
        pthread_cond_signal(&w->cond);
    }
    return 0;
}

void
sv_writer_stop(struct sv_writer *w)
{
    if (!w || w->is_stopped) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->is_closed = 1;
    pthread_mutex_unlock(&w->lock);
    pthread_cond_signal(&w->cond);
    if (w->has_thread) {
        pthread_join(w->thread, NULL); /* invariant 4: queue drained */
    }
    sp_journal_close(w->j);
    w->j = NULL;
    w->is_stopped = 1;
}

void
sv_writer_free(struct sv_writer *w)
{
    if (!w) {
        return;
    }
    sv_writer_stop(w);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int
sv_writer_damaged(struct sv_writer *w)
{
    return w && atomic_load(&w->is_damaged);
}

void
sv_writer_stats(struct sv_writer *w, struct sv_writer_stats *st)
{
    int64_t since = atomic_load(&w->busy_since_ms);
    int64_t now = sp_clock_ms();

    st->commits = atomic_load(&w->commits);
    st->jobs_committed = atomic_load(&w->jobs_committed);
    st->points_committed = atomic_load(&w->points_committed);
    st->busy_ms = since && now > since ? (uint64_t)(now - since) : 0;
}

void
sv_writer_set_limits(struct sv_writer *w, uint64_t max_pending,
                     uint64_t max_bytes)
{
    atomic_store(&w->max_pending, max_pending);
    atomic_store(&w->max_bytes, max_bytes);
    atomic_store(&w->limits_changed, 1);
}
