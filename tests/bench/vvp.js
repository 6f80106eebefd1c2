#!/usr/bin/env node
// Ververica Platform timings through the packaged task and the agent emulator, against the fake:
//
//   running_to_exit_ms_median  from the moment the fake's deployment enters RUNNING to the
//                              moment the task process has exited (median of RUNS create runs,
//                              settleSeconds 0; seed 000 instead sleeps a fixed 90 s)
//   create_to_running_wall_s   the wall time of one whole create run whose job takes 5 s to
//                              start, from spawning the task to its exit
//
// Prints one JSON object. Uses dist/task (scripts/package) unless FLINK_DEPLOY_TASK_DIR is set.
// The fake still checks every request against the VVP description; a timing run reports what
// broke it (on stderr, and as contract_violations) instead of failing, as the tests do.
'use strict';
const { run } = require('../integration/helpers');
const { startVvp } = require('../fakes/vvp');
const { formatViolations } = require('../fakes/contract');

const RUNS = Number(process.env.BENCH_RUNS || 7);
const TOKEN = 'bench-token-0d2e';
const violations = [];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function createRun(f, name, startMs) {
  f.nextJobs({ startMs });
  const r = await run({
    inputs: {
      vvpUrl: f.url, vvpApiToken: '$(token)', deploymentName: name, deploymentTargetName: 'vvp-jobs',
      jarUri: 's3://vvp/artifacts/namespaces/default/bench.jar', settleSeconds: '0', timeoutSeconds: '60',
    },
    secrets: { token: TOKEN },
    contract: 'report',
  });
  const exited = Date.now();
  violations.push(...r.contractViolations);
  if (r.exitCode !== 0) throw new Error(`run ${name} failed:\n${r.log}`);
  const entered = f.reached(name, 'RUNNING');
  if (entered.length !== 1) throw new Error(`${name} entered RUNNING ${entered.length} times`);
  return { runningToExitMs: exited - entered[0].wall, wallS: r.seconds };
}

async function main() {
  const f = await startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }] });
  try {
    const samples = [];
    for (let i = 0; i < RUNS; i++) {
      // Spread the moment of RUNNING over the poll interval instead of hitting one phase.
      const startMs = 600 + ((i * 173) % 500);
      samples.push((await createRun(f, `bench-${i}`, startMs)).runningToExitMs);
    }
    const slow = await createRun(f, 'bench-slow', 5000);
    process.stdout.write(`${JSON.stringify({
      running_to_exit_ms_median: Math.round(median(samples)),
      create_to_running_wall_s: Number(slow.wallS.toFixed(2)),
      running_to_exit_ms_samples: samples,
      runs: RUNS,
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
