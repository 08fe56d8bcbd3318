"""Container identity and filters on every tool, with real containers (tests/integration/
containers.py): the events of a process in a container name that container (id, runtime,
pod UID, PID inside it), host events name none, and --container and --cgroup keep exactly
that container's events."""
import os

import containers
import harness
import schema
from containers import Container, assert_host, assert_identity


def _exec_marker(tag):
    # The shell writes its own PID (in the container's namespace) and becomes /bin/true.
    return f"sh -c 'echo $$; exec /bin/true {tag}'"


def test_execsnoop_names_containers():
    tag = f"cs-exec-{os.getpid()}"
    with Container("nspawn") as ns, Container("docker") as dk, Container("k8s-containerd") as k8:
        with harness.Tool("execsnoop", "-j") as t:
            pids = {c.shape: int(c.run(_exec_marker(tag)).split()[-1]) for c in (ns, dk, k8)}
            os.system(f"/bin/true {tag}")
        schema.validate("execsnoop", t.json())
        schema.validate_shared("execsnoop")
        ev = {}
        for e in t.json():
            if e.get("args") == ["/bin/true", tag]:
                ev.setdefault(e.get("container_id"), []).append(e)
        assert sorted(ev, key=str) == sorted([ns.id, dk.id, k8.id, None], key=str), ev
        for c in (ns, dk, k8):
            assert len(ev[c.id]) == 1, ev[c.id]
            assert_identity(ev[c.id][0], c, ns_pid=pids[c.shape])
        assert_host(ev[None][0])
        assert ev[None][0]["ns_pid"] == ev[None][0]["pid"]


def test_execsnoop_container_filters():
    tag = f"cs-execf-{os.getpid()}"
    with Container("docker") as a, Container("podman") as b:
        for args in (["--container", a.id[:12]], ["-c", a.cgroup]):
            with harness.Tool("execsnoop", "-j", *args) as t:
                for c in (a, b):
                    c.run(_exec_marker(tag))
                os.system(f"/bin/true {tag}")
            ev = [e for e in t.json() if e.get("args") == ["/bin/true", tag]]
            assert [e["container_id"] for e in ev] == [a.id], (args, ev)


def test_container_option_errors():
    prefix = "c5c5" + containers._hexid()[:8]
    with Container("docker", prefix + "a" * 52) as a, Container("k8s-crio-cgroupfs", prefix + "b" * 52):
        harness.assert_usage_error("execsnoop", "--container", "ffffffffffffx",
                                   contains="no running container")
        harness.assert_usage_error("execsnoop", "--container", prefix,
                                   contains="more than one container")
        harness.assert_usage_error("execsnoop", "--container", a.id[:12], "-c", a.cgroup,
                                   contains="give one")
