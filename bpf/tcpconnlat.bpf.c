/* tcpconnlat: active TCP connects, timed from SYN_SENT (entered in the task that called
 * connect()) to ESTABLISHED (entered in softirq when the SYN-ACK arrives, or at the latest
 * when the connecting task releases the socket). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tcpconnlat.h"

#define EVENT_MAX_SIZE sizeof(struct tcpconnlat_event)
#include "events.bpf.h"
#include "filter.bpf.h"
#include "inet.bpf.h"

#define ECONNREFUSED 111

/* Connects faster than this are not sent at all. */
const volatile __u64 min_lat_ns = 0;
/* -x: also report connects that closed before completing. */
const volatile __u8 report_failed = 0;

struct pending {
	__u64 ts_ns;
	struct ident id;
	__u32 pid;
	__u32 tid;
	char comm[TCPCONNLAT_COMM_LEN];
};

/* Connects in flight, by socket address. The state transitions remove every entry (on
 * ESTABLISHED or CLOSE). A plain hash, preallocated (no allocation in tracing programs on any
 * kernel): a connect that finds it full is counted (pending_full), where LRU would have
 * evicted another connect in flight without a word. The fentry/kprobe fallback sees no close
 * of a connect that failed before sending its SYN; its entry stays until the socket's memory
 * is reused for another connect (same key). ~0.6 MiB. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct pending);
} pending SEC(".maps");

/* Connects not timed because `pending` was full (reported at exit). */
__u64 pending_full = 0;

/* Process context: the connecting task is current. */
static __always_inline void connect_start(const struct sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 key = (__u64)sk;
	struct pending p;

	if (!filter_current())
		return;
	p.ts_ns = bpf_ktime_get_ns();
	ident_task_ns(&p.id, (const struct task_struct *)bpf_get_current_task());
	/* The socket's cgroup (its creator's), which a failure in softirq still has. */
	p.id.cgroup_id = ident_cgroup_id(ident_sock_cgroup(sk));
	p.pid = pid_tgid >> 32;
	p.tid = (__u32)pid_tgid;
	bpf_get_current_comm(p.comm, sizeof(p.comm));
	if (bpf_map_update_elem(&pending, &key, &p, BPF_ANY))
		__sync_fetch_and_add(&pending_full, 1);
}

/* The handshake ended: established, or failed with err (< 0: read the socket's error). Any
 * context: the task comes from the map. */
static __always_inline void connect_end(void *ctx, const struct sock *sk, bool failed, int err)
{
	__u64 key = (__u64)sk;
	struct tcpconnlat_event *e;
	struct pending *p;
	__u64 now, lat;

	p = bpf_map_lookup_elem(&pending, &key);
	if (!p)
		return;
	now = bpf_ktime_get_ns();
	lat = now - p->ts_ns;
	if ((failed && !report_failed) || lat < min_lat_ns)
		goto done;
	e = events_scratch();
	if (!e)
		goto done;
	e->ts_ns = now;
	e->lat_ns = lat;
	e->pid = p->pid;
	e->tid = p->tid;
	e->id = p->id;
	__builtin_memcpy(e->comm, p->comm, sizeof(e->comm));
	e->result = failed ? TCPCONNLAT_FAILED : TCPCONNLAT_ESTABLISHED;
	e->err = 0;
	if (failed)
		e->err = err >= 0 ? err : BPF_CORE_READ(sk, sk_err);
	inet_tuple_from_sk(sk, &e->tuple);
	events_emit(ctx, e, sizeof(*e));
done:
	bpf_map_delete_elem(&pending, &key);
}

/* sock:inet_sock_set_state fires ~6 times per connection; only SYN_SENT does real work. A
 * simultaneous open goes SYN_SENT -> SYN_RECV -> ESTABLISHED, hence SYN_RECV below (an
 * accepted connection's SYN_RECV -> ESTABLISHED costs one map miss). */
static __always_inline int on_set_state(void *ctx, const struct sock *sk, int oldstate,
					int newstate)
{
	if (newstate == TCP_SYN_SENT) {
		if (inet_sk_protocol(sk) == INET_IPPROTO_TCP &&
		    inet_family_wanted(inet_sk_family(sk)))
			connect_start(sk);
		return 0;
	}
	if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
		return 0;
	if (newstate == TCP_ESTABLISHED)
		connect_end(ctx, sk, false, 0);
	else if (newstate == TCP_CLOSE)
		connect_end(ctx, sk, true, -1);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_set_state(ctx, sk, oldstate, newstate);
}

/* The same arguments; on_set_state reads through probe reads in any case. */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(state_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_set_state(ctx, sk, oldstate, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	return on_set_state(ctx, ctx->skaddr, ctx->oldstate, ctx->newstate);
}

/* Fallback for kernels without sock:inet_sock_set_state (before 4.16): connect entry, and the
 * segment that answers the SYN. */

static __always_inline int on_connect(const struct sock *sk)
{
	if (inet_family_wanted(inet_sk_family(sk)))
		connect_start(sk);
	return 0;
}

#define TH_RST 0x04
#define TH_SYN 0x02
#define TH_ACK 0x10

/* The first 14 bytes of a TCP header (RFC 9293): the flags are byte 13. */
struct tcphdr_head {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
};

/* In SYN_SENT the kernel accepts a segment only if it has ACK set and acknowledges something
 * sent and not yet acknowledged: snd_una < ack <= snd_nxt (tcp_rcv_synsent_state_process).
 * An acceptable SYN-ACK establishes, an acceptable RST refuses; anything else leaves the
 * connect pending, so it is not reported as a latency. */
static __always_inline int on_rcv_state_process(void *ctx, const struct sock *sk,
						const struct sk_buff *skb)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct tcphdr_head th;
	unsigned char *head;
	__u32 ack;
	__u16 off;

	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_SENT)
		return 0;
	head = BPF_CORE_READ(skb, head);
	off = BPF_CORE_READ(skb, transport_header);
	if (bpf_probe_read_kernel(&th, sizeof(th), head + off) || !(th.flags & TH_ACK))
		return 0;
	ack = bpf_ntohl(th.ack_seq);
	if ((__s32)(ack - BPF_CORE_READ(tp, snd_una)) <= 0 ||
	    (__s32)(ack - BPF_CORE_READ(tp, snd_nxt)) > 0)
		return 0;
	if (th.flags & TH_RST)
		connect_end(ctx, sk, true, ECONNREFUSED);
	else if (th.flags & TH_SYN)
		connect_end(ctx, sk, false, 0);
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(v4_connect_fentry, struct sock *sk)
{
	return on_connect(sk);
}

SEC("fentry/tcp_v6_connect")
int BPF_PROG(v6_connect_fentry, struct sock *sk)
{
	return on_connect(sk);
}

SEC("fentry/tcp_rcv_state_process")
int BPF_PROG(rcv_state_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_rcv_state_process(ctx, sk, skb);
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(v4_connect_kprobe, struct sock *sk)
{
	return on_connect(sk);
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(v6_connect_kprobe, struct sock *sk)
{
	return on_connect(sk);
}

SEC("kprobe/tcp_rcv_state_process")
int BPF_KPROBE(rcv_state_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_rcv_state_process(ctx, sk, skb);
}

char LICENSE[] SEC("license") = "GPL";
