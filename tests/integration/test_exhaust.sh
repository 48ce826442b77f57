#!/usr/bin/env bash
# lastcall with the machine's resources running out or its inputs in
# floods, on the real binary: a fork refused at spawn (the pids limit), a
# flood of 100,000 requests to /metrics and /readyz (RSS and open fds the
# same after it as before), and a storm of 100,000 signals of mixed kinds
# to PID 1 during a drain (the drain on time; every kind forwarded after
# its last sending). The figures are printed as TAP comments.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1

# rss PID, fds PID: lastcall's resident set (KiB) and open descriptors.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# --- 1. a fork refused at spawn ----------------------------------------------
# lastcall's own failure, not CMD's: one line that says what to raise, and
# 125 (126 would send the owner looking at the image).
spawn_refused() {
	local log=$1 code=$2
	[ "$code" = 125 ] &&
		[ "$(count_lines 'level=error' "$log")" = 1 ] &&
		has_line 'event=spawn_failed cmd=true error="Resource temporarily unavailable" code=125 hint="no process could be made: the container.s pids limit \(pids.max, ulimit -u\) is reached"' "$log" &&
		! has_line 'event=started ' "$log"
}

# An ASan build's LeakSanitizer needs a task of its own at exit, which a
# limit of one does not leave: off for these two.
nolsan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# As root, RLIMIT_NPROC does not apply: a pids cgroup of one task does
# (cgroup v2's pids controller, or v1's hierarchy), when this machine
# lets us make one.
pids_cgroup() {
	local base
	if [ -f /sys/fs/cgroup/cgroup.controllers ] &&
		grep -qw pids /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		base=/sys/fs/cgroup
	elif [ -d /sys/fs/cgroup/pids ] && [ -f /sys/fs/cgroup/pids/cgroup.procs ]; then
		base=/sys/fs/cgroup/pids
	else
		return 1
	fi
	CG="$base/lastcall-test-$$"
	mkdir "$CG" 2>/dev/null && echo 1 >"$CG/pids.max" 2>/dev/null
}
if [ "$(id -u)" = 0 ] && pids_cgroup; then
	ASAN_OPTIONS=$nolsan sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" run -- true' sh \
		"$CG" "$LASTCALL" >"$WORK/pids.log" 2>&1
	code=$?
	rmdir "$CG" 2>/dev/null
	echo "# pids.max 1 ($CG): exit $code; $(grep -o 'event=spawn_failed.*' "$WORK/pids.log")"
	check "pids.max reached at spawn: one clear line, exit 125 (got $code)" \
		spawn_refused "$WORK/pids.log" "$code"
else
	ok "# SKIP no pids cgroup can be made here (cgroup v2 without pids, or not root)"
fi

# A user's RLIMIT_NPROC (ulimit -u): a UID of its own with no other
# process, limited to the one it has.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && command -v prlimit >/dev/null; then
	uid=$((60000 + $$ % 5000))
	ASAN_OPTIONS=$nolsan setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
		prlimit --nproc=1:1 "$LASTCALL" run -- true >"$WORK/nproc.log" 2>&1
	code=$?
	echo "# uid $uid, ulimit -u 1: exit $code; $(grep -o 'event=spawn_failed.*' "$WORK/nproc.log")"
	check "ulimit -u reached at spawn, as a user: one clear line, exit 125 (got $code)" \
		spawn_refused "$WORK/nproc.log" "$code"
else
	ASAN_OPTIONS=$nolsan prlimit --nproc=1:1 "$LASTCALL" run -- true >"$WORK/nproc.log" 2>&1
	code=$?
	check "ulimit -u reached at spawn: one clear line, exit 125 (got $code)" \
		spawn_refused "$WORK/nproc.log" "$code"
fi

# --- 2. a flood of requests ---------------------------------------------------
# 100,000 requests, /metrics and /readyz in turn, from 4 clients side by
# side; measured after a warm-up of 20,000 and again once the connections
# are gone (the endpoints close each). The warm-up is what the heap
# needs: libmicrohttpd's per-connection pools (at most HTTPD_CONN_MAX of
# HTTPD_CONN_MEMORY) leave about 600 KiB with the allocator the first time
# a few dozen connections overlap, within the first 20,000 here; from
# there on it is flat (five floods in a row, 500,000 requests: +12 KiB).
#
# All of it in a network namespace of its own: 120,000 connections leave
# as many TIME_WAITs, and where the machine tracks connections
# (nf_conntrack, loaded by a container engine's firewall rules) as many
# entries in its table, shared by everything on the machine: a full one
# drops SYNs. A fresh namespace has no rules, so no tracking.
start_bg "$WORK/fl.log" unshare --net --pid --fork --mount-proc --kill-child \
	sh -c 'ip link set lo up && exec "$@"' sh "$LASTCALL" run --drain-on TERM \
	--listen 127.0.0.1:0 --control none -- env PORT=0 DELAY_MS=100 node server.js
fl_NS=$BG_PID
wait_until 5000 eval '[ -n "$(child_of $fl_NS)" ]'
fl_PID=$(child_of "$fl_NS")
started_pids+=("$fl_PID")
wait_until 10000 has_line 'event=endpoints ' "$WORK/fl.log"
P=$(log_port "$WORK/fl.log" 'event=endpoints [^ ]+ port=[0-9]+')
innet() { nsenter --net="/proc/$fl_PID/ns/net" "$@"; }
wait_until 10000 innet curl -fs -o /dev/null "http://127.0.0.1:$P/readyz"
innet "$PROBES/flood" "$P" 20000 4 /metrics /readyz >"$WORK/warm.out"
# A connection the warm-up's last clients left closing, or a sample under
# way, holds an fd for a moment: the fewest of 10 looks, 20 ms apart.
fds_idle() {
	local i n least=
	for i in $(seq 1 10); do
		n=$(fds "$1")
		[ -z "$least" ] || [ "$n" -lt "$least" ] && least=$n
		sleep 0.02
	done
	echo "$least"
}
rss0=$(rss "$fl_PID") fds0=$(fds_idle "$fl_PID")
innet "$PROBES/flood" "$P" 100000 4 /metrics /readyz >"$WORK/flood.out"
f=$(cat "$WORK/flood.out")
settled() { [ "$(fds "$fl_PID")" -le "$fds0" ]; }
wait_until 5000 settled
rss1=$(rss "$fl_PID") fds1=$(fds_idle "$fl_PID")
echo "# flood: $f; RSS ${rss0} -> ${rss1} KiB, fds ${fds0} -> ${fds1}"
ok_n=$(awk '{ print $4 }' <<<"$f")
check "100,000 requests to /metrics and /readyz: each answered 200 (${ok_n:-0})" \
	[ "${ok_n:-0}" = 100000 ]
check "...and the open fds are as many after as before ($fds0 -> $fds1)" [ "$fds1" = "$fds0" ]
# ASan's quarantine holds freed memory back on purpose: there, the
# figure is printed, not held.
if [ -n "${LASTCALL_SANITIZED:-}" ]; then
	ok "# SKIP RSS under ASan (its quarantine keeps freed blocks): ${rss0} -> ${rss1} KiB"
else
	check "...and the RSS too, within 64 KiB (${rss0} -> ${rss1} KiB)" \
		[ $((rss1 - rss0)) -le 64 ]
fi
check "the log says nothing went wrong" [ "$(count_lines 'level=(warn|error)' "$WORK/fl.log")" = 0 ]
kill -TERM "$fl_PID"
wait_exit "$fl_NS" 10000
check "lastcall exits with the app's code after it (got $CODE)" [ "$CODE" = 0 ]

# --- 3. a signal storm during a drain -----------------------------------------
# The kinds: standard ones (coalesced by the kernel while pending, so
# "not lost" means: each arrives after its last sending), two real-time
# ones (queued one by one, never merged: each sent is forwarded) and
# TERM, the drain signal (never forwarded; it must not move the drain).
rtmin=34
kinds="1 2 10 12 14 28 $rtmin $((rtmin + 6)) 15"
# drain_run NAME STORM: a drain of sigprobe (no port: the drain waits out
# --min-delay) with STORM signals sent right after T0 (0: none); sets
# STOP_MS (T0 to the stop signal) and the log in $WORK/NAME.log.
drain_run() {
	local name=$1 storm=$2 out="$WORK/$1.sig"
	: >"$out"
	start_pid1 "$WORK/$name.log" run --drain-on TERM --listen 127.0.0.1:0 --control none \
		--grace-period 20s --min-delay 3s --quiet-period 500ms --max-delay 4s \
		--stop-timeout 5s -- "$PROBES/sigprobe" "$out" --exit-on 15
	wait_until 5000 has_line '^ready$' "$out"
	kill -TERM "$L_PID"
	if [ "$storm" -gt 0 ]; then
		# shellcheck disable=SC2086
		"$PROBES/sigstorm" "$L_PID" "$storm" "$out" $kinds >"$WORK/$name.storm"
	fi
	wait_exit "$NS_PID" 20000
	STOP_MS=$(grep -oE 'event=phase phase=stop ms=[0-9]+' "$WORK/$name.log" | grep -oE '[0-9]+$')
}
drain_run calm 0
calm_ms=${STOP_MS:-}
calm_code=$CODE
drain_run storm 100000
storm_ms=${STOP_MS:-}
out="$WORK/storm.sig"
echo "# storm: $(head -n1 "$WORK/storm.storm"); stop at ${storm_ms:-?} ms after T0 (calm: ${calm_ms:-?} ms); the child recorded $(grep -c '^sig=' "$out") signals"
check "a calm drain stops after --min-delay (${calm_ms:-?} ms) and exits 0 (got $calm_code)" \
	eval 'between "${calm_ms:--1}" 3000 3600 && [ "$calm_code" = 0 ]'
check "100,000 signals during the drain: all sent ($(head -n1 "$WORK/storm.storm"))" \
	grep -qE '^sent 1000(0[0-9]|0) ' "$WORK/storm.storm"
storm_end=$(awk '/^sent / { print $6 }' "$WORK/storm.storm")
check "...within the drain (the storm took ${storm_end:-?} ms)" between "${storm_end:--1}" 0 2500
check "...and the stop signal still comes on time (${storm_ms:-?} ms, calm ${calm_ms:-?})" \
	eval 'between "${storm_ms:--1}" 3000 3600 && between $((storm_ms - calm_ms)) -300 300'
check "...and lastcall exits with the app's code, 0 (got $CODE)" [ "$CODE" = 0 ]
lost=
for s in $kinds; do
	[ "$s" = 15 ] && continue
	# A record of s after the "last s" marker.
	awk -v s="$s" '$0 == "last " s { m = 1 } m && $0 == "sig=" s { f = 1 } END { exit !f }' \
		"$out" || lost="$lost $s"
done
check "every forwarded kind reached the child after its last sending (missing:${lost:- none})" \
	[ -z "$lost" ]
for s in "$rtmin" $((rtmin + 6)); do
	sent=$(awk -v s="$s" '$1 == "sig" && $2 == s { print $4 }' "$WORK/storm.storm")
	got=$(count_lines "^sig=$s\$" "$out")
	check "real-time signal $s: each one sent was forwarded ($got of ${sent:-?})" \
		[ "$got" = "${sent:--1}" ]
done
terms=$(count_lines '^sig=15$' "$out")
check "TERM, the drain signal, reached the child once: the stop ($terms)" [ "$terms" = 1 ]
check "no warning or error in the log" \
	[ "$(count_lines 'level=(warn|error)' "$WORK/storm.log")" = 0 ]

done_testing
