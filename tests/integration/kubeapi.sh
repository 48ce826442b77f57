# The Kubernetes API server double (tests/apiserver/server.js) for the
# suites and benchmarks that talk to it; sourced after lib.sh.
#
# kubeapi_init: a cluster CA and the API server's certificate (for
# 127.0.0.1) in $WORK. kubeapi_start NAME: a double; sets <NAME>_API and
# <NAME>_CTL (its API and control ports) and accepts the token in
# $WORK/NAME.token (API_CERT=NAME: serve $WORK/NAME.crt instead).
# sa_dir DIR TOKEN: a service account mount. q CTL EXPR: EXPR evaluated
# by node over the double's state (s). ec: below.
KUBEAPI_SERVER="$TESTS_DIR/apiserver/server.js"
KUBEAPI_POD_UID=6d1c1e0c-0000-4000-8000-00000000c0de

# ec ARGS...: a key and a certificate request (or, with -x509, a
# certificate).
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }

kubeapi_init() {
	ec -x509 -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -days 2 -subj /CN=test-cluster-ca &&
		ec -keyout "$WORK/api.key" -out "$WORK/api.csr" -subj /CN=kube-apiserver &&
		openssl x509 -req -in "$WORK/api.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
			-CAcreateserial -out "$WORK/api.crt" -days 2 \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>/dev/null &&
		[ -s "$WORK/api.crt" ]
}

sa_dir() {
	mkdir -p "$1"
	cp "$WORK/ca.crt" "$1/ca.crt"
	echo "$2" >"$1/token"
	echo default >"$1/namespace"
}

kubeapi_start() {
	local log="$WORK/$1.api.log"
	echo "token-$1-A" >"$WORK/$1.token"
	CERT="$WORK/${API_CERT:-api}.crt" KEY="$WORK/${API_CERT:-api}.key" TOKEN_FILE="$WORK/$1.token" \
		NAMESPACE=default POD=web-0 POD_UID="$KUBEAPI_POD_UID" start_bg "$log" node "$KUBEAPI_SERVER"
	wait_until 10000 has_line '^control on ' "$log" || { show_log "$log"; return 1; }
	printf -v "${1}_API" %s "$(log_port "$log" '^api on [0-9]+')"
	printf -v "${1}_CTL" %s "$(log_port "$log" '^control on [0-9]+')"
}

q() {
	curl -fs "http://127.0.0.1:$1/state" |
		node -e 'const s = JSON.parse(require("fs").readFileSync(0)); const r = eval(process.argv[1]); console.log(typeof r === "string" ? r : JSON.stringify(r))' "$2"
}
