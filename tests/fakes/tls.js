// A throw-away certificate authority and a server certificate for 127.0.0.1/localhost, made
// with the openssl command line, so HTTPS fakes can be trusted through AGENT_CAINFO exactly as
// an agent's own CA bundle would be.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

let cached;

function makeTestCa() {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-test-ca-'));
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=flink-deploy test CA',
    '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr'));
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-out', f('server.pem'), '-extfile', f('ext.cnf'));
  cached = {
    dir,
    caFile: f('ca.pem'),
    ca: fs.readFileSync(f('ca.pem')),
    key: fs.readFileSync(f('server.key')),
    cert: fs.readFileSync(f('server.pem')),
  };
  return cached;
}

module.exports = { makeTestCa };
