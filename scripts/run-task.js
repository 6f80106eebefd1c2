#!/usr/bin/env node
// Agent emulator: runs a packaged task folder the way the Azure Pipelines agent's Node handler
// does, and parses its output with Microsoft's own parser (azure-pipelines-task-lib).
//
//   scripts/run-task [--task DIR] [--config FILE.json] [--input name=value]... [--variable name=value]...
//                    [--secret name=value]... [--endpoint id=URL] [--endpoint-auth id=SCHEME:key=value,...]
//                    [--cwd DIR] [--cancel-after SECONDS] [--json OUT.json] [--quiet]
//
// The config file has the shape {"inputs":{}, "variables":{}, "secrets":{}, "endpoints":{"<id>":
// {"url":"", "scheme":"", "parameters":{}, "data":{}}}, "env":{}, "cwd":"", "accessToken":""}.
// What the agent does and this mirrors (azure-pipelines-agent Handler.cs, TaskRunner.cs):
// - every task.json input arrives, default first, trimmed, as INPUT_<NAME>;
// - $(var) in inputs expands from variables, secrets included;
// - filePath inputs are made absolute against System.DefaultWorkingDirectory;
// - endpoints referenced by connectedService inputs, plus SystemVssConnection, become ENDPOINT_*;
// - variables become <FORMATTED_NAME>, secrets SECRET_<FORMATTED_NAME>;
// - the launcher runs as `node <target>`; stdout and stderr lines are both parsed for commands;
// - a cancelled run gets SIGINT, SIGTERM 7.5 s later and a kill 2.5 s after that, sent to the
//   launcher's process only (ProcessInvoker.cs), and ends Canceled whatever the task reported.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const repo = path.resolve(__dirname, '..');
let commandFromString;
try {
  ({ commandFromString } = require(path.join(repo, 'node_modules/azure-pipelines-task-lib/taskcommand')));
} catch (e) {
  console.error('azure-pipelines-task-lib is not installed: run `npm ci` in the repository first');
  process.exit(3);
}

const envName = (n) => n.replace(/[. ]/g, '_').toUpperCase();

function parseArgs(argv) {
  const o = { task: path.join(repo, 'dist/task'), inputs: {}, variables: {}, secrets: {}, endpoints: {}, env: {}, quiet: false };
  const kv = (s) => {
    const i = s.indexOf('=');
    if (i < 0) throw new Error(`expected name=value, got ${s}`);
    return [s.slice(0, i), s.slice(i + 1)];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case '--task': o.task = path.resolve(next()); break;
      case '--config': Object.assign(o, mergeConfig(o, JSON.parse(fs.readFileSync(next(), 'utf8')))); break;
      case '--input': { const [k, v] = kv(next()); o.inputs[k] = v; break; }
      case '--variable': { const [k, v] = kv(next()); o.variables[k] = v; break; }
      case '--secret': { const [k, v] = kv(next()); o.secrets[k] = v; break; }
      case '--endpoint': { const [k, v] = kv(next()); (o.endpoints[k] ||= {}).url = v; break; }
      case '--endpoint-auth': {
        const [id, spec] = kv(next());
        const [scheme, params] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
        const ep = (o.endpoints[id] ||= {});
        ep.scheme = scheme;
        ep.parameters = Object.fromEntries(params.split(',').filter(Boolean).map(kv));
        break;
      }
      case '--cwd': o.cwd = path.resolve(next()); break;
      case '--cancel-after': { const after = Number(next()); o.cancel = { when: (seconds) => seconds >= after }; break; }
      case '--json': o.json = path.resolve(next()); break;
      case '--quiet': o.quiet = true; break;
      case '-h': case '--help':
        console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 12).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

function mergeConfig(o, c) {
  return {
    inputs: { ...o.inputs, ...(c.inputs || {}) },
    variables: { ...o.variables, ...(c.variables || {}) },
    secrets: { ...o.secrets, ...(c.secrets || {}) },
    endpoints: { ...o.endpoints, ...(c.endpoints || {}) },
    env: { ...o.env, ...(c.env || {}) },
    cwd: c.cwd ? path.resolve(c.cwd) : o.cwd,
    accessToken: c.accessToken || o.accessToken,
  };
}

function expandMacros(value, vars) {
  return value.replace(/\$\(([^)]+)\)/g, (m, name) => (name in vars ? vars[name] : m));
}

/** Build the environment the agent gives a Node-handler task. */
function buildEnv(o, taskJson) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(INPUT_|ENDPOINT_|SECRET_|VSTS_|SECUREFILE_)/i.test(k)) continue;
    env[k] = v;
  }
  const cwd = o.cwd || process.cwd();
  const tmp = o.env.AGENT_TEMPDIRECTORY || fs.mkdtempSync(path.join(os.tmpdir(), 'agent-tmp-'));
  const variables = {
    'System.DefaultWorkingDirectory': cwd,
    'Agent.TempDirectory': tmp,
    'Build.BuildId': '1',
    'Build.SourceVersion': '0000000000000000000000000000000000000000',
    'System.TeamFoundationCollectionUri': 'https://dev.azure.com/example/',
    ...o.variables,
  };
  for (const [k, v] of Object.entries(variables)) env[envName(k)] = String(v);
  env.VSTS_PUBLIC_VARIABLES = JSON.stringify(Object.keys(variables));
  for (const [k, v] of Object.entries(o.secrets)) env[`SECRET_${envName(k)}`] = String(v);
  env.VSTS_SECRET_VARIABLES = JSON.stringify(Object.keys(o.secrets));
  const macroVars = { ...variables, ...o.secrets };

  const known = new Map(taskJson.inputs.map((i) => [i.name.toLowerCase(), i]));
  for (const k of Object.keys(o.inputs)) {
    if (!known.has(k.toLowerCase())) throw new Error(`input ${k} is not declared in task.json`);
  }
  const endpointIds = new Set();
  for (const def of taskJson.inputs) {
    const given = Object.entries(o.inputs).find(([k]) => k.toLowerCase() === def.name.toLowerCase());
    let value = given ? String(given[1]) : String(def.defaultValue ?? '');
    value = expandMacros(value, macroVars);
    if (!process.env.DISABLE_INPUT_TRIMMING) value = value.trim();
    if (def.type === 'filePath' && value && !path.isAbsolute(value)) value = path.join(cwd, value);
    env[`INPUT_${envName(def.name)}`] = value;
    if (/^connectedService:/i.test(def.type) && value) value.split(',').forEach((id) => endpointIds.add(id.trim()));
  }
  for (const id of endpointIds) {
    const ep = o.endpoints[id];
    if (!ep) continue; // the agent would fail the job; the task must report the missing connection
    const key = id.toUpperCase();
    if (ep.url) env[`ENDPOINT_URL_${key}`] = ep.url;
    const auth = { parameters: ep.parameters || {}, scheme: ep.scheme || '' };
    env[`ENDPOINT_AUTH_${key}`] = JSON.stringify(auth);
    env[`ENDPOINT_AUTH_SCHEME_${key}`] = auth.scheme;
    for (const [p, v] of Object.entries(auth.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${key}_${envName(p)}`] = String(v);
    if (ep.data) {
      env[`ENDPOINT_DATA_${key}`] = JSON.stringify(ep.data);
      for (const [d, v] of Object.entries(ep.data)) env[`ENDPOINT_DATA_${key}_${envName(d)}`] = String(v);
    }
  }
  const token = o.accessToken || 'job-access-token-for-emulator';
  env.ENDPOINT_URL_SYSTEMVSSCONNECTION = variables['System.TeamFoundationCollectionUri'];
  env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({ parameters: { AccessToken: token }, scheme: 'OAuth' });
  env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION = 'OAuth';
  env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN = token;
  env.TF_BUILD = 'True';
  Object.assign(env, o.env);
  return { env, cwd, tmp };
}

const SEVERITY = { Succeeded: 0, SucceededWithIssues: 1, Failed: 2, Canceled: 3 };

/**
 * Cancel the run once `when(seconds since the start)` holds, the way the agent does
 * (ProcessInvoker.CancelAndKillProcessTree, knobs PROCESS_SIGINT_TIMEOUT / PROCESS_SIGTERM_TIMEOUT):
 * SIGINT, SIGTERM `sigintMs` later if the process still runs, a kill `sigtermMs` after that.
 * Returns a function that stops it all.
 */
function cancelWhen(child, result, started, { when, sigintMs = 7500, sigtermMs = 2500, pollMs = 20 }) {
  const timers = [];
  const send = (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    result.cancelled.signals.push(signal);
  };
  const poll = setInterval(() => {
    const at = Number(process.hrtime.bigint() - started) / 1e9;
    if (!when(at)) return;
    clearInterval(poll);
    result.cancelled = { at, signals: [] };
    send('SIGINT');
    timers.push(setTimeout(() => {
      send('SIGTERM');
      timers.push(setTimeout(() => send('SIGKILL'), sigtermMs));
    }, sigintMs));
  }, pollMs);
  return () => { clearInterval(poll); timers.forEach(clearTimeout); };
}

async function runTask(o) {
  const taskJsonPath = path.join(o.task, 'task.json');
  const taskJson = JSON.parse(fs.readFileSync(taskJsonPath, 'utf8'));
  const { env, cwd } = buildEnv(o, taskJson);
  const handler = taskJson.execution.Node20_1 || taskJson.execution.Node24;
  const target = path.join(o.task, handler.target);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [target], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const result = { commands: [], outputs: {}, variables: {}, issues: [], stdout: '', stderr: '', parseErrors: [] };
  const onLine = (line, stream) => {
    if (!o.quiet) (stream === 'stderr' ? process.stderr : process.stdout).write(line + '\n');
    const at = line.indexOf('##vso[');
    if (at < 0) return;
    try {
      const cmd = commandFromString(line.slice(at));
      const c = { command: cmd.command, properties: cmd.properties, message: cmd.message, stream };
      result.commands.push(c);
      if (c.command === 'task.setvariable') {
        const p = c.properties;
        result.variables[p.variable] = c.message;
        if (String(p.isoutput).toLowerCase() === 'true') result.outputs[p.variable] = c.message;
      } else if (c.command === 'task.logissue' || c.command === 'task.issue') {
        result.issues.push({ type: c.properties.type, message: c.message });
      }
    } catch (e) {
      result.parseErrors.push({ line, error: e.message });
    }
  };
  const pump = (stream, name) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      result[name] += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''), name);
        buf = buf.slice(i + 1);
      }
    });
    return new Promise((res) => stream.on('end', () => { if (buf) onLine(buf, name); res(); }));
  };
  const done = Promise.all([pump(child.stdout, 'stdout'), pump(child.stderr, 'stderr')]);
  const stopCancel = o.cancel ? cancelWhen(child, result, started, o.cancel) : () => {};
  const exitCode = await new Promise((res) => child.on('close', (code, sig) => res(code === null ? 128 : code)));
  stopCancel();
  await done;
  result.exitCode = exitCode;
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The agent merges task.complete results pessimistically and fails on a non-zero exit.
  let res = 'Succeeded';
  for (const c of result.commands.filter((c) => c.command === 'task.complete')) {
    const r = c.properties.result;
    if (!(r in SEVERITY)) { res = 'Failed'; continue; }
    if (SEVERITY[r] > SEVERITY[res]) res = r;
  }
  if (result.cancelled) res = 'Canceled';
  else if (exitCode !== 0) res = 'Failed';
  result.result = res;
  return result;
}

module.exports = { runTask, buildEnv };

if (require.main === module) {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`run-task: ${e.message}`);
    process.exit(3);
  }
  runTask(o).then((r) => {
    if (o.json) fs.writeFileSync(o.json, JSON.stringify(r, null, 2));
    const outs = Object.entries(r.outputs).map(([k, v]) => `${k}=${v}`).join(', ');
    console.error(`\n[run-task] result: ${r.result}, exit code ${r.exitCode}, ${r.seconds.toFixed(2)}s${outs ? `, outputs: ${outs}` : ''}`);
    process.exit(r.result === 'Succeeded' || r.result === 'SucceededWithIssues' ? 0 : 1);
  }, (e) => {
    console.error(`run-task: ${e.stack || e}`);
    process.exit(3);
  });
}
