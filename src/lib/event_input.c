/*
 * event_input.c -- Event Overlay events in the input formats of
 * `ctspool append --kind events` (DESIGN.md sections 4 and 9): an
 * NDJSON line (upstream's element or the flat form), upstream's
 * {"data": [...]} document, a CSV row (columns timestamp, type,
 * description, event_url, team_id); and the carrier point an event
 * travels as through append's reader, staging file and batches.
 *
 * Messages carry no locator: input.c puts "line N: " or "object K,
 * data[I]: " in front, as for points.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "input_int.h"
#include "utf8.h"

/* ---- the carrier point ------------------------------------------------ */

#define DIM_DESCRIPTION "description"
#define DIM_URL "event_url"

void
sp_event_carry(const struct sp_event *ev, struct sp_point *p)
{
    memset(p, 0, sizeof(*p));
    p->stream = "";
    p->agg = SP_KIND_EVENTS;
    p->name = ev->type;
    p->name_len = ev->type_len;
    p->hour = ev->hour;
    p->value = (double)ev->team_id; /* exact: team IDs are < 2^53 */
    p->dims[0].key = DIM_DESCRIPTION;
    p->dims[0].key_len = strlen(DIM_DESCRIPTION);
    p->dims[0].val = ev->description;
    p->dims[0].val_len = ev->description_len;
    p->n_dims = 1;
    if (ev->url) {
        p->dims[1].key = DIM_URL;
        p->dims[1].key_len = strlen(DIM_URL);
        p->dims[1].val = ev->url;
        p->dims[1].val_len = ev->url_len;
        p->n_dims = 2;
    }
}

int
sp_event_uncarry(const struct sp_point *p, struct sp_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (p->agg != SP_KIND_EVENTS || p->n_dims < 1 || p->n_dims > 2) {
        return 0;
    }
    ev->hour = p->hour;
    ev->team_id = (int64_t)p->value;
    ev->type = p->name;
    ev->type_len = p->name_len;
    ev->description = p->dims[0].val;
    ev->description_len = p->dims[0].val_len;
    if (p->n_dims == 2) {
        ev->url = p->dims[1].val;
        ev->url_len = p->dims[1].val_len;
    }
    return 1;
}

/* ---- JSON ------------------------------------------------------------ */

ctspool_rc
sp_event_parse_line(const char *line, size_t len, struct sp_point *p,
                    struct sp_jscan *js, struct sp_err *e)
{
    struct sp_event ev;
    ctspool_rc rc = sp_jscan_line(js, line, len, "event", e);

    if (rc == CTSPOOL_OK) {
        rc = sp_event_from_scan(js, 1, &ev, e);
    }
    if (rc == CTSPOOL_OK) {
        sp_event_carry(&ev, p);
    }
    return rc;
}

/* sp_event_parse_doc() is payload_doc.c's: events documents are read as
 * Cloudthread payloads are, in bounded memory. */

/* ---- CSV ------------------------------------------------------------- */

enum { COL_TS, COL_TYPE, COL_DESC, COL_URL, COL_TEAM, COL_N };

static const char *const col_names[COL_N] = {
    "timestamp", "type", "description", "event_url", "team_id"};

ctspool_rc
sp_event_csv_header(const char *const *fields, const size_t *lens, size_t n,
                    size_t cols[SP_EVENT_CSV_COLS], struct sp_err *e)
{
    for (size_t k = 0; k < COL_N; k++) {
        cols[k] = (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k;

        for (k = 0; k < COL_N; k++) {
            if (lens[i] == strlen(col_names[k]) &&
                memcmp(fields[i], col_names[k], lens[i]) == 0) {
                break;
            }
        }
        if (k == COL_N) {
            char q[SP_QUOTE_BUF];

            sp_utf8_quote(fields[i], lens[i], q, sizeof(q));
            sp_err_set(e, "unknown column %s (events have timestamp, type, "
                          "description, event_url and team_id)%s", q,
                       lens[i] == 12 && memcmp(fields[i], "decscription",
                                               12) == 0
                           ? "; the column is spelled \"description\""
                           : "");
            return CTSPOOL_E_INVALID;
        }
        if (cols[k] != (size_t)-1) {
            sp_err_set(e, "column \"%s\" appears twice", col_names[k]);
            return CTSPOOL_E_INVALID;
        }
        cols[k] = i;
    }
    for (size_t k = 0; k < COL_URL; k++) {
        if (cols[k] == (size_t)-1) {
            sp_err_set(e, "no \"%s\" column", col_names[k]);
            return CTSPOOL_E_INVALID;
        }
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_event_csv_row(const size_t cols[SP_EVENT_CSV_COLS],
                 const char *const *fv, const size_t *fl, struct sp_point *p,
                 struct sp_err *e)
{
    struct sp_event ev;
    size_t c;
    ctspool_rc rc;

    memset(&ev, 0, sizeof(ev));
    c = cols[COL_TS];
    rc = sp_valid_timestamp_str(fv[c], fl[c], &ev.hour, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    ev.type = fv[cols[COL_TYPE]];
    ev.type_len = fl[cols[COL_TYPE]];
    ev.description = fv[cols[COL_DESC]];
    ev.description_len = fl[cols[COL_DESC]];
    c = cols[COL_URL];
    if (c != (size_t)-1 && fl[c] > 0) {
        ev.url = fv[c];
        ev.url_len = fl[c];
    }
    c = cols[COL_TEAM];
    if (c != (size_t)-1 && fl[c] > 0) {
        rc = sp_event_team_str(fv[c], fl[c], &ev.team_id, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    rc = sp_event_check(&ev, e);
    if (rc == CTSPOOL_OK) {
        sp_event_carry(&ev, p);
    }
    return rc;
}
