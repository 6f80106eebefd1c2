// Key Vault secrets through the packaged task and the agent emulator: the fake vault stands
// behind a CONNECT proxy under its real host name (kv1.vault.azure.net), reached with the
// agent's proxy and CA settings; sign-in goes to the fake Entra ID. Values are checked through
// Microsoft's own parser of logging commands (task-lib), which the emulator uses.
//
// Exporting happens in the apply phase, before the target's apply: each run deploys to the
// Ververica Platform fake (tests/fakes/vvp.js), reached through the same proxy (plain-http
// forwarding). The fake accepts one API token, the value of the vault's `vvp-token`: a run given
// vvpApiTokenSecret can only authenticate with what it read from the vault.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { run, assertNoSecrets } = require('./helpers');
const { startEntra } = require('../fakes/entra');
const { startKeyVault } = require('../fakes/keyvault');
const { startProxy } = require('../fakes/proxy');
const { startVvp } = require('../fakes/vvp');
const { CONN, CLIENT, TENANT, azureRm, secretVariables, steps } = require('./azure-support');

const CLIENT_SECRET = 'spn-secret~Kv.1';
const VVP_TOKEN = 'vvp-token-value-9';
const JAR = 'wasbs://jars@kvtest.blob.core.windows.net/artifacts/namespaces/default/job.jar';
const now = Math.floor(Date.now() / 1000);
const tricky = {
  'db-password': 'p%AZP25w;d]x%3B%0A=1',
  'api-key': 'a;b]c%41%%',
  plain: 'plain-value-7',
  cert: 'line one\nline two\r\nline three',
};
const many = Object.fromEntries(Array.from({ length: 27 }, (_, i) => [`bulk-${String(i).padStart(2, '0')}`, `bulk-value-${i}-${'x'.repeat(i)}`]));

let entra;
let kv;
let proxy;
let vvp;

test.before(async () => {
  entra = await startEntra({ clients: { [CLIENT]: { secret: CLIENT_SECRET, tenant: TENANT } } });
  kv = await startKeyVault({
    validToken: (t, scope) => entra.valid(t, scope),
    vaults: {
      kv1: {
        secrets: {
          ...Object.fromEntries(Object.entries(tricky).map(([k, v]) => [k, { value: v }])),
          'vvp-token': { value: VVP_TOKEN },
          disabled: { value: 'disabled-value', enabled: false },
          expired: { value: 'expired-value', exp: now - 3600 },
          future: { value: 'future-value', nbf: now + 86400 },
        },
      },
      kvtokens: {
        secrets: {
          // As `az keyvault secret set --file` stores it: with the file's line break.
          'vvp-token-from-file': { value: `${VVP_TOKEN}\n` },
          'vvp-token-with-scheme': { value: `Bearer ${VVP_TOKEN}` },
        },
      },
      kvbulk: { secrets: Object.fromEntries(Object.entries(many).map(([k, v]) => [k, { value: v }])) },
      kvrbac: { secrets: { a: { value: 'rbac-a' } }, deny: { model: 'rbac', ops: ['get', 'list'] } },
      kvpolicy: { secrets: { a: { value: 'policy-a' } }, deny: { model: 'accessPolicy', ops: ['list'] } },
      kvfirewall: { secrets: { a: { value: 'fw-a' } }, deny: { model: 'firewall', ops: ['get', 'list'] } },
      kvslow: { secrets: { a: { value: 'slow-a' } }, throttle: { count: 2, retryAfter: 1 } },
    },
  });
  proxy = await startProxy({ routes: { '*.vault.azure.net:443': kv.port } });
  vvp = await startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 100, stopMs: 50, savepointMs: 50 } });
});

test.after(async () => {
  await Promise.all([entra?.close(), kv?.close(), proxy?.close(), vvp?.close()]);
});

/** No request since the fake's log had `from` entries could change anything. */
const noWrites = (from) => assert.deepEqual(vvp.log.slice(from).filter((e) => e.method !== 'GET' && e.method !== 'HEAD').map((e) => `${e.method} ${e.path}`), [], 'no write reached Ververica Platform');

/** Variables a run set for the job, leaving out the task's own output variables (deploymentId, ...). */
const jobVariables = (r) => r.command('task.setvariable').filter((c) => String(c.properties.isoutput).toLowerCase() !== 'true');

const allValues = () => [CLIENT_SECRET, ...Object.values(tricky), ...tricky.cert.split(/\r?\n/), VVP_TOKEN, ...Object.values(many), ...entra.state.tokens.map((t) => t.token)];

function runKv({ inputs = {}, variables = {}, env = {}, data = {} } = {}) {
  // The token comes from a secret variable unless the run names a vault secret for it.
  const token = 'vvpApiTokenSecret' in inputs ? {} : { vvpApiToken: '$(vvpApiToken)' };
  return run({
    inputs: {
      target: 'ververica',
      action: 'deploy',
      vvpUrl: vvp.url,
      ...token,
      deploymentName: 'job',
      deploymentTargetName: 'vvp-jobs',
      jarUri: JAR,
      settleSeconds: '0',
      timeoutSeconds: '30',
      azureSubscription: CONN,
      keyVaultName: 'kv1',
      secretsFilter: '*',
      ...inputs,
    },
    secrets: { vvpApiToken: VVP_TOKEN },
    endpoints: azureRm({ params: { serviceprincipalkey: CLIENT_SECRET }, authority: entra.url, data }),
    variables: {
      'Agent.CAInfo': kv.caFile,
      'Agent.ProxyUrl': proxy.url,
      ...variables,
    },
    env,
  });
}

test('all secrets arrive exactly as secret variables, hyphenated names also with underscores', async () => {
  const before = kv.state.requests.length;
  const r = await runKv({ variables: { SYSTEM_UNSAFEALLOWMULTILINESECRET: 'true' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'SucceededWithIssues', 'skipped secrets are warnings');
  const vars = secretVariables(r);
  for (const [name, value] of Object.entries(tricky)) {
    assert.equal(vars[name], value, `${name} through Microsoft's parser`);
  }
  assert.equal(vars.db_password, tricky['db-password']);
  assert.equal(vars.api_key, tricky['api-key']);
  assert.equal(vars['vvp-token'], VVP_TOKEN);
  for (const name of ['disabled', 'expired', 'future']) assert.ok(!(name in vars), `${name} must not be exported`);
  const warnings = r.issues.filter((i) => i.type === 'warning').map((i) => i.message).join('\n');
  assert.match(warnings, /`disabled` was skipped: it is disabled/);
  assert.match(warnings, /`expired` was skipped: it expired at/);
  assert.match(warnings, /`future` was skipped: it is not valid before/);
  // Every value (each line of a multi-line one) is masked before the plan is printed.
  const lines = r.stdout.split('\n');
  const planAt = lines.findIndex((l) => l.startsWith('##[group]Plan'));
  assert.ok(planAt > 0);
  const maskLines = lines.flatMap((l, i) => (l.startsWith('##vso[task.setsecret]') ? [i] : []));
  const masks = r.command('task.setsecret').map((c) => c.message);
  assert.equal(maskLines.length, masks.length);
  for (const v of Object.values(tricky)) {
    for (const part of v.split(/\r?\n/)) {
      const k = masks.indexOf(part);
      assert.ok(k >= 0, `setsecret for ${JSON.stringify(part)}`);
      assert.ok(maskLines[k] < planAt, `${JSON.stringify(part)} masked before the plan`);
    }
  }
  // The disabled secret was never fetched; everything went through the proxy.
  const reqs = kv.state.requests.slice(before);
  assert.ok(!reqs.some((q) => q.path.startsWith('/secrets/disabled')), 'a disabled secret is not read');
  assert.ok(proxy.state.connects.includes('kv1.vault.azure.net:443'), JSON.stringify(proxy.state.connects));
  assert.deepEqual(steps(r), { plan: 'passed', 'export secrets': 'passed', 'render spec': 'passed', apply: 'passed', 'reach RUNNING': 'passed' });
  assert.equal(vvp.deployment('default', 'job').status.state, 'RUNNING');
  assertNoSecrets(assert, r, allValues());
});

test('list pages are followed and secrets are fetched in parallel', async () => {
  const before = kv.state.requests.length;
  const r = await runKv({ inputs: { keyVaultName: 'kvbulk' } });
  assert.equal(r.exitCode, 0, r.log);
  const vars = secretVariables(r);
  for (const [k, v] of Object.entries(many)) assert.equal(vars[k], v);
  const reqs = kv.state.requests.slice(before).filter((q) => q.bearer);
  const lists = reqs.filter((q) => q.path === '/secrets' || q.path === '/secrets/');
  assert.equal(lists.length, 2, 'two pages of 25');
  assertNoSecrets(assert, r, allValues());
});

test('a multi-line secret is masked but not exported unless the pipeline allows it', async () => {
  const r = await runKv({ inputs: { secretsFilter: 'cert,plain' } });
  assert.equal(r.exitCode, 0, r.log);
  const vars = secretVariables(r);
  assert.equal(vars.plain, 'plain-value-7');
  assert.ok(!('cert' in vars));
  assert.match(r.issues.map((i) => i.message).join('\n'), /`cert` has line breaks .*SYSTEM_UNSAFEALLOWMULTILINESECRET/);
  for (const part of tricky.cert.split(/\r?\n/)) {
    assert.ok(r.command('task.setsecret').some((c) => c.message === part), `line ${part} masked`);
  }
  assertNoSecrets(assert, r, allValues());
});

test('a secret the task uses is read but never exported; validate exports nothing', async () => {
  const seen = (from) => vvp.log.slice(from);
  const at = vvp.log.length;
  const r = await runKv({ inputs: { action: 'validate', deploymentName: 'job-kv-token', vvpApiTokenSecret: 'vvp-token' } });
  assert.equal(r.exitCode, 0, r.log);
  // The only token this run has is the vault's, and the fake accepts no other.
  assert.ok(seen(at).length > 0 && seen(at).every((e) => e.auth === 'ok'), JSON.stringify(seen(at)));
  noWrites(at);
  assert.equal(r.command('task.setvariable').length, 0, 'validate sets no variables');
  assert.match(r.stdout, /used by the task: vvp-token \(vvpApiTokenSecret\)/);
  assert.ok(r.command('task.setsecret').some((c) => c.message === 'vvp-token-value-9'), 'masked');
  const at2 = vvp.log.length;
  const d = await runKv({ inputs: { deploymentName: 'job-kv-token', vvpApiTokenSecret: 'vvp-token' } });
  assert.equal(d.exitCode, 0, d.log);
  assert.ok(seen(at2).every((e) => e.auth === 'ok'), JSON.stringify(seen(at2)));
  assert.deepEqual(vvp.writes().slice(vvp.writes().length - 1).map((e) => `${e.method} ${e.path} ${e.status}`), ['POST /api/v1/namespaces/default/deployments 201']);
  assert.equal(vvp.deployment('default', 'job-kv-token').status.state, 'RUNNING');
  const vars = secretVariables(d);
  assert.ok(!('vvp-token' in vars) && !('vvp_token' in vars), 'not exported under *');
  assert.equal(vars.plain, 'plain-value-7');
  assertNoSecrets(assert, r, allValues());
  assertNoSecrets(assert, d, allValues());
});

test('a token stored with a line break is used without it; one that cannot be a token is refused before any write', async () => {
  const at = vvp.log.length;
  const ok = await runKv({ inputs: { keyVaultName: 'kvtokens', deploymentName: 'job-kv-token-nl', vvpApiTokenSecret: 'vvp-token-from-file', secretsFilter: '' } });
  assert.equal(ok.exitCode, 0, ok.log);
  assert.ok(vvp.log.slice(at).every((e) => e.auth === 'ok'), 'every request carried the trimmed token');
  assert.equal(vvp.deployment('default', 'job-kv-token-nl').status.state, 'RUNNING');

  const from = vvp.log.length;
  const bad = await runKv({ inputs: { keyVaultName: 'kvtokens', deploymentName: 'job-kv-token-q', vvpApiTokenSecret: 'vvp-token-with-scheme', secretsFilter: '' } });
  assert.equal(bad.exitCode, 2, bad.log);
  assert.equal(bad.errors.length, 1, bad.log);
  assert.match(bad.errors[0].message, /input `vvpApiTokenSecret`: Key Vault secret `vvp-token-with-scheme` in vault `kvtokens` contains spaces, control or non-ASCII characters/);
  assert.deepEqual(vvp.log.slice(from), [], 'Ververica Platform was not called');
  assertNoSecrets(assert, ok, allValues());
  assertNoSecrets(assert, bad, allValues());
});

test('exportSecrets=false reads and masks but sets no variable', async () => {
  const r = await runKv({ inputs: { exportSecrets: 'false', secretsFilter: 'plain' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(jobVariables(r).length, 0);
  assert.ok(r.command('task.setsecret').some((c) => c.message === 'plain-value-7'));
  assert.match(r.stdout, /not exported \(exportSecrets is false\)/);
});

test('a missing secret fails the plan, naming it, the vault and the input; nothing is exported', async () => {
  const at = vvp.log.length;
  const r = await runKv({ inputs: { secretsFilter: 'plain,nope' } });
  noWrites(at);
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  assert.match(r.errors[0].message, /Key Vault `kv1` has no secret `nope` \(named by input `secretsFilter`\)/);
  assert.match(r.errors[0].message, /SecretNotFound/);
  assert.match(r.errors[0].message, /request id [0-9a-f-]{36}/);
  assert.equal(r.command('task.setvariable').length, 0);
  assertNoSecrets(assert, r, allValues());
});

test('a disabled secret the task needs is an error, not a warning', async () => {
  const at = vvp.log.length;
  const r = await runKv({ inputs: { secretsFilter: '', vvpApiTokenSecret: 'disabled' } });
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(vvp.log.length, at, 'no request reached Ververica Platform');
  assert.match(r.errors[0].message, /`disabled` \(named by input `vvpApiTokenSecret`\) cannot be used: it is disabled/);
});

test('403 on an RBAC vault names the role and the vault scope', async () => {
  const r = await runKv({ inputs: { keyVaultName: 'kvrbac' } });
  assert.equal(r.exitCode, 1, r.log);
  const m = r.errors[0].message;
  assert.match(m, /Key Vault `kvrbac` refused to list the secrets/);
  assert.match(m, /Forbidden\/ForbiddenByRbac/);
  assert.match(m, /uses Azure role-based access control/);
  assert.match(m, /Key Vault Secrets User.*\/providers\/microsoft\.keyvault\/vaults\/kvrbac\)/);
  assert.equal(r.command('task.setvariable').length, 0);
});

test('403 on an access-policy vault names the missing permission', async () => {
  const r = await runKv({ inputs: { keyVaultName: 'kvpolicy' } });
  assert.equal(r.exitCode, 1, r.log);
  const m = r.errors[0].message;
  assert.match(m, /uses access policies/);
  assert.match(m, /secret permissions `List` and `Get`/);
  assert.match(m, /vault `kvpolicy`/);
  // A named secret needs only Get, which this vault grants.
  const ok = await runKv({ inputs: { keyVaultName: 'kvpolicy', secretsFilter: 'a' } });
  assert.equal(ok.exitCode, 0, ok.log);
  assert.equal(secretVariables(ok).a, 'policy-a');
});

test('403 from the vault firewall says so', async () => {
  const r = await runKv({ inputs: { keyVaultName: 'kvfirewall', secretsFilter: 'a' } });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, /firewall refused the agent's network address/);
});

test('429 is retried after Retry-After', async () => {
  const before = kv.state.requests.length;
  const r = await runKv({ inputs: { keyVaultName: 'kvslow', secretsFilter: 'a' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(secretVariables(r).a, 'slow-a');
  const reqs = kv.state.requests.slice(before).filter((q) => q.host.startsWith('kvslow.'));
  const throttled = reqs.filter((q) => q.status === 429);
  assert.equal(throttled.length, 2);
  const after = reqs[reqs.indexOf(throttled[0]) + 1];
  assert.ok(after.at - throttled[0].at >= 900, `waited ${after.at - throttled[0].at} ms`);
});

test('HTTPS_PROXY is honoured when the agent has no proxy setting', async () => {
  const before = proxy.state.connects.length;
  const r = await runKv({ inputs: { secretsFilter: 'plain' }, variables: { 'Agent.ProxyUrl': '' }, env: { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
  assert.equal(r.exitCode, 0, r.log);
  const connects = proxy.state.connects.slice(before);
  assert.ok(connects.includes('kv1.vault.azure.net:443'), JSON.stringify(connects));
  assert.ok(!connects.some((c) => c.startsWith('127.0.0.1')), 'NO_PROXY keeps sign-in direct');
});

test('an authenticated proxy gets Agent.ProxyUsername and the secret Agent.ProxyPassword', async () => {
  const password = 'proxy-pw-5;]%x';
  const locked = await startProxy({ routes: { '*.vault.azure.net:443': kv.port }, auth: { user: 'svc-build', password } });
  try {
    const variables = { 'Agent.ProxyUrl': locked.url, 'Agent.ProxyUsername': 'svc-build' };
    const denied = await runKv({ inputs: { secretsFilter: 'plain' }, variables });
    assert.equal(denied.exitCode, 1, denied.log);
    assert.match(denied.errors[0].message, /through proxy http:\/\/127\.0\.0\.1:\d+\/ \(tunnel error: proxy authorization required\).*Agent\.ProxyUsername, Agent\.ProxyPassword/);
    assert.ok(locked.state.denied.length > 0, 'without the password the proxy says 407');

    const before = locked.state.connects.length;
    const r = await run({
      inputs: { target: 'ververica', action: 'validate', deploymentName: 'job', azureSubscription: CONN, keyVaultName: 'kv1', secretsFilter: 'plain' },
      secrets: { 'Agent.ProxyPassword': password },
      endpoints: azureRm({ params: { serviceprincipalkey: CLIENT_SECRET }, authority: entra.url }),
      variables: { 'Agent.CAInfo': kv.caFile, ...variables, 'Agent.ProxyBypassList': '["127\\\\.0\\\\.0\\\\.1", "[broken"]' },
    });
    assert.equal(r.exitCode, 0, r.log);
    assert.ok(locked.state.connects.slice(before).includes('kv1.vault.azure.net:443'), 'the vault was reached through the proxy');
    assert.equal(r.result, 'SucceededWithIssues', 'the unusable bypass entry is a warning');
    assert.match(r.issues.find((i) => i.type === 'warning').message, /Agent\.ProxyBypassList entry `\[broken` is not a regular expression and is ignored/);
    assertNoSecrets(assert, r, [password, ...allValues()]);
  } finally {
    await locked.close();
  }
});

test('an unreachable vault names the host and the proxy', async () => {
  const r = await runKv({ inputs: { secretsFilter: 'a' }, data: { AzureKeyVaultDnsSuffix: 'vault.example.invalid' }, variables: { 'Agent.ProxyBypassList': '["127\\\\.0\\\\.0\\\\.1"]' } });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, /Key Vault `kv1` cannot be reached: .*kv1\.vault\.example\.invalid.* through proxy http:\/\/127\.0\.0\.1:\d+/);
});

test('503s, a connection closed before and during the answer, and truncated JSON are ridden out', async () => {
  const before = kv.state.requests.length;
  const secret = /^\/secrets\/plain\/?$/;
  kv.fault({ vault: 'kv1', path: secret, status: 503, times: 1 });
  kv.fault({ vault: 'kv1', path: secret, reset: true });
  kv.fault({ vault: 'kv1', path: secret, resetMidBody: true });
  kv.fault({ vault: 'kv1', path: secret, truncate: true });
  const r = await runKv({ inputs: { secretsFilter: 'plain' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(secretVariables(r).plain, tricky.plain);
  const reqs = kv.state.requests.slice(before).filter((q) => q.host === 'kv1.vault.azure.net' && q.bearer && secret.test(q.path));
  assert.deepEqual(reqs.map((q) => q.fault), [503, 'reset', 'reset mid-body', 'truncated', undefined]);
  assert.equal(kv.state.faults.length, 0);
  assertNoSecrets(assert, r, allValues());
});

test('a vault that keeps failing ends the run after bounded attempts, naming the vault; a re-run succeeds', async () => {
  const before = kv.state.requests.length;
  const from = vvp.log.length;
  kv.fault({ vault: 'kv1', path: /^\/secrets\/plain\/?$/, status: 500, times: 1000 });
  try {
    const r = await runKv({ inputs: { secretsFilter: 'plain' } });
    assert.equal(r.exitCode, 1, r.log);
    assert.equal(r.errors.length, 1, r.log);
    assert.match(r.errors[0].message, /Key Vault `kv1`, reading secret `plain` \(input `secretsFilter`\): InternalServerError: injected HTTP 500 \(HTTP 500, request id [0-9a-f-]{36}\)/);
    const tries = kv.state.requests.slice(before).filter((q) => q.fault === 500);
    assert.equal(tries.length, 5, 'the first attempt and four retries');
    assert.deepEqual(jobVariables(r), [], 'nothing exported');
    noWrites(from);
  } finally {
    kv.state.faults.length = 0;
  }
  const again = await runKv({ inputs: { secretsFilter: 'plain' } });
  assert.equal(again.exitCode, 0, again.log);
  assert.equal(secretVariables(again).plain, tricky.plain);
});

test('a vault slower than timeoutSeconds gives up within bounds, naming the host; nothing is exported or deployed', async () => {
  const from = vvp.log.length;
  kv.fault({ vault: 'kv1', path: /^\/secrets\/plain\/?$/, delayMs: 60_000, times: 1000 });
  try {
    const t0 = Date.now();
    const r = await runKv({ inputs: { secretsFilter: 'plain', timeoutSeconds: '2' } });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.exitCode, 1, r.log);
    assert.equal(r.errors.length, 1, r.log);
    assert.match(r.errors[0].message, /Key Vault `kv1` cannot be reached: .*no answer from kv1\.vault\.azure\.net through proxy http:\/\/127\.0\.0\.1:\d+\/?: the plan's limit \(timeoutSeconds: 2s\) is used up/);
    assert.ok(seconds < 30, `${seconds}s`);
    assert.deepEqual(jobVariables(r), []);
    noWrites(from);
  } finally {
    kv.state.faults.length = 0;
  }
});
