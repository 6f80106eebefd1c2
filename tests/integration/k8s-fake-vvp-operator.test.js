// The Ververica Platform operator emulation (k8s-vvp-operator.js), 2.x and 3.x generations, on
// the Kubernetes fake with a Ververica Platform fake behind it: what a pipeline sees through
// kubectl (apply, wait on the real status fields, events) and what reaches the platform.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { startK8s } = require('../fakes/k8s');
const { startVvp } = require('../fakes/vvp');
const { startVvpOperator, OWNER_LABEL } = require('../fakes/k8s-vvp-operator');
const { CRD_DIR, requireKubectl, kubectl, asFile, until } = require('./k8s-fake-support');

test.before(requireKubectl);

const VVP_TOKEN = 'vvp-api-token';
const secret = { namespace: 'default', name: 'vvp-token', data: { apikey: Buffer.from(VVP_TOKEN).toString('base64') } };

async function setup(generation, opOpts = {}) {
  const vvp = await startVvp({ token: VVP_TOKEN, timing: { startMs: 150, stopMs: 60, savepointMs: 40 } });
  const k8s = await startK8s({
    crds: [path.join(CRD_DIR, `vvp/vvp${generation}-vvpdeployment.crd.yaml`)],
    secrets: [secret],
    users: [{ name: 'ci', token: 'ci-token', rules: 'admin' }],
  });
  const op = startVvpOperator(k8s, { vvp, generation, pollMs: 80, instanceId: 'vvp-main', ...opOpts });
  const kc = k8s.writeKubeconfig({ user: 'ci', token: 'ci-token', namespace: 'default' });
  const apply = (obj, manager = 'flink-deploy') => kubectl(kc, ['apply', '--server-side', `--field-manager=${manager}`, '-f', asFile(obj)]);
  const wait = (name, expr, value, timeout = '10s') => kubectl(kc, ['wait', `--for=jsonpath={${expr}}=${value}`, `vvpdeployment/${name}`, `--timeout=${timeout}`]);
  const close = async () => { op.stop(); assert.deepEqual(op.errors, []); await k8s.close(); await vvp.close(); };
  return { vvp, k8s, op, kc, apply, wait, close };
}

const cr2 = (name, jarUri, spec = {}, extra = {}) => ({
  apiVersion: 'ververica.platform/v1', kind: 'VvpDeployment',
  metadata: { name, annotations: { apikeySecretName: 'vvp-token' }, ...(extra.metadata || {}) },
  spec: {
    syncingMode: 'PATCH',
    deployment: {
      userMetadata: { name, namespace: 'default', displayName: name },
      spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', template: { spec: { artifact: { kind: 'JAR', jarUri } } }, ...spec },
    },
    ...(extra.spec || {}),
  },
});

const cr3 = (name, jarUri, spec = {}, extra = {}) => ({
  apiVersion: 'ververica.platform/v1', kind: 'VvpDeployment',
  metadata: { name, labels: { [OWNER_LABEL]: 'vvp-main' }, annotations: { apikeySecretName: 'vvp-token' }, ...(extra.metadata || {}) },
  spec: {
    syncingMode: 'PATCH',
    deployment: {
      metadata: { name, namespace: 'default' },
      spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', template: { spec: { artifact: { kind: 'JAR', jarUri } } }, ...spec },
    },
    ...(extra.spec || {}),
  },
});

test('2.x: the CR creates the deployment in the platform; status mirrors it and lags behind a change (no observedGeneration)', async () => {
  const t = await setup(2);
  try {
    const a = await t.apply(cr2('orders', 's3://jars/orders-1.jar'));
    assert.equal(a.code, 0, a.stderr);
    const w = await t.wait('orders', '.status.deploymentStatus.state', 'RUNNING');
    assert.equal(w.code, 0, w.stderr);
    const dep = t.vvp.deployment('default', 'orders');
    assert.equal(dep.spec.template.spec.artifact.jarUri, 's3://jars/orders-1.jar');
    assert.ok(t.op.log.some((e) => e.method === 'POST' && e.path === '/api/v1/namespaces/default/deployments' && e.status === 201));
    let o = t.k8s.get('VvpDeployment', 'default', 'orders');
    assert.deepEqual(o.status.customResourceStatus, { customResourceState: 'SYNCING', deploymentId: dep.metadata.id, observedSpecState: 'RUNNING', statusState: 'RUNNING', vvpNamespace: 'default' });
    assert.equal(o.status.deploymentSystemMetadata.id, dep.metadata.id);
    const firstJob = o.status.deploymentStatus.running.jobId;
    const rv = o.status.deploymentSystemMetadata.resourceVersion;

    // A new jar: right after the apply the CR still says RUNNING, with the old job and resourceVersion.
    let atChange;
    t.k8s.controller('VvpDeployment', (x) => { if (x.metadata.generation === 2 && !atChange) atChange = x; });
    assert.equal((await t.apply(cr2('orders', 's3://jars/orders-2.jar'))).code, 0);
    o = await until(() => atChange, 2000, 'the change');
    assert.equal(o.metadata.generation, 2);
    assert.equal(o.status.observedGeneration, undefined);
    assert.equal(o.status.deploymentStatus.state, 'RUNNING', 'stale: the previous state');
    assert.equal(o.status.deploymentStatus.running.jobId, firstJob);
    await until(() => t.k8s.get('VvpDeployment', 'default', 'orders').status.deploymentSystemMetadata.resourceVersion > rv, 5000, 'the platform\'s resourceVersion to move');
    const seen = await until(() => {
      const s = t.k8s.get('VvpDeployment', 'default', 'orders').status;
      return s.deploymentStatus.state === 'RUNNING' && s.deploymentStatus.running.jobId !== firstJob && s;
    }, 5000, 'the new job');
    assert.equal(t.vvp.deployment('default', 'orders').spec.template.spec.artifact.jarUri, 's3://jars/orders-2.jar');
    assert.equal(seen.deploymentSystemMetadata.annotations['com.dataartisans.appmanager.controller.deployment.spec.version'], '2');
    assert.ok(t.op.log.some((e) => e.method === 'PATCH' && e.status === 200));
  } finally { await t.close(); }
});

test('2.x: a CR for an existing deployment gets the platform\'s result written back; a later apply of those fields conflicts', async () => {
  const t = await setup(2);
  try {
    t.vvp.seed('default', { metadata: { name: 'legacy' }, spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', restoreStrategy: { kind: 'LATEST_SAVEPOINT' }, template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://jars/legacy-1.jar' } } } } });
    assert.equal((await t.apply(cr2('legacy', 's3://jars/legacy-2.jar'))).code, 0);
    const o = await until(() => { const x = t.k8s.get('VvpDeployment', 'default', 'legacy'); return x.metadata.generation === 2 && x; }, 5000, 'the write-back');
    assert.equal(o.spec.deployment.spec.restoreStrategy.kind, 'LATEST_SAVEPOINT', 'the platform\'s fields now in the CR');
    assert.equal(o.spec.deployment.spec.template.spec.artifact.jarUri, 's3://jars/legacy-2.jar');
    const mine = o.metadata.managedFields.find((e) => e.manager === 'ververica-platform-operator' && e.operation === 'Update' && !e.subresource);
    assert.ok(mine, JSON.stringify(o.metadata.managedFields.map((e) => [e.manager, e.operation, e.subresource])));
    // The pipeline now sets a field the operator wrote: server-side apply names the operator.
    const c = await t.apply(cr2('legacy', 's3://jars/legacy-2.jar', { restoreStrategy: { kind: 'LATEST_STATE' } }));
    assert.equal(c.code, 1);
    assert.match(c.stderr, /conflict with "ververica-platform-operator" using ververica\.platform\/v1: \.spec\.deployment\.spec\.restoreStrategy\.kind/);
  } finally { await t.close(); }
});

test('2.x: without the API token secret the CR is not reconciled', async () => {
  const t = await setup(2);
  try {
    const cr = cr2('orphan', 's3://jars/x.jar');
    cr.metadata.annotations = {};
    assert.equal((await t.apply(cr)).code, 0);
    await until(() => t.op.log.some((e) => e.cr === 'orphan' && e.skipped), 3000, 'the refused reconcile');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.k8s.get('VvpDeployment', 'default', 'orphan').status, undefined);
    assert.equal(t.vvp.deployment('default', 'orphan'), undefined);
    assert.equal(t.op.log.find((e) => e.cr === 'orphan' && e.method === 'GET').status, 401);
  } finally { await t.close(); }
});

test('3.x: the owner label is enforced; Consistent and Healthy conditions; platform events on the CR; initFields only at creation', async () => {
  const t = await setup(3);
  try {
    const unlabelled = cr3('orders', 's3://jars/orders-1.jar');
    delete unlabelled.metadata.labels;
    const denied = await t.apply(unlabelled);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /admission webhook "vvpdeployments\.ververica\.platform" denied the request: label ververica\.platform\/owner is required/);
    const other = cr3('orders', 's3://jars/orders-1.jar', {}, { metadata: { labels: { [OWNER_LABEL]: 'someone-else' } } });
    assert.match((await t.apply(other)).stderr, /does not match this operator's instanceId vvp-main/);

    const cr = cr3('orders', 's3://jars/orders-1.jar', {}, { spec: { initFields: { spec: { maxJobCreationAttempts: 7 } } } });
    const a = await t.apply(cr);
    assert.equal(a.code, 0, a.stderr);
    const w = await t.wait('orders', '.status.conditions[?(@.type=="Healthy")].status', 'True');
    assert.equal(w.code, 0, w.stderr);
    const o = t.k8s.get('VvpDeployment', 'default', 'orders');
    const dep = t.vvp.deployment('default', 'orders');
    assert.equal(o.status.deploymentId, dep.metadata.id);
    assert.equal(o.status.conditions.find((c) => c.type === 'Consistent').status, 'True');
    assert.equal(dep.spec.maxJobCreationAttempts, 7, 'initFields applied at creation');
    const reasons = t.k8s.events('default', 'orders').map((e) => e.reason);
    assert.ok(reasons.includes('DeploymentCreated'));
    assert.ok(reasons.includes('JOB_SUCCESSFULLY_STARTED'), reasons.join(','));

    // initFields changed later are never sent; a spec change is projected with the state change named.
    const later = cr3('orders', 's3://jars/orders-1.jar', { state: 'SUSPENDED' }, { spec: { initFields: { spec: { maxJobCreationAttempts: 9 } } } });
    assert.equal((await t.apply(later)).code, 0);
    assert.equal((await t.wait('orders', '.status.conditions[?(@.type=="Healthy")].reason', 'SUSPENDED')).code, 0);
    assert.equal(t.vvp.deployment('default', 'orders').spec.maxJobCreationAttempts, 7);
    assert.ok(t.k8s.events('default', 'orders').some((e) => e.message === 'Kubernetes operator projected deployment config (mode=PATCH) including state change: RUNNING → SUSPENDED'));
  } finally { await t.close(); }
});

test('3.x: a new savepointNonce triggers a savepoint, once', async () => {
  const t = await setup(3);
  try {
    const first = await t.apply(cr3('orders', 's3://jars/orders-1.jar', {}, { spec: { savepointNonce: 1 } }));
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await t.wait('orders', '.status.conditions[?(@.type=="Healthy")].status', 'True')).code, 0);
    const id = t.vvp.deployment('default', 'orders').metadata.id;
    assert.deepEqual(t.vvp.savepoints(id), [], 'the nonce present at creation triggers nothing');
    const second = await t.apply(cr3('orders', 's3://jars/orders-1.jar', {}, { spec: { savepointNonce: 2 } }));
    assert.equal(second.code, 0, second.stderr);
    await until(() => t.vvp.savepoints(id).length === 1, 5000, 'a savepoint');
    assert.equal(t.vvp.savepoints(id)[0].metadata.origin, 'USER_REQUEST');
    await until(() => t.k8s.events('default', 'orders').some((e) => e.reason === 'SavepointTriggered'), 3000, 'the event');
    // Another change with the same nonce takes no further savepoint of its own.
    const patches = t.op.log.filter((e) => e.method === 'PATCH').length;
    assert.equal((await t.apply(cr3('orders', 's3://jars/orders-2.jar', {}, { spec: { savepointNonce: 2 } }))).code, 0);
    await until(() => t.op.log.filter((e) => e.method === 'PATCH').length > patches, 5000, 'the next sync');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.vvp.savepoints(id).filter((x) => x.metadata.origin === 'USER_REQUEST').length, 1, 'one nonce change, one savepoint');

  } finally { await t.close(); }
});

test('2.x: PATCH mode keeps what was edited in the platform; PUT mode resets what the CR leaves out', async () => {
  const t = await setup(2);
  try {
    assert.equal((await t.apply(cr2('orders', 's3://jars/orders-1.jar'))).code, 0);
    assert.equal((await t.wait('orders', '.status.deploymentStatus.state', 'RUNNING')).code, 0);
    // An edit in the platform (2.x allows it while syncing; the next sync decides its fate).
    const edit = await fetch(`${t.vvp.url}/api/v1/namespaces/default/deployments/orders`, { method: 'PATCH', headers: { authorization: `Bearer ${VVP_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ spec: { maxSavepointCreationAttempts: 42 } }) });
    assert.equal(edit.status, 200);
    assert.equal((await t.apply(cr2('orders', 's3://jars/orders-1.jar', { maxJobCreationAttempts: 5 }))).code, 0);
    await until(() => t.vvp.deployment('default', 'orders').spec.maxJobCreationAttempts === 5, 5000, 'the PATCH');
    assert.equal(t.vvp.deployment('default', 'orders').spec.maxSavepointCreationAttempts, 42, 'PATCH keeps fields the CR does not set');
    const put = cr2('orders', 's3://jars/orders-2.jar', { maxJobCreationAttempts: 5 }, { spec: { syncingMode: 'PUT' } });
    assert.equal((await t.apply(put)).code, 0);
    await until(() => t.op.log.some((e) => e.method === 'PUT' && e.status === 200), 5000, 'the PUT');
    const dep = t.vvp.deployment('default', 'orders');
    assert.equal(dep.spec.template.spec.artifact.jarUri, 's3://jars/orders-2.jar');
    assert.equal(dep.spec.maxSavepointCreationAttempts, 4, 'PUT: back to the platform default');
  } finally { await t.close(); }
});
