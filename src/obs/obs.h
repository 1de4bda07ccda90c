/*
 * obs.h -- what `ctspool serve` and `ctspool drain` (drain.metrics_listen)
 * both show operators over HTTP, written once for both.  One file, one
 * responsibility:
 *
 *   stats.c    journal statistics cached for scrapes; the journal's
 *              part of /metrics (counters, gauges, per-group pending,
 *              the upload latency histogram)
 *   health.c   the body and status of GET /healthz/upstream
 *   process.c  the standard process_* series of /metrics, from /proc
 *   buf.c      JSON strings into a struct sp_buf, and handing it over
 *   listen.c   "HOST:PORT" resolved, bound and listening
 *
 * No libmicrohttpd here: each program's HTTP side (serve's http.c, the
 * drainer's metrics_http.c) routes requests and calls these.  Everything
 * reads the journal through a handle of its own, in read transactions
 * that never wait for a writer; no secret ever appears (data stream
 * tokens are masked to their last 4 characters).
 */
#ifndef OB_OBS_H
#define OB_OBS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "journal.h"
#include "sp_int.h"

/* At most this many per-group pending series; the rest are summed in
 * one series labelled stream="other". */
#define OB_GROUPS_MAX 50

/* ---- buf.c ------------------------------------------------------------ */

/* s[0..len) as a JSON string literal, quotes included, escaped by
 * cJSON; s need not be UTF-8 (bad bytes become U+FFFD).  A NUL byte
 * ends s. */
void ob_buf_add_json(struct sp_buf *b, const char *s, size_t len);
/* Hands the text over (free()); the buffer is empty afterwards.  NULL
 * after a failure. */
char *ob_buf_take(struct sp_buf *b, size_t *len);

/* ---- stats.c ---------------------------------------------------------- */

struct ob_stats;

/* ro: a journal handle used for reading only (transferred: closed by
 * ob_stats_free, also on failure).  E_NOMEM. */
ctspool_rc ob_stats_new(struct sp_journal *ro, struct ob_stats **out);
void ob_stats_free(struct ob_stats *m); /* NULL: no-op */
/* The journal statistics (at most a second old) into *st; OK, or the
 * error of their last reading.  Thread-safe. */
ctspool_rc ob_stats_read(struct ob_stats *m, struct sp_stats *st);
/* sp_journal_groups(SP_GROUPS_PARKED) on the statistics' connection; cb
 * runs under the statistics' lock.  On an error other than cb's, the
 * reason goes into why[0..why_len).  Thread-safe. */
ctspool_rc ob_stats_parked(struct ob_stats *m, sp_group_cb cb, void *ctx,
                           char *why, size_t why_len);
/* "# HELP name help\n# TYPE name type\n" into b. */
void ob_family(struct sp_buf *b, const char *name, const char *type,
               const char *help);
/* The journal's part of /metrics into b: ctspool_build_info,
 * ctspool_journal_stats_ok, and when the statistics could be read the
 * journal and upload series.  Thread-safe. */
void ob_stats_render(struct ob_stats *m, struct sp_buf *b);

/* ---- process.c -------------------------------------------------------- */

/* The standard process_* series of this process (CPU, memory, open
 * descriptors and their limit, start time) into b, with HELP and TYPE;
 * those that cannot be read are left out.  Thread-safe. */
void ob_process_render(struct sp_buf *b);

/* ---- health.c --------------------------------------------------------- */

/*
 * ob_health_upstream -- GET /healthz/upstream: the JSON body into b and
 * the status into *code: 503 when the oldest pending point has waited
 * longer than max_undelivered_s seconds, an upload group is parked, or
 * the journal cannot be read; else 200.  Thread-safe.
 */
void ob_health_upstream(struct ob_stats *m, long max_undelivered_s,
                        struct sp_buf *b, unsigned *code);

/* ---- listen.c --------------------------------------------------------- */

/*
 * ob_listen_open -- resolve addr ("HOST:PORT", "[v6]:PORT"; HOST "" or
 * "*": every address; no port: default_port) and bind a listening,
 * non-blocking, close-on-exec socket to it.  what names the setting in
 * messages ("server.listen").  *fd: the socket (the caller's), -1 on
 * failure; *is_loopback: whether it is a loopback address (may be
 * NULL).  OK; E_CONFIG (not an address, cannot resolve) or E_IO (cannot
 * bind or listen) with the reason, naming the address, in e.
 */
ctspool_rc ob_listen_open(const char *what, const char *addr,
                          const char *default_port, int *fd,
                          int *is_loopback, struct sp_err *e);
/*
 * ob_listen_check -- what ob_listen_open does short of the socket: addr
 * resolves.  *is_loopback as above (may be NULL).  OK or E_CONFIG (e).
 */
ctspool_rc ob_listen_check(const char *what, const char *addr,
                           const char *default_port, int *is_loopback,
                           struct sp_err *e);
/* "127.0.0.1:8765" or "[::1]:8765" of the bound socket fd, in buf. */
void ob_listen_name(int fd, char *buf, size_t len);
/*
 * ob_mhd_log -- libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER for both HTTP
 * sides: one info line (client misbehaviour mostly, not a server
 * error), prefixed by cls (a string, "" for none).
 */
void ob_mhd_log(void *cls, const char *fmt, va_list ap) SP_PRINTF(2, 0);

#endif /* OB_OBS_H */
