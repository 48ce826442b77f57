#!/usr/bin/env bash
# What holds the drain, and what cannot: a long request in flight seen by
# the kernel; the app's own endpoints (--app-ready-url, --app-drain-url,
# --app-inflight-url) on a Unix socket, including broken answers; and app
# URLs that never answer, which must not delay the shutdown past its budget.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
# phase_ms LOG PHASE: the ms of that phase line.
phase_ms() { grep -oE "event=phase phase=$2 ms=[0-9]+" "$1" | head -n1 | grep -oE '[0-9]+$'; }
stop_ms() { grep -oE 'event=stop_signal_sent .* ms=[0-9]+' "$1" | head -n1 | grep -oE 'ms=[0-9]+' | tail -n1 | cut -d= -f2; }

# --- a 5 s request in flight at T0 completes before the stop signal ---
PORT=0 start_pid1 "$WORK/a.log" run --drain-on TERM --min-delay 300ms --quiet-period 200ms \
	-- node server.js
check "a: the app listens" wait_until 5000 has_line '^listening on ' "$WORK/a.log"
port=$(log_port "$WORK/a.log" '^listening on [0-9.]+:[0-9]+')
wait_until 5000 has_line 'event=ports ports=[0-9]' "$WORK/a.log"
curl -s --max-time 15 -o "$WORK/long.out" -w '%{http_code}' "http://127.0.0.1:$port/?delay=5000" \
	>"$WORK/long.code" &
client=$!
# T0 once the app holds the request (its connection shows in /proc).
wait_until 3000 eval "ss -Htn state established '( sport = :$port )' | grep -q ."
kill -TERM "$L_PID"
wait "$client"
check "a: the long request is answered 200 (got $(cat "$WORK/long.code"))" \
	[ "$(cat "$WORK/long.code")" = 200 ]
wait_exit "$NS_PID" 15000
check "a: exits 0 (got $CODE)" [ "$CODE" = 0 ]
s=$(stop_ms "$WORK/a.log")
check "a: the stop signal waited for the request (${s:-none} ms >= 4500)" [ "${s:-0}" -ge 4500 ]
check "a: in-flight counted by the kernel" has_line 'event=phase phase=drain .*inflight=1 .*source=kernel' "$WORK/a.log"
check "a: the request was served before the app was told to stop" \
	has_line '^Closing server \(SIGTERM, 1 requests served\)' "$WORK/a.log"
check "a: no forced kill" [ "$(count_lines 'forced_kill' "$WORK/a.log")" = 0 ]

# --- the app's own endpoints, on a Unix socket ---
ADM="$WORK/admin.sock"
ADMIN_SOCKET=$ADM READY_DELAY_MS=1500 DRAIN_WORK_MS=2500 INFLIGHT_BAD=3 PORT=0 \
	start_pid1 "$WORK/b.log" run --drain-on TERM --listen 127.0.0.1:0 \
	--min-delay 300ms --quiet-period 200ms \
	--app-ready-url "unix:$ADM:/ready" --app-drain-url "unix:$ADM:/drain" \
	--app-inflight-url "unix:$ADM:/inflight" -- node server.js
check "b: the app listens" wait_until 5000 has_line '^listening on ' "$WORK/b.log"
probe=$(log_port "$WORK/b.log" 'event=endpoints [^ ]+ port=[0-9]+')
check "b: /readyz stays 503 while the app says it is not ready" \
	[ "$(code_of "http://127.0.0.1:$probe/readyz")" = 503 ]
is200() { [ "$(code_of "http://127.0.0.1:$probe/readyz")" = 200 ]; }
check "b: /readyz turns 200 when the app's ready URL does" wait_until 5000 is200
check "b: the change is logged" has_line 'event=app_ready ready=true status=200' "$WORK/b.log"
check "b: no failure logged for the app still starting" \
	[ "$(count_lines 'event=app_call_failed call=ready' "$WORK/b.log")" = 0 ]
kill -TERM "$L_PID"
check "b: the drain URL gets its POST at T0" wait_until 3000 has_line '^Drain requested' "$WORK/b.log"
check "b: the POST is logged" has_line 'event=app_drain_notified status=200' "$WORK/b.log"
wait_exit "$NS_PID" 15000
check "b: exits 0 (got $CODE)" [ "$CODE" = 0 ]
s=$(stop_ms "$WORK/b.log")
d=$(phase_ms "$WORK/b.log" drain)
check "b: the app's background work held the drain (stop at ${s:-none} ms >= 2500)" \
	[ "${s:-0}" -ge 2500 ]
check "b: ...which the kernel could not see (drain began at ${d:-none} ms < 1500)" \
	[ "${d:-9999}" -lt 1500 ]
check "b: in-flight taken from the app" has_line 'event=phase phase=drain .*source=app' "$WORK/b.log"
check "b: broken answers are logged once, not per sample" \
	[ "$(count_lines 'event=app_call_failed call=inflight' "$WORK/b.log")" = 1 ]
check "b: ...and the recovery" has_line 'event=app_call_recovered call=inflight' "$WORK/b.log"
check "b: drain requested before the stop signal" \
	[ "$(grep -n '^Drain requested' "$WORK/b.log" | cut -d: -f1)" -lt \
	  "$(grep -n 'event=stop_signal_sent' "$WORK/b.log" | cut -d: -f1)" ]

# --- app URLs that never answer: the budget still holds ---
# Nothing listens on the socket; the port takes connections, never answers.
exec {hang}> >(exec node -e '
const s = require("net").createServer(() => {});
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
process.stdin.on("end", () => process.exit(0)).resume();' >"$WORK/hang.port")
wait_until 3000 eval '[ -s "$WORK/hang.port" ]'
hport=$(cat "$WORK/hang.port")
PORT=0 start_pid1 "$WORK/c.log" run --drain-on TERM --grace-period 4s --kill-margin 500ms \
	--stop-timeout 1s --min-delay 300ms --quiet-period 200ms --app-timeout 300ms \
	--app-drain-url "unix:$WORK/nobody.sock:/drain" \
	--app-inflight-url "http://127.0.0.1:$hport/inflight" -- node server.js
check "c: the app listens" wait_until 5000 has_line '^listening on ' "$WORK/c.log"
t0=$(now_ms)
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
elapsed=$(($(now_ms) - t0))
exec {hang}>&-
check "c: exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "c: the failed drain POST is logged" has_line 'level=warn .*event=app_drain_failed' "$WORK/c.log"
check "c: the hanging in-flight URL is logged once" \
	[ "$(count_lines 'event=app_call_failed call=inflight' "$WORK/c.log")" = 1 ]
s=$(stop_ms "$WORK/c.log")
check "c: the stop signal goes at the end of the window (${s:-none} ms in 2400..2800)" \
	between "${s:-0}" 2400 2800
check "c: no forced kill" [ "$(count_lines 'forced_kill' "$WORK/c.log")" = 0 ]
check "c: exit ${elapsed} ms after SIGTERM (< 3500)" [ "$elapsed" -lt 3500 ]

done_testing
