/* A minimal streaming JSON writer: commas and nesting are tracked for the caller, so a record
 * is written as obj_begin, key/value pairs, obj_end, and json_writer__endl() ends the line
 * (NDJSON: one object per line). */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json_writer {
	FILE *f;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
};

void json_writer__init(struct json_writer *w, FILE *f);
void json_obj_begin(struct json_writer *w);
void json_obj_end(struct json_writer *w);
void json_arr_begin(struct json_writer *w);
void json_arr_end(struct json_writer *w);
/* Writes "key": — the next value call supplies the value. Keys are trusted ASCII. */
void json_key(struct json_writer *w, const char *key);
void json_str(struct json_writer *w, const char *s);
void json_strn(struct json_writer *w, const char *s, size_t len);
void json_u64(struct json_writer *w, uint64_t v);
void json_s64(struct json_writer *w, int64_t v);
/* Finite values as %.17g-free short form ("%.6g" style is not enough for sums): uses "%.15g";
 * NaN and infinities become null. */
void json_double(struct json_writer *w, double v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* Ends the current top-level value with a newline. */
void json_writer__endl(struct json_writer *w);

#endif
