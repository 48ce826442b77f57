#!/usr/bin/env bash
# make demo: the bundled sample app (tests/app, `npm start` runs node
# server.js) shut down twice in a fresh PID namespace, as in a container:
# first with npm as PID 1, then under `lastcall run -- npm start`.
# Prints what happened and the timeline of the graceful shutdown.
set -uo pipefail

lastcall=${1:-build/lastcall}
lastcall=$(cd "$(dirname "$lastcall")" && pwd)/$(basename "$lastcall")
app=$(cd "$(dirname "$0")/app" && pwd)
work=$(mktemp -d /tmp/lastcall-demo.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
export PORT=0 DELAY_MS=100 npm_config_update_notifier=false npm_config_loglevel=error

ns=(unshare --pid --fork --mount-proc --kill-child)
if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	echo "note: cannot create a PID namespace here (not root?): running lastcall as a plain process"
	ns=()
fi

now_ms() { date +%s%3N; }
# wait_for FILE REGEX MS: waits for a line, bounded.
wait_for() {
	local end=$(($(now_ms) + $3))
	until grep -qE "$2" "$1" 2>/dev/null; do
		[ "$(now_ms)" -ge "$end" ] && { echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
		sleep 0.02
	done
}
# wait_gone PID MS
wait_gone() {
	local end=$(($(now_ms) + $2))
	while kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; do
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.02
	done
}
pid1_of() {
	if [ ${#ns[@]} -eq 0 ]; then echo "$1"; return; fi
	local end=$(($(now_ms) + 5000)) c=
	while [ -z "$c" ] && [ "$(now_ms)" -lt "$end" ]; do
		c=$(cat /proc/"$1"/task/"$1"/children 2>/dev/null); c=${c%% *}
		[ -z "$c" ] && sleep 0.02
	done
	echo "$c"
}
requests() {
	local port=$1 i
	for i in 1 2 3; do
		printf '  GET / -> %s' "$(curl -fsS "http://127.0.0.1:$port/" || echo failed)"; echo
	done
}

cd "$app"
echo "== 1. npm start as PID 1 (the classic bug) =="
"${ns[@]}" npm start >"$work/bare.log" 2>&1 &
top=$!; pids+=("$top")
wait_for "$work/bare.log" '^listening on ' 30000
port=$(grep -oE '[0-9]+$' <(grep -m1 '^listening on ' "$work/bare.log"))
requests "$port"
kill -TERM "$(pid1_of "$top")"
wait_gone "$top" 10000
wait "$top"; code=$?
if grep -q 'Closing server' "$work/bare.log"; then verdict="the app saw SIGTERM"; else
	verdict='the app never logged "Closing server": npm passed SIGTERM to sh, sh died, node was SIGKILLed'; fi
echo "  SIGTERM to PID 1 -> exit $code; $verdict"
echo

echo "== 2. lastcall run -- npm start =="
"${ns[@]}" "$lastcall" run --listen 127.0.0.1:0 --control "$work/lastcall.sock" \
	--grace-period 30s --min-delay 2s --quiet-period 1s -- npm start >"$work/lc.log" 2>&1 &
top=$!; pids+=("$top")
wait_for "$work/lc.log" '^listening on ' 30000
port=$(grep -oE '[0-9]+$' <(grep -m1 '^listening on ' "$work/lc.log"))
requests "$port"
pid1=$(pid1_of "$top")
t0=$(now_ms)
kill -TERM "$pid1"
# The drain keeps the app serving while load balancers catch up.
wait_for "$work/lc.log" 'event=phase phase=propagate' 5000
printf '  GET / during the drain -> %s\n' "$(curl -fsS "http://127.0.0.1:$port/" || echo failed)"
wait_gone "$top" 40000
wait "$top"; code=$?
t_end=$(now_ms)
echo "  container log:"
sed 's/^/    | /' "$work/lc.log"
echo
echo "  timeline (ms after the SIGTERM to PID 1):"
printf '    %6s  %s\n' 0 "SIGTERM sent to PID 1 (lastcall)"
while IFS= read -r line; do
	case "$line" in
	ts=*)
		ts=${line#ts=}; ts=${ts%% *}
		ms=$(date -d "$ts" +%s%3N 2>/dev/null) || continue
		[ "$ms" -lt "$t0" ] && continue
		ev=$(sed -E 's/.* event=([a-z_]+) ?(.*)/\1 \2/; s/^phase phase=([a-z]+)/PHASE \1:/' <<<"$line")
		printf '    %6s  lastcall: %s\n' "+$((ms - t0))" "$ev" ;;
	"Closing server"*|"Server closed"*)
		printf '    %6s  app: %s\n' "" "$line" ;;
	esac
done <"$work/lc.log"
printf '    %6s  %s\n' "+$((t_end - t0))" "container exited with status $code (as the demo saw it)"
echo
if grep -q '^Closing server' "$work/lc.log"; then
	echo "result: readiness went off at once, the app kept serving while load balancers"
	echo "caught up, then got SIGTERM, closed gracefully, and PID 1 exited $((t_end - t0)) ms after"
	echo "the SIGTERM with npm's status $code, well inside the 30 s grace period."
else
	echo "result: FAILED: the app did not see SIGTERM"; exit 1
fi
