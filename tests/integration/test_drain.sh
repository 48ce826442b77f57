#!/usr/bin/env bash
# The drain engine under load: two instances of the sample app, each under
# `lastcall run` as PID 1 of its own PID namespace, behind HAProxy which
# health-checks each instance's /readyz. wrk drives keep-alive load; one
# instance gets SIGTERM mid-load. Not one request may fail, the instance
# must exit well before its deadline, and the phases appear in order.
# First the same setup with the drain off (SIGTERM forwarded at once) shows
# that this test sees lost requests when there are some. Last, endpoint
# removal as kube-proxy does it: no readiness probing at all, the backend
# taken out through HAProxy's runtime API some seconds after T0; the drain
# must notice the traffic stop by itself.
. "$(dirname "$0")/lib.sh"

for cmd in haproxy wrk node; do
	command -v "$cmd" >/dev/null || { not_ok "$cmd is installed (make deps installs it)"; done_testing; exit 1; }
done
cd "$APP_DIR" || exit 1

# start_app NAME DRAIN_ON: an app instance under lastcall (start_served).
start_app() {
	start_served "$1" --drain-on "$2" --grace-period 20s --min-delay 2s \
		--quiet-period 1s --max-delay 10s
}

not_ready() { ! ready_ok "$1"; }

# scenario TAG DRAIN_ON [LAG_MS]: the whole run; with the drain on, asserts
# a clean shutdown; always sets LOST (non-2xx answers plus socket errors).
# With LAG_MS, HAProxy does not probe readiness: the test removes a LAG_MS
# after SIGTERM, as a lagging kube-proxy would.
scenario() {
	local tag=$1 drain_on=$2 lag=${3:-} fe hap load t0 elapsed status admin removed

	LOST=0
	if ! start_app a "$drain_on" || ! start_app b "$drain_on"; then
		not_ok "$tag: instances a and b start"
		return 1
	fi
	ok "$tag: instances a and b start"
	check "$tag: a becomes ready once its port listens" wait_until 5000 ready_ok "$a_PROBE"
	check "$tag: b becomes ready once its port listens" wait_until 5000 ready_ok "$b_PROBE"

	fe=$(free_port)
	admin=$(free_port)
	# Health checks on /readyz, or none at all (the kube-proxy model).
	local hc="" ca="" cb=""
	if [ -z "$lag" ]; then
		hc=$'option httpchk GET /readyz\ndefault-server inter 200ms fall 2 rise 1\n'
		ca=" check port $a_PROBE" cb=" check port $b_PROBE"
	fi
	start_haproxy "$fe" "$admin" $'timeout client 10s\ntimeout server 10s' \
		"${hc}server a 127.0.0.1:$a_PORT$ca"$'\n'"server b 127.0.0.1:$b_PORT$cb"
	hap=$HAP_PID
	through() { curl -fs -o /dev/null "http://127.0.0.1:$fe/"; }
	check "$tag: HAProxy routes to the apps" wait_until 5000 through

	# Keep-alive load for 8 s; SIGTERM to instance a after 2 s of it.
	start_bg "$WORK/wrk.out" wrk -t2 -c16 -d8s --timeout 5s "http://127.0.0.1:$fe/"
	load=$BG_PID
	wait_until 3000 sleep_until $(($(now_ms) + 2000))
	t0=$(now_ms)
	kill -TERM "$a_PID"
	if [ -n "$lag" ]; then
		wait_until $((lag + 1000)) sleep_until $((t0 + lag))
		removed=$(($(now_ms) - t0))
		check "$tag: a removed from HAProxy ${removed} ms after SIGTERM" remove_backend "$admin" a
	fi
	if [ "$drain_on" != none ] && [ -z "$lag" ]; then
		check "$tag: a's /readyz answers 503 once the drain starts" wait_until 1000 not_ready "$a_PROBE"
		check "$tag: a's /livez stays 200 while draining" curl -fs -o /dev/null "http://127.0.0.1:$a_PROBE/livez"
		status=$(curl -fs "http://127.0.0.1:$a_PROBE/status")
		check "$tag: a's /status shows a drain phase" grep -qE '"phase":"(unready|propagate|drain)"' <<<"$status"
	fi
	wait_exit "$a_NS" 25000
	elapsed=$(($(now_ms) - t0))
	echo "# $tag: a: SIGTERM to exit ${elapsed} ms, status $CODE"
	check "$tag: a exits 0, the app's own status (got $CODE)" [ "$CODE" = 0 ]
	wait_exit "$load" 20000
	wrk_result "$WORK/wrk.out" "$tag"
	local non2xx sockerr
	non2xx=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$WORK/wrk.out" | grep -oE '[0-9]+$')
	sockerr=$(( LOST - ${non2xx:-0} ))
	check "$tag: wrk sent requests ($REQS)" [ "$REQS" -gt 100 ]

	if [ "$drain_on" != none ]; then
		check "$tag: no non-2xx answer (${non2xx:-0})" [ "${non2xx:-0}" = 0 ]
		check "$tag: no socket error (${sockerr:-0})" [ "${sockerr:-0}" = 0 ]
		check "$tag: a exits before its deadline (${elapsed} ms < 19000 ms)" [ "$elapsed" -lt 19000 ]
		check "$tag: a waited at least the minimum delay (${elapsed} ms >= 2000 ms)" [ "$elapsed" -ge 2000 ]
		local phases
		phases=$(grep -oE 'event=phase phase=[a-z]+' "$WORK/a.log" | sed 's/.*=//' | tr '\n' ' ')
		check "$tag: phases in order: unready propagate drain stop done (got: $phases)" \
			[ "$phases" = "unready propagate drain stop done " ]
		check "$tag: the stop signal went out" has_line 'event=stop_signal_sent signal=SIGTERM' "$WORK/a.log"
		check "$tag: the app closed gracefully" has_line '^Closing server' "$WORK/a.log"
		check "$tag: no forced kill" [ "$(count_lines 'forced_kill|phase=kill' "$WORK/a.log")" = 0 ]
	fi
	if [ -n "$lag" ]; then
		local d
		d=$(grep -oE 'event=phase phase=drain ms=[0-9]+' "$WORK/a.log" | grep -oE '[0-9]+$')
		echo "# $tag: removal at ${removed} ms, propagate ended at ${d:-none} ms"
		check "$tag: propagate waited for the removal (${d:-none} ms >= ${removed} ms)" \
			[ "${d:-0}" -ge "$removed" ]
		check "$tag: ...and ended within quiet-period + 0.5 s of it (${d:-none} <= $((removed + 1500)))" \
			[ "${d:-999999}" -le $((removed + 1500)) ]
	fi
	check "$tag: b keeps serving after a left" through

	kill -TERM "$b_PID"
	wait_exit "$b_NS" 25000
	check "$tag: b exits 0 (got $CODE)" [ "$CODE" = 0 ]
	kill -TERM "$hap" 2>/dev/null
	wait_exit "$hap" 5000
}

# The control: the drain off, so SIGTERM reaches node at once and HAProxy
# keeps sending to it until its health check notices.
scenario control none
check "control: without the drain, requests are lost ($LOST)" [ "$LOST" -gt 0 ]
scenario drain TERM,INT
scenario lag TERM,INT 3500

done_testing
