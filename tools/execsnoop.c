/* execsnoop: trace new processes (execve and execveat), with their arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "cli.h"
#include "escape.h"
#include "evbuf.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "out.h"
#include "probe.h"
#include "tool.h"

#include "execsnoop.h"
#include "execsnoop.skel.h"

#define DEFAULT_MAX_ARGS 20

struct env {
	struct cli_common c;
	bool time_hms;
	bool time_rel;
	bool failed;
	bool print_uid;
	bool quote;
	const char *name;
	const char *line;
	uint32_t ppid;
	uint32_t max_args;
	enum attach_kind attach;
};

enum col {
	COL_TIME, COL_TIMES, COL_UID, COL_PCOMM, COL_PID, COL_NSPID, COL_CONTAINER, COL_PPID,
	COL_RET, COL_ARGS, NCOLS
};

static struct out_col columns[NCOLS] = {
	[COL_TIME] = { "TIME", "time", 8, OUT_LEFT },
	[COL_TIMES] = { "TIME(s)", "time_s", 9, 0 },
	[COL_UID] = { "UID", "uid", 6, 0 },
	[COL_PCOMM] = { "PCOMM", "comm", 16, OUT_LEFT },
	[COL_PID] = { "PID", "pid", 7, 0 },
	[COL_NSPID] = IDENTITY_COL_NSPID,
	[COL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[COL_PPID] = { "PPID", "ppid", 7, 0 },
	[COL_RET] = { "RET", "ret", 3, 0 },
	[COL_ARGS] = { "ARGS", "args", 0, OUT_LEFT },
};

struct ctx {
	const struct env *env;
	struct out *out;
	struct identity *idn;
	uint64_t start_ns;
	char *text; /* the ARGS cell, reused */
	size_t text_size;
};

static const char doc[] =
	"Trace new processes (execve, execveat) with their arguments.\n"
	"\n"
	"The argument list is read from the new process image, up to 8192 bytes and\n"
	"--max-args arguments; a cut list ends with \"...\" (\"args_truncated\" in JSON).\n"
	"\n"
	"EXAMPLES:\n"
	"  execsnoop             # trace all successful execs\n"
	"  execsnoop -x          # also failed execs, with their error\n"
	"  execsnoop -T -U       # time and UID columns\n"
	"  execsnoop -n curl     # commands whose name contains \"curl\"\n"
	"  execsnoop -l token    # commands with \"token\" in their arguments\n"
	"  execsnoop -c /sys/fs/cgroup/system.slice   # one cgroup\n"
	"  execsnoop -j | jq -c 'select(.ret != 0)'";

enum { OPT_MAX_ARGS = 0x100, OPT_ATTACH };

static const struct argp_option options[] = {
	{ "time", 'T', NULL, 0, "Include a TIME column (HH:MM:SS)", 0 },
	{ "timestamp", 't', NULL, 0, "Include a TIME(s) column (seconds since start)", 0 },
	{ "fails", 'x', NULL, 0, "Include failed execs", 0 },
	{ "print-uid", 'U', NULL, 0, "Include a UID column", 0 },
	{ "quote", 'q', NULL, 0, "Put double quotes around each argument", 0 },
	{ "name", 'n', "NAME", 0, "Only commands whose name contains NAME", 0 },
	{ "line", 'l', "LINE", 0, "Only commands whose argument line contains LINE", 0 },
	{ "ppid", 'P', "PPID", 0, "Only children of this parent process", 0 },
	{ "max-args", OPT_MAX_ARGS, "N", 0, "Show at most N arguments (default 20)", 0 },
	{ "attach", OPT_ATTACH, "KIND", 0,
	  "Attach point for successful execs: auto (default), raw_tp or tp_btf", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;

	switch (key) {
	case 'T':
		env->time_hms = true;
		break;
	case 't':
		env->time_rel = true;
		break;
	case 'x':
		env->failed = true;
		break;
	case 'U':
		env->print_uid = true;
		break;
	case 'q':
		env->quote = true;
		break;
	case 'n':
		if (!*arg || strlen(arg) > 15)
			cli__usage_error("invalid NAME: must be 1 to 15 characters (a command name)");
		env->name = arg;
		break;
	case 'l':
		if (!*arg)
			cli__usage_error("invalid LINE: must not be empty");
		env->line = arg;
		break;
	case 'P':
		env->ppid = (uint32_t)cli__u64(arg, "PPID", 1, 4194304);
		break;
	case OPT_MAX_ARGS:
		env->max_args = (uint32_t)cli__u64(arg, "--max-args", 1, EXEC_ARGS_MAX / 2);
		break;
	case OPT_ATTACH:
		env->attach = attach__parse(arg, ATTACH_MASK(ATTACH_RAW_TP) |
						 ATTACH_MASK(ATTACH_TP_BTF));
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Does the argument line (arguments joined by spaces) contain needle? */
static bool args_contain(const char *args, size_t size, const char *needle)
{
	char *line = malloc(size + 1);
	bool found;
	size_t i;

	if (!line)
		return true;
	for (i = 0; i < size; i++)
		line[i] = args[i] ? args[i] : ' ';
	line[size] = '\0';
	found = memmem(line, size, needle, strlen(needle)) != NULL;
	free(line);
	return found;
}

static int text_reserve(struct ctx *ctx, size_t need)
{
	char *p;

	if (need <= ctx->text_size)
		return 0;
	p = realloc(ctx->text, need);
	if (!p)
		return -ENOMEM;
	ctx->text = p;
	ctx->text_size = need;
	return 0;
}

/* The argument area is a run of NUL-terminated strings (the last one unterminated only when
 * it was cut), so an empty argument is a NUL of its own: `a ""` is "a\0\0", two arguments. */

/* The ARGS cell in text mode: each argument escaped for the terminal (and with -q quoted,
 * inner quotes escaped), joined by spaces. */
static const char *args_text(struct ctx *ctx, const char *args, size_t size, bool truncated)
{
	size_t off = 0, i = 0, n = 0;

	if (text_reserve(ctx, size * 4 + size * 2 + 16) < 0)
		return "";
	while (i < size && n < ctx->env->max_args) {
		size_t len = strnlen(args + i, size - i);
		const char *a = args + i;
		size_t k;

		if (n++)
			ctx->text[off++] = ' ';
		if (ctx->env->quote) {
			ctx->text[off++] = '"';
			for (k = 0; k < len; k++) {
				if (a[k] == '"') {
					ctx->text[off++] = '\\';
					ctx->text[off++] = '"';
				} else {
					off += escape_text(ctx->text + off, ctx->text_size - off, a + k, 1, 0);
				}
			}
			ctx->text[off++] = '"';
		} else {
			off += escape_text(ctx->text + off, ctx->text_size - off, a, len, 0);
		}
		i += len + 1;
	}
	if (truncated || i < size) {
		memcpy(ctx->text + off, n ? " ..." : "...", n ? 4 : 3);
		off += n ? 4 : 3;
	}
	ctx->text[off] = '\0';
	return ctx->text;
}

static void args_json(struct ctx *ctx, const char *args, size_t size, bool truncated)
{
	struct json_writer *w = out__json(ctx->out);
	size_t i = 0, n = 0;

	json_key(w, "args");
	json_arr_begin(w);
	while (i < size && n < ctx->env->max_args) {
		size_t len = strnlen(args + i, size - i);

		json_strn(w, args + i, len);
		i += len + 1;
		n++;
	}
	json_arr_end(w);
	json_key(w, "args_truncated");
	json_bool(w, truncated || i < size);
}

static int handle_event(void *vctx, const void *data, size_t size)
{
	const struct exec_event *e = data;
	struct ctx *ctx = vctx;
	struct out *o = ctx->out;
	size_t args_size;
	bool truncated;
	char hms[16];

	if (size < offsetof(struct exec_event, args))
		return 0;
	args_size = e->args_size;
	if (args_size > size - offsetof(struct exec_event, args))
		args_size = size - offsetof(struct exec_event, args);
	truncated = e->flags & EXEC_ARGS_TRUNCATED;
	if (ctx->env->line && !args_contain(e->args, args_size, ctx->env->line))
		return 0;

	out__begin(o);
	out__hms(hms, sizeof(hms), e->ts_ns);
	out__fmt(o, COL_TIME, "%s", hms);
	out__double(o, COL_TIMES, (double)(e->ts_ns - ctx->start_ns) / 1e9, 3);
	out__u64(o, COL_UID, e->uid);
	out__cstr(o, COL_PCOMM, e->comm);
	out__u64(o, COL_PID, e->pid);
	identity__print(ctx->idn, o, &e->id, e->pid, e->ts_ns);
	out__u64(o, COL_PPID, e->ppid);
	out__s64(o, COL_RET, e->ret);
	if (out__json(o))
		args_json(ctx, e->args, args_size, truncated);
	else
		out__fmt(o, COL_ARGS, "%s", args_text(ctx, e->args, args_size, truncated));
	out__end(o);
	return 0;
}

static int choose_programs(struct execsnoop_bpf *skel, const struct env *env)
{
	/* The raw tracepoint first: a tp_btf program makes libbpf 1.1 read and copy the whole
	 * kernel BTF (~11 MiB of peak memory) to find its BTF id; the code is the same. */
	static const enum attach_kind order[] = { ATTACH_RAW_TP, ATTACH_TP_BTF, ATTACH_AUTO };
	static const struct attach_point exec_point = { .tp_name = "sched_process_exec" };
	enum attach_kind kind = attach__pick(env->attach, order, &exec_point);
	bool have_execveat;

	if (kind == ATTACH_AUTO) {
		if (env->attach == ATTACH_AUTO)
			p_err("cannot trace execs on this kernel: no raw tracepoint "
			      "sched_process_exec (needs Linux 4.17+)");
		return -EOPNOTSUPP;
	}
	bpf_program__set_autoload(skel->progs.exec_btf, kind == ATTACH_TP_BTF);
	bpf_program__set_autoload(skel->progs.exec_raw, kind == ATTACH_RAW_TP);
	p_info("successful execs: %s sched_process_exec", attach__name(kind));

	if (env->failed && !probe__tracefs()) {
		p_err("-x needs the exec syscalls' tracepoints, and tracefs is not mounted: run "
		      "'mount -t tracefs tracefs /sys/kernel/tracing' as root");
		return -ENOENT;
	}
	have_execveat = env->failed && probe__syscall("execveat");
	bpf_program__set_autoload(skel->progs.enter_execve, env->failed);
	bpf_program__set_autoload(skel->progs.exit_execve, env->failed);
	bpf_program__set_autoload(skel->progs.enter_execveat, have_execveat);
	bpf_program__set_autoload(skel->progs.exit_execveat, have_execveat);
	if (env->failed)
		p_info("failed execs: syscalls:sys_{enter,exit}_execve%s", have_execveat ? "{,at}" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct env env = { .max_args = DEFAULT_MAX_ARGS };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP | CLI_CONTAINERS, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .children = children };
	struct execsnoop_bpf *skel = NULL;
	struct ctx ctx = { .env = &env };
	char comm[16] = {};
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("execsnoop", &env.c);
	if (err)
		return 1;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, execsnoop_bpf));
	skel = execsnoop_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	skel->rodata->filter_ppid = env.ppid;
	skel->rodata->track_failed = env.failed;
	if (env.name) {
		strncpy(comm, env.name, sizeof(comm) - 1);
		memcpy((void *)skel->rodata->filter_comm, comm, sizeof(comm));
	}
	err = choose_programs(skel, &env);
	if (err)
		goto cleanup;
	/* Only -x tracks exec syscalls in flight: otherwise the map need not take memory. */
	if (!env.failed)
		bpf_map__set_max_entries(skel->maps.exec_start, 1);
	err = tool__load(skel->skeleton, &env.c, EVBUF_DEFAULT_BYTES);
	if (err)
		goto cleanup;

	if (!env.time_hms)
		columns[COL_TIME].flags |= OUT_HIDE;
	if (!env.time_rel)
		columns[COL_TIMES].flags |= OUT_HIDE;
	if (!env.print_uid)
		columns[COL_UID].flags |= OUT_HIDE_TEXT;
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
						       .what = "exec()s",
						       .duration_ms = env.c.duration_ms });
	if (env.failed) {
		struct tool_drop drops[] = {
			{ "exec_start_full", "exec calls not followed, a failure among them not "
			  "reported: more than 4096 execs in flight", skel->bss->exec_start_full },
		};

		tool__report_drops(env.c.json, drops, 1);
	}

cleanup:
	execsnoop_bpf__destroy(skel);
	identity__free(ctx.idn);
	free(ctx.text);
	return err ? 1 : 0;
}
