/*
 * input_src.c -- where the readers of append input (input.c, csv.c,
 * input_detect.c) get their bytes: first the bytes format detection read
 * ahead, then the FILE.
 *
 * By default the FILE is read with fread(), which on a pipe waits until
 * the whole buffer is full or the pipe is closed.  A source that follows
 * (append --follow) instead makes one read(2) per call and hands on
 * whatever the pipe holds, so a line is read as soon as it is written.
 * Its wake_fd, when readable, ends the wait for input: the read fails
 * with ECANCELED (a caller that stops on a signal or on a failure of its
 * own makes it readable; a blocked read(2) could not be woken reliably).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_int.h"

void
sp_src_init(struct sp_src *s, FILE *f, int is_follow, int wake_fd)
{
    memset(s, 0, sizeof(*s));
    s->f = f;
    s->is_follow = is_follow;
    s->wake_fd = wake_fd;
}

void
sp_src_cleanup(struct sp_src *s)
{
    if (!s) {
        return;
    }
    free(s->pre);
    s->pre = NULL;
    s->pre_len = 0;
    s->pre_pos = 0;
}

void
sp_src_unread(struct sp_src *s, char *pre, size_t len)
{
    assert(s->pre_pos == s->pre_len); /* no earlier prefix pending */
    free(s->pre);
    s->pre = pre;
    s->pre_len = pre ? len : 0;
    s->pre_pos = 0;
}

/*
 * Waits until fd has input (or its end) or wake_fd is readable.  0 when
 * fd is ready, -1 with errno (ECANCELED: woken).
 */
static int
wait_input(int fd, int wake_fd)
{
    struct pollfd p[2];
    int n;

    p[0].fd = fd;
    p[0].events = POLLIN;
    p[1].fd = wake_fd;
    p[1].events = POLLIN;
    for (;;) {
        p[0].revents = 0;
        p[1].revents = 0;
        n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (p[1].revents) {
            errno = ECANCELED;
            return -1;
        }
        if (p[0].revents) {
            return 0; /* data, end of input, or an error read(2) tells */
        }
    }
}

/* One read(2) of at most n bytes: what the pipe holds, without waiting
 * for more. */
static ssize_t
read_once(const struct sp_src *s, int fd, char *buf, size_t n)
{
    ssize_t r;

    for (;;) {
        if (s->wake_fd >= 0 && wait_input(fd, s->wake_fd) < 0) {
            return -1;
        }
        r = read(fd, buf, n);
        if (r >= 0 || errno != EINTR) {
            return r;
        }
    }
}

ssize_t
sp_src_read(struct sp_src *s, char *buf, size_t n)
{
    size_t k;
    int fd;

    if (n == 0) {
        return 0;
    }
    if (s->pre_pos < s->pre_len) {
        k = s->pre_len - s->pre_pos;
        if (k > n) {
            k = n;
        }
        memcpy(buf, s->pre + s->pre_pos, k);
        s->pre_pos += k;
        return (ssize_t)k;
    }
    /* A FILE without a descriptor (fmemopen) has nothing to wait for. */
    fd = s->is_follow ? fileno(s->f) : -1;
    if (fd >= 0) {
        return read_once(s, fd, buf, n);
    }
    k = fread(buf, 1, n, s->f);
    if (k == 0 && ferror(s->f)) {
        return -1;
    }
    return (ssize_t)k;
}
