#!/usr/bin/env python3
"""The test runner behind `make test`: unit binaries (build/tests/test_*), then the
integration tests (tests/integration/test_*.py) that run the real tools against this kernel.

Usage: python3 tests/run.py [SUBSTRING...]   (only tests whose name contains one of them)
Ends with the line "N passed, N failed, N skipped". With CI=true a test that would skip (a unit
case that cannot run here, an integration test without root or BPF) fails instead: CI must
never pass by skipping."""
import glob
import importlib.util
import os
import signal
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("TEST_TIMEOUT", "180"))
BUILD = os.path.join(ROOT, os.environ.get("CORESCOPE_BUILD", "build"))
# Seconds each fuzz target runs within `make test` (make fuzz passes a longer time).
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "5"))


# A slower machine than the tests were sized for (a qemu TCG guest, tests/vm): every
# subprocess timeout is a safety net, and grows by this factor rather than failing there.
TIMEOUT_SCALE = float(os.environ.get("CORESCOPE_TIMEOUT_SCALE", "1"))
if TIMEOUT_SCALE != 1:
    _wait, _communicate = subprocess.Popen.wait, subprocess.Popen.communicate

    def _scaled_wait(self, timeout=None):
        return _wait(self, timeout=timeout * TIMEOUT_SCALE if timeout else timeout)

    def _scaled_communicate(self, input=None, timeout=None):
        return _communicate(self, input, timeout * TIMEOUT_SCALE if timeout else timeout)

    subprocess.Popen.wait = _scaled_wait
    subprocess.Popen.communicate = _scaled_communicate


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test took longer than its time limit (TEST_TIMEOUT)")


def wanted(name, filters):
    return not filters or any(f in name for f in filters)


def run_unit(filters, counts):
    ci = os.environ.get("CI") == "true"
    for binary in sorted(glob.glob(os.path.join(BUILD, "tests", "test_*"))):
        if binary.endswith(".d") or not os.access(binary, os.X_OK):
            continue
        name = "unit/" + os.path.basename(binary)
        if not wanted(name, filters):
            continue
        start = time.monotonic()
        try:
            proc = subprocess.run([binary], capture_output=True, text=True, timeout=TEST_TIMEOUT,
                                  cwd=ROOT)
        except subprocess.TimeoutExpired:
            print(f"FAIL {name}: timed out")
            counts["failed"] += 1
            continue
        summary = [l for l in proc.stdout.splitlines() if l.startswith("unit: ")]
        skipped_cases, why = [], ""
        for line in proc.stdout.splitlines():
            if line.startswith("FAIL"):
                print(f"FAIL {name}: {line[5:]}")
            elif line.strip().startswith("(skipped: "):
                why = line.strip()[10:-1]
            elif line.startswith("skip "):
                skipped_cases.append((line[5:], why))
                why = ""
        if not summary:
            print(f"FAIL {name}: no summary line (exit {proc.returncode})")
            sys.stdout.write(proc.stdout + proc.stderr)
            counts["failed"] += 1
            continue
        words = summary[-1].replace(",", "").split()
        passed, failed = int(words[1]), int(words[3])
        skipped = int(words[5]) if len(words) > 5 else 0
        if skipped != len(skipped_cases):
            print(f"FAIL {name}: summary says {skipped} skipped, "
                  f"{len(skipped_cases)} skip lines")
            failed += 1
        if proc.returncode != 0 and failed == 0:
            failed = 1
        for case, why in skipped_cases:
            print(f"{'FAIL' if ci else 'skip'} {name}/{case}: "
                  f"{'would skip in CI: ' if ci else ''}{why}")
        if ci:
            failed += skipped
        else:
            counts["skipped"] += skipped
        counts["passed"] += passed
        counts["failed"] += failed
        if failed:
            sys.stdout.write(proc.stderr)
        print(f"{'ok  ' if not failed else 'FAIL'} {name}: {passed} passed, {failed} failed, "
              f"{skipped} skipped ({time.monotonic() - start:.1f}s)")


def run_fuzz(filters, counts, seconds):
    """Each libFuzzer target: its seed and regression corpus, then `seconds` of new inputs."""
    for binary in sorted(glob.glob(os.path.join(BUILD, "fuzz", "fuzz_*"))):
        if not os.access(binary, os.X_OK) or os.path.isdir(binary):
            continue
        target = os.path.basename(binary)[5:]
        name = "fuzz/" + target
        if not wanted(name, filters):
            continue
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", target)
        work = os.path.join(BUILD, "fuzz", "corpus-" + target)
        os.makedirs(work, exist_ok=True)
        cmd = [binary, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=1024",
               f"-artifact_prefix={os.path.join(BUILD, 'fuzz', target)}-", work]
        if os.path.isdir(seeds):
            cmd.append(seeds)
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                              timeout=seconds + 120)
        if proc.returncode == 0:
            counts["passed"] += 1
            print(f"ok   {name} ({time.monotonic() - start:.1f}s)")
        else:
            counts["failed"] += 1
            print(f"FAIL {name}: exit {proc.returncode}")
            print("\n".join(proc.stderr.splitlines()[-40:]))


def run_integration(filters, counts, kernel_only=False):
    ci = os.environ.get("CI") == "true"
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "integration", "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if BUILD.endswith("-san") and not getattr(mod, "RUN_UNDER_SANITIZE", True):
            continue
        if kernel_only and not getattr(mod, "NEEDS_BPF", True):
            continue
        tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for fname, fn in tests:
            name = f"{modname[5:]}/{fname[5:]}"
            if not wanted(name, filters):
                continue
            start = time.monotonic()
            signal.signal(signal.SIGALRM, on_alarm)
            # A module may need longer per test (builds, debootstrap): its TEST_TIMEOUT.
            signal.alarm(max(TEST_TIMEOUT, getattr(mod, "TEST_TIMEOUT", 0)))
            try:
                if getattr(mod, "NEEDS_BPF", True):
                    harness.require_bpf()
                harness.attach_log_begin()
                fn()
                signal.alarm(0)
                harness.attach_log_commit(name)
                counts["passed"] += 1
                print(f"ok   {name} ({time.monotonic() - start:.1f}s)")
            except harness.Skip as e:
                signal.alarm(0)
                if ci:
                    counts["failed"] += 1
                    print(f"FAIL {name}: would skip in CI: {e}")
                else:
                    counts["skipped"] += 1
                    print(f"skip {name}: {e}")
            except BaseException as e:  # noqa: BLE001 - a test's failure of any kind
                signal.alarm(0)
                if isinstance(e, KeyboardInterrupt):
                    raise
                counts["failed"] += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}")
                traceback.print_exc(file=sys.stdout)
            finally:
                harness.cleanup_all()
            sys.stdout.flush()


def main():
    args = sys.argv[1:]
    seconds = FUZZ_SECONDS
    kernel_only = False
    while args and args[0].startswith("--"):
        if args[0] == "--fuzz-seconds" and len(args) >= 2:
            seconds = int(args[1])
            args = args[2:]
        elif args[0] == "--kernel-only":
            # In a guest kernel (tests/vm): only what depends on the kernel, not the unit,
            # fuzz, docs and package tests, whose answer is the same on every kernel.
            kernel_only = True
            args = args[1:]
        else:
            print(f"run.py: unknown option {args[0]}", file=sys.stderr)
            return 2
    filters = args
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not kernel_only:
        run_unit(filters, counts)
        run_fuzz(filters, counts, seconds)
    run_integration(filters, counts, kernel_only)
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
