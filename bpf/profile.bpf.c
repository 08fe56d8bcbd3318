/* profile: on-CPU stacks sampled by a perf event on every CPU (hardware cycles, or the
 * cpu-clock software event), counted per (process image, kernel stack, user stack, comm) in
 * the kernel. The counts and stacks are double-buffered: user space flips `generation`
 * every second (with the events disabled, so no sample is in flight), then reads, symbolizes
 * and empties the buffer no sample writes to any more; kernel memory holds one second of
 * stacks, not the whole run. The only events sent announce each process image the first
 * time it is sampled, so that its memory maps are read while it still runs. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "profile.h"

#define EVENT_MAX_SIZE sizeof(struct profile_event)
#include "events.bpf.h"
#include "filter.bpf.h"
#include "hist.bpf.h"

#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17

/* Filters, set before load; rodata, so the verifier drops the branches of unused ones. */
const volatile __u8 want_kernel = 1;   /* -U clears */
const volatile __u8 want_user = 1;     /* -K clears */
const volatile __u8 include_idle = 0;  /* -I */
const volatile __u32 nr_pids = 0;      /* -p: thread group IDs */
const volatile __u32 pids[PROFILE_MAX_FILTER_IDS] = {};
const volatile __u32 nr_tids = 0;      /* -L: thread IDs */
const volatile __u32 tids[PROFILE_MAX_FILTER_IDS] = {};

/* Stacks by content: a hash with one stack per bucket, so two stacks whose hashes meet in
 * a bucket make the second fail with -EEXIST (counted, shown as a missed stack). One per
 * generation, each half of --stack-storage-size (set before load). */
#define STACK_MAP(name)                                                         \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                         \
		__uint(key_size, sizeof(__u32));                                \
		__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));    \
		__uint(max_entries, 8192);                                      \
	} name SEC(".maps")

/* Samples per key: one per generation, each half of --hash-storage-size. */
#define COUNTS_MAP(name)                                                        \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                                \
		__type(key, struct profile_key);                                \
		__type(value, __u64);                                           \
		__uint(max_entries, 20480);                                     \
	} name SEC(".maps")

STACK_MAP(stacks0);
STACK_MAP(stacks1);
COUNTS_MAP(counts0);
COUNTS_MAP(counts1);

/* Which buffer samples go to (its low bit). A map, not a global, so that the flip is one
 * bpf_map_update_elem() on any kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} generation SEC(".maps");

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

/* bpf_get_stackid() returns -EFAULT when it collected no frame: normal for the kernel stack
 * of a sample in user mode and the user stack of a kernel thread, a lost stack otherwise.
 * The other errors are always losses: a taken bucket (-EEXIST), no free entry (-ENOMEM). */
static __always_inline __s32 kernel_stack(struct bpf_perf_event_data *ctx, void *stacks)
{
	long id = bpf_get_stackid(ctx, stacks, 0);
	int in_user;

	if (id >= 0)
		return id;
	if (id == -EEXIST) {
		stat_inc(PROFILE_STAT_KERN_COLLISION);
	} else if (id == -ENOMEM) {
		stat_inc(PROFILE_STAT_KERN_NOMEM);
	} else if (id == -EFAULT) {
		in_user = sample_in_user(ctx);
		if (in_user != 0)
			return PROFILE_NO_STACK;
		stat_inc(PROFILE_STAT_KERN_FAULT);
	} else {
		stat_inc(PROFILE_STAT_KERN_OTHER);
	}
	return id;
}

static __always_inline __s32 user_stack(struct bpf_perf_event_data *ctx, void *stacks,
					bool has_mm)
{
	long id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);

	if (id >= 0)
		return id;
	if (id == -EEXIST) {
		stat_inc(PROFILE_STAT_USER_COLLISION);
	} else if (id == -ENOMEM) {
		stat_inc(PROFILE_STAT_USER_NOMEM);
	} else if (id == -EFAULT) {
		if (!has_mm)
			return PROFILE_NO_STACK;
		stat_inc(PROFILE_STAT_USER_FAULT);
	} else {
		stat_inc(PROFILE_STAT_USER_OTHER);
	}
	return id;
}

/* The image the current process runs, announcing it if it was not seen before. */
static __always_inline __u64 current_image(void *ctx, __u32 tgid, struct task_struct *task,
					   __u64 mm)
{
	struct image_id *known, id = {};
	struct profile_event *e;
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
	e = events_scratch();
	if (e) {
		e->image = id.image;
		e->pid = tgid;
		e->pad = 0;
		events_emit(ctx, e, sizeof(*e));
	}
	return id.image;
}

/* Counts the current sample in one generation's maps. Inlined once per generation, so
 * that every helper call gets a map the verifier knows. */
static __always_inline void record(struct bpf_perf_event_data *ctx, __u32 tgid, void *stacks,
				   void *counts)
{
	struct profile_key key = {};
	struct task_struct *task;
	__u64 *count;
	__u64 mm;

	key.pid = tgid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.kern_stack_id = want_kernel ? kernel_stack(ctx, stacks) : PROFILE_NO_STACK;
	key.user_stack_id = PROFILE_NO_STACK;
	if (want_user) {
		task = (struct task_struct *)bpf_get_current_task();
		/* No memory: a kernel thread (or a task past exit_mm()), no user stack. */
		mm = (__u64)BPF_CORE_READ(task, mm);
		key.user_stack_id = user_stack(ctx, stacks, mm != 0);
		if (mm && key.user_stack_id >= 0)
			key.image = current_image(ctx, tgid, task, mm);
	}

	count = map_lookup_or_try_init(counts, &key, &(__u64){ 0 });
	if (!count) {
		stat_inc(PROFILE_STAT_COUNTS_FULL);
		return;
	}
	__sync_fetch_and_add(count, 1);
}

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, zero = 0, *gen;

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

	gen = bpf_map_lookup_elem(&generation, &zero);
	if (gen && (*gen & 1))
		record(ctx, tgid, &stacks1, &counts1);
	else
		record(ctx, tgid, &stacks0, &counts0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
