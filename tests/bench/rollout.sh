#!/usr/bin/env bash
# The rolling-shutdown benchmark: one pod of two is deleted under steady
# keep-alive load, the way Kubernetes does it, for each way of running the
# sample app as a container's PID 1. Prints failed requests and seconds
# from T0 (the deletion) to the exit, medians over REPS runs, as a table.
#
# Kubernetes, played faithfully on loopback:
#   - the "Service" is HAProxy with no health checks and no retries, like
#     kube-proxy: it stops sending to the pod only when the endpoint is
#     removed, LAG_MS after T0 (endpoint propagation);
#   - at T0 the preStop hook runs (here only `sleep 5` for one variant),
#     then SIGTERM goes to PID 1 of the pod's PID namespace, and SIGKILL at
#     T0 + GRACE_S if it is still there.
# Usage: tests/bench/rollout.sh   (env: LASTCALL, REPS=3, LAG_MS=3000)
set -uo pipefail
export PROBES=${PROBES:-/nonexistent}
. "$(dirname "$0")/../integration/lib.sh"

REPS=${REPS:-3}
LAG_MS=${LAG_MS:-3000}
GRACE_S=${GRACE_S:-30}
WRK_S=14		# load for this long; T0 two seconds in
export npm_config_update_notifier=false npm_config_loglevel=error
cd "$APP_DIR" || exit 1

# name|preStop sleep (s)|PID 1 command
variants=(
	"npm start as PID 1|0|npm start"
	"node as PID 1|0|node server.js"
	"tini|0|tini -- node server.js"
	"dumb-init|0|dumb-init node server.js"
	"tini + preStop sleep 5|5|tini -- node server.js"
	"lastcall run -- npm start|0|$LASTCALL run --drain-on TERM --grace-period ${GRACE_S}s -- npm start"
)

sleep_until() { [ "$(now_ms)" -ge "$1" ]; }

# one_run "PID 1 command" PRESTOP_S: sets FAILED, EXIT_MS, KILLED.
one_run() {
	local cmd=$1 prestop=$2 port_a port_b fe admin hap load a_ns a_p1 t0 b_pid
	port_a=$(free_port); port_b=$(free_port); fe=$(free_port); admin=$(free_port)

	PORT=$port_b DELAY_MS=100 start_bg "$WORK/b.log" node server.js
	b_pid=$BG_PID
	# shellcheck disable=SC2086
	PORT=$port_a DELAY_MS=100 start_bg "$WORK/a.log" unshare --pid --fork --mount-proc --kill-child $cmd
	a_ns=$BG_PID
	wait_until 10000 has_line '^listening on ' "$WORK/a.log" || { echo "a did not start" >&2; return 1; }
	wait_until 10000 has_line '^listening on ' "$WORK/b.log" || { echo "b did not start" >&2; return 1; }
	a_p1=$(child_of "$a_ns")

	start_haproxy "$fe" "$admin" $'retries 0\ntimeout client 30s\ntimeout server 30s' \
		"server a 127.0.0.1:$port_a"$'\n'"server b 127.0.0.1:$port_b"
	hap=$HAP_PID
	wait_until 5000 curl -fs -o /dev/null "http://127.0.0.1:$fe/" || { echo "haproxy did not route" >&2; return 1; }

	start_bg "$WORK/wrk.out" wrk -t2 -c16 -d${WRK_S}s --timeout 10s "http://127.0.0.1:$fe/"
	load=$BG_PID
	wait_until 3000 sleep_until $(($(now_ms) + 2000))
	t0=$(now_ms)
	# The endpoint goes away LAG_MS after T0, whatever the pod does.
	( wait_until $((LAG_MS + 1000)) sleep_until $((t0 + LAG_MS)); remove_backend "$admin" a ) &
	local remover=$!
	# The kubelet: preStop, then SIGTERM, then SIGKILL at the grace.
	[ "$prestop" -gt 0 ] && wait_until $((prestop * 1000 + 1000)) sleep_until $((t0 + prestop * 1000))
	kill -TERM "$a_p1" 2>/dev/null
	KILLED=no
	if ! wait_until $((t0 + GRACE_S * 1000 - $(now_ms))) gone "$a_ns"; then
		kill -KILL "$a_p1" 2>/dev/null
		KILLED=yes
		wait_until 5000 gone "$a_ns"
	fi
	EXIT_MS=$(($(now_ms) - t0))
	wait "$a_ns" 2>/dev/null
	wait "$remover" 2>/dev/null
	wait_exit "$load" $((WRK_S * 1000 + 15000))
	local non2xx sockerr
	non2xx=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$WORK/wrk.out" | grep -oE '[0-9]+$')
	sockerr=$(grep -oE 'Socket errors: .*' "$WORK/wrk.out" | grep -oE '[0-9]+' | paste -sd+)
	FAILED=$(( ${non2xx:-0} + ${sockerr:-0} ))
	REQS=$(grep -oE '^ +[0-9]+ requests in' "$WORK/wrk.out" | grep -oE '[0-9]+')
	kill -TERM "$hap" "$b_pid" 2>/dev/null
	wait_exit "$hap" 5000
	wait_exit "$b_pid" 5000
	cp "$WORK/a.log" "$WORK/last-a.log"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "rollout: ${REPS} runs per variant, endpoint removal ${LAG_MS} ms after T0, grace ${GRACE_S}s,"
echo "wrk -c16 through HAProxy (no retries, no health checks) to two pods, 100 ms responses"
echo
printf '| %-28s | %16s | %18s | %-22s |\n' "PID 1" "failed requests" "T0 to exit (s)" "runs: failed/exit s"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..30})" "$(printf -- '-%.0s' {1..18})" \
	"$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..24})"
for v in "${variants[@]}"; do
	IFS='|' read -r name prestop cmd <<<"$v"
	fails=() exits=() runs=""
	for _ in $(seq 1 "$REPS"); do
		if ! one_run "$cmd" "$prestop"; then
			echo "rollout: a run of '$name' broke; log:" >&2
			tail -n 20 "$WORK/a.log" >&2
			exit 1
		fi
		fails+=("$FAILED")
		exits+=("$EXIT_MS")
		runs+="${runs:+ }$FAILED/$(awk -v m="$EXIT_MS" 'BEGIN { printf "%.1f", m / 1000 }')"
		[ "$KILLED" = yes ] && runs+="K"
	done
	mf=$(printf '%s\n' "${fails[@]}" | median)
	me=$(printf '%s\n' "${exits[@]}" | median)
	printf '| %-28s | %16s | %18s | %-22s |\n' "$name" "$mf" \
		"$(awk -v m="$me" 'BEGIN { printf "%.2f", m / 1000 }')" "$runs"
done
echo
echo "K: SIGKILLed at the grace period. Target for lastcall: 0 failed, exit <= lag + quiet-period + 1 s = $(( (LAG_MS + 2000) / 1000 )) s."
