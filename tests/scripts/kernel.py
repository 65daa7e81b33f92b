#!/usr/bin/env python3
"""The behaviour suite against the Linux kernel: `synack script --kernel`.

Runs every script under tests/scripts (but pending/ and runner/fail/) against
the real kernel, each in a network namespace of its own (the runner creates
and drops it), and fails when any script fails; the runner/fail/ scripts
must fail here too. Prints every failure with the runner's message.
Skips (exit 77) without root, /dev/net/tun or network namespaces.

Usage: kernel.py SYNACK SCRIPTS_DIR [--jobs N]

The timing tolerance is 10 ms, not packetdrill's 4 ms: the kernel answers on
real time, and on a loaded two-core machine an answer now and then comes 5 to
8 ms after the packet that caused it (scheduling, not TCP). Set
SYNACK_KERNEL_TOLERANCE_MS to change it.
"""
import os
import subprocess
import sys
import time

SKIP = 77

# Scripts that cannot pass against a kernel in a network namespace, with the
# reason. Only what the kernel cannot do there belongs here: a script that is
# wrong about Linux must be fixed, not listed.
KNOWN_KERNEL_DIVERGENT = {
}


def can_run():
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    rc = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if rc.returncode != 0:
        return "cannot create a network namespace"
    return None


def main():
    synack, top = sys.argv[1], sys.argv[2]
    jobs = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--jobs" else "2"
    why = can_run()
    if why:
        print(f"SKIP: {why}")
        return SKIP
    files, must_fail = [], []
    for d, _, names in os.walk(top):
        rel = os.path.relpath(d, top)
        if rel.startswith("pending"):
            continue
        for n in sorted(names):
            if n.endswith(".pkt"):
                (must_fail if rel.startswith("runner/fail") else files).append(
                    os.path.join(d, n))
    files.sort()
    run = [f for f in files if os.path.relpath(f, top) not in KNOWN_KERNEL_DIVERGENT]
    for rel, why in sorted(KNOWN_KERNEL_DIVERGENT.items()):
        print(f"not run against the kernel: {rel}: {why}")
    t0 = time.monotonic()
    tol = os.environ.get("SYNACK_KERNEL_TOLERANCE_MS", "10")
    out = subprocess.run([synack, "script", "--kernel", "--jobs", jobs,
                          "--tolerance-ms", tol] + run,
                         capture_output=True, text=True)
    print(out.stdout, end="")
    print(out.stderr, end="", file=sys.stderr)
    failed = [l[5:] for l in out.stdout.splitlines() if l.startswith("FAIL ")]
    bad = subprocess.run([synack, "script", "--kernel"] + must_fail,
                         capture_output=True, text=True)
    passed_bad = [l[5:] for l in bad.stdout.splitlines() if l.startswith("PASS ")]
    print(f"kernel: {len(run) - len(failed)} of {len(run)} scripts passed "
          f"(tolerance {tol} ms) in {time.monotonic() - t0:.1f} s")
    for f in failed:
        print(f"  FAILS against the kernel: {os.path.relpath(f, top)}")
    for f in passed_bad:
        print(f"  runner/fail script PASSED against the kernel: {os.path.relpath(f, top)}")
    return 1 if failed or passed_bad or out.returncode not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
