// The Apache Flink Kubernetes Operator emulation (k8s-flink-operator.js) on the Kubernetes fake:
// each documented progression, observed the way a pipeline would, with kubectl apply and
// kubectl wait on the operator's real status fields, and the events it emits.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startK8s } = require('../fakes/k8s');
const { startFlinkOperator, lifecycleOf } = require('../fakes/k8s-flink-operator');
const { FLINK_CRDS, requireKubectl, kubectl, asFile, until } = require('./k8s-fake-support');

test.before(requireKubectl);

const deployment = (name, job = {}, spec = {}) => ({
  apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkDeployment', metadata: { name },
  spec: {
    image: 'flink:1.20', flinkVersion: 'v1_20', serviceAccount: 'flink',
    jobManager: { resource: { memory: '2048m', cpu: 1 } }, taskManager: { resource: { memory: '2048m', cpu: 1 } },
    job: { jarURI: 'local:///opt/flink/usrlib/job-1.jar', parallelism: 2, upgradeMode: 'savepoint', state: 'running', ...job },
    ...spec,
  },
});

async function setup(opOpts = {}) {
  const k8s = await startK8s({ crds: FLINK_CRDS, users: [{ name: 'ci', token: 'ci-token', rules: 'admin' }] });
  const op = startFlinkOperator(k8s, { stepMs: 30, ...opOpts });
  const kc = k8s.writeKubeconfig({ user: 'ci', token: 'ci-token', namespace: 'default' });
  const apply = async (obj) => {
    const r = await kubectl(kc, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(obj)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const wait = (name, expr, value, timeout = '10s', kind = 'flinkdeployment') => kubectl(kc, ['wait', `--for=jsonpath={${expr}}=${value}`, `${kind}/${name}`, `--timeout=${timeout}`]);
  const rows = (name) => op.transitions.filter((t) => t.name === name).map((t) => [t.lifecycleState, t.reconciliation, t.job, t.jm, t.observedGeneration]);
  const reasons = (name) => k8s.events('default', name).map((e) => e.reason);
  const close = async () => { op.stop(); assert.deepEqual(op.errors, []); await k8s.close(); };
  return { k8s, op, kc, apply, wait, rows, reasons, close };
}

test('first deploy: CREATED, UPGRADING, DEPLOYED while the JobManager comes up, then STABLE with the Running condition', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('job'));
    const w = await t.wait('job', '.status.lifecycleState', 'STABLE');
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(t.rows('job'), [
      ['CREATED', 'UPGRADING', undefined, 'MISSING', undefined],
      ['UPGRADING', 'UPGRADING', undefined, 'MISSING', 1],
      ['DEPLOYED', 'DEPLOYED', 'RECONCILING', 'DEPLOYING', 1],
      ['DEPLOYED', 'DEPLOYED', 'RECONCILING', 'DEPLOYED_NOT_READY', 1],
      ['STABLE', 'DEPLOYED', 'RUNNING', 'READY', 1],
    ]);
    const o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.deepEqual(o.metadata.finalizers, ['flinkdeployments.flink.apache.org/finalizer']);
    assert.equal(o.status.conditions[0].type, 'Running');
    assert.equal(o.status.conditions[0].status, 'True');
    assert.equal(o.status.conditions[0].reason, 'Running');
    assert.match(o.status.jobStatus.jobId, /^[0-9a-f]{32}$/);
    const recorded = JSON.parse(o.status.reconciliationStatus.lastReconciledSpec);
    assert.deepEqual(recorded.resource_metadata, { apiVersion: 'flink.apache.org/v1beta1', firstDeployment: true });
    assert.equal(o.status.reconciliationStatus.lastStableSpec, o.status.reconciliationStatus.lastReconciledSpec);
    assert.deepEqual(t.reasons('job'), ['Submit', 'JobStatusChanged']);
    // The operator's status writes never collide with the pipeline's apply: it owns status, we own spec.
    await t.apply(deployment('job'));
    assert.equal(t.k8s.get('FlinkDeployment', 'default', 'job').metadata.generation, 1);
  } finally { await t.close(); }
});

test('stateful upgrade with a savepoint: observedGeneration moves with the upgrade; the old job stops with a savepoint', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('job'));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    const firstJob = t.k8s.get('FlinkDeployment', 'default', 'job').status.jobStatus.jobId;
    const before = t.rows('job').length;
    await t.apply(deployment('job', { jarURI: 'local:///opt/flink/usrlib/job-2.jar' }));
    assert.equal(t.k8s.get('FlinkDeployment', 'default', 'job').metadata.generation, 2);
    const w = await t.wait('job', '.status.observedGeneration', '2');
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    assert.deepEqual(t.rows('job').slice(before), [
      ['UPGRADING', 'UPGRADING', 'FINISHED', 'READY', 2],
      ['UPGRADING', 'UPGRADING', 'FINISHED', 'MISSING', 2],
      ['DEPLOYED', 'DEPLOYED', 'RECONCILING', 'DEPLOYING', 2],
      ['DEPLOYED', 'DEPLOYED', 'RECONCILING', 'DEPLOYED_NOT_READY', 2],
      ['STABLE', 'DEPLOYED', 'RUNNING', 'READY', 2],
    ]);
    const o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.match(o.status.jobStatus.upgradeSavepointPath, /^s3:\/\/flink\/savepoints\/job\/savepoint-/);
    assert.notEqual(o.status.jobStatus.jobId, firstJob);
    assert.deepEqual(t.reasons('job').slice(2), ['SpecChanged', 'Suspended', 'Submit', 'JobStatusChanged']);
    assert.match(t.k8s.events('default', 'job').find((e) => e.reason === 'SpecChanged').message, /job\.jarURI : "local:\/\/\/opt\/flink\/usrlib\/job-1\.jar" -> "local:\/\/\/opt\/flink\/usrlib\/job-2\.jar"/);
  } finally { await t.close(); }
});

test('last-state upgrade keeps the job id and restores from HA; stateless starts a new job without state', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('ls', { upgradeMode: 'last-state' }));
    assert.equal((await t.wait('ls', '.status.lifecycleState', 'STABLE')).code, 0);
    const id = t.k8s.get('FlinkDeployment', 'default', 'ls').status.jobStatus.jobId;
    await t.apply(deployment('ls', { upgradeMode: 'last-state', parallelism: 4 }));
    assert.equal((await t.wait('ls', '.status.observedGeneration', '2')).code, 0);
    assert.equal((await t.wait('ls', '.status.lifecycleState', 'STABLE')).code, 0);
    const o = t.k8s.get('FlinkDeployment', 'default', 'ls');
    assert.equal(o.status.jobStatus.jobId, id);
    assert.equal(o.status.jobStatus.upgradeSavepointPath, 'KUBERNETES_OPERATOR_LAST_STATE');
    assert.ok(!t.rows('ls').some((r) => r[2] === 'FINISHED' && r[3] === 'READY'), 'last-state does not keep the JobManager for a savepoint');

    await t.apply(deployment('sl', { upgradeMode: 'stateless' }));
    assert.equal((await t.wait('sl', '.status.lifecycleState', 'STABLE')).code, 0);
    const sid = t.k8s.get('FlinkDeployment', 'default', 'sl').status.jobStatus.jobId;
    await t.apply(deployment('sl', { upgradeMode: 'stateless', parallelism: 4 }));
    assert.equal((await t.wait('sl', '.status.observedGeneration', '2')).code, 0);
    assert.equal((await t.wait('sl', '.status.lifecycleState', 'STABLE')).code, 0);
    const s = t.k8s.get('FlinkDeployment', 'default', 'sl');
    assert.notEqual(s.status.jobStatus.jobId, sid);
    assert.equal(s.status.jobStatus.upgradeSavepointPath, undefined);
  } finally { await t.close(); }
});

test('failed upgrade: the new job fails, FAILED with the cause in error and a Warning event; no rollback by default', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('job'));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    t.op.nextJobs({ outcome: 'FAILED', failure: { type: 'java.lang.ClassNotFoundException', message: 'org.example.Missing' } });
    await t.apply(deployment('job', { jarURI: 'local:///opt/flink/usrlib/broken.jar' }));
    const w = await t.wait('job', '.status.lifecycleState', 'FAILED');
    assert.equal(w.code, 0, w.stderr);
    const o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.deepEqual([o.status.reconciliationStatus.state, o.status.jobStatus.state, o.status.jobManagerDeploymentStatus, o.status.observedGeneration], ['DEPLOYED', 'FAILED', 'READY', 2]);
    assert.deepEqual(JSON.parse(o.status.error), { type: 'java.lang.ClassNotFoundException', message: 'org.example.Missing', additionalMetadata: {}, throwableList: [] });
    assert.equal(o.status.conditions[0].reason, 'Failed');
    const warn = t.k8s.events('default', 'job').filter((e) => e.type === 'Warning');
    assert.deepEqual(warn.map((e) => [e.reason, e.message]), [['Error', 'org.example.Missing']]);
    // Nothing more happens: FAILED stays.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.k8s.get('FlinkDeployment', 'default', 'job').status.lifecycleState, 'FAILED');
  } finally { await t.close(); }
});

test('failed upgrade with rollback enabled: ROLLING_BACK then ROLLED_BACK running the last stable spec', async () => {
  const t = await setup({ rollback: true, readinessTimeoutMs: 300 });
  try {
    await t.apply(deployment('job'));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    const stable = t.k8s.get('FlinkDeployment', 'default', 'job').status.reconciliationStatus.lastStableSpec;
    t.op.nextJobs({ outcome: 'FAILED' });
    await t.apply(deployment('job', { jarURI: 'local:///opt/flink/usrlib/broken.jar' }));
    const w = await t.wait('job', '.status.lifecycleState', 'ROLLED_BACK');
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await t.wait('job', '.status.jobStatus.state', 'RUNNING')).code, 0);
    const lifecycles = t.rows('job').map((r) => r[0]);
    assert.deepEqual(lifecycles.slice(lifecycles.indexOf('FAILED')), ['FAILED', 'ROLLING_BACK', 'ROLLED_BACK', 'ROLLED_BACK']);
    const o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.equal(o.status.observedGeneration, 2, 'observedGeneration names the generation that failed, not what runs');
    assert.equal(o.status.reconciliationStatus.lastStableSpec, stable);
    assert.ok(t.reasons('job').includes('Rollback'));
  } finally { await t.close(); }
});

test('suspend and resume; created suspended stays CREATED without observedGeneration (FLINK-39243)', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('job'));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    await t.apply(deployment('job', { state: 'suspended' }));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'SUSPENDED')).code, 0);
    let o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.deepEqual([o.status.jobStatus.state, o.status.jobManagerDeploymentStatus, o.status.observedGeneration], ['FINISHED', 'READY', 2]);
    await t.apply(deployment('job', { state: 'running' }));
    assert.equal((await t.wait('job', '.status.observedGeneration', '3')).code, 0);
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.match(o.status.jobStatus.upgradeSavepointPath, /savepoint-/, 'resumed from the suspend savepoint');

    await t.apply(deployment('parked', { state: 'suspended' }));
    assert.equal((await t.wait('parked', '.status.lifecycleState', 'CREATED')).code, 0);
    const stuck = await t.wait('parked', '.status.observedGeneration', '1', '1s');
    assert.equal(stuck.code, 1, 'observedGeneration never appears for a suspended create');
    assert.deepEqual(t.rows('parked'), [['CREATED', 'UPGRADING', undefined, 'MISSING', undefined]]);
    assert.deepEqual(t.reasons('parked'), []);
    // Starting it later is an ordinary first deploy.
    await t.apply(deployment('parked', { state: 'running' }));
    assert.equal((await t.wait('parked', '.status.lifecycleState', 'STABLE')).code, 0);
    assert.equal(t.k8s.get('FlinkDeployment', 'default', 'parked').status.observedGeneration, 2);
  } finally { await t.close(); }
});

test('JobManager that never comes up: DEPLOYED (not FAILED) with jobManagerDeploymentStatus ERROR and the container reason', async () => {
  const t = await setup();
  try {
    t.op.nextJobs({ outcome: 'JM_ERROR', reason: 'ImagePullBackOff' });
    await t.apply(deployment('job', {}, { image: 'flink:9.9' }));
    assert.equal((await t.wait('job', '.status.jobManagerDeploymentStatus', 'ERROR')).code, 0);
    const o = t.k8s.get('FlinkDeployment', 'default', 'job');
    assert.equal(o.status.lifecycleState, 'DEPLOYED');
    assert.equal(JSON.parse(o.status.error).additionalMetadata.reason, 'ImagePullBackOff');
    assert.match(JSON.parse(o.status.error).message, /Back-off pulling image "flink:9\.9"/);
    assert.deepEqual(t.k8s.events('default', 'job').filter((e) => e.type === 'Warning').map((e) => e.reason), ['ImagePullBackOff']);
  } finally { await t.close(); }
});

test('session cluster and session job: the job waits for a READY JobManager; no conditions on the job', async () => {
  const t = await setup();
  try {
    const job = {
      apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkSessionJob', metadata: { name: 'sj' },
      spec: { deploymentName: 'session', job: { jarURI: 'https://repo.example/job.jar', parallelism: 1, upgradeMode: 'stateless' } },
    };
    await t.apply(job);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.k8s.get('FlinkSessionJob', 'default', 'sj').status, undefined, 'not reconciled without its session cluster');
    const session = deployment('session');
    delete session.spec.job;
    await t.apply(session);
    assert.equal((await t.wait('session', '.status.jobManagerDeploymentStatus', 'READY')).code, 0);
    assert.equal((await t.wait('sj', '.status.lifecycleState', 'STABLE', '10s', 'flinksessionjob')).code, 0);
    const sj = t.k8s.get('FlinkSessionJob', 'default', 'sj');
    assert.equal(sj.status.jobStatus.state, 'RUNNING');
    assert.equal(sj.status.conditions, undefined);
    assert.equal(sj.status.jobManagerDeploymentStatus, undefined);
    assert.deepEqual(sj.metadata.finalizers, ['flinksessionjobs.flink.apache.org/finalizer']);
    const s = t.k8s.get('FlinkDeployment', 'default', 'session');
    assert.equal(s.status.lifecycleState, 'STABLE');
    assert.deepEqual([s.status.conditions[0].reason, s.status.conditions[0].status], ['JobManagerReady', 'True']);
  } finally { await t.close(); }
});

test('session job upgrades as operator 1.15 does: a stop clears the job id, a new id is written before the submit, a stopped job restarts from the known savepoint', async () => {
  const t = await setup();
  const sessionJob = (job) => ({
    apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkSessionJob', metadata: { name: 'sj' },
    spec: { deploymentName: 'session', job: { jarURI: 'https://repo.example/job-1.jar', parallelism: 1, upgradeMode: 'savepoint', ...job } },
  });
  const ids = () => t.op.transitions.filter((x) => x.name === 'sj');
  try {
    const session = deployment('session');
    delete session.spec.job;
    await t.apply(session);
    await t.apply(sessionJob());
    assert.equal((await t.wait('sj', '.status.lifecycleState', 'STABLE', '10s', 'flinksessionjob')).code, 0);
    const first = t.k8s.get('FlinkSessionJob', 'default', 'sj').status.jobStatus.jobId;
    const before = ids().length;
    await t.apply(sessionJob({ jarURI: 'https://repo.example/job-2.jar' }));
    assert.equal((await t.wait('sj', '.status.observedGeneration', '2', '10s', 'flinksessionjob')).code, 0);
    assert.equal((await t.wait('sj', '.status.lifecycleState', 'STABLE', '10s', 'flinksessionjob')).code, 0);
    assert.deepEqual(t.rows('sj').slice(before), [
      ['UPGRADING', 'UPGRADING', 'FINISHED', undefined, 2],
      ['UPGRADING', 'UPGRADING', 'RECONCILING', undefined, 2],
      ['DEPLOYED', 'DEPLOYED', 'RECONCILING', undefined, 2],
      ['STABLE', 'DEPLOYED', 'RUNNING', undefined, 2],
    ]);
    const o = t.k8s.get('FlinkSessionJob', 'default', 'sj').status.jobStatus;
    assert.notEqual(o.jobId, first);
    assert.deepEqual(ids().slice(before).map((x) => x.jobId), [undefined, o.jobId, o.jobId, o.jobId]);
    const info = o.savepointInfo;
    assert.deepEqual([info.lastSavepoint.location, info.lastSavepoint.triggerType], [o.upgradeSavepointPath, 'UPGRADE']);
    assert.deepEqual(t.op.jobs.filter((j) => j.name === 'sj').map((j) => [j.what, j.savepoint]), [['submit', undefined], ['stop', o.upgradeSavepointPath], ['submit', o.upgradeSavepointPath]]);

    // The next job fails; a new spec starts from the savepoint the status knows, with no stop.
    t.op.nextJobs({ outcome: 'FAILED' });
    await t.apply(sessionJob({ jarURI: 'https://repo.example/job-3.jar' }));
    assert.equal((await t.wait('sj', '.status.lifecycleState', 'FAILED', '10s', 'flinksessionjob')).code, 0);
    const sp = t.k8s.get('FlinkSessionJob', 'default', 'sj').status.jobStatus.upgradeSavepointPath;
    const stops = t.op.jobs.filter((j) => j.what === 'stop').length;
    await t.apply(sessionJob({ jarURI: 'https://repo.example/job-2.jar' }));
    assert.equal((await t.wait('sj', '.status.observedGeneration', '4', '10s', 'flinksessionjob')).code, 0);
    assert.equal((await t.wait('sj', '.status.lifecycleState', 'STABLE', '10s', 'flinksessionjob')).code, 0);
    assert.equal(t.op.jobs.filter((j) => j.what === 'stop').length, stops, 'a FAILED job is not stopped again');
    assert.deepEqual(t.op.jobs.at(-1).savepoint, sp);
    assert.ok(!t.k8s.events('default', 'sj').slice(-3).some((e) => e.reason === 'Suspended'));
  } finally { await t.close(); }
});

test('delete: the operator cleans up, then removes its finalizer; kubectl delete returns when the object is gone', async () => {
  const t = await setup();
  try {
    await t.apply(deployment('job'));
    assert.equal((await t.wait('job', '.status.lifecycleState', 'STABLE')).code, 0);
    const d = await kubectl(t.kc, ['delete', 'flinkdeployment', 'job', '--timeout=10s']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(t.k8s.get('FlinkDeployment', 'default', 'job'), undefined);
    assert.ok(t.reasons('job').includes('Cleanup'));
    assert.equal(t.op.transitions.at(-1).lifecycleState, 'DELETING');
  } finally { await t.close(); }
});

test('lifecycleState follows the operator\'s rules in order', () => {
  const spec = (state) => JSON.stringify({ spec: { job: { state } }, resource_metadata: {} });
  assert.equal(lifecycleOf({}, 'FlinkDeployment'), 'CREATED');
  assert.equal(lifecycleOf({ error: 'x' }, 'FlinkDeployment'), 'FAILED');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'UPGRADING', lastReconciledSpec: spec('running') }, jobStatus: { state: 'FAILED' } }, 'FlinkDeployment'), 'UPGRADING');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'DEPLOYED', lastReconciledSpec: spec('suspended') }, jobStatus: { state: 'FAILED' } }, 'FlinkDeployment'), 'SUSPENDED');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'ROLLED_BACK', lastReconciledSpec: spec('running') }, jobStatus: { state: 'FAILED' } }, 'FlinkDeployment'), 'FAILED');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'DEPLOYED', lastReconciledSpec: spec('running') }, jobManagerDeploymentStatus: 'MISSING', error: 'HA metadata is not available' }, 'FlinkDeployment'), 'FAILED');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'DEPLOYED', lastReconciledSpec: spec('running') }, jobManagerDeploymentStatus: 'ERROR', error: 'ImagePullBackOff' }, 'FlinkDeployment'), 'DEPLOYED');
  assert.equal(lifecycleOf({ reconciliationStatus: { state: 'DEPLOYED', lastReconciledSpec: spec('running'), lastStableSpec: spec('running') } }, 'FlinkDeployment'), 'STABLE');
});
