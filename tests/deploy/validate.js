// Checks Kubernetes manifests with no cluster: every object against the
// Kubernetes OpenAPI schema (kubernetes-models' validators), and that each
// directory's kustomization.yaml lists its manifests and the top one lists
// every directory. The rules across fields (grace periods, delays, ports,
// RBAC...) are lastcall's own: `lastcall doctor` (test_deploy runs it).
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
      }
    }
  }
}

try {
  main();
} catch (e) {
  say(false, `the check ran (${e.message})`);
}
console.log(out.join('\n'));
