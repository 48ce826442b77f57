// The sample app lastcall's demo and tests run: a plain Node HTTP server
// that shuts down the way most apps do. On SIGTERM or SIGINT it logs
// "Closing server", stops accepting, answers the requests it holds with
// "Connection: close", closes idle keep-alive connections and exits 0 once
// the last one is done. Traffic a load balancer still sends it after that
// finds the port closed: that is what lastcall's drain prevents.
//
// Environment:
//   HOST      address to listen on (default 127.0.0.1)
//   PORT      port (default 8080; 0 picks a free one)
//   DELAY_MS  time each response takes (default 100)
//   START_DELAY_MS  time before it starts listening (default 0)
'use strict';
const http = require('http');

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const delay = Number(process.env.DELAY_MS ?? 100);
const startDelay = Number(process.env.START_DELAY_MS ?? 0);
let served = 0;
let closing = false;

const server = http.createServer((req, res) => {
  setTimeout(() => {
    served++;
    const headers = { 'content-type': 'text/plain' };
    if (closing) headers.connection = 'close';
    res.writeHead(200, headers);
    res.end(`ok ${served} pid=${process.pid}\n`);
  }, delay);
});
server.keepAliveTimeout = 5000;

setTimeout(() => {
  server.listen(port, host, () => {
    const a = server.address();
    console.log(`listening on ${a.address}:${a.port}`);
  });
}, startDelay);

function shutdown(signal) {
  // A second signal (lastcall also signals leftovers) changes nothing.
  if (closing) return;
  closing = true;
  console.log(`Closing server (${signal}, ${served} requests served)`);
  server.close(() => {
    console.log('Server closed');
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
