/* execsnoop: new processes. Successful execs are reported from sched_process_exec, where the
 * new image's argument area is in place (the kernel wrote it, so it is present in memory);
 * failed execs (-x) from the exec syscalls' exit, reading argv through the pointers saved at
 * entry (by then the kernel has touched those pages too). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "execsnoop.h"

#define EVENT_MAX_SIZE sizeof(struct exec_event)
#include "events.bpf.h"
#include "filter.bpf.h"

const volatile __u32 filter_ppid = 0;

static __always_inline bool exec_filtered(struct task_struct *task)
{
	if (!filter_current())
		return true;
	if (filter_ppid && BPF_CORE_READ(task, real_parent, tgid) != filter_ppid)
		return true;
	return false;
}

static __always_inline struct exec_event *exec_event_start(struct task_struct *task)
{
	struct exec_event *e = events_scratch();

	if (!e)
		return NULL;
	e->ts_ns = bpf_ktime_get_ns();
	ident_current(&e->id);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = 0;
	e->flags = 0;
	e->args_size = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void forget_exec_start(__u32 old_tid);

static __always_inline int on_exec(void *ctx, __u32 old_tid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long start, end, len;
	struct exec_event *e;

	forget_exec_start(old_tid);
	if (exec_filtered(task))
		return 0;
	if (filter_comm[0]) {
		char comm[16];

		bpf_get_current_comm(comm, sizeof(comm));
		if (!filter_comm_match(comm))
			return 0;
	}
	e = exec_event_start(task);
	if (!e)
		return 0;
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > EXEC_ARGS_MAX) {
		len = EXEC_ARGS_MAX;
		e->flags |= EXEC_ARGS_TRUNCATED;
	}
	barrier_var(len);
	if (len > EXEC_ARGS_MAX)
		len = EXEC_ARGS_MAX;
	if (len && bpf_probe_read_user(e->args, len, (void *)start) != 0) {
		e->flags |= EXEC_ARGS_UNREADABLE;
		len = 0;
	}
	e->args_size = len;
	events_emit(ctx, e, offsetof(struct exec_event, args) + len);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(ctx, old_pid);
}

/* Same hook for kernels whose BTF lacks the typed tracepoint (fallback chosen at run time). */
SEC("raw_tp/sched_process_exec")
int exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec(ctx, (__u32)ctx->args[1]);
}

/* --- failed execs (-x) --- */

struct exec_args {
	const char *filename;
	const char *const *argv;
};

/* Exec syscalls in flight (-x), by thread id. A plain hash, not LRU: an exec that finds it
 * full is counted (exec_start_full), where LRU would evict another thread's entry and lose
 * that failure silently. Entries go at the syscall's exit, or at sched_process_exec under
 * the thread id the exec started with (a non-leader thread's exec leaves with the leader's
 * id, and its exit would look up the wrong key). Preallocated: no allocation in tracing
 * programs on any kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct exec_args);
} exec_start SEC(".maps");

/* -x: user space sets it with the syscall programs. */
const volatile __u8 track_failed = 0;
/* Exec syscalls not followed because exec_start was full: their failure is not reported. */
__u64 exec_start_full = 0;

static __always_inline void forget_exec_start(__u32 old_tid)
{
	if (track_failed)
		bpf_map_delete_elem(&exec_start, &old_tid);
}

static __always_inline int on_enter(const char *filename, const char *const *argv)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args args = { .filename = filename, .argv = argv };

	if (exec_filtered((struct task_struct *)bpf_get_current_task()))
		return 0;
	if (bpf_map_update_elem(&exec_start, &tid, &args, BPF_ANY))
		__sync_fetch_and_add(&exec_start_full, 1);
	return 0;
}

/* The read's state lives in a per-CPU map value, for the reason bpf/path.bpf.h gives: the
 * verifier then prunes every way through one argument, and no bpf_loop callback keeps the
 * object from loading on kernels before 5.13. */
struct argv_read {
	const char *const *argv;
	__u32 off;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct argv_read);
} argv_read_state SEC(".maps");

static __always_inline long argv_read_one(__u32 i, struct argv_read *r, struct exec_event *e)
{
	const char *arg = NULL;
	char last = 0;
	long n;

	if (bpf_probe_read_user(&arg, sizeof(arg), &r->argv[i]) || !arg)
		return 1;
	if (r->off > EXEC_ARGS_MAX - EXEC_ARG_MAX) {
		e->flags |= EXEC_ARGS_TRUNCATED;
		return 1;
	}
	n = bpf_probe_read_user_str(&e->args[r->off & (EXEC_ARGS_MAX - 1)], EXEC_ARG_MAX, arg);
	if (n < 0) {
		e->flags |= EXEC_ARGS_UNREADABLE;
		return 1;
	}
	/* An empty string: older kernels (5.10 and 6.1 among them) return 0 for it, not 1 for
	 * its NUL, and do not write the NUL. */
	if (n == 0) {
		e->args[r->off & (EXEC_ARGS_MAX - 1)] = '\0';
		n = 1;
	}
	r->off += n;
	/* A full buffer: the argument was cut unless its NUL was the last byte read. */
	if (n == EXEC_ARG_MAX &&
	    (bpf_probe_read_user(&last, 1, arg + EXEC_ARG_MAX - 1) || last)) {
		e->flags |= EXEC_ARGS_TRUNCATED;
		return 1;
	}
	return 0;
}

/* Reads up to EXEC_FAILED_ARGS_MAX arguments into e->args; returns the bytes used. */
static __always_inline __u32 argv_read(const char *const *argv, struct exec_event *e)
{
	const char *arg = NULL;
	struct argv_read *r;
	__u32 zero = 0;
	int i;

	r = bpf_map_lookup_elem(&argv_read_state, &zero);
	if (!r)
		return 0;
	r->argv = argv;
	r->off = 0;
	for (i = 0; i < EXEC_FAILED_ARGS_MAX; i++)
		if (argv_read_one(i, r, e))
			break;
	/* Stopped by the limit with arguments left: say the list was cut. */
	if (i == EXEC_FAILED_ARGS_MAX &&
	    !bpf_probe_read_user(&arg, sizeof(arg), &argv[EXEC_FAILED_ARGS_MAX]) && arg)
		e->flags |= EXEC_ARGS_TRUNCATED;
	return r->off;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args *args = bpf_map_lookup_elem(&exec_start, &tid);
	__u32 off;
	struct exec_event *e;

	if (!args)
		return 0;
	/* Success was reported by sched_process_exec, with the new image's arguments. */
	if (ret >= 0)
		goto done;
	if (filter_comm[0]) {
		char comm[16];

		bpf_get_current_comm(comm, sizeof(comm));
		if (!filter_comm_match(comm))
			goto done;
	}
	e = exec_event_start((struct task_struct *)bpf_get_current_task());
	if (!e)
		goto done;
	e->ret = ret;
	off = argv_read(args->argv, e);
	/* No argv at all (execve(path, NULL, ...)): show the file name instead. */
	if (off == 0 && args->filename) {
		long n = bpf_probe_read_user_str(e->args, EXEC_ARG_MAX, args->filename);

		if (n > 0)
			off = n;
	}
	e->args_size = off;
	events_emit(ctx, e, offsetof(struct exec_event, args) + off);
done:
	bpf_map_delete_elem(&exec_start, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
