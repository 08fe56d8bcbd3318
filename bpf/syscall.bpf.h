/* Syscalls seen from the raw tracepoint sys_exit: one program for every syscall on the system,
 * which a tool filters by number. A classic syscall tracepoint (syscalls:sys_exit_NAME) runs
 * only for its syscall, but each one detaches in its own RCU grace period (75-90 ms on the
 * test machine, one after another); a raw tracepoint link detaches without waiting. The
 * numbers, per docs/performance.md: raw sys_exit adds ~100-190 ns to every syscall, a classic
 * enter+exit pair ~0-50 ns to other syscalls and ~550 ns to its own.
 *
 * raw_tp/sys_exit gets (struct pt_regs *regs, long ret): regs are the task's saved user
 * registers, holding the syscall's number and its arguments as they were at entry. */
#ifndef BPF_SYSCALL_BPF_H
#define BPF_SYSCALL_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* arm64's names for the number and the processor state (vmlinux.h may be x86's). */
struct pt_regs___arm64_sc {
	int syscallno;
	__u64 pstate;
} __attribute__((preserve_access_index));

#define SYSCALL_TS_COMPAT 0x0002   /* x86 thread_info.status: in a 32-bit syscall */
#define SYSCALL_PSR_MODE32 0x10    /* arm64 pstate: the task runs AArch32 code */

/* The syscall number in regs; -1 where this file does not know the architecture (user space
 * then keeps the classic tracepoints). */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct pt_regs___arm64_sc *)regs, syscallno);
#else
	return -1;
#endif
}

/* A 32-bit task's syscall: its number is from another table (i386's 5 is open, x86-64's
 * fstat), and the classic tracepoints do not report it at all. Asked only once the number
 * matched, so other syscalls do not pay for it. */
static __always_inline bool syscall_compat(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, thread_info.status) & SYSCALL_TS_COMPAT;
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct pt_regs___arm64_sc *)regs, pstate) & SYSCALL_PSR_MODE32;
#else
	return true;
#endif
}

#endif
