/* The benchmark's floor: programs that do nothing, attached to the same hooks a tool uses,
 * so the cost of reaching a BPF program at all is measured apart from the tool's work.
 * tests/bench/floor.c loads only the programs a scenario names. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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

char LICENSE[] SEC("license") = "GPL";
