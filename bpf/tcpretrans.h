/* tcpretrans's event and per-flow counts: the ABI between bpf/tcpretrans.bpf.c and
 * tools/tcpretrans.c. */
#ifndef TCPRETRANS_H
#define TCPRETRANS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"
#include "inet.h"

enum tcpretrans_type {
	TCPRETRANS_RETRANSMIT = 1, /* a retransmitted packet (one skb, segs segments) */
	TCPRETRANS_LOSS_PROBE = 2, /* the kernel sent (or tried) a tail loss probe */
};

/* The tracepoints whose hits are checked against the programs' runs (tp_runs). */
enum tcpretrans_hit_kind {
	TCPRETRANS_HIT_RETRANSMIT, /* tcp:tcp_retransmit_skb */
	TCPRETRANS_HIT_SYNACK,     /* tcp:tcp_retransmit_synack */
	TCPRETRANS_HIT_KINDS,
};

/* Retransmit attempts the kernel gave up on before counting them (tcp:tcp_retransmit_skb's
 * err, 6.17+), which are not retransmits: counted by reason for -v, so where the line is
 * drawn can be checked. */
enum tcpretrans_uncounted {
	TCPRETRANS_UNCOUNTED_EBUSY,        /* the previous copy still queued below TCP */
	TCPRETRANS_UNCOUNTED_EAGAIN,       /* outside the receiver's window */
	TCPRETRANS_UNCOUNTED_ENOMEM,       /* no memory to split the packet */
	TCPRETRANS_UNCOUNTED_EHOSTUNREACH, /* no route */
	TCPRETRANS_UNCOUNTED_KINDS,
};

enum tcpretrans_flags {
	TCPRETRANS_F_SYNACK = 1 << 0, /* a SYN-ACK of a connection not yet accepted */
};

/* A socket's owner: the task that connected it or made it listen (a child of a listener:
 * the listener's), recorded in that task's context when the socket entered the
 * connection. */
struct tcpretrans_owner {
	__u32 pid;     /* thread group ID on the host; 0: not known */
	__u32 mntns;   /* its mount namespace */
	__u32 ns_pid;  /* its PID in its own PID namespace */
	__u32 pad;
};

struct tcpretrans_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns() at the retransmit */
	struct ident id; /* the socket's cgroup_id; mntns and ns_pid its owner's (0: unknown) */
	__u32 pid;     /* the task on the CPU, usually not the socket's owner (see the man page) */
	__u32 owner_pid; /* the socket's owner (0: not known) */
	__u32 state;   /* TCP state of the socket (1 = ESTABLISHED, ..., 12 = NEW_SYN_RECV) */
	__u32 type;    /* enum tcpretrans_type */
	__u32 segs;    /* TCP segments in the retransmitted packet (1 for a loss probe) */
	__s32 err;     /* 0, or the -errno of a retransmit the kernel counted but failed to send */
	__u32 flags;   /* enum tcpretrans_flags */
	__u32 uid;     /* the socket's user (sk_uid; a SYN-ACK: the listener's) */
	struct inet_tuple tuple;
};

/* -c: the value of the per-flow map, keyed by struct inet_tuple. */
struct tcpretrans_count {
	__u64 retransmits; /* retransmitted packets (SYN-ACKs included) */
	__u64 segs;        /* segments in them: what the kernel's RetransSegs counts */
	__u64 loss_probes;
	__u64 cgroup_id;   /* the socket's, when the flow was first seen */
	__u64 failed;      /* of the retransmits, those counted by the kernel but not sent */
	struct tcpretrans_owner owner; /* the socket's, when the flow was first seen */
	__u32 uid;         /* the socket's user (sk_uid) */
	__u32 pad;
};

/* -c: totals by address family (index 0 IPv4, 1 IPv6) and TCP state (the socket's
 * skc_state, 1 = ESTABLISHED ... 12), counted before the per-flow map, so they include
 * flows the map had no room for: what --openmetrics reports. */
#define TCPRETRANS_STATES 16

#endif
