#include "escape.h"

#include <stdint.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not well-formed. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* C1 controls (U+0080..U+009F) act as terminal controls (CSI is U+009B), and U+2028/U+2029
 * break lines in some viewers: escape them although they are valid UTF-8. */
static int utf8_is_unsafe(const unsigned char *s, size_t n)
{
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 1;
	if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
		return 1;
	return 0;
}

/* Appends bytes to a bounded buffer, dropping the whole piece when it does not fit so an
 * escape is never cut in half; *need counts the full length either way. */
struct sink {
	char *dst;
	size_t cap, len, need;
	int full;
};

static void sink_put(struct sink *k, const char *p, size_t n)
{
	if (!k->full && k->len + n < k->cap) {
		memcpy(k->dst + k->len, p, n);
		k->len += n;
	} else {
		k->full = 1;
	}
	k->need += n;
}

static const char hexdig[] = "0123456789abcdef";

typedef void (*emit_fn)(void *ctx, const char *p, size_t n);

/* The one escaping walk, shared by the buffer and FILE front ends. */
static void escape_walk(const char *src, size_t len, unsigned flags, emit_fn emit, void *ctx)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = s[i];
		char esc[4 * 4];
		size_t n, k;
		int plain;

		if (c >= 0x80) {
			n = utf8_seq_len(s + i, len - i);
			plain = n && !utf8_is_unsafe(s + i, n);
		} else {
			n = 1;
			plain = c >= 0x20 && c != 0x7f && c != '\\' && !(c == ' ' && (flags & ESCAPE_SPACE));
		}
		if (plain) {
			i += n;
			run += n;
			continue;
		}
		if (run)
			emit(ctx, (const char *)s + i - run, run);
		run = 0;
		if (n == 0)
			n = 1; /* one stray byte */
		if (c == '\\') {
			emit(ctx, "\\\\", 2);
		} else if (c == '\n') {
			emit(ctx, "\\n", 2);
		} else if (c == '\t') {
			emit(ctx, "\\t", 2);
		} else if (c == '\r') {
			emit(ctx, "\\r", 2);
		} else {
			for (k = 0; k < n; k++) {
				esc[4 * k] = '\\';
				esc[4 * k + 1] = 'x';
				esc[4 * k + 2] = hexdig[s[i + k] >> 4];
				esc[4 * k + 3] = hexdig[s[i + k] & 0xf];
			}
			emit(ctx, esc, 4 * n);
		}
		i += n;
	}
	if (run)
		emit(ctx, (const char *)s + i - run, run);
}

static void emit_sink(void *ctx, const char *p, size_t n)
{
	sink_put(ctx, p, n);
}

static void emit_file(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

size_t escape_text(char *dst, size_t dstsz, const char *src, size_t len, unsigned flags)
{
	struct sink k = { .dst = dst, .cap = dstsz };

	escape_walk(src, len, flags, emit_sink, &k);
	if (dstsz)
		dst[k.len] = '\0';
	return k.need;
}

void fput_escaped(FILE *f, const char *src, size_t len, unsigned flags)
{
	escape_walk(src, len, flags, emit_file, f);
}

void fput_json_string(FILE *f, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, run = 0;

	fputc('"', f);
	while (i < len) {
		unsigned char c = s[i];
		size_t n = 1;
		int plain;

		if (c >= 0x80) {
			n = utf8_seq_len(s + i, len - i);
			plain = n && !(n == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
				       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9));
		} else {
			plain = c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
		}
		if (plain) {
			i += n;
			run += n;
			continue;
		}
		if (run)
			fwrite(s + i - run, 1, run, f);
		run = 0;
		if (c >= 0x80 && n == 3) {
			fprintf(f, "\\u%04x", s[i + 2] == 0xa8 ? 0x2028 : 0x2029);
			i += 3;
			continue;
		}
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			/* A byte outside well-formed UTF-8 maps to U+DC00+byte, as surrogateescape does. */
			fprintf(f, "\\u%04x", c >= 0x80 ? 0xdc00 + c : c);
		}
		i += 1;
	}
	if (run)
		fwrite(s + i - run, 1, run, f);
	fputc('"', f);
}
