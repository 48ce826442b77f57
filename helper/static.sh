#!/usr/bin/env bash
# helper/static.sh OUT [--libs]: a fully static, stripped lastcall in OUT/lastcall,
# built with musl from Debian's source packages of its libraries, each
# configured down to what lastcall uses:
#   mbedtls        TLS for libcurl (the Kubernetes API), static
#   curl           HTTP, HTTPS and Unix sockets; no other protocol, no
#                  compression, IDN, proxies' auth, cookies or alt-svc
#   libmicrohttpd  without HTTPS (the probe and control endpoints)
#   cjson
# Why musl: a static glibc binary still loads NSS modules at run time for
# getaddrinfo and friends, which an empty (FROM scratch) or foreign image
# does not have; musl's resolver is built in.
#
# As root, missing Debian packages are installed and deb-src entries are
# added (derived from the Debian sources apt already uses: deb822 files and
# sources.list lines alike, the same URIs, suites and components).
# Reproducible: the same sources give the same bytes (paths are mapped,
# archives deterministic, SOURCE_DATE_EPOCH fixed).
# With --libs it stops after the libraries (a cacheable image layer).
# With --cmocka it builds cmocka after them, the same way, and stops: the
# unit tests' framework for the unit tests cross-built for ARCH (make
# unit-arm64); never part of lastcall.
#
# ARCH=amd64 (the default) or arm64. This machine's own architecture
# builds with Debian's musl-gcc; the other one is cross-compiled with
# Debian's packages too (on amd64: gcc-aarch64-linux-gnu, musl-dev:arm64,
# linux-libc-dev:arm64; the arm64 dpkg architecture is added for them).
# Use another OUT per ARCH (make static: build/static-arm64).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build/static}" && cd "${1:-$root/build/static}" && pwd)
src="$out/src"
prefix="$out/prefix"
kh="$out/kernel-headers"
jobs=$(nproc 2>/dev/null || echo 2)
version=${VERSION:-0.1.0}
say() { echo "static: $*" >&2; }
die() { say "$*"; exit 1; }

# ARCH: Debian's name, its GNU triplet (Debian's directory for the
# kernel's asm/ headers, the cross tools' prefix) and file(1)'s name.
case "${ARCH:-amd64}" in
amd64 | x86_64) arch=amd64 gnu=x86_64-linux-gnu machine=x86-64 ;;
arm64 | aarch64) arch=arm64 gnu=aarch64-linux-gnu machine=aarch64 ;;
*) die "ARCH=$ARCH: amd64 or arm64" ;;
esac
# Another architecture than this machine's: Debian's cross gcc, and
# musl-dev and linux-libc-dev of ARCH (musl-dev ships ${gnu%-gnu}-musl-gcc,
# a wrapper whose specs point that gcc at musl's headers, crt files and
# libc.a for ARCH).
cross=()
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	cross=("gcc-${gnu//_/-}" "musl-dev:$arch" "linux-libc-dev:$arch")
fi

# --- Debian packages and deb-src ---------------------------------------------
need=()
for p in musl-tools linux-libc-dev dpkg-dev make gcc file binutils "${cross[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
# cmocka's build system.
if [ "${2:-}" = --cmocka ] && ! command -v cmake >/dev/null; then
	need+=(cmake)
fi
# ARCH's packages (musl-dev:arm64...) need that dpkg architecture.
foreign=false
if [ ${#cross[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	foreign=true
fi

# deb-src stanzas for the Debian archives apt uses, when none exist yet.
add_deb_src() {
	local f=/etc/apt/sources.list.d/lastcall-deb-src.sources
	if grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 1
	fi
	{
		echo "# Added by lastcall's helper/static.sh: the source packages of the"
		echo "# Debian archives above, for apt-get source."
		"$root/helper/apt-sources.sh" | sed 's/^Types: deb$/Types: deb-src/'
	} >"$f"
	grep -q '^Types: deb-src' "$f" || { rm -f "$f"; die "no Debian archive in apt's sources to take deb-src entries from"; }
	say "added $f"
	return 0
}

have_src() { apt-cache showsrc cjson 2>/dev/null | grep -q '^Package: cjson'; }
# Another apt (make deps, a second build) may hold the lock: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=300 "$@"; }
if [ "$(id -u)" = 0 ]; then
	updated=false
	if $foreign; then
		dpkg --add-architecture "$arch"
		say "added the $arch dpkg architecture"
		apt_get update -qq
		updated=true
	fi
	if ! have_src; then
		add_deb_src || true
		apt_get update -qq
		updated=true
	fi
	if [ ${#need[@]} -gt 0 ]; then
		$updated || apt_get update -qq
		DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
elif [ ${#need[@]} -gt 0 ] || $foreign || ! have_src; then
	die "needs root once (Debian packages ${need[*]:-none}, deb-src entries); or: sudo make static"
fi

# --- toolchain --------------------------------------------------------------
# CC: musl's gcc wrapper for ARCH; TOOL: the binutils prefix; HOST: what
# autoconf is told when cross-compiling.
if [ ${#cross[@]} -eq 0 ]; then
	cc=musl-gcc tool= host=()
else
	cc=${gnu%-gnu}-musl-gcc tool=$gnu- host=(--host="${gnu%-gnu}-musl")
fi
command -v "$cc" >/dev/null || die "$cc not found (Debian packages: ${cross[*]:-musl-tools})"

# --- sources ----------------------------------------------------------------
# Kernel headers for musl (lastcall needs linux/*.h; musl-gcc
# does not look in /usr/include). linux/ and asm-generic/ are the same
# for every architecture; asm/ (syscall numbers...) is ARCH's own.
mkdir -p "$src" "$prefix/lib" "$prefix/include" "$kh"
ln -sfn /usr/include/linux "$kh/linux"
ln -sfn /usr/include/asm-generic "$kh/asm-generic"
ln -sfn "/usr/include/$gnu/asm" "$kh/asm"
[ -f "$kh/asm/unistd.h" ] || die "no kernel headers for $arch in /usr/include/$gnu/asm"

# fetch PKG: Debian's source package, unpacked with its patches, once.
fetch() {
	local dir
	dir=$(find "$src" -maxdepth 1 -type d -name "$1-[0-9]*" | head -n1)
	if [ -z "$dir" ]; then
		(cd "$src" && apt-get source -qq "$1" >/dev/null 2>&1) || die "apt-get source $1 failed"
		dir=$(find "$src" -maxdepth 1 -type d -name "$1-[0-9]*" | head -n1)
	fi
	[ -n "$dir" ] || die "no source tree for $1"
	echo "$dir"
}

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export CC=$cc AR=${tool}ar RANLIB=${tool}ranlib
export ZERO_AR_DATE=1
# Paths never reach the binary: the same sources anywhere give the same bytes.
MAP="-ffile-prefix-map=$src=/src -ffile-prefix-map=$prefix=/prefix -ffile-prefix-map=$root=/lastcall"
export CFLAGS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables $MAP -isystem $kh"
export CPPFLAGS="-I$prefix/include"
export LDFLAGS="-static -L$prefix/lib"
stamp() { [ -f "$prefix/.$1" ]; }
done_() { touch "$prefix/.$1"; }

if ! stamp mbedtls; then
	d=$(fetch mbedtls)
	say "mbedtls: $(basename "$d")"
	make -s -C "$d/library" -j"$jobs" CC="$CC" CFLAGS="$CFLAGS -I../include" \
		libmbedcrypto.a libmbedx509.a libmbedtls.a >/dev/null
	cp "$d"/library/libmbed*.a "$prefix/lib/"
	cp -r "$d/include/mbedtls" "$d/include/psa" "$prefix/include/"
	done_ mbedtls
fi

# autotools_lib PKG LIBDIR INCDIR CONFIGURE_ARGS...: configures Debian's
# source of PKG as a static library into the prefix, then builds and
# installs only LIBDIR and INCDIR (no tools, docs or tests).
autotools_lib() {
	local pkg=$1 libdir=$2 incdir=$3 d
	shift 3
	stamp "$pkg" && return 0
	d=$(fetch "$pkg")
	say "$pkg: $(basename "$d")"
	(cd "$d" && [ -x configure ] || autoreconf -fi >/dev/null 2>&1)
	(cd "$d" && ./configure -q --prefix="$prefix" --disable-shared --enable-static \
		"${host[@]}" "$@" >/dev/null)
	make -s -C "$d/$libdir" -j"$jobs" >/dev/null
	make -s -C "$d/$libdir" install >/dev/null
	make -s -C "$d/$incdir" install >/dev/null
	done_ "$pkg"
}

autotools_lib curl lib include \
		--with-mbedtls="$prefix" --without-ca-bundle --without-ca-path \
		--without-ca-fallback --enable-http --enable-unix-sockets --disable-ftp \
		--disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
		--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb \
		--disable-smtp --disable-gopher --disable-mqtt --disable-manual --disable-ntlm \
		--disable-ntlm-wb --disable-cookies --disable-alt-svc --disable-hsts \
		--disable-doh --disable-mime --disable-netrc --disable-progress-meter \
		--disable-dateparse --disable-proxy --disable-libcurl-option --disable-verbose \
		--enable-threaded-resolver --without-zlib --without-brotli \
		--without-zstd --without-libpsl --without-libidn2 --without-nghttp2 \
		--without-nghttp3 --without-ngtcp2 --without-librtmp --without-libssh2 \
		--without-libssh --without-libgsasl --without-winidn
autotools_lib libmicrohttpd src/microhttpd src/include \
		--disable-https --disable-curl --disable-doc --disable-examples --disable-tools \
		--disable-dauth --disable-bauth --disable-postprocessor --disable-httpupgrade \
		--without-gnutls

if ! stamp cjson; then
	d=$(fetch cjson)
	say "cjson: $(basename "$d")"
	mkdir -p "$prefix/include/cjson"
	$CC $CFLAGS -c "$d/cJSON.c" -o "$out/cJSON.o"
	rm -f "$prefix/lib/libcjson.a"
	$AR rcsD "$prefix/lib/libcjson.a" "$out/cJSON.o"
	cp "$d/cJSON.h" "$prefix/include/cjson/"
	done_ cjson
fi

[ "${2:-}" = --libs ] && { say "libraries ready in $prefix"; exit 0; }

# --- cmocka (--cmocka) ------------------------------------------------------
# Debian's source built by its own CMake, cross-compiling where ARCH is not
# this machine's, into a static libcmocka.a in the prefix. cmocka 1.1.5's
# header defines uintptr_t itself, of a size guessed from glibc's
# __WORDSIZE (musl has none: 32 bits on aarch64), unless told the type
# exists: musl's <stdint.h> has it. The unit tests pass the same define.
if [ "${2:-}" = --cmocka ]; then
	if ! stamp cmocka; then
		d=$(fetch cmocka)
		say "cmocka: $(basename "$d")"
		sys=()
		[ ${#cross[@]} -eq 0 ] || sys=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="${gnu%%-*}")
		rm -rf "$out/cmocka"
		CFLAGS="$CFLAGS -D_UINTPTR_T_DEFINED" cmake -S "$d" -B "$out/cmocka" "${sys[@]}" \
			-DCMAKE_C_COMPILER="$CC" -DCMAKE_AR="$(command -v "$AR")" \
			-DCMAKE_BUILD_TYPE=None -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF \
			-DUNIT_TESTING=OFF >"$out/cmocka.log" 2>&1 || die "cmocka: cmake failed (see $out/cmocka.log)"
		make -s -C "$out/cmocka" -j"$jobs" cmocka-static >>"$out/cmocka.log" 2>&1 ||
			die "cmocka: the build failed (see $out/cmocka.log)"
		cp "$out/cmocka/src/libcmocka-static.a" "$prefix/lib/libcmocka.a"
		cp "$d/include/cmocka.h" "$prefix/include/"
		done_ cmocka
	fi
	say "cmocka ready in $prefix"
	exit 0
fi

# --- lastcall ---------------------------------------------------------------
say "lastcall $version ($arch)"
mkdir -p "$out/obj"
objs=()
for f in "$root"/helper/*.c; do
	o="$out/obj/$(basename "${f%.c}").o"
	$CC -std=c11 -D_GNU_SOURCE $CFLAGS -I"$prefix/include" -I"$prefix/include/cjson" \
		-DLASTCALL_VERSION="\"$version\"" -DLASTCALL_MBEDTLS -Wall -Wextra -Werror -Wno-error=cpp \
		-c "$f" -o "$o"
	objs+=("$o")
done
$CC -static -Wl,--gc-sections -Wl,--build-id=none -o "$out/lastcall" "${objs[@]}" \
	-L"$prefix/lib" -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lmicrohttpd -lcjson
${tool}strip --strip-all "$out/lastcall"
size=$(stat -c %s "$out/lastcall")
say "$(file -b "$out/lastcall" | cut -d, -f1-5)"
say "$size bytes, sha256 $(sha256sum "$out/lastcall" | cut -d' ' -f1)"
[ "$size" -le $((2 * 1024 * 1024)) ] || die "$size bytes: over the 2 MiB budget"
file -b "$out/lastcall" | grep -q 'statically linked' || die "not statically linked"
file -b "$out/lastcall" | grep -q "$machine" || die "not an $machine binary"
