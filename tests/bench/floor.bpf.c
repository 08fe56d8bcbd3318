/* The benchmark's floor: programs that do nothing, attached to the same hooks a tool uses,
 * so the cost of reaching a BPF program at all is measured apart from the tool's work; and
 * the same programs plus one ring buffer record of the size the tool sends, with the tools'
 * wakeup policy (bpf/events.bpf.h), for tools that send every event to user space.
 * tests/bench/floor.c loads only the programs a scenario names. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define FLOOR_MAX_RECORD 8192

/* The only read-only variable: floor.c writes it at offset 0 of .rodata before load. */
const volatile struct {
	__s64 nr[10];      /* syscall numbers the sys_exit programs select (-1: unused) */
	__u64 record;      /* bytes per ring record */
	__u64 wakeup;      /* pending bytes at which a producer wakes the consumer */
} floor_cfg = { .nr = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 }, .record = 64,
		.wakeup = 128 * 1024 };

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[FLOOR_MAX_RECORD]);
} scratch SEC(".maps");

static __always_inline void record(void)
{
	__u32 zero = 0;
	void *buf = bpf_map_lookup_elem(&scratch, &zero);
	__u64 size = floor_cfg.record;

	if (!buf)
		return;
	if (size > FLOOR_MAX_RECORD)
		size = FLOOR_MAX_RECORD;
	bpf_ringbuf_output(&ring, buf, size,
			   bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA) >= floor_cfg.wakeup
				   ? BPF_RB_FORCE_WAKEUP
				   : BPF_RB_NO_WAKEUP);
}

/* The syscall number from the saved registers, as bpf/syscall.bpf.h reads it. */
static __always_inline bool nr_wanted(struct bpf_raw_tracepoint_args *ctx)
{
#if defined(__TARGET_ARCH_arm64)
	struct pt_regs___arm64 {
		int syscallno;
	} __attribute__((preserve_access_index)) *regs = (void *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, syscallno);
#else
	long nr = BPF_CORE_READ((struct pt_regs *)ctx->args[0], orig_ax);
#endif
	int i;

	for (i = 0; i < 10; i++)
		if (nr == floor_cfg.nr[i])
			return true;
	return false;
}

/* One program serves every classic tracepoint: user space attaches it to each one named. */
SEC("tracepoint")
int empty_tp(void *ctx)
{
	return 0;
}

/* Typed (BTF) tracepoints are verified against their target: one program per hook. */
#define EMPTY_TP_BTF(name)                \
	SEC("tp_btf/" #name)              \
	int btf_##name(void *ctx)         \
	{                                 \
		return 0;                 \
	}

EMPTY_TP_BTF(sched_process_exec)
EMPTY_TP_BTF(inet_sock_set_state)
EMPTY_TP_BTF(block_rq_issue)
EMPTY_TP_BTF(block_rq_complete)
EMPTY_TP_BTF(block_rq_insert)

#define EMPTY_RAW_TP(name)                \
	SEC("raw_tp/" #name)              \
	int raw_##name(void *ctx)         \
	{                                 \
		return 0;                 \
	}

EMPTY_RAW_TP(sched_process_exec)
EMPTY_RAW_TP(inet_sock_set_state)
EMPTY_RAW_TP(block_rq_issue)
EMPTY_RAW_TP(block_rq_complete)

/* sys_exit runs for every syscall: the floor filters by number, as the tools must. */
SEC("raw_tp/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	bool wanted = nr_wanted(ctx);

	/* Kept: the filter is part of the floor on this hook. */
	asm volatile("" : : "r"(wanted));
	return 0;
}

/* ---- the same plus one record per event ---- */

SEC("raw_tp/sys_exit")
int ring_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (nr_wanted(ctx))
		record();
	return 0;
}

SEC("raw_tp/sched_process_exec")
int ring_sched_process_exec(void *ctx)
{
	record();
	return 0;
}

/* One record per connection, as tcpconnlat sends: SYN_SENT (2) to ESTABLISHED (1). */
SEC("raw_tp/inet_sock_set_state")
int ring_inet_sock_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == 2 && ctx->args[2] == 1)
		record();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
