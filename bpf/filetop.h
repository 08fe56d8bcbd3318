/* filetop's map layout: the ABI between bpf/filetop.bpf.c and tools/filetop.c. The kernel
 * keeps one counts map per generation; user space flips the generation each interval and
 * drains the map the programs no longer write (see filetop.bpf.c). */
#ifndef FILETOP_H
#define FILETOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"
#include "path.h"

#define FILETOP_COMM_LEN 16
#define FILETOP_NAME_LEN 256      /* a dentry name (NAME_MAX 255) and its NUL */
#define FILETOP_MAX_ENTRIES 10240 /* (thread, file) pairs counted per interval */
#define FILETOP_PREALLOC_PATHS 1024 /* paths kept per interval where maps are preallocated */

/* One thread's I/O on one file. The identity is the inode (dev, ino, generation), so a
 * closed fd reused for another file, or a struct file freed and reallocated within an
 * interval, never merges two files; the dentry tells hard links and pseudo files that share
 * one inode (eventfd, timerfd, ...) apart. */
struct filetop_key {
	__u64 ino;
	__u64 dentry; /* kernel address, an identity only: never printed */
	__u32 dev;    /* the superblock's s_dev, kernel encoding: major << 20 | minor */
	__u32 gen;    /* i_generation: an inode number reused by a new file is a new key */
	__u32 tid;
	__u32 pad;    /* zero: keys are compared bytewise */
};

struct filetop_value {
	__u64 reads;  /* calls that transferred at least one byte */
	__u64 writes;
	__u64 rbytes; /* bytes transferred (the calls' return values) */
	__u64 wbytes;
	struct ident id; /* the thread's, at its first I/O on the file in the interval */
	__u32 pid;
	__u16 mode;     /* the inode's i_mode (file type bits) */
	__u16 name_len; /* bytes of name[] used, with its NUL; 0 if unreadable */
	char comm[FILETOP_COMM_LEN];
	char name[FILETOP_NAME_LEN]; /* the dentry name when the entry was created */
};

/* -F: the file's path (bpf/path.h layout), keyed like the counts in a map of the same
 * generation. */
struct filetop_path {
	__u16 len;   /* bytes of buf[] used */
	__u16 depth; /* components */
	__u16 flags; /* enum path_walk_flags */
	__u16 pad;
	char buf[PATH_BUF_ALLOC];
};

#endif
