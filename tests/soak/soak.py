#!/usr/bin/env python3
"""`make soak`: each tool for SOAK_SECONDS (default 600) under a high event rate, profile
over thousands of short-lived processes. Checks: no crash, memory stays bounded (RSS of the
last minute within a small margin of the first), and, for every tool but profile, that the
events the workload counted it generated equal those the tool delivered plus those it
reported not delivered (lost_events, unread_events, missed_events, not_counted: the records
the tools print). Prints a table; writes build/soak.json."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"), "bin")
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))

# Each workload counts what it generates and prints the count (one integer) when SIGTERM
# ends it; STOP is the shared prologue that makes that happen between two iterations.
STOP = ("import os, signal, sys\nstop = False\n"
        "def _stop(*a):\n    global stop\n    stop = True\n"
        "signal.signal(signal.SIGTERM, _stop)\nsys.stdin.readline()\nn = 0\n")
DONE = "print(n, flush=True)\n"

# A loop device made for the biolatency workload (created on demand, removed at exit).
_loop = {}


def loop_dev():
    if not _loop:
        import tempfile
        d = tempfile.mkdtemp(prefix="soak-")
        img = os.path.join(d, "disk.img")
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        dev = subprocess.run(["losetup", "--find", "--show", img], capture_output=True,
                             text=True, check=True).stdout.strip()
        _loop.update(dev=dev, dir=d)
    return _loop["dev"]


def loop_free():
    if _loop:
        subprocess.run(["losetup", "--detach", _loop["dev"]], capture_output=True)
        subprocess.run(["rm", "-rf", _loop["dir"]])
        _loop.clear()


# tool: (tool args given the workload pid, workload code, what counts as one delivered event
# in a JSON record: a function of (record, workload pid) giving a number)
WORKLOADS = {
    "opensnoop": (lambda pid: ["-j", "-p", str(pid)],
                  STOP + "while not stop:\n    os.close(os.open('/etc/hostname', os.O_RDONLY))\n"
                  "    n += 1\n" + DONE,
                  lambda e, pid: e.get("path") == "/etc/hostname"),
    "execsnoop": (lambda pid: ["-j", "-P", str(pid)],
                  STOP + "while not stop:\n    p = os.fork()\n"
                  "    if p == 0:\n        os.execv('/bin/true', ['/bin/true', 'soak'])\n"
                  "    os.waitpid(p, 0)\n    n += 1\n" + DONE,
                  lambda e, pid: e.get("args") == ["/bin/true", "soak"]),
    "tcpconnlat": (lambda pid: ["-j", "-p", str(pid)],
                   STOP + "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0))\n"
                   "s.listen(512)\na = s.getsockname()\nwhile not stop:\n"
                   "    c = socket.create_connection(a); x, _ = s.accept(); c.close(); x.close()\n"
                   "    n += 1\n" + DONE,
                   lambda e, pid: e.get("pid") == pid),
    # Reads and writes: each row counts the calls of one interval.
    "filetop": (lambda pid: ["-j", "-p", str(pid), "1"],
                STOP + "fd = os.open('/tmp/soak-filetop', os.O_RDWR | os.O_CREAT)\n"
                "while not stop:\n    os.pwrite(fd, b'x' * 512, 0); os.pread(fd, 512, 0)\n"
                "    n += 2\n" + DONE,
                lambda e, pid: (e.get("reads", 0) + e.get("writes", 0))
                if e.get("file") == "soak-filetop" else 0),
    # 4 KiB direct reads of a loop device only this workload uses: the histograms count
    # requests (filled in by main() with the device).
    "biolatency": (lambda pid: ["-j", "-d", os.path.basename(loop_dev())],
                   STOP + "import mmap\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)\n"
                   "buf = mmap.mmap(-1, 4096)\nwhile not stop:\n"
                   "    os.preadv(fd, [buf], (n % 16384) * 4096)\n    n += 1\n" + DONE,
                   lambda e, pid: e.get("count", 0)),
    # SYNs to a port whose SYN-ACKs never come, in a private network namespace: every SYN
    # sent again is a retransmit the kernel counts (RetransSegs of that namespace, printed
    # by the workload at the end instead of its own count).
    "tcpretrans": (lambda pid: ["-j"],
                   STOP + "import socket, subprocess, time\n"
                   "subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)\n"
                   "subprocess.run(['nft', '-f', '-'], check=True, text=True, input="
                   "'table ip soak {\\n chain i {\\n  type filter hook input priority 0;\\n"
                   "  tcp dport 9 tcp flags & (syn | ack) == syn drop\\n }\\n}\\n')\n"
                   "socks = []\nwhile not stop:\n"
                   "    for i in range(20):\n"
                   "        s = socket.socket(); s.setblocking(False)\n"
                   "        s.connect_ex(('127.0.0.1', 9)); socks.append(s)\n"
                   "    time.sleep(0.2)\n"
                   "    while len(socks) > 400:\n        socks.pop(0).close()\n"
                   "for s in socks:\n    s.close()\n"
                   "snmp = open('/proc/net/snmp').read().split('\\n')\n"
                   "tcp = [l.split() for l in snmp if l.startswith('Tcp:')]\n"
                   "n = int(tcp[1][tcp[0].index('RetransSegs')])\n" + DONE,
                   lambda e, pid: e.get("rport") == 9 and e.get("raddr") == "127.0.0.1"),
    "profile": (lambda pid: ["-F", "99", "-f"],
                STOP + "import subprocess\nwhile not stop:\n"
                "    subprocess.run(['/bin/sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done'])\n"
                + DONE,
                None),
}


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def count_lines(stream, result, delivered_of, pid_box):
    """Counts delivered events and the not-printed counts a tool's JSON lines report
    (lost_events, unread_events, missed_events, not_counted), without keeping the lines."""
    events = lines_n = lost = 0
    not_counted = {}
    tail = b""
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        data = tail + chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        for line in lines:
            lines_n += 1
            if not line.startswith(b"{"):
                continue
            if line.startswith((b'{"lost_events"', b'{"unread_events"', b'{"missed_events"')):
                lost += sum(json.loads(line).values())
            elif line.startswith(b'{"not_counted"'):
                for k, v in json.loads(line)["not_counted"].items():
                    not_counted[k] = not_counted.get(k, 0) + v
            elif delivered_of:
                events += delivered_of(json.loads(line), pid_box[0])
    result.update(events=events, lines=lines_n, lost=lost, not_counted=not_counted)


def soak(tool):
    args_for, code, delivered_of = WORKLOADS[tool]
    argv = [sys.executable, "-c", code]
    if tool == "biolatency":
        argv.append(loop_dev())
    if tool == "tcpretrans":
        argv = ["unshare", "-n"] + argv
    work = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc = subprocess.Popen([os.path.join(BIN, tool)] + args_for(work.pid),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    result = {"tool": tool, "seconds": SECONDS}
    # `unshare` execs python: the workload's pid is work.pid either way.
    counter = threading.Thread(target=count_lines,
                               args=(proc.stdout, result, delivered_of, [work.pid]))
    counter.start()
    while b"Hit Ctrl-C" not in proc.stderr.readline():
        if proc.poll() is not None:
            raise SystemExit(f"{tool} did not start")
    work.stdin.write(b"go\n")
    work.stdin.flush()
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < SECONDS and proc.poll() is None:
        time.sleep(min(5, SECONDS))
        samples.append((time.monotonic() - start, rss_kb(proc.pid)))
    work.send_signal(signal.SIGTERM)
    out, _ = work.communicate(timeout=60)
    generated = int(out.split()[-1]) if out.split() else None
    crashed = proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    counter.join()
    err = proc.stderr.read().decode(errors="replace")
    rss = [r for _, r in samples if r]
    first = [r for t, r in samples if r and t <= 60]
    last = [r for t, r in samples if r and t >= SECONDS - 60]
    result.update(exit=proc.returncode, crashed=crashed, rss_max_kb=max(rss or [0]),
                  rss_first_min_kb=max(first or [0]), rss_last_min_kb=max(last or [0]),
                  generated=generated, stderr_tail=err[-400:])
    result["bounded"] = result["rss_last_min_kb"] <= result["rss_first_min_kb"] * 1.10 + 256
    result["ok"] = not crashed and proc.returncode == 0 and result["bounded"]
    reported = result["lost"] + sum(result["not_counted"].values())
    if delivered_of:
        # Everything generated is delivered or reported as not delivered, and nothing more.
        result["balanced"] = generated == result["events"] + reported
        result["ok"] = result["ok"] and result["balanced"]
    # A count reported in JSON is said on stderr too.
    if result["lost"] and "events" not in err:
        result["ok"] = False
    return result


def main():
    tools = [t for t in (sys.argv[1:] or WORKLOADS) if os.access(os.path.join(BIN, t), os.X_OK)]
    results = []
    print(f"{'tool':12} {'generated':>12} {'delivered':>12} {'reported':>9} {'rss max':>9} "
          f"{'1st min':>9} {'last min':>9} {'exit':>4}  ok")
    try:
        for tool in tools:
            r = soak(tool)
            results.append(r)
            reported = r["lost"] + sum(r["not_counted"].values())
            gen = "-" if r["generated"] is None or not WORKLOADS[tool][2] else r["generated"]
            print(f"{tool:12} {gen:>12} {r['events'] if WORKLOADS[tool][2] else r['lines']:12d} "
                  f"{reported:9d} {r['rss_max_kb']:7d}kB {r['rss_first_min_kb']:7d}kB "
                  f"{r['rss_last_min_kb']:7d}kB {r['exit']:4d}  {'yes' if r['ok'] else 'NO'}",
                  flush=True)
    finally:
        loop_free()
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "soak.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
