/*
 * memwatch.h -- counts the allocations SQLite asked for and did not get
 * (memwatch.c), so that an "out of memory" answer can be told from damage.
 */
#ifndef SP_MEMWATCH_H
#define SP_MEMWATCH_H

#include <sqlite3.h>
#include <stdint.h>

/*
 * Puts the counter between SQLite and its allocator (base, or SQLite's
 * default with NULL).  Only before SQLite is initialized, as
 * sqlite3_config() allows: 0, or -1 when SQLite refused (already in use:
 * the counter stays off).  The program calls it in main(); the library
 * at the first ctspool_open() of the process (api.c), over whatever
 * allocator the application put in place.
 */
int sp_memwatch_install(const sqlite3_mem_methods *base);

/* Allocations SQLite did not get since the counter was installed. */
uint64_t sp_memwatch_failures(void);

/*
 * An SQLITE_NOMEM seen after sp_memwatch_failures() said before: 1 when
 * the counter is on and no allocation has failed since, i.e. SQLite said
 * "out of memory" with memory to spare.  SQLite does so for some damage
 * (a record whose header claims more than SQLite ever allocates); a real
 * shortage always fails an allocation first.  0 with the counter off, or
 * no longer over SQLite's allocator, or with a hard heap limit set
 * (sqlite3_hard_heap_limit64: SQLite then refuses sizes itself).
 */
int sp_memwatch_spurious(uint64_t before);

#endif
