/* Whether the running kernel has bpf_loop(): a CO-RE check on the helper's id, so the choice is
 * made at load time. The local enum flavour keeps it building with headers generated from
 * kernels before bpf_loop (5.17), whose enum bpf_func_id has no BPF_FUNC_loop; libbpf matches
 * the names without their ___loop suffix against the running kernel's enum. */
#ifndef LOOP_BPF_H
#define LOOP_BPF_H

#include <bpf/bpf_core_read.h>

enum bpf_func_id___loop {
	BPF_FUNC_loop___loop = 181,
};

#define HAVE_BPF_LOOP bpf_core_enum_value_exists(enum bpf_func_id___loop, BPF_FUNC_loop___loop)

#endif
