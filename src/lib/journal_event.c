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

/*
 * The series and group of ev, created when new.  Not cached as points'
 * series are: an event's series has one point, it is seldom met again.
 *
 * Its series.record_id is the hour (4 bytes, big-endian) and then the
 * event ID (SP_EVENT_KEY_LEN bytes): events come in time order mostly,
 * so their index entries land together at the end of the index, where
 * the random IDs alone would dirty a page of it per event and make
 * every commit write most of the index again.
 */
static ctspool_rc
event_resolve(struct sp_journal *j, const struct sp_event *ev,
              int64_t *series, int64_t *grp)
{
    uint8_t key[SP_EVENT_KEY_LEN];
    uint8_t *id = key + 4;
    ctspool_rc rc;

    key[0] = (uint8_t)((uint64_t)ev->hour >> 24);
    key[1] = (uint8_t)((uint64_t)ev->hour >> 16);
    key[2] = (uint8_t)((uint64_t)ev->hour >> 8);
    key[3] = (uint8_t)ev->hour;
    if (!j->md_ctx && !(j->md_ctx = EVP_MD_CTX_new())) {
        sp_err_set(&j->err, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_event_id_with(j->md_ctx, ev, id);
    if (rc != CTSPOOL_OK) {
        sp_err_set(&j->err, "cannot compute the event ID: %s",
                   ctspool_strerror(rc));
        return rc;
    }
    rc = sp_jn_grp_resolve(j, "", 0, SP_KIND_EVENTS, grp);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_event_element_json(ev, &j->scratch);
    if (rc != CTSPOOL_OK) {
        sp_err_set(&j->err, "cannot encode the event: %s",
                   ctspool_strerror(rc));
        return rc;
    }
    /* Mostly a new event: insert first, look up only on a conflict. */
    rc = sp_jn_series_insert(j, ST_SERIES_ADD, *grp, key, SP_EVENT_KEY_LEN,
                             ev->type, ev->type_len, j->scratch.p,
                             (int)j->scratch.len, series);
    if (rc != CTSPOOL_E_NOTFOUND) {
        return rc;
    }
    rc = sp_jn_series_find(j, *grp, key, SP_EVENT_KEY_LEN, series);
    if (rc == CTSPOOL_E_NOTFOUND) {
        /* The insert met a row the lookup does not see. */
        return sp_jn_db_fail(j, SQLITE_CORRUPT, "event lookup");
    }
    return rc;
}

ctspool_rc
sp_journal_resolve_event(struct sp_journal *j, const struct sp_event *ev,
                         struct sp_resolved *out)
{
    ctspool_rc rc = sp_jn_put_check(j);

    out->hour = ev->hour;
    out->value = 0.0;
    return rc == CTSPOOL_OK ? event_resolve(j, ev, &out->series, &out->grp)
                            : rc;
}

ctspool_rc
sp_journal_put_event(struct sp_journal *j, const struct sp_event *ev,
                     enum sp_put_result *res)
{
    struct sp_resolved r;
    ctspool_rc rc = sp_journal_resolve_event(j, ev, &r);

    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return sp_jn_insert_new(j, r.hour, r.value, r.series, r.grp, res);
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
    return sp_jn_dead_add(j, series, ev->hour, 0.0, NULL, status, body,
                          dead_at, res);
}
