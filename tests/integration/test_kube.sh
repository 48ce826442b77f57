#!/usr/bin/env bash
# The Kubernetes API, against tests/apiserver/server.js (a test double:
# HTTPS with a CA made here, the bearer token checked on every call,
# strategic merge of conditions by type, Events; it can be told to refuse,
# hang or drop). What is checked: the readiness gate goes True once the app
# is ready and False at T0 before any delay, the other conditions kept; a
# rotated token is used at once; Events carry the pod's uid and come in
# phase order; --on-exit-url is POSTed after the app's exit; a shorter
# deletionGracePeriodSeconds moves the deadline; `lastcall gate`; and an
# API server that is down, hanging, refusing or dropping changes nothing
# for the shutdown, under load through HAProxy.
. "$(dirname "$0")/lib.sh"

for cmd in node openssl haproxy wrk curl; do
	command -v "$cmd" >/dev/null || { not_ok "$cmd is installed (make deps installs it)"; done_testing; exit 1; }
done
cd "$APP_DIR" || exit 1
. "$TESTS_DIR/integration/kubeapi.sh"
GATE=example.com/lastcall-ready
POD_UID=$KUBEAPI_POD_UID
start_api() { kubeapi_start "$@"; }

# --- the cluster's CA, the API server's certificate, a service account ----
check "test CA and API server certificate made" kubeapi_init
cond() { q "$1" "(s.pod.status.conditions.find(c => c.type === '$2') || {}).status || 'none'"; }
gate_is() { [ "$(cond "$1" "$GATE")" = "$2" ]; }

# --- the gate, rotation, Events, termination message, --on-exit-url --------
start_api one || { not_ok "the API server double starts"; done_testing; exit 1; }
ok "the API server double starts (api $one_API, control $one_CTL)"
sa_dir "$WORK/sa1" token-one-A
export KUBERNETES_SERVICE_HOST=127.0.0.1
KUBERNETES_SERVICE_PORT=$one_API PORT=0 start_pid1 "$WORK/run1.log" run --drain-on TERM \
	--listen 127.0.0.1:0 --control "$WORK/run1.sock" --grace-period 20s --min-delay 1s \
	--quiet-period 300ms --pod-name web-0 --kube-dir "$WORK/sa1" --readiness-gate "$GATE" \
	--events --on-exit-url "http://127.0.0.1:$one_CTL/quitquitquit" \
	--termination-log "$WORK/term1" -- node server.js
RUN1_NS=$NS_PID RUN1=$L_PID
check "gate: True once the app is ready" wait_until 10000 gate_is "$one_CTL" True
check "gate: logged True" wait_until 2000 has_line "event=readiness_gate type=$GATE status=True ms=-1" "$WORK/run1.log"
check "gate: False first, while the app was not ready yet" \
	[ "$(q "$one_CTL" "s.requests.filter(r => r.method === 'PATCH').map(r => r.body.status.conditions[0].status).slice(0, 2).join(',')")" = False,True ]
check "gate: patches are strategic merge, merged by type" \
	[ "$(q "$one_CTL" "s.requests.filter(r => r.method === 'PATCH').every(r => r.ctype === 'application/strategic-merge-patch+json' && r.status === 200)")" = true ]
check "gate: the other conditions untouched" \
	[ "$(q "$one_CTL" "s.pod.status.conditions.map(c => c.type + '=' + c.status).join(',')")" = \
	  "PodScheduled=True,Initialized=True,ContainersReady=True,Ready=False,example.com/other=True,$GATE=True" ]
check "gate: a condition of another owner keeps its reason" \
	[ "$(q "$one_CTL" "s.pod.status.conditions.find(c => c.type === 'example.com/other').reason")" = Theirs ]
check "uid learnt from GET pod (no --pod-uid): in the patch precondition" \
	[ "$(q "$one_CTL" "s.requests.filter(r => r.method === 'PATCH').pop().body.metadata.uid")" = "$POD_UID" ]
check "the token was never logged" [ "$(count_lines 'token-one' "$WORK/run1.log")" = 0 ]
# The token rotates: the kubelet writes a new one, the old one stops working.
echo token-one-B >"$WORK/one.token"
echo token-one-B >"$WORK/sa1/token"
n_before=$(q "$one_CTL" "s.requests.length")
t0=$(now_ms)
kill -TERM "$RUN1"
check "gate: False at T0" wait_until 3000 gate_is "$one_CTL" False
false_at=$(q "$one_CTL" "s.requests.filter(r => r.method === 'PATCH' && r.body.status.conditions[0].status === 'False').pop().t")
echo "# gate False reached the API server $((${false_at:-0} - t0)) ms after SIGTERM"
check "gate: False before any delay ($((${false_at:-0} - t0)) ms in 0..999, min-delay 1000 ms)" between $((${false_at:-0} - t0)) 0 999
check "gate: False logged before the propagation ended" \
	wait_until 3000 eval "grep -nE 'event=readiness_gate .*status=False ms=[0-9]|phase=drain ' '$WORK/run1.log' | head -n1 | grep -q readiness_gate"
wait_exit "$RUN1_NS" 15000
check "run exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "rotation: every call after it used the new token" \
	[ "$(q "$one_CTL" "s.requests.slice($n_before).every(r => r.token === 'token-one-B' && r.status >= 200 && r.status < 300)")" = true ]
check "rotation: calls were made after it" [ "$(q "$one_CTL" "s.requests.length - $n_before")" -ge 5 ]
reasons=$(q "$one_CTL" "s.events.map(e => e.reason).join(' ')")
check "Events in phase order (got: $reasons)" \
	[ "$reasons" = "DrainStarted TrafficQuiet Drained StopSignalSent AppExited" ]
check "Events: on the pod, with its uid" \
	[ "$(q "$one_CTL" "s.events.every(e => e.involvedObject.kind === 'Pod' && e.involvedObject.name === 'web-0' && e.involvedObject.namespace === 'default' && e.involvedObject.uid === '$POD_UID')")" = true ]
check "Events: StopSignalSent names the signal" \
	[ "$(q "$one_CTL" "s.events.find(e => e.reason === 'StopSignalSent').message.split(' ')[0]")" = SIGTERM ]
check "Events: Normal, from lastcall, with ms since T0" \
	[ "$(q "$one_CTL" "s.events.every(e => e.type === 'Normal' && e.source.component === 'lastcall' && / ms/.test(e.message))")" = true ]
check "GET pod at T0: not deleting, the flag's grace holds" has_line 'event=pod_grace deleting=false grace_ms=20000' "$WORK/run1.log"
check "termination message: valid JSON with the phases" \
	node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(m.exit_code === 0 && !m.forced_kill && ["unready", "propagate", "drain", "stop", "done"].every(p => typeof m.phases[p] === "number") ? 0 : 1)' "$WORK/term1"
check "--on-exit-url POSTed" [ "$(q "$one_CTL" "s.posts.map(p => p.path).join(' ')")" = /quitquitquit ]
check "--on-exit-url: after the app exited" \
	eval "grep -nE 'event=child_exited|event=on_exit_url ' '$WORK/run1.log' | cut -d' ' -f4 | tr '\n' ' ' | grep -q '^event=child_exited .*event=on_exit_url'"
check "--on-exit-url: logged with its status" has_line "event=on_exit_url url=http://127.0.0.1:$one_CTL/quitquitquit status=200" "$WORK/run1.log"

# --- T0 while the last gate patch hangs: False goes at once ----------------
n_req=$(q "$one_CTL" "s.requests.length")
KUBERNETES_SERVICE_PORT=$one_API PORT=0 START_DELAY_MS=500 start_pid1 "$WORK/run3.log" run \
	--drain-on TERM --listen none --control none --grace-period 20s --min-delay 1s \
	--quiet-period 300ms --pod-name web-0 --pod-uid "$POD_UID" --kube-dir "$WORK/sa1" \
	--readiness-gate "$GATE" --api-timeout 4s -- node server.js
RUN3_NS=$NS_PID RUN3=$L_PID
check "slow API: False while the app starts" wait_until 5000 gate_is "$one_CTL" False
curl -fs -o /dev/null -X POST "http://127.0.0.1:$one_CTL/mode?m=hang"
true_hangs() { [ "$(q "$one_CTL" "s.requests.slice($n_req).filter(r => r.status === -1 && r.body.status.conditions[0].status === 'True').length")" = 1 ]; }
check "slow API: the True patch hangs once the app is ready" wait_until 10000 true_hangs
curl -fs -o /dev/null -X POST "http://127.0.0.1:$one_CTL/mode?m=ok"
t0=$(now_ms)
kill -TERM "$RUN3"
check "slow API: False set at T0 while True still hangs" wait_until 3000 gate_is "$one_CTL" False
false_at=$(q "$one_CTL" "s.requests.slice($n_req).filter(r => r.method === 'PATCH' && r.status === 200 && r.body.status.conditions[0].status === 'False').pop().t")
check "slow API: ...before any delay ($((${false_at:-0} - t0)) ms in 0..999)" between $((${false_at:-0} - t0)) 0 999
wait_exit "$RUN3_NS" 15000
check "slow API: exits 0 (got $CODE)" [ "$CODE" = 0 ]
n_false=$(q "$one_CTL" "s.requests.filter(r => r.method === 'PATCH' && r.t >= $t0).length")
check "slow API: one False patch after T0, no storm (got $n_false)" [ "$n_false" = 1 ]
check "slow API: the gate stays False" gate_is "$one_CTL" False

# --- a sidecar: the same Events for an app it did not start ------------------
n_events=$(q "$one_CTL" "s.events.length")
PORT=0 start_bg "$WORK/sideapp.log" node server.js
SIDEAPP=$BG_PID
echo "$SIDEAPP" >"$WORK/sideapp.pid"
wait_until 10000 has_line '^listening on ' "$WORK/sideapp.log"
KUBERNETES_SERVICE_PORT=$one_API start_bg "$WORK/side.log" "$LASTCALL" sidecar \
	--pid-file "$WORK/sideapp.pid" --drain-on TERM --listen none --control none --grace-period 10s \
	--min-delay 300ms --quiet-period 200ms --pod-name web-0 --pod-uid "$POD_UID" \
	--kube-dir "$WORK/sa1" --events --termination-log none
SIDE=$BG_PID
check "sidecar: finds the app" wait_until 5000 has_line 'event=ports ports=[0-9]+' "$WORK/side.log"
kill -TERM "$SIDE"
wait_exit "$SIDE" 8000
check "sidecar: drains, stops the app, exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "sidecar: the app closed" has_line '^Closing server' "$WORK/sideapp.log"
reasons=$(q "$one_CTL" "s.events.slice($n_events).map(e => e.reason).join(' ')")
check "sidecar: Events in phase order (got: $reasons)" \
	[ "$reasons" = "DrainStarted TrafficQuiet Drained StopSignalSent AppExited" ]
wait_exit "$SIDEAPP" 5000

# --- a shorter deletionGracePeriodSeconds moves the deadline ----------------
start_api two || not_ok "a second API server double starts"
sa_dir "$WORK/sa2" token-two-A
curl -fs -o /dev/null -X POST "http://127.0.0.1:$two_CTL/pod?deletionGracePeriodSeconds=3"
KUBERNETES_SERVICE_PORT=$two_API start_pid1 "$WORK/run2.log" run --drain-on TERM \
	--listen none --control none --grace-period 20s --kill-margin 500ms --min-delay 500ms \
	--quiet-period 200ms --pod-name web-0 --pod-uid "$POD_UID" --kube-dir "$WORK/sa2" \
	--events --termination-log "$WORK/term2" -- "$PROBES/sigprobe" "$WORK/deaf.out"
RUN2_NS=$NS_PID
wait_until 5000 has_line '^ready' "$WORK/deaf.out"
wait_until 5000 has_line 'event=kube_api ' "$WORK/run2.log"
t0=$(now_ms)
kill -TERM "$L_PID"
wait_exit "$RUN2_NS" 25000
elapsed=$(($(now_ms) - t0))
echo "# deletionGracePeriodSeconds=3 with --grace-period 20s: SIGTERM to exit $elapsed ms, status $CODE"
check "shorter pod grace: logged with both numbers" \
	has_line 'event=grace_shortened flag_ms=20000 pod_ms=3000 deadline_ms=2500' "$WORK/run2.log"
kill_ms=$(grep -oE 'event=forced_kill count=[0-9]+ ms=[0-9]+' "$WORK/run2.log" | grep -oE '[0-9]+$')
check "shorter pod grace: SIGKILL at 3000 - 500 ms (${kill_ms:-none} in 2400..2900)" between "${kill_ms:-0}" 2400 2900
check "shorter pod grace: gone within 3 s, not 19.5 ($elapsed ms)" [ "$elapsed" -lt 3000 ]
check "shorter pod grace: exit 137 (got $CODE)" [ "$CODE" = 137 ]
check "ForcedKill: a Warning Event with the uid" \
	[ "$(q "$two_CTL" "s.events.filter(e => e.reason === 'ForcedKill' && e.type === 'Warning' && e.involvedObject.uid === '$POD_UID').length")" = 1 ]
check "ForcedKill: after the stop signal" \
	[ "$(q "$two_CTL" "s.events.map(e => e.reason).join(' ')")" = "DrainStarted TrafficQuiet Drained StopSignalSent ForcedKill AppExited" ]
check "termination message: forced_kill with the kill phase" \
	node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(m.forced_kill === true && m.phases.kill >= 2400 && m.phases.kill <= 2900 ? 0 : 1)' "$WORK/term2"

# --- the pod's own terminationGracePeriodSeconds, read at start ------------
start_api three || not_ok "a third API server double starts"
sa_dir "$WORK/sa3" token-three-A
curl -fs -o /dev/null -X POST "http://127.0.0.1:$three_CTL/spec?terminationGracePeriodSeconds=3"
# A --grace-period longer than the pod's: both logged, the pod's used.
KUBERNETES_SERVICE_PORT=$three_API start_pid1 "$WORK/run5.log" run --drain-on TERM \
	--listen none --control none --grace-period 20s --kill-margin 500ms --min-delay 500ms \
	--quiet-period 200ms --pod-name web-0 --kube-dir "$WORK/sa3" \
	--termination-log none -- "$PROBES/sigprobe" "$WORK/deaf5.out"
RUN5_NS=$NS_PID
wait_until 5000 has_line '^ready' "$WORK/deaf5.out"
check "spec grace 3 s, flag 20 s: a warning with both, the smaller used" \
	wait_until 5000 has_line 'level=warn .*event=grace_mismatch flag_ms=20000 pod_ms=3000 grace_ms=3000 ' "$WORK/run5.log"
check "...and it says which flag to fix" \
	has_line 'event=grace_mismatch .*fix=.*--grace-period \(LASTCALL_GRACE_PERIOD\) is longer .*set it to 3s' "$WORK/run5.log"
check "...read with one GET of the whole pod at start" \
	[ "$(q "$three_CTL" "s.requests.filter(r => r.method === 'GET').length")" = 1 ]
t0=$(now_ms)
kill -TERM "$L_PID"
wait_exit "$RUN5_NS" 25000
elapsed=$(($(now_ms) - t0))
kill_ms=$(grep -oE 'event=forced_kill count=[0-9]+ ms=[0-9]+' "$WORK/run5.log" | grep -oE '[0-9]+$')
echo "# spec 3 s with --grace-period 20s: SIGTERM to exit $elapsed ms, SIGKILL at ${kill_ms:-none} ms"
check "spec grace: SIGKILL at 3000 - 500 ms (${kill_ms:-none} in 2400..2900)" between "${kill_ms:-0}" 2400 2900
check "spec grace: gone within 3 s, not 19.5 ($elapsed ms)" [ "$elapsed" -lt 3000 ]
check "spec grace: said once, though the double sends the spec at T0 too" \
	[ "$(count_lines 'event=grace_mismatch' "$WORK/run5.log")" = 1 ]
# A --grace-period shorter than the pod's: kept, with the warning.
KUBERNETES_SERVICE_PORT=$three_API start_pid1 "$WORK/run6.log" run --drain-on none \
	--listen none --control none --grace-period 2s --pod-name web-0 --kube-dir "$WORK/sa3" \
	--termination-log none -- "$PROBES/sigprobe" "$WORK/probe6.out" --exit-on TERM
RUN6_NS=$NS_PID
check "spec grace 3 s, flag 2 s: the flag kept, the warning says so" \
	wait_until 5000 has_line 'event=grace_mismatch flag_ms=2000 pod_ms=3000 grace_ms=2000 fix=.*is shorter .*set it to 3s' "$WORK/run6.log"
kill -TERM "$L_PID"
wait_exit "$RUN6_NS" 5000
# No --grace-period (auto): the pod's, no warning.
KUBERNETES_SERVICE_PORT=$three_API start_pid1 "$WORK/run7.log" run --drain-on none \
	--listen none --control none --pod-name web-0 --kube-dir "$WORK/sa3" \
	--termination-log none -- "$PROBES/sigprobe" "$WORK/probe7.out" --exit-on TERM
RUN7_NS=$NS_PID
check "spec grace 3 s, no flag: the pod's taken" \
	wait_until 5000 has_line 'event=pod_grace spec_ms=3000 grace_ms=3000' "$WORK/run7.log"
kill -TERM "$L_PID"
wait_exit "$RUN7_NS" 5000
check "...no warning" eval "! grep -q level=warn '$WORK/run7.log'"
# --- the removal signal: EndpointSlices, under pinned traffic ---------------
# One keep-alive connection sends a request after each answer (curl's URL
# range reuses it): to lastcall that is traffic on a known connection, as
# a client pinned by kube-proxy sends. At T0 + 2 s the double marks this
# pod's endpoint not ready; propagation ends --proxy-sync (1s) later, not
# at --max-delay, and the stop goes at once (reason=pinned). The slice is
# on the list's second page. Then the same with the list refused: no
# signal, the drain goes by traffic alone (max-delay 3s here).
# eps_run NAME MAX_DELAY: sets T0, REMOVED (ms after T0, or empty), ELAPSED.
eps_run() {
	local name=$1 maxd=$2 api=${1}_API ctl=${1}_CTL status
	KUBERNETES_SERVICE_PORT=${!api} start_served "$name" --drain-on TERM --grace-period 30s \
		--min-delay 1s --quiet-period 1s --max-delay "$maxd" --pod-name web-0 \
		--pod-uid "$POD_UID" --kube-dir "$WORK/sa-$name" || return 1
	local port=${name}_PORT probe=${name}_PROBE pid=${name}_PID ns=${name}_NS
	start_bg "$WORK/$name.curl" curl -s -o /dev/null "http://127.0.0.1:${!port}/?[1-300]"
	conns_one() { status=$(curl -fs "http://127.0.0.1:${!probe}/status") && grep -q '"connections":1,' <<<"$status"; }
	wait_until 5000 conns_one || return 1
	T0=$(now_ms)
	kill -TERM "${!pid}"
	REMOVED=
	if [ "$name" = eps ]; then
		wait_until 3000 sleep_until $((T0 + 2000))
		curl -fs -o /dev/null -X POST "http://127.0.0.1:${!ctl}/slices?ready=false" &&
			REMOVED=$(($(now_ms) - T0))
	fi
	wait_exit "${!ns}" 25000
	ELAPSED=$(($(now_ms) - T0))
}
start_api eps || not_ok "an API server double for the slices starts"
sa_dir "$WORK/sa-eps" token-eps-A
curl -fs -o /dev/null -X POST "http://127.0.0.1:$eps_CTL/slices?others=25"
if eps_run eps 15s; then
	echo "# removal signal: endpoint not ready at ${REMOVED:-?} ms, exit at $ELAPSED ms, status $CODE"
	stop_ms=$(grep -oE 'event=phase phase=stop ms=[0-9]+' "$WORK/eps.log" | grep -oE '[0-9]+$')
	check "slices: the pod's slice found on the list's second page" \
		has_line 'event=endpoint_slices slices=1$' "$WORK/eps.log"
	check "slices: the removal seen" has_line 'event=endpoints_removed slices=1 ms=[0-9]+ proxy_sync_ms=1000' "$WORK/eps.log"
	check "slices: stopped because only pinned traffic was left" has_line 'event=phase phase=stop ms=[0-9]+ inflight=[0-9]+ reason=pinned' "$WORK/eps.log"
	# Measured from when lastcall saw the removal: a read of the slice
	# lost to a slow API server only delays the signal.
	seen_ms=$(grep -oE 'event=endpoints_removed slices=1 ms=[0-9]+' "$WORK/eps.log" | grep -oE '[0-9]+$')
	echo "# removal signal: seen at ${seen_ms:-none} ms, stop at ${stop_ms:-none} ms"
	check "slices: the removal seen after it happened (${seen_ms:-none} >= $REMOVED)" [ "${seen_ms:-0}" -ge "$REMOVED" ]
	check "slices: the stop at the removal + proxy-sync (${stop_ms:-none} in $((${seen_ms:-0} + 1000))..$((${seen_ms:-0} + 1300)))" \
		between "${stop_ms:-0}" $((${seen_ms:-0} + 1000)) $((${seen_ms:-0} + 1300))
	check "slices: exit 0 long before --max-delay (${ELAPSED} ms < 10000)" [ "$CODE" = 0 ] && [ "$ELAPSED" -lt 10000 ]
	check "slices: the pinned verdict logged once with its counts" \
		[ "$(count_lines 'event=pinned connections=1 late_requests=[0-9]+ ms=[0-9]+ action=stop' "$WORK/eps.log")" = 1 ]
	check "slices: read by name after the list" \
		[ "$(q "$eps_CTL" "s.requests.filter(r => r.path.endsWith('/endpointslices/web-x7k2p')).length > 0 && s.requests.filter(r => /endpointslices\?limit=2&continue=/.test(r.path)).length >= 1")" = true ]
else
	not_ok "slices: the run with the removal signal"
	show_log "$WORK/eps.log"
fi
start_api noeps || not_ok "an API server double refusing the slices starts"
sa_dir "$WORK/sa-noeps" token-noeps-A
curl -fs -o /dev/null -X POST "http://127.0.0.1:$noeps_CTL/slices?forbid=1"
if eps_run noeps 3s; then
	stop_ms=$(grep -oE 'event=phase phase=stop ms=[0-9]+' "$WORK/noeps.log" | grep -oE '[0-9]+$')
	echo "# slices refused: exit at $ELAPSED ms, status $CODE"
	check "slices refused: said once, with the fix" \
		[ "$(count_lines 'event=endpoints_unknown status=403 hint=.*endpointslices' "$WORK/noeps.log")" = 1 ]
	check "slices refused: the 403 logged" has_line 'kube_api_failed call=slices status=403' "$WORK/noeps.log"
	check "slices refused: pinned at --max-delay (${stop_ms:-none} in 3000..3400)" between "${stop_ms:-0}" 3000 3400
	check "slices refused: exit 0 (got $CODE)" [ "$CODE" = 0 ]
else
	not_ok "slices refused: the run"
	show_log "$WORK/noeps.log"
fi

# --- the gate with nothing else on: no drain, no endpoints ------------------
KUBERNETES_SERVICE_PORT=$two_API PORT=0 start_pid1 "$WORK/run4.log" run --drain-on none \
	--listen none --control none --pod-name web-0 --kube-dir "$WORK/sa2" \
	--readiness-gate example.com/plain -- node server.js
RUN4_NS=$NS_PID
check "gate alone: True once the app listens" wait_until 10000 eval "[ \"\$(cond $two_CTL example.com/plain)\" = True ]"
kill -TERM "$L_PID"
wait_exit "$RUN4_NS" 10000
check "gate alone: SIGTERM forwarded, exit 0 (got $CODE)" [ "$CODE" = 0 ]

# --- lastcall gate: one shot ------------------------------------------------
gate() { KUBERNETES_SERVICE_PORT=$two_API "$LASTCALL" gate --pod-name web-0 --kube-dir "$WORK/sa2" "$@" 2>>"$WORK/gate.log"; }
check "gate false: exit 0" gate "$GATE" false
check "gate false: set" gate_is "$two_CTL" False
check "gate true --pod-uid: exit 0" gate --pod-uid "$POD_UID" "$GATE" true
check "gate true: set" gate_is "$two_CTL" True
gate --pod-uid not-this-pod "$GATE" false
code=$?
cp "$WORK/gate.log" "$WORK/gate.err"
check "gate with a stale uid: exit 1 (got $code)" [ "$code" = 1 ]
check "gate with a stale uid: the API server's reason" grep -q 'status=409 error="Precondition failed' "$WORK/gate.err"
check "gate with a stale uid: unchanged" gate_is "$two_CTL" True
curl -fs -o /dev/null -X POST "http://127.0.0.1:$two_CTL/mode?m=403"
: >"$WORK/gate.log"
gate "$GATE" false
code=$?
cp "$WORK/gate.log" "$WORK/gate.err"
check "gate refused (403): exit 1 (got $code)" [ "$code" = 1 ]
check "gate refused: one line saying why" [ "$(grep -c 'is forbidden' "$WORK/gate.err")" = 1 ]
curl -fs -o /dev/null -X POST "http://127.0.0.1:$two_CTL/mode?m=hang"
t=$(now_ms)
gate --api-timeout 300ms "$GATE" false
code=$?
check "gate, API hanging: exit 1 after --api-timeout ($(($(now_ms) - t)) ms, code $code)" \
	eval "[ $code = 1 ] && [ $(($(now_ms) - t)) -lt 2000 ]"
curl -fs -o /dev/null -X POST "http://127.0.0.1:$two_CTL/mode?m=ok"
cp "$WORK/sa1/ca.crt" "$WORK/sa2/ca.crt.good"
ec -x509 -keyout "$WORK/other.key" -out "$WORK/sa2/ca.crt" -days 2 -subj /CN=not-the-cluster
: >"$WORK/gate.log"
gate "$GATE" false
code=$?
cp "$WORK/gate.log" "$WORK/gate.err"
check "gate, server not signed by ca.crt: exit 1 (got $code), nothing sent" \
	eval "[ $code = 1 ] && grep -q 'kube_api_failed call=gate' '$WORK/gate.err'"
mv "$WORK/sa2/ca.crt.good" "$WORK/sa2/ca.crt"
# Signed by the cluster's CA, but for another IP (and the service's DNS
# name, which is not what we connect to): refused by name, in every build
# (the static one's mbedTLS needs lastcall's own iPAddress match).
ec -keyout "$WORK/elsewhere.key" -out "$WORK/elsewhere.csr" -subj /CN=127.0.0.1
openssl x509 -req -in "$WORK/elsewhere.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
	-CAcreateserial -out "$WORK/elsewhere.crt" -days 2 \
	-extfile <(printf 'subjectAltName=IP:127.0.0.2,DNS:kubernetes.default.svc\n') 2>/dev/null
API_CERT=elsewhere start_api three || not_ok "a third API server double starts"
echo token-two-A >"$WORK/three.token"
: >"$WORK/gate.log"
KUBERNETES_SERVICE_PORT=$three_API "$LASTCALL" gate --pod-name web-0 --kube-dir "$WORK/sa2" "$GATE" false 2>>"$WORK/gate.log"
code=$?
cp "$WORK/gate.log" "$WORK/gate.err"
check "gate, certificate for another IP: exit 1 (got $code)" [ "$code" = 1 ]
check "gate, certificate for another IP: refused before any request" \
	eval "[ \"\$(q $three_CTL 's.requests.length')\" = 0 ]"
check "gate, kubelet-owned type: usage error 125" eval "gate Ready false; [ \$? = 125 ]"
check "gate, no pod name: usage error 125" \
	eval "'$LASTCALL' gate '$GATE' false 2>/dev/null; [ \$? = 125 ]"
check "run --readiness-gate without --pod-name: usage error 125" \
	eval "'$LASTCALL' run --readiness-gate '$GATE' -- true 2>/dev/null; [ \$? = 125 ]"
check "run --events without ca.crt: fails at start (125)" \
	eval "KUBERNETES_SERVICE_PORT=$two_API '$LASTCALL' run --pod-name web-0 --events --kube-dir '$WORK/nowhere' -- true 2>'$WORK/nosa.err'; [ \$? = 125 ]"
check "...saying what is missing" grep -q 'nowhere/namespace: No such file' "$WORK/nosa.err"
check "run --pod-name alone without a service account: runs, API off" \
	eval "KUBERNETES_SERVICE_PORT=$two_API '$LASTCALL' run --pod-name web-0 --kube-dir '$WORK/nowhere' -- true 2>'$WORK/nosa.err' && grep -q 'event=kube_api_off' '$WORK/nosa.err'"

# --- the API down, hanging, refusing, dropping: the shutdown goes on --------
# Four instances, one per API server double in its mode, and b serving
# beside them, behind HAProxy checking each one's /readyz; all four get
# SIGTERM at once under keep-alive load.
MODES="down hang refuse drop"
for m in hang refuse drop; do
	start_api "$m" || not_ok "API double $m starts"
	sa_dir "$WORK/sa-$m" "token-$m-A"
done
curl -fs -o /dev/null -X POST "http://127.0.0.1:$hang_CTL/mode?m=hang"
curl -fs -o /dev/null -X POST "http://127.0.0.1:$refuse_CTL/mode?m=403"
curl -fs -o /dev/null -X POST "http://127.0.0.1:$drop_CTL/mode?m=drop"
sa_dir "$WORK/sa-down" token-down-A
down_API=$(free_port)	# nothing listens there

# start_inst NAME API_PORT [LASTCALL FLAGS]: the app under lastcall.
start_inst() {
	local name=$1 api=$2
	shift 2
	KUBERNETES_SERVICE_PORT=$api start_served "$name" --drain-on TERM --grace-period 20s \
		--min-delay 2s --quiet-period 1s --max-delay 10s "$@"
}

servers="" started=true
for m in $MODES; do
	api=${m}_API
	start_inst "$m" "${!api}" --pod-name web-0 --pod-uid "$POD_UID" --kube-dir "$WORK/sa-$m" \
		--readiness-gate "$GATE" --events --api-timeout 1s || started=false
	probe=${m}_PROBE port=${m}_PORT
	servers+="server $m 127.0.0.1:${!port} check port ${!probe}"$'\n'
done
start_inst b "$one_API" || started=false
check "instances for every API failure, and b, start" $started
for m in $MODES b; do
	probe=${m}_PROBE
	check "$m: ready although the API fails" wait_until 5000 ready_ok "${!probe}"
done
fe=$(free_port)
admin=$(free_port)
start_haproxy "$fe" "$admin" $'timeout client 10s\ntimeout server 10s' \
	$'option httpchk GET /readyz\ndefault-server inter 200ms fall 2 rise 1\n'"${servers}server b 127.0.0.1:$b_PORT check port $b_PROBE"
hap=$HAP_PID
through() { curl -fs -o /dev/null "http://127.0.0.1:$fe/"; }
check "HAProxy routes to the apps" wait_until 5000 through
start_bg "$WORK/wrk.out" wrk -t2 -c16 -d8s --timeout 5s "http://127.0.0.1:$fe/"
load=$BG_PID
wait_until 3000 sleep_until $(($(now_ms) + 2000))
t0=$(now_ms)
for m in $MODES; do
	pid=${m}_PID
	kill -TERM "${!pid}"
done
for m in $MODES; do
	ns=${m}_NS
	wait_exit "${!ns}" 25000
	# Its own account: these exit side by side, waited for one by one.
	elapsed=$(grep -oE 'event=exiting code=[0-9]+ child_code=[0-9]+ ms=[0-9]+' "$WORK/$m.log" | grep -oE '[0-9]+$')
	echo "# API $m: SIGTERM to exit ${elapsed:-none} ms, status $CODE"
	check "API $m: exits 0 (got $CODE)" [ "$CODE" = 0 ]
	check "API $m: in time, as with the API working (${elapsed:-none} ms < 3000)" [ "${elapsed:-99999}" -lt 3000 ]
	check "API $m: the phases ran" has_line 'event=phase phase=done' "$WORK/$m.log"
	check "API $m: the app closed gracefully" has_line '^Closing server' "$WORK/$m.log"
	check "API $m: the gate failure logged once (got $(count_lines 'kube_api_failed call=gate' "$WORK/$m.log"))" \
		[ "$(count_lines 'kube_api_failed call=gate' "$WORK/$m.log")" = 1 ]
done
wait_exit "$load" 20000
wrk_result "$WORK/wrk.out" "API failures"
check "API failures: wrk sent requests ($REQS)" [ "$REQS" -gt 100 ]
check "API failures: not one request lost ($LOST)" [ "$LOST" = 0 ]
check "API refusing: the reason logged" has_line 'kube_api_failed call=gate status=403 error=.*is forbidden' "$WORK/refuse.log"
check "API down: connection refused logged" has_line 'kube_api_failed call=gate error=.*(Connection refused|Failed to connect|Could not connect)' "$WORK/down.log"
check "API hanging: timed out" has_line 'kube_api_failed call=gate error=.*[Tt]imed out' "$WORK/hang.log"
check "b keeps serving" through
kill -TERM "$b_PID"
wait_exit "$b_NS" 15000
kill -TERM "$hap" 2>/dev/null
wait_exit "$hap" 5000

done_testing
