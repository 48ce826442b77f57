#!/usr/bin/env bash
# Reaping and leftovers, as PID 1 of a PID namespace and as a plain process
# (child subreaper): 1000 orphans leave no zombie; what the child leaves
# behind gets SIGTERM, then SIGKILL after --orphan-grace, and lastcall exits
# as soon as nothing remains.
. "$(dirname "$0")/lib.sh"

zombies_of() { ps --ppid "$1" -o stat= 2>/dev/null | grep -c '^Z' ; }
no_zombies() { [ "$(zombies_of "$1")" = 0 ]; }
reaped_at_least() { [ "$(count_lines 'event=reaped' "$2")" -ge "$1" ]; }

for mode in pid1 subreaper; do
	log="$WORK/orphans-$mode.log"
	if [ "$mode" = pid1 ]; then
		start_pid1 "$log" run --log-level debug -- "$PROBES/orphaner" 1000
		top=$NS_PID
	else
		start_bg "$log" "$LASTCALL" run --log-level debug -- "$PROBES/orphaner" 1000
		L_PID=$BG_PID top=$BG_PID
	fi
	check "$mode: mode is logged" wait_until 5000 has_line "event=started .*mode=$mode" "$log"
	check "$mode: the child made 1000 orphans" wait_until 60000 has_line '^done 1000$' "$log"
	wait_until 20000 reaped_at_least 1000 "$log"
	check "$mode: all 1000 orphans reaped (got $(count_lines 'event=reaped' "$log"))" \
		[ "$(count_lines 'event=reaped' "$log")" = 1000 ]
	check "$mode: no zombie left" wait_until 5000 no_zombies "$L_PID"
	kill -TERM "$L_PID"
	wait_exit "$top" 5000
	check "$mode: exits 143 after SIGTERM kills the child (got $CODE)" [ "$CODE" = 143 ]
done

# leftovers MODE NAME GRACE SCRIPT: runs sh -c SCRIPT under lastcall in MODE
# and records the pids the script wrote to $WORK/pids.
leftovers() {
	local mode=$1 grace=$2 script=$3
	: >"$WORK/pids"
	LOG="$WORK/left-$mode-$RANDOM.log"
	if [ "$mode" = pid1 ]; then
		start_pid1 "$LOG" run --orphan-grace "$grace" -- sh -c "$script"
		TOP=$NS_PID
	else
		start_bg "$LOG" "$LASTCALL" run --orphan-grace "$grace" -- sh -c "$script"
		TOP=$BG_PID
	fi
}
all_gone() { local p; for p in $(cat "$WORK/pids"); do gone "$p" || return 1; done; }

# Group members, and a setsid'd daemon outside the group, obey SIGTERM: no
# SIGKILL needed, and no wait for the 30 s grace.
for mode in subreaper pid1; do
	leftovers "$mode" 30s 'sleep 1000 & echo $! >>'"$WORK/pids"'; sleep 1000 & echo $! >>'"$WORK/pids"'; setsid sleep 1000 & echo $! >>'"$WORK/pids"'; exit 3'
	wait_exit "$TOP" 10000
	check "$mode: exit code of the child with leftovers (got $CODE)" [ "$CODE" = 3 ]
	check "$mode: leftovers got SIGTERM" has_line 'event=leftovers_terminating count=[3-9]' "$LOG"
	check "$mode: no SIGKILL was needed" [ "$(count_lines leftovers_killed "$LOG")" = 0 ]
	if [ "$mode" = subreaper ]; then
		check "$mode: every leftover, in the group or not, is gone" all_gone
		for p in $(cat "$WORK/pids"); do kill -KILL "$p" 2>/dev/null; done
	fi
done

# A leftover that ignores SIGTERM gets SIGKILL once the grace is over.
for mode in subreaper pid1; do
	# The child exits only once the leftover has set its trap (bounded wait).
	leftovers "$mode" 300ms 'sh -c "trap \"\" TERM; echo \$\$ >>'"$WORK/pids"'; while :; do sleep 1; done" &
		i=0; while [ ! -s '"$WORK/pids"' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; exit 0'
	wait_exit "$TOP" 10000
	check "$mode: exit 0 after killing a stubborn leftover (got $CODE)" [ "$CODE" = 0 ]
	check "$mode: the SIGKILL is logged" has_line 'level=warn .*event=leftovers_killed count=[1-9]' "$LOG"
	[ "$mode" = subreaper ] && check "$mode: the stubborn leftover is gone" all_gone
done

# No leftovers: lastcall exits with its child, without any grace wait.
leftovers subreaper 30s 'exit 0'
wait_exit "$TOP" 5000
check "no leftovers: exit at once (got $CODE)" [ "$CODE" = 0 ]
check "no leftovers: nothing to terminate" [ "$(count_lines leftovers_ "$LOG")" = 0 ]

done_testing
