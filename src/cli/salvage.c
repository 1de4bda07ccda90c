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
            "left as it is there (it is newer), so running it again adds\n"
            "nothing.  FILE is never written; a quarantined one is renamed\n"
            "NAME.salvaged-... when done.  The drainer does this by itself\n"
            "unless auto_salvage = false.\n"
            "\n"
            "Exit 0 when something could be read, 74 when nothing could,\n"
            "66 when FILE does not exist.\n");
}

/* Is file the journal j has open? */
static int
is_live_journal(const char *file, const char *journal)
{
    struct stat a, b;

    return stat(file, &a) == 0 && stat(journal, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
cmd_salvage(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_salvage_report rep;
    struct sp_journal *j = NULL;
    struct sp_err e;
    char words[256], renamed[4096];
    const char *file;
    ctspool_rc rc;
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
    if (is_live_journal(file, c->cfg->journal)) {
        cli_error("salvage",
                  "%s is the configured journal itself; salvage reads a "
                  "damaged or quarantined copy into it",
                  file);
        sp_journal_close(j);
        return EXIT_USAGE;
    }
    rc = sp_salvage(j, file, SALVAGE_TXN_ITEMS, &rep, &e);
    sp_salvage_describe(&rep, words, sizeof(words));
    if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("salvage", "%s: %s (so far: %s)", file, e.msg, words);
        ex = cli_exit_code(rc);
    } else if (!rep.read_anything) {
        cli_error("salvage",
                  "%s: could read nothing from it (not a ctspool journal, or "
                  "damaged beyond what SQLite can read)",
                  file);
        ex = EXIT_IOERR;
    } else {
        printf("%s: %s\n", file, words);
        if (sp_journal_mark_salvaged(file, renamed, sizeof(renamed), &e) !=
            CTSPOOL_OK) {
            cli_error("salvage", "%s", e.msg);
        } else if (*renamed) {
            printf("renamed it to %s\n", renamed);
        }
    }
    sp_journal_close(j);
    return ex;
}
