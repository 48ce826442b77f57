#!/usr/bin/env bash
# Pinned clients: one pod of two deleted behind a ClusterIP Service, in
# kube-proxy's own data path (tests/integration/kproxy.sh: iptables nat
# rules in a network namespace of this benchmark, conntrack left alone, so
# established keep-alive connections stay on the deleted pod after its
# endpoint is removed). For each way of running the app as the pod's PID 1,
# and for clients without and with think time, prints the failed requests
# and the time from T0 (the deletion) to the exit, medians of REPS runs.
#
# One run: instance a (the row's PID 1 over the sample app, in a PID
# namespace of its own) and b (a plain sample app) are the Service's
# endpoints; kaclient (tests/probe/kaclient.c) sends keep-alive load
# through the VIP. At T0 the kubelet, played by lib.sh's kubelet_container,
# runs the preStop hook (the row's, if any), then sends SIGTERM to a's PID
# 1, and SIGKILL at T0 + GRACE_S; a's endpoint is removed REMOVAL_MS after
# T0 by a sync of the rules. The load stops a second after a's exit.
#
# Usage: tests/bench/pinned.sh   (env: LASTCALL, PROBES, REPS=3,
#   GRACE_S=30, REMOVAL_MS=2000, CONNS=16, THINK_MS=200,
#   ROWS="tini prestop lastcall keep-tini keep-lastcall keep-close-idle",
#   CLIENTS="nothink think", RAW=1 for every run's figures)
set -uo pipefail
: "${PROBES:=$(cd "$(dirname "$0")/../.." && pwd)/build/probe}"
export PROBES
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/kproxy.sh"

REPS=${REPS:-3}
GRACE_S=${GRACE_S:-30}
REMOVAL_MS=${REMOVAL_MS:-2000}
CONNS=${CONNS:-16}
THINK_MS=${THINK_MS:-200}
ROWS=${ROWS:-tini prestop lastcall keep-tini keep-lastcall keep-close-idle}
CLIENTS=${CLIENTS:-nothink think}
VIP=127.0.10.1
KA="$PROBES/kaclient"

[ -x "$KA" ] || { echo "pinned: $KA is missing (make probes)" >&2; exit 1; }
kproxy_enter "$@" || exit 1
cd "$APP_DIR" || exit 1

LC_RUN="$LASTCALL run --drain-on TERM --listen 127.0.0.1:0 --control none --termination-log none"
LC_RUN+=" --grace-period ${GRACE_S}s"
close_idle=no
"$LASTCALL" run --help 2>&1 | grep -q -- '--close-idle' && close_idle=yes

# id|row name|SHUTDOWN|preStop sleep (s)|PID 1 command ("" when not built)
rows=(
	"tini|cooperative app, tini|close|0|tini -- node server.js"
	"prestop|cooperative app, tini + preStop sleep 5|close|5|tini -- node server.js"
	"lastcall|cooperative app, lastcall run|close|0|$LC_RUN -- node server.js"
	"keep-tini|server.close() app, tini|keep|0|tini -- node server.js"
	"keep-lastcall|server.close() app, lastcall run|keep|0|$LC_RUN -- node server.js"
	"keep-close-idle|server.close() app, lastcall run --close-idle|keep|0|$([ $close_idle = yes ] &&
		echo "$LC_RUN --close-idle -- node server.js")"
)

ka_field() { grep -oE "(^| )$2=[0-9]+" "$1" | tail -n1 | grep -oE '[0-9]+$'; }

# one_run CMD SHUTDOWN PRESTOP_S THINK_MS: sets FAILED, EXIT_MS, KILLED.
one_run() {
	local cmd=$1 mode=$2 prestop=$3 think=$4 b a_ns a_p1 t0 kubelet load ep_a ep_b
	HOST=127.0.20.2 PORT=0 DELAY_MS=100 start_bg "$WORK/b.log" node server.js
	b=$BG_PID
	# shellcheck disable=SC2086
	HOST=127.0.20.1 PORT=0 DELAY_MS=100 SHUTDOWN=$mode start_bg "$WORK/a.log" \
		unshare --pid --fork --mount-proc --kill-child $cmd
	a_ns=$BG_PID
	wait_until 10000 has_line '^listening on ' "$WORK/a.log" || { echo "a did not start" >&2; return 1; }
	wait_until 10000 has_line '^listening on ' "$WORK/b.log" || { echo "b did not start" >&2; return 1; }
	a_p1=$(child_of "$a_ns")
	ep_a="127.0.20.1:$(log_port "$WORK/a.log" '^listening on .*:[0-9]+')"
	ep_b="127.0.20.2:$(log_port "$WORK/b.log" '^listening on .*:[0-9]+')"
	kproxy_endpoints web "$ep_a" "$ep_b" || return 1

	start_bg "$WORK/ka.out" "$KA" -c "$CONNS" -d $(((GRACE_S + 20) * 1000)) -t "$think" \
		--timeout 10000 "$VIP:80"
	load=$BG_PID
	wait_until 3000 sleep_until $(($(now_ms) + 2000))
	t0=$(now_ms)
	if [ "$prestop" -gt 0 ]; then
		kubelet_container a "$a_p1" TERM "$t0" $((GRACE_S * 1000)) sleep "$prestop" &
	else
		kubelet_container a "$a_p1" TERM "$t0" $((GRACE_S * 1000)) &
	fi
	kubelet=$!
	started_pids+=("$kubelet")
	wait_until $((REMOVAL_MS + 1000)) sleep_until $((t0 + REMOVAL_MS))
	kproxy_endpoints web "$ep_b" || return 1
	wait_exit "$kubelet" $(((GRACE_S + 10) * 1000))
	EXIT_MS=$(kv a exit_ms)
	KILLED=$(kv a killed)
	wait_exit "$a_ns" 5000
	# lastcall SIGKILLs the app itself --kill-margin before the deadline.
	has_line 'event=forced_kill|phase=kill' "$WORK/a.log" && KILLED=true
	cp "$WORK/a.log" "$WORK/last-a.log"
	wait_until 2000 sleep_until $(($(now_ms) + 1000))
	kill -INT "$load"
	wait_exit "$load" 15000
	FAILED=$(ka_field "$WORK/ka.out" failed)
	cp "$WORK/ka.out" "$WORK/last-ka.out"
	kill -TERM "$b" 2>/dev/null
	wait_exit "$b" 5000
	[ -n "$FAILED" ] && [ -n "$EXIT_MS" ]
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }

kproxy_service web "$VIP" 80 || exit 1
echo "pinned: ${REPS} runs per cell; kube-proxy's nat rules ($(kproxy_backend)), conntrack left alone;"
echo "endpoint removal ${REMOVAL_MS} ms after T0, grace ${GRACE_S}s; kaclient -c${CONNS} keep-alive through"
echo "the VIP, think time 0 or ${THINK_MS} ms; 100 ms responses; lastcall with its defaults otherwise"
echo

declare -A cell
raw=""
for r in "${rows[@]}"; do
	IFS='|' read -r id name mode prestop cmd <<<"$r"
	[[ " $ROWS " == *" $id "* ]] || continue
	for client in $CLIENTS; do
		think=0
		[ "$client" = think ] && think=$THINK_MS
		if [ -z "$cmd" ]; then
			cell[$id.$client]="n/a (not built)|n/a"
			continue
		fi
		fails=() exits=() kills=0 runs=""
		for _ in $(seq 1 "$REPS"); do
			if ! one_run "$cmd" "$mode" "$prestop" "$think"; then
				echo "pinned: a run of '$name' ($client) broke; logs:" >&2
				tail -n 20 "$WORK/a.log" "$WORK/ka.out" >&2
				exit 1
			fi
			fails+=("$FAILED")
			exits+=("$EXIT_MS")
			[ "$KILLED" = true ] && kills=$((kills + 1))
			runs+="${runs:+ }$FAILED/$(secs "$EXIT_MS")$([ "$KILLED" = true ] && echo K)"
		done
		k=n
		[ $((kills * 2)) -gt "$REPS" ] && k=y
		cell[$id.$client]="$(printf '%s\n' "${fails[@]}" | median)|$(secs "$(printf '%s\n' "${exits[@]}" | median)") $k"
		raw+="$name, $client: $runs (last: $(cat "$WORK/last-ka.out"))"$'\n'
	done
done

hdr() { printf '| %-46s | %15s | %15s | %15s | %15s |\n' "$@"; }
hdr "PID 1 over the sample app" "failed, think 0" "T0->exit s, K?" "failed, ${THINK_MS}ms" "T0->exit s, K?"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "$(printf -- '-%.0s' {1..16}):" \
	"$(printf -- '-%.0s' {1..16}):" "$(printf -- '-%.0s' {1..16}):" "$(printf -- '-%.0s' {1..16}):"
for r in "${rows[@]}"; do
	IFS='|' read -r id name _ <<<"$r"
	[[ " $ROWS " == *" $id "* ]] || continue
	IFS='|' read -r f0 e0 <<<"${cell[$id.nothink]:-|}"
	IFS='|' read -r f1 e1 <<<"${cell[$id.think]:-|}"
	hdr "$name" "$f0" "$e0" "$f1" "$e1"
done
echo
echo "K: y when the app was SIGKILLed in most runs (by the kubelet at the grace period, or by"
echo "lastcall --kill-margin before it). Failed: requests sent that got no"
echo "complete 2xx answer (an idle connection closed by the server is not one: kaclient reconnects)."
[ "$close_idle" = yes ] || echo "--close-idle: not in this lastcall build."
[ -z "${RAW:-}" ] || printf '\nruns (failed/exit s, K killed):\n%s' "$raw"
exit 0
