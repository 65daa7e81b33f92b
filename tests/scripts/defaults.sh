#!/bin/bash
# Kernel TCP settings assumed by every script of synack's behaviour suite.
# Each script runs it with a backtick line: `../defaults.sh`
# Values are Linux's own defaults unless a comment says otherwise, so that a
# script written against a stock 6.x kernel under packetdrill passes unmodified.

# Forget cached per-destination metrics (RTT, cwnd): they would change the RTO.
ip tcp_metrics flush all > /dev/null 2>&1

# Options offered in our SYN / accepted from the peer's SYN.
sysctl -q net.ipv4.tcp_timestamps=1
sysctl -q net.ipv4.tcp_sack=1
sysctl -q net.ipv4.tcp_dsack=1
sysctl -q net.ipv4.tcp_window_scaling=1
sysctl -q net.ipv4.tcp_ecn=0

# Buffers. rmem max 15 MB gives window scale 8 (15728640 >> 8 <= 65535).
sysctl -q net.ipv4.tcp_rmem="4096 131072 15728640"
sysctl -q net.ipv4.tcp_wmem="4096 16384 4194304"

# Handshake retries: the kernel's defaults (SYN 6, SYN-ACK 5).
sysctl -q net.ipv4.tcp_syn_retries=6
sysctl -q net.ipv4.tcp_synack_retries=5
# Linux >= 6.5 retransmits the first SYNs at a linear 1 s interval
# (tcp_syn_linear_timeouts, default 4). The suite expects the classic
# RFC 6298 doubling, so turn it off; older kernels lack the knob.
sysctl -q net.ipv4.tcp_syn_linear_timeouts=0 > /dev/null 2>&1

# SYN cookies only when the SYN queue overflows; no Fast Open.
sysctl -q net.ipv4.tcp_syncookies=1
sysctl -q net.ipv4.tcp_fastopen=0

# RFC 1337 TIME-WAIT assassination protection off (kernel default).
sysctl -q net.ipv4.tcp_rfc1337=0
# One challenge/dup ACK per 500 ms per socket for out-of-window segments.
sysctl -q net.ipv4.tcp_invalid_ratelimit=500
sysctl -q net.ipv4.tcp_fin_timeout=60

# Loss recovery: kernel defaults (RACK + TLP, F-RTO), CUBIC.
sysctl -q net.ipv4.tcp_early_retrans=3
sysctl -q net.ipv4.tcp_recovery=1
sysctl -q net.ipv4.tcp_frto=2
sysctl -q net.ipv4.tcp_congestion_control=cubic
sysctl -q net.ipv4.tcp_slow_start_after_idle=0

# A plain FIFO on packetdrill's tun device: no pacing by the qdisc.
tc qdisc add dev tun0 root pfifo > /dev/null 2>&1
exit 0
