#!/usr/bin/env bash
# The classic bug: `npm start` as PID 1 never lets the app see SIGTERM (npm
# passes it to `sh -c`, which dies without passing it on, and PID 1's exit
# SIGKILLs node). Under `lastcall run -- npm start` the whole group gets
# SIGTERM: node logs "Closing server" and the container exits within 1 s.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1
export PORT=0 DELAY_MS=10 npm_config_update_notifier=false npm_config_loglevel=error

port_of() { grep -oE 'listening on [0-9.]+:[0-9]+' "$1" | head -n1 | sed 's/.*://'; }

# 1. Without lastcall.
log="$WORK/bare.log"
start_bg "$log" unshare --pid --fork --mount-proc --kill-child npm start
bare=$BG_PID
check "bare npm: the app starts" wait_until 30000 has_line '^listening on ' "$log"
port=$(port_of "$log")
check "bare npm: the app answers" curl -fsS -o /dev/null "http://127.0.0.1:$port/"
npm_pid=$(child_of "$bare")
kill -TERM "$npm_pid"
wait_exit "$bare" 10000
check "bare npm: PID 1 exits after SIGTERM (status $CODE)" [ "$CODE" != timeout ]
check "bare npm: the app never logs 'Closing server'" [ "$(count_lines 'Closing server' "$log")" = 0 ]

# 2. Under lastcall.
log="$WORK/lastcall.log"
start_pid1 "$log" run -- npm start
check "lastcall: the app starts" wait_until 30000 has_line '^listening on ' "$log"
port=$(port_of "$log")
check "lastcall: the app answers" curl -fsS -o /dev/null "http://127.0.0.1:$port/"
t0=$(now_ms)
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
elapsed=$(($(now_ms) - t0))
check "lastcall: the app logs 'Closing server'" has_line '^Closing server' "$log"
check "lastcall: the app closes its server" has_line '^Server closed' "$log"
echo "# SIGTERM to exit: ${elapsed} ms, exit status $CODE"
check "lastcall: exits within 1 s of SIGTERM (${elapsed} ms)" [ "$elapsed" -lt 1000 ]
# npm dies of the SIGTERM (143) or exits 1, depending on its version:
# either way lastcall's status is npm's, which the log shows.
check "lastcall: exits with npm's status (got $CODE)" \
	has_line "event=child_exited pid=2 .*code=$CODE( |\$)" "$log"
check "lastcall: logs its exit code" has_line "event=exiting code=$CODE child_code=$CODE( |\$)" "$log"

done_testing
