#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>

#include "htab.h"
#include "images.h"
#include "syms/syms.h"
#include "syms/unwind.h"

enum image_state {
	IMAGE_LIVE,        /* the pid's current image */
	IMAGE_SUPERSEDED,  /* the pid announced another image since (exec, or reused pid) */
	IMAGE_GONE,        /* the process has exited */
};

struct image {
	struct syms *syms;       /* NULL: its maps could not be read (gone before the
				  * announcement) */
	struct unwind_proc *uw;  /* likewise */
	bool syms_pending;       /* the cache was busy at the announcement */
	uint32_t pid;
	uint32_t state;          /* enum image_state */
	uint64_t since;          /* drains completed when it stopped being LIVE */
	uint64_t since_seq;      /* samples queued by then */
};

/* Locks: tlock guards the tables and each image's state, held briefly by both threads;
 * slock the symbol cache, held by the worker while it symbolizes (a large binary's first
 * table: a second or more). Order: slock, then tlock. */
struct images {
	struct syms_cache *cache;
	struct unwinder *uw;
	pthread_mutex_t tlock, slock;
	struct htab images;  /* image id -> struct image * */
	struct htab pids;    /* pid -> id of its latest image */
	uint64_t queued;     /* written by the reader, read by the worker: atomics */
	uint64_t counted;    /* the worker's */
	struct images_stats st;
};

struct images *images__new(struct syms_cache *cache, struct unwinder *uw)
{
	struct images *im = calloc(1, sizeof(*im));

	if (!im)
		return NULL;
	im->cache = cache;
	im->uw = uw;
	pthread_mutex_init(&im->tlock, NULL);
	pthread_mutex_init(&im->slock, NULL);
	return im;
}

static void image_free(struct images *im, struct image *img)
{
	if (img->syms) {
		pthread_mutex_lock(&im->slock);
		syms_cache__release(im->cache, img->syms);
		pthread_mutex_unlock(&im->slock);
	}
	unwind_proc__free(img->uw);
	free(img);
}

void images__free(struct images *im)
{
	struct htab_ent *e;

	if (!im)
		return;
	for (e = NULL; (e = htab__next(&im->images, e));)
		image_free(im, e->val.ptr);
	htab__free(&im->images);
	htab__free(&im->pids);
	pthread_mutex_destroy(&im->tlock);
	pthread_mutex_destroy(&im->slock);
	free(im);
}

static struct image *image_get(struct images *im, uint64_t id)
{
	struct htab_ent *e = htab__get(&im->images, &id, sizeof(id), false);

	return e ? e->val.ptr : NULL;
}

/* With tlock held. */
static void image_retire(struct images *im, struct image *img, enum image_state state)
{
	if (img->state == IMAGE_LIVE) {
		img->state = state;
		img->since = __atomic_load_n(&im->st.drains, __ATOMIC_RELAXED);
		img->since_seq = __atomic_load_n(&im->queued, __ATOMIC_RELAXED);
		unwind_proc__freeze(img->uw);
	}
}

void images__announce(struct images *im, uint32_t pid, uint64_t id)
{
	struct htab_ent *pe, *ie;
	struct image *img, *old;
	bool ok;

	img = calloc(1, sizeof(*img));
	if (!img)
		return;
	img->pid = pid;
	if (im->uw)
		img->uw = unwinder__prepare(im->uw, (pid_t)pid);
	if (pthread_mutex_trylock(&im->slock) == 0) {
		syms_cache__retire(im->cache, (pid_t)pid);
		img->syms = syms_cache__get_syms(im->cache, (pid_t)pid);
		pthread_mutex_unlock(&im->slock);
	} else {
		img->syms_pending = true;
	}
	pthread_mutex_lock(&im->tlock);
	im->st.announced++;
	if ((im->uw && !img->uw) || (!img->syms && !img->syms_pending))
		im->st.prepare_failed++;
	pe = htab__get(&im->pids, &pid, sizeof(pid), false);
	if (pe && (old = image_get(im, pe->val.u64)))
		image_retire(im, old, IMAGE_SUPERSEDED);
	ie = htab__get(&im->images, &id, sizeof(id), true);
	pe = htab__get(&im->pids, &pid, sizeof(pid), true);
	/* Out of memory, or an id announced twice (never: ids are unique). */
	ok = ie && pe && !ie->val.ptr;
	if (ok) {
		ie->val.ptr = img;
		pe->val.u64 = id;
	}
	pthread_mutex_unlock(&im->tlock);
	if (!ok)
		image_free(im, img);
}

void images__queued(struct images *im)
{
	__atomic_add_fetch(&im->queued, 1, __ATOMIC_RELAXED);
}

void images__counted(struct images *im)
{
	im->counted++;
}

/* The syms of an image announced while the cache was busy, if it is still its pid's
 * image (else the process has moved on, and its frames stay unresolved). */
static void prepare_pending(struct images *im, struct image *img)
{
	bool live;

	pthread_mutex_lock(&im->slock);
	pthread_mutex_lock(&im->tlock);
	live = img->syms_pending && img->state == IMAGE_LIVE;
	img->syms_pending = false;
	pthread_mutex_unlock(&im->tlock);
	if (live) {
		syms_cache__retire(im->cache, (pid_t)img->pid);
		img->syms = syms_cache__get_syms(im->cache, (pid_t)img->pid);
		if (!img->syms)
			__atomic_add_fetch(&im->st.prepare_failed, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&im->slock);
}

void images__lookup(struct images *im, uint64_t id, uint32_t pid, struct syms **syms,
		    struct unwind_proc **uw)
{
	struct image *img;
	struct htab_ent *pe;
	bool pending;

	pthread_mutex_lock(&im->tlock);
	img = id ? image_get(im, id) : NULL;
	if (!img) {
		pe = htab__get(&im->pids, &pid, sizeof(pid), false);
		img = pe ? image_get(im, pe->val.u64) : NULL;
		if (img && img->state != IMAGE_LIVE)
			img = NULL;
	}
	pending = img && img->syms_pending;
	pthread_mutex_unlock(&im->tlock);
	/* Only this thread frees images, and only those no queued sample names. */
	if (pending)
		prepare_pending(im, img);
	*syms = img ? img->syms : NULL;
	*uw = img ? img->uw : NULL;
}

int images__map_addr_info(struct images *im, struct syms *syms, uint64_t addr,
			  struct sym_info *info)
{
	int err;

	pthread_mutex_lock(&im->slock);
	err = syms__map_addr_info(syms, addr, info);
	pthread_mutex_unlock(&im->slock);
	return err;
}

void images__drained(struct images *im)
{
	struct image **doomed = NULL;
	uint64_t *ids = NULL;
	struct htab_ent *e;
	size_t i, n = 0;

	pthread_mutex_lock(&im->tlock);
	__atomic_add_fetch(&im->st.drains, 1, __ATOMIC_RELAXED);
	if (im->images.n) {
		doomed = malloc(im->images.n * sizeof(*doomed));
		ids = malloc(im->images.n * sizeof(*ids));
	}
	for (e = NULL; doomed && ids && (e = htab__next(&im->images, e));) {
		struct image *img = e->val.ptr;

		/* Stopped being LIVE before the last drain, so its last samples have been read
		 * from the kernel's buffer since; and all of them counted. */
		if (img->state != IMAGE_LIVE) {
			if (img->since + 1 < im->st.drains && im->counted >= img->since_seq) {
				ids[n] = *(uint64_t *)e->key;
				doomed[n++] = img;
			}
		} else if (kill((pid_t)img->pid, 0) != 0 && errno == ESRCH) {
			image_retire(im, img, IMAGE_GONE);
		}
	}
	/* Removing entries moves others: after the walk. */
	for (i = 0; i < n; i++) {
		struct htab_ent *pe = htab__get(&im->pids, &doomed[i]->pid,
						sizeof(doomed[i]->pid), false);

		if (pe && pe->val.u64 == ids[i])
			htab__del(&im->pids, pe);
		e = htab__get(&im->images, &ids[i], sizeof(ids[i]), false);
		if (e)
			htab__del(&im->images, e);
		im->st.freed++;
	}
	pthread_mutex_unlock(&im->tlock);
	for (i = 0; i < n; i++)
		image_free(im, doomed[i]);
	free(doomed);
	free(ids);
}

void images__stats(const struct images *im, struct images_stats *st)
{
	*st = im->st;
}
