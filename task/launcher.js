// Starts the flink-deploy binary for this agent's platform.
//
// Plain Node with no dependencies on purpose: azure-pipelines-task-lib deletes INPUT_*,
// ENDPOINT_AUTH_* and SECRET_* from process.env when it is loaded, and the binary needs them.
//
// On cancel or timeout the agent signals this process only (SIGINT, then SIGTERM 7.5 s later,
// then a kill 2.5 s after that), so the signals are passed on to the binary, which stops,
// writes its reports and ends the task as Canceled.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const SUPPORTED = ['linux-x64', 'linux-arm64', 'win32-x64', 'darwin-x64', 'darwin-arm64'];

// The agent parses these lines; escape as task-lib does (percent first).
function escapeData(s) {
  return String(s).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function fail(message, result = 'Failed') {
  process.stdout.write(`##vso[task.logissue type=error]${escapeData(message)}\n`);
  process.stdout.write(`##vso[task.complete result=${result}]${escapeData(message)}\n`);
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
  // --agent: speak the agent's protocol (the binary also runs from a shell, see README).
  const child = spawn(bin, ['--agent'], { stdio: 'inherit', env: process.env, windowsHide: true });
  let stopSignal = null;
  const onStop = (signal) => {
    stopSignal = stopSignal || signal;
    // On Windows the agent's Ctrl+C / Ctrl+Break reaches every process on the console, the
    // binary included, and child.kill() there would end it at once without its reports: this
    // process only has to stay alive until the binary is done.
    if (process.platform !== 'win32') child.kill(signal);
  };
  const signals = process.platform === 'win32' ? ['SIGINT', 'SIGBREAK'] : ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, onStop);

  child.on('error', (e) => {
    // Only a failed start ends this process here; after a start, 'exit' always follows.
    if (child.pid === undefined) fail(`cannot start ${bin}: ${e.message}`);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      if (stopSignal) {
        fail(`flink-deploy was stopped by signal ${signal} after the run was cancelled (${stopSignal}), before it could write its reports`, 'Canceled');
      }
      fail(`flink-deploy was stopped by signal ${signal}`);
    }
    process.exit(code === null ? 1 : code);
  });
}

main();
