// Faults the other suites do not cover: Resource Manager and Entra ID answering slower than the
// timeout (the plan ends within timeoutSeconds, the error names the host and the limit, nothing is written), and a Flink
// TaskManager killed during an upgrade on a real session cluster (the run fails naming the
// cause; a re-run after the TaskManager is back repairs it, restoring the job from the
// savepoint the upgrade took).
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { repo, run, taskDir } = require('./helpers');
const { startEntra } = require('../fakes/entra');
const { startArmHdinsight } = require('../fakes/arm-hdinsight');
const { makeTestCa } = require('../fakes/tls');
const f = require('./flink-scenario');

const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '4b9e2a43-5c1d-4f6e-8a7b-9c0d1e2f3a4b';
const SECRET = 'faults-sp-secret-3x9';
const CONN = 'b1a5f0c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c';
const JARS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/jars';

/** An HTTPS server that takes every request and answers only after `delayMs`. */
async function slowServer(delayMs) {
  const tls = makeTestCa();
  const requests = [];
  const timers = new Set();
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    requests.push({ method: req.method, path: req.url.split('?')[0], at: Date.now() });
    req.resume();
    const t = setTimeout(() => { timers.delete(t); res.writeHead(503); res.end(); }, delayMs);
    timers.add(t);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${server.address().port}/`,
    host: `127.0.0.1:${server.address().port}`,
    caFile: tls.caFile,
    requests,
    close: () => { for (const t of timers) clearTimeout(t); server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  };
}

function hdiRun({ armUrl, authority, caFile }) {
  return run({
    inputs: {
      target: 'hdinsight', azureSubscription: CONN, hdiResourceGroup: 'hiloResourcegroup', hdiClusterPool: 'clusterpool1',
      hdiClusterName: 'cluster1', hdiArmEndpoint: armUrl, jobName: 'orders', jarUri: `${JARS}/orders.jar`,
      entryClass: 'com.example.Orders', settleSeconds: '0', timeoutSeconds: '2',
    },
    endpoints: {
      [CONN]: {
        url: 'https://management.azure.com/', scheme: 'ServicePrincipal',
        parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, serviceprincipalkey: SECRET, authenticationType: 'spnKey' },
        data: { subscriptionid: SUB, environment: 'AzureCloud', environmentAuthorityUrl: authority },
      },
    },
    env: { AGENT_CAINFO: caFile },
  });
}

describe('services slower than the timeout', { concurrency: 2 }, () => {
  test('Resource Manager: the plan gives up when its timeoutSeconds is used up, naming the host and the limit', async () => {
    const entra = await startEntra({ clients: { [CLIENT]: { secret: SECRET, tenant: TENANT } } });
    const slow = await slowServer(60_000);
    try {
      const t0 = Date.now();
      const r = await hdiRun({ armUrl: slow.url, authority: entra.url, caFile: slow.caFile });
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.result, 'Failed');
      assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
      assert.match(r.errors[0].message, new RegExp(`no usable answer from ${slow.host.replace(/\./g, '\\.')} after 1 attempt: the plan's limit \\(timeoutSeconds: 2s\\) is used up`));
      // The plan as a whole has timeoutSeconds: no time is left for a second attempt.
      assert.equal(slow.requests.length, 1, 'one request, no more');
      assert.ok(slow.requests.every((q) => q.method === 'GET'), 'only reads were tried');
      assert.ok(seconds < 8, `${seconds}s`);
    } finally {
      await slow.close();
      await entra.close();
    }
  });

  test('Entra ID: the sign-in gives up within bounded retries, names the host, and Resource Manager is never called', async () => {
    const slow = await slowServer(60_000);
    const arm = await startArmHdinsight({ subscriptionId: SUB, jobs: [] });
    try {
      const t0 = Date.now();
      const r = await hdiRun({ armUrl: arm.url, authority: slow.url, caFile: slow.caFile });
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(r.exitCode, 1, r.log);
      assert.equal(r.result, 'Failed');
      assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
      assert.match(r.errors[0].message, new RegExp(`no answer from ${slow.host.replace(/\./g, '\\.')} without a proxy: the plan's limit \\(timeoutSeconds: 2s\\) is used up`));
      assert.match(r.errors[0].message, new RegExp(`service connection \`${CONN}\``));
      assert.equal(slow.requests.length, 1, `${slow.requests.length} sign-in attempts`);
      assert.ok(slow.requests.every((q) => q.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(q.path)));
      assert.equal(arm.state.requests.length, 0);
      assert.ok(seconds < 8, `${seconds}s`);
    } finally {
      await slow.close();
      await arm.close();
    }
  });
});

test('a proxy that wants credentials: the error says so and names the agent settings', async () => {
  const { startProxy } = require('../fakes/proxy');
  const proxy = await startProxy({ auth: { user: 'svc-build', password: 'pw' } });
  try {
    const r = await run({
      inputs: { target: 'flink', action: 'listSavepoints', flinkUrl: 'http://flink.internal.example:8081', jobName: 'orders', allowInsecureHttp: 'true' },
      variables: { 'Agent.ProxyUrl': proxy.url },
    });
    assert.equal(r.exitCode, 1, r.log);
    assert.equal(r.errors.length, 1, r.log);
    assert.match(r.errors[0].message, /GET http:\/\/flink\.internal\.example:8081\/config: the proxy http:\/\/127\.0\.0\.1:\d+\/ refused the request \(HTTP 407/);
    assert.match(r.errors[0].message, /Agent\.ProxyUsername, Agent\.ProxyPassword/);
    assert.deepEqual(proxy.state.denied, ['GET flink.internal.example:8081'], 'asked once: a 407 is not retried');
  } finally {
    await proxy.close();
  }
});

describe('a TaskManager killed during an upgrade', () => {
  let dir; let url; let jar;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-tm-kill-'));
    jar = f.buildJob(path.join(dir, 'job.jar'));
    url = f.startCluster(path.join(dir, 'cluster'), 4);
  });
  after(() => { if (dir) f.stopCluster(path.join(dir, 'cluster')); });

  const deploy = (o) => f.deploy({ task: taskDir, url, jar, jobName: 'tm-kill', ...o });
  const pidFile = () => {
    const d = path.join(dir, 'cluster/pid');
    const tm = fs.readdirSync(d).find((n) => /taskexecutor/.test(n));
    return tm && path.join(d, tm);
  };

  test('the upgrade fails saying the cluster has no task manager; with the TaskManager back a re-run restores from the savepoint', { timeout: 240_000 }, async () => {
    const v1 = await deploy({ version: 'v1' });
    assert.equal(v1.exitCode, 0, v1.log);

    // Kill the TaskManager the moment the old job has been stopped with its savepoint: the new
    // job is being submitted and has nowhere to run.
    const tmPid = Number(fs.readFileSync(pidFile(), 'utf8').trim().split(/\s+/)[0]);
    let killed = false;
    const watcher = (async () => {
      for (let i = 0; i < 600 && !killed; i++) {
        const jobs = await f.jobsNamed(url, 'tm-kill').catch(() => []);
        if (jobs.some((j) => j.jid === v1.outputs.jobId && j.state === 'FINISHED')) {
          process.kill(tmPid, 'SIGKILL');
          killed = true;
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const v2 = await deploy({ version: 'v2', inputs: { timeoutSeconds: '20' } });
    await watcher;
    assert.ok(killed, 'the TaskManager was killed during the upgrade');
    assert.equal(v2.exitCode, 1, v2.log);
    assert.equal(v2.result, 'Failed');
    assert.equal(v2.errors.length, 1, v2.errors.join('\n'));
    const sp = v2.outputs.savepointLocation;
    assert.ok(sp, 'the savepoint of the stop is an output of the failed run');
    assert.match(v2.errors[0], /job `tm-kill` \([0-9a-f]{32}\) is not RUNNING after 20s; last state: RUNNING \(tasks: \d+ scheduled of \d+\); the cluster has no task manager now/, 'the cause is named');
    assert.ok(v2.log.includes(sp), 'the log says where the state is');
    assert.deepEqual((await f.jobsNamed(url, 'tm-kill')).filter((j) => !['FINISHED', 'CANCELED', 'FAILED'].includes(j.state)), [], 'nothing is left half-started');

    // The TaskManager comes back (as an orchestrator would restart it); the same deploy again.
    const r = spawnSync('bash', ['-c', `source "${repo}/scripts/lib.sh"; ensure_flink; FLINK_CONF_DIR="$1/conf" FLINK_LOG_DIR="$1/log" "$FLINK_HOME/bin/taskmanager.sh" start`, 'tm', path.join(dir, 'cluster')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (let i = 0; i < 120; i++) {
      const o = await f.flink(url, '/overview');
      if (o['slots-available'] > 0) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const again = await deploy({ version: 'v2', inputs: { settleSeconds: '2' } });
    assert.equal(again.exitCode, 0, again.log);
    assert.ok(again.log.includes(`start it from savepoint ${sp}`), 'the plan restores the savepoint of the failed upgrade');
    const running = (await f.jobsNamed(url, 'tm-kill')).filter((j) => j.state === 'RUNNING');
    assert.equal(running.length, 1);
    const facts = await f.jobFacts(url, running[0].jid, { waitRestore: true });
    assert.equal(facts.restored.external_path, sp);
    assert.ok(facts.vertices.some((v) => v.name.startsWith('sum v2')));
    await f.cancelAll(url, 'tm-kill');
  });
});
