#!/usr/bin/env bash
# lastcall in real containers: podman with the runc runtime.
#
# The image is built from the repository's Dockerfile (the builder runs
# make static; the final image is FROM scratch), first for amd64 and arm64
# at once into a manifest list (each entry's binary of its architecture,
# static, the same bytes as make static's), then as one image. Then:
#   - the sample app's image (CMD ["npm", "start"], lastcall as ENTRYPOINT)
#     under load: `podman stop -t 10` drains, the app logs "Closing server",
#     no SIGKILL; the same image without lastcall, as exec-form npm and as
#     shell-form `sh -c`, loses its requests or is SIGKILLed after 10 s;
#   - the init-container pattern: `lastcall install` into a shared volume,
#     run from there by a shell-less app (no sh, cp or sleep) as its
#     entrypoint and its preStop hook.
# Where podman cannot be installed, the suite is skipped with the reason.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$TESTS_DIR/.." && pwd)
for cmd in podman runc; do
	if ! command -v "$cmd" >/dev/null; then
		echo "1..0 # SKIP $cmd is not installed and could not be (make deps installs podman, runc, netavark and debootstrap from Debian)"
		exit 0
	fi
done
# This machine's limits are below podman's defaults (root lacks
# CAP_SYS_RESOURCE): every build and run says which it wants.
U=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
P=(--runtime runc)
IMG=localhost/lastcall:test
APP=localhost/lastcall-app:test
DISTROLESS=localhost/lastcall-distroless:test
tag="lastcall-test-$$"
containers=()
pods=()
stop_containers() {
	local c
	for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
	for c in "${pods[@]}"; do podman pod rm -f -t 0 "$c" >/dev/null 2>&1; done
}
trap 'stop_containers; cleanup' EXIT
# crun: NAME ARGS...: podman run -d under a name removed at the end.
crun() {
	local name="$tag-$1"; shift
	containers+=("$name")
	podman run -d "${P[@]}" "${U[@]}" --name "$name" "$@" >/dev/null
}
http_ok() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }
logs() { podman logs "$tag-$1" 2>&1; }
# Reads the whole log first: with pipefail, grep -q quitting early would
# turn podman's SIGPIPE into a failure.
has_log() { local out; out=$(logs "$1"); grep -qE -- "$2" <<<"$out"; }
exit_code() { podman inspect "$tag-$1" --format '{{.State.ExitCode}}'; }

# --- the base image ---------------------------------------------------------
how=$(bash "$TESTS_DIR/container/base-image.sh" 2>"$WORK/base.err")
check "debian:bookworm-slim is there (${how:-$(tail -n1 "$WORK/base.err")})" [ -n "$how" ]

# --- the image for both architectures ---------------------------------------
# One build of a manifest list for linux/amd64 and linux/arm64, the
# command the README gives: podman 4.3 leaves $BUILDPLATFORM empty in FROM
# (the builder would then be of the target's architecture, emulated), so
# the build platform is passed as a build argument. The source packages
# make static has fetched are lent to the builders (apt-get source skips
# what it finds): the image is built from the same Debian sources as this
# machine's binaries, without downloading them again.
BUILD=$(dirname "$LASTCALL")
MULTI=localhost/lastcall:test-multiarch
# build --manifest adds to a list that exists: an earlier run's goes first.
podman manifest rm "$MULTI" >/dev/null 2>&1
vols=()
for d in static static-arm64; do
	mkdir -p "$WORK/src/$d"
	find "$BUILD/$d/src" -maxdepth 1 -type f \( -name '*.dsc' -o -name '*.tar.*' \) \
		-exec cp {} "$WORK/src/$d/" \; 2>/dev/null
	vols+=(-v "$WORK/src/$d:/build/$d/src")
done
t=$(now_ms)
podman build -q "${P[@]}" "${U[@]}" "${vols[@]}" --platform linux/amd64,linux/arm64 \
	--build-arg BUILDPLATFORM="$(podman info --format '{{.Host.OS}}/{{.Host.Arch}}')" \
	--manifest "$MULTI" -f "$ROOT/Dockerfile" "$ROOT" >"$WORK/multi.log" 2>&1
rc=$?
echo "# the manifest for amd64 and arm64 built in $(($(now_ms) - t)) ms"
check "podman build --platform linux/amd64,linux/arm64 --manifest (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -n 30 "$WORK/multi.log" | sed 's/^/# /'
podman manifest inspect "$MULTI" >"$WORK/multi.json" 2>&1
check "the manifest lists linux/amd64 and linux/arm64 ($(jq -r '[.manifests[]?.platform | .os + "/" + .architecture] | sort | join(" ")' "$WORK/multi.json" 2>/dev/null))" \
	eval "[ \"\$(jq -r '[.manifests[]?.platform | .os + \"/\" + .architecture] | sort | join(\" \")' '$WORK/multi.json')\" = 'linux/amd64 linux/arm64' ]"
# Each entry by its digest (podman 4.3's --platform does not pick from a
# local list), its binary checked against make static's for that arch.
for arch in amd64 arm64; do
	case $arch in
	amd64) machine=x86-64 dir=static ;;
	arm64) machine='ARM aarch64' dir=static-arm64 ;;
	esac
	digest=$(jq -r --arg a "$arch" '.manifests[]? | select(.platform.architecture == $a) | .digest' \
		"$WORK/multi.json" 2>/dev/null | head -n1)
	bin="$WORK/lastcall.$arch"
	rm -f "$bin"
	if [ -n "$digest" ] && cid=$(podman create "$MULTI@$digest" 2>/dev/null); then
		podman cp "$cid:/lastcall" "$bin" >/dev/null 2>&1
		podman rm "$cid" >/dev/null
	fi
	img_arch=$(podman image inspect "$MULTI@$digest" --format '{{.Os}}/{{.Architecture}}' 2>/dev/null)
	desc=$(file -b "$bin" 2>/dev/null)
	size=$(stat -c %s "$bin" 2>/dev/null || echo 0)
	echo "# $arch: $desc; $size bytes, sha256 $(sha256sum <"$bin" 2>/dev/null | cut -d' ' -f1)"
	check "$arch entry: an image for linux/$arch ($img_arch)" [ "$img_arch" = "linux/$arch" ]
	check "$arch entry: its /lastcall: $machine, static and stripped, $size bytes" \
		eval "grep -q 'ELF 64-bit LSB executable, $machine.*statically linked.*stripped' <<<'$desc' && [ $size -le 2097152 ]"
	host="$BUILD/$dir/lastcall"
	if [ -x "$host" ]; then
		check "$arch entry: the same bytes as this machine's make static$([ $arch = arm64 ] && echo ' ARCH=arm64')" \
			cmp -s "$host" "$bin"
	else
		echo "# $arch entry: no $host to compare with (make static$([ $arch = arm64 ] && echo ' ARCH=arm64') builds it)"
	fi
done

# --- the lastcall image -----------------------------------------------------
# The plain build, as for one architecture (its layers are the amd64
# entry's, from the cache).
t=$(now_ms)
podman build -q "${P[@]}" "${U[@]}" -t "$IMG" -f "$ROOT/Dockerfile" "$ROOT" >"$WORK/build.log" 2>&1
rc=$?
echo "# lastcall image built in $(($(now_ms) - t)) ms"
check "the Dockerfile builds (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { tail -n 30 "$WORK/build.log" | sed 's/^/# /'; done_testing; exit 1; }
cid=$(podman create "$IMG")
podman export "$cid" | tar -t | sed 's|^\./||; s|/$||' | grep -v '^$' | sort >"$WORK/files"
podman cp "$cid:/lastcall" "$WORK/lastcall.image"
podman rm "$cid" >/dev/null
check "the image holds /lastcall and an empty /tmp, nothing else ($(paste -sd' ' "$WORK/files"))" \
	[ "$(paste -sd' ' "$WORK/files")" = "lastcall tmp" ]
size=$(stat -c %s "$WORK/lastcall.image")
check "its lastcall is static and stripped, $size bytes (at most 2 MiB)" \
	eval "file -b '$WORK/lastcall.image' | grep -q 'statically linked, stripped' && [ $size -le 2097152 ]"
host_static="$(dirname "$LASTCALL")/static/lastcall"
if [ -x "$host_static" ]; then
	check "the same bytes as this machine's make static ($(sha256sum <"$host_static" | cut -c1-16))" \
		cmp -s "$host_static" "$WORK/lastcall.image"
fi
check "OCI labels: title and version" \
	eval "[ \"\$(podman image inspect $IMG --format '{{index .Labels \"org.opencontainers.image.title\"}} {{index .Labels \"org.opencontainers.image.version\"}}')\" = 'lastcall $("$LASTCALL" --version | cut -d' ' -f2)' ]"
check "ENTRYPOINT is /lastcall, USER 65532" \
	eval "[ \"\$(podman image inspect $IMG --format '{{.Config.Entrypoint}} {{.Config.User}}')\" = '[/lastcall] 65532:65532' ]"
check "it runs under any UID (12345:54321)" \
	eval "[ \"\$(podman run --rm ${P[*]} ${U[*]} --user 12345:54321 $IMG --version)\" = 'lastcall $("$LASTCALL" --version | cut -d' ' -f2)' ]"

# --- the sample app's image: CMD ["npm", "start"] under lastcall --------------
podman build -q "${P[@]}" "${U[@]}" --build-arg LASTCALL_IMAGE="$IMG" -t "$APP" \
	-f "$TESTS_DIR/container/app.Dockerfile" "$TESTS_DIR" >"$WORK/app-build.log" 2>&1
rc=$?
check "the sample app's image builds (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { tail -n 30 "$WORK/app-build.log" | sed 's/^/# /'; done_testing; exit 1; }
check "its ENTRYPOINT is lastcall run, its CMD npm start" \
	eval "[ \"\$(podman image inspect $APP --format '{{.Config.Entrypoint}} {{.Config.Cmd}}')\" = '[/lastcall run --] [npm start]' ]"

# under_load NAME PORT: a SIGTERM-time scenario against one container.
# Starts 3 requests that take 3 s (longer than npm takes to die), then `podman stop -t 10` while a
# client sends a request every 50 ms, LOAD_N (60) times: about 3 s. Sets STOP_MS (how long the
# stop took), SLOW (the slow requests' codes) and AFTER (requests sent
# after the stop began that were answered 200).
under_load() {
	local name=$1 port=$2 i t0
	: >"$WORK/$name.slow"
	: >"$WORK/$name.load"
	for i in 1 2 3; do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 8 \
			"http://127.0.0.1:$port/?delay=3000" >>"$WORK/$name.slow" &
	done
	# Connected (curl sends at once): the requests are in flight.
	wait_until 3000 eval "[ \$(ss -Htn state established '( dport = :$port )' | wc -l) -ge 3 ]"
	t0=$(now_ms)
	(
		for i in $(seq "${LOAD_N:-60}"); do
			printf '%s ' "$(now_ms)"
			curl -s -o /dev/null -w '%{http_code}\n' --max-time 2 "http://127.0.0.1:$port/"
			sleep 0.05
		done
	) >"$WORK/$name.load" &
	local client=$!
	podman stop -t 10 "$tag-$name" >"$WORK/$name.stop" 2>&1
	STOP_MS=$(($(now_ms) - t0))
	# Nothing answers any more: the client has nothing left to measure.
	kill "$client" 2>/dev/null
	wait
	SLOW=$(sort "$WORK/$name.slow" | paste -sd,)
	AFTER=$(awk -v t="$t0" '$1 > t + 100 && $2 == 200' "$WORK/$name.load" | wc -l)
}

port=$(free_port)
crun lc -p "127.0.0.1:$port:8080" -e LASTCALL_GRACE_PERIOD=10s "$APP"
check "with lastcall: the app answers" wait_until 30000 http_ok "$port"
under_load lc "$port"
echo "# with lastcall: podman stop took $STOP_MS ms; slow requests: $SLOW; answered after the stop began: $AFTER"
check "with lastcall: the app logs 'Closing server'" has_log lc '^Closing server'
check "with lastcall: no SIGKILL (stop took $STOP_MS ms)" \
	eval "[ $STOP_MS -lt 9000 ] && ! grep -q 'resorting to SIGKILL' '$WORK/lc.stop'"
check "with lastcall: the three requests in flight were answered ($SLOW)" [ "$SLOW" = 200,200,200 ]
check "with lastcall: new requests were still answered during the delay ($AFTER)" [ "$AFTER" -gt 0 ]
check "with lastcall: phases unready, propagate, drain, stop, done" \
	eval "[ \"\$(logs lc | grep -oE 'event=phase phase=[a-z]+' | cut -d= -f3 | paste -sd' ')\" = 'unready propagate drain stop done' ]"
code=$(exit_code lc)
check "with lastcall: exit code $code, npm's own after SIGTERM (143)" [ "$code" = 143 ]
check "with lastcall: its log says so" has_log lc "event=exiting code=143 child_code=143"

# The same image with nothing set, as a user runs it: --grace-period auto
# takes podman's default stop timeout (10 s), and the drain fits in it
# although the client never stops sending (no load balancer removes a
# plain container, so propagation ends at the capped --max-delay).
port=$(free_port)
crun lcd -p "127.0.0.1:$port:8080" "$APP"
check "defaults: the app answers" wait_until 30000 http_ok "$port"
LOAD_N=400 under_load lcd "$port"
echo "# defaults: podman stop took $STOP_MS ms; slow requests: $SLOW; answered after the stop began: $AFTER"
check "defaults: the grace period assumed is podman's 10 s, and it says so" \
	has_log lcd 'event=grace_period grace_ms=10000 assumed=podman hint=.*LASTCALL_GRACE_PERIOD'
check "defaults: no SIGKILL (stop took $STOP_MS ms)" \
	eval "[ $STOP_MS -lt 9500 ] && ! grep -q 'resorting to SIGKILL' '$WORK/lcd.stop'"
check "defaults: the app logs 'Closing server'" has_log lcd '^Closing server'
check "defaults: the requests in flight were answered ($SLOW)" [ "$SLOW" = 200,200,200 ]
code=$(exit_code lcd)
check "defaults: exit code $code, npm's own after SIGTERM (143)" [ "$code" = 143 ]

# The same image without lastcall: npm as PID 1 passes SIGTERM to `sh -c`,
# which dies, and npm's exit takes node down mid-request.
port=$(free_port)
crun npm -p "127.0.0.1:$port:8080" --entrypoint '["npm", "start"]' "$APP"
check "npm as PID 1: the app answers" wait_until 30000 http_ok "$port"
under_load npm "$port"
echo "# npm as PID 1: podman stop took $STOP_MS ms; slow requests: $SLOW; answered after the stop began: $AFTER"
check "npm as PID 1: the app never logs 'Closing server'" eval "! has_log npm 'Closing server'"
check "npm as PID 1: the requests in flight are lost ($SLOW)" [ "$SLOW" = 000,000,000 ]
code=$(exit_code npm)
check "npm as PID 1: exit code $code (npm's error)" [ "$code" = 1 ]

# Shell form (CMD npm start): /bin/sh -c is PID 1, has no handler, and the
# kernel drops SIGTERM for it: podman waits 10 s and SIGKILLs everything.
port=$(free_port)
crun sh -p "127.0.0.1:$port:8080" --entrypoint '["/bin/sh", "-c", "npm start"]' "$APP"
check "sh -c as PID 1: the app answers" wait_until 30000 http_ok "$port"
under_load sh "$port"
echo "# sh -c as PID 1: podman stop took $STOP_MS ms; slow requests: $SLOW; answered after the stop began: $AFTER"
check "sh -c as PID 1: podman resorts to SIGKILL" grep -q 'resorting to SIGKILL' "$WORK/sh.stop"
check "sh -c as PID 1: after the full 10 s ($STOP_MS ms)" [ "$STOP_MS" -ge 10000 ]
check "sh -c as PID 1: the app never logs 'Closing server'" eval "! has_log sh 'Closing server'"
code=$(exit_code sh)
check "sh -c as PID 1: exit code $code (SIGKILL)" [ "$code" = 137 ]

# --- the init-container pattern, with a shell-less app -------------------------
podman build -q "${P[@]}" "${U[@]}" -t "$DISTROLESS" \
	-f "$TESTS_DIR/container/distroless.Dockerfile" "$TESTS_DIR" >"$WORK/dl-build.log" 2>&1
rc=$?
check "the shell-less app's image builds (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { tail -n 30 "$WORK/dl-build.log" | sed 's/^/# /'; done_testing; exit 1; }
cid=$(podman create "$DISTROLESS")
podman export "$cid" | tar -t >"$WORK/dl-files"
podman rm "$cid" >/dev/null
check "the shell-less image has no sh, cp or sleep" \
	eval "! grep -qE '(^|/)(s?bin|usr/s?bin)/(sh|bash|dash|cp|sleep|busybox)\$' '$WORK/dl-files'"
check "...and running sh in it fails" \
	eval "! podman run --rm ${P[*]} ${U[*]} --entrypoint /bin/sh $DISTROLESS -c true 2>/dev/null"

# The volume: an emptyDir is world-writable, as this directory is.
shared="$WORK/shared"
mkdir -m 1777 "$shared"
podman run --rm "${P[@]}" "${U[@]}" -v "$shared:/shared" "$IMG" install /shared >"$WORK/install.log" 2>&1
rc=$?
check "init container: lastcall install /shared exits 0 (rc $rc)" [ "$rc" = 0 ]
check "init container: the copy is the image's binary, executable" \
	eval "cmp -s '$shared/lastcall' '$WORK/lastcall.image' && [ -x '$shared/lastcall' ]"

port=$(free_port)
crun dl -p "127.0.0.1:$port:8080" -v "$shared:/opt/lastcall:ro" -e LASTCALL_GRACE_PERIOD=10s \
	--entrypoint '["/opt/lastcall/lastcall", "run", "--"]' "$DISTROLESS" /usr/bin/node /app/server.js
check "shell-less app: runs under the copied lastcall and answers" wait_until 30000 http_ok "$port"
check "shell-less app: lastcall is its PID 1" \
	eval "podman top $tag-dl pid args | grep -E '^1 +/opt/lastcall/lastcall run' >/dev/null"
# The kubelet runs an exec preStop hook to its end, then sends SIGTERM.
t=$(now_ms)
podman exec "$tag-dl" /opt/lastcall/lastcall prestop >"$WORK/prestop.log" 2>&1
rc=$?
hook_ms=$(($(now_ms) - t))
echo "# shell-less app: the preStop hook took $hook_ms ms"
check "shell-less app: preStop hook exits 0 once drained (rc $rc, $hook_ms ms)" \
	eval "[ $rc = 0 ] && grep -q 'reached drained' '$WORK/prestop.log'"
t=$(now_ms)
podman stop -t 10 "$tag-dl" >"$WORK/dl.stop" 2>&1
stop_ms=$(($(now_ms) - t))
check "shell-less app: then the stop is quick, no SIGKILL ($stop_ms ms)" \
	eval "[ $stop_ms -lt 5000 ] && ! grep -q 'resorting to SIGKILL' '$WORK/dl.stop'"
check "shell-less app: the app logs 'Closing server'" has_log dl '^Closing server'
code=$(exit_code dl)
check "shell-less app: exit code 0, node's own (got $code)" [ "$code" = 0 ]

# --- a read-only root filesystem, as Kubernetes mounts it -------------------
# readOnlyRootFilesystem: true with no volume at /tmp (podman's --read-only
# mounts tmpfs on /tmp unless told not to; Kubernetes does not). The
# control socket cannot be created: lastcall says so once with the fix and
# listens on its container's abstract name, and the app starts all the same.
port=$(free_port)
crun ro -p "127.0.0.1:$port:8080" --read-only --read-only-tmpfs=false "$APP"
check "read-only root: the app starts and answers" wait_until 30000 http_ok "$port"
check "read-only root: one warning with the fix" has_log ro 'level=warn .*event=control_fallback .*hint='
check "read-only root: lastcall probe finds its instance" \
	wait_until 10000 podman exec "$tag-ro" /lastcall probe ready
t=$(now_ms)
podman exec "$tag-ro" /lastcall prestop >"$WORK/ro-prestop.log" 2>&1
rc=$?
echo "# read-only root: the preStop hook took $(($(now_ms) - t)) ms"
check "read-only root: lastcall prestop drains it (rc $rc)" \
	eval "[ $rc = 0 ] && grep -q 'reached drained' '$WORK/ro-prestop.log'"
podman stop -t 10 "$tag-ro" >"$WORK/ro.stop" 2>&1
check "read-only root: the app logs 'Closing server'" has_log ro '^Closing server'
check "read-only root: no SIGKILL" eval "! grep -q 'resorting to SIGKILL' '$WORK/ro.stop'"

# --- two containers of one pod, both under lastcall run ---------------------
# They share one network: the second's default --listen 0.0.0.0:9797 is
# taken. It refuses to start, saying why and what fixes it (a probe on
# 9797 answered by the first one would report the wrong app), and runs
# with its own port.
# A pod's infra container takes podman's default ulimits, above this
# machine's (see U): the same limits, as the engines' configuration.
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' \
	>"$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
port=$(free_port)
pod="$tag-pod"
podman pod create --name "$pod" -p "127.0.0.1:$port:8080" >"$WORK/pod.log" 2>&1
pods+=("$pod")
check "pod: podman makes it ($(tail -n1 "$WORK/pod.log"))" podman pod exists "$pod"
crun one --pod "$pod" "$APP"
check "pod: the first container answers" wait_until 30000 http_ok "$port"
crun two --pod "$pod" -e PORT=8081 "$APP"
wait_until 10000 eval "[ \"\$(podman inspect $tag-two --format '{{.State.Status}}')\" = exited ]"
code=$(exit_code two)
check "pod: the second, on the same default port, exits 125 (got $code)" [ "$code" = 125 ]
check "pod: ...saying the pod's containers share one network and what to set" \
	has_log two 'event=start_failed what=endpoints error="--listen 0.0.0.0:9797: Address (already )?in use" hint=".*share one network.*LASTCALL_LISTEN'
check "pod: the first one still answers" http_ok "$port"
crun three --pod "$pod" -e PORT=8082 -e LASTCALL_LISTEN=:9798 "$APP"
check "pod: with LASTCALL_LISTEN=:9798 the second runs beside it" \
	wait_until 30000 eval "podman exec $tag-three /lastcall probe ready"
podman exec "$tag-one" /lastcall prestop --until unready >/dev/null 2>&1
check "pod: a hook in one container drains that one" \
	eval "! podman exec $tag-one /lastcall probe ready 2>/dev/null"
check "pod: ...and not the other" podman exec "$tag-three" /lastcall probe ready

done_testing
