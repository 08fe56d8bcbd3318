/* Path joining and canonicalization: the result is absolute (or a cut path: the marker, then
 * an absolute path or nothing), has no empty, "." or ".." components, never overruns, and
 * canonicalizing twice changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathbuf.h"

static void check_canonical(const char *p)
{
	if (p[0] != '/')
		abort();
	if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
		abort();
	size_t n = strlen(p);
	if (n > 1 && p[n - 1] == '/')
		abort();
	if ((n >= 2 && !strcmp(p + n - 2, "/.")) || (n >= 3 && !strcmp(p + n - 3, "/..")))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dst[128], rel[256], again[384];
	size_t split = size ? data[0] % (size + 1) : 0;
	bool cut = size && (data[0] & 0x80);
	size_t mark = cut ? strlen(PATHBUF_CUT) : 0;

	/* First part: kernel-style components; second: a relative name to append. */
	pathbuf__join(dst, sizeof(dst), (const char *)data, split, split, cut);
	if (strlen(dst) >= sizeof(dst) || strncmp(dst, cut ? PATHBUF_CUT : "/", cut ? mark : 1))
		abort();
	if (size - split >= sizeof(rel))
		return 0;
	memcpy(rel, data + split, size - split);
	rel[size - split] = '\0';
	if (pathbuf__append(dst, sizeof(dst), rel) < 0)
		return 0;
	pathbuf__canonicalize(dst);
	if (rel[0] == '/')
		mark = 0; /* an absolute name replaced the cut path */
	if (strncmp(dst, PATHBUF_CUT, mark))
		abort();
	if (!mark || dst[mark])
		check_canonical(dst + mark);
	strcpy(again, dst);
	pathbuf__canonicalize(again);
	if (strcmp(again, dst))
		abort();
	return 0;
}
