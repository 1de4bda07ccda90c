/*
 * owner.c -- files a command creates belong to the journal's owner.
 *
 * An operator who runs a command as root against a service user's
 * journal (`sudo ctspool drain --once`) must not leave root-owned files
 * behind that the service's own processes then cannot open: every file
 * created next to the journal is given the owner and group of the
 * journal (or, before the journal exists, of its directory).  Without
 * root nothing changes hands: a process can only create files it owns.
 * The lock files (the drainer's, salvage's) are taken the same way here.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_int.h"

int
sp_owner_adopt(int fd, const char *like)
{
    struct stat want, have;

    if (geteuid() != 0) {
        return 0;
    }
    if (stat(like, &want) != 0) {
        return errno == ENOENT ? 0 : -1; /* no owner to follow */
    }
    if (fstat(fd, &have) != 0) {
        return -1;
    }
    if (have.st_uid == want.st_uid && have.st_gid == want.st_gid) {
        return 0;
    }
    return fchown(fd, want.st_uid, want.st_gid);
}

int
sp_mode_adopt(int fd, const char *journal)
{
    struct stat want, have;
    mode_t mode;

    if (stat(journal, &want) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    if (fstat(fd, &have) != 0) {
        return -1;
    }
    mode = want.st_mode & 0666;
    if ((have.st_mode & 07777) == mode ||
        (geteuid() != 0 && have.st_uid != geteuid())) {
        return 0;
    }
    return fchmod(fd, mode);
}

int
sp_lock_take(const char *path, const char *journal, enum sp_lock_step *failed)
{
    int fd, err;

    *failed = SP_LOCK_OPEN;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        sp_sync_dir_of(path); /* the new name */
    } else if (errno == EEXIST) {
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        return -1;
    }
    /* Also a file an older version left root's, or 0600. */
    *failed = SP_LOCK_ADOPT;
    if (sp_owner_adopt(fd, journal) == 0 && sp_mode_adopt(fd, journal) == 0) {
        *failed = SP_LOCK_FLOCK;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            return fd;
        }
    }
    err = errno;
    close(fd);
    errno = err;
    return -1;
}
