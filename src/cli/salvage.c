/*
 * salvage.c -- `ctspool salvage FILE`: the readable pending points and
 * dead letters of a damaged or quarantined journal go into the
 * configured journal (DESIGN.md section 11; the work is in
 * src/lib/salvage.c).  A quarantined set (NAME.corrupt-...) is renamed
 * NAME.salvaged-... afterwards; running it again adds nothing.
 */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "salvage.h"

#define SALVAGE_TXN_ITEMS 500

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool salvage FILE\n"
            "\n"
            "Recovers every pending point and dead letter that SQLite can\n"
            "still read from FILE, a damaged journal or one quarantined as\n"
            "NAME.corrupt-YYYYMMDDTHHMMSSZ, into the configured journal\n"
            "(pending / dead), and prints how many it recovered and how\n"
            "many it could not read.  Points its drainer noted to send\n"
            "again become pending too.  A point the journal already holds is\n"
            "left as it is there (it is newer), except one it folded from\n"
            "nothing since (accumulate mode): the two are folded, FILE's\n"
            "first.  How far a run got is recorded, so running it again\n"
            "adds nothing.  FILE is never written; a quarantined one is renamed\n"
            "NAME.salvaged-... when done.  The sets quarantined after FILE\n"
            "are salvaged before it, newest first: their values are newer.\n"
            "The drainer does this by itself unless auto_salvage = false.\n"
            "\n"
            "Exit 0 when something could be read, 74 when nothing could,\n"
            "66 when FILE does not exist, 64 when FILE is the configured\n"
            "journal itself, 75 when another salvage into it is running.\n");
}

/* Are a and b the same file? */
static int
same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Salvages file into j and renames it when quarantined: an exit code;
 * *nothing (when not NULL) set when it could read nothing from it. */
static int
salvage_file(struct sp_journal *j, const char *file, int *nothing)
{
    struct sp_salvage_report rep;
    struct sp_err e;
    char words[256], renamed[4096];
    ctspool_rc rc;

    rc = sp_salvage(j, file, SALVAGE_TXN_ITEMS, &rep, &e);
    sp_salvage_describe(&rep, words, sizeof(words));
    if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        if (rc == CTSPOOL_E_LOCKED) {
            cli_error("salvage", "%s: %s", file, e.msg); /* nothing read */
        } else {
            cli_error("salvage", "%s: %s (so far: %s)", file, e.msg, words);
        }
        return cli_exit_code(rc);
    }
    if (!rep.read_anything) {
        if (nothing) {
            *nothing = 1;
        }
        cli_error("salvage",
                  "%s: could read nothing from it (not a ctspool journal, or "
                  "damaged beyond what SQLite can read: %s)%s",
                  file, words,
                  strstr(file, ".corrupt-")
                      ? "; while it stays there compaction keeps every "
                        "acknowledged point: move it elsewhere once you are "
                        "done with it"
                      : "");
        return EXIT_IOERR;
    }
    printf("%s: %s\n", file, words);
    if (sp_journal_mark_salvaged(file, renamed, sizeof(renamed), &e) !=
        CTSPOOL_OK) {
        cli_error("salvage", "%s", e.msg);
    } else if (*renamed) {
        printf("renamed it to %s\n", renamed);
    }
    return EXIT_OK;
}

/*
 * The sets of the journal quarantined after file, if file is one: each
 * salvaged before it, newest first, since salvage keeps what the
 * journal holds and their values are newer.  An exit code: that of the
 * first failure, or 0; a set that reads nothing stops nothing (what it
 * held is lost either way).
 */
static int
salvage_newer(struct cli *c, struct sp_journal *j, const char *file)
{
    char **names = NULL;
    size_t n = 0, k;
    struct sp_err e;
    int ex = EXIT_OK;

    if (sp_journal_quarantined(c->cfg->journal, &names, &n, &e) !=
        CTSPOOL_OK) {
        cli_error("salvage", "%s", e.msg);
        return EXIT_IOERR;
    }
    for (k = 0; k < n && !same_file(names[k], file); k++) {
    }
    for (size_t i = n; k < n && i > k + 1 && ex == EXIT_OK; i--) {
        int nothing = 0;

        printf("salvaging %s first: quarantined later, its values are "
               "newer\n",
               names[i - 1]);
        ex = salvage_file(j, names[i - 1], &nothing);
        if (nothing) {
            ex = EXIT_OK;
        }
    }
    sp_journal_quarantined_free(names, n);
    return ex;
}

int
cmd_salvage(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_journal *j = NULL;
    const char *file;
    int ch, ex;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            help(stdout);
            return EXIT_OK;
        }
        return cli_usage_hint("salvage");
    }
    if (optind + 1 != argc) {
        cli_error("salvage", optind == argc ? "which file? (FILE missing)"
                                            : "one FILE at a time");
        return cli_usage_hint("salvage");
    }
    file = argv[optind];
    ex = cli_journal(c, "salvage", &j);
    if (ex) {
        return ex;
    }
    if (same_file(file, c->cfg->journal)) {
        cli_error("salvage",
                  "%s is the configured journal itself; salvage reads a "
                  "damaged or quarantined copy into it",
                  file);
        sp_journal_close(j);
        return EXIT_USAGE;
    }
    ex = salvage_newer(c, j, file);
    if (ex == EXIT_OK) {
        ex = salvage_file(j, file, NULL);
    }
    sp_journal_close(j);
    return ex;
}
