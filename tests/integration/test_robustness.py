"""Every tool, the same way: signals and closed pipes end it cleanly with nothing left loaded,
bad command lines exit 2 with one line, missing privileges and BTF say what is missing."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import Tool
from test_docs import tools


def _exec():
    subprocess.run(["/bin/true"])


def _open():
    os.close(os.open("/etc/hostname", os.O_RDONLY))


def _connect():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    c.close()
    srv.close()


def _read():
    with open("/etc/hostname", "rb") as f:
        f.read()


# How to start each tool so it prints something, and what makes it print.
SPECS = {
    "execsnoop": ([], _exec),
    "opensnoop": ([], _open),
    "tcpconnlat": ([], _connect),
    "tcpretrans": ([], None),       # its header line is output enough
    "filetop": (["-C", "1"], _read),
    "biolatency": (["1"], None),
    "profile": (["-F", "99"], None),
}


def spec(tool):
    return SPECS.get(tool, ([], None))


def help_text(tool):
    return subprocess.run([harness.tool_path(tool), "--help"], capture_output=True,
                          text=True).stdout


def test_signals_end_every_tool_cleanly():
    for tool in tools():
        args, trigger = spec(tool)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            before = harness.bpf_prog_ids()
            t = Tool(tool, *args).start()
            if trigger:
                trigger()
            t.stop(sig=sig)
            assert t.rc == 0, f"{tool} after {sig.name}: exit {t.rc}: {t.err[-1500:]}"
            assert "Sanitizer" not in t.err and "runtime error" not in t.err, t.err
            assert harness.wait_for(lambda: not harness.leftover_progs(before, tool)), \
                f"{tool} left programs loaded after {sig.name}"


def caught_signals(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    return 0


# Tools that print a summary when stopped, and what it must hold with nothing to count.
def _json_has(pred):
    return lambda out: any(pred(o) for o in harness.json_lines(out))


SUMMARIES = {
    "biolatency": (["-j"], _json_has(lambda o: o.get("unit") == "usecs" and o["count"] == 0)),
    "filetop": (["-C", "-p", "1", "3600"],
                lambda out: "loadavg:" in out and "TID COMM" in out),
    "profile": (["-j", "-p", "1"], _json_has(lambda o: "summary" in o)),
}


def test_stop_before_ready_still_prints_the_summary():
    """Ctrl-C while a summary tool is still starting: it finishes starting, prints its (empty)
    summary once and exits 0. (biolatency and filetop printed nothing when the signal came
    before their first wait.)"""
    for tool, (args, has_summary) in SUMMARIES.items():
        p = subprocess.Popen([harness.tool_path(tool)] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            # The signal lands once the tool handles it, before its ready line.
            assert harness.wait_for(lambda: caught_signals(p.pid) & (1 << (signal.SIGINT - 1))
                                    or p.poll() is not None, timeout=10, interval=0.001)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, (tool, p.returncode, err[-1500:])
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert has_summary(out), (tool, out, err[-1500:])


def test_closed_pipe_ends_every_tool():
    for tool in tools():
        args, trigger = spec(tool)
        before = harness.bpf_prog_ids()
        p = subprocess.Popen([harness.tool_path(tool)] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        line = b""
        while not line and time.monotonic() < deadline:
            if trigger:
                trigger()
            line = p.stdout.readline()
        assert line, f"{tool} printed nothing"
        p.stdout.close()  # the reader goes away, as `| head -1` does
        while p.poll() is None and time.monotonic() < deadline:
            if trigger:
                trigger()
            time.sleep(0.05)
        rc = p.poll()
        if rc is None:
            p.kill()
        err = p.stderr.read().decode(errors="replace")
        assert rc == 0, f"{tool}: exit {rc} after its reader went away: {err[-1500:]}"
        assert harness.wait_for(lambda: not harness.leftover_progs(before, tool))


def test_bad_command_lines_every_tool():
    for tool in tools():
        h = help_text(tool)
        harness.assert_usage_error(tool, "--no-such-option")
        harness.assert_usage_error(tool, "-Z")
        harness.assert_usage_error(tool, "not-a-number")
        harness.assert_usage_error(tool, "--btf")
        if "--pid" in h:
            harness.assert_usage_error(tool, "-p")
            harness.assert_usage_error(tool, "-p", "abc")
            harness.assert_usage_error(tool, "-p", "-1")
            harness.assert_usage_error(tool, "-p", "99999999999999999999999")
            harness.assert_usage_error(tool, "-p", "3999999", contains="3999999")
        if "--uid" in h:
            harness.assert_usage_error(tool, "-u", "4294967296")
        if "--duration" in h:
            harness.assert_usage_error(tool, "-d", "0")
            harness.assert_usage_error(tool, "-d", "1e3")
        if "--cgroup" in h:
            harness.assert_usage_error(tool, "--cgroup", "/nonexistent-cgroup", expect_rc=1)


def test_not_root_says_what_is_missing():
    for tool in tools():
        args, _ = spec(tool)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", harness.tool_path(tool)] + args,
                           capture_output=True, text=True, timeout=20)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1, f"{tool}: exit {p.returncode}: {p.stderr}"
        assert len(lines) == 1 and "root" in lines[0] and "CAP_BPF" in lines[0], (tool, lines)


def test_btf_file_when_kernel_has_none():
    """A kernel without /sys/kernel/btf/vmlinux (hidden in a private mount namespace):
    a clear error, and --btf with a copy of this kernel's BTF makes it work."""
    with tempfile.TemporaryDirectory() as d:
        btf = os.path.join(d, "vmlinux.btf")
        shutil.copy("/sys/kernel/btf/vmlinux", btf)
        tool = harness.tool_path("execsnoop")
        script = (f"mount -t tmpfs none /sys/kernel/btf || exit 99; "
                  f"{tool}; echo rc=$? >&2; " +
                  harness.shell_traced(f"{tool} -j --btf {btf}", "/bin/true no-sysfs-btf"))
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "kernel BTF not found" in p.stderr and "--btf" in p.stderr, p.stderr
        assert "rc=1" in p.stderr
        args = [e["args"] for e in harness.json_lines(p.stdout) if "args" in e]
        assert ["/bin/true", "no-sysfs-btf"] in args, p.stdout[-1000:]


def test_tracefs_not_mountable_says_so():
    """Tracefs absent and no right to mount it (no CAP_SYS_ADMIN, but CAP_BPF and
    CAP_PERFMON): tools that need the syscall tracepoints say so in one line (opensnoop and
    filetop only on the classic ones: the raw sys_exit needs no tracefs)."""
    # filetop on the classic tracepoints by name: where fexit or kprobes exist it needs none.
    for argv in (["opensnoop"], ["execsnoop", "-x"], ["filetop", "--attach", "tracepoint", "1",
                                                       "1"]):
        cmd = " ".join(["env", "CORESCOPE_SYSCALL_TRACEPOINTS=classic", harness.tool_path(argv[0])]
                       + argv[1:])
        script = ("umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; "
                  f"exec setpriv --bounding-set -sys_admin --inh-caps -sys_admin {cmd}")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=30)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1, (argv, p.returncode, p.stderr)
        assert len(lines) == 1 and "tracefs" in lines[0] and "mount" in lines[0], (argv, lines)


def _ends_on_full_output(tool, args, trigger):
    """Runs the tool with stdout on /dev/full until it ends by itself (Ctrl-C once it is
    attached, for tools that print only then); returns (exit status, stderr lines)."""
    with open("/dev/full", "wb") as full, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([harness.tool_path(tool)] + args, stdout=full, stderr=err,
                             stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20 * harness.TIMEOUT_SCALE
        ready = interrupted = None
        while p.poll() is None and time.monotonic() < deadline:
            # pread: a seek would move the offset the tool writes at (shared file).
            if not ready and b"Hit Ctrl-C to end" in os.pread(err.fileno(), 1 << 16, 0):
                ready = time.monotonic()
            if ready and trigger:
                trigger()
            # Interval tools print after their first second; a trigger that makes an event
            # (a SYN retransmitted a second after its connect) is waited for, however slow
            # the machine is to start it.
            if ready and not interrupted and time.monotonic() > ready + 2.5 and \
                    getattr(trigger, "done", lambda: True)():
                p.send_signal(signal.SIGINT)
                interrupted = True
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
            p.wait()
            raise AssertionError(f"{tool} {args} kept running with its output failing")
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    # Warnings and counts of what was not printed (events lost, or arriving after the stop)
    # may follow; no other error may.
    return p.returncode, [l for l in lines if "Hit Ctrl-C to end" not in l and
                          f"{tool}: warning: " not in l and "were not printed" not in l and
                          "events lost" not in l]


class _SynRetransmit:
    """Once: in a private network namespace whose input drops SYNs to one port, a connect to
    it, so the SYN is retransmitted after the first RTO (one second); done once that
    namespace's RetransSegs counted it, however long the machine took (a guest under TCG
    takes seconds to start python3)."""

    SCRIPT = ("ip link set lo up && nft -f - <<'EOF'\n"
              "table ip t {\n chain i {\n  type filter hook input priority 0;\n"
              "  tcp dport 9 drop\n }\n}\nEOF\n"
              "timeout 120 python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 9))' &\n"
              "i=0; until awk '$1 == \"Tcp:\" { n++; if (n == 2) v = $13 } END { exit !(v > 0) }' "
              "/proc/net/snmp; do i=$((i + 1)); [ $i -gt 1200 ] && break; sleep 0.1; done\n"
              "kill $! 2>/dev/null; wait\n")

    def __init__(self):
        self.proc = None

    def __call__(self):
        if not self.proc:
            self.proc = subprocess.Popen(["unshare", "-n", "sh", "-c", self.SCRIPT],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def done(self):
        """The connect gave up (timeout 3: after the retransmit at one second)."""
        return self.proc is not None and self.proc.poll() is not None

    def close(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


def test_output_error_ends_every_tool():
    """stdout on /dev/full (ENOSPC): every tool ends with one line saying so and exit status 1,
    in text and JSON, and --help too; a closed pipe (EPIPE) stays a clean exit (above)."""
    for tool in tools():
        args, trigger = spec(tool)
        for extra in ([], ["-j"]):
            syn = None
            if tool == "tcpretrans" and extra:
                # No header in JSON: it takes a retransmit to print.
                trigger = syn = _SynRetransmit()
            try:
                rc, lines = _ends_on_full_output(tool, args + extra, trigger)
            finally:
                if syn:
                    syn.close()
            assert rc == 1, f"{tool} {args + extra}: exit {rc} with stdout full: {lines}"
            assert len(lines) == 1 and "writing to standard output" in lines[0] and \
                "No space left on device" in lines[0], (tool, args + extra, lines)
        rc, lines = _ends_on_full_output(tool, ["--help"], None)
        assert rc == 1 and len(lines) == 1 and "No space left" in lines[0], (tool, rc, lines)


def test_drain_on_ctrl_c():
    """Ctrl-C right after the workload: every event it caused is printed before the tool
    exits (the harness relies on this instead of waiting), ring buffer and perf buffer."""
    code = ("import os, sys\nsys.stdin.readline()\n"
            "for i in range(3000):\n    os.close(os.open('/etc/hostname', os.O_RDONLY))\n")
    for env in (None, dict(os.environ, CORESCOPE_EVENTS="perf")):
        work = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE)
        try:
            t = Tool("opensnoop", "-j", "-p", work.pid, env=env).start()
            work.communicate(b"go\n", timeout=60)
            t.stop()
        finally:
            work.kill()
            work.wait()
        assert t.rc == 0, t.err
        ev = [e for e in t.json() if e.get("path") == "/etc/hostname"]
        assert len(ev) == 3000 and "lost" not in t.err, (len(ev), t.err)
