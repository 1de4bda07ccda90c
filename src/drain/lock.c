/*
 * lock.c -- one drainer per journal: the drainer lock file
 * "<journal>-drain.lock", which also holds the landing record
 * (landing.c).  It gets the journal's mode, and run as root its owner
 * and group, so the service user's drainer can still open it afterwards.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lock.h"

/* What to do about a lock this user cannot open. */
#define LOCK_HINT                                                          \
    "give it the journal's owner, group and mode, or remove it while no " \
    "drainer runs"

/* "<journal>-drain.lock" into path (PATH_MAX); -1 when too long. */
static int
lock_path(const char *journal_path, char *path)
{
    return (size_t)snprintf(path, PATH_MAX, "%s-drain.lock", journal_path) >=
                   PATH_MAX
               ? -1
               : 0;
}

ctspool_rc
dr_lock_check(const char *journal_path, struct sp_err *e)
{
    char path[PATH_MAX];

    if (lock_path(journal_path, path) != 0) {
        sp_err_set(e, "journal path too long");
        return CTSPOOL_E_CANTCREATE;
    }
    if (access(path, R_OK | W_OK) != 0 && errno != ENOENT) {
        sp_err_set(e, "cannot open drainer lock %s: %s (" LOCK_HINT ")", path,
                   strerror(errno));
        return CTSPOOL_E_CANTCREATE;
    }
    return CTSPOOL_OK;
}

/*
 * The drainer lock file also holds the drainer's landing record, which
 * must survive a power loss (landing.c): a newly created one has its
 * name synced too.
 */
ctspool_rc
dr_lock_open(const char *journal_path, int *fd, struct sp_err *e)
{
    char path[PATH_MAX];
    enum sp_lock_step failed;
    int err;

    *fd = -1;
    if (lock_path(journal_path, path) != 0) {
        sp_err_set(e, "journal path too long");
        return CTSPOOL_E_CANTCREATE;
    }
    /* Run as root, the file is given the journal's owner (section 12 of
     * the contract) and mode, so a drain user of the journal's group can
     * open it too. */
    *fd = sp_lock_take(path, journal_path, &failed);
    if (*fd >= 0) {
        return CTSPOOL_OK;
    }
    err = errno;
    switch (failed) {
    case SP_LOCK_OPEN:
        sp_err_set(e, "cannot open drainer lock %s: %s%s", path,
                   strerror(err),
                   err == EACCES ? " (" LOCK_HINT ")"
                   : err == ELOOP ? " (a symbolic link: refused)"
                                  : "");
        return CTSPOOL_E_CANTCREATE;
    case SP_LOCK_ADOPT:
        sp_err_set(e,
                   "cannot give drainer lock %s the journal's owner and "
                   "mode: %s",
                   path, strerror(err));
        return CTSPOOL_E_CANTCREATE;
    case SP_LOCK_FLOCK:
        break;
    }
    if (err == EWOULDBLOCK) {
        sp_err_set(e, "another drainer is running on journal %s (lock %s held)",
                   journal_path, path);
        return CTSPOOL_E_LOCKED;
    }
    sp_err_set(e, "cannot lock %s: %s", path, strerror(err));
    return CTSPOOL_E_IO;
}
