// Many deployments in one step: `specFile` naming a folder, a glob or a list, each file one
// deployment on the Ververica Platform fake (tests/fakes/vvp.js, held to the vendor's API
// description). Planned together before any write, applied concurrently, reported per deployment
// (a JUnit suite each, a summary row each, the `deployments` output), by the failure policy.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { scratch, run, parseXml, assertNoSecrets, vvpDeployment } = require('./helpers');
const { startVvp } = require('../fakes/vvp');

const TOKEN = 'vvp-api-many-5e17a2';
const secrets = { vvpApiToken: TOKEN };
const V1 = 's3://vvp/artifacts/namespaces/default/job-1.jar';
const V2 = 's3://vvp/artifacts/namespaces/default/job-2.jar';

async function fake() {
  return startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 300, stopMs: 150, savepointMs: 150 } });
}

function inputs(f, extra = {}) {
  return { vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', settleSeconds: '0', timeoutSeconds: '20', ...extra };
}

function spec(name, jar = V2) {
  return [
    'kind: Deployment', 'apiVersion: v1', 'metadata:', `  name: ${name}`,
    'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs', '  template:', '    spec:',
    '      artifact:', '        kind: JAR', `        jarUri: ${jar}`, '',
  ].join('\n');
}

/** A scratch folder with `deploy/<name>.yml` for each name. */
function specs(names, body = spec) {
  const cwd = scratch();
  fs.mkdirSync(path.join(cwd, 'deploy'));
  for (const n of names) fs.writeFileSync(path.join(cwd, 'deploy', `${n}.yml`), body(n));
  return cwd;
}

/** Every suite of the one JUnit file: {name, cases: [{name, failed, skipped}]}. */
function suites(r) {
  const pub = r.command('results.publish');
  assert.equal(pub.length, 1, 'one JUnit file is published');
  return parseXml(pub[0].properties.resultFiles).children.map((s) => ({
    name: s.attrs.name,
    cases: s.children.filter((c) => c.tag === 'testcase').map((c) => ({
      name: c.attrs.name,
      failed: c.children.some((x) => x.tag === 'failure'),
      skipped: c.children.some((x) => x.tag === 'skipped'),
    })),
  }));
}

function summary(r) {
  const s = r.command('task.uploadsummary');
  assert.equal(s.length, 1);
  return fs.readFileSync(s[0].message, 'utf8');
}

function deployments(r) {
  assert.ok(r.outputs.deployments, `the deployments output is set: ${JSON.stringify(r.outputs)}`);
  const list = JSON.parse(r.outputs.deployments);
  return Object.fromEntries(list.map((d) => [d.deploymentName || d.file, d]));
}

const writesTo = (f, name) => f.writes().filter((w) => w.path.includes(`/deployments`) && JSON.stringify(w.body || {}).includes(`"name":"${name}"`));

describe('many deployments in one step', { concurrency: 2 }, () => {
  test('a folder of three spec files: three deployments, each with its suite, its summary row and its outputs', async () => {
    const f = await fake();
    try {
      const cwd = specs(['alpha', 'beta', 'gamma']);
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy' }), secrets });
      assert.equal(r.exitCode, 0, r.log);
      for (const n of ['alpha', 'beta', 'gamma']) {
        assert.equal(f.deployment('default', n).status.state, 'RUNNING', n);
        assert.equal(writesTo(f, n).length, 1, `one write for ${n}`);
      }
      const all = suites(r);
      assert.deepEqual(all.map((s) => s.name), [
        'flink-deploy ververica deploy',
        ...['alpha', 'beta', 'gamma'].map((n) => `flink-deploy ververica deploy: deploy/${n}.yml`),
      ]);
      for (const s of all.slice(1)) {
        assert.deepEqual(s.cases.map((c) => c.name).filter((n) => ['plan', 'apply', 'reach RUNNING'].includes(n)), ['plan', 'apply', 'reach RUNNING'], s.name);
        assert.ok(s.cases.every((c) => !c.failed), s.name);
      }
      const out = deployments(r);
      for (const n of ['alpha', 'beta', 'gamma']) {
        const d = f.deployment('default', n);
        assert.equal(out[n].state, 'RUNNING');
        assert.equal(out[n].jobId, d.status.running.jobId);
        assert.equal(out[n].deploymentId, d.metadata.id);
        assert.equal(out[n].file, path.join(cwd, 'deploy', `${n}.yml`));
        assert.equal(out[n].result, 'succeeded');
      }
      // One deployment's outputs would be one of three: they stay unset.
      assert.equal(r.outputs.deploymentName, undefined);
      assert.equal(r.outputs.jobId, undefined);
      const md = summary(r);
      assert.match(md, /\| Deployment \| File \| Result \| State \| Job id \| Time \| Link \|/);
      for (const n of ['alpha', 'beta', 'gamma']) {
        assert.match(md, new RegExp(`\\| ✅ ${n} \\| \`[^|]*deploy/${n}\\.yml\` \\| succeeded \\| RUNNING \\| ${f.deployment('default', n).status.running.jobId} \\|`));
      }
      // Each deployment's lines come as one block; its state changes at once, one line each.
      for (const n of ['alpha', 'beta', 'gamma']) {
        assert.match(r.stdout, new RegExp(`##\\[section\\]deploy/${n}\\.yml: succeeded in [0-9.]+s`));
        assert.match(r.stdout, new RegExp(`^deploy/${n}\\.yml: reached RUNNING$`, 'm'));
        const block = r.stdout.split(`##[section]deploy/${n}.yml: succeeded`)[1].split(`(end of deploy/${n}.yml)`)[0];
        assert.match(block, new RegExp(`^  name: ${n}$`, 'm'));
        assert.match(block, /^##\[section\]reach RUNNING$/m);
        for (const other of ['alpha', 'beta', 'gamma'].filter((o) => o !== n)) {
          assert.doesNotMatch(block, new RegExp(`^  name: ${other}$`, 'm'), `${n}'s block holds only its own lines`);
        }
      }
      assertNoSecrets(assert, r, [TOKEN]);
    } finally { await f.close(); }
  });

  test('one bad file fails the step naming the file and the line, and nothing is written anywhere', async () => {
    const f = await fake();
    try {
      const cwd = specs(['alpha', 'beta', 'gamma']);
      fs.writeFileSync(path.join(cwd, 'deploy', 'beta.yml'), 'metadata:\n  name: beta\nspec: [unclosed\n');
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy/alpha.yml, deploy/beta.yml, deploy/gamma.yml' }), secrets });
      assert.equal(r.exitCode, 2, r.log);
      assert.match(r.errors[0].message, /the plan failed, nothing was changed: 1 of 3 deployments failed: `deploy\/beta\.yml`: .*deploy\/beta\.yml is not valid YAML or JSON, at line \d+/);
      assert.deepEqual(f.writes().map((w) => `${w.method} ${w.path}`), [], 'no write request reached Ververica Platform');
      const all = suites(r);
      assert.equal(all.length, 4);
      const beta = all.find((s) => s.name.endsWith('deploy/beta.yml'));
      assert.ok(beta.cases.find((c) => c.name === 'plan').failed);
      const alpha = all.find((s) => s.name.endsWith('deploy/alpha.yml'));
      assert.ok(alpha.cases.some((c) => c.skipped), 'the others never started');
    } finally { await f.close(); }
  });

  test('two files naming one deployment are refused before anything is written', async () => {
    const f = await fake();
    try {
      const cwd = specs(['alpha', 'beta'], () => spec('same'));
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy/*.yml' }), secrets });
      assert.equal(r.exitCode, 2, r.log);
      assert.match(r.errors[0].message, /`deploy\/alpha\.yml` and `deploy\/beta\.yml` both name deployment `same` in namespace `default`/);
      assert.deepEqual(f.writes(), []);
    } finally { await f.close(); }
  });

  test('onFailure continue: the others are deployed, the step fails naming the one that failed', async () => {
    const f = await fake();
    try {
      f.nextJobs({ deployment: 'beta', outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in beta' } });
      const cwd = specs(['alpha', 'beta', 'gamma']);
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy', onFailure: 'continue', maxParallel: '1' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /^1 of 3 deployments failed: deployment `beta` in namespace `default` did not reach RUNNING: .*NoSuchMethodError in beta/);
      assert.equal(f.deployment('default', 'alpha').status.state, 'RUNNING');
      assert.equal(f.deployment('default', 'gamma').status.state, 'RUNNING');
      const out = deployments(r);
      assert.equal(out.beta.result, 'failed');
      assert.equal(out.beta.state, 'FAILED');
      assert.match(out.beta.error, /NoSuchMethodError in beta/);
      assert.equal(out.gamma.result, 'succeeded');
      const beta = suites(r).find((s) => s.name.endsWith('deploy/beta.yml'));
      assert.ok(beta.cases.find((c) => c.name === 'reach RUNNING').failed);
      assert.match(summary(r), /\| ❌ beta \| [^|]+ \| failed: [^|]*NoSuchMethodError in beta[^|]* \| FAILED \|/);
    } finally { await f.close(); }
  });

  test('onFailure stop: no deployment starts after one failed; the rest are reported as not started', async () => {
    const f = await fake();
    try {
      f.nextJobs({ deployment: 'beta', outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in beta' } });
      const cwd = specs(['alpha', 'beta', 'gamma']);
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy', onFailure: 'stop', maxParallel: '1' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /^1 of 3 deployments failed: .*NoSuchMethodError in beta; 1 not started \(onFailure: stop\)/);
      assert.equal(f.deployment('default', 'alpha').status.state, 'RUNNING');
      assert.equal(f.deployment('default', 'gamma'), undefined, 'gamma was never written');
      assert.equal(writesTo(f, 'gamma').length, 0);
      const out = deployments(r);
      assert.equal(out['deploy/gamma.yml'] || out[path.join(cwd, 'deploy/gamma.yml')] ? 1 : 0, 1, JSON.stringify(out));
      const gamma = Object.values(out).find((d) => d.file.endsWith('gamma.yml'));
      assert.equal(gamma.result, 'not started');
      assert.match(gamma.error, /deployment `beta` in namespace `default` failed and onFailure is `stop`/);
      const g = suites(r).find((s) => s.name.endsWith('deploy/gamma.yml'));
      assert.ok(g.cases.some((c) => c.skipped), JSON.stringify(g));
      assert.match(summary(r), /\| ⏭️ deploy\/gamma\.yml \| [^|]+ \| not started: /);
    } finally { await f.close(); }
  });

  test('rollback per deployment: only the one that failed goes back', async () => {
    const f = await fake();
    try {
      for (const n of ['alpha', 'beta']) f.seed('default', vvpDeployment(n, V1));
      f.nextJobs({ deployment: 'beta', outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in beta' } });
      const cwd = specs(['alpha', 'beta']);
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy', rollbackOnFailure: 'true' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /deployment `beta` .*rolled back: deployment `beta` is RUNNING .* again with the previous spec/);
      assert.equal(f.deployment('default', 'alpha').spec.template.spec.artifact.jarUri, V2);
      assert.equal(f.deployment('default', 'beta').spec.template.spec.artifact.jarUri, V1);
      const out = deployments(r);
      assert.equal(out.alpha.result, 'succeeded');
      assert.equal(out.beta.result, 'failed');
      assert.equal(out.beta.state, 'RUNNING');
    } finally { await f.close(); }
  });

  test('rollbackScope all: when one fails, every deployment this run changed goes back', async () => {
    const f = await fake();
    try {
      for (const n of ['alpha', 'beta', 'gamma']) f.seed('default', vvpDeployment(n, V1));
      f.nextJobs({ deployment: 'beta', outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'NoSuchMethodError in beta' } });
      const cwd = specs(['alpha', 'beta', 'gamma']);
      // gamma's file keeps what runs: this run does not change it, so there is nothing to put back.
      fs.writeFileSync(path.join(cwd, 'deploy', 'gamma.yml'), spec('gamma', V1));
      const r = await run({ cwd, inputs: inputs(f, { specFile: 'deploy', rollbackOnFailure: 'true', rollbackScope: 'all' }), secrets });
      assert.equal(r.exitCode, 1, r.log);
      for (const n of ['alpha', 'beta', 'gamma']) {
        const d = f.deployment('default', n);
        assert.equal(d.spec.template.spec.artifact.jarUri, V1, n);
        assert.equal(d.status.state, 'RUNNING', n);
      }
      assert.deepEqual(writesTo(f, 'alpha').map((w) => w.method), ['PATCH', 'PUT'], 'alpha was changed, then put back');
      assert.deepEqual(writesTo(f, 'gamma').map((w) => w.method), [], 'gamma was not changed');
      const out = deployments(r);
      assert.equal(out.alpha.result, 'rolled back');
      assert.match(out.alpha.error, /another deployment failed \(rollbackScope: all\); deployment `alpha` is RUNNING .* again with the previous spec/);
      assert.equal(out.beta.result, 'failed');
      assert.equal(out.gamma.result, 'rolled back');
      assert.match(out.gamma.error, /not rolled back: it changed nothing this run/);
      const alpha = suites(r).find((s) => s.name.endsWith('deploy/alpha.yml'));
      assert.equal(alpha.cases.find((c) => c.name === 'rollback').failed, false);
      assert.match(summary(r), /\| ↩️ alpha \| [^|]+ \| rolled back: /);
    } finally { await f.close(); }
  });
});
