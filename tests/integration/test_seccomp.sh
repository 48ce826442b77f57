#!/usr/bin/env bash
# The static binary (the one the image ships) in a podman container
# under podman's default seccomp profile, checked rather than assumed
# (the filter is on in the container's PID 1, and no option turned it
# off), as a user with every capability dropped: lastcall run as PID 1
# with its endpoints, `lastcall probe` through podman exec, the stop
# (podman stop: SIGTERM) with a drain, and a log free of refused system
# calls (EPERM, ENOSYS). The image is the binary alone (podman import):
# no build, no registry.
. "$(dirname "$0")/lib.sh"

STATIC="${LASTCALL_STATIC:-$(dirname "$LASTCALL")/static/lastcall}"
[ -x "$STATIC" ] || STATIC=$(dirname "$(dirname "$LASTCALL")")/static/lastcall
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
	echo "1..0 # SKIP podman or runc is not installed (make deps installs them)"
	exit 0
fi
if [ ! -x "$STATIC" ] || ! file "$STATIC" | grep -q 'statically linked'; then
	echo "1..0 # SKIP no static binary (make static)"
	exit 0
fi
# As test_container: this machine's limits are below podman's defaults.
U=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
P=(--runtime runc)
IMG=localhost/lastcall-seccomp:test-$$
NAME=lastcall-seccomp-$$
trap 'podman rm -f -t 0 "$NAME" >/dev/null 2>&1; podman rmi -f "$IMG" >/dev/null 2>&1; cleanup' EXIT

mkdir "$WORK/root" && cp "$STATIC" "$WORK/root/lastcall" && mkdir -m 1777 "$WORK/root/tmp"
tar -C "$WORK/root" -c . | podman import -q - "$IMG" >/dev/null 2>"$WORK/import.err"
check "the image: the static binary alone ($(tail -n1 "$WORK/import.err"))" \
	podman image exists "$IMG"

profile=$(podman info --format '{{.Host.Security.SECCOMPProfilePath}}' 2>/dev/null)
[ -n "$profile" ] || profile=$(podman info 2>/dev/null | awk '/seccompProfilePath:/ { print $2 }')
echo "# podman $(podman --version | awk '{ print $3 }'), default profile: ${profile:-?}"

podman run -d "${P[@]}" "${U[@]}" --name "$NAME" --user 65534:65534 --cap-drop all \
	--network none "$IMG" /lastcall run --listen 127.0.0.1:9797 --control /tmp/lastcall.sock \
	--grace-period 10s --min-delay 500ms --quiet-period 200ms -- /lastcall sleep 3600 \
	>/dev/null 2>"$WORK/run.err"
pid=$(podman inspect "$NAME" --format '{{.State.Pid}}' 2>/dev/null)
check "the container runs (pid ${pid:-none}; $(tail -n1 "$WORK/run.err"))" \
	eval '[ -n "$pid" ] && [ "$pid" -gt 0 ]'
opts=$(podman inspect "$NAME" --format '{{.HostConfig.SecurityOpt}}' 2>/dev/null)
check "no seccomp option was given (SecurityOpt: $opts)" eval '! grep -q seccomp <<<"$opts"'
st=/proc/${pid:-0}/status
filters=$(awk '/^Seccomp_filters:/ { print $2 }' "$st" 2>/dev/null)
check "its PID 1 runs under a seccomp filter (Seccomp: $(awk '/^Seccomp:/ { print $2 }' "$st" 2>/dev/null), filters ${filters:-?})" \
	eval 'grep -qE "^Seccomp:\s+2$" "$st"'
check "...as 65534 with no capability" eval \
	'grep -qE "^Uid:\s+65534\s" "$st" && grep -qE "^CapEff:\s+0+$" "$st"'
logs() { podman logs "$NAME" 2>&1; }
started() { logs | grep -q 'event=started '; }
check "lastcall starts its app" wait_until 10000 started
check "lastcall probe live answers through podman exec" \
	podman exec "$NAME" /lastcall probe --control /tmp/lastcall.sock live
t0=$(now_ms)
podman stop -t 10 "$NAME" >/dev/null 2>&1
ms=$(($(now_ms) - t0))
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}' 2>/dev/null)
logs >"$WORK/container.log"
echo "# stopped in $ms ms, exit $code"
stop_ms=$(grep -oE 'event=phase phase=stop ms=[0-9]+' "$WORK/container.log" | grep -oE '[0-9]+$')
check "podman stop: the drain runs, then the app is stopped (at ${stop_ms:-?} ms; lastcall sleep exits 0 on TERM: exit $code)" \
	eval '[ "$code" = 0 ] && has_line "event=drain_started origin=signal:SIGTERM" "$WORK/container.log" && between "${stop_ms:--1}" 500 3000 && has_line "event=exiting code=0 " "$WORK/container.log"'
check "...within the grace period ($ms ms)" [ "$ms" -lt 10000 ]
refused=$(grep -cE 'Operation not permitted|Function not implemented|not permitted|EPERM|ENOSYS' "$WORK/container.log")
check "no system call refused by the profile in the log ($refused lines)" [ "$refused" = 0 ]
if [ "$refused" != 0 ] || [ "$code" != 0 ]; then show_log "$WORK/container.log" 30; fi

done_testing
