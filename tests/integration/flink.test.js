// target=flink through the packaged task and the agent emulator, against a real Apache Flink 2.3
// session cluster from PyPI (scripts/lib.sh flink_start) and the test job in tests/job. Every
// test uses its own job name on the one shared cluster and cancels its jobs at the end.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { taskDir, parseXml, assertNoSecrets } = require('./helpers');
const f = require('./flink-scenario');

let dir;
let url;
let jar;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-flink-cluster-'));
  jar = f.buildJob(path.join(dir, 'job.jar'));
  url = f.startCluster(path.join(dir, 'cluster'), 8);
});

after(() => {
  if (dir) f.stopCluster(path.join(dir, 'cluster'));
});

const deploy = (o) => f.deploy({ task: taskDir, url, jar, ...o });

/** The jars on the cluster that the task uploaded for this job name (its file-name tag). */
async function ownJars(jobName) {
  const tag = crypto.createHash('md5').update(jobName).digest('hex').slice(0, 12);
  return (await f.jarNames(url)).filter((n) => n.startsWith(`fd.${tag}.`));
}

function testcases(r) {
  const suite = parseXml(r.junit).children[0];
  return suite.children.filter((c) => c.tag === 'testcase');
}

function failedCases(r) {
  return testcases(r).filter((c) => c.children.some((x) => x.tag === 'failure')).map((c) => c.attrs.name);
}

async function runningJob(jobName, opts) {
  const running = (await f.jobsNamed(url, jobName)).filter((j) => j.state === 'RUNNING');
  assert.equal(running.length, 1, `one RUNNING job named ${jobName}: ${JSON.stringify(running)}`);
  return f.jobFacts(url, running[0].jid, opts);
}

/** A job's state from the overview (current; /jobs/{id} is cached by Flink for 3 s). */
async function stateOf(jobId) {
  return (await f.flink(url, '/jobs/overview')).jobs.find((j) => j.jid === jobId).state;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A reverse proxy in front of the real cluster that logs every request and, given `auth`,
 * refuses requests without exactly that Authorization header (as an authenticating gateway
 * in front of a JobManager would).
 */
async function gateway(auth = null) {
  const upstream = new URL(url);
  const seen = [];
  const server = http.createServer((req, res) => {
    const ok = auth === null || req.headers.authorization === auth;
    seen.push({ method: req.method, path: req.url, ok });
    if (!ok) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: ['Unauthorized'] }));
      return;
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

test('the demo scenario: v1 runs, v2 is a stateful upgrade from a savepoint, v3 fails on start and rolls back to v2', async () => {
  const jobName = 'it-scenario';
  const steps = await f.scenario({ task: taskDir, url, jar, jobName });
  const [v1, v2, v3] = steps;

  assert.equal(v1.exitCode, 0, v1.log);
  assert.equal(v1.result, 'Succeeded');
  assert.equal(v1.outputs.state, 'RUNNING');
  assert.equal(v1.outputs.deploymentName, jobName);
  assert.equal(v1.outputs.jobId, v1.running.id);
  assert.equal(v1.outputs.deploymentId, v1.running.id);
  assert.equal(v1.running.tasks.running, v1.running.tasks.total);
  assert.ok(v1.running.vertices.some((v) => v.name.startsWith('sum v1')), JSON.stringify(v1.running.vertices));
  assert.equal(v1.running.restored, null);
  assert.equal(v1.outputs.savepointLocation, undefined);
  const v1Jar = v1.outputs.jarUri.split('/jars/')[1].replace(/^[^_]*_/, '');
  assert.ok(v1.jars.includes(v1Jar), `${v1Jar} in ${v1.jars}`);
  const names = testcases({ junit: v1.junit }).map((c) => c.attrs.name);
  for (const n of ['plan', 'upload jar', 'check program', 'start job', 'wait for RUNNING', 'settle 3s']) {
    assert.ok(names.includes(n), `${n} in ${names}`);
  }
  assert.deepEqual(failedCases({ junit: v1.junit }), []);
  assert.match(fs.readFileSync(v1.summary, 'utf8'), /succeeded[\s\S]*#### Timeline[\s\S]*RUNNING, all vertices running/);

  assert.equal(v2.exitCode, 0, v2.log);
  assert.equal(v2.outputs.state, 'RUNNING');
  assert.ok(v2.outputs.savepointLocation, 'the savepoint of the stop is an output');
  assert.notEqual(v2.running.id, v1.running.id);
  assert.equal(v2.outputs.jobId, v2.running.id);
  assert.deepEqual(v2.jobsAfter.find((j) => j.id === v1.running.id), { id: v1.running.id, state: 'FINISHED' });
  assert.ok(v2.running.vertices.some((v) => v.name.startsWith('sum v2')), JSON.stringify(v2.running.vertices));
  // Flink's own checkpoint statistics: the new job restored from the savepoint the stop took.
  assert.equal(v2.running.restored.external_path, v2.outputs.savepointLocation);
  assert.equal(v2.running.restored.is_savepoint, true);
  assert.match(v2.log, /Flink restored the job's state from file:/);
  const v2Jar = v2.outputs.jarUri.split('/jars/')[1].replace(/^[^_]*_/, '');
  assert.deepEqual(await ownJars(jobName).then((j) => j.length), 1);
  assert.ok(!v2.jars.includes(v1Jar), 'the old jar was deleted');
  assert.ok(v2.jars.includes(v2Jar));

  assert.equal(v3.exitCode, 1, v3.log);
  assert.equal(v3.result, 'Failed');
  assert.equal(v3.outputs.state, 'ROLLED_BACK');
  assert.ok(v3.errors.some((e) => /; rolled back: .* runs again as job /.test(e)), v3.errors.join('\n'));
  assert.match(v3.log, /##\[error\]exception in `sum v3[^`]*`: java\.lang\.IllegalStateException: test job v3 fails on start/);
  assert.ok(v3.running.vertices.some((v) => v.name.startsWith('sum v2')), 'v2 runs again');
  assert.equal(v3.outputs.jobId, v3.running.id);
  assert.notEqual(v3.outputs.savepointLocation, v2.outputs.savepointLocation);
  assert.equal(v3.running.restored.external_path, v3.outputs.savepointLocation, 'rollback restored from the pre-upgrade savepoint');
  assert.deepEqual(v3.jobsAfter.find((j) => j.id === v2.running.id).state, 'FINISHED');
  assert.equal(v3.jobsAfter.filter((j) => j.state === 'CANCELED').length, 1, 'the failing v3 job was cancelled');
  assert.deepEqual(await ownJars(jobName), [v2Jar], 'only the v2 jar is left');
  assert.deepEqual(failedCases({ junit: v3.junit }), ['wait for RUNNING']);
  const v3Cases = testcases({ junit: v3.junit }).map((c) => c.attrs.name);
  assert.ok(v3Cases.includes('wait for RUNNING (rollback)'), v3Cases.join());
  assert.match(fs.readFileSync(v3.summary, 'utf8'), /failed[\s\S]*rolled back/);
  await f.cancelAll(url, jobName);
});

test('a failed upgrade without rollback keeps the savepoint and the old jar; the next deploy restores from it', async () => {
  const jobName = 'it-repair';
  const v1 = await deploy({ jobName, version: 'v1' });
  assert.equal(v1.exitCode, 0, v1.log);
  const v1Jars = await ownJars(jobName);

  const v3 = await deploy({ jobName, version: 'v3' });
  assert.equal(v3.exitCode, 1, v3.log);
  assert.equal(v3.outputs.state, 'FAILED');
  const sp = v3.outputs.savepointLocation;
  assert.ok(sp, 'the savepoint is an output even on failure');
  assert.equal(await stateOf(v1.outputs.jobId), 'FINISHED');
  assert.deepEqual((await f.jobsNamed(url, jobName)).filter((j) => j.state === 'RUNNING'), []);
  assert.deepEqual(await ownJars(jobName), v1Jars, 'the old jar is kept, the failed one removed');
  assert.ok(v3.errors.some((e) => /did not come up/.test(e) && /deploy again/.test(e)), v3.errors.join('\n'));
  // The error issue names Flink's root exception, first line only; the log holds the account,
  // and only Flink's exceptions are red.
  assert.ok(v3.errors.some((e) => /^job `it-repair` \([0-9a-f]{32}\) did not come up: [^\n]*: java\.lang\.IllegalStateException: test job v3 fails on start: the summing operator refuses to open( \(hint: |$)/.test(e)), v3.errors.join('\n'));
  const red = v3.log.split('\n').filter((l) => l.startsWith('##[error]'));
  assert.ok(red.length > 0, v3.log);
  for (const l of red) assert.match(l, /^##\[error\](exception in `[^`]*`: |  root cause: )/);
  assert.ok(v3.log.includes(`the previous state is in savepoint ${sp}`));

  const fixed = await deploy({ jobName, version: 'v2' });
  assert.equal(fixed.exitCode, 0, fixed.log);
  assert.ok(fixed.log.includes(`start it from savepoint ${sp}`), 'the plan says where the state comes from');
  const job = await runningJob(jobName, { waitRestore: true });
  assert.equal(job.restored.external_path, sp);
  assert.ok(job.vertices.some((v) => v.name.startsWith('sum v2')));
  await f.cancelAll(url, jobName);
});

test('a wrong entry class fails with Flink\'s message before the running job is touched', async () => {
  const jobName = 'it-entry';
  const v1 = await deploy({ jobName, version: 'v1' });
  assert.equal(v1.exitCode, 0, v1.log);
  const jarsBefore = await ownJars(jobName);

  const bad = await deploy({ jobName, version: 'v2', inputs: { entryClass: 'flinkdeploy.testjob.NoSuchJob' } });
  assert.equal(bad.exitCode, 1, bad.log);
  assert.equal(bad.errors.length, 1, bad.errors.join('\n'));
  assert.match(bad.errors[0], /java\.lang\.ClassNotFoundException: flinkdeploy\.testjob\.NoSuchJob/);
  assert.match(bad.errors[0], /hint: check entryClass; the jar's manifest names flinkdeploy\.testjob\.StatefulSum/);
  assert.match(bad.log, /The program's entry point class 'flinkdeploy\.testjob\.NoSuchJob' was not found in the jar file/);
  assert.deepEqual(failedCases(bad), ['check program']);
  assert.equal(await stateOf(v1.outputs.jobId), 'RUNNING', 'the running job was not stopped');
  assert.deepEqual(await ownJars(jobName), jarsBefore, 'the new jar was removed again');
  await f.cancelAll(url, jobName);
});

test('an unreachable URL names the host and whether a proxy was used', async () => {
  const port = await freePort();
  const target = `http://127.0.0.1:${port}`;
  const direct = await f.deploy({ task: taskDir, url: target, jar, jobName: 'it-down', version: 'v1' });
  assert.equal(direct.exitCode, 1);
  assert.equal(direct.errors.length, 1, direct.errors.join('\n'));
  assert.match(direct.errors[0], new RegExp(`GET ${target}/config: connection failed reaching 127\\.0\\.0\\.1:${port} without a proxy`));

  const proxyPort = await freePort();
  const proxied = await f.deploy({
    task: taskDir, url: target, jar, jobName: 'it-down', version: 'v1',
    variables: { 'Agent.ProxyUrl': `http://127.0.0.1:${proxyPort}` },
  });
  assert.equal(proxied.exitCode, 1);
  assert.equal(proxied.errors.length, 1, proxied.errors.join('\n'));
  assert.match(proxied.errors[0], new RegExp(`127\\.0\\.0\\.1:${port} through proxy http://127\\.0\\.0\\.1:${proxyPort}`));
});

test('a job that does not come up in time: the timeout names the job and its last state, and the job is cancelled', async () => {
  const jobName = 'it-slow';
  const r = await deploy({ jobName, version: 'v1', extraArgs: '--open-delay-ms 600000', inputs: { timeoutSeconds: '4' } });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, r.errors.join('\n'));
  assert.match(r.errors[0], /job `it-slow` \([0-9a-f]{32}\) is not RUNNING after 4s; last state: RUNNING \(tasks: [^)]*initializing/);
  assert.match(r.errors[0], /hint: the job needs 1 task slot/);
  assert.deepEqual(failedCases(r), ['wait for RUNNING']);
  const jobs = await f.jobsNamed(url, jobName);
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].state, 'CANCELED');
  assert.deepEqual(await ownJars(jobName), [], 'the jar of a first deploy that failed is removed');
});

test('lifecycle: savepoint, suspend, resume from the suspend savepoint with the recorded arguments, listSavepoints, cancel, delete', async () => {
  const jobName = 'it-life';
  const v1 = await deploy({ jobName, version: 'v1' });
  assert.equal(v1.exitCode, 0, v1.log);
  const act = (action, inputs = {}) => f.deploy({ task: taskDir, url, jobName, inputs: { action, ...inputs } });

  const sp = await act('savepoint');
  assert.equal(sp.exitCode, 0, sp.log);
  assert.equal(sp.outputs.state, 'RUNNING');
  assert.equal(sp.outputs.jobId, v1.outputs.jobId);
  assert.match(sp.outputs.savepointLocation, /^file:.*savepoint-/);
  assert.equal(await stateOf(v1.outputs.jobId), 'RUNNING');

  const sus = await act('suspend');
  assert.equal(sus.exitCode, 0, sus.log);
  assert.equal(sus.outputs.state, 'SUSPENDED');
  assert.notEqual(sus.outputs.savepointLocation, sp.outputs.savepointLocation);
  assert.equal(await stateOf(v1.outputs.jobId), 'FINISHED');

  const res = await act('resume');
  assert.equal(res.exitCode, 0, res.log);
  assert.equal(res.outputs.state, 'RUNNING');
  assert.equal(res.outputs.savepointLocation, sus.outputs.savepointLocation);
  const job = await runningJob(jobName, { waitRestore: true });
  assert.equal(job.id, res.outputs.jobId);
  assert.equal(job.restored.external_path, sus.outputs.savepointLocation);
  // No artifactPath and no mainArgs: the jar and its arguments came from the recorded upload.
  assert.ok(job.vertices.some((v) => v.name.startsWith('sum v1')), JSON.stringify(job.vertices));

  const again = await act('resume');
  assert.equal(again.exitCode, 0, again.log);
  assert.match(again.log, /already RUNNING/);
  assert.equal((await f.jobsNamed(url, jobName)).filter((j) => j.state === 'RUNNING').length, 1);

  const list = await act('listSavepoints');
  assert.equal(list.exitCode, 0, list.log);
  assert.ok(list.log.includes(sp.outputs.savepointLocation));
  assert.ok(list.log.includes(sus.outputs.savepointLocation));
  assert.equal(list.outputs.savepointLocation, sus.outputs.savepointLocation, 'the newest savepoint is the output');

  const busy = await act('delete');
  assert.equal(busy.exitCode, 1);
  assert.match(busy.errors[0], /must be stopped before its jars are deleted/);
  assert.equal((await ownJars(jobName)).length, 1);

  const can = await act('cancel');
  assert.equal(can.exitCode, 0, can.log);
  assert.equal(can.outputs.state, 'CANCELLED');
  assert.equal(await stateOf(res.outputs.jobId), 'CANCELED');

  const del = await act('delete');
  assert.equal(del.exitCode, 0, del.log);
  assert.equal(del.outputs.state, 'DELETED');
  assert.deepEqual(await ownJars(jobName), []);
});

test('validate and bad input change nothing on the cluster', async () => {
  const jobName = 'it-validate';
  const v1 = await deploy({ jobName, version: 'v1' });
  assert.equal(v1.exitCode, 0, v1.log);
  const snapshot = async () => ({ jobs: await f.jobsNamed(url, jobName), jars: await f.jarNames(url) });
  const before = await snapshot();
  const gw = await gateway();
  try {
    const val = await f.deploy({ task: taskDir, url: gw.url, jar, jobName, version: 'v2', inputs: { action: 'validate' } });
    assert.equal(val.exitCode, 0, val.log);
    assert.match(val.log, /stop job `it-validate` \([0-9a-f]{32}, running since [^)]*\) with a savepoint into file:/);
    assert.match(val.log, /validate: nothing was changed/);
    assert.ok(gw.seen.length >= 5, `${gw.seen.length} requests`);
    assert.deepEqual(gw.seen.filter((r) => r.method !== 'GET'), [], 'validate only reads');

    const count = gw.seen.length;
    const bad = await f.deploy({ task: taskDir, url: gw.url, jar, jobName, version: 'v2', inputs: { parallelism: 'lots' } });
    assert.equal(bad.exitCode, 2);
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0], /input `parallelism`/);
    assert.equal(gw.seen.length, count, 'bad input is refused before any request');
  } finally {
    gw.close();
  }
  const after = await snapshot();
  assert.deepEqual(after.jars, before.jars);
  assert.deepEqual(after.jobs.map((j) => [j.jid, j.state]), before.jobs.map((j) => [j.jid, j.state]));
  await f.cancelAll(url, jobName);
});

test('basic and bearer auth: the header reaches the cluster on every request and the credential never reaches the log', async () => {
  const jobName = 'it-auth';
  const password = 'pw-' + crypto.randomBytes(8).toString('hex');
  const pair = Buffer.from(`ci:${password}`).toString('base64');
  const gw = await gateway(`Basic ${pair}`);
  try {
    const run = (pw) => f.deploy({
      task: taskDir, url: gw.url, jar, jobName, version: 'v1',
      inputs: { flinkAuth: 'basic', flinkUsername: 'ci', flinkPassword: '$(flinkPassword)', settleSeconds: '1' },
      secrets: { flinkPassword: pw },
    });
    const ok = await run(password);
    assert.equal(ok.exitCode, 0, ok.log);
    assert.ok(gw.seen.length > 5, `${gw.seen.length} requests`);
    assert.ok(gw.seen.every((r) => r.ok), JSON.stringify(gw.seen.filter((r) => !r.ok)));
    assert.ok(gw.seen.some((r) => r.method === 'POST' && r.path === '/jars/upload'));
    assertNoSecrets(assert, ok, [password, pair]);

    const count = gw.seen.length;
    const denied = await run('wrong-' + password);
    assert.equal(denied.exitCode, 1);
    assert.equal(denied.errors.length, 1);
    assert.match(denied.errors[0], /answered HTTP 401: Unauthorized \(hint: check flinkAuth/);
    assert.equal(gw.seen.length, count + 1, 'the first refused request ends the run');
    assertNoSecrets(assert, denied, ['wrong-' + password]);
  } finally {
    gw.close();
  }

  const token = 'tok-' + crypto.randomBytes(12).toString('hex');
  const bearer = await gateway(`Bearer ${token}`);
  try {
    const r = await f.deploy({
      task: taskDir, url: bearer.url, jobName, inputs: { action: 'savepoint', flinkAuth: 'bearer', flinkToken: '$(flinkToken)' },
      secrets: { flinkToken: token },
    });
    assert.equal(r.exitCode, 0, r.log);
    assert.match(r.outputs.savepointLocation, /savepoint-/);
    assert.ok(bearer.seen.length > 2 && bearer.seen.every((x) => x.ok));
    assert.ok(bearer.seen.some((x) => x.method === 'POST' && /\/savepoints$/.test(x.path)));
    assertNoSecrets(assert, r, [token]);
  } finally {
    bearer.close();
    await f.cancelAll(url, jobName);
  }
});

// The health gate (healthMaxRestarts, healthCheckpoints) on the real cluster: RUNNING is not
// enough when the job restarted or cannot checkpoint.
test('health gate: a job that restarts while settling fails the step with its root exception and is rolled back', async () => {
  const jobName = 'it-health-restart';
  const v1 = await deploy({ jobName, version: 'v1' });
  assert.equal(v1.exitCode, 0, v1.log);
  const r = await deploy({
    jobName, version: 'v2', extraArgs: '--fail-once-after-ms 2500 --restart-attempts 3',
    inputs: { settleSeconds: '12', rollbackOnFailure: 'true' },
  });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.outputs.state, 'ROLLED_BACK');
  // The headline: how often it restarted and Flink's root exception, then the rollback.
  assert.ok(r.errors.some((e) => /^job `it-health-restart` \([0-9a-f]{32}\) failed while settling: the job restarted 1 time since it started: java\.lang\.IllegalStateException: test job fails once 2500 ms after it started; rolled back: .* runs again as job /.test(e)), r.errors.join('\n'));
  assert.match(r.log, /no restart/, 'the plan says what the settle window checks');
  // Flink itself shows the v2 job restarted and RUNNING again: the gate, not a state, failed it.
  const v2 = (await f.jobsNamed(url, jobName)).find((j) => j.state === 'CANCELED');
  assert.ok(v2, 'the restarted v2 job was cancelled');
  const ex = await f.flink(url, `/jobs/${v2.jid}/exceptions`);
  assert.equal(ex.exceptionHistory.entries.length, 1, JSON.stringify(ex).slice(0, 300));
  const back = await runningJob(jobName);
  assert.ok(back.vertices.some((v) => v.name.startsWith('sum v1')), 'v1 runs again');
  assert.deepEqual(failedCases({ junit: r.junit }), ['settle 12s']);
  await f.cancelAll(url, jobName);
});

test('health gate: healthMaxRestarts lets a job restart that often and no more', async () => {
  const jobName = 'it-health-allowed';
  const r = await deploy({
    jobName, version: 'v1', extraArgs: '--fail-once-after-ms 1500 --restart-attempts 3',
    inputs: { settleSeconds: '8', healthMaxRestarts: '1' },
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.match(r.log, /at most 1 restart\(s\)/);
  assert.match(r.log, /health: 1 restart\(s\)/);
  await f.cancelAll(url, jobName);
});

test('health gate: a job that never completes a checkpoint fails with the checkpoint failure', async () => {
  const jobName = 'it-health-no-checkpoint';
  const r = await deploy({
    jobName, version: 'v1',
    extraArgs: '--checkpoint-interval 500 --checkpoint-timeout 300 --snapshot-delay-ms 1500',
    inputs: { settleSeconds: '8', healthCheckpoints: '1' },
  });
  assert.equal(r.exitCode, 1, r.log);
  assert.ok(r.errors.some((e) => /^job `it-health-no-checkpoint` \([0-9a-f]{32}\) failed while settling: no checkpoint completed within settleSeconds \(8s\) \([1-9][0-9]* failed: [^)]*expired[^)]*\)/i.test(e)), r.errors.join('\n'));
  assert.equal(r.outputs.state, 'FAILED');
  // Flink's own statistics agree: failures, nothing completed, and the job never restarted.
  const [job] = await f.jobsNamed(url, jobName);
  const cps = await f.flink(url, `/jobs/${job.jid}/checkpoints`);
  assert.equal(cps.counts.completed, 0);
  assert.ok(cps.counts.failed > 0);
  await f.cancelAll(url, jobName);
});

test('health gate: a healthy job passes after the checkpoints it was asked for', async () => {
  const jobName = 'it-health-ok';
  const r = await deploy({
    jobName, version: 'v1', extraArgs: '--checkpoint-interval 500',
    inputs: { settleSeconds: '6', healthCheckpoints: '2' },
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.match(r.log, /no restart, 2 completed checkpoint\(s\)/);
  const seen = /health: 0 restart\(s\), (\d+) checkpoint\(s\) completed/.exec(r.log);
  assert.ok(seen && Number(seen[1]) >= 2, r.log);
  const facts = await runningJob(jobName);
  assert.equal(facts.state, 'RUNNING');
  await f.cancelAll(url, jobName);
});

test('health gate: healthCheckpoints without a settle window is refused before anything changes', async () => {
  const jobName = 'it-health-bad-input';
  const r = await deploy({ jobName, version: 'v1', inputs: { settleSeconds: '0', healthCheckpoints: '2' } });
  assert.equal(r.exitCode, 2, r.log);
  assert.ok(r.errors.some((e) => /healthCheckpoints/.test(e) && /settleSeconds/.test(e)), r.errors.join('\n'));
  assert.deepEqual(await f.jobsNamed(url, jobName), []);
  assert.deepEqual(await ownJars(jobName), []);
});
