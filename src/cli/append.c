/*
 * append.c -- `ctspool append`: input files -> validation -> journal, as
 * one transaction.  Default: all points or none (any invalid point rolls
 * everything back, exit 65).  --skip-invalid: the valid points are
 * stored, every rejected one is listed, exit 65 if any was rejected.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ERRORS_SHOWN 100
#define PROGRESS_EVERY 8192 /* points between clock reads */

struct append_ctx {
    struct sp_journal *j;
    const char *file;  /* name for messages */
    int skip_invalid;
    int progress;      /* stderr is a terminal */
    uint64_t n_read, n_new, n_updated, n_unchanged, n_invalid;
    struct timespec last_progress;
    ctspool_rc store_rc;
};

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

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct append_ctx *a = ctx;
    enum sp_put_result r;
    ctspool_rc rc;

    a->n_read++;
    if (a->n_read % PROGRESS_EVERY == 0) {
        progress(a, 0);
    }
    if (a->n_invalid && !a->skip_invalid) {
        return CTSPOOL_OK; /* nothing will be stored: just validate */
    }
    rc = sp_journal_put(a->j, p, &r);
    if (rc != CTSPOOL_OK) {
        a->store_rc = rc;
        return rc; /* stops reading */
    }
    if (r == SP_PUT_NEW) {
        a->n_new++;
    } else if (r == SP_PUT_UPDATED) {
        a->n_updated++;
    } else {
        a->n_unchanged++;
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
    struct sp_defaults d = {NULL, -1};
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
    n_files = argc - optind;
    names = argv + optind;
    if (n_files == 0) {
        n_files = 1;
        names = stdin_name;
    }
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
    a.j = j;
    a.progress = isatty(STDERR_FILENO);
    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        cli_error("append", "%s", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
        goto out;
    }
    for (int i = 0; i < n_files && rc == CTSPOOL_OK; i++) {
        a.file = strcmp(names[i], "-") == 0 ? "<stdin>" : names[i];
        rc = sp_input_read(files[i], names[i], fmt, &d, on_point, on_error,
                           &a, &e);
        if (rc == CTSPOOL_E_INVALID) {
            /* The input as a whole is unreadable (bad header, not JSON). */
            cli_error("append", "%s: %s", a.file, e.msg);
            a.n_invalid++;
            rc = CTSPOOL_OK;
            if (!a.skip_invalid) {
                continue; /* keep validating the other inputs */
            }
        } else if (rc != CTSPOOL_OK && a.store_rc == CTSPOOL_OK) {
            cli_error("append", "%s: %s", a.file, e.msg);
        }
        progress(&a, 1);
    }
    if (a.n_invalid > MAX_ERRORS_SHOWN) {
        cli_error("append", "... and %llu more invalid points",
                  (unsigned long long)(a.n_invalid - MAX_ERRORS_SHOWN));
    }
    if (rc != CTSPOOL_OK) {
        sp_journal_rollback(j);
        if (a.store_rc != CTSPOOL_OK) {
            cli_error("append", "%s; nothing stored",
                      sp_journal_errmsg(j));
        }
        ex = cli_exit_code(rc);
        goto out;
    }
    if (a.n_invalid && !a.skip_invalid) {
        sp_journal_rollback(j);
        cli_error("append",
                  "%llu invalid point%s; nothing stored (use --skip-invalid "
                  "to store the valid ones)",
                  (unsigned long long)a.n_invalid,
                  a.n_invalid == 1 ? "" : "s");
        ex = EXIT_DATAERR;
        goto out;
    }
    rc = sp_journal_commit(j);
    if (rc != CTSPOOL_OK) {
        cli_error("append", "%s; nothing stored", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
        goto out;
    }
    printf("appended %llu points: %llu new, %llu updated, %llu unchanged",
           (unsigned long long)(a.n_new + a.n_updated + a.n_unchanged),
           (unsigned long long)a.n_new, (unsigned long long)a.n_updated,
           (unsigned long long)a.n_unchanged);
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
    sp_journal_close(j);
    return ex;
}
