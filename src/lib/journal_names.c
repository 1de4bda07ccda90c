/*
 * journal_names.c -- the drainer's cache of series texts: series id ->
 * (metric_name, dims).  A take (journal_drain.c) then reads a group's
 * queue rows alone and looks a series row up only for an id it has not
 * seen lately, instead of joining every queue row to its series row:
 * the join's B-tree search and the copy of two text columns out of
 * SQLite were a third of the drainer's CPU where series repeat from
 * hour to hour, which is what metrics do.
 *
 * Invariants:
 * (1) An entry holds what a committed series row says, as read in a
 *     read transaction.  A series row is never changed; it is deleted
 *     only by a compaction, which bumps meta.epoch in the same
 *     transaction (journal_admin.c), after which its id may be reused.
 *     So a take that reads an epoch other than the cache's clears the
 *     cache first, and so does a new connection (sp_jn_disconnect(): the
 *     file at the path may be another journal).
 * (2) Memory is bounded: at most NAMES_MAX entries and NAMES_TEXT bytes
 *     of text.  An entry that would pass either clears the cache first.
 * (3) A pointer returned by sp_jn_names_find() or sp_jn_names_add()
 *     holds until the next sp_jn_names_add() or clear: the caller
 *     copies the texts at once.
 */
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"

#define NAMES_SLOTS_MIN 1024u               /* first table; power of 2 */
#define NAMES_MAX 65536u                    /* entries at most */
#define NAMES_TEXT ((size_t)8 << 20)        /* text bytes at most */

struct names_ent {
    int64_t id; /* 0: empty slot (series ids start at 1) */
    uint32_t off;
    uint32_t name_len; /* name at text + off, NUL, then dims, NUL */
    uint32_t dims_len;
};

/* splitmix64's finalizer: every bit of the id moves every bit of the
 * slot, so ids the drainer samples by another hash (journal_drain.c)
 * do not crowd into runs of slots. */
static size_t
slot_of(int64_t id, size_t slots)
{
    uint64_t h = (uint64_t)id;

    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return (size_t)(h ^ (h >> 31)) & (slots - 1);
}

void
sp_jn_names_clear(struct sp_journal *j)
{
    if (j->names && j->names_n) {
        memset(j->names, 0, j->names_slots * sizeof(*j->names));
    }
    j->names_n = 0;
    sp_buf_reset(&j->names_text);
}

void
sp_jn_names_free(struct sp_journal *j)
{
    free(j->names);
    j->names = NULL;
    j->names_slots = j->names_n = 0;
    sp_buf_cleanup(&j->names_text);
}

static void
fill(struct sp_journal_name *out, const struct sp_journal *j,
     const struct names_ent *e)
{
    out->name = j->names_text.p + e->off;
    out->name_len = e->name_len;
    out->dims = out->name + e->name_len + 1;
    out->dims_len = e->dims_len;
}

int
sp_jn_names_find(const struct sp_journal *j, int64_t id,
                 struct sp_journal_name *out)
{
    size_t mask = j->names_slots - 1;

    if (!j->names_n) {
        return 0;
    }
    for (size_t i = slot_of(id, j->names_slots);; i = (i + 1) & mask) {
        const struct names_ent *e = &j->names[i];

        if (e->id == id) {
            fill(out, j, e);
            return 1;
        }
        if (e->id == 0) {
            return 0;
        }
    }
}

/* Doubles the table (or makes the first one); -1 without memory. */
static int
grow(struct sp_journal *j)
{
    size_t slots = j->names_slots ? 2 * j->names_slots : NAMES_SLOTS_MIN;
    struct names_ent *t = calloc(slots, sizeof(*t));

    if (!t) {
        return -1;
    }
    for (size_t i = 0; i < j->names_slots; i++) {
        const struct names_ent *e = &j->names[i];
        size_t k;

        if (e->id == 0) {
            continue;
        }
        for (k = slot_of(e->id, slots); t[k].id; k = (k + 1) & (slots - 1)) {
        }
        t[k] = *e;
    }
    free(j->names);
    j->names = t;
    j->names_slots = slots;
    return 0;
}

int
sp_jn_names_add(struct sp_journal *j, int64_t id, const char *name,
                size_t name_len, const char *dims, size_t dims_len,
                struct sp_journal_name *out)
{
    size_t need = name_len + 1 + dims_len + 1;
    struct names_ent *e;
    size_t i;

    if (id <= 0 || need > NAMES_TEXT) {
        return -1; /* not a series id, or texts no journal holds */
    }
    if (j->names_n + 1 > NAMES_MAX ||
        j->names_text.len + need > NAMES_TEXT) {
        sp_jn_names_clear(j);
    }
    /* At most half the slots used. */
    if (2 * (j->names_n + 1) > j->names_slots && grow(j) != 0) {
        return -1;
    }
    e = NULL;
    for (i = slot_of(id, j->names_slots);;
         i = (i + 1) & (j->names_slots - 1)) {
        if (j->names[i].id == 0 || j->names[i].id == id) {
            e = &j->names[i];
            break;
        }
    }
    if (e->id == id) {
        fill(out, j, e); /* the caller looked first: kept as it was */
        return 0;
    }
    if (sp_buf_reserve_max(&j->names_text, need, NAMES_TEXT) != 0) {
        return -1;
    }
    e->id = id;
    e->off = (uint32_t)j->names_text.len;
    e->name_len = (uint32_t)name_len;
    e->dims_len = (uint32_t)dims_len;
    memcpy(j->names_text.p + e->off, name, name_len);
    j->names_text.p[e->off + name_len] = '\0';
    memcpy(j->names_text.p + e->off + name_len + 1, dims, dims_len);
    j->names_text.p[e->off + need - 1] = '\0';
    j->names_text.len += need;
    j->names_text.p[j->names_text.len] = '\0';
    j->names_n++;
    fill(out, j, e);
    return 0;
}
