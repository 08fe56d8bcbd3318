"""opensnoop against the real kernel: a workload of opens the test controls."""
import errno
import os
import subprocess
import tempfile
import time
import uuid

import harness
from harness import Tool


def opener(*paths, cwd=None, dirfd_base=None):
    """A child process that opens each path (relative to dirfd_base when given) and exits."""
    code = (
        "import os, sys\n"
        "base = sys.argv[1]\n"
        "d = os.open(base, os.O_RDONLY) if base else None\n"
        "for p in sys.argv[2:]:\n"
        "    try:\n"
        "        fd = os.open(p, os.O_RDONLY, dir_fd=d) if d is not None else os.open(p, os.O_RDONLY)\n"
        "        os.close(fd)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    p = subprocess.Popen(["/usr/bin/python3", "-c", code, dirfd_base or ""] + list(paths),
                         cwd=cwd)
    p.wait()
    return p.pid


def test_open_fields_json():
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "file-" + uuid.uuid4().hex)
        open(name, "w").close()
        missing = os.path.join(d, "missing-" + uuid.uuid4().hex)
        with Tool("opensnoop", "-j") as t:
            pid = opener(name, missing)
        ev = [e for e in t.json() if e.get("pid") == pid]
        ok = [e for e in ev if e["path"] == name]
        bad = [e for e in ev if e["path"] == missing]
        assert len(ok) == 1, ev
        assert ok[0]["fd"] >= 3 and ok[0]["err"] == 0
        assert ok[0]["comm"] == "python3"
        assert ok[0]["tid"] == pid
        assert len(bad) == 1 and bad[0]["fd"] == -1 and bad[0]["err"] == 2, bad
        assert t.rc == 0


def test_pid_filter_and_failed_only():
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "f")
        open(name, "w").close()
        missing = os.path.join(d, "nope")
        other = opener(name)  # a process before the tool: irrelevant
        sleeper = subprocess.Popen(["/usr/bin/python3", "-c",
                                    "import os,sys,time\n"
                                    "sys.stdin.readline()\n"
                                    f"for p in [{name!r}, {missing!r}]:\n"
                                    "    try: os.close(os.open(p, os.O_RDONLY)); print(0)\n"
                                    "    except OSError as e: print(e.errno)\n"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            with Tool("opensnoop", "-j", "-x", "-p", sleeper.pid) as t:
                opener(name, missing)  # another process: filtered out
                said, _ = sleeper.communicate("go\n", timeout=10)
        finally:
            sleeper.kill()
        # The process's own word that it made both opens while the tool was attached.
        assert said.split() == ["0", str(errno.ENOENT)] and sleeper.returncode == 0, said
        ev = t.json()
        assert ev, t.err
        assert all(e["pid"] == sleeper.pid for e in ev), ev
        assert all(e["err"] != 0 for e in ev), ev
        assert [e["path"] for e in ev if e["path"] in (name, missing)] == [missing]
        assert other != sleeper.pid


def test_full_path_cwd_and_dirfd():
    with tempfile.TemporaryDirectory() as d:
        real = os.path.realpath(d)
        os.makedirs(os.path.join(d, "a", "b"))
        target = os.path.join(real, "a", "b", "t-" + uuid.uuid4().hex)
        open(target, "w").close()
        leaf = os.path.basename(target)
        with Tool("opensnoop", "-j", "-F") as t:
            p1 = opener(f"./b/../b/{leaf}", f"b/missing-{leaf}", cwd=os.path.join(d, "a"))
            p2 = opener(f"a/./b/{leaf}", f"a/b/../zz-{leaf}", dirfd_base=d)
        by = lambda pid: {e["path"]: e for e in t.json() if e.get("pid") == pid}
        e1, e2 = by(p1), by(p2)
        assert target in e1 and e1[target]["fd"] >= 0, e1.keys()
        assert os.path.join(real, "a", "b", "missing-" + leaf) in e1, e1.keys()
        assert target in e2, e2.keys()
        assert os.path.join(real, "a", "zz-" + leaf) in e2, e2.keys()


def test_name_filter_keeps_running():
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "n")
        open(name, "w").close()
        with Tool("opensnoop", "-j", "-n", "python") as t:
            subprocess.run(["/bin/cat", name], check=True, capture_output=True)
            p1 = opener(name)
            subprocess.run(["/bin/cat", name], check=True, capture_output=True)
            p2 = opener(name)
            assert t.proc.poll() is None, "opensnoop -n stopped"
        ev = t.json()
        assert all("python" in e["comm"] for e in ev), ev
        pids = {e["pid"] for e in ev if e["path"] == name}
        assert {p1, p2} <= pids


def test_text_columns_and_escaping():
    with tempfile.TemporaryDirectory() as d:
        evil = os.path.join(d, "x\n\x1b[31mred y")
        open(evil, "w").close()
        with Tool("opensnoop", "-U", "-e") as t:
            pid = opener(evil)
        lines = t.lines()
        assert lines[0].split() == ["UID", "PID", "COMM", "FD", "ERR", "FLAGS", "MODE", "PATH"]
        mine = [l for l in lines if f" {pid} " in l and "red" in l]
        assert len(mine) == 1, lines
        assert "\x1b" not in t.out
        assert mine[0].endswith("/x\\n\\x1b[31mred y"), mine[0]
        assert "O_RDONLY" in mine[0]


def test_head_exits_cleanly():
    before = harness.bpf_prog_ids()
    p = subprocess.Popen(f"{harness.tool_path('opensnoop')} | head -1", shell=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(50):
        opener("/etc/hostname")
        if p.poll() is not None:
            break
    out, err = p.communicate(timeout=20)
    assert out.decode().split()[:2] == ["PID", "COMM"], out
    assert p.returncode == 0
    assert harness.wait_for(lambda: not harness.leftover_progs(before, "opensnoop")), \
        harness.leftover_progs(before, "opensnoop")


def test_bad_options():
    harness.assert_usage_error("opensnoop", "-p", "abc", contains="PID")
    harness.assert_usage_error("opensnoop", "-p", "-5")
    harness.assert_usage_error("opensnoop", "--bogus")
    harness.assert_usage_error("opensnoop", "-d", "1x")
    harness.assert_usage_error("opensnoop", "extra")


def test_duration_ends_tool():
    """-d ends the tool by itself, having traced until then."""
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "dur-" + uuid.uuid4().hex)
        open(name, "w").close()
        start = time.monotonic()
        t = Tool("opensnoop", "-d", "1", "-j").start()
        pid = opener(name)
        t.wait(timeout=10)
        took = time.monotonic() - start
    assert t.rc == 0, t.err
    assert len([e for e in t.json() if e.get("pid") == pid and e["path"] == name]) == 1, \
        t.out[-1000:]
    assert took >= 1.0, took


def test_works_without_tracefs_mounted():
    """A private mount namespace where tracefs is not mounted: the tool mounts its own."""
    code = ("umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; " +
            harness.shell_traced(
                f"CORESCOPE_SYSCALL_TRACEPOINTS=classic {harness.tool_path('opensnoop')} -j",
                "cat /etc/hostname >/dev/null"))
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    ev = harness.json_lines(p.stdout)
    assert any(e.get("path") == "/etc/hostname" and e.get("comm") == "cat" for e in ev), p.stdout[-500:]


def test_perf_buffer_fallback():
    """The perf buffer path that kernels without a ring buffer take, forced on this one."""
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "pb-" + uuid.uuid4().hex)
        open(name, "w").close()
        env = dict(os.environ, CORESCOPE_EVENTS="perf")
        with Tool("opensnoop", "-j", "-v", env=env) as t:
            pid = opener(*[name] * 50)
        assert "events through the perf buffer" in t.err, t.err
        ev = [e for e in t.json() if e.get("pid") == pid and e.get("path") == name]
        assert len(ev) == 50, len(ev)
        assert "events lost" not in t.err, t.err


def test_lost_events_are_counted():
    """A stalled consumer: the ring fills, and every event is either printed or counted."""
    n = 60000
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "L" * 200)
        open(name, "w").close()
        worker = subprocess.Popen(
            ["/usr/bin/python3", "-c",
             "import os, sys\nsys.stdin.readline()\n"
             f"for _ in range({n}):\n    os.close(os.open({name!r}, os.O_RDONLY))\n"],
            stdin=subprocess.PIPE)
        t = Tool("opensnoop", "-j", "-p", worker.pid).start()
        try:
            os.kill(t.proc.pid, 19)  # SIGSTOP: the consumer falls behind
            worker.communicate(b"go\n", timeout=60)
        finally:
            os.kill(t.proc.pid, 18)  # SIGCONT
        t.stop()
        ev = t.json()
        got = sum(1 for e in ev if e.get("path") == name)
        lost = [e["lost_events"] for e in ev if "lost_events" in e]
        assert lost and lost[0] > 0, "the ring should have overflowed"
        assert got + lost[0] == n, (got, lost, t.err,
                                    [e for e in ev if e.get("path") != name][:5])
        assert "events lost" in t.err


def test_adversarial_names_text_and_json():
    """Names with newlines, ANSI escapes, quotes, backslashes and invalid UTF-8: one escaped
    line in text, valid JSON (jq parses it) whose strings give back the exact bytes."""
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d.encode(), b'n\nl \x1b[1;31m "q" \\b \xff\xfe end')
        open(raw, "w").close()
        code = f"import os; os.close(os.open({raw!r}, os.O_RDONLY))"
        with Tool("opensnoop", "-j") as tj:
            pid = spawn_py(code)
        with Tool("opensnoop") as tt:
            pid2 = spawn_py(code)
    jq = subprocess.run(["jq", "-c", "."], input=tj.out, capture_output=True, text=True,
                        errors="surrogateescape")
    assert jq.returncode == 0, jq.stderr
    mine = [e for e in tj.json() if e.get("pid") == pid and "end" in e["path"]]
    assert len(mine) == 1
    assert mine[0]["path"].encode("utf-8", "surrogateescape") == raw
    lines = [l for l in tt.lines() if f" {pid2} " in l and "end" in l]
    assert len(lines) == 1 and "\x1b" not in tt.out
    assert lines[0].endswith('n\\nl \\x1b[1;31m "q" \\\\b \\xff\\xfe end'), lines[0]


def spawn_py(code):
    p = subprocess.Popen(["/usr/bin/python3", "-c", code])
    p.wait()
    return p.pid


def test_entry_path_of_older_kernels():
    """Kernels before 5.15 keep the arguments from an entry program in a map: forced here,
    the same fields, a dirfd-relative -F path and a failed open come out."""
    entry_or_exit_path(dict(os.environ, CORESCOPE_ARGS_AT_ENTRY="1"), "at syscall entry",
                       "opensnoop: openat: tracing")  # arm64 has no open(2)


def test_classic_exit_tracepoints():
    """The classic sys_exit_open* tracepoints (where the raw sys_exit is not used): the same
    fields as the default raw tracepoint gives. The exit programs read the arguments from
    the saved registers (bpf_task_pt_regs, 5.15); before, the entry programs keep them."""
    entry_or_exit_path(dict(os.environ, CORESCOPE_SYSCALL_TRACEPOINTS="classic"),
                       "at syscall exit" if harness._kernel_at_least(5, 15) else
                       "at syscall entry", "opensnoop: openat: tracing")


def test_raw_sys_exit_by_default():
    """By default one raw sys_exit program, filtered by syscall number: it stops at once."""
    entry_or_exit_path(dict(os.environ), "at syscall exit", "raw tracepoint sys_exit")


def entry_or_exit_path(env, how, attach):
    with tempfile.TemporaryDirectory() as d:
        real = os.path.realpath(d)
        os.makedirs(os.path.join(d, "a"))
        target = os.path.join(real, "a", "e-" + uuid.uuid4().hex)
        open(target, "w").close()
        leaf = os.path.basename(target)
        with Tool("opensnoop", "-j", "-F", "-v", env=env) as t:
            pid = opener(f"a/./{leaf}", f"a/../missing-{leaf}", dirfd_base=d)
        assert f"arguments read {how}" in t.err, t.err
        assert attach in t.err, t.err
        ev = {e["path"]: e for e in t.json() if e.get("pid") == pid}
        assert target in ev, (ev, t.err[-3000:], t.out[-3000:])
        assert ev[target]["fd"] >= 3 and ev[target]["err"] == 0, ev
        assert ev[os.path.join(real, "missing-" + leaf)]["err"] == 2, ev


# bpf/path.h: the walk takes at most 40 steps (one per component, one per mount point
# crossed, the last one for the root) and keeps components (each with its NUL) while the
# bytes gathered before one are under 4096.
WALK_STEPS, WALK_BYTES = 40, 4096


def kept_by_bytes(leaf_first):
    kept, off = [], 0
    for c in leaf_first:
        if off > WALK_BYTES - 1:
            break
        kept.append(c)
        off += len(c) + 1
    return kept


def make_chain(base, names):
    """Directories base/names[0]/names[1]/..., made through directory fds (the whole may be
    longer than PATH_MAX)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for n in names:
        os.mkdir(n, dir_fd=fd)
        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


def test_cut_paths_marked_text_and_json():
    """A walk that stops before the root (too deep, too long) gives ".../rest" with
    path_truncated in JSON, in text the same path: never a shortened path shown as whole."""
    with tempfile.TemporaryDirectory() as d:
        deep = [f"d{i:02}" for i in range(WALK_STEPS + 5)]
        long = [f"{i:02}" + "l" * 248 for i in range(20)]
        make_chain(d, deep)
        make_chain(d, long)
        # Each chain walked by directory fds, then: the file opened, and in the deep one a
        # failed open relative to the cwd (its directory's walk is cut too).
        code = (
            "import os, sys\n"
            "def walk(names):\n"
            "    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
            "    for n in names:\n"
            "        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)\n"
            "        os.close(fd)\n"
            "        fd = nfd\n"
            "    return fd\n"
            f"fd = walk({deep!r})\n"
            "os.close(os.open('f', os.O_RDONLY, dir_fd=fd))\n"
            "os.fchdir(fd)\n"
            "for n in ('missing', '../../gone'):\n"
            "    try: os.open(n, os.O_RDONLY)\n"
            "    except OSError: pass\n"
            f"fd = walk({long!r})\n"
            "os.close(os.open('f', os.O_RDONLY, dir_fd=fd))\n")
        with Tool("opensnoop", "-j", "-F") as tj, Tool("opensnoop", "-F") as tt:
            p = subprocess.Popen(["/usr/bin/python3", "-c", code, d])
            assert p.wait() == 0
        # The deep chain is one file system below d: every step but the last is a component
        # (the file's, or for the failed opens the cwd's own).
        kept_deep, cwd_deep = deep[-(WALK_STEPS - 2):], deep[-(WALK_STEPS - 1):]
        want = [("f", ".../" + "/".join(kept_deep) + "/f", 0),
                ("missing", ".../" + "/".join(cwd_deep) + "/missing", 2),
                ("../../gone", ".../" + "/".join(cwd_deep[:-2]) + "/gone", 2),
                ("f", ".../" + "/".join(kept_by_bytes(["f"] + long[::-1])[:0:-1]) + "/f", 0)]
        # The directories opened on the way are cut too from some depth on.
        ends = ("/f", "/missing", "/gone")
        ev = [e for e in tj.json() if e.get("pid") == p.pid]
        mine = [e for e in ev if e["path"].endswith(ends)]
        assert [(e["path"], e["err"]) for e in mine] == [(w[1], w[2]) for w in want], mine
        assert all(e["path_truncated"] is True for e in mine), mine
        # The marker is exactly where the walk stopped: the key only on cut paths.
        assert all(e["path"].startswith(".../") == ("path_truncated" in e) for e in ev)
        text = [l.split(None, 4) for l in tt.lines()[1:]]
        got = [(c[4], c[3]) for c in text if c[0] == str(p.pid) and c[4].endswith(ends)]
        assert got == [(w[1], str(w[2])) for w in want], got


def test_name_longer_than_read_marked_cut():
    """A name longer than the 4096 bytes read (the kernel refuses it): the part read and
    "..." in text and JSON, path_truncated in JSON, with and without -F."""
    name = "n" * 5000
    with Tool("opensnoop", "-j") as tj, Tool("opensnoop", "-F") as tt:
        pid = opener(name, "short-" + uuid.uuid4().hex)
    want = "n" * 4095 + "..."
    mine = [e for e in tj.json() if e.get("pid") == pid and e["path"].startswith("nnn")]
    assert [(e["path"], e["err"], e.get("path_truncated")) for e in mine] == \
        [(want, 36, True)], [(e["path"][-10:], e["err"]) for e in mine]
    text = [l.split(None, 4) for l in tt.lines()[1:]]
    assert [c[4] for c in text if c[0] == str(pid) and c[4].startswith("nnn")] == [want]
    assert not any("path_truncated" in e for e in tj.json() if e.get("pid") == pid and
                   e["path"].startswith("short-")), tj.out[-500:]


def test_path_outside_chroot_marked_cut():
    """A file opened through a directory fd kept from before a chroot: its walk never meets
    the process's root, and reaches the top of the mount tree: cut, ".../etc/hostname"."""
    with tempfile.TemporaryDirectory() as d:
        code = ("import os\n"
                "fd = os.open('/etc', os.O_RDONLY | os.O_DIRECTORY)\n"
                f"os.chroot({d!r})\n"
                "os.close(os.open('hostname', os.O_RDONLY, dir_fd=fd))\n")
        with Tool("opensnoop", "-j", "-F") as t:
            p = subprocess.Popen(["/usr/bin/python3", "-c", code])
            assert p.wait() == 0
        ev = [e for e in t.json() if e.get("pid") == p.pid and e["path"].endswith("hostname")]
        assert [(e["path"], e.get("path_truncated")) for e in ev] == \
            [(".../etc/hostname", True)], ev
