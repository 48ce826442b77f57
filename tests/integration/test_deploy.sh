#!/usr/bin/env bash
# deploy/ without a cluster: every manifest against the Kubernetes OpenAPI
# schema (the npm package kubernetes-models, pinned in tests/deploy) and
# the kustomize lists (tests/deploy/validate.js), then lastcall's own rules
# across fields with `lastcall doctor` (--grace-period against
# terminationGracePeriodSeconds, the delays, httpGet ports, the readiness
# gate's spec and RBAC, ...): not one finding. Then the same on
# tests/deploy/broken, where rules are broken on purpose: exactly the
# failures in expected.txt and the findings in doctor.txt must come out,
# so a check that stops firing fails this test.
. "$(dirname "$0")/lib.sh"

DIR="$TESTS_DIR/deploy"
DEPLOY="$TESTS_DIR/../deploy"
command -v node >/dev/null || { not_ok "node is installed (make deps installs it)"; done_testing; exit 1; }
if [ ! -d "$DIR/node_modules/kubernetes-models" ]; then
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
		{ not_ok "npm ci in tests/deploy (the npm registry)"; show_log "$WORK/npm.log"; done_testing; exit 1; }
fi
ok "kubernetes-models $(node -p 'require(process.argv[1]).version' "$DIR/node_modules/kubernetes-models/package.json") installed"

node "$DIR/validate.js" "$DEPLOY" >"$WORK/deploy.tap" 2>&1
check "deploy/: the check ran" [ -s "$WORK/deploy.tap" ]
check "deploy/: validated every pattern ($(grep -c 'valid against the OpenAPI schema' "$WORK/deploy.tap") objects)" \
	[ "$(grep -c 'valid against the OpenAPI schema' "$WORK/deploy.tap")" -ge 8 ]
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "deploy/${line#ok }" ;;
	*) not_ok "deploy/${line#not ok }" ;;
	esac
done <"$WORK/deploy.tap"

# lastcall doctor over each pattern's manifests, a directory at a time (a
# pattern's Role belongs to its own pod).
for d in "$DEPLOY"/*/; do
	name=$(basename "$d")
	mapfile -t files < <(find "$d" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml | sort)
	"$LASTCALL" doctor --fail-on info "${files[@]}" >"$WORK/doctor.$name" 2>&1
	code=$?
	if [ "$code" = 0 ] && grep -q ' 0 errors, 0 warnings, 0 info$' "$WORK/doctor.$name"; then
		ok "deploy/$name: lastcall doctor finds nothing ($(grep -oE '^[0-9]+ objects?' "$WORK/doctor.$name"))"
	else
		not_ok "deploy/$name: lastcall doctor finds nothing (exit $code)" "$(head -n 12 "$WORK/doctor.$name")"
	fi
done

node "$DIR/validate.js" "$DIR/broken" | grep '^not ok ' | sed 's/^not ok //' >"$WORK/broken.txt"
if diff -u "$DIR/broken/expected.txt" "$WORK/broken.txt" >"$WORK/broken.diff"; then
	ok "broken fixtures: every schema and kustomize check fires ($(wc -l <"$WORK/broken.txt") failures, as expected)"
else
	not_ok "broken fixtures: every schema and kustomize check fires" "$(cat "$WORK/broken.diff")"
fi
"$LASTCALL" doctor -o json "$DIR/broken/bad/pod.yaml" >"$WORK/broken.json" 2>&1
code=$?
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); for (const f of j.findings) console.log(`${f.severity} ${f.rule} ${f.object} ${f.path}`)' \
	"$WORK/broken.json" >"$WORK/broken.doctor" 2>&1
if [ "$code" = 1 ] && diff -u "$DIR/broken/doctor.txt" "$WORK/broken.doctor" >"$WORK/doctor.diff"; then
	ok "broken fixtures: lastcall doctor finds each mistake ($(wc -l <"$WORK/broken.doctor") findings, as expected, exit 1)"
else
	not_ok "broken fixtures: lastcall doctor finds each mistake (exit $code)" "$(cat "$WORK/doctor.diff")"
fi
done_testing
