"""The built BPF objects, read as the oldest verifier of the matrix will read them. Debian 11's
5.10 rejects a loop whose back-edge is a plain fall-through ("back-edge from insn N to N+1":
its CFG check allows a back-edge only on a jump), and whether clang lays a loop out that way
changes with any edit of the loop's body; a guest run found it late, this finds it at once,
on every program of every tool, for the host's and the cross build's objects."""
import glob
import os
import re
import subprocess

import harness

NEEDS_BPF = False

INSN = re.compile(r"^\s+(\d+):\s+(.*)$")
FUNC = re.compile(r"^[0-9a-f]+ <(\S+)>:$")


def programs(obj):
    """{program: {slot: instruction text}} from llvm-objdump (slots count ld_imm64 as two,
    as the verifier's instruction numbers do)."""
    out = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", obj], capture_output=True,
                         text=True, check=True).stdout
    progs, cur = {}, None
    for line in out.splitlines():
        m = FUNC.match(line)
        if m and not m.group(1).startswith("LBB"):
            cur = progs.setdefault(m.group(1), {})
            continue
        m = INSN.match(line)
        if m and cur is not None:
            cur[int(m.group(1))] = m.group(2)
    return progs


def fallthrough_back_edges(insns):
    """(from, to) for each edge that closes a cycle (depth-first from the entry, as the
    verifier's check_cfg walks) without being a jump."""
    slots = sorted(insns)
    nxt = dict(zip(slots, slots[1:]))
    succ = {}
    for a, text in insns.items():
        m = re.search(r"\bgoto ([+-]\d+)", text)
        edges = []
        if m:
            edges.append(a + int(m.group(1)) + 1)
            if not text.startswith("goto"):
                edges.append(nxt.get(a))
        elif not text.startswith("exit"):
            edges.append(nxt.get(a))
        succ[a] = [e for e in edges if e is not None]
    found, state = [], {}
    if not slots:
        return found
    stack = [(slots[0], iter(succ[slots[0]]))]
    state[slots[0]] = "open"
    while stack:
        node, it = stack[-1]
        for w in it:
            if state.get(w) == "open":
                if not re.search(r"\bgoto\b", insns[node]):
                    found.append((node, w))
            elif w not in state:
                state[w] = "open"
                stack.append((w, iter(succ.get(w, []))))
                break
        else:
            state[node] = "done"
            stack.pop()
    return found


def test_no_loop_closes_by_fall_through():
    objs = [o for d in ("build", os.environ.get("CORESCOPE_BUILD", "build"), "build-arm64")
            for o in glob.glob(os.path.join(harness.ROOT, d, "*.bpf.o"))]
    assert objs, "no BPF objects built (run make)"
    bad = [f"{os.path.relpath(o, harness.ROOT)}: {prog}: back-edge from insn {a} to {b}"
           for o in sorted(set(objs)) for prog, insns in programs(o).items()
           for a, b in fallthrough_back_edges(insns)]
    assert not bad, "loops Linux 5.10 rejects (unroll them):\n" + "\n".join(bad)


def test_the_check_sees_what_5_10_rejected():
    """The shape 5.10 rejected in the path walk ("back-edge from insn 623 to 624"): the
    loop's head laid out right after its latch, which falls into it. The same loop closed
    by a jump passes."""
    fell = {0: "r1 = 0", 1: "goto +2 <H>", 2: "r1 += 1", 3: "r2 += -1",
            4: "if r1 > 39 goto +1 <E>", 5: "goto -4 <B>", 6: "exit"}
    # 0 -> 1 -> 4 -> 5 -> 2 -> 3 -> 4: the cycle closes at 3 -> 4, a fall-through.
    assert fallthrough_back_edges(fell) == [(3, 4)]
    jumped = {0: "r1 = 0", 1: "r1 += 1", 2: "r2 += -1", 3: "if r1 < 40 goto -3 <B>",
              4: "exit"}
    assert fallthrough_back_edges(jumped) == []
