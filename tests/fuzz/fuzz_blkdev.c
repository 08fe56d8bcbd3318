/* /proc/partitions parser (through a temporary file: the API reads a path). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "blkdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-partitions-XXXXXX";
	struct blkdev_table *t;
	int fd = mkstemp(path);
	__u32 dev = 0;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	t = blkdev_table__load(path);
	unlink(path);
	if (!t)
		return 0;
	blkdev_table__name(t, 0x800001);
	blkdev_table__dev(t, "sda", &dev);
	blkdev__resolve(t, "vda", &dev);
	blkdev_table__free(t);
	return 0;
}
