/*
 * memwatch.c -- SQLite's allocator, counting the allocations that fail.
 *
 * SQLite answers SQLITE_NOMEM both when memory runs out and for some
 * damaged files: a record whose header claims gigabytes makes SQLite
 * refuse the size itself (sqlite3Malloc() allocates nothing past its
 * limit) and report "out of memory" without asking the allocator.  The
 * journal's open and salvage must tell the two apart: damage is moved
 * aside and salvaged, a shortage is waited out.  With this counter in
 * place, an SQLITE_NOMEM that no failed allocation explains is damage.
 *
 * The wrappers add one call and, on failure only, an atomic add: no lock
 * on the allocation path (main.c turns SQLite's memory statistics off
 * for the same reason).
 */
#include <stdatomic.h>

#include "memwatch.h"

static sqlite3_mem_methods base_mem;
static atomic_uint_fast64_t failures;
static atomic_int watching;

static void *
w_malloc(int n)
{
    void *p = base_mem.xMalloc(n);

    if (!p) {
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
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

int
sp_memwatch_spurious(uint64_t before)
{
    return atomic_load(&watching) && sp_memwatch_failures() == before;
}
