#!/usr/bin/env bash
# Installs the Debian packages a make target needs, when run as root.
# Usage: tests/deps.sh build|test|demo|bench|fuzz...
# Only what is missing is installed; as non-root, missing packages are
# listed and the script fails with one line saying what to install.
set -euo pipefail

pkgs=()
# The container engine: wanted by the tests, but where it cannot be
# installed the container suite is skipped (with the reason), not failed.
optional=()
want_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || optional+=("$1"); }
# clang and libFuzzer, likewise: without them the fuzz suite is skipped.
# libclang-rt-dev is the libFuzzer (and sanitizer runtimes) of Debian's
# default clang (bookworm: libclang-rt-14-dev).
fuzz_optional=()
want_fuzz_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || fuzz_optional+=("$1"); }
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || pkgs+=("$1"); }
# Commands may come from elsewhere (nodesource ships npm inside nodejs).
need_cmd() { command -v "$1" >/dev/null 2>&1 || pkgs+=("$2"); }

for what in "$@"; do
	case "$what" in
	build)
		need_cmd cc build-essential
		need_cmd make build-essential
		need_cmd pkg-config pkg-config
		for p in libcurl4-openssl-dev libcjson-dev libmicrohttpd-dev; do need_pkg "$p"; done
		;;
	test)
		need_pkg libcmocka-dev
		need_cmd unshare util-linux
		need_cmd ps procps
		need_cmd ss iproute2
		need_cmd curl curl
		need_cmd node nodejs
		need_cmd npm npm
		need_cmd haproxy haproxy
		need_cmd wrk wrk
		need_cmd awk gawk
		need_cmd nsenter util-linux
		need_cmd openssl openssl
		need_cmd file file
		need_cmd jq jq
		need_cmd clang-format clang-format
		# test_pinned: the Service as kube-proxy's nat rules, and a look
		# at conntrack's table (tests/integration/kproxy.sh).
		need_cmd iptables iptables
		need_cmd conntrack conntrack
		[ -x /usr/sbin/nginx ] || pkgs+=(nginx)
		# catatonit: the init of a podman pod's infra container.
		for p in podman runc netavark debootstrap iptables catatonit; do want_pkg "$p"; done
		# test_arm64: the aarch64 cross toolchain, qemu-user and cmake
		# (cmocka's build), optional too; the :arm64 packages once that
		# dpkg architecture is there (the suite adds it, and installs
		# what is still missing).
		for p in gcc-aarch64-linux-gnu qemu-user-static cmake; do want_pkg "$p"; done
		if dpkg --print-foreign-architectures | grep -qx arm64; then
			for p in musl-dev:arm64 linux-libc-dev:arm64; do want_pkg "$p"; done
		fi
		for p in clang libclang-rt-dev; do want_fuzz_pkg "$p"; done
		;;
	fuzz)
		need_pkg clang
		need_pkg libclang-rt-dev
		;;
	bench)
		need_cmd unshare util-linux
		need_cmd ss iproute2
		need_cmd ip iproute2
		need_cmd curl curl
		need_cmd node nodejs
		need_cmd npm npm
		need_cmd haproxy haproxy
		need_cmd wrk wrk
		need_cmd tini tini
		need_cmd dumb-init dumb-init
		# pid1.sh: tini-static (tini ships it), catatonit; file for linkage.
		need_cmd tini-static tini
		need_cmd catatonit catatonit
		need_cmd file file
		# pinned.sh: the kube-proxy test bed.
		need_cmd iptables iptables
		need_cmd conntrack conntrack
		;;
	demo)
		need_cmd unshare util-linux
		need_cmd curl curl
		need_cmd node nodejs
		need_cmd npm npm
		;;
	*) echo "deps.sh: unknown target $what" >&2; exit 2 ;;
	esac
done

mapfile -t optional < <(printf '%s\n' "${optional[@]}" | grep -v '^$' | sort -u)
mapfile -t fuzz_optional < <(printf '%s\n' "${fuzz_optional[@]}" | grep -v '^$' | sort -u)
[ ${#pkgs[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && [ ${#fuzz_optional[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	[ ${#optional[@]} -eq 0 ] ||
		echo "lastcall: the container tests will be skipped without: ${optional[*]}" >&2
	[ ${#fuzz_optional[@]} -eq 0 ] ||
		echo "lastcall: the fuzz tests will be skipped without: ${fuzz_optional[*]}" >&2
	[ ${#pkgs[@]} -eq 0 ] && exit 0
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	echo "lastcall: missing Debian packages: ${pkgs[*]} (run as root, or: sudo apt-get install ${pkgs[*]})" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Servers (nginx, haproxy) must not start as system services on install:
# the tests start their own on loopback. policy-rc.d says no (exit 101).
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
fi
trap '[ -z "$made_policy" ] || rm -f "$policy"' EXIT
apt-get update -qq
if [ ${#pkgs[@]} -gt 0 ]; then
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	echo "lastcall: installing ${pkgs[*]}" >&2
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
if [ ${#optional[@]} -gt 0 ]; then
	echo "lastcall: installing ${optional[*]} (container tests)" >&2
	apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
		echo "lastcall: could not install ${optional[*]}: the container tests will be skipped" >&2
fi
if [ ${#fuzz_optional[@]} -gt 0 ]; then
	echo "lastcall: installing ${fuzz_optional[*]} (fuzz tests)" >&2
	apt-get install -y -qq --no-install-recommends "${fuzz_optional[@]}" >/dev/null ||
		echo "lastcall: could not install ${fuzz_optional[*]}: the fuzz tests will be skipped" >&2
fi
