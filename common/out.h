/* Records printed as aligned columns or as one JSON object per line, from the same calls:
 * a tool describes its columns once, then for each event calls out__begin, one out__* per
 * column in order, and out__end. Values from untrusted sources go through out__str, which
 * escapes them for the terminal (text) or as JSON strings. */
#ifndef COMMON_OUT_H
#define COMMON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

enum out_col_flags {
	OUT_LEFT = 1 << 0,      /* left-aligned (names, paths); numbers align right */
	OUT_HIDE_TEXT = 1 << 1, /* JSON only */
	OUT_HIDE = 1 << 2,      /* neither (an option turned the column off) */
};

struct out_col {
	const char *header; /* text header, e.g. "PCOMM" */
	const char *key;    /* JSON key, e.g. "comm" */
	int width;          /* minimum text width; the last text column is never padded */
	unsigned flags;
};

struct out;

/* cols must outlive the writer (the tool's static table, flags adjusted before this call).
 * Returns NULL with errno set on allocation failure. */
struct out *out__new(FILE *f, bool json, struct out_col *cols, int ncols);
void out__free(struct out *o);

bool out__is_json(const struct out *o);

/* Text mode: the header line. JSON mode: nothing. */
void out__header(struct out *o);

void out__begin(struct out *o);
/* Untrusted bytes (comm, argv, path): escaped; spaces are escaped too except in the last
 * text column, so awk's fields stay fields. */
void out__str(struct out *o, int col, const char *s, size_t len);
void out__cstr(struct out *o, int col, const char *s);
void out__u64(struct out *o, int col, uint64_t v);
void out__s64(struct out *o, int col, int64_t v);
/* No value: "-" in text, null in JSON. */
void out__none(struct out *o, int col);
/* A number shown with `decimals` places in text and as a JSON number. */
void out__double(struct out *o, int col, double v, int decimals);
/* Trusted text (formatted by the tool): as is in text, a JSON string. */
void out__fmt(struct out *o, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* JSON-only extras (arrays, nested objects) after the columns: the writer with the record
 * still open, or NULL in text mode. */
struct json_writer *out__json(struct out *o);
void out__end(struct out *o);

/* Local wall-clock time "HH:MM:SS" of a CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns()), so a
 * time column shows when the event happened, not when it was printed. */
void out__hms(char *buf, size_t size, uint64_t mono_ns);

/* RFC 3339 UTC time with nanoseconds ("2026-12-01T22:53:31.123456789Z") of a
 * CLOCK_MONOTONIC timestamp. */
void out__rfc3339(char *buf, size_t size, uint64_t mono_ns);

#endif
