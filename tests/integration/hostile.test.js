// Hostile input and hostile servers, through the packaged task, the agent emulator and the
// contract-held Ververica Platform fake (with its fault hooks: plain-text answers, endless bodies,
// redirects, stalls). Each class of defect has its example and variants:
// - secrets: a spec's `${NAME}` sees public pipeline variables only; a secret is masked in every
//   form the task prints it in (shell-quoted mainArgs, YAML-quoted spec and diff, JSON, XML,
//   Markdown); a message cut short never shows the start of a secret;
// - names become paths: a name is validated and encoded as one path segment;
// - hangs: a FIFO or a device as a file the task reads, an endless answer, a stalled server;
// - misleading results: redirected writes, a 401 from another host, base URLs with a query or an
//   API path, outputs written over inputs.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { execFileSync } = require('child_process');
const { scratch, run, artifacts, vvpDeployment } = require('./helpers');
const { startVvp } = require('../fakes/vvp');

const TOKEN = 'hostile-vvp-token-4b1d';
const JARS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/jars';

async function fake(extra = {}) {
  return startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 150, stopMs: 80, savepointMs: 80 }, ...extra });
}

/** A test body with a platform of its own (tests run concurrently; faults and logs are per fake). */
const own = (body) => async () => {
  const f = await fake();
  try {
    await body(f);
  } finally {
    await f.close();
  }
};

const vvpInputs = (f, extra = {}) => ({
  target: 'ververica', vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', deploymentTargetName: 'vvp-jobs',
  settleSeconds: '0', timeoutSeconds: '20', ...extra,
});

/** Every place a run could print to: stdout, stderr, and the files it left (JUnit, summary, temp files). */
function printed(r) {
  const texts = [['stdout', r.stdout], ['stderr', r.stderr]];
  for (const f of artifacts(r)) texts.push([f, fs.readFileSync(f, 'utf8')]);
  return texts;
}

/** The lines a run printed, without the ones whose purpose is to hand a secret to the agent. */
function printedLines(r) {
  const allowed = (line) => /##vso\[task\.setsecret\]/.test(line) || /##vso\[task\.setvariable [^\]]*issecret=true/.test(line);
  return printed(r).flatMap(([where, text]) => text.split('\n').filter((l) => !allowed(l)).map((line) => [where, line]));
}

/** The forms a value takes when the task renders it: shell-quoted, YAML-quoted, JSON, XML, Markdown, URL. */
function renderings(s) {
  const shell = s.replace(/'/g, "'\\''");
  const bases = [s, shell];
  const out = new Set();
  for (const b of bases) {
    for (const f of [b, b.replace(/'/g, "''"), JSON.stringify(b).slice(1, -1)]) {
      out.add(f);
      out.add(f.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;'));
      out.add(f.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
      out.add(f.replace(/\|/g, '\\|'));
    }
  }
  out.add(encodeURIComponent(s));
  return [...out];
}

/** No secret in any rendering, nor any 10-character run of one (the start a cut message would show). */
function assertMasked(r, secrets) {
  const lines = printedLines(r);
  assert.ok(lines.length > 2, 'the scan saw the run');
  for (const s of secrets) {
    const pieces = new Set(renderings(s));
    for (let i = 0; i + 10 <= s.length; i++) pieces.add(s.slice(i, i + 10));
    for (const [where, line] of lines) {
      for (const p of pieces) assert.ok(!line.includes(p), `a secret (${p}) is printed in ${where}: ${line.slice(0, 240)}`);
    }
  }
}

const masked = (r) => r.command('task.setsecret').map((c) => c.message);

describe('secrets', { concurrency: 3 }, () => {
  let vvp;
  before(async () => { vvp = await fake(); });
  after(() => vvp && vvp.close());

  test('a spec file\'s ${NAME} sees public pipeline variables only, never inputs, connections, secrets or the environment', async () => {
    const DB = 'hostile-db-password-7c2e';
    const cwd = scratch();
    const spec = (ref) => `kind: Deployment\nmetadata:\n  name: refs\n  labels:\n    leak: "${ref}"\nspec:\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: ${JARS}/a.jar\n`;
    const runWith = (ref, extra = {}) => {
      fs.writeFileSync(path.join(cwd, 'spec.yaml'), spec(ref));
      return run({
        cwd,
        inputs: { target: 'ververica', action: 'validate', specFile: 'spec.yaml', vvpApiToken: '$(vvpApiToken)' },
        secrets: { vvpApiToken: TOKEN, dbPass: DB },
        accessToken: 'hostile-job-access-token-91',
        ...extra,
      });
    };
    // Positive control: a public variable is substituted.
    const ok = await runWith('${Build.BuildId}');
    assert.equal(ok.exitCode, 0, ok.log);
    assert.match(ok.log, /leak: '1'|leak: "1"/);
    const refs = [
      ['${SECRET_DBPASS}', /has no value/],
      ['${secret.dbPass}', /has no value/],
      ['${dbPass}', /names a secret variable/],
      ['${INPUT_VVPAPITOKEN}', /has no value/],
      ['${ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN}', /has no value/],
      ['${SYSTEM_ACCESSTOKEN}', /has no value/],
      ['${System.AccessToken}', /has no value/],
      ['${PATH}', /has no value/],
    ];
    for (const [ref, why] of refs) {
      const r = await runWith(ref);
      assert.equal(r.exitCode, 2, `${ref}: ${r.log}`);
      assert.match(r.errors[0].message, /`specFile`/);
      assert.match(r.errors[0].message, why, ref);
      assertMasked(r, [DB, TOKEN, 'hostile-job-access-token-91']);
    }
    // A pipeline variable named like an input is listed as public, but the environment holds
    // the input (the token) under that name: still no value.
    const named = await runWith('${INPUT_VVPAPITOKEN}', { variables: { INPUT_VVPAPITOKEN: 'a public value' } });
    assert.equal(named.exitCode, 2, named.log);
    assert.match(named.errors[0].message, /placeholder `\$\{INPUT_VVPAPITOKEN\}` .* has no value/);
    assert.doesNotMatch(named.log, /leak: \*\*\*/);
  });

  test('a secret with quotes in mainArgs and flinkConfiguration is masked in the spec, the diff, the summary and the JUnit file', async () => {
    const QUOTE = "it's-s3cret-a91f";
    const AT = "@Sec9'ret-7d20e";
    const ESC = 'dq"bs\\&<tag>|pipe-55c1';
    const inputs = vvpInputs(vvp, {
      deploymentName: 'quoted', jarUri: `${JARS}/a.jar`,
      mainArgs: '--password "$(quote)" --at "$(at)"',
      flinkConfiguration: 'sink.password: $(at)\nsink.other: $(esc)',
    });
    const secrets = { vvpApiToken: TOKEN, quote: QUOTE, at: AT, esc: ESC };
    const first = await run({ inputs, secrets });
    assert.equal(first.exitCode, 0, first.log);
    // What the user wrote reaches the platform as written.
    const d = vvp.deployment('default', 'quoted');
    assert.equal(d.spec.template.spec.flinkConfiguration['sink.password'], AT);
    assert.equal(d.spec.template.spec.flinkConfiguration['sink.other'], ESC);
    assert.ok(d.spec.template.spec.artifact.mainArgs.includes("'it'\\''s-s3cret-a91f'"), d.spec.template.spec.artifact.mainArgs);
    // The rendered spec was printed, masked.
    assert.match(first.log, /sink\.password: .*\*\*\*/);
    assertMasked(first, [QUOTE, AT, ESC, TOKEN]);
    // The agent is told the quoted forms too, since it masks the whole log.
    assert.ok(masked(first).includes("it'\\''s-s3cret-a91f"), masked(first).join('\n'));
    assert.ok(masked(first).includes("@Sec9''ret-7d20e"), masked(first).join('\n'));

    // A change next to them puts their lines into the diff, in the log and the summary.
    const second = await run({ inputs: { ...inputs, parallelism: '2' }, secrets });
    assert.equal(second.exitCode, 0, second.log);
    assert.match(second.log, /sink\.password: .*\*\*\*/);
    assertMasked(second, [QUOTE, AT, ESC, TOKEN]);
  });

  test('a message cut short never shows the start of a secret: an input echoed in an error, a server echoing a token', async () => {
    const LONG = `hostile-long-secret-${'x1y2z3'.repeat(20)}`;
    const bad = await run({
      inputs: vvpInputs(vvp, { deploymentName: 'cut', jarUri: `${JARS}/a.jar`, parallelism: 'p=$(long)' }),
      secrets: { vvpApiToken: TOKEN, long: LONG },
    });
    assert.equal(bad.exitCode, 2, bad.log);
    assert.match(bad.errors[0].message, /`parallelism`: `p=\*\*\*… \(\d+ characters\)` is not a whole number/);
    assertMasked(bad, [LONG]);

    // A server that answers 401 in plain text and quotes the (long) token it was sent.
    const longToken = `hostile-token-${'q7w8e9'.repeat(20)}`;
    const own = await fake({ token: longToken });
    try {
      own.fault({ method: 'GET', path: '/deployments/', status: 401, text: `Bearer ${longToken} is not valid for realm vvp (expired)` });
      const r = await run({ inputs: vvpInputs(own, { deploymentName: 'echo', jarUri: `${JARS}/a.jar` }), secrets: { vvpApiToken: longToken } });
      assert.equal(r.exitCode, 2, r.log);
      assert.match(r.errors[0].message, /rejected the API token \(HTTP 401\).*Bearer \*\*\*…/);
      assertMasked(r, [longToken]);
    } finally {
      await own.close();
    }
  });
});

describe('names become paths', { concurrency: 2 }, () => {
  test('deploymentTargetName and sessionClusterName are checked before any request', own(async (vvp) => {
    for (const [input, value] of [
      ['deploymentTargetName', '../deployments/exist'],
      ['deploymentTargetName', 'vvp-jobs?x=1'],
      ['deploymentTargetName', 'vvp-jobs#frag'],
      ['sessionClusterName', '../sessionclusters/x'],
      ['sessionClusterName', '..'],
    ]) {
      const before = vvp.log.length;
      const inputs = vvpInputs(vvp, { deploymentName: 'named', jarUri: `${JARS}/a.jar`, [input]: value });
      if (input === 'sessionClusterName') delete inputs.deploymentTargetName;
      const r = await run({ inputs, secrets: { vvpApiToken: TOKEN } });
      assert.equal(r.exitCode, 2, `${value}: ${r.log}`);
      assert.match(r.errors[0].message, new RegExp(`\`${input}\`.*not a Ververica Platform resource name`));
      assert.equal(vvp.log.length, before, `${value}: no request was sent`);
    }
  }));

  test('a name from the spec file is checked the same way, and never reads another resource', own(async (vvp) => {
    // What a crafted name would reach: a deployment named `exist`.
    vvp.seed('default', vvpDeployment('exist', `${JARS}/exist.jar`));
    const cwd = scratch();
    for (const [field, value] of [['deploymentTargetName', '../deployments/exist'], ['deploymentTargetName', 'vvp-jobs?x=1'], ['sessionClusterName', 'a/../../deployments/exist']]) {
      fs.writeFileSync(path.join(cwd, 'spec.yaml'), `kind: Deployment\nmetadata:\n  name: from-spec\nspec:\n  ${field}: "${value}"\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: ${JARS}/a.jar\n`);
      const inputs = vvpInputs(vvp, { specFile: 'spec.yaml' });
      delete inputs.deploymentTargetName;
      const r = await run({ cwd, inputs, secrets: { vvpApiToken: TOKEN } });
      assert.equal(r.exitCode, 2, `${value}: ${r.log}`);
      assert.match(r.errors[0].message, new RegExp(`\`specFile\`: spec\\.${field} .*not a Ververica Platform resource name`));
      assert.ok(!vvp.log.some((e) => /deployments\/exist$/.test(e.path)), 'the crafted name read no other resource');
      assert.equal(vvp.writes().length, 0, 'nothing was written');
    }
  }));

  test('an id a Flink cluster answers with stays one path segment', async () => {
    // A stand-in JobManager that lists a job whose id is a path.
    const seen = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url);
      req.resume();
      const json = (status, v) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)); };
      const p = req.url.split('?')[0];
      if (p === '/config') return json(200, { 'flink-version': '1.20.0', 'refresh-interval': 3000 });
      if (p === '/overview') return json(200, { taskmanagers: 1, 'slots-total': 4, 'slots-available': 4, 'jobs-running': 1, 'flink-version': '1.20.0' });
      if (p === '/jobs/overview') return json(200, { jobs: [{ jid: '../jars/evil', name: 'orders', state: 'RUNNING', 'start-time': Date.now(), 'end-time': -1, tasks: {} }] });
      if (p === '/jars') return json(200, { address: 'http://x', files: [] });
      if (p === '/jobmanager/config') return json(200, []);
      return json(404, { errors: ['Not found'] });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const r = await run({ inputs: { target: 'flink', action: 'listSavepoints', flinkUrl: `http://127.0.0.1:${server.address().port}`, jobName: 'orders', timeoutSeconds: '10' } });
      assert.ok(seen.includes('/jobs/overview'), seen.join('\n'));
      assert.ok(!seen.some((u) => u.startsWith('/jars/evil')), `the id became a path: ${seen.join(', ')}`);
      assert.ok(seen.some((u) => u.startsWith('/jobs/..%2Fjars%2Fevil')), seen.join('\n'));
      assert.notEqual(r.result, undefined);
    } finally {
      server.close();
    }
  });
});

describe('hangs and resources', { concurrency: 3 }, () => {
  /** Ends a run that hangs (the defect) instead of the test: SIGINT, SIGTERM 1 s later, then a kill. */
  const guard = (seconds) => ({ when: (s) => s >= seconds, sigintMs: 1000, sigtermMs: 1000 });

  test('a FIFO, a device, a directory or a huge file as specFile is refused at once, with reports', async () => {
    const cwd = scratch();
    const fifo = path.join(cwd, 'spec.yaml');
    execFileSync('mkfifo', [fifo]);
    const big = path.join(cwd, 'big.yaml');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 64 * 1024 * 1024);
    fs.mkdirSync(path.join(cwd, 'dir.yaml'));
    for (const [file, says] of [
      ['spec.yaml', /is a named pipe \(FIFO\), not a regular file/],
      ['/dev/zero', /is a device, not a regular file/],
      // A folder is a set of spec files (one deployment each); this one holds none.
      ['dir.yaml', /the folder `.*dir\.yaml` holds no \.yml, \.yaml or \.json file/],
      ['big.yaml', /is 67108864 bytes, more than the 1 MiB the task reads/],
    ]) {
      const r = await run({ cwd, inputs: { target: 'ververica', action: 'validate', specFile: file }, cancel: guard(8) });
      assert.equal(r.cancelled, undefined, `${file}: the run hung and had to be cancelled`);
      assert.ok(r.seconds < 5, `${file}: ${r.seconds}s`);
      assert.equal(r.exitCode, 2, `${file}: ${r.log}`);
      assert.match(r.errors[0].message, /`specFile`/);
      assert.match(r.errors[0].message, says, file);
      // A folder is read while the inputs are read, as any bad input value is: refused before
      // a report exists. The files are opened by the plan, which reports.
      const reported = file === 'dir.yaml' ? 0 : 1;
      assert.equal(r.command('results.publish').length, reported, 'the JUnit file is published');
      assert.equal(r.command('task.uploadsummary').length, reported, 'the summary is uploaded');
    }
  });

  test('a FIFO as the agent\'s CA file (Agent.CAInfo) is refused at once', async () => {
    const vvp = await fake();
    try {
      const cwd = scratch();
      const fifo = path.join(cwd, 'ca.pem');
      execFileSync('mkfifo', [fifo]);
      const r = await run({ cwd, inputs: vvpInputs(vvp, { deploymentName: 'ca', jarUri: `${JARS}/a.jar` }), secrets: { vvpApiToken: TOKEN }, env: { AGENT_CAINFO: fifo }, cancel: guard(8) });
      assert.equal(r.cancelled, undefined, 'the run hung and had to be cancelled');
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /Agent\.CAInfo.*is a named pipe \(FIFO\), not a regular file/);
      assert.equal(vvp.log.length, 0, 'no request without the CA');
      assert.equal(r.command('results.publish').length, 1);
    } finally {
      await vvp.close();
    }
  });

  test('an endless answer is cut at the limit, saying which, in the plan and during a wait', async () => {
    const vvp = await fake();
    try {
      vvp.fault({ method: 'GET', path: '/deployments/endless', endless: true });
      const r = await run({ inputs: vvpInputs(vvp, { deploymentName: 'endless', jarUri: `${JARS}/a.jar` }), secrets: { vvpApiToken: TOKEN }, cancel: guard(30) });
      assert.equal(r.cancelled, undefined, 'the run did not end by itself');
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/default\/deployments\/endless: the answer \(HTTP 200\) is larger than 32 MiB, the most the task reads from this API/);
      assert.equal(vvp.writes().length, 0);

      // Once during the wait for RUNNING: that read fails, the next one succeeds.
      vvp.seed('default', vvpDeployment('endless2', `${JARS}/v1.jar`));
      let armed = false;
      const ok = await run({
        inputs: vvpInputs(vvp, { deploymentName: 'endless2', jarUri: `${JARS}/v2.jar` }),
        secrets: { vvpApiToken: TOKEN },
        cancel: { when: () => { if (!armed && vvp.writes().length > 0) { armed = true; vvp.fault({ method: 'GET', path: '/deployments/endless2', endless: true }); } return false; } },
      });
      assert.equal(ok.exitCode, 0, ok.log);
      assert.ok(vvp.log.some((e) => e.status === 'endless'), 'the endless answer was served');
      assert.match(ok.log, /could not read the deployment \(.*larger than 32 MiB.*\); trying again/);
    } finally {
      await vvp.close();
    }
  });

  test('a stalled server holds neither the plan nor a write past timeoutSeconds', async () => {
    const vvp = await fake();
    try {
      // The plan: the deployment is never answered.
      vvp.fault({ method: 'GET', path: '/deployments/stalled', delayMs: 120_000, times: 10 });
      const r = await run({ inputs: vvpInputs(vvp, { deploymentName: 'stalled', jarUri: `${JARS}/a.jar`, timeoutSeconds: '3' }), secrets: { vvpApiToken: TOKEN }, cancel: guard(40) });
      assert.equal(r.cancelled, undefined, 'the run did not end by itself');
      assert.ok(r.seconds < 8, `${r.seconds}s for a 3 s timeout`);
      assert.equal(r.exitCode, 1, r.log);
      assert.match(r.errors[0].message, /GET .*\/deployments\/stalled: no usable answer from 127\.0\.0\.1:\d+ after 1 attempt: the plan's limit \(timeoutSeconds: 3s\) is used up/);
      assert.equal(vvp.writes().length, 0);

      // The plan: a server that keeps asking to be asked again later.
      vvp.fault({ method: 'GET', path: '/deployments/busy', status: 503, headers: { 'retry-after': '60' }, times: 10 });
      const busy = await run({ inputs: vvpInputs(vvp, { deploymentName: 'busy', jarUri: `${JARS}/a.jar`, timeoutSeconds: '3' }), secrets: { vvpApiToken: TOKEN }, cancel: guard(40) });
      assert.equal(busy.cancelled, undefined);
      assert.ok(busy.seconds < 8, `${busy.seconds}s`);
      assert.equal(busy.exitCode, 1, busy.log);
      assert.match(busy.errors[0].message, /HTTP 503/);

      // A write: the PATCH is never answered.
      vvp.seed('default', vvpDeployment('stuck', `${JARS}/v1.jar`));
      vvp.fault({ method: 'PATCH', path: '/deployments/stuck', delayMs: 120_000, times: 10 });
      const write = await run({ inputs: vvpInputs(vvp, { deploymentName: 'stuck', jarUri: `${JARS}/v2.jar`, timeoutSeconds: '3' }), secrets: { vvpApiToken: TOKEN }, cancel: guard(40) });
      assert.equal(write.cancelled, undefined);
      assert.ok(write.seconds < 10, `${write.seconds}s`);
      assert.equal(write.exitCode, 1, write.log);
      assert.match(write.errors[0].message, /PATCH .*\/deployments\/stuck: no usable answer .*the run's timeoutSeconds \(3s\) for one request with its retries is used up/);
    } finally {
      await vvp.close();
    }
  });
});

describe('misleading results', { concurrency: 3 }, () => {
  test('a redirected write fails, naming where it was sent, and nothing reads as accepted', own(async (vvp) => {
    vvp.seed('default', vvpDeployment('moved-existing', `${JARS}/v1.jar`));
    const cases = [
      ['POST', 'moved-new', 302, '/api/v1/namespaces/default/deployments/moved-existing'],
      ['POST', 'moved-new', 301, 'http://127.0.0.1:9/api/v1/namespaces/default/deployments'],
      ['PATCH', 'moved-existing', 307, '/api/v1/namespaces/default/deployments/moved-existing?via=307'],
      ['PATCH', 'moved-existing', 308, '/elsewhere'],
    ];
    for (const [method, name, status, location] of cases) {
      vvp.fault({ method, path: '/deployments', redirect: { status, location } });
      const r = await run({ inputs: vvpInputs(vvp, { deploymentName: name, jarUri: `${JARS}/v${status}.jar` }), secrets: { vvpApiToken: TOKEN } });
      assert.equal(r.exitCode, 1, `${method} ${status}: ${r.log}`);
      assert.match(r.errors[0].message, new RegExp(`${method} http://127\\.0\\.0\\.1:\\d+/api/v1/namespaces/default/deployments\\S* was redirected \\(HTTP ${status}\\) to \\S+: nothing was written`));
      assert.doesNotMatch(r.log, new RegExp(`${method} accepted`));
    }
    assert.equal(vvp.deployment('default', 'moved-new'), undefined, 'nothing was created');
    assert.equal(vvp.deployment('default', 'moved-existing').spec.template.spec.artifact.jarUri, `${JARS}/v1.jar`);
  }));

  test('a 401 from another host after a redirect is not blamed on the API token', own(async (vvp) => {
    const seen = [];
    const other = http.createServer((req, res) => { seen.push(req.headers.authorization); req.resume(); res.writeHead(401, { 'content-type': 'application/json' }); res.end('{"message":"login required"}'); });
    await new Promise((r) => other.listen(0, '127.0.0.1', r));
    try {
      for (const [method, p] of [['GET', '/deployments/redirected'], ['GET', '/deployment-targets/vvp-jobs']]) {
        vvp.fault({ method, path: p, redirect: { location: `http://localhost:${other.address().port}/login?return=${encodeURIComponent(p)}` } });
        const r = await run({ inputs: vvpInputs(vvp, { deploymentName: 'redirected', jarUri: `${JARS}/a.jar` }), secrets: { vvpApiToken: TOKEN } });
        assert.equal(r.exitCode, 1, r.log);
        assert.match(r.errors[0].message, new RegExp(`GET \\S+${p.replace(/\//g, '\\/')} was redirected \\(HTTP 302\\) to http://localhost:\\d+/login\\?…: the answer was not read`));
        assert.doesNotMatch(r.errors[0].message, /API token|vvpApiToken/);
      }
      assert.deepEqual(seen, [], 'the other host got no request, and no token');
    } finally {
      other.close();
    }
  }));

  test('vvpUrl (or the connection\'s URL) with a query, a fragment or an API path is refused with the fix', own(async (vvp) => {
    const before = vvp.log.length;
    for (const [url, says, fix] of [
      [`${vvp.url}/?namespace=default`, /has a query/, vvp.url],
      [`${vvp.url}/#/namespaces/default`, /has a fragment/, vvp.url],
      [`${vvp.url}/api`, /includes `\/api`/, vvp.url],
      [`${vvp.url}/api/v1`, /includes `\/api\/v1`/, vvp.url],
      [`${vvp.url}/api/v1/namespaces/default/deployments`, /includes `\/api\/v1`/, vvp.url],
    ]) {
      const r = await run({ inputs: vvpInputs(vvp, { vvpUrl: url, deploymentName: 'url', jarUri: `${JARS}/a.jar` }), secrets: { vvpApiToken: TOKEN } });
      assert.equal(r.exitCode, 2, `${url}: ${r.log}`);
      assert.match(r.errors[0].message, /`vvpUrl`/);
      assert.match(r.errors[0].message, says, url);
      assert.ok(r.errors[0].message.includes(fix), `${url}: the fix is named: ${r.errors[0].message}`);
    }
    const conn = '5e1c3a77-0d2b-4c8e-9f6a-1b2c3d4e5f60';
    const r = await run({
      inputs: { target: 'ververica', vvpConnection: conn, deploymentName: 'url', deploymentTargetName: 'vvp-jobs', jarUri: `${JARS}/a.jar` },
      endpoints: { [conn]: { url: `${vvp.url}/api/v1/`, scheme: 'Token', parameters: { apitoken: TOKEN } } },
    });
    assert.equal(r.exitCode, 2, r.log);
    assert.match(r.errors[0].message, /`vvpConnection`.*includes `\/api\/v1`/);
    assert.equal(vvp.log.length, before, 'no request was sent');
  }));

  test('renderCustomResource never writes over the spec file, the jar or the test results', async () => {
    const cwd = scratch();
    const SPEC = `kind: Deployment\nmetadata:\n  name: cr\nspec:\n  deploymentTargetName: vvp-jobs\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: ${JARS}/a.jar\n`;
    fs.writeFileSync(path.join(cwd, 'spec.yaml'), SPEC);
    fs.writeFileSync(path.join(cwd, 'job.jar'), 'PK-jar');
    fs.mkdirSync(path.join(cwd, 'sub'));
    fs.symlinkSync(path.join(cwd, 'spec.yaml'), path.join(cwd, 'link.yaml'));
    const cr = (extra) => run({ cwd, inputs: { target: 'ververica', action: 'renderCustomResource', specFile: 'spec.yaml', ...extra } });
    for (const [extra, says] of [
      [{ customResourcePath: 'spec.yaml' }, /`customResourcePath`.*`specFile`/],
      [{ customResourcePath: 'sub/../spec.yaml' }, /`customResourcePath`.*`specFile`/],
      [{ customResourcePath: 'link.yaml' }, /`customResourcePath`.*same file as .*spec\.yaml.*\(specFile\)/],
      [{ customResourcePath: 'out.yaml', testResultsFile: 'out.yaml' }, /`customResourcePath`.*`testResultsFile`/],
    ]) {
      const r = await cr(extra);
      assert.equal(r.exitCode, 2, `${JSON.stringify(extra)}: ${r.log}`);
      assert.match(r.errors[0].message, says);
      assert.equal(fs.readFileSync(path.join(cwd, 'spec.yaml'), 'utf8'), SPEC, 'the spec file is untouched');
    }
    // The test results file is an output too: not the spec file.
    const junit = await run({ cwd, inputs: { target: 'ververica', action: 'validate', specFile: 'spec.yaml', testResultsFile: 'spec.yaml' } });
    assert.equal(junit.exitCode, 2, junit.log);
    assert.match(junit.errors[0].message, /`testResultsFile`.*`specFile`/);
    assert.equal(fs.readFileSync(path.join(cwd, 'spec.yaml'), 'utf8'), SPEC);
    // A link to it, seen only on the file system: the reports are not written over it.
    const linked = await run({ cwd, inputs: { target: 'ververica', action: 'validate', specFile: 'spec.yaml', testResultsFile: 'link.yaml' } });
    assert.equal(fs.readFileSync(path.join(cwd, 'spec.yaml'), 'utf8'), SPEC);
    assert.match(linked.log, /cannot write the JUnit file .*which the run reads/);
  });
});
