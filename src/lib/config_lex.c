/*
 * config_lex.c -- the pre-lexer run over the text of a configuration file
 * before libconfig parses it: integer literals beyond 32 bits get
 * libconfig's int64 suffix, and @include is refused.  It knows strings,
 * comments, names and numbers, and nothing of the settings.
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
    unsigned line = 1;
    int big;
    ctspool_rc rc = CTSPOOL_E_CONFIG;

    *out = NULL;
    /* Each "L" follows a literal of at least 10 characters. */
    b = malloc(len + len / 10 + 2);
    if (!b) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    while (i < len) {
        char ch = in[i];
        char next = (char)(i + 1 < len ? in[i + 1] : '\0');

        if (ch == '"') {
            /* A string; a backslash escapes the next character. */
            b[o++] = in[i++];
            while (i < len && in[i] != '"') {
                if (in[i] == '\\' && i + 1 < len) {
                    b[o++] = in[i++];
                }
                line += in[i] == '\n';
                b[o++] = in[i++];
            }
            if (i < len) {
                b[o++] = in[i++];
            }
        } else if (ch == '#' || (ch == '/' && next == '/')) {
            while (i < len && in[i] != '\n') {
                b[o++] = in[i++];
            }
        } else if (ch == '/' && next == '*') {
            b[o++] = in[i++];
            b[o++] = in[i++];
            while (i < len) {
                if (in[i] == '*' && i + 1 < len && in[i + 1] == '/') {
                    b[o++] = in[i++];
                    b[o++] = in[i++];
                    break;
                }
                line += in[i] == '\n';
                b[o++] = in[i++];
            }
        } else if (ch == '@') {
            sp_err_set(e, "%s:%u: @include is not supported", path, line);
            goto out;
        } else if (is_name_start((unsigned char)ch)) {
            while (i < len && is_name_char((unsigned char)in[i])) {
                b[o++] = in[i++];
            }
        } else if (isdigit((unsigned char)ch) ||
                   ((ch == '-' || ch == '+' || ch == '.') &&
                    isdigit((unsigned char)next))) {
            n = number_len(in + i, len - i);
            if (int_literal_big(in + i, n, &big) != 0) {
                sp_err_set(e, "%s:%u: integer %.*s is out of range", path,
                           line, (int)(n > 40 ? 40 : n), in + i);
                goto out;
            }
            memcpy(b + o, in + i, n);
            o += n;
            i += n;
            if (big) {
                b[o++] = 'L';
            }
        } else {
            line += ch == '\n';
            b[o++] = in[i++];
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
