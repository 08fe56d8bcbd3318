/* The symbolizer's lowest layer; not an API outside common/syms/. */
#ifndef COMMON_SYMS_UTIL_H
#define COMMON_SYMS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* An opts field the caller's (possibly older, smaller) struct holds, else the fallback. */
#define SYMS_OPT(opts, field, fallback)                                                     \
	((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), field) + sizeof((opts)->field) \
		 ? (opts)->field                                                           \
		 : (fallback))

#define SYMS_DEFAULT_DEBUG_DIR "/usr/lib/debug"

/* Reads an open file to its end (procfs files report size 0, so this grows a buffer) into a
 * malloc'd NUL-terminated buffer. */
int syms_read_fd(int fd, char **buf, size_t *len);
int syms_read_path(const char *path, char **buf, size_t *len);

/* Grows the array *p of *cap elements of elem bytes to hold need, doubling from first.
 * Returns 0 or -ENOMEM (on overflow too). */
int syms_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* Parses hex digits at p (before end) into *v. Returns the first byte after them, or NULL
 * when there are none or the value overflows 64 bits. */
const char *syms_hex_field(const char *p, const char *end, uint64_t *v);

#endif
