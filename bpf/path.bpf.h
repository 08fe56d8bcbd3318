/* Absolute paths from the kernel's dentry and mount tree: canonical (symlinks, "." and ".."
 * already resolved by the lookup), relative to the current task's root (chroot and
 * container aware), gathered while the task is alive, so a process that exits right after
 * its open still gets its path. bpf_d_path() would do this but is not allowed in tracepoint
 * programs. */
#ifndef PATH_BPF_H
#define PATH_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "path.h"

struct path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;
	__u16 depth;
	__u16 flags;
};

/* One step up the tree. Returns 1 when the walk is done: complete when it reached the task's
 * root, and otherwise PATH_TRUNCATED set, whatever stopped it, so no path that stopped short
 * is shown as if it were whole. */
static __always_inline long path_walk_step(__u32 i, struct path_walk *w, char *buf)
{
	/* Locals, not w->field, inside BPF_CORE_READ: the macro would relocate w's own fields. */
	struct dentry *dentry = w->dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	const unsigned char *name;
	long len;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	/* The last step can only be the root: a component or a mount crossed here would need
	 * one more. */
	if (i == PATH_MAX_DEPTH - 1)
		goto cut;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		/* The top of a mount tree that is not the task's root: a file outside its chroot,
		 * on a detached mount or on an internal one (pipes, sockets). The kernel's getcwd
		 * calls such a path "(unreachable)". */
		if (mnt_parent == mnt)
			goto cut;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	/* A dentry that is its own parent below a mount's root: disconnected from the tree
	 * (a pseudo file's dentry, or one an export handle found). */
	if (dentry == parent)
		goto cut;
	if (w->off > PATH_BUF_SIZE - 1)
		goto cut;
	name = BPF_CORE_READ(dentry, d_name.name);
	len = bpf_probe_read_kernel_str(buf + (w->off & (PATH_BUF_SIZE - 1)), PATH_NAME_MAX + 1,
					name);
	if (len <= 0)
		goto cut;
	/* A name that filled the slot may have been longer than NAME_MAX (no file system
	 * lookup makes one, but nothing in the dcache forbids it): not kept half. */
	if (len == PATH_NAME_MAX + 1 && BPF_CORE_READ(dentry, d_name.len) > PATH_NAME_MAX)
		goto cut;
	w->off += len;
	w->depth++;
	w->dentry = parent;
	return 0;
cut:
	w->flags |= PATH_TRUNCATED;
	return 1;
}

/* The walk's state lives in a per-CPU map value, not on the stack. The verifier tracks
 * nothing it reads back from map memory, so both ways through a step (a component, or a
 * mount crossed) reach the next step in the same state and one is pruned: verifying the 40
 * steps stays linear. With the state on the stack `off` differs along every path, and
 * kernels before bpf_loop (5.17) ran into the 1M-instruction limit. bpf_loop itself cannot
 * be used in an object that must also load on those kernels: verifiers before 5.13 reject
 * the callback's address even in a branch CO-RE made dead. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_walk);
} path_walk_state SEC(".maps");

/* Writes the components of (dentry, vfsmnt) leaf first into buf (PATH_BUF_ALLOC bytes).
 * Returns the bytes used; *depth gets the component count, *flags PATH_* bits.
 * A subprogram, not inlined: the unrolled walk at each call site (cwd, dirfd, file; in
 * each program) made 1.5-2 MB objects, which libbpf reads and copies at open (peak RSS). */
static __noinline __u32 path_walk(struct dentry *dentry, struct vfsmount *vfsmnt, char *buf,
			     __u16 *depth, __u16 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path_walk *w;
	__u32 zero = 0;

	w = bpf_map_lookup_elem(&path_walk_state, &zero);
	if (!w) {
		*depth = 0;
		*flags |= PATH_TRUNCATED;
		return 0;
	}
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = container_of(vfsmnt, struct mount, mnt);
	w->root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	w->root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	w->off = 0;
	w->depth = 0;
	w->flags = *flags | PATH_FOUND;
	/* Unrolled: Debian 11's 5.10 rejects this loop's back-edge ("back-edge from insn"), and
	 * clang stops unrolling it by itself once the step grows. */
#pragma unroll
	for (int i = 0; i < PATH_MAX_DEPTH; i++)
		if (path_walk_step(i, w, buf))
			break;
	*depth = w->depth;
	*flags = w->flags;
	return w->off;
}

/* The file behind fd in the current task, or NULL. */
static __always_inline struct file *path_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	return file;
}

static __always_inline __u32 path_of_fd(int fd, char *buf, __u16 *depth, __u16 *flags)
{
	struct file *file = path_fd_file(fd);

	if (!file)
		return 0;
	return path_walk(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), buf,
			 depth, flags);
}

static __always_inline __u32 path_of_cwd(char *buf, __u16 *depth, __u16 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return path_walk(BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt), buf,
			 depth, flags);
}

#endif
