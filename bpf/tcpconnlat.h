/* tcpconnlat's event: the ABI between bpf/tcpconnlat.bpf.c and tools/tcpconnlat.c. */
#ifndef TCPCONNLAT_H
#define TCPCONNLAT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"
#include "inet.h"

#define TCPCONNLAT_COMM_LEN 16

enum tcpconnlat_result {
	TCPCONNLAT_ESTABLISHED = 0, /* the handshake completed */
	TCPCONNLAT_FAILED = 1,      /* closed before it completed; err says why when known */
};

struct tcpconnlat_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() when the connect completed or failed */
	__u64 lat_ns;       /* from SYN_SENT to ESTABLISHED (or to the failure) */
	struct ident id;    /* the connecting task's; cgroup_id the socket's */
	__u32 pid;          /* of the task that called connect() */
	__u32 tid;
	__u32 result;       /* enum tcpconnlat_result */
	__s32 err;          /* failures: the socket's error (ECONNREFUSED, ...), 0 if none */
	struct inet_tuple tuple;
	char comm[TCPCONNLAT_COMM_LEN]; /* of the task that called connect() */
};

#endif
