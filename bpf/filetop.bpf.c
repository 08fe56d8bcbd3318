/* filetop: calls and bytes of file reads and writes per thread and file, summed in the kernel
 * and drained by user space once per interval.
 *
 * Three ways in, one chosen at run time (tools/filetop.c), all ending in account():
 *   - fexit on vfs_read/vfs_write/vfs_readv/vfs_writev: the file and the return value in one
 *     program, run only for reads and writes;
 *   - kprobe + kretprobe on the same functions, the file kept per thread in between;
 *   - one raw sys_exit program for every syscall, filtered by number (bpf/syscall.bpf.h):
 *     the fd from the saved registers, resolved to its file as the call returns;
 *   - the syscall tracepoints of read, write, pread64, pwrite64, readv, writev, preadv,
 *     pwritev, preadv2 and pwritev2: the fd resolved to its file at entry (a later close or
 *     dup2 by another thread cannot change what the call reads), the bytes taken at exit.
 * Only calls that transferred at least one byte count, with the byte count they returned.
 *
 * Draining without loss: two counts maps, and active_gen (.bss) says which one the programs
 * write. Each interval user space flips active_gen and then waits until every program that
 * may have read the old value has finished (common/progsync.h: an RCU grace period, which
 * non-sleepable programs sit inside). The old map is then quiescent: it is read and emptied
 * whole while new counts land in the other one. A program reads active_gen once and uses the
 * counts and paths maps of that generation, so a row and its -F path never straddle two. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "filetop.h"
#include "filter.bpf.h"
#include "path.bpf.h"
#include "syscall.bpf.h"

#define S_IFMT 0170000
#define S_IFREG 0100000

/* -a: count sockets, pipes, character devices... too (default: regular files only). */
const volatile __u8 all_files = 0;
/* -F: gather each file's path when its row is created. */
const volatile __u8 full_path = 0;

/* The generation programs count into (bit 0); written by user space through the mmapped
 * .bss, never by a program. */
__u32 active_gen = 0;
/* Transfers not counted because the counts map of the interval was full. */
__u64 dropped = 0;

/* Entries are allocated when a (thread, file) pair first shows up in an interval: memory
 * follows what is in use instead of max_entries x ~330 bytes up front (per map, twice). */
struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FILETOP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filetop_key);
	__type(value, struct filetop_value);
};

struct counts_map counts0 SEC(".maps");
struct counts_map counts1 SEC(".maps");

/* Paths are 4 KiB each: user space shrinks these to one entry unless -F. */
struct paths_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FILETOP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filetop_key);
	__type(value, struct filetop_path);
};

struct paths_map paths0 SEC(".maps");
struct paths_map paths1 SEC(".maps");

/* A call in progress (kprobe and tracepoint paths): what entry learned about the file. */
struct pending {
	struct filetop_key key;
	__u64 mnt;    /* struct vfsmount *, for -F */
	__s32 nr;     /* syscall number at entry: an exit of another syscall does not match */
	__u16 mode;
	__u8 write;
	__u8 pad;
};

/* Keyed by thread id: a thread is in one read or write at a time, so an entry whose return
 * was never seen (kretprobe instances exhausted) is replaced by the thread's next call. A
 * plain hash, preallocated: a call that finds it full is counted (inflight_full), where LRU
 * would have evicted another thread's call in flight without a word. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending);
} inflight SEC(".maps");

/* Reads and writes not counted because `inflight` was full (reported at exit). */
__u64 inflight_full = 0;

struct scratch {
	struct filetop_value value;
	struct filetop_path path;
};

/* A new row and its path are built here: together they exceed the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* The identity of file in p; false if it is not to be counted (not regular, without -a). */
static __always_inline bool identify(struct file *file, struct pending *p)
{
	struct inode *inode;
	__u16 mode;

	if (!file)
		return false;
	inode = BPF_CORE_READ(file, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	if (!all_files && (mode & S_IFMT) != S_IFREG)
		return false;
	p->key.ino = BPF_CORE_READ(inode, i_ino);
	p->key.dentry = (__u64)BPF_CORE_READ(file, f_path.dentry);
	p->key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	p->key.gen = BPF_CORE_READ(inode, i_generation);
	p->key.tid = (__u32)bpf_get_current_pid_tgid();
	p->key.pad = 0;
	p->mnt = (__u64)BPF_CORE_READ(file, f_path.mnt);
	p->mode = mode;
	p->nr = -1;
	p->pad = 0;
	return true;
}

static __always_inline void new_row(struct filetop_value *v, const struct pending *p)
{
	struct dentry *dentry = (struct dentry *)p->key.dentry;
	long len;

	v->reads = 0;
	v->writes = 0;
	v->rbytes = 0;
	v->wbytes = 0;
	v->pid = bpf_get_current_pid_tgid() >> 32;
	ident_current(&v->id);
	v->mode = p->mode;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	len = bpf_probe_read_kernel_str(v->name, sizeof(v->name), BPF_CORE_READ(dentry, d_name.name));
	v->name_len = len > 0 ? len : 0;
}

static __always_inline void count_in(void *counts, void *paths, const struct pending *p, long ret)
{
	struct filetop_value *v;
	struct scratch *s;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(counts, &p->key);
	if (!v) {
		s = bpf_map_lookup_elem(&scratch_map, &zero);
		if (!s)
			return;
		new_row(&s->value, p);
		if (bpf_map_update_elem(counts, &p->key, &s->value, BPF_NOEXIST) == 0 && full_path) {
			s->path.flags = 0;
			s->path.len = path_walk((struct dentry *)p->key.dentry,
						(struct vfsmount *)p->mnt, s->path.buf,
						&s->path.depth, &s->path.flags);
			bpf_map_update_elem(paths, &p->key, &s->path, BPF_ANY);
		}
		v = bpf_map_lookup_elem(counts, &p->key);
		if (!v) {
			__sync_fetch_and_add(&dropped, 1);
			return;
		}
	}
	/* Plain adds: a row belongs to one thread, which is in one call at a time, and user
	 * space only reads the generation no program writes any more. */
	if (p->write) {
		v->writes++;
		v->wbytes += ret;
	} else {
		v->reads++;
		v->rbytes += ret;
	}
}

static __always_inline void account(const struct pending *p, long ret)
{
	if (ret <= 0)
		return;
	/* One read of the generation for both maps; see the top of this file. */
	if (*(volatile __u32 *)&active_gen & 1)
		count_in(&counts1, &paths1, p, ret);
	else
		count_in(&counts0, &paths0, p, ret);
}

/* fexit: file and result together. */
static __always_inline int on_return(struct file *file, long ret, __u8 write)
{
	struct pending p;

	if (ret <= 0 || !filter_current())
		return 0;
	if (!identify(file, &p))
		return 0;
	p.write = write;
	account(&p, ret);
	return 0;
}

/* kprobe and syscall entry: remember the file until the call returns. A call that is not
 * counted clears what an earlier call of the thread may have left behind (a return that was
 * never seen), so its return cannot be charged to that call's file. */
static __always_inline int on_call(struct file *file, __u8 write, __s32 nr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending p;

	if (!identify(file, &p)) {
		if (nr < 0)
			bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	p.write = write;
	p.nr = nr;
	if (bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY))
		__sync_fetch_and_add(&inflight_full, 1);
	return 0;
}

/* kretprobe and syscall exit. */
static __always_inline int on_done(long ret, __s32 nr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *pp, p;

	pp = bpf_map_lookup_elem(&inflight, &tid);
	if (!pp)
		return 0;
	p = *pp;
	bpf_map_delete_elem(&inflight, &tid);
	if (p.nr != nr)
		return 0;
	account(&p, ret);
	return 0;
}

/* ---- fexit ---- */

SEC("fexit/vfs_read")
int BPF_PROG(fexit_vfs_read, struct file *file, char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	return on_return(file, ret, 0);
}

SEC("fexit/vfs_write")
int BPF_PROG(fexit_vfs_write, struct file *file, const char *buf, size_t count, loff_t *pos,
	     ssize_t ret)
{
	return on_return(file, ret, 1);
}

SEC("fexit/vfs_readv")
int BPF_PROG(fexit_vfs_readv, struct file *file, const struct iovec *vec, unsigned long vlen,
	     loff_t *pos, rwf_t flags, ssize_t ret)
{
	return on_return(file, ret, 0);
}

SEC("fexit/vfs_writev")
int BPF_PROG(fexit_vfs_writev, struct file *file, const struct iovec *vec, unsigned long vlen,
	     loff_t *pos, rwf_t flags, ssize_t ret)
{
	return on_return(file, ret, 1);
}

/* ---- kprobes: user space attaches each to vfs_read/vfs_readv (or the write pair) ---- */

SEC("kprobe/vfs_read")
int BPF_KPROBE(kprobe_read, struct file *file)
{
	if (!filter_current())
		return 0;
	return on_call(file, 0, -1);
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(kprobe_write, struct file *file)
{
	if (!filter_current())
		return 0;
	return on_call(file, 1, -1);
}

SEC("kretprobe/vfs_read")
int BPF_KRETPROBE(kretprobe_rw, long ret)
{
	return on_done(ret, -1);
}

/* ---- syscall tracepoints: user space attaches each to the ten syscalls ---- */

/* The records as the tracepoints' format files describe them (syscalls/sys_enter_read/format):
 * the syscall number is an int at offset 8, arguments and return value from offset 16. */
struct sys_enter_rec {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_rec {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_enter_read")
int sys_enter_rd(struct sys_enter_rec *ctx)
{
	if (!filter_current())
		return 0;
	return on_call(path_fd_file((int)ctx->args[0]), 0, ctx->nr);
}

SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_wr(struct sys_enter_rec *ctx)
{
	if (!filter_current())
		return 0;
	return on_call(path_fd_file((int)ctx->args[0]), 1, ctx->nr);
}

SEC("tracepoint/syscalls/sys_exit_read")
int sys_exit_rw(struct sys_exit_rec *ctx)
{
	return on_done(ctx->ret, ctx->nr);
}

/* ---- raw sys_exit: user space sets the numbers of the ten calls ---- */

#define RW_NCALLS 10
const volatile __s32 rw_nr[RW_NCALLS] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
/* Bit i set: rw_nr[i] writes. */
const volatile __u32 rw_write_mask = 0;

SEC("raw_tp/sys_exit")
int sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long ret = (long)ctx->args[1], nr;
	struct pending p;
	int i, which = -1;

	/* Most syscalls end here: only a transfer of at least one byte counts. */
	if (ret <= 0)
		return 0;
	nr = syscall_nr(regs);
	if (nr < 0)
		return 0;
	for (i = 0; i < RW_NCALLS; i++) {
		if (nr == rw_nr[i]) {
			which = i;
			break;
		}
	}
	if (which < 0 || syscall_compat(regs) || !filter_current())
		return 0;
	if (!identify(path_fd_file((int)PT_REGS_PARM1_CORE_SYSCALL(regs)), &p))
		return 0;
	p.write = (rw_write_mask >> which) & 1;
	account(&p, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
