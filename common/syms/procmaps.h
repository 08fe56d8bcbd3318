/* A /proc/PID/maps parser. */
#ifndef COMMON_SYMS_PROCMAPS_H
#define COMMON_SYMS_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum procmap_flags {
	PROCMAP_READ    = 1u << 0,
	PROCMAP_WRITE   = 1u << 1,
	PROCMAP_EXEC    = 1u << 2,
	PROCMAP_SHARED  = 1u << 3,  /* 's' in perms; 'p' (private) otherwise */
	PROCMAP_FILE    = 1u << 4,  /* path names a file ("/..."), including /memfd: files */
	PROCMAP_DELETED = 1u << 5,  /* a " (deleted)" suffix was removed from path */
	PROCMAP_ANON    = 1u << 6,  /* no file: no path, [heap], [stack...], [anon:...] */
	PROCMAP_VDSO    = 1u << 7,  /* [vdso] */
	PROCMAP_PSEUDO  = 1u << 8,  /* any "[...]" name the kernel gives (vdso, vvar, heap, ...) */
};

/* One line of /proc/PID/maps. path is not NUL-terminated: it points into the parsed text,
 * path_len bytes long, without the " (deleted)" suffix; "" (length 0) for anonymous memory.
 * The kernel escapes a newline in a file name as "\012"; path keeps that spelling. */
struct procmap {
	uint64_t start, end;
	uint64_t offset;       /* file offset of start */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t flags;        /* enum procmap_flags */
	const char *path;
	size_t path_len;
};

/* Parses one line (a trailing '\n' is allowed). -EINVAL if it is not a maps line. */
int procmap__parse_line(const char *line, size_t len, struct procmap *map);

/* Called for each mapping; a non-zero return stops the walk and is returned. */
typedef int (*procmap_cb)(const struct procmap *map, void *ctx);

/* Parses every line of buf[0..len). Returns 0, cb's non-zero value, or -EINVAL at the first
 * malformed line. Pure: no I/O. */
int procmaps__parse(const char *buf, size_t len, procmap_cb cb, void *ctx);

/* Same, reading f to its end. -errno on a read error. */
int procmaps__parse_file(FILE *f, procmap_cb cb, void *ctx);

#endif
