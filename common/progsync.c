#include "progsync.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>

struct progsync {
	int outer_fd; /* ARRAY_OF_MAPS, one slot */
	int inner_fd; /* what the slot is set to, again and again */
};

struct progsync *progsync__new(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	struct progsync *ps = calloc(1, sizeof(*ps));
	int err;

	if (!ps)
		return NULL;
	ps->outer_fd = -1;
	ps->inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "progsync_in", 4, 4, 1, NULL);
	if (ps->inner_fd < 0)
		goto fail;
	opts.inner_map_fd = ps->inner_fd;
	ps->outer_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "progsync", 4, 4, 1, &opts);
	if (ps->outer_fd < 0)
		goto fail;
	return ps;
fail:
	err = errno;
	progsync__free(ps);
	errno = err;
	return NULL;
}

int progsync__wait(struct progsync *ps)
{
	__u32 zero = 0;

	/* The wait is a side effect of a successful update of a map-in-map slot. */
	if (bpf_map_update_elem(ps->outer_fd, &zero, &ps->inner_fd, BPF_ANY))
		return -errno;
	return 0;
}

void progsync__free(struct progsync *ps)
{
	if (!ps)
		return;
	if (ps->outer_fd >= 0)
		close(ps->outer_fd);
	if (ps->inner_fd >= 0)
		close(ps->inner_fd);
	free(ps);
}
