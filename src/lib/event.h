/*
 * event.h -- one Event Overlay event (DESIGN.md section 9): its fields,
 * their validation and its identity (event.c).
 */
#ifndef SP_EVENT_H
#define SP_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sp_int.h"

#define SP_EVENT_ID_LEN 32

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
 * sp_event_from_json -- the event of obj: upstream's data element
 * ({"timestamp", "team_id"?, "payload": {"type", "description",
 * "event_url"?}}), or with flat_ok also the flat form (timestamp, type,
 * description, event_url, team_id at the top).  The strings point into
 * obj.  OK, or E_INVALID with "FIELD: reason" in e (an unknown field is
 * named; "decscription" gets the right spelling).
 */
ctspool_rc sp_event_from_json(const cJSON *obj, int flat_ok,
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

#endif
