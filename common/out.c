#include "out.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "loop.h"

struct out {
	FILE *f;
	bool json;
	struct out_col *cols;
	int ncols;
	int last_text;     /* index of the last column shown in text */
	bool first;        /* no column printed yet in this record */
	struct json_writer w;
};

struct out *out__new(FILE *f, bool json, struct out_col *cols, int ncols)
{
	struct out *o = calloc(1, sizeof(*o));
	int i;

	if (!o)
		return NULL;
	o->f = f;
	o->json = json;
	o->cols = cols;
	o->ncols = ncols;
	o->last_text = -1;
	for (i = 0; i < ncols; i++)
		if (!(cols[i].flags & (OUT_HIDE | OUT_HIDE_TEXT)))
			o->last_text = i;
	json_writer__init(&o->w, f);
	return o;
}

void out__free(struct out *o)
{
	free(o);
}

bool out__is_json(const struct out *o)
{
	return o->json;
}

static bool shown_in_text(const struct out *o, int col)
{
	return !(o->cols[col].flags & (OUT_HIDE | OUT_HIDE_TEXT));
}

/* Prints one text cell: separator, then the value padded to the column width. */
static void text_cell(struct out *o, int col, const char *s, int len)
{
	const struct out_col *c = &o->cols[col];
	int pad = c->width > len ? c->width - len : 0;

	if (!o->first)
		fputc(' ', o->f);
	o->first = false;
	if (col == o->last_text && (c->flags & OUT_LEFT)) {
		fwrite(s, 1, len, o->f);
		return;
	}
	if (!(c->flags & OUT_LEFT))
		fprintf(o->f, "%*s", pad, "");
	fwrite(s, 1, len, o->f);
	if ((c->flags & OUT_LEFT) && col != o->last_text)
		fprintf(o->f, "%*s", pad, "");
}

void out__header(struct out *o)
{
	int i;

	if (o->json)
		return;
	o->first = true;
	for (i = 0; i < o->ncols; i++)
		if (shown_in_text(o, i))
			text_cell(o, i, o->cols[i].header, strlen(o->cols[i].header));
	fputc('\n', o->f);
}

void out__begin(struct out *o)
{
	o->first = true;
	if (o->json)
		json_obj_begin(&o->w);
}

static bool skip(struct out *o, int col)
{
	if (o->cols[col].flags & OUT_HIDE)
		return true;
	if (o->json) {
		json_key(&o->w, o->cols[col].key);
		return false;
	}
	return !shown_in_text(o, col);
}

void out__str(struct out *o, int col, const char *s, size_t len)
{
	char buf[4096], *p = buf;
	size_t need;

	if (skip(o, col))
		return;
	if (o->json) {
		json_strn(&o->w, s, len);
		return;
	}
	need = escape_text(buf, sizeof(buf), s, len, col == o->last_text ? 0 : ESCAPE_SPACE);
	if (need >= sizeof(buf)) {
		p = malloc(need + 1);
		if (p)
			escape_text(p, need + 1, s, len, col == o->last_text ? 0 : ESCAPE_SPACE);
		else
			p = buf;
	}
	text_cell(o, col, p, strlen(p));
	if (p != buf)
		free(p);
}

void out__cstr(struct out *o, int col, const char *s)
{
	out__str(o, col, s, strlen(s));
}

void out__u64(struct out *o, int col, uint64_t v)
{
	char buf[24];

	if (skip(o, col))
		return;
	if (o->json) {
		json_u64(&o->w, v);
		return;
	}
	text_cell(o, col, buf, snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v));
}

void out__s64(struct out *o, int col, int64_t v)
{
	char buf[24];

	if (skip(o, col))
		return;
	if (o->json) {
		json_s64(&o->w, v);
		return;
	}
	text_cell(o, col, buf, snprintf(buf, sizeof(buf), "%lld", (long long)v));
}

void out__none(struct out *o, int col)
{
	if (skip(o, col))
		return;
	if (o->json)
		json_null(&o->w);
	else
		text_cell(o, col, "-", 1);
}

void out__double(struct out *o, int col, double v, int decimals)
{
	char buf[64];

	if (skip(o, col))
		return;
	if (o->json) {
		json_double(&o->w, v);
		return;
	}
	text_cell(o, col, buf, snprintf(buf, sizeof(buf), "%.*f", decimals, v));
}

void out__fmt(struct out *o, int col, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (skip(o, col))
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (o->json)
		json_strn(&o->w, buf, n);
	else
		text_cell(o, col, buf, n);
}

struct json_writer *out__json(struct out *o)
{
	return o->json ? &o->w : NULL;
}

void out__end(struct out *o)
{
	if (o->json) {
		json_obj_end(&o->w);
		json_writer__endl(&o->w);
	} else {
		fputc('\n', o->f);
	}
}

void out__hms(char *buf, size_t size, uint64_t mono_ns)
{
	time_t t = (time_t)(loop__mono_to_realtime_ns(mono_ns) / 1000000000LL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%H:%M:%S", &tm);
}

void out__rfc3339(char *buf, size_t size, uint64_t mono_ns)
{
	int64_t ns = loop__mono_to_realtime_ns(mono_ns);
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%09lldZ", (long long)(ns % 1000000000LL));
}
