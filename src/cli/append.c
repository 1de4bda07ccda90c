/*
 * append.c -- `ctspool append`: input files -> validation -> staging file
 * -> journal, as one transaction.  Default: all points or none (any
 * invalid point stores nothing, exit 65).  --skip-invalid: the valid
 * points are stored, every rejected one is listed, exit 65 if any was
 * rejected.
 *
 * The journal's write lock is taken only once the whole input has been
 * read and validated (stage.c keeps the points on disk meanwhile), and
 * held only while the staged points are merged: a slow pipe never stalls
 * serve, other producers or the drainer's acknowledgements.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ERRORS_SHOWN 100
#define PROGRESS_EVERY 8192 /* points between clock reads */
#define BATCH_POINTS 2048
#define BATCH_ARENA ((size_t)1 << 20)
#define N_BATCHES 3 /* bounds memory: reader at most 2 batches ahead */

/*
 * Two threads share the reading (the machine's second core parses while
 * the first writes the staging file): the reader thread parses and
 * validates the inputs into batches of copied points; the calling thread
 * stages them.  Batches cycle between a free and a full queue, so memory
 * stays bounded whatever the input size.
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

struct append_ctx {
    /* Reader side (only the reader thread touches these until join). */
    int n_files;
    char **names;
    FILE **files;
    enum sp_format fmt;
    struct sp_defaults d;
    const char *file; /* name for messages */
    int skip_invalid;
    int progress;     /* stderr is a terminal */
    uint64_t n_read, n_invalid;
    struct timespec last_progress;
    struct batch *cur;
    ctspool_rc read_rc;

    /* Shared. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
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
    fprintf(stderr, "\r%s: %llu points read, %llu invalid%s", a->file,
            (unsigned long long)a->n_read,
            (unsigned long long)a->n_invalid, final ? "\n" : "");
}

/* Reader: hands the current batch to the writer, takes a free one. */
static ctspool_rc
hand_over(struct append_ctx *a)
{
    pthread_mutex_lock(&a->lock);
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

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct append_ctx *a = ctx;
    ctspool_rc rc;

    a->n_read++;
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
    if (++a->n_invalid <= MAX_ERRORS_SHOWN) {
        if (a->progress) {
            fputc('\r', stderr);
        }
        fprintf(stderr, "ctspool: append: %s: %s\n", a->file, e->msg);
    }
    return CTSPOOL_OK;
}

static void *
reader_main(void *arg)
{
    struct append_ctx *a = arg;
    ctspool_rc rc = CTSPOOL_OK;
    struct sp_err e;

    for (int i = 0; i < a->n_files && rc == CTSPOOL_OK; i++) {
        a->file = strcmp(a->names[i], "-") == 0 ? "<stdin>" : a->names[i];
        rc = sp_input_read(a->files[i], a->names[i], a->fmt, &a->d,
                           on_point, on_error, a, &e);
        if (rc == CTSPOOL_E_INVALID) {
            /* The input as a whole is unreadable (bad header, not JSON). */
            cli_error("append", "%s: %s", a->file, e.msg);
            a->n_invalid++;
            rc = CTSPOOL_OK; /* keep validating the other inputs */
        } else if (rc != CTSPOOL_OK && !atomic_load(&a->stop)) {
            cli_error("append", "%s: %s", a->file, e.msg);
        }
        progress(a, 1);
    }
    if (rc == CTSPOOL_OK) {
        hand_over(a); /* the last, partly filled batch */
    }
    pthread_mutex_lock(&a->lock);
    a->read_rc = atomic_load(&a->stop) ? CTSPOOL_OK : rc;
    a->reader_done = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* Writer: stages every batch the reader fills, until it is done. */
static void
stage_all(struct append_ctx *a)
{
    for (;;) {
        struct batch *b = NULL;

        pthread_mutex_lock(&a->lock);
        while (a->full_q.n == 0 && !a->reader_done) {
            pthread_cond_wait(&a->cond, &a->lock);
        }
        if (a->full_q.n) {
            b = q_pop(&a->full_q);
        }
        pthread_mutex_unlock(&a->lock);
        if (!b) {
            return; /* reader done, queue drained */
        }
        for (size_t i = 0; i < b->n && a->store_rc == CTSPOOL_OK; i++) {
            ctspool_rc rc = cli_stage_put(a->stage, &b->pts[i],
                                          &a->stage_err);

            if (rc != CTSPOOL_OK) {
                a->store_rc = rc;
                atomic_store(&a->stop, 1);
            }
        }
        pthread_mutex_lock(&a->lock);
        q_push(&a->free_q, b);
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
    }
}

static void
merge_progress(struct append_ctx *a, uint64_t done, uint64_t total,
               int final)
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
    fprintf(stderr, "\rstoring: %llu of %llu points%s",
            (unsigned long long)done, (unsigned long long)total,
            final ? "\n" : "");
}

/*
 * Merges the staged points into the journal in one transaction: the only
 * time append holds the write lock.  On failure nothing is stored (the
 * caller reports); *stage_failed says the staging file failed, not the
 * journal.
 */
static ctspool_rc
merge(struct append_ctx *a, int *stage_failed)
{
    static char arena[SP_STAGE_ARENA];
    uint64_t total = cli_stage_count(a->stage), done = 0;
    struct timespec t0, t1;
    struct sp_point p;
    ctspool_rc rc;
    int r;

    *stage_failed = 0;
    rc = cli_stage_rewind(a->stage, &a->stage_err);
    if (rc != CTSPOOL_OK) {
        *stage_failed = 1;
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sp_journal_begin(a->j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    while ((r = cli_stage_next(a->stage, &p, arena, sizeof(arena),
                               &a->stage_err)) == 1) {
        enum sp_put_result res;

        rc = sp_journal_put(a->j, &p, &res);
        if (rc != CTSPOOL_OK) {
            sp_journal_rollback(a->j);
            return rc;
        }
        if (res == SP_PUT_NEW) {
            a->n_new++;
        } else if (res == SP_PUT_UPDATED) {
            a->n_updated++;
        } else {
            a->n_unchanged++;
        }
        if (++done % PROGRESS_EVERY == 0) {
            merge_progress(a, done, total, 0);
        }
    }
    if (r < 0) {
        sp_journal_rollback(a->j);
        *stage_failed = 1;
        return CTSPOOL_E_IO;
    }
    rc = sp_journal_commit(a->j);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (total >= PROGRESS_EVERY) {
        merge_progress(a, done, total, 1);
    }
    if (rc == CTSPOOL_OK) {
        sp_log(SP_LOG_DEBUG, "merged %llu staged points; write lock held "
               "%.3f s",
               (unsigned long long)total,
               (double)(t1.tv_sec - t0.tv_sec) +
                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    return rc;
}

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool append [--format auto|cloudthread|ndjson|csv]\n"
            "                      [--stream TOKEN] [--agg FUNC] "
            "[--skip-invalid] [FILE|-]...\n"
            "\n"
            "Validates points and appends them to the journal; reads stdin\n"
            "when no FILE is given.  By default one call stores all of its\n"
            "points or none.\n"
            "\n"
            "  --format F      input format (default auto: by extension,\n"
            "                  else by content)\n"
            "  --stream TOKEN  data stream token for points without one\n"
            "                  (default: upload.data_stream_token)\n"
            "  --agg FUNC      Sum|Average|Maximum|Minimum for points without\n"
            "                  metric_agg_func\n"
            "  --skip-invalid  store the valid points, list the rejected ones\n"
            "                  on stderr (exit 65 if any)\n");
}

/* Opens every input first so a missing file stores nothing (exit 66). */
static int
open_inputs(int n, char **names, FILE **files)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "-") == 0) {
            files[i] = stdin;
            continue;
        }
        files[i] = fopen(names[i], "rb");
        if (!files[i]) {
            cli_error("append", "cannot open %s: %s", names[i],
                      strerror(errno));
            for (int k = 0; k < i; k++) {
                if (files[k] != stdin) {
                    fclose(files[k]);
                }
            }
            return EXIT_NOINPUT;
        }
    }
    return 0;
}

int
cmd_append(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"stream", required_argument, NULL, 's'},
        {"agg", required_argument, NULL, 'a'},
        {"skip-invalid", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char *stdin_name[] = {"-"};
    struct append_ctx a;
    struct batch *batches = NULL;
    uint64_t total;
    pthread_t reader;
    struct sp_defaults d = {.stream = NULL, .agg = -1};
    struct sp_journal *j = NULL;
    const char *stream = NULL;
    enum sp_format fmt = SP_FMT_AUTO;
    FILE **files = NULL;
    char **names;
    int n_files, ch, ex = 0;
    ctspool_rc rc = CTSPOOL_OK;
    struct sp_err e;

    memset(&a, 0, sizeof(a));
    while ((ch = getopt_long(argc, argv, "f:s:a:kh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': {
            int f = sp_format_parse(optarg);

            if (f < 0) {
                cli_error("append",
                          "unknown format '%s' (expected auto, cloudthread, "
                          "ndjson or csv)",
                          optarg);
                return cli_usage_hint("append");
            }
            fmt = (enum sp_format)f;
            break;
        }
        case 's':
            stream = optarg;
            if (sp_valid_stream(stream, strlen(stream), &e) != CTSPOOL_OK) {
                cli_error("append", "--stream: %s", e.msg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            if (sp_valid_agg(optarg, strlen(optarg), &d.agg, &e) !=
                CTSPOOL_OK) {
                cli_error("append", "--agg: %s", e.msg);
                return EXIT_USAGE;
            }
            break;
        case 'k':
            a.skip_invalid = 1;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("append");
        }
    }
    /* --stream must be in the configuration's streams list too. */
    if (stream) {
        ex = cli_config(c, "append");
        if (ex) {
            return ex;
        }
        d.streams = c->cfg->streams;
        d.n_streams = c->cfg->n_streams;
        if (sp_valid_stream_listed(&d, stream, strlen(stream), &e) !=
            CTSPOOL_OK) {
            cli_error("append", "--stream: %s", e.msg);
            return EXIT_USAGE;
        }
    }
    n_files = argc - optind;
    names = argv + optind;
    if (n_files == 0) {
        n_files = 1;
        names = stdin_name;
    }
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): FILE * elements */
    files = calloc((size_t)n_files, sizeof(*files));
    if (!files) {
        cli_error("append", "out of memory");
        return EXIT_OSERR;
    }
    ex = open_inputs(n_files, names, files);
    if (ex) {
        free(files);
        return ex;
    }
    ex = cli_journal(c, "append", &j);
    if (ex) {
        goto out;
    }
    d.stream = stream ? stream : c->cfg->upload.data_stream_token;
    d.streams = c->cfg->streams;
    d.n_streams = c->cfg->n_streams;
    a.j = j;
    a.d = d;
    a.fmt = fmt;
    a.n_files = n_files;
    a.names = names;
    a.files = files;
    a.progress = isatty(STDERR_FILENO);
    rc = cli_stage_open(c->cfg->journal, &a.stage, &e);
    if (rc != CTSPOOL_OK) {
        cli_error("append", "%s; nothing stored", e.msg);
        ex = cli_exit_code(rc);
        goto out;
    }
    batches = calloc(N_BATCHES, sizeof(*batches));
    if (!batches) {
        cli_error("append", "out of memory");
        ex = EXIT_OSERR;
        goto out;
    }
    pthread_mutex_init(&a.lock, NULL);
    pthread_cond_init(&a.cond, NULL);
    for (int i = 0; i < N_BATCHES; i++) {
        q_push(&a.free_q, &batches[i]);
    }
    if (pthread_create(&reader, NULL, reader_main, &a) != 0) {
        cli_error("append", "cannot start the reader thread");
        ex = EXIT_OSERR;
        goto out;
    }
    stage_all(&a);
    pthread_join(reader, NULL);
    rc = a.store_rc != CTSPOOL_OK ? a.store_rc : a.read_rc;
    if (a.n_invalid > MAX_ERRORS_SHOWN) {
        cli_error("append", "... and %llu more invalid points",
                  (unsigned long long)(a.n_invalid - MAX_ERRORS_SHOWN));
    }
    if (rc != CTSPOOL_OK) {
        if (a.store_rc != CTSPOOL_OK) {
            cli_error("append", "%s: %s; nothing stored", a.file,
                      a.stage_err.msg);
        }
        ex = cli_exit_code(rc);
        goto out;
    }
    if (a.n_invalid && !a.skip_invalid) {
        cli_error("append",
                  "%llu invalid point%s; nothing stored (use --skip-invalid "
                  "to store the valid ones)",
                  (unsigned long long)a.n_invalid,
                  a.n_invalid == 1 ? "" : "s");
        ex = EXIT_DATAERR;
        goto out;
    }
    {
        int stage_failed;

        rc = merge(&a, &stage_failed);
        if (rc != CTSPOOL_OK) {
            cli_error("append", "%s; nothing stored",
                      stage_failed ? a.stage_err.msg : sp_journal_errmsg(j));
            ex = cli_exit_code(rc);
            goto out;
        }
    }
    total = a.n_new + a.n_updated + a.n_unchanged;
    printf("appended %llu points: %llu new, %llu updated, %llu unchanged",
           (unsigned long long)total, (unsigned long long)a.n_new,
           (unsigned long long)a.n_updated, (unsigned long long)a.n_unchanged);
    if (a.n_invalid) {
        printf("; %llu invalid skipped", (unsigned long long)a.n_invalid);
        ex = EXIT_DATAERR;
    }
    printf("\n");
out:
    for (int i = 0; i < n_files; i++) {
        if (files[i] && files[i] != stdin) {
            fclose(files[i]);
        }
    }
    free(files);
    free(batches);
    cli_stage_close(a.stage);
    sp_journal_close(j);
    return ex;
}
