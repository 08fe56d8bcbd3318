#!/usr/bin/env python3
"""`make bench`: what each corescope tool costs, measured in one run against doing nothing,
against empty BPF programs on the same hooks (the floor) and against bpftrace.

Per scenario (a workload in tests/bench/workload.c that generates one kind of event as fast as
this machine allows) and per configuration:

    none, none2   no tracer (none2 is an A/A control: its "added cost" is the noise)
    floor         empty programs on the tool's hooks (tests/bench/floor.bpf.c)
    tool          the corescope tool, default mode, JSON lines to a file
    bpftrace      bpftrace's equivalent (/usr/sbin/*.bt or tests/bench/*.bt) to a file

Every round runs every configuration of every scenario once, in an order rotated by round,
so drift of the host (this VM kind moves by up to +-40 %) spreads over all configurations.
Reported: median loop time per configuration, added ns per event = (median(config) -
median(none)) / timed events, the same from per-round paired differences (with their IQR),
ratios to the floor and to bpftrace, events delivered versus generated (for the workload's
own pid) and lost counts. Then, per tool: time from spawn to its "Hit Ctrl-C to end" line
(median of START_RUNS starts), peak RSS (VmHWM just before stopping) and kernel map memory
(sum of the memlock of the maps its fds hold, as `bpftool map` reports bytes_memlock); and
profile's CPU cost at 49 and 99 Hz when build/bin/profile exists.

Prints a table on stdout, progress on stderr, and writes build/bench.json. Needs root.
BENCH_QUICK=1: a ~1-minute smoke run (fewer rounds, smaller loops). Tools not built are
reported as missing. Environment from the Makefile: CORESCOPE_BUILD, CC, CLANG, BPF_CFLAGS.
"""
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "bench")
BUILD = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"))
BIN = os.path.join(BUILD, "bin")
BENCH_BIN = os.path.join(BUILD, "bench")
OUT_JSON = os.environ.get("BENCH_JSON", os.path.join(BUILD, "bench.json"))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
# A focused run: BENCH_ONLY=dio,open,startup runs only those scenarios (and the start-up or
# profile phase only when named), to measure one change before and after without the whole
# run; BENCH_BASE=DIR adds the same tools from another build (DIR holds their binaries, e.g.
# the build/bin of a worktree at the commit before the change) as configuration "base",
# interleaved with everything else.
ONLY = [x for x in os.environ.get("BENCH_ONLY", "").split(",") if x]
BASE_BIN = os.environ.get("BENCH_BASE") or None
# The compact summary that docs/performance.md's tables are generated from (committed with
# the run it describes); a quick run's goes to the build directory, a focused run's to
# bench-focused.json (docs/performance.md's before/after section, by perfdoc.py).
SUMMARY_JSON = os.environ.get("BENCH_SUMMARY", os.path.join(
    BUILD if QUICK else os.path.join(ROOT, "docs"),
    "bench-focused.json" if ONLY else "bench-summary.json"))

# BENCH_ROUNDS overrides (a loaded machine makes a full run long: say how many in the doc).
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or (2 if QUICK else 6))
STATS_RUNS = 1 if QUICK else 2
START_RUNS = int(os.environ.get("BENCH_START_RUNS") or (3 if QUICK else 10))
BT_START_RUNS = 1 if QUICK else 3
# Timed iterations per workload run; the workload adds N/10 untimed warm-up iterations.
# Chosen so one bare run takes ~0.2-0.5 s here (quick: a fifth of that).
ITERS = {"open": 300000, "exec": 600, "connect": 40000, "dio": 80000, "rw": 250000}
if QUICK:
    ITERS = {k: max(v // 5, 100) for k, v in ITERS.items()}
SPIN_ITERS = 200_000_000 if QUICK else 600_000_000
PROFILE_FREQS = (49, 99)
PROFILE_ROUNDS = 1 if QUICK else 5

# Before a run, wait at most this long for other people's tracers to end.
QUIET_WAIT_S = 0 if QUICK else 1.0
GAP_S = 0.1        # idle time between a tracer's attach (or nothing) and the workload
SETTLE_S = 0.3     # after the workload, before SIGINT: batched events arrive within 100 ms
TRACER_START_TIMEOUT = 30

# Targets of issue #7.
TARGET_START_MS = 25.0                # only where libbpf-tools has no counterpart running here
TARGET_RSS_BYTES = 5_000_000          # "5 MB" (issue #15); also shown against 5 MiB
TARGET_STOP_MS = 100.0
TARGET_MAP_BYTES = 4_000_000          # "4 MB"; also shown against 4 MiB
TARGET_FLOOR_RATIO = 2.0
TARGET_BPFTRACE_RATIO = 0.5

BPF_MAP_TYPE_STACK_TRACE = 7

TOOLS = ["opensnoop", "execsnoop", "tcpconnlat", "biolatency", "filetop", "tcpretrans",
         "profile"]

# Hooks each tool attaches to on this kind of kernel (no kprobes, no fentry), from its
# bpf/*.bpf.c SEC() names and its -v output; `expect` must appear in that -v output, or the
# floor is not on the tool's hooks any more and the run says so.
RW_SYSCALLS = ["read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
               "preadv2", "pwritev2"]
# This architecture's syscall numbers (the floor's sys_exit filter, as the tools' own).
SYSCALL_NR = {
    "x86_64": {"open": 2, "openat": 257, "openat2": 437, "read": 0, "write": 1, "pread64": 17,
               "pwrite64": 18, "readv": 19, "writev": 20, "preadv": 295, "pwritev": 296,
               "preadv2": 327, "pwritev2": 328},
    "aarch64": {"openat": 56, "openat2": 437, "read": 63, "write": 64, "pread64": 67,
                "pwrite64": 68, "readv": 65, "writev": 66, "preadv": 69, "pwritev": 70,
                "preadv2": 286, "pwritev2": 287},
}.get(platform.machine(), {})


def nrs(names):
    return ["nr:%d" % SYSCALL_NR[n] for n in names if n in SYSCALL_NR]


FLOOR = {
    "open": ["raw_tp:sys_exit"] + nrs(["open", "openat", "openat2"]),
    "exec": ["raw_tp:sched_process_exec"],
    "connect": ["raw_tp:inet_sock_set_state"],
    "dio": ["raw_tp:block_rq_issue", "raw_tp:block_rq_complete"],
    "rw": ["raw_tp:sys_exit"] + nrs(RW_SYSCALLS),
}
# The floor plus one ring buffer record per event of the size the tool sends (record:N is
# added from tests/bench/sizes.c), for the tools that send every event to user space.
RING_FLOOR = {
    "open": ["ring:sys_exit"] + nrs(["open", "openat", "openat2"]),
    "exec": ["ring:sched_process_exec"],
    "connect": ["ring:inet_sock_set_state"],
}
EXPECT_ATTACH = {
    "opensnoop": "raw tracepoint sys_exit",
    "execsnoop": "raw tracepoint sched_process_exec",
    "tcpconnlat": "raw_tp sock:inet_sock_set_state",
    "biolatency": "raw_tp block_rq_{issue,complete}",
    "filetop": "raw tracepoint sys_exit",
}
# Debian's libbpf-tools package (bookworm 0.26), where its tool runs on this kernel: the
# number of BPF links it holds once attached (it prints nothing unbuffered to wait for).
LBT_LINKS = {"opensnoop": 2, "execsnoop": 2, "biolatency": 2}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else None


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


# ---------------------------------------------------------------- process measurements

def proc_cpu_ns(pid):
    """CPU time of all threads of pid (schedstat, ns), or None once it is gone."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    return total


def proc_status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_bpf_links(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:bpf_link":
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def proc_maps_memlock(pid):
    """Kernel memory of the BPF maps pid holds: memlock from each map fd's fdinfo (the value
    `bpftool map show` reports as bytes_memlock), each map counted once. Returns
    (total bytes, bytes in stack trace maps, [(name-less map id, type, bytes)])."""
    seen = {}
    fddir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return None, None, []
    for fd in fds:
        try:
            if os.readlink(os.path.join(fddir, fd)) != "anon_inode:bpf-map":
                continue
            info = {}
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
            map_id = int(info.get("map_id", -int(fd)))
            seen[map_id] = (int(info.get("map_type", -1)), int(info.get("memlock", 0)),
                            int(info.get("max_entries", 0)))
        except (OSError, ValueError):
            continue
    total = sum(v[1] for v in seen.values())
    stack = sum(v[1] for v in seen.values() if v[0] == BPF_MAP_TYPE_STACK_TRACE)
    return total, stack, [(k, v[0], v[1], v[2]) for k, v in sorted(seen.items())]


def proc_progs(pid):
    """The BPF programs pid holds: {prog_id: (run_time_ns, run_cnt, recursion_misses)} from
    fdinfo (time and count only while BPF run-time statistics are enabled; recursion_misses,
    runs the kernel skipped because a program was already running on that CPU, always)."""
    progs = {}
    fddir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return progs
    for fd in fds:
        try:
            if os.readlink(os.path.join(fddir, fd)) != "anon_inode:bpf-prog":
                continue
            info = {}
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
            progs[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)),
                                           int(info.get("run_cnt", 0)),
                                           int(info.get("recursion_misses", 0)))
        except (OSError, ValueError, KeyError):
            continue
    return progs


def prog_names():
    p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    try:
        return {x["id"]: x.get("name", "") for x in json.loads(p.stdout or "[]")}
    except ValueError:
        return {}


def bpf_enable_stats():
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): run-time statistics for every program while the
    returned fd stays open (nothing global is left behind if this process dies). None if the
    kernel refuses."""
    import ctypes
    nr = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(8)     # type = BPF_STATS_RUN_TIME (0)
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_int(32), attr, ctypes.c_uint(8))
    return fd if fd >= 0 else None


def other_tracers(own_pids):
    """Tracers not started by this run (other people's tests on the same machine): they put
    hooks on the system that every configuration then pays for."""
    names = set(TOOLS) | {"bpftrace", "floor"}
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own_pids:
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in names:
            found.append("%s:%s" % (comm, d))
    return found


# ---------------------------------------------------------------- a tracer in the background

class Tracer:
    """A tool, the floor or bpftrace, started in the background. start() returns once the
    ready marker is in its stderr (tools, floor) or stdout (bpftrace) file; stop() samples
    memory and CPU, sends SIGINT and collects the output."""

    def __init__(self, label, argv, marker, marker_in="err", workdir=None):
        self.label = label
        self.argv = argv
        self.marker = marker.encode()
        self.marker_in = marker_in
        self.workdir = workdir
        self.proc = None
        self.ready_ms = None
        self.rc = None
        self.out = b""
        self.err = b""
        self.sample = {}
        self.stop_ms = None

    def start(self, timeout=TRACER_START_TIMEOUT, poll_s=0.0005):
        # The files mkstemp made, not reopened with O_TRUNC: on ext4 a truncated file's last
        # close starts the writeback of all it holds (auto_da_alloc), tens of ms after a
        # benchmark run that the stop time would count (a shell's `> existing-file` does the
        # same to a user's tracer).
        fd, self.out_path = tempfile.mkstemp(prefix="out-", dir=self.workdir)
        out = os.fdopen(fd, "wb")
        fd, self.err_path = tempfile.mkstemp(prefix="err-", dir=self.workdir)
        err = os.fdopen(fd, "wb")
        watch = self.err_path if self.marker_in == "err" else self.out_path
        t0 = time.monotonic_ns()
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                     stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        path = watch
        deadline = time.monotonic() + timeout
        with open(path, "rb") as f:
            while True:
                if self.marker_in.startswith("links:"):
                    ready = proc_bpf_links(self.proc.pid) >= int(self.marker_in[6:])
                else:
                    ready = self.marker in os.pread(f.fileno(), 1 << 20, 0)
                if ready:
                    self.ready_ms = (time.monotonic_ns() - t0) / 1e6
                    return self
                if self.proc.poll() is not None:
                    self._collect()
                    raise RuntimeError("%s exited %s before attaching: %s" % (
                        self.label, self.rc, self.err.decode(errors="replace").strip()[-500:]))
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("%s did not attach within %ss" % (self.label, timeout))
                time.sleep(poll_s)

    def take_sample(self):
        pid = self.proc.pid
        total, stack, maps = proc_maps_memlock(pid)
        self.sample = {
            "vmhwm_kb": proc_status_kb(pid, "VmHWM"),
            "vmrss_kb": proc_status_kb(pid, "VmRSS"),
            "map_bytes": total,
            "stack_map_bytes": stack,
            "maps": maps,
            "cpu_ns": proc_cpu_ns(pid),
            "progs": proc_progs(pid),
        }
        return self.sample

    def stop(self, settle=SETTLE_S, timeout=20):
        if self.proc.poll() is None:
            time.sleep(settle)
            self.take_sample()
            t0 = time.monotonic_ns()
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
                self.stop_ms = (time.monotonic_ns() - t0) / 1e6
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._collect()
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._collect()

    def _collect(self):
        self.rc = self.proc.returncode
        for attr, path in (("out", self.out_path), ("err", self.err_path)):
            try:
                with open(path, "rb") as f:
                    setattr(self, attr, f.read())
                os.unlink(path)
            except OSError:
                pass


# ---------------------------------------------------------------- event counting

def count_json(text, wpid, field="pid"):
    """JSON lines whose `field` is wpid, and the tool's own lost count."""
    key = b'"%s":%d' % (field.encode(), wpid)
    n = 0
    lost = 0
    for line in text.splitlines():
        if key in line:
            try:
                if json.loads(line).get(field) == wpid:
                    n += 1
            except ValueError:
                pass
        elif line.startswith(b'{"lost_events"'):
            lost += json.loads(line)["lost_events"]
    return n, lost


def count_json_pids(text, pids):
    """JSON lines whose pid is in pids (exec: the workload's children)."""
    n = 0
    lost = 0
    for line in text.splitlines():
        if line.startswith(b'{"lost_events"'):
            lost += json.loads(line)["lost_events"]
            continue
        m = re.search(rb'"pid":(\d+)', line)
        if m and int(m.group(1)) in pids:
            if json.loads(line).get("pid") in pids:
                n += 1
    return n, lost


def count_field_in(text, index, pids):
    n = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > index and parts[index].isdigit() and int(parts[index]) in pids:
            n += 1
    return n


def count_first_field(text, wpid):
    w = str(wpid).encode()
    n = 0
    for line in text.splitlines():
        parts = line.split(None, 1)
        if parts and parts[0] == w:
            n += 1
    return n


def count_filetop(text, wpid):
    n = 0
    lost = 0
    for line in text.splitlines():
        if b'"pid":%d' % wpid in line:
            o = json.loads(line)
            if o.get("pid") == wpid:
                n += o.get("reads", 0) + o.get("writes", 0)
        elif line.startswith(b'{"lost_events"'):
            lost += json.loads(line)["lost_events"]
    return n, lost


def count_biolatency(text):
    n = 0
    lost = 0
    for line in text.splitlines():
        if not line.startswith(b"{"):
            continue
        o = json.loads(line)
        if "count" in o:
            n += o["count"]
        lost += o.get("lost_events", 0)
    return n, lost


def bt_lost(*texts):
    return sum(int(m) for t in texts for m in re.findall(rb"Lost (\d+) events", t))


def tool_lost_stderr(err):
    return sum(int(m) for m in re.findall(rb"(\d+) events lost", err))


# ---------------------------------------------------------------- the scenarios

class Env:
    """Files and devices the workloads use; removed by cleanup()."""

    def __init__(self):
        self.shm = tempfile.mkdtemp(prefix="corescope-bench-", dir="/dev/shm")
        # Tracer output goes to a disk-backed file system (as a user's file would).
        self.work = tempfile.mkdtemp(prefix="corescope-bench-", dir=BUILD)
        self.open_path = os.path.join(self.shm, "o")
        open(self.open_path, "w").close()
        self.rw_path = os.path.join(self.shm, "rw")
        self.loop_dev = None
        self.loop_img = os.path.join(self.shm, "loop.img")

    def setup_loop(self):
        with open(self.loop_img, "wb") as f:
            f.truncate(64 << 20)
        p = subprocess.run(["losetup", "-f", "--show", self.loop_img], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise RuntimeError("losetup: " + p.stderr.strip())
        self.loop_dev = p.stdout.strip()
        if shutil.which("udevadm"):
            subprocess.run(["udevadm", "settle", "-t", "5"], capture_output=True)
        # One pass over the device, so no measured run is the first to touch it.
        subprocess.run([os.path.join(BENCH_BIN, "workload"), "dio", str(16384), self.loop_dev],
                       capture_output=True)
        st = os.stat(self.loop_dev)
        # The block tracepoints' dev_t: (major << 20) | minor.
        self.loop_tp_dev = (os.major(st.st_rdev) << 20) | os.minor(st.st_rdev)

    def cleanup(self):
        if self.loop_dev:
            subprocess.run(["losetup", "-d", self.loop_dev], capture_output=True)
            self.loop_dev = None
        shutil.rmtree(self.shm, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


def scenario_defs(env):
    bt = shutil.which("bpftrace")
    loopname = os.path.basename(env.loop_dev) if env.loop_dev else None
    return [
        {
            "name": "open", "tool": "opensnoop", "tool_args": ["-j"],
            "what": "openat+close loop",
            "workload": lambda n, w: ["open", str(n), env.open_path],
            "tool_count": lambda out, w: count_json(out, w["pid"]),
            "bt": bt and {"argv": [bt, "/usr/sbin/opensnoop.bt"], "marker": "Hit Ctrl-C",
                          "desc": "opensnoop.bt"},
            "bt_count": lambda out, w: count_first_field(out, w["pid"]),
            "lbt": lbt("opensnoop", []),
            "lbt_count": lambda out, w: count_first_field(out, w["pid"]),
            "record": lambda: SIZES["open"] + len(env.open_path) + 1,
        },
        {
            "name": "exec", "tool": "execsnoop", "tool_args": ["-j"],
            "what": "fork+exec loop (static binary)",
            "workload": lambda n, w: ["exec", str(n), w["marker"], w["pidfile"]],
            "tool_count": lambda out, w: count_json_pids(out, w["child_pids"]),
            "bt": bt and {"argv": [bt, "/usr/sbin/execsnoop.bt"], "marker": "TIME(ms)",
                          "desc": "execsnoop.bt"},
            "bt_count": lambda out, w: count_field_in(out, 1, w["child_pids"]),
            # Events that carry the arguments (the marker is the children's last argument).
            "complete": lambda out, w: sum(1 for ln in out.splitlines()
                                           if w["marker"].encode() in ln and b"nop" in ln),
            "lbt": lbt("execsnoop", []),
            "lbt_count": lambda out, w: count_field_in(out, 1, w["child_pids"]),
            # "workload\0nop\0" and the marker ("csbench<pid>r<round>n<seq>e\0").
            "record": lambda: SIZES["exec"] + 13 + 22,
        },
        {
            "name": "connect", "tool": "tcpconnlat", "tool_args": ["-j"],
            "what": "loopback connect+accept loop",
            "workload": lambda n, w: ["connect", str(n)],
            "tool_count": lambda out, w: count_json(out, w["pid"]),
            "record": lambda: SIZES["connect"],
            "bt": bt and {"argv": [bt, os.path.join(HERE, "tcpconnlat.bt")],
                          "marker": "Hit Ctrl-C", "desc": "tests/bench/tcpconnlat.bt"},
            "bt_count": lambda out, w: count_first_field(out, w["pid"]),
        },
        {
            "name": "dio", "tool": "biolatency", "tool_args": ["-j", "-d", loopname or "-"],
            "what": "4 KiB O_DIRECT reads of a loop device",
            "workload": lambda n, w: ["dio", str(n), env.loop_dev],
            "tool_count": lambda out, w: count_biolatency(out),
            "bt": bt and env.loop_dev and {
                "argv": [bt, os.path.join(HERE, "biolatency.bt"), str(env.loop_tp_dev)],
                "marker": "Hit Ctrl-C", "desc": "tests/bench/biolatency.bt"},
            "bt_count": lambda out, w: sum(int(x) for x in
                                           re.findall(rb"^@ios: (\d+)", out, re.M)),
            "lbt": loopname and lbt("biolatency", ["-d", loopname]),
            "lbt_count": lambda out, w: sum(int(x) for x in re.findall(
                rb"^\s*\d+ -> \d+\s*: (\d+)", out, re.M)),
            "needs_loop": True,
        },
        {
            "name": "rw", "tool": "filetop", "tool_args": ["-j", "-r", "10240"],
            "what": "pwrite+pread 64 B loop (2 events/iteration)",
            "workload": lambda n, w: ["rw", str(n), env.rw_path],
            "tool_count": lambda out, w: count_filetop(out, w["pid"]),
            "bt": bt and {"argv": [bt, os.path.join(HERE, "filetop.bt")],
                          "marker": "Hit Ctrl-C", "desc": "tests/bench/filetop.bt"},
            # Only the workload's file (fd 3 up; not the line it prints on its stdout pipe).
            "bt_count": lambda out, w: sum(
                int(c) for p, fd, c in re.findall(rb"^@rw\[(\d+), .*, (-?\d+)\]: (\d+)$",
                                                  out, re.M)
                if int(p) == w["pid"] and int(fd) > 2),
        },
    ]


SIZES = {}


def lbt(name, args):
    """Debian's libbpf-tools version of a tool, where the package is installed."""
    path = "/usr/sbin/" + name
    if name not in LBT_LINKS or not os.access(path, os.X_OK) or subprocess.run(
            ["dpkg-query", "-W", "libbpf-tools"], capture_output=True).returncode != 0:
        return None
    return {"argv": [path] + args, "marker": "", "links": LBT_LINKS[name],
            "desc": "libbpf-tools %s" % name}


def lbt_lost(*texts):
    return sum(int(x) for t in texts for x in re.findall(rb"[Ll]ost (\d+) events", t or b""))


def tool_path(name, bindir=None):
    p = os.path.join(bindir or BIN, name)
    return p if os.access(p, os.X_OK) else None


def run_workload(args, w=None):
    """Runs the workload to its end; fills w (or a new dict) with its pid and results."""
    w = {} if w is None else w
    argv = [os.path.join(BENCH_BIN, "workload")] + args
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("workload %s failed: %s" % (" ".join(args), err.decode().strip()))
    fields = dict(kv.split("=", 1) for kv in out.decode().split())
    w.update(pid=p.pid, elapsed_ns=int(fields["elapsed_ns"]), cpu_ns=int(fields["cpu_ns"]),
             iters=int(fields["iters"]),
             events=int(fields["events"]), warmup=int(fields["warmup"]))
    if w.get("pidfile"):
        with open(w["pidfile"]) as f:
            w["child_pids"] = {int(x) for x in f.read().split()}
        os.unlink(w["pidfile"])
    return w


def make_tracer(scn, config, env):
    if config == "floor":
        return Tracer("floor", [os.path.join(BENCH_BIN, "floor"),
                                os.path.join(BENCH_BIN, "floor.bpf.o")] + FLOOR[scn["name"]],
                      "Hit Ctrl-C to end", "err", env.work)
    if config == "tool":
        return Tracer(scn["tool"], [tool_path(scn["tool"])] + scn["tool_args"],
                      "Hit Ctrl-C to end", "err", env.work)
    if config == "base":
        return Tracer("base " + scn["tool"], [tool_path(scn["tool"], BASE_BIN)]
                      + scn["tool_args"], "Hit Ctrl-C to end", "err", env.work)
    if config == "ring":
        return Tracer("ring", [os.path.join(BENCH_BIN, "floor"),
                               os.path.join(BENCH_BIN, "floor.bpf.o")] + RING_FLOOR[scn["name"]]
                      + ["record:%d" % scn["record"]()], "Hit Ctrl-C to end", "err", env.work)
    if config == "bpftrace":
        return Tracer("bpftrace", scn["bt"]["argv"], scn["bt"]["marker"], "out", env.work)
    if config == "libbpf-tools":
        return Tracer("libbpf-tools", scn["lbt"]["argv"], "", "links:%d" % scn["lbt"]["links"],
                      env.work)
    return None


def wait_quiet(own):
    """Waits (bounded) until no one else's tracer runs; returns the ones still running."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        others = other_tracers(own)
        if not others or time.monotonic() > deadline:
            return others
        time.sleep(0.1)


def config_applies(scn, cfg, built):
    if cfg == "tool":
        return scn["tool"] in built
    if cfg == "base":
        return bool(BASE_BIN and tool_path(scn["tool"], BASE_BIN))
    # A focused run compares before and after: the other tracers only when it names them.
    if cfg in ("bpftrace", "libbpf-tools") and ONLY and cfg not in ONLY:
        return False
    if cfg == "bpftrace":
        return bool(scn.get("bt"))
    if cfg == "libbpf-tools":
        return bool(scn.get("lbt"))
    if cfg == "ring":
        return scn["name"] in RING_FLOOR
    return True


def one_run(scn, config, rnd, env, seq, stats=False):
    w = {"marker": "csbench%dr%dn%de" % (os.getpid(), rnd, seq),
         "pidfile": os.path.join(env.work, "pids-%d" % seq) if scn["name"] == "exec" else None}
    rec = {"scenario": scn["name"], "config": config, "round": rnd}
    if stats:
        rec["stats"] = True
    own = {os.getpid()}
    rec["other_tracers_before"] = wait_quiet(own)
    tracer = make_tracer(scn, config, env)
    if tracer:
        tracer.start()
        own.add(tracer.proc.pid)
        rec["ready_ms"] = tracer.ready_ms
    rec["other_tracers"] = other_tracers(own)
    time.sleep(GAP_S)
    cpu0 = proc_cpu_ns(tracer.proc.pid) if tracer else None
    progs0 = proc_progs(tracer.proc.pid) if tracer else {}
    try:
        run_workload(scn["workload"](ITERS[scn["name"]], w), w)
    except Exception:
        if tracer:
            tracer.kill()
        raise
    rec["other_tracers"] = sorted(set(rec["other_tracers"]) | set(other_tracers(own)))
    rec.update(elapsed_ns=w["elapsed_ns"], cpu_ns=w["cpu_ns"], iters=w["iters"],
               generated=w["events"],
               timed_events=w["iters"] * (w["events"] // (w["iters"] + w["warmup"])),
               workload_pid=w["pid"])
    if tracer:
        cpu1 = proc_cpu_ns(tracer.proc.pid)
        progs1 = proc_progs(tracer.proc.pid)
        rec["recursion_misses"] = sum(v[2] - progs0.get(k, (0, 0, 0))[2]
                                      for k, v in progs1.items())
        if stats:
            # Time inside the tracer's programs while the workload ran (every process's
            # events on those hooks, the workload's being nearly all of them).
            rec.update(kernel_ns=sum(v[0] - progs0.get(k, (0, 0))[0]
                                     for k, v in progs1.items()),
                       kernel_runs=sum(v[1] - progs0.get(k, (0, 0))[1]
                                       for k, v in progs1.items()))
            names = prog_names()
            rec["kernel_progs"] = {
                "%s#%d" % (names.get(k, "?"), k): [v[0] - progs0.get(k, (0, 0))[0],
                                                   v[1] - progs0.get(k, (0, 0))[1]]
                for k, v in progs1.items() if v[1] - progs0.get(k, (0, 0))[1] > 0}
        tracer.stop(settle=0 if config == "floor" else SETTLE_S)
        s = tracer.sample
        rec.update(rc=tracer.rc, vmhwm_kb=s.get("vmhwm_kb"), map_bytes=s.get("map_bytes"),
                   stop_ms=tracer.stop_ms,
                   tracer_cpu_ns=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None
                   else None)
        if tracer.rc != 0:
            rec["error"] = tracer.err.decode(errors="replace").strip()[-300:]
        if config in ("tool", "base"):
            rec["maps"] = s.get("maps")   # [map id, type, memlock bytes, max_entries]
            delivered, lost_json = scn["tool_count"](tracer.out, w)
            rec.update(delivered=delivered,
                       lost=max(lost_json, tool_lost_stderr(tracer.err)))
        elif config == "bpftrace":
            rec.update(delivered=scn["bt_count"](tracer.out, w),
                       lost=bt_lost(tracer.out, tracer.err))
        elif config == "libbpf-tools":
            rec.update(delivered=scn["lbt_count"](tracer.out, w),
                       lost=lbt_lost(tracer.out, tracer.err))
        elif config == "ring":
            m = re.search(rb"floor: (\d+) records", tracer.err)
            rec["records"] = int(m.group(1)) if m else None
        if scn.get("complete") and config in ("tool", "base", "bpftrace"):
            rec["complete"] = scn["complete"](tracer.out, w)
    return rec


# ---------------------------------------------------------------- phases

def build_helpers():
    os.makedirs(BENCH_BIN, exist_ok=True)
    cc = os.environ.get("CC") or "cc"
    clang = os.environ.get("CLANG") or "clang"
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    bpf_cflags = shlex.split(os.environ.get("BPF_CFLAGS", "")) or [
        "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_%s" % arch,
        "-I", os.path.join(ROOT, "vmlinux", arch), "-idirafter",
        "/usr/include/%s-linux-gnu" % platform.machine()]
    steps = [
        ([cc, "-O2", "-Wall", "-Wextra", "-static", os.path.join(HERE, "workload.c"), "-o",
          os.path.join(BENCH_BIN, "workload")], ["workload.c"], "workload"),
        ([clang] + bpf_cflags + ["-c", os.path.join(HERE, "floor.bpf.c"), "-o",
                                 os.path.join(BENCH_BIN, "floor.bpf.o")],
         ["floor.bpf.c"], "floor.bpf.o"),
        ([cc, "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
          os.path.join(HERE, "floor.c"), "-lbpf", "-lelf", "-lz", "-o",
          os.path.join(BENCH_BIN, "floor")], ["floor.c"], "floor"),
        ([cc, "-O2", "-Wall", "-I", os.path.join(ROOT, "bpf"), os.path.join(HERE, "sizes.c"),
          "-o", os.path.join(BENCH_BIN, "sizes")], ["sizes.c"], "sizes"),
    ]
    for argv, srcs, out in steps:
        target = os.path.join(BENCH_BIN, out)
        if os.path.exists(target) and all(
                os.path.getmtime(os.path.join(HERE, s)) <= os.path.getmtime(target)
                for s in srcs):
            continue
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0 and "-static" in argv:
            argv.remove("-static")   # no static libc: a dynamic exec costs more, still fine
            p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("building %s failed:\n%s" % (out, p.stderr))
    out = subprocess.run([os.path.join(BENCH_BIN, "sizes")], capture_output=True,
                         text=True).stdout
    SIZES.update({k: int(v) for k, v in (kv.split("=") for kv in out.split())})


def check_attach_points(built, env):
    """Each tool's -v lines up to attach: the record of the hooks it chose here."""
    res = {}
    for name in built:
        args = ["-v"]
        if name == "biolatency":
            args += ["-d", os.path.basename(env.loop_dev)] if env.loop_dev else []
        t = Tracer(name, [tool_path(name)] + args, "Hit Ctrl-C to end", "err", env.work)
        try:
            t.start()
            t.stop(settle=0)
            lines = [ln for ln in t.err.decode(errors="replace").splitlines()
                     if not ln.startswith("libbpf:") and "Hit Ctrl-C" not in ln]
            exp = EXPECT_ATTACH.get(name)
            res[name] = {"lines": lines,
                         "expected": exp,
                         "floor_matches": (exp in "\n".join(lines)) if exp else None}
        except RuntimeError as e:
            res[name] = {"error": str(e)}
    return res


def tool_default_args(name, env):
    if name == "biolatency" and env.loop_dev:
        return ["-j", "-d", os.path.basename(env.loop_dev)]
    if name == "profile":
        return ["-F", "49"]
    return ["-j"]


def measure_startup(built, env):
    """Spawn to "Hit Ctrl-C to end", idle RSS and map memory: START_RUNS starts per tool,
    tools rotated per round; bpftrace's opensnoop.bt for comparison."""
    starters = [(name, [tool_path(name)] + tool_default_args(name, env), "Hit Ctrl-C to end",
                 "err") for name in built]
    # The same tools from the baseline build, interleaved: before and after in one run.
    starters += [("base " + name, [tool_path(name, BASE_BIN)] + tool_default_args(name, env),
                  "Hit Ctrl-C to end", "err") for name in built
                 if BASE_BIN and tool_path(name, BASE_BIN)]
    # Debian's libbpf-tools, interleaved with the tools: the bar for start-up.
    for name in [n for n in LBT_LINKS if not ONLY or (n in built and "libbpf-tools" in ONLY)]:
        args = ["-d", os.path.basename(env.loop_dev)] if name == "biolatency" and \
            env.loop_dev else []
        x = lbt(name, args)
        if x:
            starters.append(("libbpf-tools " + name, x["argv"], "", "links:%d" % x["links"]))
    runs = {label: [] for label, _, _, _ in starters}
    for rnd in range(START_RUNS):
        k = rnd % len(starters)
        for name, argv, marker, marker_in in starters[k:] + starters[:k]:
            t = Tracer(name, argv, marker, marker_in, env.work)
            try:
                t.start(poll_s=0.0002)
            except RuntimeError as e:
                runs[name].append({"error": str(e)})
                continue
            time.sleep(0.05)
            t.stop(settle=0)
            s = t.sample
            runs[name].append({"ready_ms": t.ready_ms, "vmhwm_kb": s["vmhwm_kb"],
                               "vmrss_kb": s["vmrss_kb"], "map_bytes": s["map_bytes"],
                               "stack_map_bytes": s["stack_map_bytes"], "maps": s["maps"],
                               "stop_ms": t.stop_ms, "rc": t.rc})
    # Calibration: the same measurement of the smallest libbpf loaders (tests/bench/floor.c),
    # without and with the kernel BTF that typed tracepoints and CO-RE make libbpf parse.
    for label, hooks in (("floor, 1 tracepoint", ["tp:syscalls:sys_enter_openat"]),
                         ("floor, 1 tp_btf", ["tp_btf:sched_process_exec"])):
        runs[label] = []
        for _ in range(START_RUNS):
            t = Tracer("floor", [os.path.join(BENCH_BIN, "floor"),
                                 os.path.join(BENCH_BIN, "floor.bpf.o")] + hooks,
                       "Hit Ctrl-C to end", "err", env.work)
            try:
                t.start(poll_s=0.0002)
            except RuntimeError as e:
                runs[label].append({"error": str(e)})
                continue
            time.sleep(0.05)
            t.stop(settle=0)
            s = t.sample
            runs[label].append({"ready_ms": t.ready_ms, "vmhwm_kb": s["vmhwm_kb"],
                                "vmrss_kb": s["vmrss_kb"], "map_bytes": s["map_bytes"],
                                "stack_map_bytes": s["stack_map_bytes"],
                                "stop_ms": t.stop_ms, "rc": t.rc})
    bt = shutil.which("bpftrace") if not ONLY or "bpftrace" in ONLY else None
    if bt:
        runs["bpftrace opensnoop.bt"] = []
        for _ in range(BT_START_RUNS):
            t = Tracer("bpftrace", [bt, "/usr/sbin/opensnoop.bt"], "Hit Ctrl-C", "out",
                       env.work)
            try:
                t.start(poll_s=0.0005)
            except RuntimeError as e:
                runs["bpftrace opensnoop.bt"].append({"error": str(e)})
                continue
            time.sleep(0.05)
            t.stop(settle=0)
            s = t.sample
            runs["bpftrace opensnoop.bt"].append({
                "ready_ms": t.ready_ms, "vmhwm_kb": s["vmhwm_kb"], "vmrss_kb": s["vmrss_kb"],
                "map_bytes": s["map_bytes"], "stack_map_bytes": s["stack_map_bytes"],
                "stop_ms": t.stop_ms, "rc": t.rc})
    return runs


def measure_profile(env):
    """profile's CPU cost over the spin workload at each frequency, once started (its kernel
    symbols loaded), interleaved with no profiler, and the workload's slowdown."""
    prof = tool_path("profile")
    configs = ["none"] + ["F%d" % f for f in PROFILE_FREQS]
    runs = []
    for rnd in range(PROFILE_ROUNDS):
        k = rnd % len(configs)
        for cfg in configs[k:] + configs[:k]:
            rec = {"config": cfg, "round": rnd}
            t = None
            if cfg != "none":
                # The window starts once the kernel symbols are in (-v says when): their
                # one-off parse (about 10 ms of CPU here, in a thread after attaching) is
                # start-up, not the steady cost per sample this measures.
                t = Tracer("profile", [prof, "-v", "-F", cfg[1:]], "kernel symbols loaded",
                           "err", env.work)
                try:
                    t.start()
                except RuntimeError as e:
                    rec["error"] = str(e)
                    runs.append(rec)
                    continue
                rec["ready_ms"] = t.ready_ms
            time.sleep(GAP_S)
            cpu0 = proc_cpu_ns(t.proc.pid) if t else None
            t0 = time.monotonic_ns()
            w = run_workload(["spin", str(SPIN_ITERS)])
            wall = time.monotonic_ns() - t0
            rec["elapsed_ns"] = w["elapsed_ns"]
            if t:
                cpu1 = proc_cpu_ns(t.proc.pid)
                t.stop(settle=0)
                rec.update(profile_cpu_ns=cpu1 - cpu0, window_ns=wall,
                           vmhwm_kb=t.sample.get("vmhwm_kb"),
                           map_bytes=t.sample.get("map_bytes"),
                           stack_map_bytes=t.sample.get("stack_map_bytes"), rc=t.rc)
            runs.append(rec)
    summary = {}
    base = median([r["elapsed_ns"] for r in runs if r["config"] == "none"])
    for f in PROFILE_FREQS:
        rs = [r for r in runs if r["config"] == "F%d" % f and "elapsed_ns" in r]
        if not rs:
            continue
        summary["F%d" % f] = {
            "cpu_pct": 100 * median([r["profile_cpu_ns"] / r["window_ns"] for r in rs]),
            "slowdown_pct": 100 * (median([r["elapsed_ns"] for r in rs]) - base) / base,
            "vmhwm_kb": max(r["vmhwm_kb"] or 0 for r in rs),
            "map_bytes_outside_stacks": max((r["map_bytes"] or 0) - (r["stack_map_bytes"] or 0)
                                            for r in rs),
            "stack_map_bytes": max(r["stack_map_bytes"] or 0 for r in rs),
        }
    return {"runs": runs, "summary": summary}


def summarize(runs, scns, built):
    out = {}
    for scn in scns:
        name = scn["name"]
        rs = [r for r in runs if r["scenario"] == name and "elapsed_ns" in r
              and not r.get("stats")]
        st_runs = [r for r in runs if r["scenario"] == name and r.get("stats")
                   and "kernel_ns" in r]
        if not rs:
            continue
        timed = rs[0]["timed_events"]
        by = {}
        for r in rs:
            by.setdefault(r["config"], []).append(r)
        base = median([r["elapsed_ns"] for r in by.get("none", [])])
        base_by_round = {r["round"]: r["elapsed_ns"] for r in by.get("none", [])}
        cbase = median([r["cpu_ns"] for r in by.get("none", [])])
        cbase_by_round = {r["round"]: r["cpu_ns"] for r in by.get("none", [])}
        cfgs = {}
        for cfg, lst in by.items():
            el = [r["elapsed_ns"] for r in lst]
            paired = [(r["elapsed_ns"] - base_by_round[r["round"]]) / timed
                      for r in lst if r["round"] in base_by_round]
            q1, q3 = quartiles(paired)
            cpaired = [(r["cpu_ns"] - cbase_by_round[r["round"]]) / timed
                       for r in lst if r["round"] in cbase_by_round]
            cq1, cq3 = quartiles(cpaired)
            cm = median([r["cpu_ns"] for r in lst])
            c = {
                "cpu_ns_per_event": cm / timed,
                "added_cpu_ns": (cm - cbase) / timed if cfg != "none" else 0.0,
                "added_cpu_ns_paired_iqr": [cq1, cq3] if cfg != "none" else [0.0, 0.0],
                "runs": len(lst),
                "median_ms": median(el) / 1e6,
                "ns_per_event": median(el) / timed,
                "added_ns": (median(el) - base) / timed if cfg != "none" else 0.0,
                "added_ns_paired_median": median(paired) if cfg != "none" else 0.0,
                "added_ns_paired_iqr": [q1, q3] if cfg != "none" else [0.0, 0.0],
                "slowdown": median(el) / base,
                "runs_with_other_tracers": sum(1 for r in lst if r.get("other_tracers")),
            }
            if any("delivered" in r for r in lst):
                c["generated"] = sum(r["generated"] for r in lst)
                c["delivered"] = sum(r.get("delivered", 0) for r in lst)
                c["lost_reported"] = sum(r.get("lost", 0) for r in lst)
                c["recursion_misses"] = sum(r.get("recursion_misses", 0) for r in lst)
                if any("complete" in r for r in lst):
                    c["complete"] = sum(r.get("complete", 0) for r in lst)
                c["worst_run_delivered_pct"] = min(
                    100.0 * r.get("delivered", 0) / r["generated"] for r in lst)
            if any(r.get("tracer_cpu_ns") is not None for r in lst):
                c["tracer_cpu_ns_per_event"] = median(
                    [r["tracer_cpu_ns"] / r["generated"] for r in lst
                     if r.get("tracer_cpu_ns") is not None])
            if any(r.get("stop_ms") is not None for r in lst):
                c["stop_ms_max"] = max(r["stop_ms"] for r in lst if r.get("stop_ms") is not None)
            if any(r.get("vmhwm_kb") for r in lst):
                c["peak_vmhwm_kb"] = max(r.get("vmhwm_kb") or 0 for r in lst)
                c["peak_map_bytes"] = max(r.get("map_bytes") or 0 for r in lst)
            errs = [r["error"] for r in lst if r.get("error")]
            if errs:
                c["errors"] = errs[:3]
            kr = [r for r in st_runs if r["config"] == cfg]
            if kr:
                c["kernel_progs"] = kr[0].get("kernel_progs")
                c["kernel_progs_generated"] = kr[0]["generated"]
                c["kernel_ns_per_event"] = median([r["kernel_ns"] / r["generated"] for r in kr])
                c["kernel_runs_per_event"] = median([r["kernel_runs"] / r["generated"]
                                                     for r in kr])
                c["kernel_ns_per_run"] = median([r["kernel_ns"] / r["kernel_runs"]
                                                 for r in kr if r["kernel_runs"]] or [0])
            cfgs[cfg] = c
        fl = cfgs.get("floor", {}).get("added_ns")
        bt = cfgs.get("bpftrace", {}).get("added_ns")
        tl = cfgs.get("tool", {}).get("added_ns")
        aa = cfgs.get("none2")
        # The noise of this scenario: how far the A/A control lands from zero, or half the
        # spread of its per-round differences, whichever is larger.
        noise = cnoise = None
        if aa:
            q = aa["added_ns_paired_iqr"]
            noise = max(abs(aa["added_ns"]), (q[1] - q[0]) / 2 if None not in q else 0)
            q = aa["added_cpu_ns_paired_iqr"]
            cnoise = max(abs(aa["added_cpu_ns"]), (q[1] - q[0]) / 2 if None not in q else 0)
        out[name] = {
            "noise_ns": noise,
            "cpu_noise_ns": cnoise,
            "tool": scn["tool"], "what": scn["what"], "timed_events": timed,
            "bpftrace_program": scn["bt"]["desc"] if scn.get("bt") else None,
            "configs": cfgs,
            "tool_vs_floor": tl / fl if tl is not None and fl and fl > 0 else None,
            "tool_vs_bpftrace": tl / bt if tl is not None and bt and bt > 0 else None,
            "tool_built": scn["tool"] in built,
        }
    return out


def summarize_startup(st):
    res = {}
    for name, rs in st.items():
        ok = [r for r in rs if "ready_ms" in r]
        if not ok:
            res[name] = {"error": rs[0].get("error") if rs else "no runs"}
            continue
        res[name] = {
            "runs": len(ok),
            "ready_ms_median": median([r["ready_ms"] for r in ok]),
            "ready_ms_min": min(r["ready_ms"] for r in ok),
            "ready_ms_max": max(r["ready_ms"] for r in ok),
            "idle_vmhwm_kb": max(r["vmhwm_kb"] or 0 for r in ok),
            "idle_vmrss_kb": max(r["vmrss_kb"] or 0 for r in ok),
            "idle_map_bytes": max(r["map_bytes"] or 0 for r in ok),
            "stack_map_bytes": max(r["stack_map_bytes"] or 0 for r in ok),
            "stop_ms_median": median([r["stop_ms"] for r in ok if r.get("stop_ms") is not None]),
            "maps": ok[-1].get("maps"),
        }
    return res


def ratio_verdict(tool_ns, other_ns, factor, noise, other):
    """tool_ns <= factor * other_ns? None (not resolved) unless other_ns stands out of the
    noise (3x) and tool_ns lies clearly (2x the noise) on one side of the limit."""
    value = "%.0f ns vs %s %.0f ns (x%s), noise +-%.0f ns" % (
        tool_ns, other, other_ns, "%.2f" % (tool_ns / other_ns) if other_ns > 0 else "n/a",
        noise)
    if other_ns <= 3 * noise:
        return None, value, "not resolved: %s's cost is within 3x the noise" % other
    if abs(tool_ns - factor * other_ns) <= 2 * noise:
        return None, value, "not resolved: within 2x the noise of the limit"
    return tool_ns <= factor * other_ns, value, ""


def evaluate_targets(scen, start, prof, built):
    """Each target of issue #7, per tool: met, missed, or not measured, with the value."""
    t = []

    def add(tool, target, value, limit, ok, note=""):
        t.append({"tool": tool, "target": target, "value": value, "limit": limit,
                  "met": ok, "note": note})

    for name, s in scen.items():
        tool = s["tool"]
        if not s["tool_built"]:
            add(tool, "built", None, None, None, "not built")
            continue
        c = s["configs"].get("tool", {})
        if "generated" in c:
            lost = c["generated"] - c["delivered"]
            add(tool, "zero lost events at the maximum rate (%s)" % name,
                "%d delivered of %d generated, %d reported lost" % (
                    c["delivered"], c["generated"], c["lost_reported"]), "0 lost",
                lost <= 0 and c["lost_reported"] == 0,
                "more delivered than generated: other activity on the device" if lost < 0
                else "%d program runs skipped by the kernel (recursion protection)" % (
                    c["recursion_misses"]) if c.get("recursion_misses") else "")
        kern = {k: s["configs"].get(k, {}).get("kernel_ns_per_event")
                for k in ("floor", "ring", "tool", "bpftrace")}
        # A tool that sends every event to user space against the floor plus one ring
        # record; one that aggregates in the kernel against bpftrace's BPF time.
        if name in RING_FLOOR:
            comparisons = (("ring", TARGET_FLOOR_RATIO, "2x floor+ring record"),
                           ("bpftrace", TARGET_BPFTRACE_RATIO, "0.5x bpftrace"))
        else:
            comparisons = (("floor", TARGET_FLOOR_RATIO, "2x floor"),
                           ("bpftrace", TARGET_BPFTRACE_RATIO, "0.5x bpftrace"))
        for other, factor, label in comparisons:
            o = s["configs"].get(other)
            if "added_ns" not in c or o is None:
                if other == "bpftrace" and "added_ns" in c:
                    add(tool, "added cost <= %s (%s)" % (label, name), None, None, None,
                        "bpftrace equivalent did not run")
                continue
            met, value, note = ratio_verdict(c["added_ns"], o["added_ns"], factor,
                                             s.get("noise_ns") or 0.0, other)
            cmet, cvalue, _ = ratio_verdict(c["added_cpu_ns"], o["added_cpu_ns"], factor,
                                            s.get("cpu_noise_ns") or 0.0, other)
            notes = [note, "by the loop's CPU time: %s, %s" % (
                cvalue, {True: "met", False: "missed", None: "not resolved"}[cmet])]
            kmet = None
            if kern["tool"] is not None and kern[other] is not None:
                kmet = kern["tool"] <= factor * kern[other]
                notes.append("inside the BPF programs: tool %.0f ns, %s %.0f ns per event "
                             "(x%.2f), %s" % (kern["tool"], other, kern[other],
                                              kern["tool"] / kern[other] if kern[other] else 0,
                                              "met" if kmet else "missed"))
            if name not in RING_FLOOR and other == "bpftrace":
                # Aggregators: judged by the time inside the BPF programs (issue #15).
                met = kmet
                notes.insert(0, "judged inside the BPF programs")
            add(tool, "added cost <= %s (%s)" % (label, name), value,
                "<= %.0f ns" % (factor * o["added_ns"]), met, "; ".join(n for n in notes if n))
            t[-1]["met_by_cpu_time"] = cmet
            t[-1]["met_in_kernel"] = kmet
    peak_by_tool = {}
    map_by_tool = {}
    stop_by_tool = {}
    for name, s in scen.items():
        c = s["configs"].get("tool", {})
        if c.get("peak_vmhwm_kb"):
            peak_by_tool[s["tool"]] = c["peak_vmhwm_kb"]
            map_by_tool[s["tool"]] = c["peak_map_bytes"]
        if c.get("stop_ms_max") is not None:
            stop_by_tool[s["tool"]] = c["stop_ms_max"]
    for tool in TOOLS:
        if tool not in built:
            continue
        st = start.get(tool, {})
        lbt_all = [v["ready_ms_median"] for k, v in start.items()
                   if k.startswith("libbpf-tools ") and "ready_ms_median" in v]
        own = start.get("libbpf-tools " + tool, {}).get("ready_ms_median")
        if "ready_ms_median" in st and (own or lbt_all):
            bar = own if own else median(lbt_all)
            add(tool, "start to attached <= libbpf-tools", "%.1f ms" % st["ready_ms_median"],
                "%.1f ms (%s)" % (bar, "its libbpf-tools version" if own else
                                  "median of the libbpf-tools starts"),
                st["ready_ms_median"] <= bar)
        elif "ready_ms_median" in st:
            add(tool, "start to attached <= 25 ms", "%.1f ms" % st["ready_ms_median"],
                "25 ms", st["ready_ms_median"] <= TARGET_START_MS)
        if st.get("stop_ms_median") is not None:
            add(tool, "stop <= 100 ms", "%.0f ms idle; %s under load" % (
                st["stop_ms_median"], "%.0f ms worst" % stop_by_tool[tool]
                if stop_by_tool.get(tool) is not None else "-"), "100 ms",
                max(st["stop_ms_median"], stop_by_tool.get(tool) or 0) <= TARGET_STOP_MS)
        hwm = max(peak_by_tool.get(tool, 0), st.get("idle_vmhwm_kb", 0))
        if hwm:
            if tool == "profile":
                add(tool, "peak RSS bounded by the symbols it needs", "%.1f MiB" % (
                    hwm / 1024), "judged by hand", None, "no fixed limit to test")
            else:
                add(tool, "peak RSS <= 5 MB", "%.1f MiB (%d kB)" % (hwm / 1024, hwm),
                    "5 MB", hwm * 1024 <= TARGET_RSS_BYTES,
                    "meets 5 MiB only" if TARGET_RSS_BYTES < hwm * 1024 <= 5 << 20 else "")
        mb = max(map_by_tool.get(tool, 0), st.get("idle_map_bytes", 0))
        if tool == "profile":
            mb -= max(st.get("stack_map_bytes", 0),
                      max((v.get("stack_map_bytes", 0) for v in prof.get("summary", {})
                           .values()), default=0))
        if mb:
            add(tool, "kernel map memory <= 4 MB%s" % (
                " (outside the stack map)" if tool == "profile" else ""),
                "%.2f MiB (%d bytes)" % (mb / 2**20, mb), "4 MB", mb <= TARGET_MAP_BYTES,
                "meets 4 MiB only" if TARGET_MAP_BYTES < mb <= 4 << 20 else "")
    return t


# ---------------------------------------------------------------- printing

def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def print_report(res):
    p = print
    m = res["machine"]
    p("corescope bench (%s): %s, %d CPUs, kernel %s, %d rounds, %s" % (
        "quick" if res["quick"] else "full", m["cpu"], m["cpus"], m["kernel"],
        res["rounds"], m["bpftrace"] or "no bpftrace"))
    p("")
    p("Cost added per event: (median loop time - median 'none') / timed events; 'paired' = "
      "median [IQR] of per-round differences;")
    p("cpu = the same from the loop's own CPU time (steadier on a shared machine); kernel = "
      "time inside the BPF programs per event")
    p("(run-time statistics, separate run); tracer = the tracer process's CPU time per event. "
      "All in ns.")
    hdr = "%-8s %-10s %8s %8s %20s %8s %7s %7s %7s %7s %21s %6s" % (
        "scenario", "config", "loop ms", "added", "paired [IQR]", "cpu", "x floor",
        "x bpftr", "kernel", "tracer", "delivered/generated", "lost")
    p(hdr)
    p("-" * len(hdr))
    for name, s in res["scenarios"].items():
        fl = s["configs"].get("floor", {}).get("added_ns")
        bt = s["configs"].get("bpftrace", {}).get("added_ns")
        for cfg in ("none", "none2", "floor", "ring", "tool", "base", "libbpf-tools",
                    "bpftrace"):
            c = s["configs"].get(cfg)
            label = {"tool": s["tool"], "bpftrace": "bpftrace"}.get(cfg, cfg)
            if c is None:
                if cfg == "tool" and not s["tool_built"]:
                    p("%-8s %-10s %s" % (name, s["tool"], "not built"))
                elif cfg == "bpftrace":
                    p("%-8s %-10s %s" % (name, "bpftrace", "did not run"))
                continue
            q = c["added_ns_paired_iqr"]
            paired = "%.0f [%s,%s]" % (c["added_ns_paired_median"], fmt(q[0]), fmt(q[1]))
            dg = ""
            if "generated" in c:
                dg = "%d/%d" % (c["delivered"], c["generated"])
            xf = c["added_ns"] / fl if fl and fl > 0 and cfg in ("tool", "bpftrace") else None
            xb = c["added_ns"] / bt if bt and bt > 0 and cfg == "tool" else None
            p("%-8s %-10s %8.1f %8.0f %20s %8.0f %7s %7s %7s %7s %21s %6s" % (
                name, label[:10], c["median_ms"], c["added_ns"], paired, c["added_cpu_ns"],
                fmt(xf, "%.2f"), fmt(xb, "%.2f"), fmt(c.get("kernel_ns_per_event")),
                fmt(c.get("tracer_cpu_ns_per_event")), dg,
                fmt(c.get("lost_reported"), "%d")))
        notes = ["%d timed events/run, %s" % (s["timed_events"], s["what"]),
                 "noise +-%s ns/event (cpu +-%s)" % (fmt(s.get("noise_ns")),
                                                     fmt(s.get("cpu_noise_ns")))]
        if s.get("bpftrace_program"):
            notes.append("bpftrace: " + s["bpftrace_program"])
        for cfg in ("tool", "bpftrace"):
            c = s["configs"].get(cfg, {})
            if c.get("recursion_misses"):
                notes.append("%s: the kernel skipped %d program runs (recursion protection)" % (
                    s["tool"] if cfg == "tool" else "bpftrace", c["recursion_misses"]))
            if "complete" in c:
                notes.append("%s showed the arguments of %d of %d" % (
                    s["tool"] if cfg == "tool" else "bpftrace", c["complete"], c["delivered"]))
        p("         (" + "; ".join(notes) + ")")
        p("")
    p("Inside the BPF programs (run-time statistics): ns per run x runs per generated event")
    for name, s in res["scenarios"].items():
        for cfg in ("floor", "ring", "base", "tool", "libbpf-tools", "bpftrace"):
            c = s["configs"].get(cfg, {})
            progs = c.get("kernel_progs")
            if not progs:
                continue
            gen = c.get("kernel_progs_generated") or 0
            parts = ["%s %.0f x %.2f" % (k.split("#")[0], v[0] / v[1], v[1] / gen)
                     for k, v in sorted(progs.items()) if gen and v[1] >= gen * 0.001]
            p("  %-8s %-10s %s" % (name, s["tool"] if cfg == "tool" else cfg,
                                   ", ".join(parts)))
    p("")
    p("Start to attached (median of %d spawns to 'Hit Ctrl-C to end'), stop (SIGINT to exit), "
      "peak RSS (VmHWM: idle, and under the" % START_RUNS)
    p("benchmark's load), kernel map memory (memlock of the maps its fds hold). M = MiB.")
    hdr = "%-22s %9s %13s %8s %9s %9s %11s" % ("tool", "start ms", "min-max", "stop ms",
                                              "idle RSS", "peak RSS", "map memory")
    p(hdr)
    p("-" * len(hdr))
    peak = {}
    for s in res["scenarios"].values():
        for cfg, key in (("tool", s["tool"]), ("base", "base " + s["tool"])):
            c = s["configs"].get(cfg, {})
            if c.get("peak_vmhwm_kb"):
                peak[key] = (c["peak_vmhwm_kb"], c["peak_map_bytes"])
        b = s["configs"].get("bpftrace", {})
        if b.get("peak_vmhwm_kb"):
            key = "bpftrace " + (s["bpftrace_program"] or "").split("/")[-1]
            peak[key] = (b["peak_vmhwm_kb"], b["peak_map_bytes"])
    rows = [t for n in TOOLS for t in (n, "base " + n)] + \
        [k for k in res["startup"] if k.startswith("floor")] + \
        sorted(k for k in res["startup"] if k.startswith(("bpftrace", "libbpf-tools")))
    for tool in rows:
        st = res["startup"].get(tool)
        if st is None:
            if tool in TOOLS and not res.get("focused"):
                p("%-22s %s" % (tool, "not built"))
            continue
        if "error" in st:
            p("%-22s error: %s" % (tool, st["error"][:80]))
            continue
        pk = peak.get(tool, (None, None))
        mb = max(st["idle_map_bytes"], pk[1] or 0)
        p("%-22s %9.1f %13s %8s %7.1f M %7s M %9.2f M%s" % (
            tool, st["ready_ms_median"], "%.1f-%.1f" % (st["ready_ms_min"], st["ready_ms_max"]),
            fmt(st.get("stop_ms_median")), st["idle_vmhwm_kb"] / 1024,
            fmt(pk[0] and max(pk[0], st["idle_vmhwm_kb"]) / 1024, "%.1f"),
            mb / 2**20, " (of which stack maps %.2f M)" % (st["stack_map_bytes"] / 2**20)
            if st["stack_map_bytes"] else ""))
    for k, (hwm, mb) in sorted(peak.items()):
        if k.startswith("bpftrace") and k not in res["startup"]:
            p("%-22s %9s %13s %8s %9s %7.1f M %9.2f M" % (k[:22], "-", "-", "-", "-",
                                                          hwm / 1024, (mb or 0) / 2**20))
    p("")
    prof = res.get("profile")
    if prof is None:
        p("profile: not built")
    elif "summary" in prof:
        for f, s in prof["summary"].items():
            p("profile -F %s: %.2f %% of one CPU, spin loop %+.2f %%, RSS %.1f MiB, maps %.2f "
              "MiB outside stacks + %.2f MiB stacks" % (
                  f[1:], s["cpu_pct"], s["slowdown_pct"], s["vmhwm_kb"] / 1024,
                  s["map_bytes_outside_stacks"] / 2**20, s["stack_map_bytes"] / 2**20))
    p("")
    p("Targets (issue #7)")
    for t in res["targets"]:
        state = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        p("  %s %-11s %-48s %s%s" % (state, t["tool"], t["target"], t["value"] or "",
                                      "  (" + t["note"] + ")" if t["note"] else ""))
    warn = res.get("warnings") or []
    if warn:
        p("")
        for w in warn:
            p("warning: " + w)


# ---------------------------------------------------------------- main

def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    bt = shutil.which("bpftrace")
    btv = subprocess.run([bt, "--version"], capture_output=True, text=True).stdout.strip() \
        if bt else None
    os_name = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "os": os_name,
            "bpftrace": btv, "mem_kb": mem_kb}


def git_state():
    def git(*a):
        p = subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else None
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def rnd(v, digits=1):
    if isinstance(v, float):
        return round(v, digits)
    if isinstance(v, dict):
        return {k: rnd(x, digits) for k, x in v.items()}
    if isinstance(v, list):
        return [rnd(x, digits) for x in v]
    return v


def compact_summary(res):
    """What docs/performance.md shows, and nothing else: a few KB."""
    keep = ("added_ns", "added_ns_paired_median", "added_ns_paired_iqr", "added_cpu_ns",
            "median_ms", "kernel_ns_per_event", "kernel_ns_per_run", "kernel_runs_per_event",
            "tracer_cpu_ns_per_event", "generated", "delivered", "lost_reported", "complete",
            "peak_vmhwm_kb", "peak_map_bytes", "stop_ms_max", "runs")
    scen = {}
    for name, sc in res["scenarios"].items():
        scen[name] = {"tool": sc["tool"], "what": sc["what"], "noise_ns": sc["noise_ns"],
                      "cpu_noise_ns": sc["cpu_noise_ns"], "timed_events": sc["timed_events"],
                      "bpftrace_program": sc["bpftrace_program"],
                      "configs": {cfg: {k: c[k] for k in keep if k in c}
                                  for cfg, c in sc["configs"].items()}}
    start = {name: {k: v for k, v in st.items() if k != "maps"}
             for name, st in res["startup"].items()}
    return rnd({
        "date": res["date"], "git": res.get("git"), "quick": res["quick"],
        "focused": res.get("focused"), "base": res.get("base_commit"),
        "rounds": res["rounds"], "duration_s": res.get("duration_s"),
        "machine": res["machine"], "load": res.get("load"),
        "attach": {k: v.get("lines", [])[-6:] for k, v in res.get("attach", {}).items()},
        "scenarios": scen, "startup": start,
        "profile": (res.get("profile") or {}).get("summary"),
        "targets": res["targets"], "warnings": res.get("warnings"),
    })


def report_only(path):
    """Re-summarizes and prints a bench.json written earlier (no measurement)."""
    with open(path) as f:
        res = json.load(f)
    scns = [{"name": n, "tool": s["tool"], "what": s["what"],
             "bt": {"desc": s["bpftrace_program"]} if s.get("bpftrace_program") else None}
            for n, s in res["scenarios"].items()]
    res["scenarios"] = summarize(res["runs"], scns, res["built"])
    res["targets"] = evaluate_targets(res["scenarios"], res["startup"], res["profile"] or {},
                                      res["built"])
    print_report(res)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        return report_only(sys.argv[2])
    if os.geteuid() != 0:
        log("bench: needs root (BPF, losetup)")
        return 2
    t_start = time.monotonic()
    build_helpers()
    built = [t for t in TOOLS if tool_path(t)]
    missing = [t for t in TOOLS if t not in built]
    if BASE_BIN:
        p = subprocess.run(["git", "-C", BASE_BIN, "rev-parse", "HEAD"], capture_output=True,
                           text=True)
        res_base_commit = p.stdout.strip() or None
    else:
        res_base_commit = None
    if ONLY:
        log("bench: focused run: %s%s" % (",".join(ONLY),
                                           "; baseline from " + BASE_BIN if BASE_BIN else ""))
    log("bench: %s mode; built: %s; not built: %s" % (
        "quick" if QUICK else "full", " ".join(built), " ".join(missing) or "-"))
    env = Env()
    warnings = []
    res = {"quick": QUICK, "focused": ONLY or None, "base": BASE_BIN,
           "base_commit": res_base_commit, "rounds": ROUNDS, "iters": ITERS, "machine": machine_info(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "built": built, "missing": missing,
           "git": git_state(), "load": {"loadavg_start": list(os.getloadavg())}}
    interrupted = False
    runs = []

    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            env.setup_loop()
        except (RuntimeError, OSError) as e:
            warnings.append("no loop device, dio scenario skipped: %s" % e)
        scns = [s for s in scenario_defs(env) if env.loop_dev or not s.get("needs_loop")]
        if ONLY:
            scns = [s for s in scns if s["name"] in ONLY]
            # The start-up phase measures the tools of the scenarios chosen (or all with
            # "startup" alone).
            only_tools = [s["tool"] for s in scns] or [t for t in built if t in ONLY] or built
            built = [t for t in built if t in only_tools]
        log("bench: attach points")
        res["attach"] = check_attach_points([t for t in built if t != "profile"], env)
        for name, a in res["attach"].items():
            if a.get("floor_matches") is False:
                warnings.append("%s did not choose the hooks the floor uses (%s): %s" % (
                    name, a["expected"], "; ".join(a["lines"])))
        if not ONLY or "startup" in ONLY:
            log("bench: start-up and idle memory (%d starts per tool)" % START_RUNS)
            res["startup_runs"] = measure_startup(built, env)
            res["startup"] = summarize_startup(res["startup_runs"])
        configs = ["none", "none2", "floor", "ring", "tool", "base", "libbpf-tools",
                   "bpftrace"]
        seq = 0
        for rnd in range(ROUNDS):
            t_round = time.monotonic()
            for scn in scns:
                k = (rnd + scns.index(scn)) % len(configs)
                order = configs[k:] + configs[:k]
                for cfg in order:
                    if not config_applies(scn, cfg, built):
                        continue
                    seq += 1
                    try:
                        runs.append(one_run(scn, cfg, rnd, env, seq))
                    except RuntimeError as e:
                        runs.append({"scenario": scn["name"], "config": cfg, "round": rnd,
                                     "error": str(e)})
                        log("bench: %s/%s: %s" % (scn["name"], cfg, e))
            res["load"].setdefault("loadavg_1min_per_round", []).append(os.getloadavg()[0])
            log("bench: round %d/%d done in %.0f s (%.0f s so far)" % (
                rnd + 1, ROUNDS, time.monotonic() - t_round, time.monotonic() - t_start))
        # Time inside the programs themselves, apart from the loop timings above (statistics
        # cost a little per program run): resolves costs that the loop timings lose in noise.
        stats_fd = bpf_enable_stats()
        if stats_fd is None:
            warnings.append("BPF run-time statistics unavailable: no in-kernel times")
        else:
            log("bench: in-kernel time per event (BPF run-time statistics)")
            try:
                for scn in scns:
                    for cfg in ("floor", "ring", "tool", "base", "libbpf-tools", "bpftrace"):
                        if not config_applies(scn, cfg, built):
                            continue
                        for _ in range(STATS_RUNS):
                            seq += 1
                            try:
                                runs.append(one_run(scn, cfg, -1, env, seq, stats=True))
                            except RuntimeError as e:
                                log("bench: %s/%s (stats): %s" % (scn["name"], cfg, e))
            finally:
                os.close(stats_fd)
        if "profile" in built and (not ONLY or "profile" in ONLY):
            log("bench: profile")
            res["profile"] = measure_profile(env)
        else:
            res["profile"] = None
    except KeyboardInterrupt:
        interrupted = True
        log("bench: interrupted; reporting what was measured")
    finally:
        env.cleanup()
    res["runs"] = runs
    res["scenarios"] = summarize(runs, scns, built)
    res.setdefault("startup", {})
    res.setdefault("profile", None)
    res["targets"] = evaluate_targets(res["scenarios"], res["startup"], res["profile"] or {},
                                      built)
    other = sorted({t for r in runs for t in r.get("other_tracers", [])})
    n_other = sum(1 for r in runs if r.get("other_tracers"))
    if n_other:
        warnings.append("%d of %d runs had other tracers running on the machine (%s): their "
                        "hooks cost every configuration and add noise" % (
                            n_other, len(runs), ", ".join(other[:8])))
    errs = [r for r in runs if r.get("error")]
    if errs:
        warnings.append("%d runs failed; first: %s" % (len(errs), errs[0]["error"][:200]))
    res["warnings"] = warnings
    res["interrupted"] = interrupted
    res["load"]["loadavg_end"] = list(os.getloadavg())
    res["load"]["runs_with_other_tracers"] = n_other
    res["load"]["runs"] = len(runs)
    res["duration_s"] = time.monotonic() - t_start
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON + ".tmp", "w") as f:
        json.dump(res, f, indent=1, default=str)
    os.replace(OUT_JSON + ".tmp", OUT_JSON)
    with open(SUMMARY_JSON + ".tmp", "w") as f:
        json.dump(compact_summary(res), f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    os.replace(SUMMARY_JSON + ".tmp", SUMMARY_JSON)
    if not QUICK and SUMMARY_JSON in (os.path.join(ROOT, "docs", "bench-summary.json"),
                                      os.path.join(ROOT, "docs", "bench-focused.json")):
        # docs/performance.md's tables from this run (the prose around them is by hand).
        subprocess.run([sys.executable, os.path.join(HERE, "perfdoc.py"), SUMMARY_JSON,
                        os.path.join(ROOT, "docs", "performance.md")])
    print_report(res)
    print("")
    shown = os.path.relpath(OUT_JSON, ROOT) if OUT_JSON.startswith(ROOT + os.sep) else OUT_JSON
    print("%s and %s written; %.0f s" % (shown, os.path.relpath(SUMMARY_JSON, ROOT),
                                          res["duration_s"]))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
