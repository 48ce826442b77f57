#!/usr/bin/env bash
# pid1.sh: lastcall as PID 1 next to tini, dumb-init and catatonit, in
# the same run. Figures, not pass/fail; see tests/bench/README.md.
# Usage: tests/bench/pid1.sh BUILD_DIR
#   (BUILD_DIR/bench/pid1probe is built by `make bench-bins`)
# Environment: REPS (5), SIGNALS (5000), ORPHANS (5000), IDLE_S (3),
# LASTCALL_STATIC (BUILD_DIR/static/lastcall), LASTCALL (BUILD_DIR/lastcall),
# INITS (all: lastcall-static-on lastcall-static-off lastcall-dyn-off
# tini-static dumb-init catatonit), PIN (the last CPU; none: not pinned),
# RAW (set: print each repetition's figures too).
#
# The init, its child and the sender share one CPU (PIN): a wake-up
# across CPUs costs an IPI, which in a VM goes through the hypervisor and
# varies with the load of the other CPUs (17 us for tini across CPUs on
# an idle 2-core VM, 5 us when busy or on one CPU); on one CPU what is
# left is the init's own work.
#
# Each init runs as PID 1 of a fresh PID namespace (unshare --pid --fork
# --mount-proc), as in a container, with build/bench/pid1probe as its child.
# Per init and repetition (inits interleaved, so drift hits all alike):
#   1. child mode: after 1 s, VmRSS of the init; its context switches
#      (voluntary + not, all threads) over IDLE_S s of nothing; then
#      SIGNALS SIGUSR1s sent to it one at a time, each timed from just
#      before kill() to the child's sigwaitinfo (pid1probe send); then
#      SIGUSR2, forwarded, ends the child and so the init.
#   2. orphans mode: the child makes ORPHANS orphans that exit at once;
#      the time until the init has reaped all of them.
set -uo pipefail

build=$(cd "${1:-build}" && pwd)
probe="$build/bench/pid1probe"
static="${LASTCALL_STATIC:-$build/static/lastcall}"
dynamic="${LASTCALL:-$build/lastcall}"
reps=${REPS:-5}
signals=${SIGNALS:-5000}
orphans=${ORPHANS:-5000}
idle_s=${IDLE_S:-3}
pin=${PIN:-$(($(nproc) - 1))}
# Bounds: an init has this long to start its child, to stop once the
# child is gone, and to reap the orphans (the probe gives up after 60 s).
start_s=10
stop_s=5
orphans_s=150

[ -x "$probe" ] || { echo "pid1: $probe missing (make bench-bins)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/lastcall-pid1.XXXXXX)
upid= # unshare, our child
ipid= # the init under it: PID 1 of the namespace
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$ipid" ] && kill -0 "$ipid" 2>/dev/null; then
		# SIGKILL to PID 1 of a namespace ends every process in it.
		kill -KILL "$ipid" 2>/dev/null
	fi
	[ -z "$upid" ] || wait "$upid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inits=()
if [ -x "$static" ]; then
	inits+=(lastcall-static-on lastcall-static-off)
else
	echo "pid1: $static missing (make static): the static lastcall is skipped" >&2
fi
[ -x "$dynamic" ] && inits+=(lastcall-dyn-off)
for b in tini-static dumb-init catatonit; do
	if command -v "$b" >/dev/null; then
		inits+=("$b")
	else
		echo "pid1: $b missing (tests/deps.sh bench): skipped" >&2
	fi
done
if [ -n "${INITS:-}" ]; then
	mapfile -t inits < <(printf '%s\n' "${inits[@]}" | grep -Fx -f <(tr ' ' '\n' <<<"$INITS"))
fi
[ ${#inits[@]} -gt 0 ] || { echo "pid1: no init to run" >&2; exit 1; }

# Sets cmd to init NAME's command line, its child to follow; dir is the
# instance's own directory (lastcall's control socket goes there).
off=(--listen none --control none --drain-on none --termination-log none)
init_cmd() {
	local name=$1 dir=$2

	case "$name" in
	lastcall-static-on)
		cmd=("$static" run --listen 127.0.0.1:0 --control "$dir/lc.sock"
			--termination-log none --) ;;
	lastcall-static-off) cmd=("$static" run "${off[@]}" --) ;;
	lastcall-dyn-off) cmd=("$dynamic" run "${off[@]}" --) ;;
	tini-static) cmd=("$(command -v tini-static)" --) ;;
	dumb-init) cmd=("$(command -v dumb-init)") ;;
	catatonit) cmd=("$(command -v catatonit)" --) ;;
	esac
}

binary() {
	init_cmd "$1" "$tmp"
	echo "${cmd[0]}"
}

# Starts init NAME with `pid1probe ARGS...` as its child; sets upid and,
# once the unshare child exists, ipid.
start() {
	local name=$1 dir=$2

	shift 2
	init_cmd "$name" "$dir"
	rm -f "$dir/ready" "$dir/orphans"
	"${pinned[@]}" unshare --pid --fork --mount-proc "${cmd[@]}" "$probe" "$@" >"$dir/log" 2>&1 &
	upid=$!
	ipid=
	for _ in $(seq 100); do
		ipid=$(pgrep -P "$upid" | head -n1)
		[ -n "$ipid" ] && break
		sleep 0.05
	done
	if [ -z "$ipid" ]; then
		fail "$name" "no init under unshare" "$dir"
		finish "$name" "$stop_s"
		return 1
	fi
}

# Waits up to $2 s for unshare (and so the init) to end; SIGKILLs the init
# after that. Returns unshare's status.
finish() {
	local name=$1 limit=$2 st

	for _ in $(seq $((limit * 20))); do
		kill -0 "$upid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$upid" 2>/dev/null; then
		echo "pid1: $name: still running after ${limit}s, killed" >&2
		kill -KILL "$ipid" 2>/dev/null
	fi
	wait "$upid"
	st=$?
	upid='' ipid=''
	return $st
}

ctxt() { # all threads of PID: voluntary + nonvoluntary context switches
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

now() { date +%s.%N; }

# A prefix, not a function: taskset execs the command, so $! stays its PID.
pinned=()
[ "$pin" = none ] || pinned=(taskset -c "$pin")

status=0
fail() {
	status=1
	echo "pid1: $1: $2; its log:" >&2
	sed 's/^/    /' "$3/log" >&2
}

one_rep() {
	local name=$1 dir="$tmp/$1" res="$tmp/res/$1" c0 c1 t0 t1 out

	mkdir -p "$dir"
	[ -p "$dir/ack" ] || mkfifo "$dir/ack"
	start "$name" "$dir" child "$dir" 300 || return 1
	for _ in $(seq $((start_s * 20))); do
		[ -e "$dir/ready" ] && break
		sleep 0.05
	done
	if [ ! -e "$dir/ready" ] || ! grep -Eq '^NSpid:.*[[:space:]]1$' "/proc/$ipid/status"; then
		fail "$name" "the child did not start under PID 1" "$dir"
		kill -KILL "$ipid" 2>/dev/null
		finish "$name" "$stop_s"
		return 1
	fi
	sleep 1
	awk '/^VmRSS:/ { print $2 }' "/proc/$ipid/status" >>"$res.rss"
	c0=$(ctxt "$ipid") t0=$(now)
	sleep "$idle_s"
	c1=$(ctxt "$ipid") t1=$(now)
	echo "$((c1 - c0)) $t0 $t1" >>"$res.idle"
	if out=$("${pinned[@]}" "$probe" send "$dir" "$ipid" "$signals"); then
		sed -E 's/.*p50_us=([0-9.]+) p99_us=([0-9.]+).*/\1 \2/' <<<"$out" >>"$res.lat"
	else
		fail "$name" "signal forwarding" "$dir"
	fi
	kill -USR2 "$ipid"
	finish "$name" "$stop_s" || fail "$name" "exit status $? after SIGUSR2" "$dir"

	start "$name" "$dir" orphans "$dir" "$orphans" || return 1
	if finish "$name" "$orphans_s" && [ -e "$dir/orphans" ]; then
		sed -E 's/.*seconds=([0-9.]+).*/\1/' "$dir/orphans" >>"$res.orph"
	else
		fail "$name" "orphans" "$dir"
	fi
}

median() { # of the numbers on stdin, or -
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

col() { # median of column $2 of file $1, or - when there is none
	if [ -s "$1" ]; then cut -d' ' -f"$2" "$1" | median; else echo -; fi
}

mkdir -p "$tmp/res"
echo "pid1: ${inits[*]}; REPS=$reps SIGNALS=$signals ORPHANS=$orphans IDLE_S=$idle_s PIN=$pin"
for v in tini-static dumb-init catatonit; do
	command -v "$v" >/dev/null || continue
	printf '  %s: %s\n' "$v" "$("$v" --version 2>&1 | head -n1)"
done
for rep in $(seq "$reps"); do
	for name in "${inits[@]}"; do
		one_rep "$name" || status=1
	done
	echo "  rep $rep of $reps done" >&2
done

echo
printf '%-20s %-8s %10s %9s %10s %9s %9s %10s\n' init linkage "size KiB" "RSS KiB" \
	"wakeups/s" "p50 us" "p99 us" "orphans/s"
for name in "${inits[@]}"; do
	res="$tmp/res/$name" bin=$(binary "$name")
	size=$(($(stat -c %s "$bin") / 1024))
	link=dynamic
	file -L "$bin" | grep -q 'statically linked' && link=static
	rss=$(col "$res.rss" 1)
	# Wakeups: every switch over every idle window, over their total time.
	wake=-
	[ -s "$res.idle" ] &&
		wake=$(awk '{ n += $1; s += $3 - $2 } END { printf "%.2f", n / s }' "$res.idle")
	p50=$(col "$res.lat" 1)
	p99=$(col "$res.lat" 2)
	orph=$(col "$res.orph" 1)
	[ "$orph" = - ] || orph=$(awk -v n="$orphans" -v s="$orph" 'BEGIN { printf "%.0f", n / s }')
	printf '%-20s %-8s %10s %9s %10s %9s %9s %10s\n' "$name" "$link" "$size" "$rss" \
		"$wake" "$p50" "$p99" "$orph"
done
if [ -n "${RAW:-}" ]; then
	echo "per repetition (RSS KiB; switches, idle start, end; p50 p99; orphan seconds):"
	for name in "${inits[@]}"; do
		for f in rss idle lat orph; do
			[ -s "$tmp/res/$name.$f" ] && echo "  $name $f: $(paste -sd, "$tmp/res/$name.$f")"
		done
	done
fi
echo "(medians of $reps; wakeups/s over $((reps * idle_s)) s idle in all;" \
	"latency: kill() to the child's sigtimedwait)"
exit $status
