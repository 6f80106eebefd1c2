#!/usr/bin/env node
// Many deployments in one step against the Ververica Platform fake, every job taking 5 s to
// start (timing startMs 5000), through the packaged task and the agent emulator:
//
//   one_wall_s       one spec file: spawn to exit
//   many_wall_s      MANY spec files (a folder) with maxParallel MANY: spawn to exit
//   ratio            many_wall_s / one_wall_s (goal: within 2)
//   peak_rss_mib     the binary's peak resident memory (VmHWM) during the many-deployment run
//   requests         requests the fake received during that run, and the most in one second
//
// Prints one JSON object. Uses dist/task (scripts/package) unless FLINK_DEPLOY_TASK_DIR is set.
// The fake still checks every request against the VVP description; a timing run reports what
// broke it (on stderr, and as contract_violations) instead of failing.
'use strict';
const fs = require('fs');
const path = require('path');
const { run, scratch, childrenOf } = require('../integration/helpers');
const { startVvp } = require('../fakes/vvp');
const { formatViolations } = require('../fakes/contract');

const MANY = Number(process.env.BENCH_DEPLOYMENTS || 100);
const TOKEN = 'bench-token-many-3f9c';
const JAR = 's3://vvp/artifacts/namespaces/default/bench.jar';
const violations = [];

function spec(name) {
  return [
    'kind: Deployment', 'apiVersion: v1', 'metadata:', `  name: ${name}`,
    'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs', '  template:', '    spec:',
    '      artifact:', '        kind: JAR', `        jarUri: ${JAR}`, '',
  ].join('\n');
}

/** This process's descendants (other people's runs on the machine are not ours to measure). */
function descendants(pid) {
  const out = [];
  for (const c of childrenOf(pid)) out.push(c, ...descendants(c));
  return out;
}

/** The peak VmHWM (KiB) of the task's `flink-deploy` process, sampled until `stop()`. */
function watchRss() {
  let peak = 0;
  const sample = () => {
    for (const d of descendants(process.pid)) {
      try {
        if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'flink-deploy') continue;
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch (e) { /* gone meanwhile */ }
    }
  };
  const timer = setInterval(sample, 50);
  return { stop: () => { clearInterval(timer); sample(); return peak; } };
}

async function deploy(f, prefix, n) {
  const cwd = scratch('fd-bench-many-');
  fs.mkdirSync(path.join(cwd, 'deploy'));
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(cwd, 'deploy', `${prefix}-${String(i).padStart(3, '0')}.yml`), spec(`${prefix}-${i}`));
  const before = f.log.length;
  const rss = watchRss();
  const r = await run({
    cwd,
    inputs: {
      vvpUrl: f.url, vvpApiToken: '$(token)', specFile: n === 1 ? `deploy/${prefix}-000.yml` : 'deploy',
      maxParallel: String(n), settleSeconds: '0', timeoutSeconds: '120',
    },
    secrets: { token: TOKEN },
    contract: 'report',
  });
  const peak = rss.stop();
  violations.push(...r.contractViolations);
  if (r.exitCode !== 0) throw new Error(`the run of ${n} failed:\n${r.log.slice(-4000)}`);
  const log = f.log.slice(before);
  const perSecond = {};
  for (const e of log) {
    const s = Math.floor((e.at || e.time || 0) / 1000);
    perSecond[s] = (perSecond[s] || 0) + 1;
  }
  return { wallS: r.seconds, peakRssMib: peak / 1024, requests: log.length, peakPerSecond: Math.max(0, ...Object.values(perSecond)) };
}

async function main() {
  const f = await startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 5000 } });
  try {
    const one = await deploy(f, 'one', 1);
    const many = await deploy(f, 'many', MANY);
    process.stdout.write(`${JSON.stringify({
      deployments: MANY,
      one_wall_s: Number(one.wallS.toFixed(2)),
      many_wall_s: Number(many.wallS.toFixed(2)),
      ratio: Number((many.wallS / one.wallS).toFixed(2)),
      peak_rss_mib: Number(many.peakRssMib.toFixed(1)),
      one_peak_rss_mib: Number(one.peakRssMib.toFixed(1)),
      requests: many.requests,
      peak_requests_per_second: many.peakPerSecond,
      contract_violations: violations.length,
    })}\n`);
    if (violations.length) process.stderr.write(`the runs broke the VVP description:\n${formatViolations(violations)}\n`);
  } finally {
    await f.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
