# lib.sh - shared helpers for the integration tests (sourced, bash).
#
# Tests print TAP: "ok N - name" / "not ok N - name", then "1..N" at the
# end. They wait on events (a line in a file, a process gone) with a
# deadline, never on a bare sleep, and end only the processes they started.
# KEEP_WORK=1 keeps the suite's work directory (logs) for a look after.

set -uo pipefail

: "${LASTCALL:?set LASTCALL to the binary under test}"
: "${PROBES:?set PROBES to the directory of the probe binaries}"
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_DIR="$TESTS_DIR/app"

# The PID-1 tests see plain forwarding and no endpoints; the drain tests
# pass their own flags, which win over these.
export LASTCALL_DRAIN_ON=none LASTCALL_LISTEN=none LASTCALL_CONTROL=none
# The suites play containers of a pod, and the kubelet sets
# KUBERNETES_SERVICE_HOST in every one: `--grace-period auto` reads it
# (30 s, Kubernetes' default). Nothing connects to it without --pod-name
# (test_kube points it at its API double). test_container runs the image
# under podman without it, as Docker and podman users do, and test_cli
# checks what auto means without it.
export KUBERNETES_SERVICE_HOST=127.0.0.1

tap_n=0
tap_failed=0
started_pids=()
WORK=$(mktemp -d /tmp/lastcall-test.XXXXXX)

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
not_ok() {
	tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
	shift
	local line
	for line in "$@"; do echo "# $line"; done
}
# check NAME CMD...: ok when CMD succeeds.
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi; }
done_testing() { echo "1..$tap_n"; }

cleanup() {
	local pid
	for pid in "${started_pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${started_pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_until TIMEOUT_MS CMD...: polls CMD every 10 ms until it succeeds.
# The poll only looks; the deadline bounds it.
wait_until() {
	local limit=$1; shift
	local end=$(($(now_ms) + limit))
	while ! "$@"; do
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.01
	done
}

# between V LO HI: LO <= V <= HI (one command, for check).
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
has_line() { [ -f "$2" ] && grep -qE -- "$1" "$2"; }
count_lines() { local n; n=$(grep -cE -- "$1" "$2" 2>/dev/null); echo "${n:-0}"; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }

# The first child of pid (host view), e.g. lastcall under unshare.
child_of() { local c; c=$(cat /proc/"$1"/task/"$1"/children 2>/dev/null); echo "${c%% *}"; }

# start_bg LOG CMD...: runs CMD in the background with stdout+stderr to LOG;
# sets BG_PID.
start_bg() {
	local log=$1; shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	started_pids+=("$BG_PID")
}

# start_pid1 LOG ARGS...: runs "lastcall ARGS..." as PID 1 of a new PID
# namespace. Sets NS_PID (unshare's pid) and L_PID (lastcall's host pid).
start_pid1() {
	local log=$1; shift
	start_bg "$log" unshare --pid --fork --mount-proc --kill-child "$LASTCALL" "$@"
	NS_PID=$BG_PID
	L_PID=
	wait_until 5000 eval '[ -n "$(child_of $NS_PID)" ]' || return 1
	L_PID=$(child_of "$NS_PID")
	started_pids+=("$L_PID")
}

# wait_exit PID TIMEOUT_MS: waits for a background job of this shell and
# sets CODE to its status ("timeout" when it is still running).
wait_exit() {
	local pid=$1 limit=$2
	CODE=timeout
	wait_until "$limit" gone "$pid" || return 1
	wait "$pid" 2>/dev/null
	CODE=$?
}

# free_port: prints a TCP port that no socket on this machine uses, in any
# state, taken below the kernel's ephemeral range so that no outgoing
# connection (ours or anyone's on this shared machine) grabs it before the
# test binds it. A connected socket holding the port would make bind() fail.
free_port() {
	local p i low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "${low:-0}" -gt 21000 ] || low=32768
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % (low - 20000)))
		if ! awk -v h="$(printf '%04X' "$p")" \
			'FNR > 1 && substr($2, index($2, ":") + 1) == h { f = 1 } END { exit !f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# show_log LOG: the last lines of LOG as TAP comments, after a failed check.
show_log() { tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/# | /'; }

# log_port LOG REGEX: the trailing number of the first match of REGEX.
log_port() { grep -oE "$2" "$1" | head -n1 | grep -oE '[0-9]+$'; }

# start_served NAME FLAGS...: the sample app (100 ms answers) under
# `lastcall run FLAGS...` as PID 1, with its probes on 127.0.0.1 and its
# control socket in $WORK; sets <NAME>_NS, <NAME>_PID (lastcall),
# <NAME>_PORT (the app) and <NAME>_PROBE (lastcall's endpoints). Run from
# the app's directory; the caller's environment reaches lastcall.
start_served() {
	local name=$1 log="$WORK/$1.log"
	shift
	PORT=0 DELAY_MS=100 start_pid1 "$log" run --listen 127.0.0.1:0 \
		--control "$WORK/$name.sock" "$@" -- node server.js
	if ! wait_until 10000 has_line '^listening on ' "$log" ||
		! wait_until 5000 has_line 'event=endpoints ' "$log"; then
		show_log "$log"
		return 1
	fi
	printf -v "${name}_NS" %s "$NS_PID"
	printf -v "${name}_PID" %s "$L_PID"
	printf -v "${name}_PORT" %s "$(log_port "$log" '^listening on .*:[0-9]+')"
	printf -v "${name}_PROBE" %s "$(log_port "$log" 'event=endpoints [^ ]+ port=[0-9]+')"
}
ready_ok() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz"; }
# sleep_until MS: true once the clock has passed MS (for wait_until).
sleep_until() { [ "$(now_ms)" -ge "$1" ]; }

# start_haproxy FE ADMIN DEFAULTS BACKEND: HAProxy in HTTP mode on
# 127.0.0.1:FE, its runtime API on 127.0.0.1:ADMIN, one backend "apps";
# DEFAULTS and BACKEND are more config lines (newline-separated), e.g. the
# timeouts and the server lines. Sets HAP_PID.
start_haproxy() {
	local fe=$1 admin=$2 defaults=$3 backend=$4
	{
		printf 'global\n\tmaxconn 512\n\tstats socket ipv4@127.0.0.1:%s level admin\n' "$admin"
		printf 'defaults\n\tmode http\n\ttimeout connect 1s\n'
		sed 's/^/\t/' <<<"$defaults"
		printf 'frontend fe\n\tbind 127.0.0.1:%s\n\tdefault_backend apps\n' "$fe"
		printf 'backend apps\n\tbalance roundrobin\n'
		sed 's/^/\t/' <<<"$backend"
	} >"$WORK/haproxy.cfg"
	start_bg "$WORK/haproxy.out" haproxy -f "$WORK/haproxy.cfg" -db
	HAP_PID=$BG_PID
}

# remove_backend ADMIN SERVER: "set server apps/SERVER state maint" on
# HAProxy's runtime API, as a lagging endpoint removal.
remove_backend() {
	local out
	out=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'set server apps/$2 state maint\n' >&3 && cat <&3") || return 1
	[ -z "$(tr -d '[:space:]' <<<"$out")" ]
}

# wrk_result FILE TAG: wrk's report as TAP comments; sets REQS and LOST
# (non-2xx answers plus socket errors of every kind).
wrk_result() {
	local non2xx sockerr
	sed "s/^/# $2: wrk: /" "$1"
	REQS=$(grep -oE '^ +[0-9]+ requests in' "$1" | grep -oE '[0-9]+')
	REQS=${REQS:-0}
	non2xx=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$1" | grep -oE '[0-9]+$')
	sockerr=$(grep -oE 'Socket errors: .*' "$1" | grep -oE '[0-9]+' | paste -sd+)
	LOST=$(( ${non2xx:-0} + ${sockerr:-0} ))
}

# The kubelet deleting a pod, played faithfully (the termination facts in
# the README): at T0 each container's preStop hook runs to completion,
# bounded only by the grace period; when it returns, the container's PID 1
# gets the stop signal; SIGKILL comes at T0 + grace, never less than 2 s
# after the stop signal. Containers go through this side by side, so each
# call runs in the background and writes what happened to
# $WORK/kubelet.NAME (hook_rc, hook_ms, stop_ms, exit_ms, killed: ms since
# T0); kv reads it.

# kubelet_hook NAME T0 GRACE_MS CMD...: the preStop hook alone (CMD may
# be a shell function), its output in $WORK/hook.NAME.log (the kubelet only
# keeps it for errors), SIGKILLed if it outlives the grace period.
kubelet_hook() {
	local name=$1 t0=$2 grace=$3 rc hook
	shift 3
	"$@" >"$WORK/hook.$name.log" 2>&1 &
	hook=$!
	if ! wait_until $((t0 + grace - $(now_ms))) gone "$hook"; then
		kill -KILL "$hook" 2>/dev/null
	fi
	wait "$hook" 2>/dev/null
	rc=$?
	printf 'hook_rc=%s\nhook_ms=%s\n' "$rc" $(($(now_ms) - t0)) >>"$WORK/kubelet.$name"
}

# kubelet_stop NAME PID SIGNAL T0 GRACE_MS: the stop signal to PID (the
# container's PID 1, host view), then SIGKILL at the deadline.
kubelet_stop() {
	local name=$1 pid=$2 sig=$3 t0=$4 grace=$5 stop kill_at killed=false
	stop=$(now_ms)
	kill -"$sig" "$pid" 2>/dev/null
	kill_at=$((t0 + grace))
	[ "$kill_at" -ge $((stop + 2000)) ] || kill_at=$((stop + 2000))
	if ! wait_until $((kill_at - stop)) gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		killed=true
		wait_until 5000 gone "$pid"
	fi
	printf 'stop_ms=%s\nexit_ms=%s\nkilled=%s\n' $((stop - t0)) $(($(now_ms) - t0)) \
		"$killed" >>"$WORK/kubelet.$name"
}

# kubelet_container NAME PID SIGNAL T0 GRACE_MS [CMD...]: hook, then stop.
kubelet_container() {
	local name=$1 pid=$2 sig=$3 t0=$4 grace=$5
	shift 5
	: >"$WORK/kubelet.$name"
	[ $# -eq 0 ] || kubelet_hook "$name" "$t0" "$grace" "$@"
	kubelet_stop "$name" "$pid" "$sig" "$t0" "$grace"
}

# kv NAME KEY: a value kubelet_* wrote for container NAME.
kv() { grep -oE "^$2=.*" "$WORK/kubelet.$1" 2>/dev/null | tail -n1 | cut -d= -f2; }
