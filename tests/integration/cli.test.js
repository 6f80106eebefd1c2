// The binary from a shell, without the agent: inputs as flags, FLINK_DEPLOY_* variables and a
// config file, Azure sign-in from the standard AZURE_* variables, output for a person (or JSON),
// documented exit codes. Runs the packaged binary directly (dist/task/bin/linux-x64, as the
// release archive holds it) against the Ververica Platform fake, the Entra ID, Key Vault and
// managed identity fakes, and a real Apache Flink 2.3 session cluster.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { repo, taskDir, scratch, parseXml, ContractViolation } = require('./helpers');
const { takeViolations, RUN_VARIABLE } = require('../fakes/contract');
const { startVvp } = require('../fakes/vvp');
const { startEntra, verifyCertificateAssertion } = require('../fakes/entra');
const { startKeyVault } = require('../fakes/keyvault');
const { startImds } = require('../fakes/imds');
const { startProxy } = require('../fakes/proxy');
const { makeTestCa } = require('../fakes/tls');
const f = require('./flink-scenario');

const BIN = path.join(taskDir, 'bin/linux-x64/flink-deploy');
const VVP_TOKEN = 'vvp-cli-token-8d41c7';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '5b1d3a6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
const SECRET = 'spn-cli-secret~7Q.x';
const MSI_CLIENT = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const JAR = 'wasbs://jars@clitest.blob.core.windows.net/artifacts/namespaces/default/job.jar';
let runs = 0;

/**
 * Run the binary with `args`, in an environment with nothing from the agent (only PATH, a
 * scratch TMPDIR and `env`). `cancelWhen(output)` sends SIGINT once it returns true; `pty` runs
 * it on a pseudo-terminal (util-linux `script`). Rejects when a fake saw the run break its API
 * description, and fails on any `##vso` line: a command line writes none.
 */
function cli(args, { env = {}, cwd, cancelWhen, pty = false } = {}) {
  const key = `${process.pid}-cli-${++runs}`;
  const tmp = scratch('fd-cli-tmp-');
  const fullEnv = { PATH: process.env.PATH, TMPDIR: tmp, [RUN_VARIABLE]: key, ...env };
  const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
  const [cmd, argv] = pty
    ? ['script', ['-qefc', [BIN, ...args].map(quote).join(' '), '/dev/null']]
    : [BIN, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: cwd || scratch('fd-cli-cwd-'), env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let cancelled = false;
    const check = () => {
      if (cancelWhen && !cancelled && cancelWhen(stdout + stderr)) {
        cancelled = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', (d) => { stdout += d; check(); });
    child.stderr.on('data', (d) => { stderr += d; check(); });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const r = { code, signal, stdout, stderr, log: stdout + stderr, tmp, cancelled };
      const violations = takeViolations((v) => v.run === key);
      if (violations.length) return reject(new ContractViolation(violations, `This command-line run (exit ${code})`));
      try {
        assert.ok(!/##vso\[|^##\[/m.test(r.log), `a command line writes no logging commands:\n${r.log}`);
      } catch (e) { return reject(e); }
      resolve(r);
    });
  });
}

/** The run's last line: the result and the exit code, as a person reads it. */
const lastLine = (text) => text.trimEnd().split('\n').pop();

function noSecrets(r, secrets) {
  for (const s of secrets) {
    for (const form of [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]) {
      assert.ok(!r.log.includes(form), `secret leaked: ${s}`);
    }
  }
}

describe('Ververica Platform from a shell', () => {
  let vvp;
  before(async () => {
    vvp = await startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 100, stopMs: 50, savepointMs: 50 } });
  });
  after(() => vvp?.close());

  const base = () => ['--vvpUrl', vvp.url, '--deploymentTargetName', 'vvp-jobs', '--jarUri', JAR, '--settleSeconds', '1', '--timeoutSeconds', '60'];

  test('a deploy with the token in FLINK_DEPLOY_VVP_API_TOKEN: the job runs, the log is for a person, outputs at the end', async () => {
    const dir = scratch('fd-cli-reports-');
    const r = await cli([...base(), '--deploymentName', 'cli-orders', '--junit', path.join(dir, 'junit.xml'), '--summary', path.join(dir, 'summary.md')], {
      env: { FLINK_DEPLOY_VVP_API_TOKEN: VVP_TOKEN },
    });
    assert.equal(r.code, 0, r.log);
    const d = vvp.deployment('default', 'cli-orders');
    assert.equal(d.status.state, 'RUNNING');
    assert.equal(d.spec.template.spec.artifact.jarUri, JAR);
    assert.match(r.stdout, /^==> plan$/m);
    assert.match(r.stdout, /^Outputs:\n(  \S+ +.*\n)+/m);
    assert.match(r.stdout, /^ {2}deploymentName +cli-orders$/m);
    assert.match(r.stdout, new RegExp(`^  jobId +${d.status.running.jobId}$`, 'm'));
    assert.match(r.stdout, /^ {2}state +RUNNING$/m);
    assert.equal(lastLine(r.stdout), 'flink-deploy succeeded (exit code 0)');
    assert.ok(!r.log.includes('\x1b['), 'no colour when stdout is not a terminal');
    const cases = parseXml(path.join(dir, 'junit.xml')).children[0].children.filter((c) => c.tag === 'testcase');
    assert.ok(cases.length >= 3 && cases.every((c) => !c.children.some((x) => x.tag === 'failure')), JSON.stringify(cases));
    assert.match(fs.readFileSync(path.join(dir, 'summary.md'), 'utf8'), /flink-deploy ververica deploy — ✅ succeeded/);
    assert.deepEqual(fs.readdirSync(r.tmp), [], 'nothing else is written: reports only where asked');
    noSecrets(r, [VVP_TOKEN]);
  });

  test('--json: one document on stdout with result, outputs and steps; the log on stderr', async () => {
    const dir = scratch('fd-cli-json-');
    const r = await cli([...base(), '--deploymentName', 'cli-json', '--json', '--junit', path.join(dir, 'j.xml')], { env: { FLINK_DEPLOY_VVPAPITOKEN: VVP_TOKEN } });
    assert.equal(r.code, 0, r.log);
    assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.result, 'succeeded');
    assert.equal(doc.exitCode, 0);
    const d = vvp.deployment('default', 'cli-json');
    assert.deepEqual(
      { name: doc.outputs.deploymentName, id: doc.outputs.deploymentId, job: doc.outputs.jobId, state: doc.outputs.state },
      { name: 'cli-json', id: d.metadata.id, job: d.status.running.jobId, state: 'RUNNING' },
    );
    const junitNames = parseXml(path.join(dir, 'j.xml')).children[0].children.filter((c) => c.tag === 'testcase').map((c) => c.attrs.name);
    assert.deepEqual(doc.steps.map((s) => s.name), junitNames, 'the same steps as the JUnit file');
    assert.ok(doc.steps.every((s) => s.outcome === 'passed' && typeof s.seconds === 'number'), JSON.stringify(doc.steps));
    assert.deepEqual(doc.errors, []);
    assert.match(r.stderr, /^==> plan$/m);
    assert.match(lastLine(r.stderr), /^flink-deploy succeeded \(exit code 0\)$/);
  });

  test('flags over FLINK_DEPLOY_* over the config file over the defaults', async () => {
    const dir = scratch('fd-cli-config-');
    const config = path.join(dir, 'flink-deploy.yml');
    fs.writeFileSync(config, [
      `vvpUrl: ${vvp.url}`,
      'deploymentName: from-file',
      'displayName: from the file',
      'deployment-target-name: vvp-jobs',
      `jarUri: ${JAR}`,
      'parallelism: 3',
      'settleSeconds: 0',
      "entryClass: 'com.example.FromFile'",
      'flinkConfiguration: |',
      '  execution.checkpointing.interval: 10s',
      '  taskmanager.numberOfTaskSlots: 2',
    ].join('\n'));
    const r = await cli(['--config', config, '--deploymentName', 'cli-precedence'], {
      env: { FLINK_DEPLOY_VVP_API_TOKEN: VVP_TOKEN, FLINK_DEPLOY_DEPLOYMENT_NAME: 'from-env', FLINK_DEPLOY_DISPLAY_NAME: 'from the environment' },
    });
    assert.equal(r.code, 0, r.log);
    assert.equal(vvp.deployment('default', 'from-env'), undefined);
    assert.equal(vvp.deployment('default', 'from-file'), undefined);
    const d = vvp.deployment('default', 'cli-precedence');
    assert.equal(d.metadata.displayName, 'from the environment');
    assert.equal(d.spec.template.spec.parallelism, 3);
    assert.equal(d.spec.template.spec.artifact.entryClass, 'com.example.FromFile');
    assert.equal(d.spec.template.spec.flinkConfiguration['execution.checkpointing.interval'], '10s');
    assert.equal(d.spec.template.spec.flinkConfiguration['taskmanager.numberOfTaskSlots'], '2');
  });

  test('bad flags and bad input: exit 2, the flag and the closest input named, nothing sent', async () => {
    const writes = vvp.writes().length;
    const typo = await cli([...base(), '--deploymentNme', 'x'], { env: { FLINK_DEPLOY_VVP_API_TOKEN: VVP_TOKEN } });
    assert.equal(typo.code, 2, typo.log);
    assert.match(typo.log, /^error: unknown option `--deploymentNme`; did you mean the input `--deploymentName`\?/m);
    assert.equal(lastLine(typo.stdout), 'flink-deploy failed: bad input, nothing was changed (exit code 2)');

    const json = await cli(['--json', '--target', 'flink', '--jobName', 'j', '--artifactPath', 'job.jar']);
    assert.equal(json.code, 2, json.log);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.result, 'badInput');
    assert.equal(doc.exitCode, 2);
    assert.match(doc.errors[0], /input `flinkUrl`/);

    const file = path.join(scratch('fd-cli-badcfg-'), 'c.yml');
    fs.writeFileSync(file, 'deploymentName: [orders, billing]\n');
    const cfg = await cli(['--config', file, '--vvpUrl', vvp.url]);
    assert.equal(cfg.code, 2, cfg.log);
    assert.match(cfg.log, /config file `.*c\.yml`: `deploymentName` is not a single value \(hint: give each input as `name: value`/);

    const none = await cli([]);
    assert.equal(none.code, 2, none.log);
    assert.match(none.log, /error: no inputs given/);
    assert.equal(vvp.writes().length, writes, 'no request could change anything');
  });

  test('a secret given as a flag still works, is masked and draws a warning', async () => {
    const r = await cli([...base(), '--deploymentName', 'cli-flag-secret', '--vvpApiToken', VVP_TOKEN]);
    assert.equal(r.code, 0, r.log);
    assert.match(r.stdout, /^warning: input `vvpApiToken` was given on the command line, where other users of this machine can read it; pass it in FLINK_DEPLOY_VVP_API_TOKEN or the config file$/m);
    assert.equal(lastLine(r.stdout), 'flink-deploy succeeded (exit code 0, 1 warning)');
    noSecrets(r, [VVP_TOKEN]);
  });

  test('a job that fails to start: exit 1, the platform\'s reason in the log and in the JSON document', async () => {
    vvp.nextJobs({ outcome: 'FAILED' });
    const r = await cli([...base(), '--deploymentName', 'cli-fails', '--json'], { env: { FLINK_DEPLOY_VVP_API_TOKEN: VVP_TOKEN } });
    assert.equal(r.code, 1, r.log);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.result, 'failed');
    assert.equal(doc.exitCode, 1);
    assert.match(doc.errors[0], /deployment `cli-fails` in namespace `default` did not reach RUNNING/);
    assert.match(doc.details.join('\n'), /Could not start the JobMaster/);
    assert.ok(doc.steps.some((s) => s.outcome === 'failed'), JSON.stringify(doc.steps));
    assert.match(r.stderr, /Could not start the JobMaster/);
    assert.match(lastLine(r.stderr), /^error: deployment `cli-fails`|^flink-deploy failed \(exit code 1\)$/);
  });

  test('SIGINT stops the run as under the agent: exit 130, cancelled, no rollback', async () => {
    vvp.nextJobs({ startMs: 30000 });
    const writes = vvp.writes().length;
    const t0 = Date.now();
    const r = await cli([...base(), '--deploymentName', 'cli-cancel', '--rollbackOnFailure'], {
      env: { FLINK_DEPLOY_VVP_API_TOKEN: VVP_TOKEN },
      // Once the deployment is created and the run waits for the job.
      cancelWhen: () => vvp.writes().length > writes,
    });
    assert.ok(r.cancelled, r.log);
    assert.equal(r.code, 130, r.log);
    assert.ok(Date.now() - t0 < 20000, 'stopped at once, not after the 30 s start');
    assert.equal(vvp.deployment('default', 'cli-cancel').spec.state, 'RUNNING', 'the change was made');
    assert.match(r.stdout, /^error: cancelled while (apply|reach RUNNING) \(deployment `cli-cancel` in namespace `default`\): the platform may still be carrying out the last change/m);
    assert.equal(lastLine(r.stdout), 'flink-deploy cancelled (exit code 130)');
    assert.doesNotMatch(r.log, /rolling back|rollback:/i);
  });
});

describe('colour', () => {
  // A run that fails on bad input at once: an `error:` prefix to paint.
  const bad = ['--target', 'flink', '--jobName', 'j'];
  test('only on a terminal, never with NO_COLOR or when not a terminal; --color decides', async () => {
    const piped = await cli(bad);
    assert.equal(piped.code, 2);
    assert.match(piped.stdout, /^error: /m);
    assert.ok(!piped.log.includes('\x1b['), 'not a terminal: no colour');
    const forced = await cli(['--color', 'always', ...bad]);
    assert.match(forced.stdout, /\x1b\[31merror\x1b\[0m: /);
    const tty = await cli(bad, { pty: true });
    assert.match(tty.stdout, /\x1b\[31merror\x1b\[0m: /, `on a terminal: ${JSON.stringify(tty.stdout)}`);
    const noColor = await cli(bad, { pty: true, env: { NO_COLOR: '1' } });
    assert.match(noColor.stdout, /^error: /m);
    assert.ok(!noColor.stdout.includes('\x1b['), JSON.stringify(noColor.stdout));
  });
});

describe('Azure sign-in from the AZURE_* variables', () => {
  let entra;
  let imds;
  let kv;
  let proxy;
  let vvp;
  let assertionFor;
  const FEDERATED = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:jobs:deployer' })).toString('base64url')}.c2ln`;
  const makeCert = (name) => {
    const dir = scratch('fd-cli-cert-');
    const key = path.join(dir, 'key.pem');
    const crt = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
    const pem = path.join(dir, 'both.pem');
    fs.writeFileSync(pem, fs.readFileSync(crt, 'utf8') + fs.readFileSync(key, 'utf8'));
    return { certPem: fs.readFileSync(crt, 'utf8'), keyPem: fs.readFileSync(key, 'utf8'), file: pem };
  };
  let cert;

  before(async () => {
    cert = makeCert('flink-deploy cli app');
    const clients = {};
    entra = await startEntra({ clients });
    const certOk = verifyCertificateAssertion({ certPem: cert.certPem, clientId: CLIENT, audience: `${entra.url}${TENANT}/oauth2/v2.0/token` });
    assertionFor = (a) => a === FEDERATED || certOk(a);
    clients[CLIENT] = { tenant: TENANT, secret: SECRET, assertion: (a) => assertionFor(a) };
    imds = await startImds({ identities: [MSI_CLIENT], systemAssigned: false });
    kv = await startKeyVault({
      validToken: (t, scope) => entra.valid(t, scope) || imds.valid(t, scope),
      vaults: { kv1: { secrets: { 'vvp-token': { value: VVP_TOKEN } } } },
    });
    proxy = await startProxy({ routes: { '*.vault.azure.net:443': kv.port } });
    vvp = await startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }] });
  });
  after(async () => { await Promise.all([entra?.close(), imds?.close(), kv?.close(), proxy?.close(), vvp?.close()]); });

  /** A validate whose API token comes from Key Vault: it can only plan if the vault was read. */
  const validate = (env) => cli([
    '--action', 'validate', '--vvpUrl', vvp.url, '--deploymentName', 'cli-kv', '--deploymentTargetName', 'vvp-jobs', '--jarUri', JAR,
    '--keyVaultName', 'kv1', '--vvpApiTokenSecret', 'vvp-token',
  ], {
    env: {
      SSL_CERT_FILE: makeTestCa().caFile, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1,localhost',
      AZURE_AUTHORITY_HOST: entra.url, ...env,
    },
  });
  const planned = (r) => assert.match(r.stdout, /create \(POST\) deployment `cli-kv` in namespace `default`/, r.log);

  test('client secret: Key Vault is read with the token Entra issued; a wrong secret gets Entra\'s code', async () => {
    const r = await validate({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: SECRET });
    assert.equal(r.code, 0, r.log);
    planned(r);
    assert.ok(entra.state.requests.some((q) => q.form.client_id === CLIENT && q.form.grant_type === 'client_credentials' && q.form.client_secret));
    assert.deepEqual(vvp.writes(), [], 'validate writes nothing');
    noSecrets(r, [SECRET, VVP_TOKEN, ...entra.state.tokens.map((t) => t.token)]);

    const bad = await validate({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'wrong-secret-y' });
    assert.equal(bad.code, 1, bad.log);
    assert.match(bad.stdout, /^error: sign-in with .*AZURE_\* environment.* \(service principal with a client secret\) failed: AADSTS7000215/m);
    noSecrets(bad, ['wrong-secret-y']);
  });

  test('certificate file, federated token file and managed identity; a missing sign-in is bad input naming the variables', async () => {
    const before = entra.state.requests.length;
    const c = await validate({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: cert.file });
    assert.equal(c.code, 0, c.log);
    planned(c);
    const keyLines = cert.keyPem.split('\n').filter((l) => l.length > 40);
    noSecrets(c, [VVP_TOKEN, ...keyLines]);

    const tokenFile = path.join(scratch('fd-cli-wi-'), 'azure-identity-token');
    fs.writeFileSync(tokenFile, FEDERATED);
    const w = await validate({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_FEDERATED_TOKEN_FILE: tokenFile });
    assert.equal(w.code, 0, w.log);
    planned(w);
    const digest = crypto.createHash('sha256').update(FEDERATED).digest('hex').slice(0, 16);
    const assertions = entra.state.requests.slice(before).map((q) => q.form.client_assertion);
    assert.ok(assertions.includes(digest), 'the token file was the client assertion');
    noSecrets(w, [FEDERATED]);

    const m = await validate({ IDENTITY_ENDPOINT: imds.endpoint, IDENTITY_HEADER: imds.header, AZURE_CLIENT_ID: MSI_CLIENT });
    assert.equal(m.code, 0, m.log);
    planned(m);
    assert.equal(imds.state.requests[imds.state.requests.length - 1].query.client_id, MSI_CLIENT);

    const none = await validate({});
    assert.equal(none.code, 2, none.log);
    assert.match(none.stdout, /^error: `keyVaultName` \(reading Key Vault\) needs an Azure sign-in, and no AZURE_\* environment variable names one \(hint: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET/m);
  });
});

describe('Apache Flink session cluster from a shell', () => {
  let dir;
  let url;
  let jar;
  before(() => {
    dir = scratch('fd-cli-flink-');
    jar = f.buildJob(path.join(dir, 'job.jar'));
    url = f.startCluster(path.join(dir, 'cluster'), 4);
  });
  after(async () => {
    if (!dir) return;
    await f.cancelAll(url, 'cli-wordcount').catch(() => {});
    f.stopCluster(path.join(dir, 'cluster'));
  });

  test('a deploy: the job runs on the cluster, the JSON names it; a release that fails on start exits 1', async () => {
    const jobName = 'cli-wordcount';
    const args = (version) => ['--target', 'flink', '--flinkUrl', url, '--jobName', jobName, '--artifactPath', jar,
      '--mainArgs', `--job-name ${jobName} --version ${version}`, '--settleSeconds', '2', '--timeoutSeconds', '120', '--json'];
    const r = await cli(args('v1'));
    assert.equal(r.code, 0, r.log);
    const doc = JSON.parse(r.stdout);
    const running = (await f.jobsNamed(url, jobName)).filter((j) => j.state === 'RUNNING');
    assert.equal(running.length, 1, JSON.stringify(running));
    assert.equal(doc.outputs.jobId, running[0].jid);
    assert.equal(doc.outputs.state, 'RUNNING');
    assert.ok(doc.steps.some((s) => s.name === 'wait for RUNNING' && s.outcome === 'passed'), JSON.stringify(doc.steps));
    assert.match(r.stderr, /^==> upload jar$/m, "the upload is a step of its own");

    const v3 = await cli(args('v3'));
    assert.equal(v3.code, 1, v3.log);
    const failed = JSON.parse(v3.stdout);
    assert.equal(failed.result, 'failed');
    assert.match(failed.errors[0], /job `cli-wordcount` .*did not come up/);
    assert.match([...failed.errors, ...failed.details].join('\n'), /refuses to open/);
    assert.match(v3.stderr, /^error: /m);
  });
});

test('the release archive holds the binary and the README\'s command-line section, and runs', () => {
  const version = require(path.join(repo, 'vss-extension.json')).version;
  const name = `flink-deploy-${version}-linux-x64`;
  const archive = path.join(repo, 'dist', `${name}.tar.gz`);
  assert.ok(fs.existsSync(archive), `${archive} (scripts/package makes it)`);
  const sum = fs.readFileSync(`${archive}.sha256`, 'utf8').split(/\s+/)[0];
  assert.equal(sum, crypto.createHash('sha256').update(fs.readFileSync(archive)).digest('hex'));
  const out = scratch('fd-cli-archive-');
  execFileSync('tar', ['-xzf', archive, '-C', out]);
  const files = fs.readdirSync(path.join(out, name)).sort();
  const expected = ['README.md', 'flink-deploy', ...(fs.existsSync(path.join(repo, 'LICENSE')) ? ['LICENSE'] : [])].sort();
  assert.deepEqual(files, expected);
  const exe = path.join(out, name, 'flink-deploy');
  assert.ok(fs.statSync(exe).mode & 0o111, 'executable');
  assert.deepEqual(fs.readFileSync(exe), fs.readFileSync(BIN), 'the task\'s own binary');
  const readme = fs.readFileSync(path.join(out, name, 'README.md'), 'utf8');
  assert.match(readme, /^## Command line/m);
  assert.match(readme, /BashOperator/);
  assert.doesNotMatch(readme, /^## Targets/m, 'only the command-line section');
  assert.equal(execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim(), `flink-deploy ${version}`);
  const help = execFileSync(exe, ['--help'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.match(help, /--deploymentName VALUE {2}\(FLINK_DEPLOY_DEPLOYMENT_NAME\)/);
});
