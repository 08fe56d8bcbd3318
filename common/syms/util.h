/* The symbolizer's lowest layer; not an API outside common/syms/. */
#ifndef COMMON_SYMS_UTIL_H
#define COMMON_SYMS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An opts field the caller's (possibly older, smaller) struct holds, else the fallback. */
#define SYMS_OPT(opts, field, fallback)                                                     \
	((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), field) + sizeof((opts)->field) \
		 ? (opts)->field                                                           \
		 : (fallback))

#define SYMS_DEFAULT_DEBUG_DIR "/usr/lib/debug"

#include <sys/stat.h>

/* Files a user controls are opened as if hostile: never blocking (a FIFO planted where a
 * file was expected would hang us), only regular files, of bounded size, and read with
 * read() rather than mapped (a file truncated while mapped kills the reader with SIGBUS). */
#define SYMS_MAX_ELF_SIZE      (4ull << 30)   /* binaries and debug files */
#define SYMS_MAX_PERF_MAP_SIZE (64ull << 20)  /* JIT perf maps: about a million lines */

enum syms_open_flags {
	/* The last component is a name a user chose (a file in a directory they can write):
	 * a symbolic link there is refused, not followed. */
	SYMS_OPEN_NOFOLLOW = 1u << 0,
};

/* Opens path read-only, close-on-exec and non-blocking; fails unless it is a regular file
 * of at most max_size bytes: -ELOOP (a link, with SYMS_OPEN_NOFOLLOW), -EINVAL (not a
 * regular file), -EFBIG (too large), or open's -errno. Sets *st (if not NULL). */
int syms_open_file(const char *path, unsigned int flags, uint64_t max_size, struct stat *st);

/* Is the file at path, or open as fd (-1: use path), with stat st, the one a mapping names
 * by device and inode (/proc/PID/maps)? maps names the inode that holds the data: on
 * overlayfs (container images; this project's qemu test bed) that is the layer's, on the
 * layer's device, while the same file reached through the overlay has the overlay's device
 * and, without the xino option, the same inode number. */
bool syms_same_file(const char *path, int fd, const struct stat *st, unsigned int dev_major,
		    unsigned int dev_minor, uint64_t ino);

/* Checks an open fd the same way (after opening through a path that may only be followed,
 * such as /proc/PID/exe). */
int syms_check_fd(int fd, uint64_t max_size, struct stat *st);

/* Reads an open file to its end (procfs files report size 0, so this grows a buffer) into a
 * malloc'd NUL-terminated buffer. */
int syms_read_fd(int fd, char **buf, size_t *len);
/* Same, failing with -EFBIG past max bytes (a file that grows while read). */
int syms_read_fd_max(int fd, size_t max, char **buf, size_t *len);
int syms_read_path(const char *path, char **buf, size_t *len);

/* Grows the array *p of *cap elements of elem bytes to hold need, doubling from first.
 * Returns 0 or -ENOMEM (on overflow too). */
int syms_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* Parses hex digits at p (before end) into *v. Returns the first byte after them, or NULL
 * when there are none or the value overflows 64 bits. */
const char *syms_hex_field(const char *p, const char *end, uint64_t *v);

#endif
