/*
 * upload.h -- the drainer's HTTP client (upload.c, the project's only
 * libcurl user): POSTs one request body to upload.endpoint over a
 * reused keep-alive connection and classifies the outcome.
 */
#ifndef DR_UPLOAD_H
#define DR_UPLOAD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_int.h"

/* Bytes of a response body kept (the rest is read and dropped). */
#define DR_UPLOAD_BODY_MAX 4096
/* Size of dr_upload_result.reason. */
#define DR_UPLOAD_REASON_MAX 512

struct dr_upload;

struct dr_upload_opts {
    const char *endpoint;        /* borrowed; not secret */
    const char *api_key;         /* borrowed, copied; secret */
    const char *ca_file;         /* NULL or "": system CA store only */
    long connect_timeout_ms;
    long request_timeout_ms;
    int gzip; /* bodies go gzip-compressed (upload.compress) */
    /* NULL or "": the proxy environment variables; else the proxy for
     * every request (upload.proxy; may hold a password: secret). */
    const char *proxy;
    /* NULL or "": none; else a TLS client certificate and its key
     * (PEM files; both or neither). */
    const char *client_cert;
    const char *client_key;
    /* Borrowed: once *stop is nonzero, a request in flight gets 0.8 s
     * more for its answer, then is aborted.  May be NULL. */
    volatile sig_atomic_t *stop;
};

/* What one POST got back. */
struct dr_upload_result {
    int status;             /* HTTP status; 0 when no answer came */
    int64_t retry_after_ms; /* Retry-After as a delay; -1 when absent */
    const char *body;       /* response body, NUL-terminated, at most
                             * DR_UPLOAD_BODY_MAX bytes; owned by the
                             * handle, valid until the next post */
    size_t body_len;
    int is_aborted;         /* stopped because *stop was set */
    int is_unsent;          /* no answer, and the body did not go out
                             * whole: upstream cannot have applied it */
    int is_gzip_refused;    /* 415 to a compressed body: compression is
                             * off from now on; send the same again */
    /* Short reason: curl's message when no answer came, else
     * "HTTP <status>". */
    char reason[DR_UPLOAD_REASON_MAX];
};

/* OK when ca_file (upload.ca_file; NULL or "": none) can be read, else
 * E_CONFIG with the reason in e.  dr_upload_open checks it the same. */
ctspool_rc dr_upload_check_ca(const char *ca_file, struct sp_err *e);
/* OK when client_cert and client_key (upload.client_*; NULL or "":
 * none) are both unset, or both set and readable; else E_CONFIG with
 * the first problem in e.  dr_upload_open checks them the same. */
ctspool_rc dr_upload_check_client(const char *client_cert,
                                  const char *client_key, struct sp_err *e);
/*
 * dr_upload_open -- a handle for o->endpoint with the request headers
 * (x-api-key, Content-Type, User-Agent) prepared once.  o: borrowed
 * (o->stop retained).  *out: transferred (dr_upload_close), NULL on
 * failure with e set.  Returns OK, E_CONFIG (e.g. unusable ca_file),
 * E_NOMEM.
 */
ctspool_rc dr_upload_open(const struct dr_upload_opts *o,
                          struct dr_upload **out, struct sp_err *e);
/*
 * dr_upload_set_key -- the requests from now on carry api_key (borrowed,
 * copied; secret); the old key is wiped.  Only between requests (none
 * started and not finished).  The connection stays open.  Returns OK or
 * E_NOMEM (the old key stays in use).
 */
ctspool_rc dr_upload_set_key(struct dr_upload *u, const char *api_key);
/* Are bodies sent gzip-compressed (upload.compress, until a 415)? */
/* dr_upload_set_url -- the next requests go to url (copied; the same
 * connection is kept when the host is): OK or E_NOMEM.  Not while a
 * request is in flight. */
ctspool_rc dr_upload_set_url(struct dr_upload *u, const char *url);
int dr_upload_is_gzip(const struct dr_upload *u);
/* Closes the connection, wipes the key and releases libcurl (one handle
 * per process at a time).  NULL: no-op. */
void dr_upload_close(struct dr_upload *u);

/*
 * dr_upload_post -- POST body (len bytes, borrowed) and classify what
 * happened into *r and the result code, the only mapping of HTTP and
 * curl outcomes onto ctspool_rc:
 *   OK           2xx: upstream took the whole request
 *   E_TRANSIENT  no answer (connection refused or dropped, timeout, TLS
 *                handshake failure, aborted by *stop), 408, 429, 5xx:
 *                retry the same points later
 *   E_REJECTED   400, 413, 422: something in this request is refused;
 *                split it (a lone point so refused is a dead letter)
 *   E_NOTFOUND   404: upstream knows no stream of this request's data
 *                stream token ("no stream found"): this group's, not
 *                the points' fault, nor the other groups'
 *   E_AUTH       401, 403, any other status: credentials or
 *                configuration (API key, endpoint) are wrong; never
 *                the points' fault
 * except that a 415 to a compressed body is E_TRANSIENT with
 * r->is_gzip_refused and r->is_unsent set: the handle sends every body
 * uncompressed from then on, and the caller sends this one again.
 * Not thread-safe (one handle per thread).
 */
ctspool_rc dr_upload_post(struct dr_upload *u, const char *body, size_t len,
                          struct dr_upload_result *r);

/*
 * dr_upload_post in two halves, so that the caller can work while the
 * request is in flight.  dr_upload_start compresses the body when
 * bodies go gzip-compressed, and sends what the connection takes
 * without waiting; body stays borrowed until dr_upload_finish, which
 * waits for the answer and returns what dr_upload_post returns.  Exactly
 * one finish per successful start; at most one request in flight.
 * dr_upload_start returns OK or E_NOMEM.
 */
ctspool_rc dr_upload_start(struct dr_upload *u, const char *body, size_t len);
ctspool_rc dr_upload_finish(struct dr_upload *u, struct dr_upload_result *r);

#endif /* DR_UPLOAD_H */
