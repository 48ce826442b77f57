#!/usr/bin/env bash
# make soak: lastcall for SOAK_SECONDS (default 3600) under probes and
# signals, beside a stream of drains of short-lived apps; lastcall's RSS
# and open fds are printed over time, and the run fails if they grow, or
# if a probe, a signal or a drain goes wrong. Not part of make test.
#
# The long-lived instance: `lastcall run --signal-target child` as PID 1
# of its own PID and network namespaces, its CMD a shell that starts the
# sample app (node) in the background and becomes sigprobe, which records
# every signal forwarded to it. Each round (about 2 s):
#   - 2,000 HTTP requests to /readyz, /metrics, /status and /livez
#     (tests/probe/flood, 4 clients), all must answer 200;
#   - 5 `lastcall probe ready` on the control socket, all must say ready;
#   - 100 signals (USR1, USR2, HUP, WINCH, RTMIN), each kind must reach
#     sigprobe after its last sending;
#   - one drain of a short-lived app: the sample app under its own
#     `lastcall run` (own namespaces), started, probed, drained by SIGTERM
#     (every other round by `lastcall prestop` first, as a preStop hook),
#     which must exit 0 within its budget.
# The long-lived instance's VmRSS and fd count are read every round and
# printed every REPORT_SECONDS (60). The baseline is the most seen in
# the first WARM_SECONDS (a tenth of the run, at most 300: the heap's
# pools fill); at the end the RSS must be within RSS_SLACK_KIB (128) of
# it and the fds exactly as many.
#
# Usage: tests/soak/soak.sh BUILD_DIR [SECONDS]
set -uo pipefail

build=$(cd "${1:-build}" && pwd)
secs=${2:-${SOAK_SECONDS:-3600}}
here=$(cd "$(dirname "$0")/.." && pwd)
LASTCALL="$build/lastcall"
PROBES="$build/probe"
report_every=${REPORT_SECONDS:-60}
warm=$((secs / 10))
[ "$warm" -le 300 ] || warm=300
slack=${RSS_SLACK_KIB:-128}
WORK=$(mktemp -d /tmp/lastcall-soak.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_for MS CMD...: CMD every 20 ms until it succeeds or MS pass.
wait_for() {
	local end=$(($(now_ms) + $1))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.02
	done
}
first_child() { local c; c=$(cat "/proc/$1/task/$1/children" 2>/dev/null); echo "${c%% *}"; }
has() { grep -qE -- "$1" "$2" 2>/dev/null; }
port_of() { grep -oE 'event=endpoints [^ ]+ port=[0-9]+' "$1" | head -n1 | grep -oE '[0-9]+$'; }

# pid1 LOG ARGS...: `lastcall ARGS...` as PID 1 of new PID and network
# namespaces (lo up: traffic stays there, and no connection tracking);
# sets NS (unshare's pid) and LC (lastcall's).
pid1() {
	local log=$1
	shift
	unshare --net --pid --fork --mount-proc --kill-child \
		sh -c 'ip link set lo up && exec "$@"' sh "$LASTCALL" "$@" >"$log" 2>&1 &
	NS=$!
	pids+=("$NS")
	LC=
	wait_for 5000 eval '[ -n "$(first_child $NS)" ]' || return 1
	LC=$(first_child "$NS")
}
innet() { local p=$1; shift; nsenter --net="/proc/$p/ns/net" "$@"; }

cd "$here/app" || exit 1

# --- the long-lived instance ---------------------------------------------------
sigout="$WORK/signals"
: >"$sigout"
pid1 "$WORK/long.log" run --drain-on TERM --signal-target child --listen 127.0.0.1:0 \
	--control "$WORK/long.sock" -- \
	sh -c 'PORT=0 node server.js & exec "$0" "$1"' "$PROBES/sigprobe" "$sigout" ||
	{ echo "soak: lastcall did not start" >&2; exit 1; }
LONG=$LC
LONG_NS=$NS
wait_for 10000 has 'event=endpoints ' "$WORK/long.log" || { cat "$WORK/long.log" >&2; exit 1; }
P=$(port_of "$WORK/long.log")
wait_for 10000 innet "$LONG" curl -fs -o /dev/null "http://127.0.0.1:$P/readyz" ||
	{ echo "soak: never ready" >&2; tail "$WORK/long.log" >&2; exit 1; }
wait_for 5000 has '^ready$' "$sigout" || { echo "soak: sigprobe did not start" >&2; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$LONG/status"; }
fds() { ls "/proc/$LONG/fd" | wc -l; }

# One drain of a short-lived app; 0 when it went as it should.
drain_once() {
	local n=$1 log="$WORK/drain.log" sock="$WORK/drain.sock" t0 ms code
	pid1 "$log" run --drain-on TERM --listen 127.0.0.1:0 --control "$sock" \
		--grace-period 10s --min-delay 300ms --quiet-period 200ms --max-delay 2s \
		-- env PORT=0 DELAY_MS=20 node server.js || return 1
	local dp
	wait_for 10000 has 'event=endpoints ' "$log" || return 1
	dp=$(port_of "$log")
	wait_for 10000 innet "$LC" curl -fs -o /dev/null "http://127.0.0.1:$dp/readyz" || return 1
	t0=$(now_ms)
	if [ $((n % 2)) = 1 ]; then
		# The preStop hook's way: returns once drained; then the kubelet's TERM.
		"$LASTCALL" prestop --control "$sock" >>"$WORK/prestop.log" 2>&1 || return 1
	fi
	kill -TERM "$LC"
	wait_for 8000 eval '! kill -0 $NS 2>/dev/null' || return 1
	wait "$NS"
	code=$?
	ms=$(($(now_ms) - t0))
	[ "$code" = 0 ] && [ "$ms" -lt 5000 ] && has 'event=exiting code=0 ' "$log"
}

kinds="10 12 1 28 34"
start=$(date +%s)
end=$((start + secs))
next_report=$start
rounds=0 probes_bad=0 http_bad=0 sig_lost=0 drains=0 drains_bad=0
base_rss=0 base_fds=0 last_rss=0 last_fds=0 peak_rss=0
printf '%8s %10s %5s %7s %9s %7s %7s\n' seconds rss_kib fds rounds requests signals drains
while [ "$(date +%s)" -lt "$end" ]; do
	rounds=$((rounds + 1))
	out=$(innet "$LONG" "$PROBES/flood" "$P" 2000 4 /readyz /metrics /status /livez)
	[ "$(awk '{ print $4 }' <<<"$out")" = 2000 ] || { http_bad=$((http_bad + 1)); echo "# flood: $out"; }
	for i in 1 2 3 4 5; do
		"$LASTCALL" probe --control "$WORK/long.sock" ready >/dev/null 2>&1 ||
			probes_bad=$((probes_bad + 1))
	done
	: >"$sigout"
	"$PROBES/sigstorm" "$LONG" 100 "$sigout" $kinds >/dev/null || sig_lost=$((sig_lost + 1))
	for s in $kinds; do
		wait_for 2000 awk -v s="$s" '$0 == "last " s { m = 1 } m && $0 == "sig=" s { f = 1 } END { exit !f }' \
			"$sigout" || { sig_lost=$((sig_lost + 1)); echo "# signal $s lost in round $rounds"; }
	done
	drains=$((drains + 1))
	drain_once "$rounds" || {
		drains_bad=$((drains_bad + 1))
		echo "# drain $rounds went wrong:"
		tail -n 5 "$WORK/drain.log" | sed 's/^/#   /'
		kill -KILL "$NS" 2>/dev/null
		wait "$NS" 2>/dev/null
	}
	pids=("$LONG_NS")
	last_rss=$(rss) last_fds=$(fds)
	[ "$last_rss" -le "$peak_rss" ] || peak_rss=$last_rss
	t=$(($(date +%s) - start))
	if [ "$t" -le "$warm" ]; then
		[ "$last_rss" -le "$base_rss" ] || base_rss=$last_rss
		base_fds=$last_fds
	fi
	if [ "$(date +%s)" -ge "$next_report" ]; then
		printf '%8d %10d %5d %7d %9d %7d %7d\n' "$t" "$last_rss" "$last_fds" "$rounds" \
			$((rounds * 2000)) $((rounds * 100)) "$drains"
		next_report=$((next_report + report_every))
	fi
	kill -0 "$LONG" 2>/dev/null || { echo "soak: lastcall is gone" >&2; exit 1; }
done
t=$(($(date +%s) - start))
printf '%8d %10d %5d %7d %9d %7d %7d\n' "$t" "$last_rss" "$last_fds" "$rounds" \
	$((rounds * 2000)) $((rounds * 100)) "$drains"
warns=$(grep -cE 'level=(warn|error)' "$WORK/long.log")
echo
echo "soak: ${t} s, $rounds rounds: $((rounds * 2000)) requests ($http_bad rounds short), $((rounds * 5)) control probes ($probes_bad not ready), $((rounds * 100)) signals ($sig_lost kinds lost), $drains drains ($drains_bad wrong)"
echo "soak: RSS $base_rss KiB after the warm-up (${warm} s), $last_rss KiB at the end (peak $peak_rss); fds $base_fds, then $last_fds; $warns warnings or errors in the log"
status=0
[ "$last_rss" -le $((base_rss + slack)) ] || { echo "soak: FAILED: RSS grew by $((last_rss - base_rss)) KiB"; status=1; }
[ "$last_fds" -le "$base_fds" ] || { echo "soak: FAILED: fds grew from $base_fds to $last_fds"; status=1; }
[ $((http_bad + probes_bad + sig_lost + drains_bad)) = 0 ] || { echo "soak: FAILED: see above"; status=1; }
[ "$warns" = 0 ] || { grep -E 'level=(warn|error)' "$WORK/long.log" | head -n 5; status=1; }
[ "$status" = 0 ] && echo "soak: ok"
exit $status
