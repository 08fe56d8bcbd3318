"""Container identity and filters on every tool, with real containers (tests/integration/
containers.py): the events of a process in a container name that container (id, runtime,
pod UID, PID inside it), host events name none, and --container and --cgroup keep exactly
that container's events."""
import os
import socket
import subprocess

import containers
import harness
import schema
from containers import Container, assert_host, assert_identity


def _pid_then(cmd):
    """A container script: a shell that prints its PID in the container's namespace, then
    becomes cmd, so the event's ns_pid is known."""
    return f"sh -c 'echo $$; exec {cmd}' 2>/dev/null; true"


_listener = None


def _port():
    """A loopback port that accepts connects (the handshake completes without accept())."""
    global _listener
    if _listener is None:
        _listener = socket.socket()
        _listener.bind(("127.0.0.1", 0))
        _listener.listen(128)
    return _listener.getsockname()[1]


def _connect_cmd(tag):
    # No quotes: the command goes inside the container script's single quotes.
    return ('python3 -c "import socket as s;c=s.socket();'
            f'c.connect((s.inet_ntoa(bytes([127,0,0,1])),{_port()}))"')


# tool: (arguments, the command that makes one event carrying tag, is this event it?)
EVENTS = {
    "execsnoop": ([], lambda tag: f"/bin/true {tag}",
                  lambda e, tag: e.get("args") == ["/bin/true", tag]),
    "opensnoop": ([], lambda tag: f"cat /nonexistent-{tag}",
                  lambda e, tag: e.get("path") == f"/nonexistent-{tag}"),
    "tcpconnlat": ([], _connect_cmd, lambda e, tag: e.get("dport") == _port()),
}


def _names_containers(tool):
    args, make, match = EVENTS[tool]
    tag = f"cs-{tool}-{os.getpid()}"
    with Container("nspawn") as ns, Container("docker") as dk, Container("k8s-containerd") as k8:
        with harness.Tool(tool, "-j", *args) as t:
            pids = {c.shape: int(c.run(_pid_then(make(tag))).split()[-1]) for c in (ns, dk, k8)}
            os.system(make(tag) + " 2>/dev/null")
        schema.validate(tool, t.json())
        schema.validate_shared(tool)
        ev = {}
        for e in t.json():
            if match(e, tag):
                ev.setdefault(e.get("container_id"), []).append(e)
        assert sorted(ev, key=str) == sorted([ns.id, dk.id, k8.id, None], key=str), ev
        for c in (ns, dk, k8):
            assert len(ev[c.id]) == 1, ev[c.id]
            assert_identity(ev[c.id][0], c, ns_pid=pids[c.shape])
        assert_host(ev[None][0])
        assert ev[None][0]["ns_pid"] == ev[None][0]["pid"]


def _filters_keep_one_container(tool):
    args, make, match = EVENTS[tool]
    tag = f"cs-{tool}-f-{os.getpid()}"
    with Container("docker") as a, Container("podman") as b:
        for filt in (["--container", a.id[:12]], ["--cgroup", a.cgroup]):
            with harness.Tool(tool, "-j", *args, *filt) as t:
                for c in (a, b):
                    c.run(_pid_then(make(tag)))
                os.system(make(tag) + " 2>/dev/null")
            ev = [e for e in t.json() if match(e, tag)]
            assert [e["container_id"] for e in ev] == [a.id], (filt, ev)
        # --mntns: a container process waits while the tool starts with its namespace, and
        # lives until b has run (a namespace's inode number is reused once it is freed).
        p = a.popen("read x; " + _pid_then(make(tag)) + "; read y", stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True)
        try:
            procs = os.path.join(a.cgroup, "cgroup.procs")
            host_ns = os.stat("/proc/self/ns/mnt").st_ino

            def container_mntns():
                for pid in open(procs).read().split():
                    try:
                        ino = os.stat(f"/proc/{pid}/ns/mnt").st_ino
                    except FileNotFoundError:
                        continue
                    if ino != host_ns:  # unshare has unshared
                        return ino
                return None
            assert harness.wait_for(container_mntns, timeout=10)
            mntns = container_mntns()
            with harness.Tool(tool, "-j", *args, "--mntns", mntns) as t:
                p.stdin.write("go\n")
                p.stdin.flush()
                assert p.stdout.readline().strip().isdigit()
                b.run(_pid_then(make(tag)))
                os.system(make(tag) + " 2>/dev/null")
                p.communicate("done\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        ev = [e for e in t.json() if match(e, tag)]
        assert [(e["container_id"], e["mntns"]) for e in ev] == [(a.id, mntns)], ev


def test_execsnoop_names_containers():
    _names_containers("execsnoop")


def test_execsnoop_filters():
    _filters_keep_one_container("execsnoop")


def test_opensnoop_names_containers():
    _names_containers("opensnoop")


def test_opensnoop_filters():
    _filters_keep_one_container("opensnoop")


def test_tcpconnlat_names_containers():
    _names_containers("tcpconnlat")


def test_tcpconnlat_filters():
    _filters_keep_one_container("tcpconnlat")


def test_container_option_errors():
    prefix = "c5c5" + containers._hexid()[:8]
    with Container("docker", prefix + "a" * 52) as a, Container("k8s-crio-cgroupfs", prefix + "b" * 52):
        harness.assert_usage_error("execsnoop", "--container", "ffffffffffffx",
                                   contains="no running container")
        harness.assert_usage_error("execsnoop", "--container", prefix,
                                   contains="more than one container")
        harness.assert_usage_error("execsnoop", "--container", a.id[:12], "-c", a.cgroup,
                                   contains="give one")
