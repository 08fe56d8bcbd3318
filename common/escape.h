/* Escaping of untrusted bytes (comm, argv, file names) for terminals and JSON. */
#ifndef COMMON_ESCAPE_H
#define COMMON_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Text escaping: printable ASCII and well-formed UTF-8 (except C1 controls and U+2028/9) pass
 * through; backslash becomes "\\"; \n \t \r become "\n" "\t" "\r"; any other control byte,
 * DEL, or byte that is not part of well-formed UTF-8 becomes "\xNN". Spaces pass unless
 * ESCAPE_SPACE is set (for column values that must stay one field: then " " is "\x20").
 * The output never holds a newline or an escape character. */
#define ESCAPE_SPACE 0x1

/* Escapes src[0..len) into dst (always NUL-terminated when dstsz > 0), cutting only between
 * whole escapes. Returns the length the full escape would need (like snprintf). */
size_t escape_text(char *dst, size_t dstsz, const char *src, size_t len, unsigned flags);

/* Writes src[0..len) escaped to f. */
void fput_escaped(FILE *f, const char *src, size_t len, unsigned flags);

/* Writes src[0..len) as a quoted JSON string. Well-formed UTF-8 passes (except U+2028/9,
 * escaped); control characters use \n \t \r \b \f or \u00XX; each byte that is not part of
 * well-formed UTF-8 becomes the lone surrogate \uDCXX (Python's "surrogateescape"), so a
 * consumer can recover the exact bytes. */
void fput_json_string(FILE *f, const char *src, size_t len);

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes at s are not one. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
