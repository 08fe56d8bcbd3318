"""Shared helpers for the integration tests: run a real tool against this kernel, drive a
workload the test controls, and read the tool's output (text or JSON lines)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import kfentry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"), "bin")

_running = []
# tests/run.py: how much slower than a host this machine is (a qemu TCG guest): waits grow.
TIMEOUT_SCALE = float(os.environ.get("CORESCOPE_TIMEOUT_SCALE", "1"))
# Set by tests/vm/vm.py: the kernel runs under qemu's TCG emulation, where the clock of
# timer-driven perf events (cpu-clock) falls behind the wall clock, so sampling rates are
# compared with perf's at the same time, not with seconds x frequency.
TCG = os.environ.get("CORESCOPE_TCG") == "1"


class Skip(Exception):
    pass


def require_bpf():
    if os.geteuid() != 0:
        raise Skip("integration tests need root (BPF)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise Skip("no kernel BTF at /sys/kernel/btf/vmlinux")


def tool_path(name):
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path} is not built (run make)")
    return path


class Tool:
    """A tool running in the background until stop(): start() returns once it printed its
    'Tracing ...' line on stderr (it is attached), stop() sends SIGINT and collects output."""

    def __init__(self, name, *args, env=None, ready=True, cwd=None):
        self.argv = [tool_path(name)] + [str(a) for a in args]
        self.env = env
        self.wait_ready = ready
        self.cwd = cwd
        self.proc = None
        self.rc = None
        self.out = ""
        self.err = ""
        self._validated = False

    def start(self, timeout=15):
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        _running.append(self)
        if not self.wait_ready:
            return self
        deadline = time.monotonic() + timeout * TIMEOUT_SCALE
        while time.monotonic() < deadline:
            # pread, not seek+read: the child shares this file's offset, and a seek(0)
            # between its writes would make it overwrite what it wrote first.
            fd = self._err.fileno()
            text = os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")
            if "Hit Ctrl-C to end" in text:
                _attach_log_note(self.argv[0], self.proc.pid)
                return self
            if self.proc.poll() is not None:
                self._collect()
                raise AssertionError(f"{self.argv} exited {self.rc} before attaching: "
                                     f"{self.err.strip()}")
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"{self.argv} did not attach within {timeout}s: {self.err}")

    def _collect(self):
        self._validated = False
        self.rc = self.proc.returncode
        self._out.seek(0)
        self._err.seek(0)
        self.out = self._out.read().decode(errors="surrogateescape")
        self.err = self._err.read().decode(errors="replace")

    def wait(self, timeout=30):
        """Waits for the tool to end by itself (count or duration reached)."""
        self.proc.wait(timeout=timeout)
        self._collect()
        return self

    def stop(self, sig=signal.SIGINT, timeout=10):
        if self.proc.poll() is None:
            # No wait before the signal: a tool drains its event buffer completely after
            # Ctrl-C (batched events included) before it exits, and test_drain_on_ctrl_c
            # checks that.
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.argv} ignored signal {sig}")
        self._collect()
        if self in _running:
            _running.remove(self)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc):
        self.stop()
        # A tool stopped by Ctrl-C exits 0; under SANITIZE=1 a leak or UB report makes it fail.
        if exc_type is None:
            assert self.rc == 0, f"{self.argv} exited {self.rc}: {self.err[-2000:]}"
            assert "Sanitizer" not in self.err and "runtime error" not in self.err, self.err

    def json(self):
        """The records, less the count of events that arrived after the stop (the tool counts
        rather than prints them: background activity, not the test's workload). Every record
        is first validated against the tool's JSON Schema (docs/schema/), so each mode a test
        runs with -j is checked, not only the default one."""
        records = json_lines(self.out)
        if not self._validated:
            import schema
            schema.validate(os.path.basename(self.argv[0]), records)
            self._validated = True
        return [e for e in records if set(e) != {"unread_events"}]

    def lines(self):
        return self.out.splitlines()


# With CORESCOPE_ATTACH_LOG=FILE, each passing test appends one JSON line per tool it ran
# (kernel release, test, tool, the kinds of BPF programs the tool had attached), from which
# tests/vm/matrix.py builds docs/portability.md: which attach paths a test exercised where.
_attach_seen = []
# Program kinds by ELF section prefix, as libbpf names them.
_SECTION_KINDS = [("tp_btf/", "tp_btf"), ("fentry/", "fentry"), ("fexit/", "fexit"),
                  ("kprobe/", "kprobe"), ("kretprobe/", "kprobe"), ("tracepoint/", "tracepoint"),
                  ("tp/", "tracepoint"), ("raw_tp/", "raw_tp"), ("raw_tracepoint/", "raw_tp"),
                  ("perf_event", "perf_event")]
_prog_kinds_cache = {}


def _prog_kinds(tool):
    """{program name (15 chars, as the kernel keeps it): kind} from the tool's object, read
    with binutils' readelf (in every root a guest runs on, unlike llvm-objdump)."""
    if tool not in _prog_kinds_cache:
        obj = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"), tool + ".bpf.o")
        sections = {}
        for line in subprocess.run(["readelf", "-SW", obj], capture_output=True,
                                   text=True).stdout.splitlines():
            m = re.match(r"^\s*\[\s*(\d+)\]\s+(\S+)", line)
            if m:
                sections[m.group(1)] = m.group(2)
        kinds = {}
        for line in subprocess.run(["readelf", "-sW", obj], capture_output=True,
                                   text=True).stdout.splitlines():
            f = line.split()
            if len(f) == 8 and f[3] == "FUNC":
                section, name = sections.get(f[6], ""), f[7]
                for prefix, kind in _SECTION_KINDS:
                    if section.startswith(prefix):
                        kinds[name[:15]] = kind
        _prog_kinds_cache[tool] = kinds
    return _prog_kinds_cache[tool]


def _bpf_prog_name(prog_id):
    """The name of BPF program prog_id (BPF_PROG_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    nr_bpf = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
    attr = ctypes.create_string_buffer(128)
    ctypes.c_uint32.from_buffer(attr, 0).value = prog_id
    fd = libc.syscall(nr_bpf, 13, attr, 128)  # BPF_PROG_GET_FD_BY_ID
    if fd < 0:
        return None
    try:
        info = ctypes.create_string_buffer(256)  # struct bpf_prog_info: name[16] at 64
        attr = ctypes.create_string_buffer(128)
        ctypes.c_uint32.from_buffer(attr, 0).value = fd
        ctypes.c_uint32.from_buffer(attr, 4).value = len(info)
        ctypes.c_uint64.from_buffer(attr, 8).value = ctypes.addressof(info)
        if libc.syscall(nr_bpf, 15, attr, 128) < 0:  # BPF_OBJ_GET_INFO_BY_FD
            return None
        return info.raw[64:80].split(b"\0")[0].decode(errors="replace")
    finally:
        os.close(fd)


def _attach_log_note(path, pid):
    if not os.environ.get("CORESCOPE_ATTACH_LOG"):
        return
    tool = os.path.basename(path)
    kinds = _prog_kinds(tool)
    # The programs the tool holds: its fds' fdinfo names their ids (progs and links alike).
    ids = set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            pass
    # Names by id through bpf(2) itself: running bpftool here would show up as an exec in
    # execsnoop's own output.
    seen = set()
    for prog_id in ids:
        name = _bpf_prog_name(prog_id)
        if name in kinds:
            seen.add(kinds[name])
    if seen:
        _attach_seen.append((tool, sorted(seen)))


def attach_log_begin():
    _attach_seen.clear()


def attach_log_commit(test):
    path = os.environ.get("CORESCOPE_ATTACH_LOG")
    if not path or not _attach_seen:
        return
    release = os.uname().release
    with open(path, "a") as f:
        for tool, kinds in _attach_seen:
            f.write(json.dumps({"kernel": release, "arch": os.uname().machine, "test": test,
                                "tool": tool, "kinds": kinds}) + "\n")
    _attach_seen.clear()

# ---- Attach kinds: what this kernel offers, found without asking the tools ----
#
# A tool test that should hold whichever attach point a tool uses is written once and run
# with each kind (each_attach_kind): on a kernel that offers the kind, with the same exact
# assertions; on one that lacks it, the tool must refuse it in one exact line. Nothing skips.

_offers = {}


def _kernel_at_least(major, minor):
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= (major, minor)


def _tracefs_dir():
    with open("/proc/mounts") as f:
        dirs = {l.split()[1] for l in f if l.split()[2] == "tracefs"}
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if d in dirs:
            return d
    return None


def _btf_has(name):
    """Is name a string of the kernel's BTF (a btf_trace_* typedef, a function)?"""
    if "btf" not in _offers:
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            _offers["btf"] = f.read()
    return b"\0" + name.encode() + b"\0" in _offers["btf"]


def kernel_fentry(func="vfs_read"):
    """(offered, why not): whether an fentry program on func attaches, asked of the kernel
    with bpf(2) directly (kfentry.py); some kernels load fentry programs they cannot
    attach."""
    key = "fentry:" + func
    if key not in _offers:
        _offers[key] = kfentry.fentry_attaches(func)
    return _offers[key]


def kernel_kprobes():
    """The kernel's kprobe PMU (4.17+) or tracefs's kprobe_events: exactly with CONFIG_KPROBES."""
    if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
        return True
    d = _tracefs_dir()
    return bool(d) and os.path.exists(os.path.join(d, "kprobe_events"))


def kernel_offers(kind, tp=None, funcs=()):
    """(offered, the reason a tool gives when it is not) for one attach kind on this kernel:
    tp is the tracepoint "category:name" (tp_btf and raw_tp use the name), funcs the kernel
    functions of the fentry/kprobe variant."""
    cat, _, name = (tp or ":").partition(":")
    if kind == "tp_btf":
        return _btf_has("btf_trace_" + name), \
            f"no BTF-typed tracepoint {name} (needs Linux 5.5+ with BTF)"
    if kind == "raw_tp":
        return _kernel_at_least(4, 17), f"no raw tracepoint {name} (needs Linux 4.17+)"
    if kind == "tracepoint":
        with open("/proc/filesystems") as f:
            mountable = any(l.split()[-1] == "tracefs" for l in f if l.strip())
        return bool(_tracefs_dir()) or mountable, \
            "tracefs is not mounted and could not be mounted"
    missing = [fn for fn in funcs if not _btf_has(fn)]
    if missing:
        return False, f"no kernel function {missing[0]}"
    if kind == "fentry":
        return kernel_fentry(funcs[0])[0], f"fentry on {funcs[0]} is refused by this kernel"
    if kind == "kprobe":
        return kernel_kprobes(), "kprobes are not available (CONFIG_KPROBES)"
    raise ValueError(kind)


def kernel_cycles():
    """Does the CPU count cycles for perf (a hardware PMU)? perf stat is the oracle."""
    if "cycles" not in _offers:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "cycles", "--", "true"],
                           capture_output=True, text=True, timeout=60)
        last = (p.stderr.strip().splitlines() or [""])[-1]
        _offers["cycles"] = p.returncode == 0 and last.split(",")[0].isdigit()
    return _offers["cycles"]


def each_variant(tool, option, variants, offers, refuse_args=()):
    """Decorates test(variant): defines test_<name>_with_<variant> for each variant (dashes
    become underscores) in the caller's module. offers(variant) gives (offered, reason):
    where offered, the test runs with the variant; where not, `tool OPTION VARIANT
    *refuse_args` must exit 1 with exactly one line on stderr, "TOOL: OPTION VARIANT: not
    possible here: REASON", and nothing on stdout (a reason ending in "(" is a prefix: the
    rest is the kernel's error)."""
    def define(fn):
        for variant in variants:
            def test(variant=variant):
                offered, why = offers(variant)
                if offered:
                    fn(variant)
                    return
                p = run(tool, option, variant, *refuse_args)
                want = f"{tool}: {option} {variant}: not possible here: {why}"
                lines = p.stderr.splitlines()
                ok = (p.returncode, len(lines), p.stdout) == (1, 1, "") and \
                    (lines[0].startswith(want) if why.endswith("(") else lines[0] == want)
                assert ok, (tool, option, variant, p.returncode, p.stderr, p.stdout, want)
            test.__name__ = f"{fn.__name__}_with_{variant.replace('-', '_')}"
            # Listed where the decorated test is (tests/run.py orders by line).
            test.__code__ = test.__code__.replace(co_firstlineno=fn.__code__.co_firstlineno)
            fn.__globals__[test.__name__] = test
        return None
    return define


def each_attach_kind(tool, kinds, refuse_args=(), **point):
    """each_variant over `--attach KIND`, as far as kernel_offers(KIND, **point) says."""
    return each_variant(tool, "--attach", kinds, lambda k: kernel_offers(k, **point),
                        refuse_args)


def shell_traced(tool_cmd, workload):
    """A sh script for places a Tool cannot reach (another mount or network namespace): runs
    tool_cmd in the background, waits for its ready line, runs the workload, stops the tool
    with Ctrl-C and exits with its status; the tool's stderr follows on stderr."""
    return ("err=$(mktemp); " + tool_cmd + " 2>$err & tool=$!; i=0; "
            "until grep -q 'Hit Ctrl-C to end' $err; do "
            "i=$((i+1)); [ $i -gt 400 ] && break; kill -0 $tool 2>/dev/null || break; "
            "sleep 0.05; done; " + workload + "; kill -INT $tool; wait $tool; rc=$?; "
            "cat $err >&2; rm -f $err; exit $rc")


def cleanup_all():
    for t in list(_running):
        try:
            t.stop(sig=signal.SIGKILL)
        except Exception:  # noqa: BLE001 - best effort at test end
            pass
    _running.clear()


def run(name, *args, timeout=30, **kw):
    """Runs a tool to completion; returns CompletedProcess with text output."""
    return subprocess.run([tool_path(name)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, errors="surrogateescape", **kw)


def json_lines(text):
    """Every line must be one JSON object (NDJSON)."""
    out = []
    for i, line in enumerate(text.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"line {i + 1} is not JSON ({e}): {line!r}")
        assert isinstance(obj, dict), f"line {i + 1} is not an object: {line!r}"
        out.append(obj)
    return out


def assert_usage_error(name, *args, expect_rc=2, contains=None):
    """A bad command line: exit status expect_rc and exactly one line on stderr."""
    p = run(name, *args)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == expect_rc, f"{name} {args}: exit {p.returncode}, want {expect_rc}: {p.stderr}"
    assert len(lines) == 1, f"{name} {args}: want one stderr line, got {lines}"
    assert p.stdout == "", f"{name} {args}: stdout should be empty: {p.stdout!r}"
    if contains:
        assert contains in lines[0], f"{name} {args}: {lines[0]!r} lacks {contains!r}"
    return lines[0]


def bpf_progs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"]: p.get("name", "") for p in json.loads(out.stdout or "[]")}


def bpf_prog_ids():
    return set(bpf_progs())


def leftover_progs(before, tool):
    """Programs loaded since `before` (a bpf_prog_ids() set) that are the tool's own, by
    name: other BPF users on the machine may come and go meanwhile."""
    obj = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"), tool + ".bpf.o")
    names = set()
    out = subprocess.run(["bpftool", "-j", "btf", "dump", "file", obj], capture_output=True,
                         text=True)
    for t in json.loads(out.stdout or '{"types": []}').get("types", []):
        if t.get("kind") == "FUNC":
            names.add(t["name"][:15])
    return {i: n for i, n in bpf_progs().items() if i not in before and n in names}


def wait_for(pred, timeout=5, interval=0.05):
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def promtool_check(path):
    """promtool (Debian's prometheus) accepts the OpenMetrics file at path."""
    if not shutil.which("promtool"):
        raise Skip("promtool not installed (Debian package prometheus)")
    with open(path) as f:
        p = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True,
                           text=True, timeout=30)
    assert p.returncode == 0, f"promtool check metrics {path}:\n{p.stdout}{p.stderr}"
