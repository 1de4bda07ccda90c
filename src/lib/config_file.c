/*
 * config_file.c -- the files behind a configuration: the configuration
 * file read whole (bounded, its mode kept for the permission check), the
 * warning for secrets in a file others can read (or its group can read
 * and write), and the upload API key file.  A buffer that held a file is
 * wiped before it is freed; no message contains a secret.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "config_int.h"
#include "sp_int.h"

#define KEY_FILE_MAX ((size_t)64 * 1024) /* upload.api_key_file */

/* A configuration file is small; refuse to slurp anything huge. */
#define CONFIG_MAX_BYTES ((size_t)1024 * 1024)

/* ---- reading the file ------------------------------------------------- */

/*
 * sp_config_read_file -- the whole file at path into *buf
 * (NUL-terminated, *len bytes) and its mode into *mode.  Returns OK,
 * E_NOTFOUND when the file does not exist and missing_ok is set, E_CONFIG
 * or E_NOMEM.
 */
ctspool_rc
sp_config_read_file(const char *path, int missing_ok, char **buf,
                    size_t *len, mode_t *mode, struct sp_err *e)
{
    FILE *f = NULL;
    struct stat st;
    char *b = NULL;
    size_t n = 0, got;
    ctspool_rc rc = CTSPOOL_E_CONFIG;

    *buf = NULL;
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT && missing_ok) {
            rc = CTSPOOL_E_NOTFOUND;
            goto out;
        }
        sp_err_set(e, "cannot read config file %s: %s", path,
                   strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &st) != 0) {
        sp_err_set(e, "cannot read config file %s: %s", path,
                   strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        sp_err_set(e, "cannot read config file %s: %s", path,
                   strerror(EISDIR));
        goto out;
    }
    b = malloc(CONFIG_MAX_BYTES + 1);
    if (!b) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    /* Read one byte past the limit to tell "too large" from "full". */
    got = fread(b, 1, CONFIG_MAX_BYTES + 1, f);
    if (ferror(f)) {
        sp_err_set(e, "cannot read config file %s: %s", path,
                   strerror(errno));
        goto out;
    }
    n = got;
    if (n > CONFIG_MAX_BYTES) {
        sp_err_set(e, "config file %s is larger than %zu bytes", path,
                   CONFIG_MAX_BYTES);
        goto out;
    }
    if (memchr(b, '\0', n)) {
        sp_err_set(e, "config file %s contains a NUL byte", path);
        goto out;
    }
    b[n] = '\0';
    *mode = st.st_mode;
    rc = CTSPOOL_OK;
out:
    if (f) {
        fclose(f);
    }
    if (rc == CTSPOOL_OK) {
        *buf = b;
        *len = n;
    } else if (b) {
        explicit_bzero(b, CONFIG_MAX_BYTES + 1);
        free(b);
    }
    return rc;
}

/* ---- the permission warning ------------------------------------------ */

/*
 * What is wrong with mode for a file holding a secret (DESIGN.md section
 * 7), or NULL.  Writable or readable by others: always.  Readable by the
 * group: only
 * when the group may also write it; 0640 with a group of the service's
 * own (root:ctspool) is the documented setup.
 */
static const char *
exposure(mode_t mode)
{
    if (mode & S_IWOTH) {
        return "is writable by others (anyone may change where points "
               "and keys go)";
    }
    if (mode & S_IROTH) {
        return "is readable by others";
    }
    if ((mode & S_IRGRP) && (mode & S_IWGRP)) {
        return "is readable and writable by its group";
    }
    return NULL;
}

/*
 * *out: "WHAT PATH[ holds secrets and] is ... (mode 0644); chmod ...",
 * or NULL when mode is fine.  what: "config file", "API key file" or
 * "server API keys file".
 */
ctspool_rc
sp_config_mode_warning(const char *what, const char *path, int holds,
                       mode_t mode, char **out, struct sp_err *e)
{
    static const char fmt[] = "%s %s%s %s (mode %04o); chmod 600 it, or "
                              "640 with a group of its own";
    const char *why = exposure(mode);
    const char *mid = holds ? " holds secrets and" : "";
    unsigned perm = (unsigned)(mode & 07777);
    int n;

    *out = NULL;
    if (!why) {
        return CTSPOOL_OK;
    }
    n = snprintf(NULL, 0, fmt, what, path, mid, why, perm);
    if (n < 0) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    *out = malloc((size_t)n + 1);
    if (!*out) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    snprintf(*out, (size_t)n + 1, fmt, what, path, mid, why, perm);
    return CTSPOOL_OK;
}

/* For a configuration file: one that holds a secret, or that others may
 * write (it says where points and the API key go). */
ctspool_rc
sp_config_set_warning(struct sp_config *c, const char *path, int holds,
                      mode_t mode, struct sp_err *e)
{
    free(c->warning);
    c->warning = NULL;
    if (!holds && !(mode & S_IWOTH)) {
        return CTSPOOL_OK;
    }
    return sp_config_mode_warning("config file", path, holds, mode,
                                  &c->warning, e);
}

ctspool_rc
sp_config_key_file_warning(const struct sp_config *c, char **out,
                           struct sp_err *e)
{
    struct stat st;

    assert(c && out);
    *out = NULL;
    if (c->upload.api_key || !c->upload.api_key_file ||
        stat(c->upload.api_key_file, &st) != 0 || !S_ISREG(st.st_mode)) {
        return CTSPOOL_OK;
    }
    return sp_config_mode_warning("API key file", c->upload.api_key_file, 0,
                                  st.st_mode, out, e);
}

FILE *
sp_config_open_small(const char *what, const char *path, size_t max,
                     struct stat *st, struct sp_err *e)
{
    /* Not blocking in the open: a FIFO at path would wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    FILE *f;

    if (fd < 0 || fstat(fd, st) != 0) {
        sp_err_set(e, "cannot read %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        sp_err_set(e, "cannot read %s %s: not a regular file", what, path);
        goto fail;
    }
    if ((size_t)st->st_size > max) {
        sp_err_set(e, "%s %s is larger than %zu bytes", what, path, max);
        goto fail;
    }
    if (fcntl(fd, F_SETFL, 0) != 0 || !(f = fdopen(fd, "r"))) {
        sp_err_set(e, "cannot read %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    return f;
fail:
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

/*
 * The first line of the key file, without surrounding whitespace.  The
 * key itself never appears in a message.
 */
ctspool_rc
sp_config_api_key(const struct sp_config *c, char **out, struct sp_err *e)
{
    const char *file;
    FILE *f = NULL;
    char *line = NULL, *start, *end;
    size_t cap = 0;
    ssize_t n;
    struct stat st;
    ctspool_rc rc = CTSPOOL_E_CONFIG;

    assert(c && out);
    *out = NULL;
    if (c->upload.api_key) {
        /* Inline or $CTSPOOL_API_KEY, merged by sp_config_load(). */
        *out = strdup(c->upload.api_key);
        if (!*out) {
            sp_err_set(e, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
        return CTSPOOL_OK;
    }
    file = c->upload.api_key_file;
    if (!file) {
        sp_err_set(e, "no upload API key: set upload.api_key, "
                      "upload.api_key_file or CTSPOOL_API_KEY");
        return CTSPOOL_E_CONFIG;
    }
    f = sp_config_open_small("API key file", file, KEY_FILE_MAX, &st, e);
    if (!f) {
        goto out;
    }
    errno = 0;
    n = getline(&line, &cap, f);
    if (n < 0) {
        if (ferror(f)) {
            sp_err_set(e, "cannot read API key file %s: %s", file,
                       strerror(errno ? errno : EIO));
        } else {
            sp_err_set(e, "API key file %s is empty", file);
        }
        goto out;
    }
    start = line;
    end = line + n;
    while (start < end && isspace((unsigned char)*start)) {
        start++;
    }
    while (end > start && isspace((unsigned char)end[-1])) {
        end--;
    }
    if (start == end) {
        sp_err_set(e, "API key file %s is empty (its first line is blank)",
                   file);
        goto out;
    }
    if (memchr(start, '\0', (size_t)(end - start))) {
        sp_err_set(e, "the key in API key file %s contains a NUL byte",
                   file);
        goto out;
    }
    *end = '\0';
    if (sp_config_has_control(start)) {
        sp_err_set(e, "the key in API key file %s contains a control "
                      "character", file);
        goto out;
    }
    *out = strdup(start);
    if (!*out) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    rc = CTSPOOL_OK;
out:
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
    if (f) {
        fclose(f);
    }
    return rc;
}
