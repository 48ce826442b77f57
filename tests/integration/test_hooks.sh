#!/usr/bin/env bash
# How Kubernetes calls lastcall besides as PID 1: the preStop exec hook
# (`lastcall prestop`, attached to a `run` instance, delivered twice), the
# preStop httpGet (GET /prestop, from the node's address only), exec probes
# (`lastcall probe`), `lastcall sleep` and `lastcall install`.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1

# --- probe, then prestop delivered twice, then the kubelet's SIGTERM ---
SOCK="$WORK/a.sock"
START_DELAY_MS=600 PORT=0 start_pid1 "$WORK/a.log" run --drain-on TERM --control "$SOCK" \
	--termination-log "$WORK/a.term" --ready-file "$WORK/a.ready" \
	--min-delay 500ms --quiet-period 200ms -- node server.js
wait_until 5000 has_line 'event=endpoints ' "$WORK/a.log"
"$LASTCALL" probe --control "$SOCK" ready 2>"$WORK/probe.err"
c=$?
check "probe ready: 1 before the app listens (got $c)" [ "$c" = 1 ]
check "probe ready: says why on stderr" has_line 'ready: 503' "$WORK/probe.err"
check "probe live: 0 while it starts" "$LASTCALL" probe --control "$SOCK" live
check "probe ready: 0 once the app listens" wait_until 5000 "$LASTCALL" probe --control "$SOCK" ready
check "--ready-file exists once ready" wait_until 2000 test -e "$WORK/a.ready"
"$LASTCALL" probe --control "$WORK/nobody.sock" ready 2>/dev/null
c=$?
check "probe without an instance: 1 (got $c)" [ "$c" = 1 ]
"$LASTCALL" probe --control "$SOCK" maybe 2>/dev/null
c=$?
check "probe with a bad argument: 125 (got $c)" [ "$c" = 125 ]

t0=$(now_ms)
"$LASTCALL" prestop --control "$SOCK" >"$WORK/hook1.out" 2>&1 &
hook1=$!
wait_until 2000 has_line 'event=drain_started origin=control' "$WORK/a.log"
"$LASTCALL" prestop --control "$SOCK" >"$WORK/hook2.out" 2>&1 &
hook2=$!
check "--ready-file removed once the hook started the drain" wait_until 1000 eval "[ ! -e '$WORK/a.ready' ]"
check "probe ready: 1 once the hook started the drain" \
	wait_until 2000 eval "! '$LASTCALL' probe --control '$SOCK' ready 2>/dev/null"
wait "$hook1"
c1=$?
wait "$hook2"
c2=$?
hook_ms=$(($(now_ms) - t0))
check "prestop returns 0 (got $c1)" [ "$c1" = 0 ]
check "a second prestop attaches and returns 0 too (got $c2)" [ "$c2" = 0 ]
check "one drain only" [ "$(count_lines 'event=drain_started' "$WORK/a.log")" = 1 ]
check "the hook prints its progress" has_line '^prestop: phase=propagate' "$WORK/hook1.out"
check "the hook says it reached drained" has_line '^prestop: reached drained' "$WORK/hook1.out"
check "the hook held until drained (${hook_ms} ms >= 500)" [ "$hook_ms" -ge 500 ]
# The kubelet sends SIGTERM once the hook returned; the drain is done, so
# the app is stopped at once (it may already be gone).
t1=$(now_ms)
kill -TERM "$L_PID" 2>/dev/null
wait_exit "$NS_PID" 10000
check "the instance exits 0 after the hook (got $CODE)" [ "$CODE" = 0 ]
check "...within 1.5 s of the kubelet's SIGTERM ($(($(now_ms) - t1)) ms)" \
	[ $(($(now_ms) - t1)) -lt 1500 ]
check "the app got the stop signal once drained" has_line 'event=stop_signal_sent signal=SIGTERM' "$WORK/a.log"
check "the timeline starts at the hook" has_line 'event=phase phase=unready ms=0 ' "$WORK/a.log"
term() { node -e 'const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	process.exit(eval(process.argv[2]) ? 0 : 1)' "$WORK/a.term" "$1"; }
check "termination message: exit 0, drained, no forced kill, nothing in flight" \
	term 't.exit_code === 0 && t.app_code === 0 && t.drained && !t.forced_kill && t.inflight_left === 0'
check "termination message: unready at 0, then stop and done, no kill" \
	term 't.phases.unready === 0 && t.phases.stop >= 500 && t.phases.done >= t.phases.stop && !("kill" in t.phases)'
# Nothing answers any more: the hook drains by itself (standalone), here
# with nothing listening, so it only waits out the minimum delay.
t0=$(now_ms)
"$LASTCALL" prestop --control "$SOCK" --min-delay 300ms --quiet-period 100ms \
	>"$WORK/hook3.out" 2>&1
c=$?
el=$(($(now_ms) - t0))
check "prestop with no instance: drains standalone and returns 0 (got $c)" [ "$c" = 0 ]
check "...says so" has_line 'no lastcall instance on .*: draining standalone' "$WORK/hook3.out"
check "...after the minimum delay ($el ms >= 300)" [ "$el" -ge 300 ]
check "...logging drained" has_line 'event=drained ' "$WORK/hook3.out"

# --- GET /prestop: from loopback and --allow-from only ---
# A network namespace of the test's own, with two addresses outside
# 127.0.0.0/8 on its lo: 10.99.0.1 (the "node", allowed) and 10.99.0.2
# (anyone else); a connection from either has that source address.
ns_run() { nsenter --net="/proc/$L_PID/ns/net" "$@"; }
PORT=0 start_bg "$WORK/b.log" unshare --net --pid --fork --mount-proc --kill-child sh -c "
	ip link set lo up && ip addr add 10.99.0.1/32 dev lo && ip addr add 10.99.0.2/32 dev lo &&
	exec '$LASTCALL' run --drain-on TERM --listen 0.0.0.0:9797 --control none \
		--allow-from 10.99.0.1 --min-delay 300ms --quiet-period 200ms -- node server.js"
NS_PID=$BG_PID
wait_until 5000 eval '[ -n "$(child_of $NS_PID)" ]'
L_PID=$(child_of "$NS_PID")
started_pids+=("$L_PID")
check "b: the app listens in its namespace" wait_until 5000 has_line '^listening on ' "$WORK/b.log"
get() { ns_run curl -s -o "$WORK/get.out" -w '%{http_code}' --max-time 10 --interface "$1" "http://10.99.0.1:9797$2"; }
check "b: /readyz is open to anyone (got $(get 10.99.0.2 /readyz))" wait_until 3000 eval '[ "$(get 10.99.0.2 /readyz)" = 200 ]'
c=$(get 10.99.0.2 /prestop)
check "b: GET /prestop from a non-allowed address -> 403 (got $c)" [ "$c" = 403 ]
check "b: ...and no drain" [ "$(count_lines 'event=drain_started' "$WORK/b.log")" = 0 ]
check "b: still ready" [ "$(get 10.99.0.2 /readyz)" = 200 ]
t0=$(now_ms)
c=$(get 10.99.0.1 /prestop)
check "b: GET /prestop from --allow-from -> 200 once drained (got $c)" [ "$c" = 200 ]
check "b: the drain started from the hook" has_line 'event=drain_started origin=prestop:http' "$WORK/b.log"
check "b: the answer came when drained ($(($(now_ms) - t0)) ms >= 300)" [ $(($(now_ms) - t0)) -ge 300 ]
check "b: the answer carries the status" grep -q '"phase":"stop"' "$WORK/get.out"
kill -TERM "$L_PID" 2>/dev/null
wait_exit "$NS_PID" 10000
check "b: exits 0 (got $CODE)" [ "$CODE" = 0 ]

# --- sleep ---
t0=$(now_ms)
"$LASTCALL" sleep 300ms
c=$?
el=$(($(now_ms) - t0))
check "sleep 300ms: 0 (got $c)" [ "$c" = 0 ]
check "sleep 300ms: after 300 ms (${el} ms)" [ "$el" -ge 300 ]
check "sleep 300ms: not much more (${el} ms < 2000)" [ "$el" -lt 2000 ]
start_bg "$WORK/sleep.out" "$LASTCALL" sleep 1m
sl=$BG_PID
wait_until 2000 eval "grep -q '^SigBlk:.*[1-9a-f]' /proc/$sl/status"
kill -TERM "$sl"
wait_exit "$sl" 2000
check "sleep ends at once, with 0, on SIGTERM (got $CODE)" [ "$CODE" = 0 ]
for bad in "" soon 5x -1; do
	"$LASTCALL" sleep $bad 2>/dev/null
	c=$?
	check "sleep '$bad': 125 (got $c)" [ "$c" = 125 ]
done

# --- the attached hook returns before PID 1 exits ---
# The kubelet sends the stop signal as soon as the hook returns. Were the
# app stopped at the drained moment by lastcall itself, PID 1 could exit
# first, and the kernel kill the hook with it (FailedPreStopHook). 100 runs
# with an app that dies at once on SIGTERM: the hook returns 0 every time
# with the app still running, and the kubelet's SIGTERM then stops it.
runs=100 hook_ok=0 app_alive=0 stopped=0 held=0
for i in $(seq "$runs"); do
	SOCK="$WORK/h$i.sock"
	start_pid1 "$WORK/h$i.log" run --drain-on TERM --control "$SOCK" --min-delay 0 \
		--quiet-period 0 --sample-interval 10ms -- "$PROBES/sigprobe" "$WORK/h$i.sig" --exit-on 15 ||
		break
	wait_until 5000 has_line '^ready$' "$WORK/h$i.sig" || break
	wait_until 5000 test -S "$SOCK" || break
	app=$(child_of "$L_PID")
	"$LASTCALL" prestop --control "$SOCK" >"$WORK/h$i.out" 2>&1 && hook_ok=$((hook_ok + 1))
	if ! grep -q '^sig=15' "$WORK/h$i.sig" && alive "$app"; then
		app_alive=$((app_alive + 1))
	fi
	has_line 'event=stop_held reason=prestop_hook' "$WORK/h$i.log" && held=$((held + 1))
	kill -TERM "$L_PID"
	wait_exit "$NS_PID" 5000
	[ "$CODE" = 0 ] && grep -q '^sig=15' "$WORK/h$i.sig" && stopped=$((stopped + 1))
done
check "attached hook: returned 0 in $hook_ok of $runs runs" [ "$hook_ok" = "$runs" ]
check "attached hook: the app still ran when it returned, $app_alive of $runs" [ "$app_alive" = "$runs" ]
check "attached hook: the stop signal was held for the kubelet's, $held of $runs" [ "$held" = "$runs" ]
check "attached hook: the kubelet's SIGTERM then stopped the app (exit 0), $stopped of $runs" \
	[ "$stopped" = "$runs" ]

# A hook that waits for the app's exit (--until done) gets no hold: the
# kubelet's signal would only come after it returns. The app is stopped
# once drained, not at the stop-by deadline (24 s).
SOCK="$WORK/u.sock"
start_pid1 "$WORK/u.log" run --drain-on TERM --control "$SOCK" --min-delay 0 --quiet-period 0 \
	--sample-interval 10ms -- "$PROBES/sigprobe" "$WORK/u.sig" --exit-on 15
wait_until 5000 has_line '^ready$' "$WORK/u.sig"
wait_until 5000 test -S "$SOCK"
t0=$(now_ms)
"$LASTCALL" prestop --control "$SOCK" --until done >"$WORK/u.out" 2>&1
c=$?
el=$(($(now_ms) - t0))
check "prestop --until done: returns once the app is gone (rc $c, $el ms)" \
	eval "[ $c = 0 ] && [ $el -lt 3000 ]"
check "...no hold for it" [ "$(count_lines 'event=stop_held' "$WORK/u.log")" = 0 ]
wait_exit "$NS_PID" 5000
check "...and the app got the stop signal (exit $CODE)" eval "[ '$CODE' = 0 ] && grep -q '^sig=15' '$WORK/u.sig'"

# --- a standalone hook with no window at all ---
# --min-delay 0 and a stop timeout that takes the whole window: the drain
# ends before the loop runs. It used to log "drained" and then block until
# the kubelet gave up (the loop forgot the stop asked for before it ran).
t0=$(now_ms)
timeout 20 unshare --net "$LASTCALL" prestop --control none --min-delay 0 --stop-timeout 29s \
	--grace-period 30s >"$WORK/zero.out" 2>&1
c=$?
el=$(($(now_ms) - t0))
check "zero-window hook: 0 (got $c)" [ "$c" = 0 ]
check "zero-window hook: returns within a second ($el ms)" [ "$el" -lt 1000 ]
check "zero-window hook: drained once" [ "$(count_lines 'event=drained ' "$WORK/zero.out")" = 1 ]

# --- install ---
mkdir -p "$WORK/shared"
check "install copies the binary" "$LASTCALL" install "$WORK/shared"
check "...mode 0755" [ "$(stat -c %a "$WORK/shared/lastcall")" = 755 ]
check "...the same bytes" cmp -s "$LASTCALL" "$WORK/shared/lastcall"
check "...that runs" "$WORK/shared/lastcall" --version
check "...and no temporary file left" [ "$(ls -A "$WORK/shared")" = lastcall ]
"$LASTCALL" install "$WORK/missing" 2>"$WORK/inst.err"
c=$?
check "install into a missing DIR: 125 (got $c)" [ "$c" = 125 ]
check "...with a reason" has_line 'missing: No such file' "$WORK/inst.err"
mkdir -p "$WORK/ro"
unshare --mount sh -c "mount -t tmpfs -o ro tmpfs '$WORK/ro' && exec '$LASTCALL' install '$WORK/ro'" 2>"$WORK/inst.err"
c=$?
check "install into a read-only DIR: 125 (got $c)" [ "$c" = 125 ]
check "...with a reason" has_line 'Read-only file system' "$WORK/inst.err"
"$LASTCALL" install --name ../x "$WORK/shared" 2>/dev/null
c=$?
check "install --name with a slash: 125 (got $c)" [ "$c" = 125 ]

done_testing
