#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Input bytes a message quotes at most, and the room their quote needs. */
#define QUOTE_IN 64
#define QUOTE_BUF (4 * QUOTE_IN + 8)

size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp);
size_t utf8_bad_offset(const char *s, size_t len);
const char *quote(const char *s, size_t len, char *buf, size_t cap);

#endif /* UTF8_H */
