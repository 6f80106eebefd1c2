// The Ververica Platform fake itself, checked against the documented API (swagger 2.4.3, the
// seeds) with plain HTTP: if the fake drifted from the docs, the task's tests against it would
// prove little.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startVvp, mergePatch } = require('../fakes/vvp');
require('./helpers'); // fails a test whose requests break the API description

const TOKEN = 'fake-self-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(f, method, path, { body, headers = {}, yaml } = {}) {
  const h = { ...auth, ...headers };
  let payload;
  if (yaml !== undefined) { h['content-type'] = 'application/yaml'; payload = yaml; }
  else if (body !== undefined) { h['content-type'] = 'application/json'; payload = JSON.stringify(body); }
  const r = await fetch(f.url + path, { method, headers: h, body: payload });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined };
}

async function until(f, ns, name, pred, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const d = f.deployment(ns, name);
    if (d && pred(d)) return d;
    if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(d && d.status)}`);
    await sleep(20);
  }
}

const dep = (name, jarUri, spec = {}) => ({
  kind: 'Deployment', apiVersion: 'v1', metadata: { name },
  spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', template: { spec: { artifact: { kind: 'JAR', jarUri } } }, ...spec },
});

test('merge patch is RFC 7386', () => {
  assert.deepEqual(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } }), { a: 'z', c: { d: 'e' } });
  assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
});

test('a null in a PATCH deletes by default; with nulls: literal it is stored as null; either way it is outside the description', async () => {
  for (const nulls of ['delete', 'literal']) {
    const f = await startVvp({ token: TOKEN, nulls, timing: { startMs: 20, stopMs: 20 } });
    try {
      f.seed('default', dep('n', 's3://x/a.jar', { template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://x/a.jar', mainArgs: '--a' } } } }));
      const p = await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/n', { body: { metadata: { labels: { team: null } }, spec: { template: { spec: { artifact: { mainArgs: null } } } } } });
      assert.equal(p.status, 200);
      const d = f.deployment('default', 'n');
      if (nulls === 'delete') {
        assert.equal('mainArgs' in d.spec.template.spec.artifact, false);
        assert.equal('team' in d.metadata.labels, false);
      } else {
        assert.equal(d.spec.template.spec.artifact.mainArgs, null);
        assert.equal(d.metadata.labels.team, null);
      }
      const v = f.violations();
      assert.ok(v.some((x) => x.direction === 'request' && /is null/.test(x.rule) && /mainArgs/.test(x.where)), JSON.stringify(v));
      // Storing null literally puts it into the answers too, outside the description as well.
      assert.equal(v.some((x) => x.direction === 'answer'), nulls === 'literal', JSON.stringify(v));
      // A replace without the field: gone in both modes.
      const put = await call(f, 'PUT', '/api/v1/namespaces/default/deployments/n', { body: dep('n', 's3://x/a.jar') });
      assert.equal(put.status, 200);
      assert.equal('mainArgs' in f.deployment('default', 'n').spec.template.spec.artifact, false);
      assert.deepEqual(f.violations(), [], 'a replace without null is within the description');
    } finally { await f.close(); }
  }
});

test('an ingress that routes only /api answers other paths with its own 404', async () => {
  const f = await startVvp({ token: TOKEN, routes: ['/api'] });
  try {
    const r = await fetch(`${f.url}/namespaces/v1/namespaces/default`, { headers: auth });
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type'), /text\/html/);
    assert.match(await r.text(), /nginx/);
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployment-targets/vvp-jobs')).status, 200);
    assert.equal(f.log[0].ingress, true);
  } finally { await f.close(); }
});

test("seed 000's curl calls: PATCH by id with a YAML body, then the list filtered by id", async () => {
  const f = await startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs', id: '6232cc84-7aa3-4524-b3a8-36cab7203c47' }], timing: { startMs: 50, stopMs: 20 } });
  try {
    const d = f.seed('default', { metadata: { name: 'vvp-pipeline-demo', id: 'd320ec04-16f5-4915-b236-6efa43b7e003' }, spec: { state: 'RUNNING', deploymentTargetId: '6232cc84-7aa3-4524-b3a8-36cab7203c47', template: { spec: { artifact: { kind: 'JAR', jarUri: 'wasbs://c@a/j.jar?commit=1' } } } } });
    const yaml = 'kind: Deployment\napiVersion: v1\nmetadata:\n  name: vvp-pipeline-demo\nspec:\n  state: RUNNING\n  deploymentTargetId: 6232cc84-7aa3-4524-b3a8-36cab7203c47\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: wasbs://c@a/j.jar?commit=2\n';
    const p = await call(f, 'PATCH', `/api/v1/namespaces/default/deployments/${d.metadata.id}`, { yaml, headers: { accept: 'application/yaml' } });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.spec.template.spec.artifact.jarUri, 'wasbs://c@a/j.jar?commit=2');
    await until(f, 'default', 'vvp-pipeline-demo', (x) => x.status.state === 'RUNNING' && x.status.running.jobId !== d.status.running.jobId);
    const list = await call(f, 'GET', '/api/v1/namespaces/default/deployments', { headers: { accept: 'application/json' } });
    assert.equal(list.status, 200);
    assert.equal(list.body.items.find((x) => x.metadata.id === d.metadata.id).status.state, 'RUNNING');
    const bad = await call(f, 'PATCH', `/api/v1/namespaces/default/deployments/${d.metadata.id}`, { yaml: 'spec: [unclosed\n' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /YAML/);
    assert.deepEqual(f.violations().map((v) => `${v.method} ${v.where}`), ['PATCH body'], 'a body that is not YAML is outside the description');
    assert.deepEqual(f.writes().map((e) => e.status), [200, 400]);
  } finally { await f.close(); }
});

test('authentication, roles, namespaces, names and ids, conflicts, VVP error bodies', async () => {
  const f = await startVvp({ token: TOKEN, roles: { 'viewer-tok': 'viewer' }, timing: { startMs: 30, stopMs: 20 } });
  try {
    const none = await fetch(`${f.url}/api/v1/namespaces/default/deployments`);
    assert.equal(none.status, 401);
    assert.equal(typeof (await none.json()).message, 'string');
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployments', { headers: { authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('a', 's3://x'), headers: { authorization: 'Bearer viewer-tok' } })).status, 403);
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/nope/deployments')).status, 404);
    assert.equal((await call(f, 'GET', '/namespaces/v1/namespaces/nope')).status, 404);
    assert.equal((await call(f, 'GET', '/namespaces/v1/namespaces/default')).body.namespace.name, 'namespaces/default');

    const c = await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('a', 's3://x') });
    assert.equal(c.status, 201);
    assert.equal((await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('a', 's3://x') })).status, 409);
    assert.equal((await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('Not_Valid', 's3://x') })).status, 400);
    // 2.4.3: by name, and a valid id is tried as an id first.
    assert.equal((await call(f, 'GET', `/api/v1/namespaces/default/deployments/${c.body.metadata.id}`)).body.metadata.name, 'a');
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployments/a')).body.metadata.id, c.body.metadata.id);
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployment-targets/vvp-jobs')).status, 200);
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployment-targets/other')).status, 404);
    // Filled in from deployment defaults (seed 004).
    assert.equal(c.body.spec.upgradeStrategy.kind, 'STATEFUL');
    assert.equal(c.body.spec.maxJobCreationAttempts, 4);
    assert.equal((await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/a', { body: { metadata: { name: 'b' } } })).status, 400);
    // DELETE only with desired state CANCELLED or SUSPENDED.
    const del = await call(f, 'DELETE', '/api/v1/namespaces/default/deployments/a');
    assert.equal(del.status, 400);
    assert.match(del.body.message, /CANCELLED or SUSPENDED/);
    await until(f, 'default', 'a', (x) => x.status.state === 'RUNNING');
    assert.equal((await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/a', { body: { spec: { state: 'CANCELLED' } } })).status, 200);
    await until(f, 'default', 'a', (x) => x.status.state === 'CANCELLED');
    assert.equal((await call(f, 'DELETE', '/api/v1/namespaces/default/deployments/a')).status, 200);
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployments/a')).status, 404);
  } finally { await f.close(); }
});

test('the controller: same template no restart, changed template an upgrade, NONE never upgrades, failures', async () => {
  const f = await startVvp({ token: TOKEN, timing: { startMs: 40, stopMs: 20, savepointMs: 30 } });
  try {
    await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('j', 's3://v1') });
    const r1 = await until(f, 'default', 'j', (x) => x.status.state === 'RUNNING');
    const job1 = r1.status.running.jobId;
    await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/j', { body: { spec: { template: { spec: { artifact: { jarUri: 's3://v1' } } } } } });
    await sleep(150);
    assert.equal(f.deployment('default', 'j').status.running.jobId, job1, 'same template: no restart');
    await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/j', { body: { metadata: { labels: { a: 'b' } }, spec: { template: { spec: { parallelism: 3 } } } } });
    const r2 = await until(f, 'default', 'j', (x) => x.status.state === 'RUNNING' && x.status.running.jobId !== job1);
    assert.equal(r2.spec.template.spec.artifact.jarUri, 's3://v1', 'merge kept the artifact');
    assert.deepEqual(f.savepoints(r2.metadata.id).map((s) => [s.metadata.origin, s.status.state]), [['SUSPEND_AND_UPGRADE', 'COMPLETED']]);
    const job2 = f.jobs(r2.metadata.id).find((j) => j.metadata.id === r2.status.running.jobId);
    assert.equal(job2.spec.savepointLocation, f.savepoints(r2.metadata.id)[0].spec.savepointLocation, 'restored from the upgrade savepoint');
    await call(f, 'PATCH', '/api/v1/namespaces/default/deployments/j', { body: { spec: { upgradeStrategy: { kind: 'NONE' }, template: { spec: { parallelism: 4 } } } } });
    await sleep(150);
    assert.equal(f.deployment('default', 'j').status.running.jobId, r2.status.running.jobId, 'NONE: no upgrade');

    f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'boom' } });
    await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('k', 's3://k') });
    const failed = await until(f, 'default', 'k', (x) => x.status.state === 'FAILED');
    const ev = await call(f, 'GET', `/api/v1/namespaces/default/events?deploymentId=${failed.metadata.id}`);
    assert.ok(ev.body.items.some((e) => e.metadata.name === 'TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS' && e.spec.message === 'boom'));
    const jobs = await call(f, 'GET', `/api/v1/namespaces/default/jobs?deploymentId=${failed.metadata.id}`);
    assert.deepEqual(jobs.body.items.map((j) => [j.status.state, j.status.failure.message]), [['FAILED', 'boom']]);

    f.nextJobs({ failAfterMs: 60 });
    await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('l', 's3://l') });
    await until(f, 'default', 'l', (x) => x.status.state === 'RUNNING');
    await until(f, 'default', 'l', (x) => x.status.state === 'FAILED');
    assert.deepEqual(f.reached('l', 'RUNNING').length, 1);

    // A deployment target that does not exist: FAILED with the documented event.
    await call(f, 'POST', '/api/v1/namespaces/default/deployments', { body: dep('m', 's3://m', { deploymentTargetName: 'missing' }) });
    const m = await until(f, 'default', 'm', (x) => x.status.state === 'FAILED');
    assert.ok(f.events(m.metadata.id).some((e) => e.metadata.name === 'REFERENCED_DEPLOYMENT_TARGET_DOES_NOT_EXIST'));
  } finally { await f.close(); }
});

test('savepoints: only of a running job; STARTED then COMPLETED; a location registers as COPIED', async () => {
  const f = await startVvp({ token: TOKEN, timing: { startMs: 30, stopMs: 20, savepointMs: 60 } });
  try {
    const d = f.seed('default', dep('s', 's3://s'), 'CANCELLED');
    const refused = await call(f, 'POST', '/api/v1/namespaces/default/savepoints', { body: { metadata: { deploymentId: d.metadata.id } } });
    assert.equal(refused.status, 400);
    const copied = await call(f, 'POST', '/api/v1/namespaces/default/savepoints', { body: { metadata: { deploymentId: d.metadata.id }, spec: { savepointLocation: 's3://sp/1' }, status: { state: 'COMPLETED' } } });
    assert.equal(copied.status, 201);
    assert.deepEqual([copied.body.metadata.origin, copied.body.status.state], ['COPIED', 'COMPLETED']);
    const r = f.seed('default', dep('t', 's3://t'));
    const sp = await call(f, 'POST', '/api/v1/namespaces/default/savepoints', { body: { metadata: { deploymentId: r.metadata.id } } });
    assert.equal(sp.body.status.state, 'STARTED');
    await sleep(120);
    const done = await call(f, 'GET', `/api/v1/namespaces/default/savepoints/${sp.body.metadata.id}`);
    assert.equal(done.body.status.state, 'COMPLETED');
    assert.match(done.body.spec.savepointLocation, /^s3:\/\/vvp\/flink-savepoints\//);
    const list = await call(f, 'GET', `/api/v1/namespaces/default/savepoints?deploymentId=${r.metadata.id}`);
    assert.deepEqual(list.body.items.map((s) => s.metadata.id), [sp.body.metadata.id]);
  } finally { await f.close(); }
});

test('fault injection and the request log', async () => {
  const f = await startVvp({ token: TOKEN });
  try {
    f.fault({ method: 'GET', path: '/deployments', status: 429, headers: { 'retry-after': '2' }, times: 1 });
    f.fault({ method: 'GET', path: /status$/, truncate: true });
    const a = await call(f, 'GET', '/api/v1/namespaces/default/deployments');
    assert.equal(a.status, 429);
    assert.equal(a.headers.get('retry-after'), '2');
    assert.equal((await call(f, 'GET', '/api/v1/namespaces/default/deployments')).status, 200);
    await assert.rejects(call(f, 'GET', '/api/v1/status'), SyntaxError);
    f.fault({ method: 'GET', reset: true });
    await assert.rejects(fetch(`${f.url}/api/v1/status`, { headers: auth }));
    assert.deepEqual(f.log.map((e) => e.status), [429, 200, 200, 'reset']);
    assert.deepEqual(f.writes(), []);
  } finally { await f.close(); }
});
