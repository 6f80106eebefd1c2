// Fake Azure Resource Manager for AKS managed clusters, over HTTPS (test CA from tls.js): the
// cluster credential operations and the cluster itself, as Microsoft's API description
// (managedClusters.json 2026-08-01, tests/fixtures/aks/) describes them. Every request is checked
// against its operation and every answer against its response schema (arm-aks-contract.js);
// violations are recorded in `state.violations` (a test asserts there are none) and answered
// as ARM would (400 for a bad request; 500 when the fake's own answer breaks the contract).
//
//   GET  {cluster}?api-version                                  ManagedCluster (aadProfile,
//        disableLocalAccounts, fqdn, ...)
//   POST {cluster}/listClusterUserCredential?api-version[&format=azure|exec][&server-fqdn]
//   POST {cluster}/listClusterAdminCredential?api-version[&server-fqdn]
//   POST {cluster}/listClusterMonitoringUserCredential?api-version[&server-fqdn]
//        -> 200 {"kubeconfigs":[{"name":"clusterUser"|"clusterAdmin"|"clusterMonitoringUser","value":"<base64 kubeconfig>"}]}
//   {cluster} = /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}
//
// The kubeconfigs point at a Kubernetes API fake (k8s.js) and carry its CA:
//   local accounts: a client certificate (CN masterclient, O system:masters) and a static token;
//   Entra (AKS-managed AAD): user credential = exec kubelogin with --server-id
//     6dae42f8-4368-4678-94ff-3960e28e3630 (format=azure: the deprecated azure auth-provider);
//     the Kubernetes fake then accepts Entra tokens for that server application (entra.js);
//   disableLocalAccounts: static credentials (admin, monitoring) are refused with 400 BadRequest
//     "Getting static credential is not allowed because this cluster is set to disable local accounts."
// Errors are ARM ErrorResponse bodies with x-ms-request-id.
'use strict';
const https = require('https');
const path = require('path');
const crypto = require('crypto');
const YAML = require('yaml');
const { makeTestCa } = require('./tls');
const { clientCert, AKS_SERVER_ID } = require('./k8s');
const contract = require('./arm-aks-contract');

const ROOT = path.join(__dirname, '..', 'fixtures', 'aks');
const SPEC_DIR = 'specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2026-08-01';
const AKS_CLIENT_ID = '80faf920-1908-4b52-b5ef-a8e7bedfc67a';
const ARM_SCOPES = ['https://management.azure.com/.default', 'https://management.core.windows.net//.default', 'https://management.core.windows.net/.default'];
const STATIC_REFUSED = 'Getting static credential is not allowed because this cluster is set to disable local accounts.';

let spec;
const specOf = () => spec || (spec = contract.loadSpec(ROOT, [`${SPEC_DIR}/managedClusters.json`, `${SPEC_DIR}/managedClusters.get.subset.json`]));

const eq = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/**
 * Start the fake.
 * opts: {entra (entra.js fake, required), k8s (k8s.js fake, required),
 *        clusters: [{subscriptionId, resourceGroup, name, location?, kubernetesVersion?,
 *                    entra?: {tenantId, adminGroupObjectIDs?, enableAzureRBAC?}, disableLocalAccounts?}],
 *        armScopes: token scopes accepted for ARM (default: management.azure.com and the
 *                   management.core.windows.net resource id),
 *        forbidden: (action, clusterId) => boolean   403 AuthorizationFailed when true}
 */
function startArmAks(opts = {}) {
  if (!opts.entra || !opts.k8s) throw new Error('startArmAks needs the entra and k8s fakes');
  const tls = makeTestCa();
  const state = { requests: [], violations: [], faults: [], issued: [] };
  const clusters = (opts.clusters || []).map((c) => ({ location: 'westeurope', kubernetesVersion: '1.32.4', disableLocalAccounts: false, ...c }));
  for (const c of clusters) {
    if (c.disableLocalAccounts && !c.entra) throw new Error(`cluster ${c.name}: disableLocalAccounts needs AKS-managed Entra integration`);
    c.id = `/subscriptions/${c.subscriptionId}/resourcegroups/${c.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${c.name}`;
    c.fqdn = `${c.name}-dns-${crypto.createHash('sha1').update(c.id).digest('hex').slice(0, 8)}.hcp.${c.location}.azmk8s.io`;
    c.tokens = { clusterUser: crypto.randomBytes(32).toString('hex'), clusterAdmin: crypto.randomBytes(32).toString('hex'), clusterMonitoringUser: crypto.randomBytes(32).toString('hex') };
    // The identities behind the static credentials, on the Kubernetes fake.
    opts.k8s.addUser({ name: 'masterclient', cert: true, groups: ['system:masters'], rules: 'admin' });
    opts.k8s.addUser({ name: 'clusterUser', token: c.tokens.clusterUser, rules: 'admin' });
    opts.k8s.addUser({ name: 'clusterAdmin', token: c.tokens.clusterAdmin, rules: 'admin' });
    opts.k8s.addUser({ name: 'clusterMonitoringUser', token: c.tokens.clusterMonitoringUser, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: ['*'], resources: ['*'] }] });
  }
  const armScopes = opts.armScopes || ARM_SCOPES;

  function managedCluster(c) {
    const props = {
      provisioningState: 'Succeeded', kubernetesVersion: c.kubernetesVersion, currentKubernetesVersion: c.kubernetesVersion,
      dnsPrefix: `${c.name}-dns`, fqdn: c.fqdn, azurePortalFQDN: c.fqdn.replace('.hcp.', '.portal.hcp.'), enableRBAC: true,
      disableLocalAccounts: !!c.disableLocalAccounts,
    };
    if (c.entra) props.aadProfile = { managed: true, enableAzureRBAC: !!c.entra.enableAzureRBAC, adminGroupObjectIDs: c.entra.adminGroupObjectIDs || [], tenantID: c.entra.tenantId };
    return { id: c.id, name: c.name, type: 'Microsoft.ContainerService/ManagedClusters', location: c.location, properties: props };
  }

  function kubeconfig(c, kind, format) {
    const k8s = opts.k8s;
    const user = `${kind}_${c.resourceGroup}_${c.name}`;
    let u;
    if (kind === 'clusterUser' && c.entra) {
      if (format === 'azure') {
        u = { 'auth-provider': { name: 'azure', config: { 'apiserver-id': AKS_SERVER_ID, 'client-id': AKS_CLIENT_ID, 'config-mode': '1', environment: 'AzurePublicCloud', 'tenant-id': c.entra.tenantId } } };
      } else {
        u = {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kubelogin',
            args: ['get-token', '--login', 'devicecode', '--server-id', AKS_SERVER_ID, '--client-id', AKS_CLIENT_ID, '--tenant-id', c.entra.tenantId, '--environment', 'AzurePublicCloud'],
            env: null, interactiveMode: 'IfAvailable', provideClusterInfo: false,
          },
        };
      }
    } else {
      const cert = clientCert('masterclient', ['system:masters']);
      u = { 'client-certificate-data': cert.cert.toString('base64'), 'client-key-data': cert.key.toString('base64'), token: c.tokens[kind] };
    }
    const doc = {
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: c.name, cluster: { 'certificate-authority-data': k8s.ca.toString('base64'), server: k8s.url } }],
      contexts: [{ name: c.name, context: { cluster: c.name, user } }],
      'current-context': c.name,
      preferences: {},
      users: [{ name: user, user: u }],
    };
    return YAML.stringify(doc);
  }

  function send(res, status, body, headers = {}) {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': crypto.randomUUID(), 'x-ms-correlation-request-id': crypto.randomUUID(), ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  function handle(req, res, raw) {
    const url = new URL(req.url, 'https://management.azure.com');
    const query = Object.fromEntries(url.searchParams);
    const entry = { method: req.method, path: url.pathname, query, at: Date.now() };
    state.requests.push(entry);
    const reply = (status, body, found) => {
      if (found) {
        const v = contract.validateResponse(specOf(), found, status, body);
        if (v.length) { state.violations.push(...v.map((x) => `answer: ${x}`)); status = 500; body = { error: { code: 'FakeContractViolation', message: v.join('; ') } }; }
      }
      entry.status = status;
      send(res, status, body);
    };
    const fail = (status, code, message, found, extra = {}) => reply(status, { error: { code, message, ...extra } }, found);

    const fi = state.faults.findIndex((f) => (!f.method || f.method === req.method) && (!f.path || f.path.test(url.pathname)));
    if (fi >= 0) {
      const f = state.faults[fi];
      if (--f.times <= 0) state.faults.splice(fi, 1);
      if (f.reset) { entry.status = 'reset'; req.socket.destroy(); return; }
      entry.fault = f.status;
      fail(f.status, f.code || (f.status === 429 ? 'TooManyRequests' : 'InternalServerError'), f.message || 'injected');
      return;
    }

    const authz = req.headers.authorization || '';
    if (!authz) { fail(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing."); return; }
    const m = /^Bearer (.+)$/.exec(authz);
    if (!m || !armScopes.some((s) => opts.entra.valid(m[1], s))) { entry.auth = 'invalid'; fail(401, 'InvalidAuthenticationToken', 'The access token is invalid.'); return; }
    entry.auth = 'valid';

    const found = contract.findOperation(specOf(), req.method, url.pathname);
    if (!found) { fail(404, 'InvalidResourceType', `The resource type could not be found for path '${url.pathname}'.`); return; }
    entry.operationId = found.op.operationId;
    const violations = contract.validateRequest(found, { query, body: raw, contentType: req.headers['content-type'] });
    if (violations.length) {
      state.violations.push(...violations.map((x) => `request ${found.op.operationId}: ${x}`));
      if (!query['api-version']) { fail(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.', found); return; }
      fail(400, 'InvalidParameter', violations.join('; '), found);
      return;
    }
    const { subscriptionId, resourceGroupName, resourceName } = found.pathParams;
    if (!clusters.some((c) => eq(c.subscriptionId, subscriptionId))) { fail(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`, found); return; }
    if (!clusters.some((c) => eq(c.subscriptionId, subscriptionId) && eq(c.resourceGroup, resourceGroupName))) { fail(404, 'ResourceGroupNotFound', `Resource group '${resourceGroupName}' could not be found.`, found); return; }
    const c = clusters.find((x) => eq(x.subscriptionId, subscriptionId) && eq(x.resourceGroup, resourceGroupName) && eq(x.name, resourceName));
    const action = found.op.operationId === 'ManagedClusters_Get' ? 'Microsoft.ContainerService/managedClusters/read'
      : `Microsoft.ContainerService/managedClusters/${url.pathname.split('/').pop()}/action`;
    if (opts.forbidden && opts.forbidden(action, c ? c.id : url.pathname)) {
      fail(403, 'AuthorizationFailed', `The client 'fake-client' with object id '00000000-0000-0000-0000-000000000001' does not have authorization to perform action '${action}' over scope '${url.pathname}' or the scope is invalid. If access was recently granted, please refresh your credentials.`, found);
      return;
    }
    if (!c) { fail(404, 'ResourceNotFound', `The Resource 'Microsoft.ContainerService/managedClusters/${resourceName}' under resource group '${resourceGroupName}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`, found); return; }

    if (found.op.operationId === 'ManagedClusters_Get') { reply(200, managedCluster(c), found); return; }
    const kind = { ManagedClusters_ListClusterUserCredentials: 'clusterUser', ManagedClusters_ListClusterAdminCredentials: 'clusterAdmin', ManagedClusters_ListClusterMonitoringUserCredentials: 'clusterMonitoringUser' }[found.op.operationId];
    if (kind !== 'clusterUser' && c.disableLocalAccounts) { fail(400, 'BadRequest', STATIC_REFUSED, found); return; }
    if (query.format && !c.entra) {
      // The description says the format applies only to Entra clusters; a local-account cluster ignores it.
      entry.note = 'format ignored: not an Entra cluster';
    }
    const value = Buffer.from(kubeconfig(c, kind, query.format)).toString('base64');
    state.issued.push({ cluster: c.name, kind, format: query.format });
    reply(200, { kubeconfigs: [{ name: kind, value }] }, found);
  }

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      try { handle(req, res, Buffer.concat(chunks)); } catch (e) { state.violations.push(`fake error: ${e.stack}`); send(res, 500, { error: { code: 'InternalServerError', message: e.message } }); }
    });
  });

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      url: `https://127.0.0.1:${port}/`,
      caFile: tls.caFile,
      state,
      log: state.requests,
      clusters,
      /** The next matching requests fail: {method?, path?: RegExp, times?, status, code?, message?} or {reset: true}. */
      fault: (f) => state.faults.push({ times: 1, ...f }),
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    });
  }));
}

module.exports = { startArmAks, AKS_SERVER_ID, AKS_CLIENT_ID, ARM_SCOPES, STATIC_REFUSED };
