/* The histogram ABI shared by BPF programs and user space: struct hist is a map value, so its
 * layout is fixed (fixed-width fields, no padding). The slot functions live here, not in
 * hist.bpf.h, so user space and the unit tests run the exact code the BPF side runs. */
#ifndef BPF_HIST_H
#define BPF_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Spelled out rather than __always_inline: user space gets that macro from glibc's
 * sys/cdefs.h, and defining it here first would clash with glibc's definition. */
#define HIST_INLINE static inline __attribute__((always_inline))

/* 64 log2 slots cover every __u64 value, so no tool ever needs its own MAX_SLOTS. */
#define HIST_MAX_SLOTS 64

/* One histogram. slots[] are counts. sum is the total of the recorded values in the same
 * unit the slots were computed in (usecs for a usecs histogram). count is the number of
 * recorded values; the BPF side updates slot, sum and count with three separate atomic adds,
 * so a concurrent reader may see them off by the few in-flight events. */
struct hist {
	__u64 slots[HIST_MAX_SLOTS];
	__u64 sum;
	__u64 count;
};

/* floor(log2(v)), and 0 for v == 0. Binary search over the bit width: six compares and no
 * loop, so the verifier sees a short straight-line program. */
HIST_INLINE __u64 log2_u64(__u64 v)
{
	__u64 r, shift;

	r = (__u64)(v > 0xffffffffULL) << 5;
	v >>= r;
	shift = (__u64)(v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (__u64)(v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (__u64)(v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (__u64)(v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (v >> 1);
}

/* Slot of v in a log2 histogram: slot 0 holds 0 and 1, slot i >= 1 holds [2^i, 2^(i+1)).
 * The clamp only matters if HIST_MAX_SLOTS ever shrinks below 64. */
HIST_INLINE __u32 hist_log2_slot(__u64 v)
{
	__u64 slot = log2_u64(v);

	return slot < HIST_MAX_SLOTS ? (__u32)slot : HIST_MAX_SLOTS - 1;
}

/* Slot of v in a linear histogram of HIST_MAX_SLOTS slots of width step starting at min:
 * slot i holds [min + i*step, min + (i+1)*step). Values below min land in slot 0 and values
 * past the last slot in the last slot, so no event is dropped; step 0 puts everything in 0. */
HIST_INLINE __u32 hist_linear_slot(__u64 v, __u64 min, __u64 step)
{
	__u64 slot;

	if (v < min || !step)
		return 0;
	slot = (v - min) / step;
	return slot < HIST_MAX_SLOTS ? (__u32)slot : HIST_MAX_SLOTS - 1;
}

#endif
