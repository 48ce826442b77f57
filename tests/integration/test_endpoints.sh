#!/usr/bin/env bash
# The drain engine's endpoints and deadlines, on the real binary as PID 1:
# readiness before the app listens, the control socket (mode 0600, POST
# /drain idempotent, GET /wait long-poll), bad and oversized requests, the
# read-only TCP side, the budget check, and the forced kill at the deadline.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1
curl_unix() { curl -s --max-time 5 --unix-socket "$SOCK" "$@"; }
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

# --- readiness follows the app, then the drain ---
SOCK="$WORK/a.sock"
START_DELAY_MS=700 PORT=0 start_pid1 "$WORK/a.log" run --drain-on TERM \
	--listen 127.0.0.1:0 --control "$SOCK" --min-delay 300ms --quiet-period 200ms -- node server.js
wait_until 5000 has_line 'event=endpoints ' "$WORK/a.log"
probe=$(log_port "$WORK/a.log" 'event=endpoints [^ ]+ port=[0-9]+')
check "/readyz is 503 before the app listens" [ "$(code_of "http://127.0.0.1:$probe/readyz")" = 503 ]
check "/livez is 200 before the app listens" [ "$(code_of "http://127.0.0.1:$probe/livez")" = 200 ]
is200() { [ "$(code_of "http://127.0.0.1:$probe/readyz")" = 200 ]; }
check "/readyz turns 200 once the app listens" wait_until 5000 is200
check "the control socket is mode 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
status=$(curl_unix http://x/status)
check "/status is JSON with the phase" grep -q '"phase":"serving","ready":true' <<<"$status"
metrics=$(curl -s "http://127.0.0.1:$probe/metrics")
check "/metrics has the current phase" grep -q '^lastcall_phase{phase="serving"} 1$' <<<"$metrics"
check "/metrics has lastcall_ready 1" grep -q '^lastcall_ready 1$' <<<"$metrics"

# Bad requests: each gets a 4xx and the supervisor keeps serving.
check "unknown path -> 404" [ "$(code_of "http://127.0.0.1:$probe/nope")" = 404 ]
check "POST /readyz -> 405" [ "$(code_of -X POST "http://127.0.0.1:$probe/readyz")" = 405 ]
check "POST /drain on TCP -> 403" [ "$(code_of -X POST "http://127.0.0.1:$probe/drain")" = 403 ]
check "GET /drain on the control socket -> 405" [ "$(code_of --unix-socket "$SOCK" http://x/drain)" = 405 ]
check "bad /wait phase -> 400" [ "$(code_of --unix-socket "$SOCK" 'http://x/wait?phase=bogus')" = 400 ]
check "POST /drain with a bad until -> 400, and no drain" \
	[ "$(code_of --unix-socket "$SOCK" -X POST 'http://x/drain?until=later')" = 400 ]
check "bad /wait timeout -> 400" [ "$(code_of --unix-socket "$SOCK" 'http://x/wait?phase=stop&timeout=soon')" = 400 ]
big=$(head -c 20000 /dev/zero | tr '\0' a)
c=$(code_of -H "X-Big: $big" "http://127.0.0.1:$probe/readyz")
check "oversized headers -> 4xx (got $c)" [ "${c:0:1}" = 4 ]
c=$(head -c 5000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" --data-binary @- http://x/drain)
check "oversized body -> 413, and no drain (got $c)" [ "$c" = 413 ]
# raw REQUEST: sends bytes as they are, prints the status line of the answer.
raw() { printf "$1" | timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$probe; cat >&3; timeout 2 head -n1 <&3" 2>/dev/null; }
check "a malformed header line gets a 400" grep -q '^HTTP/1.1 400' <<<"$(raw 'GET /readyz HTTP/1.1\r\nBad Header\r\n\r\n')"
check "a bad Content-Length gets a 400" grep -q '^HTTP/1.1 400' <<<"$(raw 'GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n')"
# A line that is no request at all gets a 400 (lastcall reads the head
# before libmicrohttpd, which would close without a word).
check "a line that is no request at all gets a 400" grep -q '^HTTP/1.1 400' <<<"$(raw 'GARBAGE\r\n\r\n')"
check "still serving after bad input" is200

# A timed-out /wait answers 408; a waiter that the drain satisfies, 200.
c=$(code_of --unix-socket "$SOCK" 'http://x/wait?phase=drained&timeout=200ms')
check "/wait times out with 408 (got $c)" [ "$c" = 408 ]
curl_unix -o "$WORK/wait.out" -w '%{http_code}' 'http://x/wait?phase=drained&timeout=20s' >"$WORK/wait.code" &
waiter=$!
t0=$(now_ms)
c=$(code_of --unix-socket "$SOCK" -X POST http://x/drain)
check "POST /drain -> 202 (got $c)" [ "$c" = 202 ]
c=$(code_of --unix-socket "$SOCK" -X POST http://x/drain)
check "a second POST /drain -> 202 too" [ "$c" = 202 ]
check "/readyz is 503 from the drain on" [ "$(code_of "http://127.0.0.1:$probe/readyz")" = 503 ]
wait "$waiter"
check "the waiter is answered 200 when drained" [ "$(cat "$WORK/wait.code")" = 200 ]
check "the waiter gets the status" grep -q '"phase":"stop"' "$WORK/wait.out"
# Drained through the control socket (a preStop hook's way): the stop
# signal waits for the kubelet's, which follows the hook's return.
check "the stop signal is held for the kubelet's" wait_until 2000 has_line 'event=stop_held reason=prestop_hook' "$WORK/a.log"
check "...the app still runs" [ "$(count_lines 'event=stop_signal_sent' "$WORK/a.log")" = 0 ]
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
check "the kubelet's SIGTERM releases it" has_line 'event=stop_released by=signal:SIGTERM' "$WORK/a.log"
check "the app exits 0 after the drain (got $CODE)" [ "$CODE" = 0 ]
check "one drain only" [ "$(count_lines 'event=drain_started' "$WORK/a.log")" = 1 ]
check "the second trigger is logged as such" has_line 'event=drain_already_started origin=control' "$WORK/a.log"

# --- a second instance on the same control socket is refused ---
SOCK="$WORK/b.sock"
PORT=0 start_pid1 "$WORK/b.log" run --listen none --control "$SOCK" -- node server.js
wait_until 5000 has_line '^listening on ' "$WORK/b.log"
"$LASTCALL" run --listen none --control "$SOCK" -- true >"$WORK/b2.log" 2>&1
c=$?
check "a live control socket is not taken over (exit $c)" [ "$c" = 125 ]
check "the refusal says why" has_line 'another lastcall is listening there' "$WORK/b2.log"
kill -KILL "$(child_of "$L_PID")"
wait_exit "$NS_PID" 5000

# --- the budget: compressed with a warning, and the forced kill ---
# sigprobe records signals and never dies of them: an app that hangs.
start_pid1 "$WORK/c.log" run --drain-on TERM --listen none --control none \
	--termination-log "$WORK/c.term" --grace-period 3s --kill-margin 500ms --stop-timeout 5s --min-delay 2s \
	-- "$PROBES/sigprobe" "$WORK/c.sig"
wait_until 5000 has_line '^ready$' "$WORK/c.sig"
check "delays that overrun the grace are compressed, with the numbers" \
	has_line 'level=warn .*event=budget_compressed detail="grace=3000ms holds kill_margin=500ms' "$WORK/c.log"
t0=$(now_ms)
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
elapsed=$(($(now_ms) - t0))
echo "# forced kill: SIGTERM to exit ${elapsed} ms"
check "an app that ignores the stop signal is killed: exit 137 (got $CODE)" [ "$CODE" = 137 ]
check "the kill comes at grace - margin ± 250 ms (${elapsed} ms in 2250..2750)" \
	between "$elapsed" 2250 2750
check "the forced kill is logged" has_line 'level=warn .*event=forced_kill' "$WORK/c.log"
check "the kill phase is logged" has_line 'event=phase phase=kill ms=2[0-9]{3} forced=true' "$WORK/c.log"
check "the app got the stop signal before the kill" has_line '^sig=15$' "$WORK/c.sig"
# The termination message: one JSON line saying how it ended.
term() { node -e 'const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	process.exit(eval(process.argv[2]) ? 0 : 1)' "$WORK/c.term" "$1"; }
check "termination message: one line" [ "$(wc -l <"$WORK/c.term")" = 1 ]
check "termination message: exit 137, forced kill, drained" \
	term 't.exit_code === 137 && t.app_code === 137 && t.forced_kill === true && t.drained === true'
check "termination message: the phases in ms after T0" \
	term 't.phases.unready === 0 && t.phases.kill >= 2250 && t.phases.kill <= 2750 && t.phases.done >= t.phases.kill'
phases=$(grep -oE 'event=phase phase=[a-z]+' "$WORK/c.log" | sed 's/.*=//' | tr '\n' ' ')
check "every phase logged once, in order (got: $phases)" \
	[ "$phases" = "unready propagate drain stop kill done " ]

# --- two lastcalls on one port: the containers of a pod share a network ---
# The second refuses to start, saying why and what fixes it; going on
# without the port would leave its probes to the first one's answers.
port=$(free_port)
start_pid1 "$WORK/d1.log" run --listen "127.0.0.1:$port" --control none -- "$PROBES/sigprobe" "$WORK/d1.sig"
wait_until 5000 has_line 'event=endpoints ' "$WORK/d1.log"
"$LASTCALL" run --listen "127.0.0.1:$port" --control none -- "$PROBES/sigprobe" "$WORK/d2.sig" >"$WORK/d2.log" 2>&1
c=$?
check "the second on the same --listen: 125 (got $c)" [ "$c" = 125 ]
check "...its app never started" [ ! -e "$WORK/d2.sig" ]
check "...one error line naming the flag, the variable and the likely cause" \
	has_line 'level=error .*event=start_failed what=endpoints error="--listen 127.0.0.1:[0-9]+: Address (already )?in use" hint=".*share one network.*LASTCALL_LISTEN' "$WORK/d2.log"
check "...the first one still answers" curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/livez"
kill -TERM "$L_PID"

done_testing
