"""tcpretrans against real TCP: after the handshake, the client's namespace drops the server's
packets (its ACKs) for a moment while the client sends, so the client retransmits; the
kernel's own counters for that namespace (nstat, ss -ti) say how many segments."""
import os
import time

import harness
from harness import Tool
from netns import Pair, accounted

PORT = 5555
DROP_SECONDS = 1.0


def drop_server_packets(pair, ips):
    """In the client's namespace, drop what the server sends on PORT (IPv4 and/or IPv6)."""
    rules = "".join(f"  {'ip' if ip == 4 else 'ip6'} saddr {pair.addr('server', ip)} "
                    f"tcp sport {PORT} counter drop\n" for ip in ips)
    pair.nft("client", "table inet rttest {\n chain in {\n"
                       f"  type filter hook input priority 0;\n{rules} }}\n}}\n")


def retransmit_while_dropped(pair, client, conns, ips):
    """Each connection sends small segments while the server's packets are dropped; the
    drop ends before the connections recover, and every byte gets through in the end."""
    drop_server_packets(pair, ips)
    for fd in conns:
        client.send("send", fd, 5, 1000, 40)
    for _ in conns:
        client.reply()
    time.sleep(DROP_SECONDS)
    assert pair.nft_counter("client", "rttest", "in") > 0, "nothing was dropped"
    pair.nft_delete("client", "rttest")
    # The next RTO retransmit is acknowledged; wait until nothing is outstanding.
    assert harness.wait_for(lambda: "unacked" not in pair.run("client", "ss", "-tin").stdout,
                            timeout=8), pair.run("client", "ss", "-tin").stdout


def setup(pair, ips):
    server = pair.agent("server")
    for ip in ips:
        server.cmd("listen", pair.addr("server", ip), PORT)
    client = pair.agent("client")
    conns = {}
    for ip in ips:
        fd, lport = client.cmd("connect", pair.addr("server", ip), PORT)
        conns[ip] = (fd, int(lport))
    return client, conns


def ours(events, pair):
    """Events of any flow between the two namespaces (either direction)."""
    addrs = set(pair.addr4.values()) | set(pair.addr6.values())
    return [e for e in events if e.get("laddr") in addrs or e.get("raddr") in addrs]


# The client namespace's counters a shortfall is shown with (both connections': 4 and 6).
NS_COUNTERS = ("TcpRetransSegs", "TcpExtTCPLossProbes", "TcpExtTCPTimeouts",
               "TcpExtTCPRetransFail", "TcpExtTCPSynRetrans")

KINDS = ("raw_tp", "tp_btf", "tracepoint")
POINT = dict(tp="tcp:tcp_retransmit_skb")
# Tail loss probes have no tracepoint: -l follows the function that sends them.
TLP_KINDS = ("fentry", "kprobe")
TLP_POINT = dict(funcs=("tcp_send_loss_probe",))


@harness.each_attach_kind("tcpretrans", KINDS, refuse_args=("-d", "1"), **POINT)
def test_retransmits_of_exactly_that_flow_and_counts(kind):
    before = harness.bpf_prog_ids()
    with Pair() as pair:
        client, conns = setup(pair, [4])
        fd, lport = conns[4]
        # A handshake slowed by load may have retransmitted its SYN before the tools start.
        flow_before = pair.ss_retrans("client", lport)
        ns_before = pair.snmp("client", "TcpRetransSegs")
        with Tool("tcpretrans", "-j", "-v", "--attach", kind) as events, \
             Tool("tcpretrans", "-c", "-j", "--attach", kind) as counts:
            retransmit_while_dropped(pair, client, [fd], [4])
            kernel_flow = pair.ss_retrans("client", lport) - flow_before
            kernel_ns = pair.snmp("client", "TcpRetransSegs") - ns_before
        assert f"retransmits: {kind} tcp:tcp_retransmit_skb" in events.err, events.err
        assert events.rc == 0 and counts.rc == 0
        ev = ours(events.json(), pair)
        assert ev, events.out
        flow = {("laddr", pair.addr("client", 4)), ("lport", lport),
                ("raddr", pair.addr("server", 4)), ("rport", PORT), ("ip", 4)}
        for e in ev:
            assert flow <= set(e.items()), e
            assert e["state"] == "ESTABLISHED" and e["type"] == "retransmit", e
            assert e["segs"] >= 1 and isinstance(e["pid"], int), e
        # Dated when they happened: within the last few seconds, one line per retransmit.
        now = time.time_ns()
        assert all(now - 15e9 < e["ts_ns"] <= now for e in ev), ev
        assert kernel_flow >= 1 and kernel_ns >= kernel_flow, (kernel_flow, kernel_ns)
        rows = ours(counts.json(), pair)
        assert len(rows) == 1, counts.out
        row = rows[0]
        assert flow <= set(row.items()), row
        assert row["retransmits"] == len(ev) and row["segs"] == sum(e["segs"] for e in ev), \
            (row, ev)
        assert "loss_probes" not in row, "only with -l"
        # The namespace has this one connection: its counter, the socket's and ours agree
        # exactly (failed sends included: the kernel counts them, and so do we), but for
        # retransmits the kernel ran no program for (6.18 now and then skips every BPF
        # program on the tracepoint), which both tools must then report.
        assert kernel_flow == kernel_ns, (kernel_flow, kernel_ns)
        accounted(row["segs"], kernel_flow, (events, counts), max(e["segs"] for e in ev))
    assert harness.wait_for(lambda: not harness.leftover_progs(before, "tcpretrans")), \
        harness.leftover_progs(before, "tcpretrans")


def test_ipv6_text_family_filters_and_classic_tracepoint():
    with Pair() as pair:
        client, conns = setup(pair, [4, 6])
        # A handshake slowed by load may have retransmitted its SYN before the tools start.
        before6 = pair.ss_retrans("client", conns[6][1])
        ns_before = {c: pair.snmp("client", c) for c in NS_COUNTERS}
        # The text tool also takes the perf buffer fallback (kernels before 5.8).
        with Tool("tcpretrans", "-6", "-v",
                  env=dict(os.environ, CORESCOPE_EVENTS="perf")) as v6_text, \
             Tool("tcpretrans", "-4", "-j", "-v", "--attach", "tracepoint") as v4_json, \
             Tool("tcpretrans", "-c", "-6", "-v") as v6_counts:
            retransmit_while_dropped(pair, client, [conns[4][0], conns[6][0]], [4, 6])
            kernel6 = pair.ss_retrans("client", conns[6][1]) - before6
            ns = {c: pair.snmp("client", c) - ns_before[c] for c in NS_COUNTERS}
        assert "retransmits: tracepoint tcp:tcp_retransmit_skb" in v4_json.err, v4_json.err
        v4 = ours(v4_json.json(), pair)
        assert v4 and all(e["ip"] == 4 and e["lport"] == conns[4][1] for e in v4), v4
        assert all(e["ip"] == 4 for e in v4_json.json() if "not_counted" not in e)

        lines = v6_text.lines()
        assert lines[0].split() == ["TIME", "PID", "OWNER", "IP", "LADDR:LPORT", "T>",
                                    "RADDR:RPORT", "STATE"], lines[0]
        local = f"[{pair.addr('client', 6)}]:{conns[6][1]}"
        remote = f"[{pair.addr('server', 6)}]:{PORT}"
        rows = [l.split() for l in lines[1:]]
        assert all(r[3] == "6" for r in rows), lines
        # The connection is older than the tool: its owner is not known.
        mine = [r for r in rows if r[4] == local]
        assert mine and all(r[2] == "-" and r[5:] == ["R>", remote, "ESTABLISHED"]
                            for r in mine), lines
        assert all(len(r[0]) == 8 and r[0].count(":") == 2 for r in mine), mine

        counted = v6_counts.lines()
        assert counted[0].split() == ["IP", "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS",
                                      "SEGS"], counted
        row = [l.split() for l in counted[1:] if l.split()[1] == local]
        assert len(row) == 1 and row[0][2] == remote, counted
        # ss counts a retransmit before it is sent; a send that then failed (a full qdisc
        # under load) is still one, reported by the tool too (F> in text, err in JSON).
        assert all(l.split()[0] == "6" for l in counted[1:]), counted
        assert int(row[0][3]) == len(mine) and kernel6 >= 1, (row, mine, kernel6)
        accounted(int(row[0][4]), kernel6, (v6_text, v6_counts), 64,
                  context=(ns, [l for l in v6_text.lines() if l.split()[:1] != ["TIME"]]))


def test_synack_retransmits_against_nstat():
    """The client's namespace drops the server's SYN-ACKs for a while: the client sends its
    SYN again (SYN_SENT) and the server its SYN-ACK (NEW_SYN_RECV, "synack": true). Each
    namespace's TcpRetransSegs equals what the tool reports for it, on every attach kind
    (as in the exact test above, but for what the tools report the kernel skipped)."""
    for kind in KINDS:
        synack_retransmits(kind)


def synack_retransmits(kind):
    with Pair() as pair:
        server = pair.agent("server")
        server.cmd("listen", pair.addr("server", 4), PORT)
        client = pair.agent("client")
        pair.nft("client", "table inet rttest {\n chain in {\n"
                           "  type filter hook input priority 0;\n"
                           f"  ip saddr {pair.addr('server', 4)} tcp sport {PORT} "
                           "tcp flags & (syn | ack) == syn | ack counter drop\n }\n}\n")
        with Tool("tcpretrans", "-j", "-v", "--attach", kind) as t, \
             Tool("tcpretrans", "-c", "-j", "--attach", kind) as counts:
            client.send("connect", pair.addr("server", 4), PORT, 30)
            assert harness.wait_for(
                lambda: pair.nft_counter("client", "rttest", "in") >= 2, timeout=20)
            pair.nft_delete("client", "rttest")
            r = client.reply(timeout=30)
            assert r[0] == "ok", r
            server_ns = pair.snmp("server", "TcpRetransSegs")
            client_ns = pair.snmp("client", "TcpRetransSegs")
        assert f"SYN-ACK retransmits: {kind} tcp:tcp_retransmit_synack" in t.err, t.err
        ev = ours(t.json(), pair)
        synacks = [e for e in ev if e["laddr"] == pair.addr("server", 4)]
        syns = [e for e in ev if e["laddr"] == pair.addr("client", 4)]
        assert synacks and all(e["synack"] and e["state"] == "NEW_SYN_RECV" and
                               e["lport"] == PORT and e["segs"] == 1 for e in synacks), ev
        assert all(not e["synack"] and e["state"] == "SYN_SENT" for e in syns), ev
        rows = ours(counts.json(), pair)
        counted = tuple(sum(r["retransmits"] for r in rows if r["laddr"] == pair.addr(side, 4))
                        for side in ("server", "client"))
        seen = (len(synacks), len(syns))
        assert counted == seen, (rows, ev)
        # A SYN or a SYN-ACK is one segment.
        accounted(sum(seen), server_ns + client_ns, (t, counts))


def lose_the_tail_once(pair, client, fd):
    """The client sends one segment and the server's firewall drops it, once: with nothing
    acknowledged and nothing more to send, the client's loss probe timer fires first (before
    the RTO) and the probe, the tail resent, gets through: one tail loss probe."""
    pair.nft("server", "table inet tlptest {\n chain in {\n"
                       "  type filter hook input priority 0;\n"
                       f"  tcp dport {PORT} meta length > 200 limit rate 1/hour burst 1 packets "
                       "counter drop\n }\n}\n")
    client.cmd("send", fd, 1, 500, 0)
    assert harness.wait_for(lambda: pair.nft_counter("server", "tlptest", "in") == 1 and
                            "unacked" not in pair.run("client", "ss", "-tin").stdout,
                            timeout=8), pair.run("client", "ss", "-tin").stdout
    pair.nft_delete("server", "tlptest")


LOSS_COUNTERS = ("TcpExtTCPLossProbes", "TcpRetransSegs")


@harness.each_attach_kind("tcpretrans", TLP_KINDS, refuse_args=("-l", "-d", "1"), **TLP_POINT)
def test_tail_loss_probe_exactly(kind):
    """-l: the one tail loss probe the kernel sent (nstat's TCPLossProbes) is one L> event and
    one loss_probes count of exactly that flow, whichever way it is traced; the probe's own
    retransmit is a retransmit as the kernel counts it (RetransSegs)."""
    with Pair() as pair:
        client, conns = setup(pair, [4])
        fd, lport = conns[4]
        before = {n: pair.snmp("client", n) for n in LOSS_COUNTERS}
        with Tool("tcpretrans", "-l", "-j", "-v", "--attach", kind) as events, \
             Tool("tcpretrans", "-l", "-c", "-j", "--attach", kind) as counts:
            lose_the_tail_once(pair, client, fd)
        kernel = {n: pair.snmp("client", n) - before[n] for n in LOSS_COUNTERS}
        assert kernel["TcpExtTCPLossProbes"] == 1, kernel
        assert f"tail loss probes: {kind} tcp_send_loss_probe" in events.err, events.err
        flow = {("laddr", pair.addr("client", 4)), ("lport", lport),
                ("raddr", pair.addr("server", 4)), ("rport", PORT), ("ip", 4)}
        ev = ours(events.json(), pair)
        for e in ev:
            assert flow <= set(e.items()) and e["state"] == "ESTABLISHED", e
        types = [e["type"] for e in ev]
        assert types.count("loss_probe") == kernel["TcpExtTCPLossProbes"], (types, kernel)
        assert sum(e["segs"] for e in ev if e["type"] == "retransmit") == \
            kernel["TcpRetransSegs"], (ev, kernel)
        rows = ours(counts.json(), pair)
        assert len(rows) == 1 and flow <= set(rows[0].items()), counts.out
        assert (rows[0]["loss_probes"], rows[0]["segs"]) == \
            (kernel["TcpExtTCPLossProbes"], kernel["TcpRetransSegs"]), (rows, kernel)


def test_tail_loss_probe_workload_and_refusal():
    """The workload above makes exactly one loss probe on any kernel (nstat), and is seen as
    the one retransmit it is without -l. Where neither fentry nor kprobes work, -l alone is
    refused in one line naming both."""
    with Pair() as pair:
        client, conns = setup(pair, [4])
        before = {n: pair.snmp("client", n) for n in LOSS_COUNTERS}
        with Tool("tcpretrans", "-j") as events:
            lose_the_tail_once(pair, client, conns[4][0])
        kernel = {n: pair.snmp("client", n) - before[n] for n in LOSS_COUNTERS}
        assert kernel == {"TcpExtTCPLossProbes": 1, "TcpRetransSegs": 1}, kernel
        ev = ours(events.json(), pair)
        assert [(e["type"], e["lport"], e["segs"]) for e in ev] == \
            [("retransmit", conns[4][1], 1)], ev
    offered = {k: harness.kernel_offers(k, **TLP_POINT) for k in TLP_KINDS}
    if any(ok for ok, _ in offered.values()):
        return
    p = harness.run("tcpretrans", "-l", "-d", "1")
    want = ("tcpretrans: -l: tail loss probes cannot be traced on this kernel: there is no "
            f"tracepoint for them, {offered['fentry'][1]}, and {offered['kprobe'][1]}\n")
    assert (p.returncode, p.stderr, p.stdout) == (1, want, ""), (p.returncode, p.stderr)


def test_duration_ends_count_mode():
    t = Tool("tcpretrans", "-c", "-d", "0.3").start()
    t.wait(timeout=10)
    assert t.rc == 0, t.err
    assert t.lines()[0].split()[:3] == ["IP", "LADDR:LPORT", "RADDR:RPORT"], t.out


def test_bad_options():
    harness.assert_usage_error("tcpretrans", "-4", "-6", contains="-4 and -6")
    harness.assert_usage_error("tcpretrans", "--attach", "uprobe", contains="attach")
    line = harness.assert_usage_error("tcpretrans", "--attach", "kprobe")
    assert line == ("tcpretrans: --attach kprobe is for tail loss probes: it needs -l "
                    "(see --help)"), line
    harness.assert_usage_error("tcpretrans", "-p", "abc", contains="PID")
    harness.assert_usage_error("tcpretrans", "extra", contains="unexpected argument")
    line = harness.assert_usage_error("tcpretrans", "-d", "abc")
    assert line.startswith("tcpretrans: "), line
