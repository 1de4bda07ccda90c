/*
 * conns.c -- the deadline of a request's headers on serve's connections.
 *
 * libmicrohttpd closes a connection idle for CONN_TIMEOUT_S, but a client
 * that sends its request headers a byte at a time, each within that
 * timeout, holds the connection (and one of CONN_LIMIT slots) as long as
 * it likes: a thousand such clients lock every producer out.  Every open
 * connection is registered here; while it waits for a request's headers
 * (from its accept, and again after each answer on a kept-alive
 * connection) it carries the time it began to wait, and a reaper thread
 * shuts down (shutdown(2)) the socket of one that has waited longer than
 * the deadline.  libmicrohttpd then reads the end of the stream and
 * closes the connection as its own.  A request's body has its own
 * deadline (http.c, REQUEST_DEADLINE_MS).
 *
 * Invariants:
 * (1) An entry is on the list exactly while its connection is open: added
 *     at MHD_CONNECTION_NOTIFY_STARTED, removed at ..._CLOSED, which
 *     libmicrohttpd calls before it closes the socket.  The reaper shuts a
 *     socket down only under the list's lock, so never a descriptor that
 *     was closed and given to another file.
 * (2) waiting_since is NOT_WAITING from a request's headers to its end
 *     (the time an answer waits for the commit is not the client's).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http_int.h"

#define NOT_WAITING INT64_MIN
#define REAP_EVERY_MS 1000

struct sv_conn {
    int fd;
    int is_shut;                 /* under the list's lock */
    atomic_llong waiting_since;  /* sp_clock_ms(), or NOT_WAITING (2) */
    struct sv_conn *prev, *next; /* under the list's lock */
};

struct sv_conns {
    int64_t deadline_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int is_stopping; /* under lock */
    struct sv_conn *head;
    pthread_t reaper;
};

/* Shuts down the sockets that waited too long for their headers; how
 * many.  Under c->lock. */
static unsigned
reap(struct sv_conns *c, int64_t now)
{
    unsigned n = 0;

    for (struct sv_conn *k = c->head; k; k = k->next) {
        int64_t since = atomic_load(&k->waiting_since);

        if (k->is_shut || since == NOT_WAITING ||
            now - since <= c->deadline_ms) {
            continue;
        }
        /* ENOTCONN: the client went first; libmicrohttpd closes it. */
        if (shutdown(k->fd, SHUT_RDWR) == 0 || errno == ENOTCONN) {
            k->is_shut = 1;
            n++;
        }
    }
    return n;
}

static void *
reaper_main(void *arg)
{
    struct sv_conns *c = arg;

    pthread_mutex_lock(&c->lock);
    while (!c->is_stopping) {
        struct timespec until;
        unsigned n;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += REAP_EVERY_MS / 1000;
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
        if (c->is_stopping) {
            break;
        }
        n = reap(c, sp_clock_ms());
        if (n) {
            sp_log(SP_LOG_INFO,
                   "closed %u connection%s that sent no complete request "
                   "headers within %lld s",
                   n, n == 1 ? "" : "s", (long long)(c->deadline_ms / 1000));
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

ctspool_rc
sv_conns_start(int64_t deadline_ms, struct sv_conns **out, struct sp_err *e)
{
    struct sv_conns *c = calloc(1, sizeof(*c));
    pthread_condattr_t attr;
    int r;

    *out = NULL;
    if (!c) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    c->deadline_ms = deadline_ms;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    r = pthread_create(&c->reaper, NULL, reaper_main, c);
    if (r != 0) {
        sp_err_set(e, "cannot start a thread: %s", strerror(r));
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return CTSPOOL_E_NOMEM;
    }
    *out = c;
    return CTSPOOL_OK;
}

void
sv_conns_stop(struct sv_conns *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->is_stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->reaper, NULL);
    /* The daemon has stopped: it closed (and removed) every connection. */
    while (c->head) {
        struct sv_conn *k = c->head;

        c->head = k->next;
        free(k);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct sv_conn *
sv_conns_add(struct sv_conns *c, int fd)
{
    struct sv_conn *k = calloc(1, sizeof(*k));

    if (!k) {
        return NULL; /* not watched: it still has the idle timeout */
    }
    k->fd = fd;
    atomic_init(&k->waiting_since, sp_clock_ms());
    pthread_mutex_lock(&c->lock);
    k->next = c->head;
    if (c->head) {
        c->head->prev = k;
    }
    c->head = k;
    pthread_mutex_unlock(&c->lock);
    return k;
}

void
sv_conns_remove(struct sv_conns *c, struct sv_conn *k)
{
    if (!k) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (k->prev) {
        k->prev->next = k->next;
    } else {
        c->head = k->next;
    }
    if (k->next) {
        k->next->prev = k->prev;
    }
    pthread_mutex_unlock(&c->lock);
    free(k);
}

void
sv_conn_busy(struct sv_conn *k)
{
    if (k) {
        atomic_store(&k->waiting_since, NOT_WAITING);
    }
}

void
sv_conn_waiting(struct sv_conn *k)
{
    if (k) {
        atomic_store(&k->waiting_since, sp_clock_ms());
    }
}
