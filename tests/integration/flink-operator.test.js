// Target `flinkOperator` through the packaged task and the agent emulator: FlinkDeployment and
// FlinkSessionJob resources applied to the Kubernetes API fake (server-side apply, every object
// validated there against the operator's 1.15 CRDs), reconciled by the operator emulation
// (k8s-flink-operator.js), waited on through the resource's status and events; stateful upgrade,
// failed upgrade rolled back, suspend/resume, savepoints and delete; the status traps (a stale
// STABLE, a resource created suspended, a status that never moves, a job that keeps restarting);
// bad input failing before anything is written.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { scratch, run, assertNoSecrets, junit, caseNamed } = require('./helpers');
const { startK8s } = require('../fakes/k8s');
const { startFlinkOperator } = require('../fakes/k8s-flink-operator');
const { FLINK_CRDS } = require('./k8s-fake-support');
const K = require('./kube-support');

const CI_TOKEN = 'ci-token-7d41c9a0e5';
const RULES = [
  { verbs: ['get', 'create', 'patch', 'delete'], apiGroups: ['flink.apache.org'], resources: ['flinkdeployments', 'flinksessionjobs'], namespaces: ['flink'] },
  { verbs: ['list'], resources: ['events'], namespaces: ['flink'] },
];

async function setup(opOpts = {}) {
  const k8s = await startK8s({ namespaces: ['default', 'flink'], crds: FLINK_CRDS, users: [{ name: 'ci', token: CI_TOKEN, rules: RULES }] });
  const op = startFlinkOperator(k8s, { stepMs: 40, ...opOpts });
  const close = async () => { op.stop(); assert.deepEqual(op.errors, []); await k8s.close(); };
  return { k8s, op, close };
}

const DEPLOYMENT = `apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  labels: {release: 1.10}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    custom.version: 1.20
    state.savepoints.dir: s3://flink/savepoints
  jobManager: {resource: {memory: 2048m, cpu: 1}}
  taskManager: {resource: {memory: 2048m, cpu: 1}}
  job:
    jarURI: JARURI
    parallelism: 2
    args: [--build, "\${Build.BuildNumber}"]
    upgradeMode: savepoint
`;

const SESSION = `apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: session}
spec:
  image: flink:1.20
  flinkVersion: v1_20
  serviceAccount: flink
  jobManager: {resource: {memory: 2048m, cpu: 1}}
  taskManager: {resource: {memory: 2048m, cpu: 1}}
`;

const SESSION_JOB = `apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: enrich}
spec:
  deploymentName: session
  job: {jarURI: JARURI, parallelism: 1, upgradeMode: savepoint}
`;

/** A run of the target with a kubeconfig service connection; `spec` is written to a file. */
function deploy(t, inputs = {}, { spec, cwd = scratch() } = {}) {
  if (spec) fs.writeFileSync(path.join(cwd, 'job.yaml'), spec);
  return run({
    cwd,
    inputs: {
      target: 'flinkOperator', action: 'deploy', namespace: 'flink',
      connectionType: 'kubernetesServiceConnection', kubernetesServiceEndpoint: K.K8S_CONN,
      settleSeconds: '1', timeoutSeconds: '20',
      ...(spec ? { specFile: 'job.yaml' } : {}),
      ...inputs,
    },
    variables: { 'Build.BuildNumber': '20260520.3' },
    endpoints: K.kubeconfigConnection(t, { user: 'ci', token: CI_TOKEN }),
    env: K.agentCa(),
  });
}

const crWrites = (t) => t.k8s.writes().filter((e) => /flinkdeployments|flinksessionjobs/.test(e.path));
const realWrites = (t) => crWrites(t).filter((e) => e.query.dryRun !== 'All');
const fd = (t, name = 'orders') => t.k8s.get('FlinkDeployment', 'flink', name);
const sj = (t, name = 'enrich') => t.k8s.get('FlinkSessionJob', 'flink', name);
const rows = (t, name) => t.op.transitions.filter((x) => x.name === name).map((x) => [x.lifecycleState, x.reconciliation, x.job, x.observedGeneration]);

describe('Apache Flink Kubernetes Operator (flinkOperator)', { concurrency: 2 }, () => {
  test('FlinkDeployment: deploy, stateful upgrade, failed upgrade rolled back, savepoint, suspend/resume, delete', async () => {
    const t = await setup();
    try {
      const first = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-1.jar' }, { spec: DEPLOYMENT });
      assert.equal(first.exitCode, 0, first.log);
      assert.equal(first.outputs.state, 'STABLE');
      assert.equal(first.outputs.jobId, fd(t).status.jobStatus.jobId);
      assert.deepEqual(crWrites(t).map((e) => [e.method, e.contentType, e.query.fieldManager, e.query.dryRun]), [
        ['PATCH', 'application/apply-patch+yaml', 'flink-deploy', 'All'],
        ['PATCH', 'application/apply-patch+yaml', 'flink-deploy', undefined],
      ]);
      // What the user wrote reaches the operator as written.
      const sent = realWrites(t)[0].body;
      assert.equal(sent.spec.flinkVersion, 'v1_20');
      assert.deepEqual(sent.spec.flinkConfiguration, { 'taskmanager.numberOfTaskSlots': '2', 'custom.version': '1.20', 'state.savepoints.dir': 's3://flink/savepoints' });
      assert.equal(sent.metadata.labels.release, '1.10');
      assert.deepEqual(sent.spec.job.args, ['--build', '20260520.3']);
      assert.equal(sent.spec.job.jarURI, 'https://acct.blob.core.windows.net/jars/orders-1.jar');
      for (const n of ['plan', 'apply', 'reach STABLE with the job RUNNING', 'stay RUNNING for 1s']) assert.equal(caseNamed(junit(first), n).failed, false, n);
      const firstJob = fd(t).status.jobStatus.jobId;

      const before = rows(t, 'orders').length;
      const second = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-2.jar' }, { spec: DEPLOYMENT });
      assert.equal(second.exitCode, 0, second.log);
      assert.match(second.stdout, /the operator stops the running job with a savepoint and starts the new spec from it \(upgradeMode savepoint\)/);
      assert.match(second.stdout, /-\s+jarURI: https:\/\/acct\.blob\.core\.windows\.net\/jars\/orders-1\.jar\n(.*\n)*?\+\s+jarURI: https:\/\/acct\.blob\.core\.windows\.net\/jars\/orders-2\.jar/);
      const upgraded = fd(t);
      assert.equal(upgraded.status.observedGeneration, 2);
      assert.notEqual(upgraded.status.jobStatus.jobId, firstJob);
      assert.match(upgraded.status.jobStatus.upgradeSavepointPath, /^s3:\/\/flink\/savepoints\/orders\//);
      assert.equal(second.outputs.jobId, upgraded.status.jobStatus.jobId, 'the job of generation 2, not the stale one');
      assert.deepEqual(rows(t, 'orders').slice(before)[0], ['UPGRADING', 'UPGRADING', 'FINISHED', 2]);

      t.op.nextJobs({ outcome: 'FAILED', failure: { type: 'org.apache.flink.runtime.JobException', message: 'Recovery is suppressed by NoRestartBackoffTimeStrategy' } });
      const broken = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-3.jar', rollbackOnFailure: 'true' }, { spec: DEPLOYMENT });
      assert.equal(broken.exitCode, 1, broken.log);
      const headline = broken.errors[0].message;
      assert.match(headline, /FlinkDeployment `orders` in namespace `flink` did not reach STABLE with the job RUNNING: the job FAILED: JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy/);
      assert.match(headline, /events: Error: Recovery is suppressed/);
      assert.match(headline, /rolled back: the FlinkDeployment is back to the spec before this run \(generation 4\)/);
      assert.equal(fd(t).spec.job.jarURI, 'https://acct.blob.core.windows.net/jars/orders-2.jar', 'the resource captured in the plan is applied again');
      assert.equal(fd(t).status.lifecycleState, 'STABLE');
      assert.equal(caseNamed(junit(broken), 'rollback').failed, false);

      const sp = await deploy(t, { action: 'savepoint', deploymentName: 'orders', flinkResourceKind: 'FlinkDeployment' });
      assert.equal(sp.exitCode, 0, sp.log);
      assert.equal(fd(t).spec.job.savepointTriggerNonce, 1);
      assert.equal(sp.outputs.savepointLocation, fd(t).status.jobStatus.savepointInfo.lastSavepoint.location);
      assert.equal(fd(t).spec.job.jarURI, 'https://acct.blob.core.windows.net/jars/orders-2.jar', 'the rest of the resource is kept');
      const list = await deploy(t, { action: 'listSavepoints', deploymentName: 'orders', flinkResourceKind: 'FlinkDeployment' });
      assert.equal(list.exitCode, 0, list.log);
      assert.equal(list.outputs.savepointLocation, sp.outputs.savepointLocation);
      assert.match(list.stdout, /savepoint s3:\/\/flink\/savepoints\/orders\/\S+ \(MANUAL/);

      const suspended = await deploy(t, { action: 'suspend', deploymentName: 'orders', flinkResourceKind: 'FlinkDeployment' });
      assert.equal(suspended.exitCode, 0, suspended.log);
      assert.equal(fd(t).status.lifecycleState, 'SUSPENDED');
      assert.equal(caseNamed(junit(suspended), 'reach SUSPENDED').failed, false);
      const resumed = await deploy(t, { action: 'resume', deploymentName: 'orders', flinkResourceKind: 'FlinkDeployment' });
      assert.equal(resumed.exitCode, 0, resumed.log);
      assert.equal(fd(t).status.lifecycleState, 'STABLE');
      assert.equal(fd(t).spec.job.state, 'running');

      const gone = await deploy(t, { action: 'delete' }, { spec: DEPLOYMENT });
      assert.equal(gone.exitCode, 0, gone.log);
      assert.equal(fd(t), undefined);
      assert.equal(caseNamed(junit(gone), 'wait until deleted').failed, false);
      for (const r of [first, second, broken, sp, list, suspended, resumed, gone]) assertNoSecrets(assert, r, [CI_TOKEN]);
    } finally { await t.close(); }
  });

  test('FlinkSessionJob on a session cluster: deploy, upgrade, suspend/resume, delete', async () => {
    const t = await setup();
    try {
      const cluster = await deploy(t, {}, { spec: SESSION });
      assert.equal(cluster.exitCode, 0, cluster.log);
      assert.equal(fd(t, 'session').status.jobManagerDeploymentStatus, 'READY');
      assert.equal(caseNamed(junit(cluster), 'reach STABLE (JobManager ready)').failed, false);
      const first = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/enrich-1.jar' }, { spec: SESSION_JOB });
      assert.equal(first.exitCode, 0, first.log);
      assert.equal(sj(t).status.lifecycleState, 'STABLE');
      const firstJob = sj(t).status.jobStatus.jobId;
      const second = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/enrich-2.jar', parallelism: '3' }, { spec: SESSION_JOB });
      assert.equal(second.exitCode, 0, second.log);
      assert.equal(sj(t).spec.job.parallelism, 3);
      assert.equal(sj(t).status.observedGeneration, 2);
      assert.notEqual(sj(t).status.jobStatus.jobId, firstJob);
      const suspended = await deploy(t, { action: 'suspend', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(suspended.exitCode, 0, suspended.log);
      assert.equal(sj(t).status.lifecycleState, 'SUSPENDED');
      const resumed = await deploy(t, { action: 'resume', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(resumed.exitCode, 0, resumed.log);
      assert.equal(sj(t).status.lifecycleState, 'STABLE');
      const gone = await deploy(t, { action: 'delete', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(gone.exitCode, 0, gone.log);
      assert.equal(sj(t), undefined);
    } finally { await t.close(); }
  });

  test('status traps: created suspended (FLINK-39243), a job that keeps restarting, a status that never moves', async () => {
    const t = await setup();
    try {
      const created = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-1.jar' }, { spec: DEPLOYMENT.replace('upgradeMode: savepoint', 'upgradeMode: savepoint\n    state: suspended') });
      assert.equal(created.exitCode, 0, created.log);
      assert.equal(fd(t).status.lifecycleState, 'CREATED');
      assert.equal(fd(t).status.observedGeneration, undefined, 'the operator records no generation for it');
      assert.match(created.stdout, /FLINK-39243/);
      await deploy(t, { action: 'delete' }, { spec: DEPLOYMENT });

      t.op.nextJobs({ outcome: 'RESTARTING' });
      const flaky = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-1.jar', settleSeconds: '3' }, { spec: DEPLOYMENT });
      assert.equal(flaky.exitCode, 1, flaky.log);
      assert.match(flaky.errors[0].message, /FlinkDeployment `orders` in namespace `flink` (reached RUNNING but did not stay up for 3s \(settleSeconds\): the job (restarted|is RESTARTING)|did not reach STABLE with the job RUNNING: the job keeps restarting)/);
      await deploy(t, { action: 'delete' }, { spec: DEPLOYMENT });

      t.op.stop();
      const silent = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/orders-1.jar', timeoutSeconds: '2' }, { spec: DEPLOYMENT });
      assert.equal(silent.exitCode, 1, silent.log);
      assert.match(silent.errors[0].message, /did not reach STABLE with the job RUNNING within 2s: the operator never wrote a status for generation 1/);
      assert.match(silent.log, /check that the operator runs and watches namespace `flink`/);
    } finally { await t.close(); }
  });

  test('bad input fails before anything is written', async () => {
    const t = await setup();
    try {
      const cases = [
        [{}, undefined, /input `specFile`: is required for action `deploy` with target `flinkOperator`/],
        [{ jarUri: 'https://x/j.jar' }, DEPLOYMENT.replace('v1_20', 'v1_21'), /input `specFile`: the FlinkDeployment does not fit the operator's schema \(Apache Flink Kubernetes Operator 1\.15\): \.spec\.flinkVersion: Unsupported value: "v1_21"/],
        [{ jarUri: 'https://x/j.jar' }, DEPLOYMENT.replace('flink.apache.org/v1beta1', 'flink.apache.org/v1'), /apiVersion is `flink\.apache\.org\/v1`; the operator serves FlinkDeployment as `flink\.apache\.org\/v1beta1`/],
        [{ jarUri: 'https://x/j.jar' }, DEPLOYMENT.replace('parallelism: 2', 'parallelism: two'), /`spec\.job\.parallelism`/],
        [{}, DEPLOYMENT, /placeholder `JARURI` in `spec\.job\.jarURI` has no value/],
        [{ jarUri: 'https://x/j.jar', flinkResourceKind: 'FlinkSessionJob' }, DEPLOYMENT, /input `flinkResourceKind`: is FlinkSessionJob, but the spec file holds a FlinkDeployment/],
        [{ jarUri: 'https://x/j.jar', vvpUrl: 'https://vvp.example.com' }, DEPLOYMENT, /input `vvpUrl`: is not used by target `flinkOperator`/],
        [{ action: 'suspend', deploymentName: 'orders' }, undefined, /input `flinkResourceKind`: is required for action `suspend` without specFile/],
        [{ action: 'suspend', flinkResourceKind: 'FlinkDeployment' }, undefined, /input `deploymentName`: is required for action `suspend` without specFile/],
        [{ sessionClusterName: 'session', flinkResourceKind: 'FlinkDeployment', action: 'delete', deploymentName: 'x' }, undefined, /input `sessionClusterName`: is for a FlinkSessionJob/],
        [{ jarUri: 'https://x/j.jar' }, SESSION_JOB.replace('  deploymentName: session\n', ''), /the FlinkSessionJob needs spec\.deploymentName/],
      ];
      for (const [inputs, spec, want] of cases) {
        const r = await deploy(t, inputs, { spec });
        assert.equal(r.exitCode, 2, `${want}\n${r.log}`);
        assert.match(r.errors[0].message, want);
      }
      const missing = await deploy(t, { action: 'resume', deploymentName: 'nope', flinkResourceKind: 'FlinkDeployment' });
      assert.equal(missing.exitCode, 2, missing.log);
      assert.match(missing.errors[0].message, /FlinkDeployment `nope` in namespace `flink`: there is no such resource, so there is nothing to resume/);
      assert.deepEqual(realWrites(t), [], 'nothing was written');
    } finally { await t.close(); }
  });

  test('validate shows the server-side diff of a dry run and changes nothing; without a cluster it checks the schema', async () => {
    const t = await setup();
    try {
      assert.equal((await deploy(t, { jarUri: 'https://x/orders-1.jar', settleSeconds: '0' }, { spec: DEPLOYMENT })).exitCode, 0);
      const writes = realWrites(t).length;
      const v = await deploy(t, { action: 'validate', jarUri: 'https://x/orders-2.jar', parallelism: '4' }, { spec: DEPLOYMENT });
      assert.equal(v.exitCode, 0, v.log);
      assert.equal(realWrites(t).length, writes, 'only a dry run was sent');
      assert.match(v.stdout, /Server-side diff of the FlinkDeployment \(dry run\)/);
      assert.match(v.stdout, /\+\s+parallelism: 4/);
      assert.equal(fd(t).spec.job.parallelism, 2);
      const cwd = scratch();
      fs.writeFileSync(path.join(cwd, 'job.yaml'), DEPLOYMENT);
      const offline = await run({ cwd, inputs: { target: 'flinkOperator', action: 'validate', specFile: 'job.yaml', jarUri: 'https://x/j.jar' }, variables: { 'Build.BuildNumber': '1' } });
      assert.equal(offline.exitCode, 0, offline.log);
      assert.match(offline.stdout, /checked against the operator's schema \(1\.15\), not compared with a cluster/);
    } finally { await t.close(); }
  });
});
