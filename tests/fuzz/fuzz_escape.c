/* Escapers: the text escape never lets a control byte, an ESC or invalid UTF-8 through and
 * never overruns its buffer; the JSON string is valid JSON whose decoding (surrogateescape)
 * gives back the input bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static void check_text(const char *out, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = out[i];
		size_t n;

		if (c < 0x20 || c == 0x7f)
			abort();
		if (c < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq_len((const unsigned char *)out + i, len - i);
		if (!n)
			abort();
		i += n;
	}
}

static int hexval(int c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Decodes the JSON string at s (after the opening quote) back to bytes, the way a
 * surrogateescape consumer would; aborts on anything that is not valid JSON. */
static size_t decode_json(const char *s, size_t len, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (i < len && s[i] != '"') {
		unsigned char c = s[i];

		if (c < 0x20)
			abort();
		if (c != '\\') {
			out[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= len)
			abort();
		switch (s[i + 1]) {
		case '"': out[o++] = '"'; i += 2; break;
		case '\\': out[o++] = '\\'; i += 2; break;
		case '/': out[o++] = '/'; i += 2; break;
		case 'b': out[o++] = '\b'; i += 2; break;
		case 'f': out[o++] = '\f'; i += 2; break;
		case 'n': out[o++] = '\n'; i += 2; break;
		case 'r': out[o++] = '\r'; i += 2; break;
		case 't': out[o++] = '\t'; i += 2; break;
		case 'u': {
			unsigned v = 0;

			if (i + 6 > len)
				abort();
			for (int k = 2; k < 6; k++)
				v = v * 16 + hexval(s[i + k]);
			if (v >= 0xdc80 && v <= 0xdcff) {
				out[o++] = v - 0xdc00;
			} else if (v < 0x80) {
				out[o++] = v;
			} else if (v < 0x800) {
				out[o++] = 0xc0 | (v >> 6);
				out[o++] = 0x80 | (v & 0x3f);
			} else {
				out[o++] = 0xe0 | (v >> 12);
				out[o++] = 0x80 | ((v >> 6) & 0x3f);
				out[o++] = 0x80 | (v & 0x3f);
			}
			i += 6;
			break;
		}
		default:
			abort();
		}
	}
	if (i + 1 != len)
		abort(); /* closing quote is the last byte */
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char small[17], *big, *json = NULL;
	unsigned char *back;
	size_t need, jlen = 0, n;
	FILE *f;

	need = escape_text(small, sizeof(small), (const char *)data, size, ESCAPE_SPACE);
	check_text(small, strlen(small));
	if (strchr(small, ' ') || strlen(small) > need)
		abort();
	need = escape_text(NULL, 0, (const char *)data, size, 0);
	big = malloc(need + 1);
	if (escape_text(big, need + 1, (const char *)data, size, 0) != need || strlen(big) != need)
		abort();
	check_text(big, need);
	free(big);

	f = open_memstream(&json, &jlen);
	fput_json_string(f, (const char *)data, size);
	fclose(f);
	if (jlen < 2 || json[0] != '"' || json[jlen - 1] != '"')
		abort();
	back = malloc(jlen + 1);
	n = decode_json(json + 1, jlen - 1, back);
	if (n != size || memcmp(back, data, size) != 0)
		abort();
	free(back);
	free(json);
	return 0;
}
