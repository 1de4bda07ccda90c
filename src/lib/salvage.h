/*
 * salvage.h -- recovering a damaged journal's pending points and dead
 * letters into the live journal (salvage.c): `ctspool salvage` and the
 * drainer's auto_salvage.
 */
#ifndef SP_SALVAGE_H
#define SP_SALVAGE_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct sp_salvage_report {
    uint64_t pending;         /* points added to the live journal, pending */
    uint64_t resend;          /* of those, noted to send again (table
                               * resend): acknowledged, not pending, in
                               * the damaged journal */
    uint64_t dead;            /* dead letters added */
    uint64_t present;         /* items the live journal holds already */
    uint64_t folded;          /* pending points folded under a value the
                               * live journal folded from nothing since
                               * (accumulate mode) */
    uint64_t unreadable;      /* items lost: unreadable or not valid */
    uint64_t damaged_ranges;  /* places where SQLite reported damage */
    int64_t pending_expected; /* the damaged file's pending count; -1:
                               * unreadable */
    int read_anything;        /* the file's upload groups could be read,
                               * and some of its items if it has any */
};

/*
 * sp_salvage -- reads every pending point and dead letter of the
 * journal file (damaged or quarantined) that SQLite can still read, and
 * adds to live those it does not hold, in transactions of at most
 * txn_items (0: 500).  Nothing is written to file.  OK with the counts
 * in *rep (rep->read_anything 0: nothing could be read); E_NOINPUT (no
 * such file), E_IO, E_NOMEM (also when an allocation failed during the
 * run, memwatch.c: places may have been skipped for it), or a live
 * journal error (E_FULL, ...: what was committed before stays, a second
 * run goes on from there).
 */
ctspool_rc sp_salvage(struct sp_journal *live, const char *file,
                      size_t txn_items, struct sp_salvage_report *rep,
                      struct sp_err *e);
/* "recovered N pending points and ...": rep in words, into buf. */
void sp_salvage_describe(const struct sp_salvage_report *rep, char *buf,
                         size_t n);

#endif
