#!/usr/bin/env bash
# lastcall next to an app that is not its child: `lastcall sidecar` in a
# PID namespace shared with the app (PID 1 a /pause), and `lastcall
# prestop` draining standalone. What test_kubelet does under load is done
# here edge by edge: finding the app again after a restart, --ready-file,
# a native sidecar's late SIGTERM, the forced kill, --signal and its
# failures, and where the hook's progress goes.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1
SIG="$PROBES/sigprobe"

# A pod: /pause as PID 1 of a new PID namespace; in_pod runs in it.
start_bg "$WORK/pause.out" unshare --pid --fork --mount-proc --kill-child "$PROBES/pause"
POD=$BG_PID
wait_until 5000 has_line '^pause ready' "$WORK/pause.out" || { not_ok "the pod starts"; done_testing; exit 1; }
P1=$(child_of "$POD")
in_pod() { nsenter -t "$P1" -p -m --wd="$APP_DIR" -- "$@"; }
# leaf_of PID: PID's first child's first child... (start_bg -> in_pod's
# subshell -> nsenter -> the process in the pod).
leaf_of() {
	local p=$1 c i
	for i in 1 2 3 4; do
		c=$(child_of "$p")
		[ -n "$c" ] || break
		p=$c
	done
	echo "$p"
}

# start_app NAME: the sample app in the pod; sets APP_BG and APP_PID.
start_app() {
	PORT=0 start_bg "$WORK/$1.log" in_pod node server.js
	APP_BG=$BG_PID
	wait_until 10000 has_line '^listening on ' "$WORK/$1.log" || { show_log "$WORK/$1.log"; return 1; }
	APP_PID=$(leaf_of "$APP_BG")
}

# --- sidecar: the app found, lost, found again; --ready-file ----------------
READY="$WORK/ready"
touch "$READY"	# left by an earlier run: must go at start
start_bg "$WORK/side.log" in_pod "$LASTCALL" sidecar --target-process node --drain-on TERM \
	--listen 127.0.0.1:0 --control "$WORK/side.sock" --ready-file "$READY" \
	--grace-period 10s --min-delay 300ms --quiet-period 200ms
SIDE_BG=$BG_PID
check "sidecar: starts without the app" wait_until 5000 has_line 'event=target_missing target=node' "$WORK/side.log"
check "sidecar: a stale --ready-file is removed at start" wait_until 2000 eval "[ ! -e '$READY' ]"
check "sidecar: not ready without the app" eval "! '$LASTCALL' probe --control '$WORK/side.sock' ready 2>/dev/null"
check "sidecar: live without the app" "$LASTCALL" probe --control "$WORK/side.sock" live
check "app 1 starts in the pod" start_app app1
check "sidecar: finds it (comm node)" wait_until 5000 has_line "event=target_found pid=[0-9]+ target=node watch=pidfd" "$WORK/side.log"
check "sidecar: ready once it listens" wait_until 5000 "$LASTCALL" probe --control "$WORK/side.sock" ready
check "sidecar: --ready-file exists while ready" wait_until 2000 test -e "$READY"
kill -KILL "$APP_PID"
wait_exit "$APP_BG" 5000
check "sidecar: notices the app's death at once (pidfd)" wait_until 1000 has_line 'event=target_exited' "$WORK/side.log"
check "sidecar: not ready while it is gone" eval "! '$LASTCALL' probe --control '$WORK/side.sock' ready 2>/dev/null"
check "sidecar: --ready-file removed" [ ! -e "$READY" ]
check "sidecar: keeps running" alive "$SIDE_BG"
check "app 2 starts (the kubelet's restart)" start_app app2
check "sidecar: finds the new one" wait_until 5000 has_line "event=target_found pid=$(cat /proc/"$APP_PID"/status 2>/dev/null | awk '/^NSpid/ {print $NF}')" "$WORK/side.log"
check "sidecar: ready again" wait_until 5000 "$LASTCALL" probe --control "$WORK/side.sock" ready
# Its own SIGTERM (a classic sidecar without a preStop hook) drains.
kill -TERM "$(leaf_of "$SIDE_BG")"
wait_exit "$SIDE_BG" 8000
check "sidecar: SIGTERM drains and exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "sidecar: ...from the signal" has_line 'event=drain_started origin=signal:SIGTERM' "$WORK/side.log"
check "sidecar: ...and stopped the app" has_line '^Closing server' "$WORK/app2.log"
wait_exit "$APP_BG" 5000
check "app 2 exits 0 (got $CODE)" [ "$CODE" = 0 ]

# --- a native sidecar's SIGTERM once the app is gone: exit 0 at once ---------
start_bg "$WORK/side2.log" in_pod "$LASTCALL" sidecar --target-process node --drain-on TERM \
	--listen none --control none
wait_until 5000 has_line 'event=target_missing' "$WORK/side2.log"
t0=$(now_ms)
kill -TERM "$(leaf_of "$BG_PID")"
wait_exit "$BG_PID" 3000
check "native, app gone: SIGTERM ends the sidecar with 0 (got $CODE)" [ "$CODE" = 0 ]
check "native, app gone: at once ($(($(now_ms) - t0)) ms < 1000)" [ $(($(now_ms) - t0)) -lt 1000 ]
check "native, app gone: says so" has_line 'event=app_gone signal=SIGTERM' "$WORK/side2.log"

# --- --drain-on none, no endpoints: it only watches; SIGTERM ends it ------
start_app app3
start_bg "$WORK/side4.log" in_pod "$LASTCALL" sidecar --target-process node --drain-on none \
	--listen none --control none --sample-interval 20ms
SIDE4=$BG_PID
check "drain off: finds the app" wait_until 5000 has_line 'event=target_found' "$WORK/side4.log"
check "drain off: learns its ports (samples run)" wait_until 5000 has_line 'event=ports ports=[0-9]' "$WORK/side4.log"
kill -TERM "$(leaf_of "$SIDE4")"
wait_exit "$SIDE4" 3000
check "drain off: SIGTERM ends it with 0 (got $CODE)" [ "$CODE" = 0 ]
check "drain off: the app untouched" alive "$APP_PID"
kill -TERM "$APP_PID"
wait_exit "$APP_BG" 5000

# --- sidecar forced kill: an app that ignores SIGTERM ------------------------
start_bg "$WORK/stubborn.log" in_pod "$SIG" "$WORK/stubborn.sig"
STUB_BG=$BG_PID
wait_until 5000 has_line '^ready' "$WORK/stubborn.sig"
start_bg "$WORK/side3.log" in_pod "$LASTCALL" sidecar --target-process sigprobe \
	--drain-on TERM --listen none --control none --grace-period 2s --kill-margin 500ms \
	--stop-timeout 500ms --min-delay 100ms --quiet-period 100ms
SIDE3=$BG_PID
wait_until 5000 has_line 'event=target_found' "$WORK/side3.log"
t0=$(now_ms)
kill -TERM "$(leaf_of "$SIDE3")"
wait_exit "$SIDE3" 5000
el=$(($(now_ms) - t0))
check "forced: the sidecar exits 137 (got $CODE)" [ "$CODE" = 137 ]
check "forced: not before the deadline ($el ms >= 1400, 1500 expected)" [ "$el" -ge 1400 ]
check "forced: not long after it ($el ms < 2500)" [ "$el" -lt 2500 ]
check "forced: the app got SIGTERM first" has_line '^sig=15' "$WORK/stubborn.sig"
check "forced: ...then SIGKILL" has_line 'event=forced_kill count=1 ' "$WORK/side3.log"
wait_exit "$STUB_BG" 2000
check "forced: the app is gone" [ "$CODE" != timeout ]

# --- two processes of the app's name: the one that serves ----------------------
# A shared PID namespace holds every container's processes: an older
# "node" that listens on nothing (another container's tool) must not be
# taken for the app.
start_bg "$WORK/decoy.log" in_pod bash -c 'exec -a node sleep 60'
DECOY_BG=$BG_PID
wait_until 5000 eval '[ -n "$(child_of "$(child_of "$DECOY_BG")")" ]'
check "app 3 starts after an older process of its name" start_app app3
nspid() { awk '/^NSpid/ {print $NF}' /proc/"$1"/status 2>/dev/null; }
start_bg "$WORK/side5.log" in_pod "$LASTCALL" sidecar --target-process node --drain-on TERM \
	--listen none --control none --grace-period 5s
SIDE5_BG=$BG_PID
check "two of the name: the sidecar takes the one that listens" \
	wait_until 5000 has_line "event=target_found pid=$(nspid "$APP_PID") target=node" "$WORK/side5.log"
kill -TERM "$(leaf_of "$SIDE5_BG")"
wait_exit "$SIDE5_BG" 5000
kill -KILL "$APP_PID" "$(leaf_of "$DECOY_BG")" 2>/dev/null
wait_exit "$APP_BG" 5000
wait_exit "$DECOY_BG" 5000

# --- standalone prestop ------------------------------------------------------
# --signal to a process that is not PID 1: waits for its exit.
start_bg "$WORK/quitter.log" in_pod "$SIG" "$WORK/quitter.sig" --exit-on 3 0
Q_BG=$BG_PID
wait_until 5000 has_line '^ready' "$WORK/quitter.sig"
touch "$WORK/app-ready"
in_pod "$LASTCALL" prestop --control none --process sigprobe --signal QUIT \
	--ready-file "$WORK/app-ready" --min-delay 200ms --quiet-period 100ms >"$WORK/hook1.out" 2>&1
c=$?
check "standalone: returns 0 once the app exited (got $c)" [ "$c" = 0 ]
check "standalone: --ready-file removed at T0" [ ! -e "$WORK/app-ready" ]
check "standalone: sent QUIT" has_line '^sig=3' "$WORK/quitter.sig"
check "standalone: waited for the exit" has_line 'event=target_exited' "$WORK/hook1.out"
check "standalone: PID 1 is /pause: nothing written to its stdout" \
	[ "$(count_lines 'prog=lastcall' "$WORK/pause.out")" = 0 ]
wait_exit "$Q_BG" 2000

# An app that ignores the signal: the hook gives up at its budget, with 1.
start_bg "$WORK/deaf.log" in_pod "$SIG" "$WORK/deaf.sig"
D_BG=$BG_PID
wait_until 5000 has_line '^ready' "$WORK/deaf.sig"
t0=$(now_ms)
in_pod "$LASTCALL" prestop --control none --process sigprobe --signal TERM --grace-period 2s \
	--kill-margin 500ms --stop-timeout 500ms --min-delay 100ms >"$WORK/hook2.out" 2>&1
c=$?
el=$(($(now_ms) - t0))
check "standalone, deaf app: 1 at the budget (got $c)" [ "$c" = 1 ]
check "standalone, deaf app: not before T0 + grace - margin ($el ms >= 1400)" [ "$el" -ge 1400 ]
check "standalone, deaf app: not long after it ($el ms < 2500)" [ "$el" -lt 2500 ]
check "standalone, deaf app: says so" has_line 'event=budget_exhausted' "$WORK/hook2.out"
check "standalone, deaf app: not SIGKILLed by the hook (the kubelet's job)" alive "$(leaf_of "$D_BG")"
kill -KILL "$(leaf_of "$D_BG")"

# The app to signal is not there.
in_pod "$LASTCALL" prestop --control none --pid-file "$WORK/none.pid" --signal QUIT \
	--min-delay 100ms >"$WORK/hook3.out" 2>&1
c=$?
check "standalone, no app to signal: 1 (got $c)" [ "$c" = 1 ]
check "standalone, no app to signal: says why" has_line 'event=stop_signal_failed error=no_target' "$WORK/hook3.out"
echo "garbage" >"$WORK/bad.pid"
in_pod "$LASTCALL" prestop --control none --pid-file "$WORK/bad.pid" --signal QUIT \
	--min-delay 100ms >"$WORK/hook4.out" 2>&1
c=$?
check "standalone, a pid file without a pid: 1 (got $c)" [ "$c" = 1 ]
check "standalone, a pid file without a pid: a clear line" has_line 'event=target_missing .*error="Invalid argument"' "$WORK/hook4.out"

kill -TERM "$POD" 2>/dev/null
done_testing
