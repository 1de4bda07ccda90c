/*
 * event.h -- one Event Overlay event (DESIGN.md section 9): its fields,
 * their validation and its identity (event.c).
 */
#ifndef SP_EVENT_H
#define SP_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "jscan.h"
#include "sp_int.h"

#define SP_EVENT_ID_LEN 32
/* series.record_id of an event (journal_event.c): the hour, 4 bytes
 * big-endian, then the event ID. */
#define SP_EVENT_KEY_LEN (4 + SP_EVENT_ID_LEN)

/* An event; the strings are borrowed, not NUL-terminated. */
struct sp_event {
    int64_t hour;    /* hours since 1970-01-01T00:00:00Z */
    int64_t team_id; /* >= 1; 0: absent */
    const char *type;
    size_t type_len;
    const char *description;
    size_t description_len;
    const char *url; /* NULL: absent */
    size_t url_len;
};

/*
 * sp_event_from_scan -- the event of js's value (jscan.h): upstream's
 * data element ({"timestamp", "team_id"?, "payload": {"type",
 * "description", "event_url"?}}), or with flat_ok also the flat form
 * (timestamp, type, description, event_url, team_id at the top).  The
 * strings point into js.  OK, or E_INVALID with "FIELD: reason" in e (an
 * unknown field is named; "decscription" gets the right spelling).
 */
ctspool_rc sp_event_from_scan(const struct sp_jscan *js, int flat_ok,
                              struct sp_event *ev, struct sp_err *e);
/* The rules of each string field (for inputs built field by field, such
 * as CSV); OK or E_INVALID with "FIELD: reason". */
ctspool_rc sp_event_check(const struct sp_event *ev, struct sp_err *e);
ctspool_rc sp_event_check_type(const char *s, size_t len, struct sp_err *e);
ctspool_rc sp_event_check_description(const char *s, size_t len,
                                      struct sp_err *e);
ctspool_rc sp_event_check_url(const char *s, size_t len, struct sp_err *e);
/* team_id from a JSON number / a decimal CSV cell: a whole number >= 1. */
ctspool_rc sp_event_team_num(double v, int64_t *team, struct sp_err *e);
ctspool_rc sp_event_team_str(const char *s, size_t len, int64_t *team,
                             struct sp_err *e);
/*
 * sp_event_id -- SHA-256 of the canonical encoding (each item a 4-byte
 * big-endian length, then its bytes) of the hour ("YYYY-MM-DD
 * HH:00:00"), the team ID in decimal ("" when absent), type, description
 * and event_url ("" when absent).  OK, or E_NOMEM.
 */
ctspool_rc sp_event_id(const struct sp_event *ev,
                       uint8_t out[SP_EVENT_ID_LEN]);
/* sp_event_id with a digest context the caller keeps for many events
 * (no allocation per event once it has been used). */
ctspool_rc sp_event_id_with(EVP_MD_CTX *ctx, const struct sp_event *ev,
                            uint8_t out[SP_EVENT_ID_LEN]);

/*
 * sp_event_element_json -- ev as upstream's data element without its
 * timestamp, {"team_id"?, "payload": {"type", "description",
 * "event_url"?}}: what the journal stores (schema 0007) and the drainer
 * sends after the timestamp, as cJSON would print it, into b (reset
 * first; NUL-terminated).  OK or E_NOMEM.
 */
ctspool_rc sp_event_element_json(const struct sp_event *ev,
                                 struct sp_buf *b);
/*
 * sp_event_from_element -- the event stored as text (the form above) at
 * hour, validated again (salvage, list).  The strings of ev point into
 * js (sp_jscan_init()ed by the caller).
 */
ctspool_rc sp_event_from_element(const char *text, int64_t hour,
                                 struct sp_jscan *js, struct sp_event *ev,
                                 struct sp_err *e);

/* ---- input formats (event_input.c) ----------------------------------- */

/*
 * The carrier point of an event: how a validated event travels through
 * `append`'s reader, staging file and batches, which move points.  agg
 * SP_KIND_EVENTS, stream "", name: type, value: team_id (0: none),
 * dims[0]: description, dims[1]: event_url when present; the strings
 * are ev's.  Never stored or sent as a point: whoever stores it turns it
 * back (sp_event_uncarry: 1, or 0 when p is not a carrier).
 */
void sp_event_carry(const struct sp_event *ev, struct sp_point *p);
int sp_event_uncarry(const struct sp_point *p, struct sp_event *ev);
/*
 * sp_event_parse_line -- one NDJSON line (element or flat form) into
 * its carrier *p, whose strings point into js until its next scan.  OK,
 * E_INVALID (e: field and reason), E_NOMEM.
 */
ctspool_rc sp_event_parse_line(const char *line, size_t len,
                               struct sp_point *p, struct sp_jscan *js,
                               struct sp_err *e);
/*
 * sp_event_parse_doc -- ONE {"data": [...]} events document at buf:
 * each valid element's carrier to on_point, each invalid one to on_error
 * (index: its place in data) and to hook->element.  *consumed: the
 * bytes the object used.  E_INVALID (e) when the document itself is
 * bad; a callback's code; OK.
 */
ctspool_rc sp_event_parse_doc(const char *buf, size_t len,
                              sp_point_cb on_point, sp_error_cb on_error,
                              void *ctx, const struct sp_reject_hook *hook,
                              size_t *consumed, struct sp_err *e);
/* CSV: the header's columns (cols[]: each field's column or -1); an
 * unknown or repeated column, or a missing timestamp, type or
 * description, is E_INVALID.  Then one row into its carrier *p. */
#define SP_EVENT_CSV_COLS 5
ctspool_rc sp_event_csv_header(const char *const *fields, const size_t *lens,
                               size_t n, size_t cols[SP_EVENT_CSV_COLS],
                               struct sp_err *e);
ctspool_rc sp_event_csv_row(const size_t cols[SP_EVENT_CSV_COLS],
                            const char *const *fv, const size_t *fl,
                            struct sp_point *p, struct sp_err *e);

#endif
