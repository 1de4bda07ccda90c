/*
 * h2ofloor.c -- the HTTP floors of scripts/bench/serve built on h2o's
 * library (libh2o-evloop) instead of libmicrohttpd, to compare the two
 * designs on the same single-point load: a server that takes each POST
 * body and answers 201 {"accepted":1} -- no parsing, no validation, no
 * journal.
 *
 *   h2ofloor PORT [THREADS]             answers at once
 *   h2ofloor PORT [THREADS] --sync FILE answers after a group commit with
 *                                       nothing to store: a finished
 *                                       request is queued for one writer
 *                                       thread, which appends a byte per
 *                                       request to FILE, fdatasync()s it
 *                                       and hands each request back to
 *                                       its event loop through h2o's
 *                                       message queue (one wake-up per
 *                                       loop per batch), which answers
 *
 * THREADS event loops (default 2), each with its own listening socket
 * (SO_REUSEPORT).  Runs until SIGTERM.
 */
#define H2O_USE_LIBUV 0
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "floorsync.h"

#define MAX_LOOPS 16

struct loop {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_receiver_t done; /* synced requests come back here */
    pthread_t thread;
};

/* A request waiting for the writer; lives in the request's pool. */
struct req {
    struct fs_req link;            /* first: the writer's queue */
    h2o_multithread_message_t msg; /* back to its loop */
    h2o_req_t *hr;
    struct loop *lp;
};

static h2o_globalconf_t config;
static unsigned short port;
static int n_loops;
static struct loop loops[MAX_LOOPS];

static void
answer(h2o_req_t *hr)
{
    static h2o_generator_t gen = {NULL, NULL};
    static char ok[] = "{\"accepted\":1}";
    h2o_iovec_t body = h2o_iovec_init(ok, sizeof(ok) - 1);

    hr->res.status = 201;
    hr->res.reason = "Created";
    hr->res.content_length = body.len;
    h2o_add_header(&hr->pool, &hr->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(hr, &gen);
    h2o_send(hr, &body, 1, H2O_SEND_STATE_FINAL);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *hr)
{
    struct req *r;
    struct loop *lp;

    (void)self;
    if (!h2o_memis(hr->method.base, hr->method.len, H2O_STRLIT("POST"))) {
        return -1;
    }
    if (fs.fd < 0) {
        answer(hr);
        return 0;
    }
    lp = (struct loop *)((char *)hr->conn->ctx - offsetof(struct loop, ctx));
    r = h2o_mem_alloc_pool(&hr->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->hr = hr;
    r->lp = lp;
    fs_submit(&r->link);
    return 0;
}

/* On a loop: the writer gave back these requests, synced. */
static void
on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        struct req *r = (struct req *)((char *)messages->next -
                                       offsetof(struct req, msg.link));

        h2o_linklist_unlink(&r->msg.link);
        answer(r->hr);
    }
}

/* The writer synced list: each request back to its loop (h2o wakes a
 * loop once for all the messages queued while it was busy). */
static void
release(struct fs_req *list)
{
    while (list) {
        struct req *r = (struct req *)list;

        list = list->next;
        h2o_multithread_send_message(&r->lp->done, &r->msg);
    }
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop *lp = listener->data;
    h2o_socket_t *sock;

    if (err) {
        return;
    }
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL) {
        h2o_accept(&lp->accept_ctx, sock);
    }
}

static void *
loop_main(void *arg)
{
    struct loop *lp = arg;
    struct sockaddr_in sa;
    h2o_socket_t *ls;
    int fd, one = 1;

    h2o_context_init(&lp->ctx, h2o_evloop_create(), &config);
    lp->accept_ctx.ctx = &lp->ctx;
    lp->accept_ctx.hosts = config.hosts;
    h2o_multithread_register_receiver(lp->ctx.queue, &lp->done, on_done);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 1024) != 0) {
        perror("h2ofloor: listen");
        exit(69);
    }
    ls = h2o_evloop_socket_create(lp->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = lp;
    h2o_socket_read_start(ls, on_accept);
    while (h2o_evloop_run(lp->ctx.loop, INT32_MAX) == 0) {
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    h2o_hostconf_t *host;
    h2o_handler_t *handler;
    const char *sync_path;
    sigset_t set;
    int sig;
    int rc = fs_loop_args(argc, argv, "h2ofloor", 2, MAX_LOOPS, &n_loops,
                          &sync_path);

    if (rc != 0) {
        return rc;
    }
    port = (unsigned short)atoi(argv[1]);
    fs_block_signals(&set);
    h2o_config_init(&config);
    host = h2o_config_register_host(&config,
                                    h2o_iovec_init(H2O_STRLIT("default")),
                                    65535);
    handler = h2o_create_handler(h2o_config_register_path(host, "/", 0),
                                 sizeof(*handler));
    handler->on_req = on_req;
    if (sync_path && (rc = fs_start(sync_path, release)) != 0) {
        return rc;
    }
    for (int i = 0; i < n_loops; i++) {
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) !=
            0) {
            return 71;
        }
    }
    sigwait(&set, &sig);
    _exit(0);
}
