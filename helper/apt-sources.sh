#!/usr/bin/env bash
# helper/apt-sources.sh: the Debian archives apt uses, as deb822 stanzas
# ("Types: deb", then the stanza's other fields as they are written), from
# deb822 files and one-line sources.list entries alike. Used by static.sh
# (for deb-src entries) and by the container tests (for the mirror that
# debootstrap takes). Prints nothing when apt names no Debian archive.
set -euo pipefail

# deb822: each stanza with "Types: deb" whose URIs are Debian's.
for s in /etc/apt/sources.list.d/*.sources; do
	[ -f "$s" ] || continue
	awk '
		BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; debian = 0; body = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/) continue
				if ($i ~ /^Types:/) { types = $i; continue }
				if ($i ~ /^URIs:/ && $i ~ /debian/) debian = 1
				body = body $i "\n"
			}
			if (types ~ /(^|[ :])deb( |$)/ && debian) printf "Types: deb\n%s\n", body
		}' "$s"
done
# One-line format: "deb [opts] URI suite components".
for s in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -f "$s" ] || continue
	awk '$1 == "deb" && $0 ~ /debian/ {
		line = $0; sub(/^deb/, "", line)
		printf "Types: deb\n"
		n = split(line, w, " "); i = 1
		if (w[1] ~ /^\[/) { while (i <= n && w[i] !~ /\]$/) i++; i++ }
		printf "URIs: %s\nSuites: %s\nComponents:", w[i], w[i + 1]
		for (j = i + 2; j <= n; j++) printf " %s", w[j]
		printf "\n\n"
	}' "$s"
done
