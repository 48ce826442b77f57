// The sample app lastcall's demo and tests run: a plain Node HTTP server
// that shuts down the way most apps do. On SIGTERM or SIGINT it logs
// "Closing server", stops accepting and, in the default SHUTDOWN=close
// mode, answers the requests it holds with "Connection: close", closes idle
// keep-alive connections and exits 0 once the last one is done (what Go's
// http.Server.Shutdown does). Traffic a load balancer still sends it after
// that finds the port closed: that is what lastcall's drain prevents.
//
// Environment:
//   HOST      address to listen on (default 127.0.0.1)
//   PORT      port (default 8080; 0 picks a free one)
//   DELAY_MS  time each response takes (default 100)
//   SHUTDOWN  what SIGTERM does (default close):
//     close   the cooperative shutdown above: "Connection: close" on every
//             answer once stopping, idle keep-alive connections closed
//     next    "Connection: close" on each connection's next answer, and
//             idle ones closed only once nothing came on them for
//             IDLE_CLOSE_MS (default 1000): closing a connection the
//             client is about to use races its request (RFC 9112 9.6),
//             which close (and Go's Shutdown) risk at the stop; an active
//             client always gets its answer, then reconnects
//     keep    only server.close(), as a plain Node app does: no new
//             connections, but busy keep-alive connections stay open and
//             keep being served without "Connection: close" (Node 20's
//             close() closes only those idle at that moment), so the exit
//             waits for the clients to hang up, which pinned clients never do
//     hold    only stops listening, as Node 18's server.close() and many
//             other servers do: every keep-alive connection, idle or not,
//             stays open and keeps being served until the client hangs up
//   KEEPALIVE_MS    how long an idle keep-alive connection stays open
//                   (default 5000, Node's keepAliveTimeout)
//   START_DELAY_MS  time before it starts listening (default 0)
//   ADMIN_SOCKET    a Unix socket for lastcall's --app-* URLs (default none):
//     GET /ready     200 once listening and until told to drain, else 503
//     POST /drain    from now on /ready answers 503 (logs "Drain requested")
//     GET /inflight  {"inflight": N}: requests being answered, plus
//                    background work (DRAIN_WORK_MS after POST /drain)
//   READY_DELAY_MS  /ready answers 503 this long after listening (default 0)
//   INFLIGHT_BAD    the first N /inflight answers are broken (500, bad JSON)
// A request's ?delay=MS overrides DELAY_MS for it. Every answer carries
// "x-served-by: ADDRESS:PORT" (which instance served it, behind a Service).
'use strict';
const http = require('http');
const fs = require('fs');

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const delay = Number(process.env.DELAY_MS ?? 100);
const startDelay = Number(process.env.START_DELAY_MS ?? 0);
const readyDelay = Number(process.env.READY_DELAY_MS ?? 0);
const drainWork = Number(process.env.DRAIN_WORK_MS ?? 0);
const shutdownMode = process.env.SHUTDOWN || 'close';
const idleCloseMs = Number(process.env.IDLE_CLOSE_MS ?? 1000);
if (!['close', 'next', 'keep', 'hold'].includes(shutdownMode)) {
  console.error(`SHUTDOWN must be close, next, keep or hold, got "${shutdownMode}"`);
  process.exit(2);
}
let inflightBad = Number(process.env.INFLIGHT_BAD ?? 0);
let served = 0;
let inflight = 0;
let closing = false;
let readyAt = Infinity;
let drainRequested = false;
let workUntil = 0;
let servedBy = '';

// SHUTDOWN=next: each connection's requests in the works, and when the
// last one ended.
const sockets = new Set();
const server = http.createServer((req, res) => {
  const m = /[?&]delay=(\d+)/.exec(req.url);
  const sock = req.socket;
  inflight++;
  sock.busy = (sock.busy || 0) + 1;
  setTimeout(() => {
    served++;
    inflight--;
    const headers = { 'content-type': 'text/plain', 'x-served-by': servedBy };
    if (closing && (shutdownMode === 'close' || shutdownMode === 'next')) headers.connection = 'close';
    res.writeHead(200, headers);
    res.end(`ok ${served} pid=${process.pid}\n`);
    sock.busy--;
    sock.lastUse = Date.now();
  }, m ? Number(m[1]) : delay);
});
server.on('connection', (sock) => {
  sock.lastUse = Date.now();
  sockets.add(sock);
  sock.on('close', () => sockets.delete(sock));
});
server.keepAliveTimeout = Number(process.env.KEEPALIVE_MS ?? 5000);

setTimeout(() => {
  server.listen(port, host, () => {
    const a = server.address();
    readyAt = Date.now() + readyDelay;
    servedBy = `${a.address}:${a.port}`;
    console.log(`listening on ${a.address}:${a.port}`);
  });
}, startDelay);

function admin(req, res) {
  const send = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(body + '\n');
  };
  if (req.method === 'GET' && req.url === '/ready') {
    const ok = Date.now() >= readyAt && !drainRequested;
    return send(ok ? 200 : 503, JSON.stringify({ ready: ok }));
  }
  if (req.method === 'POST' && req.url === '/drain') {
    if (!drainRequested) {
      drainRequested = true;
      workUntil = Date.now() + drainWork;
      console.log(`Drain requested (${inflight} in flight)`);
    }
    return send(200, '{}');
  }
  if (req.method === 'GET' && req.url === '/inflight') {
    if (inflightBad > 0) {
      inflightBad--;
      return inflightBad % 2 ? send(500, '{}') : send(200, '{"inflight": "many"}');
    }
    const work = Date.now() < workUntil ? 1 : 0;
    return send(200, JSON.stringify({ inflight: inflight + work }));
  }
  send(404, '{}');
}

if (process.env.ADMIN_SOCKET) {
  fs.rmSync(process.env.ADMIN_SOCKET, { force: true });
  http.createServer(admin).listen(process.env.ADMIN_SOCKET);
}

function shutdown(signal) {
  // A second signal (lastcall also signals leftovers) changes nothing.
  if (closing) return;
  closing = true;
  console.log(`Closing server (${signal}, ${served} requests served)`);
  const closed = () => {
    console.log('Server closed');
    process.exit(0);
  };
  // http.Server's close() (Node 19+) closes the idle connections first;
  // the net.Server one under it only stops listening.
  if (shutdownMode === 'next' || shutdownMode === 'hold') require('net').Server.prototype.close.call(server, closed);
  else server.close(closed);
  if (shutdownMode === 'close') server.closeIdleConnections();
  if (shutdownMode === 'next') {
    // A connection that got a request since lastUse is busy until its
    // answer, which says "Connection: close"; one quiet for idleCloseMs
    // is not being used: closed.
    setInterval(() => {
      const now = Date.now();
      for (const sock of sockets)
        if (!sock.busy && now - sock.lastUse >= idleCloseMs) sock.destroy();
    }, 100).unref();
  }
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
