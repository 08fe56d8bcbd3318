"""Packaging: the .deb installs into a clean Debian 12 root made with debootstrap, every
command and man page is there and works; static binaries run in an empty root."""
import glob
import os
import shutil
import subprocess
import tempfile

import harness
from test_docs import tools

NEEDS_BPF = False
# The package is built from the plain build; an ASan build is not what is shipped.
RUN_UNDER_SANITIZE = False

SUFFIX = "-cs"


def make(*args, timeout=600):
    p = subprocess.run(["make", "--no-print-directory"] + list(args), cwd=harness.ROOT,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"make {' '.join(args)} failed:\n{p.stdout[-3000:]}{p.stderr[-3000:]}"
    return p


def debian_root():
    """A minimal Debian 12 root, made once per build directory (about a minute)."""
    root = os.path.join(harness.ROOT, "build", "debroot")
    if not os.path.exists(os.path.join(root, "usr", "bin", "apt-get")):
        if os.geteuid() != 0:
            raise harness.Skip("debootstrap needs root")
        shutil.rmtree(root, ignore_errors=True)
        p = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root,
                            "http://deb.debian.org/debian"], capture_output=True, text=True,
                           timeout=900)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return root


def chroot(root, script, timeout=600):
    p = subprocess.run(["chroot", root, "sh", "-c", script], capture_output=True, text=True,
                       timeout=timeout)
    return p


def test_deb_installs_in_clean_debian_root():
    make("deb")
    debs = glob.glob(os.path.join(harness.ROOT, "build", "corescope_*.deb"))
    assert len(debs) == 1, debs
    info = subprocess.run(["dpkg-deb", "-f", debs[0], "Package", "Version", "Depends"],
                          capture_output=True, text=True).stdout
    version = open(os.path.join(harness.ROOT, "VERSION")).read().strip()
    assert f"Version: {version}" in info and "libbpf1" in info and "libc6" in info, info
    base = debian_root()
    with tempfile.TemporaryDirectory(dir=os.path.join(harness.ROOT, "build")) as tmp:
        root = os.path.join(tmp, "root")
        subprocess.run(["cp", "-a", base, root], check=True)
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        shutil.copy(debs[0], os.path.join(root, "tmp", "corescope.deb"))
        p = chroot(root, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get "
                         "install -y -qq --no-install-recommends /tmp/corescope.deb man-db")
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        listed = chroot(root, "dpkg -L corescope").stdout.split()
        for t in tools():
            cmd = t + SUFFIX
            assert f"/usr/sbin/{cmd}" in listed, (cmd, listed)
            assert f"/usr/share/man/man8/{cmd}.8.gz" in listed, (cmd, listed)
            h = chroot(root, f"{cmd} --help")
            assert h.returncode == 0 and h.stdout.startswith(f"Usage: {cmd} "), h.stdout[:200]
            m = chroot(root, f"man -w {cmd}")
            assert m.stdout.strip() == f"/usr/share/man/man8/{cmd}.8.gz", m.stdout + m.stderr
            # Nothing Debian ships under these names (perf-tools-unstable has execsnoop...).
            assert not os.path.exists(os.path.join(root, "usr", "sbin", t))


def test_static_binaries_run_in_empty_root():
    out = os.path.join("build", "static")
    make("STATIC=1", f"OUT={out}", "all")
    with tempfile.TemporaryDirectory() as root:
        for t in tools():
            binary = os.path.join(harness.ROOT, out, "bin", t)
            shutil.copy(binary, os.path.join(root, t))
            p = subprocess.run(["chroot", root, "/" + t, "--help"], capture_output=True,
                               text=True, timeout=10)
            assert p.returncode == 0 and p.stdout.startswith(f"Usage: {t} "), (t, p.stderr)
        assert os.listdir(root) and not os.path.exists(os.path.join(root, "lib"))


def test_make_install_destdir_prefix():
    with tempfile.TemporaryDirectory() as dest:
        make("install", f"DESTDIR={dest}", "PREFIX=/opt/cs")
        for t in tools():
            binary = os.path.join(dest, "opt", "cs", "sbin", t)
            assert os.access(binary, os.X_OK), binary
            assert os.path.exists(os.path.join(dest, "opt", "cs", "share", "man", "man8",
                                               t + ".8")), t
        make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/cs")
        assert not os.listdir(os.path.join(dest, "opt", "cs", "sbin"))
