"""Fixtures of the interop suite: one network namespace per test, made by
`synack lab up` and removed by `synack lab down` (with `ip netns del` as a
fallback), also when the test fails. Every process a test starts is
tracked by its pid and stopped at teardown."""
import itertools
import os
import re
import signal
import subprocess
import threading
import time

import pytest

SYNACK = os.environ.get("SYNACK_BIN", "synack")
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
DEVICE = "synack0"
KERNEL_V4, SYNACK_V4 = "198.18.0.1", "198.18.0.2"
KERNEL_V6, SYNACK_V6 = "fd00:198:18::1", "fd00:198:18::2"

_counter = itertools.count()


class Proc:
    """A process in the namespace whose output is collected by threads, so
    that a test can wait for a line without blocking on a pipe."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, errors="replace")
        self.out, self.err = [], []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(f, buf), daemon=True)
                         for f, buf in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _pump(self, f, buf):
        for line in f:
            with self._lock:
                buf.append(line)

    def text(self):
        with self._lock:
            return "".join(self.out), "".join(self.err)

    def wait_for(self, pattern, count=1, timeout=10.0, stream="out"):
        """Waits until pattern matched count lines of stdout (or stderr)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                lines = self.out if stream == "out" else self.err
                if sum(1 for line in lines if rx.search(line)) >= count:
                    return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        out, err = self.text()
        raise AssertionError("no %r in time; stdout:\n%s\nstderr:\n%s" % (pattern, out, err))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the process and returns its exit status."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        for t in self._threads:
            t.join(5)
        return self.p.returncode


class Lab:
    def __init__(self, name):
        self.name = name
        self.procs = []

    def argv(self, args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def run(self, args, timeout=60, check=True):
        r = subprocess.run(self.argv(args), capture_output=True, text=True, timeout=timeout,
                           errors="replace")
        if check and r.returncode != 0:
            raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def spawn(self, args):
        p = Proc(self.argv(args))
        self.procs.append(p)
        return p

    def kside(self, *args, timeout=90, check=True):
        return self.run([PYTHON, os.path.join(HERE, "kside.py")] + [str(a) for a in args],
                        timeout=timeout, check=check)

    def serve(self, *extra, listen=(SYNACK_V4 + ":80",), app="echo"):
        argv = [SYNACK, "serve", "--tun", DEVICE, "--app", app]
        for addr in listen:
            argv += ["--listen", addr]
        p = self.spawn(argv + list(extra))
        p.wait_for("listening on", count=len(listen))
        return p

    def nft(self, script):
        """Loads an nftables ruleset into the namespace (never the host's)."""
        r = subprocess.run(self.argv(["nft", "-f", "-"]), input=script, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, "nft: " + r.stderr

    def teardown(self):
        for p in self.procs:
            p.stop(signal.SIGKILL if p.p.poll() is None else signal.SIGTERM, timeout=5)
        subprocess.run([SYNACK, "lab", "down", "--name", self.name], capture_output=True,
                       timeout=30)
        if os.path.exists("/run/netns/" + self.name):
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)


@pytest.fixture
def lab(request):
    name = "synack-it-%d-%d" % (os.getpid(), next(_counter))
    r = subprocess.run([SYNACK, "lab", "up", "--name", name], capture_output=True, text=True,
                       timeout=30)
    lab = Lab(name)
    try:
        assert r.returncode == 0, "lab up: " + r.stderr
        yield lab
    finally:
        lab.teardown()
    assert not os.path.exists("/run/netns/" + name), "namespace %s left behind" % name


def counters(stderr_text):
    """The counters serve prints when it exits: {"tun.rx_packets": 16, ...}."""
    out = {}
    for m in re.finditer(r"^\s+((?:tun|tcp)\.\w+)\s+(\d+)\s", stderr_text, re.M):
        out[m.group(1)] = int(m.group(2))
    return out
