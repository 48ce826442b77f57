#!/usr/bin/env bash
# lastcall doctor: each fixture of tests/doctor/rules/ (named for its rule)
# yields exactly its rule's finding, and every rule has a fixture; deploy/
# passes clean; what the binary prints is parsed back (JSON) and held to
# SARIF 2.1.0's required fields; YAML with several documents, kind: List,
# JSON streams and stdin read alike; input that cannot be read gives 125
# with the file and the line (tests/doctor/bad/: broken YAML and JSON, a
# document that is no object, nesting and alias bombs).
. "$(dirname "$0")/lib.sh"

top=$(cd "$TESTS_DIR/.." && pwd)
RULES="$TESTS_DIR/doctor/rules"
BAD="$TESTS_DIR/doctor/bad"
command -v node >/dev/null || { not_ok "node is installed (make deps installs it)"; done_testing; exit 1; }
out="$WORK/out"
err="$WORK/err"
doctor() { "$LASTCALL" doctor "$@" >"$out" 2>"$err"; CODE=$?; }
# js EXPR FILE: EXPR over the JSON in FILE (j), printed.
js() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8")); const r = eval(process.argv[1]); console.log(typeof r === "string" ? r : JSON.stringify(r))' "$1" "$2"; }

# --- one fixture per rule, exactly its finding --------------------------------
doctor --output sarif "$RULES/pid1-package-manager.yaml"
mapfile -t ids < <(js 'j.runs[0].tool.driver.rules.map(r => r.id).join("\n")' "$out")
check "SARIF lists the rules (${#ids[@]})" [ "${#ids[@]}" -ge 20 ]
for id in "${ids[@]}"; do
	f="$RULES/$id.yaml"
	if [ ! -f "$f" ]; then
		not_ok "$id: has a fixture (tests/doctor/rules/$id.yaml)"
		continue
	fi
	doctor --output json "$f"
	got=$(js 'j.findings.map(f => f.rule).join(",")' "$out")
	sev=$(js 'j.findings.map(f => f.severity).join(",")' "$out")
	want_code=0
	[ "$sev" = error ] && want_code=1
	if [ "$got" = "$id" ] && [ "$CODE" = "$want_code" ]; then
		ok "$id: exactly this finding ($sev, exit $CODE)"
	else
		not_ok "$id: exactly this finding" "got: ${got:-none} ($sev), exit $CODE" "$(head -c 300 "$err")"
	fi
done
all=" ${ids[*]} "
for f in "$RULES"/*.yaml; do
	id=$(basename "$f" .yaml)
	case "$all" in *" $id "*) ;; *) not_ok "fixture $id names a rule" ;; esac
done

# --- deploy/ passes clean ------------------------------------------------------
mapfile -t manifests < <(find "$top/deploy" -name '*.yaml' ! -name kustomization.yaml | sort)
doctor --fail-on info "${manifests[@]}"
check "deploy/ (${#manifests[@]} files): no finding, exit 0 (got $CODE)" [ "$CODE" = 0 ]
check "...and it says how many objects it checked" has_line '^[0-9]+ objects checked: 0 errors, 0 warnings, 0 info$' "$out"

# --- text for people -------------------------------------------------------
doctor "$RULES/pid1-package-manager.yaml"
check "text: file:line, severity, rule, object and field" \
	has_line "^$RULES/pid1-package-manager.yaml:17: error pid1-package-manager: Deployment/web spec.template.spec.containers\[0\].command$" "$out"
check "text: one line why, one line fix" eval "grep -q '^    why: ' '$out' && grep -q '^    fix: ' '$out'"
check "text: exit 1 on an error (got $CODE)" [ "$CODE" = 1 ]

# --- JSON, parsed back -------------------------------------------------------
doctor -o json "$RULES/api-pod-name.yaml"
check "json: every field of a finding" \
	[ "$(js 'const f = j.findings[0]; [f.rule, f.severity, f.file.split("/").pop(), f.line, f.object, f.kind, f.path].join(" ")' "$out")" = \
	  "api-pod-name error api-pod-name.yaml 20 Deployment/web Deployment spec.template.spec.containers[0].env[0]" ]
check "json: why and fix are sentences" [ "$(js 'j.findings.every(f => f.why.length > 20 && f.fix.length > 10)' "$out")" = true ]
check "json: the summary counts" [ "$(js '[j.summary.objects, j.summary.errors, j.summary.warnings].join(",")' "$out")" = 3,1,0 ]

# --- SARIF 2.1.0: the fields a code-scanning tool requires --------------------
doctor --output sarif "$RULES"/*.yaml
cat >"$WORK/sarif.js" <<'JS'
'use strict';
const s = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const bad = [];
const need = (cond, what) => { if (!cond) bad.push(what); };
need(s.version === '2.1.0', 'version 2.1.0');
need(typeof s.$schema === 'string', '$schema');
need(Array.isArray(s.runs) && s.runs.length === 1, 'one run');
const run = s.runs[0] || {};
const d = (run.tool || {}).driver || {};
need(typeof d.name === 'string' && d.name === 'lastcall', 'tool.driver.name');
const ids = (d.rules || []).map((r) => r.id);
need(ids.length > 0 && new Set(ids).size === ids.length, 'unique rule ids');
for (const r of d.rules || [])
  need(r.shortDescription && r.shortDescription.text && ['error', 'warning', 'note'].includes((r.defaultConfiguration || {}).level), `rule ${r.id}`);
need(Array.isArray(run.results) && run.results.length > 0, 'results');
for (const r of run.results || []) {
  need(r.message && typeof r.message.text === 'string' && r.message.text.length > 0, 'result.message.text');
  need(ids[r.ruleIndex] === r.ruleId, `ruleIndex of ${r.ruleId}`);
  need(['error', 'warning', 'note'].includes(r.level), 'result.level');
  const p = ((r.locations || [])[0] || {}).physicalLocation || {};
  need(p.artifactLocation && typeof p.artifactLocation.uri === 'string', 'artifactLocation.uri');
  need(p.region && Number.isInteger(p.region.startLine) && p.region.startLine >= 1, 'region.startLine >= 1');
  need(((r.locations[0].logicalLocations || [])[0] || {}).fullyQualifiedName, 'logicalLocations');
}
console.log(bad.length ? `missing: ${[...new Set(bad)].join(', ')}` : `ok ${run.results.length}`);
JS
sarif=$(node "$WORK/sarif.js" "$out")
check "sarif: the required fields of every result ($sarif)" [ "${sarif%% *}" = ok ]
check "sarif: every fixture's rule among the results" \
	[ "$(js '[...new Set(j.runs[0].results.map(r => r.ruleId))].sort().join(" ")' "$out")" = \
	  "$(for f in "$RULES"/*.yaml; do basename "$f" .yaml; done | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" ]

# --- how users have their objects ------------------------------------------
doctor -o json "$RULES/pid1-shell.yaml" "$RULES/liveness-on-readiness.yaml"
check "two files: both findings" [ "$(js 'j.findings.map(f => f.rule).join(",")' "$out")" = pid1-shell,liveness-on-readiness ]
cat "$RULES/pid1-shell.yaml" - "$RULES/liveness-on-readiness.yaml" <<<'---' >"$WORK/multi.yaml"
doctor -o json "$RULES/liveness-on-readiness.yaml"
alone=$(js 'j.findings[0].line' "$out")
doctor -o json "$WORK/multi.yaml"
check "multi-document YAML: both findings" [ "$(js 'j.findings.map(f => f.rule).join(",")' "$out")" = pid1-shell,liveness-on-readiness ]
check "multi-document YAML: lines within the file" \
	[ "$(js 'j.findings.map(f => f.line).join(",")' "$out")" = "11,$((alone + $(wc -l <"$RULES/pid1-shell.yaml") + 1))" ]
# kubectl get -o json: a List (v1 List, items), pretty-printed.
node -e 'console.log(JSON.stringify({apiVersion: "v1", kind: "List", metadata: {}, items: [
	{apiVersion: "v1", kind: "Pod", metadata: {name: "shell"}, spec: {containers: [{name: "app", image: "x", command: ["sh", "-c", "cd /app; node server.js"]}]}},
	{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web"}, spec: {template: {metadata: {labels: {app: "web"}}, spec: {containers: [{name: "app", image: "x", command: ["npm", "start"]}]}}}}]}, null, 2))' >"$WORK/list.json"
doctor -o json "$WORK/list.json"
check "kind: List in JSON (kubectl get -o json): each item" \
	[ "$(js 'j.findings.map(f => f.object + " " + f.rule).join(",")' "$out")" = "Pod/shell pid1-shell,Deployment/web pid1-package-manager" ]
node -e 'const l = JSON.parse(require("fs").readFileSync(process.argv[1])); for (const i of l.items) console.log(JSON.stringify(i))' "$WORK/list.json" >"$WORK/stream.json"
doctor -o json "$WORK/stream.json"
check "JSON objects one after another: each" [ "$(js 'j.findings.length' "$out")" = 2 ]
# kubectl get -o yaml: the same List, as kubectl writes it.
cat >"$WORK/list.yaml" <<'YAML'
apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: shell
  spec:
    containers:
    - command:
      - sh
      - -c
      - cd /app; node server.js
      image: x
      name: app
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
  spec:
    template:
      metadata:
        labels:
          app: web
      spec:
        containers:
        - command:
          - npm
          - start
          image: x
          name: app
kind: List
metadata:
  resourceVersion: ""
YAML
doctor -o json "$WORK/list.yaml"
check "kind: List in YAML (kubectl get -o yaml): each item, at its line" \
	[ "$(js 'j.findings.map(f => f.object + ":" + f.line).join(",")' "$out")" = "Pod/shell:9,Deployment/web:26" ]
"$LASTCALL" doctor -o json <"$WORK/multi.yaml" >"$out" 2>"$err"
check "stdin when no FILE" [ "$(js 'j.findings.map(f => f.file).join(",")' "$out")" = -,- ]
"$LASTCALL" doctor -o json - <"$WORK/multi.yaml" >"$out" 2>"$err"
check "stdin as -" [ "$(js 'j.findings.length' "$out")" = 2 ]
doctor "$RULES/pid1-shell.yaml" --output json --fail-on warning
check "options after the files (--fail-on warning: exit 1, got $CODE)" [ "$CODE" = 1 ]
check "...--output json after the file" [ "$(js 'j.findings[0].rule' "$out")" = pid1-shell ]
doctor --fail-on none "$RULES/pid1-package-manager.yaml"
check "--fail-on none: exit 0 with an error (got $CODE)" [ "$CODE" = 0 ]
doctor "$RULES/pid1-shell.yaml"
check "a warning alone: exit 0 (got $CODE)" [ "$CODE" = 0 ]
doctor /dev/null
check "empty input: no objects, exit 0 (got $CODE)" eval "[ $CODE = 0 ] && grep -q '^0 objects checked' '$out'"

# --- the README shows what the binary prints -------------------------------
README="$top/README.md"
(cd "$TESTS_DIR/doctor" && "$LASTCALL" doctor example.yaml) >"$WORK/example.out" 2>&1
awk '/^<!-- doctor-example/ { on = 1; next } on && /^```$/ { if (inside) exit; inside = 1; next } inside { print }' \
	"$README" >"$WORK/example.readme"
if [ -s "$WORK/example.readme" ] && diff -u "$WORK/example.readme" "$WORK/example.out" >"$WORK/example.diff"; then
	ok "README: the example's output is what lastcall doctor prints ($(wc -l <"$WORK/example.out") lines)"
else
	not_ok "README: the example's output is what lastcall doctor prints" "$(head -n 12 "$WORK/example.diff")"
fi
missing=
for id in "${ids[@]}"; do
	grep -q "^| \`$id\` |" "$README" || missing="$missing $id"
done
check "README: the rule table lists every rule${missing:+ (missing:$missing)}" [ -z "$missing" ]

# --- what cannot be read: 125, with the file and the line ------------------
# bad_input NAME FILE LINE REGEX
bad_input() {
	doctor "$2"
	if [ "$CODE" = 125 ] && [ "$(wc -l <"$err")" = 1 ] && has_line "^lastcall doctor: $2:$3: $4" "$err"; then
		ok "$1: 125, file:$3"
	else
		not_ok "$1: 125, file:$3" "exit $CODE: $(cat "$err")"
	fi
}
bad_input "broken YAML (at its end: the last line)" "$BAD/unclosed.yaml" 8 'not valid YAML'
bad_input "broken JSON" "$BAD/trailing-comma.json" 4 'not valid JSON'
bad_input "a document that is no object" "$BAD/not-an-object.yaml" 5 'not a Kubernetes object'
bad_input "nested too deep" "$BAD/too-deep.yaml" 5 'nested deeper than 64'
start=$(now_ms)
bad_input "an alias bomb (billion laughs)" "$BAD/billion-laughs.yaml" 1[0-9] 'more than [0-9]+ nodes'
check "...stopped in under 5 s ($(($(now_ms) - start)) ms)" [ $(($(now_ms) - start)) -lt 5000 ]
doctor "$WORK/no-such-file.yaml"
check "a missing file: 125 naming it" eval "[ $CODE = 125 ] && grep -q 'no-such-file.yaml: No such file' '$err'"
doctor --output xml "$RULES/pid1-shell.yaml"
check "a bad --output: 125" eval "[ $CODE = 125 ] && grep -q 'expected text, json or sarif' '$err'"
doctor --fail-on sometimes "$RULES/pid1-shell.yaml"
check "a bad --fail-on: 125 (got $CODE)" [ "$CODE" = 125 ]
done_testing
