// target=hdinsight through the packaged task and the agent emulator, against a fake Entra ID and a
// fake Resource Manager that follows the HDInsight on AKS job API (tests/fakes/arm-hdinsight.js).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { scratch, run, parseXml, assertNoSecrets } = require('./helpers');
const { startEntra } = require('../fakes/entra');
const { startArmHdinsight, ARM_SCOPE } = require('../fakes/arm-hdinsight');

const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '4b9e2a43-5c1d-4f6e-8a7b-9c0d1e2f3a4b';
const SECRET = 'hdi-sp-secret-Qx7~vL2pT9';
const CONN = 'b1a5f0c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c';
const JARS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/jars';
const SAVEPOINTS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/savepoints/orders';

/** An Entra fake and an ARM fake for one test; closed when the test ends. */
async function fakes(t, armOpts = {}) {
  const entra = await startEntra({ clients: { [CLIENT]: { secret: SECRET, tenant: TENANT } } });
  const arm = await startArmHdinsight({ entra, subscriptionId: SUB, ...armOpts });
  t.after(async () => { await arm.close(); await entra.close(); });
  return { entra, arm };
}

/** Run the task against the fakes with the cluster inputs filled in. */
function runHdi({ entra, arm }, inputs = {}, opts = {}) {
  return run({
    cwd: opts.cwd,
    inputs: {
      target: 'hdinsight',
      azureSubscription: CONN,
      hdiResourceGroup: 'hiloResourcegroup',
      hdiClusterPool: 'clusterpool1',
      hdiClusterName: 'cluster1',
      hdiArmEndpoint: arm.url,
      settleSeconds: '0',
      timeoutSeconds: '60',
      ...inputs,
    },
    endpoints: {
      [CONN]: {
        url: opts.armResource || 'https://management.azure.com/',
        scheme: 'ServicePrincipal',
        parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, serviceprincipalkey: opts.secret || SECRET, authenticationType: 'spnKey' },
        data: { subscriptionid: SUB, environment: opts.environment || 'AzureCloud', environmentAuthorityUrl: entra.url, ...(opts.data || {}) },
      },
    },
    env: { AGENT_CAINFO: arm.caFile },
  });
}

const secrets = (entra) => [SECRET, ...entra.state.tokens.map((t) => t.token)];

function junitCases(r) {
  const files = r.command('results.publish');
  assert.equal(files.length, 1, 'one JUnit file published');
  const xml = parseXml(files[0].properties.resultFiles);
  return xml.children[0].children.filter((c) => c.tag === 'testcase').map((c) => ({
    name: c.attrs.name,
    failed: c.children.some((x) => x.tag === 'failure'),
    skipped: c.children.some((x) => x.tag === 'skipped'),
    failure: (c.children.find((x) => x.tag === 'failure') || {}).attrs,
  }));
}

function summary(r) {
  const s = r.command('task.uploadsummary');
  assert.equal(s.length, 1, 'one summary uploaded');
  return fs.readFileSync(s[0].message, 'utf8');
}

const runningOrders = (extra = {}) => ({
  jobName: 'orders',
  jobJarDirectory: JARS,
  jarName: 'orders-1.0.0.jar',
  entryClass: 'com.example.orders.OrdersJob',
  args: '--env prod',
  flinkConfiguration: { parallelism: '2', 'savepoint.directory': SAVEPOINTS },
  ...extra,
});

test('deploy of a job the cluster does not list sends NEW and waits until it runs', async (t) => {
  const f = await fakes(t);
  const r = await runHdi(f, {
    jobName: 'orders',
    jarUri: `${JARS}/orders-1.0.0.jar`,
    entryClass: 'com.example.orders.OrdersJob',
    mainArgs: '--env prod --window 10',
    parallelism: '3',
    flinkConfiguration: 'execution.checkpointing.interval: 10s',
    savepointDirectory: SAVEPOINTS,
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded');
  assert.deepEqual(r.errors, []);

  const posts = f.arm.runJobs();
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0].body, {
    properties: {
      jobType: 'FlinkJob', jobName: 'orders', action: 'NEW', jobJarDirectory: JARS, jarName: 'orders-1.0.0.jar',
      entryClass: 'com.example.orders.OrdersJob', args: '--env prod --window 10',
      flinkConfiguration: { 'execution.checkpointing.interval': '10s', parallelism: '3', 'savepoint.directory': SAVEPOINTS },
    },
  });
  assert.equal(posts[0].query['api-version'], '2023-06-01-preview');
  // Every call carried a token Entra issued for the ARM resource, even though the calls went
  // to an overridden endpoint.
  assert.ok(f.arm.state.requests.length >= 3);
  assert.ok(f.arm.state.requests.every((q) => q.auth === 'valid'), JSON.stringify(f.arm.state.requests.map((q) => q.auth)));
  assert.deepEqual([...new Set(f.entra.state.tokens.map((t) => t.scope))], [ARM_SCOPE]);
  // The operation's Location was followed.
  assert.ok(f.arm.state.requests.some((q) => /operationResults/.test(q.path)));

  const job = f.arm.job('orders');
  assert.equal(job.properties.status, 'RUNNING');
  assert.equal(r.outputs.deploymentName, 'orders');
  assert.equal(r.outputs.deploymentId, job.id);
  assert.equal(r.outputs.jobId, job.properties.jobId);
  assert.equal(r.outputs.state, 'RUNNING');
  assert.equal(r.outputs.jarUri, `${JARS}/orders-1.0.0.jar`);

  assert.match(r.stdout, /retired HDInsight on AKS on 2025-01-31/);
  assert.match(r.stdout, /"action": "NEW"/);
  const cases = junitCases(r);
  for (const n of ['plan', 'runJob NEW', 'wait for NEW']) {
    const c = cases.find((x) => x.name === n);
    assert.ok(c && !c.failed && !c.skipped, `${n}: ${JSON.stringify(cases)}`);
  }
  const md = summary(r);
  assert.match(md, /succeeded/);
  assert.match(md, /#### HDInsight job/);
  assert.match(md, /NEW SUCCESS, job RUNNING/);
  assertNoSecrets(assert, r, secrets(f.entra));
});

test('deploy of a listed job sends UPDATE with the new jar and reports the savepoint it took', async (t) => {
  // The job is on the third page of the list.
  const f = await fakes(t, {
    pageSize: 1,
    jobs: [{ jobName: 'alpha', jarName: 'a.jar', jobJarDirectory: JARS, entryClass: 'A' }, { jobName: 'beta', jarName: 'b.jar', jobJarDirectory: JARS, entryClass: 'B' }, runningOrders()],
  });
  const oldJobId = f.arm.job('orders').properties.jobId;
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-1.1.0.jar`, mainArgs: '--env prod' });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded');
  assert.ok(f.arm.state.requests.some((q) => q.query.$skipToken === '2'), 'followed nextLink to the last page');

  const posts = f.arm.runJobs();
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0].body, {
    properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'UPDATE', jobJarDirectory: JARS, jarName: 'orders-1.1.0.jar', args: '--env prod' },
  });
  const job = f.arm.job('orders');
  assert.equal(job.properties.jarName, 'orders-1.1.0.jar');
  assert.notEqual(job.properties.jobId, oldJobId);
  assert.ok(job.properties.lastSavePoint.startsWith(`${SAVEPOINTS}/savepoint-`));
  assert.equal(r.outputs.savepointLocation, job.properties.lastSavePoint);
  assert.equal(r.outputs.jobId, job.properties.jobId);
  assert.equal(r.outputs.state, 'RUNNING');
  assert.ok(junitCases(r).some((c) => c.name === 'wait for UPDATE' && !c.failed));
  assertNoSecrets(assert, r, secrets(f.entra));
});

test('upgradeStrategy STATELESS sends STATELESS_UPDATE and takes no savepoint', async (t) => {
  // The service may also finish at once: 200 instead of 202.
  const f = await fakes(t, { jobs: [runningOrders()], lroPolls: 0 });
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-2.0.0.jar`, upgradeStrategy: 'STATELESS' });
  assert.equal(r.exitCode, 0, r.log);
  const posts = f.arm.runJobs();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].body.properties.action, 'STATELESS_UPDATE');
  assert.equal(posts[0].body.properties.jarName, 'orders-2.0.0.jar');
  assert.equal(posts[0].body.properties.savePointName, undefined);
  const job = f.arm.job('orders');
  assert.equal(job.properties.lastSavePoint, undefined, 'no savepoint was taken');
  assert.equal(job.properties.jarName, 'orders-2.0.0.jar');
  assert.equal(r.outputs.state, 'RUNNING');
  assert.equal(r.outputs.savepointLocation, undefined);
  assert.equal(posts[0].status, 200);
  assert.ok(!f.arm.state.requests.some((q) => /operationResults/.test(q.path)), 'no operation to follow');
});

test('suspend, resume from a named savepoint, savepoint, listSavepoints, cancel and delete', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()] });
  const step = async (inputs) => {
    const before = f.arm.runJobs().length;
    const r = await runHdi(f, { jobName: 'orders', ...inputs });
    assert.equal(r.exitCode, 0, r.log);
    const sent = f.arm.runJobs().slice(before);
    assert.equal(sent.length, 1, `${inputs.action}: one runJob`);
    assertNoSecrets(assert, r, secrets(f.entra));
    return { r, body: sent[0].body };
  };

  let { r, body } = await step({ action: 'suspend' });
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'STOP' } });
  const firstSavepoint = f.arm.job('orders').properties.lastSavePoint;
  assert.equal(r.outputs.state, 'STOPPED');
  assert.equal(r.outputs.savepointLocation, firstSavepoint);
  assert.match(r.stdout, /Savepoint completed\. Path: abfs:/, 'jobOutput is shown');

  // Suspending again changes nothing and sends nothing.
  const again = await runHdi(f, { jobName: 'orders', action: 'suspend' });
  assert.equal(again.exitCode, 0, again.log);
  assert.equal(f.arm.runJobs().length, 1);
  assert.match(again.stdout, /already STOPPED/);

  ({ r, body } = await step({ action: 'resume', savepointLocation: firstSavepoint, mainArgs: '--env prod' }));
  const name = firstSavepoint.split('/').pop();
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'START', args: '--env prod', savePointName: name } });
  assert.equal(r.outputs.state, 'RUNNING');
  assert.match(f.arm.job('orders').properties.jobOutput, new RegExp(`from savepoint .*${name}`));

  ({ r, body } = await step({ action: 'savepoint' }));
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'SAVEPOINT' } });
  const second = f.arm.job('orders').properties.lastSavePoint;
  assert.notEqual(second, firstSavepoint);
  assert.equal(r.outputs.savepointLocation, second);

  ({ r, body } = await step({ action: 'listSavepoints' }));
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'LIST_SAVEPOINT' } });
  assert.match(r.stdout, /2 savepoint\(s\)/);
  for (const sp of [firstSavepoint, second]) assert.ok(r.stdout.includes(sp), `${sp} in the log`);
  const md = summary(r);
  assert.match(md, /#### Savepoints/);
  assert.ok(md.includes(`| 1 | ${firstSavepoint} |  |`), md);
  assert.ok(md.includes(`| 2 | ${second} | last savepoint |`), md);

  ({ r, body } = await step({ action: 'cancel' }));
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'CANCEL' } });
  assert.equal(r.outputs.state, 'CANCELED');

  ({ r, body } = await step({ action: 'delete' }));
  assert.deepEqual(body, { properties: { jobType: 'FlinkJob', jobName: 'orders', action: 'DELETE' } });
  assert.equal(f.arm.job('orders'), undefined);
  assert.equal(r.outputs.state, 'DELETED');
  assert.equal(r.outputs.deploymentName, 'orders');

  // Deleting what is gone succeeds without a request.
  const gone = await runHdi(f, { jobName: 'orders', action: 'delete' });
  assert.equal(gone.exitCode, 0, gone.log);
  assert.equal(f.arm.runJobs().length, 6);
});

test('a failed action fails the task and quotes jobOutput', async (t) => {
  const output = 'Job submission failed: org.apache.flink.client.program.ProgramInvocationException: java.lang.ClassNotFoundException: com.example.orders.OrdersJobV2';
  const f = await fakes(t, {
    jobs: [runningOrders()],
    inProgressReads: 2,
    outcomes: { UPDATE: { actionResult: 'FAILED', status: 'FAILED', jobOutput: output } },
  });
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-2.0.0.jar`, entryClass: 'com.example.orders.OrdersJobV2' });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.result, 'Failed');
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  assert.match(r.errors[0].message, /UPDATE of job `orders` on HDInsight cluster `clusterpool1\/cluster1` failed/);
  assert.ok(r.errors[0].message.includes('ClassNotFoundException: com.example.orders.OrdersJobV2'), r.errors[0].message);
  assert.ok(r.stdout.includes(`##[error]jobOutput: ${output}`), 'jobOutput as an error line');
  assert.equal(f.arm.runJobs().length, 1, 'no rollback unless asked');
  assert.equal(r.outputs.state, 'FAILED');
  const cases = junitCases(r);
  const wait = cases.find((c) => c.name === 'wait for UPDATE');
  assert.ok(wait && wait.failed, JSON.stringify(cases));
  assert.match(wait.failure.message, /ClassNotFoundException/);
  assert.match(summary(r), /jobOutput/);
});

test('the error issue carries the root cause of jobOutput; the whole output is in the log and the summary', async (t) => {
  const trace = [
    'Job submission failed.',
    'org.apache.flink.client.program.ProgramInvocationException: The main method caused an error: Could not build the job graph',
    '\tat org.apache.flink.client.program.PackagedProgram.callMainMethod(PackagedProgram.java:372)',
    "Caused by: java.lang.NoSuchMethodError: 'void com.example.orders.Codec.decode(java.lang.String)'",
    '\tat com.example.orders.OrdersJob.main(OrdersJob.java:42)',
  ].join('\n');
  const cause = "java.lang.NoSuchMethodError: 'void com.example.orders.Codec.decode(java.lang.String)'";
  const f = await fakes(t, { outcomes: { NEW: { actionResult: 'FAILED', status: 'FAILED', jobOutput: trace } } });
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-2.0.0.jar`, entryClass: 'com.example.orders.OrdersJob' });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  assert.ok(r.errors[0].message.startsWith(`NEW of job \`orders\` on HDInsight cluster \`clusterpool1/cluster1\` failed: ${cause}`), r.errors[0].message);
  assert.ok(!r.errors[0].message.includes('PackagedProgram'), 'the headline is one line');
  // The whole output is red in the log (it is the service's account of the failure) and in the summary.
  for (const line of trace.split('\n')) assert.ok(r.stdout.includes(`##[error]jobOutput: ${line}`), line);
  const md = summary(r);
  assert.ok(md.includes('PackagedProgram.callMainMethod'), md);
  assert.ok(md.includes(`**Error:** NEW of job \`orders\``), md);

  // A job that goes down while settling: the headline names the cause, not the whole output.
  const g = await fakes(t, {
    outcomes: { NEW: { later: { afterReads: 1, status: 'FAILED', jobOutput: trace } } },
  });
  const s = await runHdi(g, { jobName: 'orders', jarUri: `${JARS}/orders-2.0.0.jar`, entryClass: 'com.example.orders.OrdersJob', settleSeconds: '5' });
  assert.equal(s.exitCode, 1, s.log);
  assert.match(s.errors[0].message, /^job `orders` on HDInsight cluster `clusterpool1\/cluster1` did not stay up after NEW: job status became FAILED: java\.lang\.NoSuchMethodError: 'void com\.example\.orders\.Codec\.decode\(java\.lang\.String\)'$/);
  assert.ok(summary(s).includes('PackagedProgram.callMainMethod'), 'the full output is in the summary');
});

test('rollbackOnFailure runs UPDATE again with the previous jar and still fails the task', async (t) => {
  const f = await fakes(t, {
    jobs: [runningOrders()],
    outcomes: {
      UPDATE: (job, body) => (body.properties.jarName === 'orders-2.0.0.jar'
        ? { actionResult: 'FAILED', status: 'FAILED', jobOutput: 'java.lang.NoSuchMethodError: com.example.orders.Codec.decode' }
        : undefined),
    },
  });
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-2.0.0.jar`, rollbackOnFailure: 'true' });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.result, 'Failed');
  const posts = f.arm.runJobs('UPDATE');
  assert.equal(posts.length, 2);
  assert.equal(posts[0].body.properties.jarName, 'orders-2.0.0.jar');
  assert.deepEqual(posts[1].body, {
    properties: {
      jobType: 'FlinkJob', jobName: 'orders', action: 'UPDATE', jobJarDirectory: JARS, jarName: 'orders-1.0.0.jar',
      entryClass: 'com.example.orders.OrdersJob', args: '--env prod',
      flinkConfiguration: { parallelism: '2', 'savepoint.directory': SAVEPOINTS },
    },
  });
  const job = f.arm.job('orders');
  assert.equal(job.properties.jarName, 'orders-1.0.0.jar');
  assert.equal(job.properties.status, 'RUNNING');
  assert.equal(r.outputs.state, 'RUNNING', 'the outputs show the job as it ends up');
  assert.equal(r.outputs.jarUri, `${JARS}/orders-1.0.0.jar`);

  assert.match(r.errors[0].message, /NoSuchMethodError/);
  assert.match(r.stdout, /rolled back: UPDATE with the previous jar .*orders-1\.0\.0\.jar succeeded/);
  const cases = junitCases(r);
  assert.ok(cases.find((c) => c.name === 'wait for UPDATE').failed);
  assert.ok(cases.some((c) => c.name === 'rollback: runJob UPDATE' && !c.failed), JSON.stringify(cases));
  assert.ok(cases.some((c) => c.name === 'rollback: wait for UPDATE' && !c.failed), JSON.stringify(cases));
  const md = summary(r);
  assert.match(md, /rollback to abfs:.*orders-1\.0\.0\.jar/);
  assert.match(md, /rollback: UPDATE SUCCESS/);
});

test('the operation is followed through several 202s at the pace of Retry-After; 429 and 503 are retried', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()], lroPolls: 3, retryAfter: '1' });
  f.arm.fault({ method: 'POST', path: /runJob$/i, status: 429, retryAfter: 1 });
  f.arm.fault({ method: 'GET', path: /\/jobs$/i, status: 503, retryAfter: 0 });
  const r = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(r.exitCode, 0, r.log);
  const reqs = f.arm.state.requests;
  const posts = reqs.filter((q) => q.method === 'POST');
  assert.equal(posts.length, 2, 'the throttled POST was sent again');
  assert.equal(posts[0].status, 429);
  assert.equal(posts[1].status, 202);
  assert.ok(posts[1].time - posts[0].time >= 950, `waited ${posts[1].time - posts[0].time} ms after 429`);
  assert.ok(reqs.some((q) => q.fault === 503) && reqs.filter((q) => /\/jobs$/.test(q.path) && q.status === 200).length >= 2);

  const polls = reqs.filter((q) => /operationResults/.test(q.path));
  assert.deepEqual(polls.map((q) => q.status), [202, 202, 202, 200]);
  let prev = posts[1].time;
  for (const p of polls) {
    assert.ok(p.time - prev >= 950, `poll ${p.time - prev} ms after the previous answer`);
    prev = p.time;
  }
  assert.match(r.stdout, /after 4 status check\(s\)/);
});

test('bad input fails before any request reaches Resource Manager', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()] });
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'orders.jar'), 'PK');
  const cases = [
    [{ jobName: 'orders', hdiClusterName: '' }, /`hdiClusterName`/],
    [{ jobName: 'orders', hdiClusterPool: '' }, /`hdiClusterPool`/],
    [{ jobName: 'orders', artifactPath: 'orders.jar' }, /`storageAccount`.*cluster reads jars from its storage/],
    [{ jobName: 'Orders', jarUri: `${JARS}/o.jar` }, /`jobName`.*lower case/],
    [{ jobName: 'orders', jarUri: `${JARS}/o.jar`, mainArgs: "--title 'a b'" }, /`mainArgs`.*`a b`/],
    [{ jobName: 'orders', jarUri: `${JARS}/o.jar?sv=2024&sig=abc` }, /`jarUri`.*query string/],
    [{ jobName: 'orders', azureSubscription: '' }, /`azureSubscription`/],
  ];
  for (const [inputs, re] of cases) {
    const r = await runHdi(f, inputs, { cwd });
    assert.equal(r.exitCode, 2, `${JSON.stringify(inputs)}\n${r.log}`);
    assert.equal(r.result, 'Failed');
    assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
    assert.match(r.errors[0].message, re);
  }
  assert.equal(f.arm.state.requests.length, 0, 'nothing reached the fake');

  // A new job without an entry class is known only after reading the job list: a GET, no write.
  const r = await runHdi(f, { jobName: 'payments', jarUri: `${JARS}/payments.jar` });
  assert.equal(r.exitCode, 2, r.log);
  assert.match(r.errors[0].message, /`entryClass`.*new job `payments`/);
  assert.ok(f.arm.state.requests.length > 0);
  assert.deepEqual(f.arm.writes(), []);

  // An action on a job the cluster does not list.
  const r2 = await runHdi(f, { jobName: 'payments', action: 'suspend' });
  assert.equal(r2.exitCode, 1, r2.log);
  assert.match(r2.errors[0].message, /job `payments` is not listed on HDInsight cluster `clusterpool1\/cluster1`/);
  assert.deepEqual(f.arm.writes(), []);
});

test('wrong credentials: the sign-in fails clearly and Resource Manager is never called', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()] });
  const wrong = 'not-the-secret-Zp4!';
  const r = await runHdi(f, { jobName: 'orders', action: 'suspend' }, { secret: wrong });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.result, 'Failed');
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0].message, new RegExp(`sign-in with service connection \`${CONN}\`.*HTTP 401`));
  assert.match(r.errors[0].message, /hint: the client secret is wrong or has expired/);
  assert.equal(f.arm.state.requests.length, 0);
  assert.equal(f.entra.state.tokens.length, 0);
  assertNoSecrets(assert, r, [wrong]);
});

test('Resource Manager errors name the missing resource or the role, with the request id', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()] });
  const pool = await runHdi(f, { jobName: 'orders', action: 'suspend', hdiClusterPool: 'pool-typo' });
  assert.equal(pool.exitCode, 1, pool.log);
  const req = f.arm.state.requests.at(-1);
  assert.equal(req.errorCode, 'ParentResourceNotFound');
  assert.match(pool.errors[0].message, /cluster pool `pool-typo` does not exist/);
  assert.match(pool.errors[0].message, /ParentResourceNotFound: Can not perform requested operation on nested resource/);
  assert.match(pool.errors[0].message, /hint: check the input `hdiClusterPool`/);
  assert.ok(pool.stdout.includes(`request id: ${req.requestId}`), 'the x-ms-request-id is quoted');

  const rg = await runHdi(f, { jobName: 'orders', action: 'suspend', hdiResourceGroup: 'rg-typo' });
  assert.match(rg.errors[0].message, /resource group `rg-typo` does not exist.*hint: check the input `hdiResourceGroup`/);
  const cluster = await runHdi(f, { jobName: 'orders', action: 'suspend', hdiClusterName: 'cluster-typo' });
  assert.match(cluster.errors[0].message, /cluster `cluster-typo` in pool `clusterpool1` does not exist.*`hdiClusterName`/);
  const api = await runHdi(f, { jobName: 'orders', action: 'suspend', hdiApiVersion: '2021-01-01' });
  assert.match(api.errors[0].message, /NoRegisteredProviderFound.*hint: check the input `hdiApiVersion`/);

  // A token for another cloud's Resource Manager is refused by this one.
  const other = await runHdi(f, { jobName: 'orders', action: 'suspend' }, { armResource: 'https://management.usgovcloudapi.net/' });
  assert.equal(other.exitCode, 1, other.log);
  assert.ok(f.entra.state.tokens.some((x) => x.scope === 'https://management.usgovcloudapi.net/.default'));
  assert.match(other.errors[0].message, /HTTP 401: InvalidAuthenticationToken/);
  assert.match(other.errors[0].message, /hint: Resource Manager rejected the token of service connection/);

  f.arm.config.forbidden = true;
  const denied = await runHdi(f, { jobName: 'orders', action: 'suspend' });
  assert.equal(denied.exitCode, 1);
  assert.match(denied.errors[0].message, /HTTP 403: AuthorizationFailed/);
  assert.match(denied.errors[0].message, /hint: give the service principal of connection .* a role on cluster `cluster1`/);
  assert.deepEqual(f.arm.writes(), []);
});

test('the Resource Manager token is for the connection\'s activeDirectoryServiceEndpointResourceId, as on Azure Stack Hub', async (t) => {
  const audience = 'https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155';
  const f = await fakes(t, { jobs: [runningOrders()], audience });
  const r = await runHdi(f, { jobName: 'orders', action: 'savepoint' }, {
    armResource: 'https://management.local.azurestack.external/',
    environment: 'AzureStack',
    data: { activeDirectoryServiceEndpointResourceId: audience },
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.deepEqual([...new Set(f.entra.state.tokens.map((x) => x.scope))], [`${audience}/.default`]);
  assert.ok(f.arm.state.requests.length > 0 && f.arm.state.requests.every((q) => q.auth === 'valid'));

  // The public cloud's connections carry https://management.core.windows.net/, which Microsoft's
  // tasks ask for as ...//.default; a Resource Manager for that audience takes the token.
  const g = await fakes(t, { jobs: [runningOrders()], audience: 'https://management.core.windows.net/' });
  const p = await runHdi(g, { jobName: 'orders', action: 'savepoint' }, { data: { activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/' } });
  assert.equal(p.exitCode, 0, p.log);
  assert.deepEqual([...new Set(g.entra.state.tokens.map((x) => x.scope))], ['https://management.core.windows.net//.default']);

  // Without it, the cloud's Resource Manager resource, as before; a token for it is refused by
  // the Azure Stack Hub Resource Manager, and the error names the audience asked for.
  const h = await fakes(t, { jobs: [runningOrders()], audience });
  const old = await runHdi(h, { jobName: 'orders', action: 'savepoint' }, { armResource: 'https://management.local.azurestack.external/', environment: 'AzureStack' });
  assert.equal(old.exitCode, 1, old.log);
  assert.match(old.errors[0].message, /HTTP 401: InvalidAuthenticationToken.*issued for `https:\/\/management\.local\.azurestack\.external\/\.default`/);
});

test('every HDInsight run says first that the service is retired and where to go; a provider or cluster that is gone is a clear error', async (t) => {
  const notice = /^Microsoft retired HDInsight on AKS on 2025-01-31: .*works only with clusters that still answer\. Move the job to Ververica Platform \(target: ververica\) or to a Flink cluster of your own.*\(target: flink\)/;
  const firstLine = (r) => r.stdout.split('\n')[0];
  const f = await fakes(t, { jobs: [runningOrders()] });
  const ok = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(ok.exitCode, 0, ok.log);
  assert.match(firstLine(ok), notice);
  assert.equal(ok.result, 'Succeeded', 'a notice, not a warning');
  assert.match(summary(ok), /\*\*Note:\*\* Microsoft retired HDInsight on AKS/);
  const bad = await runHdi(f, { jobName: 'orders', hdiClusterName: '' });
  assert.equal(bad.exitCode, 2, bad.log);
  assert.match(firstLine(bad), notice, 'even when the inputs are wrong');

  // The resource provider no longer serves HDInsight on AKS clusters.
  const gone = await fakes(t, { jobs: [runningOrders()], retired: 'provider' });
  const p = await runHdi(gone, { jobName: 'orders', action: 'suspend' });
  assert.equal(p.exitCode, 1, p.log);
  assert.match(firstLine(p), notice);
  assert.equal(p.errors.length, 1, JSON.stringify(p.issues));
  assert.match(p.errors[0].message, /^list the jobs of HDInsight cluster `clusterpool1\/cluster1`: HDInsight on AKS no longer answers: Resource Manager does not serve its clusters any more \(.* answered HTTP 404: InvalidResourceType: The resource type 'clusterpools' could not be found.*\); Microsoft retired the service on 2025-01-31/);
  assert.match(p.errors[0].message, /hint: move the job to Ververica Platform \(target: ververica\)/);
  assert.deepEqual(gone.arm.writes(), []);

  // The cluster was removed.
  const removed = await fakes(t, { jobs: [runningOrders()], retired: 'cluster' });
  const c = await runHdi(removed, { jobName: 'orders', action: 'suspend' });
  assert.equal(c.exitCode, 1, c.log);
  assert.match(c.errors[0].message, /cluster `cluster1` in pool `clusterpool1` does not exist .*ResourceNotFound/);
  assert.match(c.errors[0].message, /hint: check the input `hdiClusterName`.*; if it is right, the cluster was removed when Microsoft retired HDInsight on AKS \(2025-01-31\): move the job to Ververica Platform/);
});

test('validate reads the job list, prints the request body and changes nothing', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()] });
  const r = await runHdi(f, { action: 'validate', jobName: 'orders', jarUri: `${JARS}/orders-3.0.0.jar`, upgradeStrategy: 'STATELESS' });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded');
  assert.match(r.stdout, /##\[group\]runJob STATELESS_UPDATE request body/);
  assert.match(r.stdout, /"jarName": "orders-3\.0\.0\.jar"/);
  assert.match(r.stdout, /job `orders` exists: status RUNNING/);
  assert.match(r.stdout, /validate: nothing was changed/);
  assert.ok(f.arm.state.requests.length > 0);
  assert.ok(f.arm.state.requests.every((q) => q.method === 'GET'));
  assert.equal(f.arm.job('orders').properties.jarName, 'orders-1.0.0.jar');
});

test('a job busy with an earlier action is waited for before anything is sent', async (t) => {
  const f = await fakes(t, {
    jobs: [runningOrders({ action: 'SAVEPOINT', actionResult: 'IN_PROGRESS', later: { afterReads: 2, actionResult: 'SUCCESS' } })],
  });
  const r = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-1.1.0.jar` });
  assert.equal(r.exitCode, 0, r.log);
  const posts = f.arm.runJobs();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].status, 202, 'no 409: the earlier action had finished');
  assert.match(r.stdout, /has SAVEPOINT in progress; waiting for it/);
  assert.ok(junitCases(r).some((c) => c.name === 'wait for the action in progress' && !c.failed));
});

test('a job that goes down while settling fails the run', async (t) => {
  const f = await fakes(t, {
    outcomes: { NEW: { later: { afterReads: 1, status: 'FAILED', jobOutput: 'java.lang.OutOfMemoryError: Java heap space' } } },
  });
  const r = await runHdi(f, {
    jobName: 'orders', jarUri: `${JARS}/orders-1.0.0.jar`, entryClass: 'com.example.orders.OrdersJob', settleSeconds: '4',
  });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, /did not stay up after NEW: job status became FAILED: java\.lang\.OutOfMemoryError/);
  assert.equal(r.outputs.state, 'FAILED');
  assert.ok(junitCases(r).some((c) => c.name === 'settle' && c.failed));
});

test('an action that does not finish in time times out naming the job, and a re-run waits for it', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()], inProgressReads: 1000 });
  const r = await runHdi(f, { jobName: 'orders', action: 'savepoint', timeoutSeconds: '3' });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, /SAVEPOINT of job `orders` on HDInsight cluster `clusterpool1\/cluster1` did not finish in time: SAVEPOINT is in progress/);
  assert.match(r.errors[0].message, /hint: raise timeoutSeconds/);
  assert.ok(r.seconds < 20, `took ${r.seconds}s`);
  assert.equal(f.arm.runJobs().length, 1);

  // The action finishes on the cluster two reads later; the re-run waits, then sends its own.
  for (const op of f.arm.state.operations.values()) op.readsLeft = 2;
  f.arm.config.inProgressReads = 1;
  const again = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(again.exitCode, 0, again.log);
  const posts = f.arm.runJobs();
  assert.equal(posts.length, 2);
  assert.equal(posts[1].status, 202);
  assert.match(again.stdout, /has SAVEPOINT in progress; waiting for it/);
  assert.equal(again.outputs.savepointLocation, f.arm.job('orders').properties.lastSavePoint);
});

test('rollback is skipped, with a warning, when there is nothing older to go back to', async (t) => {
  const f = await fakes(t, {
    jobs: [runningOrders()],
    outcomes: {
      UPDATE: { actionResult: 'FAILED', status: 'FAILED', jobOutput: 'boom' },
      NEW: { actionResult: 'FAILED', status: 'FAILED', jobOutput: 'no main class' },
    },
  });
  // The jar was replaced in place in storage: same path as the running job.
  const same = await runHdi(f, { jobName: 'orders', jarUri: `${JARS}/orders-1.0.0.jar`, rollbackOnFailure: 'true' });
  assert.equal(same.exitCode, 1, same.log);
  assert.equal(f.arm.runJobs('UPDATE').length, 1, 'no second UPDATE');
  assert.ok(same.issues.some((i) => i.type === 'warning' && /rollback skipped: the failed UPDATE ran the job's previous definition/.test(i.message)), JSON.stringify(same.issues));
  assert.ok(junitCases(same).some((c) => c.name === 'rollback' && c.skipped));

  const fresh = await runHdi(f, { jobName: 'payments', jarUri: `${JARS}/payments.jar`, entryClass: 'com.example.Payments', rollbackOnFailure: 'true' });
  assert.equal(fresh.exitCode, 1, fresh.log);
  assert.equal(f.arm.runJobs('NEW').length, 1);
  assert.match(fresh.errors[0].message, /NEW of job `payments` .* failed: no main class/);
  assert.ok(fresh.issues.some((i) => i.type === 'warning' && /did not exist before/.test(i.message)));
});

test('a connection closed before and during the answer and truncated JSON from Resource Manager are ridden out', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()], lroPolls: 1 });
  f.arm.fault({ method: 'GET', path: /\/jobs$/i, reset: true });
  f.arm.fault({ method: 'GET', path: /\/jobs$/i, resetMidBody: true });
  f.arm.fault({ method: 'GET', path: /\/jobs$/i, truncate: true });
  f.arm.fault({ method: 'GET', path: /operationResults/i, resetMidBody: true });
  const r = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(r.exitCode, 0, r.log);
  const reqs = f.arm.state.requests;
  assert.deepEqual(reqs.filter((q) => q.fault).map((q) => q.fault), ['reset', 'reset mid-body', 'truncated', 'reset mid-body']);
  assert.equal(f.arm.runJobs('SAVEPOINT').length, 1, 'the action was sent once');
  assert.equal(f.arm.state.faults.length, 0);
});

test('Resource Manager failing every time ends the run after bounded attempts; nothing is sent; a re-run succeeds', async (t) => {
  const f = await fakes(t, { jobs: [runningOrders()], lroPolls: 0 });
  f.arm.fault({ method: 'GET', path: /\/jobs$/i, status: 500, times: 1000, message: 'Internal error while listing the jobs.' });
  const r = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, r.log);
  assert.match(r.errors[0].message, /500/);
  assert.match(r.errors[0].message, /Internal error while listing the jobs\./);
  const tries = f.arm.state.requests.filter((q) => q.fault === 500);
  assert.ok(tries.length >= 2 && tries.length <= 5, `${tries.length} attempts`);
  assert.deepEqual(f.arm.writes(), []);
  f.arm.state.faults.length = 0;
  const again = await runHdi(f, { jobName: 'orders', action: 'savepoint' });
  assert.equal(again.exitCode, 0, again.log);
  assert.equal(f.arm.runJobs('SAVEPOINT').length, 1);
});
