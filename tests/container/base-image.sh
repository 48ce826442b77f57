#!/usr/bin/env bash
# tests/container/base-image.sh: makes sure podman has debian:bookworm-slim,
# the base of lastcall's Dockerfile and of the test images.
#
# Kept in podman's storage, it is reused by every later run. Else it is
# pulled; where no registry answers (as on our CI machines), it is made
# here with debootstrap (variant minbase) from the Debian mirror the
# machine's apt sources name, slimmed, and imported under that name (as
# localhost/debian:bookworm-slim and docker.io/library/debian:bookworm-slim,
# so that FROM debian:bookworm-slim finds it either way).
# Prints one line saying where the image came from. Needs root for
# debootstrap.
set -euo pipefail

name=debian:bookworm-slim
suite=bookworm
say() { echo "base-image: $*" >&2; }

if podman image exists "docker.io/library/$name" || podman image exists "localhost/$name"; then
	echo "cached in podman's storage"
	exit 0
fi
if timeout 120 podman pull -q "docker.io/library/$name" >/dev/null 2>&1; then
	echo "pulled from docker.io"
	exit 0
fi

# The mirror: the first Debian archive (not -security) in apt's sources.
mirror=$("$(dirname "$0")/../../helper/apt-sources.sh" |
	awk '/^URIs:/ && !/security/ { print $2; exit }')
[ -n "$mirror" ] || { say "no Debian mirror in apt's sources, and $name cannot be pulled"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is not installed, and $name cannot be pulled"; exit 1; }

root=$(mktemp -d /tmp/lastcall-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
say "making $name with debootstrap from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
	{ tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# Slim, as the published image is: no docs, manuals, locales or apt caches.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
	"$root"/usr/share/locale/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
	"$root"/var/log/*.log "$root"/tmp/* "$root"/dev/*
tar -C "$root" --numeric-owner -c . |
	podman import -q --change 'CMD ["bash"]' - "localhost/$name" >/dev/null
podman tag "localhost/$name" "docker.io/library/$name"
echo "made with debootstrap from $mirror"
