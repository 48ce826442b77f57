// Checks Kubernetes manifests with no cluster: every object against the
// Kubernetes OpenAPI schema (kubernetes-models' validators), then the
// cross-field rules that bite lastcall's users:
//   - every lastcall that drains (run, sidecar, prestop) has --grace-period
//     (flag or LASTCALL_GRACE_PERIOD, else its 30s default) equal to the
//     pod's terminationGracePeriodSeconds (else 30);
//   - its delays fit in it: kill-margin + stop-timeout + min-delay, and
//     max-delay within what is left (else lastcall must compress them);
//   - every httpGet (probes, lifecycle hooks) points at a port that exists:
//     a name of the same container's ports, a number some container of
//     the pod declares;
//   - `sidecar` needs shareProcessNamespace; --readiness-gate names a
//     spec.readinessGates type; the API (gate, events) needs the pod's name
//     from the downward API and a service account whose Role in the same
//     directory grants get pods, patch pods/status, create events;
//   - each directory's kustomization.yaml lists its manifests, and the
//     top one lists every directory.
// Usage: node validate.js DEPLOY_DIR. Prints "ok TEXT" / "not ok TEXT".
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');

const root = process.argv[2];
const out = [];
const say = (good, text) => out.push(`${good ? 'ok' : 'not ok'} ${text}`);

const kinds = {
  'v1/Pod': 'kubernetes-models/v1/Pod',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
};

// "30s", "1500ms", "1m30s", "2.5s", a bare number of seconds -> ms.
function duration(s) {
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let m;
  let at = 0;
  while ((m = re.exec(s))) {
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
    at = re.lastIndex;
  }
  return at === s.length && at > 0 ? Math.round(ms) : NaN;
}

// The lastcall invocations of a container: its main command (when it is
// lastcall) and its exec hooks, each with the container's LASTCALL_* env.
function invocations(c) {
  const env = {};
  for (const e of c.env || []) if (/^LASTCALL_/.test(e.name)) env[e.name] = e;
  const found = [];
  const take = (argv, where) => {
    if (!argv || !argv.length) return;
    let i = 0;
    if (/(^|\/)lastcall$/.test(argv[0])) i = 1;
    else if (!(where === 'main' && isLastcallImage(c) && !c.command)) return;
    const cmd = argv[i];
    const flags = {};
    for (let j = i + 1; j < argv.length && argv[j] !== '--'; j++) {
      const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[j]);
      if (!m) break;
      flags[m[1]] = m[2] !== undefined ? m[2] : (argv[j + 1] && !argv[j + 1].startsWith('--') ? argv[++j] : 'true');
    }
    const opt = (name, def) => {
      if (flags[name] !== undefined) return flags[name];
      const e = env[`LASTCALL_${name.toUpperCase().replace(/-/g, '_')}`];
      if (e) return e.value !== undefined ? e.value : { from: e.valueFrom };
      return def;
    };
    found.push({ cmd, where, opt, container: c.name });
  };
  const main = [...(c.command || []), ...(c.args || [])];
  take(main, 'main');
  for (const h of ['preStop', 'postStart'])
    if (c.lifecycle && c.lifecycle[h] && c.lifecycle[h].exec) take(c.lifecycle[h].exec.command, h);
  for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe'])
    if (c[p] && c[p].exec) take(c[p].exec.command, p);
  return found;
}
const isLastcallImage = (c) => /(^|\/)lastcall(:|@|$)/.test(c.image || '');

function checkPod(pod, where, rbac) {
  const spec = pod.spec || {};
  const grace = (spec.terminationGracePeriodSeconds ?? 30) * 1000;
  const all = [...(spec.initContainers || []), ...(spec.containers || [])];
  const declared = new Set();
  for (const c of all) for (const p of c.ports || []) declared.add(p.containerPort);

  for (const c of all) {
    const named = new Set((c.ports || []).filter((p) => p.name).map((p) => p.name));
    const gets = [];
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe'])
      if (c[p] && c[p].httpGet) gets.push([p, c[p].httpGet.port]);
    for (const h of ['preStop', 'postStart'])
      if (c.lifecycle && c.lifecycle[h] && c.lifecycle[h].httpGet) gets.push([h, c.lifecycle[h].httpGet.port]);
    for (const [what, port] of gets) {
      if (typeof port === 'string' && !/^\d+$/.test(port))
        say(named.has(port), `${where}: ${c.name} ${what} httpGet port "${port}" is a port name of ${c.name}`);
      else
        say(declared.has(Number(port)), `${where}: ${c.name} ${what} httpGet port ${port} is declared by a container of the pod`);
    }

    for (const inv of invocations(c)) {
      const tag = `${where}: ${c.name} ${inv.where} lastcall ${inv.cmd}`;
      if (!['run', 'sidecar', 'prestop'].includes(inv.cmd)) continue;
      const g = duration(String(inv.opt('grace-period', '30s')));
      say(g === grace, `${tag}: --grace-period ${g / 1000}s = terminationGracePeriodSeconds ${grace / 1000}`);
      const margin = duration(String(inv.opt('kill-margin', '1s')));
      const stop = duration(String(inv.opt('stop-timeout', '5s')));
      const min = duration(String(inv.opt('min-delay', '2s')));
      const max = duration(String(inv.opt('max-delay', '15s')));
      say(margin + stop + min <= g, `${tag}: kill-margin + stop-timeout + min-delay (${(margin + stop + min) / 1000}s) fit in ${g / 1000}s`);
      say(max <= g - margin - stop, `${tag}: max-delay ${max / 1000}s fits in ${(g - margin - stop) / 1000}s`);
      if (inv.cmd === 'sidecar')
        say(spec.shareProcessNamespace === true, `${tag}: shareProcessNamespace: true`);
      const gate = inv.opt('readiness-gate');
      const events = inv.opt('events', 'false');
      if (gate !== undefined) {
        const types = (spec.readinessGates || []).map((r) => r.conditionType);
        say(types.includes(gate), `${tag}: --readiness-gate ${gate} is in spec.readinessGates`);
      }
      if (gate !== undefined || events === 'true') {
        const name = inv.opt('pod-name');
        say(name && name.from && name.from.fieldRef && name.from.fieldRef.fieldPath === 'metadata.name',
          `${tag}: LASTCALL_POD_NAME from the downward API (metadata.name)`);
        const sa = spec.serviceAccountName;
        say(!!sa, `${tag}: a serviceAccountName for the API calls`);
        const grants = rbac(sa);
        for (const [res, verb] of [['pods', 'get'], ['pods/status', 'patch'], ['events', 'create']])
          say(grants.has(`${res}:${verb}`), `${tag}: service account ${sa} may ${verb} ${res}`);
      }
    }
  }
}

function main() {
  const top = yaml.load(fs.readFileSync(path.join(root, 'kustomization.yaml'), 'utf8')) || {};
  const dirs = fs.readdirSync(root).filter((d) => fs.statSync(path.join(root, d)).isDirectory()).sort();
  say(dirs.length > 0, `pattern directories (${dirs.join(', ')})`);
  for (const d of dirs) {
    say((top.resources || []).includes(d), `kustomization.yaml lists ${d}`);
    const dir = path.join(root, d);
    say(fs.existsSync(path.join(dir, 'README.md')), `${d}: has a README.md`);
    const kfile = path.join(dir, 'kustomization.yaml');
    const kust = fs.existsSync(kfile) ? yaml.load(fs.readFileSync(kfile, 'utf8')) || {} : {};
    const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    for (const f of files) say((kust.resources || []).includes(f), `${d}/kustomization.yaml lists ${f}`);
    for (const r of kust.resources || []) say(files.includes(r), `${d}/kustomization.yaml: ${r} exists`);

    const objs = [];
    for (const f of files) {
      let docs;
      try {
        docs = yaml.loadAll(fs.readFileSync(path.join(dir, f), 'utf8')).filter(Boolean);
      } catch (e) {
        say(false, `${d}/${f}: YAML (${e.message.split('\n')[0]})`);
        continue;
      }
      for (const o of docs) {
        const key = `${o.apiVersion}/${o.kind}`;
        const where = `${d}/${f} ${o.kind} ${(o.metadata || {}).name}`;
        if (!kinds[key]) { say(false, `${where}: a kind this check knows (${key})`); continue; }
        const Model = Object.values(require(kinds[key])).find((v) => typeof v === 'function');
        try {
          new Model(o).validate();
          say(true, `${where}: valid against the OpenAPI schema`);
        } catch (e) {
          say(false, `${where}: valid against the OpenAPI schema (${e.message.replace(/\n/g, ' ').slice(0, 300)})`);
        }
        objs.push(o);
      }
    }
    // What a service account may do, from this directory's Roles.
    const rbac = (sa) => {
      const grants = new Set();
      for (const b of objs.filter((o) => o.kind === 'RoleBinding')) {
        if (!(b.subjects || []).some((s) => s.kind === 'ServiceAccount' && s.name === sa)) continue;
        const role = objs.find((o) => o.kind === 'Role' && o.metadata.name === b.roleRef.name);
        for (const r of (role && role.rules) || [])
          if ((r.apiGroups || []).includes(''))
            for (const res of r.resources || []) for (const v of r.verbs || []) grants.add(`${res}:${v}`);
      }
      if (!objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === sa)) grants.clear();
      return grants;
    };
    for (const o of objs) {
      const where = `${d} ${o.kind} ${o.metadata.name}`;
      if (o.kind === 'Pod') checkPod(o, where, rbac);
      if (o.kind === 'Deployment') checkPod(o.spec.template, where, rbac);
    }
  }
}

try {
  main();
} catch (e) {
  say(false, `the check ran (${e.message})`);
}
console.log(out.join('\n'));
