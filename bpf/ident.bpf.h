/* The identity of the current task, a task, or a socket's owner (bpf/ident.h), read with
 * CO-RE so one object serves every kernel. Only ids: names are found in user space. */
#ifndef IDENT_BPF_H
#define IDENT_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "ident.h"

/* The cgroup v2 id a kernel without a usable socket cgroup reports: the root's. */
#define IDENT_ROOT_CGROUP_ID 1

/* Linux 5.10's sock_cgroup_data: a union whose val is the cgroup v2 pointer, or, once
 * net_cls/net_prio (cgroup v1) wrote their ids into the socket, a tagged value (low bits
 * set) and the v2 cgroup is lost: the kernel then answers the v2 root. Commit 8520e224f547
 * ("bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode", 5.15) made it a struct with
 * a plain `cgroup` pointer. */
struct sock_cgroup_data___val {
	__u64 val;
};

struct sock___val {
	struct sock_cgroup_data___val sk_cgrp_data;
};

/* The 5.15+ layout as a flavour too, so headers generated from older kernels build. */
struct sock_cgroup_data___cg {
	struct cgroup *cgroup;
};

struct sock___cg {
	struct sock_cgroup_data___cg sk_cgrp_data;
};

/* Before commit 7f203bc89eb6 ("cgroup: Replace cgroup->ancestor_ids[] with ->ancestors[]",
 * 5.19), a cgroup kept its ancestors' ids. */
struct cgroup___ids {
	int level;
	__u64 ancestor_ids[];
};

/* Since then (named as a flavour so headers generated from older kernels build). */
struct cgroup___ancestors {
	int level;
	struct cgroup *ancestors[];
};

/* The number of a struct pid in its own namespace (the deepest one, at pid->level). */
static __always_inline __u32 ident_pid_nr(const struct pid *p)
{
	unsigned int level;
	int nr = 0;

	if (!p)
		return 0;
	level = BPF_CORE_READ(p, level);
	bpf_probe_read_kernel(&nr, sizeof(nr),
			      (const void *)p + bpf_core_field_offset(struct pid, numbers) +
				      (__u64)(level & 63) * bpf_core_type_size(struct upid) +
				      bpf_core_field_offset(struct upid, nr));
	return (__u32)nr;
}

/* Everything but the cgroup: the namespaced ids and the mount namespace of task. */
static __always_inline void ident_task_ns(struct ident *id, const struct task_struct *task)
{
	id->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	id->ns_tid = ident_pid_nr(BPF_CORE_READ(task, thread_pid));
	id->ns_pid = ident_pid_nr(BPF_CORE_READ(task, group_leader, thread_pid));
	id->pad = 0;
}

static __always_inline void ident_current(struct ident *id)
{
	id->cgroup_id = bpf_get_current_cgroup_id();
	ident_task_ns(id, (const struct task_struct *)bpf_get_current_task());
}

static __always_inline __u32 ident_current_mntns(void)
{
	const struct task_struct *task = (const struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* The cgroup v2 a socket was charged to when its owner created it (the owner's, not the
 * task's on the CPU), or NULL when the kernel keeps none. */
static __always_inline struct cgroup *ident_sock_cgroup(const struct sock *sk)
{
	if (!bpf_core_field_exists(struct sock, sk_cgrp_data))
		return NULL;
	if (bpf_core_field_exists(struct sock_cgroup_data___cg, cgroup))
		return BPF_CORE_READ((const struct sock___cg *)sk, sk_cgrp_data.cgroup);
	{
		__u64 v = BPF_CORE_READ((const struct sock___val *)sk, sk_cgrp_data.val);

		return (v & 3) ? NULL : (struct cgroup *)(unsigned long)v;
	}
}

static __always_inline __u64 ident_cgroup_id(const struct cgroup *cg)
{
	return cg ? BPF_CORE_READ(cg, kn, id) : IDENT_ROOT_CGROUP_ID;
}

/* Is cg, or one of its ancestors, the cgroup `id` at depth `level`? */
static __always_inline bool ident_cgroup_under(const struct cgroup *cg, __u64 id, __u32 level)
{
	struct cgroup *a = NULL;
	__u64 got = 0;

	if (!cg)
		return level == 0 && id == IDENT_ROOT_CGROUP_ID;
	if ((__u32)BPF_CORE_READ(cg, level) < level)
		return false;
	level &= 255;
	if (bpf_core_field_exists(struct cgroup___ancestors, ancestors)) {
		bpf_probe_read_kernel(&a, sizeof(a),
				      (const void *)cg +
					      bpf_core_field_offset(struct cgroup___ancestors, ancestors) +
					      (__u64)level * sizeof(a));
		got = ident_cgroup_id(a);
	} else {
		bpf_probe_read_kernel(&got, sizeof(got),
				      (const void *)cg +
					      bpf_core_field_offset(struct cgroup___ids, ancestor_ids) +
					      (__u64)level * sizeof(got));
	}
	return got == id;
}

#endif
