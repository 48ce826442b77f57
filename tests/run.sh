#!/usr/bin/env bash
# Runs every test suite and prints one summary line.
# Unit tests: the cmocka binaries in BUILD/unit, in TAP mode.
# Integration tests: tests/integration/test_*.sh, which print TAP too.
# A suite that dies before its plan is complete counts the missing tests
# as failed, so a crash (an ASan report, a hang ended by timeout) is seen.
# A suite that plans nothing and says "1..0 # SKIP reason" is shown
# skipped, with its reason.
# Usage: tests/run.sh BUILD_DIR [SUITE_NAME_FILTER]
set -uo pipefail

build=${1:-build}
filter=${2:-${TESTS:-}}
here=$(cd "$(dirname "$0")" && pwd)
logdir="$build/test-logs"
mkdir -p "$logdir"
export LASTCALL="$(cd "$build" && pwd)/lastcall"
export PROBES="$(cd "$build" && pwd)/probe"

passed=0
failed=0
failures=()
failed_checks=()

# LASTCALL_SANITIZED=1 (make test-san): the binary is an ASan+UBSan
# build. A report of either ends it with a non-zero code (UBSan: no
# recovery), and LeakSanitizer's at its exit too: the suites see it as a
# wrong exit code. Suites that do not run the binary under test are
# skipped, with the reason.
if [ -n "${LASTCALL_SANITIZED:-}" ]; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=86}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
san_skip() {
	[ -n "${LASTCALL_SANITIZED:-}" ] || return 1
	case "$1" in
	test_container | test_seccomp) echo "the image ships the static binary, not this build" ;;
	test_arm64) echo "the arm64 static binary under qemu-user, not this build" ;;
	test_format | test_docs | test_deploy) echo "does not depend on the build (make test runs it)" ;;
	test_fuzz) echo "the libFuzzer targets are sanitized builds of their own (make test runs them)" ;;
	*) return 1 ;;
	esac
}

# run_suite NAME TIMEOUT CMD...: runs one suite, counts its TAP lines.
run_suite() {
	local name=$1 limit=$2
	shift 2
	if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then
		return
	fi
	local log="$logdir/${name//\//-}.log" start end
	start=$(date +%s%N)
	CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 5 "$limit" "$@" >"$log" 2>&1
	local rc=$?
	end=$(date +%s%N)
	local ok nok plan
	ok=$(grep -cE '^ok ' "$log")
	nok=$(grep -cE '^not ok ' "$log")
	plan=$(grep -oE '^1\.\.[0-9]+' "$log" | tail -n1 | cut -d. -f3)
	local missing=0
	if [ -z "$plan" ]; then
		missing=1	# never reached its plan line: it broke
	elif [ $((ok + nok)) -lt "$plan" ]; then
		missing=$((plan - ok - nok))
	fi
	# A non-zero exit with nothing reported failing is a failure too.
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ] && [ "$missing" -eq 0 ]; then
		missing=1
	fi
	passed=$((passed + ok))
	failed=$((failed + nok + missing))
	local status="ok"
	if [ "$ok" -eq 0 ] && [ "$plan" = 0 ] && grep -q '^1\.\.0 # SKIP' "$log"; then
		status="skipped: $(sed -n 's/^1\.\.0 # SKIP //p' "$log" | head -n1)"
	fi
	if [ $((nok + missing)) -gt 0 ]; then
		status="FAILED (exit $rc; log $log)"
		failures+=("$name")
		# The failed checks (40 at most), then the suite's last comments
		# (its figures and logs come last): a long suite's first lines
		# are rarely the ones that tell. The checks are kept to be said
		# again at the end.
		local line
		while IFS= read -r line; do
			failed_checks+=("$name: $line")
			echo "    $line"
		done < <(grep -E '^not ok ' "$log" | head -n 40)
		[ "$missing" -gt 0 ] && failed_checks+=("$name: $missing planned checks never ran")
		grep -E '^# ' "$log" | tail -n 40 | sed 's/^/    /'
		[ "$missing" -gt 0 ] && tail -n 20 "$log" | sed 's/^/    | /'
	fi
	printf '%-34s %3d passed %3d failed %6d ms  %s\n' "$name" "$ok" $((nok + missing)) \
		$(((end - start) / 1000000)) "$status"
}

for bin in "$build"/unit/test_*; do
	[ -x "$bin" ] || continue
	run_suite "unit/$(basename "$bin")" 120 "$bin"
done
for t in "$here"/integration/test_*.sh; do
	if why=$(san_skip "$(basename "$t" .sh)"); then
		[ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
		printf '%-34s %3d passed %3d failed %6d ms  skipped: %s\n' \
			"integration/$(basename "$t" .sh)" 0 0 0 "$why"
		continue
	fi
	run_suite "integration/$(basename "$t" .sh)" 900 bash "$t"
done
# The static binary (make static), the one the image ships, built with
# musl and mbedTLS, through the same suites; the container and seccomp
# suites already run it, and the docs, manifests and layout suites do not
# depend on the build.
if [ -x "$build/static/lastcall" ]; then
	for t in "$here"/integration/test_*.sh; do
		case "$(basename "$t" .sh)" in test_container|test_seccomp|test_docs|test_deploy|test_format) continue ;; esac
		LASTCALL="$(cd "$build" && pwd)/static/lastcall" \
			run_suite "static/$(basename "$t" .sh)" 600 bash "$t"
	done
fi

echo
# The failed checks again, last, where a reader of the output's tail
# sees them.
if [ ${#failures[@]} -gt 0 ]; then
	printf '%s\n' "${failed_checks[@]}"
	echo "failed suites: ${failures[*]}"
fi
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
