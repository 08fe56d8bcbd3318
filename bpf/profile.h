/* profile's maps and event: the ABI between bpf/profile.bpf.c and tools/profile.c. */
#ifndef PROFILE_H
#define PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PROFILE_COMM_LEN 16
/* Frames kept per stack: the kernel's default kernel.perf_event_max_stack. A stack-trace
 * map value is this many instruction pointers, the unused tail zero. */
#define PROFILE_MAX_STACK_DEPTH 127
/* -p and -L take at most this many IDs each (compared in the kernel, one by one). */
#define PROFILE_MAX_FILTER_IDS 8

/* A stack id that names no stack because none was asked for or none exists: no kernel
 * stack for a sample taken in user mode, no user stack for a kernel thread, or a stack
 * kind -U/-K turned off. Every other negative id is -errno from bpf_get_stackid(): a stack
 * that existed but was lost (see enum profile_stat). */
#define PROFILE_NO_STACK (-1)

/* The counts map's key: samples are counted per distinct key in the kernel. */
struct profile_key {
	/* Which image of the process the user stack's addresses belong to: the id announced
	 * with a struct profile_event when the image was first sampled; 0 when there is no
	 * user stack (kernel threads, -K). */
	__u64 image;
	__u32 pid;            /* thread group ID (0: the idle task, with -I) */
	__s32 user_stack_id;  /* in the `stacks` map; or PROFILE_NO_STACK, or -errno */
	__s32 kern_stack_id;
	char comm[PROFILE_COMM_LEN]; /* the sampled thread's name */
	__u32 pad;
};

/* The first sample of a process image (a new process, or one that ran exec since it was
 * last seen): user space reads its memory maps now, while it runs, so that its stacks
 * still resolve after it exits. */
struct profile_event {
	__u64 image;
	__u32 pid;
	__u32 pad;
};

/* Per-CPU counters (the `stats` array), summed by user space. */
enum profile_stat {
	PROFILE_STAT_RUNS,           /* every run of the program, before the filters */
	PROFILE_STAT_SAMPLES,        /* samples that passed the filters */
	PROFILE_STAT_KERN_COLLISION, /* kernel stack: bucket of the stack map taken (-EEXIST) */
	PROFILE_STAT_KERN_NOMEM,     /* kernel stack: stack map out of entries (-ENOMEM) */
	PROFILE_STAT_KERN_FAULT,     /* kernel stack: could not be walked (-EFAULT in kernel mode) */
	PROFILE_STAT_KERN_OTHER,     /* kernel stack: any other error */
	PROFILE_STAT_USER_COLLISION,
	PROFILE_STAT_USER_NOMEM,
	PROFILE_STAT_USER_FAULT,     /* user stack of a process (it has memory) not readable */
	PROFILE_STAT_USER_OTHER,
	PROFILE_STAT_COUNTS_FULL,    /* samples not counted: the counts map was full */
	PROFILE_STAT_IMAGES_FULL,    /* images not remembered: user stacks resolve by pid */
	PROFILE_NR_STATS,
};

#endif
