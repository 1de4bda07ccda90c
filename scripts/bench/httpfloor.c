/*
 * httpfloor.c -- the HTTP floors for scripts/bench/serve: a libmicrohttpd
 * server with the daemon set-up of `ctspool serve` (internal threads, a
 * pool of one thread per CPU, suspend/resume allowed, the same
 * connection limits) that reads each POST body and answers 201
 * {"accepted":1} -- no parsing, no validation, no journal.  Its threads
 * wait with epoll, or with poll(2) after --poll (serve's default
 * server.event_loop; the option comes first).
 *
 *   httpfloor PORT              answers at once: the most any
 *                               libmicrohttpd endpoint answers here
 *   httpfloor PORT --sync FILE  answers like serve's group commit, with
 *                               nothing to store: each request's
 *                               connection is suspended and queued; one
 *                               writer thread takes everything queued,
 *                               appends a byte per request to FILE,
 *                               fdatasync()s it, and resumes them all
 *   httpfloor PORT --sync-threads FILE
 *                               the same group commit with a thread per
 *                               connection (libmicrohttpd's
 *                               MHD_USE_THREAD_PER_CONNECTION): the
 *                               request's thread queues it and blocks
 *                               until the writer's fdatasync covered it,
 *                               then answers; no suspend/resume
 *
 * --poll --sync is the floor of serve's design on this disk: what serve
 * would answer if parsing and SQLite cost nothing.  Runs until SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "floorsync.h"

static volatile sig_atomic_t stop;
static int threads_mode; /* --sync-threads */
static int poll_mode;    /* --poll */
static pthread_cond_t synced = PTHREAD_COND_INITIALIZER;

/* One request; with --sync, queued for the writer while suspended. */
struct req {
    struct fs_req link; /* first: the writer's queue */
    struct MHD_Connection *conn;
    int is_synced; /* the writer's fdatasync covered it */
};

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The writer synced list: resume the suspended connections, or wake
 * the connections' threads (--sync-threads). */
static void
release(struct fs_req *list)
{
    if (threads_mode) {
        pthread_mutex_lock(&fs.lock);
        for (struct fs_req *r = list; r; r = r->next) {
            ((struct req *)r)->is_synced = 1;
        }
        pthread_cond_broadcast(&synced);
        pthread_mutex_unlock(&fs.lock);
        return;
    }
    while (list) {
        struct req *r = (struct req *)list;

        list = list->next;
        r->is_synced = 1;
        MHD_resume_connection(r->conn); /* r may be freed from here */
    }
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *data,
          size_t *data_len, void **ctx)
{
    static const char ok[] = "{\"accepted\":1}";
    struct req *r = *ctx;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)data;
    if (!r) {
        r = calloc(1, sizeof(*r)); /* headers: wait for the body */
        if (!r) {
            return MHD_NO;
        }
        r->conn = c;
        *ctx = r;
        return MHD_YES;
    }
    if (*data_len) {
        *data_len = 0; /* body bytes read and dropped */
        return MHD_YES;
    }
    if (fs.fd >= 0 && threads_mode) {
        fs_submit(&r->link);
        pthread_mutex_lock(&fs.lock);
        while (!r->is_synced) {
            pthread_cond_wait(&synced, &fs.lock);
        }
        pthread_mutex_unlock(&fs.lock);
    } else if (fs.fd >= 0 && !r->is_synced) {
        MHD_suspend_connection(c);
        fs_submit(&r->link);
        return MHD_YES;
    }
    resp = MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok,
                                           MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(c, MHD_HTTP_CREATED, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ctx,
             enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    free(*ctx);
    *ctx = NULL;
}

int
main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = n_cpu < 2 ? 2 : n_cpu > 16 ? 16 : (unsigned)n_cpu;

    if (argc >= 3 && strcmp(argv[2], "--poll") == 0) {
        poll_mode = 1;
        argv[2] = argv[1]; /* the rest reads as without it */
        argv++;
        argc--;
    }
    if (argc == 4 && (strcmp(argv[2], "--sync") == 0 ||
                      strcmp(argv[2], "--sync-threads") == 0)) {
        int rc;

        threads_mode = strcmp(argv[2], "--sync-threads") == 0;
        rc = fs_start(argv[3], release);
        if (rc != 0) {
            return rc;
        }
    } else if (argc != 2) {
        fprintf(stderr, "usage: httpfloor PORT [--poll] "
                        "[--sync FILE | --sync-threads FILE]\n");
        return 64;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    /* A thread per connection takes no pool: it starts at opts[1]. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 1024, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {MHD_OPTION_END, 0, NULL}};
    d = MHD_start_daemon(threads_mode ? MHD_USE_AUTO_INTERNAL_THREAD |
                                         MHD_USE_THREAD_PER_CONNECTION |
                                         MHD_USE_ERROR_LOG
                                   : (poll_mode
                                          ? MHD_USE_POLL_INTERNAL_THREAD
                                          : MHD_USE_AUTO_INTERNAL_THREAD) |
                                         MHD_ALLOW_SUSPEND_RESUME |
                                         MHD_USE_ERROR_LOG,
                         (uint16_t)atoi(argv[1]), NULL, NULL, on_access,
                         NULL, MHD_OPTION_ARRAY,
                         threads_mode ? &opts[1] : opts, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "httpfloor: cannot listen on port %s\n", argv[1]);
        return 69;
    }
    while (!stop) {
        pause();
    }
    /* Exit without stopping the daemon: suspended connections may be
     * waiting for the writer, and MHD_stop_daemon() refuses those. */
    _exit(0);
}
