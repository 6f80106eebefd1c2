// AKS credentials through the Azure Resource Manager fake (arm-aks.js), held to Microsoft's API
// description, and the kubeconfigs it hands out used by the real kubectl against the Kubernetes
// fake: local accounts (client certificate, token), Entra clusters (exec kubelogin; a stand-in
// kubelogin gets the token from the Entra fake, as `kubelogin -l spn` would), and clusters
// that disable local accounts.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const https = require('https');
const YAML = require('yaml');
const { startEntra } = require('../fakes/entra');
const { startK8s } = require('../fakes/k8s');
const { startArmAks, AKS_SERVER_ID, STATIC_REFUSED } = require('../fakes/arm-aks');
const { requireKubectl, kubectl: run } = require('./k8s-fake-support');

const kubectl = (kubeconfig, args, env) => run(kubeconfig, args, { env });

const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const API = '2026-08-01';

test.before(requireKubectl);

function request(url, { method = 'GET', headers = {}, body, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function token(entra, scope, client = 'pipeline-sp') {
  const r = await request(`${entra.url}${TENANT}/oauth2/v2.0/token`, {
    method: 'POST', ca: fs.readFileSync(entra.caFile), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client, client_secret: `${client}-secret`, scope }).toString(),
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

/** A stand-in for kubelogin on PATH: client credentials against the Entra fake for --server-id. */
function fakeKubelogin() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-kubelogin-'));
  const f = path.join(dir, 'kubelogin');
  fs.writeFileSync(f, `#!/usr/bin/env node
'use strict';
const https = require('https');
const args = process.argv.slice(2);
const arg = (n) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
if (args[0] !== 'get-token' || !arg('--server-id') || !arg('--tenant-id')) { console.error('usage: kubelogin get-token --server-id ID --tenant-id T'); process.exit(2); }
require('fs').appendFileSync(process.env.FAKE_KUBELOGIN_LOG, JSON.stringify(args) + '\\n');
const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: process.env.AAD_SERVICE_PRINCIPAL_CLIENT_ID, client_secret: process.env.AAD_SERVICE_PRINCIPAL_CLIENT_SECRET, scope: arg('--server-id') + '/.default' }).toString();
const req = https.request(process.env.FAKE_ENTRA_URL + arg('--tenant-id') + '/oauth2/v2.0/token', { method: 'POST', ca: require('fs').readFileSync(process.env.FAKE_ENTRA_CA), headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
  let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => {
    if (res.statusCode !== 200) { console.error(t); process.exit(1); }
    const j = JSON.parse(t);
    process.stdout.write(JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1', spec: { interactive: false }, status: { token: j.access_token, expirationTimestamp: new Date(Date.now() + 3600e3).toISOString().replace(/\\.\\d+Z$/, 'Z') } }));
  });
});
req.end(body);
`, { mode: 0o755 });
  return { dir, log: path.join(dir, 'calls.log') };
}

async function world(clusters) {
  const entra = await startEntra({ clients: { 'pipeline-sp': { secret: 'pipeline-sp-secret', tenant: TENANT }, 'stranger-sp': { secret: 'stranger-sp-secret', tenant: TENANT } } });
  const k8s = await startK8s({ namespaces: ['default', 'flink'], entra, users: [{ name: 'pipeline-sp@entra', entraClient: 'pipeline-sp', rules: [{ verbs: ['get', 'list'], resources: ['namespaces'] }] }] });
  const arm = await startArmAks({ entra, k8s, clusters });
  const armToken = await token(entra, 'https://management.core.windows.net//.default');
  const call = (method, p, q = {}) => request(`${arm.url.replace(/\/$/, '')}${p}?${new URLSearchParams(q)}`, { method, ca: fs.readFileSync(arm.caFile), headers: { authorization: `Bearer ${armToken}` } });
  const close = async () => { await arm.close(); await k8s.close(); await entra.close(); };
  return { entra, k8s, arm, call, close };
}
const clusterPath = (rg, name) => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}`;
const decode = (r) => {
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.kubeconfigs.length, 1);
  return { name: r.body.kubeconfigs[0].name, config: YAML.parse(Buffer.from(r.body.kubeconfigs[0].value, 'base64').toString()) };
};
const writeKc = (config) => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fd-aks-kc-')), 'config');
  fs.writeFileSync(f, YAML.stringify(config), { mode: 0o600 });
  return f;
};

test('local-account cluster: the user credential is a certificate kubeconfig kubectl can use', async () => {
  const w = await world([{ subscriptionId: SUB, resourceGroup: 'rg-flink', name: 'aks-local' }]);
  try {
    const mc = await w.call('GET', clusterPath('rg-flink', 'aks-local'), { 'api-version': API });
    assert.equal(mc.status, 200);
    assert.equal(mc.body.properties.disableLocalAccounts, false);
    assert.equal(mc.body.properties.aadProfile, undefined);
    const { name, config } = decode(await w.call('POST', `${clusterPath('rg-flink', 'aks-local')}/listClusterUserCredential`, { 'api-version': API }));
    assert.equal(name, 'clusterUser');
    const user = config.users[0];
    assert.equal(user.name, 'clusterUser_rg-flink_aks-local');
    assert.ok(user.user['client-certificate-data'] && user.user['client-key-data'] && user.user.token);
    assert.equal(config.clusters[0].cluster.server, w.k8s.url);
    const r = await kubectl(writeKc(config), ['get', 'namespace', 'flink', '-o', 'jsonpath={.status.phase}']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Active');
    const admin = decode(await w.call('POST', `${clusterPath('rg-flink', 'aks-local')}/listClusterAdminCredential`, { 'api-version': API }));
    assert.equal(admin.name, 'clusterAdmin');
    assert.equal(admin.config.users[0].name, 'clusterAdmin_rg-flink_aks-local');
    assert.deepEqual(w.arm.state.violations, []);
    assert.deepEqual(w.arm.log.map((e) => e.operationId), ['ManagedClusters_Get', 'ManagedClusters_ListClusterUserCredentials', 'ManagedClusters_ListClusterAdminCredentials']);
  } finally { await w.close(); }
});

test('Entra cluster: exec kubelogin for the AKS server application; the API server takes Entra tokens for that audience only', async () => {
  const w = await world([{ subscriptionId: SUB, resourceGroup: 'rg-flink', name: 'aks-entra', entra: { tenantId: TENANT }, disableLocalAccounts: true }]);
  try {
    const mc = await w.call('GET', clusterPath('rg-flink', 'aks-entra'), { 'api-version': API });
    assert.deepEqual([mc.body.properties.aadProfile.managed, mc.body.properties.aadProfile.tenantID, mc.body.properties.disableLocalAccounts], [true, TENANT, true]);
    const { config } = decode(await w.call('POST', `${clusterPath('rg-flink', 'aks-entra')}/listClusterUserCredential`, { 'api-version': API, format: 'exec' }));
    const exec = config.users[0].user.exec;
    assert.equal(exec.command, 'kubelogin');
    assert.equal(exec.apiVersion, 'client.authentication.k8s.io/v1beta1');
    assert.equal(exec.args[exec.args.indexOf('--server-id') + 1], AKS_SERVER_ID);
    assert.equal(exec.args[exec.args.indexOf('--tenant-id') + 1], TENANT);
    assert.equal(config.users[0].user.token, undefined, 'no static secret in an Entra user credential');

    const kl = fakeKubelogin();
    const env = {
      PATH: `${kl.dir}:${process.env.PATH}`, FAKE_KUBELOGIN_LOG: kl.log, FAKE_ENTRA_URL: w.entra.url, FAKE_ENTRA_CA: w.entra.caFile,
      AAD_SERVICE_PRINCIPAL_CLIENT_ID: 'pipeline-sp', AAD_SERVICE_PRINCIPAL_CLIENT_SECRET: 'pipeline-sp-secret',
    };
    const kc = writeKc(config);
    const r = await kubectl(kc, ['get', 'namespace', 'flink', '-o', 'jsonpath={.metadata.name}'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'flink');
    assert.ok(fs.readFileSync(kl.log, 'utf8').includes(AKS_SERVER_ID));
    const seen = w.k8s.log.filter((e) => e.path === '/api/v1/namespaces/flink');
    assert.deepEqual(seen.map((e) => [e.auth, e.user]), [['entra', 'pipeline-sp@entra']]);
    assert.ok(w.entra.state.tokens.some((t) => t.scope === `${AKS_SERVER_ID}/.default`));
    // Kubernetes RBAC still applies to the Entra identity.
    const denied = await kubectl(kc, ['get', 'secrets', '-n', 'flink'], env);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /User "pipeline-sp@entra" cannot list resource "secrets" in API group "" in the namespace "flink"/);
    // An Entra identity the cluster does not know is authenticated but may do nothing.
    const stranger = await kubectl(kc, ['get', 'namespace', 'flink'], { ...env, AAD_SERVICE_PRINCIPAL_CLIENT_ID: 'stranger-sp', AAD_SERVICE_PRINCIPAL_CLIENT_SECRET: 'stranger-sp-secret' });
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /namespaces "flink" is forbidden: User "stranger-sp" cannot get resource "namespaces" in API group "" at the cluster scope/);

    // The ARM token is not a token for the API server.
    const armToken = w.entra.state.tokens.find((t) => /management/.test(t.scope)).token;
    const wrong = await kubectl(w.k8s.writeKubeconfig({ user: 'x', token: armToken }), ['get', 'namespace', 'flink']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /You must be logged in to the server/);

    // The deprecated azure auth-provider format on request.
    const az = decode(await w.call('POST', `${clusterPath('rg-flink', 'aks-entra')}/listClusterUserCredential`, { 'api-version': API, format: 'azure' }));
    assert.equal(az.config.users[0].user['auth-provider'].config['apiserver-id'], AKS_SERVER_ID);

    // Local accounts disabled: static credentials are refused, in ARM's words.
    const admin = await w.call('POST', `${clusterPath('rg-flink', 'aks-entra')}/listClusterAdminCredential`, { 'api-version': API });
    assert.equal(admin.status, 400);
    assert.deepEqual(admin.body, { error: { code: 'BadRequest', message: STATIC_REFUSED } });
    assert.deepEqual(w.arm.state.violations, []);
  } finally { await w.close(); }
});

test('requests are held to the API description: api-version, parameters, body; unknown clusters and tokens', async () => {
  const w = await world([{ subscriptionId: SUB, resourceGroup: 'rg-flink', name: 'aks-local' }]);
  try {
    const p = `${clusterPath('rg-flink', 'aks-local')}/listClusterUserCredential`;
    const noVersion = await w.call('POST', p);
    assert.equal(noVersion.status, 400);
    assert.equal(noVersion.body.error.code, 'MissingApiVersionParameter');
    const badFormat = await w.call('POST', p, { 'api-version': API, format: 'yaml' });
    assert.equal(badFormat.status, 400);
    assert.match(badFormat.body.error.message, /format 'yaml' is not one of azure, exec/);
    const adminFormat = await w.call('POST', `${clusterPath('rg-flink', 'aks-local')}/listClusterAdminCredential`, { 'api-version': API, format: 'exec' });
    assert.equal(adminFormat.status, 400, 'format belongs to the user credential only');
    const badName = await w.call('POST', `${clusterPath('rg-flink', 'aks_local!')}/listClusterUserCredential`, { 'api-version': API });
    assert.equal(badName.status, 400);
    const badSub = await w.call('POST', `/subscriptions/not-a-guid/resourceGroups/rg-flink/providers/Microsoft.ContainerService/managedClusters/aks-local/listClusterUserCredential`, { 'api-version': API });
    assert.equal(badSub.status, 400);
    assert.match(badSub.body.error.message, /subscriptionId 'not-a-guid' is not a UUID/);
    assert.equal(w.arm.state.violations.length, 5, w.arm.state.violations.join('\n'));

    const missing = await w.call('POST', `${clusterPath('rg-flink', 'nope')}/listClusterUserCredential`, { 'api-version': API });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'ResourceNotFound');
    const rg = await w.call('GET', clusterPath('rg-other', 'aks-local'), { 'api-version': API });
    assert.equal(rg.body.error.code, 'ResourceGroupNotFound');
    const body = await request(`${w.arm.url.replace(/\/$/, '')}${p}?api-version=${API}`, { method: 'POST', ca: fs.readFileSync(w.arm.caFile), headers: { authorization: `Bearer ${await token(w.entra, 'https://management.azure.com/.default')}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(body.status, 400);
    assert.match(body.body.error.message, /takes no request body/);

    const aksToken = await token(w.entra, `${AKS_SERVER_ID}/.default`);
    const wrongAudience = await request(`${w.arm.url.replace(/\/$/, '')}${p}?api-version=${API}`, { method: 'POST', ca: fs.readFileSync(w.arm.caFile), headers: { authorization: `Bearer ${aksToken}` } });
    assert.equal(wrongAudience.status, 401);
    assert.equal(wrongAudience.body.error.code, 'InvalidAuthenticationToken');
  } finally { await w.close(); }
});
