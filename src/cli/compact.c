/*
 * compact.c -- `ctspool compact`: acknowledged points past retention are
 * deleted, free pages returned.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The only option of this command: --help. */
static int
no_options(int argc, char **argv, const char *cmd, const char *text)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            printf("%s", text);
            return -1;
        }
        return cli_usage_hint(cmd);
    }
    if (optind != argc) {
        cli_error(cmd, "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint(cmd);
    }
    return 0;
}

ctspool_rc
cli_compact(struct sp_journal *j, const struct sp_config *cfg,
            uint64_t *n_points, uint64_t *n_keys)
{
    int64_t now = (int64_t)time(NULL);
    int64_t keep = (int64_t)cfg->retain_acked_hours * 3600;
    /* A request of unknown outcome may still land for twice the request
     * timeout, and the drainer then sends again what was acknowledged
     * since with a newer value (doubt.c).  It remembers those points by
     * (hour, series ID) in memory, and compaction could delete such a
     * point, and its series, whose ID a new record then takes: kept
     * that long and a minute more at least, whatever
     * retain_acked_hours says. */
    int64_t doubt = 2 * (int64_t)cfg->upload.request_timeout_ms / 1000 + 61;
    ctspool_rc rc = sp_journal_compact(j, now, keep > doubt ? keep : doubt,
                                       n_points);

    if (rc == CTSPOOL_OK) {
        rc = sp_journal_idem_prune(
            j, now - (int64_t)cfg->server.idempotency_hours * 3600, n_keys);
    }
    return rc;
}

int
cmd_compact(struct cli *c, int argc, char **argv)
{
    struct sp_journal *j = NULL;
    struct sp_stats st;
    uint64_t n = 0, n_keys = 0;
    ctspool_rc rc;
    int ex;

    ex = no_options(argc, argv, "compact",
                    "usage: ctspool compact\n\n"
                    "Deletes acknowledged points older than "
                    "retain_acked_hours and\nidempotency keys older than "
                    "server.idempotency_hours, and gives\nfree pages back "
                    "to the file system.\n");
    if (ex) {
        return ex < 0 ? EXIT_OK : ex;
    }
    ex = cli_journal_existing(c, "compact", &j);
    if (ex) {
        return ex;
    }
    rc = cli_compact(j, c->cfg, &n, &n_keys);
    if (rc == CTSPOOL_OK) {
        rc = sp_journal_stats(j, &st);
    }
    if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("compact", "%s", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    } else {
        printf("deleted %llu acknowledged points and events, and %llu "
               "expired idempotency keys; journal is %llu bytes\n",
               (unsigned long long)n, (unsigned long long)n_keys,
               (unsigned long long)st.journal_bytes);
    }
    sp_journal_close(j);
    return ex;
}
