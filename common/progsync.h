/* Waiting for BPF programs in flight, so user space can flip what its programs write to and
 * then read the part they no longer touch without losing or tearing counts.
 *
 * A tool that keeps two generations of a map (a .bss index its programs read once per run, or
 * a map-in-map slot) flips the generation, calls progsync__wait(), and from then on owns the
 * old generation: every non-sleepable program that could have seen the old value has
 * returned. How: updating an ARRAY_OF_MAPS slot makes the kernel wait for an RCU grace period
 * before the syscall returns (kernel/bpf/syscall.c, maybe_wait_bpf_programs, Linux 5.0+;
 * the kernel's BPF selftests use the same update to sync with programs), and non-sleepable
 * programs run inside RCU read-side critical sections. Sleepable programs are not waited for.
 * Costs one bpf() call that sleeps for a grace period (milliseconds). */
#ifndef COMMON_PROGSYNC_H
#define COMMON_PROGSYNC_H

struct progsync;

/* Creates the two small maps the wait uses. Returns NULL with errno set. */
struct progsync *progsync__new(void);

/* Returns once every non-sleepable BPF program running at the time of the call has finished.
 * Returns 0 or a negative errno. */
int progsync__wait(struct progsync *ps);

void progsync__free(struct progsync *ps);

#endif
