/* TCP/IP flows as text (addresses, endpoints, TCP states) and the -4/-6 options, for the tools
 * that report connections. Pairs with bpf/inet.h (struct inet_tuple). */
#ifndef COMMON_INET_H
#define COMMON_INET_H

#include <argp.h>
#include <stddef.h>
#include <stdint.h>

/* Column widths: the longest compressed IPv6 address is eight groups of four hex digits
 * (39); an endpoint adds "[", "]:" and a 5-digit port. The *4 widths fit IPv4 only (-4). */
#define INET_ADDR_WIDTH 39
#define INET_ADDR4_WIDTH 15
#define INET_ENDPOINT_WIDTH 47
#define INET_ENDPOINT4_WIDTH 21

/* Enough for any address or endpoint this file formats, with its NUL. */
#define INET_TEXT_MAX 64

/* addr (network order, 4 or 16 bytes by family) as a dotted quad or a compressed IPv6
 * address. Returns buf; an unknown family gives "?". */
const char *inet__addr(unsigned family, const void *addr, char *buf, size_t size);

/* "10.0.0.1:80", or "[fd00::1]:80" for IPv6 so the port stays unambiguous. Returns buf. */
const char *inet__endpoint(unsigned family, const void *addr, unsigned port, char *buf,
			   size_t size);

/* 4 for AF_INET, 6 for AF_INET6, 0 otherwise. */
int inet__version(unsigned family);

/* The kernel's TCP state names without the TCP_ prefix ("ESTABLISHED"); NULL for a value
 * outside the kernel's enum. */
const char *inet__tcp_state(unsigned state);

/* The -4/-6 options as an argp child: *family becomes AF_INET or AF_INET6 (left 0 for both).
 * Giving both is a usage error (exit 2). Call once, before argp_parse. */
struct argp_child inet__family_child(uint16_t *family);

#endif
