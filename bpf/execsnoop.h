/* execsnoop's event: the ABI between bpf/execsnoop.bpf.c and tools/execsnoop.c. */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"

#define EXEC_COMM_LEN 16
/* Bytes of the argument area captured (NUL-separated argv); longer argument lists are cut
 * and flagged EXEC_ARGS_TRUNCATED. A power of two. */
#define EXEC_ARGS_MAX 8192
/* Arguments read one by one for a failed exec (its new image never existed). */
#define EXEC_FAILED_ARGS_MAX 64
#define EXEC_ARG_MAX 1024

enum exec_flags {
	EXEC_ARGS_TRUNCATED = 1 << 0,
	EXEC_ARGS_UNREADABLE = 1 << 1, /* the argument memory could not be read */
};

struct exec_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns() */
	struct ident id;
	__u32 pid;
	__u32 ppid;      /* the real parent's thread group id */
	__u32 uid;
	__s32 ret;       /* 0, or -errno of a failed exec */
	__u32 args_size; /* bytes of args[] used */
	__u32 flags;     /* enum exec_flags */
	char comm[EXEC_COMM_LEN];
	char args[EXEC_ARGS_MAX];
};

#endif
