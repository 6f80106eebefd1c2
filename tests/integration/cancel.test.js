// Cancelling a run, the way the agent does it (SIGINT to the launcher, SIGTERM 7.5 s later, then
// a kill), through the packaged task against the Ververica Platform fake: the task stops at
// once, sends nothing more, rolls nothing back, and still writes its JUnit file and summary.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { run, scratch, taskDir, vvpDeployment, childrenOf, junit, caseNamed } = require('./helpers');
const { buildEnv } = require('../../scripts/run-task.js');
const { startVvp } = require('../fakes/vvp');

const TOKEN = 'vvp-api-5c0e2f81aa';
const secrets = { vvpApiToken: TOKEN };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fake() {
  return startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 300, stopMs: 150, savepointMs: 200 } });
}

function inputs(f, extra = {}) {
  return { vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', settleSeconds: '0', timeoutSeconds: '60', ...extra };
}

const deployment = vvpDeployment;

/** The task stopped on the first signal, well before the agent would have sent SIGTERM. */
function assertStoppedPromptly(r) {
  assert.ok(r.cancelled, 'the run was cancelled');
  assert.deepEqual(r.cancelled.signals, ['SIGINT'], r.log);
  const after = r.seconds - r.cancelled.at;
  assert.ok(after < 5, `the task ended ${after.toFixed(1)}s after SIGINT`);
  assert.equal(r.exitCode, 130, r.log);
}

/** One task.complete, the last word: Canceled, with `message`; the same text as the one error. */
function assertCanceled(r, message) {
  const completes = r.command('task.complete');
  assert.equal(completes.length, 1, r.log);
  assert.equal(completes[0].properties.result, 'Canceled');
  assert.match(completes[0].message, message);
  assert.equal(r.errors.length, 1, r.log);
  assert.match(r.errors[0].message, message);
}

describe('Cancelling a run', { concurrency: 2 }, () => {
  test('SIGINT while waiting for RUNNING: the task stops, reports and ends Canceled, without a rollback', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('payments', 's3://vvp/a/v1.jar'));
      f.nextJobs({ startMs: 30000 });
      let writesAtSignal = null;
      const r = await run({
        inputs: inputs(f, { deploymentName: 'payments', jarUri: 's3://vvp/a/v2.jar', rollbackOnFailure: 'true' }),
        secrets,
        cancel: {
          // Once the update is in and the task is polling for the new job.
          when: () => {
            const w = f.writes();
            const polling = w.length > 0 && f.log.some((e) => e.method === 'GET' && e.at > w[0].at && e.path.endsWith('/deployments/payments'));
            if (polling) writesAtSignal = w.length;
            return polling;
          },
        },
      });
      assertStoppedPromptly(r);
      assertCanceled(r, /^cancelled while reach RUNNING \(deployment `payments` in namespace `default`\): the platform may still be carrying out the last change; run the pipeline again to finish it$/);

      const cases = junit(r);
      const step = caseNamed(cases, 'reach RUNNING');
      assert.equal(step.failed, true);
      assert.match(step.failure, /cancelled while reach RUNNING/);
      assert.match(step.failure, /SIGINT received/);
      for (const n of ['plan', 'render spec', 'apply']) assert.equal(caseNamed(cases, n).failed, false, n);
      assert.ok(!cases.some((c) => c.name === 'rollback'), 'no rollback step');
      const summary = r.command('task.uploadsummary');
      assert.equal(summary.length, 1);
      assert.match(fs.readFileSync(summary[0].message, 'utf8'), /cancelled while reach RUNNING/);

      // Anything still on its way would have arrived by now.
      await sleep(300);
      assert.equal(writesAtSignal, 1);
      assert.deepEqual(f.writes().map((e) => `${e.method} ${e.path}`), ['PATCH /api/v1/namespaces/default/deployments/payments'], 'no write after the signal, no rollback');
      const d = f.deployment('default', 'payments');
      assert.equal(d.spec.template.spec.artifact.jarUri, 's3://vvp/a/v2.jar', 'the change is left to the platform');
      assert.equal(d.status.state, 'TRANSITIONING');
    } finally { await f.close(); }
  });

  test('the launcher killed outright (Linux): the binary is told by the kernel and stops too', { skip: process.platform !== 'linux' && 'PR_SET_PDEATHSIG is Linux only' }, async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('orders', 's3://vvp/a/v1.jar'));
      f.nextJobs({ startMs: 30000 });
      const cwd = scratch();
      const taskJson = JSON.parse(fs.readFileSync(path.join(taskDir, 'task.json'), 'utf8'));
      const { env } = buildEnv({
        inputs: inputs(f, { deploymentName: 'orders', jarUri: 's3://vvp/a/v2.jar', rollbackOnFailure: 'true' }),
        variables: {}, secrets, endpoints: {}, env: { AGENT_TEMPDIRECTORY: scratch('fd-agent-tmp-') }, cwd,
      }, taskJson);
      // A file, not a pipe: the binary keeps writing to it after the launcher is gone.
      const logFile = path.join(cwd, 'task.log');
      const fd = fs.openSync(logFile, 'w');
      const launcher = spawn(process.execPath, [path.join(taskDir, 'launcher.js')], { cwd, env, stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      while (!f.writes().length) await sleep(20);
      await sleep(200);
      const [binary] = childrenOf(launcher.pid);
      assert.ok(binary > 0, 'the binary runs under the launcher');
      const t0 = Date.now();
      launcher.kill('SIGKILL');
      // Gone, or a zombie nobody has reaped yet: either way it has ended.
      const running = () => {
        try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${binary}/stat`, 'utf8')); } catch (e) { return false; }
      };
      while (running() && Date.now() - t0 < 10000) await sleep(50);
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(running(), false, `the binary ${binary} still runs ${seconds}s after its launcher was killed`);
      assert.ok(seconds < 5, `${seconds}s`);
      assert.match(fs.readFileSync(logFile, 'utf8'), /##vso\[task\.complete result=Canceled\]cancelled while reach RUNNING \(deployment `orders` in namespace `default`\)/);
      await sleep(300);
      assert.deepEqual(f.writes().map((e) => e.method), ['PATCH'], 'no rollback or other write after the launcher died');
    } finally { await f.close(); }
  });

  test('SIGINT during the plan: nothing was changed, and the task says so', async () => {
    const f = await fake();
    try {
      f.seed('default', deployment('ledger', 's3://vvp/a/v1.jar'));
      f.fault({ method: 'GET', path: '/deployments/ledger', delayMs: 60000, times: 1000 });
      const r = await run({
        inputs: inputs(f, { deploymentName: 'ledger', jarUri: 's3://vvp/a/v2.jar' }),
        secrets,
        cancel: { when: () => f.log.some((e) => e.method === 'GET' && e.path.endsWith('/deployments/ledger')) },
      });
      assertStoppedPromptly(r);
      assertCanceled(r, /^cancelled while plan \(deployment `ledger` in namespace `default`\): nothing was changed$/);
      const cases = junit(r);
      assert.deepEqual(cases.map((c) => [c.name, c.failed]), [['plan', true]]);
      await sleep(300);
      assert.deepEqual(f.writes(), [], 'no write request reached Ververica Platform');
    } finally { await f.close(); }
  });
});
