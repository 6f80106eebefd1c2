#!/usr/bin/env node
// target=flink on a real session cluster (scripts/lib.sh flink_start; or FLINK_URL), through the
// packaged task and the agent emulator. Prints one JSON object:
//
// - exit delay: from the moment Flink reports the last subtask of the new job RUNNING (the
//   newest `timestamps.RUNNING` over /jobs/{id}/vertices/{v}/subtasktimes, JobManager clock)
//   to the moment the task process has exited (settleSeconds 0). Same machine, same clock.
// - upgrade wall time: from the task's start (the old job is RUNNING) to the new job RUNNING
//   from the savepoint (all subtasks, as above). Stateful upgrades v1 -> v2 -> v1 ...
// - seed 000's method for the same upgrade: change, `sleep 90`, check once. It cannot report
//   before 90 s have passed, so it is credited with our own measured time to issue the change
//   (task start until Flink accepted the new job: upload, check, stop with savepoint, submit)
//   plus 90 s plus one status request (measured). That is its best case; it is also blind to
//   a job that needs longer than 90 s or fails after the check.
//
//   node tests/bench/flink.js            (BENCH_RUNS=5 upgrades by default)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const f = require('../integration/flink-scenario');

const repo = path.resolve(__dirname, '../..');
const task = process.env.FLINK_DEPLOY_TASK_DIR || path.join(repo, 'dist/task');
const runs = Number(process.env.BENCH_RUNS || 5);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const stats = (xs) => ({ median: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), n: xs.length });

/** When Flink saw the job's last subtask reach RUNNING (JobManager clock, ms). */
async function allRunningAt(url, jobId) {
  const d = await f.flink(url, `/jobs/${jobId}`);
  let last = 0;
  for (const v of d.vertices) {
    const t = await f.flink(url, `/jobs/${jobId}/vertices/${v.id}/subtasktimes`);
    for (const s of t.subtasks) {
      if (!s.timestamps.RUNNING) throw new Error(`subtask ${s.subtask} of ${v.name} never reached RUNNING`);
      last = Math.max(last, s.timestamps.RUNNING);
    }
  }
  return { last, submitted: d['start-time'] };
}

async function main() {
  let dir = null;
  let url = process.env.FLINK_URL;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-bench-flink-'));
  const jar = f.buildJob(path.join(work, 'job.jar'));
  if (!url) {
    dir = path.join(work, 'cluster');
    url = f.startCluster(dir, 4);
  }
  const jobName = `bench-${process.pid}`;
  try {
    const deploy = (version) => f.deploy({ task, url, jar, jobName, version, inputs: { settleSeconds: '0' } });
    const first = await deploy('v1');
    if (first.exitCode !== 0) throw new Error(`first deploy failed:\n${first.log}`);

    const exitDelay = [];
    const upgrade = [];
    const seed = [];
    const issue = [];
    const check = [];
    for (let i = 0; i < runs; i++) {
      const version = i % 2 === 0 ? 'v2' : 'v1';
      const t0 = Date.now();
      const r = await deploy(version);
      const exited = Date.now();
      if (r.exitCode !== 0) throw new Error(`upgrade ${i} failed:\n${r.log}`);
      const { last, submitted } = await allRunningAt(url, r.outputs.jobId);
      const restored = (await f.jobFacts(url, r.outputs.jobId)).restored;
      if (!restored || restored.external_path !== r.outputs.savepointLocation) {
        throw new Error(`upgrade ${i} did not restore from its savepoint`);
      }
      const c0 = Date.now();
      await f.flink(url, '/jobs/overview');
      const checkMs = Date.now() - c0;
      exitDelay.push(exited - last);
      upgrade.push(last - t0);
      issue.push(submitted - t0);
      check.push(checkMs);
      seed.push(submitted - t0 + 90_000 + checkMs);
    }
    const delay = stats(exitDelay);
    const up = stats(upgrade);
    const sd = stats(seed);
    console.log(JSON.stringify({
      figure: `target=flink on a local Flink session cluster, ${runs} stateful upgrades through the packaged task`,
      exit_delay_ms: delay,
      exit_delay_goal: '< 1000 ms',
      exit_delay_met: delay.max < 1000,
      upgrade_wall_ms: up,
      seed000_wall_ms: { ...sd, how: 'our measured time to issue the change (median ' + Math.round(median(issue)) + ' ms) + sleep 90 s + one status request (median ' + Math.round(median(check)) + ' ms)' },
      speedup_vs_seed000: +(sd.median / up.median).toFixed(1),
    }, null, 1));
  } finally {
    await f.cancelAll(url, jobName).catch(() => {});
    if (dir) f.stopCluster(dir);
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
