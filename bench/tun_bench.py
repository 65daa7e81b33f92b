#!/usr/bin/python3
"""tun_bench.py: connections per second and bulk throughput from the Linux
kernel to `synack serve` over a TUN device, next to the kernel talking to
itself over a veth pair, in one run, as ratios.

    sudo bench/tun_bench.py [--synack build/tools/synack] [--seconds 3]
                            [--bytes 268435456] [--workers 4]

Two namespaces, made here and removed on exit (also on failure or ^C):
  synack-bench-PID       `synack lab up`: the TUN device, the kernel clients,
                         and one end of a veth pair (198.18.1.1)
  synack-bench-PID-peer  the other end (198.18.1.2) and a kernel server
The same client code measures both targets:
  connections/s  tun_bench.c (built here with cc) keeps 64 non-blocking
                 connects in flight for SECONDS, closing each once its
                 handshake is done, from 4 extra source addresses; without
                 cc, WORKERS Python processes loop connect(); close()
  bulk           one connection sends BYTES with sendall, half-closes and
                 waits for the server's FIN (every byte was read)
Servers: `synack serve --app discard` (closes on EOF) on 198.18.0.2:80 and
:81, one thread; on the veth peer, tun_bench.c --server on port 80 (one
thread accepting and closing in an epoll loop; without cc, WORKERS Python
processes with SO_REUSEPORT) and a Python server draining each connection
in a thread on port 81 for the bulk transfer.

Traffic stays in 198.18.0.0/15, inside the two namespaces.
"""
import argparse
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TUN_SERVER, VETH_CLIENT, VETH_SERVER = "198.18.0.2", "198.18.1.1", "198.18.1.2"
# Extra client addresses (the kernel's side of each path): more 4-tuples,
# since the clients close first and leave their ports in TIME-WAIT.
TUN_SOURCES = ["198.18.0.%d" % i for i in range(10, 14)]
VETH_SOURCES = ["198.18.1.%d" % i for i in range(10, 14)]
CONCURRENCY = 64
PORT = 80
CHUNK = 1 << 20
PORT_RANGE = "1024 65000"

SERVER_CODE = r"""
import os, signal, socket, sys, threading
mode, host, port, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def listener():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    ls.bind((host, port))
    ls.listen(4096)
    return ls
def drain(c):
    buf = bytearray(1 << 20)
    try:
        while c.recv_into(buf):
            pass
    finally:
        c.close()
kids = []
def stop(sig, frame):
    for pid in kids:
        os.kill(pid, signal.SIGTERM)
    os._exit(0)
if mode == "accept":
    # Without the C server: processes that accept and close (SO_REUSEPORT).
    for ls in [listener() for _ in range(procs)]:
        pid = os.fork()
        if pid == 0:
            while True:
                ls.accept()[0].close()
        kids.append(pid)
signal.signal(signal.SIGTERM, stop)
print("LISTENING", flush=True)
if mode == "bulk":
    bulk = listener()
    while True:
        c, _ = bulk.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()
else:
    signal.pause()
"""


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def in_ns(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


def connect_loop(host, seconds, out):
    """One worker: connect and close for `seconds`; puts the count."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = socket.socket()
        s.settimeout(5)
        s.connect((host, PORT))
        s.close()
        n += 1
    out.put(n)


def cps(host, seconds, workers, cclient=None, sources=()):
    """Connections per second: the C client when it was built, else
    `workers` Python processes."""
    if cclient:
        r = subprocess.run([cclient, host, str(PORT), str(seconds), str(CONCURRENCY)]
                           + list(sources), capture_output=True, text=True, check=True,
                           timeout=seconds * 3 + 30)
        _, rate, failed = r.stdout.split()
        if int(failed):
            print("warning: %s connects failed to %s" % (failed, host))
        return float(rate)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=connect_loop, args=(host, seconds, q))
             for _ in range(workers)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    total = sum(q.get(timeout=seconds + 30) for _ in procs)
    for p in procs:
        p.join(30)
    return total / (time.monotonic() - t0)


def bulk(host, nbytes):
    data = memoryview(bytes(CHUNK))
    s = socket.create_connection((host, PORT + 1), timeout=60)
    t0 = time.monotonic()
    left = nbytes
    while left > 0:
        n = min(left, CHUNK)
        s.sendall(data[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    if s.recv(1) != b"":
        raise RuntimeError("server sent data")
    secs = time.monotonic() - t0
    s.close()
    return nbytes * 8 / secs / 1e9


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(fn, pid, *args):
    """fn's result and the share of one CPU the process pid used meanwhile:
    near 100% means serve was the bottleneck, well below it the clients."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    r = fn(*args)
    return r, 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def client(args):
    """Runs inside the first namespace: measures both targets."""
    cc = args.cclient
    tc, tc_cpu = measured(cps, args.serve_pid, TUN_SERVER, args.seconds, args.workers, cc,
                          TUN_SOURCES)
    tb, tb_cpu = measured(bulk, args.serve_pid, TUN_SERVER, args.bytes)
    vc = cps(VETH_SERVER, args.seconds, args.workers, cc, VETH_SOURCES)
    vb = bulk(VETH_SERVER, args.bytes)
    print("%-30s %14s %12s" % ("", "connections/s", "bulk Gbit/s"))
    print("%-30s %14.0f %12.2f" % ("kernel -> synack serve (TUN)", tc, tb))
    print("%-30s %14.0f %12.2f" % ("kernel -> kernel (veth)", vc, vb))
    print("%-30s %14.2f %12.2f" % ("ratio synack/kernel", tc / vc, tb / vb))
    print("%-30s %13.0f%% %11.0f%%" % ("synack serve CPU (one core)", tc_cpu, tb_cpu))
    # What serve spends per connection and per byte, whoever was the bottleneck.
    print("%-30s %12.1fus %10.2fns" % ("synack serve CPU per conn/byte", tc_cpu / 100 / tc * 1e6,
                                      tb_cpu / 100 / (tb * 1e9 / 8) * 1e9))
    client = ("C client, %d connects in flight" % CONCURRENCY if cc
              else "%d Python workers" % args.workers)
    print("(%s, %g s of connect+close; %d MiB in one connection; %d CPUs)"
          % (client, args.seconds, args.bytes >> 20, os.cpu_count()))


class Setup:
    def __init__(self, synack, server_procs, cclient):
        self.synack = synack
        self.cclient = cclient
        self.server_procs = server_procs
        self.ns = "synack-bench-%d" % os.getpid()
        self.peer = self.ns + "-peer"
        self.procs = []

    def up(self):
        sh(self.synack, "lab", "up", "--name", self.ns)
        sh("ip", "netns", "add", self.peer)
        sh("ip", "-n", self.ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
           "netns", self.peer)
        sh("ip", "-n", self.ns, "addr", "add", VETH_CLIENT + "/24", "dev", "veth0")
        sh("ip", "-n", self.peer, "addr", "add", VETH_SERVER + "/24", "dev", "veth1")
        for a in TUN_SOURCES:
            sh("ip", "-n", self.ns, "addr", "add", a + "/32", "dev", "synack0")
        for a in VETH_SOURCES:
            sh("ip", "-n", self.ns, "addr", "add", a + "/32", "dev", "veth0")
        for ns, dev in ((self.ns, "veth0"), (self.peer, "veth1"), (self.peer, "lo")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # Many short connections leave the clients' ports in TIME-WAIT.
        sh(*in_ns(self.ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=" + PORT_RANGE,
                  "net.ipv4.tcp_tw_reuse=1"))
        self.serve_pid = self.start(in_ns(self.ns, self.synack, "serve", "--tun", "synack0", "--listen",
                         "%s:%d" % (TUN_SERVER, PORT), "--listen",
                         "%s:%d" % (TUN_SERVER, PORT + 1), "--app", "discard", "--backlog",
                         "4096"), "listening")
        if self.cclient:
            # The connection-rate server: one C thread, as synack serve is.
            self.start(in_ns(self.peer, self.cclient, "--server", VETH_SERVER, str(PORT)),
                       "LISTENING")
        else:
            self.start(in_ns(self.peer, sys.executable, "-c", SERVER_CODE, "accept",
                             VETH_SERVER, str(PORT), str(self.server_procs)), "LISTENING")
        self.start(in_ns(self.peer, sys.executable, "-c", SERVER_CODE, "bulk", VETH_SERVER,
                         str(PORT + 1), "0"), "LISTENING")

    def start(self, argv, ready):
        """Starts argv (`ip netns exec` execs it: the pid is the server's)."""
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if ready not in line:
            raise RuntimeError("%s did not start: %r" % (argv[4], line))
        return p.pid

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        sh(self.synack, "lab", "down", "--name", self.ns, check=False)
        sh("ip", "netns", "del", self.peer, check=False)


def build_cclient(tmp):
    """Compiles tun_bench.c (the connection-rate client); None without cc."""
    out = os.path.join(tmp, "tun_bench")
    r = subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, "tun_bench.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("tun_bench: no C client (%s): Python workers instead"
              % (r.stderr.strip() or "cc failed"), file=sys.stderr)
        return None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synack", default=os.path.join(HERE, "..", "build", "tools", "synack"))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--bytes", type=int, default=256 << 20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cclient", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client(args)
        return 0
    if os.geteuid() != 0:
        print("tun_bench: needs root (namespaces, TUN, veth)", file=sys.stderr)
        return 77
    args.synack = os.path.abspath(args.synack)
    with tempfile.TemporaryDirectory() as tmp:
        extra = []
        cclient = build_cclient(tmp)
        if cclient:
            extra = ["--cclient", cclient]
        st = Setup(args.synack, args.workers, cclient)
        try:
            st.up()
            r = subprocess.run(in_ns(st.ns, sys.executable, os.path.abspath(__file__),
                                     "--client", "--seconds", str(args.seconds), "--bytes",
                                     str(args.bytes), "--workers", str(args.workers),
                                     "--serve-pid", str(st.serve_pid), *extra), timeout=600)
            return r.returncode
        finally:
            st.down()


if __name__ == "__main__":
    sys.exit(main())
