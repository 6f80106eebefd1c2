// Ververica Platform through the packaged task and the agent emulator, against the fake in
// tests/fakes/vvp.js: seed 000's flow, create, update, forced restart, failures, settle,
// timeout, rollback, every lifecycle action, bad inputs (with no write reaching the platform),
// HTTP faults, and no secret in any output.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { repo, scratch, run, assertNoSecrets, vvpDeployment, junit, caseNamed } = require('./helpers');
const { startVvp } = require('../fakes/vvp');

const TOKEN = 'vvp-api-7d41c0e9b2';
const TARGET_ID = '6232cc84-7aa3-4524-b3a8-36cab7203c47';
const SEED_DEPLOYMENT_ID = 'd320ec04-16f5-4915-b236-6efa43b7e003';
const SEED_SPEC = fs.readFileSync(path.join(repo, 'tests/fixtures/vvp/seed000-azure-pipelines-vvp-deployment.yml'), 'utf8');
const JAR = 'wasbs://vvp-pipeline-container@vvppipelinestorage.blob.core.windows.net/artifacts/namespaces/default/vvp-pipeline-demo-0.1.jar';

async function fake(opts = {}) {
  return startVvp({
    token: TOKEN,
    deploymentTargets: [{ name: 'vvp-jobs', id: TARGET_ID }],
    sessionClusters: [{ name: 'shared-session' }],
    timing: { startMs: 300, stopMs: 150, savepointMs: 200 },
    ...opts,
  });
}

/** Inputs of a typical run; the token comes from a secret variable, as in a pipeline. */
function inputs(f, extra = {}) {
  return { vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', settleSeconds: '0', timeoutSeconds: '20', ...extra };
}
const secrets = { vvpApiToken: TOKEN };

const deployment = vvpDeployment;

const ORDERS_V1 = 's3://vvp/artifacts/namespaces/default/job-1.jar';

/** `orders` deployed with job-1.jar, whose next job fails on start; returns the seeded deployment. */
function seedFailingOrders(f) {
  const seeded = f.seed('default', deployment('orders', ORDERS_V1));
  f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in v2' } });
  return seeded;
}

/** A folder with `orders.yml`, the upgrade to job-2.jar with these label, artifact and Flink configuration lines. */
function ordersSpec({ label, artifact, conf }) {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'orders.yml'), [
    'kind: Deployment', 'apiVersion: v1',
    'metadata:', '  name: orders', '  labels:', `    ${label}`,
    'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs', '  template:', '    spec:',
    '      artifact:', '        kind: JAR', '        jarUri: s3://vvp/artifacts/namespaces/default/job-2.jar',
    ...artifact.map((l) => `        ${l}`),
    '      flinkConfiguration:', ...conf.map((l) => `        ${l}`), '',
  ].join('\n'));
  return cwd;
}

function summary(r) {
  const s = r.command('task.uploadsummary');
  assert.equal(s.length, 1);
  return fs.readFileSync(s[0].message, 'utf8');
}

function noWrites(f) {
  assert.deepEqual(f.writes().map((e) => `${e.method} ${e.path}`), [], 'no write request reached Ververica Platform');
}

describe('Ververica Platform', { concurrency: 4 }, () => {
  test("seed 000's flow: its spec file with DEPLOYMENTTARGETID/JARURI, PATCH by id, token, forced restart", async () => {
    const f = await fake();
    try {
      const before = f.seed('default', deployment('vvp-pipeline-demo', `${JAR}?commit=1111111`, {
        metadata: { id: SEED_DEPLOYMENT_ID },
        spec: { deploymentTargetName: undefined, deploymentTargetId: TARGET_ID },
      }));
      const cwd = scratch();
      fs.writeFileSync(path.join(cwd, 'azure-pipelines-vvp-deployment.yml'), SEED_SPEC);
      const r = await run({
        cwd,
        inputs: inputs(f, {
          specFile: 'azure-pipelines-vvp-deployment.yml', deploymentId: SEED_DEPLOYMENT_ID,
          deploymentTargetId: TARGET_ID, jarUri: JAR, restart: 'always', settleSeconds: '1',
        }),
        variables: { 'Build.SourceVersion': 'abc123def' },
        secrets,
      });
      assert.equal(r.exitCode, 0, r.log);
      assert.equal(r.result, 'Succeeded');
      const writes = f.writes();
      assert.deepEqual(writes.map((e) => `${e.method} ${e.path}`), [`PATCH /api/v1/namespaces/default/deployments/${SEED_DEPLOYMENT_ID}`]);
      const body = writes[0].body;
      assert.equal(body.spec.deploymentTargetId, TARGET_ID);
      assert.equal(body.spec.template.spec.artifact.jarUri, `${JAR}?commit=abc123def`);
      assert.equal(body.status, undefined, 'the status block of the downloaded spec is not sent');
      assert.ok(f.log.every((e) => e.auth === 'ok'), 'every request carried the token');
      // The template changed, so the platform upgraded the job (STATEFUL: savepoint first).
      const after = f.deployment('default', SEED_DEPLOYMENT_ID);
      assert.equal(after.status.state, 'RUNNING');
      assert.notEqual(after.status.running.jobId, before.status.running.jobId);
      assert.deepEqual(f.savepoints(SEED_DEPLOYMENT_ID).map((s) => s.metadata.origin), ['SUSPEND_AND_UPGRADE']);
      assert.equal(r.outputs.deploymentId, SEED_DEPLOYMENT_ID);
      assert.equal(r.outputs.deploymentName, 'vvp-pipeline-demo');
      assert.equal(r.outputs.jobId, after.status.running.jobId);
      assert.equal(r.outputs.state, 'RUNNING');
      assert.equal(r.outputs.jarUri, `${JAR}?commit=abc123def`);
      const cases = junit(r);
      for (const n of ['plan', 'render spec', 'apply', 'reach RUNNING', 'stay RUNNING for 1s']) assert.equal(caseNamed(cases, n).failed, false, n);
      assert.match(r.stdout, /##\[section\]render spec\n(.*\n)*?\s+deploymentTargetId: 6232cc84-7aa3-4524-b3a8-36cab7203c47\n(.*\n)*?##\[section\]apply/);
      const md = summary(r);
      assert.match(md, new RegExp(`/app/#/namespaces/default/deployments/${SEED_DEPLOYMENT_ID}/detail/overview`));
      assert.match(md, /#### Spec diff/);
      assert.match(md, /-\s+jarUri: .*commit=1111111/);
      assert.match(md, /\+\s+jarUri: .*commit=abc123def/);
      assert.match(md, /#### Timeline/);
      assert.match(md, /reached RUNNING/);
      assert.match(md, new RegExp(after.status.running.jobId));
      assertNoSecrets(assert, r, [TOKEN]);
    } finally { await f.close(); }
  });

  test('creates the deployment when it is missing, from inputs alone', async () => {
    const f = await fake();
    try {
      const r = await run({
        inputs: inputs(f, {
          deploymentName: 'top-speed', displayName: 'Top Speed', deploymentTargetName: 'vvp-jobs', jarUri: JAR,
          entryClass: 'org.apache.flink.streaming.examples.windowing.TopSpeedWindowing', mainArgs: "--windowSize 10 --label 'a b'",
          parallelism: '2', flinkConfiguration: 'execution.checkpointing.interval: 10s\nstate.backend.type: rocksdb',
          upgradeStrategy: 'STATELESS', restoreStrategy: 'NONE',
        }),
        secrets,
      });
      assert.equal(r.exitCode, 0, r.log);
      assert.deepEqual(f.writes().map((e) => `${e.method} ${e.path}`), ['POST /api/v1/namespaces/default/deployments']);
      const d = f.deployment('default', 'top-speed');
      assert.equal(d.status.state, 'RUNNING');
      assert.equal(d.metadata.displayName, 'Top Speed');
      assert.equal(d.spec.deploymentTargetName, 'vvp-jobs');
      assert.equal(d.spec.upgradeStrategy.kind, 'STATELESS');
      assert.equal(d.spec.restoreStrategy.kind, 'NONE');
      const t = d.spec.template.spec;
      assert.equal(t.parallelism, 2);
      assert.equal(t.artifact.entryClass, 'org.apache.flink.streaming.examples.windowing.TopSpeedWindowing');
      assert.equal(t.artifact.mainArgs, "--windowSize 10 --label 'a b'");
      assert.equal(t.flinkConfiguration['state.backend.type'], 'rocksdb');
      assert.equal(r.outputs.deploymentId, d.metadata.id);
      assert.equal(r.outputs.jobId, d.status.running.jobId);
      assert.match(r.stdout, /create \(POST\) deployment `top-speed` in namespace `default`/);
      assertNoSecrets(assert, r, [TOKEN]);
    } finally { await f.close(); }
  });

  test('syncingMode PUT creates when missing and replaces when present; a spec file may keep a deployment CANCELLED', async () => {
    const f = await fake();
    try {
      const cwd = scratch();
      fs.writeFileSync(path.join(cwd, 'd.yml'), [
        'metadata:', '  name: replaced', '  labels:', '    team: data', 'spec:', '  state: CANCELLED', '  deploymentTargetName: vvp-jobs',
        '  template:', '    spec:', '      artifact:', '        kind: JAR', '        jarUri: s3://vvp/a/v1.jar', '      flinkConfiguration:', '        old.key: "1"', '',
      ].join('\n'));
      const created = await run({ cwd, inputs: inputs(f, { specFile: 'd.yml', syncingMode: 'PUT' }), secrets });
      assert.equal(created.exitCode, 0, created.log);
      assert.deepEqual(f.writes().map((e) => `${e.method} ${e.path} ${e.status}`), ['PUT /api/v1/namespaces/default/deployments/replaced 201']);
      assert.equal(f.deployment('default', 'replaced').status.state, 'CANCELLED');
      assert.equal(created.outputs.state, 'CANCELLED');
      assert.ok(caseNamed(junit(created), 'reach CANCELLED'));

      fs.writeFileSync(path.join(cwd, 'd.yml'), [
        'metadata:', '  name: replaced', 'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs',
        '  template:', '    spec:', '      artifact:', '        kind: JAR', '        jarUri: s3://vvp/a/v2.jar', '',
      ].join('\n'));
      const replaced = await run({ cwd, inputs: inputs(f, { specFile: 'd.yml', syncingMode: 'PUT' }), secrets });
      assert.equal(replaced.exitCode, 0, replaced.log);
      const d = f.deployment('default', 'replaced');
      assert.equal(d.status.state, 'RUNNING');
      assert.equal(d.spec.template.spec.artifact.jarUri, 's3://vvp/a/v2.jar');
      assert.equal(d.spec.template.spec.flinkConfiguration['old.key'], undefined, 'PUT removed what the spec no longer has');
      assert.deepEqual(d.metadata.labels, {});
      assert.match(replaced.stdout, /replace \(PUT\) deployment `replaced`/);
      assert.match(replaced.stdout, /^-\s+old\.key: '1'$/m);
    } finally { await f.close(); }
  });

  test('a Ververica Platform service connection gives the URL and the token', async () => {
    const f = await fake();
    try {
      const endpoints = { 'vvp-prod': { url: f.url, scheme: 'Token', parameters: { apitoken: TOKEN } } };
      const r = await run({ inputs: { vvpConnection: 'vvp-prod', deploymentName: 'conn', deploymentTargetName: 'vvp-jobs', jarUri: JAR, settleSeconds: '0' }, endpoints });
      assert.equal(r.exitCode, 0, r.log);
      assert.ok(f.log.length > 0 && f.log.every((e) => e.auth === 'ok'));
      assertNoSecrets(assert, r, [TOKEN]);
      const bad = { 'vvp-prod': { url: f.url, scheme: 'Token', parameters: { apitoken: 'revoked-token-77' } } };
      const r2 = await run({ inputs: { vvpConnection: 'vvp-prod', deploymentName: 'conn', jarUri: JAR }, endpoints: bad });
      assert.equal(r2.exitCode, 2, r2.log);
      assert.match(r2.errors[0].message, /`vvpConnection`: Ververica Platform rejected the API token \(HTTP 401\)/);
      assertNoSecrets(assert, r2, ['revoked-token-77']);
    } finally { await f.close(); }
  });

  test('an update with no change sends nothing and restarts nothing; restart=always does restart', async () => {
    const f = await fake();
    try {
      const base = { deploymentName: 'wordcount', deploymentTargetName: 'vvp-jobs', jarUri: JAR };
      const first = await run({ inputs: inputs(f, base), secrets });
      assert.equal(first.exitCode, 0, first.log);
      const job1 = first.outputs.jobId;
      const writesAfterFirst = f.writes().length;

      const same = await run({ inputs: inputs(f, base), secrets });
      assert.equal(same.exitCode, 0, same.log);
      assert.equal(f.writes().length, writesAfterFirst, 'no write for an unchanged spec');
      assert.equal(same.outputs.jobId, job1, 'the job was not restarted');
      assert.match(same.stdout, /already matches/);
      assert.equal(caseNamed(junit(same), 'apply').skipped, true);

      const forced = await run({ inputs: inputs(f, { ...base, restart: 'always' }), variables: { 'Build.SourceVersion': 'feedc0de' }, secrets });
      assert.equal(forced.exitCode, 0, forced.log);
      const patch = f.writes().slice(writesAfterFirst);
      assert.deepEqual(patch.map((e) => e.method), ['PATCH']);
      assert.equal(patch[0].body.spec.template.spec.artifact.jarUri, `${JAR}?commit=feedc0de`);
      assert.notEqual(forced.outputs.jobId, job1, 'restart=always replaced the job');
      assert.match(forced.stdout, /Ververica Platform upgrades the running job/);

      // restart=never: a template change is held back while the job runs, and the run says so.
      const never = await run({ inputs: inputs(f, { ...base, restart: 'never', parallelism: '4' }), secrets });
      assert.equal(never.exitCode, 0, never.log);
      assert.equal(never.result, 'SucceededWithIssues');
      assert.match(never.issues.map((i) => i.message).join('\n'), /restart is `never`/);
      assert.equal(never.outputs.jobId, forced.outputs.jobId);
      assert.equal(f.deployment('default', 'wordcount').spec.template.spec.parallelism, 1);
    } finally { await f.close(); }
  });

  test('a job that fails to start fails the run with the platform events and the job failure', async () => {
    const f = await fake();
    try {
      f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'java.lang.ClassNotFoundException: com.example.Missing' } });
      const r = await run({ inputs: inputs(f, { deploymentName: 'broken', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.result, 'Failed');
      assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
      assert.match(r.errors[0].message, /deployment `broken` in namespace `default` did not reach RUNNING: the deployment is FAILED/);
      assert.match(r.stdout, /##\[error\]event .* TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: .*ClassNotFoundException: com\.example\.Missing/);
      assert.match(r.stdout, /##\[error\]job [0-9a-f-]+ failed: JobFailed: java\.lang\.ClassNotFoundException: com\.example\.Missing/);
      const reach = caseNamed(junit(r), 'reach RUNNING');
      assert.equal(reach.failed, true);
      assert.match(reach.failure, /FAILED_CREATING_A_NEW_JOB/);
      assert.equal(r.outputs.state, 'FAILED');
      assertNoSecrets(assert, r, [TOKEN]);
    } finally { await f.close(); }
  });

  test('the error issue says why: the headline carries the job\'s failure, the log and summary the full account, and only what explains it is red', async () => {
    const f = await fake();
    try {
      f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'java.lang.ClassNotFoundException: com.example.Missing\n\tat java.net.URLClassLoader.findClass(URLClassLoader.java:382)' } });
      const r = await run({ inputs: inputs(f, { deploymentName: 'why', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
      // The one line people read on the run's summary page names the root cause, first line only.
      assert.match(r.errors[0].message, /^deployment `why` in namespace `default` did not reach RUNNING: the deployment is FAILED: java\.lang\.ClassNotFoundException: com\.example\.Missing( \(hint: .*\))?$/);
      assert.ok(!r.errors[0].message.includes('URLClassLoader'), r.errors[0].message);
      // Red: the failure events and the job's failure, nothing else.
      const red = r.stdout.split('\n').filter((l) => l.startsWith('##[error]'));
      assert.ok(red.length >= 2, r.stdout);
      for (const l of red) assert.match(l, /^##\[error\](event \S+ (FAILED_CREATING_A_NEW_JOB|TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS): |job [0-9a-f-]+ failed: |\tat )/);
      assert.ok(red.some((l) => /FAILED_CREATING_A_NEW_JOB: Job failed: java\.lang\.ClassNotFoundException/.test(l)), red.join('\n'));
      // Ordinary events are in the log as ordinary lines.
      for (const name of ['STATE_TRANSITION_IS_NEEDED', 'CREATING_A_NEW_JOB', 'AWAITING_A_JOB_TO_START']) {
        assert.match(r.stdout, new RegExp(`^event \\S+ ${name}: `, 'm'), name);
        assert.ok(!red.some((l) => l.includes(` ${name}: `)), `${name} is not red`);
      }
      // The summary carries the headline and the whole account.
      const md = summary(r);
      assert.match(md, /\*\*Error:\*\* deployment `why` .*ClassNotFoundException: com\.example\.Missing/);
      assert.match(md, /AWAITING_A_JOB_TO_START/);
      assert.match(md, /JobFailed: java\.lang\.ClassNotFoundException/);
      assert.match(caseNamed(junit(r), 'reach RUNNING').failure, /did not reach RUNNING: the deployment is FAILED: java\.lang\.ClassNotFoundException/);
    } finally { await f.close(); }
  });

  test('a job that reaches RUNNING and fails inside the settle window fails the run', async () => {
    const f = await fake();
    try {
      f.nextJobs({ failAfterMs: 1500, failure: { reason: 'JobFailed', message: 'java.lang.OutOfMemoryError: Java heap space' } });
      const r = await run({ inputs: inputs(f, { deploymentName: 'flaky', deploymentTargetName: 'vvp-jobs', jarUri: JAR, settleSeconds: '4' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /deployment `flaky` in namespace `default` reached RUNNING but did not stay up for 4s \(settleSeconds\): the deployment fell from RUNNING to FAILED: java\.lang\.OutOfMemoryError: Java heap space/);
      assert.match(r.stdout, /OutOfMemoryError/);
      const cases = junit(r);
      assert.equal(caseNamed(cases, 'reach RUNNING').failed, false);
      assert.equal(caseNamed(cases, 'stay RUNNING for 4s').failed, true);
    } finally { await f.close(); }
  });

  test('a platform slow to react is waited for: no old job or old failure is taken as the answer', async () => {
    const f = await fake({ timing: { startMs: 300, stopMs: 150, savepointMs: 200, reactMs: 1200 } });
    try {
      const old = f.seed('default', deployment('lagging', 's3://vvp/a/v1.jar'));
      const r = await run({ inputs: inputs(f, { deploymentName: 'lagging', jarUri: 's3://vvp/a/v2.jar' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      assert.equal(r.result, 'Succeeded', 'no warning: the platform did react');
      const now = f.deployment('default', 'lagging');
      assert.notEqual(now.status.running.jobId, old.status.running.jobId);
      assert.equal(r.outputs.jobId, now.status.running.jobId, 'the new job is reported, not the old one');
      // The old job was seen and not taken (TRANSITIONING in between may go unobserved).
      assert.match(r.stdout, new RegExp(`RUNNING \\(job ${old.status.running.jobId}\\)[\\s\\S]*RUNNING \\(job ${now.status.running.jobId}\\)`));

      // A deployment that was FAILED before the fix: the FAILED from before is not the verdict.
      f.seed('default', deployment('was-broken', 's3://vvp/a/bad.jar'), 'FAILED');
      const fix = await run({ inputs: inputs(f, { deploymentName: 'was-broken', jarUri: 's3://vvp/a/fixed.jar' }), secrets });
      assert.equal(fix.exitCode, 0, fix.log);
      assert.equal(f.deployment('default', 'was-broken').status.state, 'RUNNING');
      assert.match(fix.stdout, /FAILED[\s\S]*RUNNING \(job/);

      // Nothing changed and it is FAILED: that is the answer, at once.
      const started = Date.now();
      f.seed('default', deployment('still-broken', 's3://vvp/a/bad.jar'), 'FAILED');
      const same = await run({ inputs: inputs(f, { deploymentName: 'still-broken', jarUri: 's3://vvp/a/bad.jar' }), secrets });
      assert.equal(same.exitCode, 1, same.log);
      assert.match(same.errors[0].message, /did not reach RUNNING: the deployment is FAILED/);
      assert.ok(Date.now() - started < 5000, 'no grace period for a spec that was not changed');
    } finally { await f.close(); }
  });

  test('a timeout names the deployment, the namespace and the last state', async () => {
    const f = await fake();
    try {
      f.nextJobs({ startMs: 20000 });
      const started = Date.now();
      const r = await run({ inputs: inputs(f, { deploymentName: 'slow', deploymentTargetName: 'vvp-jobs', jarUri: JAR, timeoutSeconds: '2' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /deployment `slow` in namespace `default` did not reach RUNNING within 2s; last state: TRANSITIONING/);
      assert.match(r.errors[0].message, /hint: raise timeoutSeconds/);
      assert.ok(Date.now() - started < 10000, 'the timeout was kept');
      assert.match(r.stdout, /AWAITING_A_JOB_TO_START/);
    } finally { await f.close(); }
  });

  test('rollback re-applies the previous spec, waits for it, and the run still fails', async () => {
    const f = await fake();
    try {
      const v1 = 's3://vvp/artifacts/namespaces/default/job-1.jar';
      const before = f.seed('default', deployment('payments', v1));
      f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in v2' } });
      const r = await run({
        inputs: inputs(f, { deploymentName: 'payments', jarUri: 's3://vvp/artifacts/namespaces/default/job-2.jar', rollbackOnFailure: 'true', settleSeconds: '1' }),
        secrets,
      });
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.result, 'Failed');
      assert.match(r.errors[0].message, /did not reach RUNNING: the deployment is FAILED.*; rolled back: deployment `payments` is RUNNING \(job [0-9a-f-]+\) again with the previous spec/);
      const after = f.deployment('default', 'payments');
      assert.equal(after.spec.template.spec.artifact.jarUri, v1);
      assert.equal(after.status.state, 'RUNNING');
      assert.notEqual(after.status.running.jobId, before.status.running.jobId);
      // The rollback replaces the deployment with the spec it had (PUT: "create or replace").
      assert.deepEqual(f.writes().map((e) => e.method), ['PATCH', 'PUT']);
      const put = f.writes()[1].body;
      assert.equal(put.metadata.name, 'payments');
      assert.equal(put.spec.template.spec.artifact.jarUri, v1);
      assert.deepEqual(put.spec.template, before.spec.template);
      assert.equal(put.status, undefined, 'what the platform owns is not sent');
      const cases = junit(r);
      assert.equal(caseNamed(cases, 'reach RUNNING').failed, true);
      assert.equal(caseNamed(cases, 'rollback').failed, false);
      assert.equal(r.outputs.jobId, after.status.running.jobId);
      assert.equal(r.outputs.state, 'RUNNING');
      const md = summary(r);
      assert.match(md, /#### Rollback/);
      assert.match(md, /attempt 1 \(this run's change\)/);
      assert.match(md, /attempt 2 \(rollback\)/);
    } finally { await f.close(); }
  });

  test('a timeout is rolled back too', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('stuck', 's3://vvp/a/v1.jar'));
      f.nextJobs({ startMs: 30000 });
      const r = await run({ inputs: inputs(f, { deploymentName: 'stuck', jarUri: 's3://vvp/a/v2.jar', rollbackOnFailure: 'true', timeoutSeconds: '2' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /did not reach RUNNING within 2s; last state: TRANSITIONING; rolled back: deployment `stuck` is RUNNING \(job [0-9a-f-]+\) again/);
      assert.equal(f.deployment('default', 'stuck').spec.template.spec.artifact.jarUri, 's3://vvp/a/v1.jar');
    } finally { await f.close(); }
  });

  test('a rollback that fails too is reported as such', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('ledger', 's3://vvp/a/v1.jar'));
      f.nextJobs({ outcome: 'FAILED' }, { outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'state is incompatible' } });
      const r = await run({ inputs: inputs(f, { deploymentName: 'ledger', jarUri: 's3://vvp/a/v2.jar', rollbackOnFailure: 'true' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /the rollback failed too: deployment `ledger` in namespace `default` did not reach RUNNING/);
      assert.match(r.errors[0].message, /needs attention/);
      assert.equal(caseNamed(junit(r), 'rollback').failed, true);
    } finally { await f.close(); }
  });

  test('a spec file reaches the platform as written: YAML scalars stay text where the description says string, and a rollback restores the previous spec within the description', async () => {
    // Every request is checked against the VVP description: run() fails on a number sent for a
    // string, or on a null (which Swagger 2.0 cannot allow).
    const f = await fake();
    try {
      const v1 = ORDERS_V1;
      seedFailingOrders(f);
      const cwd = ordersSpec({
        label: 'team: 42',
        artifact: ['flinkVersion: 1.20', 'mainArgs: 7'],
        conf: ['taskmanager.numberOfTaskSlots: 2', 'pipeline.object-reuse: true'],
      });
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'orders.yml', rollbackOnFailure: 'true', settleSeconds: '1' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      const sent = f.writes()[0].body;
      assert.equal(sent.metadata.labels.team, '42');
      assert.deepEqual(sent.spec.template.spec.artifact, { kind: 'JAR', jarUri: 's3://vvp/artifacts/namespaces/default/job-2.jar', flinkVersion: '1.20', mainArgs: '7' });
      assert.deepEqual(sent.spec.template.spec.flinkConfiguration, { 'taskmanager.numberOfTaskSlots': '2', 'pipeline.object-reuse': 'true' });
      assert.match(r.errors[0].message, /rolled back: deployment `orders` is RUNNING \(job [0-9a-f-]+\) again with the previous spec/);
      const after = f.deployment('default', 'orders');
      assert.equal(after.spec.template.spec.artifact.jarUri, v1);
      assert.equal(after.spec.template.spec.artifact.flinkVersion, undefined);
      assert.equal(after.metadata.labels.team, undefined);
      assert.deepEqual(Object.keys(after.spec.template.spec.flinkConfiguration || {}).filter((k) => k !== 'execution.checkpointing.interval'), []);
    } finally { await f.close(); }
  });

  test('a rollback replaces the deployment with the previous spec and reads it back: no null is sent, and a platform that stores null literally is no trap', async () => {
    for (const nulls of ['delete', 'literal']) {
      const f = await fake({ nulls });
      try {
        const before = seedFailingOrders(f);
        // Quoted: text in YAML and in the description alike.
        const cwd = ordersSpec({ label: 'team: "data"', artifact: ['mainArgs: "--window 10s"'], conf: ['state.backend: "rocksdb"'] });
        const r = await run({ cwd, inputs: inputs(f, { specFile: 'orders.yml', rollbackOnFailure: 'true' }), secrets });
        assert.equal(r.exitCode, 1, `${nulls}: ${r.log}`);
        assert.match(r.errors[0].message, /rolled back: deployment `orders` is RUNNING \(job [0-9a-f-]+\) again with the previous spec/, nulls);
        const writes = f.writes();
        assert.deepEqual(writes.map((e) => e.method), ['PATCH', 'PUT'], nulls);
        for (const w of writes) assert.ok(!JSON.stringify(w.body).includes('null'), `${nulls}: no null sent: ${JSON.stringify(w.body)}`);
        // What the change added is gone, not stored as null.
        const after = f.deployment('default', 'orders');
        assert.equal('mainArgs' in after.spec.template.spec.artifact, false, `${nulls}: ${JSON.stringify(after.spec.template.spec.artifact)}`);
        assert.equal('team' in (after.metadata.labels || {}), false, nulls);
        assert.equal('state.backend' in (after.spec.template.spec.flinkConfiguration || {}), false, nulls);
        assert.deepEqual(after.spec.template, before.spec.template, nulls);
        assert.equal(after.status.state, 'RUNNING');
        // Both writes were read back and found as written.
        assert.equal((r.stdout.match(/^read back: Ververica Platform stored what was written$/mg) || []).length, 2, r.stdout);
      } finally { await f.close(); }
    }
  });

  test('a platform that stores something else than the write meant fails the apply step with the difference shown', async () => {
    // `labels` at the top level instead of under `metadata`: the platform keeps only what a
    // Deployment has, so the write does not hold what was meant, and the run must say so
    // instead of waiting on a deployment without its labels.
    const cwd = scratch();
    const specFile = (name) => {
      fs.writeFileSync(path.join(cwd, `${name}.yml`), [
        'kind: Deployment', 'apiVersion: v1', 'metadata:', `  name: ${name}`, 'labels:', '  team: data',
        'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs', '  template:', '    spec:',
        '      artifact:', '        kind: JAR', '        jarUri: s3://vvp/a/v2.jar',
        '      flinkConfiguration:', '        state.backend: hashmap', '',
      ].join('\n'));
      return `${name}.yml`;
    };
    const seeded = (f, name) => f.seed('default', deployment(name, 's3://vvp/a/v1.jar', {
      spec: { template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://vvp/a/v1.jar' }, flinkConfiguration: { 'state.backend': 'rocksdb' } } } },
    }));

    const f = await fake();
    try {
      seeded(f, 'tuned');
      const r = await run({ cwd, inputs: inputs(f, { specFile: specFile('tuned') }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
      assert.match(r.errors[0].message, /^deployment `tuned` in namespace `default` does not hold what the PATCH wrote: `labels\.team`: sent "data", not stored/);
      assert.match(r.stdout, /^##\[error\]read back: `labels\.team`: sent "data", not stored$/m);
      const cases = junit(r);
      assert.equal(caseNamed(cases, 'apply').failed, true);
      assert.ok(!cases.some((c) => c.name === 'reach RUNNING'), 'no wait after a write that did not hold');
      assert.match(summary(r), /sent "data", not stored/);

      // With rollbackOnFailure the previous spec is put back with a replace, and read back.
      seeded(f, 'tuned-back');
      const back = await run({ cwd, inputs: inputs(f, { specFile: specFile('tuned-back'), rollbackOnFailure: 'true' }), secrets });
      assert.equal(back.exitCode, 1, back.log);
      assert.match(back.errors[0].message, /does not hold what the PATCH wrote: .*; rolled back: deployment `tuned-back` is RUNNING/);
      assert.equal(f.deployment('default', 'tuned-back').spec.template.spec.flinkConfiguration['state.backend'], 'rocksdb');
      assert.equal(f.writes().at(-1).method, 'PUT');
    } finally { await f.close(); }
  });

  test('rollback has nothing to return to for a new deployment', async () => {
    const f = await fake();
    try {
      f.nextJobs({ outcome: 'FAILED' });
      const r = await run({ inputs: inputs(f, { deploymentName: 'fresh', deploymentTargetName: 'vvp-jobs', jarUri: JAR, rollbackOnFailure: 'true' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /rollback skipped \(the deployment is new/);
      assert.equal(caseNamed(junit(r), 'rollback').skipped, true);
      assert.deepEqual(f.writes().map((e) => e.method), ['POST']);
    } finally { await f.close(); }
  });

  test('suspend, resume from the latest state, savepoint, listSavepoints, cancel, delete', async () => {
    const f = await fake();
    try {
      const d = f.seed('default', deployment('orders', JAR));
      const id = d.metadata.id;
      const act = (action, extra = {}) => run({ inputs: inputs(f, { action, deploymentName: 'orders', ...extra }), secrets });

      const suspend = await act('suspend');
      assert.equal(suspend.exitCode, 0, suspend.log);
      assert.equal(f.deployment('default', 'orders').status.state, 'SUSPENDED');
      assert.deepEqual(f.writes().map((e) => e.body), [{ spec: { state: 'SUSPENDED' } }]);
      assert.equal(suspend.outputs.state, 'SUSPENDED');
      const suspendSp = f.savepoints(id).find((s) => s.metadata.origin === 'SUSPEND');
      assert.equal(suspend.outputs.savepointLocation, suspendSp.spec.savepointLocation);
      assert.ok(caseNamed(junit(suspend), 'reach SUSPENDED'));

      const resume = await act('resume', { settleSeconds: '1' });
      assert.equal(resume.exitCode, 0, resume.log);
      const running = f.deployment('default', 'orders');
      assert.equal(running.status.state, 'RUNNING');
      assert.equal(resume.outputs.jobId, running.status.running.jobId);
      const job = f.jobs(id).find((j) => j.metadata.id === running.status.running.jobId);
      assert.equal(job.spec.savepointLocation, suspendSp.spec.savepointLocation, 'resumed from the state taken at suspension');

      const sp = await act('savepoint');
      assert.equal(sp.exitCode, 0, sp.log);
      const userSp = f.savepoints(id).find((s) => s.metadata.origin === 'USER_REQUEST');
      assert.equal(userSp.status.state, 'COMPLETED');
      assert.equal(sp.outputs.savepointLocation, userSp.spec.savepointLocation);
      assert.ok(caseNamed(junit(sp), 'savepoint COMPLETED'));

      const writes = f.writes().length;
      const list = await act('listSavepoints');
      assert.equal(list.exitCode, 0, list.log);
      assert.equal(f.writes().length, writes, 'listSavepoints writes nothing');
      assert.match(list.stdout, new RegExp(`${userSp.metadata.id}\\s+USER_REQUEST\\s+COMPLETED`));
      assert.match(list.stdout, new RegExp(`${suspendSp.metadata.id}\\s+SUSPEND\\s+COMPLETED`));
      const md = summary(list);
      assert.match(md, /#### Savepoints/);
      assert.match(md, /\| Created \| Id \| Origin \| State \| Location \|/);
      assert.match(md, new RegExp(userSp.metadata.id));

      const cancel = await act('cancel');
      assert.equal(cancel.exitCode, 0, cancel.log);
      assert.equal(f.deployment('default', 'orders').status.state, 'CANCELLED');
      assert.equal(cancel.outputs.state, 'CANCELLED');

      const again = await act('cancel');
      assert.equal(again.exitCode, 0, again.log);
      assert.match(again.stdout, /already CANCELLED/);

      const del = await act('delete');
      assert.equal(del.exitCode, 0, del.log);
      assert.equal(f.deployment('default', 'orders'), undefined);
      assert.equal(del.outputs.state, 'DELETED');
      const gone = await act('delete');
      assert.equal(gone.exitCode, 0, gone.log);
      assert.match(gone.stdout, /does not exist in namespace `default`: nothing to delete/);
      assertNoSecrets(assert, list, [TOKEN]);
    } finally { await f.close(); }
  });

  test('delete cancels a running deployment first, waits for CANCELLED, then deletes', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('gone-soon', JAR));
      const r = await run({ inputs: inputs(f, { action: 'delete', deploymentName: 'gone-soon' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      assert.deepEqual(f.writes().map((e) => `${e.method} ${JSON.stringify(e.body || null)}`), ['PATCH {"spec":{"state":"CANCELLED"}}', 'DELETE null']);
      const names = junit(r).map((c) => c.name);
      assert.deepEqual(names.slice(1), ['apply', 'reach CANCELLED', 'delete']);
    } finally { await f.close(); }
  });

  test('resume from a savepoint location registers it and restores from it; by id too', async () => {
    const f = await fake();
    try {
      const d = f.seed('default', deployment('restorable', JAR), 'CANCELLED');
      const loc = 's3://backups/savepoints/savepoint-abc123';
      const r = await run({ inputs: inputs(f, { action: 'resume', deploymentName: 'restorable', savepointLocation: loc }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      const copied = f.savepoints(d.metadata.id).find((s) => s.metadata.origin === 'COPIED');
      assert.equal(copied.spec.savepointLocation, loc);
      assert.equal(copied.status.state, 'COMPLETED');
      const after = f.deployment('default', 'restorable');
      const job = f.jobs(d.metadata.id).find((j) => j.metadata.id === after.status.running.jobId);
      assert.equal(job.spec.savepointLocation, loc);
      assert.equal(after.spec.restoreStrategy.kind, 'LATEST_STATE', 'the restore strategy was set back');
      const patches = f.writes().filter((e) => e.method === 'PATCH').map((e) => e.body);
      assert.deepEqual(patches[0], { spec: { state: 'RUNNING', restoreStrategy: { kind: 'LATEST_SAVEPOINT', allowNonRestoredState: false } } });

      // Back to a stopped state, then resume from the first savepoint by its id.
      const cancel = await run({ inputs: inputs(f, { action: 'cancel', deploymentName: 'restorable' }), secrets });
      assert.equal(cancel.exitCode, 0, cancel.log);
      const byId = await run({ inputs: inputs(f, { action: 'resume', deploymentName: 'restorable', savepointId: copied.metadata.id }), secrets });
      assert.equal(byId.exitCode, 0, byId.log);
      const latest = f.deployment('default', 'restorable');
      const job2 = f.jobs(d.metadata.id).find((j) => j.metadata.id === latest.status.running.jobId);
      assert.equal(job2.spec.savepointLocation, loc);

      const running = await run({ inputs: inputs(f, { action: 'resume', deploymentName: 'restorable', savepointLocation: loc }), secrets });
      assert.equal(running.exitCode, 2, running.log);
      assert.match(running.errors[0].message, /needs a stopped deployment/);
      const unknown = await run({ inputs: inputs(f, { action: 'cancel', deploymentName: 'restorable' }), secrets });
      assert.equal(unknown.exitCode, 0);
      const writes = f.writes().length;
      const bad = await run({ inputs: inputs(f, { action: 'resume', deploymentName: 'restorable', savepointId: '00000000-1111-2222-3333-444444444444' }), secrets });
      assert.equal(bad.exitCode, 2, bad.log);
      assert.match(bad.errors[0].message, /`savepointId`: savepoint `00000000-1111-2222-3333-444444444444` does not exist/);
      assert.equal(f.writes().length, writes);
    } finally { await f.close(); }
  });

  test('a failed savepoint fails the run with the platform failure', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('snap', JAR));
      f.nextSavepoint({ fail: true, message: 'Checkpoint Coordinator is suspending.' });
      const r = await run({ inputs: inputs(f, { action: 'savepoint', deploymentName: 'snap' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /savepoint `[0-9a-f-]+` of deployment `snap` in namespace `default` failed: SavepointFailed: Checkpoint Coordinator is suspending/);
      const suspended = f.seed('default', deployment('idle', JAR), 'SUSPENDED');
      assert.ok(suspended);
      const writes = f.writes().length;
      const idle = await run({ inputs: inputs(f, { action: 'savepoint', deploymentName: 'idle' }), secrets });
      assert.equal(idle.exitCode, 2, idle.log);
      assert.match(idle.errors[0].message, /`savepoint` needs a RUNNING job; deployment `idle` in namespace `default` is SUSPENDED/);
      assert.equal(f.writes().length, writes);
    } finally { await f.close(); }
  });

  test('validate prints the rendered spec and the diff and changes nothing', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('preview', JAR));
      const r = await run({ inputs: inputs(f, { action: 'validate', deploymentName: 'preview', parallelism: '3', flinkConfiguration: 'a.b: c' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      noWrites(f);
      assert.match(r.stdout, /##\[group\]Rendered deployment spec/);
      assert.match(r.stdout, /##\[group\]Changes to the deployed spec/);
      assert.match(r.stdout, /^-\s+parallelism: 1$/m);
      assert.match(r.stdout, /^\+\s+parallelism: 3$/m);
      assert.match(r.stdout, /^\+\s+a\.b: c$/m);
      assert.match(r.stdout, /validate: nothing was changed/);
      assert.match(summary(r), /```diff/);
    } finally { await f.close(); }
  });

  test('the jar is uploaded through the artifacts API when it is local and not sent to Blob Storage', async () => {
    const f = await fake();
    try {
      const cwd = scratch();
      fs.mkdirSync(path.join(cwd, 'target'));
      const jar = Buffer.from('PK\u0003\u0004 fake jar bytes '.repeat(1000));
      fs.writeFileSync(path.join(cwd, 'target/orders-1.4.jar'), jar);
      const r = await run({ cwd, inputs: inputs(f, { deploymentName: 'uploaded', deploymentTargetName: 'vvp-jobs', artifactPath: 'target/*.jar' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      const up = f.writes()[0];
      assert.equal(up.path, '/artifacts/v1/namespaces/default/artifacts:upload');
      assert.equal(up.artifact.filename, 'orders-1.4.jar');
      assert.equal(up.artifact.size, jar.length);
      assert.equal(up.artifact.sha256, require('crypto').createHash('sha256').update(jar).digest('hex'));
      const uri = 's3://vvp/artifacts/namespaces/default/orders-1.4.jar';
      assert.equal(f.deployment('default', 'uploaded').spec.template.spec.artifact.jarUri, uri);
      assert.equal(r.outputs.jarUri, uri);
      assert.match(r.stdout, /jarUri comes from the upload/);
      assert.ok(caseNamed(junit(r), 'upload artifact'));

      // The same file name again: same URI, so no restart unless asked for; the run says so.
      const job = r.outputs.jobId;
      const again = await run({ cwd, inputs: inputs(f, { deploymentName: 'uploaded', deploymentTargetName: 'vvp-jobs', artifactPath: 'target/*.jar' }), secrets });
      assert.equal(again.exitCode, 0, again.log);
      assert.equal(again.result, 'SucceededWithIssues');
      assert.match(again.issues[0].message, /the uploaded jar has the URI the deployment already uses .*restart: always/);
      assert.equal(again.outputs.jobId, job);
      const forced = await run({ cwd, inputs: inputs(f, { deploymentName: 'uploaded', deploymentTargetName: 'vvp-jobs', artifactPath: 'target/*.jar', restart: 'always' }), variables: { 'Build.SourceVersion': 'c0ffee' }, secrets });
      assert.equal(forced.exitCode, 0, forced.log);
      assert.equal(forced.result, 'Succeeded');
      assert.notEqual(forced.outputs.jobId, job);
      assert.equal(forced.outputs.jarUri, `${uri}?commit=c0ffee`);
    } finally { await f.close(); }
  });

  describe('bad input: a clear error naming the input, and no write request', { concurrency: 4 }, () => {
    test('malformed YAML spec', async () => {
      const f = await fake();
      try {
        const cwd = scratch();
        fs.writeFileSync(path.join(cwd, 'd.yml'), 'metadata:\n  name: x\nspec: [unclosed\n');
        const r = await run({ cwd, inputs: inputs(f, { specFile: 'd.yml' }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`specFile`: .*d\.yml is not valid YAML/);
        noWrites(f);
      } finally { await f.close(); }
    });

    test('unresolved placeholder', async () => {
      const f = await fake();
      try {
        const cwd = scratch();
        fs.writeFileSync(path.join(cwd, 'd.yml'), SEED_SPEC);
        const r = await run({ cwd, inputs: inputs(f, { specFile: 'd.yml', deploymentTargetId: TARGET_ID }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /placeholder `JARURI` in `spec\.template\.spec\.artifact\.jarUri` has no value/);
        assert.match(r.errors[0].message, /hint: set `artifactPath` or `jarUri`/);
        noWrites(f);
        assert.equal(f.log.length, 0, 'nothing was even read');
      } finally { await f.close(); }
    });

    test('unknown namespace', async () => {
      const f = await fake();
      try {
        const r = await run({ inputs: inputs(f, { vvpNamespace: 'staging', deploymentName: 'a', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`vvpNamespace`: namespace `staging` does not exist on http:\/\/127\.0\.0\.1:\d+/);
        noWrites(f);
      } finally { await f.close(); }
    });

    test('a 404 from the namespaces API is not taken as a missing namespace unless the platform says so', async () => {
      // Many installations route only /api through their ingress.
      const f = await fake({ routes: ['/api', '/artifacts'] });
      try {
        const r = await run({ inputs: inputs(f, { deploymentName: 'fresh', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(r.exitCode, 0, r.log);
        assert.ok(f.log.some((e) => e.ingress && e.path === '/namespaces/v1/namespaces/default'), 'the namespaces API was asked and the ingress answered');
        assert.equal(f.deployment('default', 'fresh').status.state, 'RUNNING');
        // A namespace that is missing: the Application Manager says so, naming the input.
        const missing = await run({ inputs: inputs(f, { vvpNamespace: 'staging', deploymentName: 'fresh', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(missing.exitCode, 2, missing.log);
        assert.match(missing.errors[0].message, /`vvpNamespace`: namespace `staging` does not exist on http:\/\/127\.0\.0\.1:\d+\/? \(Ververica Platform: Namespace 'staging' not found\)/);
      } finally { await f.close(); }
      // A token that may not read the namespaces API.
      const g = await fake();
      try {
        g.fault({ method: 'GET', path: /^\/namespaces\//, status: 403, body: { message: "Access is denied: the token may not read namespaces" }, times: 5 });
        const r = await run({ inputs: inputs(g, { action: 'delete', deploymentName: 'never-was' }), secrets });
        assert.equal(r.exitCode, 0, r.log);
        assert.match(r.stdout, /does not exist in namespace `default`: nothing to delete/);
      } finally { await g.close(); }
    });

    test('unknown deployment target, by name and by id', async () => {
      const f = await fake();
      try {
        const r = await run({ inputs: inputs(f, { deploymentName: 'a', deploymentTargetName: 'nope', jarUri: JAR }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`deploymentTargetName`: deployment target `nope` does not exist in namespace `default`/);
        const r2 = await run({ inputs: inputs(f, { deploymentName: 'a', deploymentTargetId: '11111111-2222-3333-4444-555555555555', jarUri: JAR }), secrets });
        assert.equal(r2.exitCode, 2, r2.log);
        assert.match(r2.errors[0].message, /`deploymentTargetId`: deployment target with id `11111111-2222-3333-4444-555555555555` does not exist/);
        const r3 = await run({ inputs: inputs(f, { deploymentName: 'a', sessionClusterName: 'other-session', jarUri: JAR }), secrets });
        assert.equal(r3.exitCode, 2, r3.log);
        assert.match(r3.errors[0].message, /`sessionClusterName`: session cluster `other-session` does not exist/);
        noWrites(f);
      } finally { await f.close(); }
    });

    test('wrong token, missing token, and a viewer token', async () => {
      const f = await fake({ roles: { 'viewer-token-55aa': 'viewer' } });
      try {
        const wrong = 'not-the-token-9921';
        const r = await run({ inputs: inputs(f, { deploymentName: 'a', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets: { vvpApiToken: wrong } });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`vvpApiToken`: Ververica Platform rejected the API token \(HTTP 401\) for GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/default\/deployments\/a/);
        assert.match(r.errors[0].message, /editor or owner role in namespace `default`/);
        assertNoSecrets(assert, r, [wrong]);
        const none = await run({ inputs: { vvpUrl: f.url, deploymentName: 'a', deploymentTargetName: 'vvp-jobs', jarUri: JAR } });
        assert.equal(none.exitCode, 2, none.log);
        assert.match(none.errors[0].message, /give an API token/);
        noWrites(f);
        // A viewer may read but not write: the refused write changes nothing, and says why.
        f.seed('default', deployment('a', 's3://x/old.jar'));
        const viewer = await run({ inputs: inputs(f, { deploymentName: 'a', jarUri: JAR }), secrets: { vvpApiToken: 'viewer-token-55aa' } });
        assert.equal(viewer.exitCode, 2, viewer.log);
        assert.match(viewer.errors[0].message, /may not access deployment `a` in namespace `default` \(HTTP 403 for PATCH/);
        assert.match(viewer.errors[0].message, /viewer can only read/);
        assert.equal(f.deployment('default', 'a').spec.template.spec.artifact.jarUri, 's3://x/old.jar');
        assertNoSecrets(assert, viewer, ['viewer-token-55aa']);
      } finally { await f.close(); }
    });

    test('a deployment id that does not exist, and a renamed deployment', async () => {
      const f = await fake();
      try {
        const r = await run({ inputs: inputs(f, { deploymentId: SEED_DEPLOYMENT_ID, deploymentTargetName: 'vvp-jobs', jarUri: JAR, displayName: 'x' }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`deploymentId`: no deployment with id `d320ec04-16f5-4915-b236-6efa43b7e003` exists in namespace `default`/);
        f.seed('default', deployment('old-name', JAR, { metadata: { id: SEED_DEPLOYMENT_ID } }));
        const renamed = await run({ inputs: inputs(f, { deploymentId: SEED_DEPLOYMENT_ID, deploymentName: 'new-name', jarUri: JAR }), secrets });
        assert.equal(renamed.exitCode, 2, renamed.log);
        assert.match(renamed.errors[0].message, /names deployment `new-name`, but deployment with id `d320ec04-[^`]+` is named `old-name`/);
        noWrites(f);
      } finally { await f.close(); }
    });

    test('a jar over the 50 MB of the artifacts API', async () => {
      const f = await fake();
      try {
        const cwd = scratch();
        const fd = fs.openSync(path.join(cwd, 'big.jar'), 'w');
        fs.ftruncateSync(fd, 51 * 1024 * 1024);
        fs.closeSync(fd);
        const r = await run({ cwd, inputs: inputs(f, { deploymentName: 'a', deploymentTargetName: 'vvp-jobs', artifactPath: 'big.jar' }), secrets });
        assert.equal(r.exitCode, 2, r.log);
        assert.match(r.errors[0].message, /`artifactPath`: .*big\.jar` is 51\.0 MB; the Ververica Platform artifacts API takes at most 50 MB/);
        noWrites(f);
      } finally { await f.close(); }
    });

    test('lifecycle actions on a deployment that does not exist', async () => {
      const f = await fake();
      try {
        for (const action of ['suspend', 'resume', 'savepoint', 'listSavepoints']) {
          const r = await run({ inputs: inputs(f, { action, deploymentName: 'ghost' }), secrets });
          assert.equal(r.exitCode, 2, `${action}: ${r.log}`);
          assert.match(r.errors[0].message, /`deploymentName`: deployment `ghost` does not exist in namespace `default`/);
        }
        noWrites(f);
      } finally { await f.close(); }
    });
  });

  describe('HTTP behaviour', { concurrency: 4 }, () => {
    test('429 with Retry-After, 503, a connection closed before and during the answer, and truncated JSON are ridden out', async () => {
      const f = await fake();
      try {
        f.fault({ method: 'GET', path: '/deployments/resilient', status: 429, headers: { 'retry-after': '1' }, times: 1 });
        f.fault({ method: 'GET', path: '/deployment-targets/', status: 503, times: 2 });
        const r1 = await run({ inputs: inputs(f, { deploymentName: 'resilient', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(r1.exitCode, 0, r1.log);
        const first = f.log.filter((e) => e.path.endsWith('/deployments/resilient')).slice(0, 2);
        assert.equal(first[0].status, 429);
        assert.ok(first[1].at - first[0].at >= 900, `Retry-After was honoured (${first[1].at - first[0].at} ms)`);
        // During the wait: a reset connection and a truncated body; the poll goes on.
        f.nextJobs({ startMs: 2500 });
        const writes = f.writes().length;
        const pending = run({ inputs: inputs(f, { deploymentName: 'resilient', jarUri: `${JAR}?v=2` }), secrets });
        while (f.writes().length === writes) await new Promise((r) => setTimeout(r, 20));
        // Five resets use up one read's attempts: the wait loop says so and reads again.
        f.fault({ method: 'GET', path: '/deployments/resilient', reset: true, times: 5 });
        f.fault({ method: 'GET', path: '/deployments/resilient', resetMidBody: true, times: 1 });
        f.fault({ method: 'GET', path: '/deployments/resilient', truncate: true, times: 1 });
        const r2 = await pending;
        assert.equal(r2.exitCode, 0, r2.log);
        assert.deepEqual(f.log.filter((e) => e.fault).map((e) => e.status), [429, 503, 503, 'reset', 'reset', 'reset', 'reset', 'reset', 'reset mid-body', 200]);
        assert.match(r2.stdout, /could not read the deployment .*5 attempt\(s\).*; trying again/);
      } finally { await f.close(); }
    });

    test('a server that stops answering does not hold the run past timeoutSeconds', async () => {
      const f = await fake();
      try {
        f.nextJobs({ startMs: 30000 });
        const started = Date.now();
        const pending = run({ inputs: inputs(f, { deploymentName: 'hung', deploymentTargetName: 'vvp-jobs', jarUri: JAR, timeoutSeconds: '3' }), secrets });
        while (f.writes().length === 0) await new Promise((r) => setTimeout(r, 20));
        f.fault({ method: 'GET', path: '/deployments/hung', delayMs: 60000, times: 1000 });
        const r = await pending;
        assert.equal(r.exitCode, 1, r.log);
        // The server stops answering right after the create: the read-back of the write, or the
        // wait after it, is the step that runs out of time, whichever the fault catches first.
        assert.match(r.errors[0].message, /deployment `hung` in namespace `default` (did not reach RUNNING within 3s|could not be read back within 3s after POST)/);
        assert.ok(Date.now() - started < 12000, `the run ended after ${Date.now() - started} ms`);
      } finally { await f.close(); }
    });

    test('a create whose answer is cut short is not sent again; the re-run finds the deployment and finishes', async () => {
      const f = await fake();
      try {
        // The platform creates the deployment; only the answer is lost on the way back.
        f.fault({ method: 'POST', path: '/deployments', truncate: true, done: true, times: 1 });
        const r = await run({ inputs: inputs(f, { deploymentName: 'cutshort', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(r.exitCode, 1, r.log);
        assert.match(r.errors[0].message, /not the expected JSON/);
        assert.deepEqual(f.writes().map((e) => e.method), ['POST'], 'one create, not repeated');
        const again = await run({ inputs: inputs(f, { deploymentName: 'cutshort', deploymentTargetName: 'vvp-jobs', jarUri: JAR }), secrets });
        assert.equal(again.exitCode, 0, again.log);
        assert.deepEqual(f.writes().filter((e) => e.method === 'POST').length, 1, 'the re-run did not create a second one');
        assert.equal(f.deployment('default', 'cutshort').status.state, 'RUNNING');
      } finally { await f.close(); }
    });

    test('409 on PATCH re-reads the deployment and retries once', async () => {
      const f = await fake();
      try {
        f.seed('default', deployment('contended', JAR));
        f.fault({ method: 'PATCH', status: 409, body: { message: 'resourceVersion 3 is outdated' }, times: 1 });
        const r = await run({ inputs: inputs(f, { deploymentName: 'contended', parallelism: '2' }), secrets });
        assert.equal(r.exitCode, 0, r.log);
        assert.match(r.stdout, /PATCH answered 409 .*resourceVersion 3 is outdated.*retrying once/);
        assert.deepEqual(f.writes().map((e) => `${e.method} ${e.status}`), ['PATCH 409', 'PATCH 200']);
        f.fault({ method: 'PATCH', status: 409, body: { message: 'still busy' }, times: 2 });
        const r2 = await run({ inputs: inputs(f, { deploymentName: 'contended', parallelism: '3' }), secrets });
        assert.equal(r2.exitCode, 1, r2.log);
        assert.match(r2.errors[0].message, /deployment `contended` in namespace `default` was changed concurrently: PATCH http:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/default\/deployments\/contended answered HTTP 409: still busy/);
      } finally { await f.close(); }
    });

    test('a server error quotes the server and names the URL', async () => {
      const f = await fake();
      try {
        f.seed('default', deployment('wobbly', JAR));
        f.fault({ method: 'PATCH', status: 400, body: { message: 'spec.template.spec.parallelism must be positive' }, times: 1 });
        const r = await run({ inputs: inputs(f, { deploymentName: 'wobbly', parallelism: '2' }), secrets });
        assert.equal(r.exitCode, 1, r.log);
        assert.match(r.errors[0].message, /deployment `wobbly` in namespace `default`: PATCH http:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/default\/deployments\/wobbly answered HTTP 400: spec\.template\.spec\.parallelism must be positive/);
        assert.equal(caseNamed(junit(r), 'apply').failed, true);
      } finally { await f.close(); }
    });
  });
});

describe('Ververica Platform: the health gate', { concurrency: 2 }, () => {
  test('a job that restarts while settling fails the step with its restart count, and is rolled back', async () => {
    const f = await fake();
    try {
      const v1 = 's3://vvp/artifacts/namespaces/default/health-1.jar';
      f.seed('default', deployment('restarting', v1));
      f.nextJobs({ restartAfterMs: 600, restarts: 2 });
      const r = await run({
        inputs: inputs(f, { deploymentName: 'restarting', jarUri: 's3://vvp/artifacts/namespaces/default/health-2.jar', settleSeconds: '3', rollbackOnFailure: 'true' }),
        secrets,
      });
      assert.equal(r.exitCode, 1, r.log);
      const [newJob] = f.jobs(f.deployment('default', 'restarting').metadata.id)
        .filter((j) => j.status.started && j.status.started.observedFlinkJobRestarts === 2);
      assert.ok(newJob, 'the fake counted the restarts on the new job');
      assert.match(r.errors[0].message, /deployment `restarting` in namespace `default` reached RUNNING but did not stay up for 3s \(settleSeconds\): the job restarted 2 times since it started/);
      assert.match(r.errors[0].message, /; rolled back: deployment `restarting` is RUNNING \(job [0-9a-f-]+\) again with the previous spec/);
      assert.match(r.errors[0].message, new RegExp(`observedFlinkJobRestarts\` of job ${newJob.metadata.id}`));
      assert.match(r.stdout, /no restart/, 'the plan says what the settle window checks');
      const after = f.deployment('default', 'restarting');
      assert.equal(after.spec.template.spec.artifact.jarUri, v1);
      assert.equal(caseNamed(junit(r), 'stay RUNNING for 3s').failed, true);
    } finally { await f.close(); }
  });

  test('restarts within healthMaxRestarts pass, and restarts from before the run do not count', async () => {
    const f = await fake();
    try {
      f.nextJobs({ restartAfterMs: 300, restarts: 1 });
      const r = await run({ inputs: inputs(f, { deploymentName: 'tolerant', deploymentTargetName: 'vvp-jobs', jarUri: JAR, settleSeconds: '2', healthMaxRestarts: '1' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      assert.match(r.stdout, /health: 1 restart\(s\)/);
      // The same job, unchanged, with its one restart from before: a re-run counts from its
      // first reading, so the old restart is not held against it.
      const again = await run({ inputs: inputs(f, { deploymentName: 'tolerant', deploymentTargetName: 'vvp-jobs', jarUri: JAR, settleSeconds: '1' }), secrets });
      assert.equal(again.exitCode, 0, again.log);
      assert.match(again.stdout, /health: 0 restart\(s\)/);
    } finally { await f.close(); }
  });

  test('healthCheckpoints is refused on Ververica Platform, whose API has no checkpoint statistics', async () => {
    const f = await fake();
    try {
      const r = await run({ inputs: inputs(f, { deploymentName: 'cp', deploymentTargetName: 'vvp-jobs', jarUri: JAR, settleSeconds: '30', healthCheckpoints: '1' }), secrets });
      assert.equal(r.exitCode, 2, r.log);
      assert.match(r.errors[0].message, /healthCheckpoints.*cannot be checked on target `ververica`: Ververica Platform's API .* has no checkpoint statistics/);
      noWrites(f);
    } finally { await f.close(); }
  });
});
