/*
 * upload.c -- the drainer's HTTP client and the project's only libcurl
 * user.  One easy handle in one multi handle lives as long as the
 * drainer, so its connection is kept alive and reused for every request;
 * the multi interface lets a request be in flight while the drainer
 * does journal work (dr_upload_start, later dr_upload_finish).  TLS peer and
 * host verification stay on (libcurl's defaults); upload.ca_file is
 * added with CURLOPT_CAINFO (the system CA directory stays in use), and
 * upload.client_cert/client_key give a client certificate
 * (CURLOPT_SSLCERT, CURLOPT_SSLKEY).
 * With upload.compress = "gzip", bodies are deflated here (zlib: libcurl
 * does not compress request bodies) and sent with Content-Encoding:
 * gzip, until upstream answers one with 415: from then on this handle
 * sends them as they are.
 * Proxy environment variables (https_proxy, no_proxy, ...) are honoured
 * by libcurl itself, unless upload.proxy names one (CURLOPT_PROXY; no
 * host bypasses it).  Redirects are not followed: an endpoint that
 * redirects is a configuration error.
 *
 * The API key lives only in the header list built here, which is wiped
 * on close or when a reloaded configuration brings another key
 * (dr_upload_set_key, between requests).  Nothing in this file logs.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "upload.h"

#define POLL_MS 100        /* longest wait between checks of *stop */
#define STOP_GRACE_MS 800  /* an answer this close may still be taken */
#define CA_FILE_MAX ((size_t)16 * 1024 * 1024) /* upload.ca_file */
/* libcurl copies a body into its upload buffer and sends it a buffer at
 * a time: at its default 64 KiB a body of the default batch took three
 * copies, sends and polls.  1 MiB is the default upload.batch_max_bytes;
 * the buffer is allocated once per handle. */
#define UPLOAD_BUFFER_BYTES (1024L * 1024)

struct dr_upload {
    CURLM *multi; /* holds the connection between requests */
    CURL *curl;
    int is_busy;  /* a request was started and not finished */
    struct curl_slist *headers;
    char *key_header; /* "x-api-key: KEY": secret, wiped on close */
    int gzip;         /* bodies go compressed */
    int sent_gzip;    /* the request in flight went compressed */
    unsigned char *zbody; /* its compressed body */
    size_t zcap;
    volatile sig_atomic_t *stop;
    int64_t stop_seen_ms; /* when *stop was first seen; 0: not yet */
    char errbuf[CURL_ERROR_SIZE];
    /* Response of the request in flight. */
    char body[DR_UPLOAD_BODY_MAX + 1];
    size_t body_len;
    char retry_after[64]; /* raw header value; "" when absent */
    size_t sending;       /* length of the request body in flight */
    char *url;            /* where requests go now (a copy) */
};

static int curl_ready;

/* Keeps the first DR_UPLOAD_BODY_MAX bytes; reads and drops the rest. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct dr_upload *u = ud;
    size_t n = size * nmemb;
    size_t room = DR_UPLOAD_BODY_MAX - u->body_len;
    size_t take = n < room ? n : room;

    memcpy(u->body + u->body_len, data, take);
    u->body_len += take;
    u->body[u->body_len] = '\0';
    return n;
}

/* Notes Retry-After; a new status line (interim 1xx) starts over. */
static size_t
on_header(char *line, size_t size, size_t nitems, void *ud)
{
    static const char name[] = "retry-after:";
    struct dr_upload *u = ud;
    size_t n = size * nitems;
    size_t len = n;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        u->retry_after[0] = '\0';
        return n;
    }
    if (len > sizeof(name) - 1 &&
        strncasecmp(line, name, sizeof(name) - 1) == 0) {
        const char *v = line + sizeof(name) - 1;

        len -= sizeof(name) - 1;
        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
                           v[len - 1] == ' ' || v[len - 1] == '\t')) {
            len--;
        }
        if (len >= sizeof(u->retry_after)) {
            len = sizeof(u->retry_after) - 1;
        }
        memcpy(u->retry_after, v, len);
        u->retry_after[len] = '\0';
    }
    return n;
}

/*
 * Is it time to abort the request in flight?  Once a stop is requested
 * the answer gets STOP_GRACE_MS to arrive (an answer already on its way
 * saves a re-send), then the request is abandoned.
 */
static int
stop_due(struct dr_upload *u)
{
    if (!u->stop || !*u->stop) {
        return 0;
    }
    if (!u->stop_seen_ms) {
        u->stop_seen_ms = sp_clock_ms();
    }
    return sp_clock_ms() - u->stop_seen_ms >= STOP_GRACE_MS;
}

/* Called by libcurl at least once a second: a nonzero return aborts. */
static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
            curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return stop_due(ud);
}

void
dr_upload_close(struct dr_upload *u)
{
    if (!u) {
        return;
    }
    if (u->is_busy) {
        curl_multi_remove_handle(u->multi, u->curl);
    }
    if (u->curl) {
        curl_easy_cleanup(u->curl);
    }
    if (u->multi) {
        curl_multi_cleanup(u->multi);
    }
    curl_slist_free_all(u->headers);
    if (u->key_header) {
        explicit_bzero(u->key_header, strlen(u->key_header));
        free(u->key_header);
    }
    free(u->zbody);
    free(u->url);
    free(u);
    /* The drainer has one handle at a time: release libcurl with it. */
    if (curl_ready) {
        curl_global_cleanup();
        curl_ready = 0;
    }
}

/*
 * The request headers with api_key into *headers and *key_header (the
 * secret line, wiped by whoever frees it), and Content-Encoding: gzip
 * when gzip; 0, or -1 when out of memory (nothing left allocated).
 */
static int
build_headers(const char *api_key, int gzip, struct curl_slist **headers,
              char **key_header)
{
    static const char key_prefix[] = "x-api-key: ";
    static const char *const fixed[] = {
        "Content-Type: application/json",
        ("User-Agent: ctspool/" CTSPOOL_VERSION_STRING),
        /* No "Expect: 100-continue" round trip before large bodies. */
        "Expect:",
        "Accept: application/json",
    };
    size_t key_len = strlen(api_key);
    struct curl_slist *l = NULL, *n;
    char *kh = malloc(sizeof(key_prefix) + key_len);

    if (!kh) {
        return -1;
    }
    memcpy(kh, key_prefix, sizeof(key_prefix) - 1);
    memcpy(kh + sizeof(key_prefix) - 1, api_key, key_len + 1);
    n = curl_slist_append(l, kh);
    for (size_t i = 0; n && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        l = n;
        n = curl_slist_append(l, fixed[i]);
    }
    if (n && gzip) {
        l = n;
        n = curl_slist_append(l, "Content-Encoding: gzip");
    }
    if (!n) {
        curl_slist_free_all(l);
        explicit_bzero(kh, strlen(kh));
        free(kh);
        return -1;
    }
    *headers = n;
    *key_header = kh;
    return 0;
}

/* The headers again, with api_key and gzip; see dr_upload_set_key. */
static ctspool_rc
set_headers(struct dr_upload *u, const char *api_key, int gzip)
{
    struct curl_slist *headers = NULL;
    char *key_header = NULL;

    assert(!u->is_busy);
    if (build_headers(api_key, gzip, &headers, &key_header) != 0 ||
        curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK) {
        curl_slist_free_all(headers);
        if (key_header) {
            explicit_bzero(key_header, strlen(key_header));
            free(key_header);
        }
        return CTSPOOL_E_NOMEM;
    }
    curl_slist_free_all(u->headers);
    explicit_bzero(u->key_header, strlen(u->key_header));
    free(u->key_header);
    u->headers = headers;
    u->key_header = key_header;
    u->gzip = gzip;
    return CTSPOOL_OK;
}

ctspool_rc
dr_upload_set_key(struct dr_upload *u, const char *api_key)
{
    return set_headers(u, api_key, u->gzip);
}

ctspool_rc
dr_upload_set_url(struct dr_upload *u, const char *url)
{
    char *copy;

    assert(!u->is_busy);
    if (u->url && strcmp(u->url, url) == 0) {
        return CTSPOOL_OK;
    }
    copy = strdup(url);
    if (!copy) {
        return CTSPOOL_E_NOMEM;
    }
    if (curl_easy_setopt(u->curl, CURLOPT_URL, copy) != CURLE_OK) {
        free(copy);
        return CTSPOOL_E_NOMEM;
    }
    free(u->url);
    u->url = copy;
    return CTSPOOL_OK;
}

int
dr_upload_is_gzip(const struct dr_upload *u)
{
    return u->gzip;
}

/* Upstream refuses compressed bodies: send them as they are from now
 * on (the key stays; a copy, as set_headers frees the line it is in).
 * 0, or -1 when out of memory (nothing changed). */
static int
gzip_off(struct dr_upload *u)
{
    static const char key_prefix[] = "x-api-key: ";
    char *key = strdup(u->key_header + sizeof(key_prefix) - 1);
    int r = key && set_headers(u, key, 0) == CTSPOOL_OK ? 0 : -1;

    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return r;
}

/*
 * body (len bytes) gzip-compressed into u->zbody; its length, or 0 when
 * out of memory.
 */
static size_t
deflate_body(struct dr_upload *u, const char *body, size_t len)
{
    z_stream z;
    size_t bound, out;
    int zr;

    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip header and trailer; memory level 8 (default). */
    if (len > UINT_MAX ||
        deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return 0;
    }
    bound = deflateBound(&z, (uLong)len);
    if (bound > u->zcap) {
        unsigned char *p = realloc(u->zbody, bound);

        if (!p) {
            deflateEnd(&z);
            return 0;
        }
        u->zbody = p;
        u->zcap = bound;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = u->zbody;
    z.avail_out = (uInt)(bound > UINT_MAX ? UINT_MAX : bound);
    zr = deflate(&z, Z_FINISH);
    out = (size_t)z.total_out;
    deflateEnd(&z);
    return zr == Z_STREAM_END ? out : 0;
}

ctspool_rc
dr_upload_check_ca(const char *ca_file, struct sp_err *e)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----";
    char *buf;
    size_t n = 0;
    FILE *f;
    struct stat st;
    int found;

    if (!ca_file || !ca_file[0]) {
        return CTSPOOL_OK;
    }
    if (access(ca_file, R_OK) != 0 || stat(ca_file, &st) != 0) {
        sp_err_set(e, "upload.ca_file %s cannot be read: %s", ca_file,
                   strerror(errno));
        return CTSPOOL_E_CONFIG;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > CA_FILE_MAX) {
        sp_err_set(e, "upload.ca_file %s is not a PEM file of certificates "
                      "(%s)",
                   ca_file, S_ISREG(st.st_mode) ? "larger than 16 MiB"
                                                : "not a regular file");
        return CTSPOOL_E_CONFIG;
    }
    /* What curl reads: PEM certificates (a DER file or a key is not). */
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    if ((f = fopen(ca_file, "re"))) {
        n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
    }
    found = memmem(buf, n, pem, sizeof(pem) - 1) != NULL;
    free(buf);
    if (!found) {
        sp_err_set(e, "upload.ca_file %s holds no PEM certificate (a line "
                      "%s)",
                   ca_file, pem);
        return CTSPOOL_E_CONFIG;
    }
    return CTSPOOL_OK;
}

/* Is a setting of a file name given? */
static int
given(const char *s)
{
    return s && s[0];
}

ctspool_rc
dr_upload_check_client(const char *client_cert, const char *client_key,
                       struct sp_err *e)
{
    if (given(client_cert) != given(client_key)) {
        sp_err_set(e, "upload.client_cert and upload.client_key go "
                      "together: set both, or neither");
        return CTSPOOL_E_CONFIG;
    }
    if (given(client_cert) && access(client_cert, R_OK) != 0) {
        sp_err_set(e, "upload.client_cert %s cannot be read: %s",
                   client_cert, strerror(errno));
        return CTSPOOL_E_CONFIG;
    }
    if (given(client_key) && access(client_key, R_OK) != 0) {
        sp_err_set(e, "upload.client_key %s cannot be read: %s", client_key,
                   strerror(errno));
        return CTSPOOL_E_CONFIG;
    }
    return CTSPOOL_OK;
}

ctspool_rc
dr_upload_open(const struct dr_upload_opts *o, struct dr_upload **out,
               struct sp_err *e)
{
    struct dr_upload *u = NULL;
    ctspool_rc rc = CTSPOOL_E_NOMEM;
    CURLcode cc = CURLE_OK;

    *out = NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            sp_err_set(e, "cannot initialise libcurl");
            return CTSPOOL_E_NOMEM;
        }
        curl_ready = 1;
    }
    rc = dr_upload_check_ca(o->ca_file, e);
    if (rc == CTSPOOL_OK) {
        rc = dr_upload_check_client(o->client_cert, o->client_key, e);
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = CTSPOOL_E_NOMEM;
    u = calloc(1, sizeof(*u));
    if (!u) {
        sp_err_set(e, "out of memory");
        goto out;
    }
    u->stop = o->stop;
    u->gzip = o->gzip;
    if (build_headers(o->api_key, u->gzip, &u->headers, &u->key_header) !=
        0) {
        sp_err_set(e, "out of memory");
        goto out;
    }
    u->multi = curl_multi_init();
    u->curl = curl_easy_init();
    if (!u->multi || !u->curl) {
        sp_err_set(e, "cannot create a libcurl handle");
        goto out;
    }
#define SET(opt, val)                                                     \
    do {                                                                  \
        if (cc == CURLE_OK) {                                             \
            cc = curl_easy_setopt(u->curl, opt, val);                     \
        }                                                                 \
    } while (0)
    u->url = strdup(o->endpoint);
    if (!u->url) {
        sp_err_set(e, "out of memory");
        goto out;
    }
    SET(CURLOPT_URL, o->endpoint);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_HTTPHEADER, u->headers);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_BYTES);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->request_timeout_ms);
    SET(CURLOPT_ERRORBUFFER, u->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, u);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, u);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, u);
    SET(CURLOPT_NOPROGRESS, 0L);
    if (o->ca_file && o->ca_file[0]) {
        SET(CURLOPT_CAINFO, o->ca_file);
    }
    if (o->proxy && o->proxy[0]) {
        SET(CURLOPT_PROXY, o->proxy);
        SET(CURLOPT_NOPROXY, ""); /* no_proxy in the environment too */
    }
    if (given(o->client_cert)) {
        SET(CURLOPT_SSLCERT, o->client_cert);
        SET(CURLOPT_SSLKEY, o->client_key);
    }
#undef SET
    if (cc != CURLE_OK) {
        sp_err_set(e, "cannot configure libcurl: %s",
                   curl_easy_strerror(cc));
        rc = CTSPOOL_E_CONFIG;
        goto out;
    }
    *out = u;
    u = NULL;
    rc = CTSPOOL_OK;
out:
    dr_upload_close(u);
    return rc;
}

/* The class of an HTTP status (see upload.h). */
static ctspool_rc
classify_status(long status)
{
    if (status >= 200 && status < 300) {
        return CTSPOOL_OK;
    }
    if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
        return CTSPOOL_E_TRANSIENT;
    }
    if (status == 400 || status == 413 || status == 422) {
        return CTSPOOL_E_REJECTED;
    }
    if (status == 404) {
        return CTSPOOL_E_NOTFOUND;
    }
    return CTSPOOL_E_AUTH;
}

ctspool_rc
dr_upload_start(struct dr_upload *u, const char *body, size_t len)
{
    int running = 0;

    assert(!u->is_busy);
    u->body_len = 0;
    u->body[0] = '\0';
    u->retry_after[0] = '\0';
    u->errbuf[0] = '\0';
    u->sent_gzip = u->gzip;
    if (u->gzip) {
        len = deflate_body(u, body, len);
        if (!len) {
            return CTSPOOL_E_NOMEM;
        }
        body = (const char *)u->zbody;
    }
    curl_easy_setopt(u->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(u->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    u->sending = len;
    if (curl_multi_add_handle(u->multi, u->curl) != CURLM_OK) {
        return CTSPOOL_E_NOMEM;
    }
    u->is_busy = 1;
    /*
     * Connect and send what the socket takes without waiting: each
     * perform sends at most one upload buffer, so go on while that makes
     * progress (the body then reaches upstream while the caller works).
     */
    for (;;) {
        curl_off_t before = 0, after = 0;

        curl_easy_getinfo(u->curl, CURLINFO_SIZE_UPLOAD_T, &before);
        if (curl_multi_perform(u->multi, &running) != CURLM_OK ||
            !running) {
            break;
        }
        curl_easy_getinfo(u->curl, CURLINFO_SIZE_UPLOAD_T, &after);
        if (after == before || after >= (curl_off_t)len) {
            break;
        }
    }
    return CTSPOOL_OK;
}

/* Runs the transfer to its end; returns its result code. */
static CURLcode
run_transfer(struct dr_upload *u)
{
    int running = 1;

    for (;;) {
        CURLMsg *m;
        int n_msgs;

        if (curl_multi_perform(u->multi, &running) != CURLM_OK) {
            return CURLE_OUT_OF_MEMORY;
        }
        for (;;) {
            m = curl_multi_info_read(u->multi, &n_msgs);
            if (!m) {
                break;
            }
            if (m->msg == CURLMSG_DONE && m->easy_handle == u->curl) {
                return m->data.result;
            }
        }
        if (!running) {
            return CURLE_GOT_NOTHING; /* not expected: no DONE message */
        }
        if (stop_due(u)) {
            snprintf(u->errbuf, sizeof(u->errbuf), "stop requested");
            return CURLE_ABORTED_BY_CALLBACK;
        }
        /* Short waits: a stop request is seen within POLL_MS. */
        if (curl_multi_poll(u->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
            return CURLE_OUT_OF_MEMORY;
        }
    }
}

/*
 * Masks, in place, the user information of every URL in s (curl's
 * error text quotes a proxy or endpoint URL as given, password and
 * all): what comes between the scheme's "://" and the last '@' of the
 * authority becomes four stars.
 */
static void
hide_userinfo(char *s)
{
    for (char *p = strstr(s, "://"); p; p = strstr(p, "://")) {
        char *start = p + 3, *end = start, *at = NULL;

        /* Not stopping at '?' or '#': a password that holds one is
         * what makes curl quote the URL (it cannot parse it). */
        while (*end && !strchr("/'\" \t\r\n", *end)) {
            if (*end == '@') {
                at = end;
            }
            end++;
        }
        if (at && at - start > 4) {
            memset(start, '*', 4);
            memmove(start + 4, at, strlen(at) + 1);
        } else if (at) {
            memset(start, '*', (size_t)(at - start));
        }
        p = start;
    }
}

ctspool_rc
dr_upload_finish(struct dr_upload *u, struct dr_upload_result *r)
{
    long status = 0;
    CURLcode cc;

    assert(u->is_busy);
    memset(r, 0, sizeof(*r));
    r->retry_after_ms = -1;
    r->body = u->body;
    cc = run_transfer(u);
    curl_multi_remove_handle(u->multi, u->curl);
    u->is_busy = 0;
    r->body_len = u->body_len;
    if (cc != CURLE_OK) {
        curl_off_t sent = 0;

        r->is_aborted = cc == CURLE_ABORTED_BY_CALLBACK;
        /* A body that did not leave whole (no connection, TLS refused,
         * dropped mid-way) is no request upstream could apply. */
        curl_easy_getinfo(u->curl, CURLINFO_SIZE_UPLOAD_T, &sent);
        r->is_unsent = sent < (curl_off_t)u->sending;
        /* The error buffer is the more precise text when it is set. */
        snprintf(r->reason, sizeof(r->reason), "no answer: %s",
                 u->errbuf[0] ? u->errbuf : curl_easy_strerror(cc));
        hide_userinfo(r->reason);
        return CTSPOOL_E_TRANSIENT;
    }
    curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    snprintf(r->reason, sizeof(r->reason), "HTTP %ld", status);
    if (status >= 300 && status < 400) {
        char *to = NULL;

        /* Not followed (a POST would not be re-sent as one by every
         * hop); where it points goes in the reason, credentials hidden. */
        if (curl_easy_getinfo(u->curl, CURLINFO_REDIRECT_URL, &to) ==
                CURLE_OK &&
            to) {
            snprintf(r->reason, sizeof(r->reason),
                     "HTTP %ld, a redirect to %s", status, to);
            hide_userinfo(r->reason);
        }
    }
    if (status == 415 && u->sent_gzip && gzip_off(u) == 0) {
        r->is_gzip_refused = 1;
        r->is_unsent = 1; /* refused: nothing of it was applied */
        return CTSPOOL_E_TRANSIENT;
    }
    if (u->retry_after[0]) {
        int64_t ms;

        if (sp_retry_after_parse(u->retry_after, (int64_t)time(NULL), &ms) ==
            CTSPOOL_OK) {
            r->retry_after_ms = ms;
        }
    }
    return classify_status(status);
}

ctspool_rc
dr_upload_post(struct dr_upload *u, const char *body, size_t len,
               struct dr_upload_result *r)
{
    ctspool_rc rc = dr_upload_start(u, body, len);

    if (rc != CTSPOOL_OK) {
        memset(r, 0, sizeof(*r));
        r->retry_after_ms = -1;
        r->body = u->body;
        r->is_unsent = 1;
        snprintf(r->reason, sizeof(r->reason), "cannot start a request");
        return CTSPOOL_E_TRANSIENT;
    }
    return dr_upload_finish(u, r);
}
