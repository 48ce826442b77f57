#!/usr/bin/env bash
# make bench: the rollout benchmark, the connection-counting one, the
# PID 1 one and the pinned-clients one.
# Figures, not pass/fail; see tests/bench/README.md.
# Usage: tests/bench/run.sh BUILD_DIR
set -uo pipefail

build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export LASTCALL="$build/lastcall"
export PROBES="$build/probe"
status=0

echo "== rollout (tests/bench/rollout.sh) =="
"$here/rollout.sh" || status=1
echo
echo "== counting connections (tests/bench/conncount.c), 50000 sockets =="
# A network namespace of its own: only the benchmark's sockets are there.
unshare --net sh -c "ip link set lo up && '$build/bench/conncount' 25000 ${ROUNDS:-15}" || status=1
echo
echo "== PID 1: lastcall, tini, dumb-init, catatonit (tests/bench/pid1.sh) =="
"$here/pid1.sh" "$build" || status=1
echo
echo "== pinned clients behind kube-proxy's nat rules (tests/bench/pinned.sh) =="
"$here/pinned.sh" || status=1
exit $status
