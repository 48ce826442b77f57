#!/usr/bin/env bash
# The control socket and GET /prestop under stress, on the real binary as
# PID 1: long polls still parked when lastcall exits (run, and a native
# sidecar's late SIGTERM), a drain started from inside a request while
# another waits, callers who leave while parked, who may call /prestop
# over TCP (127.0.0.6 is Istio's relay, not the pod), who may use the
# control socket (SO_PEERCRED), and the abstract-socket fallback when the
# --control path cannot be bound (a read-only root filesystem), one per
# container (mount namespace) of a pod (one network namespace).
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
lacks() { ! has_line "$@"; }
no_abort() { lacks 'Fatal error|MHD_stop_daemon' "$1"; }
# park LOG URL CURL_ARGS...: a long poll in the background (its status code
# in LOG.code); returns once curl has sent the request. Sets PARKED.
park() {
	local log=$1 url=$2
	shift 2
	curl -s --max-time 20 -o "$log.body" -w '%{http_code}' --trace-ascii "$log.trace" \
		"$@" "$url" >"$log.code" 2>/dev/null &
	PARKED=$!
	wait_until 5000 has_line '^=> Send header' "$log.trace"
}
endpoints_port() { log_port "$1" 'event=endpoints [^ ]+ port=[0-9]+'; }

# --- exit with a /wait parked: the app's code, not libmicrohttpd's abort ---
SOCK="$WORK/exit.sock"
start_pid1 "$WORK/exit.log" run --drain-on none --listen none --control "$SOCK" -- sleep 2
wait_until 5000 test -S "$SOCK"
park "$WORK/exit.wait" 'http://x/wait?phase=drain&timeout=60s' --unix-socket "$SOCK"
wait_exit "$NS_PID" 10000
check "exit: the app's code 0 with a /wait parked (got $CODE; 134 is MHD's abort)" [ "$CODE" = 0 ]
wait "$PARKED"
c=$(cat "$WORK/exit.wait.code")
check "exit: the parked /wait is answered 503 (got $c)" [ "$c" = 503 ]
check "exit: ...shutting down" grep -q 'shutting down' "$WORK/exit.wait.body"
check "exit: no abort" no_abort "$WORK/exit.log"

# --- the same for a native sidecar: SIGTERM after the app is gone ---------
SOCK="$WORK/side.sock"
start_pid1 "$WORK/side.log" sidecar --target-process lastcall-none --drain-on TERM \
	--listen none --control "$SOCK"
wait_until 5000 has_line 'event=target_missing' "$WORK/side.log"
park "$WORK/side.wait" 'http://x/wait?phase=drain&timeout=60s' --unix-socket "$SOCK"
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000
check "sidecar: SIGTERM with the app gone and a /wait parked exits 0 (got $CODE)" [ "$CODE" = 0 ]
wait "$PARKED"
c=$(cat "$WORK/side.wait.code")
check "sidecar: the parked /wait is answered (got $c)" grep -qE "^(200|503)$" <<<"$c"
check "sidecar: no abort" no_abort "$WORK/side.log"

# --- GET /prestop while a /wait?phase=unready is parked: one drain --------
# The drain starts inside the /prestop handler; the phase change must not
# run libmicrohttpd again from there (it ran the same handler twice).
SOCK="$WORK/re.sock"
start_pid1 "$WORK/re.log" run --drain-on TERM --listen 127.0.0.1:0 --control "$SOCK" \
	--grace-period 10s --min-delay 200ms --quiet-period 100ms -- sleep 30
wait_until 5000 has_line 'event=endpoints ' "$WORK/re.log"
port=$(endpoints_port "$WORK/re.log")
park "$WORK/re.wait" 'http://x/wait?phase=unready&timeout=15s' --unix-socket "$SOCK"
c=$(code_of "http://127.0.0.1:$port/prestop")
check "re-entry: GET /prestop answers 200 once drained (got $c)" [ "$c" = 200 ]
wait "$PARKED"
c=$(cat "$WORK/re.wait.code")
check "re-entry: the parked /wait is answered 200 (got $c)" [ "$c" = 200 ]
check "re-entry: exactly one drain_started" [ "$(count_lines 'event=drain_started' "$WORK/re.log")" = 1 ]
check "re-entry: the handler ran once (no drain_already_started)" \
	lacks 'event=drain_already_started' "$WORK/re.log"
kill -TERM "$L_PID"	# the kubelet's stop signal, after the hook
wait_exit "$NS_PID" 5000
check "re-entry: exits with the app's code 143 (got $CODE)" [ "$CODE" = 143 ]
check "re-entry: no abort" no_abort "$WORK/re.log"

# --- callers who leave while parked free their slot -----------------------
SOCK="$WORK/gone.sock"
start_pid1 "$WORK/gone.log" run --drain-on TERM --listen none --control "$SOCK" -- sleep 60
wait_until 5000 test -S "$SOCK"
n=$((32 + 8))	# HTTPD_WAITERS_MAX and more
pids=()
for i in $(seq 1 "$n"); do
	curl -s --max-time 1 -o /dev/null --unix-socket "$SOCK" \
		'http://x/wait?phase=drain&timeout=60s' &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done	# each gives up after 1 s
c=$(code_of --unix-socket "$SOCK" 'http://x/wait?phase=drain&timeout=300ms')
check "gone: after $n callers left, a new /wait is served: 408 (got $c; 503: the table is full)" \
	[ "$c" = 408 ]
c=$(code_of --unix-socket "$SOCK" http://x/status)
check "gone: still serving (got $c)" [ "$c" = 200 ]
kill -TERM "$L_PID"
wait_exit "$NS_PID" 10000
check "gone: exits with the app's code 143 (got $CODE)" [ "$CODE" = 143 ]
check "gone: no abort" no_abort "$WORK/gone.log"

# --- /prestop over TCP: 127.0.0.1 is the pod, 127.0.0.6 is Istio's relay --
start_pid1 "$WORK/acl.log" run --drain-on TERM --listen 127.0.0.1:0 --control none \
	--grace-period 10s --min-delay 100ms --quiet-period 100ms -- sleep 30
wait_until 5000 has_line 'event=endpoints ' "$WORK/acl.log"
port=$(endpoints_port "$WORK/acl.log")
c=$(curl -s -o "$WORK/acl.body" -w '%{http_code}' --max-time 10 --interface 127.0.0.6 \
	"http://127.0.0.1:$port/prestop")
check "acl: /prestop from 127.0.0.6 is refused 403 (got $c)" [ "$c" = 403 ]
check "acl: ...saying who may" grep -q '127.0.0.1, ::1 and --allow-from' "$WORK/acl.body"
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.6 \
	"http://127.0.0.1:$port/livez")
check "acl: the read-only endpoints still answer 127.0.0.6 (got $c)" [ "$c" = 200 ]
check "acl: ...and no drain started" lacks 'event=drain_started' "$WORK/acl.log"
c=$(code_of --interface 127.0.0.1 "http://127.0.0.1:$port/prestop")
check "acl: /prestop from 127.0.0.1 drains (got $c)" [ "$c" = 200 ]
check "acl: ...from the hook" has_line 'event=drain_started origin=prestop:http' "$WORK/acl.log"
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000

start_pid1 "$WORK/acl2.log" run --drain-on TERM --listen 127.0.0.1:0 --control none \
	--allow-from 127.0.0.6 --grace-period 10s --min-delay 100ms --quiet-period 100ms -- sleep 30
wait_until 5000 has_line 'event=endpoints ' "$WORK/acl2.log"
port=$(endpoints_port "$WORK/acl2.log")
c=$(code_of --interface 127.0.0.6 "http://127.0.0.1:$port/prestop")
check "acl: with --allow-from 127.0.0.6 it may (got $c)" [ "$c" = 200 ]
check "acl: ...and drains" has_line 'event=drain_started origin=prestop:http' "$WORK/acl2.log"
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000

# --- the control socket is for lastcall's own user (and root) -------------
chmod 711 "$WORK"	# another user may reach the socket file itself
SOCK="$WORK/cred.sock"
start_pid1 "$WORK/cred.log" run --drain-on TERM --listen none --control "$SOCK" -- sleep 30
wait_until 5000 test -S "$SOCK"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# Mode 0600 keeps another user out at connect(): EACCES, which is not "no
# instance there" (the hook would drain standalone beside a live one).
timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$LASTCALL" prestop --control "$SOCK" --process lastcall-none >"$WORK/cred.hook" 2>&1
rc=$?
check "cred: a prestop that may not connect fails (rc $rc)" [ "$rc" = 1 ]
check "cred: ...saying why" has_line 'Permission denied' "$WORK/cred.hook"
check "cred: ...and does not drain standalone" lacks 'standalone' "$WORK/cred.hook"
chmod 0666 "$SOCK"	# a mistake, or a shared directory: SO_PEERCRED still refuses
c=$(as_nobody curl -s -o "$WORK/cred.body" -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" \
	http://x/status)
check "cred: another user gets 403 (got $c)" [ "$c" = 403 ]
c=$(as_nobody curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" \
	-X POST http://x/drain)
check "cred: ...for POST /drain too (got $c)" [ "$c" = 403 ]
check "cred: ...and no drain" lacks 'event=drain_started' "$WORK/cred.log"
c=$(code_of --unix-socket "$SOCK" http://x/status)
check "cred: root is served (got $c)" [ "$c" = 200 ]
kill -TERM "$L_PID"
wait_exit "$NS_PID" 5000
chmod 700 "$WORK"

# --- no writable --control path: the container's abstract socket -----------
# /proc/lastcall.sock cannot be created: it stands for a read-only root.
# Each start_pid1 is a container: its own mount (and PID) namespace, the
# network namespace (where abstract names live) shared, as in a pod. in_ct
# runs a command in a container, as the kubelet runs an exec hook or probe.
in_ct() { local pid=$1; shift; nsenter -t "$pid" -m -p --wd="$APP_DIR" -- "$@"; }
mntns_ino() { stat -L -c %i "/proc/$1/ns/mnt"; }
probe_in() { in_ct "$1" "$LASTCALL" probe --control "$RO" ready 2>/dev/null; }
# raw_abstract NAME: GET /status on the abstract socket NAME; the status line.
raw_abstract() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect("\0" + sys.argv[1])
s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
print(s.makefile("rb").readline().decode().strip())' "$1" 2>&1
}
RO=/proc/lastcall.sock
start_ro() {
	PORT=0 start_pid1 "$WORK/$1.log" run --listen none --control "$RO" --drain-on TERM \
		--grace-period 10s --min-delay 200ms --quiet-period 100ms -- node server.js
}
start_ro ro1
R1_NS=$NS_PID R1=$L_PID
start_ro ro2
R2_NS=$NS_PID R2=$L_PID
check "ro: the app starts though $RO cannot be bound" \
	wait_until 10000 has_line '^listening on ' "$WORK/ro1.log"
wait_until 10000 has_line '^listening on ' "$WORK/ro2.log"
n1=lastcall-$(mntns_ino "$R1")
n2=lastcall-$(mntns_ino "$R2")
check "ro: each container has its own name ($n1, $n2)" [ "$n1" != "$n2" ]
check "ro: one warning with the path, the name taken and the fix" \
	has_line "level=warn .*event=control_fallback path=$RO error=.* listen=@$n1 hint=\"mount a writable volume" "$WORK/ro1.log"
check "ro: ...once" [ "$(count_lines 'event=control_fallback' "$WORK/ro1.log")" = 1 ]
check "ro: the endpoints line names the abstract socket" \
	has_line "event=endpoints .*control=@$n1" "$WORK/ro1.log"
check "ro: ...both listening" eval "grep -q ' @$n1\$' /proc/net/unix && grep -q ' @$n2\$' /proc/net/unix"
check "ro: lastcall probe reaches it through the abstract name" \
	wait_until 5000 probe_in "$R1"
check "ro: ...in the other container too" wait_until 5000 probe_in "$R2"
l=$(in_ct "$R1" bash -c "$(declare -f raw_abstract); raw_abstract $n1")
check "ro: a caller in the container is served ($l)" grep -q '^HTTP/1.1 200' <<<"$l"
l=$(raw_abstract "$n1")
check "ro: a caller outside the container's namespaces gets 403 ($l)" grep -q '^HTTP/1.1 403' <<<"$l"
# In its PID namespace (pid visible), but not its mount namespace.
l=$(nsenter -t "$R1" -p -- bash -c "$(declare -f raw_abstract); raw_abstract $n1")
check "ro: ...and so does one in its PID but another mount namespace ($l)" \
	grep -q '^HTTP/1.1 403' <<<"$l"
l=$(in_ct "$R2" bash -c "$(declare -f raw_abstract); raw_abstract $n1")
check "ro: ...and the other container, on the first one's name ($l)" grep -q '^HTTP/1.1 403' <<<"$l"
in_ct "$R1" "$LASTCALL" run --listen none --control /proc/other.sock -- true >"$WORK/ro3.log" 2>&1
rc=$?
check "ro: a second lastcall in the same container cannot take the name (rc $rc)" [ "$rc" = 125 ]
check "ro: ...and says so" has_line 'another lastcall in this container holds it' "$WORK/ro3.log"
in_ct "$R1" "$LASTCALL" prestop --control "$RO" --grace-period 10s >"$WORK/ro1.hook" 2>&1
rc=$?
check "ro: prestop in container 1 drains through the abstract name (rc $rc)" [ "$rc" = 0 ]
check "ro: ...attached, not standalone" has_line 'event=drain_started origin=control' "$WORK/ro1.log"
check "ro: ...container 2's instance untouched" lacks 'event=drain_started' "$WORK/ro2.log"
kill -TERM "$R1"
wait_exit "$R1_NS" 5000
check "ro: container 1 exits with the app's 0 (got $CODE)" [ "$CODE" = 0 ]
in_ct "$R2" "$LASTCALL" prestop --control "$RO" --grace-period 10s >"$WORK/ro2.hook" 2>&1
rc=$?
check "ro: prestop in container 2 drains its own (rc $rc)" [ "$rc" = 0 ]
check "ro: ...attached" has_line 'event=drain_started origin=control' "$WORK/ro2.log"
kill -TERM "$R2"
wait_exit "$R2_NS" 5000
check "ro: container 2 exits with the app's 0 (got $CODE)" [ "$CODE" = 0 ]
check "ro: no abort" eval "no_abort '$WORK/ro1.log' && no_abort '$WORK/ro2.log'"

# --- neither the path nor the abstract name: the app starts all the same ---
# Without /proc the container's mount namespace has no name to give the
# abstract socket: the endpoints go on without a control socket.
unshare --mount --propagation private bash -c "umount -l /proc && exec '$LASTCALL' run \
	--control /nonexistent-dir/lc.sock --listen none -- true" >"$WORK/noproc.log" 2>&1
c=$?
if [ -n "${LASTCALL_SANITIZED:-}" ]; then
	# An ASan build reads its options from /proc/self/environ, and its
	# LeakSanitizer needs /proc at exit: without /proc it fails there,
	# after lastcall's own last line.
	check "no /proc, no control path: the app runs and lastcall exits 0 (ASan build: its exit line)" \
		has_line 'event=exiting code=0 ' "$WORK/noproc.log"
else
	check "no /proc, no control path: the app runs and lastcall exits 0 (got $c)" [ "$c" = 0 ]
fi
check "...with a warning that says what is off and what to do" \
	has_line 'level=warn .*event=control_off .*hint="lastcall prestop and probe cannot reach' "$WORK/noproc.log"

done_testing
