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
const summaryOf = (r) => fs.readFileSync(r.command('task.uploadsummary')[0].message, 'utf8');
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

  test('FlinkSessionJob on a session cluster: deploy, savepoint upgrade, failed upgrade rolled back, suspend/resume, delete', async () => {
    const t = await setup();
    const jar = (n) => `https://acct.blob.core.windows.net/jars/enrich-${n}.jar`;
    const sjWrites = () => realWrites(t).filter((e) => /flinksessionjobs/.test(e.path));
    const jobsOf = () => t.op.jobs.filter((j) => j.name === 'enrich');
    try {
      const cluster = await deploy(t, {}, { spec: SESSION });
      assert.equal(cluster.exitCode, 0, cluster.log);
      assert.equal(fd(t, 'session').status.jobManagerDeploymentStatus, 'READY');
      assert.equal(caseNamed(junit(cluster), 'reach STABLE (JobManager ready)').failed, false);

      // Deploy: the file's resource as written, the job id of the job that runs.
      const first = await deploy(t, { jarUri: jar(1) }, { spec: SESSION_JOB });
      assert.equal(first.exitCode, 0, first.log);
      assert.deepEqual(sjWrites().map((e) => [e.method, e.contentType, e.query.fieldManager]), [['PATCH', 'application/apply-patch+yaml', 'flink-deploy']]);
      assert.deepEqual(sjWrites()[0].body, {
        apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkSessionJob', metadata: { name: 'enrich', namespace: 'flink' },
        spec: { deploymentName: 'session', job: { jarURI: jar(1), parallelism: 1, upgradeMode: 'savepoint' } },
      });
      assert.equal(sj(t).status.lifecycleState, 'STABLE');
      const firstJob = sj(t).status.jobStatus.jobId;
      assert.equal(first.outputs.jobId, firstJob);
      assert.equal(first.outputs.state, 'STABLE');
      for (const n of ['plan', 'apply', 'reach STABLE with the job RUNNING', 'stay RUNNING for 1s']) assert.equal(caseNamed(junit(first), n).failed, false, n);
      assert.deepEqual(jobsOf().map((j) => [j.what, j.jobId, j.savepoint]), [['submit', firstJob, undefined]]);

      // Stateful upgrade: the operator stops the job with a savepoint, then submits the new
      // spec from it as a new job (a session job's id is new on every submission).
      const before = rows(t, 'enrich').length;
      const second = await deploy(t, { jarUri: jar(2), parallelism: '3' }, { spec: SESSION_JOB });
      assert.equal(second.exitCode, 0, second.log);
      assert.match(second.stdout, /the operator stops the running job with a savepoint and starts the new spec from it \(upgradeMode savepoint\)/);
      assert.equal(sjWrites().at(-1).body.spec.job.parallelism, 3);
      assert.equal(sjWrites().at(-1).body.spec.job.jarURI, jar(2));
      const upgraded = sj(t).status;
      assert.equal(upgraded.observedGeneration, 2);
      const upgradeSp = upgraded.jobStatus.upgradeSavepointPath;
      assert.match(upgradeSp, /^s3:\/\/flink\/savepoints\/enrich\//);
      assert.notEqual(upgraded.jobStatus.jobId, firstJob);
      assert.equal(second.outputs.jobId, upgraded.jobStatus.jobId, 'the job of generation 2, not the stopped one');
      assert.deepEqual(jobsOf().slice(1).map((j) => [j.what, j.jobId, j.savepoint]), [['stop', firstJob, upgradeSp], ['submit', upgraded.jobStatus.jobId, upgradeSp]]);
      assert.deepEqual(rows(t, 'enrich').slice(before)[0], ['UPGRADING', 'UPGRADING', 'FINISHED', 2]);
      assert.equal(caseNamed(junit(second), 'stay RUNNING for 1s').failed, false);
      const goodJob = upgraded.jobStatus.jobId;

      // A failed upgrade rolled back: the resource the plan read is applied again, and the job
      // starts from the savepoint its stop took.
      t.op.nextJobs({ outcome: 'FAILED', failure: { type: 'org.apache.flink.runtime.JobException', message: 'Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=3)' } });
      const broken = await deploy(t, { jarUri: jar(3), parallelism: '3', rollbackOnFailure: 'true' }, { spec: SESSION_JOB });
      assert.equal(broken.exitCode, 1, broken.log);
      const headline = broken.errors[0].message;
      assert.match(headline, /^FlinkSessionJob `enrich` in namespace `flink` did not reach STABLE with the job RUNNING: the job FAILED: JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy\(maxNumberRestartAttempts=3\)/);
      assert.match(headline, /rolled back: the FlinkSessionJob is back to the spec before this run \(generation 4\)/);
      assert.equal(sjWrites().length, 4, 'the upgrade and the rollback');
      assert.equal(sjWrites()[2].body.spec.job.jarURI, jar(3));
      assert.deepEqual(sjWrites()[3].body, sjWrites()[1].body, 'the rollback applies the resource as the plan read it');
      assert.equal(sjWrites()[3].query.force, 'true');
      const back = sj(t);
      assert.equal(back.spec.job.jarURI, jar(2));
      assert.equal(back.status.lifecycleState, 'STABLE');
      assert.equal(back.status.observedGeneration, 4);
      const failedStop = jobsOf()[3];
      assert.deepEqual([failedStop.what, failedStop.jobId], ['stop', goodJob]);
      const [failedSubmit, rollbackSubmit] = jobsOf().slice(4);
      assert.deepEqual([failedSubmit.what, failedSubmit.savepoint], ['submit', failedStop.savepoint]);
      assert.deepEqual([rollbackSubmit.what, rollbackSubmit.jobId, rollbackSubmit.savepoint], ['submit', back.status.jobStatus.jobId, failedStop.savepoint], 'the rolled-back job restores the state of the last good job');
      const cases = junit(broken);
      assert.equal(caseNamed(cases, 'reach STABLE with the job RUNNING').failed, true);
      assert.match(caseNamed(cases, 'reach STABLE with the job RUNNING').failure, /Recovery is suppressed/);
      assert.equal(caseNamed(cases, 'rollback').failed, false);
      const md = summaryOf(broken);
      assert.match(md, /#### Rollback\s+✅ rolled back: the FlinkSessionJob is back to the spec before this run \(generation 4\)/);

      // Suspend with a savepoint, resume from it.
      const suspended = await deploy(t, { action: 'suspend', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(suspended.exitCode, 0, suspended.log);
      assert.deepEqual(sjWrites().at(-1).body, { ...sjWrites()[1].body, spec: { ...sjWrites()[1].body.spec, job: { ...sjWrites()[1].body.spec.job, state: 'suspended' } } });
      assert.equal(sj(t).status.lifecycleState, 'SUSPENDED');
      assert.equal(sj(t).status.jobStatus.jobId, undefined, 'the stopped job is gone from the status');
      assert.equal(caseNamed(junit(suspended), 'reach SUSPENDED').failed, false);
      const stop = jobsOf().at(-1);
      assert.deepEqual([stop.what, stop.jobId], ['stop', back.status.jobStatus.jobId]);
      assert.equal(sj(t).status.jobStatus.upgradeSavepointPath, stop.savepoint);
      const resumed = await deploy(t, { action: 'resume', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(resumed.exitCode, 0, resumed.log);
      assert.equal(sjWrites().at(-1).body.spec.job.state, 'running');
      assert.equal(sj(t).status.lifecycleState, 'STABLE');
      const start = jobsOf().at(-1);
      assert.deepEqual([start.what, start.jobId, start.savepoint], ['submit', sj(t).status.jobStatus.jobId, stop.savepoint]);
      assert.equal(resumed.outputs.jobId, start.jobId);
      assert.equal(caseNamed(junit(resumed), 'reach STABLE with the job RUNNING').failed, false);

      // Delete: the operator cancels the running job; the session cluster stays.
      const gone = await deploy(t, { action: 'delete', deploymentName: 'enrich', flinkResourceKind: 'FlinkSessionJob' });
      assert.equal(gone.exitCode, 0, gone.log);
      assert.equal(sj(t), undefined);
      assert.deepEqual(t.k8s.writes().filter((e) => e.method === 'DELETE').map((e) => e.path), ['/apis/flink.apache.org/v1beta1/namespaces/flink/flinksessionjobs/enrich']);
      assert.equal(caseNamed(junit(gone), 'wait until deleted').failed, false);
      assert.deepEqual(jobsOf().at(-1), { name: 'enrich', kind: 'FlinkSessionJob', what: 'cancel', jobId: start.jobId });
      assert.equal(fd(t, 'session').status.lifecycleState, 'STABLE');
      for (const r of [cluster, first, second, broken, suspended, resumed, gone]) assertNoSecrets(assert, r, [CI_TOKEN]);
    } finally { await t.close(); }
  });

  test('FlinkSessionJob last-state upgrade: the operator cancels the job and starts the new spec from its last checkpoint as a new job', async () => {
    const t = await setup();
    const spec = SESSION_JOB.replace('upgradeMode: savepoint', 'upgradeMode: last-state');
    try {
      assert.equal((await deploy(t, { settleSeconds: '0' }, { spec: SESSION })).exitCode, 0);
      const first = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/enrich-1.jar', settleSeconds: '0' }, { spec });
      assert.equal(first.exitCode, 0, first.log);
      const firstJob = sj(t).status.jobStatus.jobId;
      const before = rows(t, 'enrich').length;
      const second = await deploy(t, { jarUri: 'https://acct.blob.core.windows.net/jars/enrich-2.jar' }, { spec });
      assert.equal(second.exitCode, 0, second.log);
      assert.match(second.stdout, /the operator cancels the running job and starts the new spec from its last checkpoint as a new job \(upgradeMode last-state; a session job has no HA metadata of its own\)/);
      assert.doesNotMatch(second.stdout, /same job id/);
      const now = sj(t).status;
      assert.equal(now.observedGeneration, 2);
      assert.notEqual(now.jobStatus.jobId, firstJob);
      assert.equal(second.outputs.jobId, now.jobStatus.jobId);
      assert.match(now.jobStatus.upgradeSavepointPath, new RegExp(`^s3://flink/checkpoints/enrich/${firstJob}/chk-\\d+$`));
      assert.deepEqual(t.op.jobs.filter((j) => j.name === 'enrich').slice(1).map((j) => [j.what, j.jobId, j.savepoint]), [['cancel', firstJob, undefined], ['submit', now.jobStatus.jobId, now.jobStatus.upgradeSavepointPath]]);
      // While the cancel runs the status still names generation 1: not this change's answer.
      assert.deepEqual(rows(t, 'enrich').slice(before)[0], ['UPGRADING', 'UPGRADING', 'CANCELLING', 1]);
      assert.equal(caseNamed(junit(second), 'stay RUNNING for 1s').failed, false);
    } finally { await t.close(); }
  });

  test('healthMaxRestarts: 1 lets a FlinkDeployment that restarts once pass and fails it on the second restart since it started', async () => {
    const t = await setup();
    const once = (n, inputs = {}) => deploy(t, { jarUri: `https://acct.blob.core.windows.net/jars/orders-${n}.jar`, settleSeconds: '4', healthMaxRestarts: '1', ...inputs }, { spec: DEPLOYMENT });
    const restartEvents = () => t.k8s.events('flink', 'orders', 'FlinkDeployment').filter((e) => /to RESTARTING$/.test(e.message)).length;
    try {
      t.op.nextJobs({ restartsAfterMs: [1200] });
      const tolerated = await once(1);
      assert.equal(tolerated.exitCode, 0, tolerated.log);
      assert.equal(restartEvents(), 1, 'the job restarted once while settling');
      assert.equal(caseNamed(junit(tolerated), 'stay RUNNING for 4s').failed, false);

      t.op.nextJobs({ restartsAfterMs: [1000, 2200] });
      const twice = await once(2);
      assert.equal(twice.exitCode, 1, twice.log);
      assert.match(twice.errors[0].message, /^FlinkDeployment `orders` in namespace `flink` reached RUNNING but did not stay up for 4s \(settleSeconds\): the job restarted \(2 time\(s\) since it started\)/);
      assert.equal(caseNamed(junit(twice), 'stay RUNNING for 4s').failed, true);
      assert.equal(restartEvents(), 3);

      // A restart before the job was first seen RUNNING is a restart since it started too.
      t.op.nextJobs({ restartsBeforeRunning: true, restartsAfterMs: [1200] });
      const early = await once(3);
      assert.equal(early.exitCode, 1, early.log);
      assert.match(early.errors[0].message, /did not stay up for 4s \(settleSeconds\): the job restarted \(2 time\(s\) since it started\)/);
      assert.equal(restartEvents(), 5);
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

  test('a folder of two spec files: two FlinkDeployments applied in one step, each waited on and reported', async () => {
    const t = await setup();
    try {
      const cwd = scratch();
      fs.mkdirSync(path.join(cwd, 'deploy'));
      for (const name of ['orders', 'billing']) {
        fs.writeFileSync(path.join(cwd, 'deploy', `${name}.yaml`), DEPLOYMENT.replace('name: orders', `name: ${name}`));
      }
      const r = await deploy(t, { specFile: 'deploy', jarUri: 'https://acct.blob.core.windows.net/jars/orders-1.jar' }, { cwd });
      assert.equal(r.exitCode, 0, r.log);
      for (const name of ['orders', 'billing']) {
        assert.equal(fd(t, name).status.lifecycleState, 'STABLE', name);
        assert.equal(realWrites(t).filter((e) => e.body.metadata.name === name).length, 1, `one apply of ${name}`);
      }
      const list = JSON.parse(r.outputs.deployments);
      assert.deepEqual(list.map((d) => d.deploymentName).sort(), ['billing', 'orders']);
      for (const d of list) assert.equal(d.jobId, fd(t, d.deploymentName).status.jobStatus.jobId, d.deploymentName);
      assert.equal(r.outputs.jobId, undefined, 'the single-deployment outputs are for one spec file');
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
