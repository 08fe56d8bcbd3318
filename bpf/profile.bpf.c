/* profile: on-CPU stacks sampled by a perf event on every CPU (hardware cycles, or the
 * cpu-clock software event). Each sample goes to user space through the event buffer: its
 * kernel stack, the user stack as the frame pointers walk it, the user registers and a copy
 * of the top of the user stack, from which user space unwinds by call-frame information
 * (common/unwind.c says why there) and counts identical stacks. Kernel memory is the event
 * buffer, not a table of stacks: it does not grow with the stacks a profile meets, and
 * nothing is lost to hash collisions. The first sample of each process image says so, and
 * wakes user space at once, so that its memory maps are read while it still runs. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "profile.h"

/* A page more than the largest sample: the verifier's bounds on the stack copy's offset
 * (copy_stack) are looser than the real ones by up to a page. */
#define EVENT_MAX_SIZE (sizeof(struct profile_sample) + PROFILE_STACK_PAGE)
#include "events.bpf.h"
#include "filter.bpf.h"

#define EFAULT 14

/* Filters, set before load; rodata, so the verifier drops the branches of unused ones. */
const volatile __u8 want_kernel = 1;   /* -U clears */
const volatile __u8 want_user = 1;     /* -K clears */
const volatile __u8 include_idle = 0;  /* -I */
const volatile bool regs_from_stack_top = false;  /* as before 5.15, where it has to */
const volatile __u32 nr_pids = 0;      /* -p: thread group IDs */
const volatile __u32 pids[PROFILE_MAX_FILTER_IDS] = {};
const volatile __u32 nr_tids = 0;      /* -L: thread IDs */
const volatile __u32 tids[PROFILE_MAX_FILTER_IDS] = {};

/* What a process image is: its memory (a new mm on every exec) and its start time (a new
 * process that reuses the pid, even at the same mm address). */
struct image_id {
	__u64 mm;
	__u64 start_ns;
	__u64 image;
};

/* The image last announced per thread group. An entry pushed out by the LRU only costs a
 * second announcement (user space then reads the maps again), never a wrong symbol. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct image_id);
	__uint(max_entries, 8192);
} images SEC(".maps");

/* Image IDs, unique without atomic fetch-and-add (BPF v3 instructions, Linux 5.12): a
 * per-CPU sequence number and the CPU's number. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} image_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

static __always_inline bool id_listed(const volatile __u32 *ids, __u32 n, __u32 id)
{
	for (int i = 0; i < PROFILE_MAX_FILTER_IDS; i++) {
		if (i >= n)
			break;
		if (ids[i] == id)
			return true;
	}
	return false;
}

#define X86_PTRACE_CS_SLOT 17

/* 1 if the sample interrupted user mode, 0 kernel mode, -1 unknown on this architecture.
 * The context's registers can only be read 8 bytes at a time. */
static __always_inline int sample_in_user(struct bpf_perf_event_data *ctx)
{
#if defined(__TARGET_ARCH_x86)
	/* The privilege level in the low bits of CS (x86 user_mode()). The context's registers
	 * are the fixed user ABI layout (uapi asm/ptrace.h: cs is the 18th 8-byte slot), read
	 * by slot and not through the kernel's struct pt_regs: Linux 6.9 (FRED) made `cs` a
	 * 2-byte union member there, and a CO-RE relocation against a header generated from a
	 * newer kernel would refuse the 8-byte load on every older one. */
	const __u64 *slots = (const __u64 *)ctx;
	__u64 cs = slots[X86_PTRACE_CS_SLOT];

	return (cs & 3) != 0;
#elif defined(__TARGET_ARCH_arm64)
	/* PSTATE.M is EL0t (0) in user mode (arm64 user_mode()). */
	return (ctx->regs.pstate & 0xf) == 0;
#else
	return -1;
#endif
}

/* bpf_get_stack() returns -EFAULT when it collected no frame: normal for the kernel stack
 * of a sample in user mode and the user stack of a kernel thread, a lost stack otherwise.
 * Returns the number of frames, PROFILE_NO_STACK, or -errno. */
static __always_inline __s32 kernel_stack(struct bpf_perf_event_data *ctx, __u64 *ips)
{
	long n = bpf_get_stack(ctx, ips, PROFILE_MAX_STACK_DEPTH * sizeof(__u64), 0);

	if (n >= 0)
		return n / sizeof(__u64);
	if (n == -EFAULT) {
		if (sample_in_user(ctx) != 0)
			return PROFILE_NO_STACK;
		stat_inc(PROFILE_STAT_KERN_FAULT);
	} else {
		stat_inc(PROFILE_STAT_KERN_OTHER);
	}
	return n;
}

static __always_inline __s32 user_stack(struct bpf_perf_event_data *ctx, __u64 *ips)
{
	long n = bpf_get_stack(ctx, ips, PROFILE_MAX_STACK_DEPTH * sizeof(__u64),
			       BPF_F_USER_STACK);

	if (n >= 0)
		return n / sizeof(__u64);
	stat_inc(n == -EFAULT ? PROFILE_STAT_USER_FAULT : PROFILE_STAT_USER_OTHER);
	return n;
}

/* Where the registers unwinding needs are in the user register layout (uapi
 * asm/ptrace.h), which the sample's context has and which the kernel's struct pt_regs
 * starts with on both architectures. Read by slot, not through a struct: the kernel's
 * struct changed on x86 in 6.9 (see sample_in_user). */
#if defined(__TARGET_ARCH_x86)
#define SLOT_IP 16
#define SLOT_SP 19
#define SLOT_FP 4   /* bp */
#elif defined(__TARGET_ARCH_arm64)
#define SLOT_IP 32  /* pc */
#define SLOT_SP 31
#define SLOT_FP 29
#define SLOT_LR 30
#endif

/* The kernel stack size of the architectures built for (x86-64 THREAD_SIZE_ORDER 2 and
 * arm64 THREAD_SHIFT 14, without KASAN, as distributions build them). */
#define KERNEL_STACK_SIZE (16 * 1024)

/* Where a task's user registers were saved on kernel entry, for kernels without
 * bpf_task_pt_regs (before 5.15): the top of its kernel stack, as task_pt_regs() computes
 * it on both architectures (x86-64 has no padding above them before FRED, 6.9). */
static __always_inline const __u64 *saved_regs_below_stack_top(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	void *stack = BPF_CORE_READ(task, stack);

	if (!stack)
		return NULL;
	return (const __u64 *)((__u8 *)stack + KERNEL_STACK_SIZE -
			       bpf_core_type_size(struct pt_regs));
}

/* The user registers: the sample's own when it interrupted user mode, else those saved on
 * kernel entry (bpf_task_pt_regs from 5.15, the top of the kernel stack before). False when
 * they are not known. */
static __always_inline bool user_regs(struct bpf_perf_event_data *ctx, __u64 *regs)
{
#if defined(SLOT_IP)
	const __u64 *slots;

	if (sample_in_user(ctx) == 1) {
		slots = (const __u64 *)ctx;
		regs[PROFILE_REG_IP] = slots[SLOT_IP];
		regs[PROFILE_REG_SP] = slots[SLOT_SP];
		regs[PROFILE_REG_FP] = slots[SLOT_FP];
#if defined(SLOT_LR)
		regs[PROFILE_REG_LR] = slots[SLOT_LR];
#endif
		return true;
	}
	if (!regs_from_stack_top &&
	    bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		slots = (const __u64 *)bpf_task_pt_regs(bpf_get_current_task_btf());
	else
		slots = saved_regs_below_stack_top();
	if (!slots)
		return false;
	if (bpf_probe_read_kernel(&regs[PROFILE_REG_IP], 8, &slots[SLOT_IP]) ||
	    bpf_probe_read_kernel(&regs[PROFILE_REG_SP], 8, &slots[SLOT_SP]) ||
	    bpf_probe_read_kernel(&regs[PROFILE_REG_FP], 8, &slots[SLOT_FP]))
		return false;
#if defined(SLOT_LR)
	if (bpf_probe_read_kernel(&regs[PROFILE_REG_LR], 8, &slots[SLOT_LR]))
		return false;
#endif
	return true;
#else
	return false;
#endif
}

/* Copies the user stack from sp up, a page at a time, until the copy is full or the next
 * page cannot be read (the end of the stack's mapping). Returns the bytes copied. */
static __always_inline __u32 copy_stack(__u8 *dst, __u64 sp)
{
	__u32 len = PROFILE_STACK_PAGE - (sp & (PROFILE_STACK_PAGE - 1));

	/* Proves 1 <= len <= one page to the verifier. */
	len = ((len - 1) & (PROFILE_STACK_PAGE - 1)) + 1;
	if (bpf_probe_read_user(dst, len, (void *)sp))
		return 0;
#pragma unroll
	for (int i = 0; i < PROFILE_STACK_BYTES / PROFILE_STACK_PAGE - 1; i++) {
		if (len > PROFILE_STACK_BYTES - PROFILE_STACK_PAGE)
			break;
		if (bpf_probe_read_user(dst + len, PROFILE_STACK_PAGE, (void *)(sp + len)))
			break;
		len += PROFILE_STACK_PAGE;
	}
	return len;
}

/* The image the current process runs; *fresh is set if it was not seen before. */
static __always_inline __u64 current_image(__u32 tgid, struct task_struct *task, __u64 mm,
					   bool *fresh)
{
	struct image_id *known, id = {};
	__u32 zero = 0;
	__u64 *seq;

	id.mm = mm;
	id.start_ns = BPF_CORE_READ(task, group_leader, start_time);
	known = bpf_map_lookup_elem(&images, &tgid);
	if (known && known->mm == id.mm && known->start_ns == id.start_ns)
		return known->image;
	seq = bpf_map_lookup_elem(&image_seq, &zero);
	if (!seq)
		return 0;
	*seq += 1;
	id.image = (*seq << 32) | bpf_get_smp_processor_id();
	/* Two CPUs may announce one image at once: harmless, user space reads it twice. */
	if (bpf_map_update_elem(&images, &tgid, &id, BPF_ANY)) {
		stat_inc(PROFILE_STAT_IMAGES_FULL);
		return 0;
	}
	*fresh = true;
	return id.image;
}

static __always_inline void record(struct bpf_perf_event_data *ctx, __u32 tgid)
{
	struct profile_sample *e = events_scratch();
	struct task_struct *task;
	bool fresh = false;
	__u64 mm;

	if (!e)
		return;
	e->image = 0;
	e->pid = tgid;
	e->flags = 0;
	e->stack_len = 0;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ident_current(&e->id);
	e->kern_n = want_kernel ? kernel_stack(ctx, e->kern) : PROFILE_NO_STACK;
	e->user_n = PROFILE_NO_STACK;
	if (want_user) {
		task = (struct task_struct *)bpf_get_current_task();
		/* No memory: a kernel thread (or a task past exit_mm()), no user stack. */
		mm = (__u64)BPF_CORE_READ(task, mm);
		if (mm) {
			e->user_n = user_stack(ctx, e->user);
			e->image = current_image(tgid, task, mm, &fresh);
			if (fresh)
				e->flags |= PROFILE_SAMPLE_NEW_IMAGE;
			__builtin_memset(e->regs, 0, sizeof(e->regs));
			if (user_regs(ctx, e->regs)) {
				e->flags |= PROFILE_SAMPLE_REGS;
				e->stack_len = copy_stack(e->stack, e->regs[PROFILE_REG_SP]);
				if (!e->stack_len)
					stat_inc(PROFILE_STAT_STACK_UNREADABLE);
			} else {
				stat_inc(PROFILE_STAT_NO_USER_REGS);
			}
		}
	}
	events_emit_wake(ctx, e, offsetof(struct profile_sample, stack) + e->stack_len, fresh);
}

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;

	/* Against the perf events' own counts, this tells user space how many samples the
	 * kernel never delivered (it skips the program while other BPF code runs on the CPU). */
	stat_inc(PROFILE_STAT_RUNS);
	/* The idle task is the only one with thread ID 0 (one per CPU). */
	if (tid == 0 && !include_idle)
		return 0;
	if (nr_pids && !id_listed(pids, nr_pids, tgid))
		return 0;
	if (nr_tids && !id_listed(tids, nr_tids, tid))
		return 0;
	/* -u, --cgroup, --mntns, --container; and never profile itself. */
	if (!filter_current())
		return 0;
	stat_inc(PROFILE_STAT_SAMPLES);
	record(ctx, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
