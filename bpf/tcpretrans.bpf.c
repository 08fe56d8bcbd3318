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

static __always_inline void add_count(struct tcpretrans_count *c, __u32 type, __u32 segs,
				      int err)
{
	if (type == TCPRETRANS_LOSS_PROBE) {
		__sync_fetch_and_add(&c->loss_probes, 1);
	} else {
		__sync_fetch_and_add(&c->retransmits, 1);
		__sync_fetch_and_add(&c->segs, segs);
		if (err)
			__sync_fetch_and_add(&c->failed, 1);
	}
}

static __always_inline void count_flow(const struct sock *sk, const struct inet_tuple *tp,
				       __u32 tcp_state, __u32 type, __u32 segs, int err)
{
	struct tcpretrans_count zero = {};
	struct tcpretrans_count *c;
	struct inet_tuple t = *tp;

	add_count(&state_counts[tp->family == INET_AF_INET6][tcp_state & (TCPRETRANS_STATES - 1)],
		  type, segs, err);
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
	add_count(c, type, segs, err);
}

/* req: a SYN-ACK sent again for a connection not accepted yet (tcp:tcp_retransmit_synack).
 * sk is then the listener, whose owner and cgroup the filters see; the request socket has
 * the connection's addresses and state (NEW_SYN_RECV). */
static __always_inline int record(void *ctx, const struct sock *sk,
				  const struct request_sock *req, __u32 type, __u32 segs, int err)
{
	struct tcpretrans_event *e;
	struct inet_tuple t;
	__u32 family, state;

	family = req ? BPF_CORE_READ(req, __req_common.skc_family) : inet_sk_family(sk);
	if (!inet_family_wanted(family) || !filter_sock(sk))
		return 0;
	if (req)
		inet_tuple_from_req(req, &t);
	else
		inet_tuple_from_sk(sk, &t);
	state = req ? BPF_CORE_READ(req, __req_common.skc_state)
		    : BPF_CORE_READ(sk, __sk_common.skc_state);
	if (count_mode) {
		count_flow(sk, &t, state, type, segs, err);
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
	e->state = state;
	e->type = type;
	e->segs = segs;
	e->err = err;
	e->flags = req ? TCPRETRANS_F_SYNACK : 0;
	e->tuple = t;
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

/* Kernels whose record has an err field also report attempts that failed. The kernel counts
 * a retransmit in RetransSegs (and the socket's total_retrans) once it has built the packet,
 * before sending it: failures before that point (still queued below TCP, no route, outside
 * the window, no memory) are not counted and are skipped here too; a failure to send (a qdisc
 * or netfilter drop) is counted, and reported with its err. Older kernels fire only after a
 * successful send and have no err.
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

#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EHOSTUNREACH 113

static __always_inline bool counted_by_kernel(int err)
{
	return err != -EBUSY && err != -EAGAIN && err != -ENOMEM && err != -EHOSTUNREACH;
}

static __always_inline int on_retransmit(__u64 *ctx)
{
	const struct sock *sk = (const void *)ctx[0];
	const struct sk_buff *skb = (const void *)ctx[1];

	/* The third argument exists exactly when the record has err; otherwise the verifier
	 * never sees this read (the branch is dead on such kernels). */
	int err = HAVE_RETRANSMIT_ERR ? (int)ctx[2] : 0;

	if (!counted_by_kernel(err))
		return 0;
	return record(ctx, sk, NULL, TCPRETRANS_RETRANSMIT, skb_segs(skb), err);
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
	int err = HAVE_RETRANSMIT_ERR ?
		  ((struct trace_event_raw_tcp_retransmit_skb___err *)ctx)->err : 0;

	if (!counted_by_kernel(err))
		return 0;
	return record(ctx, ctx->skaddr, NULL, TCPRETRANS_RETRANSMIT, skb_segs(ctx->skbaddr), err);
}

/* tcp:tcp_retransmit_synack(sk, req) came with tcp_retransmit_skb (4.16); the kernel counts
 * and traces a SYN-ACK only once it was sent. */
SEC("tp_btf/tcp_retransmit_synack")
int synack_btf(__u64 *ctx)
{
	return record(ctx, (const void *)ctx[0], (const void *)ctx[1], TCPRETRANS_RETRANSMIT, 1,
		      0);
}

SEC("raw_tp/tcp_retransmit_synack")
int synack_raw(__u64 *ctx)
{
	return record(ctx, (const void *)ctx[0], (const void *)ctx[1], TCPRETRANS_RETRANSMIT, 1,
		      0);
}

/* Its record has skaddr and reqaddr after the common header in every kernel that has it. */
struct tcp_retransmit_synack_record {
	__u64 common;
	const void *skaddr;
	const void *reqaddr;
};

SEC("tracepoint/tcp/tcp_retransmit_synack")
int synack_tp(struct tcp_retransmit_synack_record *ctx)
{
	return record(ctx, ctx->skaddr, ctx->reqaddr, TCPRETRANS_RETRANSMIT, 1, 0);
}

/* -l: no kernel has a tracepoint for tail loss probes; these follow the function that sends
 * them, where fentry or kprobes are allowed. Reported on entry: the kernel decided a probe was
 * due (it may still find nothing to send). */
SEC("fentry/tcp_send_loss_probe")
int BPF_PROG(tlp_fentry, struct sock *sk)
{
	return record(ctx, sk, NULL, TCPRETRANS_LOSS_PROBE, 1, 0);
}

SEC("kprobe/tcp_send_loss_probe")
int BPF_KPROBE(tlp_kprobe, struct sock *sk)
{
	return record(ctx, sk, NULL, TCPRETRANS_LOSS_PROBE, 1, 0);
}

char LICENSE[] SEC("license") = "GPL";
