/* A TCP/IP flow as the BPF side sends it to user space (and keys maps with): part of the
 * event ABI of every tool that reports connections (tcpconnlat, tcpretrans). */
#ifndef BPF_INET_H
#define BPF_INET_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define INET_ADDR_BYTES 16

/* Fully initialized, padding included, so it can be a hash map key. Addresses are in network
 * order as the kernel keeps them; an IPv4 address fills the first 4 bytes, the rest is 0. */
struct inet_tuple {
	__u8 laddr[INET_ADDR_BYTES]; /* local */
	__u8 raddr[INET_ADDR_BYTES]; /* remote */
	__u16 lport;                 /* host order */
	__u16 rport;                 /* host order */
	__u16 family;                /* AF_INET (2) or AF_INET6 (10) */
	__u16 pad;
};

#endif
