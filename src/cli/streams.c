/*
 * streams.c -- `ctspool streams [--json]`: one line per upload group
 * (data stream token, masked, and aggregation function; or the events
 * group) with its pending, acknowledged and dead items, the age of its
 * oldest pending one and whether the drainer parked it; and `ctspool
 * streams retire TOKEN [--agg FUNC]`, which moves a stream's pending
 * points to the dead letters (status 0, "retired by operator") in one
 * transaction.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"

struct show {
    int json;
    int64_t now;    /* Unix time */
    int64_t now_ms; /* Unix ms */
};

static void
help(FILE *f)
{
    fprintf(f,
            "usage: ctspool streams [--json]\n"
            "       ctspool streams retire TOKEN [--agg FUNC]\n"
            "\n"
            "Lists the upload groups: those of points (data stream token,\n"
            "masked, and aggregation function) and the one of events\n"
            "(kind events, no stream or function): pending, acknowledged\n"
            "and dead items, how long its pending ones have waited\n"
            "(since its queue was last empty or last acknowledged, and\n"
            "at least the oldest one's age), and the state: 'ok', or\n"
            "'parked' when upstream answered 404 (no stream found) for\n"
            "the token; the drainer then retries that group with a\n"
            "backoff of its own while the others go on.\n"
            "--json prints one JSON object per group and line (kind,\n"
            "stream and metric_agg_func null for events).\n"
            "\n"
            "'retire' moves every pending point of the stream TOKEN (of\n"
            "its FUNC group only, with --agg) to the dead letters with\n"
            "status 0 and the reason \"retired by operator\", in one\n"
            "transaction, and prints how many; 'ctspool dlq requeue'\n"
            "brings them back.  A token with no upload group exits 66.\n"
            "Events have no data stream token and are never retired.\n");
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t
age(int64_t now, int64_t at)
{
    return now > at ? now - at : 0;
}

static ctspool_rc
print_json(const struct show *o, const struct sp_group_row *g,
           const char *mask)
{
    cJSON *obj = cJSON_CreateObject();
    char since[32];

    if (g->agg == SP_KIND_EVENTS) {
        cJSON_AddStringToObject(obj, "kind", "events");
        cJSON_AddNullToObject(obj, "stream");
        cJSON_AddNullToObject(obj, "metric_agg_func");
    } else {
        cJSON_AddStringToObject(obj, "kind", "points");
        cJSON_AddStringToObject(obj, "stream", mask);
        cJSON_AddStringToObject(obj, "metric_agg_func",
                                sp_agg_name(g->agg));
    }
    cJSON_AddNumberToObject(obj, "pending", (double)g->pending);
    cJSON_AddNumberToObject(obj, "acked", (double)g->acked);
    cJSON_AddNumberToObject(obj, "dead", (double)g->dead);
    if (g->oldest_pending_at >= 0) {
        cJSON_AddNumberToObject(obj, "oldest_pending_age_s",
                                (double)age(o->now, g->oldest_pending_at));
    } else {
        cJSON_AddNullToObject(obj, "oldest_pending_age_s");
    }
    cJSON_AddStringToObject(obj, "state", g->is_parked ? "parked" : "ok");
    if (g->is_parked) {
        fmt_time(g->parked_since, since, sizeof(since));
        cJSON_AddStringToObject(obj, "reason", g->reason);
        cJSON_AddStringToObject(obj, "since", since);
    } else {
        cJSON_AddNullToObject(obj, "reason");
        cJSON_AddNullToObject(obj, "since");
    }
    return cli_print_json(obj);
}

static ctspool_rc
print_group(void *ctx, const struct sp_group_row *g)
{
    const struct show *o = ctx;
    char mask[32], oldest[32], since[32], retry[48] = "";

    sp_mask(g->stream, mask, sizeof(mask));
    if (o->json) {
        ctspool_rc rc = print_json(o, g, mask);

        return rc != CTSPOOL_OK ? rc : ferror(stdout) ? CTSPOOL_E_IO : rc;
    }
    if (g->oldest_pending_at >= 0) {
        snprintf(oldest, sizeof(oldest), "%llds",
                 (long long)age(o->now, g->oldest_pending_at));
    } else {
        snprintf(oldest, sizeof(oldest), "-");
    }
    if (g->agg == SP_KIND_EVENTS) {
        printf("%-6s %-12s %-8s ", "events", "-", "-");
    } else {
        printf("%-6s %-12s %-8s ", "points", mask, sp_agg_name(g->agg));
    }
    printf("%10llu %10llu %8llu %8s ", (unsigned long long)g->pending,
           (unsigned long long)g->acked, (unsigned long long)g->dead,
           oldest);
    if (!g->is_parked) {
        printf("ok\n");
    } else {
        fmt_time(g->parked_since, since, sizeof(since));
        if (g->parked_until_ms > o->now_ms) {
            snprintf(retry, sizeof(retry), "retry in %.0f s, ",
                     (double)(g->parked_until_ms - o->now_ms) / 1000.0 + 0.5);
        }
        printf("parked since %s (%s%lld refusal%s): %s\n", since, retry,
               (long long)g->failures, g->failures == 1 ? "" : "s",
               g->reason);
    }
    return ferror(stdout) ? CTSPOOL_E_IO : CTSPOOL_OK;
}

static int
list_groups(struct cli *c, int json)
{
    struct sp_journal *j = NULL;
    struct show o;
    struct timespec ts;
    ctspool_rc rc;
    int ex = cli_journal_existing(c, "streams", &j);

    if (ex) {
        return ex;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    o.json = json;
    o.now = (int64_t)ts.tv_sec;
    o.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (!json) {
        printf("%-6s %-12s %-8s %10s %10s %8s %8s %s\n", "KIND", "STREAM",
               "AGG", "PENDING", "ACKED", "DEAD", "OLDEST", "STATE");
    }
    rc = sp_journal_groups(j, SP_GROUPS_ALL, print_group, &o);
    if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("streams", "%s",
                  rc == CTSPOOL_E_IO && ferror(stdout)
                      ? "cannot write to stdout"
                      : rc == CTSPOOL_E_NOMEM ? "out of memory"
                                              : sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    }
    sp_journal_close(j);
    return ex;
}

static int
retire(struct cli *c, const char *token, int agg)
{
    struct sp_journal *j = NULL;
    uint64_t n_groups = 0, n_points = 0;
    char mask[32], which[48] = "";
    ctspool_rc rc;
    int ex = cli_journal_existing(c, "streams", &j);

    if (ex) {
        return ex;
    }
    sp_mask(token, mask, sizeof(mask));
    if (agg >= 0) {
        snprintf(which, sizeof(which), " and aggregation function %s",
                 sp_agg_name(agg));
    }
    /* It only shrinks the queue: a full spool must not refuse it. */
    sp_journal_set_limits(j, 0, 0);
    rc = sp_journal_retire(j, token, agg, (int64_t)time(NULL), &n_groups,
                           &n_points);
    if (rc == CTSPOOL_E_NOTFOUND) {
        cli_error("streams",
                  "no upload group has the data stream token %s%s; "
                  "nothing changed ('ctspool streams' lists them)",
                  mask, which);
        ex = EXIT_NOINPUT;
    } else if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("streams", "%s; nothing changed", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    } else {
        printf("retired %llu pending point%s of %llu upload group%s of "
               "stream %s to the dead letters ('ctspool dlq requeue' "
               "brings them back)\n",
               (unsigned long long)n_points, n_points == 1 ? "" : "s",
               (unsigned long long)n_groups, n_groups == 1 ? "" : "s", mask);
    }
    sp_journal_close(j);
    return ex;
}

int
cmd_streams(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"agg", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_err e;
    const char *agg_arg = NULL;
    int json = 0, agg = -1, ch;

    /* 0: getopt starts afresh (main() stopped at the command), and
     * options may follow TOKEN as well as precede it. */
    optind = 0;
    while ((ch = getopt_long(argc, argv, "ja:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
            break;
        case 'a':
            agg_arg = optarg;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("streams");
        }
    }
    if (optind == argc) {
        if (agg_arg) {
            cli_error("streams", "--agg goes with 'retire'");
            return cli_usage_hint("streams");
        }
        return list_groups(c, json);
    }
    if (strcmp(argv[optind], "retire") != 0) {
        cli_error("streams", "unknown subcommand '%s'", argv[optind]);
        return cli_usage_hint("streams");
    }
    if (json || argc - optind != 2 || !argv[optind + 1][0]) {
        cli_error("streams", "usage: ctspool streams retire TOKEN "
                             "[--agg FUNC]");
        return cli_usage_hint("streams");
    }
    if (agg_arg &&
        sp_valid_agg(agg_arg, strlen(agg_arg), &agg, &e) != CTSPOOL_OK) {
        cli_error("streams", "--agg: %s", e.msg);
        return EXIT_USAGE;
    }
    return retire(c, argv[optind + 1], agg);
}
