// The task foundation through the packaged task and the agent emulator: validate with a spec
// file, bad input, the launcher, task.json against Microsoft's schema and tfx's validator, and
// the .vsix.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { repo, taskDir, scratch, run, parseXml, assertNoSecrets } = require('./helpers');

const SEED_SPEC = `kind: Deployment
apiVersion: v1
metadata:
  name: vvp-pipeline-demo
  namespace: default
spec:
  state: RUNNING
  deploymentTargetId: DEPLOYMENTTARGETID
  upgradeStrategy:
    kind: STATEFUL
  restoreStrategy:
    kind: LATEST_STATE
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: JARURI
        mainArgs: --build \${Build.BuildId}
      parallelism: 2
`;

test('validate with a spec file prints the plan, writes JUnit and a summary, and succeeds', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'deployment.yml'), SEED_SPEC);
  const r = await run({
    cwd,
    inputs: {
      action: 'validate',
      specFile: 'deployment.yml',
      deploymentTargetId: '6232cc84-7aa3-4524-b3a8-36cab7203c47',
      jarUri: 'wasbs://jars@acct.blob.core.windows.net/artifacts/namespaces/default/job.jar',
      vvpApiToken: 'tok-validate-123',
    },
    variables: { 'Build.BuildId': '4242' },
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded');
  assert.deepEqual(r.errors, []);
  assert.match(r.stdout, /##\[group\]Plan/);
  assert.match(r.stdout, /deploymentTargetId: 6232cc84-7aa3-4524-b3a8-36cab7203c47/);
  assert.match(r.stdout, /jarUri: wasbs:\/\/jars@acct/);
  assert.match(r.stdout, /mainArgs: --build 4242/);
  const complete = r.command('task.complete');
  assert.equal(complete.length, 1);
  assert.equal(complete[0].properties.result, 'Succeeded');

  const publish = r.command('results.publish');
  assert.equal(publish.length, 1);
  assert.equal(publish[0].properties.type, 'JUnit');
  const xml = parseXml(publish[0].properties.resultFiles);
  assert.equal(xml.tag, 'testsuites');
  const suite = xml.children[0];
  assert.equal(suite.tag, 'testsuite');
  assert.match(suite.attrs.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  assert.ok(suite.attrs.hostname);
  assert.equal(suite.attrs.failures, '0');
  assert.ok(suite.children.some((c) => c.attrs.name === 'plan'));

  const summary = r.command('task.uploadsummary');
  assert.equal(summary.length, 1);
  const md = fs.readFileSync(summary[0].message, 'utf8');
  assert.match(md, /succeeded/);
  assert.match(md, /#### Plan/);
  assertNoSecrets(assert, r, ['tok-validate-123']);
});

test('a missing required input fails with one error naming it', async () => {
  const r = await run({ inputs: { target: 'flink', artifactPath: 'x.jar', jobName: 'j' } });
  assert.notEqual(r.exitCode, 0);
  assert.equal(r.result, 'Failed');
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  assert.match(r.errors[0].message, /`flinkUrl`/);
  assert.equal(r.command('task.complete')[0].properties.result, 'Failed');
});

test('publishTestResults=false writes JUnit but does not publish it', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'd.yml'), 'metadata:\n  name: a\n');
  const r = await run({ cwd, inputs: { action: 'validate', specFile: 'd.yml', publishTestResults: 'false', testResultsFile: 'out/results.xml' } });
  assert.equal(r.result, 'Succeeded', r.log);
  assert.equal(r.command('results.publish').length, 0);
  assert.ok(fs.existsSync(path.join(cwd, 'out/results.xml')));
});

test('a JUnit file that cannot be written is a warning naming the path and the input', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'd.yml'), 'metadata:\n  name: a\n');
  // A file where the directory should be.
  fs.writeFileSync(path.join(cwd, 'out'), 'not a directory');
  const r = await run({ cwd, inputs: { action: 'validate', specFile: 'd.yml', testResultsFile: 'out/results.xml' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'SucceededWithIssues', 'the run says something went wrong');
  const warnings = r.issues.filter((i) => i.type === 'warning');
  assert.equal(warnings.length, 1, JSON.stringify(r.issues));
  assert.match(warnings[0].message, /cannot write the JUnit file `.*out\/results\.xml` \(.*\); the Tests tab gets nothing from this run\. Check input `testResultsFile`/);
  assert.equal(r.command('results.publish').length, 0, 'nothing to publish');
});

test('the launcher fails clearly when the binary for the platform is missing', () => {
  const dir = scratch();
  fs.copyFileSync(path.join(taskDir, 'launcher.js'), path.join(dir, 'launcher.js'));
  const r = spawnSync(process.execPath, [path.join(dir, 'launcher.js')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /##vso\[task\.logissue type=error\].*supported platforms: linux-x64, linux-arm64, win32-x64, darwin-x64, darwin-arm64/);
  assert.match(r.stdout, /##vso\[task\.complete result=Failed\]/);
});

test('task.json passes Microsoft\'s tasks.schema.json', () => {
  const Ajv = require('ajv-draft-04');
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  const schema = JSON.parse(fs.readFileSync(path.join(repo, 'tests/fixtures/tasks.schema.json'), 'utf8'));
  const task = JSON.parse(fs.readFileSync(path.join(repo, 'task/task.json'), 'utf8'));
  const ok = ajv.validate(schema, task);
  assert.ok(ok, JSON.stringify(ajv.errors, null, 2));
});

test('task.json passes tfx-cli\'s strict validator', () => {
  const jv = require(path.join(repo, 'node_modules/tfx-cli/_build/lib/jsonvalidate'));
  const file = path.join(taskDir, 'task.json');
  assert.deepEqual(jv.validateTask(file, JSON.parse(fs.readFileSync(file, 'utf8'))), []);
  assert.ok(jv.validate(file)); // throws on any issue
});

test('the .vsix was created by tfx without warnings and holds the task', () => {
  const log = fs.readFileSync(path.join(repo, 'dist/tfx.log'), 'utf8');
  assert.doesNotMatch(log, /warn/i, log);
  const vsix = fs.readdirSync(path.join(repo, 'dist')).filter((f) => f.endsWith('.vsix'));
  assert.equal(vsix.length, 1);
  const list = spawnSync('python3', ['-c', 'import zipfile,sys;print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', path.join(repo, 'dist', vsix[0])], { encoding: 'utf8' });
  assert.match(list.stdout, /task\/task\.json/);
  assert.match(list.stdout, /task\/launcher\.js/);
  assert.match(list.stdout, /task\/bin\/linux-x64\/flink-deploy/);
});
