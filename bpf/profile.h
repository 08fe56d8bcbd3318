/* profile's event: the ABI between bpf/profile.bpf.c and tools/profile.c. */
#ifndef PROFILE_H
#define PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ident.h"

#define PROFILE_COMM_LEN 16
/* Frames kept per stack: the kernel's default kernel.perf_event_max_stack. */
#define PROFILE_MAX_STACK_DEPTH 127
/* -p and -L take at most this many IDs each (compared in the kernel, one by one). */
#define PROFILE_MAX_FILTER_IDS 8
/* User stack copied per sample, from the stack pointer up (at most; less when the stack's
 * mapping ends first), for unwinding by call-frame information in user space. A multiple
 * of the 4 KiB pages it is copied in. */
#define PROFILE_STACK_PAGE 4096
#define PROFILE_STACK_BYTES (4 * PROFILE_STACK_PAGE)

/* A stack count that names no stack because none was asked for or none exists: no kernel
 * stack for a sample taken in user mode, no user stack for a kernel thread, or a stack
 * kind -U/-K turned off. Every other negative count is -errno from bpf_get_stack(): a
 * stack that existed but was lost (see enum profile_stat). */
#define PROFILE_NO_STACK (-1)

/* The user registers a sample carries, the ones unwinding needs on each architecture. */
enum profile_reg {
	PROFILE_REG_IP,
	PROFILE_REG_SP,
	PROFILE_REG_FP,  /* rbp; x29 */
	PROFILE_REG_LR,  /* arm64's x30; 0 on x86 */
	PROFILE_NR_REGS,
};

enum profile_sample_flags {
	/* The first sample of a process image (a new process, or one that ran exec since it
	 * was last seen): user space reads its memory maps now, while it runs, so that its
	 * stacks still resolve after it exits. */
	PROFILE_SAMPLE_NEW_IMAGE = 1u << 0,
	/* regs[] hold the user registers at the sample (else only the frame pointer walk in
	 * user[] is known: a sample in kernel mode on a kernel before 5.15). */
	PROFILE_SAMPLE_REGS = 1u << 1,
};

/* One sample. Only the first offsetof(stack) + stack_len bytes are sent. */
struct profile_sample {
	/* Which image of the process the user stack's addresses belong to; 0 when there is no
	 * user stack (kernel threads, -K) or the image could not be tracked. */
	__u64 image;
	__u32 pid;            /* thread group ID (0: the idle task, with -I) */
	__u32 flags;          /* enum profile_sample_flags */
	__s32 kern_n;         /* frames in kern[], or PROFILE_NO_STACK, or -errno */
	__s32 user_n;         /* frames in user[] (frame pointer walk), likewise */
	__u32 stack_len;      /* bytes in stack[]: the user stack from regs[PROFILE_REG_SP] */
	char comm[PROFILE_COMM_LEN]; /* the sampled thread's name */
	__u32 pad;
	struct ident id;      /* the sampled task's cgroup, namespaces and PID there */
	__u64 regs[PROFILE_NR_REGS];
	__u64 kern[PROFILE_MAX_STACK_DEPTH];
	__u64 user[PROFILE_MAX_STACK_DEPTH];
	__u8 stack[PROFILE_STACK_BYTES];
};

/* Per-CPU counters (the `stats` array), summed by user space. */
enum profile_stat {
	PROFILE_STAT_RUNS,           /* every run of the program, before the filters */
	PROFILE_STAT_SAMPLES,        /* samples that passed the filters */
	PROFILE_STAT_KERN_FAULT,     /* kernel stack: could not be walked (-EFAULT in kernel mode) */
	PROFILE_STAT_KERN_OTHER,     /* kernel stack: any other error */
	PROFILE_STAT_USER_FAULT,     /* user stack of a process (it has memory) not walkable */
	PROFILE_STAT_USER_OTHER,
	PROFILE_STAT_NO_USER_REGS,   /* user registers unknown: frame pointers only */
	PROFILE_STAT_STACK_UNREADABLE, /* no byte of the user stack could be copied */
	PROFILE_STAT_IMAGES_FULL,    /* images not remembered: user stacks resolve by pid */
	PROFILE_NR_STATS,
};

#endif
