/*
 * rejects.h -- `append --rejects FILE` (rejects.c): the input records
 * append rejects, written as read for fix-and-retry.
 */
#ifndef CTSPOOL_REJECTS_H
#define CTSPOOL_REJECTS_H

#include "sp_int.h"

struct cli_rejects;

/*
 * cli_rejects_open -- create path (mode 0600; when root runs append,
 * with the journal's owner), or truncate the regular file there (mode
 * 0600, its owner kept), or write to the device or pipe there.  Never
 * the journal's files or one of the n_inputs inputs: refused (64).
 * is_follow: flush each record.  *out: transferred (cli_rejects_close).
 * 0, or an exit code (64, 73) with the reason printed.
 */
int cli_rejects_open(const char *path, const char *journal,
                     FILE *const *inputs, int n_inputs, int is_follow,
                     struct cli_rejects **out);
/* The hook the readers hand rejected records to; NULL for NULL. */
const struct sp_reject_hook *cli_rejects_hook(const struct cli_rejects *r);
/* Flush, sync and close; says how many were written.  0, or 74 (a write
 * failed, printed).  NULL: 0. */
int cli_rejects_close(struct cli_rejects *r);

#endif
