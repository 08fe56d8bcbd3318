/* The streaming kallsyms reader (ksyms__load_file, what production uses on /proc/kallsyms)
 * against the whole-text parser on the same bytes: any text, no crash, and the same table
 * whenever both accept it (the reader cuts lines at its buffer's edges). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "syms/syms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t probe[] = { 0, 1, 0xffffffff81000000ull, UINT64_MAX, 0x1000 };
	struct ksyms *streamed, *whole;
	char path[64];
	size_t i;
	int fd;

	fd = memfd_create("kallsyms", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	streamed = ksyms__load_file(path);
	close(fd);
	whole = ksyms__parse((const char *)data, size);
	if (size >= 8)
		memcpy(&probe[0], data, 8);
	if (streamed && whole) {
		if (ksyms__count(streamed) != ksyms__count(whole))
			abort();
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
			uint64_t o1 = 0, o2 = 0;
			const struct ksym *a = ksyms__map_addr(streamed, probe[i], &o1);
			const struct ksym *b = ksyms__map_addr(whole, probe[i], &o2);

			if (!a != !b || (a && (a->addr != b->addr || o1 != o2 ||
					       strcmp(a->name, b->name) != 0)))
				abort();
		}
	}
	if (streamed && !whole)
		abort();
	ksyms__free(streamed);
	ksyms__free(whole);
	return 0;
}
