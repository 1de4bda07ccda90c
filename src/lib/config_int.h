/*
 * config_int.h -- declarations shared by the files of the configuration
 * reader: config.c, config_keys.c, config_lex.c, config_check.c and
 * config_file.c.  The interface of the whole is in sp_int.h.
 */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sp_int.h"

/* ---- config_keys.c: the settings, a row of sp_config_keys[] each ------- */

enum kind {
    K_STRING,  /* char *: a string */
    K_ENUM,    /* int: a string mapped by parse() */
    K_LONG,    /* long: an integer in [min, max] */
    K_INT64,   /* int64_t: an integer in [min, max] */
    K_BOOL,    /* int: true or false */
    K_STRLIST  /* char ** (NULL-terminated) and a size_t count: a list or
                  array of non-empty strings */
};

/* A non-empty value means the file holds a secret. */
#define F_SECRET 0x1u
/* "" means "none" and is stored as NULL. */
#define F_OPTIONAL 0x2u
/* A URL with user:password@ in it means the file holds a secret. */
#define F_SECRET_USERINFO 0x4u

/* 0 if s is acceptable, else -1 with the reason ("must ...") in why. */
typedef int (*check_fn)(const char *s, struct sp_err *why);
/* The value for s, or -1 if s is not one of the accepted words. */
typedef int (*parse_fn)(const char *s);

struct key {
    const char *group; /* NULL: top level */
    const char *name;
    enum kind kind;
    size_t off;        /* offsetof(struct sp_config, field) */
    size_t count_off;  /* K_STRLIST: offsetof its count */
    unsigned flags;    /* F_* */
    const char *def_str;
    int64_t def_int;   /* K_ENUM, K_LONG, K_INT64, K_BOOL */
    int64_t min, max;  /* K_LONG, K_INT64 */
    check_fn check;    /* K_STRING, K_STRLIST (each entry), optional */
    parse_fn parse;    /* K_ENUM */
    const char *words; /* K_ENUM: the accepted words, for messages */
};

/* Every setting (DESIGN.md section 7), with its default. */
extern const struct key sp_config_keys[];
extern const size_t sp_config_n_keys;

/* config_lex.c: the text with int64 suffixes; *out: transferred. */
ctspool_rc sp_config_promote_int64(const char *path, const char *in,
                                   size_t len, char **out, struct sp_err *e);
/* The names of the settings set on line at_line of the text, ", "
 * between them, into out ("" when none; never a value). */
void sp_config_names_on_line(const char *in, size_t len, unsigned at_line,
                             char *out, size_t out_len);

/* config_file.c: path opened for reading ("cannot read WHAT PATH: ..."),
 * once it is a regular file of at most max bytes (*st); never blocks on
 * a FIFO.  NULL with e set. */
FILE *sp_config_open_small(const char *what, const char *path, size_t max,
                           struct stat *st, struct sp_err *e);
/* config_file.c: the file read whole (*buf: transferred), and the
 * permission warning into c->warning (NULL when mode is fine) for a
 * file that holds a secret (holds) or that others may write. */
ctspool_rc sp_config_read_file(const char *path, int missing_ok, char **buf,
                               size_t *len, mode_t *mode, struct sp_err *e);
ctspool_rc sp_config_set_warning(struct sp_config *c, const char *path,
                                 int holds, mode_t mode, struct sp_err *e);
/* config_file.c: *out: "WHAT PATH ... (mode 0644); chmod ..." when a file
 * of that mode exposes what it holds, else NULL; holds: say "holds
 * secrets and".  *out: transferred.  OK or E_NOMEM. */
ctspool_rc sp_config_mode_warning(const char *what, const char *path,
                                  int holds, mode_t mode, char **out,
                                  struct sp_err *e);

/* config_check.c: 1 if s holds a control character (< 0x20, 0x7f). */
int sp_config_has_control(const char *s);
/* 0 if s is acceptable, else -1 with the reason ("must ...") in why. */
int sp_config_check_nonempty(const char *s, struct sp_err *why);
int sp_config_check_url(const char *s, struct sp_err *why);
int sp_config_check_url_or_empty(const char *s, struct sp_err *why);
int sp_config_check_listen(const char *s, struct sp_err *why);
int sp_config_check_secret(const char *s, struct sp_err *why);
int sp_config_check_stream(const char *s, struct sp_err *why);
/* "" (none), or [SCHEME://][USER:PASSWORD@]HOST[:PORT] for libcurl. */
int sp_config_check_proxy(const char *s, struct sp_err *why);
/* 1 if the URL s has user information (USER[:PASSWORD]@) before its
 * host. */
int sp_config_url_has_userinfo(const char *s);
int sp_config_check_file_mode(const char *s, struct sp_err *why);

#endif /* CONFIG_INT_H */
