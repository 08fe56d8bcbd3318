/* JIT perf-map parser (/tmp/perf-PID.map, written by untrusted processes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "syms/perfmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perf_map *pm = perf_map__parse((const char *)data, size);
	uint64_t addr = 0, off = 0;
	const struct sym *s;

	if (!pm)
		return 0;
	if (size >= 8)
		memcpy(&addr, data + size - 8, 8);
	s = perf_map__map_addr(pm, addr, &off);
	if (s && (s->addr > addr || !s->name))
		abort();
	perf_map__free(pm);
	return 0;
}
