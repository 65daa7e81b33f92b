"""Fixtures for the `synack probe` tests: a fresh network namespace per test,
removed afterwards even when the test fails. Every address is in
198.18.0.0/15 (RFC 2544) or fd00::/8, and nothing is routed out of the
namespace, so no packet leaves it."""
import itertools
import os
import shutil
import signal
import subprocess
import time

import pytest

NETNS_ETC = "/etc/netns"  # `ip netns exec` bind-mounts files from here over /etc
SERVER_READY_S = 10
HERE = os.path.dirname(os.path.abspath(__file__))
_counter = itertools.count()


def pytest_sessionfinish(session, exitstatus):
    # meson reads 77 as "skipped": namespaces need root.
    if os.geteuid() != 0:
        session.exitstatus = 77


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="network namespaces need root")
        for item in items:
            item.add_marker(skip)


class Namespace:
    def __init__(self, name, tmp):
        self.name = name
        self.tmp = tmp
        self.procs = []
        self.etc = os.path.join(NETNS_ETC, name)

    def ip(self, *args):
        subprocess.run(["ip", "-n", self.name, *args], check=True)

    def nft(self, rules):
        subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"],
                       input=rules.encode(), check=True)

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def spawn(self, argv, **kw):
        p = subprocess.Popen(self.cmd(argv), **kw)
        self.procs.append(p)
        return p

    def server(self, kind, addr, port):
        """Starts one of servers.py's servers and waits until it listens."""
        p = self.spawn(["/usr/bin/python3", os.path.join(HERE, "servers.py"), kind, addr,
                        str(port)], stdout=subprocess.PIPE)
        line = p.stdout.readline()
        assert line.strip() == b"ready", f"server {kind} did not start"
        return p

    def resolv_conf(self, text):
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write(text)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(self.etc, ignore_errors=True)


@pytest.fixture
def ns(tmp_path):
    name = f"synack-probe-{os.getpid()}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    n = Namespace(name, tmp_path)
    try:
        n.ip("link", "set", "lo", "up")
        n.ip("addr", "add", "198.18.5.1/32", "dev", "lo")
        n.ip("-6", "addr", "add", "fd00::5/128", "dev", "lo", "nodad")
        yield n
    finally:
        n.close()
