/* Absolute paths from the kernel's dentry and mount tree: canonical (symlinks, "." and ".."
 * already resolved by the lookup), relative to the current task's root (chroot and
 * container aware), gathered while the task is alive, so a process that exits right after
 * its open still gets its path. bpf_d_path() would do this but is not allowed in tracepoint
 * programs. */
#ifndef PATH_BPF_H
#define PATH_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "loop.bpf.h"
#include "path.h"

struct path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	char *buf;
	__u32 off;
	__u16 depth;
	__u16 flags;
};

/* One step up the tree. Returns 1 when the walk is done. */
static __always_inline long path_walk_step(__u32 i, struct path_walk *w)
{
	/* Locals, not w->field, inside BPF_CORE_READ: the macro would relocate w's own fields. */
	struct dentry *dentry = w->dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	const unsigned char *name;
	long len;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		/* The root of the mount tree: nothing above it. */
		if (mnt_parent == mnt)
			return 1;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	if (w->off > PATH_BUF_SIZE - 1 || i == PATH_MAX_DEPTH - 1) {
		w->flags |= PATH_TRUNCATED;
		return 1;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	len = bpf_probe_read_kernel_str(w->buf + (w->off & (PATH_BUF_SIZE - 1)), PATH_NAME_MAX + 1,
					name);
	if (len <= 0)
		return 1;
	w->off += len;
	w->depth++;
	w->dentry = parent;
	return 0;
}

static long path_walk_cb(__u32 i, void *ctx)
{
	return path_walk_step(i, ctx);
}

/* Writes the components of (dentry, vfsmnt) leaf first into buf (PATH_BUF_ALLOC bytes).
 * Returns the bytes used; *depth gets the component count, *flags PATH_* bits. */
static __always_inline __u32 path_walk(struct dentry *dentry, struct vfsmount *vfsmnt, char *buf,
				       __u16 *depth, __u16 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path_walk w = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.buf = buf,
		.flags = *flags | PATH_FOUND,
	};

	/* bpf_loop (5.17+) verifies the step once; the unrolled-by-verifier loop of older
	 * kernels costs hundreds of thousands of verifier steps at load. */
	if (HAVE_BPF_LOOP) {
		bpf_loop(PATH_MAX_DEPTH, path_walk_cb, &w, 0);
	} else {
		for (int i = 0; i < PATH_MAX_DEPTH; i++)
			if (path_walk_step(i, &w))
				break;
	}
	*depth = w.depth;
	*flags = w.flags;
	return w.off;
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
