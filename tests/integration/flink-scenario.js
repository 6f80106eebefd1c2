// The main scenario of the Flink target against a real session cluster, shared by scripts/demo
// (which prints it) and tests/integration/flink*.test.js (which assert on it): deploy v1 of the
// test job, upgrade to v2 from a savepoint, deploy a v3 that fails on start with
// rollbackOnFailure. Also the helpers that start and stop a cluster and build the test job
// (through scripts/lib.sh, the same code the demo uses).
//
// With `--azurite` the jar is also kept in Blob Storage, in an Azurite it starts for the run and
// stops (by pid) at the end: v1 uploads it, v2 and v3 find the same MD5 there and skip the upload.
//
//   node tests/integration/flink-scenario.js --url URL --jar JAR [--task DIR] [--job-name NAME] [--json OUT] [--azurite]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { runTask } = require('../../scripts/run-task.js');

const repo = path.resolve(__dirname, '../..');

function lib(script, args = []) {
  const r = spawnSync('bash', ['-c', `set -euo pipefail; source "${repo}/scripts/lib.sh"; ensure_flink; ${script}`, 'lib', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`scripts/lib.sh: ${script} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Start a session cluster with all its files under `dir`; returns its REST URL. */
function startCluster(dir, slots = 8) {
  return lib('flink_start "$1" "$2" && echo "$FLINK_URL"', [dir, String(slots)]).split('\n').pop();
}

function clusterPids(dir) {
  return lib('flink_pids "$1"', [dir]).split(/\s+/).filter(Boolean).map(Number);
}

function stopCluster(dir) {
  lib('flink_stop "$1"', [dir]);
}

/** Compile tests/job into a jar at `out`. */
function buildJob(out) {
  lib('build_test_job "$1"', [out]);
  return out;
}

async function flink(url, p, init) {
  const r = await fetch(url + p, init);
  const text = await r.text();
  if (!r.ok) throw new Error(`${init?.method || 'GET'} ${p}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

/**
 * What the cluster itself says about a job: state and subtasks (from the overview, which is
 * current), vertex names, and what it restored from. `/jobs/{id}` and the checkpoint statistics
 * are cached by Flink's REST server for `web.refresh-interval` (3 s), so with `waitRestore` this
 * waits until the statistics show a restore.
 */
async function jobFacts(url, jobId, { waitRestore = false } = {}) {
  const until = Date.now() + 5000;
  let cps;
  for (;;) {
    cps = await flink(url, `/jobs/${jobId}/checkpoints`);
    if (!waitRestore || (cps.latest && cps.latest.restored) || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const d = await flink(url, `/jobs/${jobId}`);
  const o = (await flink(url, '/jobs/overview')).jobs.find((j) => j.jid === jobId);
  return {
    id: jobId,
    state: o.state,
    tasks: o.tasks,
    vertices: d.vertices.map((v) => ({ name: v.name, parallelism: v.parallelism })),
    restored: cps.latest && cps.latest.restored ? cps.latest.restored : null,
  };
}

async function jobsNamed(url, name) {
  return (await flink(url, '/jobs/overview')).jobs.filter((j) => j.name === name);
}

async function jarNames(url) {
  return (await flink(url, '/jars')).files.map((f) => f.name);
}

/** Cancel every active job with the name (test clean-up). */
async function cancelAll(url, name) {
  for (const j of await jobsNamed(url, name)) {
    if (!['FINISHED', 'CANCELED', 'FAILED'].includes(j.state)) {
      await flink(url, `/jobs/${j.jid}?mode=cancel`, { method: 'PATCH' });
    }
  }
}

/** Run the packaged task against the cluster for one job name. */
async function deploy({ task, url, jar, jobName, version, inputs = {}, extraArgs = '', variables = {}, secrets = {}, quiet = true }) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-flink-'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-agent-tmp-'));
  const r = await runTask({
    task: path.resolve(task || path.join(repo, 'dist/task')),
    inputs: {
      target: 'flink',
      flinkUrl: url,
      jobName,
      ...(jar ? { artifactPath: jar } : {}),
      ...(version ? { mainArgs: `--job-name ${jobName} --version ${version} ${extraArgs}`.trim() } : {}),
      settleSeconds: '3',
      timeoutSeconds: '120',
      ...inputs,
    },
    variables,
    secrets,
    endpoints: {},
    env: { AGENT_TEMPDIRECTORY: tmp },
    cwd,
    quiet,
  });
  r.cwd = cwd;
  r.tmp = tmp;
  r.errors = r.issues.filter((i) => i.type === 'error').map((i) => i.message);
  r.command = (name) => r.commands.filter((c) => c.command === name);
  r.log = r.stdout + r.stderr;
  r.junit = (r.command('results.publish')[0] || {}).properties?.resultFiles || null;
  r.summary = (r.command('task.uploadsummary')[0] || {}).message || null;
  return r;
}

const STEPS = [
  { title: 'deploy v1', version: 'v1' },
  { title: 'deploy v2: stateful upgrade from a savepoint', version: 'v2' },
  { title: 'deploy v3: fails on start, rollbackOnFailure rolls back to v2', version: 'v3', inputs: { rollbackOnFailure: 'true' } },
];

/**
 * The scenario. `onStep(step, r)` is called after each run (the demo prints there). Returns the
 * steps with the task's result and the cluster's own account of the job afterwards.
 */
async function scenario({ task, url, jar, jobName = 'flink-deploy-demo', blob = null, onStep = () => {} }) {
  const out = [];
  // The SAS token is a secret variable, as a pipeline would hold it.
  const blobInputs = blob ? {
    storageAccount: 'devstoreaccount1', containerName: blob.container, blobPrefix: jobName,
    blobEndpoint: blob.endpoint, storageSasToken: '$(storageSas)',
  } : {};
  const secrets = blob ? { storageSas: blob.sas } : {};
  for (const s of STEPS) {
    const before = await jobsNamed(url, jobName);
    const t0 = Date.now();
    const r = await deploy({ task, url, jar, jobName, version: s.version, inputs: { ...blobInputs, ...s.inputs }, secrets });
    const seconds = (Date.now() - t0) / 1000;
    const running = (await jobsNamed(url, jobName)).filter((j) => j.state === 'RUNNING');
    const facts = running.length === 1 ? await jobFacts(url, running[0].jid, { waitRestore: s.version !== 'v1' }) : null;
    const step = {
      title: s.title,
      version: s.version,
      seconds,
      exitCode: r.exitCode,
      result: r.result,
      outputs: r.outputs,
      errors: r.errors,
      junit: r.junit,
      summary: r.summary,
      log: r.stdout + r.stderr,
      jobsBefore: before.map((j) => ({ id: j.jid, state: j.state })),
      jobsAfter: (await jobsNamed(url, jobName)).map((j) => ({ id: j.jid, state: j.state })),
      running: facts,
      jars: (await jarNames(url)),
      blob: blob ? await blob.describe(`${jobName}/${path.basename(jar)}`) : null,
    };
    out.push(step);
    await onStep(step, r);
  }
  return out;
}

module.exports = { startCluster, stopCluster, clusterPids, buildJob, flink, jobFacts, jobsNamed, jarNames, cancelAll, deploy, scenario, STEPS };

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
  const url = opt('--url');
  const jar = opt('--jar');
  if (!url || !jar) {
    console.error('usage: flink-scenario.js --url URL --jar JAR [--task DIR] [--job-name NAME] [--json OUT]');
    process.exit(2);
  }
  const bold = (t) => `\x1b[1m${t}\x1b[0m`;
  let azurite = null;
  const withBlob = async () => {
    if (!args.includes('--azurite')) return null;
    const { startAzurite, createContainer, accountSas, request } = require('./azure-support');
    azurite = await startAzurite();
    console.log(`${bold('Azurite')} at ${azurite.endpoint} (pid ${azurite.child.pid})`);
    const sas = accountSas();
    await createContainer(azurite, 'jars', sas);
    return {
      endpoint: azurite.endpoint,
      container: 'jars',
      sas,
      describe: async (name) => {
        const r = await request('HEAD', `${azurite.endpoint}/jars/${name}?${sas}`);
        const md5 = r.headers['content-md5'];
        return { name, status: r.status, length: Number(r.headers['content-length']), md5: md5 && Buffer.from(md5, 'base64').toString('hex'), etag: r.headers.etag };
      },
    };
  };
  const stopAzurite = async () => {
    if (!azurite) return;
    console.log(`${bold('stopping Azurite')} (pid ${azurite.child.pid})`);
    await azurite.stop();
  };
  withBlob().then((blob) => scenario({
    task: opt('--task'),
    url,
    jar,
    jobName: opt('--job-name', 'flink-deploy-demo'),
    blob,
    onStep: (s) => {
      console.log(`\n${bold(`━━━ ${s.title} ━━━`)}`);
      console.log(bold('Pipeline log (what the agent shows):'));
      for (const line of s.log.split('\n')) {
        if (/^##vso\[task\.setsecret\]/.test(line)) continue;
        console.log(`  ${line}`);
      }
      console.log(`${bold('Result:')} ${s.result} (exit code ${s.exitCode}) in ${s.seconds.toFixed(1)} s`);
      if (s.running) {
        const names = s.running.vertices.map((v) => v.name).join(', ');
        console.log(`${bold('Flink now runs:')} job ${s.running.id} ${s.running.state} (${s.running.tasks.running} of ${s.running.tasks.total} tasks running): ${names}`);
        if (s.running.restored) {
          console.log(`${bold(`Flink /jobs/${s.running.id}/checkpoints:`)} latest.restored = ${JSON.stringify(s.running.restored)}`);
        } else {
          console.log(`${bold(`Flink /jobs/${s.running.id}/checkpoints:`)} latest.restored = null (started without state)`);
        }
      }
      if (s.summary && fs.existsSync(s.summary)) {
        console.log(bold(`Summary (${s.summary}):`));
        console.log(fs.readFileSync(s.summary, 'utf8').replace(/^/gm, '  '));
      }
      if (s.blob) {
        console.log(`${bold('Blob Storage:')} ${s.blob.name} HTTP ${s.blob.status}, ${s.blob.length} bytes, Content-MD5 ${s.blob.md5}, ETag ${s.blob.etag}`);
      }
      console.log(`${bold('JUnit:')} ${s.junit}`);
    },
  })).then(async (steps) => {
    await stopAzurite();
    const json = opt('--json');
    if (json) fs.writeFileSync(json, JSON.stringify(steps, null, 2));
    // The demo shows a rollback on purpose; anything else than this outcome is a failure.
    const [v1, v2, v3] = steps;
    const problems = [];
    if (v1.result !== 'Succeeded') problems.push(`deploy v1 ended ${v1.result}`);
    if (v2.result !== 'Succeeded') problems.push(`deploy v2 ended ${v2.result}`);
    if (!v2.running || !v2.running.restored) problems.push('v2 did not restore from a savepoint');
    if (v3.outputs.state !== 'ROLLED_BACK') problems.push(`deploy v3 ended in state ${v3.outputs.state}, not ROLLED_BACK`);
    if (v1.blob && (v1.blob.status !== 200 || v1.blob.etag !== v3.blob.etag)) problems.push('the jar in Blob Storage is missing or was written more than once');
    if (problems.length) {
      console.error(`\nThe demo did not go as expected: ${problems.join('; ')}`);
      process.exit(1);
    }
    console.log(`\n${bold('As expected:')} v1 ran, v2 restored from ${v2.running.restored.external_path}, v3 failed and v2 runs again as job ${v3.running.id}.`);
  }, async (e) => {
    console.error(e.stack || String(e));
    await stopAzurite();
    process.exit(1);
  });
}
