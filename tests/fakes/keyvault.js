// Fake Azure Key Vault secrets data plane over HTTPS, written from the REST reference
// (https://learn.microsoft.com/rest/api/keyvault/secrets): one server holds several vaults and
// picks the vault from the Host header (`<vault>.vault.azure.net`), as the service does. Tests
// reach it under the real host name through tests/fakes/proxy.js.
//
//   GET /secrets?api-version=V[&maxresults=N][&$skiptoken=T]
//       -> 200 {"value":[{"id":"https://<host>/secrets/<name>","attributes":{...},"tags":{}}],
//               "nextLink":"https://<host>:443/secrets?api-version=V&$skiptoken=...&maxresults=N"|null}
//   GET /secrets/<name>[/<version>]?api-version=V
//       -> 200 {"value":"...","id":"https://<host>/secrets/<name>/<version>","attributes":{...}}
//       -> 404 SecretNotFound; 403 Forbidden/SecretDisabled for a disabled secret
// Authentication is the challenge flow: a request without a valid bearer token gets 401 with
// `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
// resource="https://vault.azure.net"`. Denials reproduce the service's two permission models
// (Azure RBAC: innererror ForbiddenByRbac; access policies: innererror AccessDenied) and its
// firewall (ForbiddenByFirewall). Throttling answers 429 with Retry-After.
//
// `fault({vault?, path?, times?, status?, retryAfter?, delayMs?, reset?, resetMidBody?, truncate?})`
// makes the next matching authenticated requests fail the way a network or the service can:
// an error status (500/503 bursts), an answer held back for `delayMs`, a connection closed before
// any answer, a connection closed after half of a 200 body, or a complete 200 whose JSON is cut.
//
// Every request is logged in `state.requests` (without the Authorization value), and checked,
// with its answer, against Microsoft's description of the secrets API (2025-07-01, the version
// the Azure SDK asks for) by tests/fakes/contract.js; injected faults are not checked.
'use strict';
const https = require('https');
const crypto = require('crypto');
const { serverCert } = require('./tls');
const { contractFor } = require('./contract');

const RESOURCE = 'https://vault.azure.net';
const SUFFIX = 'vault.azure.net';

/**
 * `vaults`: {name: {secrets: {name: {value, enabled?, exp?, nbf?, contentType?}},
 *             deny?: {model: 'rbac'|'accessPolicy'|'firewall', ops: ['list','get']},
 *             throttle?: {count, retryAfter}}}
 * `validToken(token, scope)`: whether a bearer token was issued for the scope.
 */
function startKeyVault({ vaults = {}, validToken = () => false, tenant = 'tenant-1', pageSize = 25 } = {}) {
  const tls = serverCert([`*.${SUFFIX}`]);
  const state = { requests: [], vaults, faults: [] };
  const timers = new Set();
  const contract = contractFor('keyvault');
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const url = new URL(req.url, 'https://x');
    const host = String(req.headers.host || '').replace(/:443$/, '');
    const vaultName = host.endsWith(`.${SUFFIX}`) ? host.slice(0, -SUFFIX.length - 1) : null;
    const auth = String(req.headers.authorization || '');
    const entry = { method: req.method, host, path: url.pathname, query: Object.fromEntries(url.searchParams), bearer: auth.startsWith('Bearer '), at: Date.now() };
    state.requests.push(entry);
    const send = (status, body, headers = {}) => {
      entry.status = status;
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-ms-request-id': crypto.randomUUID(),
        'x-ms-keyvault-service-version': '1.9.1.0',
        'x-ms-keyvault-region': 'westeurope',
        ...headers,
      });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const error = (status, code, message, inner, headers) =>
      send(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      contract.watch(res, contract.check(req, Buffer.concat(chunks)));
      const vault = vaultName && vaults[vaultName];
      if (!vault) return error(404, 'VaultNotFound', `The vault ${host} does not exist.`);
      if (!url.searchParams.get('api-version')) return error(400, 'BadParameter', 'The request URI contains an invalid api-version: missing');
      const challenge = { 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="${RESOURCE}"` };
      if (!auth.startsWith('Bearer ')) return error(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', null, challenge);
      if (!validToken(auth.slice(7), `${RESOURCE}/.default`)) return error(401, 'Unauthorized', 'AKV10032: Invalid issuer. Expected one of https://sts.windows.net/..., found unknown.', null, challenge);
      const fi = state.faults.findIndex((f) => (!f.vault || f.vault === vaultName) && (!f.path || f.path.test(url.pathname)));
      if (fi >= 0) {
        const f = state.faults[fi];
        if (--f.times <= 0) state.faults.splice(fi, 1);
        res.contractSkip = true;
        const inject = () => {
          if (f.reset) { entry.status = 'reset'; entry.fault = 'reset'; req.socket.destroy(); return; }
          if (f.resetMidBody) {
            entry.status = 'reset mid-body'; entry.fault = 'reset mid-body';
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '400' });
            res.write('{"value":"half of a sec');
            const t = setTimeout(() => { timers.delete(t); req.socket.destroy(); }, 20);
            timers.add(t);
            return;
          }
          if (f.truncate) { entry.fault = 'truncated'; entry.status = 200; res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }); res.end('{"value":"half of a sec'); return; }
          entry.fault = f.status;
          const headers = f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {};
          error(f.status, { 429: 'Throttled', 503: 'ServiceUnavailable' }[f.status] || 'InternalServerError', `injected HTTP ${f.status}`, null, headers);
        };
        if (f.delayMs) { const t = setTimeout(() => { timers.delete(t); inject(); }, f.delayMs); timers.add(t); } else inject();
        return undefined;
      }
      if (vault.throttle && vault.throttle.count > 0) {
        vault.throttle.count--;
        return error(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached', null, { 'retry-after': String(vault.throttle.retryAfter ?? 1) });
      }
      const m = url.pathname.match(/^\/secrets(?:\/([^/]+)(?:\/([^/]*))?)?\/?$/);
      if (req.method !== 'GET' || !m) return error(405, 'BadParameter', `The method ${req.method} is not allowed on ${url.pathname}.`);
      const op = m[1] ? 'get' : 'list';
      const deny = vault.deny && vault.deny.ops.includes(op) ? vault.deny.model : null;
      const action = op === 'get' ? 'getSecret/action' : 'readMetadata/action';
      const resourceId = `/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-pipelines/providers/microsoft.keyvault/vaults/${vaultName}${m[1] ? `/secrets/${m[1]}` : ''}`;
      if (deny === 'rbac') {
        return error(403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=11111111-1111-1111-1111-111111111111;oid=22222222-2222-2222-2222-222222222222;iss=https://sts.windows.net/${tenant}/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${action}'\r\nResource: '${resourceId}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: ${vaultName};location=westeurope\r\n`, 'ForbiddenByRbac');
      }
      if (deny === 'accessPolicy') {
        return error(403, 'Forbidden', `The user, group or application 'appid=11111111-1111-1111-1111-111111111111;oid=22222222-2222-2222-2222-222222222222;iss=https://sts.windows.net/${tenant}/' does not have secrets ${op} permission on key vault '${vaultName};location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`, 'AccessDenied');
      }
      if (deny === 'firewall') {
        return error(403, 'Forbidden', `Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\nCaller: appid=11111111-1111-1111-1111-111111111111\r\nVault: ${vaultName};location=westeurope`, 'ForbiddenByFirewall');
      }
      const base = `https://${host}`;
      const attrs = (s) => ({
        enabled: s.enabled !== false,
        ...(s.nbf ? { nbf: s.nbf } : {}),
        ...(s.exp ? { exp: s.exp } : {}),
        created: 1700000000,
        updated: 1700000000,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      });
      if (op === 'list') {
        const names = Object.keys(vault.secrets).sort();
        const max = Math.min(Number(url.searchParams.get('maxresults')) || pageSize, pageSize);
        const skip = Number(Buffer.from(url.searchParams.get('$skiptoken') || 'MA==', 'base64').toString()) || 0;
        const page = names.slice(skip, skip + max).map((name) => {
          const s = vault.secrets[name];
          return { id: `${base}/secrets/${name}`, attributes: attrs(s), ...(s.contentType ? { contentType: s.contentType } : {}), tags: {} };
        });
        const more = skip + max < names.length;
        const next = more ? `${base}:443/secrets?api-version=${url.searchParams.get('api-version')}&$skiptoken=${encodeURIComponent(Buffer.from(String(skip + max)).toString('base64'))}&maxresults=${max}` : null;
        // The description has nextLink as a string and no x-nullable: the last page has none.
        return send(200, { value: page, ...(next ? { nextLink: next } : {}) });
      }
      const name = Object.keys(vault.secrets).find((k) => k.toLowerCase() === decodeURIComponent(m[1]).toLowerCase());
      if (!name) return error(404, 'SecretNotFound', `A secret with (name/id) ${m[1]} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
      const s = vault.secrets[name];
      if (s.enabled === false) return error(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
      const version = crypto.createHash('md5').update(name).digest('hex');
      return send(200, { value: s.value, id: `${base}/secrets/${name}/${version}`, attributes: attrs(s), ...(s.contentType ? { contentType: s.contentType } : {}), tags: {} });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      port,
      state,
      caFile: tls.caFile,
      /** Requests that reached a vault's secrets (not the unauthenticated challenge). */
      authorized: (vault) => state.requests.filter((r) => r.bearer && r.host.startsWith(`${vault}.`)),
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      /** The next matching requests fail; see the header. */
      fault: (f) => state.faults.push({ times: 1, ...f }),
      close: () => new Promise((r) => { for (const t of timers) clearTimeout(t); server.closeAllConnections(); server.close(r); }),
    });
  }));
}

module.exports = { startKeyVault, KEY_VAULT_SUFFIX: SUFFIX };
