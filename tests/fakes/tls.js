// A throw-away certificate authority and a server certificate for 127.0.0.1/localhost, made
// with the openssl command line, so HTTPS fakes can be trusted through AGENT_CAINFO exactly as
// an agent's own CA bundle would be. `serverCert(names)` issues further certificates from the
// same CA, e.g. for `*.vault.azure.net` when a fake stands behind a proxy under a real host name.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

let cached;
const issued = new Map();

const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function makeTestCa() {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-test-ca-'));
  const f = (n) => path.join(dir, n);
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=flink-deploy test CA',
    '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const server = issue(dir, 'server', ['DNS:localhost', 'IP:127.0.0.1']);
  cached = {
    dir,
    caFile: f('ca.pem'),
    ca: fs.readFileSync(f('ca.pem')),
    key: server.key,
    cert: server.cert,
  };
  return cached;
}

function issue(dir, name, sans) {
  const f = (n) => path.join(dir, n);
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${sans[0].replace(/^(DNS|IP):/, '')}`,
    '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
  fs.writeFileSync(f(`${name}.cnf`), `subjectAltName=${sans.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-out', f(`${name}.pem`), '-extfile', f(`${name}.cnf`));
  return { key: fs.readFileSync(f(`${name}.key`)), cert: fs.readFileSync(f(`${name}.pem`)) };
}

/** A key and certificate from the test CA for these DNS names (plus localhost and 127.0.0.1). */
function serverCert(names) {
  const ca = makeTestCa();
  const key = names.join(',');
  if (!issued.has(key)) {
    const sans = ['DNS:localhost', 'IP:127.0.0.1', ...names.map((n) => `DNS:${n}`)];
    issued.set(key, issue(ca.dir, `server-${issued.size + 1}`, sans));
  }
  return { ...issued.get(key), caFile: ca.caFile };
}

module.exports = { makeTestCa, serverCert };
