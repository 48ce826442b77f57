#!/usr/bin/env bash
# The main scenarios as a pod that runs as a user (runAsNonRoot, every
# capability dropped): `lastcall run` as PID 1 of its PID namespace with
# UID and GID 65534, no supplementary groups and no capability in any
# set (setpriv), around the same probes as the other suites: signals
# forwarded and the exit code, orphans reaped, leftovers ended, the
# endpoints and the drain (the app's port found in /proc as the same
# user, readiness, the preStop hook over the control socket).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "1..0 # SKIP needs root (to make the PID namespace) and setpriv"
	exit 0
fi
USER_ID=65534
AS_USER=(setpriv --reuid="$USER_ID" --regid="$USER_ID" --clear-groups --inh-caps=-all
	--bounding-set=-all --)
# The user writes its files in a directory of its own.
chmod 0755 "$WORK"
U="$WORK/u"
mkdir "$U" && chown "$USER_ID:$USER_ID" "$U"

# start_user LOG ARGS...: "lastcall ARGS..." as PID 1 of a new PID
# namespace, as the user (start_pid1's NS_PID and L_PID).
start_user() {
	local log=$1
	shift
	start_pid1 "$log" "$@"
}
LASTCALL_REAL=$LASTCALL
lc_user() { "${AS_USER[@]}" "$LASTCALL_REAL" "$@"; }
# start_pid1 runs "$LASTCALL" ARGS: here that is setpriv, then lastcall.
LASTCALL=setpriv
as_args=("${AS_USER[@]:1}" "$LASTCALL_REAL")

# --- who it runs as ------------------------------------------------------------
start_user "$WORK/who.log" "${as_args[@]}" run -- "$PROBES/sigprobe" "$U/sig" --exit-on 15 143
wait_until 5000 has_line '^ready$' "$U/sig"
status=/proc/$L_PID/status
check "PID 1 of its namespace runs as $USER_ID, no capability" eval \
	"grep -qE '^Uid:\\s+$USER_ID\\s+$USER_ID\\s+$USER_ID\\s+$USER_ID' $status &&
	 grep -qE '^CapEff:\\s+0+$' $status && grep -qE '^CapBnd:\\s+0+$' $status &&
	 grep -qE '^Groups:\\s*$' $status"

# --- signals and the exit code ---------------------------------------------------
all=1
for s in HUP USR1 USR2 WINCH QUIT; do
	n=$(kill -l "$s")
	kill -"$s" "$L_PID"
	wait_until 3000 has_line "^sig=$n\$" "$U/sig" || { all=0; echo "# $s did not arrive"; }
done
check "signals are forwarded to the app" [ "$all" = 1 ]
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000
check "the app's exit code is lastcall's (got $CODE, want 143)" [ "$CODE" = 143 ]

# --- orphans and leftovers -------------------------------------------------------
start_user "$WORK/orph.log" "${as_args[@]}" run --log-level debug -- "$PROBES/orphaner" 200
reaped200() { [ "$(count_lines 'event=reaped' "$WORK/orph.log")" -ge 200 ]; }
check "200 orphans made" wait_until 30000 has_line '^done 200$' "$WORK/orph.log"
check "...and reaped ($(count_lines 'event=reaped' "$WORK/orph.log"))" wait_until 10000 reaped200
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000
check "...and it exits 143 on TERM (got $CODE)" [ "$CODE" = 143 ]

start_user "$WORK/left.txt" "${as_args[@]}" run --orphan-grace 1s -- \
	sh -c "(trap '' TERM; setsid sleep 300 & wait) & sleep 0.2; exit 3"
wait_exit "$NS_PID" 5000
check "leftovers that ignore TERM are killed after --orphan-grace; exit 3 (got $CODE)" \
	eval '[ "$CODE" = 3 ] && has_line "event=leftovers_killed count=2 after_ms=1[0-9]{3}" "$WORK/left.txt"'

# --- the endpoints and the drain -------------------------------------------------
cd "$APP_DIR" || exit 1
PORT=0 DELAY_MS=100 start_user "$WORK/d.log" "${as_args[@]}" run --drain-on TERM \
	--listen 127.0.0.1:0 --control "$U/d.sock" --min-delay 500ms --quiet-period 200ms \
	--max-delay 2s -- node server.js
wait_until 10000 has_line 'event=endpoints ' "$WORK/d.log"
DP=$(log_port "$WORK/d.log" 'event=endpoints [^ ]+ port=[0-9]+')
check "the app's port is found in /proc as the same user: ready" wait_until 10000 ready_ok "$DP"
check "...and lastcall probe says so on the control socket" \
	lc_user probe --control "$U/d.sock" ready
check "the control socket is the user's, mode 0600" \
	eval '[ "$(stat -c %u:%a "$U/d.sock")" = "$USER_ID:600" ]'
t0=$(now_ms)
lc_user prestop --control "$U/d.sock" >"$WORK/prestop.out" 2>&1
hook=$?
hook_ms=$(($(now_ms) - t0))
check "the preStop hook, as the user, returns 0 once drained ($hook, ${hook_ms} ms)" \
	eval '[ "$hook" = 0 ] && between "$hook_ms" 500 3000'
c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DP/readyz")
check "...and readiness is off (/readyz $c)" [ "$c" = 503 ]
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
check "the app stops on TERM and exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "no warning or error in any log" \
	[ "$(cat "$WORK"/*.log | grep -cE 'level=(warn|error)')" = 0 ]

done_testing
