/* Histograms on the user side: BCC-style text, JSON, and loss-free reading of a live map of
 * struct hist values (OpenMetrics output: openmetrics.h).
 *
 * struct hist (bpf/hist.h) is the map value itself: slot i of a log2 histogram counts values
 * in [2^i, 2^(i+1)), except slot 0 which counts 0 and 1. Every function here that reports a
 * total uses hist__total() (the sum of the slots) rather than h->count, so the printed count,
 * the buckets and the OpenMetrics +Inf bucket always agree even when h was read while the BPF
 * side was half-way through an update.
 *
 * Errors are negative errno values; constructors return NULL and set errno. */
#ifndef COMMON_HIST_H
#define COMMON_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Relative path: "hist.h" from this directory would name this file. */
#include "../bpf/hist.h"

struct json_writer;

/* Time units a histogram's values can be in; OpenMetrics output converts them to seconds. */
enum hist_unit {
	HIST_UNIT_NSECS,
	HIST_UNIT_USECS,
	HIST_UNIT_MSECS,
};

/* "nsecs", "usecs" or "msecs" (the labels BCC tools print), or NULL for an unknown unit. */
const char *hist_unit__name(enum hist_unit unit);

/* Units per second (1e9 for nsecs, ...); 0 for an unknown unit. */
double hist_unit__per_sec(enum hist_unit unit);

/* The highest integer log2 slot i counts: 2^(i+1) - 1 (slot 0: 1; slot 63: UINT64_MAX). */
__u64 hist__slot_high(int i);

/* Records v in log2 histogram h (slot, sum and count): histograms built in user space. */
void hist__add(struct hist *h, __u64 v);

/* Adds every slot, the sum and the count of src to dst (histograms of one unit and layout). */
void hist__merge(struct hist *dst, const struct hist *src);

/* Sum of all slots. */
__u64 hist__total(const struct hist *h);

/* True when no slot holds a count. */
bool hist__is_empty(const struct hist *h);

/* Prints h the way BCC's print_log2_hist does: a header naming unit ("usecs"), then one row
 * per slot from slot 0 up to the highest non-empty slot, each with its value range, count and
 * a 40-column bar scaled to the largest slot. When a slot past 32 holds counts the layout
 * widens (20-digit ranges, 20-column bars) as BCC's does. An empty histogram prints nothing.
 * Returns 0, or -EIO if writing to f failed. */
int hist__print_log2(FILE *f, const struct hist *h, const char *unit);

/* Prints h as BCC's print_linear_hist does, for slots computed with
 * hist_linear_slot(v, base, step): one row per non-empty slot, labelled base + i * step.
 * An empty histogram prints nothing. Returns 0, or -EIO if writing to f failed. */
int hist__print_linear(FILE *f, const struct hist *h, __u64 base, __u64 step, const char *unit);

/* Writes the log2 histogram as members of the JSON object the caller has open on w:
 *   "unit":"usecs","buckets":[{"low":0,"high":1,"count":0},...],"count":N,"sum":S
 * buckets run from slot 0 to the highest non-empty slot (none when h is empty), low and
 * high inclusive, so they match the text rows. count is hist__total(h); sum is h->sum. */
void hist__json(struct json_writer *w, const struct hist *h, const char *unit);

/* The same for a linear histogram: bucket i has low = base + i * step and
 * high = low + step - 1 (step 0 is taken as 1). */
void hist__json_linear(struct json_writer *w, const struct hist *h, __u64 base, __u64 step,
		       const char *unit);

/* Computes delta = now - *prev field by field, then stores now in *prev. The map value only
 * grows, so a field that went down means the element was deleted and re-created: then the
 * whole of now is new, delta = now, and the return value is 1 (else 0). delta may alias now
 * but not prev. */
int hist__diff(const struct hist *now, struct hist *prev, struct hist *delta);

/* Loss-free interval reporting from a BPF hash or array map whose values are struct hist.
 *
 * Reading a map and then deleting or zeroing it loses every event recorded between the read
 * and the delete. So nobody resets the map: the BPF side only adds, and hist_track keeps, per
 * key, a shadow copy of the value it last read. Each read reports the difference, and an
 * event that arrives after the read is simply part of the next difference. The tracker also
 * hands out the cumulative value, which is what OpenMetrics wants.
 *
 * A per-CPU map's values are summed over the CPUs (each CPU's only grows, so the sum does).
 * Keys the BPF side deletes are forgotten; a deleted-and-re-
 * created key is detected by hist__diff and reported from zero. Since keys are never deleted,
 * size max_entries for every key a run can see. */
struct hist_track;

/* A tracker for keys of key_size bytes (1..512). NULL with errno EINVAL or ENOMEM. */
struct hist_track *hist_track__new(size_t key_size);

void hist_track__free(struct hist_track *t);

/* Computes the delta of key's histogram since the previous call for that key (all of now if
 * there was none), and makes now the new baseline. Returns 0 or -ENOMEM. */
int hist_track__update(struct hist_track *t, const void *key, const struct hist *now,
		       struct hist *delta);

/* Called once per key. now is the cumulative value, delta what it gained since the previous
 * read. A non-zero return stops the walk and is returned by hist_track__read_map(). */
typedef int (*hist_track_fn)(const void *key, const struct hist *now, const struct hist *delta,
			     void *ctx);

/* Walks every key of the map (bpf_map_get_next_key + bpf_map_lookup_elem), calls fn once for
 * each, even when its delta is empty, and forgets shadows of keys no longer in the map. Keys inserted during the
 * walk may be reported only next time, with everything they gathered meanwhile. Returns 0,
 * fn's non-zero value, -EINVAL when the map's key or value size does not match, or another
 * negative errno from the bpf syscall. */
int hist_track__read_map(struct hist_track *t, int map_fd, hist_track_fn fn, void *ctx);

#endif
