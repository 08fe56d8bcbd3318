/* Process filters shared by the tools: set before load from the common -p/-u/-c options
 * (common/bpfobj.c, bpfobj__apply_filters), so a filtered-out event costs one comparison. */
#ifndef FILTER_BPF_H
#define FILTER_BPF_H

#include <bpf/bpf_helpers.h>

#include "ident.bpf.h"

const volatile __u32 filter_pid = 0;
/* The tool's own process: its setup (opening tracefs files, reading /proc) is not what the
 * user asked to see. */
const volatile __u32 filter_self = 0;
const volatile __u32 filter_uid = (__u32)-1;
const volatile __u8 filter_cgroup = 0;
/* The same cgroup as an id and its depth below the cgroup v2 root, for sockets, whose owner
 * is not the task on the CPU (filter_sock). */
const volatile __u64 filter_cgroup_id = 0;
const volatile __u32 filter_cgroup_level = 0;
/* --mntns INODE (or a --container that only a mount namespace tells apart): 0 for any. */
const volatile __u32 filter_mntns = 0;
/* -n NAME: keep tasks whose comm contains this (empty: all). */
const volatile char filter_comm[16] = {};

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} filter_cgroup_map SEC(".maps");

/* Does the current task pass the -p/-u/-c/--mntns filters? */
static __always_inline bool filter_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (filter_pid && tgid != filter_pid)
		return false;
	if (tgid == filter_self)
		return false;
	if (filter_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != filter_uid)
		return false;
	if (filter_cgroup && bpf_current_task_under_cgroup(&filter_cgroup_map, 0) != 1)
		return false;
	if (filter_mntns && ident_current_mntns() != filter_mntns)
		return false;
	return true;
}

/* The user a socket belongs to (sk_uid): its creator's file system UID, inherited by the
 * sockets a listener accepts. */
static __always_inline __u32 sock_uid(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_uid.val);
}

/* Does a socket's owner pass the -u and --cgroup filters? Its user and cgroup are the ones
 * it was created with (the mount namespace and PID of its owner are not kept: --mntns and
 * -p apply to the task on the CPU where a tool has one). */
static __always_inline bool filter_sock(const struct sock *sk)
{
	if (filter_uid != (__u32)-1 && sock_uid(sk) != filter_uid)
		return false;
	if (!filter_cgroup)
		return true;
	return ident_cgroup_under(ident_sock_cgroup(sk), filter_cgroup_id, filter_cgroup_level);
}

/* Does comm contain filter_comm? A 16x16 scan, done only when -n was given. */
static __always_inline bool filter_comm_match(const char *comm)
{
	int i, j;

	if (!filter_comm[0])
		return true;
	for (i = 0; i < 16; i++) {
		for (j = 0; j + i < 16; j++) {
			if (!filter_comm[j])
				return true;
			if (comm[i + j] != filter_comm[j])
				break;
		}
		if (j + i == 16 && (j == 16 || !filter_comm[j]))
			return true;
		if (!comm[i])
			break;
	}
	return false;
}

#endif
