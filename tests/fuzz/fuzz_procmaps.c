/* /proc/PID/maps parser: any text, no crash; every mapping it accepts is sane. */
#include <stdint.h>
#include <stdlib.h>

#include "syms/procmaps.h"

struct span {
	const char *buf;
	size_t size;
};

static int check(const struct procmap *m, void *ctx)
{
	const struct span *s = ctx;

	if (m->end < m->start)
		abort();
	/* path points into the input, never past it */
	if (m->path_len && (m->path < s->buf || m->path + m->path_len > s->buf + s->size))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s = { (const char *)data, size };

	procmaps__parse((const char *)data, size, check, &s);
	return 0;
}
