#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Input bytes a message quotes at most, and the room their quote needs. */
#define SP_QUOTE_IN 64
#define SP_QUOTE_BUF (4 * SP_QUOTE_IN + 8)

size_t sp_utf8_seq(const unsigned char *s, size_t len, uint32_t *cp);
size_t sp_utf8_bad_offset(const char *s, size_t len);
const char *sp_utf8_quote(const char *s, size_t len, char *buf, size_t cap);

#endif /* UTF8_H */
