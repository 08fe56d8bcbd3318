/* biolatency's map ABI, shared by bpf/biolatency.bpf.c and tools/biolatency.c: histograms
 * (struct hist, bpf/hist.h) keyed by disk and request kind. */
#ifndef BIOLATENCY_H
#define BIOLATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Zero in a field the user did not split by: one histogram for all disks without -D, for all
 * kinds without -F. */
struct biolat_key {
	__u32 dev;  /* BLK_DEV(major, minor) of the whole disk (-D) */
	__u32 kind; /* BLK_OP_* | BLK_F_* (-F) */
};

/* Requests in flight the start map can hold; real queues stay far below (queue depth times
 * hardware queues per disk). */
#define BIOLAT_MAX_INFLIGHT 10240

#endif
