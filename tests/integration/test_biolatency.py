"""biolatency against the real kernel: exact counts of direct I/O the test issues on a loop
device it creates, checked against the kernel's own per-disk counters."""
import json
import mmap
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid

import harness
from harness import Tool

READS = 23
WRITES = 17
BLOCK = 4096
ROW = re.compile(r"^\s*(\d+) -> (\d+)\s*: (\d+)\s*\|")


class LoopDisk:
    """A loop device on a temporary file, so the only I/O on it is the test's. The kernel's
    completed-request counters (/sys/block/NAME/stat) confirm that afterwards."""

    def __init__(self, scheduler=None, partitioned=False, size=16 << 20):
        self.scheduler = scheduler
        self.partitioned = partitioned
        self.size = size
        self.dir = None
        self.dev = None
        self.null_blk = False

    def __enter__(self):
        try:
            self.dir = tempfile.mkdtemp(prefix="biolatency-")
            image = os.path.join(self.dir, "disk.img")
            with open(image, "wb") as f:
                f.truncate(self.size)
            cmd = ["losetup", "--find", "--show"] + (["--partscan"] if self.partitioned else [])
            p = subprocess.run(cmd + [image], capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                raise harness.Skip(f"cannot create a loop device: {p.stderr.strip()}")
            self.dev = p.stdout.strip()
            self.name = os.path.basename(self.dev)
            self.sys = f"/sys/block/{self.name}"
            if self.partitioned:
                # BLKPG, not a partition table: the kernel may have no partition parsers.
                subprocess.run(["addpart", self.dev, "1", "2048", str(self.size // 512 - 2048)],
                               check=True, capture_output=True, timeout=30)
            if self.scheduler:
                with open(f"{self.sys}/queue/scheduler") as f:
                    if self.scheduler not in f.read():
                        self.null_blk_instead()
                with open(f"{self.sys}/queue/scheduler", "w") as f:
                    f.write(self.scheduler)
            if os.path.exists(f"{self.sys}/queue/iostats"):
                with open(f"{self.sys}/queue/iostats", "w") as f:
                    f.write("1")
            self.settle()
            return self
        except BaseException:
            self.__exit__()
            raise

    def null_blk_instead(self):
        """Older kernels' loop devices take no I/O scheduler (5.10 offers them only "none"), and
        requests then skip the insertion that -Q times from: a null_blk disk (blk-mq, data
        discarded) takes one. It stands in only where the loop device cannot."""
        subprocess.run(["losetup", "--detach", self.dev], capture_output=True, timeout=30)
        self.dev = None
        if self.partitioned:
            raise harness.Skip(f"loop devices take no {self.scheduler} I/O scheduler here")
        if os.path.exists("/sys/module/null_blk"):
            raise harness.Skip(f"loop devices take no {self.scheduler} I/O scheduler here, "
                               "and null_blk is already in use")
        p = subprocess.run(["modprobe", "null_blk", "nr_devices=1", "queue_mode=2", "gb=1"],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise harness.Skip(f"loop devices take no {self.scheduler} I/O scheduler here, "
                               f"and null_blk does not load: {p.stderr.strip()}")
        self.null_blk = True
        self.dev, self.name, self.sys = "/dev/nullb0", "nullb0", "/sys/block/nullb0"
        deadline = time.monotonic() + 10
        while not os.path.exists(self.dev) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(f"{self.sys}/queue/scheduler") as f:
            if self.scheduler not in f.read():
                raise harness.Skip(f"no {self.scheduler} I/O scheduler")

    def settle(self):
        """Waits until udev (if any) has probed the new device and its I/O has stopped."""
        if shutil.which("udevadm"):
            subprocess.run(["udevadm", "settle", "--timeout=10"], capture_output=True)
        last, since = None, time.monotonic()
        deadline = since + 10
        while time.monotonic() < deadline:
            now = self.stat()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= 0.3:
                return
            time.sleep(0.05)

    def stat(self):
        """(reads, writes) completed: the kernel's count of requests done on this disk."""
        with open(f"{self.sys}/stat") as f:
            fields = f.read().split()
        return int(fields[0]), int(fields[4])

    def __exit__(self, *exc):
        if self.null_blk:
            subprocess.run(["rmmod", "null_blk"], capture_output=True, timeout=60)
            self.null_blk = self.dev = None
        if self.dev:
            subprocess.run(["losetup", "--detach", self.dev], capture_output=True, timeout=30)
            self.dev = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class DirectIO:
    """Direct (O_DIRECT) 4 KiB reads and writes on a block device, one request each. The
    device stays open until close(): closing a device opened for writing makes udev re-probe
    it, and those reads must come after the tool stopped counting."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_DIRECT)
        self.buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT wants

    def read(self, n):
        for i in range(n):
            assert os.preadv(self.fd, [self.buf], i * BLOCK) == BLOCK

    def write(self, n):
        for i in range(n):
            assert os.pwritev(self.fd, [self.buf], (1024 + i) * BLOCK) == BLOCK

    def close(self):
        os.close(self.fd)
        self.buf.close()


def measure(disk, *args, reads=READS, writes=WRITES):
    """Runs biolatency with args around `reads` direct reads and `writes` direct writes on the
    disk, stops it with Ctrl-C, and checks the kernel saw exactly that I/O on the disk."""
    io = DirectIO(disk.dev)
    try:
        before = disk.stat()
        with Tool("biolatency", *args) as t:
            io.read(reads)
            io.write(writes)
        after = disk.stat()
    finally:
        io.close()
    assert (after[0] - before[0], after[1] - before[1]) == (reads, writes), \
        f"other I/O on {disk.name} during the test: {before} -> {after}"
    assert t.rc == 0, t.err
    return t


def text_totals(out):
    """Counts per section of text output: {label line or "": total of its rows}."""
    totals, label = {}, ""
    for line in out.splitlines():
        if line.startswith("disk = ") or line.startswith("flags = "):
            label = line
        m = ROW.match(line)
        if m:
            totals[label] = totals.get(label, 0) + int(m.group(3))
    return totals


def check_hist(obj, unit="usecs"):
    assert obj["unit"] == unit, obj
    assert sum(b["count"] for b in obj["buckets"]) == obj["count"], obj
    for b in obj["buckets"]:
        assert b["low"] <= b["high"], obj
    return obj["count"]


def op_of(flags):
    return flags.split("-")[-1]


def test_disk_filter_counts_exactly():
    with LoopDisk() as disk:
        t = measure(disk, "-j", "-e", "-d", disk.name)
    objs = t.json()
    assert len(objs) == 1, objs
    assert objs[0]["disk"] == disk.name
    assert check_hist(objs[0]) == READS + WRITES
    assert objs[0]["sum"] > 0
    assert abs(objs[0]["avg"] - objs[0]["sum"] / objs[0]["count"]) < 1e-6, objs


def test_flags_split_reads_and_writes():
    with LoopDisk() as disk:
        t = measure(disk, "-j", "-F", "-d", disk.name)
    by_op = {}
    for o in t.json():
        by_op[op_of(o["flags"])] = by_op.get(op_of(o["flags"]), 0) + check_hist(o)
    assert by_op == {"Read": READS, "Write": WRITES}, t.out
    # Direct writes are synchronous requests; the flags read like BCC's.
    assert any(re.fullmatch(r"([A-Z][A-Za-z]*-)*Sync-Write", o["flags"]) for o in t.json()), t.out


def test_per_disk_names_the_disk():
    with LoopDisk() as disk:
        t = measure(disk, "-j", "-D")
        # Unfiltered, other disks' I/O in flight at exit is counted in a not_counted record.
        hists = [o for o in t.json() if "not_counted" not in o]
        mine = [o for o in hists if o["disk"] == disk.name]
        assert len(mine) == 1, t.out
        assert check_hist(mine[0]) == READS + WRITES
        assert all("disk" in o and "flags" not in o for o in hists), t.out

        t = measure(disk, "-D", "-d", f"/dev/{disk.name}")
    assert text_totals(t.out) == {f"disk = {disk.name}": READS + WRITES}, t.out


def test_text_output_units_and_extension():
    with LoopDisk() as disk:
        t = measure(disk, "-e")
        assert re.search(r"^\s+usecs\s+: count\s+distribution$", t.out, re.M), t.out
        m = re.search(r"^avg = (\d+) usecs, total: (\d+) usecs, count: (\d+)$", t.out, re.M)
        assert m, t.out
        assert int(m.group(3)) == sum(text_totals(t.out).values())
        assert int(m.group(1)) == int(m.group(2)) // int(m.group(3))

        t = measure(disk, "-m", "-F", "-d", disk.name)
        assert re.search(r"^\s+msecs\s+: count\s+distribution$", t.out, re.M), t.out
        totals = {}
        for label, n in text_totals(t.out).items():
            op = op_of(label.removeprefix("flags = "))  # a plain "Read" on 5.10: no flag bits
            totals[op] = totals.get(op, 0) + n
        assert totals == {"Read": READS, "Write": WRITES}, t.out

        t = measure(disk, "-j", "-m", "-d", disk.name)
        assert check_hist(t.json()[0], "msecs") == READS + WRITES


def test_queued_never_lower_than_issued():
    """Both tools see the same requests. The one without -Q attaches first, so at completion
    its program runs first; with -Q a request starts at insertion, before its issue. Each
    request's -Q latency is therefore at least its issue latency, and so is the histogram's
    distribution, bucket by bucket."""
    with LoopDisk(scheduler="mq-deadline") as disk:
        io = DirectIO(disk.dev)
        try:
            issued = Tool("biolatency", "-j", "-d", disk.name).start()
            queued = Tool("biolatency", "-j", "-Q", "-d", disk.name).start()
            io.read(READS)
            io.write(WRITES)
            queued.stop()
            issued.stop()
        finally:
            io.close()
    d, q = issued.json()[0], queued.json()[0]
    assert check_hist(d) == check_hist(q) == READS + WRITES, (d, q)
    assert q["sum"] >= d["sum"], (d, q)
    highs = sorted({b["high"] for b in d["buckets"] + q["buckets"]})
    for h in highs:
        at_most = lambda o: sum(b["count"] for b in o["buckets"] if b["high"] <= h)
        assert at_most(q) <= at_most(d), f"more -Q requests at or below {h} us: {d} {q}"


def test_interval_and_count():
    with LoopDisk() as disk, tempfile.TemporaryDirectory() as tmp:
        prom = os.path.join(tmp, "bio.prom")
        io = DirectIO(disk.dev)
        try:
            start = time.monotonic()
            t = Tool("biolatency", "-j", "-T", "-d", disk.name, "--openmetrics", prom,
                     "1", "3").start()
            io.read(READS)
            t.wait(timeout=20)
            elapsed = time.monotonic() - start
        finally:
            io.close()
        assert t.rc == 0, t.err
        objs = t.json()
        # One object per interval even when it counted nothing.
        assert len(objs) == 3, objs
        assert sum(check_hist(o) for o in objs) == READS
        assert all(re.fullmatch(r"\d\d:\d\d:\d\d", o["time"]) for o in objs), objs
        assert 2.5 < elapsed < 10, elapsed
        text = open(prom).read()
        assert f'corescope_biolatency_seconds_count{{disk="{disk.name}"}} {READS}\n' in text, text

        t = Tool("biolatency", "-T", "1", "2").start().wait(timeout=20)
        assert t.rc == 0, t.err
        assert len(re.findall(r"^\d\d:\d\d:\d\d$", t.out, re.M)) == 2, t.out


def parse_openmetrics(text):
    """{(name, frozenset(labels without le), le): value} and the families' TYPE lines."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+)", line)
        assert m, f"unexpected line {line!r}"
        labels = dict(re.findall(r'([a-z]+)="([^"]*)"', m.group(2)))
        le = labels.pop("le", None)
        samples[(m.group(1), frozenset(labels.items()), le)] = float(m.group(3))
    return samples


def test_openmetrics_file():
    with LoopDisk() as disk, tempfile.TemporaryDirectory() as tmp:
        prom = os.path.join(tmp, "biolatency.prom")
        io = DirectIO(disk.dev)
        try:
            with Tool("biolatency", "-D", "-F", "--openmetrics", prom) as t:
                # Written once attached, before the first interval.
                assert os.path.exists(prom)
                io.read(READS)
                io.write(WRITES)
        finally:
            io.close()
        assert t.rc == 0, t.err
        assert os.listdir(tmp) == ["biolatency.prom"], os.listdir(tmp)  # no temporary left
        assert stat.S_IMODE(os.stat(prom).st_mode) == 0o644
        text = open(prom).read()
        assert text.startswith("# TYPE corescope_biolatency_seconds histogram\n"), text[:200]
        assert text.endswith("# EOF\n")
        samples = parse_openmetrics(text)
        by_op = {}
        for (name, labels, le), value in samples.items():
            labels = dict(labels)
            if labels["disk"] != disk.name:
                continue
            series = frozenset(labels.items())
            if name == "corescope_biolatency_seconds_count":
                by_op[op_of(labels["flags"])] = by_op.get(op_of(labels["flags"]), 0) + value
                inf = samples[("corescope_biolatency_seconds_bucket", series, "+Inf")]
                assert inf == value
                assert samples[("corescope_biolatency_seconds_sum", series, None)] > 0
        assert by_op == {"Read": READS, "Write": WRITES}, by_op
        harness.promtool_check(prom)


@harness.each_attach_kind("biolatency", ("raw_tp", "tp_btf", "tracepoint"),
                          refuse_args=("1", "1"), tp="block:block_rq_issue")
def test_attach_kinds_count_exactly(kind):
    with LoopDisk(scheduler="mq-deadline") as disk:
        for queued in ([], ["-Q"]):
            t = measure(disk, "-j", "-v", "-F", "-d", disk.name, "--attach", kind, *queued)
            assert f"attach: {kind} " in t.err, t.err
            by_op, other = {}, []
            for o in t.json():
                if "flags" not in o:
                    other.append(o)  # the exit records (not_counted, missed_events)
                    continue
                by_op[op_of(o["flags"])] = by_op.get(op_of(o["flags"]), 0) + check_hist(o)
            assert by_op == {"Read": READS, "Write": WRITES}, (kind, queued, t.out, t.err)
            # What was not counted can only be I/O of other disks, outside the -d filter.
            assert all(set(o) == {"not_counted"} for o in other), (other, t.err)


def test_cgroup_filter():
    root = None
    with open("/proc/mounts") as f:
        for line in f:
            if line.split()[2] == "cgroup2":
                root = line.split()[1]
                break
    if not root:
        raise harness.Skip("no cgroup v2 mount")
    cg = os.path.join(root, "corescope-test-" + uuid.uuid4().hex[:8])
    inside_reads = 11
    code = ("import mmap, os, sys\n"
            "open(sys.argv[1] + '/cgroup.procs', 'w').write(str(os.getpid()))\n"
            "fd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECT)\n"
            "buf = mmap.mmap(-1, 4096)\n"
            "for i in range(int(sys.argv[3])):\n"
            "    assert os.preadv(fd, [buf], i * 4096) == 4096\n")
    os.mkdir(cg)
    try:
        with LoopDisk() as disk:
            io = DirectIO(disk.dev)
            try:
                with Tool("biolatency", "-j", "-d", disk.name, "-c", cg) as t:
                    io.read(READS)  # this process: outside the cgroup
                    subprocess.run([sys.executable, "-c", code, cg, disk.dev,
                                    str(inside_reads)], check=True, timeout=30)
                    io.write(WRITES)
            finally:
                io.close()
    finally:
        os.rmdir(cg)
    assert check_hist(t.json()[0]) == inside_reads, t.out


def test_works_without_tracefs_mounted():
    """In a mount namespace without tracefs: the default attach needs none and mounts none."""
    code = r'''
import json, mmap, os, signal, subprocess, sys
for m in ("/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/kernel/debug"):
    subprocess.run(["umount", m], stderr=subprocess.DEVNULL)
mounted = lambda: "tracefs" in open("/proc/self/mountinfo").read()
before = mounted()
tool, dev, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([tool, "-j", "-d", os.path.basename(dev)], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
err = ""
while "Hit Ctrl-C" not in err:
    line = p.stderr.readline()
    if not line:
        break
    err += line
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for i in range(n):
    os.preadv(fd, [buf], i * 4096)
p.send_signal(signal.SIGINT)
out, rest = p.communicate(timeout=20)
os.close(fd)
print(json.dumps({"rc": p.returncode, "out": out, "err": err + rest, "before": before,
                  "after": mounted()}))
'''
    with LoopDisk() as disk:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                            code, harness.tool_path("biolatency"), disk.dev, str(READS)],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert not r["before"], "tracefs still mounted in the test namespace"
    assert r["rc"] == 0, r["err"]
    assert not r["after"], "biolatency mounted tracefs though it did not need it"
    hists = harness.json_lines(r["out"])
    assert hists and check_hist(hists[0]) == READS, r


def test_bad_arguments():
    harness.assert_usage_error("biolatency", "-d", "nosuchdisk9", contains="nosuchdisk9")
    harness.assert_usage_error("biolatency", "-d", "/etc/hostname", contains="not a block")
    harness.assert_usage_error("biolatency", "-d", "")
    harness.assert_usage_error("biolatency", "abc", contains="interval")
    harness.assert_usage_error("biolatency", "1", "0", contains="count")
    harness.assert_usage_error("biolatency", "1", "2", "3")
    harness.assert_usage_error("biolatency", "--attach", "kprobe", contains="attach")
    harness.assert_usage_error("biolatency", "--openmetrics", "/tmp/")
    harness.assert_usage_error("biolatency", "--bogus")
    with LoopDisk(partitioned=True) as disk:
        part = disk.name + "p1"
        assert harness.wait_for(lambda: os.path.exists(f"/sys/class/block/{part}")), \
            "the partition did not appear"
        harness.assert_usage_error("biolatency", "-d", part, contains="partition")
    p = harness.run("biolatency", "--openmetrics", "/nonexistent-dir/x.prom")
    assert p.returncode == 1 and "nonexistent-dir" in p.stderr, p.stderr


def our_programs():
    """IDs of loaded BPF programs named like biolatency's (other tools may run meanwhile)."""
    names = {f"{op}_{kind}" for op in ("insert", "issue", "merge", "complete")
             for kind in ("btf", "raw", "tp")}
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"] for p in json.loads(out.stdout or "[]") if p.get("name") in names}


def test_ctrl_c_prints_and_leaves_nothing_loaded():
    before = our_programs()
    with LoopDisk() as disk:
        t = measure(disk, "-d", disk.name)
    assert text_totals(t.out) == {"": READS + WRITES}, t.out
    assert harness.wait_for(lambda: our_programs() <= before), "programs left loaded"
