/*
 * status.c -- `ctspool status [--json]`: what is pending, acknowledged
 * and dead (points and events), the journal's size and the drainer's
 * last results, points in doubt and parked upload groups; checks the
 * journal's pages (up to CHECK_MAX_BYTES unless --check) and lists
 * quarantined journals not yet salvaged.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"

/* Above this size the page check takes seconds: only with --check. */
#define CHECK_MAX_BYTES ((uint64_t)256 << 20)

/* Quarantined journals (NAME.corrupt-*) not yet salvaged. */
struct quarantined {
    char **names;
    size_t n;
};

static void
help(FILE *f)
{
    fprintf(f, "usage: ctspool status [--json] [--check]\n"
               "\n"
               "Shows pending, acknowledged and dead points (and events,\n"
               "when the journal holds any), the journal's size, how long\n"
               "the upload group waiting longest has waited (an update of\n"
               "a pending point does not restart it) and which it is, the\n"
               "last upload result, points in doubt (uploads of unknown\n"
               "outcome), the upload groups the drainer parked (upstream\n"
               "answered 404 for their data stream token) and quarantined\n"
               "journals not yet salvaged.  --json prints one JSON object\n"
               "(pending_events, acked_events and dead_events always).\n"
               "\n"
               "It also checks every page of a journal up to 256 MiB (of\n"
               "any size with --check): a damaged journal is moved aside\n"
               "as on_corrupt says, and status exits 74.\n");
}

/* The parked groups (with pending points), as status shows them. */
struct parked {
    int json;
    cJSON *list; /* json: the array being filled */
};

static ctspool_rc
parked_row(void *ctx, const struct sp_group_row *g)
{
    struct parked *p = ctx;
    char mask[32], since[32];
    int is_events;

    if (g->pending == 0) {
        return CTSPOOL_OK; /* nothing held back */
    }
    is_events = g->agg == SP_KIND_EVENTS;
    sp_mask(g->stream, mask, sizeof(mask));
    cli_fmt_time(g->parked_since, since, sizeof(since));
    if (p->json) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "kind", is_events ? "events" : "points");
        if (is_events) {
            cJSON_AddNullToObject(o, "stream");
            cJSON_AddNullToObject(o, "metric_agg_func");
        } else {
            cJSON_AddStringToObject(o, "stream", mask);
            cJSON_AddStringToObject(o, "metric_agg_func",
                                    sp_agg_name(g->agg));
        }
        cJSON_AddNumberToObject(o, "pending", (double)g->pending);
        cJSON_AddStringToObject(o, "reason", g->reason);
        cJSON_AddStringToObject(o, "since", since);
        cJSON_AddItemToArray(p->list, o);
    } else if (is_events) {
        printf("  events: %llu pending, parked since %s: %s\n",
               (unsigned long long)g->pending, since, g->reason);
    } else {
        printf("  %s/%s: %llu pending, parked since %s: %s\n", mask,
               sp_agg_name(g->agg), (unsigned long long)g->pending, since,
               g->reason);
    }
    return CTSPOOL_OK;
}

static void
print_quarantined(FILE *f, const struct quarantined *q)
{
    if (!q->n) {
        return;
    }
    fprintf(f,
            "quarantined:       %zu damaged journal%s not yet salvaged "
            "('ctspool salvage FILE'; the drainer does it unless "
            "auto_salvage = false)\n",
            q->n, q->n == 1 ? "" : "s");
    for (size_t i = 0; i < q->n; i++) {
        fprintf(f, "  %s\n", q->names[i]);
    }
}

static int
print_json(struct sp_journal *j, const struct sp_stats *st,
           const struct quarantined *q, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    struct parked p = {1, NULL};
    char when[32];

#define NUM(k, v) cJSON_AddNumberToObject(o, k, (double)(v))
    NUM("pending_points", st->pending_points);
    NUM("acked_points", st->acked_points);
    NUM("dead_letters", st->dead_letters);
    NUM("pending_events", st->pending_events);
    NUM("acked_events", st->acked_events);
    NUM("dead_events", st->dead_events);
    NUM("journal_bytes", st->journal_bytes);
    if (st->oldest_pending_at >= 0) {
        NUM("oldest_pending_age_s",
            now > st->oldest_pending_at ? now - st->oldest_pending_at : 0);
        cJSON_AddStringToObject(o, "oldest_pending_group",
                                st->oldest_pending_group);
    } else {
        cJSON_AddNullToObject(o, "oldest_pending_age_s");
        cJSON_AddNullToObject(o, "oldest_pending_group");
    }
    if (st->last_upload_ok_at >= 0) {
        cli_fmt_time(st->last_upload_ok_at, when, sizeof(when));
        cJSON_AddStringToObject(o, "last_upload_ok_at", when);
    } else {
        cJSON_AddNullToObject(o, "last_upload_ok_at");
    }
    if (st->last_upload_error[0]) {
        cJSON_AddStringToObject(o, "last_upload_error",
                                st->last_upload_error);
        cli_fmt_time(st->last_upload_error_at, when, sizeof(when));
        cJSON_AddStringToObject(o, "last_upload_error_at", when);
    } else {
        cJSON_AddNullToObject(o, "last_upload_error");
        cJSON_AddNullToObject(o, "last_upload_error_at");
    }
    NUM("points_appended_total", st->appended_total);
    NUM("points_uploaded_total", st->uploaded_total);
    NUM("points_dead_total", st->dead_total);
    NUM("upload_requests_2xx", st->requests_2xx);
    NUM("upload_requests_4xx", st->requests_4xx);
    NUM("upload_requests_5xx", st->requests_5xx);
    NUM("upload_requests_failed", st->requests_failed);
    NUM("parked_groups", st->parked_groups);
    NUM("in_doubt_points", st->in_doubt_points);
    NUM("resend_points", st->resend_points);
#undef NUM
    {
        cJSON *ql = cJSON_AddArrayToObject(o, "quarantined");

        for (size_t i = 0; ql && i < q->n; i++) {
            cJSON_AddItemToArray(ql, cJSON_CreateString(q->names[i]));
        }
    }
    p.list = cJSON_AddArrayToObject(o, "parked");
    if (st->parked_groups &&
        sp_journal_groups(j, SP_GROUPS_PARKED, parked_row, &p) !=
            CTSPOOL_OK) {
        cli_error("status", "%s", sp_journal_errmsg(j));
        cJSON_Delete(o);
        return EXIT_IOERR;
    }
    if (cli_print_json(o) != CTSPOOL_OK) {
        cli_error("status", "out of memory");
        return EXIT_OSERR;
    }
    return EXIT_OK;
}

static int
print_text(struct sp_journal *j, const struct sp_stats *st,
           const char *journal, const struct quarantined *q, int64_t now)
{
    struct parked p = {0, NULL};
    char when[32], age[112] = "";

    printf("journal:           %s (%llu bytes)\n", journal,
           (unsigned long long)st->journal_bytes);
    /* The oldest pending item, on the line of what is pending: points,
     * else events. */
    if (st->oldest_pending_at >= 0) {
        snprintf(age, sizeof(age), " (oldest %llds old, upload group %s)",
                 (long long)(now > st->oldest_pending_at
                                 ? now - st->oldest_pending_at
                                 : 0),
                 st->oldest_pending_group);
    }
    printf("pending points:    %llu%s\n",
           (unsigned long long)st->pending_points,
           st->pending_points ? age : "");
    printf("acknowledged:      %llu\n", (unsigned long long)st->acked_points);
    printf("dead letters:      %llu\n", (unsigned long long)st->dead_letters);
    if (st->pending_events + st->acked_events + st->dead_events) {
        printf("events:            %llu pending%s, %llu acknowledged, "
               "%llu dead\n",
               (unsigned long long)st->pending_events,
               st->pending_points ? "" : age,
               (unsigned long long)st->acked_events,
               (unsigned long long)st->dead_events);
    }
    cli_fmt_time(st->last_upload_ok_at, when, sizeof(when));
    printf("last upload ok:    %s\n", when);
    if (st->last_upload_error[0]) {
        cli_fmt_time(st->last_upload_error_at, when, sizeof(when));
        printf("last upload error: %s (%s)\n", st->last_upload_error, when);
    } else {
        printf("last upload error: none\n");
    }
    printf("totals:            %llu appended, %llu uploaded, %llu dead\n",
           (unsigned long long)st->appended_total,
           (unsigned long long)st->uploaded_total,
           (unsigned long long)st->dead_total);
    printf("upload requests:   %llu 2xx, %llu 4xx, %llu 5xx, %llu failed\n",
           (unsigned long long)st->requests_2xx,
           (unsigned long long)st->requests_4xx,
           (unsigned long long)st->requests_5xx,
           (unsigned long long)st->requests_failed);
    printf("in doubt:          %llu points (uploads of unknown outcome), "
           "%llu to send again\n",
           (unsigned long long)st->in_doubt_points,
           (unsigned long long)st->resend_points);
    printf("parked groups:     %llu%s\n",
           (unsigned long long)st->parked_groups,
           st->parked_groups ? " (each with its reason below)" : "");
    if (st->parked_groups &&
        sp_journal_groups(j, SP_GROUPS_PARKED, parked_row, &p) !=
            CTSPOOL_OK) {
        cli_error("status", "%s", sp_journal_errmsg(j));
        return EXIT_IOERR;
    }
    print_quarantined(stdout, q);
    return EXIT_OK;
}

int
cmd_status(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"check", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_journal *j = NULL;
    struct quarantined q = {NULL, 0};
    struct sp_stats st;
    struct sp_err e;
    int json = 0, check = 0, ch, ex;
    ctspool_rc rc;

    while ((ch = getopt_long(argc, argv, "jch", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
            break;
        case 'c':
            check = 1;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint("status");
        }
    }
    if (optind != argc) {
        cli_error("status", "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint("status");
    }
    ex = cli_journal_existing(c, "status", &j);
    if (ex) {
        /* A quarantine may be why there is no journal (yet). */
        if (c->cfg &&
            sp_journal_quarantined(c->cfg->journal, &q.names, &q.n, &e) ==
                CTSPOOL_OK) {
            print_quarantined(stderr, &q);
        }
        sp_journal_quarantined_free(q.names, q.n);
        return ex;
    }
    rc = sp_journal_stats(j, &st);
    if (rc == CTSPOOL_OK && (check || st.journal_bytes <= CHECK_MAX_BYTES)) {
        rc = sp_journal_check_pages(j);
    }
    if (rc == CTSPOOL_OK &&
        sp_journal_quarantined(c->cfg->journal, &q.names, &q.n, &e) !=
            CTSPOOL_OK) {
        cli_error("status", "%s", e.msg);
        ex = EXIT_IOERR;
    } else if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("status", "%s", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    } else if (json) {
        ex = print_json(j, &st, &q, (int64_t)time(NULL));
    } else {
        ex = print_text(j, &st, c->cfg->journal, &q, (int64_t)time(NULL));
    }
    sp_journal_quarantined_free(q.names, q.n);
    sp_journal_close(j);
    return ex;
}
