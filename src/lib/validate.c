/*
 * validate.c -- pure checks of untrusted point fields (DESIGN.md
 * section 2), shared by every producer path: the aggregation function,
 * metric_value, metric_name, data_stream_token and custom dimensions.
 * Timestamps are checked in timefmt.c; UTF-8 and the quoting of input in
 * messages are utf8.c's.  No I/O, no allocation, no global state: every
 * function is thread-safe.
 *
 * Invariants (of timefmt.c as well):
 * (1) A rejection returns CTSPOOL_E_INVALID with e->msg "FIELD: reason".
 * (2) Messages quote user input only through sp_utf8_quote(): at most
 *     SP_QUOTE_IN bytes, every byte that is not printable escaped as
 *     \xNN, so a message is always printable, valid UTF-8 and one line.
 * (3) The data_stream_token's value never appears in a message; one not
 *     in the streams list is shown masked (sp_mask_n: "****" and at most
 *     its last 4 characters).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int.h"
#include "utf8.h"

/* Longest metric_value string accepted (bytes). */
#define VALUE_STR_MAX 128

#define AGG_EXPECTED "(expected one of Sum, Average, Maximum, Minimum)"

static const char *const agg_names[SP_AGG_N] = {"Sum", "Average", "Maximum",
                                                "Minimum"};

/* ---- aggregation function -------------------------------------------- */

/* Upstream spelling of agg; NULL for a value outside enum sp_agg. */
const char *
sp_agg_name(int agg)
{
    if (agg < 0 || agg >= SP_AGG_N) {
        return NULL;
    }
    return agg_names[agg];
}

static int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* s[0..len) equals the NUL-terminated word, ignoring ASCII case. */
static int
eq_nocase(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);

    if (len != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)s[i]) !=
            ascii_lower((unsigned char)word[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * Exact spelling only; a different case or a common abbreviation gets a
 * "did you mean" hint.  *agg is set on OK only (as every output of the
 * sp_valid_* functions).
 */
ctspool_rc
sp_valid_agg(const char *s, size_t len, int *agg, struct sp_err *e)
{
    /* Common abbreviations worth a hint, besides a different case. */
    static const struct {
        const char *word;
        int agg;
    } aliases[] = {{"avg", SP_AGG_AVERAGE},
                   {"mean", SP_AGG_AVERAGE},
                   {"max", SP_AGG_MAXIMUM},
                   {"min", SP_AGG_MINIMUM}};
    char q[SP_QUOTE_BUF];
    int hint = -1;

    if (len == 0) {
        sp_err_set(e, "metric_agg_func: is empty " AGG_EXPECTED);
        return CTSPOOL_E_INVALID;
    }
    for (int i = 0; i < SP_AGG_N; i++) {
        size_t n = strlen(agg_names[i]);

        if (len == n && memcmp(s, agg_names[i], n) == 0) {
            *agg = i;
            return CTSPOOL_OK;
        }
        if (eq_nocase(s, len, agg_names[i])) {
            hint = i;
        }
    }
    for (size_t i = 0; hint < 0 && i < SP_ARRAY_LEN(aliases); i++) {
        if (eq_nocase(s, len, aliases[i].word)) {
            hint = aliases[i].agg;
        }
    }
    sp_utf8_quote(s, len, q, sizeof(q));
    if (hint >= 0) {
        sp_err_set(e,
                   "metric_agg_func: %s is not valid; did you mean \"%s\"? "
                   AGG_EXPECTED,
                   q, agg_names[hint]);
    } else {
        sp_err_set(e, "metric_agg_func: %s is not valid " AGG_EXPECTED, q);
    }
    return CTSPOOL_E_INVALID;
}

/* ---- metric_value ----------------------------------------------------- */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Count of decimal digits at s[*i..len); advances *i past them. */
static size_t
skip_digits(const char *s, size_t len, size_t *i)
{
    size_t start = *i;

    while (*i < len && is_digit(s[*i])) {
        (*i)++;
    }
    return *i - start;
}

/* s matches [+-]?(digits(.digits*)?|.digits)([eE][+-]?digits)? */
static int
is_decimal(const char *s, size_t len)
{
    size_t i = 0, n_int, n_frac = 0;

    if (i < len && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    n_int = skip_digits(s, len, &i);
    if (i < len && s[i] == '.') {
        i++;
        n_frac = skip_digits(s, len, &i);
    }
    if (n_int == 0 && n_frac == 0) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (skip_digits(s, len, &i) == 0) {
            return 0;
        }
    }
    return i == len;
}

/* s spells NaN or infinity the way strtod() would take it. */
static int
is_nonfinite_word(const char *s, size_t len)
{
    size_t i = 0;

    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        i = 1;
    }
    return (len - i >= 3 && (eq_nocase(s + i, 3, "nan") ||
                             eq_nocase(s + i, 3, "inf")));
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/*
 * The whole string must be a decimal number (no spaces, hex, NaN or
 * infinity) of at most VALUE_STR_MAX bytes whose value is a finite
 * double; an underflow to zero or a subnormal is accepted.
 */
ctspool_rc
sp_valid_value_str(const char *s, size_t len, double *v, struct sp_err *e)
{
    char q[SP_QUOTE_BUF];
    char buf[VALUE_STR_MAX + 1];
    char *end = NULL;
    double d;

    if (len == 0) {
        sp_err_set(e, "metric_value: is empty (expected a number)");
        return CTSPOOL_E_INVALID;
    }
    if (len > VALUE_STR_MAX) {
        sp_err_set(e,
                   "metric_value: %s is too long for a number (at most %d "
                   "characters)",
                   sp_utf8_quote(s, len, q, sizeof(q)), VALUE_STR_MAX);
        return CTSPOOL_E_INVALID;
    }
    if (!is_decimal(s, len)) {
        sp_utf8_quote(s, len, q, sizeof(q));
        if (is_space(s[0]) || is_space(s[len - 1])) {
            sp_err_set(e,
                       "metric_value: %s is not a number: remove the "
                       "spaces around it",
                       q);
        } else if (is_nonfinite_word(s, len)) {
            sp_err_set(e,
                       "metric_value: %s is not a finite number (NaN and "
                       "Infinity are not accepted)",
                       q);
        } else {
            sp_err_set(e, "metric_value: %s is not a decimal number", q);
        }
        return CTSPOOL_E_INVALID;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    d = strtod(buf, &end);
    /* XXX: strtod() follows LC_NUMERIC; a locale with a decimal comma
     * stops it early, which the end check turns into a rejection. */
    if (end != buf + len) {
        sp_err_set(e, "metric_value: %s is not a decimal number",
                   sp_utf8_quote(s, len, q, sizeof(q)));
        return CTSPOOL_E_INVALID;
    }
    if (!isfinite(d)) {
        sp_err_set(e, "metric_value: %s is out of range for a double",
                   sp_utf8_quote(s, len, q, sizeof(q)));
        return CTSPOOL_E_INVALID;
    }
    *v = d;
    return CTSPOOL_OK;
}

ctspool_rc
sp_valid_value_num(double v, struct sp_err *e)
{
    if (!isfinite(v)) {
        sp_err_set(e,
                   "metric_value: is not a finite number (NaN and "
                   "Infinity are not accepted)");
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

/* ---- strings ---------------------------------------------------------- */

/*
 * Length, NUL and UTF-8 checks of one string field.  Returns 1 if s
 * passes; else 0 with the reason ("is 300 bytes long; ...") in why.
 * Messages are only formatted on failure: this runs per field per point.
 */
static int
check_text(const char *s, size_t len, size_t max, char *why, size_t why_len)
{
    const char *nul;
    size_t bad;

    if (len > max) {
        snprintf(why, why_len, "is %zu bytes long; at most %zu are allowed",
                 len, max);
        return 0;
    }
    nul = len > 0 ? memchr(s, '\0', len) : NULL;
    if (nul) {
        snprintf(why, why_len, "contains a NUL byte (at byte %zu)",
                 (size_t)(nul - s));
        return 0;
    }
    bad = sp_utf8_bad_offset(s, len);
    if (bad < len) {
        snprintf(why, why_len, "is not valid UTF-8 (byte 0x%02x at offset %zu)",
                 (unsigned)(unsigned char)s[bad], bad);
        return 0;
    }
    return 1;
}

ctspool_rc
sp_valid_name(const char *s, size_t len, struct sp_err *e)
{
    char q[SP_QUOTE_BUF], why[96];

    if (len == 0) {
        sp_err_set(e, "metric_name: is empty");
        return CTSPOOL_E_INVALID;
    }
    if (!check_text(s, len, SP_NAME_MAX, why, sizeof(why))) {
        sp_err_set(e, "metric_name: %s %s", sp_utf8_quote(s, len, q, sizeof(q)),
                   why);
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_valid_stream(const char *s, size_t len, struct sp_err *e)
{
    const unsigned char *u = (const unsigned char *)s;
    char why[96];
    size_t i = 0, n;
    uint32_t cp = 0;

    /* The token is a secret: messages give lengths and offsets only. */
    if (len == 0) {
        sp_err_set(e, "data_stream_token: is empty");
        return CTSPOOL_E_INVALID;
    }
    if (!check_text(s, len, SP_STREAM_MAX, why, sizeof(why))) {
        sp_err_set(e, "data_stream_token: %s", why);
        return CTSPOOL_E_INVALID;
    }
    while (i < len) {
        n = sp_utf8_seq(u + i, len - i, &cp);
        assert(n > 0);
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            sp_err_set(e,
                       "data_stream_token: contains a control character "
                       "(such as a line break) at byte %zu",
                       i);
            return CTSPOOL_E_INVALID;
        }
        i += n;
    }
    return CTSPOOL_OK;
}

/* a[0..len) equals b (NUL-terminated), in a time that does not depend
 * on where they differ. */
static int
same_token(const char *a, size_t len, const char *b)
{
    unsigned char diff = 0;

    if (strlen(b) != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

/* s must have passed sp_valid_stream(): the masked part is printable. */
ctspool_rc
sp_valid_stream_listed(const struct sp_defaults *d, const char *s,
                       size_t len, struct sp_err *e)
{
    char masked[16];
    int found = 0;

    if (!d || d->n_streams == 0) {
        return CTSPOOL_OK;
    }
    /* No early exit: the time does not tell which entry matched. */
    for (size_t i = 0; i < d->n_streams; i++) {
        found |= same_token(s, len, d->streams[i]);
    }
    if (found) {
        return CTSPOOL_OK;
    }
    sp_err_set(e,
               "data_stream_token: \"%s\" is not in the streams list of "
               "the configuration",
               sp_mask_n(s, len, masked, sizeof(masked)));
    return CTSPOOL_E_INVALID;
}

/* ---- custom dimensions ------------------------------------------------ */

ctspool_rc
sp_valid_dim(const char *k, size_t k_len, const char *v, size_t v_len,
             struct sp_err *e)
{
    char q[SP_QUOTE_BUF], why[96];

    if (k_len == 0) {
        sp_err_set(e, "custom_dimensions: a key is empty (keys must have "
                      "at least one character)");
        return CTSPOOL_E_INVALID;
    }
    if (!check_text(k, k_len, SP_DIM_KEY_MAX, why, sizeof(why))) {
        sp_err_set(e, "custom_dimensions: key %s %s",
                   sp_utf8_quote(k, k_len, q, sizeof(q)), why);
        return CTSPOOL_E_INVALID;
    }
    if (!check_text(v, v_len, SP_DIM_VAL_MAX, why, sizeof(why))) {
        sp_err_set(e, "custom_dimensions: the value of key %s %s",
                   sp_utf8_quote(k, k_len, q, sizeof(q)), why);
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

/*
 * Validates the pair (sp_valid_dim) before appending it, so a caller
 * needs no separate check.  k and v are borrowed: p keeps the pointers.
 */
ctspool_rc
sp_point_add_dim(struct sp_point *p, const char *k, size_t k_len,
                 const char *v, size_t v_len, struct sp_err *e)
{
    struct sp_dim *dim;
    ctspool_rc rc;

    if (p->n_dims >= SP_MAX_DIMS) {
        sp_err_set(e, "custom_dimensions: more than %d pairs (upstream "
                      "accepts at most %d)",
                   SP_MAX_DIMS, SP_MAX_DIMS);
        return CTSPOOL_E_INVALID;
    }
    rc = sp_valid_dim(k, k_len, v, v_len, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    dim = &p->dims[p->n_dims++];
    dim->key = k;
    dim->key_len = k_len;
    dim->val = v;
    dim->val_len = v_len;
    return CTSPOOL_OK;
}

/* Bytewise key order; a key that is a prefix of another sorts first. */
int
sp_dim_cmp(const struct sp_dim *a, const struct sp_dim *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = n > 0 ? memcmp(a->key, b->key, n) : 0;

    if (c != 0) {
        return c;
    }
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

ctspool_rc
sp_point_finish(struct sp_point *p, struct sp_err *e)
{
    char q[SP_QUOTE_BUF];

    if (p->n_dims > SP_MAX_DIMS) {
        sp_err_set(e, "custom_dimensions: more than %d pairs (upstream "
                      "accepts at most %d)",
                   SP_MAX_DIMS, SP_MAX_DIMS);
        return CTSPOOL_E_INVALID;
    }
    /* Insertion sort: at most 10 elements. */
    for (size_t i = 1; i < p->n_dims; i++) {
        struct sp_dim cur = p->dims[i];
        size_t j = i;

        while (j > 0 && sp_dim_cmp(&p->dims[j - 1], &cur) > 0) {
            p->dims[j] = p->dims[j - 1];
            j--;
        }
        p->dims[j] = cur;
    }
    for (size_t i = 1; i < p->n_dims; i++) {
        if (sp_dim_cmp(&p->dims[i - 1], &p->dims[i]) == 0) {
            sp_utf8_quote(p->dims[i].key, p->dims[i].key_len, q, sizeof(q));
            sp_err_set(e, "custom_dimensions: key %s appears twice", q);
            return CTSPOOL_E_INVALID;
        }
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_valid_idem_key(const char *s, size_t len, struct sp_err *e)
{
    if (len == 0 || len > 255) {
        sp_err_set(e, "must be 1 to 255 bytes (%zu given)", len);
        return CTSPOOL_E_INVALID;
    }
    if (!sp_utf8_valid(s, len)) {
        sp_err_set(e, "is not valid UTF-8");
        return CTSPOOL_E_INVALID;
    }
    /* C0, DEL and C1 (U+0080-U+009F), as a token's (sp_valid_stream). */
    for (size_t i = 0, n; i < len; i += n) {
        uint32_t cp = (unsigned char)s[i];

        n = cp < 0x80 ? 1
                      : sp_utf8_seq((const unsigned char *)s + i, len - i, &cp);
        assert(n > 0);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            sp_err_set(e, "holds a control character (byte %zu)", i);
            return CTSPOOL_E_INVALID;
        }
    }
    return CTSPOOL_OK;
}
