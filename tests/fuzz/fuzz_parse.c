/* Number parsing: never accepts what is not a whole number in range, and agrees with a
 * simple reference on what it accepts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[64];
	uint64_t v = 0, ms = 0;
	int err;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	err = parse_u64(buf, 1, 1000000, &v);
	if (err == 0) {
		if (v < 1 || v > 1000000 || !(buf[0] >= '0' && buf[0] <= '9'))
			abort();
		if (strtoull(buf, NULL, buf[1] == 'x' || buf[1] == 'X' ? 16 : 10) != v)
			abort();
	} else if (err != -EINVAL && err != -ERANGE) {
		abort();
	}
	err = parse_seconds_ms(buf, 1, 86400000, &ms);
	if (err == 0 && (ms < 1 || ms > 86400000 || strspn(buf, "0123456789.") != strlen(buf)))
		abort();
	return 0;
}
