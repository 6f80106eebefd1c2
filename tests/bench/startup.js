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

function time(script) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [script], { cwd, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 || !/result=Succeeded/.test(r.stdout)) {
    throw new Error(`${script} did not succeed: ${r.stdout}\n${r.stderr}`);
  }
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const ours = [];
const peer = [];
for (let i = 0; i < runs + 2; i++) {
  // Alternate so drift in machine load hits both equally; drop two warm-up rounds.
  const a = time(path.join(task, 'launcher.js'));
  const b = time(path.join(peerDir, 'index.js'));
  if (i >= 2) { ours.push(a); peer.push(b); }
}
const o = median(ours);
const p = median(peer);
console.log(JSON.stringify({
  figure: 'start-to-exit, action=validate (median of ' + runs + ')',
  ours: `${o.toFixed(0)} ms`, peer: `${p.toFixed(0)} ms (Node task with azure-pipelines-task-lib)`,
  ratio: +(o / p).toFixed(2), goal: '<= 0.5', met: o / p <= 0.5,
}));
