/*
 * mock.h -- declarations shared by the files of ctspool-mock-receiver,
 * the fake Cloudthread ingest endpoint used by integration tests, the
 * README demo and the benchmarks.
 *
 *   canon.c     canonical forms: record and event IDs, hour stamps,
 *               numbers, JSON text
 *   ingest.c    strict validation of one ingest or events request body
 *               (sole cJSON user besides the control API in receiver.c)
 *   store.c     the received state: points keyed by (token, record ID,
 *               hour), events keyed by event ID, counters,
 *               deterministic dumps
 *   receiver.c  command line, HTTP (libmicrohttpd), fault injection,
 *               gzip request bodies (zlib)
 *   selftest.c  --selftest: record and event ID test vectors and format
 *               checks
 *
 * Out of memory is not an error a test tool recovers from: allocations go
 * through mock_xmalloc()/mock_xrealloc(), which abort.
 */
#ifndef CTSPOOL_MOCK_H
#define CTSPOOL_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MOCK_RID_LEN 32              /* SHA-256 */
#define MOCK_RID_HEX_LEN 64
#define MOCK_MAX_DIMS 10
#define MOCK_MAX_NAME_LEN 256        /* metric_name, dimension values */
#define MOCK_MAX_KEY_LEN 128         /* dimension keys */
#define MOCK_TS_LEN 19               /* "YYYY-MM-DD HH:00:00" */
#define MOCK_NUM_LEN 32              /* buffer for mock_format_double() */
#define MOCK_STATUS_MAX 600          /* HTTP status codes are < 600 */
#define MOCK_MAX_TYPE_LEN 256        /* event payload.type, bytes */
#define MOCK_MAX_DESC_CHARS 1000     /* event payload.description */
#define MOCK_MAX_URL_LEN 2048        /* event payload.event_url, bytes */
#define MOCK_MAX_TEAM 9007199254740991LL /* 2^53 - 1: exact in JSON */

/* ---- memory and growable buffers (canon.c) ---- */

void *mock_xmalloc(size_t n);
void *mock_xrealloc(void *p, size_t n);
char *mock_xstrdup(const char *s);

/* A growable byte buffer; always NUL-terminated once anything is added. */
struct mock_buf {
    char *p;
    size_t len;
    size_t cap;
};

void mock_buf_reserve(struct mock_buf *b, size_t extra);
void mock_buf_add(struct mock_buf *b, const void *data, size_t len);
void mock_buf_adds(struct mock_buf *b, const char *s);
void mock_buf_printf(struct mock_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s (len bytes) as a quoted JSON string. */
void mock_buf_json_string(struct mock_buf *b, const char *s, size_t len);
void mock_buf_cleanup(struct mock_buf *b);

/* ---- canonical forms (canon.c) ---- */

/* One custom dimension; strings are borrowed (from the cJSON tree). */
struct mock_dim {
    const char *key;
    const char *value;
    size_t key_len;
    size_t value_len;
};

/* Fetches the SHA-256 implementation; 0 on success. */
int mock_canon_init(void);
void mock_canon_cleanup(void);

/*
 * mock_record_id -- SHA-256 of the canonical encoding: metric_name,
 * metric_agg_func, then each dimension's key and value, every item as a
 * 4-byte big-endian length and its bytes.  dims must already be sorted by
 * key (bytewise) and respect the size limits above.  Thread-safe.
 */
void mock_record_id(const char *name, size_t name_len, const char *agg,
                    const struct mock_dim *dims, size_t n_dims,
                    uint8_t out[MOCK_RID_LEN]);
/*
 * mock_event_id -- SHA-256 of the canonical encoding of an event: the
 * hour "YYYY-MM-DD HH:00:00", the team ID in decimal ("" when team_id is
 * 0, i.e. absent), type, description and event_url (NULL: ""), each
 * item a 4-byte big-endian length and its bytes.  The strings must
 * respect the size limits above.  Thread-safe.
 */
void mock_event_id(int32_t hour, int64_t team_id, const char *type,
                   size_t type_len, const char *desc, size_t desc_len,
                   const char *url, size_t url_len,
                   uint8_t out[MOCK_RID_LEN]);
/* Sorts dims by key, bytewise (memcmp, shorter key first on a tie). */
void mock_dims_sort(struct mock_dim *dims, size_t n_dims);
void mock_hex(const uint8_t *bytes, size_t len, char *out);

/*
 * mock_parse_hour -- accepts exactly "YYYY-MM-DD HH:00:00" naming a real
 * date (years 0001-9999) and hour 00-23.  *hour: hours since 1970-01-01
 * 00:00 UTC.  Returns 0, or -1 (bad form), -2 (no such date or hour).
 */
int mock_parse_hour(const char *s, size_t len, int32_t *hour);
/* Writes the canonical form of hour plus a NUL (MOCK_TS_LEN + 1 bytes). */
void mock_format_hour(int32_t hour, char *out);
/* Shortest of %.15g/%.16g/%.17g that reads back to v (finite v only). */
void mock_format_double(double v, char out[MOCK_NUM_LEN]);
int mock_utf8_valid(const char *s, size_t len);
/* Code points in s, which must be valid UTF-8. */
size_t mock_utf8_count(const char *s, size_t len);

/* ---- one validated ingest request (ingest.c) ---- */

struct mock_point {
    const char *metric_name;         /* borrowed from the cJSON tree */
    size_t name_len;
    size_t n_dims;
    struct mock_dim dims[MOCK_MAX_DIMS];   /* sorted by key */
    int32_t hour;
    double value;
    uint8_t rid[MOCK_RID_LEN];
};

struct mock_request {
    const char *token;               /* borrowed from the cJSON tree */
    const char *agg;                 /* one of the four names */
    size_t n_points;
    struct mock_point *points;       /* owned; mock_request_cleanup() */
    void *tree;                      /* the parsing thread's arena */
};

/* One Event Overlay event; strings borrowed from the cJSON tree. */
struct mock_event {
    int32_t hour;
    int64_t team_id;                 /* >= 1; 0: absent */
    const char *type;
    size_t type_len;
    const char *description;
    size_t description_len;
    const char *event_url;           /* NULL: absent */
    size_t url_len;
    uint8_t eid[MOCK_RID_LEN];
};

struct mock_event_request {
    size_t n_events;
    struct mock_event *events;       /* owned; mock_event_request_cleanup */
    void *tree;                      /* the parsing thread's arena */
};

/* Persistent fault knobs and configuration the validation depends on. */
struct mock_ingest_opts {
    size_t max_points;               /* 0: no limit (points or events) */
    const char *poison_prefix;       /* NULL or "": off */
    char *const *tokens;             /* known tokens; n_tokens == 0: any */
    size_t n_tokens;
    const char *poison_event_type;   /* NULL or "": off */
    const int64_t *teams;            /* known teams; n_teams == 0: any */
    size_t n_teams;
};

struct mock_error {
    int status;                      /* 400, 404 or 413 */
    long index;                      /* offending data element, or -1 */
    size_t n_points;                 /* elements in data, if counted
                                        (points or events) */
    char message[512];
};

/* Installs cJSON allocation hooks; call once before any cJSON use. */
void mock_ingest_init(void);
/* Frees the calling thread's parse arena (other threads: at exit). */
void mock_ingest_cleanup(void);

/*
 * mock_ingest_parse -- parses and validates one request body the way
 * upstream does.  body: borrowed, len bytes.  On success returns 0 and
 * fills *req (release with mock_request_cleanup, on the same thread,
 * before the next parse on that thread).  Otherwise returns the HTTP
 * status and fills *err; *req is left empty.  Thread-safe.
 */
int mock_ingest_parse(const char *body, size_t len,
                      const struct mock_ingest_opts *opts,
                      struct mock_request *req, struct mock_error *err);
void mock_request_cleanup(struct mock_request *req);

/*
 * mock_events_parse -- the same for one POST /events body: {"data":
 * [...]} with Event Overlay elements.  Checks every element (400, the
 * poison_event_type fault included) before any team (404).  Release
 * *req with mock_event_request_cleanup, on the same thread, before the
 * next parse on that thread.  Thread-safe.
 */
int mock_events_parse(const char *body, size_t len,
                      const struct mock_ingest_opts *opts,
                      struct mock_event_request *req,
                      struct mock_error *err);
void mock_event_request_cleanup(struct mock_event_request *req);

/* ---- the received state (store.c); callers serialise access ---- */

struct mock_counters {
    uint64_t requests_total;
    uint64_t by_status[MOCK_STATUS_MAX];
    uint64_t points_accepted;
    uint64_t points_new;
    uint64_t points_rewritten;
    uint64_t points_rewritten_same_value;
    uint64_t connections_dropped;
    uint64_t bytes_received;
    uint64_t requests_gzip;          /* gzip bodies inflated */
    /* POST requests to the events paths (none of the above count them) */
    uint64_t event_requests_total;
    uint64_t event_by_status[MOCK_STATUS_MAX];
    uint64_t events_accepted;
    uint64_t events_new;
    uint64_t events_rewritten;
};

struct mock_store;

struct mock_store *mock_store_new(void);
void mock_store_free(struct mock_store *st);
/* Forgets every point and event and zeroes the counters. */
void mock_store_clear(struct mock_store *st);
struct mock_counters *mock_store_counters(struct mock_store *st);
size_t mock_store_n_points(const struct mock_store *st);
/* Upserts every point of req and counts a 2xx request of n points. */
void mock_store_upsert(struct mock_store *st, const struct mock_request *req);
size_t mock_store_n_events(const struct mock_store *st);
/* Stores every event of req (or counts a write again) and counts a 2xx
 * request of n events. */
void mock_store_add_events(struct mock_store *st,
                           const struct mock_event_request *req);
/* Writes {"requests_total":...} (the counters object, no newline). */
void mock_store_write_counters(struct mock_store *st, FILE *out);
/*
 * Writes the whole state JSON, points sorted by (token, record ID,
 * timestamp), then events sorted by event ID.  Returns 0, or -1 if
 * writing failed (errno set).
 */
int mock_store_write_state(struct mock_store *st, FILE *out);

/* ---- selftest.c ---- */

/* Checks the record and event ID test vectors and the canonical forms; prints a
 * line per failure to stderr.  Needs mock_canon_init().  Returns 0 if
 * everything passed. */
int mock_selftest(void);

#endif /* CTSPOOL_MOCK_H */
