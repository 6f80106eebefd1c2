// scripts/demo, the README's main command, run as a user would (with the task packaged by
// scripts/test already in dist/task): its three deploys happen as it says, it prints the
// pipeline log, the summary and the JUnit path of each, and it stops the cluster it started.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { repo } = require('./helpers');

function runDemo() {
  return new Promise((resolve) => {
    const child = spawn(path.join(repo, 'scripts/demo'), ['--no-package'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out: out.replace(/\x1b\[[0-9;]*m/g, '') }));
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

test('scripts/demo deploys v1, upgrades to v2 from a savepoint, rolls a failing v3 back, keeps the jar in Blob Storage, and stops what it started', { timeout: 300_000 }, async () => {
  const started = Date.now();
  const { code, out } = await runDemo();
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 0, out.slice(-4000));
  assert.ok(seconds < 300, `${seconds} s`);

  const pids = (out.match(/at http:\/\/127\.0\.0\.1:\d+ \(pids ([\d ]+)\)/) || [])[1];
  assert.ok(pids, 'the demo names the pids it started');
  const pidList = pids.trim().split(/\s+/).map(Number);
  assert.equal(pidList.length, 2, 'a JobManager and a TaskManager');
  assert.match(out, new RegExp(`stopping the Flink cluster \\(pids ${pids.trim()} ?\\)`));
  for (const pid of pidList) assert.equal(alive(pid), false, `process ${pid} was stopped`);

  for (const title of ['deploy v1', 'deploy v2: stateful upgrade from a savepoint', 'deploy v3: fails on start, rollbackOnFailure rolls back to v2']) {
    assert.ok(out.includes(`━━━ ${title} ━━━`), title);
  }
  assert.equal(out.match(/Pipeline log \(what the agent shows\):/g).length, 3);
  const junits = [...out.matchAll(/^JUnit: (\S+)$/gm)].map((m) => m[1]);
  const summaries = [...out.matchAll(/^Summary \((\S+)\):$/gm)].map((m) => m[1]);
  assert.equal(junits.length, 3);
  assert.equal(summaries.length, 3);
  for (const f of [...junits, ...summaries]) assert.ok(fs.existsSync(f), f);

  const results = out.match(/results: (\S+demo\.json)/)[1];
  const [v1, v2, v3] = JSON.parse(fs.readFileSync(results, 'utf8'));
  assert.equal(v1.result, 'Succeeded');
  assert.ok(v1.running.vertices.some((v) => v.name.startsWith('sum v1')));
  assert.equal(v2.result, 'Succeeded');
  assert.equal(v2.running.restored.external_path, v2.outputs.savepointLocation);
  assert.ok(v2.running.vertices.some((v) => v.name.startsWith('sum v2')));
  assert.equal(v3.result, 'Failed');
  assert.equal(v3.outputs.state, 'ROLLED_BACK');
  assert.ok(v3.running.vertices.some((v) => v.name.startsWith('sum v2')));
  assert.equal(v3.running.restored.external_path, v3.outputs.savepointLocation);
  assert.match(out, /##\[error\]exception in `sum v3[^`]*`: java\.lang\.IllegalStateException: test job v3 fails on start/);
  assert.match(out, /Flink \/jobs\/[0-9a-f]{32}\/checkpoints: latest\.restored = \{[^}]*"is_savepoint":true/);
  assert.match(out, /As expected: v1 ran, v2 restored from file:/);

  // The jar is kept in Blob Storage on a real Azurite: uploaded once, found again by its MD5.
  const az = out.match(/Azurite at (http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1) \(pid (\d+)\)/);
  assert.ok(az, 'the demo names the Azurite it started');
  assert.match(out, new RegExp(`stopping Azurite \\(pid ${az[2]}\\)`));
  assert.equal(alive(Number(az[2])), false, 'Azurite was stopped');
  assert.equal(v1.blob.status, 200);
  assert.match(v1.blob.md5, /^[0-9a-f]{32}$/);
  assert.ok(v1.log.includes(`MD5 ${v1.blob.md5}) to ${az[1]}/jars/flink-deploy-demo/`), 'v1 uploaded the jar');
  for (const v of [v2, v3]) {
    assert.match(v.log, /already holds this file \(same MD5\): upload skipped/);
    assert.equal(v.blob.etag, v1.blob.etag, 'not written again');
  }
  assert.ok(!/sig=[A-Za-z0-9%]{10,}/.test(out), 'the SAS signature is not printed');
});
