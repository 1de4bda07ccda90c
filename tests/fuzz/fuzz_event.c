/*
 * fuzz_event.c -- libFuzzer harness for the Event Overlay event parser
 * (event.c): the input, read by sp_jscan_value, is handed to
 * sp_event_from_scan in both its forms (upstream's element, and flat
 * too).
 *
 * Contracts beyond "no crash, no UB":
 * - an accepted event has an hour in 1970..9999, a type of 1 to 256
 *   bytes and a description of 1 to 1,000 code points, both valid UTF-8,
 *   an event_url (when present) of at most 2,048 bytes starting with
 *   http:// or https://, a team_id (when present) of at least 1; its ID
 *   is the same when computed twice;
 * - an event accepted in the element form is accepted in the flat-ok
 *   form too, with the same ID;
 * - every rejection is one printable line;
 * - an accepted event survives its stored form (sp_event_element_json,
 *   read back by sp_event_from_element) and its carrier point with the
 *   same ID;
 * - the input as an events document (sp_event_parse_doc) reports each
 *   element once, valid or not, or the document as bad; read in one pass
 *   and in two (forced by a reject hook), the same events and errors,
 *   result, consumed bytes and message.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fuzz_util.h"
#include "utf8.h"

static void
check_event(const struct sp_event *ev, uint8_t id[SP_EVENT_ID_LEN])
{
    uint8_t again[SP_EVENT_ID_LEN];
    size_t cps = 0, off = 0;
    uint32_t cp;

    if (ev->hour < 0 || ev->hour >= INT64_C(70389528)) {
        fz_fail("event hour %lld out of range", (long long)ev->hour);
    }
    if (ev->type_len < 1 || ev->type_len > 256 ||
        !sp_utf8_valid(ev->type, ev->type_len)) {
        fz_fail("event type of %zu bytes accepted", ev->type_len);
    }
    while (off < ev->description_len) {
        size_t k = sp_utf8_seq((const unsigned char *)ev->description + off,
                               ev->description_len - off, &cp);

        if (k == 0) {
            fz_fail("event description not UTF-8 accepted");
        }
        off += k;
        cps++;
    }
    if (cps < 1 || cps > 1000) {
        fz_fail("event description of %zu code points accepted", cps);
    }
    if (ev->url && (ev->url_len > 2048 ||
                    (strncmp(ev->url, "http://", 7) != 0 &&
                     strncmp(ev->url, "https://", 8) != 0))) {
        fz_fail("event_url accepted: %.*s", (int)ev->url_len, ev->url);
    }
    if (ev->team_id < 0) {
        fz_fail("team_id %lld accepted", (long long)ev->team_id);
    }
    if (sp_event_id(ev, id) != CTSPOOL_OK ||
        sp_event_id(ev, again) != CTSPOOL_OK ||
        memcmp(id, again, SP_EVENT_ID_LEN) != 0) {
        fz_fail("event ID not stable");
    }
}

/* The stored form and the carrier point give the event back. */
static void
check_round_trips(const struct sp_event *ev, const uint8_t id[SP_EVENT_ID_LEN])
{
    uint8_t again[SP_EVENT_ID_LEN];
    struct sp_event back;
    struct sp_point p;
    struct sp_buf b;
    struct sp_err e;
    struct sp_jscan hold;

    sp_jscan_init(&hold);
    sp_buf_init(&b);
    if (sp_event_element_json(ev, &b) != CTSPOOL_OK) {
        fz_fail("cannot encode an accepted event");
    }
    if (sp_event_from_element(b.p, ev->hour, &hold, &back, &e) !=
            CTSPOOL_OK ||
        sp_event_id(&back, again) != CTSPOOL_OK ||
        memcmp(id, again, SP_EVENT_ID_LEN) != 0) {
        fz_fail("stored form does not read back: %s", b.p);
    }
    sp_jscan_cleanup(&hold);
    sp_buf_cleanup(&b);
    sp_event_carry(ev, &p);
    if (!sp_event_uncarry(&p, &back) ||
        sp_event_id(&back, again) != CTSPOOL_OK ||
        memcmp(id, again, SP_EVENT_ID_LEN) != 0) {
        fz_fail("carrier point does not give the event back");
    }
}

struct doc_count {
    size_t valid, invalid, next;
    const uint8_t *in; /* the input: it may spell the token itself */
    size_t in_len;
};

static ctspool_rc
doc_point(void *ctx, const struct sp_point *p)
{
    struct doc_count *c = ctx;
    struct sp_event ev;
    uint8_t id[SP_EVENT_ID_LEN];

    if (!sp_event_uncarry(p, &ev)) {
        fz_fail("a document gave a point that carries no event");
    }
    check_event(&ev, id);
    c->valid++;
    c->next++;
    return CTSPOOL_OK;
}

static ctspool_rc
doc_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct doc_count *c = ctx;

    if (index != c->next) {
        fz_fail("document error index %zu, expected %zu", index, c->next);
    }
    fz_check_msg(e, NULL, c->in, c->in_len);
    c->invalid++;
    c->next++;
    return CTSPOOL_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t id_el[SP_EVENT_ID_LEN], id_flat[SP_EVENT_ID_LEN];
    struct sp_event ev;
    struct sp_err e;
    struct sp_jscan js;
    size_t end = 0;
    int el_ok;

    sp_jscan_init(&js);
    if (sp_jscan_value(&js, (const char *)data, size, &end, &e) !=
        CTSPOOL_OK) {
        fz_check_msg(&e, NULL, data, size);
        sp_jscan_cleanup(&js);
        return 0;
    }
    {
        struct doc_count c = {0, 0, 0, data, size};
        char *copy = fz_dup(data, size);
        size_t used = 0;

        ctspool_rc rc = sp_event_parse_doc(copy, size, doc_point, doc_error,
                                           &c, NULL, &used, &e);

        if (rc == CTSPOOL_OK && used > size) {
            fz_fail("document used %zu of %zu bytes", used, size);
        }
        if (rc == CTSPOOL_E_INVALID) {
            fz_check_msg(&e, NULL, data, size);
        }
        {
            struct fz_trace t1 = {0, 0}, t2 = {0, 0};
            struct sp_err e1, e2;
            size_t used1 = 0, used2 = 0;
            ctspool_rc rc1, rc2;

            rc1 = sp_event_parse_doc(copy, size, fz_trace_point,
                                     fz_trace_error, &t1, NULL, &used1, &e1);
            rc2 = sp_event_parse_doc(copy, size, fz_trace_point,
                                     fz_trace_error, &t2, &fz_two_passes,
                                     &used2, &e2);
            fz_trace_agree(rc1, rc2, used1, used2, &t1, &t2, &e1, &e2);
        }
        free(copy);
    }
    el_ok = sp_event_from_scan(&js, 0, &ev, &e) == CTSPOOL_OK;
    if (el_ok) {
        check_event(&ev, id_el);
        check_round_trips(&ev, id_el);
    } else {
        fz_check_msg(&e, NULL, data, size);
    }
    if (sp_event_from_scan(&js, 1, &ev, &e) == CTSPOOL_OK) {
        check_event(&ev, id_flat);
        if (el_ok && memcmp(id_el, id_flat, SP_EVENT_ID_LEN) != 0) {
            fz_fail("the two forms give different IDs");
        }
    } else {
        if (el_ok) {
            fz_fail("an element accepted, refused when flat is allowed");
        }
        fz_check_msg(&e, NULL, data, size);
    }
    sp_jscan_cleanup(&js);
    return 0;
}
