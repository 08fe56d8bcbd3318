"""filetop against the real kernel: a worker process does exactly the reads and writes the
test asks for, and filetop must count each one, with the bytes each call returned."""
import json
import os
import pty
import re
import select
import socket
import subprocess
import tempfile
import time
import uuid

import harness
from harness import Tool

# The worker opens everything first, says "ready", waits for a line on stdin, does its I/O,
# says "done". A tool started in between sees that I/O and nothing of Python's start-up.
# Each op names the exact syscall: preadv/pwritev(2) go through syscall(2) because Python's
# os.preadv uses preadv2 whenever the C library has it.
WORKER = r'''
import ctypes, json, os, socket, sys, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": {"preadv": 295, "pwritev": 296, "preadv2": 327, "pwritev2": 328},
      "aarch64": {"preadv": 69, "pwritev": 70, "preadv2": 286, "pwritev2": 287}}[os.uname().machine]

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

def vec_call(name, fd, buf, size):
    iov = iovec(ctypes.cast(buf, ctypes.c_void_p), size)
    args = [ctypes.c_long(fd), ctypes.byref(iov), ctypes.c_long(1), ctypes.c_long(0),
            ctypes.c_long(0)]
    if name.endswith("2"):
        args.append(ctypes.c_long(0))
    n = libc.syscall(ctypes.c_long(NR[name]), *args)
    if n < 0:
        raise OSError(ctypes.get_errno(), name)
    return n

def run(op, fd, count, size, wfd=None):
    data = b"x" * size
    buf = ctypes.create_string_buffer(size)
    got = 0
    if op == "for":  # write size bytes at a time for `count` seconds; returns the calls
        end = time.monotonic() + count
        while time.monotonic() < end:
            os.pwrite(fd, data, 0); got += 1
        return got
    for _ in range(count):
        if op == "read":
            os.lseek(fd, 0, os.SEEK_SET); n = len(os.read(fd, size))
        elif op == "pread":
            n = len(os.pread(fd, size, 0))
        elif op == "readv":
            os.lseek(fd, 0, os.SEEK_SET); n = os.readv(fd, [bytearray(size)])
        elif op in ("preadv", "preadv2"):
            n = vec_call(op, fd, buf, size)
        elif op == "write":
            n = os.write(fd, data)
        elif op == "pwrite":
            n = os.pwrite(fd, data, 0)
        elif op == "writev":
            n = os.writev(fd, [data])
        elif op in ("pwritev", "pwritev2"):
            buf.raw = data; n = vec_call(op, fd, buf, size)
        elif op == "stream":  # write into wfd, read it back from fd (a pipe or socket)
            os.write(wfd, data); n = 0
            while n < size:
                n += len(os.read(fd, size - n))
        if n != size:
            raise SystemExit(f"{op}: {n} bytes, want {size}")
        got += 1
    return got

spec = json.loads(sys.argv[1])
fds = []
for s in spec:
    if s["kind"] == "pipe":
        r, w = os.pipe(); fds.append((r, w)); s["ino"] = os.fstat(r).st_ino
    elif s["kind"] == "socket":
        a, b = socket.socketpair(); fds.append((b.detach(), a.detach()))
    else:
        flags = os.O_RDWR | os.O_CREAT
        fd = os.open(s["path"], flags, 0o644)
        if s.get("fill"):
            os.pwrite(fd, b"y" * s["fill"], 0)
        fds.append((fd, None))
print("ready " + json.dumps([s.get("ino") for s in spec]), flush=True)
sys.stdin.readline()
res = [run(s["op"], fd, s["count"], s["size"], w) for s, (fd, w) in zip(spec, fds)]
print("done " + json.dumps(res), flush=True)
sys.stdin.readline()
'''


class Worker:
    def __init__(self, spec):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", WORKER, json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), f"worker failed to start: {line!r}"
        self.inos = json.loads(line[6:])

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("done "), f"worker failed: {line!r}"
        return json.loads(line[5:])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("bye\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# One summary, printed when the test stops the tool (Ctrl-C prints the interval so far)
# after the worker's I/O is done: how long tools take to start (seconds each under qemu's
# TCG, several tools one after another) cannot cut an interval short.
ONE = ("3600", "1")


def watched_by(spec, *arg_lists):
    """One worker's I/O seen by one filetop per argument list (each -p the worker, ONE);
    returns the finished worker and the stopped tools."""
    with Worker(spec) as w:
        tools = [Tool("filetop", *args, "-p", w.pid, *ONE).start() for args in arg_lists]
        w.go()
        for t in tools:
            t.stop()
    return w, tools


def unique(d, tag):
    return os.path.join(d, f"ft-{tag}-{uuid.uuid4().hex[:12]}")


def rows_for(rows, **match):
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def total(rows, field):
    return sum(r[field] for r in rows)


# The kinds filetop offers, in the order it prefers them (its choice without --attach).
KINDS = ("fentry", "kprobe", "raw_tp", "tracepoint")
# filetop's raw_tp is the raw tracepoint sys_exit, there wherever raw tracepoints are.
POINT = dict(tp="syscalls:sys_exit_read", funcs=("vfs_read", "vfs_write"))


@harness.each_attach_kind("filetop", KINDS, refuse_args=("1", "1"), **POINT)
def test_every_syscall_counted_exactly_json(kind):
    """Each read and write syscall, counted with the bytes it returned, whichever attach
    point counts it (fexit and kprobes see vfs_read and friends, the tracepoints the
    syscalls)."""
    size, wsize = 8192, 5000
    reads = {"read": 3, "pread": 4, "readv": 5, "preadv": 6, "preadv2": 7}
    writes = {"write": 2, "pwrite": 3, "writev": 4, "pwritev": 5, "pwritev2": 6}
    with tempfile.TemporaryDirectory() as d:
        spec = [{"kind": "file", "path": unique(d, op), "op": op, "count": k, "size": size,
                 "fill": size} for op, k in reads.items()]
        spec += [{"kind": "file", "path": unique(d, op), "op": op, "count": k, "size": wsize}
                 for op, k in writes.items()]
        with Worker(spec) as w:
            t = Tool("filetop", "-j", "-v", "--attach", kind, "-p", w.pid, "-r", "100",
                     *ONE).start()
            w.go()
            t.stop()
        assert t.rc == 0, t.err
        assert f"filetop: attach: {kind}: " in t.err, t.err
        assert "not counted" not in t.err, t.err
        rows = t.json()
        for s in spec:
            mine = rows_for(rows, file=os.path.basename(s["path"]))
            assert len(mine) == 1, (s["op"], rows)
            r = mine[0]
            assert (r["tid"], r["pid"], r["comm"], r["type"]) == (w.pid, w.pid, "python3", "R")
            assert r["ino"] == os.stat(s["path"]).st_ino
            if s["op"] in reads:
                assert (r["reads"], r["writes"]) == (s["count"], 0), (s["op"], r)
                assert r["rbytes"] == s["count"] * size and r["wbytes"] == 0, (s["op"], r)
                assert r["r_kb"] * 1024 == r["rbytes"], r
            else:
                assert (r["reads"], r["writes"]) == (0, s["count"]), (s["op"], r)
                assert r["wbytes"] == s["count"] * wsize and r["rbytes"] == 0, (s["op"], r)
                assert r["w_kb"] == r["wbytes"] // 1024, r
        assert {r["pid"] for r in rows} == {w.pid}
        assert {r["interval"] for r in rows} == {1}


def test_text_interval_header_and_count_mode():
    with tempfile.TemporaryDirectory() as d:
        path = unique(d, "text")
        spec = [{"kind": "file", "path": path, "op": "pread", "count": 5, "size": 4096,
                 "fill": 4096},
                {"kind": "file", "path": path, "op": "write", "count": 3, "size": 2048}]
        with Worker(spec) as w:
            start = time.monotonic()
            t = Tool("filetop", "-C", "-p", w.pid, "2", "2").start()
            # Right after an interval's output the next boundary is a second away.
            assert harness.wait_for(lambda: "loadavg:" in read_so_far(t), timeout=5)
            w.go()
            t.wait()
            took = time.monotonic() - start
        assert t.rc == 0, t.err
        assert 3.5 < took < 10, took
        assert "\x1b" not in t.out, "escape sequences in output that is not a terminal"
        blocks = split_intervals(t.out)
        assert len(blocks) == 2, t.out
        rows = []
        for header, cols, body in blocks:
            assert re.match(r"^\d\d:\d\d:\d\d loadavg: \d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+$",
                            header), header
            assert cols.split() == ["TID", "COMM", "READS", "WRITES", "R_Kb", "W_Kb", "T",
                                    "FILE"], cols
            rows += [(b, header) for b in body if b.endswith(" " + os.path.basename(path))]
        # One file, one row: the five reads and three writes all in the second interval.
        assert len(rows) == 1 and rows[0][1] == blocks[1][0], t.out
        assert rows[0][0].split() == [str(w.pid), "python3", "5", "3", "20", "6", "R",
                                      os.path.basename(path)], rows


def read_so_far(t):
    t._out.seek(0)
    return t._out.read().decode(errors="replace")


def split_intervals(out):
    """[(time/loadavg line, column header, [rows])] for each interval of text output."""
    blocks = []
    lines = out.split("\n")
    i = 0
    while i < len(lines):
        if "loadavg:" in lines[i]:
            assert lines[i + 1] == "", lines[i:i + 3]
            j = i + 3
            body = []
            while j < len(lines) and lines[j] != "":
                body.append(lines[j])
                j += 1
            blocks.append((lines[i], lines[i + 2], body))
            i = j
        else:
            assert lines[i] == "", f"stray line {lines[i]!r}"
            i += 1
    return blocks


def test_sort_orders():
    with tempfile.TemporaryDirectory() as d:
        spec = [
            {"kind": "file", "path": unique(d, "manyreads"), "op": "pread", "count": 50,
             "size": 100, "fill": 100},
            {"kind": "file", "path": unique(d, "bigreads"), "op": "pread", "count": 2,
             "size": 65536, "fill": 65536},
            {"kind": "file", "path": unique(d, "manywrites"), "op": "pwrite", "count": 20,
             "size": 1000},
            {"kind": "file", "path": unique(d, "bigwrite"), "op": "pwrite", "count": 1,
             "size": 100000},
        ]
        name = {os.path.basename(s["path"]).split("-")[1]: os.path.basename(s["path"]) for s in spec}
        with Worker(spec) as w:
            tools = {key: Tool("filetop", "-j", "-p", w.pid, "-s", key, *ONE).start()
                     for key in ("all", "reads", "writes", "rbytes", "wbytes")}
            w.go()
            for t in tools.values():
                t.stop()
        expect_first = {"all": "bigreads", "reads": "manyreads", "writes": "manywrites",
                        "rbytes": "bigreads", "wbytes": "bigwrite"}
        for key, t in tools.items():
            assert t.rc == 0, t.err
            rows = t.json()
            assert {r["file"] for r in rows} == set(name.values()), (key, rows)
            if key == "all":
                vals = [(r["rbytes"] + r["wbytes"], r["reads"] + r["writes"]) for r in rows]
            else:
                vals = [r[key] for r in rows]
            assert vals == sorted(vals, reverse=True), (key, vals)
            assert rows[0]["file"] == name[expect_first[key]], (key, rows)
        # The default is -s all.
        rows_all = tools["all"].json()
        assert [r["file"] for r in rows_all] == [name["bigreads"], name["bigwrite"],
                                                 name["manywrites"], name["manyreads"]]


def test_pid_filter_and_other_processes():
    with tempfile.TemporaryDirectory() as d:
        mine = unique(d, "mine")
        other = unique(d, "other")
        spec = [{"kind": "file", "path": mine, "op": "write", "count": 4, "size": 1024}]
        spec_other = [{"kind": "file", "path": other, "op": "write", "count": 2, "size": 1024}]
        with Worker(spec) as w, Worker(spec_other) as o:
            filtered = Tool("filetop", "-j", "-p", w.pid, *ONE).start()
            unfiltered = Tool("filetop", "-j", "-r", "10000", *ONE).start()
            w.go()
            o.go()
            filtered.stop()
            unfiltered.stop()
        f_rows, u_rows = filtered.json(), unfiltered.json()
        assert f_rows and {r["pid"] for r in f_rows} == {w.pid}, f_rows
        assert total(rows_for(f_rows, file=os.path.basename(mine)), "writes") == 4
        assert not rows_for(f_rows, file=os.path.basename(other))
        assert total(rows_for(u_rows, file=os.path.basename(mine), pid=w.pid), "wbytes") == 4096
        assert total(rows_for(u_rows, file=os.path.basename(other), pid=o.pid),
                     "wbytes") == 2048


def test_all_files_shows_pipes_and_sockets():
    with tempfile.TemporaryDirectory() as d:
        reg = unique(d, "reg")
        spec = [{"kind": "pipe", "op": "stream", "count": 3, "size": 4096},
                {"kind": "socket", "op": "stream", "count": 2, "size": 3000},
                {"kind": "file", "path": reg, "op": "write", "count": 1, "size": 10}]
        w, (all_t, reg_t) = watched_by(spec, ("-j", "-a"), ("-j",))
        rows = all_t.json()
        pipe_ino = w.inos[0]
        # Both ends of a pipe are one inode and one dentry: one row, reads and writes.
        pipe = rows_for(rows, file=f"pipe:[{pipe_ino}]")
        assert len(pipe) == 1, rows
        assert pipe[0]["type"] == "O"
        assert (pipe[0]["reads"], pipe[0]["writes"]) == (3, 3), pipe
        assert (pipe[0]["rbytes"], pipe[0]["wbytes"]) == (3 * 4096, 3 * 4096), pipe
        socks = [r for r in rows if r["type"] == "S"]
        assert len(socks) == 2, rows
        assert sorted((r["reads"], r["rbytes"], r["writes"], r["wbytes"]) for r in socks) == \
            [(0, 0, 2, 6000), (2, 6000, 0, 0)], socks
        assert rows_for(rows, file=os.path.basename(reg), type="R")
        # Without -a: the regular file only.
        assert [r["file"] for r in reg_t.json()] == [os.path.basename(reg)], reg_t.out


def test_full_path():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "a", "b c"))
        path = os.path.join(d, "a", "b c", "deep-" + uuid.uuid4().hex[:8])
        spec = [{"kind": "file", "path": path, "op": "pread", "count": 2, "size": 512,
                 "fill": 512},
                {"kind": "pipe", "op": "stream", "count": 1, "size": 100}]
        with Worker(spec) as w:
            t = Tool("filetop", "-j", "-F", "-a", "-p", w.pid, *ONE).start()
            w.go()
            t.stop()
        rows = t.json()
        assert t.rc == 0, t.err
        mine = rows_for(rows, file=os.path.realpath(path))
        assert len(mine) == 1 and mine[0]["reads"] == 2 and mine[0]["rbytes"] == 1024, rows
        # A pipe has no path: its name stays.
        assert rows_for(rows, file=f"pipe:[{w.inos[1]}]"), rows


def test_names_escaped_one_row():
    with tempfile.TemporaryDirectory() as d:
        evil = os.path.join(d, "x\n\x1b[31mred y")
        spec = [{"kind": "file", "path": evil, "op": "write", "count": 2, "size": 2048}]
        with Worker(spec) as w:
            t = Tool("filetop", "-C", "-p", w.pid, *ONE).start()
            j = Tool("filetop", "-j", "-p", w.pid, *ONE).start()
            w.go()
            t.stop()
            j.stop()
        assert "\x1b" not in t.out
        hits = [line for line in t.lines() if "red" in line]
        assert len(hits) == 1, t.out
        assert hits[0].endswith(" x\\n\\x1b[31mred y"), hits[0]
        assert hits[0].split()[2:6] == ["0", "2", "0", "4"], hits[0]
        # JSON gives the exact bytes back.
        assert [r["file"] for r in j.json()] == ["x\n\x1b[31mred y"]


def test_no_counts_lost_across_intervals():
    """Writes run across four interval boundaries: the drains must not lose or double any."""
    with tempfile.TemporaryDirectory() as d:
        path = unique(d, "steady")
        spec = [{"kind": "file", "path": path, "op": "for", "count": 3.2, "size": 512}]
        with Worker(spec) as w:
            t = Tool("filetop", "-j", "-p", w.pid, "1", "5").start()
            done = w.go()
            t.wait()
        rows = rows_for(t.json(), file=os.path.basename(path))
        assert len({r["interval"] for r in rows}) >= 3, rows
        assert total(rows, "writes") == done[0], (done, rows)
        assert total(rows, "wbytes") == done[0] * 512


def run_on_pty(*args):
    """Runs filetop with stdout on a terminal; returns what the terminal got."""
    master, slave = pty.openpty()
    p = subprocess.Popen([harness.tool_path("filetop")] + list(args), stdout=slave,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 10)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the tool exited and closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.wait(timeout=10)
    assert p.returncode == 0, p.stderr.read()
    return out.decode(errors="replace")


def test_clears_only_a_terminal():
    assert "\x1b[H\x1b[2J" in run_on_pty("1", "1")
    assert "\x1b" not in run_on_pty("-C", "1", "1")
    assert "\x1b" not in run_on_pty("-j", "1", "1")
    p = harness.run("filetop", "1", "1")
    assert p.returncode == 0 and "\x1b" not in p.stdout and "loadavg:" in p.stdout, p


def test_verbose_names_attach_path():
    """Without --attach: the first kind this kernel offers, in filetop's order (the raw
    tracepoint only where CORESCOPE_SYSCALL_TRACEPOINTS does not ask for the classic ones);
    and when fexit leaves out the readv family, it says so without -v."""
    for env, kinds in ((None, KINDS),
                       (dict(os.environ, CORESCOPE_SYSCALL_TRACEPOINTS="classic"),
                        [k for k in KINDS if k != "raw_tp"])):
        want = next(k for k in kinds if harness.kernel_offers(k, **POINT)[0])
        p = harness.run("filetop", "-v", "-j", "1", "1", env=env)
        assert p.returncode == 0, p.stderr
        assert re.findall(r"^filetop: attach: (\w+): ", p.stderr, re.M) == [want], p.stderr
    quiet = harness.run("filetop", "-j", "1", "1")
    assert quiet.returncode == 0, quiet.stderr
    partial = [l for l in p.stderr.splitlines() if "are not counted" in l]
    assert [l for l in quiet.stderr.splitlines() if "are not counted" in l] == partial, \
        quiet.stderr


def test_bad_options():
    harness.assert_usage_error("filetop", "-s", "bogus", contains="sort")
    harness.assert_usage_error("filetop", "-r", "0", contains="ROWS")
    harness.assert_usage_error("filetop", "-r", "abc", contains="ROWS")
    harness.assert_usage_error("filetop", "-p", "x", contains="PID")
    harness.assert_usage_error("filetop", "0", contains="interval")
    harness.assert_usage_error("filetop", "1", "0", contains="count")
    harness.assert_usage_error("filetop", "1", "2", "3")
    harness.assert_usage_error("filetop", "--bogus")
    harness.assert_usage_error("filetop", "--attach", "tp_btf", contains="attach")


def test_cut_path_marked():
    """-F on a file deeper than the walk goes (40 steps, the last for the root): the
    components found under "..." in text and JSON, and path_truncated in JSON."""
    with tempfile.TemporaryDirectory() as d:
        deep = [f"d{i:02}" for i in range(45)]
        os.makedirs(os.path.join(d, *deep))
        path = os.path.join(d, *deep, "f")
        spec = [{"kind": "file", "path": path, "op": "pwrite", "count": 3, "size": 10}]
        w, (tj, tt) = watched_by(spec, ("-j", "-F"), ("-F",))
        assert tj.rc == 0 and tt.rc == 0, tj.err + tt.err
        want = ".../" + "/".join(deep[-38:]) + "/f"
        rows = tj.json()
        assert [(r["file"], r["writes"], r.get("path_truncated")) for r in rows] == \
            [(want, 3, True)], rows
        body = [l for l in tt.lines() if l.split()[:1] == [str(w.pid)]]
        assert [l.split() for l in body] == [[str(w.pid), "python3", "0", "3", "0", "0", "R",
                                              want]], tt.out


# Writes (i + 1) * 1000 bytes to the i-th file named on its command line when told "go".
SIZED_WRITER = r"""
import os, sys
fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for p in sys.argv[1:]]
print("ready", flush=True)
sys.stdin.readline()
for i, fd in enumerate(fds):
    assert os.write(fd, b"x" * ((i + 1) * 1000)) == (i + 1) * 1000
print("done", flush=True)
sys.stdin.readline()
"""


def test_openmetrics_series_bounded_by_rows():
    """--openmetrics keeps one series per file for the first ROWS files to make a top, and
    adds the rest up in file="other": with -r 2 and four files, two named series, each with
    its file's bytes, and "other" with the remainder, to the byte."""
    with tempfile.TemporaryDirectory() as d:
        om = os.path.join(d, "filetop.prom")
        files = [os.path.join(d, f"f{i}") for i in range(4)]
        w = subprocess.Popen(["python3", "-c", SIZED_WRITER] + files, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            assert w.stdout.readline() == "ready\n"
            with Tool("filetop", "-j", "-r", "2", "--openmetrics", om, "-p", w.pid, "1") as t:
                w.stdin.write("go\n")
                w.stdin.flush()
                assert w.stdout.readline() == "done\n"
            # The stop's last interval wrote the file.
            with open(om) as f:
                text = f.read()
            harness.promtool_check(om)
        finally:
            w.stdin.close()
            w.wait(timeout=10)
    assert t.rc == 0, t.err
    series = {m.group(1): int(float(m.group(2))) for m in re.finditer(
        r'^corescope_filetop_written_bytes_total\{file="([^"]*)"[^}]*\} (\S+)$', text, re.M)}
    sizes = {os.path.basename(f): (i + 1) * 1000 for i, f in enumerate(files)}
    named = {k: v for k, v in series.items() if k != "other"}
    assert len(named) == 2 and "other" in series, text
    assert all(sizes[k] == v for k, v in named.items()), (named, text)
    assert series["other"] == sum(sizes.values()) - sum(named.values()), text
