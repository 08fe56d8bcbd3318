"""--check on every tool: each line of the report against what this kernel and process allow,
found independently (uname, /proc, /sys, tracefs's kprobe_events, an empty fentry program
attached with bpf(2) by kfentry.py, perf's cycles counter), and the exit status against whether the tool runs."""
import os
import re
import struct
import subprocess
import tempfile

import harness
from test_docs import tools

KPROBES_FIX = ("a kernel built with CONFIG_KPROBES=y (needed only where a tool has no "
               "tracepoint)")
FENTRY_FIX = ("a kernel with BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) that "
              "allows them (needed only where a tool has no tracepoint)")
CAPS_FIX = ("run as root, or give the program CAP_BPF and CAP_PERFMON "
            "(setcap cap_bpf,cap_perfmon+ep PROGRAM)")


def _read(path):
    try:
        with open(path) as f:
            return f.readline().rstrip("\n")
    except OSError:
        return None


def _kernel_at_least(major, minor):
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) >= (major, minor)


def _tracefs_mount():
    with open("/proc/mounts") as f:
        dirs = [l.split()[1] for l in f if l.split()[2] == "tracefs"]
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if d in dirs:
            return d
    return None


fentry = harness.kernel_fentry
kprobes = harness.kernel_kprobes


def online_cpus():
    n = 0
    for part in _read("/sys/devices/system/cpu/online").split(","):
        a, _, b = part.partition("-")
        n += int(b or a) - int(a) + 1
    return n


def cycles_event():
    return "cycles" if harness.kernel_cycles() else "cpu-clock"


def expected_env():
    """The environment lines as this (root) process should see them."""
    u = os.uname()
    lines = [f"kernel: {u.release} {u.machine}", "btf: yes: /sys/kernel/btf/vmlinux"]
    if int(_read("/proc/sys/kernel/cap_last_cap")) >= 39:
        lines.append("capabilities: yes: CAP_BPF CAP_PERFMON CAP_SYS_ADMIN")
    else:
        lines.append("capabilities: yes: CAP_SYS_ADMIN")
    paranoid = _read("/proc/sys/kernel/perf_event_paranoid")
    lines.append(f"perf_event_paranoid: yes: {paranoid} (CAP_PERFMON or CAP_SYS_ADMIN "
                 "overrides it)")
    lockdown = _read("/sys/kernel/security/lockdown")
    if lockdown is None:
        lines.append("lockdown: yes: not reported (no /sys/kernel/security/lockdown)")
    else:
        mode = re.search(r"\[(\w+)\]", lockdown).group(1)
        assert mode != "confidentiality", "the suite cannot run under confidentiality lockdown"
        lines.append(f"lockdown: yes: {mode}")
    lines.append(None)  # tracefs: known only after the tool ran (it may mount it)
    lines.append("kprobes: yes" if kprobes() else
                 "kprobes: no: no kprobe PMU in /sys/bus/event_source/devices; fix: " + KPROBES_FIX)
    works, why = fentry()
    if works:
        lines.append("fentry: yes")
    elif why.startswith("load:"):
        # The kernel refuses to load an fentry program at all.
        lines.append(re.compile(r"fentry: no: fentry on vfs_read refused: [A-Z][a-z ]+; fix: "
                                + re.escape(FENTRY_FIX) + "$"))
    else:
        lines.append("fentry: no: fentry on vfs_read loads but does not attach (error 524, "
                     "no BPF trampoline on this kernel); fix: " + FENTRY_FIX)
    lines.append("ringbuf: yes" if _kernel_at_least(5, 8) else
                 "ringbuf: no: no BPF ring buffer (Linux 5.8+); fix: none needed: events go "
                 "through the perf buffer")
    lines.append("bpf_loop: yes" if _kernel_at_least(5, 17) else
                 "bpf_loop: no: no bpf_loop helper (Linux 5.17+); fix: none needed: the tools "
                 "use bounded loops instead")
    return lines


def expected_attach(tool):
    works, _ = fentry()
    if tool == "filetop":
        if works:
            return "fexit/vfs_read, fexit/vfs_write, fexit/vfs_readv, fexit/vfs_writev"
        if kprobes():
            return "kprobe/vfs_read, kprobe/vfs_write, kretprobe/vfs_read"
        return "raw_tp/sys_exit"
    if tool == "profile":
        n = online_cpus()
        return f"perf_event; perf event {cycles_event()} on {n} CPU{'' if n == 1 else 's'}"
    return {
        "execsnoop": "raw_tp/sched_process_exec",
        "opensnoop": "raw_tp/sys_exit",
        "biolatency": "raw_tp/block_rq_issue, raw_tp/block_rq_complete",
        "tcpconnlat": "raw_tp/inet_sock_set_state",
        "tcpretrans": retrans_attach(),
    }[tool]


def retrans_attach(*args, tlp=None):
    """tcpretrans follows socket owners with tp_btf programs where it can keep them on the
    socket (tracing programs with sk storage), else with raw_tp ones; its -v says which."""
    err = harness.run("tcpretrans", *args, "--check", "-v").stderr
    k = "tp_btf" if "kept on the socket" in err else "raw_tp"
    assert f"socket owners: {k} sock:inet_sock_set_state" in err, err
    return ", ".join([f"{k}/tcp_retransmit_skb", f"{k}/tcp_retransmit_synack"] +
                     ([tlp] if tlp else []) + [f"{k}/inet_sock_set_state"])


def assert_lines(tool, got, want):
    assert len(got) == len(want), (tool, got, want)
    for g, w in zip(got, want):
        if hasattr(w, "match"):
            assert w.match(g), (tool, g, w.pattern)
        else:
            assert g == w, (tool, g, w)


def test_every_tool_reports_this_kernel():
    env = expected_env()
    for tool in tools():
        p = harness.run(tool, "--check")
        assert p.returncode == 0, (tool, p.returncode, p.stdout, p.stderr)
        assert p.stderr == "", (tool, p.stderr)
        env[5] = f"tracefs: yes: {_tracefs_mount()}"
        assert_lines(tool, p.stdout.splitlines(),
                     env + [f"attach: {expected_attach(tool)}", f"result: yes: {tool} can run here"])


def test_json_says_the_same():
    text = harness.run("tcpconnlat", "--check").stdout.splitlines()
    p = harness.run("tcpconnlat", "--check", "-j")
    assert p.returncode == 0, p.stderr
    items = harness.json_lines(p.stdout)
    assert len(items) == len(text), (items, text)
    for obj, line in zip(items, text):
        assert set(obj) <= {"check", "ok", "detail", "fix"}, obj
        name, rest = line.split(": ", 1)
        assert obj["check"] == name, (obj, line)
        if name in ("kernel", "attach"):
            assert obj == {"check": name, "ok": True, "detail": rest}, (obj, line)
            continue
        status = "yes" if obj["ok"] else "no"
        rebuilt = f"{name}: {status}" + (f": {obj['detail']}" if "detail" in obj else "") + \
            (f"; fix: {obj['fix']}" if "fix" in obj else "")
        assert rebuilt == line, (obj, line)


def test_loss_probes_need_fentry_or_kprobes():
    p = harness.run("tcpretrans", "-l", "--check")
    works, _ = fentry()
    lines = p.stdout.splitlines()
    if works or kprobes():
        tlp = "fentry/tcp_send_loss_probe" if works else "kprobe/tcp_send_loss_probe"
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert lines[-2:] == [f"attach: {retrans_attach('-l', tlp=tlp)}",
                              "result: yes: tcpretrans can run here"], lines
        return
    why = ("-l: tail loss probes cannot be traced on this kernel: there is no tracepoint for "
           "them, fentry on tcp_send_loss_probe is refused by this kernel, and kprobes are not "
           "available (CONFIG_KPROBES)")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr == f"tcpretrans: {why}\n", p.stderr
    assert lines[-1] == f"result: no: tcpretrans cannot run here: {why}", lines
    assert not any(l.startswith("attach:") for l in lines), lines


def test_not_root_is_told_the_fix():
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", harness.tool_path("execsnoop"), "--check"],
                       capture_output=True, text=True, timeout=30)
    lines = p.stdout.splitlines()
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "capabilities: no: none; fix: " + CAPS_FIX in lines, lines
    for name in ("tracefs", "fentry", "ringbuf", "bpf_loop"):
        assert f"{name}: unknown: not checked without the capabilities above" in lines, lines
    assert lines[-1] == ("result: no: execsnoop cannot run here: needs root, or the CAP_BPF "
                         "and CAP_PERFMON capabilities"), lines


def test_verbose_errors_do_not_ask_for_verbose():
    """A load that fails (CO-RE against a BTF file with one type): the hint to rerun with -v
    only without -v."""
    strs = b"\0int\0"
    types = struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32)  # INT "int", 4 bytes, signed
    with tempfile.NamedTemporaryFile(suffix=".btf") as f:
        f.write(struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                            len(strs)) + types + strs)
        f.flush()
        quiet = harness.run("execsnoop", "--btf", f.name)
        verbose = harness.run("execsnoop", "--btf", f.name, "-v")
    assert quiet.returncode == 1 and verbose.returncode == 1, (quiet.stderr, verbose.stderr)
    assert quiet.stderr.splitlines()[-1] == \
        "execsnoop: loading BPF programs: Invalid argument (rerun with -v for details)", quiet.stderr
    last = verbose.stderr.splitlines()[-1]
    assert last == ("execsnoop: loading BPF programs: Invalid argument (libbpf's messages "
                    "above say more)"), last
    assert "rerun with -v" not in verbose.stderr, verbose.stderr
