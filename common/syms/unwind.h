/* User stacks unwound by call-frame information (.eh_frame, .debug_frame) from the registers
 * and a copy of the top of the stack taken at a sample: the frames of code built without
 * frame pointers (Debian's libc, python3, ...), which a frame pointer walk skips or stops
 * at. Code without call-frame information (JIT code) is walked by its frame pointers.
 *
 * An unwinder holds the ELF files and their call-frame tables, shared between the process
 * images that map them; an unwind_proc is one process image's executable mappings, read
 * while the process runs (unwinder__prepare) so that its samples still unwind after it
 * exits. An unwind_proc may be prepared and freed in one thread and unwound in another;
 * each unwind_proc is unwound by one thread at a time, and unwinder__stats() is read when
 * no thread unwinds. Constructors return NULL and set errno.
 */
#ifndef COMMON_SYMS_UNWIND_H
#define COMMON_SYMS_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct unwinder;
struct unwind_proc;

/* The user registers at the sample: instruction, stack and frame pointers, and on arm64
 * the link register (x30). */
struct unwind_regs {
	uint64_t ip, sp, fp, lr;
};

/* Why an unwind stopped. */
enum unwind_end {
	UNWIND_END_OUTERMOST,  /* the outermost frame: its return address is undefined or 0 */
	UNWIND_END_COPY,       /* the next frame lies beyond the copied stack */
	UNWIND_END_NO_MAP,     /* an address in no executable mapping of the process */
	UNWIND_END_NO_CFI,     /* no call-frame information and no usable frame pointer */
	UNWIND_END_BAD,        /* a rule that cannot be evaluated, or a frame that does not
				* move up the stack */
	UNWIND_END_DEPTH,      /* the caller's array is full */
	UNWIND_NR_ENDS,
};

struct unwinder_stats {
	uint64_t unwinds;
	uint64_t frames_cfi;   /* frames stepped over by call-frame information */
	uint64_t frames_fp;    /* by the frame pointer (no call-frame information there) */
	uint64_t ends[UNWIND_NR_ENDS];
	uint64_t files;        /* ELF files held */
	uint64_t map_reads;    /* reads of a /proc/PID/maps */
};

/* debug_dir: the root of separate debug files, whose .debug_frame (found by build-id)
 * serves files that have neither .eh_frame nor .debug_frame of their own for an address;
 * NULL: "/usr/lib/debug"; "": none. */
struct unwinder *unwinder__new(const char *debug_dir);
/* Frees the unwinder; every unwind_proc must have been freed before. */
void unwinder__free(struct unwinder *uw);
void unwinder__stats(const struct unwinder *uw, struct unwinder_stats *stats);
/* The name of an end reason ("outermost", "copy", ...). */
const char *unwind_end__name(enum unwind_end end);

/* Reads the executable mappings of process pid and opens their files. -ESRCH (as errno):
 * the process is gone. */
struct unwind_proc *unwinder__prepare(struct unwinder *uw, pid_t pid);

/* The pid now runs another image (exec, or a reused pid): the mappings are never re-read. */
void unwind_proc__freeze(struct unwind_proc *p);

void unwind_proc__free(struct unwind_proc *p);

/* Unwinds from regs over stack, a copy of the process's memory from regs->sp (len bytes).
 * Writes the instruction pointer of each frame, the sampled one first, then return
 * addresses, to ips (at most max) and returns their number; *end says why it stopped. An
 * address in no known mapping re-reads the process's maps once (at most ten times a second). */
int unwind_proc__unwind(struct unwind_proc *p, const struct unwind_regs *regs,
			const void *stack, size_t len, uint64_t *ips, int max,
			enum unwind_end *end);

/* Continues a CFI unwind that ran out of copied stack (ips[0..n)) with a frame pointer walk
 * of the same stack (fp[0..nfp), leaf first, from the kernel, which reads the whole stack):
 * where the last unwound return address is also in the walk, the walk's frames after it
 * follow. Returns the new number of frames (at most max). */
int unwind__splice(uint64_t *ips, int n, int max, const uint64_t *fp, int nfp);

#endif
