// The contract checks can fail: a request or an answer that breaks a vendor's API description is
// caught (by every fake's contract), named (method, path, operation, place, rule, value), and
// fails the test it happened in.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { repo, ContractViolation } = require('./helpers');
const { startVvp } = require('../fakes/vvp');
const { checkRequest, checkAnswer, takeViolations, formatViolations, RUN_VARIABLE } = require('../fakes/contract');

const TOKEN = 'contract-test-token';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const json = (o) => Buffer.from(JSON.stringify(o));
const deployment = (template) => ({
  kind: 'Deployment', apiVersion: 'v1', metadata: { name: 'c' },
  spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://j.jar', flinkVersion: '1.20' }, ...template } } },
});

test('VVP: a body the platform coerces is carried out and recorded; one it cannot bind gets 400; null in a PATCH is recorded', async () => {
  const f = await startVvp({ token: TOKEN, timing: { startMs: 20, stopMs: 10 } });
  try {
    const body = deployment({ flinkConfiguration: { 'taskmanager.numberOfTaskSlots': 2 } });
    body.spec.template.spec.artifact.flinkVersion = 1.2;
    const created = await fetch(`${f.url}/api/v1/namespaces/default/deployments`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    assert.equal(created.status, 201, 'coercible scalars are taken, as Jackson takes them');
    assert.deepEqual(f.violations().map((v) => [v.method, v.path, v.operation, v.where, v.rule, v.value]), [
      ['POST', '/api/v1/namespaces/default/deployments', 'createDeploymentUsingPOST', 'body.spec.template.spec.artifact.flinkVersion', 'must be string, as the description says', 1.2],
      ['POST', '/api/v1/namespaces/default/deployments', 'createDeploymentUsingPOST', 'body.spec.template.spec.flinkConfiguration.taskmanager.numberOfTaskSlots', 'must be string, as the description says', 2],
    ]);

    const unbindable = await fetch(`${f.url}/api/v1/namespaces/default/deployments/c`, { method: 'PATCH', headers: auth, body: JSON.stringify({ spec: { state: 'STOPPED' } }) });
    assert.equal(unbindable.status, 400);
    assert.match((await unbindable.json()).message, /spec\.state must be one of "RUNNING", "SUSPENDED", "CANCELLED"; found "STOPPED"/);
    assert.equal(f.deployment('default', 'c').spec.state, 'RUNNING', 'nothing changed');
    const [enumViolation] = f.violations();
    assert.equal(enumViolation.where, 'body.spec.state');

    const nulls = await fetch(`${f.url}/api/v1/namespaces/default/deployments/c`, { method: 'PATCH', headers: auth, body: JSON.stringify({ spec: { template: { spec: { parallelism: null } } } }) });
    assert.equal(nulls.status, 200);
    assert.deepEqual(f.violations().map((v) => [v.where, v.rule, v.value]), [['body.spec.template.spec.parallelism', 'is null, which the description does not allow (no x-nullable; Swagger 2.0 cannot say nullable): it must be integer', null]]);

    await fetch(`${f.url}/api/v1/namespaces/default/jobs?deploymentId=not-a-uuid&limit=5`, { headers: auth });
    assert.deepEqual(f.violations().map((v) => [v.where, v.rule]), [
      ['query parameter deploymentId', 'must be a uuid'],
      ['query parameter limit', 'is not in the description'],
    ]);
    await fetch(`${f.url}/api/v1/namespaces/default/deployments/c`, { method: 'PATCH', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' });
    assert.ok(f.violations().some((v) => v.where === 'header Content-Type' && /text\/plain is not one the operation consumes \(application\/json, application\/yaml\)/.test(v.rule)));
    await fetch(`${f.url}/api/v1/namespaces/default/jobs/${'0'.repeat(8)}-0000-0000-0000-000000000000`, { method: 'DELETE', headers: auth });
    assert.deepEqual(f.violations().map((v) => v.rule), ['the description has no DELETE for /api/v1/namespaces/{namespace}/jobs/{jobId} (it has GET)']);
  } finally { await f.close(); }
});

test('VVP: an answer outside the description is caught (the fake drifted)', async () => {
  const f = await startVvp({ token: TOKEN });
  try {
    f.seed('default', deployment({}), 'EXPLODED');
    const r = await fetch(`${f.url}/api/v1/namespaces/default/deployments/c`, { headers: auth });
    assert.equal(r.status, 200);
    const found = f.violations();
    assert.deepEqual(found.map((v) => [v.direction, v.method, v.operation, v.where, v.value]), [
      ['answer', 'GET', 'getDeploymentUsingGET', 'body.spec.state', 'EXPLODED'],
      ['answer', 'GET', 'getDeploymentUsingGET', 'body.status.state', 'EXPLODED'],
    ]);
    const v = found[1];
    assert.match(formatViolations([v]), /^Ververica Platform answer to GET \/api\/v1\/namespaces\/default\/deployments\/c \(getDeploymentUsingGET\): body\.status\.state must be one of .*; found "EXPLODED" \[the fake drifted from the description\]$/);
  } finally { await f.close(); }
});

test('answers are closed: a property the description does not have is caught', () => {
  const ctx = checkRequest('vvp', { method: 'GET', url: '/api/v1/namespaces/default/savepoints/6232cc84-7aa3-4524-b3a8-36cab7203c47', headers: {} });
  assert.deepEqual(ctx.violations, []);
  const out = checkAnswer(ctx, 200, { 'content-type': 'application/json' }, json({ kind: 'Savepoint', metadata: { id: '6232cc84-7aa3-4524-b3a8-36cab7203c47', size: 3 }, status: { state: 'COMPLETED' } }));
  assert.deepEqual(out.map((v) => [v.where, v.rule, v.value]), [['body.metadata.size', 'is not in the description (no such property)', 3]]);
  assert.deepEqual(checkAnswer(ctx, 202, {}, json({})).map((v) => v.rule), ['202 is not an answer the description gives for getSavepointUsingGET (it has 200, 401, 403, 404)']);
});

test('every other contract catches its own rules', () => {
  const rules = (c, req) => checkRequest(c, req).violations.map((v) => `${v.where} ${v.rule}`);
  const cluster = '/subscriptions/10e32bab-26da-4cc4-a441-52b318f824e6/resourceGroups/rg/providers/Microsoft.HDInsight/clusterpools/p/clusters/c';
  assert.deepEqual(rules('arm', {
    method: 'POST', url: `${cluster}/runJob`, headers: { 'content-type': 'application/json' },
    body: json({ properties: { jobType: 'FlinkJob', action: 'NEW', jobId: 'x', flinkConfiguration: { parallelism: 2 } } }),
  }).sort(), [
    'body.properties.flinkConfiguration.parallelism must be string, as the description says',
    'body.properties.jobId is readOnly in the description: the server sets it, a request must not send it',
    'body.properties.jobName is required by the description',
    'query parameter api-version is required by the description',
  ]);
  const list = checkRequest('keyvault', { method: 'GET', url: '/secrets?api-version=2025-07-01&maxresults=26', headers: {} });
  assert.deepEqual(list.violations.map((v) => `${v.where} ${v.rule}`), ['query parameter maxresults must be <= 25']);
  assert.deepEqual(checkAnswer(list, 200, { 'content-type': 'application/json' }, json({ value: [], nextLink: null })).map((v) => `${v.where} ${v.rule}`), ['body.nextLink is null, which the description does not allow (no x-nullable; Swagger 2.0 cannot say nullable): it must be string']);
  assert.deepEqual(rules('imds', { method: 'GET', url: '/metadata/identity/oauth2/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net', headers: {} }), ['header Metadata is required by the description']);
  assert.deepEqual(rules('entra', {
    method: 'POST', url: '/t/oauth2/v2.0/token', headers: { 'content-type': 'application/json' },
    body: Buffer.from('grant_type=password&client_id=a&scope=https%3A%2F%2Fvault.azure.net&client_secret=s&client_assertion=x&username=u'),
  }), [
    'header Content-Type application/json is not one the operation consumes (application/x-www-form-urlencoded)',
    'form field grant_type is required by the description',
    'form field client_id is required by the description',
    'form field scope is required by the description',
  ]);
  assert.deepEqual(rules('entra', {
    method: 'POST', url: '/t/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: Buffer.from('grant_type=client_credentials&client_id=a&scope=https%3A%2F%2Fvault.azure.net%2F.default&client_secret=s&client_assertion=x'),
  }), [
    'body needs exactly one of client_secret or client_assertion (client credentials grant)',
    'body.client_assertion_type is required with client_assertion',
  ]);
  assert.deepEqual(rules('entra', {
    method: 'POST', url: '/t/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: Buffer.from('grant_type=password&client_id=a&scope=https%3A%2F%2Fvault.azure.net&client_secret=s&username=u'),
  }), [
    'form field grant_type must be one of "client_credentials"',
    'form field scope must match pattern "/\\.default$"',
    'form field username is not in the description',
  ]);
  assert.deepEqual(rules('oidc', { method: 'POST', url: '/oidc?api-version=7.1', headers: {} }), [
    'query parameter serviceConnectionId is required by the description',
    'header Authorization is required by the description',
  ]);
});

test('a request from a task run is charged to that run, even through the proxy', async () => {
  const { startProxy } = require('../fakes/proxy');
  const f = await startVvp({ token: TOKEN });
  const proxy = await startProxy();
  try {
    const key = `contract-test-${process.pid}`;
    // A stand-in for the task: another process, tagged as a run, sending a request the
    // description does not allow, directly and through the proxy's plain-http forwarding.
    const script = `
      const http = require('http');
      const get = (opts) => new Promise((res, rej) => http.get(opts, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
      const u = new URL(process.argv[1]);
      (async () => {
        await get({ host: u.hostname, port: u.port, path: '/api/v1/namespaces/default/events?jobId=direct', headers: { authorization: 'Bearer ${TOKEN}' } });
        const p = new URL(process.argv[2]);
        await get({ host: p.hostname, port: p.port, path: u.href + 'api/v1/namespaces/default/events?jobId=proxied', headers: { authorization: 'Bearer ${TOKEN}' } });
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', script, `${f.url}/`, proxy.url], { env: { ...process.env, [RUN_VARIABLE]: key }, stdio: ['ignore', 'inherit', 'inherit'] });
    assert.equal(await new Promise((r) => child.on('close', r)), 0);
    const mine = takeViolations((v) => v.run === key);
    assert.deepEqual(mine.map((v) => [v.path, v.where, v.value]).sort(), [
      ['/api/v1/namespaces/default/events?jobId=direct', 'query parameter jobId', 'direct'],
      ['/api/v1/namespaces/default/events?jobId=proxied', 'query parameter jobId', 'proxied'],
    ]);
    assert.match(new ContractViolation(mine, 'This run of the task').message, /^This run of the task broke the API description 2 times:\nVerverica Platform request GET /);
  } finally { await proxy.close(); await f.close(); }
});

test('a violation nobody claims fails the test it happened in, naming method, path and rule', () => {
  const fixture = path.join(repo, 'tests/fixtures/contract/unclaimed-violation.test.js');
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fixture], { encoding: 'utf8', env });
  const out = r.stdout + r.stderr;
  assert.notEqual(r.status, 0, out);
  assert.match(out, /not ok 1 - sends a request the description does not allow/);
  assert.match(out, /Ververica Platform request GET \/api\/v1\/namespaces\/default\/jobs\?deploymentId=42 \(getJobsUsingGET\): query parameter deploymentId must be a uuid; found "42"/);
  assert.match(out, /ok 2 - a clean test after it passes/);
  assert.doesNotMatch(out, /not ok 2/);
});
