// Sign-in from the AzureRM service connection, through the packaged task and the agent
// emulator, for every scheme: client secret, certificate, workload identity federation (the
// Azure DevOps OIDC exchange) and managed identity. Each run reads one Key Vault secret in a
// `validate`, which needs a token for the vault's scope; the fakes check the credentials the way
// the real services do, and only tokens they issued open the vault. The validate also plans the
// deployment against the Ververica Platform fake, reached through the same proxy.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { run, scratch, assertNoSecrets } = require('./helpers');
const { startEntra, verifyCertificateAssertion } = require('../fakes/entra');
const { startKeyVault } = require('../fakes/keyvault');
const { startProxy } = require('../fakes/proxy');
const { startVvp } = require('../fakes/vvp');
const { startOidc } = require('../fakes/oidc');
const { startImds } = require('../fakes/imds');
const { makeTestCa } = require('../fakes/tls');
const { CONN, CLIENT, TENANT, azureRm } = require('./azure-support');

const SECRET = 'spn-secret~Auth.2';
const JOB_TOKEN = 'job-access-token-wif-3f9';
const MSI_CLIENT = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const VVP_TOKEN = 'vvp-auth-token-2b9d';

let imds;
let oidc;
let kv;
let proxy;
let vvp;
let cert;
let otherCert;

function makeCert(name) {
  const dir = scratch('fd-cert-');
  const key = path.join(dir, 'key.pem');
  const crt = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
  const certPem = fs.readFileSync(crt, 'utf8');
  const keyPem = fs.readFileSync(key, 'utf8');
  // The agent passes the PEM with certificate and key, as Azure DevOps stores it.
  return { certPem, keyPem, pem: certPem + keyPem };
}

test.before(async () => {
  cert = makeCert('flink-deploy test app');
  otherCert = makeCert('not registered');
  imds = await startImds({ identities: [MSI_CLIENT], systemAssigned: false });
  oidc = await startOidc({ jobToken: JOB_TOKEN, connections: [CONN] });
  kv = await startKeyVault({
    validToken: (t, scope) => entras.some((e) => e.valid(t, scope)) || imds.valid(t, scope),
    vaults: { kv1: { secrets: { plain: { value: 'plain-auth-value' } } } },
  });
  proxy = await startProxy({ routes: { '*.vault.azure.net:443': kv.port } });
  vvp = await startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }] });
});

test.after(async () => {
  await Promise.all([imds?.close(), oidc?.close(), kv?.close(), proxy?.close(), vvp?.close()]);
});

// Tokens live 120 s, inside the SDK's 5-minute refresh window, so every token request goes to
// the token endpoint and can be counted.
const entras = [];

/** A fresh Entra fake for one test (the registered clients differ per scheme). */
async function withEntra(clients, fn) {
  const e = await startEntra({ tokenLifetime: 120, clients });
  entras.push(e);
  try {
    return await fn(e);
  } finally {
    await e.close();
  }
}

function runAuth({ endpoints, variables = {}, env = {}, accessToken } = {}) {
  return run({
    inputs: {
      target: 'ververica', action: 'validate', vvpUrl: vvp.url, vvpApiToken: '$(vvpApiToken)', deploymentName: 'job', deploymentTargetName: 'vvp-jobs',
      jarUri: 'wasbs://jars@authtest.blob.core.windows.net/artifacts/namespaces/default/job.jar',
      azureSubscription: CONN, keyVaultName: 'kv1', secretsFilter: 'plain',
    },
    secrets: { vvpApiToken: VVP_TOKEN },
    endpoints,
    accessToken,
    variables: {
      'Agent.CAInfo': makeTestCa().caFile,
      'Agent.ProxyUrl': proxy.url,
      ...variables,
    },
    env,
  });
}

const readThePlainSecret = (r) => r.command('task.setsecret').some((c) => c.message === 'plain-auth-value');

test('client secret: signs in, reads the vault; a wrong secret gets Entra\'s code and the fix', async () => {
  await withEntra({ [CLIENT]: { secret: SECRET, tenant: TENANT } }, async (e) => {
    const r = await runAuth({ endpoints: azureRm({ params: { serviceprincipalkey: SECRET }, authority: e.url }) });
    assert.equal(r.exitCode, 0, r.log);
    assert.ok(readThePlainSecret(r));
    assert.ok(e.state.tokens.some((t) => t.scope === 'https://vault.azure.net/.default'));
    assert.match(r.stdout, /create \(POST\) deployment `job` in namespace `default`/, 'the deployment was planned against Ververica Platform');
    assert.deepEqual(vvp.writes(), [], 'validate writes nothing');
    assertNoSecrets(assert, r, [SECRET, VVP_TOKEN, ...e.state.tokens.map((t) => t.token)]);

    const before = kv.state.requests.filter((q) => q.bearer).length;
    const bad = await runAuth({ endpoints: azureRm({ params: { serviceprincipalkey: 'wrong-secret-x' }, authority: e.url }) });
    assert.equal(bad.exitCode, 1, bad.log);
    assert.equal(bad.errors.length, 1);
    const m = bad.errors[0].message;
    assert.match(m, new RegExp(`sign-in with service connection \`${CONN}\` \\(service principal with a client secret\\) failed`));
    assert.match(m, /AADSTS7000215: Invalid client secret provided\. \(HTTP 401, request id req-\d+, correlation id corr-fake\)/);
    assert.match(m, /hint: the client secret is wrong or has expired/);
    assert.equal(kv.state.requests.filter((q) => q.bearer).length, before, 'no request reached the vault with a token');
    assertNoSecrets(assert, bad, ['wrong-secret-x']);
  });
});

test('certificate: the assertion is signed by the PEM\'s key and names the registered certificate', async () => {
  const reasons = [];
  const assertion = (url) => verifyCertificateAssertion({ certPem: cert.certPem, clientId: CLIENT, audience: `${url}${TENANT}/oauth2/v2.0/token`, onReject: (w) => reasons.push(w) });
  // The audience is the fake's own token endpoint, known once it listens.
  const clients = {};
  await withEntra(clients, async (e) => {
    clients[CLIENT] = { tenant: TENANT, assertion: assertion(e.url) };
    const ep = (pem) => azureRm({ params: { authenticationType: 'spnCertificate', servicePrincipalCertificate: pem }, authority: e.url });
    const r = await runAuth({ endpoints: ep(cert.pem) });
    assert.equal(r.exitCode, 0, `${r.log}\n${reasons.join('\n')}`);
    assert.ok(readThePlainSecret(r));
    assert.ok(e.state.requests.length > 0);
    assert.ok(e.state.requests.every((q) => q.form.client_assertion_type === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'));
    const keyLines = cert.keyPem.split('\n').filter((l) => l.length > 40);
    assertNoSecrets(assert, r, [cert.pem, VVP_TOKEN, ...keyLines]);

    const bad = await runAuth({ endpoints: ep(otherCert.pem) });
    assert.equal(bad.exitCode, 1, bad.log);
    assert.match(bad.errors[0].message, /service principal with a certificate\) failed: AADSTS700027/);
    assert.match(bad.errors[0].message, /hint: the certificate is not registered on the app registration/);
    assert.ok(reasons.some((w) => /x5t/.test(w)), reasons.join());

    const broken = await runAuth({ endpoints: ep(cert.certPem) });
    assert.equal(broken.exitCode, 2, broken.log);
    assert.match(broken.errors[0].message, /input `azureSubscription`: .*servicePrincipalCertificate: the PEM has no private key/);
  });
});

test('workload identity federation: a fresh Azure DevOps OIDC token for every Entra token', async () => {
  await withEntra({ [CLIENT]: { tenant: TENANT, assertion: (t) => oidc.verify(t) } }, async (e) => {
    const issuedBefore = oidc.state.issued.length;
    const r = await runAuth({
      endpoints: azureRm({ scheme: 'WorkloadIdentityFederation', authority: e.url }),
      variables: { 'System.OidcRequestUri': oidc.url },
      accessToken: JOB_TOKEN,
    });
    assert.equal(r.exitCode, 0, r.log);
    assert.ok(readThePlainSecret(r));
    const issued = oidc.state.issued.slice(issuedBefore);
    const assertions = e.state.requests.map((q) => q.form.client_assertion);
    assert.ok(issued.length >= 2, `tokens live 120 s, so each token request needs a new assertion (${issued.length})`);
    assert.equal(assertions.length, issued.length, 'one OIDC token per Entra token request');
    assert.equal(new Set(assertions).size, assertions.length, 'no assertion is reused');
    const q = oidc.state.requests[oidc.state.requests.length - 1];
    assert.equal(q.query['api-version'], '7.1');
    assert.equal(q.query.serviceConnectionId, CONN);
    assert.ok(q.bearerOk, 'the job access token is the bearer');
    assertNoSecrets(assert, r, [JOB_TOKEN, VVP_TOKEN, ...issued, ...e.state.tokens.map((t) => t.token)]);

    const bad = await runAuth({
      endpoints: azureRm({ scheme: 'WorkloadIdentityFederation', authority: e.url }),
      variables: { 'System.OidcRequestUri': oidc.url },
      accessToken: 'not-the-job-token',
    });
    assert.equal(bad.exitCode, 1, bad.log);
    assert.match(bad.errors[0].message, /workload identity federation\) failed: .*401/);
    assert.match(bad.errors[0].message, /Azure DevOps OIDC endpoint .* refused the federated token request: .*TF400813.*\(HTTP 401, request id [0-9a-f-]{36}\)/);
    assert.match(bad.errors[0].message, /hint: check that the pipeline is authorized to use this service connection/);
  });
});

test('managed identity: the user-assigned identity named by msiclientId', async () => {
  const env = { IDENTITY_ENDPOINT: imds.endpoint, IDENTITY_HEADER: imds.header };
  const ep = (id) => azureRm({ scheme: 'ManagedServiceIdentity', params: { tenantid: TENANT }, data: { msiclientId: id } });
  const r = await runAuth({ endpoints: ep(MSI_CLIENT), env });
  assert.equal(r.exitCode, 0, r.log);
  assert.ok(readThePlainSecret(r));
  const q = imds.state.requests[imds.state.requests.length - 1];
  assert.equal(q.query.client_id, MSI_CLIENT);
  assert.equal(q.query.resource, 'https://vault.azure.net');
  assert.equal(q.metadata, 'true');
  assertNoSecrets(assert, r, [imds.header, VVP_TOKEN, ...imds.state.tokens.map((t) => t.token)]);

  const bad = await runAuth({ endpoints: ep('00000000-0000-0000-0000-0000000000ff'), env });
  assert.equal(bad.exitCode, 1, bad.log);
  assert.match(bad.errors[0].message, /managed identity\) failed: .*Identity not found|has not been assigned/);
  assert.match(bad.errors[0].message, /msiclientId is not assigned/);
});

test('without the agent\'s CA file the fakes\' certificates are refused, naming the host', async () => {
  await withEntra({ [CLIENT]: { secret: SECRET, tenant: TENANT } }, async (e) => {
    const r = await runAuth({ endpoints: azureRm({ params: { serviceprincipalkey: SECRET }, authority: e.url }), variables: { 'Agent.CAInfo': '' } });
    assert.equal(r.exitCode, 1, r.log);
    const host = new URL(e.url).host;
    assert.match(r.errors[0].message, new RegExp(`${host.replace(/\./g, '\\.')} through proxy http://127\\.0\\.0\\.1`));
    assert.match(r.errors[0].message, /TLS certificate not trusted/);
    assert.match(r.errors[0].message, /hint: .*Agent\.CAInfo/);
    assert.equal(e.state.requests.length, 0, 'no request reached the token endpoint');
  });
});
