#!/usr/bin/env bash
# deps.sh — installs the Debian packages synack needs that are missing.
#   deps.sh build   what building and `synack demo` need
#   deps.sh test    also what the test suite needs
set -euo pipefail

build_pkgs=(gcc meson ninja-build pkg-config libsodium-dev libpcap-dev libssl-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-dev tcpdump tshark python3 python3-pytest openssl curl
           python3-scapy iproute2 nftables libxml2-utils)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "synack: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
	exit 2
fi
echo "synack: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture: answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
