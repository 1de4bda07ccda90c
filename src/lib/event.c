/*
 * event.c -- Event Overlay events (DESIGN.md section 9), pure: the
 * validation of one event, given as upstream's data element
 * ({"timestamp", "team_id"?, "payload": {"type", "description",
 * "event_url"?}}) or flat (an NDJSON line: timestamp, type,
 * description, event_url, team_id), with messages that name the field
 * and the reason; and its identity, the event ID.  Producers of events
 * build on it.
 */
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "journal.h" /* sp_json_string */
#include "utf8.h"

#define TYPE_MAX 256        /* bytes */
#define DESCRIPTION_MAX 1000 /* code points */
#define URL_MAX 2048        /* bytes */
#define TEAM_MAX 9007199254740991.0 /* 2^53 - 1: exact in JSON */

/* ---- fields ---------------------------------------------------------- */

ctspool_rc
sp_event_check_type(const char *s, size_t len, struct sp_err *e)
{
    if (len == 0) {
        sp_err_set(e, "payload.type: empty");
        return CTSPOOL_E_INVALID;
    }
    if (len > TYPE_MAX) {
        sp_err_set(e, "payload.type: longer than %d bytes (%zu)", TYPE_MAX,
                   len);
        return CTSPOOL_E_INVALID;
    }
    if (!sp_utf8_valid(s, len)) {
        sp_err_set(e, "payload.type: not valid UTF-8 (byte %zu)",
                   sp_utf8_bad_offset(s, len));
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_event_check_description(const char *s, size_t len, struct sp_err *e)
{
    size_t n = 0, off = 0;
    uint32_t cp;

    while (off < len) {
        size_t k = sp_utf8_seq((const unsigned char *)s + off, len - off,
                               &cp);

        if (k == 0) {
            sp_err_set(e, "payload.description: not valid UTF-8 (byte %zu)",
                       off);
            return CTSPOOL_E_INVALID;
        }
        off += k;
        n++;
    }
    if (n == 0) {
        sp_err_set(e, "payload.description: empty (1 to %d characters)",
                   DESCRIPTION_MAX);
        return CTSPOOL_E_INVALID;
    }
    if (n > DESCRIPTION_MAX) {
        sp_err_set(e, "payload.description: %zu characters, at most %d",
                   n, DESCRIPTION_MAX);
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_event_check_url(const char *s, size_t len, struct sp_err *e)
{
    size_t host, end;
    const char *at;

    if (len > URL_MAX) {
        sp_err_set(e, "payload.event_url: longer than %d bytes (%zu)",
                   URL_MAX, len);
        return CTSPOOL_E_INVALID;
    }
    if (len >= 7 && strncmp(s, "http://", 7) == 0) {
        host = 7;
    } else if (len >= 8 && strncmp(s, "https://", 8) == 0) {
        host = 8;
    } else {
        sp_err_set(e, "payload.event_url: must start with http:// or "
                      "https://");
        return CTSPOOL_E_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f) {
            sp_err_set(e, "payload.event_url: a space or control "
                          "character at byte %zu", i);
            return CTSPOOL_E_INVALID;
        }
    }
    /* The authority runs to the first of "/?#"; its host follows the
     * last '@' (user information before it) and comes before a port. */
    end = host;
    while (end < len && !strchr("/?#", s[end])) {
        end++;
    }
    at = memrchr(s + host, '@', end - host);
    if (at) {
        host = (size_t)(at - s) + 1;
    }
    if (host == end || s[host] == ':') {
        sp_err_set(e, "payload.event_url: no host after the scheme");
        return CTSPOOL_E_INVALID;
    }
    if (!sp_utf8_valid(s, len)) {
        sp_err_set(e, "payload.event_url: not valid UTF-8 (byte %zu)",
                   sp_utf8_bad_offset(s, len));
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

static ctspool_rc
team_too_large(struct sp_err *e)
{
    sp_err_set(e, "team_id: larger than 9007199254740991 (2^53 - 1), the "
                  "largest whole number a JSON number carries exactly");
    return CTSPOOL_E_INVALID;
}

ctspool_rc
sp_event_team_num(double v, int64_t *team, struct sp_err *e)
{
    if (v > TEAM_MAX) {
        return team_too_large(e);
    }
    if (!isfinite(v) || v != floor(v) || v < 1) {
        sp_err_set(e, "team_id: must be a whole number of at least 1");
        return CTSPOOL_E_INVALID;
    }
    *team = (int64_t)v;
    return CTSPOOL_OK;
}

ctspool_rc
sp_event_team_str(const char *s, size_t len, int64_t *team,
                  struct sp_err *e)
{
    int64_t v = 0;

    if (len == 0) {
        sp_err_set(e, "team_id: must be a whole number of at least 1");
        return CTSPOOL_E_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            sp_err_set(e, "team_id: must be a whole number of at least 1 "
                          "(decimal digits only)");
            return CTSPOOL_E_INVALID;
        }
    }
    while (len > 1 && *s == '0') { /* leading zeros */
        s++;
        len--;
    }
    if (len > 16) {
        return team_too_large(e);
    }
    for (size_t i = 0; i < len; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return sp_event_team_num((double)v, team, e);
}

/* ---- one event from JSON --------------------------------------------- */

static int
present(const struct sp_jnode *item)
{
    return item && item->type != SP_J_NULL;
}

/* A string member, or an error naming it (where: "payload." or ""). */
static ctspool_rc
take_string(const struct sp_jnode *item, const char *where, const char *name,
            const char **s, size_t *len, struct sp_err *e)
{
    if (item->type != SP_J_STRING) {
        sp_err_set(e, "%s%s: must be a string", where, name);
        return CTSPOOL_E_INVALID;
    }
    *s = item->s;
    *len = item->len;
    return CTSPOOL_OK;
}

static ctspool_rc
unknown(const char *where, const char *key, const char *known,
        struct sp_err *e)
{
    char q[SP_QUOTE_BUF];

    sp_utf8_quote(key, strlen(key), q, sizeof(q));
    if (strcmp(key, "decscription") == 0) {
        sp_err_set(e, "%sdecscription: unknown field; the field is spelled "
                      "\"description\"", where);
    } else {
        sp_err_set(e, "unknown field %s%s (%s)", where, q, known);
    }
    return CTSPOOL_E_INVALID;
}

static ctspool_rc
take_timestamp(const struct sp_jnode *item, int64_t *hour, struct sp_err *e)
{
    if (!present(item)) {
        sp_err_set(e, "timestamp: missing");
        return CTSPOOL_E_INVALID;
    }
    if (item->type == SP_J_STRING) {
        return sp_valid_timestamp_str(item->s, item->len, hour, e);
    }
    if (item->type == SP_J_NUMBER) {
        return sp_valid_timestamp_num(strtod(item->s, NULL), hour, e);
    }
    sp_err_set(e, "timestamp: must be a string or a number of Unix "
                  "seconds");
    return CTSPOOL_E_INVALID;
}

/* type, description, event_url members (where: "payload." or ""). */
static ctspool_rc
take_payload_field(const struct sp_jnode *m, const char *where,
                   struct sp_event *ev, int *seen, struct sp_err *e)
{
    if (strcmp(m->key, "type") == 0) {
        *seen |= 1;
        return take_string(m, where, "type", &ev->type, &ev->type_len, e);
    }
    if (strcmp(m->key, "description") == 0) {
        *seen |= 2;
        return take_string(m, where, "description", &ev->description,
                           &ev->description_len, e);
    }
    if (strcmp(m->key, "event_url") == 0) {
        if (!present(m)) {
            return CTSPOOL_OK;
        }
        return take_string(m, where, "event_url", &ev->url, &ev->url_len,
                           e);
    }
    return CTSPOOL_E_NOTFOUND;
}

static ctspool_rc
take_team(const struct sp_jnode *m, struct sp_event *ev, struct sp_err *e)
{
    if (!present(m)) {
        return CTSPOOL_OK;
    }
    if (m->type != SP_J_NUMBER) {
        sp_err_set(e, "team_id: must be a JSON integer, not a string or "
                      "other value");
        return CTSPOOL_E_INVALID;
    }
    return sp_event_team_num(strtod(m->s, NULL), &ev->team_id, e);
}

/* An object with more members than a scan keeps has far more than an
 * event has: refused rather than judged on a part. */
static ctspool_rc
too_many(const struct sp_jnode *o, const char *what, struct sp_err *e)
{
    if (o->n_members <= o->n_kept) {
        return CTSPOOL_OK;
    }
    sp_err_set(e, "%s has %zu members (an event has at most 5)", what,
               o->n_members);
    return CTSPOOL_E_INVALID;
}

/*
 * The event of js's root: with hour NULL its timestamp member is read;
 * else *hour is the event's and a timestamp member is ignored (the
 * stored form, which has none).  A member given twice counts as its
 * last, as before.
 */
static ctspool_rc
from_scan(const struct sp_jscan *js, int flat_ok, const int64_t *hour,
          struct sp_event *ev, struct sp_err *e)
{
    const struct sp_jnode *obj = &js->root, *m, *ts = NULL, *payload = NULL;
    int seen = 0;
    ctspool_rc rc = CTSPOOL_OK;

    memset(ev, 0, sizeof(*ev));
    if (obj->type != SP_J_OBJECT) {
        sp_err_set(e, "an event must be a JSON object");
        return CTSPOOL_E_INVALID;
    }
    rc = too_many(obj, "the event", e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    for (size_t i = 0; i < obj->n_kept && !payload; i++) {
        m = sp_jscan_member(js, obj, i);
        if (strcmp(m->key, "payload") == 0) {
            payload = m;
        }
    }
    if (!payload && !flat_ok) {
        sp_err_set(e, "payload: missing");
        return CTSPOOL_E_INVALID;
    }
    for (size_t i = 0; i < obj->n_kept; i++) {
        m = sp_jscan_member(js, obj, i);
        if (strcmp(m->key, "timestamp") == 0) {
            ts = m;
        } else if (strcmp(m->key, "team_id") == 0) {
            rc = take_team(m, ev, e);
            if (rc != CTSPOOL_OK) {
                return rc;
            }
        } else if (strcmp(m->key, "payload") == 0) {
            continue;
        } else if (payload ||
                   (rc = take_payload_field(m, "", ev, &seen, e)) ==
                       CTSPOOL_E_NOTFOUND) {
            return unknown("", m->key,
                           payload ? "an event has timestamp, team_id and "
                                     "payload"
                                   : "an event has timestamp, type, "
                                     "description, event_url and team_id",
                           e);
        } else if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    if (hour) {
        ev->hour = *hour;
    } else {
        rc = take_timestamp(ts, &ev->hour, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    if (payload) {
        if (payload->type != SP_J_OBJECT) {
            sp_err_set(e, "payload: must be an object with type, "
                          "description and event_url");
            return CTSPOOL_E_INVALID;
        }
        rc = too_many(payload, "payload", e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        for (size_t i = 0; i < payload->n_kept; i++) {
            m = sp_jscan_member(js, payload, i);
            rc = take_payload_field(m, "payload.", ev, &seen, e);
            if (rc == CTSPOOL_E_NOTFOUND) {
                return unknown("payload.", m->key,
                               "a payload has type, description and "
                               "event_url",
                               e);
            }
            if (rc != CTSPOOL_OK) {
                return rc;
            }
        }
    }
    if (!(seen & 1)) {
        sp_err_set(e, "payload.type: missing");
        return CTSPOOL_E_INVALID;
    }
    if (!(seen & 2)) {
        sp_err_set(e, "payload.description: missing");
        return CTSPOOL_E_INVALID;
    }
    return sp_event_check(ev, e);
}

ctspool_rc
sp_event_from_scan(const struct sp_jscan *js, int flat_ok,
                   struct sp_event *ev, struct sp_err *e)
{
    return from_scan(js, flat_ok, NULL, ev, e);
}

ctspool_rc
sp_event_check(const struct sp_event *ev, struct sp_err *e)
{
    ctspool_rc rc = sp_event_check_type(ev->type, ev->type_len, e);

    if (rc == CTSPOOL_OK) {
        rc = sp_event_check_description(ev->description,
                                        ev->description_len, e);
    }
    if (rc == CTSPOOL_OK && ev->url) {
        rc = sp_event_check_url(ev->url, ev->url_len, e);
    }
    return rc;
}

/* ---- identity -------------------------------------------------------- */

/* The ID's message: each item as a 4-byte big-endian length and its
 * bytes, given to ctx in one update when it fits buf (the usual event),
 * else item by item. */
static int
digest_items(EVP_MD_CTX *ctx, const char *const *item, const size_t *len,
             size_t n)
{
    unsigned char buf[1024];
    size_t total = 0, o = 0;

    for (size_t i = 0; i < n; i++) {
        total += 4 + len[i];
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char be[4] = {(unsigned char)(len[i] >> 24),
                               (unsigned char)(len[i] >> 16),
                               (unsigned char)(len[i] >> 8),
                               (unsigned char)len[i]};

        if (total > sizeof(buf)) {
            if (EVP_DigestUpdate(ctx, be, 4) != 1 ||
                (len[i] && EVP_DigestUpdate(ctx, item[i], len[i]) != 1)) {
                return 0;
            }
            continue;
        }
        memcpy(buf + o, be, 4);
        if (len[i]) {
            memcpy(buf + o + 4, item[i], len[i]);
        }
        o += 4 + len[i];
    }
    return total > sizeof(buf) || EVP_DigestUpdate(ctx, buf, total) == 1;
}

ctspool_rc
sp_event_id_with(EVP_MD_CTX *ctx, const struct sp_event *ev,
                 uint8_t out[SP_EVENT_ID_LEN])
{
    char hour[24], team[24] = "";
    unsigned int md_len = 0;
    const char *item[5];
    size_t len[5];

    sp_hour_format(ev->hour, hour, sizeof(hour));
    if (ev->team_id > 0) {
        snprintf(team, sizeof(team), "%lld", (long long)ev->team_id);
    }
    item[0] = hour;
    len[0] = strlen(hour);
    item[1] = team;
    len[1] = strlen(team);
    item[2] = ev->type;
    len[2] = ev->type_len;
    item[3] = ev->description;
    len[3] = ev->description_len;
    item[4] = ev->url ? ev->url : "";
    len[4] = ev->url_len;
    /* A context used before keeps its digest: NULL spares the lookup
     * of SHA-256 among the providers on every event. */
    return EVP_DigestInit_ex(ctx, EVP_MD_CTX_get0_md(ctx) ? NULL
                                                          : EVP_sha256(),
                             NULL) == 1 &&
                   digest_items(ctx, item, len, 5) &&
                   EVP_DigestFinal_ex(ctx, out, &md_len) == 1 &&
                   md_len == SP_EVENT_ID_LEN
               ? CTSPOOL_OK
               : CTSPOOL_E_NOMEM;
}

ctspool_rc
sp_event_id(const struct sp_event *ev, uint8_t out[SP_EVENT_ID_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ctspool_rc rc;

    if (!ctx) {
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_event_id_with(ctx, ev, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- the stored form ------------------------------------------------- */

/*
 * Appends s[0..len) (not NUL-terminated) to b as a JSON string, escaped
 * as cJSON escapes it: the usual text, with nothing to escape, is copied
 * straight in; anything else goes through cJSON.  0, or -1 when out of
 * memory.
 */
static int
add_string(struct sp_buf *b, const char *s, size_t len)
{
    char *copy, *lit = NULL;
    size_t i;
    int r;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == '"' || c == '\\') {
            break;
        }
    }
    if (i == len) {
        return sp_buf_add(b, "\"", 1) || sp_buf_add(b, s, len) ||
                       sp_buf_add(b, "\"", 1)
                   ? -1
                   : 0;
    }
    copy = strndup(s, len);
    if (!copy || sp_json_string(copy, &lit) != CTSPOOL_OK) {
        free(copy);
        return -1;
    }
    r = sp_buf_adds(b, lit);
    free(lit);
    free(copy);
    return r;
}

ctspool_rc
sp_event_element_json(const struct sp_event *ev, struct sp_buf *b)
{
    char team[32];

    sp_buf_reset(b);
    if (ev->team_id > 0) {
        snprintf(team, sizeof(team), "{\"team_id\":%lld,",
                 (long long)ev->team_id);
    } else {
        snprintf(team, sizeof(team), "{");
    }
    if (sp_buf_adds(b, team) || sp_buf_adds(b, "\"payload\":{\"type\":") ||
        add_string(b, ev->type, ev->type_len) ||
        sp_buf_adds(b, ",\"description\":") ||
        add_string(b, ev->description, ev->description_len) ||
        (ev->url && (sp_buf_adds(b, ",\"event_url\":") ||
                     add_string(b, ev->url, ev->url_len))) ||
        sp_buf_adds(b, "}}")) {
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_event_from_element(const char *text, int64_t hour, struct sp_jscan *js,
                      struct sp_event *ev, struct sp_err *e)
{
    size_t end = 0;
    ctspool_rc rc = sp_jscan_value(js, text, strlen(text), &end, e);

    if (rc == CTSPOOL_E_INVALID) {
        sp_err_set(e, "stored event is not valid JSON");
    }
    if (rc != CTSPOOL_OK) {
        memset(ev, 0, sizeof(*ev));
        return rc;
    }
    if (js->root.type != SP_J_OBJECT) {
        memset(ev, 0, sizeof(*ev));
        sp_err_set(e, "stored event is not a JSON object");
        return CTSPOOL_E_INVALID;
    }
    return from_scan(js, 0, &hour, ev, e);
}
