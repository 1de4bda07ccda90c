/*
 * memwatch.c -- SQLite's allocator, counting the allocations that fail.
 *
 * SQLite answers SQLITE_NOMEM both when memory runs out and for some
 * damaged files: a record whose header claims gigabytes makes SQLite
 * refuse the size itself (sqlite3Malloc() allocates nothing past its
 * limit) and report "out of memory" without asking the allocator.  The
 * journal's open and salvage must tell the two apart: damage is moved
 * aside and salvaged, a shortage is waited out.  With this counter in
 * place, an SQLITE_NOMEM that no failed allocation explains is damage --
 * unless SQLite may have refused one by itself (a hard heap limit is
 * set) or the counter no longer sits over SQLite's allocator (the
 * application put its own in place after sqlite3_shutdown()).
 *
 * The wrappers add one call, a compare, and an atomic add only on failure
 * or for an allocation of the probe's size: no lock on the allocation
 * path (main.c turns SQLite's memory statistics off for the same
 * reason).
 */
#include <stdatomic.h>

#include "memwatch.h"

/* The size of still_installed()'s probe: a multiple of 8, so that
 * SQLite asks for it as it is whether or not it rounds sizes up. */
#define PROBE_SIZE 4104

static sqlite3_mem_methods base_mem;
static atomic_uint_fast64_t failures;
static atomic_uint_fast64_t probes; /* PROBE_SIZE allocations seen */
static atomic_int watching;

static void *
w_malloc(int n)
{
    void *p = base_mem.xMalloc(n);

    if (!p) {
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    }
    if (n == PROBE_SIZE) {
        atomic_fetch_add_explicit(&probes, 1, memory_order_relaxed);
    }
    return p;
}

static void *
w_realloc(void *old, int n)
{
    void *p = base_mem.xRealloc(old, n);

    if (!p) {
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    }
    return p;
}

int
sp_memwatch_install(const sqlite3_mem_methods *base)
{
    sqlite3_mem_methods m;

    if (atomic_load(&watching)) {
        return 0;
    }
    if (base) {
        base_mem = *base;
    } else if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &base_mem) !=
               SQLITE_OK) {
        return -1;
    }
    m = base_mem;
    m.xMalloc = w_malloc;
    m.xRealloc = w_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) {
        return -1; /* SQLite is initialized already */
    }
    atomic_store(&watching, 1);
    return 0;
}

uint64_t
sp_memwatch_failures(void)
{
    return atomic_load_explicit(&failures, memory_order_relaxed);
}

/*
 * Whether SQLite's allocations still go through w_malloc: an application
 * may put its own allocator in place after sqlite3_shutdown(), and the
 * counter then sees nothing.  A probe allocation answers it.
 */
static int
still_installed(void)
{
    uint64_t before = atomic_load(&probes);
    void *p = sqlite3_malloc(PROBE_SIZE);

    sqlite3_free(p);
    return atomic_load(&probes) != before;
}

int
sp_memwatch_spurious(uint64_t before)
{
    /* Past a hard heap limit SQLite refuses an allocation without asking
     * the allocator: a shortage the counter cannot see. */
    return atomic_load(&watching) && sp_memwatch_failures() == before &&
           sqlite3_hard_heap_limit64(-1) <= 0 && still_installed();
}
