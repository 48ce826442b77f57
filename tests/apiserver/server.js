// A test double of the Kubernetes API server, for lastcall's tests only:
// just the calls lastcall makes, on one pod, kept in memory.
//
//   GET   /api/v1/namespaces/NS/pods/NAME          the pod
//   PATCH /api/v1/namespaces/NS/pods/NAME/status   strategic merge of
//         status.conditions by type (Content-Type must be
//         application/strategic-merge-patch+json: else 415), with
//         metadata.uid as a precondition (409 when it differs)
//   POST  /api/v1/namespaces/NS/events             stored (201)
//   GET   /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices[/NAME]
//         the namespace's slices: others that list other pods, and one
//         (web-x7k2p) that lists this pod; the list in pages of ?limit=
//         with a continue token, as the real one pages
//
// HTTPS with the key and certificate the test made (its own CA). Every call
// must carry "Authorization: Bearer T" where T is the content of
// TOKEN_FILE when the call comes (read each time, so a test can rotate it):
// else 401. Error answers are Status objects, as the real one sends.
//
// A second server, plain HTTP on 127.0.0.1 (the control port), is the
// test's side:
//   GET  /state               {pod, events, requests}: every API request
//                             with its time (ms since the epoch), method,
//                             path, content type, token, status and body
//   POST /mode?m=M            answer every API call from now on with M:
//                             ok, 401, 403, 409, 500, hang (never answer,
//                             even after the mode changes), drop (close
//                             the connection unanswered)
//   POST /pod?deletionGracePeriodSeconds=N   mark the pod deleting
//   POST /slices?ready=false|true&gone=1&forbid=1&others=N
//                             this pod's EndpointSlice: its endpoint not
//                             ready (or ready), the slice no longer listing
//                             the pod, the list refused (403), N other
//                             slices in the namespace (default 12)
//   POST anything else        recorded in state.posts (a mesh proxy's
//                             /quitquitquit, for --on-exit-url)
//
// Environment: CERT, KEY, TOKEN_FILE, NAMESPACE, POD, POD_UID. Prints
// "api on PORT" and "control on PORT" once both listen.
'use strict';
const https = require('https');
const http = require('http');
const fs = require('fs');

const env = (k) => {
  if (!process.env[k]) { console.error(`apiserver: ${k} is not set`); process.exit(2); }
  return process.env[k];
};
const ns = env('NAMESPACE');
const name = env('POD');
const uid = env('POD_UID');
const tokenFile = env('TOKEN_FILE');

let mode = 'ok';
const requests = [];
const events = [];
const posts = [];

// A pod as the real API server returns it, with the bulk a real one has
// (managedFields), so the client's body limit is exercised.
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name, namespace: ns, uid, resourceVersion: '1',
    creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    labels: { app: 'web' },
    managedFields: Array.from({ length: 24 }, (_, i) => ({
      manager: `controller-${i}`, operation: 'Update', apiVersion: 'v1',
      time: '2026-11-21T00:00:00Z', fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
                  'f:status': { 'f:conditions': { [`k:{"type":"c${i}"}`]: { '.': {} } } } },
    })),
  },
  spec: {
    terminationGracePeriodSeconds: 30,
    readinessGates: [{ conditionType: 'example.com/lastcall-ready' }],
    containers: [{ name: 'app', image: 'app:1' }],
  },
  status: {
    phase: 'Running',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-21T00:00:00Z' },
      { type: 'Initialized', status: 'True', lastTransitionTime: '2026-11-21T00:00:00Z' },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: '2026-11-21T00:00:00Z' },
      { type: 'Ready', status: 'False', lastTransitionTime: '2026-11-21T00:00:00Z' },
      { type: 'example.com/other', status: 'True', reason: 'Theirs',
        lastTransitionTime: '2026-11-21T00:00:00Z' },
    ],
  },
};

// EndpointSlices: `others` slices of other Services, and this pod's.
const slices = { others: 12, ready: true, gone: false, forbid: false };
function sliceOf(sname, pods) {
  return {
    kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1',
    metadata: { name: sname, namespace: ns, labels: { 'kubernetes.io/service-name': sname.replace(/-[^-]+$/, '') } },
    addressType: 'IPv4',
    endpoints: pods.map(([pname, ready], i) => ({
      addresses: [`10.1.0.${i + 10}`],
      conditions: { ready, serving: ready, terminating: !ready },
      targetRef: { kind: 'Pod', namespace: ns, name: pname, uid: `uid-${pname}` },
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}
function allSlices() {
  const out = [];
  for (let i = 0; i < slices.others; i++) out.push(sliceOf(`other${i}-a1b2c`, [[`other${i}-pod`, true]]));
  // Ours sits in the middle, so that finding it takes the continue token.
  const mine = [['web-peer', true]];
  if (!slices.gone) mine.push([name, slices.ready]);
  out.splice(Math.floor(out.length / 2), 0, sliceOf('web-x7k2p', mine));
  return out;
}

function status(res, code, reason, message) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
                           message, reason, code }));
}

function reply(res, code, obj) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}

// Strategic merge of a pod status patch: conditions merge by type, each
// condition's fields by key; other status fields are replaced.
function mergeStatus(patch) {
  for (const [k, v] of Object.entries(patch || {})) {
    if (k !== 'conditions') { pod.status[k] = v; continue; }
    for (const c of v) {
      const have = pod.status.conditions.find((x) => x.type === c.type);
      if (have) Object.assign(have, c);
      else pod.status.conditions.push({ ...c });
    }
  }
  pod.metadata.resourceVersion = String(Number(pod.metadata.resourceVersion) + 1);
}

function api(req, res, body) {
  const rec = {
    t: Date.now(), method: req.method, path: req.url,
    ctype: req.headers['content-type'] || '',
    token: (/^Bearer (.*)$/.exec(req.headers.authorization || '') || [])[1] || '',
    status: 0, body: null,
  };
  requests.push(rec);
  try { rec.body = body.length ? JSON.parse(body) : null; } catch { rec.body = body; }
  const send = (code, fn) => { rec.status = code; fn(); };

  let want = '';
  try { want = fs.readFileSync(tokenFile, 'utf8').trim(); } catch { /* no token: all 401 */ }
  if (!want || rec.token !== want)
    return send(401, () => status(res, 401, 'Unauthorized', 'Unauthorized'));
  switch (mode) {
    case 'hang': rec.status = -1; return undefined;
    case 'drop': rec.status = -2; req.socket.destroy(); return undefined;
    case '403': return send(403, () => status(res, 403, 'Forbidden',
      `pods "${name}" is forbidden: User "system:serviceaccount:${ns}:default" cannot patch resource "pods/status"`));
    case '409': return send(409, () => status(res, 409, 'Conflict', 'the object has been modified'));
    case '500': return send(500, () => status(res, 500, 'InternalError', 'etcdserver: request timed out'));
    case '401': return send(401, () => status(res, 401, 'Unauthorized', 'Unauthorized'));
    default: break;
  }

  const base = `/api/v1/namespaces/${ns}`;
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === `${base}/pods/${name}`)
    return send(200, () => reply(res, 200, pod));
  if (req.method === 'PATCH' && path === `${base}/pods/${name}/status`) {
    if (rec.ctype !== 'application/strategic-merge-patch+json')
      return send(415, () => status(res, 415, 'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/strategic-merge-patch+json (got ${rec.ctype})`));
    const p = rec.body;
    if (!p || typeof p !== 'object')
      return send(400, () => status(res, 400, 'BadRequest', 'not JSON'));
    if (p.metadata && p.metadata.uid && p.metadata.uid !== uid)
      return send(409, () => status(res, 409, 'Conflict',
        `Precondition failed: UID in precondition: ${p.metadata.uid}, UID in object meta: ${uid}`));
    mergeStatus(p.status);
    return send(200, () => reply(res, 200, pod));
  }
  const sbase = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  if (req.method === 'GET' && path === sbase) {
    if (slices.forbid)
      return send(403, () => status(res, 403, 'Forbidden',
        `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:${ns}:default" cannot list resource "endpointslices"`));
    const q = new URL(req.url, 'http://x').searchParams;
    const all = allSlices();
    const from = q.get('continue') ? Number(Buffer.from(q.get('continue'), 'base64').toString().split('/')[1]) : 0;
    const limit = Number(q.get('limit') || all.length);
    const items = all.slice(from, from + limit);
    const meta = { resourceVersion: '7' };
    // A token with '/', '+' and '=' in it, as the real ones have.
    if (from + limit < all.length) meta.continue = Buffer.from(`rv7/${from + limit}/+?`).toString('base64');
    return send(200, () => reply(res, 200, { kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: meta, items }));
  }
  if (req.method === 'GET' && path.startsWith(`${sbase}/`)) {
    const s = allSlices().find((x) => x.metadata.name === path.slice(sbase.length + 1));
    if (!s) return send(404, () => status(res, 404, 'NotFound', 'endpointslice not found'));
    return send(200, () => reply(res, 200, s));
  }
  if (req.method === 'POST' && path === `${base}/events`) {
    if (rec.ctype !== 'application/json' || !rec.body || rec.body.kind !== 'Event')
      return send(400, () => status(res, 400, 'BadRequest', 'not an Event'));
    events.push(rec.body);
    return send(201, () => reply(res, 201, rec.body));
  }
  return send(404, () => status(res, 404, 'NotFound', `${req.method} ${path}: not found`));
}

function collect(req, fn) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => fn(Buffer.concat(chunks).toString()));
}

const server = https.createServer(
  { key: fs.readFileSync(env('KEY')), cert: fs.readFileSync(env('CERT')) },
  (req, res) => collect(req, (body) => api(req, res, body)));

const control = http.createServer((req, res) => collect(req, () => {
  const u = new URL(req.url, 'http://x');
  if (req.method === 'GET' && u.pathname === '/state')
    return reply(res, 200, { pod, events, requests, posts, mode });
  if (req.method === 'POST' && u.pathname === '/mode') {
    // Calls already hanging stay so: the client's timeout ends them.
    mode = u.searchParams.get('m') || 'ok';
    return reply(res, 200, { mode });
  }
  if (req.method === 'POST' && u.pathname === '/pod') {
    const g = Number(u.searchParams.get('deletionGracePeriodSeconds'));
    pod.metadata.deletionGracePeriodSeconds = g;
    pod.metadata.deletionTimestamp = new Date(Date.now() + g * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    return reply(res, 200, pod.metadata);
  }
  if (req.method === 'POST' && u.pathname === '/slices') {
    const q = u.searchParams;
    if (q.has('ready')) slices.ready = q.get('ready') === 'true';
    if (q.has('gone')) slices.gone = q.get('gone') === '1';
    if (q.has('forbid')) slices.forbid = q.get('forbid') === '1';
    if (q.has('others')) slices.others = Number(q.get('others'));
    return reply(res, 200, slices);
  }
  if (req.method === 'POST') {
    posts.push({ t: Date.now(), path: u.pathname });
    return reply(res, 200, {});
  }
  return reply(res, 404, {});
}));

let up = 0;
const listening = () => {
  if (++up < 2) return;
  console.log(`api on ${server.address().port}`);
  console.log(`control on ${control.address().port}`);
};
server.listen(0, '127.0.0.1', listening);
control.listen(0, '127.0.0.1', listening);
process.on('SIGTERM', () => process.exit(0));
