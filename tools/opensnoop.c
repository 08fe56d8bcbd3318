/* opensnoop: trace file opens (open, openat, openat2) as they return. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include <bpf/libbpf.h>

#include "cli.h"
#include "evbuf.h"
#include "log.h"
#include "loop.h"
#include "out.h"
#include "pathbuf.h"
#include "probe.h"
#include "tool.h"

#include "identity.h"
#include "opensnoop.h"
#include "opensnoop.skel.h"

struct env {
	struct cli_common c;
	uint32_t tid;
	const char *name;
	bool timestamp;
	bool time_hms;
	bool print_uid;
	bool failed_only;
	bool extended;
	bool full_path;
};

enum col { COL_HMS, COL_TIME, COL_UID, COL_PID, COL_TID, COL_NSPID, COL_CONTAINER, COL_COMM, COL_FD,
	   COL_ERR, COL_FLAGS, COL_MODE, COL_PATH, NCOLS };

static struct out_col columns[NCOLS] = {
	[COL_HMS] = { "TIME", "time", 8, OUT_LEFT },
	[COL_TIME] = { "TIME(s)", "time_s", 12, 0 },
	[COL_UID] = { "UID", "uid", 6, 0 },
	[COL_PID] = { "PID", "pid", 7, 0 },
	[COL_TID] = { "TID", "tid", 7, OUT_HIDE_TEXT },
	[COL_NSPID] = IDENTITY_COL_NSPID,
	[COL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[COL_COMM] = { "COMM", "comm", 16, OUT_LEFT },
	[COL_FD] = { "FD", "fd", 3, 0 },
	[COL_ERR] = { "ERR", "err", 3, 0 },
	[COL_FLAGS] = { "FLAGS", "flags", 24, OUT_LEFT },
	[COL_MODE] = { "MODE", "mode", 4, OUT_LEFT },
	[COL_PATH] = { "PATH", "path", 0, OUT_LEFT },
};

struct ctx {
	const struct env *env;
	struct out *out;
	struct identity *idn;
	uint64_t start_ns;
};

static const char doc[] =
	"Trace file opens (open, openat, openat2) as they return.\n"
	"\n"
	"EXAMPLES:\n"
	"  opensnoop             # trace all opens\n"
	"  opensnoop -p 181      # only PID 181\n"
	"  opensnoop -x          # only failed opens\n"
	"  opensnoop -F -e       # absolute paths, decoded flags\n"
	"  opensnoop -n ssh -j   # commands containing \"ssh\", as JSON lines";

enum { OPT_TID = 't', OPT_TIME = 'T', OPT_TIMESTAMP = 0x100, OPT_UID_COL = 'U', OPT_FAILED = 'x',
       OPT_NAME = 'n', OPT_EXTENDED = 'e', OPT_FULL = 'F' };

static const struct argp_option options[] = {
	{ "tid", OPT_TID, "TID", 0, "Trace this thread only", 0 },
	{ "name", OPT_NAME, "NAME", 0, "Only commands whose name contains NAME", 0 },
	{ "failed", OPT_FAILED, NULL, 0, "Only failed opens", 0 },
	{ "time", OPT_TIME, NULL, 0, "Include a TIME column (HH:MM:SS, wall clock)", 0 },
	{ "timestamp", OPT_TIMESTAMP, NULL, 0, "Include a TIME(s) column (seconds since start)", 0 },
	{ "print-uid", OPT_UID_COL, NULL, 0, "Include a UID column", 0 },
	{ "extended-fields", OPT_EXTENDED, NULL, 0, "Include decoded FLAGS and MODE columns", 0 },
	{ "full-path", OPT_FULL, NULL, 0, "Absolute, canonical paths", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;

	switch (key) {
	case OPT_TID:
		env->tid = (uint32_t)cli__u64(arg, "TID", 1, 4194304);
		break;
	case OPT_NAME:
		if (!*arg || strlen(arg) > 15)
			cli__usage_error("invalid NAME: must be 1 to 15 characters (a command name)");
		env->name = arg;
		break;
	case OPT_FAILED:
		env->failed_only = true;
		break;
	case OPT_TIME:
		env->time_hms = true;
		break;
	case OPT_TIMESTAMP:
		env->timestamp = true;
		break;
	case OPT_UID_COL:
		env->print_uid = true;
		break;
	case OPT_EXTENDED:
		env->extended = true;
		break;
	case OPT_FULL:
		env->full_path = true;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct {
	int flag;
	const char *name;
} open_flags[] = {
	{ O_CREAT, "O_CREAT" },	      { O_EXCL, "O_EXCL" },	    { O_NOCTTY, "O_NOCTTY" },
	{ O_TRUNC, "O_TRUNC" },	      { O_APPEND, "O_APPEND" },	    { O_NONBLOCK, "O_NONBLOCK" },
	{ O_DSYNC, "O_DSYNC" },	      { O_ASYNC, "O_ASYNC" },	    { O_DIRECT, "O_DIRECT" },
	{ O_LARGEFILE, "O_LARGEFILE" }, { O_NOFOLLOW, "O_NOFOLLOW" }, { O_NOATIME, "O_NOATIME" },
	{ O_CLOEXEC, "O_CLOEXEC" },   { O_PATH, "O_PATH" },
};

/* "O_WRONLY|O_CREAT|O_TRUNC"; O_SYNC and O_TMPFILE include other bits and go first. */
static void decode_flags(uint32_t flags, char *buf, size_t size)
{
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };
	size_t n;
	unsigned i;

	n = snprintf(buf, size, "%s", acc[flags & O_ACCMODE]);
	flags &= ~O_ACCMODE;
	if ((flags & __O_TMPFILE) == __O_TMPFILE) {
		n += snprintf(buf + n, n < size ? size - n : 0, "|O_TMPFILE");
		flags &= ~(__O_TMPFILE | O_DIRECTORY);
	} else if (flags & O_DIRECTORY) {
		n += snprintf(buf + n, n < size ? size - n : 0, "|O_DIRECTORY");
		flags &= ~O_DIRECTORY;
	}
	if ((flags & O_SYNC) == O_SYNC) {
		n += snprintf(buf + n, n < size ? size - n : 0, "|O_SYNC");
		flags &= ~O_SYNC;
	}
	for (i = 0; i < sizeof(open_flags) / sizeof(open_flags[0]); i++) {
		if (flags & open_flags[i].flag) {
			n += snprintf(buf + n, n < size ? size - n : 0, "|%s", open_flags[i].name);
			flags &= ~open_flags[i].flag;
		}
	}
	if (flags)
		snprintf(buf + n, n < size ? size - n : 0, "|0x%x", flags);
}

/* The absolute path of an event: the opened file's, or for a failed relative open the
 * directory's path joined with the name as given, canonicalized. A walk that stopped before
 * the root gives a cut path (".../b/c") and sets *cut. */
static const char *event_full_path(const struct open_event *e, char *buf, size_t size, bool *cut)
{
	size_t len = e->path_len < sizeof(e->path) ? e->path_len : sizeof(e->path);

	*cut = e->path_flags & PATH_TRUNCATED;
	if (e->path_flags & OPEN_FNAME_CUT)
		return NULL; /* a part of a name is not to be joined or normalized */
	if (!(e->path_flags & PATH_FOUND)) {
		if (e->fname[0] != '/')
			return NULL;
		snprintf(buf, size, "%s", e->fname);
	} else {
		/* Sized for the longest walk and name: an error here would be a bug, and still
		 * says cut rather than show a shortened path as whole. */
		if (pathbuf__join(buf, size, e->path, len, e->path_depth, *cut) < 0)
			*cut = true;
		if ((e->path_flags & PATH_OF_DIR) && pathbuf__append(buf, size, e->fname) < 0)
			*cut = true;
	}
	pathbuf__canonicalize(buf);
	return buf;
}

static int handle_event(void *vctx, const void *data, size_t size)
{
	const struct open_event *e = data;
	struct ctx *ctx = vctx;
	const struct env *env = ctx->env;
	struct out *o = ctx->out;
	char full[PATH_BUF_ALLOC + 4 + OPEN_FNAME_MAX + 1], flags[256];
	const char *path = NULL;
	bool cut = false;
	size_t fname_len;

	if (size < offsetof(struct open_event, fname))
		return 0;
	fname_len = e->fname_len ? e->fname_len - 1 : 0;
	if (fname_len > size - offsetof(struct open_event, fname))
		fname_len = size - offsetof(struct open_event, fname);
	if (env->full_path)
		path = event_full_path(e, full, sizeof(full), &cut);

	out__begin(o);
	if (ctx->env->time_hms) {
		char hms[16];

		out__hms(hms, sizeof(hms), e->ts_ns);
		out__fmt(o, COL_HMS, "%s", hms);
	}
	out__double(o, COL_TIME, (double)(e->ts_ns - ctx->start_ns) / 1e9, 6);
	out__u64(o, COL_UID, e->uid);
	out__u64(o, COL_PID, e->pid);
	out__u64(o, COL_TID, e->tid);
	identity__print(ctx->idn, o, &e->id, e->pid, e->ts_ns);
	out__cstr(o, COL_COMM, e->comm);
	out__s64(o, COL_FD, e->ret >= 0 ? e->ret : -1);
	out__s64(o, COL_ERR, e->ret >= 0 ? 0 : -e->ret);
	decode_flags(e->flags, flags, sizeof(flags));
	out__fmt(o, COL_FLAGS, "%s", flags);
	if (e->flags & (O_CREAT | __O_TMPFILE))
		out__fmt(o, COL_MODE, "%04o", e->mode);
	else
		out__fmt(o, COL_MODE, "-");
	if (path) {
		out__cstr(o, COL_PATH, path);
	} else if (e->path_flags & OPEN_FNAME_CUT) {
		/* The name as passed, cut: marked at its end, where the rest is missing. */
		char name[OPEN_FNAME_MAX + sizeof(PATHBUF_CUT)];

		snprintf(name, sizeof(name), "%.*s%s", (int)fname_len, e->fname, PATHBUF_CUT);
		out__cstr(o, COL_PATH, name);
		cut = true;
	} else {
		out__str(o, COL_PATH, e->fname, fname_len);
	}
	if (out__json(o) && cut) {
		json_key(out__json(o), "path_truncated");
		json_bool(out__json(o), true);
	}
	out__end(o);
	return 0;
}

/* The exit program can read the call's arguments from the task's saved registers where
 * tracepoint programs may call bpf_task_pt_regs() (5.15) and bpf_get_current_task_btf(). */
static bool args_at_exit_possible(void)
{
	/* CORESCOPE_ARGS_AT_ENTRY=1 takes the older kernels' path, so tests can cover it here. */
	if (getenv("CORESCOPE_ARGS_AT_ENTRY"))
		return false;
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, NULL) == 1 &&
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf,
				       NULL) == 1;
}

/* This architecture's number of each call, -1 where it has none (open on arm64). */
static int syscall_number(unsigned i)
{
	switch (i) {
#ifdef SYS_open
	case 0:
		return SYS_open;
#endif
#ifdef SYS_openat
	case 1:
		return SYS_openat;
#endif
#ifdef SYS_openat2
	case 2:
		return SYS_openat2;
#endif
	default:
		return -1;
	}
}

/* Preferred: one raw sys_exit program reading the arguments from the saved registers, which
 * stops in a millisecond; else the classic tracepoints of each call (one exit program per
 * call from 5.15, an entry program and a map of calls in flight before). open(2) does not
 * exist on every architecture; openat2 needs Linux 5.6. Returns whether tracefs is needed. */
static bool choose_programs(struct opensnoop_bpf *skel)
{
	static const char *const calls[] = { "open", "openat", "openat2" };
	struct bpf_program *enter[] = { skel->progs.enter_open, skel->progs.enter_openat,
					skel->progs.enter_openat2 };
	struct bpf_program *exit_[] = { skel->progs.exit_open, skel->progs.exit_openat,
					skel->progs.exit_openat2 };
	bool raw = !getenv("CORESCOPE_ARGS_AT_ENTRY") && probe__raw_sys_exit();
	bool at_exit = raw || args_at_exit_possible();
	unsigned i;

	skel->rodata->args_at_exit = at_exit;
	skel->rodata->nr_open = syscall_number(0);
	skel->rodata->nr_openat = syscall_number(1);
	skel->rodata->nr_openat2 = syscall_number(2);
	bpf_program__set_autoload(skel->progs.exit_raw, raw);
	/* Exit-only needs no map of calls in flight. */
	if (at_exit)
		bpf_map__set_max_entries(skel->maps.start, 1);
	p_info("arguments read %s", at_exit ? "at syscall exit (saved registers)"
					    : "at syscall entry");
	if (raw)
		p_info("attach: raw tracepoint sys_exit, syscalls %d, %d, %d", syscall_number(0),
		       syscall_number(1), syscall_number(2));
	for (i = 0; i < 3; i++) {
		bool have = !raw && probe__syscall(calls[i]);

		bpf_program__set_autoload(enter[i], have && !at_exit);
		bpf_program__set_autoload(exit_[i], have);
		if (!raw)
			p_info("%s: %s", calls[i], have ? "tracing" : "not on this kernel, skipped");
	}
	return !raw;
}

int main(int argc, char **argv)
{
	struct env env = { 0 };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP | CLI_CONTAINERS |
								 CLI_DURATION, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .children = children };
	struct opensnoop_bpf *skel = NULL;
	struct ctx ctx = { .env = &env };
	char comm[16] = {};
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("opensnoop", &env.c);
	if (err)
		return 1;
	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, opensnoop_bpf));
	skel = opensnoop_bpf__open_opts(&open_opts);
	if (!skel) {
		p_bpf_err("opening BPF object", -errno);
		err = -errno;
		goto cleanup;
	}
	skel->rodata->filter_tid = env.tid;
	skel->rodata->failed_only = env.failed_only;
	skel->rodata->full_path = env.full_path;
	if (env.name) {
		strncpy(comm, env.name, sizeof(comm) - 1);
		memcpy((void *)skel->rodata->filter_comm, comm, sizeof(comm));
	}
	if (choose_programs(skel) && !probe__tracefs()) {
		p_err("tracefs is not mounted and could not be mounted: run 'mount -t tracefs "
		      "tracefs /sys/kernel/tracing' as root");
		err = -ENOENT;
		goto cleanup;
	}
	err = tool__load(skel->skeleton, &env.c, EVBUF_DEFAULT_BYTES);
	if (err)
		goto cleanup;

	if (!env.timestamp)
		columns[COL_TIME].flags |= OUT_HIDE;
	if (!env.time_hms)
		columns[COL_HMS].flags |= OUT_HIDE;
	if (!env.print_uid)
		columns[COL_UID].flags |= OUT_HIDE_TEXT;
	if (!env.extended)
		columns[COL_FLAGS].flags |= OUT_HIDE_TEXT, columns[COL_MODE].flags |= OUT_HIDE_TEXT;
	ctx.idn = identity__new(&env.c, columns, COL_NSPID);
	if (!ctx.idn) {
		err = -errno;
		p_err("out of memory");
		goto cleanup;
	}
	ctx.start_ns = loop__now_mono_ns();
	err = tool__run_events(&(struct tool_events){ .skeleton = skel->skeleton,
			.columns = columns, .ncols = NCOLS, .json = env.c.json, .out = &ctx.out,
						       .handler = handle_event, .ctx = &ctx,
						       .what = "file opens",
						       .duration_ms = env.c.duration_ms });

cleanup:
	opensnoop_bpf__destroy(skel);
	identity__free(ctx.idn);
	return err ? 1 : 0;
}
