#!/usr/bin/env bash
# Every C source and header is laid out as .clang-format says (K&R with
# tabs, 100 columns), one check per file. Hand-laid tables sit between
# /* clang-format off */ and /* clang-format on */. To fix a file:
#   clang-format -i FILE
# The layout differs between clang-format releases: the check runs with
# the one Debian bookworm ships (14), and is skipped with any other.
. "$(dirname "$0")/lib.sh"

top=$(cd "$TESTS_DIR/.." && pwd)
if ! command -v clang-format >/dev/null 2>&1; then
	echo "1..0 # SKIP clang-format is not installed (apt-get install clang-format)"
	exit 0
fi
major=$(clang-format --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
if [ "$major" != 14 ]; then
	echo "1..0 # SKIP clang-format $major, not 14: its layout differs"
	exit 0
fi

cd "$top" || exit 1
files=$(ls helper/*.c helper/*.h tests/unit/*.c tests/unit/*.h tests/probe/*.c tests/bench/*.c tests/fuzz/*.c \
	tests/fuzz/*.h 2>/dev/null)
check "there are sources to check" [ -n "$files" ]
for f in $files; do
	if out=$(clang-format --dry-run --Werror "$f" 2>&1); then
		ok "$f is formatted"
	else
		not_ok "$f is formatted (clang-format -i $f)" "$(printf '%s\n' "$out" | head -n 6)"
	fi
done
# The check can fail: a file laid out otherwise is refused.
bad="$WORK/bad.c"
printf 'int  main( void ){return 0;}\n' >"$bad"
cp .clang-format "$WORK/"
check "a badly laid out file is refused" eval "! clang-format --dry-run --Werror '$bad' 2>/dev/null"
done_testing
