#!/usr/bin/env bash
# demo.sh — builds synack and runs `synack demo` (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -d build ] || meson setup build --buildtype=release -Dtests=disabled >/dev/null
ninja -C build tools/synack >/dev/null
exec build/tools/synack demo "$@"
