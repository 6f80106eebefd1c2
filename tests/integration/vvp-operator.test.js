// Target `ververicaOperator` through the packaged task and the agent emulator: the VvpDeployment
// of each Ververica Platform generation applied to the Kubernetes API fake (server-side apply,
// validated there against the CRD schema), synced by the operator emulation to the Ververica
// Platform fake, waited on through the resource's own status and events, rolled back and
// deleted; validate's server-side diff; bad input failing before anything is written.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { scratch, run, assertNoSecrets, junit, caseNamed } = require('./helpers');
const { startVvpOperator, OWNER_LABEL } = require('../fakes/k8s-vvp-operator');
const K = require('./kube-support');

const VVP_TOKEN = 'vvp-api-token-4c8e2a';
const CI_TOKEN = 'ci-token-93b1d7f0e2';
const apikey = { namespace: 'flink', name: 'vvp-token', data: { apikey: Buffer.from(VVP_TOKEN).toString('base64') } };
const CR_RULES = [
  { verbs: ['get', 'create', 'patch', 'delete'], apiGroups: ['ververica.platform'], resources: ['vvpdeployments'], namespaces: ['flink'] },
  { verbs: ['list'], resources: ['events'], namespaces: ['flink'] },
];

async function setup(generation, opts = {}) {
  const w = await K.world({
    crd: `vvp${generation}`,
    vvp: { token: VVP_TOKEN },
    secrets: [apikey],
    services: false,
    pipelineRules: CR_RULES,
    users: [{ name: 'ci', token: CI_TOKEN, rules: opts.ciRules || CR_RULES }],
  });
  const op = startVvpOperator(w.k8s, { vvp: w.vvp, generation, pollMs: 80, instanceId: 'vvp-main' });
  const close = async () => { op.stop(); assert.deepEqual(op.errors, []); await w.close(); };
  return { ...w, op, close };
}

/** A run of the target; 2.x signs in with a kubeconfig service connection, 3.x through AKS. */
function deploy(t, generation, inputs = {}, { cwd, via = generation === 2 ? 'kubeconfig' : 'aks' } = {}) {
  const conn = via === 'kubeconfig'
    ? { inputs: { connectionType: 'kubernetesServiceConnection', kubernetesServiceEndpoint: K.K8S_CONN }, endpoints: K.kubeconfigConnection(t, { user: 'ci', token: CI_TOKEN }) }
    : { inputs: { ...K.aksInputs(), vvpOperatorInstanceId: 'vvp-main' }, endpoints: K.azureRm(t) };
  return run({
    cwd,
    inputs: {
      target: 'ververicaOperator', action: 'deploy', vvpOperatorVersion: String(generation), namespace: 'flink',
      deploymentName: 'orders', deploymentTargetName: 'vvp-jobs', apikeySecretName: 'vvp-token',
      settleSeconds: '1', timeoutSeconds: '20',
      ...conn.inputs, ...inputs,
    },
    endpoints: conn.endpoints,
    env: K.agentCa(),
  });
}

const crWrites = (t) => t.k8s.writes().filter((e) => /vvpdeployments/.test(e.path));
const realWrites = (t) => crWrites(t).filter((e) => e.query.dryRun !== 'All');
const cr = (t, name = 'orders') => t.k8s.get('VvpDeployment', 'flink', name);
const jar = (t, name = 'orders') => t.vvp.deployment('default', name).spec.template.spec.artifact.jarUri;

/** Apply, upgrade, a failed upgrade rolled back, delete: the life of one VvpDeployment. */
async function lifecycle(t, generation) {
  const first = await deploy(t, generation, { jarUri: 's3://jars/orders-1.jar' });
  assert.equal(first.exitCode, 0, first.log);
  const dep = t.vvp.deployment('default', 'orders');
  assert.equal(dep.status.state, 'RUNNING');
  assert.equal(first.outputs.deploymentId, dep.metadata.id);
  assert.equal(first.outputs.deploymentName, 'orders');
  assert.equal(first.outputs.state, 'RUNNING');
  // Server-side apply as this task, after a dry run in the plan.
  const writes = crWrites(t);
  assert.deepEqual(writes.map((e) => [e.method, e.contentType, e.query.fieldManager, e.query.dryRun]), [
    ['PATCH', 'application/apply-patch+yaml', 'flink-deploy', 'All'],
    ['PATCH', 'application/apply-patch+yaml', 'flink-deploy', undefined],
  ]);
  assert.ok(cr(t).metadata.managedFields.some((m) => m.manager === 'flink-deploy' && m.operation === 'Apply'));
  for (const n of ['plan', 'apply', 'reach RUNNING', 'stay RUNNING for 1s']) assert.equal(caseNamed(junit(first), n).failed, false, n);
  const firstJob = dep.status.running.jobId;

  // No settle window: what the platform shows right after the run is what the wait judged.
  const second = await deploy(t, generation, { jarUri: 's3://jars/orders-2.jar', settleSeconds: '0' });
  assert.equal(second.exitCode, 0, second.log);
  const upgraded = t.vvp.deployment('default', 'orders');
  assert.equal(jar(t), 's3://jars/orders-2.jar');
  assert.notEqual(upgraded.status.running.jobId, firstJob);
  assert.equal(upgraded.status.state, 'RUNNING');
  // The status from before the change (RUNNING, the old job) was not taken as the answer.
  if (generation === 2) assert.equal(second.outputs.jobId, upgraded.status.running.jobId);
  assert.match(second.stdout, /-\s+jarUri: s3:\/\/jars\/orders-1\.jar\n(.*\n)*?\+\s+jarUri: s3:\/\/jars\/orders-2\.jar/);

  t.vvp.nextJobs({ outcome: 'FAILED' });
  const broken = await deploy(t, generation, { jarUri: 's3://jars/orders-3.jar', rollbackOnFailure: 'true' });
  assert.equal(broken.exitCode, 1, broken.log);
  const headline = broken.errors[0].message;
  assert.match(headline, /VvpDeployment `orders` in namespace `flink` did not reach RUNNING: .*FAILED/);
  assert.match(headline, /rolled back: the VvpDeployment is back to the version before this run, and the deployment is RUNNING/);
  assert.equal(cr(t).spec.deployment.spec.template.spec.artifact.jarUri, 's3://jars/orders-2.jar', 'the resource captured in the plan is applied again');
  assert.equal(jar(t), 's3://jars/orders-2.jar');
  assert.equal(t.vvp.deployment('default', 'orders').status.state, 'RUNNING');
  assert.equal(caseNamed(junit(broken), 'rollback').failed, false);

  const gone = await deploy(t, generation, { action: 'delete' });
  assert.equal(gone.exitCode, 0, gone.log);
  assert.equal(cr(t), undefined);
  assert.equal(caseNamed(junit(gone), 'wait until deleted').failed, false);
  return { first, second, broken, gone };
}

describe('Ververica Platform operator (VvpDeployment)', { concurrency: 3 }, () => {
  test('2.x: applied, waited on through the mirrored status, upgraded, rolled back and deleted', async () => {
    const t = await setup(2);
    try {
      const runs = await lifecycle(t, 2);
      assert.match(runs.first.stdout, /create VvpDeployment `orders` in namespace `flink` \(server-side apply, field manager flink-deploy\); the Ververica Platform 2\.x operator sends it/);
      const applied = crWrites(t)[1].body;
      assert.equal(applied.spec.deployment.userMetadata.displayName, 'orders');
      assert.equal(applied.metadata.annotations.apikeySecretName, 'vvp-token');
      for (const r of Object.values(runs)) assertNoSecrets(assert, r, [CI_TOKEN, VVP_TOKEN]);
    } finally { await t.close(); }
  });

  test('3.x through AKS: the owner label, Consistent and Healthy, the platform\'s events as the failure\'s headline, rollback and delete', async () => {
    const t = await setup(3);
    try {
      const runs = await lifecycle(t, 3);
      const applied = realWrites(t)[0].body;
      assert.equal(applied.metadata.labels[OWNER_LABEL], 'vvp-main');
      assert.equal(applied.spec.deployment.metadata.name, 'orders');
      assert.equal(applied.spec.deployment.userMetadata, undefined);
      assert.match(runs.broken.errors[0].message, /TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: org\.apache\.flink\.runtime\.client\.JobInitializationException/);
      assert.match(runs.broken.log, /event: Normal DeploymentConfigProjected: Kubernetes operator projected deployment config \(mode=PATCH\)/);
      assert.ok(t.k8s.log.every((e) => e.auth === 'entra'), 'signed in with Entra ID as the AzureRM connection');
      assert.deepEqual(t.arm.state.violations, []);
      for (const r of Object.values(runs)) assertNoSecrets(assert, r, K.secretsOf(t, [VVP_TOKEN]));
    } finally { await t.close(); }
  });

  test('validate shows the server-side diff of a dry run and changes nothing', async () => {
    const t = await setup(2);
    try {
      assert.equal((await deploy(t, 2, { jarUri: 's3://jars/orders-1.jar', settleSeconds: '0' })).exitCode, 0);
      const before = JSON.stringify(cr(t).spec);
      const writes = realWrites(t).length;
      const v = await deploy(t, 2, { action: 'validate', jarUri: 's3://jars/orders-2.jar', parallelism: '4' });
      assert.equal(v.exitCode, 0, v.log);
      assert.equal(realWrites(t).length, writes, 'only a dry run was sent');
      assert.equal(crWrites(t).at(-1).query.dryRun, 'All');
      assert.equal(JSON.stringify(cr(t).spec), before);
      assert.match(v.stdout, /Server-side diff of the VvpDeployment \(dry run\)/);
      assert.match(v.stdout, /\+\s+parallelism: 4/);
      assert.match(v.stdout, /validate: nothing was changed/);
      const offline = await run({ inputs: { target: 'ververicaOperator', action: 'validate', vvpOperatorVersion: '3', vvpOperatorInstanceId: 'vvp-main', deploymentName: 'orders', deploymentTargetName: 'vvp-jobs', jarUri: 's3://jars/x.jar' } });
      assert.equal(offline.exitCode, 0, offline.log);
      assert.match(offline.stdout, /checked against its schema, not compared with a cluster/);
    } finally { await t.close(); }
  });

  test('bad input fails before anything is written: schema violations, a missing permission, the owner label, an unknown cluster', async () => {
    const t = await setup(3);
    try {
      const cwd = scratch();
      fs.writeFileSync(path.join(cwd, 'd.yml'), 'metadata:\n  name: orders\nspec:\n  maxJobCreationAttempts: many\n  deploymentTargetName: vvp-jobs\n  template:\n    spec:\n      artifact: {kind: JAR, jarUri: "s3://jars/a.jar"}\n');
      const schema = await deploy(t, 2, { specFile: 'd.yml', deploymentName: '', vvpOperatorInstanceId: '' }, { cwd, via: 'aks' });
      assert.equal(schema.exitCode, 2, schema.log);
      // The spec reader types the file by the platform's schema first, naming the line.
      assert.match(schema.errors[0].message, /input `specFile`: .*d\.yml, line 4, column 27: `spec\.maxJobCreationAttempts` is `many`, not an integer/);
      assert.deepEqual(t.k8s.log, [], 'checked before the cluster was asked anything');
      const v2shape = await deploy(t, 2, { jarUri: 's3://jars/a.jar', vvpOperatorInstanceId: '' }, { via: 'aks' });
      assert.equal(v2shape.exitCode, 2, v2shape.log);
      assert.match(v2shape.errors[0].message, /input `deploymentName`: vvpdeployments\.ververica\.platform `orders` in namespace `flink` has a field its schema on the cluster does not declare: .*failed to create typed patch object .*\.spec\.deployment\.userMetadata/);
      const owner = await deploy(t, 3, { jarUri: 's3://jars/a.jar', vvpOperatorInstanceId: 'someone-else' });
      assert.equal(owner.exitCode, 2, owner.log);
      assert.match(owner.errors[0].message, /admission webhook "vvpdeployments\.ververica\.platform" denied the request: label ververica\.platform\/owner=someone-else does not match this operator's instanceId vvp-main/);
      const cluster = await deploy(t, 3, { jarUri: 's3://jars/a.jar', kubernetesCluster: 'nope' });
      assert.equal(cluster.exitCode, 2, cluster.log);
      assert.match(cluster.errors[0].message, /input `kubernetesCluster`: AKS cluster `nope`/);
      assert.deepEqual(realWrites(t), [], 'nothing was written');
      assert.equal(t.vvp.deployment('default', 'orders'), undefined);
    } finally { await t.close(); }

    const ro = await setup(2, { ciRules: [{ verbs: ['get'], apiGroups: ['ververica.platform'], resources: ['vvpdeployments'], namespaces: ['flink'] }] });
    try {
      const denied = await deploy(ro, 2, { jarUri: 's3://jars/a.jar' });
      assert.equal(denied.exitCode, 2, denied.log);
      assert.match(denied.errors[0].message, /input `kubernetesServiceEndpoint`: vvpdeployments\.ververica\.platform `orders` in namespace `flink`: the identity may not patch it/);
      assert.match(denied.errors[0].message, /apiGroups \["ververica\.platform"\], resources \["vvpdeployments"\] and verbs including "patch"/);
      assert.deepEqual(realWrites(ro), []);
    } finally { await ro.close(); }
  });

  test('2.x: fields the operator wrote back conflict, naming the operator; forceConflicts takes them over', async () => {
    const t = await setup(2);
    try {
      t.vvp.seed('default', { metadata: { name: 'legacy' }, spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', restoreStrategy: { kind: 'LATEST_SAVEPOINT' }, template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://jars/legacy-1.jar' } } } } });
      const first = await deploy(t, 2, { deploymentName: 'legacy', jarUri: 's3://jars/legacy-2.jar', settleSeconds: '0' });
      assert.equal(first.exitCode, 0, first.log);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(cr(t, 'legacy').spec.deployment.spec.restoreStrategy.kind, 'LATEST_SAVEPOINT', 'written back by the operator');
      const writes = realWrites(t).length;
      const clash = await deploy(t, 2, { deploymentName: 'legacy', jarUri: 's3://jars/legacy-2.jar', restoreStrategy: 'LATEST_STATE', settleSeconds: '0' });
      assert.equal(clash.exitCode, 2, clash.log);
      assert.match(clash.errors[0].message, /applying vvpdeployments\.ververica\.platform `legacy` in namespace `flink` conflicts with field manager "ververica-platform-operator" on \.spec\.deployment\.spec\.restoreStrategy\.kind/);
      assert.match(clash.errors[0].message, /forceConflicts: true/);
      assert.equal(realWrites(t).length, writes);
      const forced = await deploy(t, 2, { deploymentName: 'legacy', jarUri: 's3://jars/legacy-2.jar', restoreStrategy: 'LATEST_STATE', forceConflicts: 'true', settleSeconds: '0' });
      assert.equal(forced.exitCode, 0, forced.log);
      assert.equal(t.vvp.deployment('default', 'legacy').spec.restoreStrategy.kind, 'LATEST_STATE');
    } finally { await t.close(); }
  });
});
