/*
 * auth.c -- the x-api-key check of `serve`, in constant time.  Keys are
 * kept only as SHA-256 digests; a presented key is hashed and compared
 * with every digest using CRYPTO_memcmp, all of them every time, so the
 * time taken says nothing about which key matched, how many bytes of it
 * did, or how long the configured keys are.  The only OpenSSL user of
 * `serve`.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "serve.h"

static int
digest(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    return EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32
               ? 0
               : -1;
}

ctspool_rc
sv_auth_init(struct sv_auth *a, char *const *keys, size_t n,
             struct sp_err *e)
{
    memset(a, 0, sizeof(*a));
    if (n == 0) {
        return CTSPOOL_OK;
    }
    a->digests = calloc(n, sizeof(*a->digests));
    if (!a->digests) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    a->n_keys = n;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !keys[i][0]) {
            sp_err_set(e, "server.api_keys: key %zu is empty", i + 1);
            sv_auth_cleanup(a);
            return CTSPOOL_E_CONFIG;
        }
        if (digest(keys[i], strlen(keys[i]), a->digests[i]) != 0) {
            sp_err_set(e, "server.api_keys: cannot hash key %zu", i + 1);
            sv_auth_cleanup(a);
            return CTSPOOL_E_NOMEM;
        }
    }
    return CTSPOOL_OK;
}

void
sv_auth_cleanup(struct sv_auth *a)
{
    if (a->digests) {
        OPENSSL_cleanse(a->digests, a->n_keys * sizeof(*a->digests));
    }
    free(a->digests);
    memset(a, 0, sizeof(*a));
}

int
sv_auth_check(const struct sv_auth *a, const char *presented, size_t len)
{
    unsigned char d[32];
    unsigned match = 0;

    if (!presented || len == 0 || a->n_keys == 0) {
        return 0;
    }
    if (digest(presented, len, d) != 0) {
        return 0;
    }
    for (size_t i = 0; i < a->n_keys; i++) {
        /* No early exit: every key is compared. */
        match |= (unsigned)(CRYPTO_memcmp(d, a->digests[i], 32) == 0);
    }
    OPENSSL_cleanse(d, sizeof(d));
    return match != 0;
}
