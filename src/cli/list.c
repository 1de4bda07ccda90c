/*
 * list.c -- `ctspool list [--pending|--acked|--all] [--json]` and its
 * filters: the journal's points and events as NDJSON or a table.  Also
 * the row printer that `dlq list` shares.  Stream tokens are masked.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "event.h"
#include "list.h"

static void
help(FILE *f)
{
    fprintf(f, "usage: ctspool list [--pending|--acked|--dead|--all] "
               "[--json]\n"
               "                    [--stream TOKEN] [--metric NAME] "
               "[--agg FUNC]\n"
               "                    [--kind points|events] [--since TS] "
               "[--until TS]\n"
               "                    [--limit N]\n"
               "\n"
               "Lists the journal's points and events (default --all:\n"
               "pending, then acknowledged, then dead letters), each with\n"
               "its kind, point or event.  --json prints one JSON object\n"
               "per line: a point's metric_* fields, custom_dimensions,\n"
               "metric_value and stream (masked); an event's event_id,\n"
               "team_id, type, description and event_url.\n"
               "\n"
               "Filters (combinable; a row must match them all; --stream,\n"
               "--metric and --agg match points only):\n"
               "  --stream TOKEN  that data stream token exactly (shown\n"
               "                  masked)\n"
               "  --metric NAME   that metric name exactly\n"
               "  --agg FUNC      Sum, Average, Maximum or Minimum\n"
               "  --kind KIND     points or events only\n"
               "  --since TS      hours at or after TS (inclusive)\n"
               "  --until TS      hours before TS (exclusive)\n"
               "  --limit N       at most N rows in all (N >= 1)\n"
               "TS is a timestamp as input takes it: \"YYYY-MM-DD "
               "HH:00:00\",\n"
               "\"YYYY-MM-DDTHH:00:00Z\" or Unix seconds, on the hour.\n");
}

/*
 * Text from the journal for a terminal table: control characters and
 * the invisible direction marks (which could disguise what is shown)
 * are escaped; the rest of the (valid) UTF-8 passes through.  Writes at
 * most cap bytes including the NUL.
 */
static const char *
safe_text(const char *s, char *buf, size_t cap)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;

    for (size_t i = 0; u[i] && o + 8 < cap; i++) {
        unsigned cp = 0;

        if (u[i] == 0xe2 && u[i + 1] == 0x80 && u[i + 2]) {
            cp = 0x2000u | ((u[i + 1] & 0x3fu) << 6) | (u[i + 2] & 0x3fu);
        } else if (u[i] == 0xe2 && u[i + 1] == 0x81 && u[i + 2]) {
            cp = 0x2040u | (u[i + 2] & 0x3fu);
        }
        if ((cp >= 0x200e && cp <= 0x200f) || (cp >= 0x202a &&
                                                cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069)) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", cp);
            i += 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", u[i]);
        } else {
            buf[o++] = (char)u[i];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* s[0..len) under key k of o; null when s is NULL. */
static void
add_text_n(cJSON *o, const char *k, const char *s, size_t len)
{
    char *copy = s ? strndup(s, len) : NULL;

    if (copy) {
        cJSON_AddStringToObject(o, k, copy);
    } else {
        cJSON_AddNullToObject(o, k);
    }
    free(copy);
}

/*
 * The event of a row of the events group (stored as upstream's element,
 * schema 0007) into ev, the strings pointing into js; a row that
 * does not parse keeps its type (the series' name) and nothing else.
 */
static void
row_event(const struct sp_list_row *r, struct sp_jscan *js,
          struct sp_event *ev)
{
    struct sp_err e = {0};

    if (sp_event_from_element(r->dims, r->hour, js, ev, &e) !=
        CTSPOOL_OK) {
        memset(ev, 0, sizeof(*ev));
        ev->hour = r->hour;
        ev->type = r->name;
        ev->type_len = strlen(r->name);
    }
}

/* ev's team_id (null when none), then with_type its type, then its
 * description and event_url (null when none), into o. */
static void
add_event(cJSON *o, const struct sp_event *ev, int with_type)
{
    if (ev->team_id > 0) {
        char team[24];

        /* Exact: a cJSON number would print 5000000000000001 as 5e+15. */
        snprintf(team, sizeof(team), "%lld", (long long)ev->team_id);
        cJSON_AddItemToObject(o, "team_id", cJSON_CreateRaw(team));
    } else {
        cJSON_AddNullToObject(o, "team_id");
    }
    if (with_type) {
        add_text_n(o, "type", ev->type, ev->type_len);
    }
    add_text_n(o, "description", ev->description, ev->description_len);
    add_text_n(o, "event_url", ev->url, ev->url_len);
}

/* A dead letter's fields (after the row's own). */
static void
add_dead(cJSON *obj, const struct sp_list_row *r)
{
    const char *body = r->body ? r->body : "";
    size_t len = strlen(body);
    struct sp_buf text;

    /* Stored as upstream sent it before the drainer made it UTF-8
     * (journal_drain.c), or damaged: JSON needs UTF-8. */
    sp_buf_init(&text);
    if (!sp_utf8_valid(body, len) && sp_utf8_scrub(body, len, &text) == 0) {
        body = text.p;
    }
    cJSON_AddNumberToObject(obj, "status", r->status);
    cJSON_AddStringToObject(obj, "response", body);
    cJSON_AddNumberToObject(obj, "dead_at", (double)r->at);
    sp_buf_cleanup(&text);
}

/* A row of the events group: an event, in JSON or as a table row. */
static ctspool_rc
print_event(const struct list_opts *o, const struct sp_list_row *r,
            const char *rid, const char *ts)
{
    struct sp_jscan js;
    struct sp_event ev;
    ctspool_rc rc = CTSPOOL_OK;

    sp_jscan_init(&js);
    row_event(r, &js, &ev);
    if (o->json) {
        cJSON *obj = cJSON_CreateObject();

        if (r->dead_id) {
            cJSON_AddNumberToObject(obj, "id", (double)r->dead_id);
        }
        cJSON_AddStringToObject(obj, "kind", "event");
        cJSON_AddStringToObject(obj, "event_id", rid);
        cJSON_AddStringToObject(obj, "timestamp", ts);
        add_event(obj, &ev, 1);
        cJSON_AddStringToObject(obj, "state", r->state);
        if (r->dead_id) {
            add_dead(obj, r);
        }
        rc = cli_print_json(obj);
    } else {
        /* The description, team_id and event_url as DIMENSIONS. */
        char type[4 * SP_NAME_MAX], text[8192], body[256];
        cJSON *details = cJSON_CreateObject();
        char *dt;

        add_event(details, &ev, 0);
        dt = cJSON_PrintUnformatted(details);
        cJSON_Delete(details);
        snprintf(text, sizeof(text), "%.*s", (int)ev.type_len, ev.type);
        safe_text(text, type, sizeof(type));
        safe_text(dt ? dt : "{}", text, sizeof(text));
        cJSON_free(dt);
        if (r->dead_id && o->dlq) {
            printf("%-6lld %-4d %-5s %-19s %-8s %-24s %14s %s  %.60s\n",
                   (long long)r->dead_id, r->status, "event", ts, "-", type,
                   "-", text,
                   safe_text(r->body ? r->body : "", body, sizeof(body)));
        } else {
            printf("%-5s %-8s %-19s %-8s %-24s %14s %s %s %.12s\n", "event",
                   r->state, ts, "-", type, "-", text, "-", rid);
        }
    }
    sp_jscan_cleanup(&js);
    return rc;
}

ctspool_rc
cli_print_row(void *ctx, const struct sp_list_row *r)
{
    const struct list_opts *o = ctx;
    char rid[2 * SP_RECORD_ID_LEN + 1];
    char ts[24], val[40], mask[32];

    sp_hex(r->record_id, SP_RECORD_ID_LEN, rid);
    sp_hour_format(r->hour, ts, sizeof(ts));
    if (r->agg == SP_KIND_EVENTS) {
        ctspool_rc rc = print_event(o, r, rid, ts);

        return rc != CTSPOOL_OK ? rc : ferror(stdout) ? CTSPOOL_E_IO : rc;
    }
    sp_double_format(r->value, val, sizeof(val));
    sp_mask(r->stream, mask, sizeof(mask));
    if (o->json) {
        cJSON *obj = cJSON_CreateObject();
        cJSON *dims = cJSON_Parse(r->dims);
        ctspool_rc rc;

        if (r->dead_id) {
            cJSON_AddNumberToObject(obj, "id", (double)r->dead_id);
        }
        cJSON_AddStringToObject(obj, "kind", "point");
        cJSON_AddStringToObject(obj, "record_id", rid);
        cJSON_AddStringToObject(obj, "metric_name", r->name);
        cJSON_AddStringToObject(obj, "metric_agg_func", sp_agg_name(r->agg));
        cJSON_AddItemToObject(obj, "custom_dimensions",
                              dims ? dims : cJSON_CreateObject());
        cJSON_AddStringToObject(obj, "timestamp", ts);
        cJSON_AddItemToObject(obj, "metric_value", cJSON_CreateRaw(val));
        cJSON_AddStringToObject(obj, "state", r->state);
        cJSON_AddStringToObject(obj, "stream", mask);
        if (r->dead_id) {
            add_dead(obj, r);
        }
        rc = cli_print_json(obj);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    } else {
        char name[4 * SP_NAME_MAX], dims[8192], body[256];

        safe_text(r->name, name, sizeof(name));
        safe_text(r->dims, dims, sizeof(dims));
        if (r->dead_id && o->dlq) {
            printf("%-6lld %-4d %-5s %-19s %-8s %-24s %14s %s  %.60s\n",
                   (long long)r->dead_id, r->status, "point", ts,
                   sp_agg_name(r->agg), name, val, dims,
                   safe_text(r->body ? r->body : "", body, sizeof(body)));
        } else {
            printf("%-5s %-8s %-19s %-8s %-24s %14s %s %s %.12s\n", "point",
                   r->state, ts, sp_agg_name(r->agg), name, val, dims, mask,
                   rid);
        }
    }
    return ferror(stdout) ? CTSPOOL_E_IO : CTSPOOL_OK;
}

/* N of --limit: a positive decimal integer, nothing else.  0 or 64. */
static int
parse_limit(const char *arg, uint64_t *n)
{
    unsigned long long v;
    char *end;

    errno = 0;
    v = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
    if (v == 0 || errno || *end || v > (unsigned long long)INT64_MAX) {
        cli_error("list", "--limit: expected a positive integer, got '%s'",
                  arg);
        return EXIT_USAGE;
    }
    *n = (uint64_t)v;
    return 0;
}

/* The hour of --since/--until's TS into *hour.  0 or 64. */
static int
parse_ts(const char *opt, const char *arg, int64_t *hour)
{
    struct sp_err e = {0};

    if (sp_valid_timestamp_str(arg, strlen(arg), hour, &e) != CTSPOOL_OK) {
        cli_error("list", "%s: %s", opt, e.msg);
        return EXIT_USAGE;
    }
    return 0;
}

/* Parses the options into *what and *f; 0, or the exit code (shown). */
static int
parse_args(int argc, char **argv, unsigned *what, struct list_opts *o,
           struct sp_list_filter *f)
{
    static const struct option opts[] = {
        {"pending", no_argument, NULL, 'p'},
        {"acked", no_argument, NULL, 'a'},
        {"dead", no_argument, NULL, 'd'},
        {"all", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"stream", required_argument, NULL, 's'},
        {"metric", required_argument, NULL, 'm'},
        {"agg", required_argument, NULL, 'g'},
        {"kind", required_argument, NULL, 'k'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_err e = {0};
    int ch, ex = 0;

    while ((ch = getopt_long(argc, argv, "padAjh", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            *what |= SP_LIST_PENDING;
            break;
        case 'a':
            *what |= SP_LIST_ACKED;
            break;
        case 'd':
            *what |= SP_LIST_DEAD;
            break;
        case 'A':
            *what |= SP_LIST_PENDING | SP_LIST_ACKED | SP_LIST_DEAD;
            break;
        case 'j':
            o->json = 1;
            break;
        case 's':
            if (!optarg[0]) {
                cli_error("list", "--stream: empty token");
                return EXIT_USAGE;
            }
            f->stream = optarg;
            break;
        case 'm':
            if (!optarg[0]) {
                cli_error("list", "--metric: empty name");
                return EXIT_USAGE;
            }
            f->metric = optarg;
            break;
        case 'g':
            if (sp_valid_agg(optarg, strlen(optarg), &f->agg, &e) !=
                CTSPOOL_OK) {
                cli_error("list", "--agg: %s", e.msg);
                return EXIT_USAGE;
            }
            break;
        case 'k':
            if (strcmp(optarg, "points") == 0) {
                f->kind = SP_LIST_KIND_POINTS;
            } else if (strcmp(optarg, "events") == 0) {
                f->kind = SP_LIST_KIND_EVENTS;
            } else {
                cli_error("list", "--kind: expected points or events, "
                                  "got '%s'",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case 'S':
            f->has_since = 1;
            ex = parse_ts("--since", optarg, &f->since_hour);
            break;
        case 'U':
            f->has_until = 1;
            ex = parse_ts("--until", optarg, &f->until_hour);
            break;
        case 'n':
            ex = parse_limit(optarg, &f->limit);
            break;
        case 'h':
            help(stdout);
            return -1;
        default:
            return cli_usage_hint("list");
        }
        if (ex) {
            return ex;
        }
    }
    if (optind != argc) {
        cli_error("list", "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint("list");
    }
    return 0;
}

int
cmd_list(struct cli *c, int argc, char **argv)
{
    struct sp_list_filter f = SP_LIST_FILTER_ALL;
    struct list_opts o = {0};
    struct sp_journal *j = NULL;
    unsigned what = 0;
    int ex;
    ctspool_rc rc = CTSPOOL_OK;

    ex = parse_args(argc, argv, &what, &o, &f);
    if (ex) {
        return ex < 0 ? EXIT_OK : ex;
    }
    if (!what) {
        what = SP_LIST_PENDING | SP_LIST_ACKED | SP_LIST_DEAD;
    }
    ex = cli_journal_existing(c, "list", &j);
    if (ex) {
        return ex;
    }
    if (!o.json) {
        printf("%-5s %-8s %-19s %-8s %-24s %14s %s %s %s\n", "KIND",
               "STATE", "TIMESTAMP", "AGG", "METRIC/TYPE", "VALUE",
               "DIMENSIONS/DETAILS", "STREAM", "RECORD");
    }
    rc = sp_journal_list_filtered(j, what, &f, cli_print_row, &o);
    if (rc != CTSPOOL_OK) {
        rc = cli_journal_failed(j, rc);
        cli_error("list", "%s", rc == CTSPOOL_E_IO && ferror(stdout)
                                    ? "cannot write to stdout"
                                    : sp_journal_errmsg(j));
        ex = cli_exit_code(rc);
    }
    sp_journal_close(j);
    return ex;
}
