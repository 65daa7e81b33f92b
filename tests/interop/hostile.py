"""hostile.py: scapy-crafted segments at `synack serve --app http`, run in a
test's namespace while a kernel socket holds a keep-alive connection to it.

    hostile.py CAPTURE   (a tcpdump -U capture of port 80 on the TUN device)

The connection's sequence numbers come from the capture. After the attack
the same connection must still answer a request: nothing was accepted into
its stream and nothing reset it. Prints OK or FAIL and the reason."""
import socket
import sys
import time

from scapy.all import IP, TCP, Raw, conf, rdpcap, send
from scapy.supersocket import L3RawSocket

KERNEL, SYNACK, PORT = "198.18.0.1", "198.18.0.2", 80
REQUEST = b"GET / HTTP/1.1\r\nHost: synack\r\n\r\n"
FAR = 1 << 30  # far outside any window
WAIT = 0.3


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def get(s, f):
    s.sendall(REQUEST)
    status = f.readline()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = f.read(length)
    if not status.startswith(b"HTTP/1.1 200") or b"synack" not in body:
        fail("bad answer %r" % status)


def seqs(capture, lport):
    """synack's next sequence number and the kernel's, from the last
    segments of the connection in the capture."""
    snd = rcv = None
    for p in rdpcap(capture):
        if TCP not in p:
            continue
        t = p[TCP]
        if p[IP].src == SYNACK and t.dport == lport:
            snd = (t.seq + len(t.payload) + (1 if t.flags.S else 0)) & 0xFFFFFFFF
            rcv = t.ack
    if snd is None:
        fail("connection not in the capture")
    return snd, rcv


def segment(sport, flags, seq, ack=0, **kw):
    payload = kw.pop("payload", b"")
    pkt = IP(src=KERNEL, dst=SYNACK) / TCP(sport=sport, dport=PORT, flags=flags, seq=seq, ack=ack,
                                           window=502, **kw)
    return pkt / Raw(payload) if payload else pkt


def attack(lport, snd, rcv):
    """snd: synack's next sequence number; rcv: what synack expects next."""
    bad_opts = [b"\x02\x00\x05\xb4\x01\x01\x01\x01",  # MSS with length 0
                b"\x08\x0a\x00\x00\x00\x01\x00\x00",  # timestamps overrunning
                b"\x02\x03\x05\x01\x01\x01\x01\x01"]  # MSS of length 3
    pkts = [
        # A data segment with a bad checksum, in sequence: must not enter the stream.
        segment(lport, "PA", rcv, snd, payload=b"GET /evil HTTP/1.1\r\n\r\n", chksum=0x1234),
        # SYN+FIN to the listener.
        segment(41000, "SF", 1000),
        # RST outside the window, then an RST guess inside it (challenge ACK).
        segment(lport, "R", (rcv + FAR) & 0xFFFFFFFF),
        segment(lport, "R", (rcv + 1000) & 0xFFFFFFFF),
        # A SYN on the open connection (challenge ACK, RFC 5961 section 4).
        segment(lport, "S", (rcv + 5) & 0xFFFFFFFF),
        # An ACK for data never sent.
        segment(lport, "A", rcv, (snd + FAR) & 0xFFFFFFFF),
    ]
    # SYNs with malformed options: the data offset covers 8 option bytes.
    for i, opt in enumerate(bad_opts):
        pkts.append(segment(41100 + i, "S", 5000, dataofs=7) / Raw(opt))
    for p in pkts:
        send(p, verbose=0)


def main():
    # A raw IP socket: the kernel routes the segments into the TUN device
    # as they are (a packet socket would need a link layer the device has
    # not got).
    conf.L3socket = L3RawSocket
    s = socket.create_connection((SYNACK, PORT), timeout=10)
    f = s.makefile("rb")
    get(s, f)
    time.sleep(WAIT)  # let tcpdump write the segments out
    lport = s.getsockname()[1]
    snd, rcv = seqs(sys.argv[1], lport)
    attack(lport, snd, rcv)
    time.sleep(WAIT)
    get(s, f)  # the same connection still works, its stream intact
    s.close()
    print("OK connection from port %d survived" % lport, flush=True)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        fail("%s: %s" % (type(e).__name__, e))
