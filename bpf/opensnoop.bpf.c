/* opensnoop: file opens through open, openat and openat2, reported at syscall exit. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "opensnoop.h"

#define EVENT_MAX_SIZE sizeof(struct open_event)
#include "events.bpf.h"
#include "filter.bpf.h"
#include "path.bpf.h"
#include "syscall.bpf.h"

#define AT_FDCWD -100

const volatile __u32 filter_tid = 0;
const volatile __u8 failed_only = 0;
const volatile __u8 full_path = 0;

struct open_args {
	const char *fname;
	__s32 dfd;
	__u32 flags;
	__u32 mode;
};

/* Entry arguments keyed by thread id, until the matching exit (which runs even for a thread
 * killed in the call). Allocated on use: memory follows the number of opens in flight, and
 * an open that finds the map full is counted as lost rather than evicting another's. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct open_args);
} start SEC(".maps");

/* Set by user space where bpf_task_pt_regs() works in tracepoint programs (5.15+): the exit
 * program then reads the call's arguments from the task's saved registers, and no entry
 * program runs at all: one program and no map operation per open. */
const volatile __u8 args_at_exit = 0;

/* This architecture's numbers of open, openat and openat2 (-1: no such call), for the raw
 * sys_exit program. */
const volatile __s32 nr_open = -1;
const volatile __s32 nr_openat = -1;
const volatile __s32 nr_openat2 = -1;

static __always_inline bool open_wanted(__u32 tid)
{
	if (filter_tid && tid != filter_tid)
		return false;
	if (!filter_current())
		return false;
	if (filter_comm[0]) {
		char comm[16];

		bpf_get_current_comm(comm, sizeof(comm));
		if (!filter_comm_match(comm))
			return false;
	}
	return true;
}

static __always_inline int on_enter(const char *fname, int dfd, __u64 flags, __u64 mode)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct open_args args;

	if (!open_wanted(tid))
		return 0;
	args.fname = fname;
	args.dfd = dfd;
	args.flags = flags;
	args.mode = mode;
	if (bpf_map_update_elem(&start, &tid, &args, BPF_ANY))
		events_count_lost();
	return 0;
}

static __always_inline void emit_open(void *ctx, long ret, const struct open_args *args)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct open_event *e;
	__u64 size;
	long len;

	if (failed_only && ret >= 0)
		return;
	e = events_scratch();
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	ident_current(&e->id);
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->dfd = args->dfd;
	e->flags = args->flags;
	e->mode = args->mode;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* Read at exit: the kernel has copied the name by now, so its page is present even when
	 * it sits in memory the process had not touched before the call. */
	len = bpf_probe_read_user_str(e->fname, sizeof(e->fname), args->fname);
	if (len < 0)
		len = 0;
	e->fname_len = len;
	e->path_len = 0;
	e->path_depth = 0;
	e->path_flags = 0;
	size = offsetof(struct open_event, fname) + (len & (OPEN_FNAME_MAX - 1));
	if (len == OPEN_FNAME_MAX) {
		char more = 0;

		/* A name that filled the buffer may go on (the kernel refuses it, ENAMETOOLONG):
		 * one byte more tells, and the name shown is marked cut. */
		bpf_probe_read_user(&more, 1, args->fname + OPEN_FNAME_MAX - 1);
		if (more)
			e->path_flags |= OPEN_FNAME_CUT;
		size = offsetof(struct open_event, path);
	}
	if (full_path) {
		__u32 n = 0;

		if (ret >= 0) {
			n = path_of_fd(ret, e->path, &e->path_depth, &e->path_flags);
		} else if (len > 0 && e->fname[0] != '/') {
			/* A failed open has no file: send the directory the name is relative to. */
			e->path_flags |= PATH_OF_DIR;
			if (args->dfd == AT_FDCWD)
				n = path_of_cwd(e->path, &e->path_depth, &e->path_flags);
			else
				n = path_of_fd(args->dfd, e->path, &e->path_depth, &e->path_flags);
		}
		e->path_len = n;
		size = offsetof(struct open_event, path) + n;
	}
	events_emit(ctx, e, size);
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args *args;

	args = bpf_map_lookup_elem(&start, &tid);
	if (!args)
		return 0;
	emit_open(ctx, ret, args);
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

enum open_call { CALL_OPEN, CALL_OPENAT, CALL_OPENAT2 };

/* The arguments as the syscall got them, from the registers saved at entry: the kernel does
 * not change them (only the return value register). */
static __always_inline struct pt_regs *current_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline int on_exit_regs(void *ctx, struct pt_regs *regs, long ret,
					enum open_call call)
{
	struct open_args args = {};

	if (!open_wanted((__u32)bpf_get_current_pid_tgid()))
		return 0;
	if (call == CALL_OPEN) {
		args.fname = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		args.dfd = AT_FDCWD;
		args.flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
		args.mode = PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else {
		args.dfd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
		args.fname = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		if (call == CALL_OPENAT) {
			args.flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
			args.mode = PT_REGS_PARM4_CORE_SYSCALL(regs);
		} else {
			struct open_how how = {};

			bpf_probe_read_user(&how, sizeof(how),
					    (void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
			args.flags = how.flags;
			args.mode = how.mode;
		}
	}
	emit_open(ctx, ret, &args);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], AT_FDCWD, ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (int)ctx->args[0], ctx->args[2], ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return on_enter((const char *)ctx->args[1], (int)ctx->args[0], how.flags, how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx)
{
	if (args_at_exit)
		return on_exit_regs(ctx, current_regs(), ctx->ret, CALL_OPEN);
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	if (args_at_exit)
		return on_exit_regs(ctx, current_regs(), ctx->ret, CALL_OPENAT);
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	if (args_at_exit)
		return on_exit_regs(ctx, current_regs(), ctx->ret, CALL_OPENAT2);
	return on_exit(ctx, ctx->ret);
}

/* One program for all three calls (and every other syscall, filtered by number first): see
 * bpf/syscall.bpf.h for why. */
SEC("raw_tp/sys_exit")
int exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = syscall_nr(regs);
	enum open_call call;

	if (nr < 0)
		return 0;
	if (nr == nr_openat)
		call = CALL_OPENAT;
	else if (nr == nr_open)
		call = CALL_OPEN;
	else if (nr == nr_openat2)
		call = CALL_OPENAT2;
	else
		return 0;
	if (syscall_compat(regs))
		return 0;
	return on_exit_regs(ctx, regs, (long)ctx->args[1], call);
}

char LICENSE[] SEC("license") = "GPL";
