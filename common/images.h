/* Process images for stack samplers: which struct syms and unwind_proc each process image
 * announced by the kernel uses, and for how long they are kept.
 *
 * The kernel announces an image (a process, or a process after exec) the first time it
 * samples it, with an id its samples carry; the image's maps are read then, while it runs
 * (syms_cache__get_syms, unwinder__prepare), so its stacks still resolve after it exits.
 * An image is freed once it stopped being its pid's current one (exec, a reused pid) or
 * its process exited, a drain has passed since, and every sample queued until then has
 * been counted. So memory follows the live processes, not the length of the run.
 *
 * Two threads: a reader that announces images and queues samples (images__announce,
 * images__queued), and a worker that counts them (images__lookup, images__map_addr_info,
 * images__counted, images__drained). The reader never waits for the worker's
 * symbolization: when the symbol cache is busy, an image's syms are prepared by the worker
 * when it reaches the image's first sample. images__stats once both are done. */
#ifndef COMMON_IMAGES_H
#define COMMON_IMAGES_H

#include <stdint.h>

struct syms;
struct syms_cache;
struct sym_info;
struct unwinder;
struct unwind_proc;

struct images_stats {
	uint64_t announced;       /* announcements handled */
	uint64_t prepare_failed;  /* images gone before their maps could be read */
	uint64_t freed;           /* images freed before the end */
	uint64_t drains;          /* drains completed */
};

struct images;

/* cache and uw (NULL: no unwinding) are the caller's and must outlive the images. NULL
 * with errno on failure. */
struct images *images__new(struct syms_cache *cache, struct unwinder *uw);
void images__free(struct images *im);

/* Reader: the kernel announced image id of pid: reads its maps now. The pid's earlier
 * image keeps its own syms for the samples counted under its id. */
void images__announce(struct images *im, uint32_t pid, uint64_t id);
/* Reader: one more sample queued for the worker. */
void images__queued(struct images *im);

/* Worker: the syms and unwind_proc (each may be NULL) for a user stack taken in image id
 * of pid: that image's, or, when the announcement was lost (id 0 or unknown), the pid's
 * latest image if it still runs. Valid until the worker's next images__drained(). */
void images__lookup(struct images *im, uint64_t id, uint32_t pid, struct syms **syms,
		    struct unwind_proc **uw);
/* Worker: syms__map_addr_info() under the symbol cache's lock. */
int images__map_addr_info(struct images *im, struct syms *syms, uint64_t addr,
			  struct sym_info *info);
/* Worker: one queued sample counted. */
void images__counted(struct images *im);
/* Worker, once a drain interval: frees the images no sample can name any more and notes
 * the processes that exited since the last call. */
void images__drained(struct images *im);

void images__stats(const struct images *im, struct images_stats *st);

#endif
