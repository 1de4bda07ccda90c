/*
 * journal_heal.c -- a damaged journal never wedges the host (DESIGN.md
 * section 11).  The process that meets corruption moves the journal's
 * file set aside (quarantine) and goes on with a fresh journal at the
 * path; the other processes notice the rename at their next transaction
 * and reopen the path (sp_jn_follow).  Also lists the quarantined sets
 * (status) and renames a salvaged one.
 *
 * Names: NAME.corrupt-YYYYMMDDTHHMMSSZ, its -wal and -shm files renamed
 * likewise so that the set still opens as a database; after salvage
 * NAME.salvaged-YYYYMMDDTHHMMSSZ.  A second quarantine within the same
 * second adds "-2", "-3", ...
 *
 * Races.  The journal's directory is flock()ed exclusively while a set
 * is renamed; connecting holds it shared until the WAL is open, so no
 * connection pairs one set's main file with another set's -wal.  The
 * renaming process first takes the old journal's write lock (best
 * effort, a damaged file may refuse it), and a writer compares the
 * path's identity once it holds the write lock: nothing is committed
 * into a renamed file unnoticed.  Connections keep their -wal and -shm
 * files on close (journal.c), else closing one to a renamed journal
 * would delete the fresh journal's files by name.  Batches taken before
 * a reopen carry the older generation: acknowledging them changes
 * nothing here (journal_drain.c), their points come back by salvage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal_int.h"

/* How long a quarantine waits for the damaged journal's write lock and
 * for the directory lock: a wedged peer must not wedge us. */
#define HEAL_LOCK_MS 2000

static const char *const set_suffix[] = {"-wal", "-shm", ""};

/* ---- the directory lock ---------------------------------------------- */

/*
 * flock(op) on the directory of path: an fd to give sp_jn_dir_unlock(),
 * or -1 when the directory cannot be opened or (LOCK_EX) the lock not be
 * had within HEAL_LOCK_MS.  Best effort either way: the caller goes on.
 */
int
sp_jn_dir_lock(const char *path, int op)
{
    int fd = sp_open_dir_of(path), waited = 0;

    if (fd < 0) {
        return -1;
    }
    if (op == LOCK_SH) {
        while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {
        }
        return fd;
    }
    while (flock(fd, op | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) ||
            waited >= HEAL_LOCK_MS) {
            close(fd);
            return -1;
        }
        usleep(10 * 1000);
        waited += 10;
    }
    return fd;
}

void
sp_jn_dir_unlock(int fd)
{
    if (fd >= 0) {
        close(fd); /* releases the flock */
    }
}

/* ---- renaming a set -------------------------------------------------- */

/* from and to with each suffix of set_suffix; renames the -wal and -shm
 * files first, the main file last.  0, or -1 with errno. */
static int
rename_set(const char *from, const char *to)
{
    char f[PATH_MAX], t[PATH_MAX];

    for (size_t i = 0; i < SP_ARRAY_LEN(set_suffix); i++) {
        if ((size_t)snprintf(f, sizeof(f), "%s%s", from, set_suffix[i]) >=
                sizeof(f) ||
            (size_t)snprintf(t, sizeof(t), "%s%s", to, set_suffix[i]) >=
                sizeof(t)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (rename(f, t) != 0 && !(errno == ENOENT && *set_suffix[i])) {
            return -1;
        }
    }
    return 0;
}

/* Is any file of the set named base there? */
static int
set_exists(const char *base)
{
    char f[PATH_MAX];
    struct stat sb;

    for (size_t i = 0; i < SP_ARRAY_LEN(set_suffix); i++) {
        snprintf(f, sizeof(f), "%s%s", base, set_suffix[i]);
        if (lstat(f, &sb) == 0 || errno != ENOENT) {
            return 1;
        }
    }
    return 0;
}

/* A name for path's set marked "what" (corrupt, salvaged) at now that
 * no file has: 0, or -1 (too long, or a thousand taken). */
static int
fresh_name(const char *path, const char *what, const char *stamp,
           char *out, size_t outsz)
{
    for (int n = 1; n < 1000; n++) {
        int len = n == 1 ? snprintf(out, outsz, "%s.%s-%s", path, what, stamp)
                         : snprintf(out, outsz, "%s.%s-%s-%d", path, what,
                                    stamp, n);

        if (len < 0 || (size_t)len + sizeof("-wal") > outsz) {
            return -1;
        }
        if (!set_exists(out)) {
            return 0;
        }
    }
    return -1;
}

static void
utc_stamp(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, n, "%Y%m%dT%H%M%SZ", &tm);
}

/*
 * Moves the journal set at path to NAME.corrupt-STAMP (into dest, size
 * PATH_MAX), if the file at path is still (dev, ino) (ino 0: whatever
 * is there).  *dest == '\0' when another process moved it already.
 */
static ctspool_rc
quarantine_path(const char *path, dev_t dev, ino_t ino, char *dest,
                struct sp_err *e)
{
    char stamp[32];
    struct stat sb;
    int fd = sp_jn_dir_lock(path, LOCK_EX);
    ctspool_rc rc = CTSPOOL_OK;

    *dest = '\0';
    if (stat(path, &sb) != 0 || (ino && (sb.st_dev != dev ||
                                         sb.st_ino != ino))) {
        goto out; /* moved by another process meanwhile */
    }
    utc_stamp(stamp, sizeof(stamp));
    if (fresh_name(path, "corrupt", stamp, dest, PATH_MAX) != 0) {
        sp_err_set(e, "cannot name a place for damaged journal %s", path);
        *dest = '\0';
        rc = CTSPOOL_E_IO;
        goto out;
    }
    if (rename_set(path, dest) != 0) {
        sp_err_set(e, "cannot move damaged journal %s to %s: %s", path,
                   dest, strerror(errno));
        *dest = '\0';
        rc = CTSPOOL_E_IO;
        goto out;
    }
    sp_sync_dir_of(path);
out:
    sp_jn_dir_unlock(fd);
    return rc;
}

static void
log_quarantine(const struct sp_journal *j, const char *why, const char *dest)
{
    sp_log(SP_LOG_ERROR,
           "journal %s is damaged (%s): moved it to %s and %s; recover its "
           "pending points with `ctspool salvage %s` (the drainer does that "
           "by itself unless auto_salvage = false)",
           j->path, why, dest,
           j->opts.must_exist ? "the next producer or drainer starts a "
                                "fresh journal"
                              : "started a fresh journal",
           dest);
}

/* What a read-only command (must_exist) reports once the journal was
 * moved to dest ("": by another process): it starts no journal. */
static void
set_moved_message(struct sp_err *e, const struct sp_journal *j,
                  const char *dest)
{
    sp_err_set(e,
               "journal %s is damaged: moved to %s; the next producer or "
               "drainer starts a fresh journal; recover with `ctspool "
               "salvage %s`",
               j->path, *dest ? dest : "a quarantine file",
               *dest ? dest : "FILE");
}

/* "journal X is damaged": the message for on_corrupt = "stop". */
static void
set_stop_message(struct sp_err *e, const char *path, const char *why)
{
    char w[sizeof(e->msg)];

    snprintf(w, sizeof(w), "%s", why);
    sp_err_set(e,
               "journal %s is damaged (%s); on_corrupt = \"stop\" leaves it "
               "in place: move it aside and recover it with `ctspool "
               "salvage FILE`",
               path, w);
}

/*
 * Whether the file at path can be a journal SQLite finds damaged: its
 * -wal or -shm file is there (a journal keeps both once opened:
 * journal.c), or it starts with SQLite's header string, or, that header
 * gone (zeroed, garbled), it is whole pages (a multiple of 512 bytes,
 * two at least) and page 1's table header begins where the 100-byte
 * file header ends (a leaf or interior table page: 13 or 5).  A file
 * that is none of these -- a text file, another program's data, a slip
 * of the path -- never was a journal, and is not moved aside.
 */
static int
can_be_journal(const char *path)
{
    static const char magic[16] = "SQLite format 3";
    unsigned char head[101];
    char side[PATH_MAX];
    struct stat sb;
    int fd;
    ssize_t n = -1;

    for (size_t i = 0; i < 2; i++) {
        if ((size_t)snprintf(side, sizeof(side), "%s%s", path,
                             set_suffix[i]) < sizeof(side) &&
            lstat(side, &sb) == 0) {
            return 1;
        }
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        return 1; /* not ours to judge: the open's own error stands */
    }
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        n = pread(fd, head, sizeof(head), 0);
    }
    close(fd);
    if (n >= (ssize_t)sizeof(magic) && memcmp(head, magic, sizeof(magic)) == 0) {
        return 1;
    }
    return n == (ssize_t)sizeof(head) && sb.st_size >= 1024 &&
           sb.st_size % 512 == 0 && (head[100] == 13 || head[100] == 5);
}

/* ---- the journal's side ---------------------------------------------- */

ctspool_rc
sp_jn_heal_at_open(struct sp_journal *j, struct sp_err *e)
{
    char why[sizeof(e->msg)], dest[PATH_MAX];
    ctspool_rc rc;

    if (!can_be_journal(j->path)) {
        sp_err_set(e,
                   "cannot open journal %s: it is not a ctspool journal "
                   "(no SQLite database header, and not the pages of "
                   "one), and is left as it is: point the journal setting "
                   "at another file (a journal damaged past recognition: "
                   "move it aside, then `ctspool salvage` it)",
                   j->path);
        return CTSPOOL_E_CANTCREATE;
    }
    snprintf(why, sizeof(why), "%s", e->msg);
    if (j->opts.corrupt_stop) {
        set_stop_message(e, j->path, why);
        return CTSPOOL_E_CORRUPT;
    }
    rc = quarantine_path(j->path, j->dev, j->ino, dest, e);
    if (rc != CTSPOOL_OK) {
        return CTSPOOL_E_CORRUPT;
    }
    if (*dest) {
        log_quarantine(j, why, dest);
        j->gen++;
    }
    if (j->opts.must_exist) {
        set_moved_message(e, j, dest);
        return CTSPOOL_E_CORRUPT;
    }
    return sp_jn_connect(j, e);
}

/* Connects j (closed) to the path again; a damaged journal there is
 * handled as at open.  The failure's detail in j->err. */
static ctspool_rc
reconnect(struct sp_journal *j)
{
    struct sp_err e;
    ctspool_rc rc = sp_jn_connect(j, &e);

    if (rc == CTSPOOL_E_CORRUPT) {
        rc = sp_jn_heal_at_open(j, &e);
    }
    if (rc != CTSPOOL_OK) {
        j->err = e;
    }
    return rc;
}

ctspool_rc
sp_journal_heal(struct sp_journal *j)
{
    char why[sizeof(j->err.msg)], dest[PATH_MAX];
    struct sp_err e;
    int held;
    ctspool_rc rc;

    snprintf(why, sizeof(why), "%s",
             *j->err.msg ? j->err.msg : "the caller found it damaged");
    if (j->opts.corrupt_stop) {
        set_stop_message(&j->err, j->path, why);
        return CTSPOOL_E_CORRUPT;
    }
    if (j->in_txn) {
        sp_journal_rollback(j);
    }
    held = 0;
    if (j->db) {
        sp_jn_busy_set(j, HEAL_LOCK_MS);
        held = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
               SQLITE_OK;
    }
    rc = quarantine_path(j->path, j->dev, j->ino, dest, &e);
    if (held) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc != CTSPOOL_OK) {
        j->err = e;
        if (j->db) {
            sp_jn_busy_set(j, j->opts.busy_timeout_ms);
        }
        return CTSPOOL_E_CORRUPT;
    }
    if (*dest) {
        log_quarantine(j, why, dest);
    }
    sp_jn_disconnect(j);
    j->gen++;
    if (j->opts.must_exist) {
        set_moved_message(&j->err, j, dest);
        return CTSPOOL_E_CORRUPT;
    }
    return reconnect(j);
}

/* Is the file at j's path still the one j is connected to?  1 when it
 * cannot tell (go on with what we have). */
int
sp_jn_same_file(const struct sp_journal *j)
{
    struct stat sb;

    if (stat(j->path, &sb) == 0) {
        return sb.st_dev == j->dev && sb.st_ino == j->ino;
    }
    return errno != ENOENT && errno != ENOTDIR;
}

ctspool_rc
sp_jn_follow(struct sp_journal *j)
{
    int was_open = j->db != NULL;
    ctspool_rc rc;

    if (j->in_txn) {
        return CTSPOOL_OK;
    }
    if (was_open) {
        if (sp_jn_same_file(j)) {
            return CTSPOOL_OK;
        }
        sp_jn_disconnect(j);
        j->gen++;
    }
    rc = reconnect(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (was_open) {
        sp_log(SP_LOG_WARN,
               "journal %s was moved aside by another process (damaged): "
               "reopened the fresh journal at that path",
               j->path);
    }
    return CTSPOOL_OK;
}

uint64_t
sp_journal_gen(const struct sp_journal *j)
{
    return j->gen;
}

const char *
sp_journal_path(const struct sp_journal *j)
{
    return j->path;
}

/* ---- quarantined sets ------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
    /* Version order: NAME.corrupt-STAMP-10 after NAME.corrupt-STAMP-9. */
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

static int
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

ctspool_rc
sp_journal_quarantined(const char *path, char ***out, size_t *n_out,
                       struct sp_err *e)
{
    char prefix[NAME_MAX + 16], *dir = NULL;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = NULL;
    ctspool_rc rc = CTSPOOL_OK;

    *out = NULL;
    *n_out = 0;
    if ((size_t)snprintf(prefix, sizeof(prefix), "%s.corrupt-", base) >=
        sizeof(prefix)) {
        sp_err_set(e, "journal path %s is too long", path);
        return CTSPOOL_E_IO;
    }
    if (!(dir = sp_dir_of(path))) {
        goto nomem;
    }
    if (!(d = opendir(dir))) {
        if (errno != ENOENT) {
            sp_err_set(e, "cannot list %s: %s", dir, strerror(errno));
            rc = CTSPOOL_E_IO;
        }
        goto out;
    }
    while ((de = readdir(d))) {
        char full[PATH_MAX];

        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            ends_with(de->d_name, "-wal") || ends_with(de->d_name, "-shm") ||
            ends_with(de->d_name, "-journal")) {
            continue;
        }
        if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir,
                             de->d_name) >= sizeof(full)) {
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 4;
            char **nn = realloc(names, nc * sizeof(*nn));

            if (!nn) {
                goto nomem;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(full))) {
            goto nomem;
        }
        n++;
    }
    if (n) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    *out = names;
    *n_out = n;
    names = NULL;
    n = 0;
    goto out;
nomem:
    sp_err_set(e, "out of memory");
    rc = CTSPOOL_E_NOMEM;
out:
    if (d) {
        closedir(d);
    }
    sp_journal_quarantined_free(names, n);
    free(dir);
    return rc;
}

void
sp_journal_quarantined_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

ctspool_rc
sp_journal_mark_salvaged(const char *qpath, char *dest, size_t destsz,
                         struct sp_err *e)
{
    const char *mark = strstr(qpath, ".corrupt-");
    char base[PATH_MAX], to[PATH_MAX];
    int fd;
    ctspool_rc rc = CTSPOOL_OK;

    if (destsz) {
        *dest = '\0';
    }
    if (!mark || strchr(mark, '/')) {
        return CTSPOOL_OK; /* not a quarantined set: left as it is */
    }
    if ((size_t)(mark - qpath) >= sizeof(base)) {
        sp_err_set(e, "path %s is too long", qpath);
        return CTSPOOL_E_IO;
    }
    snprintf(base, sizeof(base), "%.*s", (int)(mark - qpath), qpath);
    fd = sp_jn_dir_lock(qpath, LOCK_EX);
    /* NAME.salvaged-STAMP, or -2, -3, ... when the journal was moved
     * aside, salvaged and moved aside again within one second. */
    if (fresh_name(base, "salvaged", mark + strlen(".corrupt-"), to,
                   sizeof(to)) != 0) {
        sp_err_set(e, "cannot name a place for salvaged journal %s", qpath);
        rc = CTSPOOL_E_IO;
    } else if (rename_set(qpath, to) != 0) {
        sp_err_set(e, "cannot rename %s to %s: %s", qpath, to,
                   strerror(errno));
        rc = CTSPOOL_E_IO;
    } else {
        sp_sync_dir_of(qpath);
        snprintf(dest, destsz, "%s", to);
    }
    sp_jn_dir_unlock(fd);
    return rc;
}

ctspool_rc
sp_journal_check_pages(struct sp_journal *j)
{
    sqlite3_stmt *s = NULL;
    ctspool_rc rc;
    int r;

    rc = sp_jn_follow(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_prepare_v2(j->db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (r == SQLITE_OK && (r = sqlite3_step(s)) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(s, 0);

        if (res && strcmp(res, "ok") != 0) {
            const char *nl = strchr(res, '\n');

            /* "*** in database main ***\nPage 565: ...": the page. */
            sp_err_set(&j->err, "integrity check: %s (journal %s)",
                       nl && strncmp(res, "***", 3) == 0 ? nl + 1 : res,
                       j->path);
            sqlite3_finalize(s);
            return CTSPOOL_E_CORRUPT;
        }
        r = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return r == SQLITE_OK ? CTSPOOL_OK
                          : sp_jn_db_fail(j, r, "integrity check");
}
