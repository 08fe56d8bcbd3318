/* Command line: the options most tools share, as one argp group each tool includes with the
 * subset it supports, and strict number parsing that never turns "abc" into 0. Usage errors
 * print one line on stderr and exit 2. */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <argp.h>
#include <stdbool.h>
#include <stdint.h>

#define CLI_EXIT_USAGE 2

/* Which shared options a tool offers (always: -v, -j, --btf). */
enum cli_opt {
	CLI_PID = 1 << 0,      /* -p PID: one process (thread group) */
	CLI_UID = 1 << 1,      /* -u UID */
	CLI_CGROUP = 1 << 2,   /* -c/--cgroup PATH: a cgroup v2 directory and its descendants;
				* with --mntns INODE and --container ID */
	CLI_CGROUP_LONG = 1 << 5, /* the same, --cgroup without -c (the tool's -c is --count) */
	CLI_CONTAINERS = 1 << 6,  /* --containers: CONTAINER and NSPID text columns */
	CLI_DURATION = 1 << 3, /* -d SECONDS: stop after this long */
	CLI_INTERVAL = 1 << 4, /* positional [interval [count]] */
};

struct cli_common {
	int verbose;           /* -v: 1; -vv: 2 (libbpf debug log too) */
	bool json;
	bool check;            /* --check: report what the kernel allows and exit (common/check.h) */
	const char *btf_path;  /* --btf FILE, NULL for the kernel's own */
	uint32_t pid;          /* 0: any */
	uint32_t uid;          /* CLI_UID_ANY: any */
	bool uid_set;
	const char *cgroup;    /* NULL: any; --container sets it to the container's cgroup */
	uint32_t mntns;        /* 0: any; --container sets it where no cgroup v2 names it */
	const char *container; /* --container ID as given */
	bool containers;       /* --containers */
	uint64_t duration_ms;  /* 0: until interrupted */
	uint64_t interval_s;   /* CLI_INTERVAL: 0 when not given */
	uint64_t count;        /* CLI_INTERVAL: 0 = unlimited */
	bool interval_given;
};

#define CLI_UID_ANY ((uint32_t)-1)

/* Returns the argp child for the shared options in `which`, parsing into *c (which it
 * initializes). Call once, before argp_parse. */
struct argp_child cli__child(unsigned which, struct cli_common *c);

/* argp_parse with usage errors as one line on stderr and exit status 2. Returns only on
 * success. */
void cli__parse(const struct argp *argp, int argc, char **argv, void *input);

/* Strict unsigned parse: the whole string is a decimal (or 0x hex) number in [min, max].
 * Returns 0, -EINVAL (not a number) or -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Seconds as a decimal with an optional fraction ("1.5", at most millisecond precision is
 * kept), to milliseconds in [min_ms, max_ms]. Returns 0, -EINVAL or -ERANGE. */
int parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out);

/* parse_u64 for an option value; on failure prints "invalid WHAT 'ARG': reason" and exits 2. */
uint64_t cli__u64(const char *arg, const char *what, uint64_t min, uint64_t max);

/* parse_seconds_ms for an option value; exits 2 on a bad value. */
uint64_t cli__seconds_ms(const char *arg, const char *what, uint64_t min_ms, uint64_t max_ms);

/* Prints a one-line usage error and exits 2. */
void cli__usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
