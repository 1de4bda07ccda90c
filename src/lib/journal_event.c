/*
 * journal_event.c -- Event Overlay events in the journal (DESIGN.md
 * section 9, schema 0007): an event is stored as a point of the events
 * group, its series named by the event ID, so that everything the
 * journal does for points (queue, acknowledgement, dead letters,
 * requeue, retention, limits) holds for events unchanged.
 *
 * Invariant: an event's series has exactly one point row while the
 * event is pending or acknowledged (the ID includes the hour), and its
 * value is 0; events are never updated, so a put of a stored event is
 * UNCHANGED and a re-appended acknowledged event is not sent again.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "journal_int.h"

/* The series cache's key of an event: a stream length no point can
 * have (points' keys start with theirs), then the event ID. */
#define EVENT_KEY_LEN (4 + SP_EVENT_ID_LEN)

static ctspool_rc
event_resolve(struct sp_journal *j, const struct sp_event *ev,
              int64_t *series, int64_t *grp)
{
    uint8_t key[EVENT_KEY_LEN];
    char *text = NULL;
    ctspool_rc rc;

    memset(key, 0xff, 4);
    rc = sp_event_id(ev, key + 4);
    if (rc != CTSPOOL_OK) {
        sp_err_set(&j->err, "cannot compute the event ID: %s",
                   ctspool_strerror(rc));
        return rc;
    }
    if (sp_jn_cache_get(j, key, sizeof(key), series, grp)) {
        return CTSPOOL_OK;
    }
    rc = sp_jn_grp_resolve(j, "", 0, SP_KIND_EVENTS, grp);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_event_element_json(ev, &text);
    if (rc != CTSPOOL_OK) {
        sp_err_set(&j->err, "cannot encode the event: %s",
                   ctspool_strerror(rc));
        return rc;
    }
    rc = sp_jn_series_get(j, *grp, key + 4, ev->type, ev->type_len, text,
                          NULL, series);
    free(text);
    if (rc == CTSPOOL_OK) {
        sp_jn_cache_put(j, key, sizeof(key), *series, *grp);
    }
    return rc;
}

ctspool_rc
sp_journal_put_event(struct sp_journal *j, const struct sp_event *ev,
                     enum sp_put_result *res)
{
    int64_t series = 0, grp = 0;
    ctspool_rc rc = sp_jn_put_check(j);

    if (rc == CTSPOOL_OK) {
        rc = event_resolve(j, ev, &series, &grp);
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return sp_jn_insert_new(j, ev->hour, 0.0, series, grp, res);
}

ctspool_rc
sp_journal_put_event_dead(struct sp_journal *j, const struct sp_event *ev,
                          int status, const char *body, int64_t dead_at,
                          enum sp_put_result *res)
{
    int64_t series = 0, grp = 0;
    ctspool_rc rc = event_resolve(j, ev, &series, &grp);

    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return sp_jn_dead_add(j, series, ev->hour, 0.0, status, body, dead_at,
                          res);
}
