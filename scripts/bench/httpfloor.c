/*
 * httpfloor.c -- the HTTP floor for scripts/bench/serve: a libmicrohttpd
 * server with the daemon set-up of `ctspool serve` (internal threads,
 * a pool of one thread per CPU, suspend/resume allowed, the same
 * connection limits) that reads each POST body and answers 200
 * {"accepted":N} -- no parsing, no validation, no journal.  What the load
 * generator gets from it on the same machine is the most any
 * libmicrohttpd-based ingest endpoint could answer there.
 *
 *   httpfloor PORT      (runs until SIGTERM/SIGINT)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *data,
          size_t *data_len, void **req)
{
    static const char ok[] = "{\"accepted\":1}";
    static int first;
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)data;
    if (*req == NULL) {
        *req = &first; /* headers: wait for the body */
        return MHD_YES;
    }
    if (*data_len) {
        *data_len = 0; /* body bytes read and dropped */
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok,
                                        MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int
main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = n_cpu < 2 ? 2 : n_cpu > 16 ? 16 : (unsigned)n_cpu;

    if (argc != 2) {
        fprintf(stderr, "usage: httpfloor PORT\n");
        return 64;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                         (uint16_t)atoi(argv[1]), NULL, NULL, on_access,
                         NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_LIMIT, 1024u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)16 * 1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "httpfloor: cannot listen on port %s\n", argv[1]);
        return 69;
    }
    while (!stop) {
        pause();
    }
    MHD_stop_daemon(d);
    return 0;
}
