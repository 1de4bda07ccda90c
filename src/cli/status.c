/*
 * status.c -- `ctspool status [--json]`: what is pending, acknowledged
 * and dead, the journal's size and the drainer's last results.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void
help(FILE *f)
{
    fprintf(f, "usage: ctspool status [--json]\n"
               "\n"
               "Shows pending, acknowledged and dead points, the journal's\n"
               "size, the age of the oldest pending point and the last upload\n"
               "result.  --json prints one JSON object.\n");
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t < 0) {
        snprintf(buf, len, "never");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
print_json(const struct sp_stats *st, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    char when[32];
    char *text;

#define NUM(k, v) cJSON_AddNumberToObject(o, k, (double)(v))
    NUM("pending_points", st->pending_points);
    NUM("acked_points", st->acked_points);
    NUM("dead_letters", st->dead_letters);
    NUM("journal_bytes", st->journal_bytes);
    if (st->oldest_pending_at >= 0) {
        NUM("oldest_pending_age_s",
            now > st->oldest_pending_at ? now - st->oldest_pending_at : 0);
    } else {
        cJSON_AddNullToObject(o, "oldest_pending_age_s");
    }
    if (st->last_upload_ok_at >= 0) {
        fmt_time(st->last_upload_ok_at, when, sizeof(when));
        cJSON_AddStringToObject(o, "last_upload_ok_at", when);
    } else {
        cJSON_AddNullToObject(o, "last_upload_ok_at");
    }
    if (st->last_upload_error[0]) {
        cJSON_AddStringToObject(o, "last_upload_error",
                                st->last_upload_error);
        fmt_time(st->last_upload_error_at, when, sizeof(when));
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
#undef NUM
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        cli_error("status", "out of memory");
        return EXIT_OSERR;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return EXIT_OK;
}

static void
print_text(const struct sp_stats *st, const char *journal, int64_t now)
{
    char when[32];

    printf("journal:           %s (%llu bytes)\n", journal,
           (unsigned long long)st->journal_bytes);
    printf("pending points:    %llu", (unsigned long long)st->pending_points);
    if (st->oldest_pending_at >= 0) {
        printf(" (oldest %llds old)",
               (long long)(now > st->oldest_pending_at
                               ? now - st->oldest_pending_at
                               : 0));
    }
    printf("\nacknowledged:      %llu\n",
           (unsigned long long)st->acked_points);
    printf("dead letters:      %llu\n", (unsigned long long)st->dead_letters);
    fmt_time(st->last_upload_ok_at, when, sizeof(when));
    printf("last upload ok:    %s\n", when);
    if (st->last_upload_error[0]) {
        fmt_time(st->last_upload_error_at, when, sizeof(when));
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
}

int
cmd_status(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_journal *j = NULL;
    struct sp_stats st;
    int json = 0, ch, ex;
    ctspool_rc rc;

    while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
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
        return ex;
    }
    rc = sp_journal_stats(j, &st);
    if (rc != CTSPOOL_OK) {
        cli_error("status", "%s", sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    } else if (json) {
        ex = print_json(&st, (int64_t)time(NULL));
    } else {
        print_text(&st, c->cfg->journal, (int64_t)time(NULL));
    }
    sp_journal_close(j);
    return ex;
}
