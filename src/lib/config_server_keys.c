/*
 * config_server_keys.c -- the keys `ctspool serve` accepts in x-api-key,
 * from wherever the configuration puts them: $CTSPOOL_SERVER_API_KEYS
 * (comma-separated) when it is set and not empty, in place of the
 * others; else server.api_keys together with the lines of
 * server.api_keys_file (one key a line; surrounding whitespace, blank
 * lines and lines starting with '#' ignored).  Read when serve starts
 * and on each SIGHUP.  No message ever contains a key; buffers that
 * held one are wiped before they are freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"
#include "sp_int.h"

#define ENV_KEYS "CTSPOOL_SERVER_API_KEYS"
/* A keys file is small: refuse to read anything huge. */
#define KEYS_FILE_MAX ((size_t)1024 * 1024)

struct keys {
    char **v;
    size_t n, cap;
};

static void
wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void
free_keys(char **keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++) {
        wipe_free(keys[i]);
    }
    free(keys);
}

/* Appends s[0..len) (copied).  OK or E_NOMEM. */
static ctspool_rc
add(struct keys *k, const char *s, size_t len, struct sp_err *e)
{
    char *copy;

    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        char **v = realloc(k->v, cap * sizeof(*v));

        if (!v) {
            sp_err_set(e, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
        k->v = v;
        k->cap = cap;
    }
    if (len > KEYS_FILE_MAX) {
        sp_err_set(e, "out of memory"); /* no key is that long */
        return CTSPOOL_E_NOMEM;
    }
    copy = malloc(len + 1);
    if (!copy) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    k->v[k->n++] = copy;
    return CTSPOOL_OK;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Adds the items of text separated by sep, each without surrounding
 * whitespace; empty items (and, with comments, those starting with '#')
 * are skipped.  what, where: for messages ("line", the file).  A key
 * with a control character is E_CONFIG.
 */
static ctspool_rc
add_items(struct keys *k, const char *text, char sep, int comments,
          const char *what, const char *where, struct sp_err *e)
{
    const char *p = text;
    size_t item = 0;

    while (*p) {
        const char *end = strchr(p, sep);
        const char *next = end ? end + 1 : p + strlen(p);
        const char *a = p, *b = end ? end : next;

        item++;
        while (a < b && is_space(*a)) {
            a++;
        }
        while (b > a && is_space(b[-1])) {
            b--;
        }
        p = next;
        if (a == b || (comments && *a == '#')) {
            continue;
        }
        for (const char *c = a; c < b; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                sp_err_set(e, "%s: the key of %s %zu contains a control "
                              "character", where, what, item);
                return CTSPOOL_E_CONFIG;
            }
        }
        if (add(k, a, (size_t)(b - a), e) != CTSPOOL_OK) {
            return CTSPOOL_E_NOMEM;
        }
    }
    return CTSPOOL_OK;
}

/* The keys of the file at path, one a line. */
static ctspool_rc
read_keys_file(struct keys *k, const char *path, char **warning,
               struct sp_err *e)
{
    struct stat st;
    FILE *f = sp_config_open_small("server.api_keys_file", path,
                                   KEYS_FILE_MAX, &st, e);
    char *buf = NULL;
    size_t got = 0;
    ctspool_rc rc = CTSPOOL_E_CONFIG;

    if (!f) {
        return CTSPOOL_E_CONFIG;
    }
    buf = calloc(1, (size_t)st.st_size + 1);
    if (!buf) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    got = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        sp_err_set(e, "server.api_keys_file: cannot read %s: %s", path,
                   strerror(errno ? errno : EIO));
        goto out;
    }
    buf[got] = '\0';
    if (memchr(buf, '\0', got)) {
        sp_err_set(e, "server.api_keys_file: %s holds a NUL byte", path);
        goto out;
    }
    rc = add_items(k, buf, '\n', 1, "line", path, e);
    if (rc == CTSPOOL_OK && warning) {
        rc = sp_config_mode_warning("server API keys file", path, 0,
                                    st.st_mode, warning, e);
    }
out:
    if (buf) {
        explicit_bzero(buf, got);
        free(buf);
    }
    fclose(f);
    return rc;
}

ctspool_rc
sp_config_server_keys(const struct sp_config *c, struct sp_server_keys *out,
                      struct sp_err *e)
{
    const char *env = getenv(ENV_KEYS);
    struct keys k = {NULL, 0, 0};
    ctspool_rc rc = CTSPOOL_OK;

    memset(out, 0, sizeof(*out));
    if (env && *env) {
        out->source = "$" ENV_KEYS;
        rc = add_items(&k, env, ',', 0, "item", "$" ENV_KEYS, e);
        if (rc == CTSPOOL_OK && k.n == 0) {
            sp_err_set(e, "$%s holds no key (keys are comma-separated)",
                       ENV_KEYS);
            rc = CTSPOOL_E_CONFIG;
        }
        goto out;
    }
    for (size_t i = 0; rc == CTSPOOL_OK && i < c->server.n_api_keys; i++) {
        rc = add(&k, c->server.api_keys[i], strlen(c->server.api_keys[i]),
                 e);
    }
    if (rc == CTSPOOL_OK && c->server.api_keys_file) {
        rc = read_keys_file(&k, c->server.api_keys_file, &out->warning, e);
    }
    out->source = c->server.api_keys_file
                      ? (c->server.n_api_keys
                             ? "server.api_keys and server.api_keys_file"
                             : "server.api_keys_file")
                      : "server.api_keys";
out:
    if (rc != CTSPOOL_OK) {
        free_keys(k.v, k.n);
        free(out->warning);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->keys = k.v;
    out->n = k.n;
    return CTSPOOL_OK;
}

void
sp_server_keys_cleanup(struct sp_server_keys *k)
{
    free_keys(k->keys, k->n);
    free(k->warning);
    memset(k, 0, sizeof(*k));
}
