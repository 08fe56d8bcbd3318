/* BPF-side histogram helpers. Include after "vmlinux.h" and <bpf/bpf_helpers.h>. */
#ifndef BPF_HIST_BPF_H
#define BPF_HIST_BPF_H

#include "hist.h"

/* Returns the value for key, inserting *init first if the key is absent. Two CPUs may race
 * to insert: BPF_NOEXIST makes the loser's update fail harmlessly and both then find the
 * winner's element. NULL only when the map is full. */
static __always_inline void *map_lookup_or_try_init(void *map, const void *key, const void *init)
{
	void *val;

	val = bpf_map_lookup_elem(map, key);
	if (val)
		return val;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Records one value in slot. Atomic adds: a value shared by every CPU needs them, and even a
 * per-CPU value can be updated by a program that interrupted another on the same CPU (a
 * completion in an interrupt during one in process context), where a plain add could lose a
 * count; uncontended, on a CPU's own cache line, they cost little. User space never resets it
 * (see hist_track in common/hist.h), so the counters only grow. */
static __always_inline void hist_add(struct hist *h, __u32 slot, __u64 value)
{
	__u64 idx = slot;

	/* The slot functions already clamp, so clang proves this check redundant and drops it,
	 * but the verifier cannot follow the proof through a division (hist_linear_slot) and
	 * rejects the unbounded index. The barrier hides what clang knows; the check stays. */
	barrier_var(idx);
	if (idx >= HIST_MAX_SLOTS)
		idx = HIST_MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[idx], 1);
	__sync_fetch_and_add(&h->sum, value);
	__sync_fetch_and_add(&h->count, 1);
}

#endif
