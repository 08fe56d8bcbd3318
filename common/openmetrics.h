/* OpenMetrics text exposition for the node_exporter textfile collector and Prometheus:
 * counters, gauges and log2 histograms, one family after another, then "# EOF".
 *
 *   # TYPE corescope_tcpretrans_retransmits_total counter
 *   # HELP corescope_tcpretrans_retransmits_total TCP packets retransmitted.
 *   corescope_tcpretrans_retransmits_total{ip="4",state="ESTABLISHED"} 3
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
 * Who reads it: node_exporter's textfile collector and `promtool check metrics` parse the
 * Prometheus text format 0.0.4, to which UNIT and EOF lines are comments and in which a
 * counter's TYPE line names the sample itself (with its _total). So that is how counters are
 * written; everything else is plain OpenMetrics.
 *
 * Names follow Prometheus' naming guide, and the writer refuses others: [a-zA-Z][a-zA-Z0-9_]*,
 * the base unit as a suffix ("_seconds", "_bytes"; before "_total" for a counter), counters
 * ending in "_total", a histogram's unit always seconds.
 *
 * Histogram bucket bounds: the values a log2 histogram counts are integers in its unit (BCC
 * tools truncate, e.g. ns / 1000 for usecs), so slot i holds integers in [2^i, 2^(i+1) - 1]
 * and its "le" is 2^(i+1) - 1 units (slot 0: 1 unit), converted to seconds. The bound is exact
 * for the recorded integer; a real duration counted in a bucket is below le + 1 unit. le
 * values are rendered the canonical OpenMetrics way (Go's shortest %g, ".0" added: 1e-06,
 * 0.001023, 1.0). Every histogram of a writer shows the same buckets (see om__set_slots), so
 * a bucket series never appears mid-run. _count is hist__total(), equal to the +Inf bucket;
 * _sum is h->sum in seconds.
 *
 * Label values are any string: escaped, and with invalid UTF-8 replaced by U+FFFD. Label
 * names follow the metric name rule, are unique within a sample and are never "le"; each
 * label set must be unique within its family (the caller's duty: a tool bounds how many it
 * writes, folding the rest into one set, so a scraper's series stay bounded).
 *
 * All text is written with stdio; errors are reported through ferror(f), checked by om__end.
 * Produce a file with om__write_file_atomic() so a scraper never reads half an exposition.
 * Errors are negative errno values; constructors return NULL and set errno. */
#ifndef COMMON_OPENMETRICS_H
#define COMMON_OPENMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

struct om_writer;

enum om_type {
	OM_COUNTER,
	OM_GAUGE,
	OM_HISTOGRAM,
};

/* An exposition on f, with no family yet. NULL with errno EINVAL or ENOMEM. */
struct om_writer *om__new(FILE *f);

/* Starts a family: its TYPE line, a UNIT line when unit is not NULL, and a HELP line when
 * help is not NULL or empty (escaped; its double quotes become single quotes, the one form
 * both OpenMetrics and the 0.0.4 parser accept). name must follow the rules above for type
 * and unit; families must not repeat. Returns 0 or -EINVAL (-ENOMEM). */
int om__metric(struct om_writer *w, const char *name, enum om_type type, const char *unit,
	       const char *help);

/* om__new, then a histogram family: om__family. NULL with errno EINVAL or ENOMEM. */
struct om_writer *om__begin(FILE *f, const char *family, const char *help);

/* Starts a histogram family in seconds: "_seconds" is appended to family unless it already
 * ends the name. Returns 0 or -EINVAL (-ENOMEM). */
int om__family(struct om_writer *w, const char *family, const char *help);

/* Number of finite buckets per histogram, 1..HIST_MAX_SLOTS (the default): the last one has
 * le = 2^nslots - 1 units and counts from higher slots only reach +Inf. Lets a tool drop
 * buckets no latency reaches (slot 63 of a usecs histogram is half a million years) while
 * keeping the bucket set fixed. Returns 0 or -EINVAL. */
int om__set_slots(struct om_writer *w, int nslots);

/* Writes one histogram of the current family (a histogram) with nlabels labels. Returns 0,
 * -EINVAL for a bad label name, unit or family type, or -EIO. */
int om__hist(struct om_writer *w, const char *const *label_names,
	     const char *const *label_values, int nlabels, const struct hist *h,
	     enum hist_unit unit);

/* Writes one sample of the current family (a counter or a gauge): an exact integer. Returns 0,
 * -EINVAL for a bad label name or family type, or -EIO. */
int om__u64(struct om_writer *w, const char *const *label_names,
	    const char *const *label_values, int nlabels, uint64_t value);

/* The same with a finite double (a counter's must not be negative). */
int om__double(struct om_writer *w, const char *const *label_names,
	       const char *const *label_values, int nlabels, double value);

/* Writes "# EOF", flushes, and frees w. Returns 0, or -EIO if anything written to f since
 * om__new failed. */
int om__end(struct om_writer *w);

/* Frees w without ending the exposition (error paths). NULL is a no-op. */
void om__free(struct om_writer *w);

/* A bounded set of series a tool accumulates between writes: label sets of nlabels values,
 * each with ncounters counters and, optionally, a histogram. At most max_series label sets get
 * a series of their own, first come first served; any later one is folded into one overflow
 * series whose labels are all "other", so every count is kept and a scraper's series stay
 * bounded. A label set that got a series keeps it for the whole run (counters never restart).
 * Lookup is a linear search: meant for tens to a few thousand series. */
struct om_series {
	char **values;      /* nlabels label values */
	uint64_t *counters; /* ncounters counters, zero at first */
	struct hist *hist;  /* NULL unless the set has histograms */
};

struct om_set;

/* NULL with errno EINVAL (nlabels < 1, max_series 0) or ENOMEM. */
struct om_set *om_set__new(int nlabels, int ncounters, bool with_hist, size_t max_series);

void om_set__free(struct om_set *s);

/* The series for values (nlabels strings): found, made, or the overflow series. NULL only
 * when out of memory. */
struct om_series *om_set__get(struct om_set *s, const char *const *values);

/* Series held, the overflow one included once used; om_set__at(s, i) for i below that. */
size_t om_set__len(const struct om_set *s);
const struct om_series *om_set__at(const struct om_set *s, size_t i);

/* Writes counter idx of every series as samples of the current family (a counter or gauge),
 * labelled label_names. Returns 0 or om__u64's error. */
int om_set__write_counter(const struct om_set *s, struct om_writer *w,
			  const char *const *label_names, int idx);

/* Writes the histogram of every series (values in unit) into the current histogram family.
 * Returns 0 or om__hist's error. */
int om_set__write_hists(const struct om_set *s, struct om_writer *w,
			const char *const *label_names, enum hist_unit unit);

/* Replaces path atomically: write_fn writes the content to a temporary file created anew
 * (O_EXCL, mode 0600, so nothing planted there is followed or reused) in the same directory
 * (".<name>.XXXXXX", so a *.prom glob skips it), which is flushed, fsync'ed, made mode 0644
 * and renamed over path (rename replaces a symlink there, never follows it). Readers see the
 * old file or the new one, never a part. On any failure the temporary file is removed and
 * path is untouched. write_fn returns 0 or a negative errno. Returns 0, write_fn's error, or
 * a negative errno. */
int om__write_file_atomic(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx);

/* The --openmetrics FILE option of every tool: returns arg, or ends the tool with a usage
 * error (exit 2) when arg cannot name a file (empty, or ending in '/'). */
const char *om__path_arg(const char *arg);

/* om__write_file_atomic to the --openmetrics FILE path, with one line on stderr naming the
 * file (escaped) and the error when it fails. */
int om__update_file(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx);

#endif
