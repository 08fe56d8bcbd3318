"""execsnoop against the real kernel: processes the test starts, with crafted argv."""
import os
import shutil
import subprocess
import tempfile
import uuid

import harness
from harness import Tool


def spawn(argv, **kw):
    """Runs argv (bytes allowed) to completion; returns its pid."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    p.wait()
    return p.pid


def events_for(tool, pid):
    return [e for e in tool.json() if e.get("pid") == pid]


@harness.each_attach_kind("execsnoop", ("raw_tp", "tp_btf"),
                          tp="sched:sched_process_exec")
def test_argv_exact_json(kind):
    """The same exec, argument for argument, from the raw tracepoint (the default) and from
    the BTF-typed one."""
    tag = uuid.uuid4().hex
    argv = ["/bin/echo", tag, "two words", 'q"uote', "back\\slash", "tab\there", "nl\nx", "é"]
    with Tool("execsnoop", "-j", "-v", "--attach", kind) as t:
        pid = spawn(argv)
    assert f"execsnoop: successful execs: {kind} sched_process_exec" in t.err, t.err
    ev = events_for(t, pid)
    assert len(ev) == 1, t.out
    e = ev[0]
    assert e["args"] == argv, e
    assert e["comm"] == "echo" and e["ret"] == 0
    assert e["ppid"] == os.getpid()
    assert e["args_truncated"] is False
    assert e["uid"] == 0


def test_invalid_utf8_and_escapes_in_text():
    tag = uuid.uuid4().hex
    raw = [b"/bin/echo", tag.encode(), b"\xff\xfe", b"\x1b[2Jclear"]
    with Tool("execsnoop", "-q") as t:
        pid = spawn(raw)
    lines = [l for l in t.lines() if tag in l]
    assert len(lines) == 1, t.out
    assert "\x1b" not in t.out
    assert lines[0].endswith(f'"/bin/echo" "{tag}" "\\xff\\xfe" "\\x1b[2Jclear"'), lines[0]
    cols = lines[0].split()
    assert cols[0] == "echo" and int(cols[1]) == pid and int(cols[2]) == os.getpid()
    assert cols[3] == "0"


def test_json_roundtrips_bytes():
    tag = uuid.uuid4().hex
    raw = [b"/bin/echo", tag.encode(), b"\xff\xfe", b"ok\x01"]
    with Tool("execsnoop", "-j") as t:
        pid = spawn(raw)
    e = events_for(t, pid)[0]
    got = [a.encode("utf-8", "surrogateescape") for a in e["args"]]
    assert got == raw, got


def test_failed_exec_with_x():
    tag = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as d:
        noexec = os.path.join(d, "noexec")
        with open(noexec, "w") as f:
            f.write("data")
        code = ("import os, sys\n"
                f"for path in ['/nonexistent/{tag}', {noexec!r}]:\n"
                "    try:\n"
                f"        os.execv(path, [path, 'arg-{tag}'])\n"
                "    except OSError:\n"
                "        pass\n")
        with Tool("execsnoop", "-x", "-j") as t:
            pid = spawn(["/usr/bin/python3", "-c", code])
        failed = [e for e in events_for(t, pid) if e["ret"] != 0]
        assert [e["ret"] for e in failed] == [-2, -13], failed
        assert failed[0]["args"] == [f"/nonexistent/{tag}", f"arg-{tag}"]
        assert failed[1]["args"] == [noexec, f"arg-{tag}"]
        assert failed[0]["comm"] == "python3"
    # Without -x the failures are not shown: python3's own exec is, alone.
    with Tool("execsnoop", "-j") as t:
        pid = spawn(["/usr/bin/python3", "-c", code])
    assert [(e["ret"], e["args"][0]) for e in events_for(t, pid)] == [(0, "/usr/bin/python3")], \
        t.out[-2000:]
    assert all(e["ret"] == 0 for e in t.json())


def test_empty_arguments_and_cut_failed_arguments():
    """An empty argument is one (also the last); a failed exec's argument or list cut by
    the per-argument (1023 bytes) or per-list bound is marked as cut."""
    tag = uuid.uuid4().hex
    code = ("import os\n"
            "for argv in [['p', 'a', ''], ['p', 'x' * 1023], ['p', 'y' * 1500, 'z'],\n"
            "             ['p'] + [str(i) for i in range(200)]]:\n"
            "    try:\n"
            f"        os.execv('/nonexistent/{tag}', argv)\n"
            "    except OSError:\n"
            "        pass\n")
    with Tool("execsnoop", "-x", "-j", "--max-args", "1000") as t:
        ok = spawn(["/bin/true", tag, ""])
        pid = spawn(["/usr/bin/python3", "-c", code])
    assert [e["args"] for e in events_for(t, ok)] == [["/bin/true", tag, ""]], t.out[-2000:]
    failed = [e for e in events_for(t, pid) if e["ret"] == -2]
    assert len(failed) == 4, failed
    assert failed[0]["args"] == ["p", "a", ""] and not failed[0]["args_truncated"], failed[0]
    assert failed[1]["args"] == ["p", "x" * 1023] and not failed[1]["args_truncated"], \
        failed[1]
    assert failed[2]["args"] == ["p", "y" * 1023] and failed[2]["args_truncated"], failed[2]
    assert failed[3]["args_truncated"] and len(failed[3]["args"]) < 201, failed[3]
    assert failed[3]["args"] == ["p"] + [str(i) for i in range(len(failed[3]["args"]) - 1)]
    with Tool("execsnoop", "-q") as t:
        ok = spawn(["/bin/true", tag, ""])
    assert [l for l in t.lines() if tag in l][0].endswith(f'"/bin/true" "{tag}" ""'), t.out


def test_fexecve_execveat():
    tag = uuid.uuid4().hex
    code = ("import os\n"
            "fd = os.open('/bin/echo', os.O_RDONLY)\n"
            f"os.execve(fd, ['echo-by-fd', '{tag}'], {{}})\n")
    with Tool("execsnoop", "-j") as t:
        pid = spawn(["/usr/bin/python3", "-c", code])
    ev = [e for e in events_for(t, pid) if tag in e["args"]]
    assert len(ev) == 1, t.out
    assert ev[0]["args"] == ["echo-by-fd", tag]
    assert ev[0]["ret"] == 0


def test_max_args_truncation():
    argv = ["/bin/true"] + [f"a{i}" for i in range(30)]
    with Tool("execsnoop", "--max-args", "5", "-j") as t:
        pid = spawn(argv)
    e = events_for(t, pid)[0]
    assert e["args"] == argv[:5] and e["args_truncated"] is True
    with Tool("execsnoop", "--max-args", "5") as t:
        pid = spawn(argv)
    line = [l for l in t.lines() if f" {pid} " in l][0]
    assert line.endswith("/bin/true a0 a1 a2 a3 ..."), line
    # Argument lists longer than the captured area are cut and flagged too.
    long = ["/bin/true"] + ["x" * 1000] * 12
    with Tool("execsnoop", "--max-args", "100", "-j") as t:
        pid = spawn(long)
    e = events_for(t, pid)[0]
    assert e["args_truncated"] is True and e["args"][:8] == long[:8], e["args"][:2]


def test_filters_name_line_ppid_uid():
    tag = uuid.uuid4().hex
    with Tool("execsnoop", "-j", "-n", "echo") as t:
        spawn(["/bin/true", tag])
        p_echo = spawn(["/bin/echo", tag])
        assert t.proc.poll() is None
    assert {e["comm"] for e in t.json()} == {"echo"}
    assert p_echo in {e["pid"] for e in t.json()}

    with Tool("execsnoop", "-j", "-l", f"x{tag}") as t:
        spawn(["/bin/true", tag])
        p_line = spawn(["/bin/true", "--opt", f"x{tag}y"])
    assert [e["pid"] for e in t.json()] == [p_line]

    parent = subprocess.Popen(["/bin/sh", "-c", "read x; /bin/true child-of-sh"],
                              stdin=subprocess.PIPE)
    try:
        with Tool("execsnoop", "-j", "-P", parent.pid) as t:
            spawn(["/bin/true", "not-a-child"])
            parent.communicate(b"go\n", timeout=10)
    finally:
        parent.kill()
    ev = t.json()
    assert ev and all(e["ppid"] == parent.pid for e in ev), ev
    assert ["/bin/true", "child-of-sh"] in [e["args"] for e in ev]

    with Tool("execsnoop", "-j", "-u", "65534", "-U") as t:
        spawn(["/bin/true", "as-root"])
        nob = spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                     "/bin/true", "as-nobody"])
    ev = t.json()
    assert ev and all(e["uid"] == 65534 for e in ev), ev
    assert ["/bin/true", "as-nobody"] in [e["args"] for e in ev]
    assert nob > 0


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise harness.Skip("no cgroup v2 mount")


def test_cgroup_filter():
    root = cgroup2_root()
    cg = os.path.join(root, "corescope-test-" + uuid.uuid4().hex[:8])
    os.mkdir(cg)
    try:
        inside = subprocess.Popen(["/bin/sh", "-c", "read x; /bin/true in-cgroup"],
                                  stdin=subprocess.PIPE)
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(inside.pid))
        with Tool("execsnoop", "-j", "-c", cg) as t:
            spawn(["/bin/true", "outside"])
            inside.communicate(b"go\n", timeout=10)
        ev = t.json()
        assert [e["args"] for e in ev] == [["/bin/true", "in-cgroup"]], ev
    finally:
        os.rmdir(cg)
    harness.assert_usage_error("execsnoop", "-c", "/nonexistent-cgroup", expect_rc=1)


def test_time_columns():
    with Tool("execsnoop", "-T", "-t", "-U") as t:
        pid = spawn(["/bin/true", "cols"])
    header = t.lines()[0].split()
    assert header == ["TIME", "TIME(s)", "UID", "PCOMM", "PID", "PPID", "RET", "ARGS"], header
    line = [l for l in t.lines() if f" {pid} " in l][0].split()
    assert len(line[0]) == 8 and line[0].count(":") == 2
    assert float(line[1]) >= 0 and line[2] == "0" and line[3] == "true"


def test_head_exits_cleanly():
    before = harness.bpf_prog_ids()
    p = subprocess.Popen(f"{harness.tool_path('execsnoop')} | head -1", shell=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(100):
        spawn(["/bin/true"])
        if p.poll() is not None:
            break
    out, err = p.communicate(timeout=20)
    assert out.decode().split()[:3] == ["PCOMM", "PID", "PPID"], out
    assert p.returncode == 0, err
    assert harness.wait_for(lambda: not harness.leftover_progs(before, "execsnoop")), \
        harness.leftover_progs(before, "execsnoop")


def test_bad_options():
    harness.assert_usage_error("execsnoop", "--max-args", "0", contains="--max-args")
    harness.assert_usage_error("execsnoop", "--max-args", "abc")
    harness.assert_usage_error("execsnoop", "-u", "-5")
    harness.assert_usage_error("execsnoop", "-u", "99999999999999999999")
    harness.assert_usage_error("execsnoop", "-P")
    harness.assert_usage_error("execsnoop", "-Z")
    harness.assert_usage_error("execsnoop", "stray")


def test_works_without_tracefs_mounted():
    """Private mount namespace without tracefs: default mode needs none, -x mounts it."""
    tool = harness.tool_path("execsnoop")
    code = ("umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; " +
            harness.shell_traced(f"{tool} -j -x", "/bin/true ns-ok; /nonexistent-ns 2>/dev/null"))
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    ev = harness.json_lines(p.stdout)
    assert ["/bin/true", "ns-ok"] in [e.get("args") for e in ev], p.stdout
    assert any(e.get("ret") == -2 and e.get("args") == ["/nonexistent-ns"] for e in ev), p.stdout


def test_btf_file_and_perf_buffer():
    """--btf with a copy of the kernel's BTF, and events through the perf buffer."""
    with tempfile.TemporaryDirectory() as d:
        btf = os.path.join(d, "vmlinux.btf")
        shutil.copy("/sys/kernel/btf/vmlinux", btf)
        env = dict(os.environ, CORESCOPE_EVENTS="perf")
        with Tool("execsnoop", "-j", "-v", "--btf", btf, env=env) as t:
            pid = spawn(["/bin/true", "via-btf-file"])
        assert "perf buffer" in t.err
        assert [e["args"] for e in t.json() if e.get("pid") == pid] == [["/bin/true", "via-btf-file"]]
    harness.assert_usage_error("execsnoop", "--btf", "/nonexistent.btf")
