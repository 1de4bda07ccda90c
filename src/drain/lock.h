/*
 * lock.h -- one drainer per journal (see lock.c).
 */
#ifndef DR_LOCK_H
#define DR_LOCK_H

#include "sp_int.h"

/*
 * The drainer lock: one drainer per journal.  An flock on
 * "<journal>-drain.lock", released by the kernel when the process dies.
 * E_LOCKED when another process holds it.  *fd: close() to release.
 */
ctspool_rc dr_lock_open(const char *journal_path, int *fd, struct sp_err *e);

#endif
