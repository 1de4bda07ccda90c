#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stddef.h>

#include "sp_int.h"

ctspool_rc promote_int64(const char *path, const char *in, size_t len,
                         char **out, struct sp_err *e);

#endif /* CONFIG_INT_H */
