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
 *
 * --follow (endless pipes): no staging; each batch the reader hands over
 * (FOLLOW_POINTS points, or what FOLLOW_MS after its first point brought)
 * is committed in a transaction of its own, begun only once the batch is
 * complete, so the lock is never held while input is awaited.  Invalid
 * points are listed and skipped (an endless input cannot be all or
 * nothing; exit 65 at the end if any).  The end of the input, SIGTERM or
 * SIGINT end it: what was read is committed, the summary printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "event.h"
#include "rejects.h"

/* Writer: stages every batch the reader fills, until it is done. */
static void
stage_all(struct append_ctx *a)
{
    struct batch *b;

    while ((b = cli_append_take(a))) {
        for (size_t i = 0; i < b->n && a->store_rc == CTSPOOL_OK; i++) {
            ctspool_rc rc = cli_stage_put(a->stage, &b->pts[i],
                                          &a->stage_err);

            if (rc != CTSPOOL_OK) {
                a->store_rc = rc;
                atomic_store(&a->stop, 1);
            }
        }
        cli_append_give_back(a, b);
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
    fprintf(stderr, "\rstoring: %llu of %llu %ss%s",
            (unsigned long long)done, (unsigned long long)total, NOUN(a),
            final ? "\n" : "");
}

/* The journal refused valid point p (E_INVALID: a fold not finite, a
 * record too large to store): says so, counted; returns E_INVALID. */
static ctspool_rc
refused(struct append_ctx *a, const struct sp_point *p)
{
    char hour[24];

    sp_hour_format(p->hour, hour, sizeof(hour));
    cli_error("append", "%s: point \"%.*s\" at %s: %s", a->file,
              (int)p->name_len, p->name, hour, sp_journal_errmsg(a->j));
    a->n_fold_invalid++;
    return CTSPOOL_E_INVALID;
}

/*
 * One point into the open transaction: replaced, or folded
 * (--accumulate).  A fold whose result is not finite is an invalid
 * point, named on stderr and counted in n_fold_invalid: E_INVALID,
 * nothing changed (with --skip-invalid and --follow the caller goes on).
 * *res: what was done.
 */
static ctspool_rc
store_point(struct append_ctx *a, const struct sp_point *p,
            enum sp_put_result *res)
{
    struct sp_event ev;
    ctspool_rc rc;

    if (sp_event_uncarry(p, &ev)) {
        return sp_journal_put_event(a->j, &ev, res);
    }
    rc = a->accumulate ? sp_journal_fold(a->j, p, res)
                       : sp_journal_put(a->j, p, res);
    return rc == CTSPOOL_E_INVALID ? refused(a, p) : rc;
}

static void
count_result(struct append_ctx *a, enum sp_put_result res)
{
    if (res == SP_PUT_NEW) {
        a->n_new++;
    } else if (res == SP_PUT_UPDATED) {
        a->n_updated++;
    } else {
        a->n_unchanged++;
    }
}

/* Puts the batched points; counted. */
static ctspool_rc
flush_batch(struct append_ctx *a)
{
    enum sp_put_result res[SP_PUT_BATCH];
    size_t n = a->n_batch;
    ctspool_rc rc;

    a->n_batch = 0;
    if (!n) {
        return CTSPOOL_OK;
    }
    rc = sp_journal_put_resolved(a->j, a->batch, n, res);
    for (size_t i = 0; i < n && rc == CTSPOOL_OK; i++) {
        count_result(a, res[i]);
    }
    return rc;
}

/* p (a point, or an event's carrier) resolved into the batch (put once
 * it is full): E_INVALID reported as store_point does. */
static ctspool_rc
batch_point(struct append_ctx *a, const struct sp_point *p)
{
    ctspool_rc rc = sp_journal_resolve(a->j, p, &a->batch[a->n_batch]);

    if (rc != CTSPOOL_OK) {
        return rc == CTSPOOL_E_INVALID ? refused(a, p) : rc;
    }
    return ++a->n_batch == SP_PUT_BATCH ? flush_batch(a) : CTSPOOL_OK;
}

/* "appended N points: ..." of what a stored, into buf. */
static void
summary_text(const struct append_ctx *a, char *buf, size_t n)
{
    uint64_t total = a->n_new + a->n_updated + a->n_unchanged;
    size_t len;

    snprintf(buf, n, "appended %llu %s%s: %llu new, %llu updated, %llu "
             "unchanged",
             (unsigned long long)total, NOUN(a), total == 1 ? "" : "s",
             (unsigned long long)a->n_new, (unsigned long long)a->n_updated,
             (unsigned long long)a->n_unchanged);
    len = strlen(buf);
    if (a->n_invalid + a->n_fold_invalid > a->n_unreadable && len < n) {
        snprintf(buf + len, n - len, "; %llu invalid skipped",
                 (unsigned long long)(a->n_invalid + a->n_fold_invalid -
                                      a->n_unreadable));
        len = strlen(buf);
    }
    if (a->n_unreadable && len < n) {
        snprintf(buf + len, n - len, "; %llu input%s not read",
                 (unsigned long long)a->n_unreadable,
                 a->n_unreadable == 1 ? "" : "s");
    }
}

/*
 * With --idempotency-key, inside the merge's transaction: E_NOTFOUND
 * when the key is new (go on), OK when it was applied within
 * server.idempotency_hours (its answer in a->idem_answer: store
 * nothing), or a journal error.
 */
static ctspool_rc
idem_check(struct append_ctx *a)
{
    int64_t min_at = (int64_t)time(NULL) - (int64_t)a->idem_hours * 3600;

    free(a->idem_answer);
    a->idem_answer = NULL;
    return sp_journal_idem_get(a->j, a->idem_key, min_at, &a->idem_answer,
                               &a->idem_at);
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
    uint64_t total = cli_stage_count(a->stage), done = 0;
    struct timespec t0, t1;
    struct sp_point p;
    ctspool_rc rc;
    int r;

    *stage_failed = 0;
    a->n_batch = 0;
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
    if (a->idem_key) {
        rc = idem_check(a);
        if (rc != CTSPOOL_E_NOTFOUND) {
            sp_journal_rollback(a->j); /* applied before: nothing to do */
            return rc;
        }
    }
    while ((r = cli_stage_next(a->stage, &p, &a->stage_err)) == 1) {
        enum sp_put_result res;

        if (a->accumulate) {
            rc = store_point(a, &p, &res); /* folds: one by one */
            if (rc == CTSPOOL_OK) {
                count_result(a, res);
            }
        } else {
            rc = batch_point(a, &p); /* points and events: in batches */
        }
        if (rc == CTSPOOL_E_INVALID && a->skip_invalid) {
            continue; /* listed: nothing of it stored */
        }
        if (rc != CTSPOOL_OK) {
            sp_journal_rollback(a->j);
            return rc;
        }
        if (++done % PROGRESS_EVERY == 0) {
            merge_progress(a, done, total, 0);
        }
    }
    if (r == 0) {
        rc = flush_batch(a);
        if (rc != CTSPOOL_OK) {
            sp_journal_rollback(a->j);
            return rc;
        }
    }
    if (r < 0) {
        sp_journal_rollback(a->j);
        *stage_failed = 1;
        return CTSPOOL_E_IO;
    }
    /* A run that stored nothing of its input (every item invalid and
     * skipped) applied nothing: its fixed retry must not find the key
     * used up. */
    if (a->idem_key &&
        (a->n_new + a->n_updated + a->n_unchanged > 0 ||
         (a->n_invalid == 0 && a->n_fold_invalid == 0))) {
        char text[256];

        summary_text(a, text, sizeof(text));
        rc = sp_journal_idem_put(a->j, a->idem_key, text,
                                 (int64_t)time(NULL));
        if (rc != CTSPOOL_OK) {
            sp_journal_rollback(a->j);
            return rc;
        }
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

/* Threads to judge NDJSON and CSV with: one per CPU, up to 4; none on
 * one CPU, where the reader does it as fast alone. */
static unsigned
parse_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 2 ? 0 : n > 4 ? 4 : (unsigned)n;
}

/* ---- --follow --------------------------------------------------------- */

/* Lock-free (checked below), so async-signal-safe, and seen by threads. */
static atomic_int stop_signal; /* the signal that came, or 0 */
static int stop_wake_fd = -1;  /* write end of the wake pipe */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int is lock-free");

static void
on_stop_signal(int sig)
{
    int saved = errno;
    ssize_t r;

    atomic_store(&stop_signal, sig);
    r = write(stop_wake_fd, "s", 1); /* async-signal-safe */
    (void)r;
    errno = saved;
}

/*
 * SIGTERM and SIGINT end --follow like the end of the input.  The
 * handler only notes the signal and writes a byte to a pipe that the
 * reader's wait for input polls along with the input (input_src.c).
 * That cannot be missed: interrupting a blocked read(2) instead (a
 * handler without SA_RESTART, pthread_kill) loses a signal that comes
 * just before the read starts, and closing the input does not wake a
 * read blocked on it.  SA_RESTART keeps the journal's system calls
 * undisturbed; SA_RESETHAND lets a second signal end the process at
 * once (committed batches stay, SQLite rolls the one in flight back).
 * The writer uses the same pipe to stop the reader when a commit fails.
 */
static int
follow_start(struct append_ctx *a, int wake[2], struct sigaction old[2])
{
    struct sigaction sa;

    if (pipe2(wake, O_CLOEXEC) != 0) {
        return -1;
    }
    /* Never blocks the handler (a full pipe is readable already). */
    if (fcntl(wake[1], F_SETFL, O_NONBLOCK) != 0) {
        close(wake[0]);
        close(wake[1]);
        return -1;
    }
    a->wake_fd = wake[0];
    a->signalled = &stop_signal;
    stop_wake_fd = wake[1];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGTERM, &sa, &old[0]);
    sigaction(SIGINT, &sa, &old[1]);
    return 0;
}

/* Undoes follow_start: the handlers first, then the pipe they write. */
static void
follow_end(int wake[2], const struct sigaction old[2])
{
    sigaction(SIGTERM, &old[0], NULL);
    sigaction(SIGINT, &old[1], NULL);
    stop_wake_fd = -1;
    close(wake[0]);
    close(wake[1]);
}

/* One batch in a transaction of its own; counted once committed. */
static ctspool_rc
commit_batch(struct append_ctx *a, const struct batch *b)
{
    uint64_t n_new = 0, n_updated = 0, n_unchanged = 0;
    enum sp_put_result res;
    ctspool_rc rc;

    rc = sp_journal_begin(a->j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        rc = store_point(a, &b->pts[i], &res);
        if (rc == CTSPOOL_E_INVALID) {
            continue; /* --follow skips it: listed */
        }
        if (rc != CTSPOOL_OK) {
            sp_journal_rollback(a->j);
            return rc;
        }
        if (res == SP_PUT_NEW) {
            n_new++;
        } else if (res == SP_PUT_UPDATED) {
            n_updated++;
        } else {
            n_unchanged++;
        }
    }
    rc = sp_journal_commit(a->j); /* rolls back itself on failure */
    if (rc == CTSPOOL_OK) {
        a->n_new += n_new;
        a->n_updated += n_updated;
        a->n_unchanged += n_unchanged;
    }
    return rc;
}

/*
 * Writer with --follow: commits every batch the reader hands over (or
 * that has waited FOLLOW_MS), until the reader is done.  After a failed
 * commit the reader is woken to stop, and what it read is not stored.
 */
static void
commit_all(struct append_ctx *a, int wake_w)
{
    struct batch *b;

    while ((b = cli_append_take(a))) {
        if (a->store_rc == CTSPOOL_OK) {
            ctspool_rc rc = commit_batch(a, b);

            if (rc == CTSPOOL_E_CORRUPT && sp_journal_heal(a->j) == CTSPOOL_OK) {
                rc = commit_batch(a, b); /* into the fresh journal */
            }
            if (rc != CTSPOOL_OK) {
                ssize_t r;

                a->store_rc = rc;
                atomic_store(&a->stop, 1);
                r = write(wake_w, "f", 1);
                (void)r;
            }
        }
        cli_append_give_back(a, b);
    }
}

static void
summary(const struct append_ctx *a)
{
    char text[256];

    summary_text(a, text, sizeof(text));
    printf("%s\n", text);
}

/*
 * Runs --follow once the inputs are open; returns the exit code.  Batches
 * committed stay stored whatever ends it, so the summary is printed in
 * every case.
 */
static int
follow(struct append_ctx *a)
{
    struct sigaction old[2];
    pthread_t reader;
    int wake[2], ex = EXIT_OK;
    uint64_t n_stored;
    ctspool_rc rc;

    if (follow_start(a, wake, old) != 0) {
        cli_error("append", "cannot make a pipe: %s", strerror(errno));
        return EXIT_OSERR;
    }
    if (pthread_create(&reader, NULL, cli_append_reader, a) != 0) {
        cli_error("append", "cannot start the reader thread");
        follow_end(wake, old);
        return EXIT_OSERR;
    }
    commit_all(a, wake[1]);
    pthread_join(reader, NULL);
    follow_end(wake, old);
    n_stored = a->n_new + a->n_updated + a->n_unchanged;
    rc = a->store_rc != CTSPOOL_OK ? a->store_rc : a->read_rc;
    if (a->store_rc != CTSPOOL_OK) {
        cli_error("append", "%s; the last %llu valid points read were not "
                  "stored",
                  sp_journal_errmsg(a->j),
                  (unsigned long long)(a->n_valid - n_stored -
                                       a->n_fold_invalid));
    }
    if (atomic_load(&stop_signal) && a->store_rc == CTSPOOL_OK) {
        sp_log(SP_LOG_INFO, "stopped by %s; what was read is stored",
               atomic_load(&stop_signal) == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    summary(a);
    if (rc != CTSPOOL_OK) {
        ex = cli_exit_code(rc);
    } else if (a->n_invalid || a->n_fold_invalid) {
        ex = EXIT_DATAERR;
    }
    return ex;
}

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool append [--format auto|cloudthread|ndjson|csv]\n"
            "                      [--kind points|events]\n"
            "                      [--stream TOKEN] [--agg FUNC] "
            "[--skip-invalid]\n"
            "                      [--follow] [--rejects FILE] "
            "[--accumulate]\n"
            "                      [--idempotency-key KEY] [FILE|-]...\n"
            "\n"
            "Validates points and appends them to the journal; reads stdin\n"
            "when no FILE is given.  By default one call stores all of its\n"
            "points or none.\n"
            "\n"
            "  --format F      input format (default auto: by extension,\n"
            "                  else by content)\n"
            "  --kind K        points (default) or events: Event Overlay\n"
            "                  events, as upstream's {\"data\": [...]}\n"
            "                  document, NDJSON (upstream's element or flat:\n"
            "                  timestamp, type, description, event_url,\n"
            "                  team_id) or CSV with those columns\n"
            "  --stream TOKEN  data stream token for points without one\n"
            "                  (default: upload.data_stream_token)\n"
            "  --agg FUNC      Sum|Average|Maximum|Minimum for points without\n"
            "                  metric_agg_func\n"
            "  --skip-invalid  store the valid points, list the rejected ones\n"
            "                  on stderr (exit 65 if any)\n"
            "  --rejects FILE  also write each rejected record to FILE as\n"
            "                  read (mode 0600, truncated first), to fix and\n"
            "                  append again: NDJSON lines and CSV rows (after\n"
            "                  the header) as they are; a Cloudthread\n"
            "                  document's rejected data elements as NDJSON\n"
            "                  lines with its metric_agg_func and\n"
            "                  data_stream_token.  Without --skip-invalid\n"
            "                  nothing is stored, and FILE still lists what\n"
            "                  to fix before appending the input again\n"
            "  --follow        for endless input (tail -F x.ndjson |\n"
            "                  ctspool append --follow -): commits every\n"
            "                  1,000 points or 200 ms after the first\n"
            "                  uncommitted one, each commit on its own;\n"
            "                  invalid points are listed and skipped (exit\n"
            "                  65 at the end if any).  Ends at the end of\n"
            "                  the input (several FILEs: read in turn, each\n"
            "                  to its end) or on SIGTERM/SIGINT (what was\n"
            "                  read is committed; exit 0, or 65)\n"
            "  --accumulate    fold each point into the stored value of its\n"
            "                  hour: Sum adds, Maximum/Minimum keep the\n"
            "                  extreme, Average keeps sum and count\n"
            "  --idempotency-key KEY\n"
            "                  a KEY (1-255 bytes) applied within\n"
            "                  server.idempotency_hours changes nothing\n"
            "                  again: exit 0 and a line saying so\n");
}

/*
 * "UTF-16" or "UTF-32" when f, a regular file read from its start, begins
 * with such a byte order mark (sp_wide_bom), looked at before any input
 * is stored; else NULL.  With pread: a pipe is not read from here; the
 * input reader refuses one when it comes to it.
 */
static const char *
wide_file(FILE *f)
{
    unsigned char b[4];
    struct stat sb;
    int fd = fileno(f);
    ssize_t n;

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        lseek(fd, 0, SEEK_CUR) != 0) {
        return NULL;
    }
    n = pread(fd, b, sizeof(b), 0);
    return n > 0 ? sp_wide_bom(b, (size_t)n) : NULL;
}

static void
close_inputs(int n, FILE **files)
{
    for (int k = 0; k < n; k++) {
        if (files[k] && files[k] != stdin) {
            fclose(files[k]);
        }
        files[k] = NULL;
    }
}

/* Opens every input first so a missing file stores nothing (exit 66),
 * nor one in UTF-16 (exit 65). */
static int
open_inputs(int n, char **names, FILE **files)
{
    const char *wide;

    for (int i = 0; i < n; i++) {
        files[i] = strcmp(names[i], "-") == 0 ? stdin
                                               : fopen(names[i], "rb");
        if (!files[i]) {
            cli_error("append", "cannot open %s: %s", names[i],
                      strerror(errno));
            close_inputs(i, files);
            return EXIT_NOINPUT;
        }
        if ((wide = wide_file(files[i])) != NULL) {
            cli_error("append",
                      "%s: the input " SP_WIDE_SAID "; " SP_WIDE_CONVERT
                      "; nothing stored",
                      files[i] == stdin ? "<stdin>" : names[i], wide, wide);
            close_inputs(i + 1, files);
            return EXIT_DATAERR;
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
        {"follow", no_argument, NULL, 'F'},
        {"accumulate", no_argument, NULL, 'A'},
        {"idempotency-key", required_argument, NULL, 'I'},
        {"rejects", required_argument, NULL, 'r'},
        {"kind", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char *stdin_name[] = {"-"};
    struct append_ctx a;
    struct batch *batches = NULL;
    pthread_t reader;
    struct sp_defaults d = {.stream = NULL, .agg = -1};
    struct sp_journal *j = NULL;
    const char *stream = NULL, *rejects_path = NULL;
    struct cli_rejects *rejects = NULL;
    enum sp_format fmt = SP_FMT_AUTO;
    FILE **files = NULL;
    char **names;
    int n_files, ch, ex = 0, is_init = 0;
    ctspool_rc rc = CTSPOOL_OK;
    struct sp_err e;

    memset(&a, 0, sizeof(a));
    a.wake_fd = -1;
    while ((ch = getopt_long(argc, argv, "f:s:a:kFr:h", opts, NULL)) !=
           -1) {
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
        case 'F':
            a.is_follow = 1;
            break;
        case 'A':
            a.accumulate = 1;
            break;
        case 'I':
            if (sp_valid_idem_key(optarg, strlen(optarg), &e) !=
                CTSPOOL_OK) {
                cli_error("append", "--idempotency-key: %s", e.msg);
                return EXIT_USAGE;
            }
            a.idem_key = optarg;
            break;
        case 'r':
            rejects_path = optarg;
            break;
        case 'K':
            if (strcmp(optarg, "points") != 0 &&
                strcmp(optarg, "events") != 0) {
                cli_error("append", "--kind: '%s' is neither points nor "
                                    "events", optarg);
                return cli_usage_hint("append");
            }
            d.events = strcmp(optarg, "events") == 0;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("append");
        }
    }
    if (d.events && (a.accumulate || stream || d.agg >= 0)) {
        cli_error("append", "%s is for points: events have no %s",
                  a.accumulate ? "--accumulate"
                               : stream ? "--stream" : "--agg",
                  a.accumulate ? "hourly value to fold"
                               : stream ? "data stream token"
                                        : "aggregation function");
        return cli_usage_hint("append");
    }
    if (a.idem_key && a.is_follow) {
        cli_error("append", "--idempotency-key names one transaction: not "
                            "with --follow, which commits many");
        return cli_usage_hint("append");
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
    a.progress = !a.is_follow && isatty(STDERR_FILENO);
    a.skip_invalid |= a.is_follow;
    /* A commit never holds more than half the pending limit: pieces of
     * endless input the user cannot split fit once the drainer catches
     * up. */
    a.follow_points = FOLLOW_POINTS;
    if (c->cfg->limits.max_pending_points > 0 &&
        (uint64_t)c->cfg->limits.max_pending_points / 2 < FOLLOW_POINTS) {
        a.follow_points = (uint64_t)c->cfg->limits.max_pending_points / 2;
        if (a.follow_points == 0) {
            a.follow_points = 1;
        }
    }
    a.idem_hours = c->cfg->server.idempotency_hours;
    a.spill_dir = sp_dir_of(c->cfg->journal); /* NULL: $TMPDIR will do */
    a.parse_threads = parse_threads();
    if (rejects_path) {
        ex = cli_rejects_open(rejects_path, c->cfg->journal,
                              (FILE *const *)files, n_files, a.is_follow,
                              &rejects);
        if (ex) {
            goto out;
        }
        a.reject = cli_rejects_hook(rejects);
    }
    if (!a.is_follow) {
        rc = cli_stage_open(c->cfg->journal, &a.stage, &e);
        if (rc != CTSPOOL_OK) {
            cli_error("append", "%s; nothing stored", e.msg);
            ex = cli_exit_code(rc);
            goto out;
        }
    }
    batches = calloc(N_BATCHES, sizeof(*batches));
    if (!batches || cli_append_init(&a, batches) != 0) {
        cli_error("append", "out of memory");
        ex = EXIT_OSERR;
        goto out;
    }
    is_init = 1;
    if (a.is_follow) {
        ex = follow(&a);
        goto out;
    }
    if (pthread_create(&reader, NULL, cli_append_reader, &a) != 0) {
        cli_error("append", "cannot start the reader thread");
        ex = EXIT_OSERR;
        goto out;
    }
    stage_all(&a);
    pthread_join(reader, NULL);
    rc = a.store_rc != CTSPOOL_OK ? a.store_rc : a.read_rc;
    if (a.n_invalid > MAX_ERRORS_SHOWN) {
        cli_error("append", "... and %llu more invalid %ss",
                  (unsigned long long)(a.n_invalid - MAX_ERRORS_SHOWN),
                  NOUN(&a));
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
        uint64_t pts = a.n_invalid - a.n_unreadable;

        if (a.n_unreadable) {
            cli_error("append",
                      "%llu input%s could not be read%s; nothing stored "
                      "(use --skip-invalid to store the valid %ss of "
                      "the others)",
                      (unsigned long long)a.n_unreadable,
                      a.n_unreadable == 1 ? "" : "s",
                      pts ? ", and some are invalid" : "", NOUN(&a));
        } else {
            cli_error("append",
                      "%llu invalid %s%s; nothing stored (use "
                      "--skip-invalid to store the valid ones)",
                      (unsigned long long)pts, NOUN(&a),
                      pts == 1 ? "" : "s");
        }
        ex = EXIT_DATAERR;
        goto out;
    }
    {
        int stage_failed;

        rc = merge(&a, &stage_failed);
        if (rc == CTSPOOL_E_CORRUPT && !stage_failed &&
            sp_journal_heal(j) == CTSPOOL_OK) {
            /* The journal was damaged: moved aside, merge into the
             * fresh one (the staged points are all still there). */
            a.n_new = a.n_updated = a.n_unchanged = 0;
            rc = merge(&a, &stage_failed);
        }
        if (rc == CTSPOOL_E_INVALID) {
            cli_error("append", "1 invalid %s; nothing stored (use "
                                "--skip-invalid to store the valid ones)",
                      NOUN(&a));
            ex = EXIT_DATAERR;
            goto out;
        }
        if (rc != CTSPOOL_OK) {
            /* More new points than the limit takes at all: no retry can
             * succeed, so not 75 ("try again later"). */
            ex = rc == CTSPOOL_E_FULL && sp_journal_full_alone(j, a.n_valid)
                     ? EXIT_DATAERR
                     : cli_exit_code(rc);
            cli_error("append", "%s; nothing stored",
                      stage_failed ? a.stage_err.msg : sp_journal_errmsg(j));
            goto out;
        }
    }
    if (a.idem_answer) {
        char when[32];
        int len = (int)strlen(a.idem_answer);

        /* The answer as stored (serve's ends with a newline): one line. */
        while (len > 0 && (a.idem_answer[len - 1] == '\n' ||
                           a.idem_answer[len - 1] == '\r' ||
                           a.idem_answer[len - 1] == ' ')) {
            len--;
        }
        cli_fmt_time(a.idem_at, when, sizeof(when));
        printf("idempotency key already applied at %s (%.*s); nothing "
               "changed\n",
               when, len, a.idem_answer);
        goto out;
    }
    summary(&a);
    if (a.n_invalid || a.n_fold_invalid) {
        ex = EXIT_DATAERR;
    }
out:
    if (rejects) {
        /* After the reader: it alone wrote the file. */
        int rex = cli_rejects_close(rejects);

        if (rex && (ex == EXIT_OK || ex == EXIT_DATAERR)) {
            ex = rex;
        }
    }
    if (is_init) {
        cli_append_cleanup(&a);
    }
    for (int i = 0; i < n_files; i++) {
        if (files[i] && files[i] != stdin) {
            fclose(files[i]);
        }
    }
    free(files);
    free(batches);
    free(a.spill_dir);
    free(a.idem_answer);
    cli_stage_close(a.stage);
    sp_journal_close(j);
    return ex;
}
