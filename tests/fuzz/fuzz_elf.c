/* ELF symbol reader on arbitrary bytes: ELF files of any binary a profiled process maps are
 * untrusted. No crash, no leak, lookups stay within what was read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "syms/elfsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_syms *es = elf_syms__open_mem(data, size);
	uint64_t vaddr = 0, off = 0;
	const struct sym *s;

	if (!es)
		return 0;
	elf_syms__offset_to_vaddr(es, 0x1000, &vaddr);
	s = elf_syms__map_vaddr(es, vaddr, &off);
	if (s && !s->name)
		abort();
	elf_syms__find(es, "main");
	elf_syms__free(es);
	return 0;
}
