#!/usr/bin/env python3
"""`make soak`: each tool for SOAK_SECONDS (default 600) under a high event rate, profile
over thousands of short-lived processes. Checks: no crash, memory stays bounded (RSS of the
last minute within a small margin of the first), and every event the workload generated is
either delivered or counted as lost. Prints a table; writes build/soak.json."""
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

WORKLOADS = {
    # tool: (tool args given the workload pid, python workload code)
    "opensnoop": (lambda pid: ["-j", "-p", str(pid)],
                  "import os\nwhile True:\n    os.close(os.open('/etc/hostname', os.O_RDONLY))\n"),
    "execsnoop": (lambda pid: ["-j", "-P", str(pid)],
                  "import os\nwhile True:\n    p = os.fork()\n"
                  "    if p == 0:\n        os.execv('/bin/true', ['/bin/true'])\n"
                  "    os.waitpid(p, 0)\n"),
    "tcpconnlat": (lambda pid: ["-j", "-p", str(pid)],
                   "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(512)\n"
                   "a = s.getsockname()\nwhile True:\n"
                   "    c = socket.create_connection(a); x, _ = s.accept(); c.close(); x.close()\n"),
    "filetop": (lambda pid: ["-j", "-p", str(pid), "1"],
                "import os\nfd = os.open('/tmp/soak-filetop', os.O_RDWR | os.O_CREAT)\n"
                "while True:\n    os.pwrite(fd, b'x' * 512, 0); os.pread(fd, 512, 0)\n"),
    "profile": (lambda pid: ["-F", "99", "-f"],
                "import subprocess\nwhile True:\n"
                "    subprocess.run(['/bin/sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done'])\n"),
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


def count_lines(stream, result):
    """Counts events and reads lost_events from a tool's JSON lines without keeping them."""
    events = lost = 0
    tail = b""
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        data = tail + chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        for line in lines:
            if line.startswith(b'{"lost_events"'):
                lost += json.loads(line)["lost_events"]
            else:
                events += 1
    result["events"], result["lost"] = events, lost


def soak(tool):
    args_for, code = WORKLOADS[tool]
    work = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()\n" + code],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([os.path.join(BIN, tool)] + args_for(work.pid),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    result = {"tool": tool, "seconds": SECONDS}
    counter = threading.Thread(target=count_lines, args=(proc.stdout, result))
    counter.start()
    while b"Hit Ctrl-C" not in proc.stderr.readline():
        if proc.poll() is not None:
            raise SystemExit(f"{tool} did not start")
    work.stdin.write(b"go\n")
    work.stdin.flush()
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < SECONDS and proc.poll() is None:
        time.sleep(5)
        samples.append((time.monotonic() - start, rss_kb(proc.pid)))
    work.kill()
    work.wait()
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
                  stderr_tail=err[-300:])
    result["bounded"] = result["rss_last_min_kb"] <= result["rss_first_min_kb"] * 1.10 + 256
    result["ok"] = not crashed and proc.returncode == 0 and result["bounded"]
    if "lost_events" not in err and result["lost"]:
        result["ok"] = False  # a loss must be reported on stderr too
    return result


def main():
    tools = [t for t in (sys.argv[1:] or WORKLOADS) if os.access(os.path.join(BIN, t), os.X_OK)]
    results = []
    print(f"{'tool':12} {'events':>12} {'lost':>10} {'rss max':>9} {'1st min':>9} "
          f"{'last min':>9} {'exit':>4}  ok")
    for tool in tools:
        r = soak(tool)
        results.append(r)
        print(f"{tool:12} {r.get('events', 0):12d} {r.get('lost', 0):10d} "
              f"{r['rss_max_kb']:7d}kB {r['rss_first_min_kb']:7d}kB {r['rss_last_min_kb']:7d}kB "
              f"{r['exit']:4d}  {'yes' if r['ok'] else 'NO'}", flush=True)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "soak.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
