/*
 * test_event.c -- Event Overlay events (event.c, DESIGN.md section 9):
 * the validation table of both forms (upstream's element, flat), with the
 * field each rejection names; the event ID against values computed
 * independently (Python's hashlib over the same canonical encoding), the
 * same for an event in either form and different when any field differs;
 * the input forms of `append --kind events` (event_input.c): CSV header
 * and rows, upstream's document with its error indexes, the stored form
 * read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "testutil.h"

struct vcase {
    const char *json;
    int flat_ok;
    const char *want; /* NULL: accepted; else the message (tu_msg_matches) */
};

static const struct vcase cases[] = {
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": 7, \"payload\": "
     "{\"type\": \"deploy\", \"description\": \"v1.2\", \"event_url\": "
     "\"https://ci.example/1\"}}",
     0, NULL},
    {"{\"timestamp\": 1664600400, \"payload\": {\"type\": \"t\", "
     "\"description\": \"d\"}}",
     0, NULL},
    {"{\"timestamp\": \"2022-10-01T05:00:00Z\", \"type\": \"t\", "
     "\"description\": \"d\", \"team_id\": null}",
     1, NULL},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"type\": \"t\", "
     "\"description\": \"d\"}",
     0, "payload: missing"},
    {"{\"timestamp\": \"2022-10-01 05:30:00\", \"payload\": {\"type\": "
     "\"t\", \"description\": \"d\"}}",
     0, "timestamp: *"},
    {"{\"payload\": {\"type\": \"t\", \"description\": \"d\"}}", 0,
     "timestamp: missing"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"\", \"description\": \"d\"}}",
     0, "payload.type: empty"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": "
     "{\"description\": \"d\"}}",
     0, "payload.type: missing"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"t\", \"description\": \"\"}}",
     0, "payload.description: empty*"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"t\", \"decscription\": \"d\"}}",
     0, "payload.decscription: unknown field; the field is spelled "
        "\"description\""},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"t\", \"description\": \"d\", \"event_url\": \"ftp://x\"}}",
     0, "payload.event_url: must start with http:// or https://"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"t\", \"description\": \"d\", \"event_url\": \"https:///x\"}}",
     0, "payload.event_url: no host after the scheme"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": 0, "
     "\"payload\": {\"type\": \"t\", \"description\": \"d\"}}",
     0, "team_id: *"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": 1.5, "
     "\"payload\": {\"type\": \"t\", \"description\": \"d\"}}",
     0, "team_id: *"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": \"7\", "
     "\"payload\": {\"type\": \"t\", \"description\": \"d\"}}",
     0, "team_id: *"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"colour\": 1, \"payload\": "
     "{\"type\": \"t\", \"description\": \"d\"}}",
     0, "unknown field \"colour\"*"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": {\"type\": "
     "\"t\", \"description\": \"d\", \"extra\": 1}}",
     0, "unknown field payload.\"extra\"*"},
    {"{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": [1]}", 0,
     "payload: must be an object*"},
    {"[1, 2]", 1, "an event must be a JSON object"},
};

/* json into js, which must take it. */
static void
scan(struct sp_jscan *js, const char *json)
{
    struct sp_err e;
    size_t end;

    if (sp_jscan_value(js, json, strlen(json), &end, &e) != CTSPOOL_OK) {
        fail_msg("not scanned: %s", e.msg);
    }
}

static void
test_validation_table(void **state)
{
    struct sp_jscan js;

    (void)state;
    sp_jscan_init(&js);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sp_event ev;
        struct sp_err e;
        ctspool_rc rc;

        scan(&js, cases[i].json);
        e.msg[0] = '\0';
        rc = sp_event_from_scan(&js, cases[i].flat_ok, &ev, &e);
        if (!cases[i].want) {
            if (rc != CTSPOOL_OK) {
                fail_msg("case %zu refused: %s", i, e.msg);
            }
        } else {
            assert_int_equal(rc, CTSPOOL_E_INVALID);
            assert_msg(e.msg, cases[i].want);
        }
    }
    sp_jscan_cleanup(&js);
}

/* More members than a scan keeps; a line with text after its event. */
static void
test_scan_limits(void **state)
{
    static const char line_bad[] = "{\"timestamp\": 1664600400, \"type\": "
                                   "\"t\", \"description\": \"d\"} {}";
    static const char line_cr[] = "{\"timestamp\": 1664600400, \"type\": "
                                  "\"t\", \"description\": \"d\"}\r";
    char json[4096];
    struct sp_jscan js;
    struct sp_event ev;
    struct sp_point p;
    struct sp_err e;
    size_t n;

    (void)state;
    sp_jscan_init(&js);
    n = (size_t)snprintf(json, sizeof(json), "{\"timestamp\": 1664600400, "
                         "\"payload\": {\"type\": \"t\", \"description\": "
                         "\"d\"}");
    for (int i = 0; i < 70; i++) {
        n += (size_t)snprintf(json + n, sizeof(json) - n, ", \"team_id\": 7");
    }
    snprintf(json + n, sizeof(json) - n, "}");
    scan(&js, json);
    assert_int_equal(sp_event_from_scan(&js, 0, &ev, &e), CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "the event has 72 members (an event has at "
                               "most 5)");
    /* Given twice: the last counts, as it always did. */
    scan(&js, "{\"timestamp\": 1664600400, \"team_id\": 7, \"team_id\": 8, "
              "\"payload\": {\"type\": \"t\", \"description\": \"d\"}}");
    assert_int_equal(sp_event_from_scan(&js, 0, &ev, &e), CTSPOOL_OK);
    assert_int_equal(ev.team_id, 8);
    assert_int_equal(sp_event_parse_line(line_bad, strlen(line_bad), &p,
                                         &js, &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "invalid JSON: unexpected text after the "
                               "object at byte offset 58 (one event per "
                               "line)");
    assert_int_equal(sp_event_parse_line(line_cr, strlen(line_cr), &p, &js,
                                         &e),
                     CTSPOOL_OK);
    assert_int_equal(p.agg, SP_KIND_EVENTS);
    sp_jscan_cleanup(&js);
}

static void
test_length_limits(void **state)
{
    char type[300], desc[4100], url[2100], json[8000];
    struct sp_event ev;
    struct sp_err e;
    struct sp_jscan js;

    (void)state;
    sp_jscan_init(&js);
    memset(type, 'a', 256);
    type[256] = '\0';
    /* 1,000 code points of 4 bytes each: accepted; one more: refused. */
    for (int i = 0; i < 1000; i++) {
        memcpy(desc + 4 * i, "\xf0\x9f\x9a\x80", 4);
    }
    desc[4000] = '\0';
    strcpy(url, "https://h/");
    memset(url + 10, 'p', 2038);
    url[2048] = '\0';
    snprintf(json, sizeof(json),
             "{\"timestamp\": 1664600400, \"type\": \"%s\", "
             "\"description\": \"%s\", \"event_url\": \"%s\"}",
             type, desc, url);
    scan(&js, json);
    assert_int_equal(sp_event_from_scan(&js, 1, &ev, &e), CTSPOOL_OK);
    sp_jscan_cleanup(&js);
    assert_int_equal(sp_event_check_type(type, 257, &e), CTSPOOL_E_INVALID);
    assert_msg(e.msg, "payload.type: longer than 256 bytes*");
    memcpy(desc + 4000, "x", 2);
    assert_int_equal(sp_event_check_description(desc, 4001, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "payload.description: 1001 characters, at most 1000");
    assert_int_equal(sp_event_check_description("\xc3", 1, &e),
                     CTSPOOL_E_INVALID);
    url[2048] = 'p';
    assert_int_equal(sp_event_check_url(url, 2049, &e), CTSPOOL_E_INVALID);
    assert_msg(e.msg, "payload.event_url: longer than 2048 bytes*");
    /* The host follows user information and comes before a port. */
    {
        static const char *const bad[] = {"https://ci@/job/1", "https://u@:80/",
                                          "http://u@", "https://a@b@/",
                                          "https://:80/x", "http://?q"};
        static const char *const good[] = {"https://ci@host/job/1",
                                           "http://h:8080", "https://[::1]/",
                                           "https://u:p@h.example/x#f"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(sp_event_check_url(bad[i], strlen(bad[i]), &e),
                             CTSPOOL_E_INVALID);
            assert_msg(e.msg, "payload.event_url: no host after the scheme");
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            assert_int_equal(
                sp_event_check_url(good[i], strlen(good[i]), &e), CTSPOOL_OK);
        }
    }
}

static void
test_team_cells(void **state)
{
    struct sp_err e;
    int64_t team = 0;

    (void)state;
    assert_int_equal(sp_event_team_str("42", 2, &team, &e), CTSPOOL_OK);
    assert_int_equal(team, 42);
    assert_int_equal(sp_event_team_str("0", 1, &team, &e), CTSPOOL_E_INVALID);
    assert_int_equal(sp_event_team_str("-3", 2, &team, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(sp_event_team_str("4x", 2, &team, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "team_id: *");
    /* Too large says so, by digits or by value; leading zeros count as
     * nothing. */
    assert_int_equal(sp_event_team_str("99999999999999999999", 20, &team,
                                       &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "team_id: larger than 9007199254740991*");
    assert_int_equal(sp_event_team_str("9007199254740992", 16, &team, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "team_id: larger than 9007199254740991*");
    assert_int_equal(sp_event_team_num(1e300, &team, &e), CTSPOOL_E_INVALID);
    assert_msg(e.msg, "team_id: larger than 9007199254740991*");
    assert_int_equal(sp_event_team_str("00000000000000000042", 20, &team,
                                       &e),
                     CTSPOOL_OK);
    assert_int_equal(team, 42);
    assert_int_equal(sp_event_team_str("9007199254740991", 16, &team, &e),
                     CTSPOOL_OK);
    assert_int_equal(team, 9007199254740991LL);
}

static void
hex_id(const char *json, int flat_ok, char out[65])
{
    uint8_t id[SP_EVENT_ID_LEN];
    struct sp_event ev;
    struct sp_err e;
    struct sp_jscan js;

    sp_jscan_init(&js);
    scan(&js, json);
    assert_int_equal(sp_event_from_scan(&js, flat_ok, &ev, &e), CTSPOOL_OK);
    assert_int_equal(sp_event_id(&ev, id), CTSPOOL_OK);
    sp_hex(id, sizeof(id), out);
    sp_jscan_cleanup(&js);
}

static void
test_event_id(void **state)
{
    char a[65], b[65], c[65];

    (void)state;
    hex_id("{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": 7, "
           "\"payload\": {\"type\": \"deploy\", \"description\": "
           "\"v1.2 to prod\", \"event_url\": \"https://ci.example/1\"}}",
           0, a);
    assert_string_equal(a, "fdab1d47fe782b52a1896ab94f241b102ae8f4ef289074"
                           "414699d49ab0e47fa5");
    /* The same event, flat, another timestamp spelling. */
    hex_id("{\"event_url\": \"https://ci.example/1\", \"type\": \"deploy\", "
           "\"team_id\": 7, \"timestamp\": \"2022-10-01T05:00:00Z\", "
           "\"description\": \"v1.2 to prod\"}",
           1, b);
    assert_string_equal(a, b);
    hex_id("{\"timestamp\": 1664600400, \"type\": \"incident\", "
           "\"description\": \"db failover\"}",
           1, c);
    assert_string_equal(c, "e30eb6e4244108511a0e490a997e99a91ba41014962b41"
                           "7f6f465cb6db09ac89");
    /* No team is not team 1; fields do not run into each other. */
    hex_id("{\"timestamp\": 1664600400, \"type\": \"incidentdb\", "
           "\"description\": \" failover\"}",
           1, b);
    assert_string_not_equal(b, c);
}

static void
test_csv(void **state)
{
    const char *hdr[] = {"team_id", "timestamp", "description", "type"};
    const size_t hl[] = {7, 9, 11, 4};
    const char *bad[] = {"timestamp", "type", "decscription"};
    const size_t bl[] = {9, 4, 12};
    const char *row[] = {"7", "2022-10-01 05:00:00", "v1.2 to prod",
                         "deploy"};
    const size_t rl[] = {1, 19, 12, 6};
    const char *row2[] = {"", "2022-10-01 05:00:00", "d", "x"};
    const size_t rl2[] = {0, 19, 1, 1};
    const char *row3[] = {"0", "2022-10-01 05:00:00", "d", "x"};
    const size_t rl3[] = {1, 19, 1, 1};
    size_t cols[SP_EVENT_CSV_COLS];
    struct sp_event ev;
    struct sp_point p;
    struct sp_err e;

    (void)state;
    assert_int_equal(sp_event_csv_header(bad, bl, 3, cols, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "unknown column \"decscription\" (events have "
                      "timestamp, type, description, event_url and "
                      "team_id); the column is spelled \"description\"");
    assert_int_equal(sp_event_csv_header(hdr, hl, 3, cols, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "no \"type\" column");
    assert_int_equal(sp_event_csv_header(hdr, hl, 4, cols, &e), CTSPOOL_OK);
    assert_int_equal(sp_event_csv_row(cols, row, rl, &p, &e), CTSPOOL_OK);
    assert_true(sp_event_uncarry(&p, &ev));
    assert_int_equal(ev.team_id, 7);
    assert_int_equal(ev.hour, 462389);
    assert_null(ev.url);
    assert_int_equal(sp_event_csv_row(cols, row2, rl2, &p, &e), CTSPOOL_OK);
    assert_true(sp_event_uncarry(&p, &ev));
    assert_int_equal(ev.team_id, 0);
    assert_int_equal(sp_event_csv_row(cols, row3, rl3, &p, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "team_id: *");
}

struct doc_seen {
    size_t ok, bad, last_bad;
    char msg[sizeof(((struct sp_err *)0)->msg)];
};

static ctspool_rc
doc_ok(void *ctx, const struct sp_point *p)
{
    struct doc_seen *d = ctx;

    assert_int_equal(p->agg, SP_KIND_EVENTS);
    d->ok++;
    return CTSPOOL_OK;
}

static ctspool_rc
doc_bad(void *ctx, size_t index, const struct sp_err *e)
{
    struct doc_seen *d = ctx;

    d->bad++;
    d->last_bad = index;
    snprintf(d->msg, sizeof(d->msg), "%s", e->msg);
    return CTSPOOL_OK;
}

static void
test_document(void **state)
{
    const char *doc =
        "{\"data\": [{\"timestamp\": \"2022-10-01 05:00:00\", "
        "\"payload\": {\"type\": \"a\", \"description\": \"b\"}}, "
        "{\"timestamp\": \"2022-10-01 05:00:00\", \"type\": \"a\", "
        "\"description\": \"flat is not upstream's\"}, "
        "{\"timestamp\": \"2022-10-01 05:00:00\", \"payload\": "
        "{\"type\": \"tab\\there\", \"description\": \"\\\"q\\\"\"}}]}  {";
    struct doc_seen d;
    struct sp_err e;
    size_t used = 0;

    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(sp_event_parse_doc(doc, strlen(doc), doc_ok, doc_bad,
                                        &d, NULL, &used, &e),
                     CTSPOOL_OK);
    assert_int_equal(d.ok, 2);
    assert_int_equal(d.bad, 1);
    assert_int_equal(d.last_bad, 1);
    assert_msg(d.msg, "payload: missing");
    assert_int_equal(doc[used], ' '); /* the next object starts later */
    memset(&d, 0, sizeof(d));
    assert_int_equal(sp_event_parse_doc("{\"data\": {}}", 12, doc_ok,
                                        doc_bad, &d, NULL, &used, &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "data: must be an array of events");
    assert_int_equal(sp_event_parse_doc("{\"data\": [], \"x\": 1}", 20,
                                        doc_ok, doc_bad, &d, NULL, &used,
                                        &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "unknown field \"x\" (an events document has only "
                      "\"data\")");
}

static void
test_stored_form(void **state)
{
    const char *json =
        "{\"timestamp\": \"2022-10-01 05:00:00\", \"team_id\": 7, "
        "\"payload\": {\"type\": \"de\\\"ploy\", \"description\": "
        "\"line\\none \\u00e9\", \"event_url\": \"https://ci.example/1\"}}";
    uint8_t a[SP_EVENT_ID_LEN], b[SP_EVENT_ID_LEN];
    struct sp_event ev, back;
    struct sp_buf buf;
    struct sp_err e;
    struct sp_jscan js, hold;

    (void)state;
    sp_jscan_init(&js);
    sp_jscan_init(&hold);
    scan(&js, json);
    assert_int_equal(sp_event_from_scan(&js, 0, &ev, &e), CTSPOOL_OK);
    sp_buf_init(&buf);
    assert_int_equal(sp_event_element_json(&ev, &buf), CTSPOOL_OK);
    assert_string_equal(buf.p,
                        "{\"team_id\":7,\"payload\":{\"type\":\"de\\\"ploy\","
                        "\"description\":\"line\\none \xc3\xa9\","
                        "\"event_url\":\"https://ci.example/1\"}}");
    assert_int_equal(sp_event_from_element(buf.p, ev.hour, &hold, &back, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_event_id(&ev, a), CTSPOOL_OK);
    assert_int_equal(sp_event_id(&back, b), CTSPOOL_OK);
    assert_memory_equal(a, b, SP_EVENT_ID_LEN);
    sp_jscan_cleanup(&hold);
    sp_jscan_cleanup(&js);
    sp_buf_cleanup(&buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),
        cmocka_unit_test(test_scan_limits),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_team_cells),
        cmocka_unit_test(test_event_id),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_stored_form),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
