// Fake Azure DevOps OIDC token endpoint (the job variable System.OidcRequestUri), over HTTPS.
//
//   POST <uri>?api-version=7.1&serviceConnectionId=<id>
//   Authorization: Bearer <job access token>
//   -> 200 {"oidcToken":"<JWT>"}
// The JWT carries the claims Azure DevOps issues for workload identity federation (iss
// https://vstoken.dev.azure.com/<org id>, sub sc://<org>/<project>/<connection>, aud
// api://AzureADTokenExchange) and lives ten minutes. Errors: 401 for a wrong job token, 404 for
// an unknown service connection, 400 without api-version; headers x-vss-e2eid and x-msedge-ref
// as the service sends them. `verify(token)` tells the fake Entra whether a token came from here
// and is still valid; `state.issued` lists every token handed out.
//
// No machine-readable description of this endpoint is published: requests and answers are
// checked against tests/contracts/documented/devops-oidc.json (documented behaviour) by
// tests/fakes/contract.js.
'use strict';
const https = require('https');
const crypto = require('crypto');
const { makeTestCa } = require('./tls');
const { contractFor } = require('./contract');

function startOidc({ jobToken, connections = [], lifetime = 600 } = {}) {
  const tls = makeTestCa();
  const key = crypto.randomBytes(32);
  const state = { requests: [], issued: [] };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const contract = contractFor('oidc');
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const url = new URL(req.url, 'https://x');
    const auth = String(req.headers.authorization || '');
    const entry = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), bearerOk: auth === `Bearer ${jobToken}` };
    state.requests.push(entry);
    const send = (status, obj) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-vss-e2eid': crypto.randomUUID(), 'x-msedge-ref': `Ref A: ${crypto.randomBytes(8).toString('hex')}` });
      res.end(JSON.stringify(obj));
    };
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      contract.watch(res, contract.check(req, Buffer.concat(chunks)));
      if (req.method !== 'POST' || url.pathname !== '/oidc') return send(404, { message: 'not found' });
      if (url.searchParams.get('api-version') !== '7.1') return send(400, { message: 'The requested REST API version is not supported.', typeKey: 'VssVersionOutOfRangeException' });
      if (!entry.bearerOk) return send(401, { message: "TF400813: The user '' is not authorized to access this resource.", typeKey: 'UnauthorizedRequestException' });
      const id = url.searchParams.get('serviceConnectionId');
      if (!connections.includes(id)) return send(404, { message: `Service connection ${id} was not found or the pipeline is not authorized to use it.` });
      const now = Math.floor(Date.now() / 1000);
      const claims = { jti: crypto.randomUUID(), sub: `sc://example/project/${id}`, aud: 'api://AzureADTokenExchange', iss: 'https://vstoken.dev.azure.com/00000000-0000-0000-0000-0000000000aa', nbf: now, iat: now, exp: now + lifetime };
      const body = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(claims)}`;
      const token = `${body}.${crypto.createHmac('sha256', key).update(body).digest('base64url')}`;
      state.issued.push(token);
      send(200, { oidcToken: token });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      url: `https://127.0.0.1:${port}/oidc`,
      state,
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      verify(token) {
        const [h, c, sig] = String(token).split('.');
        if (!sig || crypto.createHmac('sha256', key).update(`${h}.${c}`).digest('base64url') !== sig) return false;
        const claims = JSON.parse(Buffer.from(c, 'base64url').toString());
        return claims.exp > Date.now() / 1000 && claims.aud === 'api://AzureADTokenExchange';
      },
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    });
  }));
}

module.exports = { startOidc };
