// Soak (only with `scripts/test --long`): one Ververica Platform deployment taken through many
// pipeline runs in a row, each an upgrade to a new jar, with what goes wrong chosen by a seeded
// random sequence: nothing, HTTP faults while waiting (429, 503, a connection closed before or
// during the answer, cut JSON), a new job that fails on start with rollbackOnFailure, and a start
// slower than timeoutSeconds. Every run must end as its case says, and after every run the
// deployment must be in a state the next run can work from; after a timeout the next run repairs.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { run } = require('./helpers');
const { startVvp } = require('../fakes/vvp');

const LONG = process.env.FLINK_DEPLOY_LONG === '1';
const RUNS = Number(process.env.SOAK_RUNS || 60);
const SEED = Number(process.env.SOAK_SEED || 20261122);
const TOKEN = 'soak-token-5e2b';
const JAR = (n) => `wasbs://jars@soak.blob.core.windows.net/job.jar?build=${n}`;

/** mulberry32: a small seeded generator, so a failing sequence can be replayed with SOAK_SEED. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CASES = ['clean', 'clean', 'faults', 'faults', 'fails-on-start', 'too-slow'];

test(`soak: ${RUNS} runs against one deployment (seed ${SEED})`, { skip: !LONG && 'only with scripts/test --long', timeout: 30 * 60_000 }, async () => {
  const f = await startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 150, stopMs: 80, savepointMs: 80 } });
  const pick = random(SEED);
  const seen = Object.fromEntries(CASES.map((c) => [c, 0]));
  let before = null; // the deployment's jar when a run starts: what a rollback returns to
  try {
    for (let n = 1; n <= RUNS; n++) {
      const kind = n === 1 ? 'clean' : CASES[Math.floor(pick() * CASES.length)];
      seen[kind]++;
      const inputs = {
        vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', deploymentName: 'soak', deploymentTargetName: 'vvp-jobs',
        jarUri: JAR(n), settleSeconds: '1', timeoutSeconds: '10', rollbackOnFailure: 'true',
      };
      let injected = 0;
      if (kind === 'faults') {
        // At most three in a row: five would use up every attempt of one read.
        for (const fault of [{ status: 429, headers: { 'retry-after': '0' } }, { status: 503 }, { reset: true }, { resetMidBody: true }, { truncate: true }]) {
          if (injected < 3 && (pick() < 0.6 || (injected === 0 && fault.truncate))) {
            f.fault({ method: 'GET', path: '/deployments/soak', times: 1, ...fault });
            injected++;
          }
        }
      }
      const faultsBefore = f.log.filter((e) => e.fault).length;
      if (kind === 'fails-on-start') f.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: `build ${n} fails on start` } });
      if (kind === 'too-slow') {
        f.nextJobs({ startMs: 15_000 });
        inputs.timeoutSeconds = '2';
        inputs.rollbackOnFailure = 'false';
      }
      const r = await run({ inputs, secrets: { vvpApiToken: TOKEN } });
      const d = f.deployment('default', 'soak');
      const jar = d.spec.template.spec.artifact.jarUri;
      const what = `run ${n} (${kind}, seed ${SEED})`;
      switch (kind) {
        case 'clean':
        case 'faults':
          assert.equal(r.exitCode, 0, `${what}: ${r.log}`);
          assert.equal(jar, JAR(n), what);
          assert.equal(d.status.state, 'RUNNING', what);
          break;
        case 'fails-on-start':
          assert.equal(r.exitCode, 1, `${what}: ${r.log}`);
          assert.match(r.stdout, new RegExp(`##\\[error\\]  job [0-9a-f-]+ failed: JobFailed: build ${n} fails on start`), `${what}: the platform's reason is shown`);
          assert.match(r.errors[r.errors.length - 1].message, /did not reach RUNNING: the deployment is FAILED; rolled back/, what);
          assert.equal(jar, before, `${what}: the template is back to the jar it had`);
          assert.equal(d.status.state, 'RUNNING', `${what}: and that runs`);
          break;
        case 'too-slow':
          assert.equal(r.exitCode, 1, `${what}: ${r.log}`);
          assert.match(r.errors[0].message, /deployment `soak` in namespace `default` did not reach RUNNING within 2s/, what);
          assert.equal(jar, JAR(n), `${what}: the change stays for the next run to finish`);
          break;
        default:
          throw new Error(kind);
      }
      assert.equal(f.log.filter((e) => e.fault).length - faultsBefore, injected, `${what}: every injected fault was met`);
      before = jar;
    }
    // Every kind of run happened at least once, so the soak exercised what it claims.
    for (const c of new Set(CASES)) assert.ok(seen[c] > 0, `${c} never came up: ${JSON.stringify(seen)}`);
  } finally {
    await f.close();
  }
});
