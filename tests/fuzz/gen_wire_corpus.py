#!/usr/bin/python3
"""Writes the seed corpus of fuzz_wire: a few valid packets, one per case
the parser handles, made with scapy (python3-scapy).

    /usr/bin/python3 tests/fuzz/gen_wire_corpus.py tests/fuzz/corpus/wire
"""
import os
import sys

from scapy.all import IP, TCP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, \
    IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw

# RFC 2544 benchmarking and RFC 4193 unique-local addresses only.
A4, B4 = "198.18.0.1", "198.18.0.2"
A6, B6 = "fd00::1", "fd00::2"
LINUX_SYN_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
                  ("NOP", None), ("WScale", 7)]
FO_EXP_MAGIC = b"\xf9\x89"  # RFC 7413 section 4.1.1, kind 254
ETH_PAD = b"\x00" * 6  # Ethernet's minimum frame pads short packets

PACKETS = {
    "v4_syn": IP(src=A4, dst=B4, flags="DF") / TCP(sport=40000, dport=80, flags="S",
                                                   options=LINUX_SYN_OPTS),
    "v6_synack": IPv6(src=A6, dst=B6) / TCP(sport=80, dport=40000, flags="SA", ack=1,
                                            options=[("MSS", 1440), ("SAckOK", b""),
                                                     ("Timestamp", (5, 1)), ("NOP", None),
                                                     ("WScale", 9)]),
    "v4_data": IP(src=B4, dst=A4, tos=2) / TCP(flags="PA", options=[
        ("NOP", None), ("NOP", None), ("Timestamp", (5, 1))]) / b"hello",
    "v4_sack": IP(src=B4, dst=A4) / TCP(flags="A", options=[
        ("NOP", None), ("NOP", None), ("SAck", (100, 200, 300, 400))]),
    "v4_tfo": IP(src=A4, dst=B4) / TCP(flags="S", options=[
        ("MSS", 1460), ("TFO", bytes(range(1, 9)))]) / b"GET /",
    "v4_tfoexp": IP(src=A4, dst=B4) / TCP(flags="S", options=[
        ("MSS", 1460), (254, FO_EXP_MAGIC)]),
    "v4_md5": IP(src=A4, dst=B4) / TCP(flags="S", options=[
        ("MD5", b"\xaa" * 16), ("NOP", None), ("NOP", None)]),
    "v6_ext": IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
              IPv6ExtHdrRouting(addresses=[]) / TCP(flags="A") / b"xyz",
    "v6_frag": IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment() / TCP(flags="A"),
    "v4_rst_pad": Raw(bytes(IP(src=A4, dst=B4) / TCP(flags="R")) + ETH_PAD),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/wire"
    os.makedirs(out, exist_ok=True)
    for name, pkt in PACKETS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(pkt))


if __name__ == "__main__":
    main()
