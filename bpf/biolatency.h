/* biolatency's map ABI, shared by bpf/biolatency.bpf.c and tools/biolatency.c: histograms
 * (struct hist, bpf/hist.h) keyed by disk and request kind. */
#ifndef BIOLATENCY_H
#define BIOLATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Zero in a field the user did not split by: one histogram for all disks without -D, for all
 * kinds without -F, for all cgroups without --containers. */
struct biolat_key {
	__u64 cgroup_id; /* --containers: the cgroup v2 of the task that submitted the request */
	__u32 dev;       /* BLK_DEV(major, minor) of the whole disk (-D) */
	__u32 kind;      /* BLK_OP_* | BLK_F_* (-F) */
};

/* A request in flight: when it started, and who submitted it. */
struct biolat_start {
	__u64 ts;        /* bpf_ktime_get_ns(), or a mark (BIOLAT_START_EXCLUDED, 0: passed) */
	__u64 cgroup_id; /* --containers: the submitter's cgroup v2 (0 otherwise) */
};

/* Requests biolatency could not time, counted per cause in the `drops` array and reported at
 * exit (the rest of the I/O is in the histograms). */
enum biolat_drop {
	BIOLAT_START_FULL,     /* no room in the start map: more requests in flight than it holds */
	BIOLAT_RESTARTED,      /* started again before its completion was seen (requeued, or
				* the completion was not traced): timed from the later start */
	BIOLAT_ORPHAN,         /* completed with no start seen: in flight when tracing began,
				* or (classic tracepoints) evicted from the start map */
	BIOLAT_HISTS_FULL,     /* no room for another histogram key (-D, -F) */
	BIOLAT_DROP_NR,
};

/* A start time that is no time (with a task filter): the request's submitter did not pass the
 * filters at insertion, so it is not timed and not missed either. */
#define BIOLAT_START_EXCLUDED (~0ull)

/* Requests in flight the start map can hold; real queues stay far below (queue depth times
 * hardware queues per disk). */
#define BIOLAT_MAX_INFLIGHT 10240

#endif
