/*
 * list.h -- the row printer shared by `list` and `dlq list`.
 */
#ifndef CTSPOOL_LIST_H
#define CTSPOOL_LIST_H

#include "journal.h"

struct list_opts {
    int json;
    int dlq; /* a dead letter as a row of `dlq list`, not of `list` */
};

/* sp_list_cb printing one row; ctx: struct list_opts. */
ctspool_rc cli_print_row(void *ctx, const struct sp_list_row *r);

#endif
