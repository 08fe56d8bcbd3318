#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>

#include "htab.h"
#include "images.h"
#include "syms/syms.h"

enum image_state {
	IMAGE_LIVE,        /* the pid's current image */
	IMAGE_SUPERSEDED,  /* the pid announced another image since (exec, or reused pid) */
	IMAGE_GONE,        /* the process has exited */
};

struct image {
	struct syms *syms;  /* NULL: its maps could not be read (gone before the announcement) */
	uint32_t pid;
	uint32_t state;     /* enum image_state */
	uint64_t since;     /* drains completed when it stopped being LIVE */
};

struct images {
	struct syms_cache *cache;
	struct htab images;  /* image id -> struct image * */
	struct htab pids;    /* pid -> id of its latest image */
	struct images_stats st;
};

struct images *images__new(struct syms_cache *cache)
{
	struct images *im = calloc(1, sizeof(*im));

	if (im)
		im->cache = cache;
	return im;
}

void images__free(struct images *im)
{
	struct htab_ent *e;

	if (!im)
		return;
	for (e = NULL; (e = htab__next(&im->images, e));)
		free(e->val.ptr);
	htab__free(&im->images);
	htab__free(&im->pids);
	free(im);
}

static struct image *image_get(struct images *im, uint64_t id)
{
	struct htab_ent *e = htab__get(&im->images, &id, sizeof(id), false);

	return e ? e->val.ptr : NULL;
}

static void image_retire(struct images *im, struct image *img, enum image_state state)
{
	if (img->state == IMAGE_LIVE) {
		img->state = state;
		img->since = im->st.drains;
	}
}

void images__announce(struct images *im, uint32_t pid, uint64_t id)
{
	struct htab_ent *pe, *ie;
	struct image *img;

	im->st.announced++;
	pe = htab__get(&im->pids, &pid, sizeof(pid), false);
	if (pe && (img = image_get(im, pe->val.u64)))
		image_retire(im, img, IMAGE_SUPERSEDED);
	img = calloc(1, sizeof(*img));
	if (!img)
		return;
	syms_cache__retire(im->cache, (pid_t)pid);
	img->syms = syms_cache__get_syms(im->cache, (pid_t)pid);
	img->pid = pid;
	if (!img->syms)
		im->st.prepare_failed++;
	ie = htab__get(&im->images, &id, sizeof(id), true);
	pe = htab__get(&im->pids, &pid, sizeof(pid), true);
	if (!ie || !pe || ie->val.ptr) {
		/* Out of memory, or an id announced twice (never: ids are unique). */
		syms_cache__release(im->cache, img->syms);
		free(img);
		return;
	}
	ie->val.ptr = img;
	pe->val.u64 = id;
}

struct syms *images__syms(struct images *im, uint64_t id, uint32_t pid)
{
	struct image *img = id ? image_get(im, id) : NULL;
	struct htab_ent *pe;

	if (img)
		return img->syms;
	pe = htab__get(&im->pids, &pid, sizeof(pid), false);
	img = pe ? image_get(im, pe->val.u64) : NULL;
	return img && img->state == IMAGE_LIVE ? img->syms : NULL;
}

void images__drained(struct images *im)
{
	uint64_t *doomed = NULL;
	struct htab_ent *e;
	size_t i, n = 0;

	im->st.drains++;
	if (im->images.n)
		doomed = malloc(im->images.n * sizeof(*doomed));
	for (e = NULL; doomed && (e = htab__next(&im->images, e));) {
		struct image *img = e->val.ptr;

		/* Stopped being LIVE before the drain: its last samples were in the buffer just
		 * drained. */
		if (img->state != IMAGE_LIVE) {
			if (img->since < im->st.drains)
				doomed[n++] = *(uint64_t *)e->key;
		} else if (kill((pid_t)img->pid, 0) != 0 && errno == ESRCH) {
			image_retire(im, img, IMAGE_GONE);
		}
	}
	/* Removing entries moves others: after the walk. */
	for (i = 0; i < n; i++) {
		struct image *img;
		struct htab_ent *pe;

		e = htab__get(&im->images, &doomed[i], sizeof(doomed[i]), false);
		img = e->val.ptr;
		pe = htab__get(&im->pids, &img->pid, sizeof(img->pid), false);
		if (pe && pe->val.u64 == doomed[i])
			htab__del(&im->pids, pe);
		syms_cache__release(im->cache, img->syms);
		free(img);
		htab__del(&im->images, e);
		im->st.freed++;
	}
	free(doomed);
}

void images__stats(const struct images *im, struct images_stats *st)
{
	*st = im->st;
}
