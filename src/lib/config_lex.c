/*
 * config_lex.c -- the pre-lexer run over the text of a configuration file
 * before libconfig parses it: integer literals beyond 32 bits get
 * libconfig's int64 suffix, and @include is refused; and the names of
 * the settings on a line, for libconfig's errors, which give only the
 * line.  It knows strings, comments, names and numbers, and nothing of
 * the settings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "sp_int.h"

static int
is_name_start(int ch)
{
    return isalpha(ch) || ch == '*';
}

static int
is_name_char(int ch)
{
    return isalnum(ch) || ch == '*' || ch == '-' || ch == '_';
}

/*
 * Length of the number-like token at tok (at most len bytes): a sign,
 * then letters, digits and dots, and a sign right after a decimal
 * exponent's "e".
 */
static size_t
number_len(const char *tok, size_t len)
{
    int is_hex = len > 1 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
    size_t j = 1;

    while (j < len) {
        unsigned char ch = (unsigned char)tok[j];

        if (isalnum(ch) || ch == '.' ||
            ((ch == '-' || ch == '+') && !is_hex &&
             (tok[j - 1] == 'e' || tok[j - 1] == 'E'))) {
            j++;
        } else {
            break;
        }
    }
    return j;
}

/*
 * Is the token an integer literal libconfig reads as 32-bit (decimal
 * "[-+]?[0-9]+" or hex "0x[0-9a-f]+", no suffix) whose value needs 64
 * bits?  Sets *big.  Returns -1 if it does not fit in 64 bits either.
 */
static int
int_literal_big(const char *tok, size_t len, int *big)
{
    char num[32];
    const char *p;
    int is_hex = len > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
    unsigned long long u;
    long long v;

    *big = 0;
    p = is_hex ? tok + 2 : tok + (tok[0] == '-' || tok[0] == '+');
    if (p == tok + len) {
        return 0;
    }
    for (; p < tok + len; p++) {
        if (is_hex ? !isxdigit((unsigned char)*p)
                   : !isdigit((unsigned char)*p)) {
            return 0; /* a float, a suffixed integer, or garbage */
        }
    }
    if (len >= sizeof(num)) {
        return -1;
    }
    memcpy(num, tok, len);
    num[len] = '\0';
    errno = 0;
    if (is_hex) {
        u = strtoull(num, NULL, 16);
        if (errno == ERANGE || u > (unsigned long long)INT64_MAX) {
            return -1;
        }
        *big = u > (unsigned long long)INT32_MAX;
    } else {
        v = strtoll(num, NULL, 10);
        if (errno == ERANGE) {
            return -1;
        }
        *big = v < INT32_MIN || v > INT32_MAX;
    }
    return 0;
}

/* What the pre-lexer tells apart. */
enum tok {
    TOK_STRING,  /* "...", a backslash escaping the next character */
    TOK_COMMENT, /* # or // to the end of the line, or slash-star */
    TOK_AT,      /* @ (@include) */
    TOK_NAME,
    TOK_NUMBER,
    TOK_OTHER    /* one character */
};

/*
 * The token that starts at in[i]: its kind, its length into *n (at least
 * 1) and the newlines in it into *newlines.  A line comment ends before
 * its newline.
 */
static enum tok
token(const char *in, size_t len, size_t i, size_t *n, unsigned *newlines)
{
    char ch = in[i];
    char next = (char)(i + 1 < len ? in[i + 1] : '\0');
    size_t j = i + 1;
    enum tok t = TOK_OTHER;

    *newlines = 0;
    if (ch == '"') {
        t = TOK_STRING;
        while (j < len && in[j] != '"') {
            j += in[j] == '\\' && j + 1 < len;
            *newlines += in[j] == '\n';
            j++;
        }
        j += j < len;
    } else if (ch == '#' || (ch == '/' && next == '/')) {
        t = TOK_COMMENT;
        while (j < len && in[j] != '\n') {
            j++;
        }
    } else if (ch == '/' && next == '*') {
        t = TOK_COMMENT;
        for (j = i + 2; j < len; j++) {
            if (in[j] == '*' && j + 1 < len && in[j + 1] == '/') {
                j += 2;
                break;
            }
            *newlines += in[j] == '\n';
        }
    } else if (ch == '@') {
        t = TOK_AT;
    } else if (is_name_start((unsigned char)ch)) {
        t = TOK_NAME;
        while (j < len && is_name_char((unsigned char)in[j])) {
            j++;
        }
    } else if (isdigit((unsigned char)ch) ||
               ((ch == '-' || ch == '+' || ch == '.') &&
                isdigit((unsigned char)next))) {
        t = TOK_NUMBER;
        j = i + number_len(in + i, len - i);
    } else {
        *newlines = ch == '\n';
    }
    *n = j - i;
    return t;
}

/*
 * sp_config_promote_int64 -- copy the text in[0..len) to a new buffer
 * *out, appending the int64 suffix "L" to every integer literal that does
 * not fit in 32 bits.
 *
 * Why: libconfig 1.5 (Debian's) reads an unsuffixed literal with atoi(),
 * so 17179869184 -- the max_journal_bytes of DESIGN.md's example --
 * silently becomes 0.  Strings and comments are copied untouched and no
 * newline is added, so libconfig's line numbers stay right.  A literal
 * beyond 64 bits is an error; so is @include, which ctspool does not
 * support (an included file would escape this rewrite and the
 * permission check).
 */
ctspool_rc
sp_config_promote_int64(const char *path, const char *in, size_t len,
                        char **out, struct sp_err *e)
{
    char *b;
    size_t i = 0, o = 0, n;
    unsigned line = 1, newlines;
    int big;
    ctspool_rc rc = CTSPOOL_E_CONFIG;

    *out = NULL;
    /* Each "L" follows a literal of at least 10 characters. */
    b = malloc(len + len / 10 + 2);
    if (!b) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    for (; i < len; i += n, line += newlines) {
        enum tok t = token(in, len, i, &n, &newlines);

        if (t == TOK_AT) {
            sp_err_set(e, "%s:%u: @include is not supported", path, line);
            goto out;
        }
        if (t == TOK_NUMBER && int_literal_big(in + i, n, &big) != 0) {
            sp_err_set(e, "%s:%u: integer %.*s is out of range", path, line,
                       (int)(n > 40 ? 40 : n), in + i);
            goto out;
        }
        memcpy(b + o, in + i, n);
        o += n;
        if (t == TOK_NUMBER && big) {
            b[o++] = 'L';
        }
    }
    b[o] = '\0';
    rc = CTSPOOL_OK;
out:
    if (rc == CTSPOOL_OK) {
        *out = b;
    } else {
        explicit_bzero(b, o);
        free(b);
    }
    return rc;
}

void
sp_config_names_on_line(const char *in, size_t len, unsigned at_line,
                        char *out, size_t out_len)
{
    size_t i = 0, n, o = 0;
    unsigned line = 1, newlines;

    if (out_len) {
        out[0] = '\0';
    }
    for (; i < len && line <= at_line; i += n, line += newlines) {
        size_t k;

        if (token(in, len, i, &n, &newlines) != TOK_NAME ||
            line != at_line) {
            continue;
        }
        /* A name is a setting's where '=' or ':' follows it. */
        for (k = i + n; k < len && (in[k] == ' ' || in[k] == '\t'); k++) {
        }
        if (k < len && (in[k] == '=' || in[k] == ':') &&
            o + n + 3 < out_len) {
            o += (size_t)snprintf(out + o, out_len - o, "%s%.*s",
                                  o ? ", " : "", (int)n, in + i);
        }
    }
}
