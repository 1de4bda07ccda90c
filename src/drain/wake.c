/*
 * wake.c -- wakes the idle drainer when another process commits to the
 * journal, so that a new point leaves at once instead of at the next
 * upload.poll_ms.  SQLite writes the journal's -wal file on every
 * commit: an inotify watch on the journal's directory reports it by
 * name (IN_MODIFY), also when the -wal file is created later, reset by
 * a checkpoint or belongs to a fresh journal after the old one was
 * renamed away (journal_heal.c).  A wake only means "look again": the
 * caller checks data_version, which stays the truth, and polls it as
 * before where inotify is not available.
 *
 * The -wal file is written before the commit shows (the writer syncs
 * it, then publishes the commit in the -shm file, which inotify does not
 * see): after an event the waits are short for a while (1, 2, 4 ... up
 * to 32 ms, for WAKE_HOT_MS), so that a commit that was not visible yet
 * at the wake is seen soon after.  The wait is an epoll_wait()
 * (where a process sleeps tells an idle drainer from one whose request
 * is in flight: libcurl waits in poll()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "drain_int.h"

#define WAKE_STEP_MS 100 /* waits end this often to see a signal */
#define WAKE_READS_MAX 16 /* buffers of events read at one wake */
#define WAKE_HOT_MS 1000  /* after an event: look again soon, this long */
#define WAKE_HOT_STEP_MAX_MS 32
#define WAKE_MASK                                                         \
    (IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/* The watch on the journal's directory; fd -1: none (polling only). */
struct dr_wake {
    int fd;           /* inotify instance */
    int ep;           /* epoll instance holding fd */
    int wd;           /* the directory's watch; -1: to be armed again */
    char *dir;        /* the journal's directory */
    char *name;       /* the journal's file name in dir */
    size_t name_len;
    int64_t hot_until; /* a commit may be under way (monotonic ms) */
    int64_t hot_step;  /* the next short wait */
};

/* Watches dir (again); 0, or -1 when it cannot be watched now. */
static int
arm(struct dr_wake *w)
{
    w->wd = inotify_add_watch(w->fd, w->dir, WAKE_MASK | IN_ONLYDIR);
    return w->wd >= 0 ? 0 : -1;
}

struct dr_wake *
dr_wake_open(const char *journal)
{
    struct dr_wake *w = calloc(1, sizeof(*w));
    const char *slash = strrchr(journal, '/');

    if (!w) {
        return NULL;
    }
    w->fd = w->wd = w->ep = -1;
    if (slash) {
        w->dir = strndup(journal, (size_t)(slash - journal) + 1);
        w->name = strdup(slash + 1);
    } else {
        w->dir = strdup(".");
        w->name = strdup(journal);
    }
    if (!w->dir || !w->name || !*w->name) {
        dr_wake_close(w);
        return NULL;
    }
    w->name_len = strlen(w->name);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN};

        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
            close(w->fd);
            w->fd = -1;
        }
    }
    if (w->fd < 0 || arm(w) != 0) {
        sp_log(SP_LOG_DEBUG,
               "cannot watch %s for commits (%s): polling every "
               "upload.poll_ms",
               w->dir, strerror(errno));
    }
    if (w->fd < 0) {
        dr_wake_close(w);
        return NULL;
    }
    return w;
}

void
dr_wake_close(struct dr_wake *w)
{
    if (!w) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    if (w->ep >= 0) {
        close(w->ep);
    }
    free(w->dir);
    free(w->name);
    free(w);
}

/* Is name the journal's file or its -wal file? */
static int
is_journal(const struct dr_wake *w, const char *name)
{
    return strncmp(name, w->name, w->name_len) == 0 &&
           (name[w->name_len] == '\0' ||
            strcmp(name + w->name_len, "-wal") == 0);
}

/* Does event ev call for a look at the journal? */
static int
is_wake(struct dr_wake *w, const struct inotify_event *ev)
{
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (ev->wd != w->wd) {
            return 0;
        }
        /* The directory went away or moved: watch the path again at
         * the next wait. */
        if (!(ev->mask & IN_IGNORED)) {
            inotify_rm_watch(w->fd, w->wd);
        }
        w->wd = -1;
        return 1;
    }
    /* IN_Q_OVERFLOW: events were lost, look. */
    return (ev->mask & IN_Q_OVERFLOW) ||
           (ev->len && is_journal(w, ev->name));
}

/*
 * Reads the queued events: 1 when one concerns the journal, else 0.
 * Reads a bounded amount: other files of a busy directory must not keep
 * it reading (what is left wakes the next wait at once).
 */
static int
consume(struct dr_wake *w)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t n;

    for (int reads = 0; reads < WAKE_READS_MAX &&
                        (n = read(w->fd, buf, sizeof(buf))) > 0;
         reads++) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const void *)p;

            hit |= is_wake(w, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    return hit;
}

int
dr_wake_wait(struct dr_wake *w, int64_t ms)
{
    int64_t now = sp_clock_ms(), end;
    int is_hot = 0;

    if (!w || (w->wd < 0 && arm(w) != 0)) {
        dr_nap_ms(ms);
        return 0;
    }
    if (now < w->hot_until && w->hot_step < ms) {
        ms = w->hot_step;
        is_hot = 1;
        if (w->hot_step < WAKE_HOT_STEP_MAX_MS) {
            w->hot_step *= 2;
        }
    }
    end = now + ms;
    while (!dr_stop_flag && !dr_reload_flag) {
        int64_t left = end - sp_clock_ms();
        struct epoll_event ev;
        int r;

        if (left <= 0) {
            break;
        }
        r = epoll_wait(w->ep, &ev, 1,
                       (int)(left > WAKE_STEP_MS ? WAKE_STEP_MS : left));
        if (r > 0 && consume(w)) {
            w->hot_until = sp_clock_ms() + WAKE_HOT_MS;
            w->hot_step = 1;
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            dr_nap_ms(end - sp_clock_ms()); /* EINTR: the loop sees it */
            break;
        }
    }
    return is_hot && !dr_stop_flag && !dr_reload_flag;
}
