/*
 * listen.c -- the listen address of an HTTP side (serve's server.listen,
 * the drainer's drain.metrics_listen): "HOST:PORT", "[v6]:PORT", "HOST"
 * (default port) or a bare IPv6 address; HOST "" or "*" means every
 * address.  Resolved numerically for the port, bound with SO_REUSEADDR,
 * listening, non-blocking and close-on-exec.  Messages name the setting
 * and the address as written.  Also libmicrohttpd's log callback, shared
 * by serve and the drainer's metrics endpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "obs.h"

#define LISTEN_BACKLOG 1024

/* "host:port", "[v6]:port", "host" (default port), "v6" (no brackets,
 * default port).  host "" or "*": every address. */
static int
split_listen(const char *s, const char *def_port, char *host,
             size_t host_len, char *port, size_t port_len)
{
    const char *colon = strrchr(s, ':');
    const char *hs = s, *ps = def_port;
    size_t hl;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (!close || (close[1] != '\0' && close[1] != ':')) {
            return -1;
        }
        hs = s + 1;
        hl = (size_t)(close - hs);
        if (close[1] == ':') {
            ps = close + 2;
        }
    } else if (colon && strchr(s, ':') == colon) {
        hl = (size_t)(colon - s);
        ps = colon + 1;
    } else {
        hl = strlen(s); /* no port, or a bare IPv6 address */
    }
    if (hl >= host_len || strlen(ps) >= port_len || !ps[0] ||
        strspn(ps, "0123456789") != strlen(ps)) {
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (strcmp(host, "*") == 0) {
        host[0] = '\0';
    }
    snprintf(port, port_len, "%s", ps);
    return 0;
}

static int
is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
                in6->sin6_addr.s6_addr[12] == 127);
    }
    return 0;
}

/* Resolves addr.  *ai: transferred (freeaddrinfo). */
static ctspool_rc
resolve(const char *what, const char *addr, const char *def_port,
        struct addrinfo **ai, struct sp_err *e)
{
    struct addrinfo hints;
    char host[256], port[16];
    int r;

    *ai = NULL;
    if (!addr || split_listen(addr, def_port, host, sizeof(host), port,
                              sizeof(port)) != 0) {
        sp_err_set(e,
                   "%s: \"%s\" is not an address (expected HOST:PORT, for "
                   "example 127.0.0.1:%s or [::1]:%s)",
                   what, addr ? addr : "", def_port, def_port);
        return CTSPOOL_E_CONFIG;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    r = getaddrinfo(host[0] ? host : NULL, port, &hints, ai);
    if (r != 0) {
        sp_err_set(e, "%s: cannot resolve \"%s\": %s", what, addr,
                   gai_strerror(r));
        return CTSPOOL_E_CONFIG;
    }
    return CTSPOOL_OK;
}

ctspool_rc
ob_listen_check(const char *what, const char *addr, const char *def_port,
                int *is_loopback, struct sp_err *e)
{
    struct addrinfo *ai = NULL;
    ctspool_rc rc = resolve(what, addr, def_port, &ai, e);

    if (rc == CTSPOOL_OK) {
        if (is_loopback) {
            *is_loopback = is_loopback_addr(ai->ai_addr);
        }
        freeaddrinfo(ai);
    }
    return rc;
}

ctspool_rc
ob_listen_open(const char *what, const char *addr, const char *def_port,
               int *fd_out, int *is_loopback, struct sp_err *e)
{
    struct addrinfo *ai = NULL;
    ctspool_rc rc;
    int fd, one = 1;

    *fd_out = -1;
    rc = resolve(what, addr, def_port, &ai, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (is_loopback) {
        *is_loopback = is_loopback_addr(ai->ai_addr);
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
        sp_err_set(e, "cannot create a socket for %s: %s", addr,
                   strerror(errno));
        freeaddrinfo(ai);
        return CTSPOOL_E_IO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        sp_err_set(e, "cannot listen on %s (%s): %s", addr, what,
                   strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return CTSPOOL_E_IO;
    }
    freeaddrinfo(ai);
    *fd_out = fd;
    return CTSPOOL_OK;
}

void
ob_listen_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";

    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    }
}

void
ob_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    sp_log(SP_LOG_INFO, "%slibmicrohttpd: %s", (const char *)cls, msg);
}
