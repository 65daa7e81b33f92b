#!/usr/bin/env bash
# test.sh — builds synack and runs every test: the suite as built normally,
# the suite again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# each libFuzzer target briefly. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
passed=0
failed=0
log_dir=$(mktemp -d /tmp/synack-test.XXXXXX)

# Adds the Ok/Fail counts of one `meson test` run to the totals.
count_meson() {
	local summary=$1 ok fail
	ok=$(awk '/^(Ok|Expected Fail):/ {s += $NF; seen = 1} END {if (seen) print s}' "$summary")
	fail=$(awk '/^(Fail|Unexpected Pass|Timeout):/ {s += $NF} END {print s + 0}' "$summary")
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0}))
	[ -n "$ok" ] || failed=$((failed + 1)) # the run itself broke
}

run_suite() {
	local name=$1 dir=$2
	shift 2
	echo "== $name: building in $dir"
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >"$log_dir/$name-setup.log" 2>&1 || {
			cat "$log_dir/$name-setup.log"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$log_dir/$name-build.log" 2>&1; then
		tail -40 "$log_dir/$name-build.log"
		failed=$((failed + 1))
		return
	fi
	echo "== $name: testing"
	meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$log_dir/$name-test.log" |
		grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS) ' || true
	sed -n '/^Ok:/,/^Timeout:/p' "$log_dir/$name-test.log" | tee "$log_dir/$name-summary.log"
	# a failure explains itself in CI's output: the tail of meson's error logs
	grep -qE '^(Fail|Timeout|Unexpected Pass): +[1-9]' "$log_dir/$name-summary.log" &&
		grep -vE '^ *[0-9]+/[0-9]+ ' "$log_dir/$name-test.log" | tail -150
	count_meson "$log_dir/$name-summary.log"
}

run_fuzzers() {
	local dir=build-fuzz
	echo "== fuzz: building in $dir"
	if [ ! -d "$dir" ]; then
		CC=clang meson setup "$dir" -Dfuzz=true -Dtests=disabled --buildtype=debugoptimized \
			>"$log_dir/fuzz-setup.log" 2>&1 || { cat "$log_dir/fuzz-setup.log"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$log_dir/fuzz-build.log" 2>&1; then
		tail -40 "$log_dir/fuzz-build.log"
		failed=$((failed + 1))
		return
	fi
	for target in "$dir"/tests/fuzz/fuzz_*; do
		[ -f "$target" ] && [ -x "$target" ] || continue
		local name corpus work
		name=$(basename "$target")
		corpus=tests/fuzz/corpus/${name#fuzz_}
		work=$(mktemp -d)
		[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
		if "$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$work" \
			>"$log_dir/$name.log" 2>&1; then
			echo "fuzz $name: ${FUZZ_SECONDS}s, no crash"
			passed=$((passed + 1))
		else
			echo "fuzz $name: FAILED"; tail -30 "$log_dir/$name.log"
			failed=$((failed + 1))
		fi
		rm -rf "$work"
	done
}

run_suite plain build-test --buildtype=debugoptimized
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 SYNACK_SANITIZED=1 \
	run_suite sanitizers build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
run_fuzzers

echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
