#!/usr/bin/env node
// Start-to-exit time of the packaged task (launcher + binary) for action=validate, against a
// minimal Node task that imports azure-pipelines-task-lib and reads one input. Both get the same
// agent environment from the emulator and run as `node <target>`. Prints one JSON line.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv } = require('../../scripts/run-task.js');

const repo = path.resolve(__dirname, '../..');
const task = path.join(repo, 'dist/task');
const runs = Number(process.env.BENCH_RUNS || 30);

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-bench-'));
fs.writeFileSync(path.join(cwd, 'd.yml'), 'metadata:\n  name: bench\nspec:\n  template:\n    spec:\n      parallelism: 1\n');
const taskJson = JSON.parse(fs.readFileSync(path.join(task, 'task.json'), 'utf8'));
const { env } = buildEnv({ inputs: { action: 'validate', specFile: 'd.yml', publishTestResults: 'false' }, variables: {}, secrets: {}, endpoints: {}, env: {}, cwd }, taskJson);

// task-lib resolves from the peer's folder; give it the repository's node_modules.
const peerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-bench-peer-'));
fs.copyFileSync(path.join(__dirname, 'tasklib-task/index.js'), path.join(peerDir, 'index.js'));
fs.symlinkSync(path.join(repo, 'node_modules'), path.join(peerDir, 'node_modules'), 'dir');

const empty = path.join(peerDir, 'empty.js');
fs.writeFileSync(empty, "process.stdout.write('##vso[task.complete result=Succeeded]done\\n');\n");

function time(script, runEnv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [script], { cwd, env: runEnv, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 || !/result=Succeeded/.test(r.stdout)) {
    throw new Error(`${script} did not succeed: ${r.stdout}\n${r.stderr}`);
  }
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** Medians for ours, the peer and an empty Node script, alternating so drift hits all three. */
function measure(runEnv) {
  const ours = [];
  const peer = [];
  const floor = [];
  for (let i = 0; i < runs + 2; i++) {
    const a = time(path.join(task, 'launcher.js'), runEnv);
    const b = time(path.join(peerDir, 'index.js'), runEnv);
    const c = time(empty, runEnv);
    // Two warm-up rounds are dropped.
    if (i >= 2) { ours.push(a); peer.push(b); floor.push(c); }
  }
  return { ours: median(ours), peer: median(peer), floor: median(floor) };
}

// Microsoft-hosted agents do not set NODE_EXTRA_CA_CERTS; a machine that does makes every Node
// process read that bundle at start-up, ours and the peer alike.
const hostedEnv = { ...env };
delete hostedEnv.NODE_EXTRA_CA_CERTS;
const hosted = measure(hostedEnv);
const local = process.env.NODE_EXTRA_CA_CERTS ? measure(env) : null;
const ratio = (x) => +(x.ours / x.peer).toFixed(2);
console.log(JSON.stringify({
  figure: `start-to-exit, action=validate (median of ${runs})`,
  ours: `${hosted.ours.toFixed(0)} ms`,
  peer: `${hosted.peer.toFixed(0)} ms (Node task with azure-pipelines-task-lib)`,
  ratio: ratio(hosted),
  goal: '<= 0.5',
  met: ratio(hosted) <= 0.5,
  floor: { ms: +hosted.floor.toFixed(0), ratio: +(hosted.floor / hosted.peer).toFixed(2) },
  local: local && { ours: +local.ours.toFixed(0), peer: +local.peer.toFixed(0), ratio: ratio(local), floor: +local.floor.toFixed(0) },
}));
