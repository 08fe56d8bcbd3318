/* biolatency: block I/O latency histograms, per request from issue (or with -Q from
 * insertion into the queue) to completion, aggregated in the kernel.
 *
 * Three sets of the same three programs, user space loads one set: BTF-typed tracepoints
 * (tp_btf), raw tracepoints for kernels whose BTF lacks typed tracepoints, and the classic
 * tracepoints, which have no struct request and so key requests by disk and sector. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "biolatency.h"
#include "block.bpf.h"
#include "filter.bpf.h"
#include "hist.bpf.h"

#define EEXIST 17

const volatile __u8 targ_queued = 0;   /* -Q: start at block_rq_insert */
const volatile __u8 targ_ms = 0;       /* -m: milliseconds, else microseconds */
const volatile __u8 targ_per_disk = 0; /* -D */
const volatile __u8 targ_per_kind = 0; /* -F */
const volatile __u32 targ_dev = 0;     /* -d: BLK_DEV of the one disk, 0 for all */
/* Index of the struct request * among the block_rq class's arguments (insert, issue, merge):
 * 1 before commit a54895fa057c ("block: remove the request_queue to argument request based
 * tracepoints", 5.11) dropped their leading request_queue, 0 since. Found by user space in
 * the kernel's BTF; the verifier sees a constant and skips the other branch. */
const volatile __u8 rq_arg = 0;
/* --containers: one histogram per submitter's cgroup (user space names the containers). */
const volatile __u8 targ_per_cgroup = 0;
/* A task filter (-p, -u, -c, --mntns, --container) or --containers without -Q: the submitter
 * is judged at insertion, where it is the current task. With an I/O scheduler a request is
 * issued later, often by a kworker, and judged there the submitter's I/O would be dropped
 * or put on the kworker's account. */
const volatile __u8 targ_filter_at_insert = 0;

/* Start time of each request in flight, keyed by its struct request (classic tracepoints:
 * by disk and sector) and deleted at completion. A plain hash (preallocated, so tracing
 * programs never allocate): struct requests are a fixed pool per queue, so a request whose
 * completion went unseen is found and counted when its struct is used again, and a full map
 * is counted, never evicts. User space makes it LRU for the classic tracepoints, whose
 * (disk, sector) keys do not recur; an eviction there shows as an orphan completion. */
struct start_key {
	__u64 id;     /* struct request *, or the disk for classic tracepoints */
	__u64 sector; /* classic tracepoints only */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BIOLAT_MAX_INFLIGHT);
	__type(key, struct start_key);
	__type(value, struct biolat_start);
} start SEC(".maps");

/* Only ever added to (hist_track in common/hist.h reads deltas without resetting and sums
 * the CPUs). Per CPU: completions on several CPUs do not bounce one histogram's cache lines
 * between them. Sized by user space for the keys -D and -F can create; preallocated, as
 * tracing programs should not allocate. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1);
	__type(key, struct biolat_key);
	__type(value, struct hist);
} hists SEC(".maps");

/* enum biolat_drop */
__u64 drops[BIOLAT_DROP_NR] = {};

static __always_inline void drop(enum biolat_drop why)
{
	__sync_fetch_and_add(&drops[why], 1);
}

/* Is every completion of the traced disks one we should have seen start? Not with a task
 * filter: the requests of other tasks were never started. */
static __always_inline bool orphans_countable(void)
{
	return !filter_pid && filter_uid == (__u32)-1 && !filter_cgroup && !filter_mntns;
}

/* The current task's cgroup, where histograms are kept per cgroup (the helper is not free). */
static __always_inline __u64 submitter_cgroup(void)
{
	return targ_per_cgroup ? bpf_get_current_cgroup_id() : 0;
}

/* Records a request's start, submitted from cgroup_id. keep_older: with -Q, issue keeps the
 * insertion time. */
static __always_inline void start_at(struct start_key *key, bool keep_older, __u64 cgroup_id)
{
	struct biolat_start v = { .ts = bpf_ktime_get_ns(), .cgroup_id = cgroup_id };
	long err = bpf_map_update_elem(&start, key, &v, BPF_NOEXIST);

	if (!err || (err == -EEXIST && keep_older))
		return;
	if (err == -EEXIST) {
		drop(BIOLAT_RESTARTED);
		err = bpf_map_update_elem(&start, key, &v, BPF_ANY);
	}
	if (err)
		drop(BIOLAT_START_FULL);
}

static const struct hist zero_hist;

/* Start values that are not times (only with targ_filter_at_insert): the request passed the
 * filters at insertion and is timed from its issue, or it did not pass and is not timed. */
#define START_PASSED 0
#define START_EXCLUDED BIOLAT_START_EXCLUDED

/* At insertion, with targ_filter_at_insert: whether the submitter passed the filters, and
 * its cgroup. */
static __always_inline void start_mark(const struct start_key *key)
{
	struct biolat_start mark = { .ts = filter_current() ? START_PASSED : START_EXCLUDED,
				     .cgroup_id = submitter_cgroup() };

	if (bpf_map_update_elem(&start, key, &mark, BPF_ANY))
		drop(BIOLAT_START_FULL);
}

/* At issue, with targ_filter_at_insert: a request marked at insertion starts now or is
 * dropped; one issued directly, without insertion, is filtered here (its submitter is
 * the current task). Returns true when the caller should apply the filters itself. */
static __always_inline bool start_marked(struct start_key *key)
{
	struct biolat_start *mark = bpf_map_lookup_elem(&start, key);

	if (!mark)
		return true;
	if (mark->ts == START_PASSED)
		mark->ts = bpf_ktime_get_ns();
	else if (mark->ts == START_EXCLUDED)
		bpf_map_delete_elem(&start, key);
	else /* issued again (requeued): it passed at insertion, from that cgroup */
		start_at(key, false, mark->cgroup_id);
	return false;
}

static __always_inline void record(const struct biolat_start *s, __u32 dev, __u32 kind)
{
	__u64 start_ns = s->ts;
	__u64 now = bpf_ktime_get_ns(), v;
	struct biolat_key key = {};
	struct hist *h;

	/* bpf_ktime_get_ns() is the NMI-safe clock, which may read a little behind around a
	 * timekeeping update or on another CPU: a completion "before" its start took about no
	 * time, and is counted as such rather than left out without a word. */
	v = now > start_ns ? now - start_ns : 0;
	v = targ_ms ? v / 1000000 : v / 1000;
	if (targ_per_disk)
		key.dev = dev;
	if (targ_per_kind)
		key.kind = kind;
	key.cgroup_id = s->cgroup_id;
	h = map_lookup_or_try_init(&hists, &key, &zero_hist);
	if (!h) {
		drop(BIOLAT_HISTS_FULL);
		return;
	}
	hist_add(h, hist_log2_slot(v), v);
}

/* --- BTF-typed and raw tracepoints: the struct request itself --- */

static __always_inline struct request *block_rq_arg(const __u64 *args)
{
	return (struct request *)(rq_arg ? args[1] : args[0]);
}

static __always_inline int rq_start(struct request *rq, bool keep_older)
{
	struct start_key key = { .id = (__u64)rq };

	/* The task the request starts in: the submitter for a direct issue, else whoever
	 * dispatches it (often a kworker). */
	if (!filter_current())
		return 0;
	if (targ_dev && blk_rq_dev(rq) != targ_dev)
		return 0;
	start_at(&key, keep_older, submitter_cgroup());
	return 0;
}

static __always_inline int rq_insert(const __u64 *args)
{
	struct request *rq = block_rq_arg(args);
	struct start_key key = { .id = (__u64)rq };

	if (targ_filter_at_insert) {
		if (!targ_dev || blk_rq_dev(rq) == targ_dev)
			start_mark(&key);
		return 0;
	}
	return rq_start(rq, false);
}

/* With -Q a request inserted into the queue keeps its insertion time; one that bypassed the
 * queue (blk-mq issues directly when there is no I/O scheduler) starts at issue. */
static __always_inline int rq_issue(const __u64 *args)
{
	struct request *rq = block_rq_arg(args);
	struct start_key key = { .id = (__u64)rq };

	if (targ_filter_at_insert && !start_marked(&key))
		return 0;
	return rq_start(rq, targ_queued);
}

/* A queued request merged into another is freed without completing: forget it, or its
 * struct request, reused later, would inherit the old start time. */
static __always_inline int rq_merge(const __u64 *args)
{
	struct start_key key = { .id = (__u64)block_rq_arg(args) };

	bpf_map_delete_elem(&start, &key);
	return 0;
}

/* block_rq_complete(rq, error, nr_bytes) since before raw tracepoints existed (4.17). */
static __always_inline int rq_complete(const __u64 *args)
{
	struct request *rq = (struct request *)args[0];
	struct start_key key = { .id = (__u64)rq };
	__u32 nr_bytes = (__u32)args[2];
	struct biolat_start *sp, s;

	sp = bpf_map_lookup_elem(&start, &key);
	if (!sp) {
		if (orphans_countable() && (!targ_dev || blk_rq_dev(rq) == targ_dev))
			drop(BIOLAT_ORPHAN);
		return 0;
	}
	s = *sp;
	if (targ_filter_at_insert && (s.ts == START_PASSED || s.ts == START_EXCLUDED)) {
		bpf_map_delete_elem(&start, &key);
		return 0;
	}
	/* A partial completion (a driver ending part of the request) leaves the rest in
	 * flight: the request counts once, when its last bytes complete. */
	if (nr_bytes < BPF_CORE_READ(rq, __data_len))
		return 0;
	record(&s, targ_per_disk ? blk_rq_dev(rq) : 0, targ_per_kind ? blk_rq_kind(rq) : 0);
	bpf_map_delete_elem(&start, &key);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(insert_btf)
{
	return rq_insert(ctx);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(issue_btf)
{
	return rq_issue(ctx);
}

SEC("tp_btf/block_rq_merge")
int BPF_PROG(merge_btf)
{
	return rq_merge(ctx);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(complete_btf)
{
	return rq_complete(ctx);
}

SEC("raw_tp/block_rq_insert")
int insert_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return rq_insert(ctx->args);
}

SEC("raw_tp/block_rq_issue")
int issue_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return rq_issue(ctx->args);
}

SEC("raw_tp/block_rq_merge")
int merge_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return rq_merge(ctx->args);
}

SEC("raw_tp/block_rq_complete")
int complete_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return rq_complete(ctx->args);
}

/* --- classic tracepoints: disk and sector stand for the request --- */

static __always_inline int tp_start(void *ctx, bool keep_older)
{
	struct blk_tp_rq r;
	struct start_key key;

	if (!filter_current())
		return 0;
	blk_tp_rq_read(ctx, &r);
	if (targ_dev && r.dev != targ_dev)
		return 0;
	key.id = r.dev;
	key.sector = r.sector;
	start_at(&key, keep_older, submitter_cgroup());
	return 0;
}

SEC("tracepoint/block/block_rq_insert")
int insert_tp(void *ctx)
{
	struct blk_tp_rq r;
	struct start_key key;

	if (targ_filter_at_insert) {
		blk_tp_rq_read(ctx, &r);
		if (targ_dev && r.dev != targ_dev)
			return 0;
		key.id = r.dev;
		key.sector = r.sector;
		start_mark(&key);
		return 0;
	}
	return tp_start(ctx, false);
}

SEC("tracepoint/block/block_rq_issue")
int issue_tp(void *ctx)
{
	struct blk_tp_rq r;
	struct start_key key;

	if (targ_filter_at_insert) {
		blk_tp_rq_read(ctx, &r);
		key.id = r.dev;
		key.sector = r.sector;
		if (!start_marked(&key))
			return 0;
	}
	return tp_start(ctx, targ_queued);
}

SEC("tracepoint/block/block_rq_merge")
int merge_tp(void *ctx)
{
	struct blk_tp_rq r;
	struct start_key key;

	blk_tp_rq_read(ctx, &r);
	key.id = r.dev;
	key.sector = r.sector;
	bpf_map_delete_elem(&start, &key);
	return 0;
}

/* The record has no request size to tell a partial completion from the last one: the first
 * completion of a request counts (later ones no longer find its sector). */
SEC("tracepoint/block/block_rq_complete")
int complete_tp(void *ctx)
{
	struct blk_tp_rq r;
	struct start_key key;
	struct biolat_start *sp, s;

	blk_tp_completion_read(ctx, &r);
	key.id = r.dev;
	key.sector = r.sector;
	sp = bpf_map_lookup_elem(&start, &key);
	if (!sp) {
		if (orphans_countable() && (!targ_dev || r.dev == targ_dev))
			drop(BIOLAT_ORPHAN);
		return 0;
	}
	s = *sp;
	if (targ_filter_at_insert && (s.ts == START_PASSED || s.ts == START_EXCLUDED)) {
		bpf_map_delete_elem(&start, &key);
		return 0;
	}
	record(&s, r.dev, r.kind);
	bpf_map_delete_elem(&start, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
