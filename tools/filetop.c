/* filetop: top files by reads and writes, refreshed every interval. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "cli.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "openmetrics.h"
#include "out.h"
#include "pathbuf.h"
#include "probe.h"
#include "progsync.h"
#include "bpfobj.h"
#include "tool.h"

#include "filetop.h"
#include "filetop.skel.h"

enum sort_by { SORT_ALL, SORT_READS, SORT_WRITES, SORT_RBYTES, SORT_WBYTES };

static const char *const sort_names[] = {
	[SORT_ALL] = "all",	  [SORT_READS] = "reads",   [SORT_WRITES] = "writes",
	[SORT_RBYTES] = "rbytes", [SORT_WBYTES] = "wbytes",
};

struct env {
	struct cli_common c;
	enum attach_kind attach;
	uint64_t rows;
	enum sort_by sort;
	bool noclear;
	bool all_files;
	bool full_path;
	const char *om_path;
};

enum col { COL_TIME, COL_INTERVAL, COL_TID, COL_PID, COL_NSPID, COL_CONTAINER, COL_COMM, COL_READS, COL_WRITES, COL_RKB,
	   COL_WKB, COL_RBYTES, COL_WBYTES, COL_TYPE, COL_DEV, COL_INO, COL_FILE, NCOLS };

static struct out_col columns[NCOLS] = {
	[COL_TIME] = { "TIME", "time", 8, OUT_HIDE_TEXT },
	[COL_INTERVAL] = { "INTERVAL", "interval", 0, OUT_HIDE_TEXT },
	[COL_TID] = { "TID", "tid", 7, 0 },
	[COL_PID] = { "PID", "pid", 7, OUT_HIDE_TEXT },
	[COL_NSPID] = IDENTITY_COL_NSPID,
	[COL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[COL_COMM] = { "COMM", "comm", 16, OUT_LEFT },
	[COL_READS] = { "READS", "reads", 6, 0 },
	[COL_WRITES] = { "WRITES", "writes", 6, 0 },
	[COL_RKB] = { "R_Kb", "r_kb", 7, 0 },
	[COL_WKB] = { "W_Kb", "w_kb", 7, 0 },
	[COL_RBYTES] = { "RBYTES", "rbytes", 0, OUT_HIDE_TEXT },
	[COL_WBYTES] = { "WBYTES", "wbytes", 0, OUT_HIDE_TEXT },
	[COL_TYPE] = { "T", "type", 1, OUT_LEFT },
	[COL_DEV] = { "DEV", "dev", 0, OUT_HIDE_TEXT },
	[COL_INO] = { "INO", "ino", 0, OUT_HIDE_TEXT },
	[COL_FILE] = { "FILE", "file", 0, OUT_LEFT },
};

#define MAX_LINKS 24

struct ctx {
	const struct env *env;
	struct filetop_bpf *skel;
	struct out *out;
	struct identity *idn;
	struct progsync *sync;
	bool clear;            /* clear the screen before each interval */
	unsigned gen;          /* the generation the programs write (mirrors active_gen) */
	int counts_fd[2];
	int paths_fd[2];
	bool no_batch;         /* the kernel has no batched map lookup-and-delete */
	size_t cap;
	struct filetop_key *keys;
	struct filetop_value *vals;
	uint32_t *order;
	struct filetop_path *path;
	uint64_t interval;
	uint64_t dropped_seen;
	struct om_set *om; /* --openmetrics: cumulative counts of at most ROWS files */
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
};

static const char doc[] =
	"Top files by reads and writes, refreshed every interval (default 1 second).\n"
	"\n"
	"EXAMPLES:\n"
	"  filetop            # top 20 files, every second\n"
	"  filetop -C 5 10    # don't clear the screen; 5 second summaries, 10 times\n"
	"  filetop -p 181     # PID 181 only\n"
	"  filetop -s wbytes  # sort by bytes written\n"
	"  filetop -a -F      # sockets, pipes and devices too; absolute paths\n"
	"  filetop -j 1 1     # one second, as JSON lines";

static const char args_doc[] = "[interval] [count]";

enum {
	OPT_NOCLEAR = 'C',
	OPT_ROWS = 'r',
	OPT_SORT = 's',
	OPT_ALL = 'a',
	OPT_FULL = 'F',
	OPT_OPENMETRICS = 0x100,
	OPT_ATTACH,
};

static const struct argp_option options[] = {
	{ "noclear", OPT_NOCLEAR, NULL, 0, "Don't clear the screen between intervals", 0 },
	{ "maxrows", OPT_ROWS, "ROWS", 0, "At most ROWS files per interval (default 20)", 0 },
	{ "sort", OPT_SORT, "KEY", 0,
	  "Sort by all (bytes, then calls), reads, writes, rbytes or wbytes; descending "
	  "(default all)", 0 },
	{ "all-files", OPT_ALL, NULL, 0, "Include sockets, pipes, devices and other non-regular "
	  "files", 0 },
	{ "full-path", OPT_FULL, NULL, 0, "Show absolute paths instead of file names", 0 },
	{ "openmetrics", OPT_OPENMETRICS, "FILE", 0,
	  "Each interval, replace FILE with OpenMetrics counters of calls and bytes per file "
	  "(the first ROWS files to make an interval's top; the rest as file=\"other\")", 0 },
	{ "attach", OPT_ATTACH, "KIND", 0,
	  "Attach point: auto (default), fentry (fexit on vfs_read/vfs_write), kprobe, raw_tp "
	  "(sys_exit) or tracepoint (the syscall tracepoints)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;
	unsigned i;

	switch (key) {
	case OPT_NOCLEAR:
		env->noclear = true;
		break;
	case OPT_ROWS:
		env->rows = cli__u64(arg, "ROWS", 1, FILETOP_MAX_ENTRIES);
		break;
	case OPT_SORT:
		for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
			if (strcmp(arg, sort_names[i]) == 0)
				break;
		if (i == sizeof(sort_names) / sizeof(sort_names[0]))
			cli__usage_error("invalid sort KEY: must be all, reads, writes, rbytes or "
					 "wbytes");
		env->sort = i;
		break;
	case OPT_ALL:
		env->all_files = true;
		break;
	case OPT_FULL:
		env->full_path = true;
		break;
	case OPT_OPENMETRICS:
		env->om_path = om__path_arg(arg);
		break;
	case OPT_ATTACH:
		env->attach = attach__parse(arg, ATTACH_MASK(ATTACH_FENTRY) |
						 ATTACH_MASK(ATTACH_KPROBE) |
						 ATTACH_MASK(ATTACH_RAW_TP) |
						 ATTACH_MASK(ATTACH_TRACEPOINT));
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- attach points ---- */

static const char *const rw_funcs[] = { "vfs_read", "vfs_write", "vfs_readv", "vfs_writev" };

/* fd-based read/write syscalls; the vectored and positional forms too. */
static const struct {
	const char *name;
	bool write;
	int nr; /* this architecture's number */
} rw_syscalls[] = {
	{ "read", false, SYS_read },	     { "write", true, SYS_write },
	{ "pread64", false, SYS_pread64 },   { "pwrite64", true, SYS_pwrite64 },
	{ "readv", false, SYS_readv },	     { "writev", true, SYS_writev },
	{ "preadv", false, SYS_preadv },     { "pwritev", true, SYS_pwritev },
	{ "preadv2", false, SYS_preadv2 },   { "pwritev2", true, SYS_pwritev2 },
};

#define NSYSCALLS (sizeof(rw_syscalls) / sizeof(rw_syscalls[0]))

static const char *const rw_funcs_needed[] = { "vfs_read", "vfs_write", NULL };

/* fexit and kprobes need vfs_read and vfs_write (the vectored ones only count readv and
 * friends); the classic tracepoints are one per syscall (sys_exit_read stands for them). */
static const struct attach_point rw_point = { .tp_category = "syscalls",
					      .tp_name = "sys_exit_read",
					      .funcs = rw_funcs_needed };

/* The cheapest hook this kernel allows: fexit runs only on reads and writes and gets the file
 * and the result in one program; kprobes need two programs per call; syscall tracepoints put
 * every syscall on the system on the tracing slow path while attached, the raw one filtered
 * by number at least detaching at once. ATTACH_AUTO (said why) when none is possible. */
static enum attach_kind choose_attach(struct filetop_bpf *skel, enum attach_kind forced,
				      bool fexit_on[4])
{
	struct bpf_program *fexit[] = { skel->progs.fexit_vfs_read, skel->progs.fexit_vfs_write,
					skel->progs.fexit_vfs_readv,
					skel->progs.fexit_vfs_writev };
	static const enum attach_kind functions[] = { ATTACH_FENTRY, ATTACH_KPROBE, ATTACH_AUTO };
	static const enum attach_kind classic[] = { ATTACH_TRACEPOINT, ATTACH_AUTO };
	enum attach_kind kind;
	unsigned i;

	/* The raw sys_exit is not attached to find out (attaching flips the syscall tracing
	 * static keys, 50-120 ms on a loaded machine): it exists wherever raw tracepoints do on
	 * the architectures filetop knows the syscall numbers of. CORESCOPE_SYSCALL_TRACEPOINTS
	 * =classic leaves it out of the automatic choice. */
	if (forced == ATTACH_RAW_TP)
		kind = ATTACH_RAW_TP;
	else if (forced != ATTACH_AUTO)
		kind = attach__pick(forced, NULL, &rw_point);
	else if ((kind = attach__pick(ATTACH_AUTO, functions, &rw_point)) == ATTACH_AUTO)
		kind = probe__raw_sys_exit() ? ATTACH_RAW_TP
					     : attach__pick(ATTACH_AUTO, classic, &rw_point);
	if (kind == ATTACH_AUTO) {
		if (forced == ATTACH_AUTO)
			p_err("no way to trace reads and writes: fentry/fexit and kprobes are "
			      "unavailable and tracefs could not be mounted (mount -t tracefs "
			      "tracefs /sys/kernel/tracing)");
		return ATTACH_AUTO;
	}
	switch (kind) {
	case ATTACH_FENTRY:
		p_info("attach: fentry: fexit on vfs_read and vfs_write");
		break;
	case ATTACH_KPROBE:
		p_info("attach: kprobe: kprobes on vfs_read and vfs_write");
		break;
	case ATTACH_RAW_TP:
		p_info("attach: raw_tp: the raw tracepoint sys_exit, filtered by syscall number");
		for (i = 0; i < NSYSCALLS; i++) {
			skel->rodata->rw_nr[i] = rw_syscalls[i].nr;
			if (rw_syscalls[i].write)
				skel->rodata->rw_write_mask |= 1u << i;
		}
		break;
	default:
		p_info("attach: tracepoint: the syscall tracepoints of the read and write calls");
		break;
	}
	for (i = 0; i < 4; i++) {
		bool on = kind == ATTACH_FENTRY && (i < 2 || probe__fentry(rw_funcs[i]));

		bpf_program__set_autoload(fexit[i], on);
		fexit_on[i] = on;
		/* Said without -v: a whole family of calls missing from the table is a cut. */
		if (kind == ATTACH_FENTRY && !on)
			p_warn("%s: fexit refused; the calls that use it (readv, preadv...) are not "
			       "counted", rw_funcs[i]);
	}
	bpf_program__set_autoload(skel->progs.kprobe_read, kind == ATTACH_KPROBE);
	bpf_program__set_autoload(skel->progs.kprobe_write, kind == ATTACH_KPROBE);
	bpf_program__set_autoload(skel->progs.kretprobe_rw, kind == ATTACH_KPROBE);
	bpf_program__set_autoload(skel->progs.sys_enter_rd, kind == ATTACH_TRACEPOINT);
	bpf_program__set_autoload(skel->progs.sys_enter_wr, kind == ATTACH_TRACEPOINT);
	bpf_program__set_autoload(skel->progs.sys_exit_rw, kind == ATTACH_TRACEPOINT);
	bpf_program__set_autoload(skel->progs.sys_exit_raw, kind == ATTACH_RAW_TP);
	return kind;
}

static int add_link(struct ctx *ctx, struct bpf_link *link, const char *what, bool optional)
{
	int err;

	if (!link || ctx->nlinks == MAX_LINKS) {
		err = link ? -E2BIG : -errno;
		bpf_link__destroy(link);
		if (optional) {
			p_warn("%s: cannot attach (%s); the calls that use it (readv, preadv...) "
			       "are not counted", what, strerror(-err));
			return 0;
		}
		p_bpf_err(what, err);
		return err;
	}
	ctx->links[ctx->nlinks++] = link;
	p_info("attached: %s", what);
	return 0;
}

/* Return-side programs go first: an entry seen without its return would leave a stale
 * record for the thread's next call. */
static int attach(struct ctx *ctx, enum attach_kind kind, const bool fexit_on[4])
{
	struct filetop_bpf *skel = ctx->skel;
	struct bpf_program *fexit[] = { skel->progs.fexit_vfs_read, skel->progs.fexit_vfs_write,
					skel->progs.fexit_vfs_readv,
					skel->progs.fexit_vfs_writev };
	char what[64];
	unsigned i;
	int err = 0;

	switch (kind) {
	case ATTACH_FENTRY:
		for (i = 0; i < 4 && !err; i++) {
			if (!fexit_on[i])
				continue;
			snprintf(what, sizeof(what), "fexit on %s", rw_funcs[i]);
			err = add_link(ctx, bpf_program__attach(fexit[i]), what, i >= 2);
		}
		break;
	case ATTACH_KPROBE:
		for (i = 0; i < 4 && !err; i++) {
			struct bpf_program *p = i % 2 ? skel->progs.kprobe_write
						      : skel->progs.kprobe_read;
			int before = ctx->nlinks;

			snprintf(what, sizeof(what), "kretprobe on %s", rw_funcs[i]);
			err = add_link(ctx, bpf_program__attach_kprobe(skel->progs.kretprobe_rw, true,
								       rw_funcs[i]),
				       what, i >= 2);
			/* An entry probe without its return probe would only leave stale records. */
			if (err || ctx->nlinks == before)
				continue;
			snprintf(what, sizeof(what), "kprobe on %s", rw_funcs[i]);
			err = add_link(ctx, bpf_program__attach_kprobe(p, false, rw_funcs[i]), what,
				       i >= 2);
		}
		break;
	case ATTACH_RAW_TP:
		err = add_link(ctx, bpf_program__attach_raw_tracepoint(skel->progs.sys_exit_raw,
								       "sys_exit"),
			       "raw tracepoint sys_exit", false);
		break;
	case ATTACH_TRACEPOINT:
		for (int pass = 0; pass < 2 && !err; pass++) {
			for (i = 0; i < NSYSCALLS && !err; i++) {
				struct bpf_program *p;
				char tp[32];

				if (!probe__syscall(rw_syscalls[i].name)) {
					if (pass == 0)
						p_info("%s: no such syscall here, skipped",
						       rw_syscalls[i].name);
					continue;
				}
				if (pass == 0)
					p = skel->progs.sys_exit_rw;
				else if (rw_syscalls[i].write)
					p = skel->progs.sys_enter_wr;
				else
					p = skel->progs.sys_enter_rd;
				snprintf(tp, sizeof(tp), "sys_%s_%s", pass ? "enter" : "exit",
					 rw_syscalls[i].name);
				snprintf(what, sizeof(what), "tracepoint syscalls:%s", tp);
				err = add_link(ctx, bpf_program__attach_tracepoint(p, "syscalls", tp),
					       what, false);
			}
		}
		break;
	default:
		break;
	}
	return err;
}

/* ---- one interval ---- */

static uint64_t sort_key(const struct filetop_value *v, enum sort_by by, int tier)
{
	switch (by) {
	case SORT_READS:
		return v->reads;
	case SORT_WRITES:
		return v->writes;
	case SORT_RBYTES:
		return v->rbytes;
	case SORT_WBYTES:
		return v->wbytes;
	case SORT_ALL:
	default:
		return tier == 0 ? v->rbytes + v->wbytes : v->reads + v->writes;
	}
}

static int cmp_rows(const void *pa, const void *pb, void *vctx)
{
	const struct ctx *ctx = vctx;
	const struct filetop_value *a = &ctx->vals[*(const uint32_t *)pa];
	const struct filetop_value *b = &ctx->vals[*(const uint32_t *)pb];
	const struct filetop_key *ka = &ctx->keys[*(const uint32_t *)pa];
	const struct filetop_key *kb = &ctx->keys[*(const uint32_t *)pb];
	enum sort_by by = ctx->env->sort;
	int tier;

	/* Descending; ties in a stable order (thread, then name) so rows do not jump. */
	for (tier = 0; tier < 2; tier++) {
		uint64_t x = sort_key(a, by, tier), y = sort_key(b, by, tier);

		if (x != y)
			return x < y ? 1 : -1;
	}
	if (ka->tid != kb->tid)
		return ka->tid < kb->tid ? -1 : 1;
	return strncmp(a->name, b->name, sizeof(a->name));
}

/* Reads and empties a counts map the programs no longer write. */
static int drain(struct ctx *ctx, int fd, size_t *np)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in = 0, out = 0, count;
	bool first = true;
	size_t n = 0, i;
	int err = 0;

	while (!ctx->no_batch) {
		count = ctx->cap - n;
		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, ctx->keys + n,
						      ctx->vals + n, &count, &opts);
		if (err && err != -ENOENT) {
			/* Before Linux 5.6 there is no batch command: one key at a time. */
			if (n == 0 && (err == -EINVAL || err == -EOPNOTSUPP || err == -524)) {
				ctx->no_batch = true;
				break;
			}
			return err;
		}
		n += count;
		if (err == -ENOENT || n >= ctx->cap) {
			*np = n;
			return 0;
		}
		in = out;
		first = false;
	}
	/* Nothing writes the map now, so walking it with get_next_key sees every entry once. */
	while (n < ctx->cap &&
	       bpf_map_get_next_key(fd, n ? &ctx->keys[n - 1] : NULL, &ctx->keys[n]) == 0) {
		if (bpf_map_lookup_elem(fd, &ctx->keys[n], &ctx->vals[n]))
			return -errno;
		n++;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &ctx->keys[i]);
	*np = n;
	return 0;
}

/* Empties a paths map the programs no longer write. */
static void clear_paths(int fd)
{
	struct filetop_key key;

	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fd, &key))
			break;
}

static char file_type(uint16_t mode)
{
	if (S_ISREG(mode))
		return 'R';
	if (S_ISSOCK(mode))
		return 'S';
	return 'O';
}

/* The file's name as shown: its absolute path with -F (*truncated, and PATHBUF_CUT in place
 * of the rest, when the walk stopped short), else its dentry name, else what /proc/PID/fd
 * shows for pipes and sockets. */
static const char *file_name(struct ctx *ctx, int paths_fd, const struct filetop_key *k,
			     const struct filetop_value *v, char *buf, size_t size,
			     bool *truncated)
{
	bool path_missing = false;
	size_t len;

	*truncated = false;
	if (ctx->env->full_path && bpf_map_lookup_elem(paths_fd, k, ctx->path) != 0)
		path_missing = true; /* the paths map was full: the name alone is a cut path */
	else if (ctx->env->full_path && ctx->path->depth > 0) {
		struct filetop_path *p = ctx->path;

		*truncated = p->flags & PATH_TRUNCATED;
		len = p->len < sizeof(p->buf) ? p->len : sizeof(p->buf);
		if (pathbuf__join(buf, size, p->buf, len, p->depth, *truncated) < 0)
			*truncated = true;
		return buf;
	}
	len = v->name_len ? v->name_len - 1 : 0;
	if (len > sizeof(v->name))
		len = sizeof(v->name);
	len = strnlen(v->name, len);
	if (len) {
		snprintf(buf, size, "%s%.*s", path_missing ? PATHBUF_CUT "/" : "", (int)len, v->name);
		*truncated = path_missing;
		return buf;
	}
	/* Pipes have no name of their own; show them the way /proc/PID/fd does. */
	snprintf(buf, size, "%s:[%llu]",
		 S_ISFIFO(v->mode) ? "pipe" : S_ISSOCK(v->mode) ? "socket" : "inode",
		 (unsigned long long)k->ino);
	return buf;
}

static void print_file(struct ctx *ctx, int paths_fd, const struct filetop_key *k,
		       const struct filetop_value *v)
{
	struct out *o = ctx->out;
	char buf[PATH_BUF_ALLOC + 4];
	bool truncated;

	out__cstr(o, COL_FILE, file_name(ctx, paths_fd, k, v, buf, sizeof(buf), &truncated));
	if (truncated && out__json(o)) {
		json_key(out__json(o), "path_truncated");
		json_bool(out__json(o), true);
	}
}

static void print_header(struct ctx *ctx, const char *hms)
{
	char load[128] = "";
	FILE *f;

	if (ctx->clear)
		fputs("\033[H\033[2J", stdout);
	else if (ctx->interval > 1)
		fputc('\n', stdout);
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(load, sizeof(load), f))
			load[0] = '\0';
		load[strcspn(load, "\n")] = '\0';
		fclose(f);
	}
	printf("%-8s loadavg: %s\n\n", hms, load);
	out__header(ctx->out);
}

static void print_interval(struct ctx *ctx, size_t n, int paths_fd)
{
	const struct env *env = ctx->env;
	struct out *o = ctx->out;
	uint64_t shown = 0, now = loop__now_mono_ns();
	char hms[16];
	size_t i;

	out__hms(hms, sizeof(hms), now);
	if (!env->c.json)
		print_header(ctx, hms);
	for (i = 0; i < n; i++)
		ctx->order[i] = i;
	qsort_r(ctx->order, n, sizeof(ctx->order[0]), cmp_rows, ctx);
	for (i = 0; i < n && shown < env->rows; i++) {
		const struct filetop_key *k = &ctx->keys[ctx->order[i]];
		const struct filetop_value *v = &ctx->vals[ctx->order[i]];

		if (!v->reads && !v->writes)
			continue;
		shown++;
		out__begin(o);
		out__fmt(o, COL_TIME, "%s", hms);
		out__u64(o, COL_INTERVAL, ctx->interval);
		out__u64(o, COL_TID, k->tid);
		out__u64(o, COL_PID, v->pid);
		identity__print(ctx->idn, o, &v->id, v->pid, now);
		out__str(o, COL_COMM, v->comm, strnlen(v->comm, sizeof(v->comm)));
		out__u64(o, COL_READS, v->reads);
		out__u64(o, COL_WRITES, v->writes);
		out__u64(o, COL_RKB, v->rbytes / 1024);
		out__u64(o, COL_WKB, v->wbytes / 1024);
		out__u64(o, COL_RBYTES, v->rbytes);
		out__u64(o, COL_WBYTES, v->wbytes);
		out__fmt(o, COL_TYPE, "%c", file_type(v->mode));
		out__fmt(o, COL_DEV, "%u:%u", k->dev >> 20, k->dev & 0xfffff);
		out__u64(o, COL_INO, k->ino);
		print_file(ctx, paths_fd, k, v);
		out__end(o);
	}
}

/* --openmetrics: adds the interval's rows, in the order they were ranked, to the per-file
 * totals. Files are (dev, ino) across all threads; a file that ever made the top ROWS keeps
 * its series, the others add up in file="other". */
enum { OM_READS, OM_WRITES, OM_RBYTES, OM_WBYTES, OM_NCOUNTERS };
static const char *const om_labels[] = { "file", "dev", "ino" };

static int om_add_interval(struct ctx *ctx, size_t n, int paths_fd)
{
	char name[PATH_BUF_ALLOC + 4], dev[24], ino[24];
	const char *values[] = { name, dev, ino };
	struct om_series *r;
	bool truncated;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct filetop_key *k = &ctx->keys[ctx->order[i]];
		const struct filetop_value *v = &ctx->vals[ctx->order[i]];

		if (!v->reads && !v->writes)
			continue;
		file_name(ctx, paths_fd, k, v, name, sizeof(name), &truncated);
		snprintf(dev, sizeof(dev), "%u:%u", k->dev >> 20, k->dev & 0xfffff);
		snprintf(ino, sizeof(ino), "%llu", (unsigned long long)k->ino);
		r = om_set__get(ctx->om, values);
		if (!r) {
			p_err("--openmetrics: out of memory");
			return -ENOMEM;
		}
		r->counters[OM_READS] += v->reads;
		r->counters[OM_WRITES] += v->writes;
		r->counters[OM_RBYTES] += v->rbytes;
		r->counters[OM_WBYTES] += v->wbytes;
	}
	return 0;
}

static int om_write(FILE *f, void *vctx)
{
	static const struct {
		const char *name, *unit, *help;
	} fams[OM_NCOUNTERS] = {
		[OM_READS] = { "corescope_filetop_reads_total", NULL,
			       "Reads that transferred data, per file." },
		[OM_WRITES] = { "corescope_filetop_writes_total", NULL,
				"Writes that transferred data, per file." },
		[OM_RBYTES] = { "corescope_filetop_read_bytes_total", "bytes",
				"Bytes read, per file." },
		[OM_WBYTES] = { "corescope_filetop_written_bytes_total", "bytes",
				"Bytes written, per file." },
	};
	const struct ctx *ctx = vctx;
	struct om_writer *w = om__new(f);
	int i, err = 0;

	if (!w)
		return -errno;
	for (i = 0; i < OM_NCOUNTERS && !err; i++) {
		err = om__metric(w, fams[i].name, OM_COUNTER, fams[i].unit, fams[i].help);
		if (!err)
			err = om_set__write_counter(ctx->om, w, om_labels, i);
	}
	if (!err)
		err = om__metric(w, "corescope_filetop_uncounted_calls_total", OM_COUNTER, NULL,
				 "Reads and writes not counted: more thread and file pairs in one "
				 "interval than the table holds.");
	if (!err)
		err = om__u64(w, NULL, NULL, 0, ctx->dropped_seen);
	if (err) {
		om__free(w);
		return err;
	}
	return om__end(w);
}

static int tick(void *vctx)
{
	struct ctx *ctx = vctx;
	unsigned old = ctx->gen;
	uint64_t dropped;
	size_t n = 0;
	int err;

	/* Flip, then wait out the programs that may still write the old map: from here on it
	 * is ours alone, and counts that land meanwhile go to the new one. */
	ctx->gen ^= 1;
	__atomic_store_n(&ctx->skel->bss->active_gen, ctx->gen, __ATOMIC_SEQ_CST);
	err = progsync__wait(ctx->sync);
	if (err) {
		p_err("waiting for running BPF programs: %s", strerror(-err));
		return err;
	}
	err = drain(ctx, ctx->counts_fd[old], &n);
	if (err) {
		p_err("reading the counts map: %s", strerror(-err));
		return err;
	}
	ctx->interval++;
	print_interval(ctx, n, ctx->paths_fd[old]);
	if (ctx->om)
		err = om_add_interval(ctx, n, ctx->paths_fd[old]);
	if (ctx->env->full_path)
		clear_paths(ctx->paths_fd[old]);
	if (err)
		return err;
	dropped = __atomic_load_n(&ctx->skel->bss->dropped, __ATOMIC_RELAXED);
	if (dropped != ctx->dropped_seen) {
		p_warn("%llu reads/writes not counted: more than %d thread and file pairs in one "
		       "interval",
		       (unsigned long long)(dropped - ctx->dropped_seen), FILETOP_MAX_ENTRIES);
		ctx->dropped_seen = dropped;
	}
	return ctx->om ? om__update_file(ctx->env->om_path, om_write, ctx) : 0;
}

int main(int argc, char **argv)
{
	struct env env = { .rows = 20, .sort = SORT_ALL };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP | CLI_CONTAINERS |
							    CLI_INTERVAL, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .args_doc = args_doc,
				   .doc = doc, .children = children };
	struct filetop_bpf *skel = NULL;
	struct ctx ctx = { .env = &env };
	enum attach_kind kind;
	bool fexit_on[4];
	int err, i;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("filetop", &env.c);
	if (err)
		return 1;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, filetop_bpf));
	skel = filetop_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	skel->rodata->all_files = env.all_files;
	skel->rodata->full_path = env.full_path;
	if (!env.full_path) {
		bpf_map__set_max_entries(skel->maps.paths0, 1);
		bpf_map__set_max_entries(skel->maps.paths1, 1);
	} else if (!probe__bpf_mem_alloc()) {
		/* Before 6.1 the maps are preallocated (bpfobj__prealloc_where_needed): 4 KiB
		 * paths for every possible row would pin ~88 MiB. Rows past this many show their
		 * file name, marked as a cut path. */
		bpf_map__set_max_entries(skel->maps.paths0, FILETOP_PREALLOC_PATHS);
		bpf_map__set_max_entries(skel->maps.paths1, FILETOP_PREALLOC_PATHS);
	}
	kind = choose_attach(skel, env.attach, fexit_on);
	if (kind == ATTACH_AUTO) {
		err = -ENOENT;
		goto cleanup;
	}
	err = tool__load(skel->skeleton, &env.c, 0);
	if (err)
		goto cleanup;

	ctx.skel = skel;
	ctx.counts_fd[0] = bpf_map__fd(skel->maps.counts0);
	ctx.counts_fd[1] = bpf_map__fd(skel->maps.counts1);
	ctx.paths_fd[0] = bpf_map__fd(skel->maps.paths0);
	ctx.paths_fd[1] = bpf_map__fd(skel->maps.paths1);
	ctx.cap = bpf_map__max_entries(skel->maps.counts0);
	ctx.keys = calloc(ctx.cap, sizeof(*ctx.keys));
	ctx.vals = calloc(ctx.cap, sizeof(*ctx.vals));
	ctx.order = calloc(ctx.cap, sizeof(*ctx.order));
	ctx.path = calloc(1, sizeof(*ctx.path));
	ctx.sync = progsync__new();
	if (!ctx.keys || !ctx.vals || !ctx.order || !ctx.path || !ctx.sync) {
		err = -errno;
		p_err("setting up: %s", strerror(errno));
		goto cleanup;
	}
	ctx.idn = identity__new(&env.c, columns, COL_NSPID);
	if (!ctx.idn) {
		err = -errno;
		p_err("setting up: %s", strerror(errno));
		goto cleanup;
	}
	ctx.out = out__new(stdout, env.c.json, columns, NCOLS);
	if (!ctx.out) {
		err = -errno;
		p_err("setting up output: %s", strerror(errno));
		goto cleanup;
	}
	err = attach(&ctx, kind, fexit_on);
	if (err)
		goto cleanup;

	/* Escape sequences only for a person at a terminal, never into a file or a pipe. */
	ctx.clear = !env.noclear && !env.c.json && isatty(STDOUT_FILENO);
	if (env.om_path) {
		ctx.om = om_set__new(3, OM_NCOUNTERS, false, env.rows);
		/* An empty exposition first: a bad path fails before tracing starts. */
		err = ctx.om ? om__update_file(env.om_path, om_write, &ctx) : -errno;
		if (!ctx.om)
			p_err("--openmetrics: %s", strerror(errno));
		if (err)
			goto cleanup;
	}
	tool__ready("file reads and writes");
	err = loop__interval((env.c.interval_given ? env.c.interval_s : 1) * 1000, env.c.count, 0,
			     true, tick, &ctx);
	{
		struct tool_drop drops[] = {
			{ "inflight_full", "reads/writes not counted: more than 10240 threads in "
			  "a read or write at once", skel->bss->inflight_full },
			{ "missed_events", TOOL_MISSED_WHAT, bpfobj__missed_runs(skel->obj) },
		};

		tool__report_drops(env.c.json, drops, sizeof(drops) / sizeof(drops[0]));
	}

cleanup:
	for (i = ctx.nlinks - 1; i >= 0; i--)
		bpf_link__destroy(ctx.links[i]);
	out__free(ctx.out);
	identity__free(ctx.idn);
	om_set__free(ctx.om);
	progsync__free(ctx.sync);
	free(ctx.path);
	free(ctx.order);
	free(ctx.vals);
	free(ctx.keys);
	filetop_bpf__destroy(skel);
	return err ? 1 : 0;
}
