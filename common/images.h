/* Process images for stack samplers: which struct syms each process image announced by the
 * kernel uses, and for how long it is kept.
 *
 * The kernel announces an image (a process, or a process after exec) the first time it
 * samples it, with an id its samples carry; the image's maps are read then, while it runs
 * (syms_cache__get_syms), so its stacks still resolve after it exits. An image is freed one
 * drain after it stopped being its pid's current one (exec, a reused pid) or its process
 * exited: by then the buffer holding its last samples has been drained. So memory follows
 * the live processes, not the length of the run. */
#ifndef COMMON_IMAGES_H
#define COMMON_IMAGES_H

#include <stdint.h>

struct syms;
struct syms_cache;

struct images_stats {
	uint64_t announced;       /* announcements handled */
	uint64_t prepare_failed;  /* images gone before their maps could be read */
	uint64_t freed;           /* images freed before the end */
	uint64_t drains;          /* drains completed */
};

struct images;

/* cache is the caller's and must outlive the images. NULL with errno on failure. */
struct images *images__new(struct syms_cache *cache);
void images__free(struct images *im);

/* The kernel announced image id of pid: reads its maps now. The pid's earlier image keeps
 * its own syms for the samples counted under its id. */
void images__announce(struct images *im, uint32_t pid, uint64_t id);

/* The syms for a user stack taken in image id of pid: that image's, or, when the
 * announcement was lost (id 0 or unknown), the pid's latest image if it still runs. NULL
 * when none is known. */
struct syms *images__syms(struct images *im, uint64_t id, uint32_t pid);

/* Call after each drain of the samples: frees the images no sample can name any more and
 * notes the processes that exited since the last call. */
void images__drained(struct images *im);

void images__stats(const struct images *im, struct images_stats *st);

#endif
