/*
 * test_answer.c -- serve's answer buffer (src/serve/buf.c, compiled in),
 * above all ob_buf_add_json: every output is valid JSON (and UTF-8)
 * that decodes to the text given, bad bytes as U+FFFD; and for text
 * without control characters, DEL or bad bytes -- every message serve
 * answers with -- the bytes are those serve has always sent, checked
 * against the escaping it had before cJSON did it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "serve.h"

/* s[0..len) through ob_buf_add_json, as a malloc'd C string. */
static char *
json_of(const char *s, size_t len)
{
    struct sp_buf b;
    size_t n = 0;
    char *out;

    sp_buf_init(&b);
    ob_buf_add_json(&b, s, len);
    out = ob_buf_take(&b, &n);
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    return out;
}

/* The output is exactly want. */
static void
assert_json(const char *s, size_t len, const char *want)
{
    char *got = json_of(s, len);

    assert_string_equal(got, want);
    free(got);
}

/* The output is a valid JSON string, in UTF-8, decoding to want. */
static void
assert_decodes(const char *s, size_t len, const char *want)
{
    char *got = json_of(s, len);
    cJSON *v = cJSON_Parse(got);

    assert_true(sp_utf8_valid(got, strlen(got)));
    for (const char *p = got; *p; p++) {
        assert_true((unsigned char)*p >= 0x20);
    }
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
    cJSON_Delete(v);
    free(got);
}

/* ---- the escaping serve had before (reference) -------------------------- */

static size_t
ref_utf8_len(const unsigned char *s, size_t len)
{
    size_t n;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
    } else {
        return 0;
    }
    return n <= len && sp_utf8_valid((const char *)s, n) ? n : 0;
}

static void
ref_json(const char *s, size_t len, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0, n;

    out[o++] = '"';
    while (i < len) {
        if (u[i] == '"' || u[i] == '\\') {
            out[o++] = '\\';
            out[o++] = (char)u[i++];
        } else if (u[i] < 0x20 || u[i] == 0x7F) {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", u[i++]);
        } else if ((n = ref_utf8_len(u + i, len - i)) > 0) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            i++;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ---- tests --------------------------------------------------------------- */

static void
test_buf_json_exact(void **state)
{
    (void)state;
    assert_json("", 0, "\"\"");
    assert_json("abc", 3, "\"abc\"");
    assert_json("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    assert_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    assert_json("abcdef", 3, "\"abc\"");      /* len, not strlen */
    assert_json("ab\0cd", 5, "\"ab\"");       /* a NUL ends s */
    assert_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    assert_json("a\xff", 2, "\"a\xef\xbf\xbd\"");
    assert_json("\xc3", 1, "\"\xef\xbf\xbd\"");  /* cut short */
    /* The answers http.c builds, byte for byte. */
    {
        static const char msg[] =
            "metric_name: \"a\\\"b\" is 300 bytes long; at most 256 are "
            "allowed";
        struct sp_buf b;
        size_t n;
        char *body;

        sp_buf_init(&b);
        sp_buf_adds(&b, "{\"error\": ");
        ob_buf_add_json(&b, msg, strlen(msg));
        sp_buf_adds(&b, ", \"errors\": []}\n");
        body = ob_buf_take(&b, &n);
        assert_non_null(body);
        assert_string_equal(body,
                            "{\"error\": \"metric_name: \\\"a\\\\\\\"b\\\" is "
                            "300 bytes long; at most 256 are allowed\", "
                            "\"errors\": []}\n");
        free(body);
    }
}

/* Control characters, DEL and bad bytes: valid JSON, same text. */
static void
test_buf_json_valid(void **state)
{
    char in[2], want[8];

    (void)state;
    assert_decodes("\b\f\n\r\t", 5, "\b\f\n\r\t");
    assert_decodes("x\x7fy", 3, "x\x7fy");
    assert_decodes("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
    assert_decodes("\xed\xa0\x80", 3,                          /* surrogate */
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_decodes("\xf4\x90\x80\x80", 4, /* past U+10FFFF */
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_decodes("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    /* Every byte on its own. */
    for (int c = 1; c < 256; c++) {
        in[0] = (char)c;
        in[1] = '\0';
        if (c < 0x80) {
            memcpy(want, in, 2);
        } else {
            memcpy(want, "\xef\xbf\xbd", 4);
        }
        assert_decodes(in, 1, want);
    }
}

/*
 * Random text without control characters, DEL or bad bytes: exactly the
 * bytes the escaping before cJSON gave.  With them: valid JSON still.
 */
static void
test_buf_json_as_before(void **state)
{
    static const char *const parts[] = {
        "a", "Z", " ", "\"", "\\", "/", "{", ":", "0", "~", "\xc3\xa9",
        "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbd", "\xc2\xa0",
        "\xe2\x80\xae", "'", "%s", "\\u0000"};
    static const char *const bad[] = {"\n", "\x01", "\x7f", "\xff",
                                      "\xc3", "\xed\xa0\x80"};
    uint64_t r = 42;
    char in[256], want[2048];
    char *got;
    size_t len;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        int n_parts = (int)(r % 12), with_bad = i % 4 == 0;

        len = 0;
        for (int k = 0; k < n_parts; k++) {
            const char *p;

            r = r * 6364136223846793005u + 1442695040888963407u;
            p = with_bad && (r >> 60) == 0
                    ? bad[(r >> 33) % SP_ARRAY_LEN(bad)]
                    : parts[(r >> 33) % SP_ARRAY_LEN(parts)];
            memcpy(in + len, p, strlen(p));
            len += strlen(p);
        }
        r = r * 6364136223846793005u + 1442695040888963407u;
        got = json_of(in, len);
        if (!with_bad) {
            ref_json(in, len, want);
            assert_string_equal(got, want);
        } else {
            cJSON *v = cJSON_Parse(got);

            assert_non_null(v);
            assert_true(sp_utf8_valid(got, strlen(got)));
            cJSON_Delete(v);
        }
        free(got);
    }
}

/* After a failure, nothing more is added and take gives NULL. */
static void
test_buf_failure_sticks(void **state)
{
    struct sp_buf b;
    size_t n = 7;
    char *s;

    (void)state;
    sp_buf_init(&b);
    sp_buf_addf(&b, "%d-%s", 12, "ab");
    ob_buf_add_json(&b, "x", 1);
    s = ob_buf_take(&b, &n);
    assert_string_equal(s, "12-ab\"x\"");
    assert_int_equal(n, 8);
    free(s);

    sp_buf_init(&b);
    sp_buf_adds(&b, "abc");
    b.has_failed = 1;
    ob_buf_add_json(&b, "x", 1);
    sp_buf_adds(&b, "def");
    assert_int_equal(b.len, 3);
    n = 7;
    assert_null(ob_buf_take(&b, &n));
    assert_int_equal(n, 7);
    assert_null(b.p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_json_exact),
        cmocka_unit_test(test_buf_json_valid),
        cmocka_unit_test(test_buf_json_as_before),
        cmocka_unit_test(test_buf_failure_sticks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
