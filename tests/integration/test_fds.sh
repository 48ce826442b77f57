#!/usr/bin/env bash
# What lastcall hands the app besides signals: file descriptors and files.
# The app gets exactly the fds lastcall was started with (0, 1, 2 and any
# a runtime passed on), none of lastcall's own, whatever opened them (curl's
# multi handle opens a socketpair without close-on-exec); and --ready-file
# and --termination-log never follow a symlink the app put in their place.
. "$(dirname "$0")/lib.sh"

# fd_numbers FILE: the fd numbers fdlist printed, sorted, space-separated.
fd_numbers() { grep -oE '^fd=[0-9]+' "$1" | cut -d= -f2 | sort -n | paste -sd' '; }

ready_now() { "$LASTCALL" probe --control "$1" ready 2>/dev/null; }

# run_ns OUT ARGS...: lastcall ARGS as PID 1 of a new PID namespace, its
# stdout and stderr (and the app's) to OUT; sets CODE.
run_ns() {
	local out=$1
	shift
	timeout 20 unshare --pid --fork --mount-proc "$LASTCALL" "$@" >"$out" 2>&1
	CODE=$?
}

# The fds fdlist gets without lastcall, started the same way.
baseline() {
	timeout 10 unshare --pid --fork --mount-proc "$PROBES/fdlist" >"$1" 2>&1
	fd_numbers "$1"
}

# --- the app gets none of lastcall's own fds --------------------------------
# An app URL and an exit URL make the fetch client (curl's multi handle)
# before the spawn; the endpoints and the control socket are open too.
# Nothing listens on port 1: the URLs fail, which changes nothing here.
want=$(baseline "$WORK/base.out")
run_ns "$WORK/a.out" run --app-ready-url http://127.0.0.1:1/ready \
	--on-exit-url http://127.0.0.1:1/x --listen 127.0.0.1:0 --control "$WORK/a.sock" \
	-- "$PROBES/fdlist"
got=$(fd_numbers "$WORK/a.out")
check "the app ran (exit $CODE)" eval '[ "$CODE" = 0 ] && has_line "^fdlist done" "$WORK/a.out"'
check "the app got 0, 1, 2 at least ($got)" eval '[[ " $got " == " 0 1 2 "* ]]'
check "the app's fds are the ones lastcall got: '$got' = '$want'" [ "$got" = "$want" ]
check "no socket of lastcall's reached the app" eval '! has_line "^fd=[0-9]+ target=socket:" "$WORK/a.out"'

# --- an inherited fd passes through ----------------------------------------
# As a runtime's LISTEN_FDS sockets would: open when lastcall starts.
exec 5</dev/null
want=$(baseline "$WORK/base5.out")
run_ns "$WORK/b.out" run --app-ready-url http://127.0.0.1:1/ready \
	--on-exit-url http://127.0.0.1:1/x -- "$PROBES/fdlist"
got=$(fd_numbers "$WORK/b.out")
exec 5<&-
check "the baseline has fd 5 ($want)" eval '[[ " $want " == *" 5 "* ]]'
check "the app still gets the inherited fd 5" has_line '^fd=5 target=/dev/null$' "$WORK/b.out"
check "and nothing else of lastcall's: '$got' = '$want'" [ "$got" = "$want" ]

# --- a symlinked --ready-file is left alone ---------------------------------
# The app shares the directory: after lastcall started (and removed a
# stale file), it puts a symlink to another file where the ready file goes;
# then it starts listening, so lastcall finds it ready and would write.
cd "$APP_DIR" || exit 1
mkfifo "$WORK/go"
printf 'precious\n' >"$WORK/victim"
SOCK="$WORK/r.sock"
PORT=0 start_pid1 "$WORK/r.log" run --drain-on TERM --control "$SOCK" \
	--ready-file "$WORK/ready" -- sh -c 'read -r go <"$0"; exec node server.js' "$WORK/go"
wait_until 5000 has_line 'event=started ' "$WORK/r.log"
ln -s "$WORK/victim" "$WORK/ready"
# Opening the FIFO waits for the app's read: bounded.
timeout 5 sh -c 'echo go >"$1"' sh "$WORK/go"
check "the app listens" wait_until 10000 has_line '^listening on ' "$WORK/r.log"
check "lastcall finds it ready (probe ready)" wait_until 5000 ready_now "$SOCK"
check "the symlink is refused, with a warning" \
	wait_until 2000 has_line 'level=warn .*event=ready_file_failed .*hint="a symlink is not followed' "$WORK/r.log"
check "the file it points at keeps its content" eval '[ "$(cat "$WORK/victim")" = precious ]'
check "the symlink is still there" test -L "$WORK/ready"
check "the app is still running" alive "$L_PID"
kill -TERM "$L_PID" 2>/dev/null
wait_exit "$NS_PID" 10000
check "lastcall exits 0 on SIGTERM (got $CODE)" [ "$CODE" = 0 ]

# --- nor a symlinked --termination-log -------------------------------------
printf 'precious\n' >"$WORK/victim2"
ln -s "$WORK/victim2" "$WORK/term"
run_ns "$WORK/t.out" run --termination-log "$WORK/term" -- true
check "the run ends (exit $CODE)" [ "$CODE" = 0 ]
check "the termination log's symlink is refused, with a warning" \
	has_line 'level=warn .*event=termination_log_failed .*hint="a symlink is not followed' "$WORK/t.out"
check "the file it points at keeps its content" eval '[ "$(cat "$WORK/victim2")" = precious ]'

done_testing
