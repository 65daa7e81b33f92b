"""The synack command line: `synack demo` (the README's main job) end to end,
its --json, --pcap and --svg outputs, and bad input to every subcommand (one
line on stderr, exit status 2). Nothing here needs root or a network: the
demo runs on the simulated network.

    /usr/bin/python3 tests/cli/test_cli.py build/tools/synack
"""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

SYNACK = os.environ.get("SYNACK_BIN", "build/tools/synack")
TCPDUMP = shutil.which("tcpdump")
ENV = dict(os.environ, TZ="UTC")
LINE = re.compile(r"^ *(\d+\.\d{6}) (IP6? \S+ > \S+: Flags \[[^]]*\].*?)(  \[.*\])?$")


def synack(*args, check=True):
    r = subprocess.run([SYNACK, *args], capture_output=True, text=True, timeout=60, env=ENV)
    if check:
        assert r.returncode == 0, (args, r.stderr)
    return r


def packet_lines(out):
    """The demo's tcpdump lines: (time, line without time, annotation)."""
    return [m.groups() for m in map(LINE.match, out.splitlines()) if m]


def test_demo_shows_the_handshake():
    out = synack("demo").stdout
    pkts = packet_lines(out)
    assert [re.search(r"Flags \[(.*?)\]", p[1]).group(1) for p in pkts] == ["S", "S.", "."]
    assert "options [mss 1460,sackOK,TS val" in pkts[0][1] and "wscale 8]" in pkts[0][1]
    for section in ("ladder:", "state transitions:", "summary:"):
        assert section in out
    assert re.search(r"client SYN-SENT -> ESTABLISHED", out)
    assert re.search(r"server SYN-RECEIVED -> ESTABLISHED", out)
    assert re.search(r"handshake +20\.000 ms", out)
    assert re.search(r"retransmits +SYN 0, SYN-ACK 0", out)


def test_demo_with_loss_completes_by_retransmission():
    out = synack("demo", "--loss", "0.3").stdout
    pkts = packet_lines(out)
    lost = [p for p in pkts if p[2] and "lost" in p[2]]
    assert lost, out
    m = re.search(r"retransmits +SYN (\d+), SYN-ACK (\d+)", out)
    assert int(m.group(1)) + int(m.group(2)) > 0
    assert "client SYN-SENT -> ESTABLISHED" in out
    # The SYN is resent at the initial RTO of 1 s, then 2 s later (Linux's backoff).
    syn_times = [float(p[0]) for p in pkts if "Flags [S]," in p[1]]
    assert syn_times[:3] == [0.0, 1.0, 3.0], syn_times


def test_demo_is_reproducible_and_seeded():
    a = synack("demo", "--loss", "0.2", "--seed", "7").stdout
    b = synack("demo", "--loss", "0.2", "--seed", "7").stdout
    c = synack("demo", "--loss", "0.2", "--seed", "8").stdout
    assert a == b and a != c


def test_demo_data_and_close_json():
    d = json.loads(synack("demo", "--data", "100000", "--close", "--json").stdout)
    assert d["ok"] is True
    assert d["data"] == {"sent": 100000, "echoed": 100000}
    assert d["client"]["isn_local"] == d["server"]["isn_remote"]
    assert d["server"]["isn_local"] == d["client"]["isn_remote"]
    ends = {(s["side"], s["to"]) for s in d["states"]}
    for state in ("FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"):
        assert ("client", state) in ends or ("server", state) in ends, state
    assert ("server", "LAST-ACK") in ends or ("client", "LAST-ACK") in ends


def test_demo_ipv6():
    pkts = packet_lines(synack("demo", "--ipv6").stdout)
    assert pkts and all(p[1].startswith("IP6 ") for p in pkts)
    assert "mss 1440" in pkts[0][1]


@pytest.mark.skipif(not TCPDUMP, reason="tcpdump is not installed")
def test_demo_pcap_reads_as_printed(tmp_path):
    path = str(tmp_path / "demo.pcap")
    out = synack("demo", "--data", "3000", "--close", "--pcap", path).stdout
    r = subprocess.run([TCPDUMP, "-n", "-r", path], capture_output=True, text=True,
                       timeout=30, env=ENV)
    assert r.returncode == 0
    assert r.stderr.strip().splitlines() == [
        "reading from file %s, link-type RAW (Raw IP), snapshot length 65535" % path]
    theirs = [re.sub(r"^\S+ ", "", line) for line in r.stdout.splitlines()]
    ours = [p[1] for p in packet_lines(out)]
    assert theirs == ours


def test_demo_svg(tmp_path):
    path = tmp_path / "ladder.svg"
    synack("demo", "--svg", str(path))
    root = ET.parse(str(path)).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    assert "[S]" in text and "[S.]" in text


BAD = [
    ["demo", "--loss", "2"], ["demo", "--loss", "x"], ["demo", "--delay", "10xs"],
    ["demo", "--data", "abc"], ["demo", "--bogus"], ["demo", "extra"], ["demo", "--seed"],
    ["demo", "--pcap", "/nonexistent/dir/x.pcap"], ["demo", "--svg", "/nonexistent/x.svg"],
    ["script"], ["script", "--bogus", "x.pkt"], ["script", "--jobs"],
    ["script", "--jobs", "0", "x.pkt"],
    ["trace"], ["trace", "/nonexistent.pcap"],
    ["flood", "--rate", "x"], ["flood", "--bogus"],
    ["probe"], ["probe", "--bogus", "198.18.0.1"],
    ["connect"], ["connect", "--tun", "sx0"],
    ["serve"], ["serve", "--tun", "sx0"], ["serve", "--tun", "sx0", "--listen", "198.18.0.2"],
    ["serve", "--tun", "sx0", "--listen", "224.0.0.1:80"],
    ["serve", "--tun", "sx0", "--listen", "[ff02::1]:80"],
    ["serve", "--tun", "sx0", "--listen", "255.255.255.255:80"],
    ["lab", "--bogus"], ["bogus"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_input_is_one_line_and_exit_2(args):
    r = synack(*args, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("synack"), r.stderr


def test_unreadable_script_counts_as_failed():
    # A run of several scripts still prints its tally; the unreadable one is
    # named on one line and makes the exit status 2.
    r = synack("script", "/nonexistent.pkt", check=False)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["synack script: cannot read /nonexistent.pkt"]
    assert r.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_help_everywhere():
    for cmd in ("demo", "script", "trace", "flood", "probe", "connect", "serve", "lab"):
        r = synack(cmd, "--help")
        assert r.stdout.startswith("usage: synack " + cmd), cmd
    assert "commands:" in synack("--help").stdout


def main():
    global SYNACK
    if len(sys.argv) > 1:
        SYNACK = os.path.abspath(sys.argv[1])
    os.environ["SYNACK_BIN"] = SYNACK
    sys.dont_write_bytecode = True
    return pytest.main([__file__, "-q", "-p", "no:cacheprovider"] + sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
