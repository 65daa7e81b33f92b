"""Small servers for the probe tests, run inside the test's namespace:

    python3 servers.py KIND ADDRESS PORT

KIND is one of:
  http       answers every request with 200 (or 404 for /missing)
  ws         a WebSocket server: answers an upgrade with 101 and the right
             Sec-WebSocket-Accept (RFC 6455 section 4.2.2)
  ws-bad     the same with a wrong Sec-WebSocket-Accept
  ws-no      answers an upgrade with 400
  banner     writes a plain-text line at once (not TLS: a protocol failure)
  close      accepts and closes at once (a reset during TLS, as the client sees it)
  silent     accepts and never answers (a timeout after the handshake)
  tfo        as http, with TCP Fast Open on the listener (its SYN-ACKs carry
             a cookie when the SYN asks for one and tcp_fastopen has 0x2)
  dns        a UDP DNS server: names from the DNS_NAMES table, SERVFAIL for
             servfail.test, NXDOMAIN for everything else

Prints "ready" once listening; every server ends by itself after LIFETIME_S.
"""
import base64
import hashlib
import socket
import struct
import sys
import threading
import time

LIFETIME_S = 60
TFO_QLEN = 16  # pending Fast Open connections (the TCP_FASTOPEN option's value)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DNS_TYPE_A, DNS_TYPE_AAAA = 1, 28
DNS_RCODE_SERVFAIL, DNS_RCODE_NXDOMAIN = 2, 3
DNS_NAMES = {
    "dual.test": [(DNS_TYPE_A, "198.18.5.1"), (DNS_TYPE_AAAA, "fd00::5")],
    "v4.test": [(DNS_TYPE_A, "198.18.5.1")],
}


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def header(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def serve_http(conn):
    head = read_head(conn)
    path = head.split(" ")[1] if head.count(" ") >= 2 else "/"
    code = "404 Not Found" if path == "/missing" else "200 OK"
    body = b"probe\n"
    conn.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (code.encode(), len(body), body))


def serve_ws(conn, kind):
    head = read_head(conn)
    key = header(head, "Sec-WebSocket-Key") or ""
    if kind == "ws-no" or header(head, "Upgrade") != "websocket":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    if kind == "ws-bad":
        accept = base64.b64encode(hashlib.sha1(b"wrong").digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    time.sleep(0.2)


def handle(conn, kind):
    try:
        if kind == "http":
            serve_http(conn)
        elif kind.startswith("ws"):
            serve_ws(conn, kind)
        elif kind == "banner":
            conn.sendall(b"220 plain text, not TLS\r\n")
            time.sleep(0.5)
        elif kind == "silent":
            time.sleep(LIFETIME_S)
    except OSError:
        pass
    finally:
        conn.close()


def tcp_server(kind, addr, port):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == "tfo":
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, TFO_QLEN)
        kind = "http"
    s.bind((addr, port))
    s.listen(64)
    print("ready", flush=True)
    deadline = time.monotonic() + LIFETIME_S
    s.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(conn, kind), daemon=True).start()


def dns_name(msg, off):
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode())
        off += 1 + n
    return ".".join(labels).lower(), off + 1


def dns_answer(query):
    ident, _flags, _qd = struct.unpack("!HHH", query[:6])
    name, off = dns_name(query, 12)
    qtype, _qclass = struct.unpack("!HH", query[off:off + 4])
    question = query[12:off + 4]
    records = DNS_NAMES.get(name)
    rcode = 0
    if name == "servfail.test":
        rcode, records = DNS_RCODE_SERVFAIL, []
    elif records is None:
        rcode, records = DNS_RCODE_NXDOMAIN, []
    answers = b""
    count = 0
    for rtype, value in records:
        if rtype != qtype:
            continue
        fam = socket.AF_INET if rtype == DNS_TYPE_A else socket.AF_INET6
        rdata = socket.inet_pton(fam, value)
        answers += struct.pack("!HHHIH", 0xC00C, rtype, 1, 60, len(rdata)) + rdata
        count += 1
    flags = 0x8180 | rcode  # response, recursion desired and available
    return struct.pack("!HHHHHH", ident, flags, 1, count, 0, 0) + question + answers


def dns_server(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(1.0)
    print("ready", flush=True)
    deadline = time.monotonic() + LIFETIME_S
    while time.monotonic() < deadline:
        try:
            query, peer = s.recvfrom(512)
        except socket.timeout:
            continue
        try:
            s.sendto(dns_answer(query), peer)
        except (IndexError, struct.error, UnicodeDecodeError):
            pass


def main():
    kind, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "dns":
        dns_server(addr, port)
    elif kind == "close":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        print("ready", flush=True)
        s.settimeout(LIFETIME_S)
        while True:
            conn, _ = s.accept()
            # Linger 0: the close sends a RST, as a server rejecting the hello.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
    else:
        tcp_server(kind, addr, port)


if __name__ == "__main__":
    main()
