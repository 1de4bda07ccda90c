/*
 * lock.h -- one drainer per journal (see lock.c).
 */
#ifndef DR_LOCK_H
#define DR_LOCK_H

#include "sp_int.h"

/*
 * dr_lock_open -- the drainer lock: one drainer per journal.  An flock
 * on "<journal>-drain.lock" (created with the journal's mode if missing,
 * never truncated),
 * released by the kernel when the process dies.  *fd: close() to
 * release; -1 on failure, with e set.  Returns OK, E_LOCKED when another
 * process (or another open of it) holds it, E_CANTCREATE, E_IO.
 */
ctspool_rc dr_lock_open(const char *journal_path, int *fd, struct sp_err *e);
/* dr_lock_check -- E_CANTCREATE when this user could not open the lock
 * file that exists (`check-config --role drain`), else OK. */
ctspool_rc dr_lock_check(const char *journal_path, struct sp_err *e);

#endif
