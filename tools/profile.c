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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfobj.h"
#include "cli.h"
#include "escape.h"
#include "evbuf.h"
#include "htab.h"
#include "json.h"
#include "log.h"
#include "loop.h"
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

/* ---- Process images: which syms each announced image uses, and for how long ---- */

enum image_state {
	IMAGE_LIVE,        /* the pid's current image */
	IMAGE_SUPERSEDED,  /* the pid announced another image since (exec, or reused pid) */
	IMAGE_GONE,        /* the process has exited */
};

struct image {
	struct syms *syms;  /* NULL: its maps could not be read (gone before the announcement) */
	uint32_t pid;
	uint32_t state;     /* enum image_state */
	uint64_t since;     /* drains completed when it stopped being LIVE */
};

struct ctx {
	const struct env *env;
	struct syms_cache *cache;  /* NULL with -K */
	struct htab images;        /* image id -> struct image * */
	struct htab pids;          /* pid -> id of its latest image */
	uint64_t drains;           /* drains completed */
	uint64_t announced, prepare_failed, freed;
};

static struct image *image_get(struct ctx *ctx, uint64_t id)
{
	struct htab_ent *e = htab__get(&ctx->images, &id, sizeof(id), false);

	return e ? e->val.ptr : NULL;
}

static void image_retire(struct ctx *ctx, struct image *img, enum image_state state)
{
	if (img->state == IMAGE_LIVE) {
		img->state = state;
		img->since = ctx->drains;
	}
}

/* A process image was sampled for the first time: read its maps now, while it runs. The
 * pid's earlier image (before an exec, or another process before the pid was reused) keeps
 * its own syms for the stacks counted under its image id. */
static int handle_event(void *vctx, const void *data, size_t size)
{
	const struct profile_event *e = data;
	struct ctx *ctx = vctx;
	struct htab_ent *pe, *ie;
	struct image *img;

	if (size < sizeof(*e) || !ctx->cache || !e->image)
		return 0;
	ctx->announced++;
	pe = htab__get(&ctx->pids, &e->pid, sizeof(e->pid), false);
	if (pe && (img = image_get(ctx, pe->val.u64)))
		image_retire(ctx, img, IMAGE_SUPERSEDED);
	img = calloc(1, sizeof(*img));
	if (!img)
		return 0;
	syms_cache__retire(ctx->cache, (pid_t)e->pid);
	img->syms = syms_cache__get_syms(ctx->cache, (pid_t)e->pid);
	img->pid = e->pid;
	if (!img->syms)
		ctx->prepare_failed++;
	ie = htab__get(&ctx->images, &e->image, sizeof(e->image), true);
	pe = htab__get(&ctx->pids, &e->pid, sizeof(e->pid), true);
	if (!ie || !pe || ie->val.ptr) {
		/* Out of memory, or an id announced twice (never: ids are unique). */
		syms_cache__release(ctx->cache, img->syms);
		free(img);
		return 0;
	}
	ie->val.ptr = img;
	pe->val.u64 = e->image;
	return 0;
}

/* After a drain: frees the images no sample can name any more, those that stopped being
 * LIVE before the drain (their last samples were in the buffer just drained), and marks the
 * processes that have exited since the last look. */
static void reap_images(struct ctx *ctx)
{
	uint64_t *doomed = NULL;
	size_t i, n = 0;

	if (ctx->images.n)
		doomed = malloc(ctx->images.n * sizeof(*doomed));
	for (i = 0; doomed && i < ctx->images.cap; i++) {
		struct htab_ent *e = &ctx->images.ents[i];
		struct image *img = e->val.ptr;

		if (!e->key)
			continue;
		if (img->state != IMAGE_LIVE) {
			if (img->since < ctx->drains)
				doomed[n++] = *(uint64_t *)e->key;
		} else if (kill((pid_t)img->pid, 0) != 0 && errno == ESRCH) {
			image_retire(ctx, img, IMAGE_GONE);
		}
	}
	/* Removing entries moves others: after the walk. */
	for (i = 0; i < n; i++) {
		struct htab_ent *e = htab__get(&ctx->images, &doomed[i], sizeof(doomed[i]), false);
		struct image *img = e->val.ptr;
		struct htab_ent *pe = htab__get(&ctx->pids, &img->pid, sizeof(img->pid), false);

		if (pe && pe->val.u64 == doomed[i])
			htab__del(&ctx->pids, pe);
		syms_cache__release(ctx->cache, img->syms);
		free(img);
		htab__del(&ctx->images, e);
		ctx->freed++;
	}
	free(doomed);
}

static void images_free(struct ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->images.cap; i++)
		if (ctx->images.ents[i].key)
			free(ctx->images.ents[i].val.ptr);
	htab__free(&ctx->images);
	htab__free(&ctx->pids);
}

/* ---- The report: counts read back, symbolized, merged ---- */

/* An interned stack: identical symbolized stacks are one pointer. Frames leaf first. */
struct stack {
	size_t n;
	const char *f[];
};

enum stack_state {
	ST_FRAMES,  /* frames (maybe none) */
	ST_NONE,    /* no stack of this kind: not asked for, or none exists */
	ST_MISSED,  /* the stack existed but was lost (enum profile_stat says why) */
};

/* What merges: every field is a value or an interned pointer, zero padded. */
struct rec_key {
	const struct stack *us, *ks;
	uint32_t ustate, kstate;
	uint32_t pid;
	char comm[PROFILE_COMM_LEN];
	uint32_t pad;  /* explicit: the key is hashed and compared as bytes */
};

struct rec {
	const struct rec_key *k;
	uint64_t count;
};

struct report {
	const struct env *env;
	struct ctx *ctx;
	const struct ksyms *ksyms;
	int counts_fd[2], stacks_fd[2];  /* per generation */
	int stacks_fd_now;               /* of the generation being drained */
	/* Interned names and stacks, and the merged records: kept for the whole run. */
	struct htab strings, stacks, recs;
	/* Symbolized stacks by stack id: valid for one drain (ids are reused after it). */
	struct htab kcache, ucache;
	__u64 ips[PROFILE_MAX_STACK_DEPTH];
	uint64_t counted;
};

static const char *intern(struct report *r, const char *s)
{
	struct htab_ent *e = htab__get(&r->strings, s, strlen(s) + 1, true);

	return e ? e->key : "[out of memory]";
}

static const struct stack *intern_stack(struct report *r, const char **f, size_t n)
{
	struct {
		size_t n;
		const char *f[PROFILE_MAX_STACK_DEPTH];
	} buf;
	struct htab_ent *e;

	buf.n = n;
	memcpy(buf.f, f, n * sizeof(*f));
	e = htab__get(&r->stacks, &buf, sizeof(size_t) + n * sizeof(*f), true);
	return e ? e->key : NULL;
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

static const struct stack *kernel_stack(struct report *r, int32_t id)
{
	const char *names[PROFILE_MAX_STACK_DEPTH];
	struct htab_ent *e = htab__get(&r->kcache, &id, sizeof(id), true);
	const struct stack *st;
	int n, i;

	if (e && e->val.ptr)
		return e->val.ptr;
	n = read_ips(r, id);
	if (n < 0)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct ksym *ks = NULL;

		if (r->ksyms)
			ks = ksyms__map_addr(r->ksyms, lookup_addr(r->ips[i], i), NULL);
		names[i] = intern(r, ks ? ks->name : "[unknown]");
	}
	st = intern_stack(r, names, n);
	e = htab__get(&r->kcache, &id, sizeof(id), true);
	if (e)
		e->val.ptr = (void *)st;
	return st;
}

/* The syms of the image a user stack was taken in: the one announced, or, when the
 * announcement was lost, the pid's latest image if it still runs. */
static struct syms *image_syms(struct report *r, uint64_t image, uint32_t pid)
{
	struct image *img = image ? image_get(r->ctx, image) : NULL;
	struct htab_ent *pe;

	if (img)
		return img->syms;
	pe = htab__get(&r->ctx->pids, &pid, sizeof(pid), false);
	img = pe ? image_get(r->ctx, pe->val.u64) : NULL;
	return img && img->state == IMAGE_LIVE ? img->syms : NULL;
}

static const char *user_frame(struct report *r, struct syms *s, uint64_t ip, int i)
{
	uint64_t addr = lookup_addr(ip, i);
	struct sym_info info = { 0 };
	char buf[PATH_MAX + 64];

	if (s && syms__map_addr_info(s, addr, &info) == 0)
		return intern(r, info.name);
	if (!info.module)
		return intern(r, "[unknown]");
	/* The offset of the sampled address itself, as perf shows it. */
	snprintf(buf, sizeof(buf), "[unknown] (%s+0x%llx)", info.module,
		 (unsigned long long)(info.module_offset + (ip - addr)));
	return intern(r, buf);
}

static const struct stack *user_stack(struct report *r, int32_t id, uint64_t image,
				      uint32_t pid)
{
	const char *names[PROFILE_MAX_STACK_DEPTH];
	/* One stack id is the same addresses in every process: the image decides the names. */
	struct {
		uint64_t image;
		int32_t id;
		uint32_t pid;
	} key = { image, id, pid };
	struct htab_ent *e = htab__get(&r->ucache, &key, sizeof(key), true);
	const struct stack *st;
	struct syms *s;
	int n, i;

	if (e && e->val.ptr)
		return e->val.ptr;
	n = read_ips(r, id);
	if (n < 0)
		return NULL;
	s = image_syms(r, image, pid);
	for (i = 0; i < n; i++)
		names[i] = user_frame(r, s, r->ips[i], i);
	st = intern_stack(r, names, n);
	e = htab__get(&r->ucache, &key, sizeof(key), true);
	if (e)
		e->val.ptr = (void *)st;
	return st;
}

static uint32_t stack_state(int32_t id, const struct stack **st)
{
	if (id == PROFILE_NO_STACK)
		return ST_NONE;
	if (id < 0 || !*st)
		return ST_MISSED;
	return ST_FRAMES;
}

/* One counts entry into the merged records. */
static int add_count(struct report *r, const struct profile_key *k, uint64_t count)
{
	const struct env *env = r->env;
	struct rec_key rk;
	struct htab_ent *e;

	memset(&rk, 0, sizeof(rk));
	if (k->kern_stack_id >= 0)
		rk.ks = kernel_stack(r, k->kern_stack_id);
	if (k->user_stack_id >= 0)
		rk.us = user_stack(r, k->user_stack_id, k->image, k->pid);
	rk.kstate = stack_state(k->kern_stack_id, &rk.ks);
	rk.ustate = stack_state(k->user_stack_id, &rk.us);
	/* Folded lines carry no pid: one line per distinct text, as flamegraph.pl would sum. */
	rk.pid = env->folded ? 0 : k->pid;
	memcpy(rk.comm, k->comm, sizeof(rk.comm));
	rk.comm[sizeof(rk.comm) - 1] = '\0';
	e = htab__get(&r->recs, &rk, sizeof(rk), true);
	if (!e)
		return -ENOMEM;
	e->val.u64 += count;
	r->counted += count;
	return 0;
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

/* ---- Printing ---- */

static int cmp_stacks(const struct stack *a, const struct stack *b)
{
	size_t i;
	int c;

	if (a == b)
		return 0;
	if (!a || !b)
		return a ? 1 : -1;
	for (i = 0; i < a->n && i < b->n; i++) {
		c = strcmp(a->f[i], b->f[i]);
		if (c)
			return c;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

/* Equal counts in a stable order: the output does not depend on hash order. */
static int cmp_content(const struct rec *a, const struct rec *b)
{
	int c = strcmp(a->k->comm, b->k->comm);

	if (c)
		return c;
	if (a->k->pid != b->k->pid)
		return a->k->pid < b->k->pid ? -1 : 1;
	if (a->k->kstate != b->k->kstate)
		return a->k->kstate < b->k->kstate ? -1 : 1;
	if (a->k->ustate != b->k->ustate)
		return a->k->ustate < b->k->ustate ? -1 : 1;
	c = cmp_stacks(a->k->us, b->k->us);
	return c ? c : cmp_stacks(a->k->ks, b->k->ks);
}

static int cmp_ascending(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count < b->count ? -1 : 1;
	return cmp_content(a, b);
}

static int cmp_descending(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return cmp_content(a, b);
}

static void put_text(const char *s)
{
	fput_escaped(stdout, s, strlen(s), 0);
}

/* A folded line is "frame;frame;... count": a ';' inside a name (a JIT's Java signature,
 * a comm) would split it, so it becomes "\x3b" (a backslash in a name is "\\"). */
static void put_folded(const char *s, size_t len)
{
	const char *semi;

	while ((semi = memchr(s, ';', len))) {
		fput_escaped(stdout, s, semi - s, 0);
		fputs("\\x3b", stdout);
		len -= semi - s + 1;
		s = semi + 1;
	}
	fput_escaped(stdout, s, len, 0);
}

static bool both_stacks(const struct rec_key *k)
{
	return k->kstate == ST_FRAMES && k->ustate == ST_FRAMES && k->ks && k->us && k->ks->n &&
	       k->us->n;
}

/* BCC's layout: kernel frames, user frames (each leaf first), "-  comm (pid)", count. */
static void print_text(const struct env *env, const struct rec *rec)
{
	const struct rec_key *k = rec->k;
	size_t i;

	if (!env->user_only) {
		if (k->kstate == ST_MISSED) {
			fputs("    [Missed Kernel Stack]\n", stdout);
		} else if (k->kstate == ST_FRAMES) {
			for (i = 0; i < k->ks->n; i++) {
				fputs("    ", stdout);
				put_text(k->ks->f[i]);
				fputs(env->annotations ? "_[k]\n" : "\n", stdout);
			}
		}
	}
	if (!env->kernel_only) {
		if (env->delimited && both_stacks(k))
			fputs("    --\n", stdout);
		if (k->ustate == ST_MISSED) {
			fputs("    [Missed User Stack]\n", stdout);
		} else if (k->ustate == ST_FRAMES) {
			for (i = 0; i < k->us->n; i++) {
				fputs("    ", stdout);
				put_text(k->us->f[i]);
				fputc('\n', stdout);
			}
		}
	}
	printf("    %-16s ", "-");
	put_text(k->comm);
	printf(" (%u)\n        %llu\n\n", k->pid, (unsigned long long)rec->count);
}

/* comm;user frames;kernel frames count, root first, as flamegraph.pl reads it. */
static void print_folded(const struct env *env, const struct rec *rec)
{
	const struct rec_key *k = rec->k;
	size_t i;

	put_folded(k->comm, strlen(k->comm));
	if (!env->kernel_only) {
		if (k->ustate == ST_MISSED) {
			fputs(";[Missed User Stack]", stdout);
		} else if (k->ustate == ST_FRAMES) {
			for (i = k->us->n; i-- > 0;) {
				fputc(';', stdout);
				put_folded(k->us->f[i], strlen(k->us->f[i]));
			}
		}
	}
	if (!env->user_only) {
		if (env->delimited && both_stacks(k))
			fputs(";-", stdout);
		if (k->kstate == ST_MISSED) {
			fputs(";[Missed Kernel Stack]", stdout);
		} else if (k->kstate == ST_FRAMES) {
			for (i = k->ks->n; i-- > 0;) {
				fputc(';', stdout);
				put_folded(k->ks->f[i], strlen(k->ks->f[i]));
				if (env->annotations)
					fputs("_[k]", stdout);
			}
		}
	}
	printf(" %llu\n", (unsigned long long)rec->count);
}

static void json_stack(struct json_writer *w, const char *name, uint32_t state,
		       const struct stack *st)
{
	size_t i;
	char key[32];

	json_key(w, name);
	json_arr_begin(w);
	for (i = 0; state == ST_FRAMES && st && i < st->n; i++)
		json_str(w, st->f[i]);
	json_arr_end(w);
	snprintf(key, sizeof(key), "%s_missed", name);
	json_key(w, key);
	json_bool(w, state == ST_MISSED);
}

static void print_json(const struct env *env, const struct rec *rec)
{
	const struct rec_key *k = rec->k;
	struct json_writer w;

	json_writer__init(&w, stdout);
	json_obj_begin(&w);
	json_key(&w, "pid");
	json_u64(&w, k->pid);
	json_key(&w, "comm");
	json_str(&w, k->comm);
	json_key(&w, "count");
	json_u64(&w, rec->count);
	if (!env->user_only)
		json_stack(&w, "kernel_stack", k->kstate, k->ks);
	if (!env->kernel_only)
		json_stack(&w, "user_stack", k->ustate, k->us);
	json_obj_end(&w);
	json_writer__endl(&w);
}

static int print_records(struct report *r)
{
	const struct env *env = r->env;
	struct rec *recs;
	size_t i, n = 0;

	recs = calloc(r->recs.n ? r->recs.n : 1, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	for (i = 0; i < r->recs.cap; i++) {
		if (!r->recs.ents[i].key)
			continue;
		recs[n].k = r->recs.ents[i].key;
		recs[n].count = r->recs.ents[i].val.u64;
		n++;
	}
	/* Text as BCC prints it, the most frequent last (next to the prompt); folded and JSON
	 * the most frequent first (`| head`). */
	qsort(recs, n, sizeof(*recs), env->folded || env->c.json ? cmp_descending : cmp_ascending);
	for (i = 0; i < n; i++) {
		if (env->c.json)
			print_json(env, &recs[i]);
		else if (env->folded)
			print_folded(env, &recs[i]);
		else
			print_text(env, &recs[i]);
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

struct sampling {
	const char *event;     /* "cycles" or "cpu-clock" */
	int ncpus;             /* CPUs sampled */
	int *fds;              /* the events (owned by their links once attached) */
	uint64_t start_ns, end_ns;
	/* Samples the events took, from their counts: known for a fixed period (cpu-clock, a
	 * timer, or -c), not for cycles at a frequency (the kernel adapts the period). */
	bool taken_known;
	uint64_t taken;
};

/* Sampling periods the events counted that never ran the program. An hrtimer that fires
 * late skips whole periods (perf_swevent_hrtimer forwards past them): seen here on an idle
 * vCPU of a busy host, for perf record as well. And the kernel skips a perf event's program
 * when the interrupt arrives while other BPF code runs on that CPU (bpf_prog_active: a
 * tracing program, a map operation from a syscall) and says nothing. At most one sample per
 * CPU is off by timing. */
static uint64_t samples_skipped(const struct sampling *sm, const uint64_t *st)
{
	uint64_t runs = st[PROFILE_STAT_RUNS];

	if (!sm->taken_known || sm->taken <= runs + (uint64_t)sm->ncpus)
		return 0;
	return sm->taken - runs;
}

/* Lost stacks were printed as [Missed ... Stack] frames: say how many and why, one line per
 * cause, with what to do about it. */
static void warn_losses(const struct env *env, const struct sampling *sm, const uint64_t *st)
{
	uint64_t skipped = samples_skipped(sm, st);

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
	json_u64(&w, r->counted);
	json_key(&w, "stacks");
	json_u64(&w, r->recs.n);
	/* Announcements of process images lost: their stacks resolve through the pid's latest
	 * image, if it still runs. */
	json_key(&w, "lost_events");
	json_u64(&w, lost);
	json_key(&w, "errors");
	json_obj_begin(&w);
	for (i = PROFILE_STAT_SAMPLES + 1; i < PROFILE_NR_STATS; i++) {
		json_key(&w, stat_names[i]);
		json_u64(&w, st[i]);
	}
	json_key(&w, "skipped_by_kernel");
	if (sm->taken_known)
		json_u64(&w, samples_skipped(sm, st));
	else
		json_null(&w);
	json_obj_end(&w);
	json_obj_end(&w);
	json_obj_end(&w);
	json_writer__endl(&w);
}

/* ---- Perf events ---- */

/* /sys/devices/system/cpu/online ("0-3,5"); every possible CPU when it cannot be read. */
static void online_cpus(bool *online, int ncpus)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	char buf[4096], *p = buf;
	int i;

	if (!f || !fgets(buf, sizeof(buf), f)) {
		for (i = 0; i < ncpus; i++)
			online[i] = true;
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	while (*p >= '0' && *p <= '9') {
		long a = strtol(p, &p, 10), b = a;

		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		for (i = (int)a; i <= b && i < ncpus; i++)
			online[i] = true;
		if (*p != ',')
			break;
		p++;
	}
}

static int perf_open(const struct env *env, int cpu, bool hw)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	/* Enabled once the program is attached: every sample the event takes is then one the
	 * program should see, which makes the skipped ones countable. */
	attr.disabled = 1;
	attr.type = hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	attr.config = hw ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
	if (env->period) {
		attr.sample_period = env->period;
	} else {
		attr.freq = 1;
		attr.sample_freq = env->freq;
	}
	return (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Opens one sampling event per online CPU (or the -C one): CPU cycles where there is a
 * hardware PMU, else the cpu-clock software event (a timer; also what a VM without a
 * virtual PMU offers). Fills fds (possible-CPU count long) and returns how many, or a
 * negative errno after printing why. */
static int open_events(const struct env *env, int *fds, int ncpus, struct sampling *sm)
{
	bool *online = calloc(ncpus, sizeof(*online));
	int hw_err = 0, n, cpu, fd, err = 0;
	bool hw = true;

	if (!online) {
		p_err("out of memory");
		return -ENOMEM;
	}
	online_cpus(online, ncpus);
	if (env->cpu >= 0 && !online[env->cpu]) {
		p_err("CPU %d is offline", env->cpu);
		free(online);
		return -ENODEV;
	}
again:
	n = 0;
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!online[cpu] || (env->cpu >= 0 && cpu != env->cpu))
			continue;
		fd = perf_open(env, cpu, hw);
		if (fd < 0) {
			err = -errno;
			/* Gone offline since we looked. */
			if (err == -ENODEV && env->cpu < 0)
				continue;
			while (n > 0)
				close(fds[--n]);
			if (hw) {
				hw_err = err;
				hw = false;
				goto again;
			}
			p_err("opening the cpu-clock perf event on CPU %d: %s%s", cpu, strerror(-err),
			      err == -EACCES || err == -EPERM
				      ? " (needs root or CAP_PERFMON; see kernel.perf_event_paranoid)"
				      : "");
			free(online);
			return err;
		}
		fds[n++] = fd;
	}
	free(online);
	if (n == 0) {
		p_err("no online CPU to sample");
		return -ENODEV;
	}
	sm->event = hw ? "cycles" : "cpu-clock";
	sm->ncpus = n;
	sm->fds = fds;
	if (!hw)
		p_info("sampling cpu-clock: no CPU cycles event (%s)", strerror(-hw_err));
	else
		p_info("sampling CPU cycles");
	return n;
}

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

/* Disables the events and adds up the samples they took (see struct sampling). */
static void stop_events(const struct env *env, struct sampling *sm, int nfds)
{
	bool timer = strcmp(sm->event, "cpu-clock") == 0;
	uint64_t period, count;
	int i;

	for (i = 0; i < nfds; i++)
		ioctl(sm->fds[i], PERF_EVENT_IOC_DISABLE, 0);
	sm->end_ns = loop__now_mono_ns();
	if (!timer && !env->period)
		return;
	/* The kernel's own arithmetic: NSEC_PER_SEC / frequency, and cpu-clock's 10 us floor
	 * (perf_swevent_init_hrtimer, perf_swevent_start_hrtimer). */
	period = env->period ? env->period : 1000000000ull / env->freq;
	if (timer && period < 10000)
		period = 10000;
	sm->taken = 0;
	for (i = 0; i < nfds; i++) {
		if (read(sm->fds[i], &count, sizeof(count)) != sizeof(count))
			return;
		sm->taken += count / period;
	}
	sm->taken_known = true;
}

/* Swaps the generation samples go to. With the events disabled: disabling waits until the
 * event's handler is not running on its CPU, so afterwards no sample still writes to the
 * generation being drained. The pause is a few system calls; the timers keep their phase. */
static int flip(const struct sampling *sm, int gen_fd, uint32_t *gen)
{
	uint32_t zero = 0, next = *gen ^ 1;
	int i, err = 0;

	for (i = 0; i < sm->ncpus; i++)
		ioctl(sm->fds[i], PERF_EVENT_IOC_DISABLE, 0);
	if (bpf_map_update_elem(gen_fd, &zero, &next, BPF_ANY))
		err = -errno;
	else
		*gen = next;
	for (i = 0; i < sm->ncpus; i++)
		if (ioctl(sm->fds[i], PERF_EVENT_IOC_ENABLE, 0) && !err)
			err = -errno;
	return err;
}

/* Runs until a signal, the end of the duration (end_ns, 0: none) or a closed stdout:
 * consumes announcements as they come, and every DRAIN_MS flips the generation and drains
 * the one just left. */
static int sample_loop(struct report *r, struct evbuf *eb, const struct sampling *sm,
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
		r->ctx->drains++;
		reap_images(r->ctx);
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
	struct argp_child children[] = { cli__child(0, &env.c), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .args_doc = "[duration]", .children = children };
	uint64_t start_ns = loop__now_mono_ns(), st[PROFILE_NR_STATS];
	struct sampling sm = { .event = "cpu-clock" };
	struct ctx ctx = { .env = &env };
	struct report r = { .env = &env, .ctx = &ctx };
	struct profile_bpf *skel = NULL;
	struct bpf_link **links = NULL;
	struct ksyms *ksyms = NULL;
	struct evbuf *eb = NULL;
	uint32_t gen = 0;
	int *fds = NULL, nfds = 0, ncpus, i, err;
	bool *owned = NULL;
	char header[320];

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("profile", &env.c);
	if (err)
		return 1;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1) {
		p_err("cannot count the CPUs: %s", strerror(-ncpus));
		return 1;
	}

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

		ctx.cache = syms_cache__new(&so);
		if (!ctx.cache) {
			err = -errno;
			p_err("creating the symbol cache: %s", strerror(errno));
			goto cleanup;
		}
	}
	fds = calloc(ncpus, sizeof(*fds));
	owned = calloc(ncpus, sizeof(*owned));
	links = calloc(ncpus, sizeof(*links));
	if (!fds || !owned || !links) {
		err = -ENOMEM;
		p_err("out of memory");
		goto cleanup;
	}
	nfds = open_events(&env, fds, ncpus, &sm);
	if (nfds < 0) {
		err = nfds;
		nfds = 0;
		goto cleanup;
	}
	for (i = 0; i < nfds; i++)
		owned[i] = true;
	/* Consume before sampling starts, so no announcement waits in a ring nobody reads. */
	eb = evbuf__new(skel->obj, handle_event, &ctx);
	if (!eb) {
		err = -errno;
		p_err("setting up the event buffer: %s", strerror(errno));
		goto cleanup;
	}
	for (i = 0; i < nfds; i++) {
		links[i] = bpf_program__attach_perf_event(skel->progs.do_sample, fds[i]);
		if (!links[i]) {
			err = -errno;
			p_bpf_err("attaching to the perf event", err);
			goto cleanup;
		}
		owned[i] = false; /* the link closes it */
	}
	sm.start_ns = loop__now_mono_ns();
	for (i = 0; i < nfds; i++) {
		if (ioctl(fds[i], PERF_EVENT_IOC_ENABLE, 0)) {
			err = -errno;
			p_err("enabling the perf event: %s", strerror(errno));
			goto cleanup;
		}
	}
	header_text(&env, &sm, header, sizeof(header));
	if (!env.c.json && !env.folded)
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
	stop_events(&env, &sm, nfds);
	for (i = 0; i < nfds; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
	/* Announcements from the last samples. */
	if (evbuf__poll(eb, 0) < 0)
		p_warn("reading the last announcements failed");
	if (err)
		goto cleanup;

	err = drain(&r, gen);
	err = err ?: drain(&r, gen ^ 1);
	err = err ?: read_stats(bpf_map__fd(skel->maps.stats), st);
	err = err ?: print_records(&r);
	if (err) {
		p_err("reading the samples: %s", strerror(-err));
		goto cleanup;
	}
	if (env.c.json)
		print_summary_json(&env, &sm, st, &r, evbuf__lost(eb));
	/* A reader that went away is not an error: `profile | head` ends quietly. */
	loop__flush();
	warn_losses(&env, &sm, st);
	tool__report_lost(eb, NULL);
	p_info("%llu samples, %zu distinct stacks, %llu drains; %llu process images announced, "
	       "%llu gone before their maps were read, %llu freed before the end",
	       (unsigned long long)st[PROFILE_STAT_SAMPLES], r.recs.n,
	       (unsigned long long)ctx.drains, (unsigned long long)ctx.announced,
	       (unsigned long long)ctx.prepare_failed, (unsigned long long)ctx.freed);

cleanup:
	for (i = 0; links && i < nfds; i++)
		bpf_link__destroy(links[i]);
	for (i = 0; fds && i < nfds; i++)
		if (owned[i])
			close(fds[i]);
	free(links);
	free(fds);
	free(owned);
	evbuf__free(eb);
	htab__free(&r.strings);
	htab__free(&r.stacks);
	htab__free(&r.kcache);
	htab__free(&r.ucache);
	htab__free(&r.recs);
	images_free(&ctx);
	ksyms__free(ksyms);
	syms_cache__free(ctx.cache);
	profile_bpf__destroy(skel);
	return err ? 1 : 0;
}
