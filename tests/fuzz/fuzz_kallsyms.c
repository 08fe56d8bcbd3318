/* kallsyms parser and lookups: any text, no crash; a lookup never returns a symbol above the
 * address asked for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "syms/syms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksyms *ks = ksyms__parse((const char *)data, size);
	uint64_t probe[] = { 0, 1, 0xffffffff81000000ull, UINT64_MAX, 0x1000 };
	size_t i;

	if (!ks)
		return 0;
	if (size >= 8) {
		memcpy(&probe[0], data, 8);
	}
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		uint64_t off = 0;
		const struct ksym *k = ksyms__map_addr(ks, probe[i], &off);

		if (k && (k->addr > probe[i] || off != probe[i] - k->addr || !k->name))
			abort();
	}
	ksyms__get_symbol(ks, "x");
	ksyms__free(ks);
	return 0;
}
