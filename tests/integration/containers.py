"""Real containers for the container tests: a systemd-nspawn machine (Debian's
systemd-container, started from a cgroup named as machined names it, since PID 1 here need
not be systemd), and Docker-, Podman- and Kubernetes-shaped ones made by hand where those
runtimes cannot run (Podman 4.3's crun refuses hybrid cgroup hosts): a cgroup v2 directory
named exactly as the runtime names it, and a process in new PID and mount namespaces
(unshare --pid --mount --fork --mount-proc) inside it, as a runtime would start it."""
import os
import shutil
import subprocess
import tempfile
import uuid

import harness

CI = os.environ.get("CI") == "true"


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    raise harness.Skip("no cgroup v2 mount")


def _hexid():
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:64]


# How each runtime names a container's cgroup (see common/container.c for the sources).
SHAPES = {
    "docker": ("system.slice/docker-{id}.scope", "docker"),
    "podman": ("machine.slice/libpod-{id}.scope", "podman"),
    "k8s-containerd": ("kubepods.slice/kubepods-burstable.slice/"
                       "kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope",
                       "containerd"),
    "k8s-crio-cgroupfs": ("kubepods/besteffort/pod{uid}/crio-{id}", "cri-o"),
}


class Container:
    """One container; run(script) runs /bin/sh -c script as its PID 1 and waits."""

    def __init__(self, shape, cid=None):
        self.root = cgroup2_root()
        self.shape = shape
        self.pod_uid = None
        self.v1 = None
        if shape == "docker-v1":
            # Docker's cgroupfs driver on a host without a usable cgroup v2 (v1-only, or
            # hybrid with the runtime on v1): the container is named in the v1
            # hierarchies only, and its cgroup v2 stays the caller's.
            v1 = "/sys/fs/cgroup/pids"
            self.v1_mount = None
            if not os.path.isfile(os.path.join(v1, "cgroup.procs")):
                # A cgroup v2-only host: the pids controller mounts as a v1 hierarchy of its
                # own where v2 does not use it (nothing enabled it in cgroup.subtree_control).
                v1 = tempfile.mkdtemp(prefix="cs-v1-pids-")
                p = subprocess.run(["mount", "-t", "cgroup", "-o", "pids", "cs-v1-pids", v1],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    os.rmdir(v1)
                    raise harness.Skip("no cgroup v1 pids hierarchy at /sys/fs/cgroup/pids, "
                                       f"and none can be mounted: {p.stderr.strip()}")
                self.v1_mount = v1
            self.id = _hexid()
            self.runtime = "docker"
            self.v1 = os.path.join(v1, "docker", self.id)
            self.rel = None
            self.cgroup = self.cgroup_rel = None
            return
        if shape == "nspawn":
            if not shutil.which("systemd-nspawn"):
                raise harness.Skip("systemd-nspawn not installed (systemd-container)")
            self.id = "cs" + uuid.uuid4().hex[:10]
            self.rel = f"machine.slice/machine-{self.id}.scope"
            self.runtime = "systemd-nspawn"
        else:
            pattern, self.runtime = SHAPES[shape]
            self.id = cid or _hexid()
            uid = str(uuid.uuid4())
            if "{uid" in pattern:
                self.pod_uid = uid
            self.rel = pattern.format(id=self.id, uid=uid, uid_=uid.replace("-", "_"))
        self.cgroup = os.path.join(self.root, self.rel)
        self.cgroup_rel = "/" + self.rel

    def __enter__(self):
        os.makedirs(self.v1 or self.cgroup, exist_ok=True)
        return self

    def __exit__(self, *exc):
        self.remove()

    def remove(self):
        if self.v1:
            for d in (self.v1, os.path.dirname(self.v1)):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            if self.v1_mount:
                subprocess.run(["umount", self.v1_mount], capture_output=True)
                os.rmdir(self.v1_mount)
                self.v1_mount = None
            return
        # Deepest first: nspawn makes payload/ and supervisor/ below its scope.
        for d, _, _ in sorted(os.walk(self.cgroup), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass
        parent = os.path.dirname(self.cgroup)
        while parent != self.root:
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)

    def _enter_cgroup(self):
        with open(os.path.join(self.v1 or self.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def argv(self, script, binds=()):
        """binds: host paths (device nodes) the container sees; an nspawn machine has a
        /dev of its own, the hand-made containers the host's. --console=pipe: the
        payload's stdin and stdout are the caller's pipes, as a runtime's would be."""
        if self.shape == "nspawn":
            return ["systemd-nspawn", "--register=no", "--keep-unit", "--volatile=yes",
                    "--console=pipe", "-D", "/", "-M", self.id, "-q",
                    *(f"--bind={b}" for b in binds),
                    "/bin/sh", "-c", script]
        return ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "/bin/sh", "-c",
                script]

    def popen(self, script, **kw):
        return subprocess.Popen(self.argv(script), preexec_fn=self._enter_cgroup, **kw)

    def run(self, script, timeout=30, binds=()):
        p = subprocess.run(self.argv(script, binds), preexec_fn=self._enter_cgroup,
                           capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{self.shape}: {script!r} exited {p.returncode}: {p.stderr}"
        return p.stdout


def assert_identity(event, ctr, ns_pid=None):
    """The container fields of a JSON event from ctr."""
    assert event["container_id"] == ctr.id, (event, ctr.rel)
    assert event["container_runtime"] == ctr.runtime, event
    assert event["pod_uid"] == ctr.pod_uid, event
    if ctr.v1:
        assert event["container_source"] == "cgroup1", event
    else:
        assert event["container_source"] == "cgroup2", event
        assert event["cgroup"].startswith(ctr.cgroup_rel), (event["cgroup"], ctr.cgroup_rel)
    if ns_pid is not None:
        assert event["ns_pid"] == ns_pid, (event, ns_pid)
        assert event["pid"] != ns_pid, event


def assert_host(event):
    for k in ("container_id", "container_runtime", "pod_uid", "container_source"):
        assert event[k] is None, event
