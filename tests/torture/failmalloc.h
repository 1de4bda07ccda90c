/*
 * failmalloc.h -- the allocation hook of the torture test: counts the
 * allocations made inside a marked region, fails the Nth one, and keeps
 * the region's live allocations so that a leak is seen at its end.
 *
 * What goes through the hook: the C library's allocators as called from
 * the test and from libctspool (linked statically with the linker's
 * --wrap for malloc, calloc, realloc, free, strdup and strndup), cJSON
 * (whose hooks payload.c points at malloc/free), and SQLite (routed here
 * by fm_install_sqlite()).  Single-threaded use only.
 */
#ifndef FAILMALLOC_H
#define FAILMALLOC_H

#include <stddef.h>

/* Routes SQLite's allocations through the hook; call before SQLite is
 * initialised.  Returns 0, or -1 when SQLite refused. */
int fm_install_sqlite(void);

/*
 * fm_begin -- opens a region.  fail_at: the 1-based number of the
 * region's allocation that fails (only that one; the next ones succeed
 * again), 0 for none.
 */
void fm_begin(long fail_at);

/* 1 once the region's allocation fail_at has been refused. */
int fm_has_fired(void);

struct fm_result {
    long n_allocs;  /* allocations attempted in the region */
    int has_fired;  /* the allocation fail_at was attempted and refused */
    size_t n_live;  /* made in the region and not freed */
};

/* Closes the region; *r says what happened in it. */
void fm_end(struct fm_result *r);

/* One line per allocation still live from the last region. */
void fm_print_live(const char *prefix);

#endif
