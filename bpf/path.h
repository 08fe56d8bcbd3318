/* Layout of a path gathered in the kernel by walking dentries (bpf/path.bpf.h): components
 * leaf first, each NUL-terminated; user space (common/pathbuf.c) joins them root first. */
#ifndef PATH_H
#define PATH_H

#define PATH_NAME_MAX 255               /* one component, without its NUL */
#define PATH_BUF_SIZE 4096              /* bytes of components; a power of two */
#define PATH_BUF_ALLOC (PATH_BUF_SIZE + PATH_NAME_MAX + 1)
#define PATH_MAX_DEPTH 40               /* steps: components and mounts crossed, + the root */

enum path_walk_flags {
	/* The walk stopped before the task's root: deeper than PATH_MAX_DEPTH steps (components
	 * and mount points crossed), longer than PATH_BUF_SIZE, a name not read whole, or a
	 * file outside the task's root (chroot, detached or internal mount, disconnected). */
	PATH_TRUNCATED = 1 << 0,
	PATH_OF_DIR = 1 << 1,    /* the walk is of the directory the name is relative to */
	PATH_FOUND = 1 << 2,     /* a walk was done (root itself has zero components) */
};

#endif
