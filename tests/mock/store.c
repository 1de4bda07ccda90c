/*
 * store.c -- what the mock receiver has been sent: points keyed by
 * (data_stream_token, record ID, hour), events keyed by event ID, the
 * counters, and deterministic JSON dumps of them.  Not thread-safe:
 * receiver.c holds one mutex around every call.
 *
 * Layout, sized for tens of millions of points:
 *   tokens   small array of distinct tokens (one per stream)
 *   recs     dense array, one per (token, record ID); the JSON text of
 *            its agg/name/dimensions lives in an append-only arena
 *   pts      dense array, one per (record, hour): value and write count
 *   evs      dense array, one per event ID: hour, team, write count; the
 *            JSON text of its type/description/event_url in the arena
 *   rec_idx, pt_idx, ev_idx  open-addressing tables (linear probing) of
 *            64-bit slots: low 32 bits = array index + 1 (0 = empty),
 *            high 32 bits = the key's hash, compared before the entry.
 *
 * Invariants: (1) every entry of recs/pts/evs is in its table exactly once;
 * (2) tables are at most 70% full and their size is a power of two;
 * (3) nothing is ever removed except by mock_store_clear().
 */
#include "mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (1u << 20)

struct token {
    char *name;
    char *json;                      /* the name as a JSON string */
};

struct rec {
    uint8_t rid[MOCK_RID_LEN];
    uint32_t token;
    uint32_t blob_len;
    const char *blob;                /* "metric_agg_func":..,"metric_name"..*/
};

struct pt {
    uint32_t rec;
    int32_t hour;
    double value;
    uint32_t writes;
};

struct ev {
    uint8_t eid[MOCK_RID_LEN];
    int32_t hour;
    uint32_t writes;
    int64_t team_id;                 /* 0: absent */
    uint32_t blob_len;
    const char *blob;                /* "type":..,"description":.. */
};

struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    char data[];
};

struct table {
    uint64_t *slots;
    size_t mask;                     /* size - 1; size is a power of two */
};

struct mock_store {
    struct token *tokens;
    size_t n_tokens;
    struct rec *recs;
    size_t n_recs, cap_recs;
    struct pt *pts;
    size_t n_pts, cap_pts;
    struct table rec_idx;
    struct table pt_idx;
    struct ev *evs;
    size_t n_evs, cap_evs;
    struct table ev_idx;
    struct chunk *arena;
    struct mock_counters counters;
};

static uint64_t
mix64(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t
rec_hash(const uint8_t *rid, uint32_t token)
{
    uint64_t h;

    memcpy(&h, rid, sizeof(h));      /* SHA-256 bits are already uniform */
    return mix64(h ^ ((uint64_t)token * 0x9e3779b97f4a7c15ULL));
}

static uint64_t
pt_hash(uint32_t rec, int32_t hour)
{
    return mix64(((uint64_t)rec << 32) | (uint32_t)hour);
}

static uint64_t
ev_hash(const uint8_t *eid)
{
    uint64_t h;

    memcpy(&h, eid, sizeof(h));
    return mix64(h);
}

static void
table_init(struct table *t, size_t size)
{
    t->slots = calloc(size, sizeof(*t->slots));
    if (!t->slots) {
        t->slots = mock_xmalloc(size * sizeof(*t->slots));
        memset(t->slots, 0, size * sizeof(*t->slots));
    }
    t->mask = size - 1;
}

/* Inserts index idx (whose key hashes to h, absent so far). */
static void
table_put(struct table *t, uint64_t h, size_t idx)
{
    size_t i = (size_t)h & t->mask;

    while (t->slots[i]) {
        i = (i + 1) & t->mask;
    }
    t->slots[i] = (h & 0xffffffff00000000ULL) | (uint64_t)(idx + 1);
}

static void
grow_recs_table(struct mock_store *st)
{
    struct table t;
    size_t i;

    table_init(&t, (st->rec_idx.mask + 1) * 2);
    for (i = 0; i < st->n_recs; i++) {
        table_put(&t, rec_hash(st->recs[i].rid, st->recs[i].token), i);
    }
    free(st->rec_idx.slots);
    st->rec_idx = t;
}

static void
grow_pts_table(struct mock_store *st)
{
    struct table t;
    size_t i;

    table_init(&t, (st->pt_idx.mask + 1) * 2);
    for (i = 0; i < st->n_pts; i++) {
        table_put(&t, pt_hash(st->pts[i].rec, st->pts[i].hour), i);
    }
    free(st->pt_idx.slots);
    st->pt_idx = t;
}

static void
grow_evs_table(struct mock_store *st)
{
    struct table t;
    size_t i;

    table_init(&t, (st->ev_idx.mask + 1) * 2);
    for (i = 0; i < st->n_evs; i++) {
        table_put(&t, ev_hash(st->evs[i].eid), i);
    }
    free(st->ev_idx.slots);
    st->ev_idx = t;
}

static const char *
arena_copy(struct mock_store *st, const char *s, size_t len)
{
    struct chunk *c = st->arena;
    char *p;

    if (!c || c->cap - c->used < len) {
        size_t cap = len > ARENA_CHUNK ? len : ARENA_CHUNK;
        c = mock_xmalloc(sizeof(*c) + cap);
        c->next = st->arena;
        c->used = 0;
        c->cap = cap;
        st->arena = c;
    }
    p = c->data + c->used;
    memcpy(p, s, len);
    c->used += len;
    return p;
}

static void
store_init(struct mock_store *st)
{
    memset(st, 0, sizeof(*st));
    table_init(&st->rec_idx, 1024);
    table_init(&st->pt_idx, 1024);
    table_init(&st->ev_idx, 1024);
}

static void
store_cleanup(struct mock_store *st)
{
    size_t i;

    for (i = 0; i < st->n_tokens; i++) {
        free(st->tokens[i].name);
        free(st->tokens[i].json);
    }
    free(st->tokens);
    free(st->recs);
    free(st->pts);
    free(st->rec_idx.slots);
    free(st->pt_idx.slots);
    free(st->evs);
    free(st->ev_idx.slots);
    while (st->arena) {
        struct chunk *next = st->arena->next;
        free(st->arena);
        st->arena = next;
    }
}

struct mock_store *
mock_store_new(void)
{
    struct mock_store *st = mock_xmalloc(sizeof(*st));

    store_init(st);
    return st;
}

void
mock_store_free(struct mock_store *st)
{
    if (!st) {
        return;
    }
    store_cleanup(st);
    free(st);
}

void
mock_store_clear(struct mock_store *st)
{
    store_cleanup(st);
    store_init(st);
}

struct mock_counters *
mock_store_counters(struct mock_store *st)
{
    return &st->counters;
}

size_t
mock_store_n_points(const struct mock_store *st)
{
    return st->n_pts;
}

size_t
mock_store_n_events(const struct mock_store *st)
{
    return st->n_evs;
}

static uint32_t
token_intern(struct mock_store *st, const char *name)
{
    struct mock_buf b = {0};
    size_t i;

    for (i = 0; i < st->n_tokens; i++) {
        if (strcmp(st->tokens[i].name, name) == 0) {
            return (uint32_t)i;
        }
    }
    st->tokens = mock_xrealloc(st->tokens,
                               (st->n_tokens + 1) * sizeof(*st->tokens));
    st->tokens[i].name = mock_xstrdup(name);
    mock_buf_json_string(&b, name, strlen(name));
    st->tokens[i].json = b.p;
    st->n_tokens++;
    return (uint32_t)i;
}

/* Looks up (token, rid); creates the record from pt if absent. */
static uint32_t
rec_get(struct mock_store *st, uint32_t token, const char *agg,
        const struct mock_point *pt, struct mock_buf *scratch)
{
    uint64_t h = rec_hash(pt->rid, token);
    uint64_t tag = h & 0xffffffff00000000ULL;
    size_t i = (size_t)h & st->rec_idx.mask, d;
    struct rec *r;

    while (st->rec_idx.slots[i]) {
        uint64_t s = st->rec_idx.slots[i];
        if ((s & 0xffffffff00000000ULL) == tag) {
            r = &st->recs[(uint32_t)s - 1];
            if (r->token == token &&
                memcmp(r->rid, pt->rid, MOCK_RID_LEN) == 0) {
                return (uint32_t)s - 1;
            }
        }
        i = (i + 1) & st->rec_idx.mask;
    }

    scratch->len = 0;
    mock_buf_adds(scratch, "\"metric_agg_func\":\"");
    mock_buf_adds(scratch, agg);
    mock_buf_adds(scratch, "\",\"metric_name\":");
    mock_buf_json_string(scratch, pt->metric_name, pt->name_len);
    mock_buf_adds(scratch, ",\"custom_dimensions\":{");
    for (d = 0; d < pt->n_dims; d++) {
        if (d > 0) {
            mock_buf_add(scratch, ",", 1);
        }
        mock_buf_json_string(scratch, pt->dims[d].key, pt->dims[d].key_len);
        mock_buf_add(scratch, ":", 1);
        mock_buf_json_string(scratch, pt->dims[d].value,
                             pt->dims[d].value_len);
    }
    mock_buf_add(scratch, "}", 1);

    if (st->n_recs >= UINT32_MAX - 1) {
        fprintf(stderr, "ctspool-mock-receiver: too many records\n");
        abort();
    }
    if (st->n_recs == st->cap_recs) {
        st->cap_recs = st->cap_recs ? st->cap_recs * 2 : 1024;
        st->recs = mock_xrealloc(st->recs, st->cap_recs * sizeof(*st->recs));
    }
    r = &st->recs[st->n_recs];
    memcpy(r->rid, pt->rid, MOCK_RID_LEN);
    r->token = token;
    r->blob_len = (uint32_t)scratch->len;
    r->blob = arena_copy(st, scratch->p, scratch->len);
    st->rec_idx.slots[i] = tag | (uint64_t)(st->n_recs + 1);
    st->n_recs++;
    if (st->n_recs * 10 > (st->rec_idx.mask + 1) * 7) {
        grow_recs_table(st);
    }
    return (uint32_t)(st->n_recs - 1);
}

static void
pt_put(struct mock_store *st, uint32_t rec, int32_t hour, double value)
{
    uint64_t h = pt_hash(rec, hour);
    uint64_t tag = h & 0xffffffff00000000ULL;
    size_t i = (size_t)h & st->pt_idx.mask;
    struct mock_counters *c = &st->counters;
    struct pt *p;

    while (st->pt_idx.slots[i]) {
        uint64_t s = st->pt_idx.slots[i];
        if ((s & 0xffffffff00000000ULL) == tag) {
            p = &st->pts[(uint32_t)s - 1];
            if (p->rec == rec && p->hour == hour) {
                c->points_rewritten++;
                if (p->value == value) {
                    c->points_rewritten_same_value++;
                }
                p->value = value;
                p->writes++;
                return;
            }
        }
        i = (i + 1) & st->pt_idx.mask;
    }
    if (st->n_pts >= UINT32_MAX - 1) {
        fprintf(stderr, "ctspool-mock-receiver: too many points\n");
        abort();
    }
    if (st->n_pts == st->cap_pts) {
        st->cap_pts = st->cap_pts ? st->cap_pts * 2 : 4096;
        st->pts = mock_xrealloc(st->pts, st->cap_pts * sizeof(*st->pts));
    }
    p = &st->pts[st->n_pts];
    p->rec = rec;
    p->hour = hour;
    p->value = value;
    p->writes = 1;
    st->pt_idx.slots[i] = tag | (uint64_t)(st->n_pts + 1);
    st->n_pts++;
    c->points_new++;
    if (st->n_pts * 10 > (st->pt_idx.mask + 1) * 7) {
        grow_pts_table(st);
    }
}

void
mock_store_upsert(struct mock_store *st, const struct mock_request *req)
{
    struct mock_buf scratch = {0};
    uint32_t token = token_intern(st, req->token);
    size_t i;

    for (i = 0; i < req->n_points; i++) {
        const struct mock_point *pt = &req->points[i];
        uint32_t rec = rec_get(st, token, req->agg, pt, &scratch);
        pt_put(st, rec, pt->hour, pt->value);
    }
    st->counters.points_accepted += req->n_points;
    mock_buf_cleanup(&scratch);
}

static void
ev_put(struct mock_store *st, const struct mock_event *e,
       struct mock_buf *scratch)
{
    uint64_t h = ev_hash(e->eid);
    uint64_t tag = h & 0xffffffff00000000ULL;
    size_t i = (size_t)h & st->ev_idx.mask;
    struct ev *p;

    while (st->ev_idx.slots[i]) {
        uint64_t s = st->ev_idx.slots[i];
        if ((s & 0xffffffff00000000ULL) == tag) {
            p = &st->evs[(uint32_t)s - 1];
            if (memcmp(p->eid, e->eid, MOCK_RID_LEN) == 0) {
                p->writes++;
                st->counters.events_rewritten++;
                return;
            }
        }
        i = (i + 1) & st->ev_idx.mask;
    }
    if (st->n_evs >= UINT32_MAX - 1) {
        fprintf(stderr, "ctspool-mock-receiver: too many events\n");
        abort();
    }
    scratch->len = 0;
    mock_buf_adds(scratch, "\"type\":");
    mock_buf_json_string(scratch, e->type, e->type_len);
    mock_buf_adds(scratch, ",\"description\":");
    mock_buf_json_string(scratch, e->description, e->description_len);
    if (e->event_url) {
        mock_buf_adds(scratch, ",\"event_url\":");
        mock_buf_json_string(scratch, e->event_url, e->url_len);
    }
    if (st->n_evs == st->cap_evs) {
        st->cap_evs = st->cap_evs ? st->cap_evs * 2 : 1024;
        st->evs = mock_xrealloc(st->evs, st->cap_evs * sizeof(*st->evs));
    }
    p = &st->evs[st->n_evs];
    memcpy(p->eid, e->eid, MOCK_RID_LEN);
    p->hour = e->hour;
    p->writes = 1;
    p->team_id = e->team_id;
    p->blob_len = (uint32_t)scratch->len;
    p->blob = arena_copy(st, scratch->p, scratch->len);
    st->ev_idx.slots[i] = tag | (uint64_t)(st->n_evs + 1);
    st->n_evs++;
    st->counters.events_new++;
    if (st->n_evs * 10 > (st->ev_idx.mask + 1) * 7) {
        grow_evs_table(st);
    }
}

void
mock_store_add_events(struct mock_store *st,
                      const struct mock_event_request *req)
{
    struct mock_buf scratch = {0};
    size_t i;

    for (i = 0; i < req->n_events; i++) {
        ev_put(st, &req->events[i], &scratch);
    }
    st->counters.events_accepted += req->n_events;
    mock_buf_cleanup(&scratch);
}

/* "name":{"status":count,...} */
static void
write_by_status(FILE *out, const char *name, const uint64_t *by_status)
{
    const char *sep = "";
    int s;

    fprintf(out, "\"%s\":{", name);
    for (s = 0; s < MOCK_STATUS_MAX; s++) {
        if (by_status[s]) {
            fprintf(out, "%s\"%d\":%llu", sep, s,
                    (unsigned long long)by_status[s]);
            sep = ",";
        }
    }
    fputc('}', out);
}

void
mock_store_write_counters(struct mock_store *st, FILE *out)
{
    const struct mock_counters *c = &st->counters;

    fprintf(out, "{\"requests_total\":%llu,",
            (unsigned long long)c->requests_total);
    write_by_status(out, "requests_by_status", c->by_status);
    fprintf(out,
            ",\"points_accepted\":%llu,\"points_new\":%llu,"
            "\"points_rewritten\":%llu,"
            "\"points_rewritten_same_value\":%llu,"
            "\"connections_dropped\":%llu,\"bytes_received\":%llu,"
            "\"requests_gzip\":%llu,\"event_requests_total\":%llu,",
            (unsigned long long)c->points_accepted,
            (unsigned long long)c->points_new,
            (unsigned long long)c->points_rewritten,
            (unsigned long long)c->points_rewritten_same_value,
            (unsigned long long)c->connections_dropped,
            (unsigned long long)c->bytes_received,
            (unsigned long long)c->requests_gzip,
            (unsigned long long)c->event_requests_total);
    write_by_status(out, "event_requests_by_status", c->event_by_status);
    fprintf(out,
            ",\"events_accepted\":%llu,\"events_new\":%llu,"
            "\"events_rewritten\":%llu}",
            (unsigned long long)c->events_accepted,
            (unsigned long long)c->events_new,
            (unsigned long long)c->events_rewritten);
}

/* qsort() has no context argument; dumps run under receiver.c's mutex. */
static const struct mock_store *sort_store;

static int
rec_order(const void *a, const void *b)
{
    const struct rec *ra = &sort_store->recs[*(const uint32_t *)a];
    const struct rec *rb = &sort_store->recs[*(const uint32_t *)b];
    int c;

    if (ra->token != rb->token) {
        c = strcmp(sort_store->tokens[ra->token].name,
                   sort_store->tokens[rb->token].name);
        if (c != 0) {
            return c;
        }
    }
    return memcmp(ra->rid, rb->rid, MOCK_RID_LEN);
}

static int
ev_order(const void *a, const void *b)
{
    return memcmp(sort_store->evs[*(const uint32_t *)a].eid,
                  sort_store->evs[*(const uint32_t *)b].eid, MOCK_RID_LEN);
}

/* ,\n"events":[...] sorted by event ID.  Returns 0 or -1. */
static int
write_events(struct mock_store *st, FILE *out, struct mock_buf *line)
{
    uint32_t *order = mock_xmalloc(st->n_evs * sizeof(*order));
    size_t i;
    int rc = 0;

    for (i = 0; i < st->n_evs; i++) {
        order[i] = (uint32_t)i;
    }
    sort_store = st;
    qsort(order, st->n_evs, sizeof(*order), ev_order);
    sort_store = NULL;
    fputs(",\n\"events\":[", out);
    for (i = 0; i < st->n_evs; i++) {
        const struct ev *e = &st->evs[order[i]];
        char hex[MOCK_RID_HEX_LEN + 1], ts[MOCK_TS_LEN + 1];

        mock_hex(e->eid, MOCK_RID_LEN, hex);
        mock_format_hour(e->hour, ts);
        line->len = 0;
        mock_buf_printf(line,
                        "%s{\"event_id\":\"%s\",\"timestamp\":\"%s\",",
                        i ? ",\n" : "\n", hex, ts);
        if (e->team_id > 0) {
            mock_buf_printf(line, "\"team_id\":%lld,",
                            (long long)e->team_id);
        }
        mock_buf_add(line, e->blob, e->blob_len);
        mock_buf_printf(line, ",\"writes\":%lu}", (unsigned long)e->writes);
        if (fwrite(line->p, 1, line->len, out) != line->len) {
            rc = -1;
            break;
        }
    }
    fputs("\n]", out);
    free(order);
    return rc;
}

struct sort_key {
    uint64_t key;                    /* rank of record << 32 | biased hour */
    uint32_t pt;
};

static int
key_order(const void *a, const void *b)
{
    uint64_t ka = ((const struct sort_key *)a)->key;
    uint64_t kb = ((const struct sort_key *)b)->key;

    return (ka > kb) - (ka < kb);
}

int
mock_store_write_state(struct mock_store *st, FILE *out)
{
    uint32_t *order = mock_xmalloc(st->n_recs * sizeof(*order));
    uint32_t *rank = mock_xmalloc(st->n_recs * sizeof(*rank));
    struct sort_key *keys = mock_xmalloc(st->n_pts * sizeof(*keys));
    struct mock_buf line = {0};
    size_t i;
    int rc = 0;

    for (i = 0; i < st->n_recs; i++) {
        order[i] = (uint32_t)i;
    }
    sort_store = st;
    qsort(order, st->n_recs, sizeof(*order), rec_order);
    sort_store = NULL;
    for (i = 0; i < st->n_recs; i++) {
        rank[order[i]] = (uint32_t)i;
    }
    for (i = 0; i < st->n_pts; i++) {
        keys[i].key = ((uint64_t)rank[st->pts[i].rec] << 32) |
                      ((uint32_t)st->pts[i].hour ^ 0x80000000u);
        keys[i].pt = (uint32_t)i;
    }
    qsort(keys, st->n_pts, sizeof(*keys), key_order);

    fputs("{\"counters\":", out);
    mock_store_write_counters(st, out);
    fputs(",\n\"points\":[", out);
    for (i = 0; i < st->n_pts; i++) {
        const struct pt *p = &st->pts[keys[i].pt];
        const struct rec *r = &st->recs[p->rec];
        char hex[MOCK_RID_HEX_LEN + 1], ts[MOCK_TS_LEN + 1];
        char num[MOCK_NUM_LEN];

        mock_hex(r->rid, MOCK_RID_LEN, hex);
        mock_format_hour(p->hour, ts);
        mock_format_double(p->value, num);
        line.len = 0;
        mock_buf_adds(&line, i ? ",\n{\"data_stream_token\":"
                               : "\n{\"data_stream_token\":");
        mock_buf_adds(&line, st->tokens[r->token].json);
        mock_buf_adds(&line, ",\"record_id\":\"");
        mock_buf_add(&line, hex, MOCK_RID_HEX_LEN);
        mock_buf_adds(&line, "\",");
        mock_buf_add(&line, r->blob, r->blob_len);
        mock_buf_printf(&line,
                        ",\"timestamp\":\"%s\",\"metric_value\":%s,"
                        "\"writes\":%lu}",
                        ts, num, (unsigned long)p->writes);
        if (fwrite(line.p, 1, line.len, out) != line.len) {
            rc = -1;
            break;
        }
    }
    fputs("\n]", out);
    if (rc == 0) {
        rc = write_events(st, out, &line);
    }
    fputs("}\n", out);
    if (ferror(out)) {
        if (!errno) {
            errno = EIO;
        }
        rc = -1;
    }
    mock_buf_cleanup(&line);
    free(keys);
    free(rank);
    free(order);
    return rc;
}
