/* Which process and container an event came from, as the kernel sees it: ids only, embedded
 * in every tool's event (part of each event ABI). User space names them (common/ident.c,
 * common/container.c). */
#ifndef IDENT_H
#define IDENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct ident {
	__u64 cgroup_id; /* cgroup v2 id (the kernfs node id); 0 unknown */
	__u32 mntns;     /* mount namespace inode; 0 unknown (a socket's owner) */
	__u32 ns_pid;    /* thread group id in the task's own PID namespace; 0 unknown */
	__u32 ns_tid;    /* thread id in that namespace */
	__u32 pad;
};

#endif
