// Fake Microsoft Entra ID token endpoint (OAuth 2.0 client credentials), over HTTPS.
//
// POST /{tenant}/oauth2/v2.0/token  (application/x-www-form-urlencoded)
//   grant_type=client_credentials, client_id, scope, and either client_secret or
//   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer + client_assertion
// -> 200 {"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"..."}
// Errors follow Entra's shape: 400/401 {"error":"invalid_client","error_description":"AADSTS7000215: ...",
// "error_codes":[7000215],"trace_id":"...","correlation_id":"..."}.
//
// `verifyCertificateAssertion` checks a certificate client assertion the way Entra does
// (RFC 7523: RS256 signature by the registered certificate's key, x5t = its SHA-1 thumbprint,
// aud = the token endpoint, iss = sub = client id, within nbf/exp).
//
// Microsoft publishes no machine-readable description of this endpoint; requests and answers are
// checked against tests/contracts/documented/entra-token.json, written from the documented
// behaviour (form fields, grant type, content type, answer and error shapes), plus the rules
// Swagger cannot state (a secret or an assertion, not both) in tests/fakes/contract.js.
'use strict';
const https = require('https');
const crypto = require('crypto');
const { makeTestCa } = require('./tls');
const { contractFor } = require('./contract');

/**
 * Start the fake. `clients` maps client id -> {secret?, assertion?(value)->bool, tenant}.
 * Issued tokens are `fake-entra-<n>-<scope>` (or JWT-shaped with `jwt: true`); `tokens` records
 * each issued token with its scope.
 */
function startEntra({ clients = {}, tokenLifetime = 3599, jwt = false } = {}) {
  const tls = makeTestCa();
  const state = { requests: [], tokens: [], counter: 0, failNext: [] };
  const contract = contractFor('entra');
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      contract.watch(res, contract.check(req, Buffer.concat(chunks)));
      const url = new URL(req.url, 'https://localhost');
      const form = Object.fromEntries(new URLSearchParams(body));
      const digest = (v) => (v ? crypto.createHash('sha256').update(v).digest('hex').slice(0, 16) : undefined);
      state.requests.push({
        method: req.method,
        path: url.pathname,
        form: { ...form, client_secret: form.client_secret ? '<redacted>' : undefined, client_assertion: digest(form.client_assertion) },
      });
      const send = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': `req-${state.requests.length}` });
        res.end(JSON.stringify(obj));
      };
      const fail = state.failNext.shift();
      if (fail) res.contractSkip = !!fail.body;
      if (fail) return send(fail.status, fail.body || { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' });
      const m = url.pathname.match(/^\/([^/]+)\/oauth2\/v2\.0\/token$/);
      if (req.method !== 'POST' || !m) return send(404, { error: 'not_found' });
      const tenant = decodeURIComponent(m[1]);
      const client = clients[form.client_id];
      const err = (code, desc) => send(code === 7000215 || code === 700016 ? 401 : 400, {
        error: code === 700016 ? 'unauthorized_client' : 'invalid_client', error_description: `AADSTS${code}: ${desc}`,
        error_codes: [code], trace_id: 'trace-fake', correlation_id: 'corr-fake',
      });
      if (form.grant_type !== 'client_credentials') return send(400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003: grant type not supported' });
      if (!form.scope || !/\/\.default$/.test(form.scope)) return send(400, { error: 'invalid_scope', error_description: 'AADSTS70011: The provided value for the input parameter scope is not valid.' });
      if (!client || (client.tenant && client.tenant !== tenant)) return err(700016, `Application with identifier '${form.client_id}' was not found in the directory '${tenant}'.`);
      if (form.client_secret !== undefined) {
        if (client.secret !== form.client_secret) return err(7000215, 'Invalid client secret provided.');
      } else if (form.client_assertion !== undefined) {
        if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return err(7000216, 'client_assertion_type is invalid');
        if (!client.assertion || !client.assertion(form.client_assertion)) return err(700027, 'Client assertion failed signature validation.');
      } else {
        return err(7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
      }
      const n = ++state.counter;
      // `jwt`: shaped like Entra's access tokens (unsigned here), for services such as Azurite
      // that read the claims.
      const token = jwt
        ? [{ typ: 'JWT', alg: 'RS256' }, {
          aud: form.scope.replace(/\/\.default$/, ''), iss: `https://sts.windows.net/${tenant}/`, tid: tenant, appid: form.client_id,
          oid: '22222222-2222-2222-2222-222222222222', iat: Math.floor(Date.now() / 1000), nbf: Math.floor(Date.now() / 1000) - 60,
          exp: Math.floor(Date.now() / 1000) + tokenLifetime, jti: `fake-entra-${n}`,
        }].map((o) => Buffer.from(JSON.stringify(o)).toString('base64url')).join('.') + '.' + crypto.randomBytes(16).toString('base64url')
        : `fake-entra-${n}-${form.scope.replace(/[^a-z0-9.]/gi, '_')}`;
      state.tokens.push({ token, scope: form.scope, client: form.client_id });
      send(200, { token_type: 'Bearer', expires_in: tokenLifetime, ext_expires_in: tokenLifetime, access_token: token });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      url: `https://127.0.0.1:${port}/`,
      caFile: tls.caFile,
      state,
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      /** True if `token` was issued for `scope`. */
      valid: (token, scope) => state.tokens.some((t) => t.token === token && (!scope || t.scope === scope)),
      close: () => new Promise((r) => server.close(r)),
    });
  }));
}

/** A validator for `clients[id].assertion`: a JWT signed by the key of `certPem`. */
function verifyCertificateAssertion({ certPem, clientId, audience, onReject = () => {} }) {
  const cert = new crypto.X509Certificate(certPem);
  const x5t = crypto.createHash('sha1').update(cert.raw).digest('base64url');
  return (jwt) => {
    const reject = (why) => { onReject(why); return false; };
    const [h, c, sig] = String(jwt).split('.');
    if (!sig) return reject('not a JWT');
    let header; let claims;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(c, 'base64url').toString());
    } catch (e) { return reject('not JSON'); }
    if (header.alg !== 'RS256') return reject(`alg ${header.alg}`);
    if (header.x5t !== x5t) return reject('x5t does not name the registered certificate');
    if (!crypto.verify('RSA-SHA256', Buffer.from(`${h}.${c}`), cert.publicKey, Buffer.from(sig, 'base64url'))) return reject('bad signature');
    const now = Date.now() / 1000;
    if (claims.aud !== audience) return reject(`aud ${claims.aud}`);
    if (claims.iss !== clientId || claims.sub !== clientId) return reject('iss/sub');
    if (!(claims.exp > now) || !(claims.nbf <= now + 300)) return reject('outside nbf/exp');
    if (!claims.jti) return reject('no jti');
    return true;
  };
}

module.exports = { startEntra, verifyCertificateAssertion };
