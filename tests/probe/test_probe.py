"""`synack probe` against real kernel peers in a namespace of the test's own.

SYNACK names the synack binary (meson passes it)."""
import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

SYNACK = os.environ.get("SYNACK", "synack")
ADDR = "198.18.5.1"
ADDR6 = "fd00::5"
UNREACHABLE_NET = "198.18.99.0/24"  # an `unreachable` route: EHOSTUNREACH at once
NO_ROUTE = "198.19.200.1"            # no route at all in the namespace: ENETUNREACH
PORT_OPEN, PORT_CLOSED, PORT_DROP, PORT_DROP2 = 8080, 8081, 8082, 8083
PORT_TLS = 8443
LINUX_INITIAL_RTO_S = 1.0  # RFC 6298 section 2.1 (Linux TCP_TIMEOUT_INIT)

# The exit statuses `synack probe --help` documents.
EXIT = {"ok": 0, "error": 1, "usage": 2, "unsupported": 3, "dns-noname": 4,
        "dns-noanswer": 5, "refused": 6, "timeout": 7, "host-unreachable": 8,
        "net-unreachable": 9, "reset": 10, "tls-cert": 11, "tls-name": 12,
        "tls-protocol": 13, "tls-reset": 14, "http-error": 15, "ws-error": 16,
        "permission": 17, "interrupted": 130}


def run(ns, *args, timeout=30):
    return subprocess.run(ns.cmd([SYNACK, "probe", *args]), capture_output=True, text=True,
                          timeout=timeout)


def jrun(ns, *args, timeout=30):
    """Runs with --json; every line must parse. Returns (rc, attempts, summaries, seconds)."""
    t0 = time.monotonic()
    p = run(ns, "--json", *args, timeout=timeout)
    elapsed = time.monotonic() - t0
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    attempts = [o for o in objs if o["type"] == "attempt"]
    summaries = [o for o in objs if o["type"] == "summary"]
    assert len(attempts) + len(summaries) == len(objs), p.stdout
    return p.returncode, attempts, summaries, elapsed


def drop(ns, *rules):
    """nftables drops in the namespace's input hook (silence, never a RST)."""
    body = "\n".join(f"    {r} drop" for r in rules)
    ns.nft("table inet probe_test {\n  chain input {\n"
           "    type filter hook input priority 0; policy accept;\n"
           f"{body}\n  }}\n}}\n")


# ---- one attempt: the classes of failure ----

def test_listening_port(ns):
    ns.server("http", ADDR, PORT_OPEN)
    rc, att, summ, _ = jrun(ns, "--http", "/", f"{ADDR}:{PORT_OPEN}")
    assert rc == 0
    a = att[0]
    assert a["class"] == "ok" and a["ok"] and a["http_status"] == 200
    assert a["address"] == ADDR and a["family"] == "ipv4"
    assert a["tcp_info"]["sack"] and a["tcp_info"]["timestamps"]
    assert a["tcp_info"]["rto_ms"] >= 200  # Linux TCP_RTO_MIN
    ph = a["phases_ms"]
    assert ph["dns"] >= 0 and ph["tcp"] > 0 and ph["http"] > 0 and ph["tls"] is None
    cum = a["cumulative_ms"]
    assert cum["namelookup"] <= cum["connect"] <= cum["starttransfer"] <= cum["total"]
    assert summ[0]["sent"] == 1 and summ[0]["succeeded"] == 1


def test_ipv6_literals(ns):
    ns.server("http", ADDR6, PORT_OPEN)
    rc, att, _, _ = jrun(ns, "--http", "/", f"[{ADDR6}]:{PORT_OPEN}", ADDR6)
    assert [a["target"] for a in att] == [f"[{ADDR6}]:{PORT_OPEN}", f"[{ADDR6}]:80"]
    assert att[0]["class"] == "ok" and att[0]["family"] == "ipv6"
    assert att[0]["local"].startswith(f"[{ADDR6}]:")
    assert att[1]["class"] == "refused" and rc == EXIT["refused"]


def test_http_error_status(ns):
    ns.server("http", ADDR, PORT_OPEN)
    rc, att, _, _ = jrun(ns, "--http", "/missing", f"{ADDR}:{PORT_OPEN}")
    assert rc == EXIT["http-error"] and att[0]["http_status"] == 404


def test_refused_is_not_a_timeout(ns):
    rc, att, _, elapsed = jrun(ns, "--timeout", "3", f"{ADDR}:{PORT_CLOSED}")
    assert rc == EXIT["refused"]
    assert att[0]["class"] == "refused" and att[0]["failed_phase"] == "tcp"
    assert "Connection refused" in att[0]["detail"] and att[0]["next"]
    assert att[0]["phases_ms"]["tcp"] < 100 and elapsed < 2


def test_dropped_port_times_out(ns):
    drop(ns, f"tcp dport {PORT_DROP}")
    rc, att, _, elapsed = jrun(ns, "--timeout", "0.5", f"{ADDR}:{PORT_DROP}")
    assert rc == EXIT["timeout"] and att[0]["class"] == "timeout"
    assert 500 <= att[0]["phases_ms"]["tcp"] < 700
    assert 0.5 <= elapsed < 2


def test_text_explains_the_failure(ns):
    drop(ns, f"tcp dport {PORT_DROP}")
    p = run(ns, "--timeout", "0.3", "--no-color", f"{ADDR}:{PORT_DROP}")
    assert p.returncode == EXIT["timeout"]
    assert f"{ADDR}:{PORT_DROP} seq=1 timeout" in p.stdout
    assert "why:" in p.stdout and "firewall" in p.stdout and "next:" in p.stdout
    assert "\033[" not in p.stdout


def test_unreachable(ns):
    ns.ip("route", "add", "unreachable", UNREACHABLE_NET)
    rc, att, _, _ = jrun(ns, "198.18.99.7:80")
    assert rc == EXIT["host-unreachable"] and att[0]["class"] == "host-unreachable"
    rc, att, _, _ = jrun(ns, f"{NO_ROUTE}:80")
    assert rc == EXIT["net-unreachable"] and att[0]["class"] == "net-unreachable"


def test_timeout_after_connect(ns):
    ns.server("silent", ADDR, PORT_OPEN)
    rc, att, _, _ = jrun(ns, "--timeout", "0.3", "--http", "/", f"{ADDR}:{PORT_OPEN}")
    assert rc == EXIT["timeout"] and att[0]["failed_phase"] == "http"
    assert "did not answer this phase" in att[0]["why"]


# ---- DNS ----

@pytest.fixture
def dns(ns):
    ns.server("dns", ADDR, 53)
    ns.resolv_conf(f"nameserver {ADDR}\noptions timeout:1 attempts:1\n")
    return ns


def test_name_that_does_not_exist(dns):
    rc, att, _, _ = jrun(dns, "nothing-here.invalid:80")
    assert rc == EXIT["dns-noname"]
    assert att[0]["class"] == "dns-noname" and att[0]["failed_phase"] == "dns"


def test_resolver_without_answer(dns):
    rc, att, _, _ = jrun(dns, "servfail.test:80")
    assert rc == EXIT["dns-noanswer"] and att[0]["class"] == "dns-noanswer"


def test_name_resolves(dns):
    dns.server("http", ADDR, PORT_OPEN)
    rc, att, _, _ = jrun(dns, "-4", f"v4.test:{PORT_OPEN}")
    assert rc == 0 and att[0]["address"] == ADDR
    assert [x["address"] for x in att[0]["addresses"]] == [ADDR]


# ---- Happy Eyeballs (RFC 8305) ----

def test_happy_eyeballs_falls_back_to_the_working_family(dns):
    # Both families resolve; one is silently dropped, the other listens. The winner
    # must be the listening one, well before the dropped one's timeout.
    fell_back = 0
    for dead, live, fam in ((ADDR, ADDR6, "ipv6"), (ADDR6, ADDR, "ipv4")):
        nft_fam = "ip6" if ":" in dead else "ip"
        subprocess.run(dns.cmd(["nft", "flush", "ruleset"]), check=True)
        drop(dns, f"{nft_fam} daddr {dead} tcp dport {PORT_OPEN}")
        srv = dns.server("http", live, PORT_OPEN)
        rc, att, _, elapsed = jrun(dns, "--timeout", "3", f"dual.test:{PORT_OPEN}")
        srv.terminate()
        srv.wait()
        a = att[0]
        assert rc == 0 and a["family"] == fam and a["address"] == live
        assert {x["family"] for x in a["addresses"]} == {"ipv4", "ipv6"}
        assert elapsed < 2
        loser = [x for x in a["addresses"] if x["address"] == dead][0]
        winner = [x for x in a["addresses"] if x["address"] == live][0]
        if loser["started"]:
            # Tried first and silent: RFC 8305 section 5 starts the next address after
            # the Connection Attempt Delay (250 ms), without waiting for the timeout.
            assert loser["start_ms"] < winner["start_ms"] and loser["class"] == "cancelled"
            assert 240 <= winner["start_ms"] - loser["start_ms"] < 400
            fell_back += 1
    assert fell_back == 1  # whichever family getaddrinfo put first was dead once


def test_family_flags(dns):
    drop(dns, f"ip6 daddr {ADDR6} tcp dport {PORT_OPEN}")
    dns.server("http", ADDR, PORT_OPEN)
    rc, att, _, _ = jrun(dns, "-6", "--timeout", "0.3", f"dual.test:{PORT_OPEN}")
    assert rc == EXIT["timeout"]
    assert [x["family"] for x in att[0]["addresses"]] == ["ipv6"]
    rc, att, _, _ = jrun(dns, "-4", f"dual.test:{PORT_OPEN}")
    assert rc == 0 and [x["family"] for x in att[0]["addresses"]] == ["ipv4"]


# ---- TLS ----

@pytest.fixture
def tls_cert(ns):
    key, cert = ns.tmp / "key.pem", ns.tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "30", "-subj", "/CN=probe.test",
                    "-addext", f"subjectAltName=DNS:probe.test,IP:{ADDR}"],
                   check=True, capture_output=True)
    return key, cert


def s_server(ns, key, cert, *extra):
    p = ns.spawn(["openssl", "s_server", "-accept", f"{ADDR}:{PORT_TLS}", "-key", str(key),
                  "-cert", str(cert), "-www", "-quiet", *extra],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # wait until it listens
        out = subprocess.run(ns.cmd(["ss", "-Hltn", f"sport = :{PORT_TLS}"]),
                             capture_output=True, text=True).stdout
        if out.strip():
            return p
        time.sleep(0.05)
    raise AssertionError("openssl s_server did not start")


def test_tls_verification(ns, tls_cert):
    key, cert = tls_cert
    s_server(ns, key, cert, "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
             "-alpn", "h2,http/1.1")
    target = f"{ADDR}:{PORT_TLS}"
    rc, att, _, _ = jrun(ns, "--tls", target)
    assert rc == EXIT["tls-cert"] and att[0]["class"] == "tls-cert"
    t = att[0]["tls"]
    assert not t["verified"] and "self-signed" in t["verify"]
    assert t["subject"] == "CN=probe.test" and t["issuer"] == "CN=probe.test"
    assert 29 <= t["days_left"] <= 30

    rc, att, _, _ = jrun(ns, "--tls", "--cacert", str(cert), "--alpn", "h2,http/1.1", target)
    assert rc == 0
    t = att[0]["tls"]
    assert t["verified"] and t["version"] == "TLSv1.3"
    assert t["cipher"] == "TLS_CHACHA20_POLY1305_SHA256" and t["alpn"] == "h2"
    assert att[0]["phases_ms"]["tls"] > 0

    rc, att, _, _ = jrun(ns, "--tls", "--insecure", target)
    assert rc == 0 and not att[0]["tls"]["verified"]

    rc, att, _, _ = jrun(ns, "--tls", "--cacert", str(cert), "--sni", "other.test", target)
    assert rc == EXIT["tls-name"] and att[0]["class"] == "tls-name"


def test_tls12_protocol_and_cipher(ns, tls_cert):
    key, cert = tls_cert
    s_server(ns, key, cert, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    rc, att, _, _ = jrun(ns, "--tls", "--cacert", str(cert), "--http", "/", f"{ADDR}:{PORT_TLS}")
    assert rc == 0
    t = att[0]["tls"]
    assert t["version"] == "TLSv1.2" and t["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert att[0]["http_status"] == 200


def test_tls_failures(ns):
    ns.server("banner", ADDR, PORT_OPEN)  # not TLS at all
    ns.server("close", ADDR, PORT_TLS)   # resets during the handshake
    rc, att, _, _ = jrun(ns, "--tls", f"{ADDR}:{PORT_OPEN}")
    assert rc == EXIT["tls-protocol"] and att[0]["failed_phase"] == "tls"
    rc, att, _, _ = jrun(ns, "--tls", f"{ADDR}:{PORT_TLS}")
    assert rc == EXIT["tls-reset"] and att[0]["class"] == "tls-reset"


# ---- WebSocket ----

def test_websocket(ns):
    ns.server("ws", ADDR, PORT_OPEN)
    ns.server("ws-bad", ADDR, PORT_CLOSED)
    ns.server("ws-no", ADDR, PORT_DROP)
    rc, att, _, _ = jrun(ns, "--ws", "/chat", f"{ADDR}:{PORT_OPEN}")
    assert rc == 0 and att[0]["http_status"] == 101 and att[0]["phases_ms"]["ws"] > 0
    rc, att, _, _ = jrun(ns, "--ws", "/chat", f"{ADDR}:{PORT_CLOSED}")
    assert rc == EXIT["ws-error"] and "Sec-WebSocket-Accept" in att[0]["detail"]
    rc, att, _, _ = jrun(ns, "--ws", "/chat", f"{ADDR}:{PORT_DROP}")
    assert rc == EXIT["ws-error"] and "400" in att[0]["detail"]


# ---- the handshake time against the wire ----

def capture(ns, path, port):
    p = ns.spawn(["tcpdump", "-i", "lo", "-n", "--immediate-mode", "-U", "-w", str(path),
                  f"tcp port {port}"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # tcpdump says so once it captures
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r and b"listening on" in p.stderr.readline():
            return p
    raise AssertionError("tcpdump did not start")


def syn_times(path, local_port):
    """Times of the client's SYNs and the server's SYN-ACK for that connection."""
    out = subprocess.run(["tcpdump", "-r", str(path), "-n", "-tt"], capture_output=True,
                         text=True, check=True).stdout
    syns, synacks = [], []
    for line in out.splitlines():
        m = re.match(r"(\d+\.\d+) IP \S+\.(\d+) > \S+\.(\d+): Flags \[(\S+)\]", line)
        if not m:
            continue
        t, sport, dport, flags = float(m[1]), int(m[2]), int(m[3]), m[4]
        if flags == "S" and sport == local_port:
            syns.append(t)
        elif flags == "S." and dport == local_port:
            synacks.append(t)
    return syns, synacks


def test_handshake_time_matches_capture(ns):
    # The first SYN is dropped, so the handshake takes one initial RTO: a gap
    # large enough that agreeing with the capture means something.
    ns.server("http", ADDR, PORT_OPEN)
    ns.nft("table inet probe_test {\n  chain input {\n"
           "    type filter hook input priority 0; policy accept;\n"
           f"    tcp dport {PORT_OPEN} tcp flags & (syn | ack) == syn numgen inc mod 2 == 0 drop\n"
           "  }\n}\n")
    pcap = ns.tmp / "hs.pcap"
    dump = capture(ns, pcap, PORT_OPEN)
    rc, att, _, _ = jrun(ns, "--timeout", "3", f"{ADDR}:{PORT_OPEN}")
    time.sleep(0.2)
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=5)
    assert rc == 0
    local_port = int(att[0]["local"].rsplit(":", 1)[1])
    syns, synacks = syn_times(pcap, local_port)
    assert len(syns) == 2 and len(synacks) == 1, (syns, synacks)
    wire_ms = (synacks[0] - syns[0]) * 1000
    measured = att[0]["phases_ms"]["tcp"]
    assert wire_ms > LINUX_INITIAL_RTO_S * 1000 * 0.9
    assert abs(measured - wire_ms) < 5, (measured, wire_ms)


# ---- modes ----

def test_parallel_targets_take_the_time_of_the_slowest(ns):
    drop(ns, f"tcp dport {{ {PORT_DROP}, {PORT_DROP2} }}")
    ns.server("http", ADDR, PORT_OPEN)
    targets = [f"{ADDR}:{PORT_DROP}", f"{ADDR}:{PORT_DROP2}", f"{ADDR}:{PORT_OPEN}",
               f"{ADDR}:{PORT_CLOSED}"]
    rc, att, summ, elapsed = jrun(ns, "--timeout", "1", *targets)
    assert [a["target"] for a in att] == targets  # input order, not finishing order
    assert [a["class"] for a in att] == ["timeout", "timeout", "ok", "refused"]
    assert [s["target"] for s in summ] == targets
    assert 1.0 <= elapsed < 1.6  # one timeout, not two
    assert rc == EXIT["timeout"]  # the first failing target's class


def test_count_and_summary(ns):
    ns.server("http", ADDR, PORT_OPEN)
    rc, att, summ, elapsed = jrun(ns, "-c", "5", "-i", "0.1", f"{ADDR}:{PORT_OPEN}")
    assert rc == 0 and [a["seq"] for a in att] == [1, 2, 3, 4, 5]
    assert 0.4 <= elapsed < 1.5
    s = summ[0]
    assert (s["sent"], s["succeeded"], s["failed"], s["loss_pct"]) == (5, 5, 0, 0.0)
    tcp = s["phases_ms"]["tcp"]
    times = sorted(a["phases_ms"]["tcp"] for a in att)
    assert tcp["n"] == 5 and tcp["min"] == times[0] and tcp["max"] == times[-1]
    assert tcp["p50"] == times[2] and tcp["p90"] == times[4]
    assert abs(tcp["avg"] - sum(times) / 5) < 0.002
    assert tcp["min"] <= tcp["p50"] <= tcp["p90"] <= tcp["p99"] <= tcp["max"]


def test_text_summary_and_csv(ns):
    ns.server("http", ADDR, PORT_OPEN)
    p = run(ns, "-c", "3", "-i", "0.05", f"{ADDR}:{PORT_OPEN}", f"{ADDR}:{PORT_CLOSED}")
    assert p.returncode == EXIT["refused"]
    assert f"--- {ADDR}:{PORT_OPEN} probe statistics ---" in p.stdout
    assert "3 sent, 3 succeeded, 0 failed, 0.0% loss" in p.stdout
    assert "3 sent, 0 succeeded, 3 failed, 100.0% loss" in p.stdout
    assert re.search(r"^\s+tcp(\s+\d+\.\d+){7}$", p.stdout, re.M)
    p = run(ns, "--csv", "-c", "2", "-i", "0.05", f"{ADDR}:{PORT_OPEN}")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert len(rows) == 2 and rows[0]["class"] == "ok" and float(rows[1]["tcp_ms"]) > 0


def retry_delays(ns, retries, base, cap):
    """Retries a refusal (immediate, so the gaps between tries are the delays alone)."""
    rc, att, _, _ = jrun(ns, "--retry", str(retries), "--retry-refused", "--backoff", str(base),
                         "--backoff-max", str(cap), f"{ADDR}:{PORT_CLOSED}")
    assert rc == EXIT["refused"]
    tries = att[0]["tries"]
    assert len(tries) == retries + 1 and all(t["class"] == "refused" for t in tries)
    # Each gap is its delay plus a refusal's few microseconds; a loaded
    # machine (CI runs the ASan suite two tests at a time) once stretched one
    # gap by 40 ms, so one gap in the run may be late, by less than 250 ms:
    # a wait the tool added itself would make every gap late.
    late = []
    for k in range(1, len(tries)):
        gap = tries[k]["start_ms"] - tries[k - 1]["start_ms"]
        assert tries[k]["delay_ms"] <= gap < tries[k]["delay_ms"] + 250, (k, gap)
        if gap >= tries[k]["delay_ms"] + 30:
            late.append((k, gap, tries[k]["delay_ms"]))
    assert len(late) <= 1, late
    return [t["delay_ms"] for t in tries[1:]]


def test_retry_follows_the_backoff(ns):
    # Doubling: retry k waits between half and all of base * 2^k.
    delays = retry_delays(ns, 5, 0.02, 1)
    nominal = [20 * 2 ** k for k in range(5)]
    for d, n in zip(delays, nominal):
        assert n / 2 - 1 <= d <= n + 1, (delays, nominal)
    assert any(d < n - 1 for d, n in zip(delays, nominal))  # jitter, not a fixed delay
    # The cap.
    for d in retry_delays(ns, 3, 0.2, 0.2):
        assert 99 <= d <= 201
    # A refusal is final without --retry-refused.
    rc, att, _, _ = jrun(ns, "--retry", "4", "--backoff", "0.1", f"{ADDR}:{PORT_CLOSED}")
    assert rc == EXIT["refused"] and len(att[0]["tries"]) == 1


def test_retry_after_timeouts(ns):
    drop(ns, f"tcp dport {PORT_DROP}")
    rc, att, _, elapsed = jrun(ns, "--timeout", "0.2", "--retry", "2", "--backoff", "0.1",
                               f"{ADDR}:{PORT_DROP}")
    tries = att[0]["tries"]
    assert rc == EXIT["timeout"] and len(tries) == 3
    for k in (1, 2):
        assert 200 + tries[k]["delay_ms"] <= tries[k]["start_ms"] - tries[k - 1]["start_ms"]
    assert 0.6 + 0.05 + 0.1 <= elapsed < 1.5


def test_watch_reports_state_changes(ns):
    srv = ns.server("http", ADDR, PORT_OPEN)
    p = ns.spawn([SYNACK, "probe", "--watch", "--json", "-i", "0.1", "--timeout", "0.5",
                  f"{ADDR}:{PORT_OPEN}"], stdout=subprocess.PIPE, text=True)
    first = json.loads(p.stdout.readline())
    assert first["type"] == "state" and first["state"] == "up" and "previous" not in first
    srv.terminate()
    srv.wait()
    second = json.loads(p.stdout.readline())
    assert second["state"] == "down" and second["class"] == "refused"
    assert second["previous"] == "up" and second["previous_s"] > 0
    time.sleep(0.3)  # a few more refusals: no new lines, the state is the same
    p.send_signal(signal.SIGINT)
    rest = p.stdout.read()
    p.wait(timeout=5)
    objs = [json.loads(line) for line in rest.splitlines()]
    assert [o["type"] for o in objs] == ["summary"]
    assert objs[0]["sent"] >= 3 and objs[0]["failed"] >= 2
    assert p.returncode == EXIT["refused"]  # the state it ended in


def test_phase_bar_in_a_terminal(ns):
    ns.server("http", ADDR, PORT_OPEN)
    master, slave = pty.openpty()
    p = ns.spawn([SYNACK, "probe", "--http", "/", f"{ADDR}:{PORT_OPEN}"], stdout=slave,
                 stderr=subprocess.DEVNULL)
    os.close(slave)
    p.wait(timeout=10)
    out = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    text = out.decode()
    assert p.returncode == 0
    assert "\033[42" in text  # the tcp segment, coloured
    assert re.search(r"\] d=dns t=tcp h=http", text)


# ---- --raw: our own SYN on a raw socket, the SYN-ACK as it came ----

# The MSS Linux advertises on lo (MTU 65536): IPv4 caps the path MTU at 65535
# (IPV4_MAX_PMTU) before taking off 40 bytes of headers; IPv6 takes 60 off the MTU.
LO_MSS_V4 = 65535 - 40
LO_MSS_V6 = 65536 - 60
PORT_REJECT = 8084
RTT_AGREE_MS = 0.05  # kernel stamps on both sides: a few microseconds apart in practice


def wire_lines(path):
    """(time, line) for each packet of a capture, as `tcpdump -n -S` prints it."""
    out = subprocess.run(["tcpdump", "-r", str(path), "-n", "-S", "-tt"], capture_output=True,
                         text=True, check=True).stdout
    lines = []
    for line in out.splitlines():
        m = re.match(r"(\d+\.\d+) (.*)$", line)
        if m:
            lines.append((float(m[1]), m[2]))
    return lines


def raw_capture(ns, port, *args, timeout=30):
    """Runs `--raw --json` while tcpdump captures; returns (rc, attempt, our packets)."""
    pcap = ns.tmp / f"raw-{port}.pcap"
    dump = capture(ns, pcap, port)
    rc, att, _, _ = jrun(ns, "--raw", *args, timeout=timeout)
    time.sleep(0.2)
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=5)
    local_port = int(att[0]["raw"]["local"].rsplit(":", 1)[1])
    ours = [(t, line) for t, line in wire_lines(pcap)
            if re.search(rf"\.{local_port}[ :]", line)]
    return rc, att[0], ours


def flags_of(line):
    return re.search(r"Flags \[(\S+)\]", line)[1]


def sent_by(line, port):
    return re.match(rf"IP6? \S+\.{port} >", line) is not None


def test_raw_reports_the_syn_ack_as_sent(ns):
    ns.server("http", ADDR, PORT_OPEN)
    rc, a, ours = raw_capture(ns, PORT_OPEN, f"{ADDR}:{PORT_OPEN}")
    assert rc == 0 and a["class"] == "ok"
    r = a["raw"]
    local_port = int(r["local"].rsplit(":", 1)[1])
    assert r["reply"] == "syn-ack" and r["syns_sent"] == 1 and r["matched_by"] == "only"
    syn = [(t, x) for t, x in ours if sent_by(x, local_port) and flags_of(x) == "S"]
    synack = [(t, x) for t, x in ours if flags_of(x) == "S."]
    assert len(syn) == 1 and len(synack) == 1, ours
    # Byte for byte what tcpdump saw, and each field as the kernel sent it.
    assert r["packet"] == synack[0][1]
    wire = synack[0][1]
    assert r["flags"] == "S." and f"win {r['window']}," in wire
    assert r["mss"] == LO_MSS_V4 and f"mss {r['mss']}," in wire
    assert r["wscale"] is not None and f"wscale {r['wscale']}]" in wire
    assert r["sack_permitted"] and "sackOK" in wire
    syn_ts = int(re.search(r"TS val (\d+)", syn[0][1])[1])
    assert r["timestamps"]["ecr"] == syn_ts  # the server echoes our SYN's TSval
    assert f"TS val {r['timestamps']['val']} ecr {syn_ts}" in wire
    assert r["ttl"] == 64 and r["df"]  # Linux's ip_default_ttl, and PMTU discovery
    assert r["fastopen_cookie"] is None  # no Fast Open on this listener
    # The SYN asks for a cookie; the SYN-ACK is never ACKed: our RST and the kernel's.
    assert "tfo  cookiereq" in syn[0][1]
    from_us = [flags_of(x) for _, x in ours if sent_by(x, local_port)]
    assert sorted(from_us) == sorted(["S", "R", "R."]), from_us
    assert r["rst_sent"]
    # RTT: the kernel's stamps of our SYN leaving and the SYN-ACK arriving, against
    # the capture's (tcpdump stamps the same moments on lo): microseconds apart.
    wire_ms = (synack[0][0] - syn[0][0]) * 1000
    assert abs(r["rtt_ms"] - wire_ms) < RTT_AGREE_MS, (r["rtt_ms"], wire_ms)
    assert abs(r["rtt_us"] - r["rtt_ms"] * 1000) <= 1
    assert a["phases_ms"]["tcp"] == r["rtt_ms"]


def test_raw_rtt_after_a_lost_syn_matches_the_capture(ns):
    # The first SYN is dropped: the engine resends it after its initial RTO. The
    # tcp phase runs from the first SYN; the RTT from the SYN the reply echoes.
    ns.server("http", ADDR, PORT_OPEN)
    ns.nft("table inet probe_test {\n  chain input {\n"
           "    type filter hook input priority 0; policy accept;\n"
           f"    tcp dport {PORT_OPEN} tcp flags & (syn | ack) == syn numgen inc mod 2 == 0 drop\n"
           "  }\n}\n")
    rc, a, ours = raw_capture(ns, PORT_OPEN, "--timeout", "3", f"{ADDR}:{PORT_OPEN}")
    assert rc == 0
    r = a["raw"]
    local_port = int(r["local"].rsplit(":", 1)[1])
    syns = [t for t, x in ours if sent_by(x, local_port) and flags_of(x) == "S"]
    synack = [t for t, x in ours if flags_of(x) == "S."]
    assert len(syns) == 2 and len(synack) == 1, ours
    assert r["syns_sent"] == 2 and r["answers_syn"] == 2 and r["matched_by"] == "ts-echo"
    first_ms, last_ms = (synack[0] - syns[0]) * 1000, (synack[0] - syns[1]) * 1000
    assert first_ms > LINUX_INITIAL_RTO_S * 1000 * 0.9
    assert abs(a["phases_ms"]["tcp"] - first_ms) < RTT_AGREE_MS, (a["phases_ms"]["tcp"], first_ms)
    assert abs(r["rtt_ms"] - last_ms) < RTT_AGREE_MS, (r["rtt_ms"], last_ms)


def test_raw_closed_port_shows_the_rst(ns):
    rc, a, ours = raw_capture(ns, PORT_CLOSED, f"{ADDR}:{PORT_CLOSED}")
    assert rc == EXIT["refused"] and a["class"] == "refused" and a["failed_phase"] == "tcp"
    r = a["raw"]
    assert r["reply"] == "rst" and r["flags"] == "R." and r["window"] == 0
    assert r["packet"] == [x for _, x in ours if flags_of(x) == "R."][0]
    assert not r["rst_sent"] and r["syns_sent"] == 1
    assert a["phases_ms"]["tcp"] < 100


def test_raw_dropped_port_is_filtered(ns):
    # Silence: the engine retransmits its SYN on its own schedule (1 s, then
    # 2 s more) until --timeout; 1.5 s leaves room for exactly one resend.
    drop(ns, f"tcp dport {PORT_DROP}")
    rc, a, ours = raw_capture(ns, PORT_DROP, "--timeout", "1.5", f"{ADDR}:{PORT_DROP}")
    assert rc == EXIT["timeout"] and a["class"] == "timeout"
    r = a["raw"]
    assert r["reply"] is None and r["syns_sent"] == 2 and not r["rst_sent"]
    assert [flags_of(x) for _, x in ours] == ["S", "S"]
    assert 1500 <= a["phases_ms"]["tcp"] < 1700


def test_raw_icmp_unreachable(ns):
    ns.nft("table inet probe_test {\n  chain input {\n"
           "    type filter hook input priority 0; policy accept;\n"
           f"    ip daddr {ADDR} tcp dport {PORT_REJECT} reject with icmp type host-unreachable\n"
           f"    ip6 daddr {ADDR6} tcp dport {PORT_REJECT} "
           "reject with icmpv6 type addr-unreachable\n"
           "  }\n}\n")
    rc, att, _, _ = jrun(ns, "--raw", f"{ADDR}:{PORT_REJECT}", f"[{ADDR6}]:{PORT_REJECT}")
    assert rc == EXIT["host-unreachable"]
    for a, icmp_type, code in ((att[0], 3, 1), (att[1], 1, 3)):  # RFC 792, RFC 4443 3.1
        r = a["raw"]
        assert a["class"] == "host-unreachable" and r["reply"] == "icmp"
        assert (r["icmp"]["type"], r["icmp"]["code"]) == (icmp_type, code)
        assert r["icmp"]["from"] in (ADDR, ADDR6) and "ICMP" in r["packet"]
    # A local route says so at once: no SYN leaves.
    ns.ip("route", "add", "unreachable", UNREACHABLE_NET)
    rc, att, _, _ = jrun(ns, "--raw", "198.18.99.7:80", f"{NO_ROUTE}:80")
    assert [a["class"] for a in att] == ["host-unreachable", "net-unreachable"]
    assert all("raw" not in a for a in att)


def test_raw_ipv6(ns):
    ns.server("http", ADDR6, PORT_OPEN)
    rc, a, ours = raw_capture(ns, PORT_OPEN, f"[{ADDR6}]:{PORT_OPEN}")
    assert rc == 0 and a["family"] == "ipv6"
    r = a["raw"]
    assert r["reply"] == "syn-ack" and r["mss"] == LO_MSS_V6 and r["ttl"] == 64
    assert r["packet"].startswith("IP6 ") and r["packet"] == [
        x for _, x in ours if flags_of(x) == "S."][0]
    assert r["rst_sent"]


def test_raw_fast_open_cookie(ns):
    subprocess.run(ns.cmd(["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"]), check=True)
    ns.server("tfo", ADDR, PORT_OPEN)
    rc, a, ours = raw_capture(ns, PORT_OPEN, f"{ADDR}:{PORT_OPEN}")
    assert rc == 0
    cookie = a["raw"]["fastopen_cookie"]
    assert cookie and re.fullmatch(r"([0-9a-f]{2}){4,16}", cookie)
    synack = [x for _, x in ours if flags_of(x) == "S."][0]
    assert f"tfo  cookie {cookie}" in synack and a["raw"]["packet"] == synack


def test_raw_text_csv_count_and_targets(ns):
    ns.server("http", ADDR, PORT_OPEN)
    p = run(ns, "--raw", "-c", "3", "-i", "0.05", "--no-color", f"{ADDR}:{PORT_OPEN}",
            f"{ADDR}:{PORT_CLOSED}")
    assert p.returncode == EXIT["refused"]
    assert len(re.findall(rf"^{ADDR}:{PORT_OPEN} seq=\d ok .* syn-ack rtt \d+\.\d+ ms ttl 64",
                          p.stdout, re.M)) == 3
    assert len(re.findall(rf"^{ADDR}:{PORT_CLOSED} seq=\d refused .* rst rtt", p.stdout,
                          re.M)) == 3
    assert re.search(r"1 SYN sent, SYN-ACK after \d+\.\d{3} ms; RST sent", p.stdout)
    assert re.search(r"ttl 64  win \d+  mss 65495  wscale \d+  sackOK  TS val \d+ ecr \d+",
                     p.stdout)
    assert "3 sent, 3 succeeded, 0 failed, 0.0% loss" in p.stdout
    p = run(ns, "--raw", "--csv", f"{ADDR}:{PORT_OPEN}", f"{ADDR}:{PORT_CLOSED}")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [(x["class"], x["reply"]) for x in rows] == [("ok", "syn-ack"), ("refused", "rst")]
    assert rows[0]["mss"] == str(LO_MSS_V4) and rows[0]["sack"] == "1"
    assert float(rows[0]["rtt_ms"]) > 0 and rows[1]["window"] == "0"


def test_raw_interrupt_while_waiting(ns):
    drop(ns, f"tcp dport {PORT_DROP}")
    p = ns.spawn([SYNACK, "probe", "--raw", "--timeout", "5", f"{ADDR}:{PORT_DROP}"],
                 stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=5)
    assert time.monotonic() - t0 < 0.5  # the raw wait polls the stop pipe too
    assert p.returncode == EXIT["interrupted"]


def test_raw_without_privilege(ns):
    p = subprocess.run(ns.cmd(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               SYNACK, "probe", "--raw", f"{ADDR}:{PORT_OPEN}"]),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == EXIT["permission"]
    assert p.stdout == "" and len(p.stderr.splitlines()) == 1 and "CAP_NET_RAW" in p.stderr


def test_raw_refuses_later_phases(ns):
    for extra in (["--tls"], ["--http", "/"], ["--ws", "/"]):
        p = run(ns, "--raw", *extra, f"{ADDR}:{PORT_OPEN}")
        assert p.returncode == EXIT["usage"] and "--raw" in p.stderr and p.stdout == ""


# ---- the command line ----

def test_usage_errors(ns):
    for args in (["--count", "0", ADDR], ["--retry", "x", ADDR], [], ["--ws", "/a", "--http",
                 "/b", ADDR], ["--cacert", "x", ADDR], [f"{ADDR}:99999"], ["--bogus", ADDR]):
        p = run(ns, *args)
        assert p.returncode == EXIT["usage"], args
        assert p.stdout == "" and p.stderr


def test_help_lists_exit_statuses(ns):
    p = run(ns, "--help")
    assert p.returncode == 0
    for name, code in EXIT.items():
        assert re.search(rf"^\s+{code}\s+{re.escape(name)}\s", p.stdout, re.M), name


def test_interrupt_before_any_result(ns):
    drop(ns, f"tcp dport {PORT_DROP}")
    p = ns.spawn([SYNACK, "probe", "--timeout", "5", f"{ADDR}:{PORT_DROP}"],
                 stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=5)
    assert time.monotonic() - t0 < 0.5  # every wait polls the stop pipe
    assert p.returncode == 130


def test_man_page_lists_the_exit_statuses():
    page = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                             "synack-probe.1")).read()
    listed = dict(re.findall(r"^\.B (\d+)\n(\S+?):", page.replace("\\-", "-"), re.M))
    assert {int(k): v for k, v in listed.items()} == {v: k for k, v in EXIT.items() if v}
