#!/usr/bin/env python3
"""Boots one of Debian's stock kernels under qemu (TCG: no KVM needed) and runs a command in it.

    tests/vm/vm.py --kernel 6.1 [--arch x86_64|arm64] [--root DIR] [--timeout S] -- CMD...

The guest's root is an overlay: this machine's root (or --root, e.g. an arm64 Debian root)
shared read-only over 9p, with a tmpfs on top, so the guest sees exactly what `make deps`
installed here and its writes stay in the guest. The project directory is shared at the same
path. The kernel's own modules come from its package (tests/vm/fetch-kernel.sh), so loop, veth
and nf_tables load as on a real install. CMD runs as root in the project directory; its output
is streamed here, and its exit status is this script's.

After CMD the guest's kernel log and /proc/sys/kernel/tainted are checked: any WARNING, BUG,
Oops, call trace, verifier warning or taint fails the run (exit 3), since a tool must never
leave a kernel worse than it found it. The last line printed is
    kernel <release> <arch>: clean | NOT CLEAN: <why>"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("CORESCOPE_CACHE", "/var/cache/corescope")

# What the initramfs must load to reach the shared root; the rest loads from the root later.
BOOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]

INITRAMFS_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod "$m" 2>/dev/null; done
set -- $(cat /proc/cmdline)
for a; do case $a in cs.init=*) guest_init=${a#cs.init=} ;; esac; done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 root /lower || exec sh
mount -t tmpfs -o size=75% rw /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot; then
	echo "corescope-vm: overlay over 9p failed"; exec sh
fi
mkdir -p /newroot/lib/modules /newroot/mnt/out /newroot/mnt/project
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 modules /newroot/lib/modules
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 project /newroot/mnt/project
umount /proc /sys /dev
exec switch_root /newroot /bin/sh /mnt/out/guest-init.sh
"""


def fetch(kernel, arch):
    out = subprocess.run([os.path.join(HERE, "fetch-kernel.sh"), kernel, arch],
                         stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def initramfs(kdir):
    """A cached cpio: busybox, the boot modules in dependency order, and /init."""
    path = os.path.join(kdir, "initramfs.cpio.gz")
    if os.path.exists(path):
        return path
    release = open(os.path.join(kdir, "release")).read().strip()
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("bin", "proc", "sys", "dev", "mods"):
            os.makedirs(os.path.join(tmp, d))
        shutil.copy(os.path.join(kdir, "busybox"), os.path.join(tmp, "bin", "busybox"))
        order = []
        for mod in BOOT_MODULES:
            dep = subprocess.run(["modprobe", "-d", os.path.join(kdir, "depmod"), "-S", release,
                                  "--show-depends", mod], capture_output=True, text=True)
            for line in dep.stdout.splitlines():
                if line.startswith("insmod "):
                    src = line.split()[1]
                    name = "/mods/" + os.path.basename(src)
                    if name not in order:
                        shutil.copy(src, tmp + name)
                        order.append(name)
        with open(os.path.join(tmp, "modules.order"), "w") as f:
            f.write("\n".join(order) + "\n")
        with open(os.path.join(tmp, "init"), "w") as f:
            f.write(INITRAMFS_INIT)
        os.chmod(os.path.join(tmp, "init"), 0o755)
        subprocess.run(["bash", "-c", "set -o pipefail; cd \"$1\" && find . | cpio -o -H newc "
                        "--quiet | gzip -1 > \"$2\"", "-", tmp, path + ".tmp"], check=True)
        os.rename(path + ".tmp", path)
    return path


GUEST_INIT = r"""#!/bin/sh
# Runs as PID 1 in the guest, on the overlay root.
export PATH={path}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
# What udev makes on every distro (5.10's execveat of an fd, fexecve, needs /dev/fd).
ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# The project at its own path, writable in the guest. On this machine's own root it is
# already there; on another root (arm64) it comes from its share, under a tmpfs overlay.
if [ ! -d {project}/tests/vm ]; then
	mkdir -p /run/project/upper /run/project/work {project}
	mount -t overlay -o lowerdir=/mnt/project,upperdir=/run/project/upper,workdir=/run/project/work \
		overlay {project}
fi
hostname corescope-vm
ip link set lo up 2>/dev/null
# Loaded up front: their /dev nodes (loop-control) exist only once loaded, with no udev here.
modprobe -a loop veth mq-deadline kyber-iosched 2>/dev/null
echo 1 > /proc/sys/kernel/panic_on_oops
dmesg -n {loglevel}
cd {project}
export PATH={path} HOME=/root LANG=C.UTF-8 {env}
echo "corescope-vm: running on $(uname -r) $(uname -m), $(nproc) CPUs"
start=$(date +%s)
{cmd}
echo $? > /mnt/out/rc
echo $(( $(date +%s) - start )) > /mnt/out/seconds
dmesg > /mnt/out/dmesg
cat /proc/sys/kernel/tainted > /mnt/out/tainted
sync
echo o > /proc/sysrq-trigger
sleep 10
"""

# Kernel log lines that mean a program or the kernel misbehaved.
# ("verifier" alone would match arm64's boot line "trace event string verifier disabled".)
BAD_DMESG = re.compile(r"WARNING:|BUG:|Oops|Call Trace|kernel BUG|bpf.*verifier|verifier bug|"
                       r"verifier misbehavior|general protection|"
                       r"RIP: |Unable to handle kernel|Internal error|refcount_t:|UBSAN|KASAN")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    ap.add_argument("--root", default="/", help="root filesystem to share read-only")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--memory", default="4G")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for CMD")
    ap.add_argument("--log", help="also write the guest's console to this file")
    ap.add_argument("--attach-log", help="collect the tests' attach log (harness.py) here")
    ap.add_argument("--loglevel", type=int, default=int(os.environ.get("CORESCOPE_VM_LOGLEVEL", 1)),
                    help="console log level while CMD runs: 8 streams every kernel message, "
                         "call traces included (for a guest that hangs before its log is read)")
    ap.add_argument("cmd", nargs="+")
    args = ap.parse_args()

    kdir = fetch(args.kernel, args.arch)
    release = open(os.path.join(kdir, "release")).read().strip()
    initrd = initramfs(kdir)
    out = tempfile.mkdtemp(prefix="corescope-vm-")
    # Timeouts in the tests are safety nets sized for a host: TCG runs the guest several
    # times slower (tests/run.py scales every subprocess timeout by this).
    guest_env = ["CORESCOPE_TIMEOUT_SCALE=10", "CORESCOPE_TCG=1"] + list(args.env)
    if os.environ.get("CI"):
        guest_env.append("CI=" + os.environ["CI"])
    if args.attach_log:
        guest_env.append("CORESCOPE_ATTACH_LOG=/mnt/out/attach.log")
    env = " ".join(shlex.quote(e) for e in guest_env)
    with open(os.path.join(out, "guest-init.sh"), "w") as f:
        f.write(GUEST_INIT.format(project=shlex.quote(ROOT), path=shlex.quote(os.environ["PATH"]),
                                  env=env, loglevel=args.loglevel,
                                  cmd=" ".join(shlex.quote(c) for c in args.cmd)))

    shares = [("root", args.root, True), ("modules", os.path.join(kdir, "modules"), True),
              ("out", out, False), ("project", ROOT, True)]
    qemu = []
    if args.arch == "x86_64":
        # One host thread runs both vCPUs. With a thread per vCPU (MTTCG), x86 kernels
        # patching their own code live (static keys flipped as tracepoints are enabled
        # and disabled, by int3 and IPIs) crashed or hung here now and then: 6.12 took an
        # int3 Oops at a static-branch site that had already been patched back, 5.10 had
        # both vCPUs spin at one for good (docs/portability.md). A vCPU of MTTCG can go on
        # running a stale translation of code another vCPU rewrote; with one thread the
        # translation cache is coherent.
        qemu = ["qemu-system-x86_64", "-machine", "q35", "-cpu", "max"]
        tcg = "tcg,thread=single"
        console = "ttyS0"
    else:
        # arm64 flips a static branch by rewriting one instruction (a B or a NOP, which the
        # architecture lets other CPUs run while it changes), not by a multi-step protocol
        # a stale translation could break: both vCPUs keep a host thread each.
        qemu = ["qemu-system-aarch64", "-machine", "virt", "-cpu", "max"]
        tcg = "tcg,thread=multi"
        console = "ttyAMA0"
    qemu += ["-nic", "none", "-accel", tcg, "-smp", "2", "-m", args.memory, "-nographic",
             "-no-reboot", "-kernel", os.path.join(kdir, "vmlinuz"), "-initrd", initrd,
             "-append", f"console={console} panic=-1 quiet loglevel=3 mitigations=off "
                        f"cs.init=1 rw"]
    for tag, path, ro in shares:
        qemu += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,"
                            f"multidevs=remap{',readonly=on' if ro else ''}"]
    start = time.monotonic()
    log = open(args.log, "w") if args.log else None
    summary = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")
    counts = None
    proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = start + args.timeout
        for raw in proc.stdout:
            line = raw.decode(errors="replace").replace("\r", "")
            m = summary.match(line.strip())
            if m:
                counts = [int(g or 0) for g in m.groups()]
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
            if log:
                log.write(line)
            if time.monotonic() > deadline:
                proc.kill()
                print(f"corescope-vm: timed out after {args.timeout}s")
                break
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - start

    def read(name):
        try:
            return open(os.path.join(out, name)).read()
        except OSError:
            return None

    rc, dmesg, tainted = read("rc"), read("dmesg") or "", read("tainted")
    if args.attach_log and read("attach.log"):
        with open(args.attach_log, "a") as f:
            f.write(read("attach.log"))
    shutil.rmtree(out, ignore_errors=True)
    problems = []
    if rc is None:
        problems.append("the guest did not finish the command")
    bad = [l for l in dmesg.splitlines() if BAD_DMESG.search(l)]
    if bad:
        problems.append("kernel log: " + " | ".join(bad[:5]))
    if tainted is not None and tainted.strip() != "0":
        problems.append(f"tainted={tainted.strip()}")
    status = "clean" if not problems else "NOT CLEAN: " + "; ".join(problems)
    print(f"{'ok  ' if not problems else 'FAIL'} vm/kernel_{release}_{args.arch}_clean: {status} "
          f"({elapsed:.0f}s in all)")
    if problems and bad:
        print("\n".join(bad[:40]))
    if counts:
        # The command's own summary, with the kernel's clean check counted as one more test.
        counts[0 if not problems else 1] += 1
        print(f"{release}-{args.arch}: {counts[0]} passed, {counts[1]} failed, "
              f"{counts[2]} skipped")
    if rc is None:
        return 4
    if problems:
        return 3
    return int(rc.strip() or 1)


if __name__ == "__main__":
    sys.exit(main())
