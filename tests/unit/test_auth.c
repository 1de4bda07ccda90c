/*
 * test_auth.c -- serve's x-api-key check (src/serve/auth.c, compiled
 * in): which keys match, and that the work done does not depend on the
 * keys.  The linker wraps CRYPTO_memcmp, EVP_Digest, OPENSSL_cleanse and
 * calloc (-Wl,--wrap), so each check is seen comparing every configured
 * digest, 32 bytes each, whatever was presented and whichever key
 * matched, and failures can be injected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "serve.h"

/* ---- wrapped library calls ----------------------------------------------- */

int __real_CRYPTO_memcmp(const void *a, const void *b, size_t len);
int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len);
int __real_EVP_Digest(const void *data, size_t count, unsigned char *md,
                      unsigned int *size, const EVP_MD *type, ENGINE *impl);
int __wrap_EVP_Digest(const void *data, size_t count, unsigned char *md,
                      unsigned int *size, const EVP_MD *type, ENGINE *impl);
void __real_OPENSSL_cleanse(void *p, size_t len);
void __wrap_OPENSSL_cleanse(void *p, size_t len);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static size_t n_memcmp, n_memcmp_not_32, n_digest, digest_len;
static size_t n_cleanse, cleansed_len;
static int fail_digest_at; /* fail the Nth EVP_Digest from now; 0: none */
static int fail_calloc;

int
__wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
    n_memcmp++;
    n_memcmp_not_32 += len != 32;
    return __real_CRYPTO_memcmp(a, b, len);
}

int
__wrap_EVP_Digest(const void *data, size_t count, unsigned char *md,
                  unsigned int *size, const EVP_MD *type, ENGINE *impl)
{
    n_digest++;
    digest_len = count;
    if (fail_digest_at > 0 && --fail_digest_at == 0) {
        return 0;
    }
    return __real_EVP_Digest(data, count, md, size, type, impl);
}

void
__wrap_OPENSSL_cleanse(void *p, size_t len)
{
    n_cleanse++;
    cleansed_len += len;
    __real_OPENSSL_cleanse(p, len);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    if (fail_calloc) {
        fail_calloc = 0;
        return NULL;
    }
    return __real_calloc(n, size);
}

static void
reset_counts(void)
{
    n_memcmp = n_memcmp_not_32 = n_digest = digest_len = 0;
    n_cleanse = cleansed_len = 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void
init_ok(struct sv_auth *a, char *const *keys, size_t n)
{
    struct sp_err e;

    e.msg[0] = '\0';
    assert_int_equal(sv_auth_init(a, keys, n, &e), CTSPOOL_OK);
    assert_int_equal(a->n_keys, n);
}

/*
 * sv_auth_check(a, presented, its length) == want, having hashed
 * presented once and compared its digest with every key's, 32 bytes at
 * a time.
 */
static void
check(const struct sv_auth *a, const char *presented, int want)
{
    reset_counts();
    assert_int_equal(sv_auth_check(a, presented, strlen(presented)), want);
    assert_int_equal(n_digest, 1);
    assert_int_equal(digest_len, strlen(presented));
    assert_int_equal(n_memcmp, a->n_keys);
    assert_int_equal(n_memcmp_not_32, 0);
    /* The presented key's digest does not linger on the stack. */
    assert_int_equal(n_cleanse, 1);
    assert_int_equal(cleansed_len, 32);
}

static char *
repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- tests --------------------------------------------------------------- */

/* A missing or empty header never matches, and is not even hashed. */
static void
test_auth_missing_or_empty(void **state)
{
    char *keys[] = {"k-1"};
    struct sv_auth a;

    (void)state;
    init_ok(&a, keys, 1);
    reset_counts();
    assert_int_equal(sv_auth_check(&a, NULL, 0), 0);
    assert_int_equal(sv_auth_check(&a, "", 0), 0);
    assert_int_equal(n_digest + n_memcmp, 0);
    sv_auth_cleanup(&a);
}

/* No keys configured: nothing matches (http.c then does not check). */
static void
test_auth_no_keys(void **state)
{
    struct sv_auth a;

    (void)state;
    init_ok(&a, NULL, 0);
    assert_null(a.digests);
    assert_int_equal(sv_auth_check(&a, "anything", 8), 0);
    assert_int_equal(sv_auth_check(&a, "", 0), 0);
    assert_int_equal(sv_auth_check(&a, NULL, 0), 0);
    sv_auth_cleanup(&a);
}

/* Near misses of one key: prefixes, extensions, case, whitespace. */
static void
test_auth_near_misses(void **state)
{
    static const char *const misses[] = {
        "s",       "secre",    "secret ", " secret", "secretx",
        "Secret",  "SECRET",   "secret\n", "secreT", "tercs",
        "secret\t", "secretsecret"};
    char *keys[] = {"secret"};
    struct sv_auth a;

    (void)state;
    init_ok(&a, keys, 1);
    check(&a, "secret", 1);
    for (size_t i = 0; i < SP_ARRAY_LEN(misses); i++) {
        check(&a, misses[i], 0);
    }
    sv_auth_cleanup(&a);
}

/*
 * Several keys of very different lengths, one a prefix of another: each
 * matches itself only, and every check compares against all of them,
 * whichever matched first, last or not at all.
 */
static void
test_auth_several_keys(void **state)
{
    char *longest = repeat('z', 100000);
    char *longer = repeat('z', 100001);
    char *keys[] = {"k", "k1", "key-number-three", longest, "k"};
    struct sv_auth a;

    (void)state;
    init_ok(&a, keys, SP_ARRAY_LEN(keys));
    check(&a, "k", 1);  /* the first (and last) */
    check(&a, "k1", 1); /* "k" is its prefix */
    check(&a, "key-number-three", 1);
    check(&a, longest, 1);
    check(&a, "k12", 0);
    check(&a, "key-number-thre", 0);
    check(&a, "1", 0);
    check(&a, longer, 0);
    longest[99999] = 'y';
    check(&a, longest, 0);
    check(&a, "unrelated", 0);
    sv_auth_cleanup(&a);
    free(longest);
    free(longer);
}

/* Only digests are kept: the keys' text may go away after init. */
static void
test_auth_keys_not_retained(void **state)
{
    char k1[] = "first-key-0123456789", k2[] = "second-key";
    char *keys[] = {k1, k2};
    struct sv_auth a;

    (void)state;
    init_ok(&a, keys, 2);
    assert_null(memmem(a.digests, 2 * sizeof(*a.digests), k1, 8));
    memset(k1, 'x', sizeof(k1) - 1);
    memset(k2, 'x', sizeof(k2) - 1);
    check(&a, "first-key-0123456789", 1);
    check(&a, "second-key", 1);
    check(&a, k1, 0);
    /* Cleanup wipes the digests before freeing them. */
    reset_counts();
    sv_auth_cleanup(&a);
    assert_int_equal(n_cleanse, 1);
    assert_int_equal(cleansed_len, 2 * 32);
    assert_int_equal(a.n_keys, 0);
    assert_null(a.digests);
    sv_auth_cleanup(&a); /* twice: harmless */
}

/* An empty or missing key is a configuration error naming it. */
static void
test_auth_empty_key(void **state)
{
    char *empty_second[] = {"good", ""};
    char *null_first[] = {NULL, "good"};
    struct sv_auth a;
    struct sp_err e;

    (void)state;
    assert_int_equal(sv_auth_init(&a, empty_second, 2, &e),
                     CTSPOOL_E_CONFIG);
    assert_string_equal(e.msg, "server.api_keys: key 2 is empty");
    assert_int_equal(a.n_keys, 0);
    assert_null(a.digests);
    assert_int_equal(sv_auth_check(&a, "good", 4), 0);

    assert_int_equal(sv_auth_init(&a, null_first, 2, &e), CTSPOOL_E_CONFIG);
    assert_string_equal(e.msg, "server.api_keys: key 1 is empty");
    assert_int_equal(a.n_keys, 0);
    assert_null(a.digests);
}

/* Failures leave nothing behind; a failed hash never matches. */
static void
test_auth_failures(void **state)
{
    char *keys[] = {"a", "b", "c"};
    struct sv_auth a;
    struct sp_err e;

    (void)state;
    fail_calloc = 1;
    assert_int_equal(sv_auth_init(&a, keys, 3, &e), CTSPOOL_E_NOMEM);
    assert_string_equal(e.msg, "out of memory");
    assert_int_equal(a.n_keys, 0);
    assert_null(a.digests);

    fail_digest_at = 2;
    assert_int_equal(sv_auth_init(&a, keys, 3, &e), CTSPOOL_E_NOMEM);
    assert_string_equal(e.msg, "server.api_keys: cannot hash key 2");
    assert_int_equal(a.n_keys, 0);
    assert_null(a.digests);

    init_ok(&a, keys, 3);
    fail_digest_at = 1;
    assert_int_equal(sv_auth_check(&a, "b", 1), 0);
    check(&a, "b", 1);
    sv_auth_cleanup(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_missing_or_empty),
        cmocka_unit_test(test_auth_no_keys),
        cmocka_unit_test(test_auth_near_misses),
        cmocka_unit_test(test_auth_several_keys),
        cmocka_unit_test(test_auth_keys_not_retained),
        cmocka_unit_test(test_auth_empty_key),
        cmocka_unit_test(test_auth_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
