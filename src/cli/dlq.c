/*
 * dlq.c -- `ctspool dlq list|requeue [--all|ID...]|purge [--all|ID...]`:
 * dead letters are points and events upstream rejected, kept with the
 * answer it gave.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "list.h"

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool dlq list [--json]\n"
            "       ctspool dlq requeue --all | ID...\n"
            "       ctspool dlq purge --all | ID...\n"
            "\n"
            "Dead letters are points upstream rejected as invalid (HTTP 400\n"
            "or 422), kept with its status and response, points an\n"
            "operator retired ('ctspool streams retire': status 0), and\n"
            "events upstream refused (404: no team found).  'list' shows\n"
            "each one's kind, point or event (--json: as 'ctspool list\n"
            "--json' with id, status, response and dead_at).  'requeue'\n"
            "makes them pending again (a point whose value was replaced\n"
            "meanwhile keeps the newer value; one folded from nothing\n"
            "meanwhile, in accumulate mode, is folded with the letter;\n"
            "a letter whose point has a later letter left behind is\n"
            "refused: requeue them together, or the later one).  With\n"
            "--all, a letter that cannot come back (folded, its value\n"
            "would not be finite) is named and stays dead, and the exit\n"
            "status is 65; the others come back.  'purge' deletes them.\n");
}

#define LEFT_SHOWN 100 /* letters left dead named, then a count */

/* requeue --all: a letter that cannot come back, named on stderr. */
static void
on_left(void *ctx, int64_t id, const char *why)
{
    uint64_t *shown = ctx;

    (void)id; /* why names it */
    if (++*shown <= LEFT_SHOWN) {
        cli_error("dlq", "%s; it stays dead", why);
    }
}

static int
parse_ids(int argc, char **argv, int all, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (all == (argc > 0)) {
        cli_error("dlq", "give either --all or dead letter IDs");
        return EXIT_USAGE;
    }
    if (all) {
        return 0;
    }
    *ids = calloc((size_t)argc, sizeof(**ids));
    if (!*ids) {
        return EXIT_OSERR;
    }
    for (int i = 0; i < argc; i++) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(argv[i], &end, 10);
        if (errno || end == argv[i] || *end || v <= 0) {
            cli_error("dlq", "'%s' is not a dead letter ID", argv[i]);
            free(*ids);
            *ids = NULL;
            return EXIT_USAGE;
        }
        (*ids)[i] = v;
    }
    *n = (size_t)argc;
    return 0;
}

int
cmd_dlq(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct list_opts o = {.dlq = 1};
    struct sp_journal *j = NULL;
    int64_t *ids = NULL;
    size_t n_ids = 0;
    uint64_t n = 0, n_left = 0;
    const char *verb;
    int all = 0, ch, ex;
    ctspool_rc rc;

    while ((ch = getopt_long(argc, argv, "+Ajh", opts, NULL)) != -1) {
        if (ch == 'h') {
            help(stdout);
            return EXIT_OK;
        }
        return cli_usage_hint("dlq");
    }
    if (optind >= argc) {
        cli_error("dlq", "missing subcommand: list, requeue or purge");
        return cli_usage_hint("dlq");
    }
    verb = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "Ajh", opts, NULL)) != -1) {
        switch (ch) {
        case 'A':
            all = 1;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("dlq");
        }
    }
    if (strcmp(verb, "list") == 0) {
        if (optind != argc) {
            cli_error("dlq", "unexpected argument '%s'", argv[optind]);
            return cli_usage_hint("dlq");
        }
    } else if (strcmp(verb, "requeue") == 0 || strcmp(verb, "purge") == 0) {
        ex = parse_ids(argc - optind, argv + optind, all, &ids, &n_ids);
        if (ex) {
            return ex;
        }
    } else {
        cli_error("dlq", "unknown subcommand '%s'", verb);
        return cli_usage_hint("dlq");
    }
    ex = cli_journal_existing(c, "dlq", &j);
    if (ex) {
        free(ids);
        return ex;
    }
    if (verb[0] == 'l') {
        if (!o.json) {
            printf("%-6s %-4s %-5s %-19s %-8s %-24s %14s %s  %s\n", "ID",
                   "HTTP", "KIND", "TIMESTAMP", "AGG", "METRIC/TYPE", "VALUE",
                   "DIMENSIONS/DETAILS", "RESPONSE");
        }
        rc = sp_journal_list(j, SP_LIST_DEAD, cli_print_row, &o);
    } else if (verb[0] == 'r') {
        uint64_t shown = 0;

        rc = all ? sp_journal_dlq_requeue_all(j, on_left, &shown, &n,
                                              &n_left)
                 : sp_journal_dlq_requeue(j, ids, n_ids, &n);
        if (rc == CTSPOOL_OK) {
            printf("requeued %llu dead letter%s\n", (unsigned long long)n,
                   n == 1 ? "" : "s");
        }
        if (rc == CTSPOOL_OK && n_left == 1) {
            cli_error("dlq", "1 dead letter left dead: purge it, or requeue "
                             "it once its point's value has been replaced");
            ex = EXIT_DATAERR;
        } else if (rc == CTSPOOL_OK && n_left) {
            cli_error("dlq",
                      "%llu dead letters left dead%s: purge them, or requeue "
                      "them once their points' values have been replaced",
                      (unsigned long long)n_left,
                      n_left > LEFT_SHOWN ? " (the first 100 named above)"
                                          : "");
            ex = EXIT_DATAERR;
        }
    } else {
        rc = sp_journal_dlq_purge(j, ids, n_ids, &n);
        if (rc == CTSPOOL_OK) {
            printf("purged %llu dead letter%s\n", (unsigned long long)n,
                   n == 1 ? "" : "s");
        }
    }
    if (rc != CTSPOOL_OK) {
        /* --all commits a chunk at a time: n were before the failure. */
        char done[96];

        rc = cli_journal_failed(j, rc);
        snprintf(done, sizeof(done), "%llu dead letter%s %s before it",
                 (unsigned long long)n, n == 1 ? " was" : "s were",
                 verb[0] == 'r' ? "requeued" : "purged");
        if (verb[0] == 'l') {
            cli_error("dlq", "%s", sp_journal_errmsg(j));
        } else if (n == 0) {
            cli_error("dlq", "%s; nothing changed", sp_journal_errmsg(j));
        } else {
            cli_error("dlq", "%s; %s: run it again for the others",
                      sp_journal_errmsg(j), done);
        }
        ex = cli_exit_code(rc);
    }
    free(ids);
    sp_journal_close(j);
    return ex;
}
