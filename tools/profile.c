/* profile: a sampling CPU profiler. A perf event on every CPU fires -F times a second (or
 * every -c events); each sample comes here with its kernel stack and what its user stack
 * needs to be unwound (common/syms/unwind.h), and identical symbolized stacks are counted
 * here; when sampling ends they are printed as BCC-style stacks, folded lines for flame
 * graphs (-f) or JSON (-j). Memory follows the distinct stacks: a sample is unwound,
 * symbolized (through a cache of the address chains seen in the last second) and counted
 * on arrival; kernel stacks are counted by address and named at the end.
 *
 * Three threads. The main one reads the event buffer: it queues each sample, and reads the
 * maps of each new process image at once. A worker unwinds, symbolizes and counts the
 * queued samples: the first look at a large binary's tables (libLLVM: a second or more on
 * a loaded machine) then delays the count, not the reading of the buffer, which would
 * overflow. A third loads the kernel's symbols while sampling runs.
 *
 * Processes that exit before their stacks are symbolized still resolve: the kernel
 * announces each process image the first time it samples it, and its memory maps are read
 * (and its files held open) then, while it runs (common/syms/syms.h, syms_cache__prepare). What
 * is kept per image is freed once its process is gone and its last samples were drained,
 * so memory follows the live processes and the distinct stacks, not the length of the run
 * or the number of processes that came and went. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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
#include "identity.h"
#include "images.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "perfevent.h"
#include "stackfmt.h"
#include "stacks.h"
#include "syms/syms.h"
#include "syms/unwind.h"
#include "tool.h"

#include "profile.h"
#include "profile.skel.h"

#define DEFAULT_FREQ 49
/* How often process images that are gone are freed, and the cache of symbolized user
 * stacks emptied. */
#define DRAIN_MS 1000
/* Samples of up to 19 KiB (most much smaller: a stack's copy ends at the top of its
 * mapping). The reader only queues them (and reads the maps of new process images), so
 * the ring needs to hold only the samples of its longest pause. */
#define PROFILE_RING_BYTES (2u << 20)
/* The queue of samples waiting for the worker. Past this, samples are dropped (and
 * counted). */
#define QUEUE_MAX_BYTES (64u << 20)
#define MAX_PID 4194304

struct env {
	struct cli_common c;
	uint64_t freq;         /* -F */
	uint64_t period;       /* -c; 0: sample by frequency */
	const char *event;     /* --event: "cycles", "cpu-clock"; NULL: cycles where counted */
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
	const char *debug_dir;
	const char *pprof;      /* --pprof FILE */
	const char *flamegraph; /* --flamegraph FILE */
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
	"  profile -af 30 > out.folded; flamegraph.pl out.folded > cpu.svg\n"
	"  profile -f --containers 30 > out.folded  # each container's stacks apart";

enum {
	OPT_DEBUG_DIR = 0x100,
	OPT_PPROF,
	OPT_FLAMEGRAPH,
	OPT_EVENT,
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
	{ "debug-dir", OPT_DEBUG_DIR, "DIR", 0,
	  "Look for separate debug files under DIR (default /usr/lib/debug)", 0 },
	{ "pprof", OPT_PPROF, "FILE", 0,
	  "Also write the stacks to FILE as a gzipped pprof profile (go tool pprof, Pyroscope)", 0 },
	{ "flamegraph", OPT_FLAMEGRAPH, "FILE", 0,
	  "Also write an interactive flame graph to FILE (SVG)", 0 },
	{ "event", OPT_EVENT, "EVENT", 0,
	  "Sample on auto (default: cycles where the CPU counts them), cycles or cpu-clock", 0 },
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
	case OPT_DEBUG_DIR:
		if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
			char shown[128];

			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("--debug-dir '%s': not a directory", shown);
		}
		env->debug_dir = arg;
		break;
	case OPT_PPROF:
		env->pprof = arg;
		break;
	case OPT_FLAMEGRAPH:
		env->flamegraph = arg;
		break;
	case OPT_EVENT:
		if (strcmp(arg, "cycles") == 0 || strcmp(arg, "cpu-clock") == 0)
			env->event = strcmp(arg, "cycles") == 0 ? "cycles" : "cpu-clock";
		else if (strcmp(arg, "auto") != 0)
			cli__usage_error("invalid EVENT: must be auto, cycles or cpu-clock");
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

/* ---- The report: samples unwound, symbolized, merged ---- */

struct report {
	const struct env *env;
	struct images *images;   /* NULL with -K */
	struct identity *idn;    /* names each record's container while its process runs */
	const struct ksyms *ksyms;
	/* The merged records, with symbolized stacks: filled at the end from pend. */
	struct stacks stacks;
	/* While sampling runs (the worker's): records whose kernel stack is an interned
	 * struct kaddrs (kcache), named once the kernel's symbols are loaded; user stacks
	 * symbolized by their addresses (which name an image, freed within a drain or two of
	 * its process's end) for one drain (ucache). */
	struct htab pend, kcache, ucache;
	struct htab demangled;    /* mangled name -> malloc'd demangled one, or NULL */
	uint64_t ips[PROFILE_MAX_STACK_DEPTH];
	uint64_t unwound, fp_only, spliced;
	int err;
	/* Samples received, waiting to be counted, oldest first; qlock guards them (and
	 * qstop), qcond wakes the worker. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct queued *qhead, **qtail;
	size_t qbytes;
	uint64_t qdropped;
	bool qstop;
	uint64_t worker_cpu_ns, worker_samples;  /* the worker's own CPU time, for -v */
	uint64_t refused;         /* files the symbolizer refused (syms_cache_stats) */
};

struct queued {
	struct queued *next;
	size_t size;
	uint64_t data[];  /* a struct profile_sample, size bytes */
};

/* A record while sampling runs: every field a value or an interned pointer, zero padded. */
struct pend_key {
	const void *kaddrs;       /* struct kaddrs in kcache, NULL unless STACK_FRAMES */
	const struct stack *us;
	const struct identity_rec *idr;
	uint32_t ustate, kstate;  /* enum stack_state */
	uint32_t pid;
	char comm[STACKS_COMM_LEN];
	uint32_t pad;
};

struct kaddrs {
	uint64_t n;
	uint64_t ips[PROFILE_MAX_STACK_DEPTH];
};

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

static const void *kernel_addrs(struct report *r, const uint64_t *ips, int n)
{
	struct kaddrs k;
	struct htab_ent *e;

	k.n = (uint64_t)n;
	memcpy(k.ips, ips, n * sizeof(*ips));
	e = htab__get(&r->kcache, &k, sizeof(k.n) + n * sizeof(*ips), true);
	return e ? e->key : NULL;
}

static const struct stack *kernel_stack(struct report *r, const struct kaddrs *k)
{
	const struct frame *frames[PROFILE_MAX_STACK_DEPTH];
	size_t i;

	for (i = 0; i < k->n; i++) {
		const struct ksym *ks = NULL;
		struct frame f = { .kind = FRAME_KERNEL, .addr = k->ips[i] };

		if (r->ksyms)
			ks = ksyms__map_addr(r->ksyms, lookup_addr(k->ips[i], (int)i), NULL);
		f.name = ks ? ks->name : "[unknown]";
		f.module = ks ? ks->module : NULL;
		frames[i] = stacks__frame(&r->stacks, &f);
	}
	return make_stack(r, frames, (int)k->n);
}

/* Names the kernel stacks of the pending records and merges them into r->stacks. */
static int resolve_records(struct report *r)
{
	struct htab_ent *e;
	struct stack_key sk;
	int err = 0;

	for (e = NULL; !err && (e = htab__next(&r->pend, e));) {
		const struct pend_key *pk = e->key;

		memset(&sk, 0, sizeof(sk));
		sk.us = pk->us;
		sk.ustate = pk->ustate;
		sk.kstate = pk->kstate;
		if (pk->kaddrs) {
			sk.ks = kernel_stack(r, pk->kaddrs);
			if (!sk.ks)
				sk.kstate = STACK_MISSED;
		}
		sk.pid = pk->pid;
		sk.idr = pk->idr;
		memcpy(sk.comm, pk->comm, sizeof(sk.comm));
		err = stacks__add(&r->stacks, &sk, e->val.u64);
	}
	htab__free(&r->pend);
	htab__free(&r->kcache);
	return err;
}

/* C++ and Rust names as their programmers write them; each name demangled once. */
static const char *demangled(struct report *r, const char *name)
{
	struct htab_ent *e;
	char *d;

	if (name[0] != '_')
		return name;
	e = htab__get(&r->demangled, name, strlen(name) + 1, false);
	if (e)
		return e->val.ptr ? e->val.ptr : name;
	d = syms__demangle(name);
	e = htab__get(&r->demangled, name, strlen(name) + 1, true);
	if (!e) {
		free(d);
		return name;
	}
	e->val.ptr = d;
	return d ? d : name;
}

static const struct frame *user_frame(struct report *r, struct syms *s, uint64_t ip, int i)
{
	uint64_t addr = lookup_addr(ip, i);
	struct sym_info info = { 0 };
	struct frame f = { .kind = FRAME_USER, .name = "[unknown]", .addr = ip };
	char buf[PATH_MAX + 64], bid[2 * 64 + 1];
	size_t k;

	if (s && images__map_addr_info(r->images, s, addr, &info) == 0)
		f.name = demangled(r, info.name);
	if (info.build_id_len && info.build_id_len < sizeof(bid) / 2) {
		for (k = 0; k < info.build_id_len; k++)
			snprintf(bid + 2 * k, 3, "%02x", info.build_id[k]);
		f.build_id = bid;
	}
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

/* The user stack's addresses into r->ips: unwound by call-frame information from the
 * registers and the stack copy; the kernel's frame pointer walk where those are missing.
 * Returns the number of frames, or -1 if the stack was lost. */
static int user_ips(struct report *r, const struct profile_sample *e, size_t size,
		    struct unwind_proc *uw)
{
	struct unwind_regs regs;
	enum unwind_end end;
	size_t len = e->stack_len;
	int n, nfp;

	if (len > size - offsetof(struct profile_sample, stack))
		len = size - offsetof(struct profile_sample, stack);
	if ((e->flags & PROFILE_SAMPLE_REGS) && len && uw) {
		regs.ip = e->regs[PROFILE_REG_IP];
		regs.sp = e->regs[PROFILE_REG_SP];
		regs.fp = e->regs[PROFILE_REG_FP];
		regs.lr = e->regs[PROFILE_REG_LR];
		n = unwind_proc__unwind(uw, &regs, e->stack, len, r->ips, PROFILE_MAX_STACK_DEPTH,
					&end);
		r->unwound++;
		/* Deeper than the copy: the frame pointer walk may know the rest. */
		if (end == UNWIND_END_COPY && e->user_n > 0) {
			nfp = e->user_n < PROFILE_MAX_STACK_DEPTH ? e->user_n
								  : PROFILE_MAX_STACK_DEPTH;
			nfp = unwind__splice(r->ips, n, PROFILE_MAX_STACK_DEPTH,
					     (const uint64_t *)e->user, nfp);
			r->spliced += nfp > n;
			n = nfp;
		}
		return n;
	}
	if (e->user_n < 0)
		return -1;
	n = e->user_n < PROFILE_MAX_STACK_DEPTH ? e->user_n : PROFILE_MAX_STACK_DEPTH;
	memcpy(r->ips, e->user, n * sizeof(*r->ips));
	r->fp_only++;
	return n;
}

static const struct stack *user_stack(struct report *r, const struct profile_sample *e,
				      size_t size)
{
	const struct frame *frames[PROFILE_MAX_STACK_DEPTH];
	/* One chain of addresses is the same code in every process of an image. */
	struct {
		uint64_t image;
		uint32_t pid, pad;
		uint64_t ips[PROFILE_MAX_STACK_DEPTH];
	} key = { .image = e->image, .pid = e->pid };
	struct unwind_proc *uw = NULL;
	struct syms *s = NULL;
	const struct stack *st;
	struct htab_ent *c;
	size_t klen;
	int n, i;

	if (r->images)
		images__lookup(r->images, e->image, e->pid, &s, &uw);
	n = user_ips(r, e, size, uw);
	if (n < 0)
		return NULL;
	memcpy(key.ips, r->ips, n * sizeof(*r->ips));
	klen = offsetof(typeof(key), ips) + n * sizeof(*r->ips);
	c = htab__get(&r->ucache, &key, klen, false);
	if (c)
		return c->val.ptr;
	for (i = 0; i < n; i++)
		frames[i] = user_frame(r, s, r->ips[i], i);
	st = make_stack(r, frames, n);
	c = htab__get(&r->ucache, &key, klen, true);
	if (c)
		c->val.ptr = (void *)st;
	return st;
}

/* One sample into the pending records (in the worker). */
static int count_sample(struct report *r, const struct profile_sample *e, size_t size)
{
	struct pend_key pk;
	struct htab_ent *b;
	int nk;

	memset(&pk, 0, sizeof(pk));
	if (e->kern_n >= 0) {
		nk = e->kern_n < PROFILE_MAX_STACK_DEPTH ? e->kern_n : PROFILE_MAX_STACK_DEPTH;
		pk.kaddrs = kernel_addrs(r, (const uint64_t *)e->kern, nk);
	}
	if (e->user_n != PROFILE_NO_STACK)
		pk.us = user_stack(r, e, size);
	pk.kstate = e->kern_n == PROFILE_NO_STACK ? STACK_NONE
		    : pk.kaddrs			      ? STACK_FRAMES
						      : STACK_MISSED;
	pk.ustate = e->user_n == PROFILE_NO_STACK ? STACK_NONE
		    : pk.us			      ? STACK_FRAMES
						      : STACK_MISSED;
	/* Folded lines carry no pid: one line per distinct text, as flamegraph.pl would sum;
	 * with --containers, the container and not its cgroup or namespaces. The container is
	 * named now, while the process runs (its cgroup may be gone at the end). */
	pk.pid = r->env->folded ? 0 : e->pid;
	if (!r->env->folded || r->env->c.containers) {
		pk.idr = identity__keep(r->idn, &e->id, e->pid, r->env->folded);
		if (!pk.idr) {
			r->err = -ENOMEM;
			return -ENOMEM;
		}
	}
	memcpy(pk.comm, e->comm, sizeof(pk.comm));
	pk.comm[sizeof(pk.comm) - 1] = '\0';
	b = htab__get(&r->pend, &pk, sizeof(pk), true);
	if (!b) {
		r->err = -ENOMEM;
		return -ENOMEM;
	}
	b->val.u64++;
	return 0;
}

/* A sample from the ring (main thread): a new image is announced at once (its process may
 * be about to exit), the rest waits in the queue for the worker. */
static int handle_sample(void *vr, const void *data, size_t size)
{
	const struct profile_sample *e = data;
	struct report *r = vr;
	struct queued *q = NULL;

	if (size < offsetof(struct profile_sample, stack))
		return 0;
	if ((e->flags & PROFILE_SAMPLE_NEW_IMAGE) && r->images && e->image)
		images__announce(r->images, e->pid, e->image);
	pthread_mutex_lock(&r->qlock);
	if (r->qbytes + size > QUEUE_MAX_BYTES || !(q = malloc(sizeof(*q) + size))) {
		r->qdropped++;
	} else {
		q->next = NULL;
		q->size = size;
		memcpy(q->data, data, size);
		*r->qtail = q;
		r->qtail = &q->next;
		r->qbytes += size;
		if (r->images)
			images__queued(r->images);
		pthread_cond_signal(&r->qcond);
	}
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

/* Once a drain interval, in the worker. */
static void drain_tick(struct report *r)
{
	htab__free(&r->ucache);
	if (r->images)
		images__drained(r->images);
}

/* The worker: counts queued samples until told to stop and the queue is empty. */
static void *worker(void *vr)
{
	struct report *r = vr;
	uint64_t next = loop__now_mono_ns() + DRAIN_MS * 1000000ull, now;
	struct queued *q;
	struct timespec ts;

	pthread_mutex_lock(&r->qlock);
	for (;;) {
		q = r->qhead;
		if (q) {
			r->qhead = q->next;
			if (!r->qhead)
				r->qtail = &r->qhead;
			r->qbytes -= q->size;
			pthread_mutex_unlock(&r->qlock);
			if (!r->err)
				count_sample(r, (const struct profile_sample *)q->data, q->size);
			r->worker_samples++;
			if (r->images)
				images__counted(r->images);
			free(q);
			pthread_mutex_lock(&r->qlock);
		} else if (r->qstop) {
			break;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&r->qcond, &r->qlock, &ts);
		}
		now = loop__now_mono_ns();
		if (now >= next) {
			next = now + DRAIN_MS * 1000000ull;
			pthread_mutex_unlock(&r->qlock);
			drain_tick(r);
			pthread_mutex_lock(&r->qlock);
		}
	}
	pthread_mutex_unlock(&r->qlock);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	r->worker_cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return NULL;
}

/* Lets the worker count what is queued, and waits for it to end. */
static void worker_stop(struct report *r, pthread_t thread)
{
	pthread_mutex_lock(&r->qlock);
	r->qstop = true;
	pthread_cond_signal(&r->qcond);
	pthread_mutex_unlock(&r->qlock);
	pthread_join(thread, NULL);
}

static int report_init(struct report *r)
{
	pthread_condattr_t ca;
	int err;

	r->qtail = &r->qhead;
	err = pthread_condattr_init(&ca);
	err = err ?: pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = err ?: pthread_cond_init(&r->qcond, &ca);
	pthread_condattr_destroy(&ca);
	err = err ?: pthread_mutex_init(&r->qlock, NULL);
	return -err;
}

static void report_free(struct report *r)
{
	struct htab_ent *e;
	struct queued *q;

	while ((q = r->qhead)) {
		r->qhead = q->next;
		free(q);
	}
	stacks__free(&r->stacks);
	htab__free(&r->pend);
	htab__free(&r->kcache);
	htab__free(&r->ucache);
	for (e = NULL; (e = htab__next(&r->demangled, e));)
		free(e->val.ptr);
	htab__free(&r->demangled);
}

/* --pprof and --flamegraph: the same records as the output, the most frequent first. */
static int write_files(struct report *r, const struct sampling *sm)
{
	const struct env *env = r->env;
	struct stackfmt_opts o = {
		.user_only = env->user_only,
		.kernel_only = env->kernel_only,
		.annotations = env->annotations,
		.containers = env->c.containers,
	};
	struct stackfmt_pprof_info info = { 0 };
	struct stack_rec *recs;
	struct timespec rt;
	size_t n;
	int err = 0;

	if (!env->pprof && !env->flamegraph)
		return 0;
	recs = stacks__sorted(&r->stacks, true, &n);
	if (!recs) {
		p_err("out of memory");
		return -ENOMEM;
	}
	/* What one sample stands for: the timer's period; cycles have no time. */
	if (!env->period)
		info.period_ns = 1000000000ull / env->freq;
	else if (strcmp(sm->event, "cpu-clock") == 0)
		info.period_ns = env->period;
	clock_gettime(CLOCK_REALTIME, &rt);
	info.time_ns = (uint64_t)rt.tv_sec * 1000000000ull + rt.tv_nsec -
		       (loop__now_mono_ns() - sm->start_ns);
	info.duration_ns = sm->end_ns - sm->start_ns;
	if (env->pprof) {
		err = stackfmt__pprof(env->pprof, &o, recs, n, &info);
		if (err)
			p_err("writing the pprof profile to %s: %s", env->pprof, strerror(-err));
	}
	if (!err && env->flamegraph) {
		err = stackfmt__flamegraph(env->flamegraph, &o, recs, n, sm->event);
		if (err)
			p_err("writing the flame graph to %s: %s", env->flamegraph, strerror(-err));
	}
	free(recs);
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
		.containers = env->c.containers,
	};
	struct stack_rec *recs;
	size_t i, n;

	/* Text as BCC prints it, the most frequent last (next to the prompt); folded and JSON
	 * the most frequent first (`| head`). */
	recs = stacks__sorted(&r->stacks, env->folded || env->c.json, &n);
	if (!recs)
		return -ENOMEM;
	if (env->folded && !env->c.json) {
		int err = stackfmt__folded_all(stdout, &o, recs, n);

		free(recs);
		return err == -EIO ? 0 : err; /* a write error is the output's to report */
	}
	for (i = 0; i < n; i++) {
		if (env->c.json)
			stackfmt__json(stdout, &o, &recs[i]);
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
	[PROFILE_STAT_KERN_FAULT] = "kernel_stack_unreadable",
	[PROFILE_STAT_KERN_OTHER] = "kernel_stack_other_error",
	[PROFILE_STAT_USER_FAULT] = "user_frame_pointer_walk_failed",
	[PROFILE_STAT_USER_OTHER] = "user_stack_other_error",
	[PROFILE_STAT_NO_USER_REGS] = "user_registers_unknown",
	[PROFILE_STAT_STACK_UNREADABLE] = "user_stack_copy_failed",
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

/* Lost stacks were printed as [Missed ... Stack] frames, lost samples not at all: say how
 * many and why, one line per cause, with what to do about it. */
static void warn_losses(const struct sampling *sm, const uint64_t *st, const struct report *r,
			uint64_t lost)
{
	uint64_t skipped = sampling__skipped(sm, st[PROFILE_STAT_RUNS]);
	uint64_t kfault = st[PROFILE_STAT_KERN_FAULT] + st[PROFILE_STAT_KERN_OTHER];

	if (kfault)
		p_warn("%llu kernel stacks could not be read (shown as [Missed Kernel Stack])",
		       (unsigned long long)kfault);
	if (r->fp_only)
		p_warn("%llu user stacks were walked by frame pointers only (registers or stack "
		       "not readable at the sample; frames of code built without them are missing)",
		       (unsigned long long)r->fp_only);
	if (lost)
		p_warn("%llu samples were lost: the event buffer was full (the reader fell "
		       "behind; lower -F)", (unsigned long long)lost);
	if (r->qdropped)
		p_warn("%llu samples were dropped: more than %u MiB of them waited to be unwound "
		       "(lower -F)", (unsigned long long)r->qdropped, QUEUE_MAX_BYTES >> 20);
	if (skipped)
		p_warn("about %llu of the %llu sampling periods on the sampled CPUs (any process) "
		       "gave no sample: a timer that fires late (an idle or descheduled vCPU) skips "
		       "periods, and the kernel skips the program while other BPF code runs there",
		       (unsigned long long)skipped, (unsigned long long)sm->taken);
}

static void print_summary_json(const struct env *env, const struct sampling *sm,
			       const uint64_t *st, const struct report *r, uint64_t lost,
			       const struct unwinder_stats *us)
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
	/* Samples lost in a full event buffer, and dropped from a full queue. */
	json_key(&w, "lost_events");
	json_u64(&w, lost);
	json_key(&w, "files_refused");
	json_u64(&w, r->refused);
	json_key(&w, "dropped_samples");
	json_u64(&w, r->qdropped);
	/* How user stacks were unwound, and where each unwind ended (where the stack itself
	 * ends, "outermost", is the normal end). */
	json_key(&w, "user_stacks");
	json_obj_begin(&w);
	json_key(&w, "unwound");
	json_u64(&w, r->unwound);
	json_key(&w, "frame_pointers_only");
	json_u64(&w, r->fp_only);
	json_key(&w, "spliced_with_frame_pointers");
	json_u64(&w, r->spliced);
	json_key(&w, "frames_by_cfi");
	json_u64(&w, us->frames_cfi);
	json_key(&w, "frames_by_frame_pointer");
	json_u64(&w, us->frames_fp);
	json_key(&w, "ends");
	json_obj_begin(&w);
	for (i = 0; i < UNWIND_NR_ENDS; i++) {
		json_key(&w, unwind_end__name(i));
		json_u64(&w, us->ends[i]);
	}
	json_obj_end(&w);
	json_obj_end(&w);
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

/* Reads the event buffer until a signal, the end of the duration (end_ns, 0: none) or a
 * closed stdout. */
static int sample_loop(struct evbuf *eb, uint64_t end_ns)
{
	uint64_t now = loop__now_mono_ns();

	if (end_ns && now >= end_ns)
		return 0;
	return loop__events(eb, end_ns ? (end_ns - now + 999999) / 1000000 : 0);
}

/* NULL (after a warning) when kallsyms hides addresses: kernel frames are then unknown. */
static void *load_kernel_symbols(void *unused)
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

static void set_filters(struct profile_bpf *skel, const struct env *env)
{

	skel->rodata->want_kernel = !env->user_only;
	skel->rodata->want_user = !env->kernel_only;
	skel->rodata->include_idle = env->idle;
	/* The older kernels' way to the saved user registers, so tests cover it here too. */
	skel->rodata->regs_from_stack_top = getenv("CORESCOPE_REGS_FROM_STACK_TOP") != NULL;
	skel->rodata->nr_pids = env->nr_pids;
	memcpy((void *)skel->rodata->pids, env->pids, sizeof(env->pids));
	skel->rodata->nr_tids = env->nr_tids;
	memcpy((void *)skel->rodata->tids, env->tids, sizeof(env->tids));
}

int main(int argc, char **argv)
{
	struct env env = { .freq = DEFAULT_FREQ, .cpu = -1 };
	struct argp_child children[] = { cli__child(CLI_UID | CLI_CGROUP_LONG | CLI_CONTAINERS, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .args_doc = "[duration]", .children = children };
	uint64_t start_ns = loop__now_mono_ns(), st[PROFILE_NR_STATS];
	struct report r = { .env = &env };
	struct syms_cache *cache = NULL;
	struct profile_bpf *skel = NULL;
	struct images_stats ist = { 0 };
	struct unwinder_stats ust = { 0 };
	struct unwinder *unwinder = NULL;
	struct ksyms *ksyms = NULL;
	struct sampling sm = { 0 };
	struct evbuf *eb = NULL;
	pthread_t kthread, wthread;
	bool kthread_started = false, wthread_started = false;
	char header[320];
	void *res;
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("profile", &env.c);
	if (err)
		return 1;
	if (report_init(&r)) {
		p_err("setting up the worker thread's queue failed");
		return 1;
	}
	r.idn = identity__new(&env.c, NULL, 0);
	if (!r.idn) {
		p_err("out of memory");
		report_free(&r);
		return 1;
	}

	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = env.c.btf_path);
	skel = profile_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	set_filters(skel, &env);
	err = tool__before_load(skel->obj, &env.c, PROFILE_RING_BYTES);
	if (err)
		goto cleanup;
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
		unwinder = cache ? unwinder__new(env.debug_dir) : NULL;
		r.images = unwinder ? images__new(cache, unwinder) : NULL;
		if (!r.images) {
			err = -errno;
			p_err("creating the symbol cache: %s", strerror(errno));
			goto cleanup;
		}
	}
	sm.event = env.event;
	err = sampling__open(&sm, env.cpu, env.freq, env.period);
	if (err)
		goto cleanup;
	/* Consume before sampling starts, so no sample waits in a ring nobody reads. */
	eb = evbuf__new(skel->obj, handle_sample, &r);
	if (!eb) {
		err = -errno;
		p_err("setting up the event buffer: %s", strerror(errno));
		goto cleanup;
	}
	err = -pthread_create(&wthread, NULL, worker, &r);
	if (err) {
		p_err("starting the worker thread: %s", strerror(-err));
		goto cleanup;
	}
	wthread_started = true;
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
	 * describes the modules loaded during the profile. In a thread of their own: their
	 * second or so of parsing must not hold up the reading of the event buffer. */
	if (!env.user_only) {
		kthread_started = pthread_create(&kthread, NULL, load_kernel_symbols, NULL) == 0;
		if (!kthread_started)
			ksyms = load_kernel_symbols(NULL);
	}

	/* The duration counts from attach: the kernel symbols' load time is part of it. */
	err = sample_loop(eb, env.duration_ms ? sm.start_ns + env.duration_ms * 1000000ull : 0);
	/* Stop sampling before the last read: the samples no longer move under the reader. */
	sampling__stop(&sm);
	/* The last samples, and everything queued, counted. */
	if (!err && evbuf__drain(eb) < 0)
		p_warn("reading the last samples failed");
	worker_stop(&r, wthread);
	wthread_started = false;
	if (!err && r.err)
		p_err("counting the samples: %s", strerror(-r.err));
	err = err ?: r.err;
	if (kthread_started) {
		pthread_join(kthread, &res);
		ksyms = res;
		kthread_started = false;
	}
	if (err)
		goto cleanup;

	r.ksyms = ksyms;
	err = resolve_records(&r);
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
	err = write_files(&r, &sm);
	if (err)
		goto cleanup;
	if (unwinder)
		unwinder__stats(unwinder, &ust);
	if (env.c.json)
		print_summary_json(&env, &sm, st, &r, evbuf__lost(eb), &ust);
	/* A reader that went away is not an error: `profile | head` ends quietly. */
	loop__flush();
	warn_losses(&sm, st, &r, evbuf__lost(eb));
	if (r.refused)
		p_warn("%llu files were not read (a link where a file was expected, not a regular "
		       "file, too large, or another user's perf map): their frames show the file "
		       "and offset", (unsigned long long)r.refused);
	if (r.images)
		images__stats(r.images, &ist);
	p_info("%llu samples, %zu distinct stacks, %llu drains; %llu process images announced, "
	       "%llu gone before their maps were read, %llu freed before the end",
	       (unsigned long long)st[PROFILE_STAT_SAMPLES], stacks__count(&r.stacks),
	       (unsigned long long)ist.drains, (unsigned long long)ist.announced,
	       (unsigned long long)ist.prepare_failed, (unsigned long long)ist.freed);
	p_info("unwinding and symbolizing: %.1f ms of CPU for %llu samples (%.1f us each)",
	       (double)r.worker_cpu_ns / 1e6, (unsigned long long)r.worker_samples,
	       r.worker_samples ? (double)r.worker_cpu_ns / 1e3 / (double)r.worker_samples : 0.0);

cleanup:
	if (wthread_started)
		worker_stop(&r, wthread);
	if (kthread_started && pthread_join(kthread, &res) == 0)
		ksyms = res;
	sampling__close(&sm);
	evbuf__free(eb);
	report_free(&r);
	identity__free(r.idn);
	images__free(r.images);
	unwinder__free(unwinder);
	ksyms__free(ksyms);
	syms_cache__free(cache);
	profile_bpf__destroy(skel);
	return err ? 1 : 0;
}
