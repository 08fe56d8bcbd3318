#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "escape.h"

void json_writer__init(struct json_writer *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->need_comma[0] = false;
}

/* Every value (and key) is preceded by a comma unless it is the first in its container. */
static void json_sep(struct json_writer *w)
{
	if (w->need_comma[w->depth])
		fputc(',', w->f);
	w->need_comma[w->depth] = true;
}

static void json_open(struct json_writer *w, char c)
{
	json_sep(w);
	fputc(c, w->f);
	if (w->depth < JSON_MAX_DEPTH - 1)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void json_close(struct json_writer *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void json_obj_begin(struct json_writer *w) { json_open(w, '{'); }
void json_obj_end(struct json_writer *w) { json_close(w, '}'); }
void json_arr_begin(struct json_writer *w) { json_open(w, '['); }
void json_arr_end(struct json_writer *w) { json_close(w, ']'); }

void json_key(struct json_writer *w, const char *key)
{
	json_sep(w);
	fput_json_string(w->f, key, strlen(key));
	fputc(':', w->f);
	/* The value that follows belongs to this key: no comma before it. */
	w->need_comma[w->depth] = false;
}

void json_strn(struct json_writer *w, const char *s, size_t len)
{
	json_sep(w);
	fput_json_string(w->f, s, len);
}

void json_str(struct json_writer *w, const char *s)
{
	json_strn(w, s, strlen(s));
}

void json_u64(struct json_writer *w, uint64_t v)
{
	json_sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void json_s64(struct json_writer *w, int64_t v)
{
	json_sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void json_double(struct json_writer *w, double v)
{
	json_sep(w);
	if (isfinite(v))
		fprintf(w->f, "%.15g", v);
	else
		fputs("null", w->f);
}

void json_bool(struct json_writer *w, bool v)
{
	json_sep(w);
	fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_writer *w)
{
	json_sep(w);
	fputs("null", w->f);
}

void json_writer__endl(struct json_writer *w)
{
	fputc('\n', w->f);
	w->depth = 0;
	w->need_comma[0] = false;
}
