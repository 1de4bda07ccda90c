/*
 * ctspool.h -- public C API of ctspool, a durable store-and-forward spool
 * for the Cloudthread Developer API's custom data ingestion.
 *
 * A producer opens a journal (a SQLite file), appends points, and is told
 * "ok" only once they are durable on local disk.  A separate drainer
 * process (`ctspool drain`) uploads them.  This header is the only one
 * installed; every handle is opaque.
 *
 * Thread-safety: a ctspool handle must be used by one thread at a time.
 * Several handles (in one or several processes) may share one journal.
 */
#ifndef CTSPOOL_H
#define CTSPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CTSPOOL_BUILDING) && defined(__GNUC__)
#define CTSPOOL_EXTERN __attribute__((visibility("default")))
#else
#define CTSPOOL_EXTERN
#endif

#define CTSPOOL_VERSION_MAJOR 0
#define CTSPOOL_VERSION_MINOR 1
#define CTSPOOL_VERSION_PATCH 0
#define CTSPOOL_VERSION_STRING "0.1.0"
#define CTSPOOL_VERSION_NUM                                               \
    ((CTSPOOL_VERSION_MAJOR << 16) | (CTSPOOL_VERSION_MINOR << 8) |       \
     CTSPOOL_VERSION_PATCH)

/*
 * Result codes.  Numbers are never renumbered or reused; a retired code
 * becomes CTSPOOL_E_OBSOLETE_nn.  The class of a code says what to do:
 * INVALID reject and never retry; BUSY/TRANSIENT/FULL retry later;
 * REJECTED dead-letter; CORRUPT/SCHEMA stop and say so.
 */
#define CTSPOOL_ERRORS(X)                                                 \
    X(OK, 0, "success")                                                   \
    X(E_NOMEM, 1, "out of memory")                                        \
    X(E_INVALID, 2, "point failed validation")                            \
    X(E_IO, 3, "journal I/O error")                                       \
    X(E_BUSY, 4, "journal locked; retry")                                 \
    X(E_CORRUPT, 5, "journal is corrupt")                                 \
    X(E_TRANSIENT, 6, "upload failed; retry later")                       \
    X(E_REJECTED, 7, "upload refused permanently")                        \
    X(E_SCHEMA, 8, "journal schema newer than this binary")               \
    X(E_FULL, 9, "spool full")                                            \
    X(E_DISKFULL, 10, "disk full")                                        \
    X(E_CANTCREATE, 11, "journal cannot be created or opened")            \
    X(E_CONFIG, 12, "configuration error")                                \
    X(E_NOINPUT, 13, "input file missing or unreadable")                  \
    X(E_AUTH, 14, "upstream rejects the credentials")                     \
    X(E_LOCKED, 15, "lock held by another process")                       \
    X(E_USAGE, 16, "invalid argument")                                    \
    X(E_NOTFOUND, 17, "not found")

typedef enum {
#define CTSPOOL_X_(name, num, text) CTSPOOL_##name = num,
    CTSPOOL_ERRORS(CTSPOOL_X_)
#undef CTSPOOL_X_
} ctspool_rc;

/* Text for a code ("spool full"); never NULL, also for unknown codes. */
CTSPOOL_EXTERN const char *ctspool_strerror(ctspool_rc rc);
/* Name of a code ("CTSPOOL_E_FULL"); never NULL. */
CTSPOOL_EXTERN const char *ctspool_errname(ctspool_rc rc);
/* Runtime version, CTSPOOL_VERSION_NUM of the library actually linked. */
CTSPOOL_EXTERN unsigned ctspool_version(void);
CTSPOOL_EXTERN const char *ctspool_version_string(void);

/* An open journal.  Opaque. */
typedef struct ctspool ctspool;

/* Flags of ctspool_open(). */
#define CTSPOOL_DURABILITY_NORMAL 0x1u /* default: synchronous=FULL */

/*
 * ctspool_open -- open (creating it with mode 0600 when missing) the
 * journal at path and migrate its schema.  path: borrowed; a relative
 * path is taken against the working directory of this call, and the
 * handle keeps that journal when the process later changes directory.
 * flags: 0 or CTSPOOL_DURABILITY_NORMAL.  *out receives the handle, NULL
 * on failure.  Returns OK, E_CANTCREATE (file or directory cannot be
 * created, opened or written by this user), E_SCHEMA (journal written by
 * a newer ctspool), E_CORRUPT, E_DISKFULL (no room to create or set up
 * the journal), E_IO or E_NOMEM.  When it fails with a handle-less
 * error, the reason is in ctspool_errmsg(NULL) of the calling thread.
 *
 * A journal SQLite reports damaged, here or in a later append, is moved
 * aside to PATH.corrupt-YYYYMMDDTHHMMSSZ (logged on stderr) and a fresh
 * one started in its place, the append then stored there
 * (`ctspool salvage` recovers the damaged one); with ctspool_open_config
 * and on_corrupt = "stop", such calls fail with E_CORRUPT instead.  A
 * file that never was a journal (no SQLite header and not whole pages
 * of one, or another application's SQLite database) is left as it is:
 * E_CANTCREATE.
 *
 * SQLite answers some damage with "out of memory".  To tell that from a
 * shortage, the first open of the process puts a counter of failed
 * allocations over SQLite's allocator (every call goes on to the one in
 * place); an application that started SQLite itself before (any
 * sqlite3_open) keeps its allocator as it is, and such damage is then
 * E_NOMEM.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_open(const char *path, unsigned flags,
                                       ctspool **out);

/*
 * ctspool_open_config -- like ctspool_open, with the journal path,
 * durability, default data stream token, limits and the streams list
 * read from a ctspool configuration file (NULL: $CTSPOOL_CONFIG, else
 * /etc/ctspool/ctspool.cfg).  Returns what ctspool_open returns, and
 * E_CONFIG.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_open_config(const char *config_path,
                                              ctspool **out);

/* Close the handle; an open transaction is rolled back.  NULL: no-op. */
CTSPOOL_EXTERN void ctspool_close(ctspool *h);

/*
 * Detail of the last failure on h (or, for h == NULL, of the last failed
 * ctspool_open* in this thread): names the point, the field and the
 * reason.  Valid until the next call on h.  Never NULL.
 */
CTSPOOL_EXTERN const char *ctspool_errmsg(const ctspool *h);

/* Default data stream token for points that carry none.  token: copied. */
CTSPOOL_EXTERN ctspool_rc ctspool_set_default_stream(ctspool *h,
                                                     const char *token);

/*
 * ctspool_set_streams -- the data stream tokens points may use (the
 * `streams` list of the configuration; ctspool_open_config sets it from
 * there).  A point whose token, its own or the default, is not one of
 * them fails with E_INVALID like any invalid field.  n 0: any token (the
 * default of a new handle).  tokens: n NUL-terminated strings, copied.
 * Returns OK, E_INVALID (an entry is not a valid token; the list is
 * unchanged), E_USAGE (a NULL entry), E_NOMEM.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_set_streams(ctspool *h,
                                              const char *const *tokens,
                                              size_t n);

/* Limits past which appends fail with E_FULL; 0 means unlimited.  An
 * append that alone adds more new points than max_pending_points fails
 * with E_INVALID instead: no retry can store it (split it). */
CTSPOOL_EXTERN ctspool_rc ctspool_set_limits(ctspool *h,
                                             uint64_t max_pending_points,
                                             uint64_t max_journal_bytes);

/* One custom dimension; both strings borrowed, NUL-terminated UTF-8. */
typedef struct ctspool_dim {
    const char *key;
    const char *value;
} ctspool_dim;

/*
 * One point.  All strings are borrowed for the duration of the call.
 * data_stream_token NULL means the handle's default stream.
 * metric_agg_func: "Sum", "Average", "Maximum" or "Minimum".
 * timestamp: Unix seconds, a multiple of 3600.
 */
typedef struct ctspool_point {
    const char *data_stream_token;
    const char *metric_agg_func;
    const char *metric_name;
    int64_t timestamp;
    double metric_value;
    const ctspool_dim *dims;
    size_t n_dims;
} ctspool_point;

/* What an append did, point by point. */
typedef struct ctspool_append_result {
    uint64_t n_new;       /* identities seen for the first time */
    uint64_t n_updated;   /* value changed: pending again */
    uint64_t n_unchanged; /* same value as stored: nothing to upload */
} ctspool_append_result;

/*
 * ctspool_append -- validate n points and store them as one transaction:
 * all or none.  Returns only after COMMIT has been synced per the
 * durability.  pts: borrowed.  res: may be NULL; filled on OK.
 * Returns OK, E_INVALID (nothing stored; ctspool_errmsg names the first
 * offending point by index, its field and the reason; or more new points
 * than max_pending_points takes at all), E_FULL (spool limits reached;
 * nothing stored; retry once the drainer caught up), E_DISKFULL,
 * E_CANTCREATE (the journal's file or directory can no longer be opened
 * or written: removed, or its permissions changed), E_IO, E_BUSY (the
 * journal's write lock not obtained within 5 minutes: ctspool's own
 * processes hold it for one transaction at a time, so only a stuck
 * process outside ctspool holds it that long; until then the call
 * waits), E_NOMEM.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_append(ctspool *h, const ctspool_point *pts,
                                         size_t n,
                                         ctspool_append_result *res);

/* Flags of ctspool_append_ex() and ctspool_append_json_ex(). */
#define CTSPOOL_APPEND_ACCUMULATE 0x1u

/*
 * ctspool_append_ex -- ctspool_append with flags and an idempotency key.
 * CTSPOOL_APPEND_ACCUMULATE: local hourly rollup, each point is an
 * observation folded into the stored value of its identity and hour by
 * its aggregation function (Sum adds, Maximum / Minimum keep the
 * extreme, Average keeps sum and count and stores their quotient);
 * without a stored value the point is the value; a fold that leaves the
 * value unchanged does not make the point pending; one whose result is
 * not finite (for Average: the running sum it keeps, even where the
 * mean would be) fails with E_INVALID naming the point, nothing stored.
 * idempotency_key: NULL, or 1 to 255 bytes of UTF-8 without control
 * characters (else E_USAGE), stored with the points in their
 * transaction: when the journal stored it within the last 24 hours
 * (server.idempotency_hours with ctspool_open_config), nothing is stored,
 * OK is returned with *applied_before = 1 and res zeroed.
 * applied_before: may be NULL.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_append_ex(ctspool *h,
                                            const ctspool_point *pts,
                                            size_t n, unsigned flags,
                                            const char *idempotency_key,
                                            ctspool_append_result *res,
                                            int *applied_before);

/*
 * ctspool_append_json -- like ctspool_append for a Cloudthread ingest
 * payload ({"data_stream_token":..., "metric_agg_func":..., "data":[...]})
 * of len bytes.  json: borrowed, need not be NUL-terminated.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_append_json(ctspool *h, const char *json,
                                              size_t len,
                                              ctspool_append_result *res);
/* ctspool_append_json with flags and a key, as ctspool_append_ex. */
CTSPOOL_EXTERN ctspool_rc
ctspool_append_json_ex(ctspool *h, const char *json, size_t len,
                       unsigned flags, const char *idempotency_key,
                       ctspool_append_result *res, int *applied_before);

/*
 * One Event Overlay event (a deploy, an incident, a release), overlaid
 * upstream on the unit metrics.  Strings borrowed, NUL-terminated UTF-8.
 * timestamp: Unix seconds, a multiple of 3600.  team_id: >= 1, or 0 for
 * none.  type: 1 to 256 bytes.  description: 1 to 1,000 characters.
 * event_url: NULL for none, else an http:// or https:// URL with a host,
 * at most 2,048 bytes.
 */
typedef struct ctspool_event {
    int64_t timestamp;
    int64_t team_id;
    const char *type;
    const char *description;
    const char *event_url;
} ctspool_event;

/*
 * ctspool_append_events -- validate n events and store them as one
 * transaction, all or none, as ctspool_append does points; they are
 * uploaded to upload.events_endpoint.  An event identical to one stored
 * (same hour, team, type, description and URL: the same event ID) is
 * counted in res->n_unchanged and not sent again; events are never
 * updated (n_updated stays 0).  Returns as ctspool_append; E_INVALID
 * names the first offending event by index, its field and the reason.
 */
CTSPOOL_EXTERN ctspool_rc ctspool_append_events(ctspool *h,
                                                const ctspool_event *evs,
                                                size_t n,
                                                ctspool_append_result *res);
/*
 * ctspool_append_events_json -- ctspool_append_events for upstream's
 * Event Overlay body, {"data": [{"timestamp", "team_id"?, "payload":
 * {"type", "description", "event_url"?}}, ...]}, of len bytes.
 */
CTSPOOL_EXTERN ctspool_rc
ctspool_append_events_json(ctspool *h, const char *json, size_t len,
                           ctspool_append_result *res);

/* Counts as shown by `ctspool status`. */
typedef struct ctspool_stats {
    uint64_t pending_points;
    uint64_t acked_points;
    uint64_t dead_letters;
    uint64_t journal_bytes;
    int64_t oldest_pending_unix; /* -1 when nothing is pending */
} ctspool_stats;

CTSPOOL_EXTERN ctspool_rc ctspool_get_stats(ctspool *h, ctspool_stats *out);

/* The events in the journal (ctspool_stats counts points only). */
typedef struct ctspool_event_stats {
    uint64_t pending_events;
    uint64_t acked_events;
    uint64_t dead_events;
} ctspool_event_stats;

CTSPOOL_EXTERN ctspool_rc ctspool_get_event_stats(ctspool *h,
                                                  ctspool_event_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CTSPOOL_H */
