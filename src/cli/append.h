/*
 * append.h -- what the two halves of `ctspool append` share: the reader
 * thread (append_read.c: inputs -> batches of validated points) and the
 * command (append.c: batches -> staging file -> journal, or with
 * --follow one commit per batch).
 */
#ifndef CTSPOOL_APPEND_H
#define CTSPOOL_APPEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"

#define MAX_ERRORS_SHOWN 100 /* without --follow */
#define PROGRESS_EVERY 8192  /* points between clock reads */
#define BATCH_POINTS 2048
#define BATCH_ARENA ((size_t)1 << 20)
#define N_BATCHES 3 /* bounds memory: reader at most 2 batches ahead */
#define FOLLOW_POINTS 1000 /* --follow: a commit at the latest after ... */
#define FOLLOW_MS 200      /* ... or this long after its first point */

/*
 * Two threads share the work (the machine's second core parses while the
 * first writes): the reader thread parses and validates the inputs into
 * batches of copied points; the calling thread stores them.  Batches
 * cycle between a free and a full queue, so memory stays bounded
 * whatever the input size.
 *
 * The batch being filled (cur) belongs to the reader alone, except with
 * --follow: then the calling thread takes it, partly filled, once
 * FOLLOW_MS have passed since its first point, so the reader fills it
 * under the lock.
 */
struct batch {
    size_t n;
    size_t used; /* bytes of arena */
    struct sp_point pts[BATCH_POINTS];
    char arena[BATCH_ARENA];
};

struct queue {
    struct batch *items[N_BATCHES];
    size_t head, n;
};

/* What a's input holds, for messages: "point" or "event". */
#define NOUN(a) ((a)->d.events ? "event" : "point")

struct append_ctx {
    /* Reader side (only the reader thread touches these until join). */
    int n_files;
    char **names;
    FILE **files;
    enum sp_format fmt;
    struct sp_defaults d;
    const char *file; /* name for messages */
    int skip_invalid;
    int accumulate;       /* --accumulate: fold, not replace */
    const char *idem_key; /* --idempotency-key, or NULL */
    long idem_hours;      /* server.idempotency_hours */
    char *idem_answer;    /* the key was applied already: its answer */
    int64_t idem_at;      /* ... at this Unix time */
    uint64_t n_fold_invalid; /* writer: folds refused (not finite) */
    int progress; /* stderr is a terminal, not --follow */
    uint64_t n_read, n_invalid;
    uint64_t n_unreadable; /* inputs not read at all, counted in n_invalid */
    uint64_t n_valid; /* points read that passed validation */
    struct timespec last_progress;
    ctspool_rc read_rc;

    /* Where a pipe of payload objects is copied to be read twice (the
     * journal's directory, owned; NULL: $TMPDIR). */
    char *spill_dir;
    /* The merge's points resolved and not yet put (append.c). */
    struct sp_resolved batch[SP_PUT_BATCH];
    size_t n_batch;
    /* NDJSON and CSV are judged by this many threads besides the
     * reader's (0: by the reader: one CPU). */
    unsigned parse_threads;
    /* --rejects: rejected records go there as read (NULL: nowhere). */
    const struct sp_reject_hook *reject;

    /* --follow (set before the reader starts). */
    int is_follow;
    size_t follow_points; /* a commit at the latest after this many:
                           * FOLLOW_POINTS, less under a small
                           * limits.max_pending_points */
    int wake_fd;                            /* readable: stop reading */
    const atomic_int *signalled; /* the stop signal that came, or 0 */

    /* Shared. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    struct batch *cur;   /* being filled; see above */
    int64_t cur_since;   /* --follow: sp_clock_ms() of cur's first point */
    struct queue free_q, full_q;
    int reader_done;
    atomic_int stop; /* storing failed: the reader stops */

    /* Writer side. */
    struct cli_stage *stage;
    struct sp_err stage_err;
    struct sp_journal *j;
    uint64_t n_new, n_updated, n_unchanged;
    ctspool_rc store_rc;
};

/* Lock, condition and queues of a (zeroed, else filled in) with the
 * N_BATCHES batches (borrowed) free.  0, or -1 (cannot, errno). */
int cli_append_init(struct append_ctx *a, struct batch *batches);
/* Undoes cli_append_init once the reader has been joined. */
void cli_append_cleanup(struct append_ctx *a);
/*
 * The reader thread (arg: struct append_ctx).  Reads every input; at the
 * end a->read_rc is set and a->reader_done announced.  With --follow a
 * read that wake_fd ends (a stop signal, or the writer failed) ends it
 * quietly.
 */
void *cli_append_reader(void *arg);
/*
 * The calling thread: the next batch to store (its own until given
 * back), waiting for the reader; with --follow also the reader's partly
 * filled batch once FOLLOW_MS have passed since its first point.  NULL
 * once the reader is done and every batch has been taken.
 */
struct batch *cli_append_take(struct append_ctx *a);
/* b (stored, or given up) back to the reader to fill again. */
void cli_append_give_back(struct append_ctx *a, struct batch *b);

#endif
