/*
 * evfloor.c -- the HTTP floors of scripts/bench/serve built on libevent's
 * evhttp instead of libmicrohttpd, to compare the two designs on the same
 * single-point load: a server that reads each POST body and answers 201
 * {"accepted":1} -- no parsing, no validation, no journal.
 *
 *   evfloor PORT [THREADS]             answers at once
 *   evfloor PORT [THREADS] --sync FILE answers after a group commit with
 *                                      nothing to store: a finished
 *                                      request is queued for one writer
 *                                      thread, which appends a byte per
 *                                      request to FILE, fdatasync()s it
 *                                      and hands the batch back to each
 *                                      event loop with one eventfd write
 *                                      per loop, whose callback answers
 *                                      them all (no per-request wake-up)
 *
 * THREADS event loops (default 1) share the listening socket.  Runs until
 * SIGTERM.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "floorsync.h"

#define MAX_LOOPS 16

struct req {
    struct fs_req link; /* first: the writer's queue */
    struct evhttp_request *er;
    struct loop *lp;
    struct req *next; /* its loop's list of synced requests */
};

struct loop {
    struct event_base *base;
    struct evhttp *http;
    int efd;            /* eventfd: the writer finished a batch of ours */
    struct event *done_ev;
    pthread_mutex_t lock;
    struct req *done;   /* synced, to answer (under lock) */
    pthread_t thread;
};

static int n_loops;
static struct loop loops[MAX_LOOPS];

static void
answer(struct evhttp_request *er)
{
    static const char ok[] = "{\"accepted\":1}";
    struct evbuffer *b = evhttp_request_get_output_buffer(er);

    evbuffer_add_reference(b, ok, sizeof(ok) - 1, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(er), "Content-Type",
                      "application/json");
    evhttp_send_reply(er, 201, "Created", NULL);
}

static void
on_request(struct evhttp_request *er, void *arg)
{
    struct loop *lp = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(er);
    struct req *r;

    evbuffer_drain(in, evbuffer_get_length(in)); /* body read, dropped */
    if (fs.fd < 0) {
        answer(er);
        return;
    }
    r = malloc(sizeof(*r));
    if (!r) {
        evhttp_send_error(er, 503, NULL);
        return;
    }
    r->er = er;
    r->lp = lp;
    fs_submit(&r->link);
}

/* The loop's eventfd: answer every request the writer gave back. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    struct req *list;
    uint64_t n;

    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        perror("evfloor: eventfd");
        exit(70);
    }
    pthread_mutex_lock(&lp->lock);
    list = lp->done;
    lp->done = NULL;
    pthread_mutex_unlock(&lp->lock);
    while (list) {
        struct req *next = list->next;

        answer(list->er);
        free(list);
        list = next;
    }
}

/* The writer synced list: to each request's loop, one wake-up per loop. */
static void
release(struct fs_req *list)
{
    int woke[MAX_LOOPS] = {0};

    while (list) {
        struct req *r = (struct req *)list;
        struct loop *lp = r->lp;

        list = list->next;
        pthread_mutex_lock(&lp->lock);
        r->next = lp->done;
        lp->done = r;
        pthread_mutex_unlock(&lp->lock);
        woke[lp - loops] = 1;
    }
    for (int i = 0; i < n_loops; i++) {
        uint64_t one = 1;

        if (woke[i] && write(loops[i].efd, &one, sizeof(one)) < 0) {
            perror("evfloor: eventfd");
            exit(70);
        }
    }
}

static void *
loop_main(void *arg)
{
    struct loop *lp = arg;

    event_base_dispatch(lp->base);
    return NULL;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    const char *sync_path;
    int lfd, one = 1, sig;
    sigset_t set;
    int rc = fs_loop_args(argc, argv, "evfloor", 1, MAX_LOOPS, &n_loops,
                          &sync_path);

    if (rc != 0) {
        return rc;
    }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(lfd, 1024) != 0) {
        perror("evfloor: listen");
        return 69;
    }
    fs_block_signals(&set);
    for (int i = 0; i < n_loops; i++) {
        struct loop *lp = &loops[i];

        pthread_mutex_init(&lp->lock, NULL);
        lp->base = event_base_new();
        lp->http = lp->base ? evhttp_new(lp->base) : NULL;
        lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (!lp->http || lp->efd < 0 ||
            evhttp_accept_socket(lp->http, lfd) != 0) {
            fprintf(stderr, "evfloor: cannot set up loop %d\n", i);
            return 71;
        }
        evhttp_set_allowed_methods(lp->http, EVHTTP_REQ_POST);
        evhttp_set_gencb(lp->http, on_request, lp);
        lp->done_ev = event_new(lp->base, lp->efd, EV_READ | EV_PERSIST,
                                on_done, lp);
        if (!lp->done_ev || event_add(lp->done_ev, NULL) != 0 ||
            pthread_create(&lp->thread, NULL, loop_main, lp) != 0) {
            return 71;
        }
    }
    if (sync_path && (rc = fs_start(sync_path, release)) != 0) {
        return rc;
    }
    sigwait(&set, &sig);
    _exit(0);
}
