"""Each tool against an independent oracle that measures the same thing another way, on real
programs the project did not write: strace -f for execs (a gcc compile and link), opens
(Python importing part of its standard library), reads and writes (tar and sha256sum) and
connects (curl and wget), the kernel's per-disk counters
(/sys/block/NAME/stat) for block I/O under fio. The comparisons are of multisets, exact; each
exclusion is stated where it is made. Every attach kind the tool offers on the running kernel
is compared (kinds it cannot use here are reported by the tool's own tests)."""
import ast
import collections
import errno
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import Tool
from test_biolatency import LoopDisk, check_hist, op_of

PYTHON = "/usr/bin/python3"  # Debian's: a shim would add execs of its own


def need(*programs):
    for p in programs:
        if not shutil.which(p):
            raise harness.Skip(f"{p} is not installed (make deps)")


# strace -ff -o PREFIX writes PREFIX.PID per process (so no call is split by another's):
# lines "syscall(args) = RET" or "= -1 ENAME (text)". -qq and -e signal=none drop exit and
# signal notes, -v prints argv whole, -s 65536 keeps strings whole.
STRACE_LINE = re.compile(r"^(\w+)\((.*)\) += (-?\d+)(?: (E[A-Z0-9]+))?")


def strace(argv, syscalls, cwd=None, fd_paths=False):
    """Runs argv under strace -ff; returns [(pid, syscall, args text, result)], result being
    the return value or -errno. fd_paths: strace -y, each fd argument followed by its path
    in <>."""
    need("strace")
    with tempfile.TemporaryDirectory() as d:
        prefix = os.path.join(d, "t")
        # Buffers are not needed (-s 0) where only fds and results are compared.
        strings = ["-y", "-s", "0"] if fd_paths else ["-v", "-s", "65536"]
        p = subprocess.run(["strace", "-ff", "-qq", *strings, "-e", "signal=none",
                            "-e", "trace=" + ",".join(syscalls), "-o", prefix] + argv,
                           capture_output=True, text=True, timeout=120, cwd=cwd)
        assert p.returncode == 0, p.stderr[-2000:]
        calls = []
        for name in os.listdir(d):
            pid = int(name.rsplit(".", 1)[1])
            with open(os.path.join(d, name)) as f:
                for line in f.read().splitlines():
                    m = STRACE_LINE.match(line)
                    assert m, line
                    ret = int(m.group(3))
                    if ret < 0 and m.group(4):
                        ret = -getattr(errno, m.group(4))
                    calls.append((pid, m.group(1), m.group(2), ret))
    return calls


def c_strings(text):
    """The string literals of an strace argument list, unescaped (C escapes as Python's)."""
    return [ast.literal_eval(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', text)]


@harness.each_attach_kind("execsnoop", ("raw_tp", "tp_btf"), tp="sched:sched_process_exec")
def test_execsnoop_vs_strace_gcc(kind):
    """A compile and link: gcc runs cc1, as, collect2 and ld, trying several directories for
    some of them (failed execs). Every execve strace saw, with its argv and result, is one
    execsnoop -x event of the same pid, and nothing else of those pids is."""
    need("gcc")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "hello.c"), "w") as f:
            f.write("int main(void) { return 0; }\n")
        with Tool("execsnoop", "-x", "-j", "--max-args", "4096", "--attach", kind) as t:
            calls = strace(["gcc", "-O1", "-o", "hello", "hello.c"], ["execve", "execveat"],
                           cwd=d)
    want = collections.Counter()
    for pid, name, args, ret in calls:
        # execve("path", ["argv0", ...], [env]): the second list is the environment.
        argv_text = args[args.index("["):args.index("]", args.index("[")) + 1]
        want[(pid, tuple(c_strings(argv_text)), ret)] += 1
    pids = {k[0] for k in want}
    got = collections.Counter((e["pid"], tuple(e["args"]), e["ret"]) for e in t.json()
                              if e.get("pid") in pids)
    assert sum(want.values()) >= 5 and any(k[2] < 0 for k in want), want
    assert got == want, (got - want, want - got)


def test_opensnoop_vs_strace_python_imports():
    """Python importing part of its standard library: every open, openat and openat2 strace
    saw (path as passed, fd or errno) is one opensnoop event of the same thread, on each of
    opensnoop's attach paths. strace's own opens happen before it starts the program, in a
    process whose pid is not among the program's."""
    code = "import json, email.parser, http.client, xml.etree.ElementTree, decimal, csv"
    for env in (None, dict(os.environ, CORESCOPE_SYSCALL_TRACEPOINTS="classic")):
        with Tool("opensnoop", "-j", env=env) as t:
            calls = strace([PYTHON, "-c", code], ["open", "openat", "openat2"])
        want = collections.Counter()
        for pid, name, args, ret in calls:
            path = c_strings(args)[0]
            want[(pid, path, ret if ret >= 0 else -1, -ret if ret < 0 else 0)] += 1
        tids = {k[0] for k in want}
        got = collections.Counter((e["tid"], e["path"], e["fd"], e["err"]) for e in t.json()
                                  if e.get("tid") in tids)
        assert sum(want.values()) >= 50, want
        assert got == want, (env and "classic", got - want, want - got)


def test_biolatency_vs_block_stat_under_fio():
    """fio's random direct reads and writes, 8 in flight, on a loop device: the requests
    biolatency timed plus those it reported not timed equal the requests the kernel completed
    on that disk (/sys/block/NAME/stat), per operation when none is missing, on every attach
    kind."""
    need("fio")
    with LoopDisk(scheduler="mq-deadline") as disk:
        for kind in ("raw_tp", "tp_btf", "tracepoint"):
            before = disk.stat()
            with Tool("biolatency", "-j", "-F", "-d", disk.name, "--attach", kind) as t:
                p = subprocess.run(
                    ["fio", "--name=oracle", f"--filename={disk.dev}", "--direct=1",
                     "--rw=randrw", "--bs=4k", "--ioengine=posixaio", "--iodepth=8",
                     "--size=8M", "--io_size=4M", "--randrepeat=1", "--output=/dev/null"],
                    capture_output=True, text=True, timeout=120)
                assert p.returncode == 0, p.stderr[-2000:]
                after = disk.stat()
            kernel = {"Read": after[0] - before[0], "Write": after[1] - before[1]}
            timed = collections.Counter()
            not_counted = {}
            for o in t.json():
                if "not_counted" in o:
                    not_counted = o["not_counted"]
                elif "flags" in o:
                    timed[op_of(o["flags"])] += check_hist(o)
            # A restarted request was timed once, from its later start; its first
            # completion, when the kernel's, is one the histograms lack.
            # Nothing was in flight at the start or is at the exit (fio waited for all its
            # I/O), so a request the histograms lack is one whose completion the programs
            # did not see: its start is then still in the map at exit (in_flight_at_exit),
            # or was replaced when its struct request was used again (restarted).
            assert set(not_counted) <= {"restarted", "in_flight_at_exit"}, (kind, not_counted)
            assert kernel["Read"] > 100 and kernel["Write"] > 100, kernel
            assert sum(timed.values()) + sum(not_counted.values()) == \
                sum(kernel.values()), (kind, timed, not_counted, kernel)
            if not not_counted:
                assert dict(timed) == kernel, (kind, timed, kernel)


def test_tcpconnlat_vs_strace_curl():
    """curl and wget fetching from a local HTTP server: every connect() strace saw to the
    server's port that succeeded or went on in the background (EINPROGRESS) is one
    tcpconnlat event of the same process and destination, on each attach kind."""
    need("curl", "wget")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("hello\n")
        # -u: its "Serving HTTP ... port N" line is the ready signal, and a pipe would keep
        # it in Python's buffer (unless the environment says PYTHONUNBUFFERED).
        server = subprocess.Popen([PYTHON, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                                   "0"], cwd=d, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            m = re.search(r"port (\d+)", server.stdout.readline())
            assert m, "http.server did not say its port"
            port = int(m.group(1))
            url = f"http://127.0.0.1:{port}/index.html"
            for kind in ("raw_tp", "tp_btf", "tracepoint"):
                with Tool("tcpconnlat", "-j", "--attach", kind) as t:
                    calls = strace(["curl", "-sS", "-o", "/dev/null", url, url], ["connect"])
                    calls += strace(["wget", "-q", "-O", "/dev/null", url], ["connect"])
                want = collections.Counter(
                    (pid, "127.0.0.1", port) for pid, _, args, ret in calls
                    if f"sin_port=htons({port})" in args and ret in (0, -errno.EINPROGRESS))
                pids = {k[0] for k in want}
                got = collections.Counter((e["pid"], e["daddr"], e["dport"]) for e in t.json()
                                          if e.get("pid") in pids)
                assert sum(want.values()) >= 2, calls
                assert got == want, (kind, got - want, want - got)
        finally:
            server.kill()
            server.wait()


# What filetop counts: the read and write syscall families (and, with fexit or kprobes, the
# vfs_* functions behind them), a call counting when it moved at least one byte.
FILE_IO = ("read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
           "preadv2", "pwritev2")
WRITE_CALLS = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
STRACE_FD_PATH = re.compile(r"^\d+<(.*)>")


@harness.each_attach_kind("filetop", ("fentry", "kprobe", "raw_tp", "tracepoint"),
                          refuse_args=("1", "1"), tp="syscalls:sys_exit_read",
                          funcs=("vfs_read", "vfs_write"))
def test_filetop_vs_strace_tar_and_sha256sum(kind):
    """tar archiving a directory of the system's (into a regular file) and sha256sum
    hashing it: per thread and regular file, the calls that moved bytes and the bytes
    strace -y saw are exactly filetop's reads, writes, rbytes and wbytes (-F: whole paths;
    one summary, so no row is cut or split)."""
    need("tar", "sha256sum")
    src = "/usr/share/common-licenses"
    with tempfile.TemporaryDirectory() as d:
        archive = os.path.join(d, "licenses.tar")
        with Tool("filetop", "-j", "-F", "-r", "10240", "--attach", kind, "3600", "1") as t:
            calls = strace(["tar", "-cf", archive, "-C", src, "."], FILE_IO, cwd=d, fd_paths=True)
            calls += strace(["sha256sum", archive] + sorted(
                os.path.join(src, f) for f in os.listdir(src)), FILE_IO, fd_paths=True)
        want = collections.Counter()
        for tid, name, args, ret in calls:
            m = STRACE_FD_PATH.match(args)
            if ret <= 0 or not m or not os.path.isfile(m.group(1)):
                continue
            op = "w" if name in WRITE_CALLS else "r"
            want[(tid, m.group(1), op + "calls")] += 1
            want[(tid, m.group(1), op + "bytes")] += ret
        tids = {k[0] for k in want}
        got = collections.Counter()
        for r in t.json():
            if r.get("tid") in tids and r["type"] == "R":
                for field, key in (("reads", "rcalls"), ("writes", "wcalls"),
                                   ("rbytes", "rbytes"), ("wbytes", "wbytes")):
                    if r[field]:
                        got[(r["tid"], r["file"], key)] += r[field]
    assert any(k[1] == archive and k[2] == "wcalls" for k in want), want
    assert sum(v for k, v in want.items() if k[2] == "rcalls") >= 20, want
    assert got == want, (kind, got - want, want - got)
