// Shared helpers for the integration tests: run the packaged task through the agent emulator,
// make scratch directories, scan outputs for secrets, and fail a test whose requests (or whose
// fakes' answers) break the vendor's API description (tests/fakes/contract.js).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { runTask } = require('../../scripts/run-task.js');
const { takeViolations, formatViolations, RUN_VARIABLE } = require('../fakes/contract');

const repo = path.resolve(__dirname, '../..');
const taskDir = process.env.FLINK_DEPLOY_TASK_DIR || path.join(repo, 'dist/task');

/** The error a test fails with when requests or answers broke an API description. */
class ContractViolation extends Error {
  constructor(list, what) {
    super(`${what} broke the API description ${list.length === 1 ? 'once' : `${list.length} times`}:\n${formatViolations(list)}`);
    this.name = 'ContractViolation';
    Object.defineProperty(this, 'violations', { value: list });
  }
}

// Under the test runner: after each test, what its own requests to a fake broke (requests the
// task sent are charged to its run, see run()); after the file, anything left.
const underTest = !!process.env.NODE_TEST_CONTEXT || /\.test\.js$/.test((require.main && require.main.filename) || '');
if (underTest) {
  const nodeTest = require('node:test');
  nodeTest.afterEach(() => {
    const left = takeViolations((v) => v.run === undefined);
    if (left.length) throw new ContractViolation(left, 'Requests made while this test ran (not by a task run)');
  });
  nodeTest.after(() => {
    const left = takeViolations();
    if (left.length) throw new ContractViolation(left, 'Requests recorded after the tests of this file');
  });
}
let runs = 0;

function scratch(prefix = 'fd-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Run the packaged task. `opts` = {inputs, variables, secrets, endpoints, env, cwd, cancel};
 * `cancel` = {when: (seconds) => boolean, sigintMs?, sigtermMs?} cancels the run as the agent does.
 *
 * Rejects with a ContractViolation when a request the run sent, or an answer a fake gave it,
 * broke an API description; `contract: 'report'` (benchmarks only) leaves them in
 * `r.contractViolations` instead.
 */
async function run(opts = {}) {
  const cwd = opts.cwd || scratch();
  const tmp = scratch('fd-agent-tmp-');
  const key = `${process.pid}-${++runs}`;
  const r = await runTask({
    task: taskDir,
    inputs: opts.inputs || {},
    variables: opts.variables || {},
    secrets: opts.secrets || {},
    endpoints: opts.endpoints || {},
    env: { AGENT_TEMPDIRECTORY: tmp, [RUN_VARIABLE]: key, ...(opts.env || {}) },
    cwd,
    quiet: !process.env.VERBOSE,
    accessToken: opts.accessToken,
    cancel: opts.cancel,
  });
  r.contractViolations = takeViolations((v) => v.run === key);
  if (r.contractViolations.length && opts.contract !== 'report') {
    const errors = r.issues.filter((i) => i.type === 'error').map((i) => i.message);
    const e = new ContractViolation(r.contractViolations, `This run of the task (it ended ${r.result}${errors.length ? `: ${errors[0].slice(0, 300)}` : ''})`);
    Object.defineProperty(e, 'result', { value: r });
    throw e;
  }
  r.cwd = cwd;
  r.tmp = tmp;
  r.errors = r.issues.filter((i) => i.type === 'error');
  r.command = (name) => r.commands.filter((c) => c.command === name);
  r.log = r.stdout + r.stderr;
  return r;
}

/** Well-formedness of an XML file, checked by Python's parser (an independent reader). */
function parseXml(file) {
  const out = execFileSync('python3', ['-c', `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
def conv(e):
    return {"tag": e.tag, "attrs": dict(e.attrib), "text": (e.text or ""), "children": [conv(c) for c in e]}
print(json.dumps(conv(root)))
`, file]);
  return JSON.parse(out);
}

/** Files written during a run that could hold secrets: the JUnit file, the summary, temp files. */
function artifacts(r) {
  const files = [];
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else if (e.size !== 0 || true) files.push(p);
    }
  };
  walk(r.tmp);
  for (const c of r.command('results.publish')) files.push(c.properties.resultFiles);
  for (const c of r.command('task.uploadsummary')) files.push(c.message);
  return [...new Set(files)].filter((f) => f && fs.existsSync(f));
}

/**
 * Assert that no secret value (nor its escaped forms) appears anywhere except in the
 * `task.setsecret` / secret `task.setvariable` lines that hand it to the agent.
 */
function assertNoSecrets(assert, r, secrets) {
  const forms = (s) => [s, encodeURIComponent(s), s.replace(/%/g, '%AZP25'), Buffer.from(s).toString('base64')];
  const allowed = (line) => /##vso\[task\.setsecret\]/.test(line) || /##vso\[task\.setvariable [^\]]*issecret=true/.test(line);
  const texts = [['stdout', r.stdout], ['stderr', r.stderr]];
  for (const f of artifacts(r)) texts.push([f, fs.readFileSync(f, 'utf8')]);
  for (const [where, text] of texts) {
    for (const line of text.split('\n')) {
      if (allowed(line)) continue;
      for (const s of secrets) {
        for (const form of forms(s)) {
          assert.ok(!line.includes(form), `secret leaked into ${where}: ${line.slice(0, 200)}`);
        }
      }
    }
  }
}

/** The test cases of the one JUnit file a run published. */
function junit(r) {
  const assert = require('node:assert/strict');
  const pub = r.command('results.publish');
  assert.equal(pub.length, 1, 'one JUnit file is published');
  const suite = parseXml(pub[0].properties.resultFiles).children[0];
  return suite.children.filter((c) => c.tag === 'testcase').map((c) => {
    const failure = c.children.find((x) => x.tag === 'failure');
    const skipped = c.children.find((x) => x.tag === 'skipped');
    return { name: c.attrs.name, failed: !!failure, skipped: !!skipped, failure: failure && `${failure.attrs.message}\n${failure.text}`, out: (c.children.find((x) => x.tag === 'system-out') || {}).text || '' };
  });
}

/** The case named `name`; fails the test, listing the cases there are, when it is missing. */
function caseNamed(cases, name) {
  const c = cases.find((x) => x.name === name);
  require('node:assert/strict').ok(c, `testcase ${name} in ${cases.map((x) => x.name).join(', ')}`);
  return c;
}

/** A Ververica Platform deployment as a pipeline created it earlier, for seeding the fake. */
function vvpDeployment(name, jarUri, extra = {}) {
  return {
    kind: 'Deployment', apiVersion: 'v1',
    metadata: { name, namespace: 'default', ...(extra.metadata || {}) },
    spec: {
      state: 'RUNNING', deploymentTargetName: 'vvp-jobs',
      upgradeStrategy: { kind: 'STATEFUL' }, restoreStrategy: { kind: 'LATEST_STATE', allowNonRestoredState: false },
      template: { spec: { artifact: { kind: 'JAR', jarUri }, parallelism: 1 } },
      ...(extra.spec || {}),
    },
  };
}

/** The pids whose parent is `pid` (Linux: read from /proc). */
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // `pid (comm) state ppid ...`; comm may hold spaces, so split after its closing paren.
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch (e) { /* gone meanwhile */ }
  }
  return out;
}

module.exports = { repo, taskDir, scratch, run, parseXml, artifacts, assertNoSecrets, vvpDeployment, childrenOf, junit, caseNamed, ContractViolation };
