/*
 * floorsync.h -- the group commit with nothing to store that the HTTP
 * floors of scripts/bench/serve share (httpfloor.c, evfloor.c,
 * h2ofloor.c): a finished request is queued (fs_submit); one writer
 * thread takes everything queued, appends a byte per request to the
 * file, fdatasync()s it, and hands the whole batch to the floor's
 * release function, which answers each request the way its library
 * allows.  Also the command line and signal set-up of the event-loop
 * floors (evfloor.c, h2ofloor.c).  Header-only: each floor is one cc
 * command.
 */
#ifndef FLOORSYNC_H
#define FLOORSYNC_H

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Embedded first in each floor's request. */
struct fs_req {
    struct fs_req *next;
};

static struct {
    int fd; /* the file synced; -1: no group commit (answer at once) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct fs_req *queue;
    void (*release)(struct fs_req *list); /* on the writer thread */
} fs = {-1, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
        NULL};

static void
fs_submit(struct fs_req *r)
{
    pthread_mutex_lock(&fs.lock);
    r->next = fs.queue;
    fs.queue = r;
    pthread_cond_signal(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
}

static void *
fs_writer(void *arg)
{
    char buf[1024];

    (void)arg;
    memset(buf, 'x', sizeof(buf));
    for (;;) {
        struct fs_req *list;
        size_t n = 0;

        pthread_mutex_lock(&fs.lock);
        while (!fs.queue) {
            pthread_cond_wait(&fs.cond, &fs.lock);
        }
        list = fs.queue;
        fs.queue = NULL;
        pthread_mutex_unlock(&fs.lock);
        for (struct fs_req *r = list; r; r = r->next) {
            n++;
        }
        if (write(fs.fd, buf, n < sizeof(buf) ? n : sizeof(buf)) < 0 ||
            fdatasync(fs.fd) != 0) {
            perror("floor: --sync");
            exit(70);
        }
        fs.release(list);
    }
    return NULL;
}

/* Opens path for the group commit and starts the writer: 0, or an exit
 * code after a message. */
static int
fs_start(const char *path, void (*release)(struct fs_req *list))
{
    pthread_t writer;

    fs.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fs.fd < 0) {
        perror(path);
        return 73;
    }
    fs.release = release;
    if (pthread_create(&writer, NULL, fs_writer, NULL) != 0) {
        fprintf(stderr, "floor: cannot start the writer\n");
        return 71;
    }
    return 0;
}

/*
 * NAME PORT [THREADS] [--sync FILE] of an event-loop floor: *n_loops
 * (default dflt, 1 to max) and *sync_path (NULL: answer at once).
 * 0, or the exit code after a message.
 */
static inline int
fs_loop_args(int argc, char **argv, const char *name, int dflt, int max,
             int *n_loops, const char **sync_path)
{
    int argi = 2;

    *n_loops = dflt;
    *sync_path = NULL;
    if (argc > argi && argv[argi][0] != '-') {
        *n_loops = atoi(argv[argi++]);
        if (*n_loops < 1 || *n_loops > max) {
            fprintf(stderr, "%s: THREADS: 1 to %d\n", name, max);
            return 64;
        }
    }
    if (argc == argi + 2 && strcmp(argv[argi], "--sync") == 0) {
        *sync_path = argv[argi + 1];
    } else if (argc < 2 || argc != argi) {
        fprintf(stderr, "usage: %s PORT [THREADS] [--sync FILE]\n", name);
        return 64;
    }
    return 0;
}

/* SIGTERM and SIGINT blocked in every thread started after this, to be
 * taken by sigwait(set) in main; SIGPIPE ignored. */
static inline void
fs_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#endif
