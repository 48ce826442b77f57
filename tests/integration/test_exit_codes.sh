#!/usr/bin/env bash
# Exit codes of `lastcall run` as PID 1: 0..255 pass through, 128+n on a
# signal death, 126/127 on exec failure, --exit-code-map remaps.
. "$(dirname "$0")/lib.sh"

# run_ns ARGS...: lastcall ARGS as PID 1 of a new PID namespace; sets CODE.
run_ns() {
	unshare --pid --fork --mount-proc "$LASTCALL" "$@" >"$WORK/out" 2>&1
	CODE=$?
}

bad=()
for n in $(seq 0 255); do
	run_ns run --log-level warn -- sh -c "exit $n"
	[ "$CODE" = "$n" ] || bad+=("$n->$CODE")
done
check "exit codes 0..255 pass through (${bad[*]:-all equal})" [ ${#bad[@]} = 0 ]

for s in HUP INT QUIT USR1 TERM KILL SEGV; do
	n=$(kill -l "$s")
	run_ns run -- sh -c "kill -$s \$\$"
	check "death by SIG$s gives 128+$n (got $CODE)" [ "$CODE" = $((128 + n)) ]
done
check "the signal death is logged by name" has_line 'event=child_exited pid=[0-9]+ signal=SIGSEGV code=139' "$WORK/out"

run_ns run -- /nonexistent/command arg
check "missing command exits 127 (got $CODE)" [ "$CODE" = 127 ]
check "the error names the command" has_line 'level=error .*event=exec_failed cmd=/nonexistent/command error="No such file or directory" code=127' "$WORK/out"
check "the error is one line" [ "$(wc -l <"$WORK/out")" = 1 ]
run_ns run -- no-such-command-on-path
check "command not on PATH exits 127 (got $CODE)" [ "$CODE" = 127 ]
printf 'not executable\n' >"$WORK/noexec"
chmod 0644 "$WORK/noexec"
run_ns run -- "$WORK/noexec"
check "non-executable file exits 126 (got $CODE)" [ "$CODE" = 126 ]
run_ns run -- "$WORK"
check "a directory exits 126 (got $CODE)" [ "$CODE" = 126 ]
printf 'exit 7\n' >"$WORK/script"
chmod 0755 "$WORK/script"
run_ns run -- "$WORK/script"
check "a script without #! runs with /bin/sh (got $CODE)" [ "$CODE" = 7 ]

run_ns run --exit-code-map 143:0 -- sh -c 'kill -TERM $$'
check "--exit-code-map 143:0 (got $CODE)" [ "$CODE" = 0 ]
run_ns run --exit-code-map 3:4 --exit-code-map 4:5 -- sh -c 'exit 3'
check "remaps apply once, not chained (got $CODE)" [ "$CODE" = 4 ]
LASTCALL_EXIT_CODE_MAP="1:0,2:0" run_ns run -- sh -c 'exit 2'
check "LASTCALL_EXIT_CODE_MAP (got $CODE)" [ "$CODE" = 0 ]
LASTCALL_EXIT_CODE_MAP="1:0" run_ns run --exit-code-map 2:9 -- sh -c 'exit 1'
check "flags replace the environment's list (got $CODE)" [ "$CODE" = 1 ]
run_ns run --exit-code-map 127:0 -- /nonexistent
check "the map applies to the child's status only, not exec failure (got $CODE)" [ "$CODE" = 127 ]

done_testing
