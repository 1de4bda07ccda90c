/*
 * fuzz_util.h -- contract checks shared by the libFuzzer harnesses in
 * tests/fuzz/.  Every check calls fz_fail() (abort, never assert: it must
 * fire under NDEBUG too) when a contract of sp_int.h / DESIGN.md section 2
 * is broken, so libFuzzer records the input as a crash.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sp_int.h"

/* Every harness defines this; the prototype keeps -Wmissing-prototypes
 * quiet.  tests/fuzz/replay_main.c calls it for corpus files. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The default data stream token the harnesses hand to the parsers: no
 * message may ever contain it (DESIGN.md section 7, secrets).  It starts
 * with a letter that is not a hex digit, so the tail of a "\xNN" escape
 * in a message cannot complete it, and it holds no backslash, so no
 * escape can sit inside it: a message can only contain it if the input
 * did, literally or spelt with JSON \u escapes (both exempt from the
 * check).
 */
#define FZ_SECRET_STREAM "Zq-default-stream-SECRETtoken-0042"

/* Print what broke (printf-style) and abort(). */
void fz_fail(const char *fmt, ...) SP_PRINTF(1, 2) __attribute__((noreturn));

/*
 * A point a parser accepted: re-validating every field with validate.c
 * agrees; the hour and the value survive their canonical text forms;
 * the record ID is defined; and the same point written as an NDJSON line
 * parses back (sp_payload_parse_line) to an identical point.
 */
void fz_check_point(const struct sp_point *p);

/*
 * A rejection message: non-empty, NUL-terminated inside the buffer, one
 * line of valid UTF-8 with no control characters, never the default
 * stream token (unless the input itself may spell it: in, in_len), and
 * starting with prefix when prefix is not NULL.
 */
void fz_check_msg(const struct sp_err *e, const char *prefix,
                  const uint8_t *in, size_t in_len);

/* A copy of data[0..size) in a heap block of exactly size bytes (at
 * least 1), so ASan sees any read past the end.  Free with free(). */
char *fz_dup(const uint8_t *data, size_t size);

/*
 * A reading's points and errors, in order, folded into a digest:
 * fz_trace_point() and fz_trace_error() as on_point and on_error, ctx a
 * zeroed struct fz_trace.  fz_two_passes: a reject hook that does
 * nothing, with which payload_doc.c reads every object in two passes.
 * fz_trace_agree() fails unless two readings (rc, consumed bytes,
 * traces, and the message of a failure) are the same.
 */
struct fz_trace {
    uint64_t h;
    size_t n;
};

ctspool_rc fz_trace_point(void *ctx, const struct sp_point *p);
ctspool_rc fz_trace_error(void *ctx, size_t index, const struct sp_err *e);
extern const struct sp_reject_hook fz_two_passes;
void fz_trace_agree(ctspool_rc rc1, ctspool_rc rc2, size_t used1,
                    size_t used2, const struct fz_trace *t1,
                    const struct fz_trace *t2, const struct sp_err *e1,
                    const struct sp_err *e2);

/*
 * An input read with sp_input_read() that begins with a UTF-16 or UTF-32
 * byte order mark (sp_wide_bom) is refused whole: rc must be E_INVALID
 * with a message naming the encoding (checked as fz_check_msg does).  1
 * when that was the case (the caller checks nothing more of that
 * reading), 0 when the input has no such mark.
 */
int fz_wide_refused(const uint8_t *in, size_t in_len, ctspool_rc rc,
                     const struct sp_err *e);

/* A FILE reading data[0..size) (fmemopen; size 0 works). */
FILE *fz_fmemopen(const char *data, size_t size);

#endif
