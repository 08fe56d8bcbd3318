/* Reading a socket's flow and the -4/-6 filter, shared by the TCP tools. Reads go through
 * BPF_CORE_READ (probe reads) so the same helper serves tp_btf, classic tracepoint, fentry and
 * kprobe programs alike; it runs once per reported event, not per traced call. */
#ifndef INET_BPF_H
#define INET_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "inet.h"

/* Address family numbers are ABI (include/linux/socket.h); vmlinux.h has no macros. */
#define INET_AF_INET 2
#define INET_AF_INET6 10
#define INET_IPPROTO_TCP 6

/* -4/-6: INET_AF_INET or INET_AF_INET6 keeps that family only; 0 keeps both. */
const volatile __u16 filter_family = 0;

static __always_inline bool inet_family_wanted(__u16 family)
{
	return !filter_family || family == filter_family;
}

static __always_inline __u16 inet_sk_family(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family);
}

/* sk_protocol was an 8-bit bitfield before Linux 5.6 ("sock: Make sk_protocol a 16-bit
 * value", for MPTCP); the probed bitfield read handles both layouts. */
static __always_inline __u16 inet_sk_protocol(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

/* Family, remote port and both addresses: what a socket and a request socket (a connection
 * not yet accepted, struct request_sock) share in their struct sock_common. */
static __always_inline void inet_tuple_from_common(const struct sock_common *c,
						   struct inet_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = BPF_CORE_READ(c, skc_family);
	t->rport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	if (t->family == INET_AF_INET6) {
		/* The IPv6 fields exist only in kernels built with IPv6. */
		if (bpf_core_field_exists(c->skc_v6_daddr)) {
			BPF_CORE_READ_INTO(&t->laddr, c, skc_v6_rcv_saddr.in6_u.u6_addr8);
			BPF_CORE_READ_INTO(&t->raddr, c, skc_v6_daddr.in6_u.u6_addr8);
		}
	} else {
		BPF_CORE_READ_INTO((__u32 *)t->laddr, c, skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->raddr, c, skc_daddr);
	}
}

static __always_inline void inet_tuple_from_sk(const struct sock *sk, struct inet_tuple *t)
{
	inet_tuple_from_common(&sk->__sk_common, t);
	/* inet_sport, not skc_num: a failed connect has released its port (skc_num is 0 by
	 * the time the socket reaches CLOSE) but still shows what it used, as the kernel's own
	 * tracepoints do. */
	t->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

/* A request socket has no inet_sock: its local port is skc_num (ir_num), in host order. */
static __always_inline void inet_tuple_from_req(const struct request_sock *req,
						struct inet_tuple *t)
{
	inet_tuple_from_common(&req->__req_common, t);
	t->lport = BPF_CORE_READ(req, __req_common.skc_num);
}

#endif
