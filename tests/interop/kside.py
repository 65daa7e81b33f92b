"""kside.py: the kernel's side of the interop tests, run inside a test's
namespace (`ip netns exec NS python3 kside.py COMMAND ...`). Each command
prints one result line and exits 0, or prints the failure and exits 1.

Every socket has a timeout and every loop a bound: a stuck peer fails the
test instead of hanging it."""
import hashlib
import random
import selectors
import socket
import struct
import sys
import threading
import time

TIMEOUT = 60.0
CHUNK = 65536


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def dial(host, port, timeout=TIMEOUT):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


def echo_check(host, port, nbytes, seed):
    """Pushes nbytes through an echo server while reading the echo back;
    checks every byte, then half-closes and expects the server's FIN."""
    data = pattern(nbytes, seed)
    s = dial(host, port)
    err = []

    def writer():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t0 = time.monotonic()
    t.start()
    got = bytearray()
    while len(got) <= nbytes:
        b = s.recv(CHUNK)
        if not b:
            break
        got += b
    t.join(TIMEOUT)
    secs = time.monotonic() - t0
    s.close()
    if err:
        fail("send: %s" % err[0])
    if len(got) != nbytes:
        fail("echo returned %d of %d bytes" % (len(got), nbytes))
    if bytes(got) != data:
        first = next(i for i in range(nbytes) if got[i] != data[i])
        fail("echo differs from byte %d" % first)
    print("OK %d bytes echoed in %.3f s (%.1f Mbit/s)" % (nbytes, secs, nbytes * 8 / secs / 1e6),
          flush=True)


def many(host, port, count):
    """Opens count connections at once (non-blocking), sends one line on
    each and expects it echoed, then closes them all."""
    sel = selectors.DefaultSelector()
    socks = {}
    for i in range(count):
        s = socket.socket(family_of(host), socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        msg = b"client %d\n" % i
        socks[s] = [msg, bytearray(), False]
        sel.register(s, selectors.EVENT_WRITE)
    done = 0
    deadline = time.monotonic() + TIMEOUT
    while done < count and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1.0):
            s = key.fileobj
            st = socks[s]
            if ev & selectors.EVENT_WRITE and not st[2]:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    fail("connect %d: errno %d" % (list(socks).index(s), e))
                s.send(st[0])
                st[2] = True
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                b = s.recv(CHUNK)
                st[1] += b
                if bytes(st[1]) == st[0]:
                    done += 1
                    sel.unregister(s)
                    s.close()
                elif not b or len(st[1]) > len(st[0]):
                    fail("bad echo %r" % bytes(st[1]))
    if done != count:
        fail("%d of %d clients completed" % (done, count))
    print("OK %d clients" % count, flush=True)


def halfclose(host, port):
    """Sends, half-closes, and must still get every byte echoed, then EOF:
    the server saw the FIN as end of input, not as the end of the
    connection."""
    s = dial(host, port)
    data = pattern(100000, 7)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    for _ in range(100000):
        b = s.recv(CHUNK)
        if not b:
            break
        got += b
    if bytes(got) != data:
        fail("after half-close got %d of %d bytes" % (len(got), len(data)))
    print("OK half-close: %d bytes echoed after our FIN, then EOF" % len(got), flush=True)


def reset(host, port):
    """Opens a connection, sends some bytes, and aborts it with an RST
    (SO_LINGER 0); prints the local port so the test can look for it."""
    s = dial(host, port)
    s.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        b = s.recv(CHUNK)
        if not b:
            fail("EOF before the echo")
        got += b
    port = s.getsockname()[1]
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("OK reset from port %d" % port, flush=True)


def server(host, port, reply_bytes):
    """A kernel listener for `synack connect`: reads to EOF, answers with
    the SHA-256 of what it read and reply_bytes of a seeded pattern, and
    closes."""
    ls = socket.socket(family_of(host), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(8)
    print("LISTENING", flush=True)
    ls.settimeout(TIMEOUT)
    c, peer = ls.accept()
    c.settimeout(TIMEOUT)
    h = hashlib.sha256()
    n = 0
    for _ in range(1000000):
        b = c.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(("%d %s\n" % (n, h.hexdigest())).encode() + pattern(reply_bytes, 11))
    c.close()
    print("OK server read %d bytes from %s" % (n, peer[0]), flush=True)


def http_keepalive(host, port):
    """Two requests on one connection, then one with Connection: close:
    keep-alive honoured, then the server closes."""
    s = dial(host, port, 10)
    f = s.makefile("rb")

    def get(extra):
        s.sendall(("GET / HTTP/1.1\r\nHost: x\r\n%s\r\n" % extra).encode())
        status = f.readline()
        headers = {}
        while True:
            line = f.readline().strip()
            if not line:
                break
            k, v = line.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        body = f.read(int(headers["content-length"]))
        return status, headers, body

    for extra in ("", ""):
        st, hd, body = get(extra)
        if not st.startswith(b"HTTP/1.1 200") or hd.get("connection") != "keep-alive":
            fail("keep-alive request: %r %r" % (st, hd))
    st, hd, body = get("Connection: close\r\n")
    if hd.get("connection") != "close" or b"synack" not in body:
        fail("close request: %r %r" % (st, hd))
    if f.read(1) != b"":
        fail("server did not close after Connection: close")
    print("OK keep-alive then close", flush=True)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "echo-check":
        echo_check(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "many":
        many(args[0], int(args[1]), int(args[2]))
    elif cmd == "halfclose":
        halfclose(args[0], int(args[1]))
    elif cmd == "reset":
        reset(args[0], int(args[1]))
    elif cmd == "server":
        server(args[0], int(args[1]), int(args[2]))
    elif cmd == "http-keepalive":
        http_keepalive(args[0], int(args[1]))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError) as e:
        fail("%s: %s" % (type(e).__name__, e))
