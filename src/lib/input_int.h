#ifndef INPUT_INT_H
#define INPUT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "sp_int.h"

#define CHUNK ((size_t)64 * 1024)
#define LINE_MAX_BYTES ((size_t)1024 * 1024) /* an NDJSON line */

extern const char bom[3];

int is_ws(char c);
ctspool_rc read_error(struct sp_err *e);

enum sp_format format_by_name(const char *name);
ctspool_rc sniff(FILE *f, enum sp_format *fmt, char **pre, size_t *pre_len,
                 struct sp_err *e);
FILE *prefixed_open(FILE *f, char *pre, size_t len);

#endif /* INPUT_INT_H */
