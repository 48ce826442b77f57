#!/usr/bin/env bash
# Runs the fuzz targets built by `make fuzz-bins`, each for SECONDS with
# its seed corpus (tests/fuzz/corpus/NAME) and dictionary (NAME.dict),
# FUZZ_JOBS (the number of cores) at a time, then prints one line per
# target: executions, coverage (libFuzzer's cov: edges and ft: features),
# corpus size, crashes. New inputs go to BUILD/fuzz/corpus/NAME (the seeds
# in the repository are left alone), crashes and their logs to
# BUILD/fuzz/crashes/NAME. Exits 1 when a target crashed. With FUZZ_RUNS
# set, each target runs that many inputs instead (SECONDS is then ignored;
# the long runs the figures in the README come from).
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-$(nproc)}
runs=${FUZZ_RUNS:-}
case "$runs" in
'') limit=(-max_total_time="$seconds") ;;
*[!0-9]* | 0) echo "run.sh: FUZZ_RUNS must be a positive number of inputs, got \"$runs\"" >&2; exit 2 ;;
*) limit=(-runs="$runs") ;;
esac

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for bin in "$build"/fuzz/fuzz_*; do
		[ -x "$bin" ] && [ -f "$bin" ] && names+=("${bin##*/fuzz_}")
	done
fi
[ ${#names[@]} -gt 0 ] || { echo "run.sh: no fuzz targets in $build/fuzz (make fuzz-bins)" >&2; exit 2; }

# run_one NAME: one target for $seconds; its log in BUILD/fuzz/NAME.log.
run_one() {
	local name=$1 dict=() opts=()
	local corpus="$build/fuzz/corpus/$name" crashes="$build/fuzz/crashes/$name"
	mkdir -p "$corpus" "$crashes"
	touch "$crashes/.start" # what is newer came from this run
	[ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
	# NAME.options: libFuzzer flags of that target, one a line (# comments).
	[ -f "$here/$name.options" ] && mapfile -t opts < <(grep -v '^[[:space:]]*\(#\|$\)' "$here/$name.options")
	# -timeout: an input that runs 10 s is a hang; -rss_limit_mb: ASan's
	# quarantine alone holds 256 MB, libFuzzer's 2 GB default is near.
	"$build/fuzz/fuzz_$name" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "${opts[@]}" \
		"$corpus" "$here/corpus/$name" >"$build/fuzz/$name.log" 2>&1
}

running=0
for name in "${names[@]}"; do
	[ -x "$build/fuzz/fuzz_$name" ] || { echo "run.sh: no $build/fuzz/fuzz_$name" >&2; exit 2; }
	if [ -n "$runs" ]; then echo "fuzz: $name for $runs inputs"; else echo "fuzz: $name for ${seconds}s"; fi
	run_one "$name" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

echo
printf '%-8s %10s %8s %6s %6s %8s  %s\n' target execs exec/s cov ft corpus crashes
crashed=0
for name in "${names[@]}"; do
	log="$build/fuzz/$name.log"
	# The last status line: "#N DONE cov: C ft: F corp: K/SIZE ... exec/s: E"
	# (or the last before a crash).
	line=$(grep -E '^#[0-9]+' "$log" | tail -n1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
	corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$line")
	found=$(find "$build/fuzz/crashes/$name" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) -newer "$build/fuzz/crashes/$name/.start" 2>/dev/null | wc -l)
	if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |broken promise' "$log"; then
		crashed=1
		found="$found (see $log)"
	fi
	printf '%-8s %10s %8s %6s %6s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "${corp:-?}" "$found"
done
exit $crashed
