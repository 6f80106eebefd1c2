// Shared by the Kubernetes fake tests: the real kubectl against a fake running in this process
// (so never a synchronous spawn), manifests as files, and a poll for stored state.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const assert = require('node:assert/strict');
const { execFile } = require('child_process');
const { repo } = require('./helpers');

/** kubectl from KUBECTL or the PATH (it is part of every machine here). */
function findKubectl() {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const f = path.join(dir, 'kubectl');
    try { fs.accessSync(f, fs.constants.X_OK); return f; } catch (e) { /* not here */ }
  }
  return null;
}
const KUBECTL = findKubectl();
const CRD_DIR = path.join(repo, 'tests/fixtures/k8s');
const FLINK_CRDS = ['flinkdeployments', 'flinksessionjobs'].map((n) => path.join(CRD_DIR, `flink-kubernetes-operator-1.15.0/${n}.flink.apache.org-v1.yml`));

function requireKubectl() {
  assert.ok(KUBECTL && fs.existsSync(KUBECTL), `kubectl is needed for these tests and is part of every machine here, but it is not on the PATH${process.env.KUBECTL ? ` nor at KUBECTL=${process.env.KUBECTL}` : ''} (install kubectl v1.32, or set KUBECTL to its path)`);
}

function kubectl(kubeconfig, args, { input, env } = {}) {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-kubectl-cache-'));
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', cache, ...args], { encoding: 'utf8', timeout: 30000, maxBuffer: 32 << 20, env: env ? { ...process.env, ...env } : process.env }, (err, stdout, stderr) => {
      fs.rmSync(cache, { recursive: true, force: true });
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

function asFile(obj) {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fd-manifest-')), 'm.json');
  fs.writeFileSync(f, JSON.stringify(obj));
  return f;
}

/** Poll `fn` until it returns a truthy value (or fail after `ms`, showing the last value). */
async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { KUBECTL, CRD_DIR, FLINK_CRDS, requireKubectl, kubectl, asFile, until };
