/* profile: a sampling CPU profiler. A perf event on every CPU fires -F times a second (or
 * every -c events); each sample's kernel and user stacks are counted in the kernel. Every
 * second (a "drain") the counts are read, symbolized and merged into identical symbolized
 * stacks here, and the kernel's maps emptied; when sampling ends the merged stacks are
 * printed as BCC-style stacks, folded lines for flame graphs (-f) or JSON (-j).
 *
 * Processes that exit before their stacks are symbolized still resolve: the kernel
 * announces each process image the first time it samples it, and its memory maps are read
 * (and its files held open) then, while it runs (common/syms/syms.h, syms_cache__prepare). What
 * is kept per image is freed once its process is gone and its last samples were drained,
 * so memory follows the live processes and the distinct stacks, not the length of the run
 * or the number of processes that came and went. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfobj.h"
#include "cli.h"
#include "escape.h"
#include "evbuf.h"
#include "htab.h"
#include "images.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "perfevent.h"
#include "stackfmt.h"
#include "stacks.h"
#include "syms/syms.h"
#include "tool.h"

#include "profile.h"
#include "profile.skel.h"

#define DEFAULT_FREQ 49
/* BCC's totals, split between the two generations. The stack map has one stack per bucket
 * and no chaining: a new stack whose hash meets a taken bucket is lost (-EEXIST), so it
 * needs far more buckets than one drain interval's stacks. Each entry is
 * PROFILE_MAX_STACK_DEPTH * 8 bytes of kernel memory (16 MiB in all by default). */
#define DEFAULT_STACK_STORAGE 16384
#define DEFAULT_HASH_STORAGE 40960
/* How often the kernel's buffers are swapped and the idle one drained. */
#define DRAIN_MS 1000
#define MAX_STORAGE (1u << 22)
/* Announcements of new process images: 24 bytes each, at most one per sample, and the
 * consumer is woken for each. */
#define PROFILE_RING_BYTES (256u << 10)
#define MAX_PID 4194304

struct env {
	struct cli_common c;
	uint64_t freq;         /* -F */
	uint64_t period;       /* -c; 0: sample by frequency */
	bool freq_given;
	uint32_t pids[PROFILE_MAX_FILTER_IDS], nr_pids;
	uint32_t tids[PROFILE_MAX_FILTER_IDS], nr_tids;
	bool user_only;        /* -U */
	bool kernel_only;      /* -K */
	bool idle;             /* -I */
	bool delimited;        /* -d */
	bool annotations;      /* -a */
	bool folded;           /* -f */
	int cpu;               /* -C; -1: every CPU */
	uint32_t stack_storage;
	uint32_t hash_storage;
	const char *debug_dir;
	uint64_t duration_ms;  /* positional; 0: until interrupted */
};

static const char doc[] =
	"Profile CPU usage by sampling stack traces at a timed interval.\n"
	"\n"
	"duration: stop after this many seconds (fractions allowed); default: Ctrl-C.\n"
	"Stacks print when sampling ends: the most frequent last (first with -f, -j).\n"
	"\n"
	"EXAMPLES:\n"
	"  profile                  # every CPU, user + kernel stacks, 49 Hz, to Ctrl-C\n"
	"  profile -F 99 10         # at 99 Hz for 10 seconds\n"
	"  profile -p 185,186 -f 5  # two processes, folded output for flamegraph.pl\n"
	"  profile -L 190           # one thread\n"
	"  profile -U -p 185        # user stacks only\n"
	"  profile -K -I -C 0       # kernel stacks on CPU 0, idle included\n"
	"  profile -af 30 > out.folded; flamegraph.pl out.folded > cpu.svg";

enum {
	OPT_STACK_STORAGE = 0x100,
	OPT_HASH_STORAGE,
	OPT_DEBUG_DIR,
};

static const struct argp_option options[] = {
	{ "pid", 'p', "PID[,PID]", 0, "Profile these processes only (at most 8 IDs)", 0 },
	{ "tid", 'L', "TID[,TID]", 0, "Profile these threads only (at most 8 IDs)", 0 },
	{ "user-stacks-only", 'U', NULL, 0, "Show stacks from user space only (no kernel frames)",
	  0 },
	{ "kernel-stacks-only", 'K', NULL, 0, "Show stacks from kernel space only (no user frames)",
	  0 },
	{ "include-idle", 'I', NULL, 0, "Include the CPU idle task (pid 0)", 0 },
	{ "frequency", 'F', "HZ", 0, "Sample HZ times a second on each CPU (default 49)", 0 },
	{ "count", 'c', "COUNT", 0,
	  "Sample once every COUNT events instead (CPU cycles; nanoseconds for cpu-clock)", 0 },
	{ "cpu", 'C', "CPU", 0, "Sample this CPU only", 0 },
	{ "delimited", 'd', NULL, 0, "Insert a delimiter between kernel and user frames", 0 },
	{ "annotations", 'a', NULL, 0, "Add _[k] to the names of kernel frames", 0 },
	{ "folded", 'f', NULL, 0, "Folded output: one line per stack, for flame graphs", 0 },
	{ "stack-storage-size", OPT_STACK_STORAGE, "N", 0,
	  "Room for N distinct stacks in the kernel (default 16384)", 0 },
	{ "hash-storage-size", OPT_HASH_STORAGE, "N", 0,
	  "Room for N distinct (process, stacks) counts in the kernel (default 40960)", 0 },
	{ "debug-dir", OPT_DEBUG_DIR, "DIR", 0,
	  "Look for separate debug files under DIR (default /usr/lib/debug)", 0 },
	{},
};

static uint64_t max_sample_rate(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_max_sample_rate", "r");
	unsigned long long v = 100000;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1 || v == 0)
			v = 100000;
		fclose(f);
	}
	return v;
}

/* "-p 1,2,3": each ID checked like the common -p (a filter on a process that does not exist
 * would profile nothing, silently). Repeated options add to the list. */
static void parse_ids(const char *arg, const char *what, uint32_t *ids, uint32_t *n)
{
	const char *p = arg;
	char tok[32], shown[128];

	for (;;) {
		size_t len = strcspn(p, ",");
		uint32_t id;

		if (len == 0 || len >= sizeof(tok)) {
			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("invalid %s list '%s': comma-separated numbers", what,
					 shown);
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		id = (uint32_t)cli__u64(tok, what, 1, MAX_PID);
		if (*n >= PROFILE_MAX_FILTER_IDS)
			cli__usage_error("too many %ss: at most %d", what, PROFILE_MAX_FILTER_IDS);
		if (strcmp(what, "PID") == 0) {
			if (kill((pid_t)id, 0) != 0 && errno == ESRCH)
				cli__usage_error("no process with PID %u", id);
		} else {
			/* kill() does not find every thread; /proc/TID does. */
			char path[32];

			snprintf(path, sizeof(path), "/proc/%u", id);
			if (access(path, F_OK) != 0 && errno == ENOENT)
				cli__usage_error("no thread with TID %u", id);
		}
		ids[(*n)++] = id;
		if (!p[len])
			break;
		p += len + 1;
	}
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;
	struct stat st;

	switch (key) {
	case 'p':
		parse_ids(arg, "PID", env->pids, &env->nr_pids);
		break;
	case 'L':
		parse_ids(arg, "TID", env->tids, &env->nr_tids);
		break;
	case 'U':
		env->user_only = true;
		break;
	case 'K':
		env->kernel_only = true;
		break;
	case 'I':
		env->idle = true;
		break;
	case 'F': {
		uint64_t max = max_sample_rate();

		env->freq = cli__u64(arg, "frequency", 1, max);
		env->freq_given = true;
		break;
	}
	case 'c':
		env->period = cli__u64(arg, "COUNT", 1, UINT64_MAX >> 1);
		break;
	case 'C': {
		int ncpus = libbpf_num_possible_cpus();

		env->cpu = (int)cli__u64(arg, "CPU", 0, ncpus > 0 ? (uint64_t)ncpus - 1 : 0);
		break;
	}
	case 'd':
		env->delimited = true;
		break;
	case 'a':
		env->annotations = true;
		break;
	case 'f':
		env->folded = true;
		break;
	case OPT_STACK_STORAGE:
		env->stack_storage = (uint32_t)cli__u64(arg, "--stack-storage-size", 1, MAX_STORAGE);
		break;
	case OPT_HASH_STORAGE:
		env->hash_storage = (uint32_t)cli__u64(arg, "--hash-storage-size", 1, MAX_STORAGE);
		break;
	case OPT_DEBUG_DIR:
		if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
			char shown[128];

			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("--debug-dir '%s': not a directory", shown);
		}
		env->debug_dir = arg;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num > 0) {
			char shown[128];

			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("unexpected argument '%s'", shown);
		}
		env->duration_ms = cli__seconds_ms(arg, "duration", 1, 366ULL * 86400 * 1000);
		break;
	case ARGP_KEY_END:
		if (env->user_only && env->kernel_only)
			cli__usage_error("-U and -K exclude each other (the default shows both)");
		if (env->period && env->freq_given)
			cli__usage_error("-F and -c exclude each other");
		if (env->c.json && env->folded)
			cli__usage_error("-f and -j exclude each other");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- The report: counts read back, symbolized, merged ---- */

struct report {
	const struct env *env;
	struct images *images;           /* NULL with -K */
	const struct ksyms *ksyms;
	int counts_fd[2], stacks_fd[2];  /* per generation */
	int stacks_fd_now;               /* of the generation being drained */
	struct stacks stacks;            /* the merged records: kept for the whole run */
	/* Symbolized stacks by stack id: valid for one drain (ids are reused after it). */
	struct htab kcache, ucache;
	__u64 ips[PROFILE_MAX_STACK_DEPTH];
	uint64_t drains;                 /* drains completed */
	uint64_t refused;                /* files the symbolizer refused (syms_cache_stats) */
};

/* A process image was sampled for the first time: read its maps now, while it runs. */
static int handle_event(void *ctx, const void *data, size_t size)
{
	const struct profile_event *e = data;
	struct report *r = ctx;

	if (size >= sizeof(*e) && r->images && e->image)
		images__announce(r->images, e->pid, e->image);
	return 0;
}

/* Reads stack id into r->ips; returns the number of frames, or -1 if it is gone. */
static int read_ips(struct report *r, int32_t id)
{
	int n = 0;

	if (bpf_map_lookup_elem(r->stacks_fd_now, &id, r->ips))
		return -1;
	while (n < PROFILE_MAX_STACK_DEPTH && r->ips[n])
		n++;
	return n;
}

/* Every frame but the leaf is a return address, the instruction after a call: look up the
 * byte before it, or a call that ends a function (to a noreturn one) names the next. */
static uint64_t lookup_addr(uint64_t ip, int i)
{
	return i ? ip - 1 : ip;
}

/* The stack of frames[0..n), NULL if any frame is NULL (out of memory). */
static const struct stack *make_stack(struct report *r, const struct frame **frames, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!frames[i])
			return NULL;
	return stacks__stack(&r->stacks, frames, n);
}

static const struct stack *kernel_stack(struct report *r, int32_t id)
{
	const struct frame *frames[PROFILE_MAX_STACK_DEPTH];
	struct htab_ent *e = htab__get(&r->kcache, &id, sizeof(id), false);
	const struct stack *st;
	int n, i;

	if (e)
		return e->val.ptr;
	n = read_ips(r, id);
	if (n < 0)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct ksym *ks = NULL;
		struct frame f = { .kind = FRAME_KERNEL, .addr = r->ips[i] };

		if (r->ksyms)
			ks = ksyms__map_addr(r->ksyms, lookup_addr(r->ips[i], i), NULL);
		f.name = ks ? ks->name : "[unknown]";
		f.module = ks ? ks->module : NULL;
		frames[i] = stacks__frame(&r->stacks, &f);
	}
	st = make_stack(r, frames, n);
	e = htab__get(&r->kcache, &id, sizeof(id), true);
	if (e)
		e->val.ptr = (void *)st;
	return st;
}

static const struct frame *user_frame(struct report *r, struct syms *s, uint64_t ip, int i)
{
	uint64_t addr = lookup_addr(ip, i);
	struct sym_info info = { 0 };
	struct frame f = { .kind = FRAME_USER, .name = "[unknown]", .addr = ip };
	char buf[PATH_MAX + 64];

	if (s && syms__map_addr_info(s, addr, &info) == 0)
		f.name = info.name;
	if (info.module) {
		f.module = info.module;
		/* The offset of the sampled address itself, as perf shows it. */
		f.addr = info.module_offset + (ip - addr);
		if (!info.name) {
			snprintf(buf, sizeof(buf), "[unknown] (%s+0x%llx)", info.module,
				 (unsigned long long)f.addr);
			f.name = buf;
		}
	}
	return stacks__frame(&r->stacks, &f);
}

static const struct stack *user_stack(struct report *r, int32_t id, uint64_t image,
				      uint32_t pid)
{
	const struct frame *frames[PROFILE_MAX_STACK_DEPTH];
	/* One stack id is the same addresses in every process: the image decides the names. */
	struct {
		uint64_t image;
		int32_t id;
		uint32_t pid;
	} key = { image, id, pid };
	struct htab_ent *e = htab__get(&r->ucache, &key, sizeof(key), false);
	const struct stack *st;
	struct syms *s;
	int n, i;

	if (e)
		return e->val.ptr;
	n = read_ips(r, id);
	if (n < 0)
		return NULL;
	s = r->images ? images__syms(r->images, image, pid) : NULL;
	for (i = 0; i < n; i++)
		frames[i] = user_frame(r, s, r->ips[i], i);
	st = make_stack(r, frames, n);
	e = htab__get(&r->ucache, &key, sizeof(key), true);
	if (e)
		e->val.ptr = (void *)st;
	return st;
}

static uint32_t stack_state(int32_t id, const struct stack **st)
{
	if (id == PROFILE_NO_STACK)
		return STACK_NONE;
	if (id < 0 || !*st)
		return STACK_MISSED;
	return STACK_FRAMES;
}

/* One counts entry into the merged records. */
static int add_count(struct report *r, const struct profile_key *k, uint64_t count)
{
	struct stack_key sk;

	memset(&sk, 0, sizeof(sk));
	if (k->kern_stack_id >= 0)
		sk.ks = kernel_stack(r, k->kern_stack_id);
	if (k->user_stack_id >= 0)
		sk.us = user_stack(r, k->user_stack_id, k->image, k->pid);
	sk.kstate = stack_state(k->kern_stack_id, &sk.ks);
	sk.ustate = stack_state(k->user_stack_id, &sk.us);
	/* Folded lines carry no pid: one line per distinct text, as flamegraph.pl would sum. */
	sk.pid = r->env->folded ? 0 : k->pid;
	memcpy(sk.comm, k->comm, sizeof(sk.comm));
	sk.comm[sizeof(sk.comm) - 1] = '\0';
	return stacks__add(&r->stacks, &sk, count);
}

/* Reads generation g's counts into the merged records and empties its maps. Nothing writes
 * to them: either sampling has stopped, or the generation flipped with the events
 * disabled, which waits for samples in flight on every CPU. */
static int drain(struct report *r, int g)
{
	int counts_fd = r->counts_fd[g], stacks_fd = r->stacks_fd[g];
	struct profile_key *keys = NULL, *nk;
	size_t n = 0, cap = 0, i;
	uint32_t id, next_id;
	uint64_t count;
	int err = 0;

	r->stacks_fd_now = stacks_fd;
	/* Keys first, then the work: a hash walk restarts when its key is deleted. */
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			nk = realloc(keys, cap * sizeof(*keys));
			if (!nk) {
				err = -ENOMEM;
				goto out;
			}
			keys = nk;
		}
		if (bpf_map_get_next_key(counts_fd, n ? &keys[n - 1] : NULL, &keys[n]))
			break;
		n++;
	}
	for (i = 0; i < n && !err; i++) {
		if (bpf_map_lookup_elem(counts_fd, &keys[i], &count) == 0)
			err = add_count(r, &keys[i], count);
		bpf_map_delete_elem(counts_fd, &keys[i]);
	}
	/* Every stack goes, referenced or not (a sample whose count found no room). The next
	 * id is found before the current one is deleted: a stack map's walk restarts at 0 from
	 * an id that is not there. */
	if (bpf_map_get_next_key(stacks_fd, NULL, &id) == 0) {
		bool more;

		do {
			more = bpf_map_get_next_key(stacks_fd, &id, &next_id) == 0;
			bpf_map_delete_elem(stacks_fd, &id);
			id = next_id;
		} while (more);
	}
out:
	htab__free(&r->kcache);
	htab__free(&r->ucache);
	free(keys);
	return err;
}

static int print_records(struct report *r)
{
	const struct env *env = r->env;
	struct stackfmt_opts o = {
		.user_only = env->user_only,
		.kernel_only = env->kernel_only,
		.delimited = env->delimited,
		.annotations = env->annotations,
	};
	struct stack_rec *recs;
	size_t i, n;

	/* Text as BCC prints it, the most frequent last (next to the prompt); folded and JSON
	 * the most frequent first (`| head`). */
	recs = stacks__sorted(&r->stacks, env->folded || env->c.json, &n);
	if (!recs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (env->c.json)
			stackfmt__json(stdout, &o, &recs[i]);
		else if (env->folded)
			stackfmt__folded(stdout, &o, &recs[i]);
		else
			stackfmt__text(stdout, &o, &recs[i]);
	}
	free(recs);
	return 0;
}

/* ---- Stack losses and the summary ---- */

static const char *const stat_names[PROFILE_NR_STATS] = {
	[PROFILE_STAT_RUNS] = "runs",
	[PROFILE_STAT_SAMPLES] = "samples",
	[PROFILE_STAT_KERN_COLLISION] = "kernel_stack_collision",
	[PROFILE_STAT_KERN_NOMEM] = "kernel_stack_map_full",
	[PROFILE_STAT_KERN_FAULT] = "kernel_stack_unreadable",
	[PROFILE_STAT_KERN_OTHER] = "kernel_stack_other_error",
	[PROFILE_STAT_USER_COLLISION] = "user_stack_collision",
	[PROFILE_STAT_USER_NOMEM] = "user_stack_map_full",
	[PROFILE_STAT_USER_FAULT] = "user_stack_unreadable",
	[PROFILE_STAT_USER_OTHER] = "user_stack_other_error",
	[PROFILE_STAT_COUNTS_FULL] = "not_counted_map_full",
	[PROFILE_STAT_IMAGES_FULL] = "images_not_tracked",
};

static int read_stats(int fd, uint64_t *totals)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *vals;
	__u32 i;
	int c;

	memset(totals, 0, PROFILE_NR_STATS * sizeof(*totals));
	if (ncpus < 1)
		return -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < PROFILE_NR_STATS; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (c = 0; c < ncpus; c++)
			totals[i] += vals[c];
	}
	free(vals);
	return 0;
}

/* Lost stacks were printed as [Missed ... Stack] frames: say how many and why, one line per
 * cause, with what to do about it. */
static void warn_losses(const struct env *env, const struct sampling *sm, const uint64_t *st)
{
	uint64_t skipped = sampling__skipped(sm, st[PROFILE_STAT_RUNS]);

	uint64_t kmap = st[PROFILE_STAT_KERN_COLLISION] + st[PROFILE_STAT_KERN_NOMEM];
	uint64_t umap = st[PROFILE_STAT_USER_COLLISION] + st[PROFILE_STAT_USER_NOMEM];
	uint64_t kfault = st[PROFILE_STAT_KERN_FAULT] + st[PROFILE_STAT_KERN_OTHER];
	uint64_t ufault = st[PROFILE_STAT_USER_FAULT] + st[PROFILE_STAT_USER_OTHER];

	if (kmap || umap)
		p_warn("%llu kernel and %llu user stacks did not fit the stack map (hash "
		       "collisions or full; shown as [Missed ... Stack]): raise "
		       "--stack-storage-size (now %u)",
		       (unsigned long long)kmap, (unsigned long long)umap, env->stack_storage);
	if (kfault || ufault)
		p_warn("%llu kernel and %llu user stacks could not be read (shown as [Missed ... "
		       "Stack])",
		       (unsigned long long)kfault, (unsigned long long)ufault);
	if (skipped)
		p_warn("about %llu of the %llu sampling periods on the sampled CPUs (any process) "
		       "gave no sample: a timer that fires late (an idle or descheduled vCPU) skips "
		       "periods, and the kernel skips the program while other BPF code runs there",
		       (unsigned long long)skipped, (unsigned long long)sm->taken);
	if (st[PROFILE_STAT_COUNTS_FULL])
		p_warn("%llu samples were not counted: the counts map was full; raise "
		       "--hash-storage-size (now %u)",
		       (unsigned long long)st[PROFILE_STAT_COUNTS_FULL], env->hash_storage);
}

static void print_summary_json(const struct env *env, const struct sampling *sm,
			       const uint64_t *st, const struct report *r, uint64_t lost)
{
	struct json_writer w;
	int i;

	json_writer__init(&w, stdout);
	json_obj_begin(&w);
	json_key(&w, "summary");
	json_obj_begin(&w);
	json_key(&w, "event");
	json_str(&w, sm->event);
	json_key(&w, env->period ? "period" : "frequency_hz");
	json_u64(&w, env->period ? env->period : env->freq);
	json_key(&w, "cpus");
	json_u64(&w, sm->ncpus);
	json_key(&w, "duration_s");
	json_double(&w, (double)(sm->end_ns - sm->start_ns) / 1e9);
	json_key(&w, "samples");
	json_u64(&w, st[PROFILE_STAT_SAMPLES]);
	json_key(&w, "counted");
	json_u64(&w, r->stacks.counted);
	json_key(&w, "stacks");
	json_u64(&w, stacks__count(&r->stacks));
	/* Announcements of process images lost: their stacks resolve through the pid's latest
	 * image, if it still runs. */
	json_key(&w, "lost_events");
	json_u64(&w, lost);
	json_key(&w, "files_refused");
	json_u64(&w, r->refused);
	json_key(&w, "errors");
	json_obj_begin(&w);
	for (i = PROFILE_STAT_SAMPLES + 1; i < PROFILE_NR_STATS; i++) {
		json_key(&w, stat_names[i]);
		json_u64(&w, st[i]);
	}
	json_key(&w, "skipped_by_kernel");
	if (sm->taken_known)
		json_u64(&w, sampling__skipped(sm, st[PROFILE_STAT_RUNS]));
	else
		json_null(&w);
	json_obj_end(&w);
	json_obj_end(&w);
	json_obj_end(&w);
	json_writer__endl(&w);
}

/* ---- Sampling ---- */

static void header_text(const struct env *env, const struct sampling *sm, char *buf,
			size_t size)
{
	char rate[64], who[160], dur[48] = "";
	size_t off;
	uint32_t i;

	if (env->period)
		snprintf(rate, sizeof(rate), "every %llu %s", (unsigned long long)env->period,
			 strcmp(sm->event, "cycles") == 0 ? "cycles" : "ns of cpu-clock");
	else
		snprintf(rate, sizeof(rate), "%llu Hertz (%s)", (unsigned long long)env->freq,
			 sm->event);
	if (env->nr_pids || env->nr_tids) {
		bool pids = env->nr_pids != 0;
		const uint32_t *ids = pids ? env->pids : env->tids;
		uint32_t n = pids ? env->nr_pids : env->nr_tids;

		off = (size_t)snprintf(who, sizeof(who), "%s", pids ? "PID" : "TID");
		for (i = 0; i < n && off < sizeof(who); i++)
			off += (size_t)snprintf(who + off, sizeof(who) - off, "%s%u", i ? "," : " ",
						ids[i]);
		if (pids && env->nr_tids && off < sizeof(who))
			snprintf(who + off, sizeof(who) - off, " (some threads)");
	} else {
		snprintf(who, sizeof(who), "all threads");
	}
	if (env->cpu >= 0)
		snprintf(who + strlen(who), sizeof(who) - strlen(who), " on CPU %d", env->cpu);
	if (env->duration_ms)
		snprintf(dur, sizeof(dur), " for %llu.%03llu secs",
			 (unsigned long long)env->duration_ms / 1000,
			 (unsigned long long)env->duration_ms % 1000);
	snprintf(buf, size, "Sampling at %s of %s by %s stack%s", rate, who,
		 env->user_only     ? "user"
		 : env->kernel_only ? "kernel"
				    : "user + kernel",
		 dur);
}

/* Swaps the generation samples go to. With the events paused (see sampling__pause), no
 * sample still writes to the generation being drained. The pause is a few system calls;
 * the timers keep their phase. */
static int flip(struct sampling *sm, int gen_fd, uint32_t *gen)
{
	uint32_t zero = 0, next = *gen ^ 1;
	int err = 0, rerr;

	sampling__pause(sm);
	if (bpf_map_update_elem(gen_fd, &zero, &next, BPF_ANY))
		err = -errno;
	else
		*gen = next;
	rerr = sampling__resume(sm);
	return err ?: rerr;
}

/* Runs until a signal, the end of the duration (end_ns, 0: none) or a closed stdout:
 * consumes announcements as they come, and every DRAIN_MS flips the generation and drains
 * the one just left. */
static int sample_loop(struct report *r, struct evbuf *eb, struct sampling *sm,
		       int gen_fd, uint32_t *gen, uint64_t end_ns)
{
	uint64_t next = sm->start_ns + DRAIN_MS * 1000000ull, now, stop, t0, chunk_ms;
	int err;

	while (!loop__exiting()) {
		now = loop__now_mono_ns();
		stop = end_ns && end_ns < next ? end_ns : next;
		if (now < stop) {
			chunk_ms = (stop - now + 999999) / 1000000;
			t0 = now;
			err = loop__events(eb, chunk_ms);
			if (err)
				return err;
			/* loop__events ends early only for a signal or a reader that went away. */
			if (loop__exiting() || loop__now_mono_ns() < t0 + chunk_ms * 1000000)
				break;
		}
		now = loop__now_mono_ns();
		if (end_ns && now >= end_ns)
			break;
		if (now < next)
			continue;
		next += DRAIN_MS * 1000000ull;
		err = flip(sm, gen_fd, gen);
		err = err ?: drain(r, *gen ^ 1);
		if (err) {
			p_err("draining the samples: %s", strerror(-err));
			return err;
		}
		r->drains++;
		if (r->images)
			images__drained(r->images);
	}
	return 0;
}

/* NULL (after a warning) when kallsyms hides addresses: kernel frames are then unknown. */
static struct ksyms *load_kernel_symbols(void)
{
	uint64_t t0 = loop__now_mono_ns();
	struct ksyms *ksyms = ksyms__load();
	int e = errno;

	if (!ksyms) {
		p_warn("kernel symbols unavailable (%s%s): kernel frames print as [unknown]",
		       strerror(e), e == EPERM ? ": run as root or lower kernel.kptr_restrict" : "");
		return NULL;
	}
	p_info("%zu kernel symbols loaded in %.1f ms", ksyms__count(ksyms),
	       (double)(loop__now_mono_ns() - t0) / 1e6);
	return ksyms;
}

static int set_filters(struct profile_bpf *skel, const struct env *env)
{
	/* Each generation gets half (at least one entry). */
	uint32_t stacks = env->stack_storage > 1 ? env->stack_storage / 2 : 1;
	uint32_t counts = env->hash_storage > 1 ? env->hash_storage / 2 : 1;
	int err;

	skel->rodata->want_kernel = !env->user_only;
	skel->rodata->want_user = !env->kernel_only;
	skel->rodata->include_idle = env->idle;
	skel->rodata->nr_pids = env->nr_pids;
	memcpy((void *)skel->rodata->pids, env->pids, sizeof(env->pids));
	skel->rodata->nr_tids = env->nr_tids;
	memcpy((void *)skel->rodata->tids, env->tids, sizeof(env->tids));
	err = bpf_map__set_max_entries(skel->maps.stacks0, stacks);
	err = err ?: bpf_map__set_max_entries(skel->maps.stacks1, stacks);
	err = err ?: bpf_map__set_max_entries(skel->maps.counts0, counts);
	err = err ?: bpf_map__set_max_entries(skel->maps.counts1, counts);
	if (err)
		p_err("sizing the maps: %s", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	struct env env = { .freq = DEFAULT_FREQ, .cpu = -1, .stack_storage = DEFAULT_STACK_STORAGE,
			   .hash_storage = DEFAULT_HASH_STORAGE };
	struct argp_child children[] = { cli__child(CLI_UID | CLI_CGROUP_LONG, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .args_doc = "[duration]", .children = children };
	uint64_t start_ns = loop__now_mono_ns(), st[PROFILE_NR_STATS];
	struct report r = { .env = &env };
	struct syms_cache *cache = NULL;
	struct profile_bpf *skel = NULL;
	struct images_stats ist = { 0 };
	struct ksyms *ksyms = NULL;
	struct sampling sm = { 0 };
	struct evbuf *eb = NULL;
	uint32_t gen = 0;
	char header[320];
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("profile", &env.c);
	if (err)
		return 1;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = env.c.btf_path);
	skel = profile_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	err = set_filters(skel, &env);
	if (err)
		goto cleanup;
	err = tool__before_load(skel->obj, &env.c, PROFILE_RING_BYTES);
	if (err)
		goto cleanup;
	/* Announcements are rare (one per process image) and urgent (the process may be about
	 * to exit): wake the consumer for each instead of batching them. */
	err = bpfobj__set_rodata(skel->obj, "events_wakeup_bytes", &(uint64_t){ 0 },
				 sizeof(uint64_t));
	if (err && err != -ENOENT) {
		p_err("setting up the event buffer: %s", strerror(-err));
		goto cleanup;
	}
	err = profile_bpf__load(skel);
	if (err) {
		p_bpf_err("loading BPF programs", err);
		goto cleanup;
	}
	err = tool__after_load(skel->obj, &env.c);
	if (err)
		goto cleanup;

	if (!env.kernel_only) {
		LIBBPF_OPTS(syms_cache_opts, so, .debug_dir = env.debug_dir);

		cache = syms_cache__new(&so);
		r.images = cache ? images__new(cache) : NULL;
		if (!r.images) {
			err = -errno;
			p_err("creating the symbol cache: %s", strerror(errno));
			goto cleanup;
		}
	}
	err = sampling__open(&sm, env.cpu, env.freq, env.period);
	if (err)
		goto cleanup;
	/* Consume before sampling starts, so no announcement waits in a ring nobody reads. */
	eb = evbuf__new(skel->obj, handle_event, &r);
	if (!eb) {
		err = -errno;
		p_err("setting up the event buffer: %s", strerror(errno));
		goto cleanup;
	}
	err = sampling__start(&sm, skel->progs.do_sample);
	if (err)
		goto cleanup;
	header_text(&env, &sm, header, sizeof(header));
	if (!env.c.json && !env.folded && !env.c.check)
		printf("%s.\n", header);
	loop__flush();
	p_info("%s; attached %.1f ms after start", header,
	       (double)(loop__now_mono_ns() - start_ns) / 1e6);
	tool__ready("CPU stacks");

	/* Kernel symbols while sampling runs, not before: start-up stays fast, and the table
	 * describes the modules loaded during the profile. */
	if (!env.user_only)
		ksyms = load_kernel_symbols();

	r.ksyms = ksyms;
	r.counts_fd[0] = bpf_map__fd(skel->maps.counts0);
	r.counts_fd[1] = bpf_map__fd(skel->maps.counts1);
	r.stacks_fd[0] = bpf_map__fd(skel->maps.stacks0);
	r.stacks_fd[1] = bpf_map__fd(skel->maps.stacks1);
	/* The duration counts from attach: the kernel symbols' load time is part of it. */
	err = sample_loop(&r, eb, &sm, bpf_map__fd(skel->maps.generation), &gen,
			  env.duration_ms ? sm.start_ns + env.duration_ms * 1000000ull : 0);
	/* Stop sampling before the last drain: the counts no longer move under the reader. */
	sampling__stop(&sm);
	/* Announcements from the last samples. */
	if (evbuf__poll(eb, 0) < 0)
		p_warn("reading the last announcements failed");
	if (err)
		goto cleanup;

	err = drain(&r, gen);
	err = err ?: drain(&r, gen ^ 1);
	err = err ?: read_stats(bpf_map__fd(skel->maps.stats), st);
	err = err ?: print_records(&r);
	if (cache) {
		struct syms_cache_stats cst;

		syms_cache__stats(cache, &cst);
		r.refused = cst.refused;
	}
	if (err) {
		p_err("reading the samples: %s", strerror(-err));
		goto cleanup;
	}
	if (env.c.json)
		print_summary_json(&env, &sm, st, &r, evbuf__lost(eb));
	/* A reader that went away is not an error: `profile | head` ends quietly. */
	loop__flush();
	warn_losses(&env, &sm, st);
	if (r.refused)
		p_warn("%llu files were not read (a link where a file was expected, not a regular "
		       "file, too large, or another user's perf map): their frames show the file "
		       "and offset", (unsigned long long)r.refused);
	tool__report_lost(eb, NULL);
	if (r.images)
		images__stats(r.images, &ist);
	p_info("%llu samples, %zu distinct stacks, %llu drains; %llu process images announced, "
	       "%llu gone before their maps were read, %llu freed before the end",
	       (unsigned long long)st[PROFILE_STAT_SAMPLES], stacks__count(&r.stacks),
	       (unsigned long long)r.drains, (unsigned long long)ist.announced,
	       (unsigned long long)ist.prepare_failed, (unsigned long long)ist.freed);

cleanup:
	sampling__close(&sm);
	evbuf__free(eb);
	stacks__free(&r.stacks);
	htab__free(&r.kcache);
	htab__free(&r.ucache);
	images__free(r.images);
	ksyms__free(ksyms);
	syms_cache__free(cache);
	profile_bpf__destroy(skel);
	return err ? 1 : 0;
}
