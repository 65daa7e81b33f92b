"""synflood.py: a SYN flood from spoofed sources at `synack serve`, sent with
scapy from the kernel side of a test's namespace (sources in 198.18.128.0/17,
which the namespace does not route back: the SYN-ACKs go nowhere).

    synflood.py COUNT

Sends COUNT SYNs as fast as scapy manages, then prints DONE."""
import random
import sys

from scapy.all import IP, TCP, conf, send
from scapy.supersocket import L3RawSocket

SYNACK, PORT = "198.18.0.2", 80
SPOOF_NET = (198, 18, 128)  # 198.18.128.0/17: inside RFC 2544's range
BATCH = 500


def main():
    count = int(sys.argv[1])
    rng = random.Random(7)
    conf.L3socket = L3RawSocket
    conf.verb = 0
    sent = 0
    while sent < count:
        n = min(BATCH, count - sent)
        pkts = [IP(src="%d.%d.%d.%d" % (SPOOF_NET[0], SPOOF_NET[1],
                                       SPOOF_NET[2] + rng.randrange(128), rng.randrange(1, 255)),
                   dst=SYNACK) /
                TCP(sport=rng.randrange(1024, 65535), dport=PORT, flags="S",
                    seq=rng.randrange(1 << 32), options=[("MSS", 1460)])
                for _ in range(n)]
        send(pkts)
        sent += n
    print("DONE", sent, flush=True)


if __name__ == "__main__":
    main()
