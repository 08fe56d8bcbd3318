/* biolatency: block I/O latency histograms, per disk or per kind of request, as text, JSON
 * lines, or an OpenMetrics file for Prometheus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "blkdev.h"
#include "cli.h"
#include "escape.h"
#include "hist.h"
#include "htab.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "openmetrics.h"
#include "out.h"
#include "probe.h"
#include "bpfobj.h"
#include "tool.h"

#include "biolatency.h"
#include "biolatency.skel.h"

/* Without an interval the histogram is printed once, at Ctrl-C (or SIGTERM). */
#define FOREVER_MS (366ULL * 86400 * 1000)

/* Keys the hists map can hold: one without -D and -F; disks, kinds, or both. Preallocated
 * (~600 bytes each, per CPU up to HISTS_PERCPU_MAX_BYTES), so no bigger than a busy machine
 * needs. */
#define KEYS_PER_DISK 512
#define KEYS_PER_KIND 256
#define KEYS_PER_DISK_KIND 2048
/* --containers: cgroups that submit I/O (a host's services count one each), alone or times
 * disks and kinds. */
#define KEYS_PER_CGROUP 1024
#define KEYS_PER_CGROUP_SPLIT 4096

/* OpenMetrics buckets kept: up to 2^27 - 1 usecs (134 s) or 2^18 - 1 msecs (262 s); slower
 * I/O only reaches +Inf. A fixed set, so no bucket series appears mid-run. */
#define OM_SLOTS_USECS 27
#define OM_SLOTS_MSECS 18
#define OM_FAMILY "corescope_biolatency"

struct env {
	struct cli_common c;
	bool timestamp;
	bool ms;
	bool queued;
	bool per_disk;
	bool per_kind;
	bool extended;
	const char *disk;
	const char *om_path;
	enum attach_kind attach;
};

/* One histogram of one interval: its key, its labels, the cumulative value (OpenMetrics) and
 * what it gained in the interval (text and JSON). With --containers, the entries of the
 * cgroups of one container are summed into one. */
struct entry {
	struct biolat_key key;
	const struct identity_rec *who; /* --containers: the container (or the host) */
	char disk[64];
	char kind[128];
	struct hist now;
	struct hist delta;
};

struct ctx {
	const struct env *env;
	struct biolatency_bpf *skel;
	struct hist_track *track;
	struct blkdev_table *disks;
	bool disks_fresh;  /* the table was reloaded during this tick */
	char dev_name[64]; /* -d: the disk's name */
	struct entry *entries;
	size_t n, cap;
	struct json_writer json;
	struct identity *idn;
	/* --containers: cgroup id -> its container, fixed when first named, so that I/O
	 * counted for a container stays its own after the cgroup is gone. */
	struct htab owners;
};

static const char doc[] =
	"Summarize block device I/O latency as a histogram: from each request's issue\n"
	"to the device (with -Q: its insertion into the queue) to its completion.\n"
	"Prints once at Ctrl-C, or every INTERVAL seconds (COUNT times).\n"
	"\n"
	"EXAMPLES:\n"
	"  biolatency              # summarize until Ctrl-C\n"
	"  biolatency -m 1 10      # milliseconds, every second, 10 times\n"
	"  biolatency -mT 1        # with the time before each summary\n"
	"  biolatency -Q           # include the time queued in the kernel\n"
	"  biolatency -D           # one histogram per disk\n"
	"  biolatency -F           # one per set of I/O flags (Sync-Write, Read, ...)\n"
	"  biolatency -d sdc -e    # only sdc, with the average and totals\n"
	"  biolatency --containers # one histogram per container (and one for the host)\n"
	"  biolatency -D --openmetrics /var/lib/node_exporter/bio.prom 15 >/dev/null";

enum { OPT_OPENMETRICS = 0x100, OPT_ATTACH, OPT_CONTAINERS };

static const struct argp_option options[] = {
	{ "timestamp", 'T', NULL, 0, "Print the time before each summary", 0 },
	{ "milliseconds", 'm', NULL, 0, "Millisecond histograms (default: microseconds)", 0 },
	{ "queued", 'Q', NULL, 0, "Include the time queued in the kernel (from insertion)", 0 },
	{ "disks", 'D', NULL, 0, "One histogram per disk", 0 },
	{ "disk", 'd', "DISK", 0, "Only this disk: a name from /sys/class/block (as in /proc/partitions) "
	  "or /dev/...", 0 },
	{ "flag", 'F', NULL, 0, "One histogram per set of I/O flags", 0 },
	{ "containers", OPT_CONTAINERS, NULL, 0,
	  "One histogram per container that submitted the I/O, and one for the host", 0 },
	{ "extension", 'e', NULL, 0, "Also print the average latency and the totals", 0 },
	{ "openmetrics", OPT_OPENMETRICS, "FILE", 0,
	  "Each interval, replace FILE with the histograms in OpenMetrics text "
	  "(for node_exporter's textfile collector)", 0 },
	{ "attach", OPT_ATTACH, "KIND", 0,
	  "Tracepoints to use: auto (default), tp_btf, raw_tp or tracepoint", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;

	switch (key) {
	case 'T':
		env->timestamp = true;
		break;
	case 'm':
		env->ms = true;
		break;
	case 'Q':
		env->queued = true;
		break;
	case 'D':
		env->per_disk = true;
		break;
	case 'd':
		if (!*arg)
			cli__usage_error("invalid DISK: must not be empty");
		env->disk = arg;
		break;
	case 'F':
		env->per_kind = true;
		break;
	case 'e':
		env->extended = true;
		break;
	case OPT_CONTAINERS:
		env->c.containers = true;
		break;
	case OPT_OPENMETRICS:
		env->om_path = om__path_arg(arg);
		break;
	case OPT_ATTACH:
		env->attach = attach__parse(arg, ATTACH_MASK(ATTACH_RAW_TP) |
						 ATTACH_MASK(ATTACH_TP_BTF) |
						 ATTACH_MASK(ATTACH_TRACEPOINT));
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* -d DISK to the whole disk's device number; a bad name is a usage error. */
static void resolve_disk(struct ctx *ctx, __u32 *dev)
{
	const char *arg = ctx->env->disk, *name;
	char shown[128];
	int err;

	escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
	err = blkdev__resolve(ctx->disks, arg, dev);
	if (err == -ENOTBLK)
		cli__usage_error("invalid DISK '%s': not a block device", shown);
	if (err)
		cli__usage_error("invalid DISK '%s': no such disk in /proc/partitions or "
				 "/sys/class/block", shown);
	name = blkdev_table__name(ctx->disks, *dev);
	if (blkdev__is_partition(*dev))
		cli__usage_error("invalid DISK '%s': a partition; requests are counted per whole "
				 "disk, name the disk it is on", shown);
	if (name)
		snprintf(ctx->dev_name, sizeof(ctx->dev_name), "%s", name);
	else
		snprintf(ctx->dev_name, sizeof(ctx->dev_name), "%u:%u", BLK_DEV_MAJOR(*dev),
			 BLK_DEV_MINOR(*dev));
}

/* A task filter, and the container a request is counted for, are decided where the
 * submitter runs: at insertion (rq_insert). */
static bool filtered(const struct env *env)
{
	return env->c.pid || env->c.uid != CLI_UID_ANY || env->c.cgroup || env->c.mntns ||
	       env->c.containers;
}

/* Can every program of this kind attach here? insert only matters with -Q or a filter. */
static bool mode_possible(enum attach_kind mode, bool queued, char *why, size_t why_size)
{
	static const char *const tps[] = { "block_rq_issue", "block_rq_complete",
					   "block_rq_insert" };
	size_t i, n = queued ? 3 : 2;

	for (i = 0; i < n; i++) {
		const struct attach_point p = { .tp_category = "block", .tp_name = tps[i] };

		if (!attach__possible(mode, &p, why, why_size))
			return false;
	}
	return true;
}

static bool mode_has_merge(enum attach_kind mode)
{
	switch (mode) {
	case ATTACH_TP_BTF:
		return probe__tp_btf("block_rq_merge");
	case ATTACH_RAW_TP:
		return probe__raw_tp("block_rq_merge");
	case ATTACH_TRACEPOINT:
		return probe__tracepoint("block", "block_rq_merge");
	default:
		return false;
	}
}

/* Best first: raw tracepoints read the request through probe reads and need no kernel BTF
 * in the tool's memory (tp_btf makes libbpf 1.1 read and copy all of it to find the
 * tracepoints' BTF ids: ~11 MiB of peak memory, docs/performance.md); tp_btf reads the
 * same arguments directly; classic tracepoints need tracefs and only know disk and
 * sector, so they key requests by those and decode fewer flags. */
static int choose_programs(struct biolatency_bpf *skel, const struct env *env)
{
	struct bpf_program *progs[ATTACH__NR][4] = {
		[ATTACH_TP_BTF] = { skel->progs.issue_btf, skel->progs.complete_btf,
				    skel->progs.insert_btf, skel->progs.merge_btf },
		[ATTACH_RAW_TP] = { skel->progs.issue_raw, skel->progs.complete_raw,
				    skel->progs.insert_raw, skel->progs.merge_raw },
		[ATTACH_TRACEPOINT] = { skel->progs.issue_tp, skel->progs.complete_tp,
					skel->progs.insert_tp, skel->progs.merge_tp },
	};
	enum attach_kind mode = env->attach;
	char why[160];
	bool merge = false;
	int m, arg;

	if (mode == ATTACH_AUTO) {
		static const enum attach_kind order[] = { ATTACH_RAW_TP, ATTACH_TP_BTF,
							  ATTACH_TRACEPOINT };

		for (m = 0; m < 3 && mode == ATTACH_AUTO; m++)
			if (mode_possible(order[m], env->queued || filtered(env), NULL, 0))
				mode = order[m];
		if (mode == ATTACH_AUTO) {
			p_err("no block_rq tracepoints to attach to: this kernel has neither "
			      "BTF-typed nor raw tracepoints for them, and tracefs is missing");
			return -ENOENT;
		}
	} else if (!mode_possible(mode, env->queued || filtered(env), why, sizeof(why))) {
		p_err("--attach %s: not possible here: %s", attach__name(mode), why);
		return -ENOENT;
	}
	if (env->queued || filtered(env))
		merge = mode_has_merge(mode);
	/* (disk, sector) keys of a request whose completion went unseen never recur: LRU, so
	 * they cannot fill the map for good (an eviction shows as an orphan completion). */
	if (mode == ATTACH_TRACEPOINT)
		bpf_map__set_type(skel->maps.start, BPF_MAP_TYPE_LRU_HASH);
	for (m = ATTACH_RAW_TP; m <= ATTACH_TRACEPOINT; m++) {
		bpf_program__set_autoload(progs[m][0], m == (int)mode);
		bpf_program__set_autoload(progs[m][1], m == (int)mode);
		bpf_program__set_autoload(progs[m][2],
					  m == (int)mode && (env->queued || filtered(env)));
		bpf_program__set_autoload(progs[m][3], m == (int)mode && merge);
	}

	if (mode != ATTACH_TRACEPOINT) {
		/* No typed tracepoints in the BTF means a kernel before 5.5: the request_queue
		 * argument (gone in 5.11) is still there. */
		arg = probe__tp_arg_index("block_rq_issue", "request");
		if (arg < 0)
			arg = 1;
		if (arg > 1) {
			p_err("block_rq_issue has its struct request at argument %d, not 0 or 1",
			      arg);
			return -ENOTSUP;
		}
		skel->rodata->rq_arg = arg;
	}
	p_info("attach: %s block_rq_{issue,complete%s%s}", attach__name(mode),
	       env->queued || filtered(env) ? ",insert" : "", merge ? ",merge" : "");
	return 0;
}

/* One histogram per disk, kind or container, rather than one for everything. */
static bool split(const struct env *env)
{
	return env->per_disk || env->per_kind || env->c.containers;
}

static const char *unit_name(const struct env *env)
{
	return env->ms ? "msecs" : "usecs";
}

/* The disk's name for -D; the table is reloaded once per tick for a disk added since. */
static void disk_label(struct ctx *ctx, __u32 dev, char *buf, size_t size)
{
	const char *name = blkdev_table__name(ctx->disks, dev);

	if (!name && !ctx->disks_fresh) {
		struct blkdev_table *t = blkdev_table__load(NULL);

		ctx->disks_fresh = true;
		if (t) {
			blkdev_table__free(ctx->disks);
			ctx->disks = t;
			name = blkdev_table__name(t, dev);
		}
	}
	if (name)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%u:%u", BLK_DEV_MAJOR(dev), BLK_DEV_MINOR(dev));
}

static int collect(const void *key, const struct hist *now, const struct hist *delta, void *vctx)
{
	struct ctx *ctx = vctx;
	struct entry *e;

	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? 2 * ctx->cap : 8;

		e = realloc(ctx->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ctx->entries = e;
		ctx->cap = cap;
	}
	e = &ctx->entries[ctx->n++];
	memset(e, 0, sizeof(*e));
	memcpy(&e->key, key, sizeof(e->key));
	e->now = *now;
	e->delta = *delta;
	return 0;
}

/* The host first, then containers by their label, then the rest of the key. */
static int who_cmp(const struct identity_rec *x, const struct identity_rec *y)
{
	if (x == y)
		return 0;
	if (!x || !y)
		return x ? 1 : -1;
	if (!x->label || !y->label)
		return x->label ? 1 : y->label ? -1 : (x->id.cgroup_id > y->id.cgroup_id) -
						      (x->id.cgroup_id < y->id.cgroup_id);
	return strcmp(x->label, y->label) ?: strcmp(x->container, y->container);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = who_cmp(x->who, y->who);

	if (!c)
		c = strcmp(x->disk, y->disk);
	return c ? c : strcmp(x->kind, y->kind);
}

/* The container a cgroup's I/O is counted for: named once, the first time the cgroup is seen
 * (named later, a cgroup gone by then would move its counts). A cgroup gone before it was
 * named keeps a record of its own (no container, no path) rather than joining the host's. */
static const struct identity_rec *owner_of(struct ctx *ctx, uint64_t cgroup_id)
{
	struct htab_ent *e = htab__get(&ctx->owners, &cgroup_id, sizeof(cgroup_id), false);
	const struct ident id = { .cgroup_id = cgroup_id };
	const struct identity_rec *rec;

	if (e)
		return e->val.ptr;
	rec = identity__keep(ctx->idn, &id, 0, false);
	if (rec && (rec->container || rec->cgroup))
		rec = identity__keep(ctx->idn, &id, 0, true);
	if (!rec)
		return NULL;
	e = htab__get(&ctx->owners, &cgroup_id, sizeof(cgroup_id), true);
	if (!e)
		return NULL;
	e->val.ptr = (void *)rec;
	return rec;
}

/* Sums entries whose labels are equal (the cgroups of one container), once sorted. */
static void merge_entries(struct ctx *ctx)
{
	size_t i, n = 0;

	for (i = 0; i < ctx->n; i++) {
		struct entry *e = &ctx->entries[i];

		if (n && !entry_cmp(&ctx->entries[n - 1], e)) {
			hist__merge(&ctx->entries[n - 1].now, &e->now);
			hist__merge(&ctx->entries[n - 1].delta, &e->delta);
			continue;
		}
		if (n != i)
			ctx->entries[n] = *e;
		n++;
	}
	ctx->n = n;
}

/* Labels and sorts the entries. Without -D and -F there is always exactly one entry, empty
 * before the first I/O. */
static int finish_entries(struct ctx *ctx)
{
	const struct env *env = ctx->env;
	size_t i;
	int err;

	ctx->disks_fresh = false;
	if (!split(env) && ctx->n == 0) {
		struct hist zero = { 0 };
		struct biolat_key key = { 0 };

		err = collect(&key, &zero, &zero, ctx);
		if (err)
			return err;
	}
	for (i = 0; i < ctx->n; i++) {
		struct entry *e = &ctx->entries[i];

		if (env->per_disk)
			disk_label(ctx, e->key.dev, e->disk, sizeof(e->disk));
		else if (env->disk)
			snprintf(e->disk, sizeof(e->disk), "%s", ctx->dev_name);
		if (env->per_kind)
			blk_kind__name(e->key.kind, e->kind, sizeof(e->kind));
		if (env->c.containers) {
			e->who = owner_of(ctx, e->key.cgroup_id);
			if (!e->who)
				return -ENOMEM;
		}
	}
	if (ctx->n > 1)
		qsort(ctx->entries, ctx->n, sizeof(*ctx->entries), entry_cmp);
	if (env->c.containers)
		merge_entries(ctx);
	return 0;
}

/* Every key's cumulative histogram and its gain since the last read. */
static int read_entries(struct ctx *ctx)
{
	int err;

	ctx->n = 0;
	err = hist_track__read_map(ctx->track, bpf_map__fd(ctx->skel->maps.hists), collect, ctx);
	return err ? err : finish_entries(ctx);
}

/* --containers: "container = ID (RUNTIME)", "container = - (host)", or for a cgroup gone
 * before it was named, "container = ? (cgroup ID)". */
static void print_who(const struct identity_rec *who)
{
	fputs("container = ", stdout);
	if (who->label) {
		fput_escaped(stdout, who->label, strlen(who->label), 0);
		printf(" (%s)", who->runtime);
	} else if (who->id.cgroup_id) {
		printf("? (cgroup %llu, gone before it was named)",
		       (unsigned long long)who->id.cgroup_id);
	} else {
		fputs("- (host)", stdout);
	}
}

static void print_text(struct ctx *ctx, const char *hms)
{
	const struct env *env = ctx->env;
	const char *unit = unit_name(env);
	size_t i;

	putchar('\n');
	if (hms)
		printf("%s\n", hms);
	for (i = 0; i < ctx->n; i++) {
		const struct entry *e = &ctx->entries[i];
		__u64 count = hist__total(&e->delta);

		if (!count)
			continue;
		if (split(env)) {
			putchar('\n');
			if (env->c.containers) {
				print_who(e->who);
				if (env->per_disk || env->per_kind)
					putchar('\t');
			}
			if (env->per_disk) {
				fputs("disk = ", stdout);
				fput_escaped(stdout, e->disk, strlen(e->disk), 0);
				if (env->per_kind)
					putchar('\t');
			}
			if (env->per_kind)
				printf("flags = %s", e->kind);
			putchar('\n');
		}
		hist__print_log2(stdout, &e->delta, unit);
		if (env->extended)
			printf("\navg = %llu %s, total: %llu %s, count: %llu\n",
			       (unsigned long long)(e->delta.sum / count), unit,
			       (unsigned long long)e->delta.sum, unit, (unsigned long long)count);
	}
}

/* One object per histogram: every interval for the single histogram (empty ones too, so a
 * consumer sees each interval), only histograms that counted something with -D or -F. */
static void print_json(struct ctx *ctx, const char *hms)
{
	const struct env *env = ctx->env;
	struct json_writer *w = &ctx->json;
	char ts[48];
	size_t i;

	/* The interval's end, as every tool dates its records. */
	out__rfc3339(ts, sizeof(ts), loop__now_mono_ns());
	for (i = 0; i < ctx->n; i++) {
		const struct entry *e = &ctx->entries[i];
		__u64 count = hist__total(&e->delta);

		if (split(env) && !count)
			continue;
		json_obj_begin(w);
		if (hms) {
			json_key(w, "time");
			json_str(w, hms);
		}
		if (env->per_disk || env->disk) {
			json_key(w, "disk");
			json_str(w, e->disk);
		}
		if (env->per_kind) {
			json_key(w, "flags");
			json_str(w, e->kind);
		}
		if (env->c.containers)
			identity__json(w, e->who);
		json_key(w, "timestamp");
		json_str(w, ts);
		hist__json(w, &e->delta, unit_name(env));
		if (env->extended) {
			json_key(w, "avg");
			json_double(w, count ? (double)e->delta.sum / (double)count : 0.0);
		}
		json_obj_end(w);
		json_writer__endl(w);
	}
}

/* The whole file, cumulative since start (Prometheus histograms are counters): every
 * histogram the map holds, with disk and flags labels as split. */
static int om_write(FILE *f, void *vctx)
{
	struct ctx *ctx = vctx;
	const struct env *env = ctx->env;
	const char *names[3], *values[3];
	struct om_writer *w;
	size_t i;
	int n, err;

	w = om__begin(f, OM_FAMILY,
		      env->queued ? "Block I/O latency, from insertion into the queue to "
				    "completion."
				  : "Block I/O latency, from issue to the device to completion.");
	if (!w)
		return -errno;
	err = om__set_slots(w, env->ms ? OM_SLOTS_MSECS : OM_SLOTS_USECS);
	for (i = 0; !err && i < ctx->n; i++) {
		const struct entry *e = &ctx->entries[i];

		n = 0;
		if (env->per_disk || env->disk) {
			names[n] = "disk";
			values[n++] = e->disk;
		}
		if (env->per_kind) {
			names[n] = "flags";
			values[n++] = e->kind;
		}
		if (env->c.containers) {
			/* The container's id, "" for the host's I/O (and a cgroup gone unnamed). */
			names[n] = "container";
			values[n++] = e->who->container ? e->who->container : "";
		}
		err = om__hist(w, names, values, n, &e->now,
			       env->ms ? HIST_UNIT_MSECS : HIST_UNIT_USECS);
	}
	if (err) {
		om__free(w);
		return err;
	}
	return om__end(w);
}

static int write_openmetrics(struct ctx *ctx)
{
	return om__update_file(ctx->env->om_path, om_write, ctx);
}

static int tick(void *vctx)
{
	struct ctx *ctx = vctx;
	const struct env *env = ctx->env;
	char hms[16];
	time_t t;
	int err;

	err = read_entries(ctx);
	if (err) {
		p_err("reading the histograms: %s", strerror(-err));
		return err;
	}
	if (env->timestamp) {
		t = time(NULL);
		strftime(hms, sizeof(hms), "%H:%M:%S", localtime(&t));
	}
	if (env->c.json)
		print_json(ctx, env->timestamp ? hms : NULL);
	else
		print_text(ctx, env->timestamp ? hms : NULL);
	if (env->om_path)
		return write_openmetrics(ctx);
	return 0;
}

static __u32 hists_keys(const struct env *env)
{
	if (env->c.containers)
		return env->per_disk || env->per_kind ? KEYS_PER_CGROUP_SPLIT : KEYS_PER_CGROUP;
	if (env->per_disk && env->per_kind)
		return KEYS_PER_DISK_KIND;
	if (env->per_disk)
		return KEYS_PER_DISK;
	if (env->per_kind)
		return KEYS_PER_KIND;
	return 1;
}

/* Kernel memory of the histograms kept per CPU (preallocated: every key on every possible
 * CPU). Above HISTS_PERCPU_MAX_BYTES (-D or -F on a machine with many CPUs) they are one
 * shared value per key instead, updated with the same atomic adds. */
#define HISTS_PERCPU_MAX_BYTES (1u << 20)

static size_t hists_percpu_bytes(__u32 keys)
{
	int ncpus = libbpf_num_possible_cpus();

	return (size_t)keys * sizeof(struct hist) * (size_t)(ncpus > 0 ? ncpus : 1024);
}

/* Requests still in the start map: in flight at exit, or started and never seen completing
 * (only a later request on the same struct would have found it). Not those a task filter
 * excluded at insertion, nor one that completed while the map was read. */
static uint64_t count_in_flight(struct biolatency_bpf *skel)
{
	struct start_key { __u64 id, sector; } key, next;
	int fd = bpf_map__fd(skel->maps.start);
	uint64_t n = 0, steps = 0;
	void *prev = NULL;
	struct biolat_start start;

	while (steps++ < BIOLAT_MAX_INFLIGHT * 2 && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &start) && start.ts != BIOLAT_START_EXCLUDED)
			n++;
	}
	return n;
}

/* At exit, every request not in the histograms, by cause (stderr, and JSON). */
static void report_drops(struct biolatency_bpf *skel, const struct env *env)
{
	const __u64 *d = skel->bss->drops;
	char full[96], hists[96];
	struct tool_drop drops[] = {
		{ "in_flight_at_exit", "I/Os not counted: in flight at exit (or their completion "
		  "was not seen)", count_in_flight(skel) },
		{ "in_flight_at_start", "I/Os not counted: completed with no start seen (in flight "
		  "when tracing began, or evicted)", d[BIOLAT_ORPHAN] },
		{ "restarted", "I/Os started again before their completion was seen (requeued, or "
		  "the completion was not traced): timed from the later start",
		  d[BIOLAT_RESTARTED] },
		{ "start_map_full", full, d[BIOLAT_START_FULL] },
		{ "histograms_full", hists, d[BIOLAT_HISTS_FULL] },
		{ "missed_events", TOOL_MISSED_WHAT, bpfobj__missed_runs(skel->obj) },
	};

	snprintf(full, sizeof(full), "I/Os not counted: more than %u requests in flight",
		 BIOLAT_MAX_INFLIGHT);
	snprintf(hists, sizeof(hists), "I/Os not counted: more than %u histograms%s",
		 hists_keys(env), env->c.containers ? " (cgroups that submitted I/O)" : "");
	tool__report_drops(env->c.json, drops, sizeof(drops) / sizeof(drops[0]));
	loop__flush();
}

int main(int argc, char **argv)
{
	struct env env = { 0 };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP | CLI_INTERVAL, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg,
				   .args_doc = "[INTERVAL [COUNT]]", .doc = doc,
				   .children = children };
	struct biolatency_bpf *skel = NULL;
	struct ctx ctx = { .env = &env };
	__u32 dev = 0;
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("biolatency", &env.c);
	if (err)
		return 1;
	ctx.disks = blkdev_table__load(NULL);
	if (!ctx.disks) {
		p_err("reading /proc/partitions: %s", strerror(errno));
		return 1;
	}
	if (env.disk)
		resolve_disk(&ctx, &dev);
	ctx.track = hist_track__new(sizeof(struct biolat_key));
	if (!ctx.track) {
		err = -errno;
		p_err("out of memory");
		goto cleanup;
	}
	json_writer__init(&ctx.json, stdout);
	if (env.c.containers) {
		ctx.idn = identity__new(&env.c, NULL, 0);
		if (!ctx.idn) {
			err = -errno;
			p_err("out of memory");
			goto cleanup;
		}
	}

	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, biolatency_bpf));
	skel = biolatency_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	ctx.skel = skel;
	skel->rodata->targ_queued = env.queued;
	skel->rodata->targ_filter_at_insert = !env.queued && filtered(&env);
	skel->rodata->targ_ms = env.ms;
	skel->rodata->targ_per_disk = env.per_disk;
	skel->rodata->targ_per_kind = env.per_kind;
	skel->rodata->targ_per_cgroup = env.c.containers;
	skel->rodata->targ_dev = dev;
	err = choose_programs(skel, &env);
	if (err)
		goto cleanup;
	err = bpf_map__set_max_entries(skel->maps.hists, hists_keys(&env));
	if (!err && hists_percpu_bytes(hists_keys(&env)) > HISTS_PERCPU_MAX_BYTES) {
		err = bpf_map__set_type(skel->maps.hists, BPF_MAP_TYPE_HASH);
		p_info("histograms shared by the CPUs: per CPU they would take %zu bytes",
		       hists_percpu_bytes(hists_keys(&env)));
	}
	if (err) {
		p_bpf_err("sizing the histogram map", err);
		goto cleanup;
	}
	err = tool__load(skel->skeleton, &env.c, 0);
	if (err)
		goto cleanup;
	err = biolatency_bpf__attach(skel);
	if (err) {
		p_bpf_err("attaching to the block_rq tracepoints", err);
		goto cleanup;
	}
	/* An unwritable path fails now rather than at the first interval, and the collector
	 * sees the histograms from the start. Not read from the map: that would move the
	 * first interval's baseline past I/O already counted. */
	if (env.om_path) {
		err = finish_entries(&ctx);
		if (!err)
			err = write_openmetrics(&ctx);
		if (err)
			goto cleanup;
	}

	tool__ready("block device I/O");
	err = loop__interval(env.c.interval_given ? env.c.interval_s * 1000 : FOREVER_MS,
			     env.c.count, 0, true, tick, &ctx);
	loop__flush();
	report_drops(skel, &env);

cleanup:
	biolatency_bpf__destroy(skel);
	hist_track__free(ctx.track);
	htab__free(&ctx.owners);
	identity__free(ctx.idn);
	blkdev_table__free(ctx.disks);
	free(ctx.entries);
	return err ? 1 : 0;
}
