"""A real scrape: Debian's prometheus-node-exporter reads, with its textfile collector, the
OpenMetrics files biolatency, tcpconnlat, tcpretrans and filetop keep in a temporary
directory, and Debian's prometheus scrapes it every second. Both listen on loopback ports
picked free, with temporary configs and data, and start and stop inside the test. Workloads
the test controls run while the tools trace; once the tools have stopped (their last write
holds every count), the test asks Prometheus' HTTP API until the last scrape is in, and the
series and values must equal what each tool printed as JSON over the same run."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import harness
from harness import Tool
from netns import Pair
from test_biolatency import DirectIO, LoopDisk
from test_tcpretrans import PORT as RETRANS_PORT, retransmit_while_dropped, setup as retrans_setup

# The scrape and the files are replaced every second: a value reaches Prometheus within a
# few seconds on an idle machine; the bound is for a loaded one.
SCRAPE_TIMEOUT = 60
BIO_READS, BIO_WRITES = 13, 9
CONNECTS = 7
WRITES = [(i + 1) * 1000 for i in range(6)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class Server:
    """A server process on loopback, ready once `ready_url` answers 200."""

    def __init__(self, argv, ready_url, log):
        self.argv, self.ready_url, self.log = argv, ready_url, log
        self.proc = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.argv[0]} exited {self.proc.returncode}: "
                                     f"{self.output()}")
            try:
                if http_get(self.ready_url, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.argv[0]} not ready in {timeout}s: {self.output()}")

    def output(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Scrape:
    """node_exporter (textfile collector only) on `textfile_dir`, Prometheus scraping it."""

    def __enter__(self):
        for exe in ("prometheus-node-exporter", "prometheus"):
            if not shutil.which(exe):
                raise harness.Skip(f"{exe} not installed (make deps)")
        self.tmp = tempfile.mkdtemp(prefix="corescope-prom-")
        self.textfile_dir = os.path.join(self.tmp, "textfile")
        os.mkdir(self.textfile_dir)
        self.servers = []
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self):
        ne_port, prom_port = free_port(), free_port()
        ne = Server(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}",
                     "--collector.disable-defaults", "--collector.textfile",
                     f"--collector.textfile.directory={self.textfile_dir}"],
                    f"http://127.0.0.1:{ne_port}/metrics",
                    open(os.path.join(self.tmp, "node_exporter.log"), "w"))
        self.servers.append(ne.start())
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: node\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n")
        self.url = f"http://127.0.0.1:{prom_port}"
        prom = Server(["prometheus", f"--config.file={config}",
                       f"--storage.tsdb.path={os.path.join(self.tmp, 'data')}",
                       f"--web.listen-address=127.0.0.1:{prom_port}"],
                      self.url + "/-/ready", open(os.path.join(self.tmp, "prometheus.log"), "w"))
        self.servers.append(prom.start())
        # Ready is not scraped: wait for the first successful scrape of the exporter.
        self.wait(lambda: self.values('up{job="node"}') == {(): 1.0}, "the first scrape")

    def __exit__(self, *exc):
        for s in reversed(self.servers):
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.textfile_dir, name)

    def query(self, expr):
        status, body = http_get(f"{self.url}/api/v1/query?" +
                                urllib.parse.urlencode({"query": expr}))
        reply = json.loads(body)
        assert status == 200 and reply["status"] == "success", body
        return reply["data"]["result"]

    def values(self, expr, drop=("__name__", "instance", "job")):
        """{labels (sorted tuple, minus the scrape's own): value} of an instant query."""
        out = {}
        for r in self.query(expr):
            labels = tuple(sorted((k, v) for k, v in r["metric"].items() if k not in drop))
            out[labels] = float(r["value"][1])
        return out

    def wait(self, pred, what, timeout=SCRAPE_TIMEOUT):
        if not harness.wait_for(pred, timeout=timeout, interval=0.2):
            raise AssertionError(f"Prometheus never showed {what}; logs:\n"
                                 f"{self.servers[0].output()}\n{self.servers[-1].output()}")

    def expect(self, expr, want, what, close=None):
        """Polls until the query's series and values are exactly want (within close, a
        function of the wanted value, for floats); then asserts it, naming the difference."""
        last = {}

        def same():
            nonlocal last
            last = self.values(expr)
            if set(last) != set(want):
                return False
            return all(abs(last[k] - want[k]) <= (close(want[k]) if close else 0)
                       for k in want)
        if not harness.wait_for(same, timeout=SCRAPE_TIMEOUT, interval=0.2):
            raise AssertionError(f"{what}: Prometheus has {last}, the tool's JSON says {want}")


WRITER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for line in sys.stdin:
    if line.strip() == "go":
        for n in map(int, sys.argv[2:]):
            assert os.write(fd, b"x" * n) == n
        os.fsync(fd)
        print("done", flush=True)
"""


def labels(**kw):
    return tuple(sorted(kw.items()))


def test_scrape_all_aggregating_tools():
    """The four tools that aggregate, at once, under one scrape."""
    with Scrape() as scrape, LoopDisk() as disk, Pair() as pair, \
            tempfile.TemporaryDirectory() as work:
        # filetop follows one writer process the test drives, by PID.
        data = os.path.join(work, "data")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, data] + [str(n) for n in WRITES],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        # Connects to a local listener whose port only this test uses, and one refused.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(CONNECTS + 1)
        lport = listener.getsockname()[1]
        closed = free_port()
        retrans_client, conns = retrans_setup(pair, [4])
        io = DirectIO(disk.dev)
        tools = {}
        try:
            tools["biolatency"] = Tool("biolatency", "-j", "-D", "-d", disk.name,
                                       "--openmetrics", scrape.path("biolatency.prom"), 1).start()
            tools["tcpconnlat"] = Tool("tcpconnlat", "-j", "-x", "--openmetrics",
                                       scrape.path("tcpconnlat.prom")).start()
            tools["tcpretrans"] = Tool("tcpretrans", "-c", "-j", "--openmetrics",
                                       scrape.path("tcpretrans.prom")).start()
            tools["filetop"] = Tool("filetop", "-j", "-p", writer.pid, "-r", 50, "--openmetrics",
                                    scrape.path("filetop.prom"), 1).start()
            io.read(BIO_READS)
            io.write(BIO_WRITES)
            for _ in range(CONNECTS):
                socket.create_connection(("127.0.0.1", lport), timeout=10).close()
            try:
                socket.create_connection(("127.0.0.1", closed), timeout=10).close()
            except ConnectionRefusedError:
                pass
            writer.stdin.write("go\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "done"
            fd, _ = conns[4]
            retransmit_while_dropped(pair, retrans_client, [fd], [4])
        finally:
            io.close()
            listener.close()
            for t in tools.values():
                t.stop()
            writer.stdin.close()
            writer.wait(timeout=10)
        for name, t in tools.items():
            assert t.rc == 0, f"{name} exited {t.rc}: {t.err}"
            harness.promtool_check(scrape.path(f"{name}.prom"))
        assert sorted(os.listdir(scrape.textfile_dir)) == sorted(
            f"{n}.prom" for n in tools), os.listdir(scrape.textfile_dir)

        # node_exporter read every file without a complaint.
        scrape.expect("node_textfile_scrape_error", {(): 0.0}, "node_textfile_scrape_error")

        # biolatency: per disk and bucket, what its JSON intervals add up to.
        hists = [o for o in tools["biolatency"].json() if o.get("disk") == disk.name]
        assert sum(o["count"] for o in hists) == BIO_READS + BIO_WRITES, hists
        scrape.expect(f'corescope_biolatency_seconds_count{{disk="{disk.name}"}}',
                      {labels(disk=disk.name): BIO_READS + BIO_WRITES}, "biolatency _count")
        total_us = sum(o["sum"] for o in hists)
        scrape.expect(f'corescope_biolatency_seconds_sum{{disk="{disk.name}"}}',
                      {labels(disk=disk.name): total_us / 1e6}, "biolatency _sum",
                      close=lambda v: v * 1e-12)
        buckets = {}
        for o in hists:
            for b in o["buckets"]:
                buckets[b["high"]] = buckets.get(b["high"], 0) + b["count"]
        got = {float(dict(k)["le"]): v for k, v in scrape.values(
            f'corescope_biolatency_seconds_bucket{{disk="{disk.name}"}}').items()}
        for high in sorted(buckets):
            want = sum(c for h, c in buckets.items() if h <= high)
            assert got.get(high / 1e6) == want, (high, want, got)
        # The README's p99 query answers with a bucket bound.
        p99 = scrape.values("histogram_quantile(0.99, "
                            f'corescope_biolatency_seconds_bucket{{disk="{disk.name}"}})')
        assert len(p99) == 1 and 0 < list(p99.values())[0] <= max(buckets) / 1e6, p99

        # tcpconnlat: connects per destination port, every port the tool saw; failures.
        events = tools["tcpconnlat"].json()
        ok = [e for e in events if e.get("result") == "established"]
        per_port = {}
        for e in ok:
            per_port[labels(dport=str(e["dport"]))] = per_port.get(
                labels(dport=str(e["dport"])), 0) + 1
        assert per_port.get(labels(dport=str(lport))) == CONNECTS, events
        scrape.expect("corescope_tcpconnlat_seconds_count > 0", per_port, "tcpconnlat _count")
        ours = [e["lat_ms"] for e in ok if e["dport"] == lport]
        # JSON rounds to 0.01 ms, the histogram counts whole microseconds (truncated).
        scrape.expect(f'corescope_tcpconnlat_seconds_sum{{dport="{lport}"}}',
                      {labels(dport=str(lport)): sum(ours) / 1e3}, "tcpconnlat _sum",
                      close=lambda v: CONNECTS * 6e-6)
        failed = {}
        for e in events:
            if e.get("result") not in (None, "established"):
                failed[labels(dport=str(e["dport"]))] = failed.get(
                    labels(dport=str(e["dport"])), 0) + 1
        assert failed.get(labels(dport=str(closed))) == 1, events
        scrape.expect("corescope_tcpconnlat_failed_total > 0", failed, "tcpconnlat failures")

        # tcpretrans -c: its per-flow table (every flow on the host) adds up to the per-state
        # counters; the test's own flow is among them, ESTABLISHED.
        rows = [r for r in tools["tcpretrans"].json() if "retransmits" in r]
        # Other tests on this host may use the same port in their own namespaces: the
        # pair's addresses are this run's alone.
        mine = [r for r in rows if r["rport"] == RETRANS_PORT and
                r["laddr"] == pair.addr("client", 4) and r["raddr"] == pair.addr("server", 4)]
        assert mine and all(r["retransmits"] > 0 for r in mine), rows
        for ip in (4, 6):
            want = sum(r["retransmits"] for r in rows if r["ip"] == ip)
            segs = sum(r["segs"] for r in rows if r["ip"] == ip)
            expr = f'sum(corescope_tcpretrans_retransmits_total{{ip="{ip}"}})'
            scrape.expect(expr, {(): float(want)} if want else {}, f"retransmits IPv{ip}")
            expr = f'sum(corescope_tcpretrans_retransmitted_segments_total{{ip="{ip}"}})'
            scrape.expect(expr, {(): float(segs)} if segs else {}, f"segments IPv{ip}")
        # The retransmits the kernel hit without running the program: the exact count of
        # the end, the same in both (a bound while tracing, exact at the last write).
        skipped = sum(r["not_counted"].get("skipped_by_kernel", 0)
                      for r in tools["tcpretrans"].json() if "not_counted" in r)
        scrape.expect("corescope_tcpretrans_skipped_by_kernel_total", {(): float(skipped)},
                      "retransmits the kernel skipped the program for")
        states = scrape.values('corescope_tcpretrans_retransmits_total{ip="4"}')
        assert states.get(labels(ip="4", state="ESTABLISHED"), 0) >= \
            sum(r["retransmits"] for r in mine), states

        # filetop: the writer's file, bytes and calls, summed over the JSON intervals.
        files = [o for o in tools["filetop"].json() if o.get("file") == "data"]
        assert sum(o["wbytes"] for o in files) == sum(WRITES), tools["filetop"].out
        assert sum(o["writes"] for o in files) == len(WRITES), files
        dev, ino = files[0]["dev"], files[0]["ino"]
        key = labels(file="data", dev=dev, ino=str(ino))
        scrape.expect('corescope_filetop_written_bytes_total{file="data"}',
                      {key: float(sum(WRITES))}, "filetop written bytes")
        scrape.expect('corescope_filetop_writes_total{file="data"}',
                      {key: float(len(WRITES))}, "filetop writes")
        scrape.expect('corescope_filetop_reads_total{file="data"}', {key: 0.0}, "filetop reads")
