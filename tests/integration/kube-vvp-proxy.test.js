// Ververica Platform inside a Kubernetes cluster, reached only through the API server's service
// proxy (no public endpoint, no port-forward), through the packaged task and the agent emulator:
// seed 000's flow with an AKS sign-in through the AzureRM connection (ARM credential API, Entra
// token for the AKS server application), the same through a Kubernetes service connection, and
// every refusal named with its fix before anything is written.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { repo, scratch, run, assertNoSecrets, vvpDeployment } = require('./helpers');
const { AKS_SERVER_ID } = require('../fakes/arm-aks');
const K = require('./kube-support');

const SEED_DEPLOYMENT_ID = 'd320ec04-16f5-4915-b236-6efa43b7e003';
const JAR = 'wasbs://vvp-pipeline-container@vvppipelinestorage.blob.core.windows.net/artifacts/namespaces/default/vvp-pipeline-demo-0.1.jar';
// Seed 000's spec file. `flinkVersion: 1.9` is quoted here: YAML reads the bare 1.9 as a number,
// which the platform's description does not take; keeping the text as written is the spec
// reader's job (tests/integration/ververica.test.js), and this file is about the transport.
const SEED_SPEC = fs.readFileSync(path.join(repo, 'tests/fixtures/vvp/seed000-azure-pipelines-vvp-deployment.yml'), 'utf8')
  .replace('flinkVersion: 1.9', "flinkVersion: '1.9'");

function seed(w) {
  return w.vvp.seed('default', vvpDeployment('vvp-pipeline-demo', `${JAR}?commit=1111111`, {
    metadata: { id: SEED_DEPLOYMENT_ID },
    spec: { deploymentTargetName: undefined, deploymentTargetId: K.TARGET_ID },
  }));
}

/** Seed 000's inputs, with Ververica Platform named as a service in the cluster. */
function seedRun(w, { inputs = {}, endpoints, cwd = scratch() } = {}) {
  fs.writeFileSync(path.join(cwd, 'azure-pipelines-vvp-deployment.yml'), SEED_SPEC);
  return run({
    cwd,
    inputs: {
      target: 'ververica', action: 'deploy', vvpService: K.VVP_SERVICE, vvpNamespace: 'default',
      specFile: 'azure-pipelines-vvp-deployment.yml', deploymentId: SEED_DEPLOYMENT_ID, deploymentTargetId: K.TARGET_ID,
      jarUri: JAR, restart: 'always', settleSeconds: '1', timeoutSeconds: '20',
      ...K.aksInputs(), ...inputs,
    },
    variables: { 'Build.SourceVersion': 'abc123def' },
    endpoints: endpoints || K.azureRm(w),
    env: K.agentCa(),
  });
}

const proxied = (w) => w.k8s.log.filter((e) => e.proxy);
const vvpWrites = (w) => w.vvp.writes().map((e) => `${e.method} ${e.path}`);

describe('Ververica Platform through the Kubernetes service proxy', { concurrency: 3 }, () => {
  test("seed 000's flow: AKS sign-in through the AzureRM connection, PATCH by id through the service proxy, the job upgraded and settled", async () => {
    const w = await K.world();
    try {
      const before = seed(w);
      const r = await seedRun(w);
      assert.equal(r.exitCode, 0, r.log);
      assert.equal(r.result, 'Succeeded');
      // The cluster's credentials came from Resource Manager, as `az aks get-credentials` gets them.
      assert.deepEqual(w.arm.log.map((e) => [e.method, e.operationId, e.query['api-version']]), [['POST', 'ManagedClusters_ListClusterUserCredentials', '2026-08-01']]);
      assert.deepEqual(w.arm.state.violations, []);
      // Every request reached the platform through the proxy, signed in with an Entra token for
      // the AKS server application as the connection's identity.
      const viaProxy = proxied(w);
      assert.ok(viaProxy.length >= 3, JSON.stringify(w.k8s.log.map((e) => e.path)));
      assert.ok(w.k8s.log.every((e) => e.auth === 'entra' && e.user === 'pipeline-sp@entra'), JSON.stringify(w.k8s.log.map((e) => [e.path, e.auth, e.user])));
      assert.ok(viaProxy.every((e) => e.proxy.service === 'vvp/vvp-ververica-platform:http'), 'port 80 is the service port named http');
      assert.ok(viaProxy.every((e) => !e.proxy.headers.includes('authorization')), 'the API server does not forward the caller\'s credential');
      assert.ok(w.entra.state.tokens.some((t) => t.scope === `${AKS_SERVER_ID}/.default`));
      assert.deepEqual(vvpWrites(w), [`PATCH /api/v1/namespaces/default/deployments/${SEED_DEPLOYMENT_ID}`]);
      assert.equal(w.vvp.writes()[0].body.spec.template.spec.artifact.jarUri, `${JAR}?commit=abc123def`);
      const after = w.vvp.deployment('default', SEED_DEPLOYMENT_ID);
      assert.equal(after.status.state, 'RUNNING');
      assert.notEqual(after.status.running.jobId, before.status.running.jobId);
      assert.equal(r.outputs.jobId, after.status.running.jobId);
      assert.equal(r.outputs.state, 'RUNNING');
      assert.match(r.stdout, /Kubernetes: AKS cluster `vvp-pipeline-cluster` in resource group `vvp-pipeline-demo`/);
      assert.match(r.stdout, /\/api\/v1\/namespaces\/vvp\/services\/vvp-ververica-platform:80\/proxy/);
      assertNoSecrets(assert, r, K.secretsOf(w));
    } finally { await w.close(); }
  });

  test('any cluster through a Kubernetes service connection: service account token and CA, as the agent passes them', async () => {
    const w = await K.world({ users: [{ name: 'system:serviceaccount:ci:deployer', token: 'sa-token-0b6e1f2d9c', rules: [{ verbs: K.PROXY_VERBS, resources: ['services/proxy'], namespaces: ['vvp'] }] }] });
    try {
      seed(w);
      const r = await seedRun(w, {
        inputs: { connectionType: 'kubernetesServiceConnection', kubernetesServiceEndpoint: K.K8S_CONN, azureSubscription: '', azureResourceGroup: '', kubernetesCluster: '', restart: 'ifChanged' },
        endpoints: K.serviceAccountConnection(w, 'sa-token-0b6e1f2d9c'),
      });
      assert.equal(r.exitCode, 0, r.log);
      assert.deepEqual(w.arm.log, [], 'no Resource Manager call');
      assert.ok(w.k8s.log.length > 0 && w.k8s.log.every((e) => e.user === 'system:serviceaccount:ci:deployer'));
      assert.deepEqual(vvpWrites(w), [`PATCH /api/v1/namespaces/default/deployments/${SEED_DEPLOYMENT_ID}`]);
      assertNoSecrets(assert, r, ['sa-token-0b6e1f2d9c']);
    } finally { await w.close(); }
  });

  test('a role without services/proxy fails before anything is written, naming the permission', async () => {
    const w = await K.world({ pipelineRules: [{ verbs: ['get'], resources: ['services'], namespaces: ['vvp'] }] });
    try {
      seed(w);
      const r = await seedRun(w);
      assert.equal(r.exitCode, 2, r.log);
      const e = r.errors[0].message;
      assert.match(e, /input `vvpService`: the identity of AKS cluster `vvp-pipeline-cluster` .* may not use the service proxy for service `vvp\/vvp-ververica-platform:80`/);
      assert.match(e, /services "vvp-ververica-platform:80" is forbidden: User "pipeline-sp@entra" cannot get resource "services\/proxy"/);
      assert.match(e, /resources \["services\/proxy"\]/);
      assert.deepEqual(w.vvp.log, [], 'nothing reached Ververica Platform');
    } finally { await w.close(); }
  });

  test('a missing service, a port the service does not have, and a backend that does not answer are named with their fix', async () => {
    const w = await K.world({ pipelineRules: [{ verbs: K.PROXY_VERBS, resources: ['services/proxy'], namespaces: ['vvp'] }] });
    try {
      seed(w);
      const missing = await seedRun(w, { inputs: { vvpService: 'vvp/ververica-platform:80' } });
      assert.equal(missing.exitCode, 2, missing.log);
      assert.match(missing.errors[0].message, /input `vvpService`: service `vvp\/ververica-platform:80` does not exist in AKS cluster .*services "ververica-platform" not found.*kubectl get services -n vvp/);
      const port = await seedRun(w, { inputs: { vvpService: 'vvp/vvp-ververica-platform:8080' } });
      assert.equal(port.exitCode, 2, port.log);
      assert.match(port.errors[0].message, /service `vvp\/vvp-ververica-platform:8080` has no such port: .*no service port "8080" found for service "vvp-ververica-platform".*Ververica Platform's chart serves on port 80/);
      assert.deepEqual(w.vvp.log, []);
      w.k8s.setBackend('vvp', 'vvp-ververica-platform', 80, 'http://127.0.0.1:1');
      const down = await seedRun(w);
      assert.equal(down.exitCode, 1, down.log);
      assert.match(down.errors[0].message, /Ververica Platform behind service `vvp\/vvp-ververica-platform:80` does not answer through the service proxy .*connection refused.*kubectl get pods -n vvp/);
    } finally { await w.close(); }
  });

  test('an API token cannot ride through the proxy: refused as input, and a platform that asks for one is explained', async () => {
    const w = await K.world({ vvp: { token: 'vvp-api-7d41c0e9b2' } });
    try {
      seed(w);
      const token = await seedRun(w, { inputs: { vvpApiToken: 'vvp-api-7d41c0e9b2' } });
      assert.equal(token.exitCode, 2, token.log);
      assert.match(token.errors[0].message, /input `vvpApiToken`: cannot be used with `vvpService`: .*removes the Authorization header/);
      assert.deepEqual([w.arm.log.length, w.k8s.log.length], [0, 0], 'nothing was requested');
      const asks = await seedRun(w);
      assert.equal(asks.exitCode, 2, asks.log);
      assert.match(asks.errors[0].message, /Ververica Platform behind service `vvp\/vvp-ververica-platform:80` asks for an API token \(HTTP 401/);
      assert.match(asks.errors[0].message, /give vvpUrl or vvpConnection with an API token/);
      assert.deepEqual(vvpWrites(w), []);
    } finally { await w.close(); }
  });

  test('an unknown AKS cluster, or an admin credential of a cluster without local accounts, fails before the cluster is touched', async () => {
    const w = await K.world();
    try {
      const r = await seedRun(w, { inputs: { kubernetesCluster: 'vvp-pipline-cluster' } });
      assert.equal(r.exitCode, 2, r.log);
      assert.match(r.errors[0].message, /input `kubernetesCluster`: AKS cluster `vvp-pipline-cluster` in resource group `vvp-pipeline-demo` .* does not exist: .*ResourceNotFound/);
      const admin = await seedRun(w, { inputs: { useClusterAdmin: 'true' } });
      assert.equal(admin.exitCode, 2, admin.log);
      assert.match(admin.errors[0].message, /input `useClusterAdmin`: .* disables local accounts/);
      assert.deepEqual(w.k8s.log, []);
      assert.deepEqual(w.vvp.log, []);
      assert.deepEqual(w.arm.state.violations, []);
    } finally { await w.close(); }
  });
});
