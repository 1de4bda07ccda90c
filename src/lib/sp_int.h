/*
 * sp_int.h -- declarations shared by the files of libctspool and the
 * programs built on it (ctspool CLI, serve, drain).  Never installed.
 *
 * Module map (one file, one responsibility):
 *   err.c       rc table, ctspool_strerror/errname, sp_err formatting
 *   log.c       levelled logging to stderr, secret masking
 *   validate.c  pure field checks shared by every producer path; with
 *               utf8.c (strict UTF-8, input quoted in messages),
 *               timefmt.c (timestamps, an hour's text) and numfmt.c (a
 *               value's text)
 *   record.c    canonical encoding and record ID (SHA-256, OpenSSL)
 *   payload.c   the only cJSON user for points: JSON <-> sp_point
 *   csv.c       streaming RFC 4180 reader
 *   input.c     append input formats -> sp_point stream; with
 *               input_detect.c (which format), csv_layout.c (CSV
 *               header -> columns, row -> point) and input_src.c (the
 *               bytes: read ahead, then the FILE, or a followed pipe)
 *   config.c    the only libconfig user: file -> struct sp_config; with
 *               config_keys.c (the settings), config_lex.c (int64
 *               literals), config_check.c (single values) and
 *               config_file.c (the files, permission warning)
 *   journal.c   the SQLite journal: open, transactions, limits; with
 *               journal_put.c (upsert), journal_drain.c (take, ack, dead
 *               letters; journal_names.c, its series texts),
 *               journal_admin.c (stats, list, compact),
 *               journal_check.c (its invariants as queries) and
 *               journal_groups.c (parked groups, streams, retire)
 *   migrate.c   schema/ migrations embedded at build time
 *   owner.c     files made next to the journal get its owner (as root)
 *   buf.c       the growable byte buffer (struct sp_buf)
 *   api.c       the public ctspool_* functions
 */
#ifndef SP_INT_H
#define SP_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "ctspool.h"

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define SP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SP_PRINTF(f, a)
#endif

/* ---- limits of DESIGN.md section 2 ---------------------------------- */
#define SP_MAX_DIMS 10
#define SP_NAME_MAX 256    /* metric_name bytes */
#define SP_DIM_KEY_MAX 128 /* custom dimension key bytes */
#define SP_DIM_VAL_MAX 256 /* custom dimension value bytes */
#define SP_STREAM_MAX 1024 /* data_stream_token bytes (our own bound) */
#define SP_RECORD_ID_LEN 32

/* ---- error detail ---------------------------------------------------- */

/*
 * A human-readable reason, filled by whoever detects a failure.  Callers
 * prefix the locator ("line 12: ").  Always NUL-terminated.
 */
struct sp_err {
    char msg[512];
};

void sp_err_set(struct sp_err *e, const char *fmt, ...) SP_PRINTF(2, 3);
/* Prepend "prefix" to the message already in e. */
void sp_err_prefix(struct sp_err *e, const char *fmt, ...) SP_PRINTF(2, 3);
/* The parsers count a broken object's byte offsets from its start, the
 * user from the input's: every offset in e (each follows "byte offset ",
 * as the parsers write them) moved on by base, where the object starts. */
void sp_err_offsets_from(struct sp_err *e, uint64_t base);

/* ---- logging (log.c) ------------------------------------------------- */
enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG };

enum sp_log_format { SP_LOG_LOGFMT = 0, SP_LOG_JSON };

void sp_log_init(const char *component, enum sp_log_level level);
/* Changes the level while threads log (a reloaded configuration);
 * nothing once the level is pinned. */
void sp_log_set_level(enum sp_log_level level);
/* Sets the level for good (--log-level, $CTSPOOL_LOG_LEVEL): later
 * sp_log_init() and sp_log_set_level() calls keep it. */
void sp_log_pin_level(enum sp_log_level level);
/* Changes the line format while threads log. */
void sp_log_set_format(enum sp_log_format format);
void sp_log(enum sp_log_level level, const char *fmt, ...) SP_PRINTF(2, 3);
/* Parse "error|warn|info|debug"; -1 if unknown. */
int sp_log_level_parse(const char *s);
/* Parse "logfmt|json"; -1 if unknown. */
int sp_log_format_parse(const char *s);
/*
 * One log line without its newline: logfmt (ts=... level=...
 * component=... msg="...", each value quoted and escaped when it needs
 * it) or a JSON object with those four keys.  Malloc'd; NULL when out
 * of memory.
 */
char *sp_log_line(enum sp_log_format format, const char *ts,
                  const char *level, const char *component, const char *msg);
/*
 * Mask a secret for display: "...abcd" (last 4 characters at most; a
 * secret of 8 characters or fewer shows none).  Writes into buf.
 */
const char *sp_mask(const char *secret, char *buf, size_t buf_len);
/* The same for secret[0..len), which need not be NUL-terminated; the
 * characters shown never start inside a UTF-8 sequence. */
const char *sp_mask_n(const char *secret, size_t len, char *buf,
                      size_t buf_len);
/*
 * An upload group for display: "events" (agg SP_KIND_EVENTS, or none
 * sp_agg_name() names), else its stream token masked (sp_mask) and its
 * aggregation function, "****abcd/Sum".  Writes into buf (48 bytes hold
 * any).
 */
const char *sp_group_name(const char *stream, int agg, char *buf,
                          size_t buf_len);

/* ---- clock.c --------------------------------------------------------- */
/* Milliseconds of CLOCK_MONOTONIC: for intervals, never for dates. */
int64_t sp_clock_ms(void);
int64_t sp_clock_us(void); /* the same clock, in microseconds */

/* ---- points ---------------------------------------------------------- */
enum sp_agg {
    SP_AGG_SUM = 0,
    SP_AGG_AVERAGE = 1,
    SP_AGG_MAXIMUM = 2,
    SP_AGG_MINIMUM = 3,
    SP_AGG_N = 4
};

/*
 * The one upload group of Event Overlay events (DESIGN.md section 9,
 * schema 0007): grp.agg SP_KIND_EVENTS (not an aggregation function:
 * sp_agg_name() gives NULL) and grp.id SP_GRP_EVENTS_ID.
 */
#define SP_KIND_EVENTS 4
#define SP_GRP_EVENTS_ID (-1)

/* Upstream spelling of an aggregation function. */
const char *sp_agg_name(int agg);

struct sp_dim {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
};

/*
 * A validated point.  Strings are borrowed from whoever filled it (a
 * parser's buffer) and are not NUL-terminated necessarily; lengths rule.
 * After sp_point_finish() dims are sorted bytewise by key and unique.
 */
struct sp_point {
    const char *stream;
    size_t stream_len;
    int agg; /* enum sp_agg */
    const char *name;
    size_t name_len;
    int64_t hour; /* hours since 1970-01-01T00:00:00Z */
    double value;
    size_t n_dims;
    struct sp_dim dims[SP_MAX_DIMS];
};

/* ---- buf.c: the growable byte buffer -------------------------------- */
/*
 * p[len] is always '\0' once anything was reserved; a failed allocation
 * (or a size past SIZE_MAX) sets has_failed, which sticks until
 * sp_buf_reset(): later additions then do nothing and return -1.
 */
struct sp_buf {
    char *p;
    size_t len, cap;
    int has_failed;
};

void sp_buf_init(struct sp_buf *b);
void sp_buf_cleanup(struct sp_buf *b); /* frees; b is then empty */
void sp_buf_reset(struct sp_buf *b);   /* len 0, keeps the memory */
/* Keeps the first len bytes (none dropped when it holds no more). */
void sp_buf_truncate(struct sp_buf *b, size_t len);
/* Drops the first n bytes (all, when it holds no more); the rest moves
 * to the front. */
void sp_buf_drop(struct sp_buf *b, size_t n);
/* sp_buf_reserve() (below), growing to exactly that room (for callers
 * that account for every byte they hold). */
int sp_buf_reserve_exact(struct sp_buf *b, size_t n);
/* sp_buf_reserve() for a buffer that never holds more than max bytes:
 * growth stops at room for max bytes and the NUL; len + n past max is
 * -1 (has_failed) too. */
int sp_buf_reserve_max(struct sp_buf *b, size_t n, size_t max);
/* Room for n more bytes and the NUL: 0, or -1 (has_failed).  The common
 * case, room already there, is inline. */
static inline int
sp_buf_reserve(struct sp_buf *b, size_t n)
{
    if (!b->has_failed && b->cap > b->len && b->cap - b->len > n) {
        return 0;
    }
    return sp_buf_reserve_max(b, n, SIZE_MAX / 2);
}
/* Appends data[0..n): 0, or -1 (has_failed).  The common case, room
 * already there, is inline: request bodies are built from many small
 * pieces. */
int sp_buf_add_grow(struct sp_buf *b, const void *data, size_t n);
static inline int
sp_buf_add(struct sp_buf *b, const void *data, size_t n)
{
    if (!b->has_failed && b->cap > b->len && b->cap - b->len > n) {
        if (n) {
            memcpy(b->p + b->len, data, n); /* data may be NULL when 0 */
        }
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
    }
    return sp_buf_add_grow(b, data, n);
}
static inline int
sp_buf_adds(struct sp_buf *b, const char *s)
{
    return sp_buf_add(b, s, strlen(s));
}
/*
 * Writing many small pieces in place, once sp_buf_reserve() made room for
 * all of them (one check instead of one per piece): sp_buf_put() copies
 * s[0..n) (s may be NULL when n is 0) to d and returns where the next
 * piece goes; sp_buf_wrote() then takes what lies before end as b's.
 */
static inline char *
sp_buf_put(char *d, const void *s, size_t n)
{
    if (n) {
        memcpy(d, s, n);
    }
    return d + n;
}
static inline void
sp_buf_wrote(struct sp_buf *b, char *end)
{
    b->len = (size_t)(end - b->p);
    b->p[b->len] = '\0';
}
int sp_buf_addf(struct sp_buf *b, const char *fmt, ...) SP_PRINTF(2, 3);
struct sp_src;
/*
 * sp_buf_read -- one read of s (sp_src_read(), below) onto the end of b,
 * for a buffer that never holds more than max bytes.  When b has no room
 * left it grows first: to 64 KiB, then doubling.  Returns OK with *n the
 * count read (0: the end of the input), E_FULL when b already holds max
 * bytes (nothing read), E_NOMEM (has_failed), or E_IO (errno says why;
 * ECANCELED: a following source was woken).  s: borrowed.
 */
ctspool_rc sp_buf_read(struct sp_buf *b, struct sp_src *s, size_t max,
                       size_t *n);

/* ---- owner.c: files created next to the journal ------------------- */
/*
 * sp_owner_adopt -- when running as root, gives fd the owner and group
 * of the file or directory like (the journal, or its directory before
 * the journal exists); otherwise, or when like does not exist, does
 * nothing.  0, or -1 with errno.
 */
int sp_owner_adopt(int fd, const char *like);
/*
 * sp_mode_adopt -- gives fd the read and write bits of the journal at
 * journal, as SQLite gives its -wal and -shm files, so that whoever may
 * open the journal may open fd too (a group's drain user, say).  Only
 * the owner (or root) can: otherwise, or when the journal does not
 * exist, does nothing.  0, or -1 with errno.
 */
int sp_mode_adopt(int fd, const char *journal);
/*
 * sp_lock_take -- the lock file at path next to journal, taken: opened
 * (created 0600 if missing, its name then synced; a symbolic link is
 * refused: ELOOP), given the journal's owner and mode (as above), and
 * locked with an exclusive flock without waiting.  The fd to close when
 * done, or -1 with errno (EWOULDBLOCK: another process holds it) and
 * *failed set to the step that failed.
 */
enum sp_lock_step { SP_LOCK_OPEN, SP_LOCK_ADOPT, SP_LOCK_FLOCK };
int sp_lock_take(const char *path, const char *journal,
                 enum sp_lock_step *failed);

/* ---- validate.c, timefmt.c, utf8.c, numfmt.c: pure, no I/O ----------- */
/*
 * Each returns CTSPOOL_OK or CTSPOOL_E_INVALID with e->msg set to
 * "FIELD: reason" (for example `timestamp: minutes must be zero in
 * "2022-10-01 05:30:00"`).  Inputs are borrowed; s need not be
 * NUL-terminated.
 */
ctspool_rc sp_valid_agg(const char *s, size_t len, int *agg,
                        struct sp_err *e);
/* timefmt.c: "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DDTHH:MM:SS[Z|+00:00]"
 * (fractions of zero allowed), or a decimal integer of Unix seconds. */
ctspool_rc sp_valid_timestamp_str(const char *s, size_t len, int64_t *hour,
                                  struct sp_err *e);
/* A JSON number given as a double: must be an integer multiple of 3600. */
ctspool_rc sp_valid_timestamp_num(double v, int64_t *hour, struct sp_err *e);
/* A string that converts fully to a finite double. */
ctspool_rc sp_valid_value_str(const char *s, size_t len, double *v,
                              struct sp_err *e);
ctspool_rc sp_valid_value_num(double v, struct sp_err *e);
ctspool_rc sp_valid_name(const char *s, size_t len, struct sp_err *e);
ctspool_rc sp_valid_stream(const char *s, size_t len, struct sp_err *e);
/* An idempotency key: 1 to 255 bytes of UTF-8, no control characters. */
ctspool_rc sp_valid_idem_key(const char *s, size_t len, struct sp_err *e);
/* Validates one key/value pair (lengths, UTF-8, non-empty key). */
ctspool_rc sp_valid_dim(const char *k, size_t k_len, const char *v,
                        size_t v_len, struct sp_err *e);
/* Appends a dimension, refusing an 11th.  */
ctspool_rc sp_point_add_dim(struct sp_point *p, const char *k, size_t k_len,
                            const char *v, size_t v_len, struct sp_err *e);
/* Bytewise key order (a prefix sorts first); 0 for equal keys. */
int sp_dim_cmp(const struct sp_dim *a, const struct sp_dim *b);
/* Sorts dims bytewise by key, rejects duplicate keys. */
ctspool_rc sp_point_finish(struct sp_point *p, struct sp_err *e);
/* utf8.c: s[0..len) is strict UTF-8. */
int sp_utf8_valid(const char *s, size_t len);
/* utf8.c: s[0..len) appended to out as UTF-8, each byte that does not
 * begin a valid sequence as U+FFFD, and NUL-terminated (not counted in
 * out->len).  0, or -1 out of memory. */
int sp_utf8_scrub(const char *s, size_t len, struct sp_buf *out);
/*
 * utf8.c: "UTF-16" or "UTF-32" when s[0..len) begins with the byte order
 * mark of one (either byte order), else NULL.  Every input is read as
 * UTF-8, where such a text gives only puzzling errors ("no 'timestamp'
 * column", "invalid JSON at 0"): each producer path refuses it first,
 * saying SP_WIDE_SAID of it.  FF FE is UTF-16 unless 4 bytes show
 * UTF-32; 00 00 FE FF needs all 4.
 */
const char *sp_wide_bom(const void *s, size_t len);
#define SP_WIDE_SAID "is %s (it starts with that byte order mark)"
#define SP_WIDE_CONVERT                                                     \
    "ctspool reads UTF-8: convert it first (iconv -f %s -t UTF-8)"

/* timefmt.c: hour number -> "YYYY-MM-DD HH:00:00" (buf >= 20 bytes). */
void sp_hour_format(int64_t hour, char *buf, size_t buf_len);
/* numfmt.c: shortest decimal text that parses back to v (buf >= 32);
 * returns its length. */
size_t sp_double_format(double v, char *buf, size_t buf_len);
/* numfmt.c: strtod(s, NULL) of the JSON number text s[0..len), which
 * must be NUL-terminated; short decimals without calling strtod(). */
double sp_json_number_value(const char *s, size_t len);

/* ---- record.c -------------------------------------------------------- */
/*
 * Canonical encoding of (metric_name, agg, dims in key order), each item
 * as a 4-byte big-endian length then its bytes.  Writes up to cap bytes
 * into buf and returns the full length (call with cap 0 to size).
 */
size_t sp_record_encode(const struct sp_point *p, uint8_t *buf, size_t cap);
/* SHA-256 of the canonical encoding.  p must be finished (sorted). */
ctspool_rc sp_record_id(const struct sp_point *p,
                        uint8_t out[SP_RECORD_ID_LEN]);
void sp_hex(const uint8_t *in, size_t len, char *out /* 2*len+1 */);

/* ---- payload.c: the only cJSON user for points ----------------------- */

/*
 * Defaults for fields a payload may omit, and the data stream tokens a
 * point may use (the `streams` list of the configuration).
 */
struct sp_defaults {
    const char *stream;   /* NULL: none */
    int agg;              /* -1: none */
    char *const *streams; /* borrowed; n_streams 0: any token */
    size_t n_streams;
    int events; /* the input holds Event Overlay events (append --kind
                 * events): each goes on as its carrier point (event.h) */
};

/*
 * sp_valid_stream_listed (validate.c) -- the one check of a point's
 * resolved token s[0..len) against d's streams list: OK when the list is
 * empty (or d NULL) or holds s, else E_INVALID with `data_stream_token:
 * "****abcd" is not in the streams list of the configuration` in e (the
 * token masked by sp_mask_n).  Every producer path calls it once the
 * stream of a point is known.
 */
ctspool_rc sp_valid_stream_listed(const struct sp_defaults *d, const char *s,
                                  size_t len, struct sp_err *e);

/*
 * Called for each valid point of a payload; p is valid during the call
 * only.  Returning non-OK stops the parse with that code.
 */
typedef ctspool_rc (*sp_point_cb)(void *ctx, const struct sp_point *p);

/*
 * Called for each invalid point; index is the position in "data" (or
 * line/row for other formats); e says field and reason.  Returning
 * non-OK stops the parse with that code.
 */
typedef ctspool_rc (*sp_error_cb)(void *ctx, size_t index,
                                  const struct sp_err *e);

/*
 * sp_payload_parse -- parse ONE Cloudthread payload object starting at
 * buf (leading whitespace skipped), len bytes available.  Every element
 * of "data" is validated; valid ones go to on_point, invalid ones to
 * on_error (index = position in data).  *consumed receives how many
 * bytes the object used, so a caller can parse concatenated objects.
 * Returns OK (even if some points were invalid: on_error saw them),
 * E_INVALID when the document itself is malformed (not JSON, no data
 * array, bad metric_agg_func / data_stream_token at the top; reason in
 * e, nothing reported to on_point), E_NOMEM, or a callback's code.
 */
ctspool_rc sp_payload_parse(const char *buf, size_t len,
                            const struct sp_defaults *d, sp_point_cb on_point,
                            sp_error_cb on_error, void *ctx, size_t *consumed,
                            struct sp_err *e);

/*
 * payload_doc.c: payload objects read from a file in bounded memory.  A
 * struct sp_docsrc reads the file with pread() from offset base on (the
 * descriptor is borrowed; its offset never moves).
 */
struct sp_docsrc;
ctspool_rc sp_docsrc_open_fd(int fd, uint64_t base, struct sp_docsrc **out,
                             struct sp_err *e);
void sp_docsrc_close(struct sp_docsrc *s);
/* The byte at off: 0..255, -1 at the end, -2 on a read error (e). */
int sp_docsrc_byte(struct sp_docsrc *s, uint64_t off, struct sp_err *e);
/* sp_payload_parse() of the object at offset at of s, whitespace first
 * allowed; E_IO on a read error. */
ctspool_rc sp_payload_parse_at(struct sp_docsrc *s, uint64_t at,
                               const struct sp_defaults *d,
                               sp_point_cb on_point, sp_error_cb on_error,
                               void *ctx, uint64_t *consumed,
                               struct sp_err *e);

/* tmpfile.c: the directory part of path ("." when none; NULL: no
 * memory), and an anonymous file in dir (-1: why says why). */
char *sp_dir_of(const char *path);
/* An O_RDONLY descriptor of path's directory, or -1 (errno). */
int sp_open_dir_of(const char *path);
/* fsync of path's directory: the names just made there are durable.
 * Best effort: a failure only weakens what a power loss keeps. */
void sp_sync_dir_of(const char *path);
int sp_tmpfd(const char *dir, char *why, size_t why_len);

/*
 * sp_payload_parse_line -- parse one NDJSON line (a "data" element, plus
 * optional metric_agg_func and data_stream_token) into *p.  p borrows
 * from *scratch, which the caller frees with sp_payload_scratch_free()
 * (or passes again for the next line).  Returns OK or E_INVALID (e).
 */
struct sp_payload_scratch;
ctspool_rc sp_payload_parse_line(const char *line, size_t len,
                                 const struct sp_defaults *d,
                                 struct sp_payload_scratch **scratch,
                                 struct sp_point *p, struct sp_err *e);
void sp_payload_scratch_free(struct sp_payload_scratch *s);

/*
 * What a reader hands on of each record it rejects, besides the message
 * (append --rejects): the record as read, for it to be fixed and read
 * again.  Every member may be NULL; called before on_error, from the
 * thread that reads, with text valid during the call only.
 */
struct sp_reject_hook {
    void *ctx;
    /* NDJSON: the rejected line, without its line end. */
    void (*line)(void *ctx, const char *s, size_t len);
    /* CSV: the header row (is_header, once, before any row), then each
     * rejected row: its fields as read (unquoted), and raw[0..raw_len),
     * its bytes as read without the LF that ended it (raw NULL when the
     * reader did not keep them: sp_csv_raw()). */
    void (*row)(void *ctx, int is_header, const char *const *fields,
                const size_t *lens, size_t n, const char *raw,
                size_t raw_len);
    /* Cloudthread: a rejected element of "data", its JSON text as read;
     * stream, agg: its payload's (the default stream when it has none;
     * stream NULL and agg -1 when unknown). */
    void (*element)(void *ctx, const char *s, size_t len,
                    const char *stream, size_t stream_len, int agg);
};

/* sp_payload_parse() handing rejected elements to hook (NULL: none). */
ctspool_rc sp_payload_parse_hooked(const char *buf, size_t len,
                                   const struct sp_defaults *d,
                                   sp_point_cb on_point,
                                   sp_error_cb on_error, void *ctx,
                                   const struct sp_reject_hook *hook,
                                   size_t *consumed, struct sp_err *e);
/* The next object of a stream of objects (append's readers), as
 * sp_payload_parse_hooked() (d->events: an events document), except that
 * a byte order mark is not skipped: only an input's first bytes may hold
 * one, and the reader skips those. */
ctspool_rc sp_payload_parse_next(const char *buf, size_t len,
                                 const struct sp_defaults *d,
                                 sp_point_cb on_point, sp_error_cb on_error,
                                 void *ctx, const struct sp_reject_hook *hook,
                                 size_t *consumed, struct sp_err *e);
/* Rejected elements read through s go to hook (borrowed; NULL: none). */
void sp_docsrc_set_reject(struct sp_docsrc *s,
                          const struct sp_reject_hook *hook);

/* ---- input_src.c: the bytes of an append input ---------------------- */
/*
 * What the readers below read: first pre[pre_pos..pre_len) (bytes read
 * ahead to tell the format; owned), then f (borrowed, never read through
 * stdio by anyone else meanwhile).  is_follow: each read is one read(2)
 * of f's descriptor, handing on what a pipe holds as it arrives (fread()
 * waits for a full buffer); wake_fd (-1: none), once readable, ends a
 * follow read's wait with ECANCELED.  Without is_follow: fread().
 */
struct sp_src {
    FILE *f;
    char *pre;
    size_t pre_len, pre_pos;
    int is_follow;
    int wake_fd;
    /* Where input that must be read twice but cannot be (a pipe) is
     * copied first: NULL is $TMPDIR, else /tmp. */
    const char *spill_dir;
    /* Rejected records as read (borrowed; NULL: none). */
    const struct sp_reject_hook *reject;
    /* NDJSON and CSV not followed: judged by this many threads of its
     * own, the results still in input order (0: by the calling
     * thread). */
    unsigned threads;
};

void sp_src_init(struct sp_src *s, FILE *f, int is_follow, int wake_fd);
/* Frees the prefix; never closes f.  NULL: no-op. */
void sp_src_cleanup(struct sp_src *s);
/* pre[0..len) (transferred) is read again before the rest; only when no
 * earlier prefix is pending. */
void sp_src_unread(struct sp_src *s, char *pre, size_t len);
/* Up to n bytes into buf: how many (> 0), 0 at the end of the input, -1
 * on a read error (errno; ECANCELED when woken by wake_fd). */
ssize_t sp_src_read(struct sp_src *s, char *buf, size_t n);

/* ---- csv.c: streaming RFC 4180 reader -------------------------------- */
struct sp_csv;
/* Reads from f (borrowed).  Memory is bounded by the longest record. */
ctspool_rc sp_csv_open(FILE *f, struct sp_csv **out);
/* The same, reading from src (borrowed; outlives the reader). */
ctspool_rc sp_csv_open_src(struct sp_src *src, struct sp_csv **out);
void sp_csv_close(struct sp_csv *c);
/*
 * Next record: *n_fields fields, fields[i]/lens[i] valid until the next
 * call.  Returns OK, E_NOTFOUND at end of input, E_INVALID (malformed
 * quoting; e names the line), E_IO, E_NOMEM.  *line: the physical line
 * on which the record started (1-based).
 */
ctspool_rc sp_csv_next(struct sp_csv *c, const char *const **fields,
                       const size_t **lens, size_t *n_fields, size_t *line,
                       struct sp_err *e);
/* From now on, keep each record's bytes as read (sp_csv_raw()). */
void sp_csv_keep_raw(struct sp_csv *c);
/* The bytes of the record sp_csv_next() returned last, as read, without
 * the LF that ended it (a CR before it kept), *len of them; NULL (and
 * *len 0) when not kept (sp_csv_keep_raw() not called, or over 2 MiB). */
const char *sp_csv_raw(const struct sp_csv *c, size_t *len);

/* ---- input.c: append input formats ----------------------------------- */
enum sp_format { SP_FMT_AUTO, SP_FMT_CLOUDTHREAD, SP_FMT_NDJSON, SP_FMT_CSV };
int sp_format_parse(const char *s); /* input_detect.c; -1 if unknown */

/*
 * sp_input_read -- stream every point of f (named name in messages) in
 * format fmt to on_point; invalid points go to on_error with the locator
 * already in the message ("line 3: timestamp: ...", "row 7: ...",
 * "object 1, data[4]: ..."), index = line/row/element.  AUTO decides by
 * name's extension, else by the first non-blank byte.  Returns OK,
 * E_INVALID (input cannot be parsed at all: e), E_IO, E_NOMEM, or a
 * callback's code.
 */
ctspool_rc sp_input_read(FILE *f, const char *name, enum sp_format fmt,
                         const struct sp_defaults *d, sp_point_cb on_point,
                         sp_error_cb on_error, void *ctx, struct sp_err *e);
/*
 * sp_input_read_src -- sp_input_read from src (borrowed).  A following
 * source hands on every point as soon as the input holds all of it (a
 * line, a CSV record, a payload object); a read error, ECANCELED from
 * its wake_fd included, returns E_IO at once, and no point is made of a
 * record cut short by it.
 */
ctspool_rc sp_input_read_src(struct sp_src *src, const char *name,
                             enum sp_format fmt, const struct sp_defaults *d,
                             sp_point_cb on_point, sp_error_cb on_error,
                             void *ctx, struct sp_err *e);

/* upload.compress: how request bodies are encoded. */
enum sp_compress { SP_COMPRESS_NONE = 0, SP_COMPRESS_GZIP = 1 };

/* server.event_loop: what serve's HTTP threads wait on connections with. */
enum sp_event_loop { SP_EVENT_LOOP_POLL = 0, SP_EVENT_LOOP_EPOLL = 1 };

/* ---- config.c: the only libconfig user ------------------------------- */
struct sp_config {
    char *path;    /* file read, NULL when defaults only */
    char *warning; /* e.g. secret in a world-readable file; NULL if none */
    char *journal;
    char *journal_file_mode; /* "0600"; sp_config_journal_mode() */
    int durability_full;
    long retain_acked_hours;
    int log_level;  /* enum sp_log_level */
    int log_format; /* enum sp_log_format */
    int on_corrupt_stop; /* on_corrupt = "stop" (else "quarantine") */
    int auto_salvage;    /* the drainer salvages quarantined journals */
    struct {
        char *endpoint;
        char *events_endpoint; /* Event Overlay; unset: endpoint with its
                                * trailing streams/ingest made events
                                * (NULL when it has none) */
        char *api_key;      /* inline key or $CTSPOOL_API_KEY; may be NULL */
        char *api_key_file; /* read only by sp_config_api_key() */
        char *data_stream_token; /* $CTSPOOL_DATA_STREAM_TOKEN wins */
        long batch_max_points;
        long batch_max_bytes;
        long connect_timeout_ms;
        long request_timeout_ms;
        long retry_base_ms;
        long retry_max_ms;
        long poll_ms;
        char *ca_file;
        long max_points_per_s;   /* pacing; 0: unlimited */
        long max_requests_per_s; /* pacing; 0: unlimited */
        int compress;            /* enum sp_compress */
        char *proxy; /* NULL: the proxy environment variables; may hold
                      * user:password@ (a secret: dr_mask_endpoint) */
        char *client_cert; /* TLS client certificate (PEM); NULL: none */
        char *client_key;  /* its private key; set with client_cert */
    } upload;
    struct {
        char *listen;
        char **api_keys;
        size_t n_api_keys;
        int allow_unauthenticated;
        long max_body_bytes; /* 1024 .. 1 GiB */
        long idempotency_hours; /* keys remembered: 1 .. a year */
        char *api_keys_file; /* read by sp_config_server_keys() */
        int event_loop;      /* enum sp_event_loop */
    } server;
    struct {
        int64_t max_pending_points;
        int64_t max_journal_bytes;
    } limits;
    struct {
        long max_undelivered_s; /* /healthz/upstream: 1 .. 1 year */
    } health;
    struct {
        char *metrics_listen; /* the drainer's /metrics; NULL: none */
    } drain;
    char **streams; /* tokens producers may use; n_streams 0: any */
    size_t n_streams;
};

/* journal_file_mode as a number: the mode of a journal created now. */
unsigned sp_config_journal_mode(const struct sp_config *c);

/*
 * sp_config_load -- path NULL: $CTSPOOL_CONFIG, else
 * /etc/ctspool/ctspool.cfg, and then a missing file means built-in
 * defaults.  A path given explicitly must exist.  Unknown keys, wrong
 * types and out-of-range values fail with E_CONFIG and e naming file,
 * line and key.  A warning (a secret in a file readable by others, or
 * readable and writable by its group) is left in (*out)->warning for the
 * program to log.  *out: transferred to the caller (sp_config_free).
 */
ctspool_rc sp_config_load(const char *path, struct sp_config **out,
                          struct sp_err *e);
/* One problem of a configuration: "FILE:LINE: ..." (never a secret). */
typedef void (*sp_config_report_fn)(void *arg, const char *msg);
/*
 * sp_config_check -- sp_config_load(), but every problem of the file
 * (unknown key, wrong type, out of range, a cross-field check) and of
 * the environment goes to report, and loading goes on with the default
 * in place of a value refused.  OK with *out when the file could be read
 * and parsed (whatever was reported); else as sp_config_load() (a syntax
 * error stops libconfig: one message in e, nothing reported).
 */
ctspool_rc sp_config_check(const char *path, sp_config_report_fn report,
                           void *arg, struct sp_config **out,
                           struct sp_err *e);
void sp_config_free(struct sp_config *c);
/*
 * The upload API key (config_file.c): $CTSPOOL_API_KEY, else
 * upload.api_key, else the first line of upload.api_key_file.  *out:
 * transferred (free()).  E_CONFIG when none is available or the file is
 * unreadable.
 */
ctspool_rc sp_config_api_key(const struct sp_config *c, char **out,
                             struct sp_err *e);
/*
 * sp_config_key_file_warning -- for the program to log: a warning when
 * upload.api_key_file (used when there is no inline key) exposes the key
 * by its mode, by the same rule as the configuration file (readable by
 * others; or readable and writable by its group), else *out = NULL.  A
 * file that cannot be examined gets none: reading it reports that.
 * *out: transferred (free()).  OK or E_NOMEM.
 */
ctspool_rc sp_config_key_file_warning(const struct sp_config *c, char **out,
                                      struct sp_err *e);

/* The keys serve accepts, and where they came from. */
struct sp_server_keys {
    char **keys;         /* secrets: wiped when freed */
    size_t n;
    const char *source;  /* static: "server.api_keys", ... */
    char *warning;       /* the keys file's mode exposes them; NULL */
};

/*
 * sp_config_server_keys -- the keys of x-api-key for serve:
 * $CTSPOOL_SERVER_API_KEYS (comma-separated) when set and not empty, in
 * place of the others; else server.api_keys and the lines of
 * server.api_keys_file (blank lines and '#' comments ignored), read now.
 * *out: its members transferred (sp_server_keys_cleanup).  OK; E_CONFIG
 * (the file cannot be read, naming it; a key with a control character;
 * the variable holds no key) or E_NOMEM, with the reason (never a key)
 * in e.  config_server_keys.c.
 */
ctspool_rc sp_config_server_keys(const struct sp_config *c,
                                 struct sp_server_keys *out,
                                 struct sp_err *e);
void sp_server_keys_cleanup(struct sp_server_keys *k);

/* ---- backoff.c: retry delays; pure functions ------------------------- */

/* A source of uniformly distributed 64-bit numbers; ctx is its state. */
typedef uint64_t (*sp_rand_fn)(void *ctx);

/*
 * sp_backoff_ceiling_ms -- the longest delay before retry number attempt
 * (0 for the first retry after a failure): min(max_ms, base_ms *
 * 2^attempt), never overflowing whatever attempt is.  base_ms and max_ms
 * are clamped to >= 0; base_ms above max_ms gives max_ms.
 */
int64_t sp_backoff_ceiling_ms(unsigned attempt, int64_t base_ms,
                              int64_t max_ms);
/*
 * sp_backoff_delay_ms -- "full jitter": a delay drawn uniformly from
 * [0, sp_backoff_ceiling_ms(attempt, base_ms, max_ms)] using rnd(ctx).
 */
int64_t sp_backoff_delay_ms(unsigned attempt, int64_t base_ms,
                            int64_t max_ms, sp_rand_fn rnd, void *ctx);
/* splitmix64 step: a small, fast generator for sp_rand_fn (ctx: a
 * uint64_t state, seeded by the caller). */
uint64_t sp_rand_splitmix64(void *state);
/*
 * sp_retry_after_parse -- the value of an HTTP Retry-After header:
 * delta-seconds ("120") or an HTTP-date (IMF-fixdate "Sun, 06 Nov 1994
 * 08:49:37 GMT", obsolete RFC 850 and asctime forms), relative to now
 * (Unix seconds).  *delay_ms: >= 0 (a date in the past gives 0; huge
 * values saturate at INT64_MAX / 2).  Returns OK or E_INVALID (then
 * *delay_ms is -1).  value: borrowed, NUL-terminated, surrounding
 * whitespace ignored.
 */
ctspool_rc sp_retry_after_parse(const char *value, int64_t now,
                                int64_t *delay_ms);

#endif /* SP_INT_H */
