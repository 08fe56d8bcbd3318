/* tcpretrans: TCP retransmits (tcp:tcp_retransmit_skb) and, where the kernel lets us follow
 * tcp_send_loss_probe, tail loss probes: one event each, or counts per flow (-c). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tcpretrans.h"

#define EVENT_MAX_SIZE sizeof(struct tcpretrans_event)
#include "events.bpf.h"
#include "filter.bpf.h"
#include "inet.bpf.h"

/* -c: count per flow in `flows` instead of sending events. */
const volatile __u8 count_mode = 0;

/* Allocated as flows appear (no preallocation: the map is empty without -c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct inet_tuple);
	__type(value, struct tcpretrans_count);
} flows SEC(".maps");

/* -c: retransmits of flows that found the map full (reported at exit, never dropped
 * silently). */
__u64 flows_dropped = 0;

/* -c: totals per family and state (see tcpretrans.h), read by user space through the
 * skeleton's .bss. */
struct tcpretrans_count state_counts[2][TCPRETRANS_STATES] = {};

static __always_inline void count_flow(const struct sock *sk, __u32 type, __u32 segs)
{
	struct tcpretrans_count zero = {};
	struct tcpretrans_count *c;
	struct inet_tuple t;
	__u32 state = BPF_CORE_READ(sk, __sk_common.skc_state) & (TCPRETRANS_STATES - 1);
	__u32 v6 = inet_sk_family(sk) == INET_AF_INET6;

	if (type == TCPRETRANS_LOSS_PROBE) {
		__sync_fetch_and_add(&state_counts[v6][state].loss_probes, 1);
	} else {
		__sync_fetch_and_add(&state_counts[v6][state].retransmits, 1);
		__sync_fetch_and_add(&state_counts[v6][state].segs, segs);
	}
	inet_tuple_from_sk(sk, &t);
	c = bpf_map_lookup_elem(&flows, &t);
	if (!c) {
		zero.cgroup_id = ident_cgroup_id(ident_sock_cgroup(sk));
		bpf_map_update_elem(&flows, &t, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&flows, &t);
		if (!c) {
			__sync_fetch_and_add(&flows_dropped, 1);
			return;
		}
	}
	if (type == TCPRETRANS_LOSS_PROBE) {
		__sync_fetch_and_add(&c->loss_probes, 1);
	} else {
		__sync_fetch_and_add(&c->retransmits, 1);
		__sync_fetch_and_add(&c->segs, segs);
	}
}

static __always_inline int record(void *ctx, const struct sock *sk, __u32 type, __u32 segs)
{
	struct tcpretrans_event *e;

	if (!inet_family_wanted(inet_sk_family(sk)) || !filter_sock(sk))
		return 0;
	if (count_mode) {
		count_flow(sk, type, segs);
		return 0;
	}
	e = events_scratch();
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	/* The socket's owner, which is not the task on the CPU: its cgroup is all we know. */
	__builtin_memset(&e->id, 0, sizeof(e->id));
	e->id.cgroup_id = ident_cgroup_id(ident_sock_cgroup(sk));
	/* Whoever is on the CPU: a retransmit runs from a timer, from softirq on an incoming ACK,
	 * or in the owner's context only when it releases the socket lock. */
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->type = type;
	e->segs = segs;
	inet_tuple_from_sk(sk, &e->tuple);
	events_emit(ctx, e, sizeof(*e));
	return 0;
}

/* tcp_skb_pcount(): the segments a (possibly GSO) packet carries, as the kernel counts them
 * in RetransSegs and in the socket's total_retrans. */
static __always_inline __u32 skb_segs(const struct sk_buff *skb)
{
	const struct tcp_skb_cb *cb = (const void *)&skb->cb[0];
	__u16 segs = BPF_CORE_READ(cb, tcp_gso_segs);

	return segs ? segs : 1;
}

/* Kernels whose record has an err field also report attempts that sent nothing (err != 0:
 * the packet was still queued below TCP, or no memory); the kernel's counters skip those, and
 * so do we. Older kernels fire only after a successful retransmit and have no err.
 *
 * The record's own type exists only since the tracepoint got err (6.17 merge window; before,
 * an event of the tcp_event_sk_skb class: trace_event_raw_tcp_event_sk_skb, no err), so
 * headers generated from older kernels lack it: this local flavour names the one field used,
 * and libbpf matches it (suffix dropped) against the running kernel's type, or finds none. */
struct trace_event_raw_tcp_retransmit_skb___err {
	int err;
} __attribute__((preserve_access_index));

#define HAVE_RETRANSMIT_ERR                                                                  \
	bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb___err, err)

static __always_inline int on_retransmit(__u64 *ctx)
{
	const struct sock *sk = (const void *)ctx[0];
	const struct sk_buff *skb = (const void *)ctx[1];

	/* The third argument exists exactly when the record has err; otherwise the verifier
	 * never sees this read (the branch is dead on such kernels). */
	if (HAVE_RETRANSMIT_ERR && (int)ctx[2] != 0)
		return 0;
	return record(ctx, sk, TCPRETRANS_RETRANSMIT, skb_segs(skb));
}

SEC("tp_btf/tcp_retransmit_skb")
int retrans_btf(__u64 *ctx)
{
	return on_retransmit(ctx);
}

/* The same arguments, read the same way (record() and skb_segs() use probe reads). */
SEC("raw_tp/tcp_retransmit_skb")
int retrans_raw(__u64 *ctx)
{
	return on_retransmit(ctx);
}

/* The classic record starts with skbaddr and skaddr after the 8-byte common header in every
 * kernel that has the tracepoint, while its BTF type name changed (older kernels name it
 * after the tcp_event_sk_skb class it shared with tcp_send_reset): spell those two fields
 * out instead of relying on the name. */
struct tcp_retransmit_skb_record {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

SEC("tracepoint/tcp/tcp_retransmit_skb")
int retrans_tp(struct tcp_retransmit_skb_record *ctx)
{
	if (HAVE_RETRANSMIT_ERR &&
	    ((struct trace_event_raw_tcp_retransmit_skb___err *)ctx)->err != 0)
		return 0;
	return record(ctx, ctx->skaddr, TCPRETRANS_RETRANSMIT, skb_segs(ctx->skbaddr));
}

/* -l: no kernel has a tracepoint for tail loss probes; these follow the function that sends
 * them, where fentry or kprobes are allowed. Reported on entry: the kernel decided a probe was
 * due (it may still find nothing to send). */
SEC("fentry/tcp_send_loss_probe")
int BPF_PROG(tlp_fentry, struct sock *sk)
{
	return record(ctx, sk, TCPRETRANS_LOSS_PROBE, 1);
}

SEC("kprobe/tcp_send_loss_probe")
int BPF_KPROBE(tlp_kprobe, struct sock *sk)
{
	return record(ctx, sk, TCPRETRANS_LOSS_PROBE, 1);
}

char LICENSE[] SEC("license") = "GPL";
