#!/usr/bin/env bash
# deploy/ without a cluster: every manifest against the Kubernetes OpenAPI
# schema (the npm package kubernetes-models, pinned in tests/deploy), and
# the cross-field rules of tests/deploy/validate.js (--grace-period equals
# terminationGracePeriodSeconds, the delays fit in it, httpGet ports exist,
# the readiness gate's spec and RBAC, kustomize lists). Then the same check
# on tests/deploy/broken, where each rule is broken once: exactly the
# failures in expected.txt must come out, so a rule that stops firing
# fails this test.
. "$(dirname "$0")/lib.sh"

DIR="$TESTS_DIR/deploy"
command -v node >/dev/null || { not_ok "node is installed (make deps installs it)"; done_testing; exit 1; }
if [ ! -d "$DIR/node_modules/kubernetes-models" ]; then
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
		{ not_ok "npm ci in tests/deploy (the npm registry)"; show_log "$WORK/npm.log"; done_testing; exit 1; }
fi
ok "kubernetes-models $(node -p 'require(process.argv[1]).version' "$DIR/node_modules/kubernetes-models/package.json") installed"

node "$DIR/validate.js" "$TESTS_DIR/../deploy" >"$WORK/deploy.tap" 2>&1
check "deploy/: the check ran" [ -s "$WORK/deploy.tap" ]
check "deploy/: validated every pattern ($(grep -c 'valid against the OpenAPI schema' "$WORK/deploy.tap") objects)" \
	[ "$(grep -c 'valid against the OpenAPI schema' "$WORK/deploy.tap")" -ge 8 ]
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "deploy/${line#ok }" ;;
	*) not_ok "deploy/${line#not ok }" ;;
	esac
done <"$WORK/deploy.tap"

node "$DIR/validate.js" "$DIR/broken" | grep '^not ok ' | sed 's/^not ok //' >"$WORK/broken.txt"
if diff -u "$DIR/broken/expected.txt" "$WORK/broken.txt" >"$WORK/broken.diff"; then
	ok "broken fixtures: every rule fires ($(wc -l <"$WORK/broken.txt") failures, as expected)"
else
	not_ok "broken fixtures: every rule fires" "$(cat "$WORK/broken.diff")"
fi
done_testing
