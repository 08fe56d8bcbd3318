/* OpenMetrics exposition and atomic file replacement: see openmetrics.h. */
#include "openmetrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"
#include "log.h"

struct om_writer {
	FILE *f;
	char *name;
	enum om_type type;
	int nslots;
};

static bool om_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* OpenMetrics escaped-string: backslash, double quote and newline are escaped; the format
 * must be UTF-8 throughout, so a byte that is not part of well-formed UTF-8 (a comm or disk
 * name is arbitrary bytes) becomes U+FFFD. In HELP text a double quote becomes a single
 * one instead: OpenMetrics requires \" there, but the Prometheus 0.0.4 parser (node_exporter's
 * textfile collector, promtool check metrics) rejects the whole file for it. */
static void om_put_escaped(FILE *f, const char *s, bool help)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		if (help && p[i] == '"') {
			fputc('\'', f);
			i++;
			continue;
		}
		if (p[i] == '\\' || p[i] == '"' || p[i] == '\n') {
			fputc('\\', f);
			fputc(p[i] == '\n' ? 'n' : p[i], f);
			i++;
			continue;
		}
		n = utf8_seq_len(p + i, len - i);
		if (n) {
			fwrite(p + i, 1, n, f);
			i += n;
		} else {
			fputs("\xef\xbf\xbd", f);
			i++;
		}
	}
}

/* The canonical OpenMetrics rendering of a finite non-negative double: the shortest digits
 * that read back as v, laid out like Go's %g (exponent form below 1e-4 and from 1e+06 on,
 * at least two exponent digits), with ".0" added to a plain integer. */
static void om_format_double(char *buf, size_t size, double v)
{
	char tmp[40], digits[24];
	int prec, exp, nd = 0, dp, i;
	const char *p;
	size_t o = 0;

	for (prec = 1;; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	for (p = tmp; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	exp = *p ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';

#define OUT(c) (o + 1 < size ? (void)(buf[o++] = (c)) : (void)0)
	if (exp < -4 || exp >= 6) {
		OUT(digits[0]);
		if (nd > 1)
			OUT('.');
		for (i = 1; i < nd; i++)
			OUT(digits[i]);
		snprintf(tmp, sizeof(tmp), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		for (p = tmp; *p; p++)
			OUT(*p);
	} else {
		dp = exp + 1; /* digits before the point */
		if (dp <= 0) {
			OUT('0');
			OUT('.');
			for (i = dp; i < 0; i++)
				OUT('0');
			for (i = 0; i < nd; i++)
				OUT(digits[i]);
		} else {
			for (i = 0; i < dp || i < nd; i++) {
				if (i == dp)
					OUT('.');
				OUT(i < nd ? digits[i] : '0');
			}
			if (nd <= dp) {
				OUT('.');
				OUT('0');
			}
		}
	}
#undef OUT
	buf[o] = '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* The naming guide's rules this writer can check: a counter ends in _total, and the unit
 * (in its base form) is the suffix, before _total for a counter. */
static bool om_metric_ok(const char *name, enum om_type type, const char *unit)
{
	char suffix[64];

	if (!name || !om_name_ok(name))
		return false;
	if (type == OM_COUNTER && !ends_with(name, "_total"))
		return false;
	if (type == OM_HISTOGRAM && (!unit || strcmp(unit, "seconds")))
		return false;
	if (type != OM_COUNTER && type != OM_GAUGE && type != OM_HISTOGRAM)
		return false;
	if (!unit)
		return true;
	if (!*unit || !om_name_ok(unit) ||
	    snprintf(suffix, sizeof(suffix), "_%s%s", unit,
		     type == OM_COUNTER ? "_total" : "") >= (int)sizeof(suffix))
		return false;
	return ends_with(name, suffix);
}

static const char *const om_type_names[] = {
	[OM_COUNTER] = "counter",
	[OM_GAUGE] = "gauge",
	[OM_HISTOGRAM] = "histogram",
};

int om__metric(struct om_writer *w, const char *name, enum om_type type, const char *unit,
	       const char *help)
{
	char *copy;

	if (!om_metric_ok(name, type, unit))
		return -EINVAL;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	free(w->name);
	w->name = copy;
	w->type = type;
	fprintf(w->f, "# TYPE %s %s\n", name, om_type_names[type]);
	if (unit)
		fprintf(w->f, "# UNIT %s %s\n", name, unit);
	if (help && *help) {
		fprintf(w->f, "# HELP %s ", name);
		om_put_escaped(w->f, help, true);
		fputc('\n', w->f);
	}
	return 0;
}

int om__family(struct om_writer *w, const char *family, const char *help)
{
	static const char suffix[] = "_seconds";
	char *name;
	int err;

	if (!family || !om_name_ok(family))
		return -EINVAL;
	if (ends_with(family, suffix))
		name = strdup(family);
	else if (asprintf(&name, "%s%s", family, suffix) < 0)
		name = NULL;
	if (!name)
		return -ENOMEM;
	err = om__metric(w, name, OM_HISTOGRAM, "seconds", help);
	free(name);
	return err;
}

struct om_writer *om__new(FILE *f)
{
	struct om_writer *w;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	w->nslots = HIST_MAX_SLOTS;
	return w;
}

struct om_writer *om__begin(FILE *f, const char *family, const char *help)
{
	struct om_writer *w = om__new(f);
	int err;

	if (!w)
		return NULL;
	err = om__family(w, family, help);
	if (err) {
		om__free(w);
		errno = -err;
		return NULL;
	}
	return w;
}

int om__set_slots(struct om_writer *w, int nslots)
{
	if (nslots < 1 || nslots > HIST_MAX_SLOTS)
		return -EINVAL;
	w->nslots = nslots;
	return 0;
}

/* name="value" pairs, comma-separated, without braces. */
static void om_put_labels(FILE *f, const char *const *names, const char *const *values, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", names[i]);
		om_put_escaped(f, values[i], false);
		fputc('"', f);
	}
}

static void om_put_bucket(struct om_writer *w, const char *const *names,
			  const char *const *values, int n, const char *le, __u64 cum)
{
	fprintf(w->f, "%s_bucket{", w->name);
	om_put_labels(w->f, names, values, n);
	fprintf(w->f, "%sle=\"%s\"} %llu\n", n ? "," : "", le, (unsigned long long)cum);
}

static bool om_labels_ok(const char *const *names, const char *const *values, int n)
{
	int i, j;

	if (n < 0 || (n && (!names || !values)))
		return false;
	for (i = 0; i < n; i++) {
		if (!names[i] || !values[i] || !om_name_ok(names[i]) || !strcmp(names[i], "le"))
			return false;
		for (j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return false;
	}
	return true;
}

/* name{labels} or name alone. */
static void om_put_series(FILE *f, const char *name, const char *suffix,
			  const char *const *names, const char *const *values, int n)
{
	fprintf(f, "%s%s", name, suffix);
	if (!n)
		return;
	fputc('{', f);
	om_put_labels(f, names, values, n);
	fputc('}', f);
}

int om__u64(struct om_writer *w, const char *const *label_names,
	    const char *const *label_values, int nlabels, uint64_t value)
{
	if (!w->name || w->type == OM_HISTOGRAM ||
	    !om_labels_ok(label_names, label_values, nlabels))
		return -EINVAL;
	om_put_series(w->f, w->name, "", label_names, label_values, nlabels);
	fprintf(w->f, " %llu\n", (unsigned long long)value);
	return ferror(w->f) ? -EIO : 0;
}

int om__double(struct om_writer *w, const char *const *label_names,
	       const char *const *label_values, int nlabels, double value)
{
	char num[40];

	if (!w->name || w->type == OM_HISTOGRAM || !isfinite(value) ||
	    (w->type == OM_COUNTER && value < 0) ||
	    !om_labels_ok(label_names, label_values, nlabels))
		return -EINVAL;
	/* om_format_double renders magnitudes only. */
	om_format_double(num, sizeof(num), value < 0 ? -value : value);
	om_put_series(w->f, w->name, "", label_names, label_values, nlabels);
	fprintf(w->f, " %s%s\n", value < 0 ? "-" : "", num);
	return ferror(w->f) ? -EIO : 0;
}

int om__hist(struct om_writer *w, const char *const *label_names,
	     const char *const *label_values, int nlabels, const struct hist *h,
	     enum hist_unit unit)
{
	double per_sec = hist_unit__per_sec(unit);
	__u64 cum = 0, total = hist__total(h);
	char num[40];
	int i;

	if (!per_sec || !w->name || w->type != OM_HISTOGRAM ||
	    !om_labels_ok(label_names, label_values, nlabels))
		return -EINVAL;

	for (i = 0; i < w->nslots; i++) {
		cum += h->slots[i];
		/* Division by the exact power of ten gives the double nearest to the decimal
		 * bound, so 3 usecs prints as 3e-06, not 3.0000000000000001e-06. */
		om_format_double(num, sizeof(num), (double)hist__slot_high(i) / per_sec);
		om_put_bucket(w, label_names, label_values, nlabels, num, cum);
	}
	om_put_bucket(w, label_names, label_values, nlabels, "+Inf", total);

	om_format_double(num, sizeof(num), (double)h->sum / per_sec);
	om_put_series(w->f, w->name, "_sum", label_names, label_values, nlabels);
	fprintf(w->f, " %s\n", num);
	om_put_series(w->f, w->name, "_count", label_names, label_values, nlabels);
	fprintf(w->f, " %llu\n", (unsigned long long)total);
	return ferror(w->f) ? -EIO : 0;
}

void om__free(struct om_writer *w)
{
	if (!w)
		return;
	free(w->name);
	free(w);
}

int om__end(struct om_writer *w)
{
	int err;

	fputs("# EOF\n", w->f);
	err = fflush(w->f) || ferror(w->f) ? -EIO : 0;
	om__free(w);
	return err;
}

struct om_set {
	int nlabels;
	int ncounters;
	bool with_hist;
	size_t max;
	size_t len;               /* own series in use, at most max */
	struct om_series *series; /* max own series, then the overflow one */
	bool overflow_used;
};

static void om_series_free(struct om_series *r, int nlabels)
{
	int i;

	if (r->values)
		for (i = 0; i < nlabels; i++)
			free(r->values[i]);
	free(r->values);
	free(r->counters);
	free(r->hist);
}

static int om_series_init(struct om_set *s, struct om_series *r, const char *const *values)
{
	int i;

	r->values = calloc(s->nlabels, sizeof(*r->values));
	r->counters = calloc(s->ncounters ? s->ncounters : 1, sizeof(*r->counters));
	r->hist = s->with_hist ? calloc(1, sizeof(*r->hist)) : NULL;
	if (!r->values || !r->counters || (s->with_hist && !r->hist))
		goto fail;
	for (i = 0; i < s->nlabels; i++) {
		r->values[i] = strdup(values ? values[i] : "other");
		if (!r->values[i])
			goto fail;
	}
	return 0;
fail:
	om_series_free(r, s->nlabels);
	memset(r, 0, sizeof(*r));
	return -ENOMEM;
}

struct om_set *om_set__new(int nlabels, int ncounters, bool with_hist, size_t max_series)
{
	struct om_set *s;

	if (nlabels < 1 || ncounters < 0 || !max_series) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->series = calloc(max_series + 1, sizeof(*s->series));
	if (!s->series) {
		free(s);
		return NULL;
	}
	s->nlabels = nlabels;
	s->ncounters = ncounters;
	s->with_hist = with_hist;
	s->max = max_series;
	return s;
}

void om_set__free(struct om_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i <= s->max; i++)
		om_series_free(&s->series[i], s->nlabels);
	free(s->series);
	free(s);
}

struct om_series *om_set__get(struct om_set *s, const char *const *values)
{
	struct om_series *r;
	size_t i;
	int j;

	for (i = 0; i < s->len; i++) {
		for (j = 0; j < s->nlabels; j++)
			if (strcmp(s->series[i].values[j], values[j]))
				break;
		if (j == s->nlabels)
			return &s->series[i];
	}
	if (s->len < s->max) {
		r = &s->series[s->len];
		if (om_series_init(s, r, values))
			return NULL;
		s->len++;
		return r;
	}
	r = &s->series[s->max];
	if (!s->overflow_used) {
		if (om_series_init(s, r, NULL))
			return NULL;
		s->overflow_used = true;
	}
	return r;
}

size_t om_set__len(const struct om_set *s)
{
	return s->len + s->overflow_used;
}

const struct om_series *om_set__at(const struct om_set *s, size_t i)
{
	return i < s->len ? &s->series[i] : &s->series[s->max];
}

int om_set__write_counter(const struct om_set *s, struct om_writer *w,
			  const char *const *label_names, int idx)
{
	const struct om_series *r;
	size_t i;
	int err;

	if (idx < 0 || idx >= s->ncounters)
		return -EINVAL;
	for (i = 0; i < om_set__len(s); i++) {
		r = om_set__at(s, i);
		err = om__u64(w, label_names, (const char *const *)r->values, s->nlabels,
			      r->counters[idx]);
		if (err)
			return err;
	}
	return 0;
}

int om_set__write_hists(const struct om_set *s, struct om_writer *w,
			const char *const *label_names, enum hist_unit unit)
{
	const struct om_series *r;
	size_t i;
	int err;

	if (!s->with_hist)
		return -EINVAL;
	for (i = 0; i < om_set__len(s); i++) {
		r = om_set__at(s, i);
		err = om__hist(w, label_names, (const char *const *)r->values, s->nlabels, r->hist,
			       unit);
		if (err)
			return err;
	}
	return 0;
}

int om__write_file_atomic(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	char *tmp;
	FILE *f;
	int fd, err;

	if (!*base)
		return -EINVAL;
	if (asprintf(&tmp, "%.*s.%s.XXXXXX", dirlen, path, base) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto out;
	}
	err = write_fn(f, ctx);
	if (err > 0)
		err = -EIO;
	if (!err && fflush(f))
		err = -errno;
	if (!err && ferror(f))
		err = -EIO;
	/* mkstemp creates 0600; a scraper often runs as another user. */
	if (!err && fchmod(fd, 0644))
		err = -errno;
	/* Without fsync a crash after rename() can leave an empty file under the final name. */
	if (!err && fsync(fd))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
out:
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

const char *om__path_arg(const char *arg)
{
	if (!*arg || arg[strlen(arg) - 1] == '/')
		cli__usage_error("invalid --openmetrics FILE: must name a file");
	return arg;
}

int om__update_file(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx)
{
	char shown[256];
	int err;

	err = om__write_file_atomic(path, write_fn, ctx);
	if (err) {
		escape_text(shown, sizeof(shown), path, strlen(path), 0);
		p_err("writing --openmetrics file '%s': %s", shown, strerror(-err));
	}
	return err;
}
