#!/usr/bin/env bash
# Pinned clients: a pod deleted behind a ClusterIP Service, in kube-proxy's
# own data path (kproxy.sh: iptables nat rules in a network namespace of
# this test, conntrack left alone). Keep-alive clients with think time keep
# their connections to the deleted pod after its endpoint is removed: no new
# connection reaches it, requests on the old ones never stop.
#
# First the load client (kaclient) is checked: a server dying mid-request
# is counted as failures, a server closing idle connections is not. Then
# the test bed itself: new connections to the VIP reach both endpoints; an
# endpoint removed by a sync takes no new connection, while one opened
# before the removal still reaches it. Last the scenarios: instance a
# under `lastcall run`, b plain, kaclient through the VIP; at T0 the
# kubelet's SIGTERM to a's PID 1, a's endpoint removed REMOVAL_MS later;
# the failed requests and T0 -> exit are measured, for an app that answers
# `Connection: close` once stopping, for one that closes none of its
# connections under --close-idle with lastcall's defaults, for the
# cooperative one and the one closing none under --close-idle with the
# API's removal signal (kubeapi.sh's double), and for the one closing none
# without --close-idle (SIGKILL, the cause named).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kproxy.sh"

# The scenario's settings and thresholds.
GRACE_S=30		# terminationGracePeriodSeconds, lastcall's --grace-period
MAX_DELAY_S=8		# lastcall's --max-delay
REMOVAL_MS=2000		# endpoint removal after T0
CONNS=16		# kaclient connections...
THINK_MS=200		# ...each waiting this long between requests
MAX_FAILED=0		# failed requests allowed, cooperative app
MAX_FAILED_CLOSE=2	# ...an app whose idle connections lastcall closes
PINNED_EXIT_MS=$(((MAX_DELAY_S + 1) * 1000))	# T0 -> exit, pinned traffic drained
VIP=127.0.10.1

KA="$PROBES/kaclient"
for cmd in node iptables ip curl ss "$KA"; do
	command -v "$cmd" >/dev/null || { not_ok "$cmd is installed (make deps, make probes)"; done_testing; exit 1; }
done
if ! kproxy_enter "$@"; then
	not_ok "the test bed: a network namespace with iptables nat rules"
	done_testing
	exit 1
fi
ok "the test bed: a network namespace with iptables ($(kproxy_backend)) nat rules"
cd "$APP_DIR" || exit 1

# ka_field FILE KEY: a number from kaclient's summary line.
ka_field() { grep -oE "(^| )$2=[0-9]+" "$1" | tail -n1 | grep -oE '[0-9]+$'; }
ka_done() { has_line '^requests=' "$1"; }

# --- kaclient counts what a pooling client sees -----------------------------

# A server SIGKILLed while it holds each connection's request: every
# request fails, no answer is counted ok.
HOST=127.0.0.1 PORT=0 DELAY_MS=3000 start_bg "$WORK/slow.log" node server.js
slow=$BG_PID
wait_until 10000 has_line '^listening on ' "$WORK/slow.log"
port=$(log_port "$WORK/slow.log" '^listening on .*:[0-9]+')
start_bg "$WORK/ka.dies" "$KA" -c 4 -d 1500 --timeout 5000 "127.0.0.1:$port"
ka=$BG_PID
in_flight() { [ "$(ss -Htn state established "( sport = :$port )" | wc -l)" -ge 4 ]; }
check "kaclient: 4 requests in flight on a slow server" wait_until 5000 in_flight
kill -KILL "$slow"
wait "$slow" 2>/dev/null
wait_exit "$ka" 10000
echo "# kaclient, server killed mid-request: $(cat "$WORK/ka.dies")"
# The kernel ends the dead server's sockets with a FIN or, with bytes
# unread, a reset.
cut=$(($(ka_field "$WORK/ka.dies" fail_eof) + $(ka_field "$WORK/ka.dies" fail_reset)))
check "kaclient: the 4 requests cut by the server's death fail (fail_eof + fail_reset: $cut)" \
	[ "$cut" = 4 ]
check "kaclient: nothing counted ok" [ "$(ka_field "$WORK/ka.dies" ok)" = 0 ]
check "kaclient: new connections to the dead port fail too (fail_connect $(ka_field "$WORK/ka.dies" fail_connect))" \
	[ "$(ka_field "$WORK/ka.dies" fail_connect)" -gt 0 ]
check "kaclient: requests = ok + failed" \
	[ "$(ka_field "$WORK/ka.dies" requests)" = $(($(ka_field "$WORK/ka.dies" ok) + $(ka_field "$WORK/ka.dies" failed))) ]

# A server closing each keep-alive connection soon after its answer (Node
# closes it about 1 s after keepAliveTimeout), clients waiting 1.5 to 4.5 s (kaclient -t 3000)
# between requests: every wait ends in an idle close, which is no failure;
# each request opens a new connection.
HOST=127.0.0.1 PORT=0 DELAY_MS=10 KEEPALIVE_MS=100 start_bg "$WORK/idle.log" node server.js
idle=$BG_PID
wait_until 10000 has_line '^listening on ' "$WORK/idle.log"
port=$(log_port "$WORK/idle.log" '^listening on .*:[0-9]+')
start_bg "$WORK/ka.idle" "$KA" -c 4 -d 6000 -t 3000 --timeout 5000 "127.0.0.1:$port"
wait_exit "$BG_PID" 10000
echo "# kaclient, server closing idle connections: $(cat "$WORK/ka.idle")"
check "kaclient: idle closes are no failures (failed $(ka_field "$WORK/ka.idle" failed))" \
	[ "$(ka_field "$WORK/ka.idle" failed)" = 0 ]
check "kaclient: ...but counted (idle_closed $(ka_field "$WORK/ka.idle" idle_closed) >= 4)" \
	[ "$(ka_field "$WORK/ka.idle" idle_closed)" -ge 4 ]
check "kaclient: ...and each next request reconnects (connects = requests)" \
	[ "$(ka_field "$WORK/ka.idle" connects)" = "$(ka_field "$WORK/ka.idle" requests)" ]
kill -TERM "$idle"
wait_exit "$idle" 5000

# --- the test bed --------------------------------------------------------------

# a under lastcall as its pod's PID 1, b a plain app: the Service's two
# endpoints, on addresses of their own.
HOST=127.0.20.1 start_served a --drain-on TERM,INT --grace-period "${GRACE_S}s" \
	--max-delay "${MAX_DELAY_S}s" --min-delay 2s --quiet-period 1s ||
	{ not_ok "a starts under lastcall"; done_testing; exit 1; }
HOST=127.0.20.2 PORT=0 DELAY_MS=100 start_bg "$WORK/b.log" node server.js
b=$BG_PID
wait_until 10000 has_line '^listening on ' "$WORK/b.log" || { not_ok "b starts"; done_testing; exit 1; }
EP_A="127.0.20.1:$a_PORT"
EP_B="127.0.20.2:$(log_port "$WORK/b.log" '^listening on .*:[0-9]+')"
kproxy_service web "$VIP" 80
check "the Service has a and b as endpoints" kproxy_endpoints web "$EP_A" "$EP_B"
kproxy_rules >"$WORK/rules.both"

# served_by: which endpoint answers a new connection to the VIP.
served_by() {
	curl -fs -m 3 -D - -o /dev/null "http://$VIP/" | tr -d '\r' | sed -n 's/^x-served-by: //Ip'
}
# new_conns N: the endpoints N new connections reached, sorted, unique.
new_conns() { local i; for i in $(seq 1 "$1"); do served_by; done | sort -u | paste -sd' '; }
# fd_get FD: one request on the open connection FD; prints x-served-by.
# The sample app answers chunked: the answer ends with "0" and an empty
# line.
fd_get() {
	local fd=$1 line by="" i
	printf 'GET / HTTP/1.1\r\nHost: web\r\n\r\n' >&"$fd" || return 1
	for i in $(seq 1 40); do
		IFS= read -r -t 3 line <&"$fd" || return 1
		line=${line%$'\r'}
		case "$line" in
		[Xx]-[Ss]erved-[Bb]y:*) by=${line#*: } ;;
		0) IFS= read -r -t 3 line <&"$fd"; echo "$by"; return 0 ;;
		esac
	done
	return 1
}

got=$(new_conns 20)
check "20 new connections to the VIP reach both endpoints (got: $got)" \
	[ "$got" = "$(printf '%s\n' "$EP_A" "$EP_B" | sort | paste -sd' ')" ]

# One connection opened now, then its endpoint removed by a sync.
exec {pin}<>"/dev/tcp/$VIP/80"
first=$(fd_get "$pin")
case "$first" in
"$EP_A") other=$EP_B ;;
"$EP_B") other=$EP_A ;;
*) other= ;;
esac
check "a connection to the VIP is answered by an endpoint (${first:-none})" [ -n "$other" ]
check "sync: the endpoint ${first:-?} removed" kproxy_endpoints web "$other"
check "...its KUBE-SEP chain is gone" [ "$(kproxy_rules | grep -c 'DNAT')" = 1 ]
check "...conntrack still holds the open connection to it ($(kproxy_conntrack "$first"))" \
	[ "$(kproxy_conntrack "$first")" -ge 1 ]
again=$(fd_get "$pin")
check "the connection opened before the removal still reaches ${first:-?} (got ${again:-none})" \
	[ "$again" = "$first" ]
got=$(new_conns 10)
check "new connections reach only $other (got: $got)" [ "$got" = "$other" ]
exec {pin}>&-
check "sync: both endpoints back" kproxy_endpoints web "$EP_A" "$EP_B"

# --- the scenario: a deleted under pinned keep-alive load -------------------

# scenario TAG SHUTDOWN LASTCALL_FLAGS...: a (the app with SHUTDOWN=next
# or hold) under `lastcall run FLAGS`, b beside it behind the VIP, kaclient
# through it; at T0 the kubelet's SIGTERM to a's PID 1, a's endpoint
# removed REMOVAL_MS later. Sets FAILED, EXIT_MS, KILLED (the kubelet's),
# A_CODE, REMOVED.
scenario() {
	local tag=$1 mode=$2 load t0 kubelet a_conns last_rcv got
	shift 2
	if [ -n "${a_NS:-}" ] && alive "$a_NS"; then
		kill -TERM "$a_PID"
		wait_exit "$a_NS" 35000
	fi
	# lib.sh's LASTCALL_DRAIN_ON=none is for the PID-1 suites: here the
	# drain is on, as it is by default.
	if ! LASTCALL_DRAIN_ON=TERM,INT SHUTDOWN=$mode HOST=127.0.20.1 start_served a "$@"; then
		not_ok "$tag: a starts under lastcall"
		return 1
	fi
	EP_A="127.0.20.1:$a_PORT"
	kproxy_endpoints web "$EP_A" "$EP_B" || { not_ok "$tag: the Service has a and b"; return 1; }
	[ -z "${SCENARIO_API:-}" ] ||
		curl -fs -o /dev/null -X POST "http://127.0.0.1:$eps_CTL/slices?ready=true"
	start_bg "$WORK/ka.$tag" "$KA" -c "$CONNS" -d 60000 -t "$THINK_MS" --timeout 5000 "$VIP:80"
	load=$BG_PID
	wait_until 3000 sleep_until $(($(now_ms) + 2000))
	t0=$(now_ms)
	kubelet_container a "$a_PID" TERM "$t0" $((GRACE_S * 1000)) &
	kubelet=$!
	started_pids+=("$kubelet")
	wait_until $((REMOVAL_MS + 1000)) sleep_until $((t0 + REMOVAL_MS))
	check "$tag: T0 + $((REMOVAL_MS / 1000)) s: a's endpoint removed (sync)" kproxy_endpoints web "$EP_B"
	# ...and, for the rows with the API, in its EndpointSlice at the same
	# moment.
	[ -z "${SCENARIO_API:-}" ] ||
		curl -fs -o /dev/null -X POST "http://127.0.0.1:$eps_CTL/slices?ready=false"
	REMOVED=$(($(now_ms) - t0))

	# Pinning, under load: 1.5 s after the removal a still has
	# established connections that received bytes in the last second
	# (lastrcv, tcp_info), and conntrack still DNATs them to a; new
	# connections go to b only. (With the API, a is about gone by then:
	# only the last holds.)
	wait_until 2000 sleep_until $((t0 + REMOVED + 1500))
	if [ -z "${SCENARIO_API:-}" ]; then
		a_conns=$(ss -Htn state established "( sport = :$a_PORT )" | wc -l)
		last_rcv=$(ss -Htin state established "( sport = :$a_PORT )" | grep -oE 'lastrcv:[0-9]+' |
			cut -d: -f2 | sort -n | head -n1)
		echo "# $tag: $((REMOVED + 1500)) ms: a has $a_conns connections, the latest bytes" \
			"${last_rcv:-none} ms ago, conntrack to a: $(kproxy_conntrack "$EP_A")"
		check "$tag: pinned: a's old connections still carry requests after the removal (lastrcv ${last_rcv:-none} ms < 1000)" \
			[ "${last_rcv:-99999}" -lt 1000 ]
		check "$tag: pinned: conntrack keeps them DNATed to a" [ "$(kproxy_conntrack "$EP_A")" -ge 1 ]
	fi
	got=$(new_conns 10)
	check "$tag: pinned: new connections reach only b (got: $got)" [ "$got" = "$EP_B" ]

	wait_exit "$kubelet" $(((GRACE_S + 10) * 1000))
	EXIT_MS=$(kv a exit_ms)
	KILLED=$(kv a killed)
	wait_exit "$a_NS" 5000
	A_CODE=$CODE
	# The load goes on a second against b alone, then stops.
	wait_until 2000 sleep_until $(($(now_ms) + 1000))
	kill -INT "$load"
	wait_exit "$load" 10000
	cp "$WORK/a.log" "$WORK/a.$tag.log"
	echo "# $tag: kaclient: $(cat "$WORK/ka.$tag")"
	FAILED=$(ka_field "$WORK/ka.$tag" failed)
	echo "# $tag: failed=${FAILED:-?} T0->exit=${EXIT_MS:-?} ms killed=${KILLED:-?}" \
		"(removal at $REMOVED ms, grace ${GRACE_S}s)"
	grep -E 'event=(phase|stop_signal_sent|pinned|pinned_left|closed_idle|forced_kill)' \
		"$WORK/a.log" | sed "s/^/# $tag: a: /"
	check "$tag: kaclient sent requests ($(ka_field "$WORK/ka.$tag" requests))" \
		[ "$(ka_field "$WORK/ka.$tag" requests)" -gt 100 ]
	check "$tag: a was not SIGKILLed by the kubelet (killed=${KILLED:-?})" [ "$KILLED" = false ]
	check "$tag: the app got the stop signal" has_line '^Closing server' "$WORK/a.log"
}

# A cooperative app, --max-delay 8s to keep it short: 0 failed, out by
# max-delay + 1 s. SHUTDOWN=next: "Connection: close" on each
# connection's next answer. (The default close mode, like Go's Shutdown,
# also closes the connections idle at the stop, which races a request a
# client sends at that moment: an app's own failure, not the drain's, and
# what made this test fail one run in a few.)
if scenario cooperative next --drain-on TERM,INT --grace-period "${GRACE_S}s" \
	--max-delay "${MAX_DELAY_S}s" --min-delay 2s --quiet-period 1s; then
	check "cooperative: no request failed (${FAILED:-?} <= $MAX_FAILED)" [ "${FAILED:-99999}" -le "$MAX_FAILED" ]
	check "cooperative: nor the app SIGKILLed by lastcall" [ "$(count_lines 'forced_kill|phase=kill' "$WORK/a.log")" = 0 ]
	check "cooperative: a exits 0, the app's own status (got $A_CODE)" [ "$A_CODE" = 0 ]
	check "cooperative: the stop went early, only pinned traffic being left" \
		has_line 'event=phase phase=stop ms=[0-9]+ inflight=[0-9]+ reason=pinned' "$WORK/a.log"
	check "cooperative: T0 -> exit ${EXIT_MS:-?} ms <= max-delay + 1 s ($PINNED_EXIT_MS)" \
		[ "${EXIT_MS:-999999}" -le "$PINNED_EXIT_MS" ]
fi

# An app that closes none of its keep-alive connections, idle or busy
# (SHUTDOWN=hold: it only stops listening, as Node 18's server.close()
# does), lastcall with nothing but --close-idle: what a user gets by
# default (--max-delay 15s, the grace a pod has). Every connection is
# lastcall's to close: at most 2 failed, no SIGKILL, out by max-delay +
# 3 s. (With SHUTDOWN=keep, Node 20 closes the connections idle at the
# stop itself, and now and then that is all of them, leaving lastcall
# nothing to close.)
if scenario close-idle hold --close-idle; then
	closed=$(grep -oE 'event=closed_idle count=[0-9]+ total=[0-9]+' "$WORK/a.log" | tail -n1 | grep -oE '[0-9]+$')
	check "close-idle: at most $MAX_FAILED_CLOSE failed (${FAILED:-?})" [ "${FAILED:-99999}" -le "$MAX_FAILED_CLOSE" ]
	check "close-idle: idle connections closed for the app (${closed:-0})" [ "${closed:-0}" -ge 1 ]
	check "close-idle: the clients saw them closed between requests ($(ka_field "$WORK/ka.close-idle" idle_closed))" \
		[ "$(ka_field "$WORK/ka.close-idle" idle_closed)" -ge 1 ]
	check "close-idle: no SIGKILL by lastcall" [ "$(count_lines 'forced_kill|phase=kill' "$WORK/a.log")" = 0 ]
	check "close-idle: a exits 0 (got $A_CODE)" [ "$A_CODE" = 0 ]
	check "close-idle: T0 -> exit ${EXIT_MS:-?} ms <= max-delay (15 s) + 3 s" [ "${EXIT_MS:-999999}" -le 18000 ]
fi

# The API's removal signal (an API double whose EndpointSlice has a's
# endpoint not ready from the removal on): out by removal + quiet period
# + 1 s for the cooperative app; removal + 4 s for the one closing none,
# under --close-idle, which needs each connection idle in two samples a
# sample interval apart (about 1.9 s after the removal here, 16
# connections); lastcall's defaults otherwise.
. "$TESTS_DIR/integration/kubeapi.sh"
if kubeapi_init && kubeapi_start eps; then
	sa_dir "$WORK/sa" token-eps-A
	export KUBERNETES_SERVICE_PORT=$eps_API SCENARIO_API=1
	api=(--pod-name web-0 --pod-uid "$KUBEAPI_POD_UID" --kube-dir "$WORK/sa")
	if scenario cooperative-api next "${api[@]}"; then
		check "cooperative-api: no request failed (${FAILED:-?})" [ "${FAILED:-99999}" = 0 ]
		check "cooperative-api: the removal seen" has_line 'event=endpoints_removed slices=1' "$WORK/a.log"
		check "cooperative-api: T0 -> exit ${EXIT_MS:-?} ms <= removal ($REMOVED) + 1 s + 1 s" \
			[ "${EXIT_MS:-999999}" -le $((REMOVED + 2000)) ]
		check "cooperative-api: a exits 0 (got $A_CODE)" [ "$A_CODE" = 0 ]
	fi
	if scenario close-idle-api hold --close-idle "${api[@]}"; then
		closed=$(grep -oE 'event=closed_idle count=[0-9]+ total=[0-9]+' "$WORK/a.log" | tail -n1 | grep -oE '[0-9]+$')
		check "close-idle-api: at most $MAX_FAILED_CLOSE failed (${FAILED:-?})" \
			[ "${FAILED:-99999}" -le "$MAX_FAILED_CLOSE" ]
		check "close-idle-api: idle connections closed for the app (${closed:-0})" [ "${closed:-0}" -ge 1 ]
		check "close-idle-api: no SIGKILL by lastcall" [ "$(count_lines 'forced_kill|phase=kill' "$WORK/a.log")" = 0 ]
		check "close-idle-api: T0 -> exit ${EXIT_MS:-?} ms <= removal ($REMOVED) + 4 s" \
			[ "${EXIT_MS:-999999}" -le $((REMOVED + 4000)) ]
	fi
	unset SCENARIO_API KUBERNETES_SERVICE_PORT
else
	not_ok "an API server double for the removal signal starts"
fi

# The app that closes none of its connections without --close-idle, a
# short grace to keep it short: the app never lets go, lastcall SIGKILLs
# it before the kubelet would and says why. (Not SHUTDOWN=keep: Node 20's
# server.close() closes the connections idle at the stop, and now and
# then that is all of them: the app exits on its own, and nothing here
# would be checked.)
if scenario hold hold --grace-period 12s --max-delay 4s; then
	check "hold: SIGKILLed by lastcall at the deadline" has_line 'event=forced_kill' "$WORK/a.log"
	check "hold: the cause named once (pinned_left, with the fix)" \
		[ "$(count_lines 'event=pinned_left connections=[1-9][0-9]* .*--close-idle' "$WORK/a.log")" = 1 ]
fi

check "b keeps serving through the VIP" [ "$(served_by)" = "$EP_B" ]
kill -TERM "$b"
wait_exit "$b" 5000

done_testing
