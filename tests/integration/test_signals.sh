#!/usr/bin/env bash
# Signal forwarding by `lastcall run` as PID 1 of a PID namespace: every
# forwardable signal arrives exactly once, rewrites apply, SIGCHLD is never
# forwarded, and group vs child targeting.
. "$(dirname "$0")/lib.sh"

probe="$PROBES/sigprobe"
# The kernel's first real-time signal (glibc's SIGRTMIN; musl keeps 32..34
# for itself and says 35): lastcall forwards it in every build.
rtmin=34
marker=$((rtmin + 1))

# send_wait SIG FILE: sends SIG to lastcall and waits until FILE shows N.
send_wait() {
	local sig=$1 num=$2 file=$3
	kill -s "$sig" "$L_PID" 2>/dev/null || kill -"$sig" "$L_PID"
	wait_until 3000 has_line "^sig=$num\$" "$file"
}

# --- every forwarded signal exactly once (group target, the default) ---
out="$WORK/probe1"
start_pid1 "$WORK/l1.log" run -- "$probe" "$out"
wait_until 5000 has_line '^ready$' "$out" || not_ok "probe starts" "$(cat "$WORK/l1.log")"
sigs=(HUP INT QUIT USR1 USR2 ALRM TERM STKFLT CONT URG XCPU XFSZ VTALRM PROF WINCH IO PWR)
all_arrived=1
for s in "${sigs[@]}"; do
	num=$(kill -l "$s")
	send_wait "$s" "$num" "$out" || { all_arrived=0; echo "# $s did not arrive"; }
done
for rt in "$rtmin" $((rtmin + 5)) 64; do
	kill -"$rt" "$L_PID"
	wait_until 3000 has_line "^sig=$rt\$" "$out" || { all_arrived=0; echo "# signal $rt did not arrive"; }
done
check "every forwardable signal reaches the child" [ "$all_arrived" = 1 ]
dups=$(grep '^sig=' "$out" | sort | uniq -d)
check "each signal arrives exactly once" [ -z "$dups" ]

# SIGCHLD is reaped, not forwarded. Real-time signals are dequeued after
# standard ones, so a marker RT signal sent after it proves the CHLD was
# handled first.
kill -CHLD "$L_PID"
kill -"$marker" "$L_PID"
wait_until 3000 has_line "^sig=$marker\$" "$out"
check "SIGCHLD is not forwarded" [ "$(count_lines '^sig=17$' "$out")" = 0 ]
check "marker after SIGCHLD arrives" has_line "^sig=$marker\$" "$out"
check "forwarding is logged with logfmt fields" \
	has_line 'level=info prog=lastcall event=signal_forwarded signal=SIGUSR1 sent=SIGUSR1 target=group' "$WORK/l1.log"
kill -KILL "$(child_of "$L_PID")"
wait_exit "$NS_PID" 5000
check "exit status is 128+9 when the child is SIGKILLed (got $CODE)" [ "$CODE" = 137 ]

# --- rewrites: TERM becomes QUIT, USR1 is dropped ---
out="$WORK/probe2"
start_pid1 "$WORK/l2.log" run --rewrite TERM:QUIT --rewrite USR1:0 --rewrite 12:SIGHUP -- "$probe" "$out"
wait_until 5000 has_line '^ready$' "$out"
kill -TERM "$L_PID"
wait_until 3000 has_line '^sig=3$' "$out"
check "TERM is rewritten to QUIT" has_line '^sig=3$' "$out"
check "no TERM reaches the child when rewritten" [ "$(count_lines '^sig=15$' "$out")" = 0 ]
kill -USR2 "$L_PID"
wait_until 3000 has_line '^sig=1$' "$out"
check "numeric rewrite 12:SIGHUP applies" has_line '^sig=1$' "$out"
kill -USR1 "$L_PID"
kill -"$marker" "$L_PID"
wait_until 3000 has_line "^sig=$marker\$" "$out"
check "USR1:0 drops USR1" [ "$(count_lines '^sig=10$' "$out")" = 0 ]
check "the drop is logged" has_line 'event=signal_dropped signal=SIGUSR1' "$WORK/l2.log"
kill -KILL "$(child_of "$L_PID")"
wait_exit "$NS_PID" 5000

# --- rewrites from the environment ---
out="$WORK/probe3"
LASTCALL_REWRITE="INT:USR2,HUP:0" start_pid1 "$WORK/l3.log" run -- "$probe" "$out"
wait_until 5000 has_line '^ready$' "$out"
kill -INT "$L_PID"
wait_until 3000 has_line '^sig=12$' "$out"
check "LASTCALL_REWRITE applies (INT:USR2)" has_line '^sig=12$' "$out"
kill -KILL "$(child_of "$L_PID")"
wait_exit "$NS_PID" 5000

# --- group vs child targeting ---
for target in group child; do
	out="$WORK/t-$target" gout="$WORK/t-$target-grandchild"
	start_pid1 "$WORK/l-$target.log" run --signal-target "$target" -- "$probe" "$out" --child "$gout"
	wait_until 5000 has_line '^ready$' "$out"
	wait_until 5000 has_line '^ready$' "$gout"
	probe_pid=$(child_of "$L_PID")
	grand_pid=$(child_of "$probe_pid")
	kill -USR1 "$L_PID"
	wait_until 3000 has_line '^sig=10$' "$out"
	check "$target target: the child gets USR1" has_line '^sig=10$' "$out"
	# One kill(2) reached the whole group or not; a direct marker to the
	# grandchild, handled after any pending standard signal, settles it.
	kill -"$marker" "$grand_pid"
	wait_until 3000 has_line "^sig=$marker\$" "$gout"
	if [ "$target" = group ]; then
		check "group target: the grandchild gets USR1 too" has_line '^sig=10$' "$gout"
	else
		check "child target: the grandchild gets nothing" [ "$(count_lines '^sig=10$' "$gout")" = 0 ]
	fi
	kill -KILL "$probe_pid" "$grand_pid"
	wait_exit "$NS_PID" 5000
done

# --- not PID 1: the libcs' own signals 32 and 33 neither end lastcall
# (at their default action they would: musl installs no handler) nor
# reach the child; 34 is forwarded like any other ---
out="$WORK/probe5"
start_bg "$WORK/l5.log" "$LASTCALL" run -- "$probe" "$out"
wait_until 5000 has_line '^ready$' "$out"
kill -32 "$BG_PID"
kill -33 "$BG_PID"
kill -34 "$BG_PID"
kill -"$marker" "$BG_PID"
wait_until 3000 has_line "^sig=$marker\$" "$out"
check "not PID 1: lastcall outlives signals 32 and 33" kill -0 "$BG_PID"
check "not PID 1: 32 and 33 are not forwarded" [ "$(count_lines '^sig=3[23]$' "$out")" = 0 ]
check "not PID 1: 34 is forwarded" has_line '^sig=34$' "$out"
kill -TERM "$BG_PID"
wait_until 3000 has_line '^sig=15$' "$out"
kill -KILL "$(child_of "$BG_PID")"
wait_exit "$BG_PID" 5000
check "not PID 1: exit 137 after the child's SIGKILL (got $CODE)" [ "$CODE" = 137 ]

# --- a clean exit after SIGTERM: status passes through ---
out="$WORK/probe4"
start_pid1 "$WORK/l4.log" run -- "$probe" "$out" --exit-on 15 42
wait_until 5000 has_line '^ready$' "$out"
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000
check "the child's exit code after SIGTERM passes through (got $CODE)" [ "$CODE" = 42 ]

done_testing
