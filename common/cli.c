#include "cli.h"

#include <errno.h>
#include <error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>

#include "container.h"
#include "escape.h"
#include "log.h"
#include "loop.h"

const char *argp_program_version = "corescope " CORESCOPE_VERSION;
const char *argp_program_bug_address = NULL;

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int base = 10;

	if (!s || !*s)
		return -EINVAL;
	/* strtoull accepts leading blanks and a minus sign (wrapping it): reject both. */
	if (!(s[0] >= '0' && s[0] <= '9'))
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16;
	errno = 0;
	v = strtoull(s, &end, base);
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void cli__usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (see --help)\n", log_prog_name, msg);
	exit(CLI_EXIT_USAGE);
}

static const char *printable(const char *arg, char *buf, size_t size)
{
	escape_text(buf, size, arg, strlen(arg), 0);
	return buf;
}

uint64_t cli__u64(const char *arg, const char *what, uint64_t min, uint64_t max)
{
	char shown[128];
	uint64_t v = 0;
	int err = parse_u64(arg, min, max, &v);

	if (err == -EINVAL)
		cli__usage_error("invalid %s '%s': not a non-negative whole number", what,
				 printable(arg, shown, sizeof(shown)));
	if (err == -ERANGE)
		cli__usage_error("invalid %s '%s': must be between %llu and %llu", what,
				 printable(arg, shown, sizeof(shown)), (unsigned long long)min,
				 (unsigned long long)max);
	return v;
}

int parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
	const char *dot = s ? strchr(s, '.') : NULL;
	uint64_t secs = 0, ms = 0;
	char whole[32];
	size_t n;
	int err;

	if (!s)
		return -EINVAL;
	n = dot ? (size_t)(dot - s) : strlen(s);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(whole))
		return -ERANGE;
	if (strspn(s, "0123456789") != n)
		return -EINVAL; /* decimal only: "0x10" seconds is a typo, not sixteen */
	memcpy(whole, s, n);
	whole[n] = '\0';
	err = parse_u64(whole, 0, UINT64_MAX / 1000 - 1, &secs);
	if (err)
		return err;
	if (dot) {
		const char *f = dot + 1;
		uint64_t scale = 100;

		if (!*f)
			return -EINVAL;
		for (; *f; f++) {
			if (*f < '0' || *f > '9')
				return -EINVAL;
			ms += (*f - '0') * scale;
			scale /= 10;
		}
	}
	ms += secs * 1000;
	if (ms < min_ms || ms > max_ms)
		return -ERANGE;
	*out = ms;
	return 0;
}

uint64_t cli__seconds_ms(const char *arg, const char *what, uint64_t min_ms, uint64_t max_ms)
{
	uint64_t ms = 0;
	char shown[128];
	int err = parse_seconds_ms(arg, min_ms, max_ms, &ms);

	if (err == -EINVAL)
		cli__usage_error("invalid %s '%s': not a number of seconds", what,
				 printable(arg, shown, sizeof(shown)));
	if (err)
		cli__usage_error("invalid %s '%s': must be between %llu.%03llu and %llu.%03llu "
				 "seconds",
				 what, printable(arg, shown, sizeof(shown)),
				 (unsigned long long)min_ms / 1000, (unsigned long long)min_ms % 1000,
				 (unsigned long long)max_ms / 1000, (unsigned long long)max_ms % 1000);
	return ms;
}

enum {
	OPT_BTF = 0x1000,
	OPT_CGROUP,
	OPT_MNTNS,
	OPT_CONTAINER,
	OPT_CONTAINERS,
	OPT_CHECK,
};

/* The master table: cli__child() copies the entries a tool asked for. */
static const struct {
	unsigned which;
	struct argp_option opt;
} cli_options[] = {
	{ 0, { "verbose", 'v', NULL, 0, "Verbose: attach points, start-up phase times, libbpf warnings (twice: libbpf debug log)", -1 } },
	{ 0, { "json", 'j', NULL, 0, "Print one JSON object per line (NDJSON)", -1 } },
	{ 0, { "btf", OPT_BTF, "FILE", 0, "Kernel BTF to use instead of /sys/kernel/btf/vmlinux", -1 } },
	{ 0, { "check", OPT_CHECK, NULL, 0, "Report what this kernel and process allow and the attach points this tool would use, then exit (0: it can run here)", -1 } },
	{ 0, { NULL, 'h', NULL, OPTION_HIDDEN, "Same as --help", -1 } },
	{ CLI_PID, { "pid", 'p', "PID", 0, "Trace this process only", -1 } },
	{ CLI_UID, { "uid", 'u', "UID", 0, "Trace this user ID only", -1 } },
	{ CLI_CGROUP, { "cgroup", 'c', "PATH", 0,
			"Trace processes in this cgroup v2 directory and its descendants", -1 } },
	{ CLI_CGROUP_LONG, { "cgroup", OPT_CGROUP, "PATH", 0,
			     "Trace processes in this cgroup v2 directory and its descendants", -1 } },
	{ CLI_CGROUP | CLI_CGROUP_LONG, { "mntns", OPT_MNTNS, "INODE", 0,
			"Trace processes in this mount namespace (the inode of /proc/PID/ns/mnt)", -1 } },
	{ CLI_CGROUP | CLI_CGROUP_LONG, { "container", OPT_CONTAINER, "ID", 0,
			"Trace this container (a unique prefix of its id or name)", -1 } },
	{ CLI_CONTAINERS, { "containers", OPT_CONTAINERS, NULL, 0,
			    "Include CONTAINER and NSPID (PID in the container) columns", -1 } },
	{ CLI_DURATION, { "duration", 'd', "SECONDS", 0, "Stop after SECONDS (fractions allowed)", -1 } },
};

#define CLI_NOPTS (sizeof(cli_options) / sizeof(cli_options[0]))

static struct argp_option cli_selected[CLI_NOPTS + 1];
static unsigned cli_which;
static struct cli_common *cli_target;
static FILE *cli_null_stream;

/* --container ID: the cgroup (or, where no cgroup v2 names it, the mount namespace) of the
 * one container that ID starts. */
static void resolve_container(struct cli_common *c)
{
	static char dir[4096];
	struct container_resolver *r = container_resolver__new(NULL);
	struct container_ref found, other;
	char shown[128];
	uint32_t ns = 0;
	int err;

	escape_text(shown, sizeof(shown), c->container, strlen(c->container), 0);
	if (c->cgroup)
		cli__usage_error("--container and --cgroup: give one of them");
	if (!r)
		cli__usage_error("--container '%s': out of memory", shown);
	err = container_resolver__find(r, c->container, dir, sizeof(dir), &ns, &found, &other);
	container_resolver__free(r);
	if (err == -EEXIST)
		cli__usage_error("--container '%s' matches more than one container (%.12s, %.12s): "
				 "give more of the id", shown, found.id, other.id);
	if (err)
		cli__usage_error("--container '%s': no running container has an id or name "
				 "starting so", shown);
	if (dir[0]) {
		c->cgroup = dir;
	} else {
		if (c->mntns && c->mntns != ns)
			cli__usage_error("--container '%s' and --mntns: the container is in mount "
					 "namespace %u", shown, ns);
		c->mntns = ns;
	}
}

static error_t cli_parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli_common *c = cli_target;

	switch (key) {
	case ARGP_KEY_INIT:
		/* argp adds a second "Try --help" line to every error; send that to /dev/null so
		 * each usage error stays one line (getopt's own message still reaches stderr). */
		if (!cli_null_stream)
			cli_null_stream = fopen("/dev/null", "w");
		if (cli_null_stream)
			state->err_stream = cli_null_stream;
		return 0;
	case 'h':
		/* BCC's tools take -h; argp only knows --help and -?. */
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		return 0;
	case 'v':
		c->verbose++;
		return 0;
	case 'j':
		c->json = true;
		return 0;
	case OPT_CHECK:
		c->check = true;
		return 0;
	case OPT_BTF: {
		struct stat st;

		if (stat(arg, &st) != 0 || !S_ISREG(st.st_mode))
			cli__usage_error("--btf '%s': not a readable file", arg);
		c->btf_path = arg;
		return 0;
	}
	case 'p':
		if (!(cli_which & CLI_PID))
			return ARGP_ERR_UNKNOWN;
		c->pid = (uint32_t)cli__u64(arg, "PID", 1, 4194304);
		/* A filter on a process that does not exist would trace nothing, silently. */
		if (kill((pid_t)c->pid, 0) != 0 && errno == ESRCH)
			cli__usage_error("no process with PID %u", c->pid);
		return 0;
	case 'u':
		if (!(cli_which & CLI_UID))
			return ARGP_ERR_UNKNOWN;
		c->uid = (uint32_t)cli__u64(arg, "UID", 0, CLI_UID_ANY - 1);
		c->uid_set = true;
		return 0;
	case 'c':
		if (!(cli_which & CLI_CGROUP))
			return ARGP_ERR_UNKNOWN;
		c->cgroup = arg;
		return 0;
	case OPT_CGROUP:
		c->cgroup = arg;
		return 0;
	case OPT_MNTNS:
		c->mntns = (uint32_t)cli__u64(arg, "mount namespace inode", 1, UINT32_MAX);
		return 0;
	case OPT_CONTAINER:
		if (!*arg)
			cli__usage_error("invalid --container: must not be empty");
		c->container = arg;
		return 0;
	case OPT_CONTAINERS:
		c->containers = true;
		return 0;
	case ARGP_KEY_END:
		if (c->container)
			resolve_container(c);
		return 0;
	case 'd':
		if (!(cli_which & CLI_DURATION))
			return ARGP_ERR_UNKNOWN;
		c->duration_ms = cli__seconds_ms(arg, "duration", 1, 366ULL * 86400 * 1000);
		return 0;
	case ARGP_KEY_ARG:
		if (cli_which & CLI_INTERVAL) {
			if (state->arg_num == 0) {
				c->interval_s = cli__u64(arg, "interval", 1, 86400 * 365);
				c->interval_given = true;
				return 0;
			}
			if (state->arg_num == 1) {
				c->count = cli__u64(arg, "count", 1, UINT32_MAX);
				return 0;
			}
		}
		{
			char shown[128];

			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("unexpected argument '%s'", shown);
		}
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

struct argp_child cli__child(unsigned which, struct cli_common *c)
{
	static struct argp cli_argp;
	struct argp_child child = { 0 };
	size_t i, n = 0;

	memset(c, 0, sizeof(*c));
	c->uid = CLI_UID_ANY;
	cli_target = c;
	cli_which = which;
	for (i = 0; i < CLI_NOPTS; i++)
		if (!cli_options[i].which || (cli_options[i].which & which))
			cli_selected[n++] = cli_options[i].opt;
	memset(&cli_selected[n], 0, sizeof(cli_selected[n]));
	cli_argp.options = cli_selected;
	cli_argp.parser = cli_parse_opt;
	child.argp = &cli_argp;
	child.header = "Common options:";
	return child;
}

void cli__parse(const struct argp *argp, int argc, char **argv, void *input)
{
	/* Usage errors come before log__init(): name them after the command as invoked. */
	log_prog_name = program_invocation_short_name;
	/* getopt names the program by argv[0] in its one-line errors: the short name reads
	 * better than build/bin/opensnoop. */
	if (argc > 0)
		argv[0] = program_invocation_short_name;
	argp_err_exit_status = CLI_EXIT_USAGE;
	/* --help and --version print and exit inside argp_parse. */
	loop__watch_stdout();
	if (argp_parse(argp, argc, argv, 0, NULL, input))
		exit(CLI_EXIT_USAGE);
}
