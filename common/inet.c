#include "inet.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "cli.h"

const char *inet__addr(unsigned family, const void *addr, char *buf, size_t size)
{
	int af = family == AF_INET6 ? AF_INET6 : AF_INET;

	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(af, addr, buf, size))
		snprintf(buf, size, "?");
	return buf;
}

const char *inet__endpoint(unsigned family, const void *addr, unsigned port, char *buf,
			   size_t size)
{
	char a[INET_TEXT_MAX];

	inet__addr(family, addr, a, sizeof(a));
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
	return buf;
}

int inet__version(unsigned family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
}

const char *inet__tcp_state(unsigned state)
{
	/* include/net/tcp_states.h: an ABI (ss, tracepoints and BPF all use these numbers). */
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT",	   [3] = "SYN_RECV",
		[4] = "FIN_WAIT1",   [5] = "FIN_WAIT2",	   [6] = "TIME_WAIT",
		[7] = "CLOSE",	     [8] = "CLOSE_WAIT",   [9] = "LAST_ACK",
		[10] = "LISTEN",     [11] = "CLOSING",	   [12] = "NEW_SYN_RECV",
		[13] = "BOUND_INACTIVE",
	};

	if (state >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[state];
}

static uint16_t *family_target;

static const struct argp_option family_options[] = {
	{ "ipv4", '4', NULL, 0, "IPv4 only", -1 },
	{ "ipv6", '6', NULL, 0, "IPv6 only", -1 },
	{},
};

static error_t family_parse(int key, char *arg, struct argp_state *state)
{
	uint16_t want;

	switch (key) {
	case '4':
		want = AF_INET;
		break;
	case '6':
		want = AF_INET6;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	if (*family_target && *family_target != want)
		cli__usage_error("-4 and -6 cannot be used together");
	*family_target = want;
	return 0;
}

struct argp_child inet__family_child(uint16_t *family)
{
	static const struct argp family_argp = { .options = family_options,
						  .parser = family_parse };
	struct argp_child child = { .argp = &family_argp };

	*family = 0;
	family_target = family;
	return child;
}
