#!/usr/bin/env python3
"""Writes docs/performance.md's tables from a bench summary (docs/bench-summary.json, which
`make bench` writes), so every figure in the document comes from one run of the code it
names. Each table sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; the prose
around them is left alone.

    python3 tests/bench/perfdoc.py [SUMMARY [DOC]]
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_LABEL = {"none": "none", "none2": "none2 (A/A)", "floor": "floor (empty program)",
                "ring": "floor + one ring record", "libbpf-tools": "libbpf-tools 0.26 (Debian)",
                "base": "*before* (the base commit's build)"}
ORDER = ["none", "none2", "floor", "ring", "base", "tool", "libbpf-tools", "bpftrace"]


def n(v, spec="{:,.0f}", none="–"):
    return none if v is None else spec.format(v)


def run_section(s):
    m, g, ld = s["machine"], s.get("git") or {}, s.get("load") or {}
    per_round = ld.get("loadavg_1min_per_round") or []
    lines = [
        "Run of %s%s, %s mode, %d rounds, %.0f s; commit `%s`%s%s." % (
            s["date"], "", "quick" if s["quick"] else
            "focused (%s)" % ", ".join(s["focused"]) if s.get("focused") else "full",
            s["rounds"], s.get("duration_s") or 0, (g.get("commit") or "?")[:12],
            " (with uncommitted changes)" if g.get("dirty") else "",
            "; *before*: the build of commit `%s`, interleaved" % s["base"][:12]
            if s.get("base") else ""),
        "Machine: %s, %d CPUs, kernel %s, %s, %s." % (
            m["cpu"], m["cpus"], m["kernel"], m["os"], m.get("bpftrace") or "no bpftrace"),
        "Load: 1-minute load average %s at the start, %s at the end (per round: %s); "
        "%s of %s runs saw another tracer (other agents' tests) running." % (
            n((ld.get("loadavg_start") or [None])[0], "{:.1f}"),
            n((ld.get("loadavg_end") or [None])[0], "{:.1f}"),
            ", ".join("%.1f" % x for x in per_round) or "–",
            n(ld.get("runs_with_other_tracers")), n(ld.get("runs"))),
    ]
    return "\n".join(lines)


def cost_section(s):
    out = ["| scenario | configuration | loop ms | added ns/event | paired median [IQR] "
           "| added (CPU time) | in BPF programs | tracer CPU | delivered / generated "
           "| lost |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, sc in s["scenarios"].items():
        first = True
        for cfg in ORDER:
            c = sc["configs"].get(cfg)
            if not c:
                continue
            label = ("**%s**" % sc["tool"] if cfg == "tool" else
                     "bpftrace %s" % os.path.basename(sc.get("bpftrace_program") or "")
                     if cfg == "bpftrace" else CONFIG_LABEL.get(cfg, cfg))
            iqr = c.get("added_ns_paired_iqr") or [None, None]
            dg = ("%s / %s" % (n(c.get("delivered")), n(c.get("generated")))
                  if "generated" in c else "")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "%s (noise ±%s)" % (name, n(sc.get("noise_ns"))) if first else "", label,
                n(c.get("median_ms"), "{:.1f}"),
                n(c.get("added_ns")) if cfg != "none" else "0",
                "%s [%s, %s]" % (n(c.get("added_ns_paired_median")), n(iqr[0]), n(iqr[1]))
                if cfg != "none" else "",
                n(c.get("added_cpu_ns")) if cfg != "none" else "0",
                n(c.get("kernel_ns_per_event"), none=""),
                n(c.get("tracer_cpu_ns_per_event"), none=""),
                dg, n(c.get("lost_reported"), none="")))
            first = False
    return "\n".join(out)


def start_section(s):
    st = s.get("startup") or {}
    out = ["| tool | start to attached, median (min–max) | stop, idle | stop under load, worst "
           "| peak RSS (VmHWM) | kernel map memory |",
           "|---|---:|---:|---:|---:|---:|"]
    worst = {}
    peak = {}
    for sc in s["scenarios"].values():
        for cfg, name in (("tool", sc["tool"]), ("base", "base " + sc["tool"])):
            c = sc["configs"].get(cfg, {})
            if c.get("stop_ms_max") is not None:
                worst[name] = c["stop_ms_max"]
            if c.get("peak_vmhwm_kb"):
                peak[name] = c["peak_vmhwm_kb"]
    for name, r in st.items():
        if "ready_ms_median" not in r:
            out.append("| %s | %s | | | | |" % (name, r.get("error", "–")))
            continue
        label = name if not name.startswith(("floor", "bpftrace", "libbpf-tools", "base ")) \
            else "*before* %s" % name[5:] if name.startswith("base ") else "*%s*" % name
        hwm = max(r.get("idle_vmhwm_kb") or 0, peak.get(name, 0))
        maps = r.get("idle_map_bytes") or 0
        stack = r.get("stack_map_bytes") or 0
        out.append("| %s | %s ms (%s–%s) | %s ms | %s | %s | %s |" % (
            label, n(r["ready_ms_median"], "{:.1f}"), n(r["ready_ms_min"], "{:.1f}"),
            n(r["ready_ms_max"], "{:.1f}"), n(r.get("stop_ms_median")),
            "%s ms" % n(worst[name]) if name in worst else "–",
            "%.2f MiB (%s kB)" % (hwm / 1024, n(hwm)),
            "%.2f MiB%s" % (maps / 2**20, ", of which stack maps %.2f MiB" % (stack / 2**20)
                            if stack else "")))
    return "\n".join(out)


def profile_section(s):
    p = s.get("profile") or {}
    if not p:
        return "profile was not measured in this run."
    out = ["| | CPU of the profile process | spin loop slowdown | RSS | kernel map memory |",
           "|---|---:|---:|---:|---:|"]
    for k, v in p.items():
        out.append("| `-F %s` | %.2f %% of one CPU | %+.2f %% | %.1f MiB | %.2f MiB |" % (
            k[1:], v["cpu_pct"], v["slowdown_pct"], v["vmhwm_kb"] / 1024,
            (v["map_bytes_outside_stacks"] + v["stack_map_bytes"]) / 2**20))
    return "\n".join(out)


def targets_section(s):
    out = ["| tool | target | measured | limit | verdict |", "|---|---|---|---|---|"]
    for t in s["targets"]:
        verdict = {True: "**met**", False: "**missed**", None: "not resolved"}[t["met"]]
        note = t.get("note") or ""
        if note:
            verdict += " (%s)" % note.replace("|", "/")
        out.append("| %s | %s | %s | %s | %s |" % (
            t["tool"], t["target"], (t.get("value") or "–").replace("|", "/"),
            t.get("limit") or "–", verdict))
    return "\n".join(out)


SECTIONS = {"run": run_section, "cost": cost_section, "start": start_section,
            "profile": profile_section, "targets": targets_section}
# A focused run (BENCH_ONLY, docs/bench-focused.json): its own sections, before and after.
FOCUSED = {"focused-run": run_section, "focused-cost": cost_section,
           "focused-start": start_section}


def main():
    summary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs",
                                                                 "bench-summary.json")
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "performance.md")
    with open(summary) as f:
        s = json.load(f)
    with open(doc) as f:
        text = f.read()
    for name, fn in (FOCUSED if s.get("focused") else SECTIONS).items():
        pat = re.compile(r"(<!-- bench:%s -->\n).*?(<!-- /bench:%s -->)" % (name, name),
                         re.S)
        if not pat.search(text):
            print("perfdoc: %s has no bench:%s section" % (doc, name), file=sys.stderr)
            return 1
        body = fn(s)
        text = pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
