#!/usr/bin/env bash
# Every way a pod spec calls lastcall, with the kubelet played the way it
# really behaves (kubelet_* in lib.sh: preStop to completion, then the stop
# signal, SIGKILL at T0 + grace and never less than 2 s after it), under
# keep-alive load through HAProxy whose removal of the draining backend
# lags 3 s behind T0, as kube-proxy's does. Another instance, b, keeps
# serving. Not one request may fail in any of:
#   run      lastcall run as PID 1, preStop exec `lastcall prestop`
#   nginx    nginx as PID 1, standalone `prestop --signal QUIT --pid-file`
#   classic  `lastcall sidecar` in a shared PID namespace (PID 1 /pause);
#            the app's preStop is an httpGet on the sidecar's /prestop, the
#            sidecar's own preStop is exec `prestop`
#   native   the same as a native sidecar: its SIGTERM only comes once the
#            app has exited
. "$(dirname "$0")/lib.sh"

for cmd in haproxy wrk node nsenter curl; do
	command -v "$cmd" >/dev/null || { not_ok "$cmd is installed (make deps installs it)"; done_testing; exit 1; }
done
[ -x /usr/sbin/nginx ] || { not_ok "nginx is installed (make deps installs it)"; done_testing; exit 1; }
cd "$APP_DIR" || exit 1

GRACE=20000
LAG=3000
DRAIN_FLAGS=(--grace-period 20s --min-delay 2s --quiet-period 1s --max-delay 10s)

listening() { log_port "$1" '^listening on .*:[0-9]+'; }

# start_node NAME [CMD-PREFIX...]: the sample app (100 ms answers), through
# CMD-PREFIX when given; sets NODE_BG (the background job) and NODE_PORT.
start_node() {
	local name=$1 log="$WORK/$1.log"
	shift
	PORT=0 DELAY_MS=100 start_bg "$log" "$@" node server.js
	NODE_BG=$BG_PID
	wait_until 10000 has_line '^listening on ' "$log" || { show_log "$log"; return 1; }
	NODE_PORT=$(listening "$log")
}

start_node b || { not_ok "b starts"; done_testing; exit 1; }
B_PORT=$NODE_PORT

# under_load TAG A_PORT DELETE...: HAProxy in front of a (A_PORT) and b,
# 9 s of wrk; after 2 s, T0: DELETE (which starts the kubelet jobs in the
# background and puts them in KJOBS); a taken out of HAProxy LAG ms after
# T0; then waits for the jobs and the load, and checks that none failed.
under_load() {
	local tag=$1 a_port=$2 fe admin load removed pid
	shift 2
	fe=$(free_port)
	admin=$(free_port)
	start_haproxy "$fe" "$admin" $'timeout client 10s\ntimeout server 10s' \
		"server a 127.0.0.1:$a_port"$'\n'"server b 127.0.0.1:$B_PORT"
	through() { curl -fs -o /dev/null "http://127.0.0.1:$fe/"; }
	check "$tag: HAProxy routes to a and b" wait_until 5000 through
	start_bg "$WORK/wrk.$tag" wrk -t2 -c16 -d9s --timeout 5s "http://127.0.0.1:$fe/"
	load=$BG_PID
	wait_until 3000 sleep_until $(($(now_ms) + 2000))
	T0=$(now_ms)
	KJOBS=()
	"$@"
	wait_until $((LAG + 1000)) sleep_until $((T0 + LAG))
	removed=$(($(now_ms) - T0))
	check "$tag: a removed from HAProxy $removed ms after T0" remove_backend "$admin" a
	[ -z "${DURING:-}" ] || $DURING
	for pid in "${KJOBS[@]}"; do
		wait_exit "$pid" $((GRACE + 10000))
	done
	wait_exit "$load" 20000
	wrk_result "$WORK/wrk.$tag" "$tag"
	check "$tag: wrk sent requests ($REQS)" [ "$REQS" -gt 100 ]
	check "$tag: 0 failed requests ($LOST)" [ "$LOST" = 0 ]
	kill -TERM "$HAP_PID" 2>/dev/null
	wait_exit "$HAP_PID" 5000
}

# kjob CMD...: a kubelet job in the background, recorded in KJOBS.
kjob() {
	"$@" &
	KJOBS+=($!)
	started_pids+=($!)
}

# report TAG NAME: the kubelet's view of container NAME, as a comment.
report() {
	echo "# $1: $2: hook rc $(kv "$2" hook_rc) at $(kv "$2" hook_ms) ms," \
		"stop signal at $(kv "$2" stop_ms) ms, exit at $(kv "$2" exit_ms) ms," \
		"killed $(kv "$2" killed)"
}

# phases LOG: the phase names logged, in order.
phases() { grep -oE 'event=phase phase=[a-z]+' "$1" | sed 's/.*=//' | tr '\n' ' '; }
drain_ms() { grep -oE 'event=phase phase=drain ms=[0-9]+' "$1" | grep -oE '[0-9]+$'; }

# ---- run + preStop exec ----------------------------------------------------
PORT=0 DELAY_MS=100 start_pid1 "$WORK/a.log" run --drain-on TERM,INT \
	--listen 127.0.0.1:0 --control "$WORK/a.sock" "${DRAIN_FLAGS[@]}" -- node server.js
A_NS=$NS_PID A_PID=$L_PID
check "run: a starts" wait_until 10000 has_line 'event=ports ports=[0-9]' "$WORK/a.log"
delete_run() {
	kjob kubelet_container run "$A_PID" TERM "$T0" "$GRACE" \
		nsenter -t "$A_PID" -p -m -- "$LASTCALL" prestop --control "$WORK/a.sock" \
		--grace-period 20s
}
under_load run "$(listening "$WORK/a.log")" delete_run
report run run
wait_exit "$A_NS" 5000
check "run: a exits 0, the app's own status (got $CODE)" [ "$CODE" = 0 ]
check "run: the hook returned 0" [ "$(kv run hook_rc)" = 0 ]
check "run: the hook held until the traffic stopped ($(kv run hook_ms) ms >= $LAG)" \
	[ "$(kv run hook_ms)" -ge "$LAG" ]
check "run: the hook returned well within the grace period" [ "$(kv run hook_ms)" -lt 8000 ]
check "run: not SIGKILLed" [ "$(kv run killed)" = false ]
check "run: the drain started at the hook (POST /drain on the control socket)" \
	has_line 'event=drain_started origin=control' "$WORK/a.log"
check "run: lastcall sent the stop signal itself, once drained" \
	has_line 'event=stop_signal_sent signal=SIGTERM' "$WORK/a.log"
check "run: phases in order (got: $(phases "$WORK/a.log"))" \
	[ "$(phases "$WORK/a.log")" = "unready propagate drain stop done " ]
check "run: propagate waited for the removal ($(drain_ms "$WORK/a.log") ms >= $LAG)" \
	[ "$(drain_ms "$WORK/a.log")" -ge "$LAG" ]
check "run: the app closed gracefully" has_line '^Closing server' "$WORK/a.log"
check "run: the hook printed its progress" has_line '^prestop: reached drained' "$WORK/hook.run.log"

# ---- nginx as PID 1, standalone prestop ------------------------------------
start_node nbackend
NG="$WORK/nginx"
NG_PORT=$(free_port)
mkdir -p "$NG/tmp"
cat >"$NG/nginx.conf" <<EOF
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/error.log notice;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	upstream app { server 127.0.0.1:$NODE_PORT; keepalive 16; }
	server {
		listen 127.0.0.1:$NG_PORT;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
start_bg "$WORK/nginx.out" unshare --pid --fork --mount-proc --kill-child \
	/usr/sbin/nginx -c "$NG/nginx.conf" -g 'daemon off;'
N_NS=$BG_PID
ng_up() { curl -fs -o /dev/null "http://127.0.0.1:$NG_PORT/"; }
check "nginx: starts as PID 1 of its namespace" wait_until 10000 ng_up
N_PID=$(child_of "$N_NS")
delete_nginx() {
	# No lastcall instance in that container: --control names a socket
	# nothing listens on, so prestop drains standalone.
	kjob kubelet_container nginx "$N_PID" QUIT "$T0" "$GRACE" \
		nsenter -t "$N_PID" -p -m -- "$LASTCALL" prestop --control "$NG/none.sock" \
		--signal QUIT --pid-file "$NG/nginx.pid" "${DRAIN_FLAGS[@]}"
}
under_load nginx "$NG_PORT" delete_nginx
report nginx nginx
wait_exit "$N_NS" 5000
check "nginx: exits 0 (got $CODE)" [ "$CODE" = 0 ]
check "nginx: not SIGKILLed" [ "$(kv nginx killed)" = false ]
check "nginx: gone before the deadline ($(kv nginx exit_ms) ms < $GRACE)" [ "$(kv nginx exit_ms)" -lt "$GRACE" ]
# PID 1's exit kills the hook with the namespace unless it returned first.
hook_ok() { [ "$1" = 0 ] || [ "$1" = 137 ]; }
check "nginx: the hook returned 0 or died with PID 1 (rc $(kv nginx hook_rc))" \
	hook_ok "$(kv nginx hook_rc)"
check "nginx: the hook drained standalone" has_line 'no lastcall instance on .*: draining standalone' "$WORK/hook.nginx.log"
check "nginx: its progress reached PID 1's stdout (the container log)" \
	has_line 'event=drain_started origin=prestop:standalone' "$WORK/nginx.out"
check "nginx: propagate waited for the removal ($(drain_ms "$WORK/nginx.out") ms >= $LAG)" \
	[ "$(drain_ms "$WORK/nginx.out")" -ge "$LAG" ]
check "nginx: SIGQUIT went to PID 1 from the pid file" \
	has_line 'event=stop_signal_sent signal=SIGQUIT target=process pid=1 ' "$WORK/nginx.out"
check "nginx: shut down gracefully" has_line 'gracefully shutting down' "$NG/error.log"
kill -TERM "$NODE_BG" 2>/dev/null

# ---- sidecar, classic and native ordering ----------------------------------
# sidecar_pod TAG: PID 1 /pause, the app and the sidecar in one PID
# namespace. Sets P_NS, APP_BG, APP_PID, APP_PORT, SIDE_BG, SIDE_PID,
# SIDE_PROBE.
sidecar_pod() {
	local tag=$1
	start_bg "$WORK/pause.$tag.out" unshare --pid --fork --mount-proc --kill-child "$PROBES/pause"
	P_NS=$BG_PID
	wait_until 5000 has_line '^pause ready' "$WORK/pause.$tag.out" || return 1
	local p1
	p1=$(child_of "$P_NS")
	start_node "app.$tag" nsenter -t "$p1" -p -m --wd="$APP_DIR" -- || return 1
	APP_BG=$NODE_BG APP_PORT=$NODE_PORT APP_PID=$(child_of "$NODE_BG")
	start_bg "$WORK/side.$tag.log" nsenter -t "$p1" -p -m -- "$LASTCALL" sidecar \
		--target-process node --drain-on TERM,INT --listen 127.0.0.1:0 \
		--control "$WORK/side.$tag.sock" \
		"${DRAIN_FLAGS[@]}"
	SIDE_BG=$BG_PID
	wait_until 5000 has_line 'event=endpoints ' "$WORK/side.$tag.log" || { show_log "$WORK/side.$tag.log"; return 1; }
	SIDE_PID=$(child_of "$SIDE_BG")
	SIDE_PROBE=$(log_port "$WORK/side.$tag.log" 'event=endpoints [^ ]+ port=[0-9]+')
	ready() { curl -fs -o /dev/null "http://127.0.0.1:$SIDE_PROBE/readyz"; }
	wait_until 5000 ready || { show_log "$WORK/side.$tag.log"; return 1; }
}

# The app's preStop: an httpGet on the sidecar (any answer is success).
app_hook() { curl -s -o /dev/null -m 30 "http://127.0.0.1:$SIDE_PROBE/prestop"; }
side_hook() {
	nsenter -t "$SIDE_PID" -p -m -- "$LASTCALL" prestop --control "$WORK/side.$1.sock" \
		--grace-period 20s
}
delete_classic() {
	kjob kubelet_container app "$APP_PID" TERM "$T0" "$GRACE" app_hook
	kjob kubelet_container side "$SIDE_PID" TERM "$T0" "$GRACE" side_hook classic
}
# Native: the sidecar's hook at T0 with the app's, its SIGTERM only once
# every main container has exited.
native_side() {
	: >"$WORK/kubelet.side"
	kubelet_hook side "$T0" "$GRACE" side_hook native
	wait_until $((T0 + GRACE - $(now_ms))) gone "$APP_PID"
	kubelet_stop side "$SIDE_PID" TERM "$T0" "$GRACE"
}
delete_native() {
	kjob kubelet_container app "$APP_PID" TERM "$T0" "$GRACE" app_hook
	kjob native_side
}

# While the app drains (after the removal), the sidecar still answers.
live_during() {
	LIVE_DURING=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SIDE_PROBE/livez")
}
for tag in classic native; do
	if ! sidecar_pod "$tag"; then
		not_ok "$tag: the pod starts (pause, app, sidecar ready)"
		continue
	fi
	ok "$tag: the pod starts (pause, app, sidecar ready)"
	check "$tag: the sidecar found the app" has_line 'event=target_found pid=[0-9]+ target=node' "$WORK/side.$tag.log"
	rm -f "$WORK/kubelet.app" "$WORK/kubelet.side"
	LIVE_DURING=none
	DURING=live_during under_load "$tag" "$APP_PORT" "delete_$tag"
	report "$tag" app
	report "$tag" side
	wait_exit "$APP_BG" 5000
	check "$tag: the app exits 0 (got $CODE)" [ "$CODE" = 0 ]
	check "$tag: the app closed gracefully" has_line '^Closing server' "$WORK/app.$tag.log"
	wait_exit "$SIDE_BG" 5000
	check "$tag: the sidecar exits 0 (got $CODE)" [ "$CODE" = 0 ]
	check "$tag: nothing SIGKILLed" [ "$(kv app killed)/$(kv side killed)" = false/false ]
	check "$tag: both hooks returned 0" [ "$(kv app hook_rc)/$(kv side hook_rc)" = 0/0 ]
	check "$tag: the app's hook held until the traffic stopped ($(kv app hook_ms) ms >= $LAG)" \
		[ "$(kv app hook_ms)" -ge "$LAG" ]
	check "$tag: one drain, from a hook" \
		[ "$(count_lines 'event=drain_started origin=(prestop:http|control)' "$WORK/side.$tag.log")" = 1 ]
	check "$tag: phases in order (got: $(phases "$WORK/side.$tag.log"))" \
		[ "$(phases "$WORK/side.$tag.log")" = "unready propagate drain stop done " ]
	check "$tag: the sidecar stopped the app" \
		has_line "event=stop_signal_sent signal=SIGTERM target=process" "$WORK/side.$tag.log"
	check "$tag: the sidecar saw the app exit" has_line 'event=target_exited' "$WORK/side.$tag.log"
	check "$tag: the sidecar answered probes while the app drained" [ "$LIVE_DURING" = 200 ]
	if [ "$tag" = native ]; then
		check "native: the sidecar outlived the app (its exit logged after the app's)" \
			[ "$(grep -nE 'event=(target_exited|exiting)' "$WORK/side.$tag.log" | cut -d: -f2- |
				grep -oE 'event=[a-z_]+' | tr '\n' ' ')" = "event=target_exited event=exiting " ]
	fi
	kill -TERM "$P_NS" 2>/dev/null
	wait_exit "$P_NS" 5000
done

done_testing
