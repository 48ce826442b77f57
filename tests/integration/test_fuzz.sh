#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/, STYLE 23): built with clang, ASan and
# UBSan (make fuzz-bins); each replays its whole seed corpus once, then
# fuzzes for FUZZ_SMOKE_SECONDS (3) from it: a check each. A crash, a
# sanitizer report, a broken promise of a parser or a hang fails the
# check, with the input's bytes in hex and the report's first lines; the
# input is also kept in BUILD/fuzz/crashes/NAME. Skipped without clang and
# libFuzzer (Debian: clang, libclang-rt-dev), and on the static binary's
# pass: the targets link the product's objects, not the binary under test.
# Longer runs, with figures: make fuzz (tests/fuzz/README.md).
. "$(dirname "$0")/lib.sh"

top=$(cd "$TESTS_DIR/.." && pwd)
smoke=${FUZZ_SMOKE_SECONDS:-3}

case "$LASTCALL" in
*/static/lastcall | */static-*/lastcall)
	echo "1..0 # SKIP the fuzz targets build from the sources, not the binary under test (run once)"
	exit 0
	;;
esac
build=$(dirname "$LASTCALL")

if ! command -v clang >/dev/null 2>&1; then
	echo "1..0 # SKIP clang is not installed (apt-get install clang libclang-rt-dev)"
	exit 0
fi
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$WORK/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$WORK/probe.c" -o "$WORK/probe" >"$WORK/probe.log" 2>&1; then
	echo "1..0 # SKIP clang cannot link libFuzzer (apt-get install libclang-rt-dev): $(head -n1 "$WORK/probe.log")"
	exit 0
fi

# A make of our own: not the jobserver of a make that may have started us.
# BUILD as make's own default spells it (relative to the top): objects'
# dependency files name their targets so, and a build made by hand with
# `make build/fuzz/...` must not leave objects this one takes for current.
rel_build=$(realpath -m --relative-to="$top" "$build")
if ! MAKEFLAGS= make -C "$top" --no-print-directory -j"$(nproc)" BUILD="$rel_build" fuzz-bins \
	>"$WORK/build.log" 2>&1; then
	not_ok "the fuzz targets build (make fuzz-bins)" "$(grep -E 'error|Error' "$WORK/build.log" | head -n 8)"
	done_testing
	exit 1
fi
ok "the fuzz targets build (make fuzz-bins)"

# report NAME LOG DIR: the diagnostics of a failed run: the report's
# first lines, the input that failed in hex (and where it is kept).
report() {
	local name=$1 log=$2 dir=$3 input keep
	grep -E 'ERROR|runtime error|SUMMARY|broken promise|fuzz_httpd:|^    #[0-9] ' "$log" | head -n 12
	input=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) | head -n1)
	if [ -n "$input" ]; then
		keep="$build/fuzz/crashes/$name"
		mkdir -p "$keep" && cp "$input" "$keep/"
		echo "input ($(stat -c %s "$input") bytes, kept in $keep/${input##*/}): $(head -c 256 "$input" | od -An -v -tx1 | tr -d ' \n')"
	else
		tail -n 3 "$log"
	fi
}

# The targets' own scratch directories (a control socket, /proc stand-ins)
# go with the suite's, even after a crash.
export TMPDIR="$WORK"

names=()
for src in "$top"/tests/fuzz/fuzz_*.c; do
	name=${src##*/fuzz_}
	names+=("${name%.c}")
done
check "there are fuzz targets" [ ${#names[@]} -gt 0 ]

for name in "${names[@]}"; do
	bin="$build/fuzz/fuzz_$name"
	seeds="$top/tests/fuzz/corpus/$name"
	dict=()
	[ -f "$top/tests/fuzz/$name.dict" ] && dict=(-dict="$top/tests/fuzz/$name.dict")
	if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
		not_ok "$name: a seed corpus in tests/fuzz/corpus/$name"
		continue
	fi
	dir="$WORK/$name"
	mkdir -p "$dir/corpus"

	# The whole seed corpus, each input once.
	if "$bin" -runs=0 -timeout=10 -artifact_prefix="$dir/" "$seeds" >"$dir/replay.log" 2>&1; then
		ok "$name: replays its $(ls "$seeds" | wc -l) seeds"
	else
		mapfile -t diag < <(report "$name" "$dir/replay.log" "$dir")
		not_ok "$name: replays its seeds" "${diag[@]}"
		continue
	fi
	# A short run from them; what it finds goes to a corpus of its own.
	if "$bin" -max_total_time="$smoke" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$dir/" \
		"${dict[@]}" "$dir/corpus" "$seeds" >"$dir/smoke.log" 2>&1; then
		ok "$name: fuzzed ${smoke}s: $(grep -oE '^#[0-9]+' "$dir/smoke.log" | tail -n1 | tr -d '#') runs, $(grep -oE 'cov: [0-9]+' "$dir/smoke.log" | tail -n1)"
	else
		mapfile -t diag < <(report "$name" "$dir/smoke.log" "$dir")
		not_ok "$name: fuzzed ${smoke}s" "${diag[@]}"
	fi
done
done_testing
