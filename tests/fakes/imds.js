// Fake managed identity token endpoint, over HTTPS.
//
// Azure VMs serve tokens from IMDS at http://169.254.169.254/metadata/identity/oauth2/token;
// App Service and similar hosts publish the same protocol at IDENTITY_ENDPOINT with a per-host
// secret in IDENTITY_HEADER. The SDK's ManagedIdentityCredential uses the second form when those
// variables are set, which is how a test reaches this fake (a link-local address cannot be
// served locally).
//
//   GET /metadata/identity/oauth2/token?api-version=2019-08-01&resource=<uri>[&client_id=<id>]
//   Metadata: true                       (IMDS)
//   X-IDENTITY-HEADER: <secret>          (IDENTITY_ENDPOINT hosts)
//   -> 200 {"access_token","client_id","expires_in","expires_on","ext_expires_in","not_before",
//           "resource","token_type":"Bearer"}   (numbers as strings, as IMDS sends them)
//   -> 400 {"error":"invalid_request","error_description":"Identity not found"} for an unknown
//      or unassigned identity; 400 without the Metadata header.
//
// Requests and answers are checked against Microsoft's IMDS description (Identity_GetToken,
// 2023-07-01: Metadata header, resource and api-version, the token answer with its numbers as
// strings, the error codes) by tests/fakes/contract.js. The IDENTITY_ENDPOINT form adds the
// X-IDENTITY-HEADER secret (App Service's documented protocol, not in that description); the
// fake checks it itself.
'use strict';
const https = require('https');
const crypto = require('crypto');
const { makeTestCa } = require('./tls');
const { contractFor } = require('./contract');

/** `identities`: client ids assigned to the "VM"; `systemAssigned`: whether it has one too. */
function startImds({ identities = [], systemAssigned = true, header = crypto.randomBytes(12).toString('hex') } = {}) {
  const tls = makeTestCa();
  const state = { requests: [], tokens: [] };
  const contract = contractFor('imds');
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const url = new URL(req.url, 'https://x');
    const q = Object.fromEntries(url.searchParams);
    const entry = { method: req.method, path: url.pathname, query: q, metadata: req.headers.metadata, identityHeaderOk: req.headers['x-identity-header'] === header };
    state.requests.push(entry);
    const send = (status, obj) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(obj));
    };
    const bad = (d) => send(400, { error: 'invalid_request', error_description: d });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      contract.watch(res, contract.check(req, Buffer.concat(chunks)));
      if (req.method !== 'GET' || url.pathname !== '/metadata/identity/oauth2/token') return send(404, { error: 'not_found' });
      if (String(req.headers.metadata).toLowerCase() !== 'true') return bad('Required metadata header not specified');
      if (!entry.identityHeaderOk) return send(401, { error: 'unauthorized_client', error_description: 'X-IDENTITY-HEADER is missing or wrong' });
      if (!q['api-version']) return bad('Required query variable \'api-version\' is missing');
      if (!q.resource) return bad('Required query variable \'resource\' is missing');
      const id = q.client_id || (systemAssigned ? 'system-assigned' : null);
      if (!id || (q.client_id && !identities.includes(q.client_id))) return bad('Identity not found');
      const now = Math.floor(Date.now() / 1000);
      const token = `fake-imds-${state.tokens.length + 1}-${crypto.randomBytes(6).toString('hex')}`;
      state.tokens.push({ token, resource: q.resource, client: id });
      send(200, { access_token: token, client_id: id, expires_in: '86399', expires_on: String(now + 86399), ext_expires_in: '86399', not_before: String(now), resource: q.resource, token_type: 'Bearer' });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      endpoint: `https://127.0.0.1:${port}/metadata/identity/oauth2/token`,
      header,
      state,
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      valid: (token, scope) => state.tokens.some((t) => t.token === token && (!scope || scope === t.resource || scope === `${t.resource}/.default`)),
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    });
  }));
}

module.exports = { startImds };
