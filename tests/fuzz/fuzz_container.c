/* The container path parser, on paths read from /proc/PID/cgroup (a name any container
 * user can choose). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct container_ref ref;
	char *path = malloc(size + 1);

	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	if (container__parse_path(path, &ref)) {
		if (ref.end > strlen(path) || strlen(ref.id) >= sizeof(ref.id) ||
		    strlen(ref.pod_uid) >= sizeof(ref.pod_uid) || !ref.runtime)
			abort();
	}
	free(path);
	return 0;
}
