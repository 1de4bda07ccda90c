/*
 * tmpfile.c -- anonymous scratch files: created in a chosen directory
 * (on the journal's file system, so a full disk shows before the journal
 * is touched, and never in a RAM-backed /tmp by accident) and gone with
 * the process, whatever ends it; and the directory of a path, opened or
 * synced (a name just created or renamed there made durable).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_int.h"

char *
sp_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        return strdup(".");
    }
    if (slash == path) {
        return strdup("/");
    }
    return strndup(path, (size_t)(slash - path));
}

int
sp_open_dir_of(const char *path)
{
    char *dir = sp_dir_of(path);
    int fd;

    if (!dir) {
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    return fd;
}

void
sp_sync_dir_of(const char *path)
{
    int fd = sp_open_dir_of(path);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int
sp_tmpfd(const char *dir, char *why, size_t why_len)
{
    size_t n = strlen(dir) + sizeof("/.ctspool-tmp-XXXXXX");
    char *tmpl;
    int fd;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        return fd;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        snprintf(why, why_len, "%s", strerror(errno));
        return -1;
    }
#endif
    tmpl = malloc(n);
    if (!tmpl) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    snprintf(tmpl, n, "%s/.ctspool-tmp-XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "%s", strerror(errno));
    } else {
        unlink(tmpl);
    }
    free(tmpl);
    return fd;
}
