/* Histograms on the user side: BCC-style text, JSON, OpenMetrics, and loss-free reading of a
 * live map of struct hist values.
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
 * The map must not be per-CPU. Keys the BPF side deletes are forgotten; a deleted-and-re-
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
 * fn's non-zero value, -EINVAL when the map's key or value size does not match or the map is
 * per-CPU, or another negative errno from the bpf syscall. */
int hist_track__read_map(struct hist_track *t, int map_fd, hist_track_fn fn, void *ctx);

/* OpenMetrics text exposition of histograms, one family (or more) and then "# EOF":
 *
 *   # TYPE corescope_biolatency_seconds histogram
 *   # UNIT corescope_biolatency_seconds seconds
 *   # HELP corescope_biolatency_seconds Block I/O latency.
 *   corescope_biolatency_seconds_bucket{disk="vda",le="1e-06"} 0
 *   ...
 *   corescope_biolatency_seconds_bucket{disk="vda",le="+Inf"} 12
 *   corescope_biolatency_seconds_sum{disk="vda"} 0.004242
 *   corescope_biolatency_seconds_count{disk="vda"} 12
 *   # EOF
 *
 * Bucket bounds: the values a log2 histogram counts are integers in its unit (BCC tools
 * truncate, e.g. ns / 1000 for usecs), so slot i holds integers in [2^i, 2^(i+1) - 1] and its
 * "le" is 2^(i+1) - 1 units (slot 0: 1 unit), converted to seconds. The bound is exact for
 * the recorded integer; a real duration counted in a bucket is below le + 1 unit. le values
 * are rendered the canonical OpenMetrics way (Go's shortest %g, ".0" added: 1e-06, 0.001023,
 * 1.0). Every histogram of a writer shows the same buckets (see om__set_slots), so a bucket
 * series never appears mid-run. _count is hist__total(), equal to the +Inf bucket; _sum is
 * h->sum in seconds.
 *
 * All text is written with stdio; errors are reported through ferror(f), checked by om__end.
 * Produce a file with om__write_file_atomic() so a scraper never reads half an exposition. */
struct om_writer;

/* Starts an exposition on f with a first histogram family; see om__family for family and
 * help. NULL with errno EINVAL or ENOMEM. */
struct om_writer *om__begin(FILE *f, const char *family, const char *help);

/* Starts another family. family: [a-zA-Z][a-zA-Z0-9_]*; "_seconds" is appended unless it
 * already ends the name, as the unit must suffix it. help may be NULL (no HELP line); it is
 * escaped, and its double quotes become single quotes, the one form both OpenMetrics and the
 * Prometheus 0.0.4 parser of node_exporter's textfile collector accept. Families must not
 * repeat. Returns 0 or -EINVAL (-ENOMEM). */
int om__family(struct om_writer *w, const char *family, const char *help);

/* Number of finite buckets per histogram, 1..HIST_MAX_SLOTS (the default): the last one has
 * le = 2^nslots - 1 units and counts from higher slots only reach +Inf. Lets a tool drop
 * buckets no latency reaches (slot 63 of a usecs histogram is half a million years) while
 * keeping the bucket set fixed. Returns 0 or -EINVAL. */
int om__set_slots(struct om_writer *w, int nslots);

/* Writes one histogram of the current family with nlabels labels (names [a-zA-Z][a-zA-Z0-9_]*,
 * unique, not "le"; values any string, escaped and with invalid UTF-8 replaced by U+FFFD).
 * Each label set must be unique within the family. Returns 0, -EINVAL for a bad label name or
 * unit, or -EIO. */
int om__hist(struct om_writer *w, const char *const *label_names,
	     const char *const *label_values, int nlabels, const struct hist *h,
	     enum hist_unit unit);

/* Writes "# EOF", flushes, and frees w. Returns 0, or -EIO if anything written to f since
 * om__begin failed. */
int om__end(struct om_writer *w);

/* Frees w without ending the exposition (error paths). NULL is a no-op. */
void om__free(struct om_writer *w);

/* Replaces path atomically: write_fn writes the content to a temporary file in the same
 * directory (".<name>.XXXXXX", so a *.prom glob skips it), which is flushed, fsync'ed, made
 * mode 0644 and renamed over path. Readers see the old file or the new one, never a part. On
 * any failure the temporary file is removed and path is untouched. write_fn returns 0 or a
 * negative errno. Returns 0, write_fn's error, or a negative errno. */
int om__write_file_atomic(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx);

#endif
