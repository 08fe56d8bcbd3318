"""Real TCP between two network namespaces the test creates, joined by a veth pair: a
"client" and a "server" side, each running an agent process the test drives line by line
(listen, connect, send, close), with firewall rules (nft) and counters (ss, nstat) per side.

Traffic only ever goes to addresses on these veths: 10.200.N.1/.2 (N differs between the pairs
of one run) and fd00:200::N:1/:2 (inside fd00:200::/64). Everything is removed on exit, even
when the test fails."""
import os
import random
import re
import select
import subprocess
import time
import uuid

PYTHON = "/usr/bin/python3"

# The agent: one command per line on stdin, one reply line on stdout ("ok ..." or
# "err ERRNO"). Its process is what a connect-tracing tool sees (PID, COMM "python3").
AGENT = r"""
import errno, socket, sys, threading, time

socks = {}

def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass

def serve(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        threading.Thread(target=drain, args=(c,), daemon=True).start()

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

for line in sys.stdin:
    w = line.split()
    try:
        if w[0] == "listen":
            s = socket.socket(family(w[1]))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if ":" in w[1]:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((w[1], int(w[2])))
            s.listen(64)
            threading.Thread(target=serve, args=(s,), daemon=True).start()
            print("ok", flush=True)
        elif w[0] == "connect":
            s = socket.socket(family(w[1]))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(float(w[3]) if len(w) > 3 else 10)
            s.connect((w[1], int(w[2])))
            s.settimeout(None)
            socks[s.fileno()] = s
            print("ok", s.fileno(), s.getsockname()[1], flush=True)
        elif w[0] == "send":
            s = socks[int(w[1])]
            for _ in range(int(w[2])):
                s.send(b"x" * int(w[3]))
                time.sleep(int(w[4]) / 1000)
            print("ok", flush=True)
        elif w[0] == "close":
            socks.pop(int(w[1])).close()
            print("ok", flush=True)
        else:
            print("err unknown", flush=True)
    except OSError as e:
        print("err", e.errno if e.errno is not None else errno.ETIMEDOUT, flush=True)
"""


def _subnet_numbers():
    """1..254 from a random start: pairs of one run never share addresses, so a dying
    namespace's last packets (a FIN retransmitted by an orphaned socket) never look like the
    next test's traffic."""
    n = random.randint(0, 253)
    while True:
        yield n + 1
        n = (n + 1) % 254


_subnets = _subnet_numbers()


class Agent:
    """A python process inside a namespace, driven by commands."""

    def __init__(self, ns):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, PYTHON, "-u", "-c", AGENT],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # `ip netns exec` execs the command: this is the agent's own PID.
        self.pid = self.proc.pid
        self._buf = b""

    def send(self, *words):
        """Sends a command without waiting for its reply (see reply())."""
        self.proc.stdin.write((" ".join(str(w) for w in words) + "\n").encode())
        self.proc.stdin.flush()

    def reply(self, timeout=15):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"agent {self.pid}: no reply within {timeout}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"agent {self.pid} exited (rc {self.proc.poll()})")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().split()

    def cmd(self, *words, timeout=15):
        """Runs a command; returns the words after "ok" (raises on "err")."""
        self.send(*words)
        r = self.reply(timeout)
        assert r and r[0] == "ok", f"agent {self.pid}: {words} -> {r}"
        return r[1:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Pair:
    """Two namespaces joined by a veth pair. Use as a context manager."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.ns = {"client": f"cs-{tag}-c", "server": f"cs-{tag}-s"}
        self.veth = {"client": f"cs{tag}c", "server": f"cs{tag}s"}
        n = next(_subnets)
        self.addr4 = {"client": f"10.200.{n}.1", "server": f"10.200.{n}.2"}
        self.addr6 = {"client": f"fd00:200::{n:x}:1", "server": f"fd00:200::{n:x}:2"}
        self.agents = []
        self.created = []

    def addr(self, side, ip):
        return (self.addr4 if ip == 4 else self.addr6)[side]

    def _ip(self, *args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True, text=True)

    def __enter__(self):
        try:
            for side in ("client", "server"):
                self._ip("netns", "add", self.ns[side])
                self.created.append(self.ns[side])
            self._ip("link", "add", self.veth["client"], "type", "veth", "peer", "name",
                     self.veth["server"])
            for side in ("client", "server"):
                ns, dev = self.ns[side], self.veth[side]
                self._ip("link", "set", dev, "netns", ns)
                self._ip("-n", ns, "addr", "add", self.addr4[side] + "/24", "dev", dev)
                # nodad: the address is usable at once, not after duplicate detection.
                self._ip("-n", ns, "addr", "add", self.addr6[side] + "/64", "dev", dev, "nodad")
                self._ip("-n", ns, "link", "set", dev, "up")
                self._ip("-n", ns, "link", "set", "lo", "up")
            # The kernel activates a device's queue (and its operstate) from a work item
            # after "up": until then, what is sent goes to the noop qdisc and is dropped,
            # and a SYN lost so is retransmitted a second later, which the kernel's
            # counters see. Under load that window is wide.
            for side in ("client", "server"):
                ns, dev = self.ns[side], self.veth[side]
                deadline = time.monotonic() + 10
                while " state UP " not in subprocess.run(
                        ["ip", "-n", ns, "-o", "link", "show", "dev", dev],
                        capture_output=True, text=True).stdout:
                    assert time.monotonic() < deadline, f"{dev} in {ns} never came up"
                    time.sleep(0.01)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for a in self.agents:
            a.stop()
        self.agents = []
        # Deleting a namespace destroys its end of the veth, and so the pair.
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []

    def agent(self, side):
        a = Agent(self.ns[side])
        self.agents.append(a)
        return a

    def run(self, side, *argv, check=True, env=None):
        return subprocess.run(["ip", "netns", "exec", self.ns[side]] + list(argv),
                              capture_output=True, text=True, check=check, timeout=30, env=env)

    def nft(self, side, ruleset):
        subprocess.run(["ip", "netns", "exec", self.ns[side], "nft", "-f", "-"], input=ruleset,
                       capture_output=True, text=True, check=True, timeout=30)

    def nft_counter(self, side, table, chain):
        """Packets counted by the `counter` statements of one chain."""
        out = self.run(side, "nft", "list", "chain", "inet", table, chain).stdout
        return sum(int(p) for p in re.findall(r"counter packets (\d+)", out))

    def nft_delete(self, side, table):
        self.run(side, "nft", "delete", "table", "inet", table)

    def snmp(self, side, name):
        """A TCP counter of one namespace (nstat: RetransSegs is "TcpRetransSegs"), read
        without touching nstat's history files."""
        out = self.run(side, "nstat", "-asz", name).stdout
        m = re.search(rf"^{name}\s+(\d+)", out, re.M)
        return int(m.group(1)) if m else 0

    def ss_retrans(self, side, lport):
        """The socket's total retransmitted segments (the Y in ss's "retrans:X/Y")."""
        out = self.run(side, "ss", "-tin", f"sport = :{lport}").stdout
        m = re.search(r"retrans:\d+/(\d+)", out)
        return int(m.group(1)) if m else 0


# What tcpretrans says it missed, for the tests that check it against these counters.
def skipped_by_kernel(tool):
    """The retransmits the tool says the kernel hit its tracepoints for without running its
    program (perf's count of the hits against the program's runs; docs/reliability.md):
    from the warning, and, with -j, the not_counted record, which must agree."""
    m = re.search(r"(\d+) retransmits the kernel did not run", tool.err)
    said = int(m.group(1)) if m else 0
    if "-j" in tool.argv:
        counted = [r["not_counted"].get("skipped_by_kernel", 0) for r in tool.json()
                   if "not_counted" in r]
        assert sum(counted) == said, (counted, tool.err)
    return said


def accounted(seen, kernel, tools, max_segs=1, context=None):
    """seen of kernel segments: exact, or short by no more than what every tool reported
    the kernel skipped its program for (a skipped retransmit has at most max_segs).
    context: shown if not (the kernel's other counters, say)."""
    assert seen <= kernel, (seen, kernel, context)
    if seen < kernel:
        skipped = [skipped_by_kernel(t) for t in tools]
        assert all(n and kernel - seen <= n * max_segs for n in skipped), \
            (seen, kernel, skipped, [t.err for t in tools], context)
