/*
 * config_int.h -- declarations shared by the files of the configuration
 * reader: config.c, config_lex.c, config_check.c and config_file.c.  The
 * interface of the whole is in sp_int.h.
 */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "sp_int.h"

/* config_lex.c: the text with int64 suffixes; *out: transferred. */
ctspool_rc sp_config_promote_int64(const char *path, const char *in,
                                   size_t len, char **out, struct sp_err *e);

/* config_file.c: the file read whole (*buf: transferred), and the
 * permission warning into c->warning (NULL when mode is fine) for a
 * file that holds a secret. */
ctspool_rc sp_config_read_file(const char *path, int missing_ok, char **buf,
                               size_t *len, mode_t *mode, struct sp_err *e);
ctspool_rc sp_config_set_warning(struct sp_config *c, const char *path,
                                 mode_t mode, struct sp_err *e);

/* config_check.c: 1 if s holds a control character (< 0x20, 0x7f). */
int sp_config_has_control(const char *s);
/* 0 if s is acceptable, else -1 with the reason ("must ...") in why. */
int sp_config_check_nonempty(const char *s, struct sp_err *why);
int sp_config_check_url(const char *s, struct sp_err *why);
int sp_config_check_listen(const char *s, struct sp_err *why);
int sp_config_check_secret(const char *s, struct sp_err *why);
int sp_config_check_stream(const char *s, struct sp_err *why);

#endif /* CONFIG_INT_H */
