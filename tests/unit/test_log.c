/*
 * test_log.c -- unit tests of log.c's line formats: logfmt quotes a
 * value only when it must and escapes quotes, backslashes and control
 * characters; a JSON line is one valid object with the four keys, whose
 * strings read back as given (bad UTF-8 replaced); the level and format
 * words parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sp_int.h"

#define TS "2026-11-26T08:00:00.123Z"

static void
check_logfmt(const char *msg, const char *want_msg_field)
{
    char want[512];
    char *line = sp_log_line(SP_LOG_LOGFMT, TS, "info", "drain", msg);

    assert_non_null(line);
    snprintf(want, sizeof(want),
             "ts=" TS " level=info component=drain msg=%s", want_msg_field);
    assert_string_equal(line, want);
    free(line);
}

static void
test_logfmt_plain_word_unquoted(void **state)
{
    (void)state;
    check_logfmt("started", "started");
    check_logfmt("ok:1,2/3", "ok:1,2/3");
}

static void
test_logfmt_quotes_when_needed(void **state)
{
    (void)state;
    check_logfmt("uploaded 1000 points", "\"uploaded 1000 points\"");
    check_logfmt("a=b", "\"a=b\"");
    check_logfmt("", "\"\"");
    check_logfmt("tab\there", "\"tab\\there\"");
    check_logfmt("caf\xc3\xa9 ok", "\"caf\xc3\xa9 ok\"");
    check_logfmt("caf\xc3\xa9", "caf\xc3\xa9");
}

static void
test_logfmt_escapes(void **state)
{
    (void)state;
    check_logfmt("say \"hi\"", "\"say \\\"hi\\\"\"");
    check_logfmt("\"", "\"\\\"\"");
    check_logfmt("C:\\dir", "\"C:\\\\dir\"");
    check_logfmt("two\nlines\r", "\"two\\nlines\\r\"");
    check_logfmt("bell\a esc\x1b del\x7f", "\"bell\\u0007 esc\\u001b "
                                           "del\\u007f\"");
}

static void
test_logfmt_one_line(void **state)
{
    char *line;

    (void)state;
    line = sp_log_line(SP_LOG_LOGFMT, TS, "error", "serve",
                       "x\ny=\"z\"\n\\");
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    assert_string_equal(line, "ts=" TS " level=error component=serve "
                              "msg=\"x\\ny=\\\"z\\\"\\n\\\\\"");
    free(line);
}

/* The line parses as one JSON object with exactly the four strings. */
static void
check_json(const char *msg, const char *want_msg)
{
    static const char *const keys[] = {"ts", "level", "component", "msg"};
    const char *want[] = {TS, "warn", "drain", want_msg};
    char *line = sp_log_line(SP_LOG_JSON, TS, "warn", "drain", msg);
    const char *end = NULL;
    cJSON *obj, *item;

    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    obj = cJSON_ParseWithOpts(line, &end, 1);
    assert_non_null(obj);
    assert_true(cJSON_IsObject(obj));
    assert_int_equal(cJSON_GetArraySize(obj), 4);
    for (size_t i = 0; i < 4; i++) {
        item = cJSON_GetObjectItemCaseSensitive(obj, keys[i]);
        assert_true(cJSON_IsString(item));
        assert_string_equal(item->valuestring, want[i]);
    }
    cJSON_Delete(obj);
    free(line);
}

static void
test_json_valid_and_exact(void **state)
{
    (void)state;
    check_json("uploaded 1000 points", "uploaded 1000 points");
    check_json("", "");
    check_json("say \"hi\" C:\\dir", "say \"hi\" C:\\dir");
    check_json("two\nlines\t\x01\x1f", "two\nlines\t\x01\x1f");
    check_json("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");
}

static void
test_json_bad_utf8_replaced(void **state)
{
    (void)state;
    check_json("bad \xff here \xc3", "bad \xef\xbf\xbd here \xef\xbf\xbd");
    check_json("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void
test_parse_words(void **state)
{
    (void)state;
    assert_int_equal(sp_log_level_parse("error"), SP_LOG_ERROR);
    assert_int_equal(sp_log_level_parse("debug"), SP_LOG_DEBUG);
    assert_int_equal(sp_log_level_parse("DEBUG"), -1);
    assert_int_equal(sp_log_level_parse(""), -1);
    assert_int_equal(sp_log_format_parse("logfmt"), SP_LOG_LOGFMT);
    assert_int_equal(sp_log_format_parse("json"), SP_LOG_JSON);
    assert_int_equal(sp_log_format_parse("text"), -1);
}

/* A secret masked: at most its last 4 characters, none of one of 8 or
 * fewer characters, counted in characters, not bytes. */
static void
test_mask(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(sp_mask("", buf, sizeof(buf)), "(none)");
    assert_string_equal(sp_mask("abcdefgh", buf, sizeof(buf)), "****");
    assert_string_equal(sp_mask("abcdefghi", buf, sizeof(buf)), "****fghi");
    /* 5 characters of 2 bytes each: short, so nothing shows. */
    assert_string_equal(sp_mask("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                                buf, sizeof(buf)),
                        "****");
    /* 9 characters, the last 4 of them 2 bytes each. */
    assert_string_equal(sp_mask("abcde\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", buf,
                                sizeof(buf)),
                        "****\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_plain_word_unquoted),
        cmocka_unit_test(test_logfmt_quotes_when_needed),
        cmocka_unit_test(test_logfmt_escapes),
        cmocka_unit_test(test_logfmt_one_line),
        cmocka_unit_test(test_json_valid_and_exact),
        cmocka_unit_test(test_json_bad_utf8_replaced),
        cmocka_unit_test(test_parse_words),
        cmocka_unit_test(test_mask),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
