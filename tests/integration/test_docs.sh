#!/usr/bin/env bash
# The README's option table against the binary: every option of every
# command (from `lastcall --help`'s command list and each `CMD --help`) has
# one row with the same metavar, environment variable and default, and the
# row names exactly the commands that take it; no row names an option
# that does not exist. A flag added, renamed or re-defaulted without the
# README changing fails here.
. "$(dirname "$0")/lib.sh"

README="$TESTS_DIR/../README.md"
check "README exists" [ -f "$README" ]
mapfile -t CMDS < <("$LASTCALL" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ && $1 != "help" { print $1 } on && /^$/ { on = 0 }')
check "lastcall --help lists the commands (${CMDS[*]})" [ "${#CMDS[@]}" -ge 7 ]
for c in "${CMDS[@]}"; do
	"$LASTCALL" "$c" --help >"$WORK/help.$c" 2>&1 || not_ok "$c --help exits 0"
done

# One line per finding: "ok TEXT" or "not ok TEXT"; node compares.
node - "$README" "$WORK" "${CMDS[@]}" >"$WORK/docs.tap" <<'JS'
'use strict';
const fs = require('fs');
const [readme, work, ...cmds] = process.argv.slice(2);
const out = [];
const say = (good, text) => out.push(`${good ? 'ok' : 'not ok'} ${text}`);

// --help: "      --name META   help" then "      env LASTCALL_X[ (comma-separated)][, default D]".
const help = {};
for (const c of cmds) {
  const lines = fs.readFileSync(`${work}/help.${c}`, 'utf8').split('\n');
  lines.forEach((l, i) => {
    const m = /^\s+(?:-\w, )?--([a-z][a-z-]*)(?: (\S+))?(?:\s{2,}|$)/.exec(l);
    if (!m || m[1] === 'help') return;
    const e = /^\s+env (LASTCALL_\w+)(?: \(comma-separated\))?(?:, default (.*))?$/.exec(lines[i + 1] || '');
    const o = help[m[1]] || (help[m[1]] = { meta: m[2] || '', env: e ? e[1] : '?', def: e && e[2] ? e[2] : '', cmds: [] });
    if (o.meta !== (m[2] || '') || o.env !== (e ? e[1] : '?') || o.def !== (e && e[2] ? e[2] : ''))
      say(false, `--${m[1]} means the same in every command (${c} differs)`);
    o.cmds.push(c);
  });
}

// The README's table: the one under "### Options".
const text = fs.readFileSync(readme, 'utf8');
const start = text.indexOf('\n### Options\n');
const body = start < 0 ? '' : text.slice(start + 1).split('\n### ')[0];
const rows = {};
for (const l of body.split('\n')) {
  const m = /^\| `--([a-z][a-z-]*)(?: ([^`]+))?` \| `([^`]*)` \| (?:`([^`]*)`)? *\| ([^|]*) \| .* \|$/.exec(l);
  if (!m) continue;
  if (rows[m[1]]) say(false, `--${m[1]}: one row only`);
  rows[m[1]] = { meta: (m[2] || '').replace(/\\\|/g, '|'), env: m[3], def: m[4] || '',
                 cmds: m[5].split(',').map((s) => s.trim()).filter(Boolean) };
}
say(Object.keys(rows).length > 0, `the README has an option table (${Object.keys(rows).length} rows)`);
for (const [name, o] of Object.entries(help)) {
  const r = rows[name];
  if (!r) { say(false, `--${name} (${o.cmds.join(', ')}) has a README row`); continue; }
  say(r.meta === o.meta, `--${name}: metavar "${o.meta}" (README "${r.meta}")`);
  say(r.env === o.env, `--${name}: variable ${o.env} (README ${r.env})`);
  say(r.def === o.def, `--${name}: default "${o.def}" (README "${r.def}")`);
  say(r.cmds.join(',') === o.cmds.join(','), `--${name}: commands ${o.cmds.join(', ')} (README ${r.cmds.join(', ')})`);
}
for (const name of Object.keys(rows))
  if (!help[name]) say(false, `README row --${name} is an option of some command`);
console.log(out.join('\n'));
JS
check "the comparison ran" [ -s "$WORK/docs.tap" ]
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "${line#ok }" ;;
	"not ok "*) not_ok "${line#not ok }" ;;
	esac
done <"$WORK/docs.tap"
done_testing
