"""Container identity and filters on every tool, with real containers (tests/integration/
containers.py): the events of a process in a container name that container (id, runtime,
pod UID, PID inside it), host events name none, and --container and --cgroup keep exactly
that container's events."""
import contextlib
import datetime
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

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
    "execsnoop": (["-T"], lambda tag: f"/bin/true {tag}",
                  lambda e, tag: e.get("args") == ["/bin/true", tag]),
    "opensnoop": (["-T"], lambda tag: f"cat /nonexistent-{tag}",
                  lambda e, tag: e.get("path") == f"/nonexistent-{tag}"),
    "tcpconnlat": (["-T"], _connect_cmd, lambda e, tag: e.get("dport") == _port()),
    # One row per (thread, file): three reads of a file every container has.
    "filetop": (["--maxrows", "10000"], lambda tag: "dd if=/usr/bin/true of=/dev/null bs=64 count=3 status=none",
                lambda e, tag: (e.get("file"), e.get("comm"), e.get("reads")) == ("true", "dd", 3)),
}


# tool: (text arguments, is this text line the event of that tag?)
TEXT = {
    "execsnoop": ([], lambda line, tag: line.split()[:1] == ["true"] and
                  line.split()[-2:] == ["/bin/true", tag]),
    "opensnoop": ([], lambda line, tag: line.split()[-1:] == [f"/nonexistent-{tag}"]),
    "tcpconnlat": ([], lambda line, tag: str(_port()) in line.split()),
    "filetop": (["-C", "--maxrows", "10000"],
                lambda line, tag: line.split()[-1:] == ["true"] and "dd" in line.split()
                and line.split()[-6:-5] == ["3"]),
}


def _names_containers(tool):
    args, make, match = EVENTS[tool]
    text_args, text_match = TEXT[tool]
    tag = f"cs-{tool}-{os.getpid()}"
    with contextlib.ExitStack() as stack:
        ctrs = [stack.enter_context(Container(shape)) for shape in
                ("nspawn", "docker", "podman", "k8s-containerd", "k8s-crio-cgroupfs")]
        with harness.Tool(tool, "-j", *args) as t, \
                harness.Tool(tool, "--containers", *text_args) as text:
            pids = {c.shape: int(c.run(_pid_then(make(tag))).split()[-1]) for c in ctrs}
            os.system(make(tag) + " 2>/dev/null")
        # --containers in text: NSPID (the PID in the container) and CONTAINER (12 digits
        # of the id, or the machine's name) on each container's line, "-" on the host's.
        head = next(line for line in text.lines() if "NSPID" in line)
        assert "CONTAINER" in head.split(), text.out
        rows = [line.split() for line in text.lines() if text_match(line, tag)]
        for c in ctrs:
            label = c.id if c.shape == "nspawn" else c.id[:12]
            mine = [r for r in rows if label in r]
            assert len(mine) == 1 and str(pids[c.shape]) in mine[0], \
                (c.shape, text.out, text.err[-1000:], t.err[-1000:])
            col = head.split().index("CONTAINER")
            assert mine[0][col] == label and mine[0][col - 1] == str(pids[c.shape]), \
                (c.shape, head, mine)
        host = [r for r in rows if not any(c.id[:12] in r or c.id in r for c in ctrs)]
        assert len(host) == 1 and host[0][col] == "-" and host[0][col - 1] == "-", \
            (host, text.out)
        schema.validate(tool, harness.json_lines(t.out))
        schema.validate_shared(tool)
        ev = {}
        for e in t.json():
            if match(e, tag):
                ev.setdefault(e.get("container_id"), []).append(e)
        assert sorted(ev, key=str) == sorted([c.id for c in ctrs] + [None], key=str), ev
        schema.validate(tool, sum(ev.values(), []))  # every value of these checked
        for c in ctrs:
            assert len(ev[c.id]) == 1, ev[c.id]
            assert_identity(ev[c.id][0], c, ns_pid=pids[c.shape])
        assert_host(ev[None][0])
        assert ev[None][0]["ns_pid"] == ev[None][0]["pid"]
        if "-T" in args:  # the wall clock, in local time, of the same instant
            for e in sum(ev.values(), []):
                utc = datetime.datetime.fromisoformat(e["timestamp"][:19] + "+00:00")
                assert e["time"] == utc.astimezone().strftime("%H:%M:%S"), e


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


def test_filetop_names_containers():
    _names_containers("filetop")


def test_filetop_filters():
    _filters_keep_one_container("filetop")


def test_cgroup_v1_container_by_mount_namespace():
    """A container that only the cgroup v1 hierarchies name (its cgroup v2 is the host's):
    named from /proc/PID/cgroup's v1 lines, per mount namespace; --container finds it by
    its mount namespace; host processes in that cgroup v2 stay the host's."""
    tag = f"cs-v1-{os.getpid()}"
    with Container("docker-v1") as c:
        # The tagged process lives a moment: it is asked for its v1 cgroups when its
        # event is read.
        work = f"env CSTAG={tag} sleep 0.5"
        p = c.popen("read x; " + _pid_then(work),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            host_ns = os.stat("/proc/self/ns/mnt").st_ino
            procs = os.path.join(c.v1, "cgroup.procs")

            def unshared():
                return any(os.stat(f"/proc/{pid}/ns/mnt").st_ino != host_ns
                           for pid in open(procs).read().split()
                           if os.path.exists(f"/proc/{pid}"))
            assert harness.wait_for(unshared, timeout=10)
            with harness.Tool("execsnoop", "-j") as every, \
                    harness.Tool("execsnoop", "-j", "--container", c.id[:12]) as mine:
                p.stdin.write("go\n")
                p.stdin.flush()
                ns_pid = int(p.stdout.readline())
                os.system(work)
                p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    ev = [e for e in every.json() if e.get("args") == work.split()]
    assert len(ev) == 2, every.out
    inside = [e for e in ev if e["container_id"]]
    assert len(inside) == 1, ev
    assert_identity(inside[0], c, ns_pid=ns_pid)
    assert_host([e for e in ev if not e["container_id"]][0])
    ev = [e for e in mine.json() if e.get("args") == work.split()]
    assert [e["container_id"] for e in ev] == [c.id], mine.out


def test_container_option_errors():
    prefix = "c5c5" + containers._hexid()[:8]
    with Container("docker", prefix + "a" * 52) as a, Container("k8s-crio-cgroupfs", prefix + "b" * 52):
        harness.assert_usage_error("execsnoop", "--container", "ffffffffffffx",
                                   contains="no running container")
        harness.assert_usage_error("execsnoop", "--container", prefix,
                                   contains="more than one container")
        harness.assert_usage_error("execsnoop", "--container", a.id[:12], "-c", a.cgroup,
                                   contains="give one")


# A server in a container: accepts one connection, and on "go" sends small segments.
SERVER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sys.stdin.readline()
for _ in range(5):
    c.send(b"x" * 1000)
    time.sleep(0.04)
print("sent", flush=True)
sys.stdin.readline()
"""


def descendants(pid):
    out = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{tid}/children").read().split():
                out |= {int(child)} | descendants(int(child))
    return out


def _server_in(pair, ctr, script, addr, port, uid=None):
    """script as a container's PID 1 in the pair's server namespace, in ctr's cgroup (as
    that user, when uid is given). An nspawn machine shares the network namespace it is
    started in (no --private-network); it is entered with nsenter, as ip netns exec's
    fresh /sys has no cgroup mount, which nspawn needs."""
    from netns import PYTHON
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid else []
    server = [*as_user, PYTHON, "-u", "-c", script, addr, str(port)]
    if ctr.shape == "nspawn":
        argv = ["nsenter", f"--net=/run/netns/{pair.ns['server']}",
                *ctr.argv("exec " + shlex.join(server))]
    else:
        argv = ["ip", "netns", "exec", pair.ns["server"], "unshare", "--pid", "--mount",
                "--fork", "--mount-proc", *server]
    return subprocess.Popen(argv,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=ctr._enter_cgroup)


def test_tcpretrans_names_the_sockets_container():
    _tcpretrans_names_the_sockets_container("docker")


def test_tcpretrans_names_the_sockets_container_kubernetes():
    _tcpretrans_names_the_sockets_container("k8s-crio-cgroupfs")


def test_tcpretrans_names_the_sockets_container_nspawn():
    _tcpretrans_names_the_sockets_container("nspawn")


def _tcpretrans_names_the_sockets_container(shape):
    """The server's retransmits fire from its RTO timer (softirq), where the task on the
    CPU is not the server: the container and the user still come from the socket."""
    from netns import Pair, accounted, skipped_by_kernel
    port, nobody = 5556, 65534
    with Pair() as pair, Container(shape) as srv, Container("podman") as other:
        addr = pair.addr("server", 4)
        server = _server_in(pair, srv, SERVER, addr, port, uid=nobody)
        try:
            assert server.stdout.readline().strip() == "listening"
            # unshare and the server it forked, asleep on stdin while it retransmits.
            server_pids = {server.pid} | descendants(server.pid)
            assert len(server_pids) >= 2, server_pids
            client = pair.agent("client")
            client.cmd("connect", addr, port)
            with harness.Tool("tcpretrans", "-j") as all_, \
                    harness.Tool("tcpretrans", "-j", "--container", srv.id[:12]) as mine, \
                    harness.Tool("tcpretrans", "-j", "--cgroup", other.cgroup) as others, \
                    harness.Tool("tcpretrans", "-c", "-j", "--container", srv.id[:12]) as counts, \
                    harness.Tool("tcpretrans", "-j", "-u", nobody) as by_uid, \
                    harness.Tool("tcpretrans", "-c", "-j", "-u", 0) as root_counts:
                # The client's ACKs do not reach the server for a second.
                pair.nft("server", "table inet cstest {\n chain in {\n"
                         "  type filter hook input priority 0;\n"
                         f"  ip saddr {pair.addr('client', 4)} tcp dport {port} counter drop\n"
                         " }\n}\n")
                server.stdin.write("go\n")
                server.stdin.flush()
                assert server.stdout.readline().strip() == "sent"
                import time
                time.sleep(1.0)
                assert pair.nft_counter("server", "cstest", "in") > 0, "nothing was dropped"
                pair.nft_delete("server", "cstest")
                assert harness.wait_for(
                    lambda: "unacked" not in pair.run("server", "ss", "-tin").stdout, timeout=8)
            server.communicate("done\n", timeout=15)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

    def ours(events):
        return [e for e in events if e.get("laddr") == addr and e.get("lport") == port]
    for t in (all_, mine, others, counts, by_uid, root_counts):
        schema.validate("tcpretrans", harness.json_lines(t.out))
    schema.validate_shared("tcpretrans")
    ev = ours(all_.json())
    assert ev, all_.out
    for e in ev:
        assert_identity(e, srv)
        assert e["ns_pid"] is None and e["mntns"] is None, e
        assert e["uid"] == nobody, e  # the server's socket's, not the interrupted task's

    def key(e):
        return (e["laddr"], e["lport"], e["raddr"], e["rport"], e["segs"], e["state"])
    rows = ours(counts.json())
    assert len(rows) == 1, (rows, ev)
    seen = {all_: len(ev), mine: len(ours(mine.json())), by_uid: len(ours(by_uid.json())),
            counts: rows[0]["retransmits"]}
    if not any(map(skipped_by_kernel, seen)):
        # -u keeps exactly the server's user's retransmits.
        assert sorted(map(key, ours(by_uid.json()))) == sorted(map(key, ev)), (by_uid.out, ev)
    # Every tool saw them all, or says how many the kernel did not run its program for
    # (docs/reliability.md): each of them is one retransmit here.
    for tool, n in seen.items():
        accounted(n, max(seen.values()), [tool])
    # root's sockets had none of them.
    assert ours(root_counts.json()) == [], root_counts.out
    # The retransmits ran from the RTO timer (softirq): the task on the CPU was not the
    # server, but for those the kernel deferred to the server's own release of the socket.
    assert any(e["pid"] not in server_pids for e in ev), (server_pids, ev)
    assert ours(others.json()) == [], others.out
    assert rows[0]["uid"] == nobody, rows
    assert_identity(rows[0], srv)


# A server in a container that listens only when told to (after the tools started, so that
# they see its socket enter the connection), then as SERVER.
LATE_SERVER = "import os, sys\nprint(os.getpid(), flush=True)\nsys.stdin.readline()\n" + SERVER


def _tcpretrans_owner_filters(attach):
    """-p and --mntns keep exactly the retransmits of the sockets that process (or a process
    of that mount namespace) owns: the connected socket of a client, and an accepted socket
    of a containerized server (the listener's owner), whose retransmits fire in softirq or a
    timer. A socket older than the tools has no owner: in every event, never in a filter's,
    and counted as such at exit. attach: --attach KIND (tp_btf: owners on the socket where
    the kernel allows, else in a table; the others: in a table)."""
    from netns import Pair, accounted, skipped_by_kernel
    opts = ["--attach", attach] if attach else []
    port, agent_port = 5557, 5558
    with Pair() as pair, Container("docker") as srv:
        addr = pair.addr("server", 4)
        server = _server_in(pair, srv, LATE_SERVER, addr, port)
        try:
            ns_pid = int(server.stdout.readline())
            host_ns = os.stat("/proc/self/ns/mnt").st_ino

            def python_pid():  # unshare's child, once it has its own mount namespace
                with contextlib.suppress(OSError):
                    for pid in open(f"/proc/{server.pid}/task/{server.pid}/children").read().split():
                        if os.stat(f"/proc/{pid}/ns/mnt").st_ino != host_ns:
                            return int(pid)
                return None
            assert harness.wait_for(python_pid, timeout=10)
            spid = python_pid()
            mntns = os.stat(f"/proc/{spid}/ns/mnt").st_ino
            agent = pair.agent("server")
            agent.cmd("listen", addr, agent_port)
            client = pair.agent("client")
            old_fd, old_lport = client.cmd("connect", addr, agent_port)
            client_ns = os.stat(f"/proc/{client.pid}/ns/mnt").st_ino  # ip netns exec's
            with harness.Tool("tcpretrans", "-j", "-v", *opts) as all_, \
                    harness.Tool("tcpretrans", "-j", "-p", spid, *opts) as by_pid, \
                    harness.Tool("tcpretrans", "-j", "--mntns", mntns, *opts) as by_ns, \
                    harness.Tool("tcpretrans", "-j", "-p", client.pid, *opts) as by_client, \
                    harness.Tool("tcpretrans", "-c", "-j", "-p", spid, *opts) as counts:
                server.stdin.write("listen\n")
                server.stdin.flush()
                assert server.stdout.readline().strip() == "listening"
                client.cmd("connect", addr, port)
                new_fd, new_lport = client.cmd("connect", addr, agent_port)
                # The client's packets do not reach the server side for a second: the
                # server's data and the client's own are retransmitted.
                pair.nft("server", "table inet cstest {\n chain in {\n"
                         "  type filter hook input priority 0;\n"
                         f"  ip saddr {pair.addr('client', 4)} counter drop\n"
                         " }\n}\n")
                server.stdin.write("go\n")
                server.stdin.flush()
                for fd in (old_fd, new_fd):
                    client.send("send", fd, 5, 1000, 40)
                for _ in range(2):
                    client.reply()
                assert server.stdout.readline().strip() == "sent"
                time.sleep(1.0)
                assert pair.nft_counter("server", "cstest", "in") > 0, "nothing was dropped"
                pair.nft_delete("server", "cstest")
                for side in ("server", "client"):
                    assert harness.wait_for(
                        lambda: "unacked" not in pair.run(side, "ss", "-tin").stdout, timeout=8)
            server.communicate("done\n", timeout=15)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

    def flow(events, lport):
        return [e for e in events if (e.get("laddr"), e.get("lport")) in
                ((addr, lport), (pair.addr("client", 4), lport))]
    for t in (all_, by_pid, by_ns, by_client, counts):
        assert t.rc == 0, t.err
    if attach != "tp_btf":
        assert f"socket owners: {attach} sock:inet_sock_set_state, kept in a table by socket " \
            "address" in all_.err, all_.err
    else:  # on the socket on 5.11 and later, else in the table
        assert "socket owners: tp_btf sock:inet_sock_set_state, kept on the socket" in all_.err \
            or "kept in a table" in all_.err, all_.err
    for t in (all_, by_pid, by_ns, by_client, counts):
        schema.validate("tcpretrans", harness.json_lines(t.out))
    schema.validate_shared("tcpretrans")
    ev = all_.json()
    srv_ev, new_ev, old_ev = flow(ev, port), flow(ev, int(new_lport)), flow(ev, int(old_lport))
    assert srv_ev and new_ev and old_ev, all_.out
    for e in srv_ev:  # the accepted socket: its listener's owner, in the container
        assert (e["owner_pid"], e["ns_pid"], e["mntns"]) == (spid, ns_pid, mntns), e
        assert_identity(e, srv, ns_pid=ns_pid)
    for e in new_ev:  # the client's connected socket
        assert (e["owner_pid"], e["ns_pid"]) == (client.pid, client.pid), e
        assert e["mntns"] == client_ns and e["container_id"] is None, e
    for e in old_ev:  # connected before the tools started
        assert e["owner_pid"] is None and e["ns_pid"] is None and e["mntns"] is None, e
    # Exactly: every retransmit of the owner's sockets, and nothing else; where the kernel
    # skipped a tool's program, as many fewer as that tool says (docs/reliability.md).
    skips = any(map(skipped_by_kernel, (all_, by_pid, by_ns, by_client, counts)))
    for t, want in ((by_pid, srv_ev), (by_ns, srv_ev), (by_client, new_ev)):
        got = [e for e in t.json() if "ts_ns" in e]

        def key(e):
            return (e["laddr"], e["lport"], e["raddr"], e["rport"], e["owner_pid"])
        if skips:
            assert set(map(key, got)) <= set(map(key, want)), (t.argv, got, want)
            most = max(len(got), len(want))
            accounted(len(got), most, [t])
            accounted(len(want), most, [all_])
        else:
            assert sorted(map(key, got)) == sorted(map(key, want)), (t.argv, got, want)
        # The old socket's retransmits are owner_unknown (and the host's, if any).
        unknown = [r["not_counted"] for r in t.json() if "not_counted" in r]
        assert unknown and unknown[0]["owner_unknown"] >= len(old_ev), (t.argv, t.out)
    rows = [r for r in counts.json() if "retransmits" in r]
    assert len(rows) == 1, (rows, srv_ev)
    most = max(rows[0]["retransmits"], len(srv_ev))
    accounted(rows[0]["retransmits"], most, [counts])
    accounted(len(srv_ev), most, [all_])
    assert (rows[0]["owner_pid"], rows[0]["ns_pid"], rows[0]["mntns"]) == (spid, ns_pid, mntns)
    assert_identity(rows[0], srv)


def test_tcpretrans_filters_by_socket_owner_on_the_socket():
    _tcpretrans_owner_filters("tp_btf")


def test_tcpretrans_filters_by_socket_owner_raw_tp_table():
    _tcpretrans_owner_filters("raw_tp")


def test_tcpretrans_filters_by_socket_owner_tracepoint_table():
    _tcpretrans_owner_filters("tracepoint")


DIRECT_READS = r"""
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for i in range(int(sys.argv[2])):
    assert os.preadv(fd, [buf], i * 4096) == 4096
"""


def test_biolatency_filters():
    """A histogram of exactly one container's direct reads (a loop disk nothing else uses;
    the submitting task is the reader, as the man page's -c note says)."""
    from test_biolatency import LoopDisk, check_hist
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir="/tmp") as prog, \
            Container("docker") as a, Container("k8s-crio-cgroupfs") as b, LoopDisk() as disk:
        prog.write(DIRECT_READS)
        prog.flush()
        for filt in (["--container", a.id[:12]], ["-c", a.cgroup], ["--container", b.id[:16]]):
            with harness.Tool("biolatency", "-j", "-d", disk.name, *filt) as t:
                a.run(f"python3 {prog.name} {disk.dev} 7")
                b.run(f"python3 {prog.name} {disk.dev} 5")
                subprocess.run([sys.executable, prog.name, disk.dev, "3"], check=True)
            records = harness.json_lines(t.out)
            schema.validate("biolatency", records)
            want = 5 if b.id[:16] in filt else 7
            assert [check_hist(r) for r in t.json()] == [want], (filt, t.out)
        # --mntns: a's reader waits while biolatency starts with its namespace.
        p = a.popen(f"read x; python3 {prog.name} {disk.dev} 7 && echo finished; read y",
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert harness.wait_for(lambda: _mntns_of(a), timeout=10)
            with harness.Tool("biolatency", "-j", "-d", disk.name, "--mntns",
                              _mntns_of(a)) as t:
                p.stdin.write("go\n")
                p.stdin.flush()
                b.run(f"python3 {prog.name} {disk.dev} 5")
                subprocess.run([sys.executable, prog.name, disk.dev, "3"], check=True)
                assert p.stdout.readline().strip() == "finished"
            p.communicate("done\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert [check_hist(r) for r in t.json()] == [7], t.out
    schema.validate_shared("biolatency")


def test_biolatency_histogram_per_container():
    """--containers: one histogram per container, each holding exactly its own direct reads
    (the submitter is the reader), and one for the host's; in text, JSON and OpenMetrics."""
    from test_biolatency import LoopDisk, check_hist
    shapes = {"nspawn": 2, "docker": 7, "podman": 4, "k8s-containerd": 6, "k8s-crio-cgroupfs": 5}
    host_reads = 3
    with contextlib.ExitStack() as stack:
        prog = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".py", dir="/tmp"))
        prog.write(DIRECT_READS)
        prog.flush()
        ctrs = {s: stack.enter_context(Container(s)) for s in shapes}
        disk = stack.enter_context(LoopDisk())
        om = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "bio.prom")
        with harness.Tool("biolatency", "-j", "-d", disk.name, "--containers",
                          "--openmetrics", om) as t, \
                harness.Tool("biolatency", "-d", disk.name, "--containers", "-F") as text:
            for s, n in shapes.items():
                ctrs[s].run(f"python3 {prog.name} {disk.dev} {n}", binds=[disk.dev, prog.name])
            subprocess.run([sys.executable, prog.name, disk.dev, str(host_reads)], check=True)
        harness.promtool_check(om)
        om_lines = open(om).read().splitlines()
    records = harness.json_lines(t.out)
    schema.validate("biolatency", records)
    schema.validate_shared("biolatency")
    hists = [r for r in records if "buckets" in r]
    by_id = {r["container_id"]: r for r in hists}
    assert len(by_id) == len(hists) == len(shapes) + 1, t.out
    for s, n in shapes.items():
        r = by_id[ctrs[s].id]
        assert check_hist(r) == n, (s, r)
        assert r["container_runtime"] == ctrs[s].runtime, r
        assert r["pod_uid"] == ctrs[s].pod_uid and r["container_source"] == "cgroup2", r
    assert_host(by_id[None])
    assert check_hist(by_id[None]) == host_reads, by_id[None]
    # The host's histogram first, then the containers by their label.
    assert hists[0]["container_id"] is None, hists
    # OpenMetrics: the same counts, labelled by container ("" for the host).
    counts = {}
    for line in om_lines:
        if line.startswith("corescope_biolatency_seconds_count{"):
            labels, _, value = line.rpartition(" ")
            ctr = labels.split('container="', 1)[1].split('"', 1)[0]
            counts[ctr] = int(float(value))
    want = {ctrs[s].id: n for s, n in shapes.items()}
    assert counts == {**want, "": host_reads}, (counts, want)
    # Text: a "container = LABEL (RUNTIME)" header above each histogram, with -F's flags
    # (direct reads are Sync-Read on newer kernels, Read on 5.10).
    heads = {line.split("\tflags = ")[0] for line in text.out.splitlines()
             if line.startswith("container = ") and
             re.fullmatch(r"(Sync-)?Read", line.split("\tflags = ")[-1])}
    assert "container = - (host)" in heads, text.out
    for s, n in shapes.items():
        label = ctrs[s].id if s == "nspawn" else ctrs[s].id[:12]
        assert f"container = {label} ({ctrs[s].runtime})" in heads, (s, text.out)
    assert len(heads) == len(shapes) + 1, text.out


def _mntns_of(ctr):
    """The mount namespace of ctr's processes (unshare's own: it unshared before forking),
    None until it has one of its own."""
    host_ns = os.stat("/proc/self/ns/mnt").st_ino
    for pid in open(os.path.join(ctr.cgroup, "cgroup.procs")).read().split():
        with contextlib.suppress(FileNotFoundError):
            ino = os.stat(f"/proc/{pid}/ns/mnt").st_ino
            if ino != host_ns:
                return ino
    return None


def test_profile_filters():
    """Samples of exactly one container's processes, by --container, --cgroup and
    --mntns."""
    spin = "timeout 4 sh -c 'while :; do :; done'; true"
    with Container("docker") as a, Container("k8s-containerd") as b:
        for by in ("--container", "--cgroup", "--mntns"):
            want = b if by == "--cgroup" else a
            procs = [c.popen(spin) for c in (a, b)]
            try:
                pids = {c: set() for c in (a, b)}
                for c in (a, b):  # unshare, its child and timeout's child: spinning
                    assert harness.wait_for(lambda: len(open(os.path.join(
                        c.cgroup, "cgroup.procs")).read().split()) >= 4, timeout=10)
                assert harness.wait_for(lambda: _mntns_of(a), timeout=10)
                filt = [by, {"--container": a.id[:12], "--cgroup": b.cgroup,
                             "--mntns": _mntns_of(a)}[by]]
                t = harness.Tool("profile", "-F", 99, "-j", *filt, 2).start()
                while t.proc.poll() is None:
                    for c in (a, b):
                        with open(os.path.join(c.cgroup, "cgroup.procs")) as f:
                            pids[c] |= {int(p) for p in f.read().split()}
                t.wait(timeout=30)
            finally:
                for p in procs:
                    p.wait(timeout=30)
            assert t.rc == 0, t.err
            records = harness.json_lines(t.out)
            schema.validate("profile", records)
            rows = [r for r in records if "count" in r]
            assert rows, t.out
            assert {r["pid"] for r in rows} <= pids[want], (filt, rows, pids)
            if by == "--mntns":
                assert {r["mntns"] for r in rows} == {filt[1]}, rows
    schema.validate_shared("profile")


# Spins until killed, after printing its PID in its PID namespace (it execs: the spinner has
# that PID).
SPIN = ("echo $$; exec python3 -c \"import time;e=time.time()+120;"
        "[0 for _ in iter(lambda: time.time()<e, False)]\"")


def _cgroup_pids(c):
    pids = set()
    for d, _, _ in os.walk(c.cgroup):
        with contextlib.suppress(OSError), open(os.path.join(d, "cgroup.procs")) as f:
            pids |= {int(p) for p in f.read().split()}
    return pids


def _pprof_labels(path):
    """The labels of each sample, as go tool pprof -traces prints them: [{key: value}]."""
    import re
    from test_profile import pprof_trace_blocks
    out = []
    for block in pprof_trace_blocks(path):
        labels = {}
        for line in block.splitlines()[1:]:
            m = re.match(r"^\s*(\w+):\s+(.*?)\s*$", line)
            if not m:
                break
            labels[m.group(1)] = m.group(2)
        out.append(labels)
    return out


def test_profile_names_containers():
    """Stack rows name the sampled process's container: JSON rows carry the identity keys,
    pprof samples the same as labels, and with --containers folded lines and the flame
    graph have the container (or [host]) as their root frame."""
    ctrs_shapes = ("nspawn", "docker", "podman", "k8s-containerd", "k8s-crio-cgroupfs")
    d = tempfile.mkdtemp(prefix="cs-profile-ctr-")
    pb, svg = os.path.join(d, "cpu.pb.gz"), os.path.join(d, "cpu.svg")
    with contextlib.ExitStack() as stack:
        ctrs = [stack.enter_context(Container(s)) for s in ctrs_shapes]
        procs, ns_pid, pids = [], {}, {}
        try:
            for c in ctrs:
                p = c.popen(SPIN, stdout=subprocess.PIPE, text=True)
                procs.append(p)
                ns_pid[c.id] = int(p.stdout.readline())
            host = subprocess.Popen([sys.executable, "-c", SPIN.split("exec python3 -c ")[1]
                                     .strip('"')])
            procs.append(host)
            for c in ctrs:
                pids[c.id] = _cgroup_pids(c)
            j = harness.Tool("profile", "-j", "-F", 49, "--pprof", pb, 2).start()
            f = harness.Tool("profile", "-f", "--containers", "--flamegraph", svg, 2).start()
            j.wait(timeout=60)
            f.wait(timeout=60)
        finally:
            for c in ctrs:
                for pid in _cgroup_pids(c):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
            for p in procs:
                p.kill()
                p.wait(timeout=30)
        assert j.rc == 0 and f.rc == 0, (j.err, f.err)
        records = harness.json_lines(j.out)
        schema.validate("profile", records)
        schema.validate_shared("profile")
        rows = [r for r in records if "count" in r]
        for c in ctrs:
            mine = [r for r in rows if r["pid"] in pids[c.id]]
            assert mine and all(r["container_id"] == c.id for r in mine), (c.shape, mine)
            spins = [r for r in mine if r["comm"] == "python3"]
            assert spins, (c.shape, mine)
            for r in spins:
                assert_identity(r, c, ns_pid=ns_pid[c.id])
                assert r["ns_tid"] is None and r["mntns"], r
        spins = [r for r in rows if r["pid"] == host.pid]
        assert spins, rows
        for r in spins:
            assert_host(r)
            assert r["ns_pid"] == host.pid and r["mntns"] == os.stat("/proc/self/ns/mnt").st_ino
        # pprof: the same keys as labels.
        labels = _pprof_labels(pb)
        for c in ctrs:
            mine = [lab for lab in labels if lab.get("container_id") == c.id]
            assert mine, (c.id, labels[:5])
            for lab in mine:
                assert lab.get("container_runtime") == c.runtime, lab
                assert lab.get("pod_uid") == c.pod_uid, lab
            assert any(lab.get("comm") == "python3" and lab.get("ns_pid") == str(ns_pid[c.id])
                       for lab in mine), mine
        assert any(lab.get("pid") == str(host.pid) and "container_id" not in lab
                   for lab in labels), labels[:5]
        # Folded: the container as the CONTAINER column shows it (12 digits of a 64-digit
        # id, a machine name whole), or [host]; one line per distinct text.
        lines = [line.rsplit(" ", 1)[0].split(";") for line in f.out.splitlines()]
        assert len(lines) == len({tuple(x) for x in lines}), f.out
        label = {c.id: c.id[:12] if len(c.id) == 64 else c.id for c in ctrs}
        roots = {x[0] for x in lines}
        assert roots <= set(label.values()) | {"[host]"}, roots
        for c in ctrs:
            assert any(x[:2] == [label[c.id], "python3"] for x in lines), (c.id, f.out)
        assert any(x[:2] == ["[host]", "python3"] for x in lines), f.out
        with open(svg) as s:
            graph = s.read()
        for c in ctrs:
            assert f">{label[c.id]}<" in graph or f"{label[c.id]} (" in graph, c.id
    import shutil
    shutil.rmtree(d, True)
