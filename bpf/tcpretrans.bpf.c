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

/* Socket owners (struct tcpretrans_owner). A retransmit runs from a timer or in softirq,
 * where the task on the CPU is not the socket's owner: the owner is recorded in its own
 * context when the socket enters a connection (sock:inet_sock_set_state: CLOSE -> SYN_SENT
 * in connect(), CLOSE -> LISTEN in listen()), and a child of a listener takes the
 * listener's (LISTEN -> SYN_RECV is the child's first state, set when it is cloned from
 * the listener, in softirq). Sockets that entered their connection before the programs
 * were attached have none.
 *
 * Where tracing programs may use it (5.11), the owner is kept on the socket itself:
 * BPF_F_CLONE copies it to every child as the kernel clones the listener, and it goes away
 * with the socket. The *_sk programs use it. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct tcpretrans_owner);
} owner_store SEC(".maps");

/* Elsewhere, by socket address: entries are removed when the socket closes (every TCP socket
 * ends in CLOSE), and a socket that finds the table full has no owner (owners_full).
 * Allocated as sockets come where the kernel has the BPF memory allocator (6.1), else
 * preallocated (common/bpfobj.c); user space sizes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tcpretrans_owner);
} owner_hash SEC(".maps");

/* ... and the owner of each listening port (network namespace, port), which its children
 * take at their clone, where the kernel names no listener. Two owners listening on one port
 * (SO_REUSEPORT, or two addresses) make it ambiguous: pid 0, children without an owner. */
struct port_key {
	__u32 netns;
	__u32 port;
};

struct port_owner {
	struct tcpretrans_owner owner;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct port_key);
	__type(value, struct port_owner);
} listeners SEC(".maps");

/* Sockets whose owner was not recorded: the owner_hash or listeners table was full. */
__u64 owners_full = 0;
/* Retransmits -p or --mntns dropped because their socket's owner is not known. */
__u64 owner_unknown = 0;

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

/* Runs of the program on tcp:tcp_retransmit_skb (TCPRETRANS_HIT_RETRANSMIT) and on
 * tcp:tcp_retransmit_synack (TCPRETRANS_HIT_SYNACK), before any filter: user space compares
 * them with perf's count of the tracepoints' hits, and reports what the kernel hit without
 * running them. */
__u64 tp_runs[TCPRETRANS_HIT_KINDS] = {};

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

static __always_inline struct tcpretrans_owner *owner_of(const struct sock *sk,
							  const bool sk_storage)
{
	__u64 key = (__u64)sk;

	if (sk_storage)
		return bpf_sk_storage_get(&owner_store, (void *)sk, 0, 0);
	return bpf_map_lookup_elem(&owner_hash, &key);
}

/* Does the socket's owner pass -p and --mntns? */
static __always_inline bool owner_wanted(const struct tcpretrans_owner *o)
{
	if (!filter_pid && !filter_mntns)
		return true;
	if (!o || !o->pid) {
		__sync_fetch_and_add(&owner_unknown, 1);
		return false;
	}
	if (filter_pid && o->pid != filter_pid)
		return false;
	return !filter_mntns || o->mntns == filter_mntns;
}

static __always_inline void count_flow(const struct sock *sk, const struct inet_tuple *tp,
				       __u32 tcp_state, __u32 type, __u32 segs, int err,
				       const struct tcpretrans_owner *o)
{
	struct tcpretrans_count zero = {};
	struct tcpretrans_count *c;
	struct inet_tuple t = *tp;

	add_count(&state_counts[tp->family == INET_AF_INET6][tcp_state & (TCPRETRANS_STATES - 1)],
		  type, segs, err);
	c = bpf_map_lookup_elem(&flows, &t);
	if (!c) {
		zero.cgroup_id = ident_cgroup_id(ident_sock_cgroup(sk));
		zero.uid = sock_uid(sk);
		if (o)
			zero.owner = *o;
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
				  const struct request_sock *req, __u32 type, __u32 segs, int err,
				  const bool sk_storage)
{
	struct tcpretrans_owner *o, known = {};
	struct tcpretrans_event *e;
	struct inet_tuple t;
	__u32 family, state;

	if (!sk)
		return 0;
	family = req ? BPF_CORE_READ(req, __req_common.skc_family) : inet_sk_family(sk);
	if (!inet_family_wanted(family) || !filter_sock(sk))
		return 0;
	o = owner_of(sk, sk_storage);
	if (!owner_wanted(o))
		return 0;
	if (o)
		known = *o;
	if (req)
		inet_tuple_from_req(req, &t);
	else
		inet_tuple_from_sk(sk, &t);
	state = req ? BPF_CORE_READ(req, __req_common.skc_state)
		    : BPF_CORE_READ(sk, __sk_common.skc_state);
	if (count_mode) {
		count_flow(sk, &t, state, type, segs, err, o ? &known : NULL);
		return 0;
	}
	e = events_scratch();
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	/* The socket's cgroup (its creator's) and its owner's, not the task on the CPU's. */
	__builtin_memset(&e->id, 0, sizeof(e->id));
	e->id.cgroup_id = ident_cgroup_id(ident_sock_cgroup(sk));
	e->id.mntns = known.mntns;
	e->id.ns_pid = known.ns_pid;
	e->owner_pid = known.pid;
	e->uid = sock_uid(sk);
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

/* Per reason (tcpretrans.h), reported with -v. */
__u64 uncounted_attempts[TCPRETRANS_UNCOUNTED_KINDS] = {};

/* Counts the attempt under its reason if the kernel did not count it as a retransmit. */
static __always_inline bool counted_by_kernel(int err)
{
	int why;

	switch (err) {
	case -EBUSY:
		why = TCPRETRANS_UNCOUNTED_EBUSY;
		break;
	case -EAGAIN:
		why = TCPRETRANS_UNCOUNTED_EAGAIN;
		break;
	case -ENOMEM:
		why = TCPRETRANS_UNCOUNTED_ENOMEM;
		break;
	case -EHOSTUNREACH:
		why = TCPRETRANS_UNCOUNTED_EHOSTUNREACH;
		break;
	default:
		return true;
	}
	__sync_fetch_and_add(&uncounted_attempts[why], 1);
	return false;
}

static __always_inline int on_retransmit(__u64 *ctx, const bool sk_storage)
{
	const struct sock *sk = (const void *)ctx[0];
	const struct sk_buff *skb = (const void *)ctx[1];

	__sync_fetch_and_add(&tp_runs[TCPRETRANS_HIT_RETRANSMIT], 1);
	/* The third argument exists exactly when the record has err; otherwise the verifier
	 * never sees this read (the branch is dead on such kernels). */
	int err = HAVE_RETRANSMIT_ERR ? (int)ctx[2] : 0;

	if (!counted_by_kernel(err))
		return 0;
	return record(ctx, sk, NULL, TCPRETRANS_RETRANSMIT, skb_segs(skb), err, sk_storage);
}

SEC("tp_btf/tcp_retransmit_skb")
int retrans_btf_sk(__u64 *ctx)
{
	return on_retransmit(ctx, true);
}

SEC("tp_btf/tcp_retransmit_skb")
int retrans_btf(__u64 *ctx)
{
	return on_retransmit(ctx, false);
}

/* The same arguments, read the same way (record() and skb_segs() use probe reads). */
SEC("raw_tp/tcp_retransmit_skb")
int retrans_raw(__u64 *ctx)
{
	return on_retransmit(ctx, false);
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

	__sync_fetch_and_add(&tp_runs[TCPRETRANS_HIT_RETRANSMIT], 1);
	if (!counted_by_kernel(err))
		return 0;
	return record(ctx, ctx->skaddr, NULL, TCPRETRANS_RETRANSMIT, skb_segs(ctx->skbaddr), err,
		      false);
}

/* tcp:tcp_retransmit_synack(sk, req) came with tcp_retransmit_skb (4.16); the kernel counts
 * and traces a SYN-ACK only once it was sent. */
static __always_inline int on_synack(void *ctx, const struct sock *sk,
				     const struct request_sock *req, const bool sk_storage)
{
	__sync_fetch_and_add(&tp_runs[TCPRETRANS_HIT_SYNACK], 1);
	return record(ctx, sk, req, TCPRETRANS_RETRANSMIT, 1, 0, sk_storage);
}

SEC("tp_btf/tcp_retransmit_synack")
int synack_btf_sk(__u64 *ctx)
{
	return on_synack(ctx, (const void *)ctx[0], (const void *)ctx[1], true);
}

SEC("tp_btf/tcp_retransmit_synack")
int synack_btf(__u64 *ctx)
{
	return on_synack(ctx, (const void *)ctx[0], (const void *)ctx[1], false);
}

SEC("raw_tp/tcp_retransmit_synack")
int synack_raw(__u64 *ctx)
{
	return on_synack(ctx, (const void *)ctx[0], (const void *)ctx[1], false);
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
	return on_synack(ctx, ctx->skaddr, ctx->reqaddr, false);
}

/* -l: no kernel has a tracepoint for tail loss probes; these follow the function that sends
 * them, where fentry or kprobes are allowed. Reported on entry: the kernel decided a probe was
 * due (it may still find nothing to send). */
SEC("fentry/tcp_send_loss_probe")
int BPF_PROG(tlp_fentry_sk, struct sock *sk)
{
	return record(ctx, sk, NULL, TCPRETRANS_LOSS_PROBE, 1, 0, true);
}

SEC("fentry/tcp_send_loss_probe")
int BPF_PROG(tlp_fentry, struct sock *sk)
{
	return record(ctx, sk, NULL, TCPRETRANS_LOSS_PROBE, 1, 0, false);
}

SEC("kprobe/tcp_send_loss_probe")
int BPF_KPROBE(tlp_kprobe, struct sock *sk)
{
	return record(ctx, sk, NULL, TCPRETRANS_LOSS_PROBE, 1, 0, false);
}

/* ---- Owners: sock:inet_sock_set_state ---- */

static __always_inline void owner_current(struct tcpretrans_owner *o)
{
	struct ident id;

	ident_task_ns(&id, (const struct task_struct *)bpf_get_current_task());
	o->pid = bpf_get_current_pid_tgid() >> 32;
	o->mntns = id.mntns;
	o->ns_pid = id.ns_pid;
	o->pad = 0;
}

static __always_inline void port_key_of(const struct sock *sk, struct port_key *k)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* The hash's bookkeeping: a listener's port, a child's owner from its port, and removal at
 * close. */
static __always_inline void owner_hash_state(const struct sock *sk, int oldstate, int newstate,
					     const struct tcpretrans_owner *o)
{
	struct port_key k;
	struct port_owner l = {}, *cur;
	__u64 key = (__u64)sk;

	if (newstate == TCP_CLOSE) {
		bpf_map_delete_elem(&owner_hash, &key);
		if (oldstate != TCP_LISTEN)
			return;
		port_key_of(sk, &k);
		cur = bpf_map_lookup_elem(&listeners, &k);
		if (cur && cur->sk == key)
			bpf_map_delete_elem(&listeners, &k);
		return;
	}
	if (newstate == TCP_LISTEN) {
		port_key_of(sk, &k);
		cur = bpf_map_lookup_elem(&listeners, &k);
		if (cur && cur->sk != key) {
			if (cur->owner.pid != o->pid || cur->owner.mntns != o->mntns)
				cur->owner.pid = 0;
			return;
		}
		l.owner = *o;
		l.sk = key;
		if (bpf_map_update_elem(&listeners, &k, &l, BPF_ANY))
			__sync_fetch_and_add(&owners_full, 1);
		return;
	}
	/* LISTEN -> SYN_RECV: a child, just cloned from its listener. */
	port_key_of(sk, &k);
	cur = bpf_map_lookup_elem(&listeners, &k);
	if (!cur || !cur->owner.pid)
		return;
	l.owner = cur->owner;
	if (bpf_map_update_elem(&owner_hash, &key, &l.owner, BPF_ANY))
		__sync_fetch_and_add(&owners_full, 1);
}

static __always_inline int on_set_state(const struct sock *sk, int oldstate, int newstate,
					const bool sk_storage)
{
	struct tcpretrans_owner o = {}, *stored;
	__u64 key = (__u64)sk;
	bool entering;

	if (!sk)
		return 0;
	/* connect() and listen(): the owner is the task on the CPU. */
	entering = oldstate == TCP_CLOSE && (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN);
	if (!entering && (sk_storage || !(newstate == TCP_CLOSE ||
					   (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV))))
		return 0;
	if (inet_sk_protocol(sk) != INET_IPPROTO_TCP)
		return 0;
	if (entering)
		owner_current(&o);
	if (sk_storage) {
		stored = bpf_sk_storage_get(&owner_store, (void *)sk, 0,
					    BPF_SK_STORAGE_GET_F_CREATE);
		if (stored)
			*stored = o;
		else
			__sync_fetch_and_add(&owners_full, 1);
		return 0;
	}
	if (entering && bpf_map_update_elem(&owner_hash, &key, &o, BPF_ANY))
		__sync_fetch_and_add(&owners_full, 1);
	if (!entering || newstate == TCP_LISTEN)
		owner_hash_state(sk, oldstate, newstate, &o);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf_sk, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_set_state(sk, oldstate, newstate, true);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_set_state(sk, oldstate, newstate, false);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(state_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_set_state(sk, oldstate, newstate, false);
}

SEC("tracepoint/sock/inet_sock_set_state")
int state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	return on_set_state(ctx->skaddr, ctx->oldstate, ctx->newstate, false);
}

char LICENSE[] SEC("license") = "GPL";
