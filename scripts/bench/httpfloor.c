/*
 * httpfloor.c -- the HTTP floors for scripts/bench/serve: a libmicrohttpd
 * server with the daemon set-up of `ctspool serve` (internal threads, a
 * pool of one thread per CPU, suspend/resume allowed, the same
 * connection limits) that reads each POST body and answers 201
 * {"accepted":1} -- no parsing, no validation, no journal.
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
 * The second is the floor of serve's design on this disk: what serve
 * would answer if parsing and SQLite cost nothing.  Runs until SIGTERM.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static volatile sig_atomic_t stop;

/* One request; with --sync, queued for the writer while suspended. */
struct req {
    struct MHD_Connection *conn;
    int is_synced; /* the writer's fdatasync covered it */
    struct req *next;
};

static struct {
    int fd;      /* --sync FILE; -1: answer at once */
    int threads; /* --sync-threads: block the connection's thread */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_cond_t synced; /* --sync-threads: a batch was synced */
    struct req *queue;
} g = {-1, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
       PTHREAD_COND_INITIALIZER, NULL};

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Group commit with nothing to commit: one write + fdatasync per batch. */
static void *
writer_main(void *arg)
{
    char buf[1024];

    (void)arg;
    memset(buf, 'x', sizeof(buf));
    for (;;) {
        struct req *list;
        size_t n = 0;

        pthread_mutex_lock(&g.lock);
        while (!g.queue) {
            pthread_cond_wait(&g.cond, &g.lock);
        }
        list = g.queue;
        g.queue = NULL;
        pthread_mutex_unlock(&g.lock);
        for (struct req *r = list; r; r = r->next) {
            n++;
        }
        if (write(g.fd, buf, n < sizeof(buf) ? n : sizeof(buf)) < 0 ||
            fdatasync(g.fd) != 0) {
            perror("httpfloor: --sync");
            exit(70);
        }
        if (g.threads) {
            pthread_mutex_lock(&g.lock);
            for (struct req *r = list; r; r = r->next) {
                r->is_synced = 1;
            }
            pthread_cond_broadcast(&g.synced);
            pthread_mutex_unlock(&g.lock);
            continue;
        }
        while (list) {
            struct req *next = list->next;

            list->is_synced = 1;
            MHD_resume_connection(list->conn);
            list = next;
        }
    }
    return NULL;
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
    if (g.fd >= 0 && g.threads) {
        pthread_mutex_lock(&g.lock);
        r->next = g.queue;
        g.queue = r;
        pthread_cond_signal(&g.cond);
        while (!r->is_synced) {
            pthread_cond_wait(&g.synced, &g.lock);
        }
        pthread_mutex_unlock(&g.lock);
    } else if (g.fd >= 0 && !r->is_synced) {
        MHD_suspend_connection(c);
        pthread_mutex_lock(&g.lock);
        r->next = g.queue;
        g.queue = r;
        pthread_cond_signal(&g.cond);
        pthread_mutex_unlock(&g.lock);
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
    pthread_t writer;
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = n_cpu < 2 ? 2 : n_cpu > 16 ? 16 : (unsigned)n_cpu;

    if (argc == 4 && (strcmp(argv[2], "--sync") == 0 ||
                      strcmp(argv[2], "--sync-threads") == 0)) {
        g.threads = strcmp(argv[2], "--sync-threads") == 0;
        g.fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (g.fd < 0) {
            perror(argv[3]);
            return 73;
        }
        if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
            return 71;
        }
    } else if (argc != 2) {
        fprintf(stderr,
                "usage: httpfloor PORT [--sync FILE | --sync-threads FILE]\n");
        return 64;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    d = MHD_start_daemon(g.threads ? MHD_USE_AUTO_INTERNAL_THREAD |
                                         MHD_USE_THREAD_PER_CONNECTION |
                                         MHD_USE_ERROR_LOG
                                   : MHD_USE_AUTO_INTERNAL_THREAD |
                                         MHD_ALLOW_SUSPEND_RESUME |
                                         MHD_USE_ERROR_LOG,
                         (uint16_t)atoi(argv[1]), NULL, NULL, on_access,
                         NULL, MHD_OPTION_THREAD_POOL_SIZE,
                         g.threads ? 0u : threads,
                         MHD_OPTION_CONNECTION_LIMIT, 1024u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)16 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_END);
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
