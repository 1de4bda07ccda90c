/*
 * utf8.h -- utf8.c's helpers for the other field checks (validate.c,
 * timefmt.c): strict UTF-8 decoding and the quoting of input in
 * messages.  sp_utf8_valid() is in sp_int.h.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Input bytes a message quotes at most, and the room their quote needs. */
#define SP_QUOTE_IN 64
#define SP_QUOTE_BUF (4 * SP_QUOTE_IN + 8)

/* Length of the sequence at s (code point in *cp), 0 if malformed. */
size_t sp_utf8_seq(const unsigned char *s, size_t len, uint32_t *cp);
/* Offset of the first byte that is not strict UTF-8, or len if none. */
size_t sp_utf8_bad_offset(const char *s, size_t len);
/* s as a quoted, printable string in buf (cap >= SP_QUOTE_BUF): buf. */
const char *sp_utf8_quote(const char *s, size_t len, char *buf, size_t cap);

#endif /* UTF8_H */
