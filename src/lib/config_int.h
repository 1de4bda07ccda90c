#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "sp_int.h"

ctspool_rc sp_config_promote_int64(const char *path, const char *in,
                                   size_t len, char **out, struct sp_err *e);
ctspool_rc sp_config_read_file(const char *path, int missing_ok, char **buf,
                               size_t *len, mode_t *mode, struct sp_err *e);
ctspool_rc sp_config_set_warning(struct sp_config *c, const char *path,
                                 mode_t mode, struct sp_err *e);
int sp_config_has_control(const char *s);
int sp_config_check_nonempty(const char *s, struct sp_err *why);
int sp_config_check_url(const char *s, struct sp_err *why);
int sp_config_check_listen(const char *s, struct sp_err *why);
int sp_config_check_secret(const char *s, struct sp_err *why);
int sp_config_check_stream(const char *s, struct sp_err *why);

#endif /* CONFIG_INT_H */
