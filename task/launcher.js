// Starts the flink-deploy binary for this agent's platform.
//
// Plain Node with no dependencies on purpose: azure-pipelines-task-lib deletes INPUT_*,
// ENDPOINT_AUTH_* and SECRET_* from process.env when it is loaded, and the binary needs them.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const SUPPORTED = ['linux-x64', 'linux-arm64', 'win32-x64', 'darwin-x64', 'darwin-arm64'];

// The agent parses these lines; escape as task-lib does (percent first).
function escapeData(s) {
  return String(s).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function fail(message) {
  process.stdout.write(`##vso[task.logissue type=error]${escapeData(message)}\n`);
  process.stdout.write(`##vso[task.complete result=Failed]${escapeData(message)}\n`);
  process.exit(1);
}

function main() {
  const platform = `${process.platform}-${process.arch}`;
  if (!SUPPORTED.includes(platform)) {
    fail(`flink-deploy does not support this agent platform (${platform}); supported: ${SUPPORTED.join(', ')}`);
  }
  const exe = process.platform === 'win32' ? 'flink-deploy.exe' : 'flink-deploy';
  const bin = path.join(__dirname, 'bin', platform, exe);
  if (!fs.existsSync(bin)) {
    fail(`the flink-deploy binary for ${platform} is missing from this task package (${bin}); supported platforms: ${SUPPORTED.join(', ')}`);
  }
  if (process.platform !== 'win32') {
    // A .vsix stores no permission bits.
    try { fs.chmodSync(bin, 0o755); } catch (e) { /* read-only task folder: try to run anyway */ }
  }
  const r = spawnSync(bin, [], { stdio: 'inherit', env: process.env, windowsHide: true });
  if (r.error) {
    fail(`cannot start ${bin}: ${r.error.message}`);
  }
  if (r.signal) {
    fail(`flink-deploy was stopped by signal ${r.signal}`);
  }
  process.exit(r.status === null ? 1 : r.status);
}

main();
