/* opensnoop's event: the ABI between bpf/opensnoop.bpf.c and tools/opensnoop.c. */
#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"
#include "path.h"

#define OPEN_FNAME_MAX 4096
/* In path_flags, beside enum path_walk_flags: the name as passed was longer than fname. */
#define OPEN_FNAME_CUT (1 << 15)
#define OPEN_COMM_LEN 16

struct open_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns() at syscall exit */
	struct ident id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;        /* fd, or -errno */
	__s32 dfd;        /* openat's dirfd (AT_FDCWD = -100) */
	__u32 flags;
	__u32 mode;
	__u16 fname_len;  /* bytes of data[] used by the name as passed, with its NUL */
	__u16 path_len;   /* bytes of path[] used (-F) */
	__u16 path_depth;
	__u16 path_flags; /* enum path_walk_flags */
	char comm[OPEN_COMM_LEN];
	char fname[OPEN_FNAME_MAX];
	char path[PATH_BUF_ALLOC]; /* only sent with -F */
};

#endif
