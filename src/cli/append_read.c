/*
 * append_read.c -- the reader thread of `ctspool append`: every input is
 * parsed and validated (input.c) into batches of copied points, which it
 * hands to the calling thread through a queue (append.h).  Rejected
 * points are listed on stderr as they are found.
 *
 * Without --follow the batch being filled is the reader's alone (no lock
 * per point) and is handed over full.  With --follow it is handed over
 * at FOLLOW_POINTS, and the calling thread may take it earlier
 * (FOLLOW_MS after its first point), so it is filled under the lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"

static void
q_push(struct queue *q, struct batch *b)
{
    q->items[(q->head + q->n) % N_BATCHES] = b;
    q->n++;
}

static struct batch *
q_pop(struct queue *q)
{
    struct batch *b = q->items[q->head];

    q->head = (q->head + 1) % N_BATCHES;
    q->n--;
    return b;
}

static void
progress(struct append_ctx *a, int final)
{
    struct timespec now;

    if (!a->progress) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && now.tv_sec - a->last_progress.tv_sec < 1) {
        return;
    }
    a->last_progress = now;
    fprintf(stderr, "\r%s: %llu %ss read, %llu invalid%s", a->file,
            (unsigned long long)a->n_read, NOUN(a),
            (unsigned long long)a->n_invalid, final ? "\n" : "");
}

/*
 * With a->lock held: hands a non-empty current batch to the writer, and
 * waits for a free one unless the writer failed.
 */
static void
hand_over_locked(struct append_ctx *a)
{
    if (a->cur && a->cur->n) {
        q_push(&a->full_q, a->cur);
        a->cur = NULL;
        pthread_cond_broadcast(&a->cond);
    }
    while (!a->cur && a->free_q.n == 0 && !atomic_load(&a->stop)) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    if (!a->cur && a->free_q.n) {
        a->cur = q_pop(&a->free_q);
        a->cur->n = 0;
        a->cur->used = 0;
    }
}

/* Reader: hands the current batch to the writer, takes a free one. */
static ctspool_rc
hand_over(struct append_ctx *a)
{
    pthread_mutex_lock(&a->lock);
    hand_over_locked(a);
    pthread_mutex_unlock(&a->lock);
    return atomic_load(&a->stop) ? CTSPOOL_E_IO : CTSPOOL_OK;
}

/* Copies n bytes into the batch arena; NULL when it is full. */
static const char *
arena_copy(struct batch *b, const char *s, size_t n)
{
    char *d;

    if (BATCH_ARENA - b->used < n) {
        return NULL;
    }
    d = b->arena + b->used;
    memcpy(d, s, n);
    b->used += n;
    return d;
}

/* The point's strings copied into the batch; 0 when it does not fit. */
static int
copy_point(struct batch *b, const struct sp_point *p)
{
    struct sp_point *q = &b->pts[b->n];
    size_t used = b->used;

    *q = *p;
    if (!(q->stream = arena_copy(b, p->stream, p->stream_len)) ||
        !(q->name = arena_copy(b, p->name, p->name_len))) {
        b->used = used;
        return 0;
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        q->dims[i].key = arena_copy(b, p->dims[i].key, p->dims[i].key_len);
        q->dims[i].val = arena_copy(b, p->dims[i].val, p->dims[i].val_len);
        if (!q->dims[i].key || !q->dims[i].val) {
            b->used = used;
            return 0;
        }
    }
    b->n++;
    return 1;
}

/* --follow: p into the current batch, under the lock (see above). */
static ctspool_rc
follow_point(struct append_ctx *a, const struct sp_point *p)
{
    ctspool_rc rc = CTSPOOL_OK;

    pthread_mutex_lock(&a->lock);
    if (!a->cur || !copy_point(a->cur, p)) {
        /* None (the writer took it), or its arena is full. */
        hand_over_locked(a);
        if (!a->cur || atomic_load(&a->stop)) {
            rc = CTSPOOL_E_IO; /* the writer failed: stop reading */
            goto out;
        }
        if (!copy_point(a->cur, p)) {
            rc = CTSPOOL_E_NOMEM; /* cannot happen: limits bound a point */
            goto out;
        }
    }
    if (a->cur->n == 1) {
        a->cur_since = sp_clock_ms();
        pthread_cond_broadcast(&a->cond); /* the writer starts the clock */
    }
    if (a->cur->n >= a->follow_points) {
        q_push(&a->full_q, a->cur);
        a->cur = NULL;
        pthread_cond_broadcast(&a->cond);
    }
out:
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct append_ctx *a = ctx;
    ctspool_rc rc;

    a->n_read++;
    a->n_valid++;
    if (a->is_follow) {
        return follow_point(a, p);
    }
    if (a->n_read % PROGRESS_EVERY == 0) {
        progress(a, 0);
    }
    if (a->n_invalid && !a->skip_invalid) {
        return CTSPOOL_OK; /* nothing will be stored: just validate */
    }
    if (!a->cur || a->cur->n == BATCH_POINTS || !copy_point(a->cur, p)) {
        rc = hand_over(a);
        if (rc != CTSPOOL_OK) {
            return rc; /* the writer failed: stop reading */
        }
        if (!copy_point(a->cur, p)) {
            return CTSPOOL_E_NOMEM; /* cannot happen: limits bound a point */
        }
    }
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct append_ctx *a = ctx;

    (void)index;
    a->n_read++;
    /* An endless input's rejections are all listed, as a log would. */
    if (++a->n_invalid <= MAX_ERRORS_SHOWN || a->is_follow) {
        if (a->progress) {
            fputc('\r', stderr);
        }
        fprintf(stderr, "ctspool: append: %s: %s\n", a->file, e->msg);
    }
    return CTSPOOL_OK;
}

/* --follow: the reading was ended on purpose (wake_fd), not by a fault. */
static int
stopped(const struct append_ctx *a)
{
    return a->is_follow &&
           (atomic_load(&a->stop) ||
            (a->signalled && atomic_load(a->signalled)));
}

void *
cli_append_reader(void *arg)
{
    struct append_ctx *a = arg;
    ctspool_rc rc = CTSPOOL_OK;
    struct sp_src src;
    struct sp_err e;

    for (int i = 0; i < a->n_files && rc == CTSPOOL_OK; i++) {
        a->file = strcmp(a->names[i], "-") == 0 ? "<stdin>" : a->names[i];
        sp_src_init(&src, a->files[i], a->is_follow, a->wake_fd);
        src.spill_dir = a->spill_dir;
        src.reject = a->reject;
        src.threads = a->parse_threads;
        rc = sp_input_read_src(&src, a->names[i], a->fmt, &a->d, on_point,
                               on_error, a, &e);
        sp_src_cleanup(&src);
        if (rc != CTSPOOL_OK && stopped(a)) {
            break; /* a stop signal, or the writer failed */
        }
        if (rc == CTSPOOL_E_INVALID) {
            /* The input as a whole is unreadable (bad header, not JSON). */
            cli_error("append", "%s: %s", a->file, e.msg);
            a->n_invalid++;
            a->n_unreadable++;
            rc = CTSPOOL_OK; /* keep validating the other inputs */
        } else if (rc != CTSPOOL_OK && !atomic_load(&a->stop)) {
            cli_error("append", "%s: %s", a->file, e.msg);
        }
        progress(a, 1);
    }
    if (rc == CTSPOOL_OK && !a->is_follow) {
        hand_over(a); /* the last, partly filled batch */
    }
    pthread_mutex_lock(&a->lock);
    if (a->is_follow && a->cur && a->cur->n) {
        /* What was read before the end or an error is stored too. */
        q_push(&a->full_q, a->cur);
        a->cur = NULL;
    }
    if (stopped(a)) {
        rc = CTSPOOL_OK;
    }
    a->read_rc = atomic_load(&a->stop) ? CTSPOOL_OK : rc;
    a->reader_done = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

struct batch *
cli_append_take(struct append_ctx *a)
{
    struct batch *b = NULL;
    struct timespec until;
    int64_t due;

    pthread_mutex_lock(&a->lock);
    for (;;) {
        if (a->full_q.n) {
            b = q_pop(&a->full_q);
            break;
        }
        if (a->reader_done) {
            break; /* reader done, queue drained */
        }
        if (!a->is_follow || !a->cur || a->cur->n == 0) {
            pthread_cond_wait(&a->cond, &a->lock);
            continue;
        }
        due = a->cur_since + FOLLOW_MS;
        if (sp_clock_ms() >= due) {
            b = a->cur;
            a->cur = NULL;
            break;
        }
        /* sp_clock_ms() is CLOCK_MONOTONIC, the clock of a->cond. */
        until.tv_sec = (time_t)(due / 1000);
        until.tv_nsec = (long)(due % 1000) * 1000000;
        pthread_cond_timedwait(&a->cond, &a->lock, &until);
    }
    pthread_mutex_unlock(&a->lock);
    return b;
}

void
cli_append_give_back(struct append_ctx *a, struct batch *b)
{
    pthread_mutex_lock(&a->lock);
    q_push(&a->free_q, b);
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

int
cli_append_init(struct append_ctx *a, struct batch *batches)
{
    pthread_condattr_t attr;
    int r;

    r = pthread_condattr_init(&attr);
    if (r == 0) {
        r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (r == 0) {
            r = pthread_cond_init(&a->cond, &attr);
        }
        pthread_condattr_destroy(&attr);
    }
    if (r == 0) {
        r = pthread_mutex_init(&a->lock, NULL);
        if (r != 0) {
            pthread_cond_destroy(&a->cond);
        }
    }
    if (r != 0) {
        errno = r;
        return -1;
    }
    for (int i = 0; i < N_BATCHES; i++) {
        q_push(&a->free_q, &batches[i]);
    }
    return 0;
}

void
cli_append_cleanup(struct append_ctx *a)
{
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
}
