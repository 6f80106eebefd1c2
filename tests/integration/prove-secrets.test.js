// Secret hygiene across the targets: every secret slot holds a recognisable value, and after
// each scenario (success, failure, rollback, bad input) stdout, stderr, the JUnit file, the
// summary and every file under Agent.TempDirectory and the working directory are scanned for
// the values and their escaped forms. Also: the binary starts no child process, and a
// credential never goes over plain http to another machine unless allowInsecureHttp says so.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { repo, scratch, run } = require('./helpers');
const { startVvp } = require('../fakes/vvp');
const { startEntra } = require('../fakes/entra');
const { startKeyVault } = require('../fakes/keyvault');
const { startArmHdinsight } = require('../fakes/arm-hdinsight');
const { startProxy } = require('../fakes/proxy');

const VVP_TOKEN = 'SECRET-vvp-api-3f9a1c';
const CONN_TOKEN = 'SECRET-vvp-conn-7b2e44';
const FLINK_PASSWORD = 'SECRET-flink-pw-%;]x';
const FLINK_TOKEN = 'SECRET-flink-bearer-91d0';
const SAS = 'sv=2024-05-04&sig=SECRET%2Bsas%3D&se=2099';
const SPN_KEY = 'SECRET-spn-key~Qx7.vL2';
const JOB_TOKEN = 'SECRET-job-access-token-55aa';
// A secret variable the pipeline puts into ordinary inputs with $(dbPassword).
const DB_PASSWORD = 'SECRET-pipeline-db-pw-6c1e';
const KV_VALUES = { 'db-password': 'SECRET-kv-p%AZP25w;d]x', 'api-key': 'SECRET-kv-a;b]c%41', cert: 'SECRET-kv-line-one\nSECRET-kv-line-two' };
const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '4b9e2a43-5c1d-4f6e-8a7b-9c0d1e2f3a4b';
const CONN = 'b1a5f0c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c';
const VVP_CONN = '5e1c3a77-0d2b-4c8e-9f6a-1b2c3d4e5f60';
const JARS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/jars';

/** Every form a value could take on its way out: as is, URL-, JSON-, base64-, agent-escaped. */
function forms(s) {
  const out = new Set([s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1), Buffer.from(s).toString('base64'),
    s.replace(/%/g, '%AZP25').replace(/;/g, '%3B').replace(/\]/g, '%5D').replace(/\r/g, '%0D').replace(/\n/g, '%0A')]);
  for (const line of s.split(/\r?\n/)) if (line.length >= 8) out.add(line);
  return [...out];
}

/** Every file a run could have left behind: the agent's temp directory and the working dir. */
function filesOf(r) {
  const files = [];
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else files.push(p);
    }
  };
  walk(r.tmp);
  walk(r.cwd);
  for (const c of r.command('results.publish')) files.push(c.properties.resultFiles);
  for (const c of r.command('task.uploadsummary')) files.push(c.message);
  return [...new Set(files)].filter((f) => f && fs.existsSync(f));
}

/**
 * No secret anywhere except the lines that hand it to the agent for masking. Returns how many
 * places were scanned so a test can check that the scan saw something.
 */
function assertClean(r, secrets) {
  const allowed = (line) => /##vso\[task\.setsecret\]/.test(line) || /##vso\[task\.setvariable [^\]]*issecret=true/.test(line);
  const texts = [['stdout', r.stdout], ['stderr', r.stderr], ...filesOf(r).map((f) => [f, fs.readFileSync(f, 'latin1')])];
  const all = secrets.flatMap(forms);
  for (const [where, text] of texts) {
    for (const line of text.split('\n')) {
      if (allowed(line)) continue;
      for (const s of all) assert.ok(!line.includes(s), `a secret (${s.slice(0, 12)}…) leaked into ${where}: ${line.slice(0, 200)}`);
    }
  }
  return texts.length;
}

/** The values the agent was told to mask. */
const masked = (r) => r.command('task.setsecret').map((c) => c.message);

let vvp; let entra; let kv; let arm; let proxy;

before(async () => {
  vvp = await startVvp({ token: VVP_TOKEN, roles: { [CONN_TOKEN]: 'editor' }, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 200, stopMs: 100, savepointMs: 100 } });
  entra = await startEntra({ clients: { [CLIENT]: { secret: SPN_KEY, tenant: TENANT } } });
  kv = await startKeyVault({ validToken: (t, scope) => entra.valid(t, scope), vaults: { kv1: { secrets: Object.fromEntries(Object.entries(KV_VALUES).map(([k, v]) => [k, { value: v }])) } } });
  arm = await startArmHdinsight({ entra, subscriptionId: SUB, jobs: [] });
  proxy = await startProxy({ routes: { '*.vault.azure.net:443': kv.port } });
});

after(async () => {
  await Promise.all([vvp, entra, kv, arm, proxy].filter(Boolean).map((f) => f.close()));
});

const entraTokens = () => entra.state.tokens.map((t) => t.token);
const ALL = () => [VVP_TOKEN, CONN_TOKEN, FLINK_PASSWORD, FLINK_TOKEN, SAS, SPN_KEY, JOB_TOKEN, DB_PASSWORD, ...Object.values(KV_VALUES), ...entraTokens()];

function azureRm() {
  return {
    [CONN]: {
      url: 'https://management.azure.com/', scheme: 'ServicePrincipal',
      parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, serviceprincipalkey: SPN_KEY, authenticationType: 'spnKey' },
      data: { subscriptionid: SUB, environment: 'AzureCloud', environmentAuthorityUrl: entra.url },
    },
  };
}

/** A run with every secret slot filled: secret variables, connections, the job token. */
function runAll(inputs, extra = {}) {
  return run({
    inputs,
    secrets: { vvpApiToken: VVP_TOKEN, flinkPassword: FLINK_PASSWORD, flinkToken: FLINK_TOKEN, sasToken: SAS, dbPassword: DB_PASSWORD },
    endpoints: { ...azureRm(), [VVP_CONN]: { url: vvp.url, scheme: 'Token', parameters: { apitoken: CONN_TOKEN } } },
    env: { AGENT_CAINFO: kv.caFile },
    accessToken: JOB_TOKEN,
    ...extra,
  });
}

const vvpInputs = (extra) => ({ target: 'ververica', vvpUrl: vvp.url, vvpApiToken: '$(vvpApiToken)', deploymentTargetName: 'vvp-jobs', settleSeconds: '0', timeoutSeconds: '20', ...extra });

describe('no secret reaches any output', { concurrency: 3 }, () => {
  test('ververica: success, failure with rollback, a service connection, bad input', async () => {
    const ok = await runAll(vvpInputs({ deploymentName: 'sec-ok', jarUri: `${JARS}/a.jar`, flinkConfiguration: 'x: 1' }));
    assert.equal(ok.exitCode, 0, ok.log);
    assert.ok(masked(ok).includes(VVP_TOKEN) && masked(ok).includes(JOB_TOKEN), 'the token and the job token are masked first');
    assert.ok(assertClean(ok, ALL()) >= 4);

    vvp.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: `bad v2 with ${VVP_TOKEN} in its config` } });
    const failed = await runAll(vvpInputs({ deploymentName: 'sec-ok', jarUri: `${JARS}/b.jar`, rollbackOnFailure: 'true' }));
    assert.equal(failed.exitCode, 1, failed.log);
    assert.match(failed.errors[0].message, /rolled back/);
    assert.match(failed.log, /bad v2 with \*\*\* in its config/, 'a platform message quoting the token is masked');
    assertClean(failed, ALL());

    const conn = await runAll({ target: 'ververica', vvpConnection: VVP_CONN, deploymentName: 'sec-conn', deploymentTargetName: 'vvp-jobs', jarUri: `${JARS}/c.jar`, settleSeconds: '0', timeoutSeconds: '20' });
    assert.equal(conn.exitCode, 0, conn.log);
    assert.ok(masked(conn).includes(CONN_TOKEN));
    assertClean(conn, ALL());

    const bad = await runAll(vvpInputs({ deploymentName: 'Bad Name', storageAccount: 'acct1', containerName: 'jars', storageSasToken: '$(sasToken)', jarUri: `${JARS}/a.jar` }));
    assert.equal(bad.exitCode, 2, bad.log);
    assert.ok(masked(bad).includes(SAS));
    assertClean(bad, ALL());
  });

  test('a secret variable put into ordinary inputs stays out of the spec diff, the summary and the JUnit file', async (t) => {
    // Its own platform: the other tests here script what the shared one's next jobs do.
    const own = await startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 200, stopMs: 100, savepointMs: 100 } });
    t.after(() => own.close());
    const inputs = vvpInputs({ vvpUrl: own.url, deploymentName: 'sec-var', jarUri: `${JARS}/a.jar`, mainArgs: '--db-password $(dbPassword)', flinkConfiguration: 'sink.password: $(dbPassword)' });
    const first = await runAll(inputs);
    assert.equal(first.exitCode, 0, first.log);
    // The platform got the real value: the task passes it on, it only keeps it out of its reports.
    const d = own.deployment('default', 'sec-var');
    assert.equal(d.spec.template.spec.flinkConfiguration['sink.password'], DB_PASSWORD);
    assert.match(d.spec.template.spec.artifact.mainArgs, new RegExp(DB_PASSWORD));
    assertClean(first, ALL());
    // A change next to it puts the secret-bearing lines into the diff context.
    const second = await runAll({ ...inputs, parallelism: '3' });
    assert.equal(second.exitCode, 0, second.log);
    assert.match(second.log, /sink\.password: \*\*\*/, 'the diff shows the line, masked');
    assertClean(second, ALL());
  });

  test('hdinsight: success and failure sign in with the service principal; Key Vault values', async () => {
    const base = { target: 'hdinsight', azureSubscription: CONN, hdiResourceGroup: 'hiloResourcegroup', hdiClusterPool: 'clusterpool1', hdiClusterName: 'cluster1', hdiArmEndpoint: arm.url, entryClass: 'com.example.Orders', settleSeconds: '0', timeoutSeconds: '30' };
    const ok = await runAll({ ...base, jobName: 'orders', jarUri: `${JARS}/orders.jar` }, { env: { AGENT_CAINFO: arm.caFile } });
    assert.equal(ok.exitCode, 0, ok.log);
    assert.ok(entraTokens().length > 0, 'a token was issued, and is in the scan');
    assert.ok(entraTokens().every((t) => masked(ok).includes(t)), 'each Entra token is masked');
    assertClean(ok, ALL());

    const failed = await runAll({ ...base, jobName: 'orders', jarUri: `${JARS}/orders.jar`, hdiClusterName: 'missing' }, { env: { AGENT_CAINFO: arm.caFile } });
    assert.equal(failed.exitCode, 1, failed.log);
    assertClean(failed, ALL());

    // Key Vault: every value read is masked, exported only as secret variables, never printed.
    // (validate exports nothing, so this is a real deploy to the Ververica Platform fake.)
    const vault = await runAll(vvpInputs({ deploymentName: 'kv-job', jarUri: 'https://repo.example/kv-job.jar', azureSubscription: CONN, keyVaultName: 'kv1', secretsFilter: '*' }), {
      variables: { 'Agent.ProxyUrl': proxy.url },
      env: { AGENT_CAINFO: kv.caFile },
    });
    assert.equal(vault.exitCode, 0, vault.log);
    for (const v of Object.values(KV_VALUES)) {
      for (const line of v.split('\n')) assert.ok(masked(vault).some((m) => m.includes(line)), `Key Vault value ${line.slice(0, 16)}… is masked`);
    }
    assert.ok(vault.command('task.setvariable').length >= 3, 'the values were exported');
    assertClean(vault, ALL());
  });

  test('flink: basic and bearer credentials in a failing run and a bad input', async () => {
    const gate = http.createServer((req, res) => { req.resume(); res.writeHead(500, { 'content-type': 'application/json' }); res.end(JSON.stringify({ errors: [`echo: ${req.headers.authorization}`] })); });
    await new Promise((r) => gate.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${gate.address().port}`;
    try {
      const cwd = scratch();
      fs.writeFileSync(path.join(cwd, 'job.jar'), 'PK');
      const base = { target: 'flink', flinkUrl: url, jobName: 'orders', artifactPath: 'job.jar', settleSeconds: '0', timeoutSeconds: '10' };
      const basic = await runAll({ ...base, flinkAuth: 'basic', flinkUsername: 'ci', flinkPassword: '$(flinkPassword)' }, { cwd });
      assert.equal(basic.exitCode, 1, basic.log);
      // The server echoes the Authorization header into its error, which the task quotes.
      const pair = Buffer.from(`ci:${FLINK_PASSWORD}`).toString('base64');
      assert.ok(masked(basic).some((m) => m.includes(pair)), 'the encoded pair is masked too');
      assertClean(basic, [...ALL(), pair]);

      const bearer = await runAll({ ...base, flinkAuth: 'bearer', flinkToken: '$(flinkToken)' }, { cwd });
      assert.equal(bearer.exitCode, 1, bearer.log);
      assertClean(bearer, ALL());

      const bad = await runAll({ ...base, flinkAuth: 'bearer', flinkToken: '$(flinkToken)', parallelism: 'many' }, { cwd });
      assert.equal(bad.exitCode, 2, bad.log);
      assertClean(bad, ALL());
    } finally {
      gate.close();
    }
  });
});

test('the binary starts no child process, so no INPUT_*, ENDPOINT_AUTH_* or SECRET_* can be inherited', () => {
  // The launcher must hand the environment to the binary (that is how the agent passes inputs);
  // the binary itself must not pass it on. Rust code can only start a process through
  // std::process or tokio::process, so their absence outside test modules settles it.
  const offenders = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      if (!p.endsWith('.rs')) continue;
      // Test modules sit at the end of each file, after `#[cfg(test)]`.
      const code = fs.readFileSync(p, 'utf8').split(/^#\[cfg\(test\)\]/m)[0];
      code.split('\n').forEach((line, i) => {
        if (/\b(std::process::Command|process::Command|tokio::process|Command::new|libc::(exec|fork|posix_spawn)|nix::unistd::(fork|exec))/.test(line)) {
          offenders.push(`${path.relative(repo, p)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
  };
  walk(path.join(repo, 'src'));
  assert.deepEqual(offenders, []);
  // The check sees what it looks for: a test module that uses Command exists and is skipped.
  assert.match(fs.readFileSync(path.join(repo, 'src/azure/cert.rs'), 'utf8'), /Command::new/);
  const cargo = fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8');
  assert.doesNotMatch(cargo.split('[dev-dependencies]')[0], /^(nix|duct|subprocess|xshell)\s*=/m, 'no process-spawning crate');
});

describe('a credential never travels over plain http to another machine', { concurrency: 1 }, () => {
  // A non-loopback address of this machine: what "another machine" looks like to the task.
  const lan = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  let server; let seen;
  before(async () => {
    seen = [];
    server = http.createServer((req, res) => { seen.push({ method: req.method, path: req.url, auth: req.headers.authorization }); req.resume(); res.writeHead(404); res.end('{}'); });
    await new Promise((r) => server.listen(0, '0.0.0.0', r));
  });
  after(() => server && server.close());

  const cases = () => {
    const u = `http://${lan.address}:${server.address().port}`;
    return [
      ['vvpUrl', { target: 'ververica', vvpUrl: u, vvpApiToken: '$(vvpApiToken)', deploymentName: 'job', action: 'listSavepoints' }],
      ['flinkUrl', { target: 'flink', flinkUrl: u, flinkAuth: 'bearer', flinkToken: '$(flinkToken)', jobName: 'job', action: 'listSavepoints' }],
      ['blobEndpoint', { target: 'ververica', action: 'validate', deploymentName: 'job', storageAccount: 'acct1', containerName: 'jars', blobEndpoint: u, storageSasToken: '$(sasToken)' }],
      ['hdiArmEndpoint', { target: 'hdinsight', azureSubscription: CONN, hdiResourceGroup: 'rg', hdiClusterPool: 'p', hdiClusterName: 'c', hdiArmEndpoint: u, jobName: 'job', action: 'listSavepoints' }],
    ];
  };

  test('refused for vvpUrl, flinkUrl, blobEndpoint and hdiArmEndpoint, naming the input', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    for (const [input, inputs] of cases()) {
      const r = await runAll(inputs);
      assert.equal(r.exitCode, 2, `${input}: ${r.log}`);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0].message, new RegExp(`\`${input}\`.*plain http.*unencrypted`));
      assert.match(r.errors[0].message, /allowInsecureHttp/);
    }
    assert.deepEqual(seen, [], 'nothing reached the server');
  });

  test('refused for a host name that is not loopback, before any connection is tried', async () => {
    const cases = [
      ['vvpUrl', { target: 'ververica', vvpUrl: 'http://vvp.example.com', vvpApiToken: '$(vvpApiToken)', deploymentName: 'job', action: 'listSavepoints' }],
      ['flinkUrl', { target: 'flink', flinkUrl: 'http://flink.example.com:8081', flinkAuth: 'bearer', flinkToken: '$(flinkToken)', jobName: 'job', action: 'listSavepoints' }],
      ['blobEndpoint', { target: 'ververica', action: 'validate', deploymentName: 'job', storageAccount: 'acct1', containerName: 'jars', blobEndpoint: 'http://acct1.blob.example.com', storageSasToken: '$(sasToken)' }],
      ['hdiArmEndpoint', { target: 'hdinsight', azureSubscription: CONN, hdiResourceGroup: 'rg', hdiClusterPool: 'p', hdiClusterName: 'c', hdiArmEndpoint: 'http://management.example.com', jobName: 'job', action: 'listSavepoints' }],
    ];
    for (const [input, inputs] of cases) {
      const r = await runAll(inputs);
      assert.equal(r.exitCode, 2, `${input}: ${r.log}`);
      assert.equal(r.errors.length, 1, r.log);
      assert.match(r.errors[0].message, new RegExp(`\`${input}\`.*plain http.*unencrypted`));
      assertClean(r, ALL());
    }
  });

  test('allowInsecureHttp is what lets it through', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    const [, vvpCase] = cases()[0];
    const r = await runAll({ ...vvpCase, allowInsecureHttp: 'true' });
    // The stand-in server knows no namespace; what matters is that the request went out.
    assert.notEqual(r.exitCode, 0, r.log);
    assert.ok(seen.length > 0, 'the request was sent');
    assert.ok(seen.every((q) => q.auth === `Bearer ${VVP_TOKEN}`));
    assertClean(r, ALL());
  });
});

test('the scan finds a secret in each escaped form and in a left-over file', () => {
  const tmp = scratch('fd-scan-');
  const cwdDir = scratch('fd-scan-cwd-');
  const fake = (stdout, file) => {
    if (file) fs.writeFileSync(path.join(cwdDir, 'left-over.txt'), file);
    return { stdout, stderr: '', tmp, cwd: cwdDir, command: () => [] };
  };
  for (const form of forms(FLINK_PASSWORD)) {
    assert.throws(() => assertClean(fake(`x ${form} y`), [FLINK_PASSWORD]), /leaked into stdout/);
  }
  assert.throws(() => assertClean(fake('', `key=${SAS}`), [SAS]), /leaked into .*left-over\.txt/);
  assert.throws(() => assertClean(fake(`${KV_VALUES.cert.split('\n')[1]}`), [KV_VALUES.cert]), /leaked/);
  assert.doesNotThrow(() => assertClean(fake(`##vso[task.setsecret]${SAS}`, 'clean'), [SAS]));
});
