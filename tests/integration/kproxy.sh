# kproxy.sh - kube-proxy's own data path for the tests (sourced after
# lib.sh, bash): a Service VIP on a loopback address as iptables nat rules
# in the shape kube-proxy's iptables proxier writes them
# (pkg/proxy/iptables/proxier.go), inside a network namespace the calling
# script re-executes itself in. Nothing proxies: the kernel DNATs each new
# connection to one endpoint, picked at random, and conntrack keeps every
# established connection on the endpoint it got, rules or no rules.
#
#   nat OUTPUT -> KUBE-SERVICES          (-d VIP -p tcp --dport PORT)
#     -> KUBE-SVC-<hash>                 (-m statistic --mode random
#                                         --probability 1/n, 1/(n-1), ...,
#                                         the last endpoint unconditional)
#       -> KUBE-SEP-<hash>, one per endpoint  (-j DNAT --to-destination)
#
# Locally generated traffic (our clients) goes through nat OUTPUT, as on a
# node; the backends are apps listening on other 127.x addresses (the
# sample app with HOST=127.0.20.N). Endpoint changes are a sync as
# kube-proxy does one: one iptables-restore --noflush of the nat table
# naming every chain it owns (which empties them), their rules, and "-X"
# for the chains of endpoints that are gone. Conntrack is left alone, as
# kube-proxy leaves it for TCP (kubernetes/kubernetes#102631, #100698):
# an established connection stays DNATed to a removed endpoint.
# Left out: the masquerade marks and KUBE-POSTROUTING (hairpin traffic,
# which no client here makes) and the filter table's REJECT for a Service
# without endpoints (here such a Service has no rule, and a connection to
# its VIP is refused by the empty address).
#
# Usage, at the top of a suite, after lib.sh:
#   kproxy_enter "$@"          (re-execs the script in a new network
#                               namespace; returns there, lo up)
#   kproxy_service web 127.0.10.1 80
#   kproxy_endpoints web 127.0.20.1:8080 127.0.20.2:8080
#   kproxy_endpoints web 127.0.20.2:8080     (the first one removed)
# The state lives in files under $WORK/kproxy, so a background subshell
# (a removal at T0 + 2 s) can sync too. KPROXY_IPTABLES picks the binary
# (iptables, the default, or iptables-legacy / iptables-nft).

KPROXY_IPTABLES=${KPROXY_IPTABLES:-iptables}
KPROXY_DIR="$WORK/kproxy"

# kproxy_enter ARGS...: unless already there, runs the calling script again
# with ARGS in a new network namespace (this shell's work directory goes
# first: the new run makes its own); then brings lo up and checks that
# iptables can write the nat table there. Fails with a message on stderr.
kproxy_enter() {
	if [ -z "${KPROXY_NETNS:-}" ]; then
		rm -rf "$WORK"
		trap - EXIT
		KPROXY_NETNS=1 exec unshare --net bash "$0" "$@"
	fi
	mkdir -p "$KPROXY_DIR" || return 1
	if ! ip link set lo up; then
		echo "kproxy: cannot bring lo up in the new network namespace" >&2
		return 1
	fi
	if ! "$KPROXY_IPTABLES" -w 5 -t nat -N KUBE-SERVICES 2>"$KPROXY_DIR/err" &&
		! "$KPROXY_IPTABLES" -w 5 -t nat -S KUBE-SERVICES >/dev/null 2>&1; then
		echo "kproxy: $KPROXY_IPTABLES cannot write the nat table: $(head -n1 "$KPROXY_DIR/err")" >&2
		return 1
	fi
	# kube-proxy's EnsureChain/EnsureRule for its jumps, done once outside
	# the restores; the restores only rewrite the chains it owns.
	"$KPROXY_IPTABLES" -w 5 -t nat -N KUBE-MARK-MASQ 2>/dev/null
	"$KPROXY_IPTABLES" -w 5 -t nat -C OUTPUT -m comment --comment "kubernetes service portals" \
		-j KUBE-SERVICES 2>/dev/null ||
		"$KPROXY_IPTABLES" -w 5 -t nat -I OUTPUT -m comment --comment "kubernetes service portals" \
			-j KUBE-SERVICES
}

# kproxy_backend: which netfilter backend iptables writes to (nf_tables or
# legacy), from its version line.
kproxy_backend() {
	"$KPROXY_IPTABLES" --version 2>/dev/null | grep -oE '\((nf_tables|legacy)\)' | tr -d '()'
}

# kproxy_chain KIND TEXT: a chain name like kube-proxy's (KUBE-SVC- or
# KUBE-SEP- and 16 characters of a SHA-256: hex here, base32 there).
kproxy_chain() {
	printf 'KUBE-%s-%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-16 | tr a-f A-F)"
}

# kproxy_service NAME VIP PORT: a ClusterIP Service (namespace "default",
# TCP port PORT), with no endpoints yet.
kproxy_service() {
	printf '%s %s\n' "$2" "$3" >"$KPROXY_DIR/$1.svc"
	: >"$KPROXY_DIR/$1.eps"
	kproxy_sync
}

# kproxy_endpoints NAME IP:PORT...: the Service's ready endpoints become
# exactly these (none: no endpoint), then a sync.
kproxy_endpoints() {
	local name=$1
	shift
	[ -f "$KPROXY_DIR/$name.svc" ] || { echo "kproxy: no service $name" >&2; return 1; }
	printf '%s\n' "$@" | grep -v '^$' >"$KPROXY_DIR/$name.eps"
	kproxy_sync
}

# kproxy_sync: rewrites every chain of every Service from the state files,
# in one iptables-restore --noflush of the nat table, as kube-proxy's
# syncProxyRules does: a ":CHAIN - [0:0]" line for each chain it writes
# (created, or emptied when it exists), the rules, and for each KUBE-SVC-/
# KUBE-SEP- chain in the table that is no longer wanted, its line and
# "-X CHAIN". Established connections are not touched.
kproxy_sync() {
	local f name vip port svc sep ep n i chains rules prob comment existing c
	local -a eps
	chains=$':KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n'
	rules=$'-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n'
	local -A want=()
	for f in "$KPROXY_DIR"/*.svc; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .svc)
		read -r vip port <"$f"
		mapfile -t eps <"$KPROXY_DIR/$name.eps"
		n=${#eps[@]}
		comment="default/$name:http"
		svc=$(kproxy_chain SVC "$comment/tcp")
		[ "$n" -gt 0 ] || continue
		want[$svc]=1
		chains+=":$svc - [0:0]"$'\n'
		rules+="-A KUBE-SERVICES -m comment --comment \"$comment cluster IP\" -m tcp -p tcp"
		rules+=" -d $vip/32 --dport $port -j $svc"$'\n'
		for ((i = 0; i < n; i++)); do
			ep=${eps[$i]}
			sep=$(kproxy_chain SEP "$comment/tcp$ep")
			want[$sep]=1
			chains+=":$sep - [0:0]"$'\n'
			# 1/(n-i) with ten decimals, as kube-proxy's
			# computeProbability; the last endpoint takes the rest.
			rules+="-A $svc -m comment --comment \"$comment -> $ep\""
			if [ "$i" -lt $((n - 1)) ]; then
				prob=$(awk -v d=$((n - i)) 'BEGIN { printf "%0.10f", 1 / d }')
				rules+=" -m statistic --mode random --probability $prob"
			fi
			rules+=" -j $sep"$'\n'
			rules+="-A $sep -m comment --comment $comment -s ${ep%:*}/32 -j KUBE-MARK-MASQ"$'\n'
			rules+="-A $sep -m comment --comment $comment -m tcp -p tcp -j DNAT --to-destination $ep"$'\n'
		done
	done
	existing=$("$KPROXY_IPTABLES-save" -t nat 2>/dev/null | grep -oE '^:KUBE-(SVC|SEP)-[A-Z0-9]+' | cut -c2-)
	for c in $existing; do
		[ -n "${want[$c]:-}" ] && continue
		chains+=":$c - [0:0]"$'\n'
		rules+="-X $c"$'\n'
	done
	printf '*nat\n%s%sCOMMIT\n' "$chains" "$rules" >"$KPROXY_DIR/restore"
	if ! "$KPROXY_IPTABLES-restore" -w 5 --noflush <"$KPROXY_DIR/restore" 2>"$KPROXY_DIR/err"; then
		echo "kproxy: iptables-restore failed: $(head -n2 "$KPROXY_DIR/err" | tr '\n' ' ')" >&2
		return 1
	fi
}

# kproxy_rules: the nat table's rules of the Services (for a log).
kproxy_rules() { "$KPROXY_IPTABLES" -w 5 -t nat -S | grep -E 'KUBE-(SERVICES|SVC|SEP)'; }

# kproxy_conntrack IP:PORT: how many established TCP connections conntrack
# holds DNATed to that endpoint (reply source IP:PORT), from conntrack(8)
# when installed, else /proc/net/nf_conntrack.
kproxy_conntrack() {
	local ip=${1%:*} port=${1##*:} n
	if command -v conntrack >/dev/null; then
		n=$(conntrack -L -p tcp --state ESTABLISHED --reply-src "$ip" --reply-port-src "$port" \
			2>/dev/null | grep -c ESTABLISHED)
	else
		n=$(grep -cE "ESTABLISHED .* src=$ip dst=[0-9.]+ sport=$port " /proc/net/nf_conntrack 2>/dev/null)
	fi
	echo "${n:-0}"
}
