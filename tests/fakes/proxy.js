// A forward proxy for HTTPS (the CONNECT method, RFC 9110 section 9.3.6), as corporate agents
// sit behind. It lets tests reach a fake under the real Azure host name (e.g.
// kv1.vault.azure.net:443) without DNS: the client asks the proxy for the host, and the proxy
// connects to the fake that `routes` names for it. Loopback targets are connected as asked.
// Hosts with no route get 502, as a proxy that cannot resolve a name answers.
//
// Plain-http requests in absolute form (RFC 9112 section 3.2.2, `GET http://host:port/path`)
// are forwarded to loopback hosts, as a proxy forwards http to a host it can reach; other hosts
// get 502.
//
// `state.connects` logs every CONNECT target and `state.forwards` every forwarded http request
// (`METHOD host:port/path`), so tests can assert which traffic used the proxy.
//
// With `auth: {user, password}` the proxy wants Basic credentials (RFC 9110 section 11.7.1):
// a request without the right `Proxy-Authorization` gets 407 with `Proxy-Authenticate`, and is
// logged in `state.denied`.
//
// Each tunnel tells the contract ledger (tests/fakes/contract.js) which client connection it
// carries, so a violation a fake behind the proxy records is charged to the run that sent it.
'use strict';
const http = require('http');
const net = require('net');
const { linkPorts, unlinkPorts } = require('./contract');

/** `routes`: {'*.vault.azure.net:443': port, 'login.microsoftonline.com:443': port, ...}. */
function startProxy({ routes = {}, auth = null } = {}) {
  const state = { connects: [], forwards: [], refused: [], denied: [] };
  const expected = auth && `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  const allowed = (req) => !expected || req.headers['proxy-authorization'] === expected;
  const challenge = 'HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="corp"\r\ncontent-length: 0\r\n\r\n';
  const sockets = new Set();
  const match = (host, port) => {
    for (const [pattern, target] of Object.entries(routes)) {
      const [ph, pp] = pattern.split(':');
      if (String(port) !== pp) continue;
      const re = new RegExp(`^${ph.replace(/\./g, '\\.').replace(/\*/g, '[^.]+')}$`, 'i');
      if (re.test(host)) return target;
    }
    if (host === '127.0.0.1' || host === 'localhost') return Number(port);
    return null;
  };
  const server = http.createServer((req, res) => {
    let target;
    try { target = new URL(req.url); } catch (e) { target = null; }
    if (!target || target.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('a proxy request needs an absolute http:// URL');
      return;
    }
    const port = target.port || '80';
    if (!allowed(req)) {
      state.denied.push(`${req.method} ${target.hostname}:${port}`);
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="corp"', 'content-length': '0' });
      res.end();
      return;
    }
    state.forwards.push(`${req.method} ${target.hostname}:${port}${target.pathname}`);
    if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
      state.refused.push(`${target.hostname}:${port}`);
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`cannot resolve ${target.hostname}`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = http.request({ host: '127.0.0.1', port: Number(port), method: req.method, path: target.pathname + target.search, headers, agent: false }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on('socket', (sock) => sock.on('connect', () => {
      const local = sock.localPort;
      linkPorts(local, req.socket.remotePort);
      sock.on('close', () => unlinkPorts(local));
    }));
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end();
    });
    req.pipe(upstream);
  });
  server.on('connect', (req, client, head) => {
    const [host, port] = req.url.split(':');
    if (!allowed(req)) {
      state.denied.push(`CONNECT ${req.url}`);
      client.end(challenge);
      return;
    }
    state.connects.push(req.url);
    const target = match(host, port);
    if (target === null) {
      state.refused.push(req.url);
      client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const upstream = net.connect(target, '127.0.0.1', () => {
      const local = upstream.localPort;
      linkPorts(local, client.remotePort);
      upstream.on('close', () => unlinkPorts(local));
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head && head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      url: `http://127.0.0.1:${port}`,
      state,
      close: () => new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(r);
      }),
    });
  }));
}

module.exports = { startProxy };
