#include "pathbuf.h"

#include <errno.h>
#include <string.h>

int pathbuf__join(char *dst, size_t size, const char *comps, size_t len, unsigned depth,
		  bool cut)
{
	size_t mark = cut ? strlen(PATHBUF_CUT) : 0;
	const char *starts[64];
	size_t off = 0, pos = 0;
	unsigned n = 0;
	int i;

	if (size < mark + 2) {
		if (size)
			dst[0] = '\0';
		return -ENAMETOOLONG;
	}
	while (off < len && n < depth && n < 64) {
		size_t l = strnlen(comps + off, len - off);

		starts[n++] = comps + off;
		off += l + 1;
	}
	if (cut) {
		memcpy(dst, PATHBUF_CUT, mark + 1);
		pos = mark;
	} else {
		dst[0] = '/';
		dst[1] = '\0';
		pos = n ? 0 : 1;
	}
	for (i = (int)n - 1; i >= 0; i--) {
		size_t room = size - pos, l = strnlen(starts[i], comps + len - starts[i]);

		if (room < l + 2) {
			/* Keep what fits, and at least the root or the marker. */
			dst[pos ? pos : 1] = '\0';
			return -ENAMETOOLONG;
		}
		dst[pos++] = '/';
		memcpy(dst + pos, starts[i], l);
		pos += l;
	}
	dst[pos] = '\0';
	return (int)pos;
}

int pathbuf__append(char *dst, size_t size, const char *rel)
{
	size_t dl = strlen(dst), rl = strlen(rel);

	if (rel[0] == '/') {
		if (rl + 1 > size)
			return -ENAMETOOLONG;
		memcpy(dst, rel, rl + 1);
		return (int)rl;
	}
	if (dl + 1 + rl + 1 > size)
		return -ENAMETOOLONG;
	dst[dl] = '/';
	memcpy(dst + dl + 1, rel, rl + 1);
	return (int)(dl + 1 + rl);
}

void pathbuf__canonicalize(char *path)
{
	char *src, *out;

	if (!strncmp(path, PATHBUF_CUT, strlen(PATHBUF_CUT)) &&
	    (path[strlen(PATHBUF_CUT)] == '/' || !path[strlen(PATHBUF_CUT)])) {
		path += strlen(PATHBUF_CUT);
		if (!*path)
			return;
	}
	src = out = path;

	/* out always ends just after a component (or at the root slash). */
	while (*src) {
		char *end;
		size_t l;

		while (*src == '/')
			src++;
		if (!*src)
			break;
		end = strchrnul(src, '/');
		l = end - src;
		if (l == 1 && src[0] == '.') {
			/* nothing */
		} else if (l == 2 && src[0] == '.' && src[1] == '.') {
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, src, l);
			out += l;
		}
		src = end;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}
