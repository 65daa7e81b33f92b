#!/bin/sh
# Read by runner/sysctl-syn-retries.pkt through a backtick line.
sysctl -q net.ipv4.tcp_window_scaling=0
