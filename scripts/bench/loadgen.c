/*
 * loadgen.c -- a small HTTP/1.1 load generator for `ctspool serve`
 * (scripts/bench/serve builds it with cc).  One thread, epoll, N
 * keep-alive connections, each with one request outstanding at a time.
 * Every request carries points never sent before (series and hour
 * derived from a global request counter), so the server stores new
 * points rather than recognising unchanged ones.
 *
 *   loadgen -p PORT [-H HOST] [-k KEY] [-c CONNS] [-n POINTS_PER_REQ]
 *           [-d SECONDS] [-s SERIES] [-o HOUR0] [-r REQUESTS] [-E]
 *           [-i IDLE]
 *
 * -E: Event Overlay bodies ({"data": [events]}, POST /events unless -P
 * says otherwise), events of about the size of the points, each never
 * sent before (its description names the event's number).
 * -i: IDLE more connections are opened first and held open, idle, to
 * the end: what a server pays for connections it keeps but that send
 * nothing.
 * It stops after SECONDS, or once REQUESTS requests (all connections
 * together) were sent and answered.
 *
 * Prints one line of key=value results: requests, ok (2xx), errors,
 * seconds, rps, points_per_s, p50_ms, p99_ms, max_ms, cpu_us_per_req
 * (this process's user + system CPU per answered request: what the
 * load generator takes from the machine it shares with the server),
 * peak_rss_kib (VmHWM: the parent's pages, which getrusage()'s figure may
 * count when it forked us, do not count), codes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 65536
#define DRAIN_S 30

struct conn {
    int fd;
    char *req;        /* headers + body of the request in flight */
    size_t req_len, req_cap, sent;
    char resp[RESP_MAX];
    size_t resp_len;
    int64_t started_ns;
    int is_busy;
    uint32_t events; /* what epoll watches for this connection now */
};

struct opts {
    const char *host;
    int port;
    const char *key;
    int conns;
    long points;
    double seconds;
    long series;
    long hour0;
    const char *path; /* -P: the request path ("?mode=accumulate") */
    int fixed_hour;   /* -F: every point in hour0: the series repeat */
    long requests;    /* -r: 0: as many as SECONDS allow */
    int events;       /* -E: Event Overlay events, not points */
    int idle;         /* -i: connections held open, idle */
};

static struct opts o = {"127.0.0.1", 0, "", 64, 1, 10.0, 1000, 460000,
                        "/streams/ingest", 0, 0, 0, 0};
static uint64_t next_req;
static uint32_t *lat_us;
static size_t n_lat, cap_lat;
static uint64_t n_ok, n_err, codes[600];
static char **series_tail; /* per series: rest of a point after its ts */
static size_t *series_tail_len;

/* This process's peak RSS in KiB (VmHWM), 0 if unknown. */
static long
peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;

    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmHWM: %ld", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void
append(struct conn *c, const char *s, size_t n)
{
    if (c->req_cap - c->req_len < n) {
        size_t cap = c->req_cap ? c->req_cap : 4096;

        while (cap - c->req_len < n) {
            cap *= 2;
        }
        c->req = realloc(c->req, cap);
        if (!c->req) {
            die("realloc");
        }
        c->req_cap = cap;
    }
    if (s) {
        memcpy(c->req + c->req_len, s, n);
    }
    c->req_len += n;
}

static void
build_tails(void)
{
    series_tail = calloc((size_t)o.series, sizeof(*series_tail));
    series_tail_len = calloc((size_t)o.series, sizeof(*series_tail_len));
    if (!series_tail || !series_tail_len) {
        die("calloc");
    }
    for (long s = 0; s < o.series; s++) {
        char buf[512];
        int n = snprintf(buf, sizeof(buf),
                         "\", \"metric_name\": \"cpu_usage_percent\", "
                         "\"metric_value\": %ld.25, \"custom_dimensions\": "
                         "{\"host\": \"host-%05ld\", \"region\": "
                         "\"eu-west-1\", \"az\": \"eu-west-1a\"}}",
                         s % 100, s);

        series_tail[s] = strdup(buf);
        series_tail_len[s] = (size_t)n;
    }
}

/* One event, number k, at ts, into c. */
static void
append_event(struct conn *c, uint64_t k, const char *ts)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "{\"timestamp\": \"%s\", \"team_id\": %llu, "
                     "\"payload\": {\"type\": \"deploy\", "
                     "\"description\": \"release %llu of service-%03llu "
                     "to eu-west-1\", \"event_url\": "
                     "\"https://ci.example/r/%llu\"}}",
                     ts, (unsigned long long)(k % 7 + 1),
                     (unsigned long long)k, (unsigned long long)(k % 500),
                     (unsigned long long)k);

    append(c, buf, (size_t)n);
}

/* Next request: body of o.points fresh points, then the headers. */
static void
build_request(struct conn *c)
{
    static const char head[] =
        "{\"metric_agg_func\": \"Sum\", \"data\": [";
    static const char ev_head[] = "{\"data\": [";
    uint64_t r = next_req++;
    char hdr[512], ts[32];
    size_t body_len;
    long cur_hour = -1;
    int hl;

    /* Body first at a fixed offset; headers are prepended after. */
    c->req_len = 0;
    append(c, NULL, 512); /* room for the headers */
    if (o.events) {
        append(c, ev_head, sizeof(ev_head) - 1);
    } else {
        append(c, head, sizeof(head) - 1);
    }
    for (long i = 0; i < o.points; i++) {
        uint64_t k = r * (uint64_t)o.points + (uint64_t)i;
        long s = (long)(k % (uint64_t)o.series);
        long hour = o.fixed_hour ? o.hour0
                                 : o.hour0 + (long)(k / (uint64_t)o.series);

        if (hour != cur_hour) {
            time_t t = (time_t)hour * 3600;
            struct tm tm;

            gmtime_r(&t, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%d %H:00:00", &tm);
            cur_hour = hour;
        }
        if (i) {
            append(c, ", ", 2);
        }
        if (o.events) {
            append_event(c, k, ts);
            continue;
        }
        append(c, "{\"timestamp\": \"", 15);
        append(c, ts, 19);
        append(c, series_tail[s], series_tail_len[s]);
    }
    append(c, "]}", 2);
    body_len = c->req_len - 512;
    hl = snprintf(hdr, sizeof(hdr),
                  "POST %s HTTP/1.1\r\nHost: %s\r\n"
                  "x-api-key: %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  o.path, o.host, o.key, body_len);
    memcpy(c->req + 512 - hl, hdr, (size_t)hl);
    c->sent = 512 - (size_t)hl;
    c->resp_len = 0;
    c->started_ns = now_ns();
    c->is_busy = 1;
}

static int
connect_one(int ep, struct conn *c)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        die("socket");
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, o.host, &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
        errno != EINPROGRESS) {
        die("connect");
    }
    c->events = EPOLLOUT | EPOLLIN; /* writable: connected */
    ev.events = c->events;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        die("epoll_ctl");
    }
    return 0;
}

/* -i: a connection that stays open and idle until we exit. */
static void
connect_idle(void)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, o.host, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        die("connect (idle)");
    }
}

/*
 * Sends what the socket takes of the request in flight.  epoll watches
 * for EPOLLOUT only while a send is blocked, so a request that goes out
 * whole (all of them, on loopback) costs one send() and no epoll_ctl():
 * the load generator's own CPU is taken from the server it measures.
 */
static void
pump_send(int ep, struct conn *c)
{
    uint32_t want = EPOLLIN;
    struct epoll_event ev;

    while (c->sent < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent,
                         MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK ||
                errno == ENOTCONN) {
                want = EPOLLIN | EPOLLOUT;
            }
            break; /* other errors show as a closed connection */
        }
        c->sent += (size_t)w;
    }
    if (want != c->events) {
        c->events = want;
        ev.events = want;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void
record(struct conn *c, int code)
{
    int64_t us = (now_ns() - c->started_ns) / 1000;

    if (n_lat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
        lat_us = realloc(lat_us, cap_lat * sizeof(*lat_us));
        if (!lat_us) {
            die("realloc");
        }
    }
    lat_us[n_lat++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
    if (code >= 200 && code < 300) { /* serve: 201 */
        n_ok++;
    } else {
        n_err++;
    }
    if (code >= 0 && code < 600) {
        codes[code]++;
    }
    c->is_busy = 0;
}

/* A complete response in c->resp?  Returns its status, 0 if not yet. */
static int
parse_response(struct conn *c, int *must_close)
{
    char *end, *p;
    long cl = 0;
    int code;

    c->resp[c->resp_len < RESP_MAX ? c->resp_len : RESP_MAX - 1] = '\0';
    end = strstr(c->resp, "\r\n\r\n");
    if (!end) {
        return 0;
    }
    if (sscanf(c->resp, "HTTP/1.%*d %d", &code) != 1) {
        return -1;
    }
    *must_close = 0;
    for (p = strstr(c->resp, "\r\n"); p && p < end;
         p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, "Content-Length:", 15) == 0) {
            cl = strtol(p + 17, NULL, 10);
        } else if (strncasecmp(p + 2, "Connection: close", 17) == 0) {
            *must_close = 1;
        }
    }
    if ((size_t)(end + 4 - c->resp) + (size_t)cl > c->resp_len) {
        return 0;
    }
    return code;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    struct epoll_event evs[256];
    struct conn *cs;
    int64_t t0, t_end, t_last;
    int ch, ep, busy = 0, stopping = 0;
    struct rusage ru;
    double secs, cpu_s;

    while ((ch = getopt(argc, argv, "H:p:k:c:n:d:s:o:P:Fr:Ei:")) != -1) {
        switch (ch) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = (int)strtol(optarg, NULL, 10);
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'c':
            o.conns = (int)strtol(optarg, NULL, 10);
            break;
        case 'n':
            o.points = strtol(optarg, NULL, 10);
            break;
        case 'd':
            o.seconds = strtod(optarg, NULL);
            break;
        case 's':
            o.series = strtol(optarg, NULL, 10);
            break;
        case 'o':
            o.hour0 = strtol(optarg, NULL, 10);
            break;
        case 'P':
            o.path = optarg;
            break;
        case 'F':
            o.fixed_hour = 1;
            break;
        case 'r':
            o.requests = strtol(optarg, NULL, 10);
            break;
        case 'E':
            o.events = 1;
            if (strcmp(o.path, "/streams/ingest") == 0) {
                o.path = "/events";
            }
            break;
        case 'i':
            o.idle = (int)strtol(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: loadgen -p PORT [-H HOST] [-k KEY] "
                            "[-c CONNS] [-n POINTS] [-d SECONDS] "
                            "[-s SERIES] [-o HOUR0] [-P PATH] [-F] "
                            "[-r REQUESTS] [-E] [-i IDLE]\n");
            return 64;
        }
    }
    if (o.port <= 0 || o.conns <= 0 || o.points <= 0 || o.series <= 0 ||
        o.requests < 0 || o.idle < 0) {
        fprintf(stderr, "loadgen: -p PORT is required; counts positive\n");
        return 64;
    }
    build_tails();
    for (int i = 0; i < o.idle; i++) {
        connect_idle();
    }
    ep = epoll_create1(0);
    cs = calloc((size_t)o.conns, sizeof(*cs));
    if (ep < 0 || !cs) {
        die("setup");
    }
    t0 = now_ns();
    t_end = t0 + (int64_t)(o.seconds * 1e9);
    if (o.requests && o.conns > o.requests) {
        o.conns = (int)o.requests;
    }
    for (int i = 0; i < o.conns; i++) {
        connect_one(ep, &cs[i]);
        build_request(&cs[i]);
        busy++;
    }
    while (busy > 0) {
        int n = epoll_wait(ep, evs, 256, 1000);
        int64_t now = now_ns();

        if (now >= t_end) {
            stopping = 1;
        }
        if (stopping && now > t_end + (int64_t)DRAIN_S * 1000000000) {
            fprintf(stderr, "loadgen: %d requests unanswered\n", busy);
            n_err += (uint64_t)busy;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            int code = 0, must_close = 0;

            if (!c->is_busy) {
                continue;
            }
            if (c->sent < c->req_len) {
                pump_send(ep, c);
            }
            /* Read until the response is whole; epoll is level-
             * triggered, so what is left is reported again. */
            while (code == 0) {
                ssize_t r = recv(c->fd, c->resp + c->resp_len,
                                 RESP_MAX - 1 - c->resp_len, 0);

                if (r > 0) {
                    c->resp_len += (size_t)r;
                    code = parse_response(c, &must_close);
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
                               errno != ENOTCONN)) {
                    must_close = 2; /* closed under us */
                }
                break;
            }
            if (code == 0 && must_close != 2) {
                continue;
            }
            record(c, code > 0 ? code : 599);
            busy--;
            if (o.requests && next_req >= (uint64_t)o.requests) {
                stopping = 1; /* the last ones are sent */
                t_end = now < t_end ? now : t_end;
            }
            if (must_close) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (stopping) {
                    continue;
                }
                connect_one(ep, c);
            }
            if (!stopping) {
                build_request(c);
                busy++;
                pump_send(ep, c);
            }
        }
    }
    t_last = now_ns();
    secs = (double)(t_last - t0) / 1e9;
    getrusage(RUSAGE_SELF, &ru);
    cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    qsort(lat_us, n_lat, sizeof(*lat_us), cmp_u32);
    printf("requests=%zu ok=%llu errors=%llu seconds=%.2f rps=%.0f "
           "points_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "cpu_us_per_req=%.2f peak_rss_kib=%ld codes=",
           n_lat, (unsigned long long)n_ok, (unsigned long long)n_err, secs,
           (double)n_ok / secs, (double)n_ok * (double)o.points / secs,
           n_lat ? lat_us[n_lat / 2] / 1000.0 : 0.0,
           n_lat ? lat_us[(size_t)((double)n_lat * 0.99)] / 1000.0 : 0.0,
           n_lat ? lat_us[n_lat - 1] / 1000.0 : 0.0,
           n_lat ? cpu_s * 1e6 / (double)n_lat : 0.0, peak_rss_kib());
    for (int i = 0, first = 1; i < 600; i++) {
        if (codes[i]) {
            printf("%s%d:%llu", first ? "" : ",", i,
                   (unsigned long long)codes[i]);
            first = 0;
        }
    }
    printf("\n");
    return n_err ? 1 : 0;
}
