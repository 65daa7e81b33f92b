#!/usr/bin/python3
"""`synack trace` against the real tcpdump, byte for byte.

Run by meson as:  test_trace.py OBS_TRACE OBS_UNIT
(OBS_TRACE is `synack trace` alone; OBS_UNIT writes a sample pcap with
obs_pcap_* when given --write PATH).

Each case writes a pcap of crafted packets (scapy builds them; we write the
file ourselves to control link types, snap lengths and timestamps), then
checks that `TZ=UTC synack trace FILE` starts with exactly the lines of
`TZ=UTC tcpdump -n -r FILE`, followed by a blank line and the handshake report.

Exit status 77 (meson's "skipped") only when tcpdump is missing.
"""
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

try:
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, Dot1Q, IPv6, IPv6ExtHdrFragment,
                           IPv6ExtHdrHopByHop, Raw, fragment, raw)
except ImportError:  # pragma: no cover
    IP = None

TRACE = os.environ.get("OBS_TRACE")
UNIT = os.environ.get("OBS_UNIT")
TCPDUMP = shutil.which("tcpdump") or (os.path.exists("/usr/bin/tcpdump") and "/usr/bin/tcpdump")
TSHARK = shutil.which("tshark")
XMLLINT = shutil.which("xmllint")
ENV = dict(os.environ, TZ="UTC", LC_ALL="C")

A, B, C = "198.18.0.1", "198.18.0.2", "198.18.0.3"
A6, B6 = "fd00::1", "fd00::2"
T0 = 1700000000.0

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW = 0, 1, 101
LINKTYPE_LOOP, LINKTYPE_SLL, LINKTYPE_SLL2 = 108, 113, 276
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_USER0 = 228, 229, 147


# --------------------------------------------------------------------------
# pcap writing

def frame(linktype, ip):
    """Wraps raw IP bytes in the given link layer."""
    v6 = ip[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_USER0):
        return ip
    if linktype == LINKTYPE_ETHERNET:
        return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=etype)) + ip
    if linktype == "vlan":
        return raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                   Dot1Q(vlan=7, type=etype)) + ip
    if linktype == LINKTYPE_SLL:
        return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", etype) + ip
    if linktype == LINKTYPE_SLL2:
        return struct.pack(">HHIHBB8s", etype, 0, 1, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ip
    if linktype == LINKTYPE_NULL:
        return struct.pack("<I", 24 if v6 else 2) + ip
    if linktype == LINKTYPE_LOOP:
        return struct.pack(">I", 24 if v6 else 2) + ip
    raise ValueError(linktype)


def write_pcap(path, packets, linktype=LINKTYPE_RAW, snaplen=65535, framed=False):
    """packets: raw IP bytes, or (bytes, caplen) to cut the capture short;
    whole link-layer frames when framed is true.
    Timestamps: T0 plus a varied step, so that rounding errors would show."""
    file_lt = LINKTYPE_ETHERNET if linktype == "vlan" else linktype
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, file_lt))
        t = T0
        for i, p in enumerate(packets):
            data, cut = (p, None) if isinstance(p, (bytes, bytearray)) else p
            data = bytes(data) if framed else frame(linktype, bytes(data))
            wire = len(data)
            if cut is not None:
                data = data[:len(data) - (len(p[0]) - cut)]
            t += 0.000123 * (i % 7 + 1) + (0.5 if i % 11 == 10 else 0)
            sec, usec = int(t), int(round((t - int(t)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(data), wire) + data)


def tcpdump_lines(path):
    r = subprocess.run([TCPDUMP, "-n", "-r", path], env=ENV, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8", "replace").splitlines()


def trace(*args, check=True):
    r = subprocess.run([TRACE, *args], env=ENV, capture_output=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def assert_same_as_tcpdump(path):
    want = tcpdump_lines(path)
    got = trace(path).stdout.decode("utf-8", "replace").splitlines()
    assert len(want) > 0
    for i, line in enumerate(want):
        assert i < len(got), "trace stopped after %d lines" % i
        assert got[i] == line, "line %d differs" % (i + 1)
    # then a blank line and the handshake report
    assert got[len(want)] == ""
    assert len(got) > len(want) + 1
    return got[len(want) + 1:]


def check(tmp_path, packets, **kw):
    path = str(tmp_path / "case.pcap")
    write_pcap(path, packets, **kw)
    return assert_same_as_tcpdump(path)


# --------------------------------------------------------------------------
# packet makers

LINUX_SYN = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (10102034, 0)), ("NOP", None),
             ("WScale", 7)]
LINUX_SYNACK = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (20202020, 10102034)),
                ("NOP", None), ("WScale", 7)]


def tcp(src, dst, sport, dport, flags, seq=0, ack=0, data=b"", options=(), win=64240, urg=0):
    ipl = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst, id=1, flags="DF")
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32,
              window=win, urgptr=urg, options=list(options))
    return raw(ipl / seg / Raw(data)) if data else raw(ipl / seg)


def tcp_rawopts(src, dst, sport, dport, flags, optbytes, seq=1, ack=0, data=b""):
    """A segment with option bytes exactly as given (padded to 4 with EOL)."""
    pad = (-len(optbytes)) % 4
    return tcp(src, dst, sport, dport, flags, seq, ack, data,
               options=[]) if not optbytes else raw(
        (IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)) /
        TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=1000,
            dataofs=5 + (len(optbytes) + pad) // 4, options=[]) /
        Raw(optbytes + b"\0" * pad + data))


def conversation(c, s, cport, sport, isn_c, isn_s, v6=False, data=b"hello"):
    """A Linux-like connection: handshake, data both ways, FIN both ways."""
    out = [
        tcp(c, s, cport, sport, "S", isn_c, 0, options=LINUX_SYN),
        tcp(s, c, sport, cport, "SA", isn_s, isn_c + 1, options=LINUX_SYNACK, win=65160),
        tcp(c, s, cport, sport, "A", isn_c + 1, isn_s + 1, win=502,
            options=[("NOP", None), ("NOP", None), ("Timestamp", (10102035, 20202020))]),
        tcp(c, s, cport, sport, "PA", isn_c + 1, isn_s + 1, data, win=502),
        tcp(s, c, sport, cport, "A", isn_s + 1, isn_c + 1 + len(data), win=509),
        tcp(s, c, sport, cport, "PA", isn_s + 1, isn_c + 1 + len(data), b"world!" * 3),
        tcp(c, s, cport, sport, "FA", isn_c + 1 + len(data), isn_s + 19),
        tcp(s, c, sport, cport, "FA", isn_s + 19, isn_c + 2 + len(data)),
        tcp(c, s, cport, sport, "A", isn_c + 2 + len(data), isn_s + 20),
    ]
    return out


# --------------------------------------------------------------------------
# cases

def test_handshake_v4_linux_options(tmp_path):
    report = check(tmp_path, conversation(A, B, 43486, 80, 4160096982, 1234567890))
    assert report[0].startswith("198.18.0.1.43486 > 198.18.0.2.80: established, SYN -> SYN-ACK")


def test_handshake_v6(tmp_path):
    report = check(tmp_path, conversation(A6, B6, 43486, 8000, 77, 2**32 - 3))
    assert report[0].startswith("fd00::1.43486 > fd00::2.8000: established")


def test_sequence_wrap(tmp_path):
    check(tmp_path, conversation(A, B, 40000, 9000, 2**32 - 2, 2**32 - 1))


def test_option_layouts(tmp_path):
    p = [
        tcp(A, B, 1000, 2000, "S", 5, options=[("MSS", 536)]),
        tcp(A, B, 1001, 2000, "S", 5, options=[("NOP", None), ("NOP", None),
                                               ("Timestamp", (1, 2))]),
        tcp(A, B, 1002, 2000, "S", 5, options=[("WScale", 14), ("NOP", None), ("EOL", None)]),
        tcp(A, B, 1003, 2000, "S", 5, options=[("MSS", 1220), ("NOP", None), ("WScale", 0),
                                               ("SAckOK", b""), ("EOL", None)]),
        tcp(A, B, 1004, 2000, "S", 5, options=[("MSS", 1460), ("SAckOK", b""), ("EOL", None),
                                               ("NOP", None)]),
        # kind 34 and experimental 254 Fast Open: request, cookies, bad length
        tcp_rawopts(A, B, 1005, 2000, "S", bytes([34, 2])),
        tcp_rawopts(A, B, 1006, 2000, "S", bytes([34, 10]) + bytes(range(8))),
        tcp_rawopts(A, B, 1007, 2000, "S", bytes([254, 4, 0xF9, 0x89])),
        tcp_rawopts(A, B, 1008, 2000, "S", bytes([254, 12, 0xF9, 0x89]) + b"\xaa" * 8),
        tcp_rawopts(A, B, 1009, 2000, "S", bytes([34, 5, 1, 2, 3])),
        tcp_rawopts(A, B, 1010, 2000, "S", bytes([254, 6, 0x12, 0x34, 0, 0])),
        tcp_rawopts(A, B, 1011, 2000, "S", bytes([19, 18]) + b"\x11" * 16),
        # unknown kinds, user timeout, wrong lengths, malformed lengths
        tcp_rawopts(A, B, 1012, 2000, "S", bytes([99, 4, 1, 2, 200, 2])),
        tcp_rawopts(A, B, 1013, 2000, "S", bytes([28, 4, 0x01, 0x2d])),
        tcp_rawopts(A, B, 1014, 2000, "S", bytes([2, 5, 5, 0xb4, 0])),
        tcp_rawopts(A, B, 1015, 2000, "S", bytes([1, 2, 0])),
        tcp_rawopts(A, B, 1016, 2000, "S", bytes([2, 1, 0, 0])),
        tcp_rawopts(A, B, 1017, 2000, "S", bytes([1, 1, 8, 40])),
        tcp_rawopts(A, B, 1018, 2000, "S", bytes([5, 7, 0, 0, 0, 0, 0])),
        tcp_rawopts(A, B, 1019, 2000, "S", bytes([8, 10, 0, 0])),
        tcp_rawopts(A, B, 1020, 2000, "S", bytes([4, 2, 3, 3, 1, 2, 4, 1460 >> 8, 1460 & 255])),
        tcp_rawopts(A, B, 1021, 2000, "S", bytes([6, 6, 0, 0, 0, 9, 7, 6, 0, 0, 0, 10])),
    ]
    check(tmp_path, p)


def test_sack_blocks(tmp_path):
    isn_c, isn_s = 1000, 5000
    p = conversation(A, B, 33000, 5001, isn_c, isn_s)[:3]
    for n in range(1, 5):
        blocks = [(isn_s + 100 * k + 1, isn_s + 100 * k + 51) for k in range(1, n + 1)]
        p.append(tcp(A, B, 33000, 5001, "A", isn_c + 1, isn_s + 1,
                     options=[("NOP", None), ("NOP", None), ("SAck", sum(blocks, ()))]))
    # and from the server side, relative to the client's numbers
    p.append(tcp(B, A, 5001, 33000, "A", isn_s + 1, isn_c + 1,
                 options=[("NOP", None), ("NOP", None), ("SAck", (isn_c + 11, isn_c + 21))]))
    # a SACK on a flow tcpdump has not seen yet: relative to this very packet
    p.append(tcp(A, C, 1, 2, "A", 70, 80, options=[("SAck", (90, 100))]))
    check(tmp_path, p)


def test_flags_and_fields(tmp_path):
    p = [tcp(A, B, 1, 2, f, 100, 200, win=w, urg=u)
         for f, w, u in [("R", 0, 0), ("RA", 0, 0), ("", 10, 0), ("SEC", 1, 0), ("SAE", 1, 0),
                         ("AU", 0, 77), ("PAU", 5, 1), ("FSRPAUEC", 9, 3), ("A", 0, 0),
                         ("E", 0, 0), ("C", 1, 0), ("FPA", 3, 0)]]
    p.append(tcp(A, B, 1, 2, "PA", 100, 200, b"x" * 1000, win=0))
    p.append(tcp(A, B, 1, 2, "RA", 100, 200, b"reset reason"))
    check(tmp_path, p)


def test_interleaved_flows_and_retransmitted_syn(tmp_path):
    f1 = conversation(A, B, 50000, 80, 111, 222)
    f2 = conversation(A, B, 50001, 80, 3_000_000_000, 4_000_000_000)
    f3 = conversation(A6, B6, 50000, 80, 5, 6)
    p = [f1[0], f1[0], f2[0]]  # f1's SYN is retransmitted
    for i in range(1, 9):
        p += [f1[i], f2[i], f3[i - 1]]
    report = check(tmp_path, p)
    text = "\n".join(report)
    assert "SYN retransmitted 1 time" in text


def test_new_syn_on_known_flow(tmp_path):
    # the same 4-tuple used twice: tcpdump restarts its numbering at the SYN
    p = conversation(A, B, 40000, 80, 10, 20) + conversation(A, B, 40000, 80, 900000, 800000)
    # same ports both sides: tcpdump orders by address
    p += conversation(A, B, 7000, 7000, 42, 43)
    p += conversation(B, A, 7000, 7000, 52, 53)
    check(tmp_path, p)


def test_refused_and_unanswered(tmp_path):
    p = [tcp(A, B, 41000, 81, "S", 99, options=LINUX_SYN),
         tcp(B, A, 81, 41000, "RA", 0, 100),
         tcp(A, B, 41001, 82, "S", 500, options=LINUX_SYN),
         tcp(A, B, 41001, 82, "S", 500, options=LINUX_SYN),
         tcp(A, B, 41001, 82, "S", 500, options=LINUX_SYN)]
    report = check(tmp_path, p)
    assert report[0].startswith("198.18.0.1.41000 > 198.18.0.2.81: refused, RST ")
    assert report[1].startswith("198.18.0.1.41001 > 198.18.0.2.82: no answer to 3 SYNs")
    assert report[2].startswith("  SYN retransmitted 2 times")


def test_http_payloads(tmp_path):
    p = [tcp(A, B, 1, 80, "PA", 1, 1, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
         tcp(B, A, 80, 1, "PA", 1, 1, b"HTTP/1.1 404 Not Found\r\n\r\n"),
         tcp(A, B, 1, 80, "PA", 1, 1, b"POST /x"),
         tcp(A, B, 1, 80, "PA", 1, 1, b"\x00\x01binary"),
         tcp(A, B, 1, 8080, "PA", 1, 1, b"get / HTTP/1.0\nx\n"),
         tcp(A, B, 1, 8080, "PA", 1, 1, b"FOO 200 ok\r\n"),
         tcp(A, B, 1, 80, "PA", 1, 1, b"GET\t/ HTTP/1.1\r\n"),
         tcp(A, B, 1, 80, "PA", 1, 1, b"GET / HTTP/1.1\rX"),
         tcp(A, B, 1, 80, "PA", 1, 1, b"GET / HTTP/1.1\r")]
    check(tmp_path, p)


def test_truncation_and_bad_headers(tmp_path):
    syn = tcp(A, B, 1, 2, "S", 5, options=LINUX_SYN)
    syn6 = tcp(A6, B6, 1, 2, "S", 5, options=LINUX_SYN)
    bad_doff = bytearray(tcp(A, B, 1, 2, "S", 5))
    bad_doff[32] = 0x30
    long_doff = bytearray(tcp(A, B, 1, 2, "S", 5))
    long_doff[32] = 0xF0
    short_ip = bytearray(tcp(A, B, 1, 2, "A", 5, 6, b"abcdef"))
    short_ip[3] -= 3  # IP total length shorter than the packet
    p = [(syn, 10), (syn, 21), (syn, 23), (syn, 30), (syn, 42), (syn, 45), (syn, 52),
         (syn6, 30), (syn6, 50), (syn6, 64), (syn6, 70),
         bytes(bad_doff), bytes(long_doff), bytes(short_ip)]
    check(tmp_path, p)


def test_other_protocols(tmp_path):
    big = IP(src=A, dst=B, id=7) / TCP(sport=1, dport=2, flags="PA") / Raw(b"z" * 100)
    p = [raw(f) for f in fragment(big, fragsize=48)]
    p += [raw(IP(src=A, dst=B) / ICMP(type=8, id=1, seq=2) / Raw(b"x" * 56)),
          raw(IP(src=B, dst=A) / ICMP(type=0, id=1, seq=2) / Raw(b"x" * 56)),
          raw(IP(src=B, dst=A) / ICMP(type=3, code=3) / IP(src=A, dst=B) / UDP(sport=5, dport=6)),
          raw(IP(src=B, dst=A) / ICMP(type=3, code=3) / IP(src=A, dst=B) / TCP(sport=5, dport=6)),
          raw(IP(src=B, dst=A) / ICMP(type=3, code=4, nexthopmtu=1400) / IP(src=A, dst=B) /
              TCP(sport=5, dport=6)),
          raw(IP(src=B, dst=A) / ICMP(type=11) / IP(src=A, dst=B) / UDP()),
          raw(IP(src=B, dst=A) / UDP(sport=5000, dport=6000) / Raw(b"abc")),
          raw(IP(src=A, dst=B, proto=99) / Raw(b"abc")),
          raw(IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / TCP(sport=5, dport=6, flags="S")),
          raw(IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment() / TCP(sport=5, dport=6, flags="S")),
          raw(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2) / Raw(b"abcd"))]
    check(tmp_path, p)


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, "vlan", LINKTYPE_SLL, LINKTYPE_NULL,
                                      LINKTYPE_LOOP, LINKTYPE_IPV4])
def test_link_types(tmp_path, linktype):
    p = conversation(A, B, 43486, 80, 4160096982, 1234567890)
    if linktype != LINKTYPE_IPV4:
        p += conversation(A6, B6, 43486, 80, 1, 2)
    check(tmp_path, p, linktype=linktype)


@pytest.mark.parametrize("pkttype", [0, 4, 9])
def test_sll2_interface_and_direction(tmp_path, pkttype):
    """tcpdump names the interface (index 1 is lo here too) and direction."""
    path = str(tmp_path / "sll2.pcap")
    p = conversation(A, B, 1, 2, 3, 4)
    write_pcap(path, p, linktype=LINKTYPE_SLL2)
    data = bytearray(open(path, "rb").read())
    off = 24
    while off < len(data):  # set each record's packet type
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        data[off + 16 + 10] = pkttype
        off += 16 + caplen
    open(path, "wb").write(bytes(data))
    assert_same_as_tcpdump(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_segments(tmp_path, seed):
    """Seeded random damage to TCP headers, options and payloads (ports kept, so
    that only the HTTP payload printer is involved), and random snap lengths.
    MPTCP options (kind 30) are not decoded by us: lines with them are left out."""
    rnd = random.Random(seed)
    base = conversation(A, B, 43486, 80, 4160096982, 1234567890)
    base += conversation(A6, B6, 40000, 9000, 3, 4)
    base += [tcp_rawopts(A, B, 1005, 2000, "S", bytes([34, 10]) + bytes(range(8))),
             tcp(A, B, 1, 80, "PA", 1, 1, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
             tcp(A, B, 3300, 5001, "A", 1, 1,
                 options=[("NOP", None), ("NOP", None), ("SAck", (5, 10, 20, 30))])]
    packets = []
    for _ in range(1500):
        b = bytearray(rnd.choice(base))
        start = (40 if b[0] >> 4 == 6 else 20) + 4
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(start, len(b))
            b[pos] = rnd.choice([rnd.randrange(256), 0, 1, 2, 0x10, 0x50, 0xa0, 0xf0, 0xff])
        cut = rnd.randrange(1, len(b) + 1) if rnd.random() < 0.2 else None
        packets.append(bytes(b) if cut is None else (bytes(b), cut))
    path = str(tmp_path / "mutated.pcap")
    write_pcap(path, packets)
    want = tcpdump_lines(path)
    got = trace(path).stdout.decode("utf-8", "replace").splitlines()
    assert len(got) > len(want)
    compared = 0
    for i, line in enumerate(want):
        if "mptcp" in line:
            continue
        assert got[i] == line, "line %d differs" % (i + 1)
        compared += 1
    assert compared > 1400


def test_arp_among_ethernet_frames(tmp_path):
    me, bc = "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"
    frames = [raw(Ether(src=me, dst=bc) / ARP(op=1, psrc=A, pdst=B, hwsrc=me)),
              raw(Ether(src="02:00:00:00:00:02", dst=me) /
                  ARP(op=2, psrc=B, pdst=A, hwsrc="02:00:00:00:00:02", hwdst=me)),
              raw(Ether(src=me, dst=bc) / ARP(op=1, psrc=A, pdst=B, hwdst="02:00:00:00:00:09")),
              raw(Ether(src=me, dst=bc) / ARP(op=1, psrc=A, pdst=B) / Raw(b"\0" * 18))]
    frames += [frame(LINKTYPE_ETHERNET, p) for p in conversation(A, B, 5555, 6666, 1, 2)]
    path = str(tmp_path / "arp.pcap")
    write_pcap(path, frames, linktype=LINKTYPE_ETHERNET, framed=True)
    assert_same_as_tcpdump(path)


def test_damaged_file_keeps_what_was_read(tmp_path):
    path = str(tmp_path / "cut.pcap")
    write_pcap(path, conversation(A, B, 5555, 6666, 1, 2))
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-10])  # the last record loses its end
    r = trace(path, check=False)
    assert r.returncode == 2
    assert len(r.stdout.decode().splitlines()) == 8  # the 8 whole packets
    assert len(r.stderr.decode().strip().splitlines()) == 1


# --------------------------------------------------------------------------
# bad input, files we write, ladders

def test_bad_input(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file at all\n")
    usr = str(tmp_path / "user0.pcap")
    write_pcap(usr, [tcp(A, B, 1, 2, "S")], linktype=LINKTYPE_USER0)
    for args in ([str(tmp_path / "missing.pcap")], [str(junk)], [usr], [], ["--bogus", usr]):
        r = trace(*args, check=False)
        assert r.returncode == 2, args
        assert r.stdout == b""
        assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr


def test_written_pcap_is_clean(tmp_path):
    path = str(tmp_path / "written.pcap")
    subprocess.run([UNIT, "--write", path], check=True, timeout=30)
    r = subprocess.run([TCPDUMP, "-n", "-r", path], env=ENV, capture_output=True, timeout=30)
    assert r.returncode == 0
    err = r.stderr.decode().strip().splitlines()
    assert err == ["reading from file %s, link-type RAW (Raw IP), snapshot length 65535" % path]
    assert len(r.stdout.decode().splitlines()) == 3
    assert_same_as_tcpdump(path)
    if TSHARK:
        r = subprocess.run([TSHARK, "-n", "-r", path], env=ENV, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        # tshark warns about running as root; nothing else may appear
        err = [l for l in r.stderr.decode().splitlines() if "running as user" not in l.lower()]
        assert err == []
        assert len(r.stdout.decode().splitlines()) == 3
        assert "[Malformed" not in r.stdout.decode()


def test_ladder_and_svg(tmp_path):
    path = str(tmp_path / "c.pcap")
    svg = str(tmp_path / "c.svg")
    write_pcap(path, conversation(A, B, 43486, 80, 10, 20))
    out = trace("--no-lines", "--ladder", "--svg", svg, path).stdout.decode()
    assert "\u25ba" in out and "\u25c4" in out and "[S.] seq 0 ack 1" in out
    out = trace("--no-lines", "--ladder", "--no-unicode", path).stdout.decode()
    assert out.isascii() and "->|" in out and "|<-" in out
    if XMLLINT:
        subprocess.run([XMLLINT, "--noout", svg], check=True, timeout=30)
    text = open(svg).read()
    assert text.count("<line") >= 9 + 2 and "</svg>" in text
    j = trace("--json", path).stdout.decode().splitlines()
    assert len(j) == 10 and j[0].startswith('{"ts":') and '"outcome":"established"' in j[-1]


# --------------------------------------------------------------------------
# a real kernel connection, captured by tcpdump in a network namespace

NS = "synack-obs-test-%d" % os.getpid()

PEERS = r'''
import socket, sys, threading
addr = sys.argv[1]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.bind((addr, 8765)); srv.listen(4)
def serve():
    c, _ = srv.accept(); data = c.recv(100); c.sendall(data.upper() * 50); c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection((addr, 8765), timeout=5)
cl.sendall(b"hello kernel"); got = b""
while True:
    b = cl.recv(65536)
    if not b: break
    got += b
cl.close(); t.join(5)
r = socket.socket(fam, socket.SOCK_STREAM)
r.settimeout(5)
try: r.connect((addr, 8766))
except ConnectionRefusedError: pass
assert got == b"HELLO KERNEL" * 50
'''


def ip(*args):
    subprocess.run(["ip", *args], check=True, timeout=30, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                    reason="needs root and iproute2 for a network namespace")
@pytest.mark.parametrize("addr,iface", [("198.18.0.1", "lo"), ("fd00::1", "lo"),
                                        ("198.18.0.1", "any")])
def test_kernel_capture(tmp_path, addr, iface):
    # tcpdump on a loaded machine now and then loses packets (a ring not
    # drained before SIGINT, or a drop under load: once the refused SYN went
    # missing while its RST was kept); a capture without the refused
    # connection's SYN and RST is taken again, at most three times, before
    # the comparison is judged
    for attempt in range(3):
        path = str(tmp_path / ("kernel-%d.pcap" % attempt))
        seen = capture_kernel_peers(path, addr, iface)
        if capture_complete(seen):
            break
    report = "\n".join(assert_same_as_tcpdump(path))
    assert "established" in report and "refused" in report, seen.decode()


def capture_complete(seen):
    """True when tcpdump's reading holds the refused connection's SYN and RST."""
    return b".8766: Flags [S]," in seen and b"[R.]" in seen


def capture_kernel_peers(path, addr, iface):
    """Runs PEERS in a new namespace under tcpdump; returns tcpdump's reading."""
    ip("netns", "add", NS)
    dump = None
    try:
        ip("-n", NS, "link", "set", "lo", "up")
        ip("-n", NS, "addr", "add", addr + ("/128" if ":" in addr else "/32"), "dev", "lo")
        # --immediate-mode: with TPACKET_V3 blocks, packets still in a block
        # when tcpdump is interrupted are otherwise never written
        dump = subprocess.Popen(["ip", "netns", "exec", NS, TCPDUMP, "-i", iface, "-U",
                                 "--immediate-mode",
                                 "-w", path, "tcp"], stderr=subprocess.PIPE)
        deadline = time.time() + 10
        line = b""
        while b"listening on" not in line and time.time() < deadline:
            line = dump.stderr.readline()
        assert b"listening on" in line
        time.sleep(1 if ":" in addr else 0.2)  # DAD-free lo, but let tcpdump settle
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", PEERS, addr],
                       check=True, timeout=30)
        # -U writes each packet as it comes: wait (bounded) for the final RST
        for _ in range(100):
            r = subprocess.run([TCPDUMP, "-n", "-r", path], capture_output=True, timeout=30)
            if capture_complete(r.stdout):
                break
            time.sleep(0.1)
    finally:
        if dump:
            dump.send_signal(signal.SIGINT)
            try:
                dump.wait(10)
            except subprocess.TimeoutExpired:
                dump.kill()
        subprocess.run(["ip", "netns", "del", NS], timeout=30)
    return subprocess.run([TCPDUMP, "-n", "-r", path], capture_output=True, timeout=30).stdout


def main():
    if not TCPDUMP:
        print("skipped: tcpdump is not installed")
        return 77
    if IP is None:
        print("error: this test needs scapy (Debian: python3-scapy)")
        return 1
    global TRACE, UNIT
    if len(sys.argv) > 2:
        TRACE, UNIT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.environ["OBS_TRACE"], os.environ["OBS_UNIT"] = TRACE, UNIT
    return pytest.main([__file__, "-q", "-p", "no:cacheprovider"] + sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
