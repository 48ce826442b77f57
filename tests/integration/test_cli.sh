#!/usr/bin/env bash
# The command line: --help, --version, bad flags and values (one line,
# exit 125), flags from the environment.
. "$(dirname "$0")/lib.sh"

out="$WORK/out"
run() { "$LASTCALL" "$@" >"$out" 2>&1; CODE=$?; }

run --version
check "--version exits 0" [ "$CODE" = 0 ]
check "--version prints the version" has_line '^lastcall [0-9]+\.[0-9]+\.[0-9]+' "$out"
run --help
check "--help exits 0 and lists run" has_line '^  run ' "$out"
run help run
check "help run exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "help run shows the usage" has_line '^Usage: lastcall run \[OPTIONS\] \[--\] CMD' "$out"
for flag in signal-target rewrite exit-code-map orphan-grace log-format log-level; do
	env=LASTCALL_$(echo "$flag" | tr a-z- A-Z_)
	if grep -q -- "--$flag" "$out" && grep -q "env $env" "$out"; then
		ok "run --help documents --$flag and $env"
	else
		not_ok "run --help documents --$flag and $env"
	fi
done
run run --help
check "run --help exits 0" [ "$CODE" = 0 ]
run
check "no command exits 125 (got $CODE)" [ "$CODE" = 125 ]
run frobnicate
check "unknown command exits 125 (got $CODE)" [ "$CODE" = 125 ]
check "unknown command is named" has_line 'unknown command "frobnicate"' "$out"

# bad_input NAME EXPECTED_REGEX ARGS...: exit 125 with one matching line.
bad_input() {
	local name=$1 re=$2
	shift 2
	run "$@"
	if [ "$CODE" = 125 ] && [ "$(wc -l <"$out")" = 1 ] && has_line "$re" "$out"; then
		ok "$name"
	else
		not_ok "$name" "exit $CODE, output: $(cat "$out")"
	fi
}
bad_input "unknown flag" 'lastcall run: unknown option "--bogus"' run --bogus -- true
bad_input "missing value" 'option --orphan-grace needs a value' run --orphan-grace
bad_input "bad duration" '--orphan-grace: invalid value "5 parsecs"' run --orphan-grace '5 parsecs' -- true
bad_input "bad target" '--signal-target: invalid value "pgrp": expected child or group' run --signal-target pgrp -- true
bad_input "bad rewrite" '--rewrite: invalid value "TERM": expected FROM:TO' run --rewrite TERM -- true
bad_input "rewrite of SIGCHLD" 'SIGCHLD is never forwarded' run --rewrite CHLD:TERM -- true
bad_input "unknown signal" 'unknown signal "SIGFOO"' run --rewrite SIGFOO:TERM -- true
bad_input "bad exit map" '--exit-code-map: invalid value "143:256"' run --exit-code-map 143:256 -- true
bad_input "bad log level" '--log-level: invalid value "loud"' run --log-level loud -- true
bad_input "bad log format" '--log-format: invalid value "xml"' run --log-format=xml -- true
bad_input "flag given twice" 'option --orphan-grace given twice' run --orphan-grace 1s --orphan-grace 2s -- true
bad_input "missing CMD" 'missing CMD to run' run --orphan-grace 1s --
bad_input "sidecar without a target" 'give --target-process NAME or --pid-file PATH' sidecar
bad_input "sidecar with arguments" 'lastcall sidecar: unexpected argument "x"' sidecar --target-process node x
bad_input "sidecar with a bad port" '--port: invalid value "0"' sidecar --target-process node --port 0
bad_input "prestop --signal without a target" '--signal needs --pid-file or --process' prestop --signal QUIT
bad_input "prestop with a bad signal" '--signal: invalid value "QUITE"' prestop --signal QUITE --process nginx
bad_input "prestop with a bad phase" '--until: expected unready' prestop --until later
bad_input "prestop with a short grace" '--grace-period: at least 1s' prestop --grace-period 500ms
LASTCALL_ORPHAN_GRACE=forever run run -- true
check "bad env value exits 125 (got $CODE)" [ "$CODE" = 125 ]
check "bad env value names the variable" has_line 'LASTCALL_ORPHAN_GRACE: invalid value "forever"' "$out"

LASTCALL_LOG_FORMAT=json run run -- true
check "LASTCALL_LOG_FORMAT=json gives JSON lines" has_line '^\{"ts":"[0-9T:.-]+Z","level":"info","prog":"lastcall","event":"started"' "$out"
LASTCALL_LOG_FORMAT=json run run --log-format logfmt -- true
check "a flag wins over the environment" has_line '^ts=.* level=info prog=lastcall event=started' "$out"
LASTCALL_LOG_LEVEL=warn run run -- true
check "LASTCALL_LOG_LEVEL=warn hides info lines" [ ! -s "$out" ]
run run --log-level=debug -- sh -c 'sh -c "exit 0" & exit 0'
check "--log-level=debug shows reaping" has_line 'level=debug .*event=reaped' "$out" 
run run -- sh -c 'echo "$0 $1"' a b
check "CMD without -- and its arguments are passed" has_line '^a b$' "$out"
run run --orphan-grace 1500ms -- true
check "a duration in ms is accepted (exit $CODE)" [ "$CODE" = 0 ]

# --- the grace period a user gets without the flag ---
# In a pod (the kubelet sets KUBERNETES_SERVICE_HOST): Kubernetes' default.
run run -- true
check "auto in a pod: 30 s, and it says so" \
	has_line 'event=grace_period grace_ms=30000 assumed=kubernetes' "$out"
check "...started with it" has_line 'event=started .*grace_ms=30000' "$out"
# Under Docker or podman (no KUBERNETES_SERVICE_HOST, no service account):
# their default stop timeout, 10 s; elsewhere 30 s. What this machine is:
if [ -e /run/.containerenv ]; then where=podman ms=10000
elif [ -e /.dockerenv ]; then where=docker ms=10000
else where=unknown ms=30000; fi
[ -e /var/run/secrets/kubernetes.io/serviceaccount ] && where=kubernetes ms=30000
KUBERNETES_SERVICE_HOST='' run run -- true
check "auto here ($where): $ms ms, with the flag that sets it" \
	has_line "event=grace_period grace_ms=$ms assumed=$where hint=.*--grace-period \\(LASTCALL_GRACE_PERIOD\\)" "$out"
check "...a budget cut to fit is no warning" eval "! grep -q 'level=warn' '$out'"
run run --grace-period 45s -- true
check "an explicit grace period: no assumption" eval "! grep -q event=grace_period '$out'"
check "...and it is used" has_line 'event=started .*grace_ms=45000' "$out"
LASTCALL_GRACE_PERIOD=auto KUBERNETES_SERVICE_HOST= run run -- true
check "LASTCALL_GRACE_PERIOD=auto is the default" has_line "event=grace_period grace_ms=$ms" "$out"
bad_input "a grace period that is neither" '--grace-period: .*expected a duration \(30s, 1m\) or auto' run --grace-period soon -- true

# --- options after positional words, as Kubernetes users write commands ---
run probe ready --control "$WORK/nothing.sock" --timeout 200ms
check "probe ready --control S: parsed, no instance there: 1 (got $CODE)" [ "$CODE" = 1 ]
check "...and it asked S" has_line "no answer: $WORK/nothing.sock" "$out"
run sleep 50ms --log-level warn
check "sleep 50ms --log-level warn exits 0 (got $CODE)" [ "$CODE" = 0 ]
bad_input "sleep DURATION --bad-flag: the flag is checked" 'unknown option "--bad-flag"' sleep 1s --bad-flag
mkdir -p "$WORK/inst"
run install "$WORK/inst" --name lc
check "install DIR --name lc exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "...as lc" [ -x "$WORK/inst/lc" ] && [ ! -e "$WORK/inst/lastcall" ]
bad_input "gate TYPE true --pod-name P: parsed (then no API server)" 'KUBERNETES_SERVICE_PORT are not set' \
	gate example.com/ready true --pod-name web-0
bad_input "gate without --pod-name still says so" '--pod-name is needed' gate example.com/ready true
bad_input "sidecar WORD --target-process: still no words" 'unexpected argument "x"' sidecar x --target-process node
bad_input "prestop WORD --until: still no words" 'unexpected argument "x"' prestop x --until done
bad_input "install DIR -- --name: after -- a word" 'expected one argument' install "$WORK/inst" -- --name
# run: what comes after CMD (or after --) is CMD's.
run run sh -c 'echo "args: $*"' sh --log-level debug --orphan-grace
check "run CMD ... --log-level debug: CMD's (exit $CODE)" has_line '^args: --log-level debug --orphan-grace$' "$out"
check "...not lastcall's" eval "! grep -q level=debug '$out'"
run run --orphan-grace 1s -- sh -c 'echo "args: $*"' sh --orphan-grace 2s
check "run -- CMD --orphan-grace 2s: CMD's, not twice (exit $CODE)" has_line '^args: --orphan-grace 2s$' "$out"

done_testing
