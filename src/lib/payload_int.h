/*
 * payload_int.h -- what payload.c (one data element or NDJSON line,
 * jscan.c) and payload_hold.c lend payload_doc.c (whole payload
 * objects, streamed).
 * Private to the library.
 */
#ifndef CTSPOOL_PAYLOAD_INT_H
#define CTSPOOL_PAYLOAD_INT_H

#include <stddef.h>

#include "jscan.h"
#include "sp_int.h"

/* Deepest nesting accepted anywhere in a payload: jscan.c's, so the
 * streamed document and its elements agree. */
#define SP_PAYLOAD_DEPTH_MAX SP_JSON_DEPTH_MAX

/* A key fit for a message (see payload.c); buf holds SP_SHOW_BUF. */
#define SP_SHOW_BUF (4 * 64 + 8)
const char *sp_payload_show(const char *s, char *buf);

/*
 * The point every element of a payload starts from: metric_agg_func and
 * data_stream_token taken from the payload's own members (nodes standing
 * for them, NULL when absent) or from d.  base->stream borrows from
 * stream or d.
 */
ctspool_rc sp_payload_base(const struct sp_jnode *agg,
                           const struct sp_jnode *stream,
                           const struct sp_defaults *d,
                           struct sp_point *base, struct sp_err *e);

/*
 * One element of "data" at buf[0..len) (leading whitespace allowed),
 * into *p, whose stream and agg the caller has set from the base.
 * *end: where the element's JSON ended (0 when it is not JSON: returns
 * E_INVALID, e says where).  E_INVALID with *end > 0: the element is
 * JSON but not a valid point, or holds a lone UTF-16 surrogate (e says
 * why).  p borrows from *scratch.
 */
ctspool_rc sp_payload_element(const char *buf, size_t len, size_t *end,
                              const struct sp_defaults *d,
                              struct sp_payload_scratch **scratch,
                              struct sp_point *p, struct sp_err *e);

/* The scan of *scratch (allocated on first use; NULL: out of memory,
 * e says so), for other values than points: events. */
struct sp_jscan *sp_payload_scan(struct sp_payload_scratch **scratch,
                                 struct sp_err *e);

/*
 * payload_hold.c: an object's points and element errors, held in their
 * order until sp_hold_flush() hands them on (on_point, on_error) as the
 * elements were read, stopping at the first callback that is not OK.
 * A held point keeps its own copy of its name and dimensions; its
 * stream must outlive the hold.  sp_hold_add() holds element index: p,
 * or (p NULL) its error pe; 0, or -1 without memory.
 */
struct sp_hold {
    struct sp_buf rec;
    struct sp_err *errs;
    size_t n_errs, cap_errs;
};

void sp_hold_init(struct sp_hold *h);
void sp_hold_free(struct sp_hold *h);
int sp_hold_add(struct sp_hold *h, size_t index, const struct sp_point *p,
                const struct sp_err *pe);
ctspool_rc sp_hold_flush(const struct sp_hold *h, sp_point_cb on_point,
                         sp_error_cb on_error, void *ctx);

#endif
