// Artifact upload to Blob Storage through the packaged task and the agent emulator, against a
// real Azurite (Microsoft's Storage emulator, from npm) reached through `blobEndpoint` with an
// account SAS signed here with the emulator's well-known key. Every uploaded blob is downloaded
// again and hashed.
//
// The upload runs in the apply phase, before the target's apply, which then deploys the uploaded
// jar (its wasbs:// URI) to the Ververica Platform fake (tests/fakes/vvp.js). Each project
// directory gets its own deployment there, so a re-run of a project updates its own deployment.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { run, scratch, assertNoSecrets } = require('./helpers');
const { startEntra } = require('../fakes/entra');
const { startVvp } = require('../fakes/vvp');
const { makeTestCa } = require('../fakes/tls');
const { CONN, CLIENT, TENANT, azureRm, accountSas, startAzurite, createContainer, blobInfo, writeFile, steps, request, startCuttingRelay, startHoldingRelay, listBlobs } = require('./azure-support');

const MiB = 1024 * 1024;
const CONTAINER = 'jars';
const PREFIX = 'artifacts/namespaces/default';
const VVP_TOKEN = 'vvp-blob-token-4e7a1c';
let az;
let sas;
let vvp;

test.before(async () => {
  [az, vvp] = await Promise.all([
    startAzurite(),
    startVvp({ token: VVP_TOKEN, deploymentTargets: [{ name: 'vvp-jobs' }], timing: { startMs: 100, stopMs: 50, savepointMs: 50 } }),
  ]);
  sas = accountSas();
  await createContainer(az, CONTAINER, sas);
});

test.after(async () => {
  await Promise.all([az?.stop(), vvp?.close()]);
});

const deployments = new Map();
/** The Ververica Platform deployment of a project directory: one per directory, kept across re-runs. */
function deploymentFor(cwd) {
  if (!deployments.has(cwd)) deployments.set(cwd, `job-${deployments.size + 1}`);
  return deployments.get(cwd);
}
const writesTo = (name) => vvp.writes().filter((e) => e.path.endsWith(`/deployments/${name}`) || (e.body && e.body.metadata && e.body.metadata.name === name));
/** The steps of a run that uploaded and then deployed, in the order they ran. */
const DEPLOYED = ['plan', 'upload artifact', 'render spec', 'apply', 'reach RUNNING'];

const sig = () => new URLSearchParams(sas).get('sig');

function upload({ cwd, inputs = {}, secrets = {}, env = {}, token = sas } = {}) {
  return run({
    cwd,
    inputs: {
      target: 'ververica',
      action: 'deploy',
      vvpUrl: vvp.url,
      vvpApiToken: '$(vvpApiToken)',
      deploymentName: deploymentFor(cwd),
      deploymentTargetName: 'vvp-jobs',
      settleSeconds: '0',
      timeoutSeconds: '30',
      artifactPath: 'target/*.jar',
      storageAccount: 'devstoreaccount1',
      containerName: CONTAINER,
      blobEndpoint: az.endpoint,
      storageSasToken: '$(storageSas)',
      ...inputs,
    },
    secrets: { storageSas: token, vvpApiToken: VVP_TOKEN, ...secrets },
    env,
  });
}

function project(name, size) {
  const cwd = scratch();
  const md5 = writeFile(path.join(cwd, 'target', name), size);
  return { cwd, md5 };
}

async function uploadsCorrectly(name, size) {
  const { cwd, md5 } = project(name, size);
  const r = await upload({ cwd });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded', 'no warnings: uploaded and deployed');
  assert.deepEqual(steps(r), Object.fromEntries(DEPLOYED.map((s) => [s, 'passed'])));
  assert.deepEqual(Object.keys(steps(r)), DEPLOYED, 'the jar is uploaded before the deployment is written');
  const blob = `${PREFIX}/${name}`;
  // The MD5 in the query makes new content under the same name a changed template.
  assert.equal(r.outputs.jarUri, `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/${blob}?md5=${md5}`);
  // The point of the upload: the deployment Ververica Platform received runs the uploaded jar.
  const deployment = deploymentFor(cwd);
  const writes = writesTo(deployment);
  assert.ok(writes.length > 0, 'the deployment was written');
  assert.equal(writes[writes.length - 1].body.spec.template.spec.artifact.jarUri, r.outputs.jarUri, 'the jar URI the platform received');
  const d = vvp.deployment('default', deployment);
  assert.equal(d.status.state, 'RUNNING');
  assert.equal(d.spec.template.spec.artifact.jarUri, r.outputs.jarUri);
  assert.equal(vvp.jobs(d.metadata.id).find((j) => j.metadata.id === d.status.running.jobId).spec.artifact.jarUri, r.outputs.jarUri, 'the running job has the uploaded jar');
  assert.equal(r.outputs.deploymentId, d.metadata.id);
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.status, 200);
  assert.equal(info.length, size);
  assert.equal(info.md5, md5, 'downloaded content');
  assert.equal(info.contentMd5, md5, 'Content-MD5 property');
  assert.equal(info.contentType, 'application/java-archive');
  assertNoSecrets(assert, r, [sas, sig(), VVP_TOKEN]);
  return { r, cwd, md5, blob, info, deployment: d };
}

test('1 MiB: uploaded, hashed, jarUri for Ververica Platform; a re-run skips the identical blob', async () => {
  const { r, cwd, blob, info, deployment } = await uploadsCorrectly('job-1.0.jar', MiB);
  assert.match(r.stdout, /uploaded .*job-1\.0\.jar \(1048576 bytes in 1 block, MD5 [0-9a-f]{32}\)/);
  const again = await upload({ cwd });
  assert.equal(again.exitCode, 0, again.log);
  assert.match(again.stdout, /already holds this file \(same MD5\): upload skipped/);
  assert.match(again.stdout, /already holds this file \(MD5 [0-9a-f]{32}\): upload skipped/);
  assert.equal(again.outputs.jarUri, r.outputs.jarUri, 'the output is set either way');
  const after = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(after.etag, info.etag, 'the blob was not written again');
  const d = vvp.deployment('default', deployment.metadata.name);
  assert.equal(d.status.running.jobId, deployment.status.running.jobId, 'the same jar does not restart the job');
});

test('a rebuilt jar under the same blob name replaces the blob and restarts the job (restart: ifChanged)', async () => {
  const { r, cwd, blob, deployment } = await uploadsCorrectly('job-rebuilt.jar', 256 * 1024);
  const md5 = writeFile(path.join(cwd, 'target', 'job-rebuilt.jar'), 256 * 1024);
  const again = await upload({ cwd });
  assert.equal(again.exitCode, 0, again.log);
  assert.match(again.stdout, /will be replaced \(the blob there has different content\)/);
  assert.equal(again.outputs.jarUri, `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/${blob}?md5=${md5}`);
  assert.notEqual(again.outputs.jarUri, r.outputs.jarUri);
  const d = vvp.deployment('default', deployment.metadata.name);
  assert.equal(d.spec.template.spec.artifact.jarUri, again.outputs.jarUri);
  assert.notEqual(d.status.running.jobId, deployment.status.running.jobId, 'the new content runs in a new job');
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.md5, md5);
});

test('a deployment that runs the same blob under its bare URI keeps it: nothing restarts', async () => {
  const { cwd } = project('job-legacy.jar', 64 * 1024);
  const first = await upload({ cwd });
  assert.equal(first.exitCode, 0, first.log);
  // A deployment made before jar URIs named the MD5, running the blob this project uploads.
  const bare = `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/${PREFIX}/job-legacy.jar`;
  vvp.seed('default', {
    kind: 'Deployment', apiVersion: 'v1', metadata: { name: 'job-legacy', namespace: 'default' },
    spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', upgradeStrategy: { kind: 'STATEFUL' }, template: { spec: { artifact: { kind: 'JAR', jarUri: bare } } } },
  });
  const job = vvp.deployment('default', 'job-legacy').status.running.jobId;
  const r = await upload({ cwd, inputs: { deploymentName: 'job-legacy' } });
  assert.equal(r.exitCode, 0, r.log);
  assert.match(r.stdout, /the deployment already runs this jar as wasbs:.*job-legacy\.jar: its jarUri is kept/);
  assert.match(r.stdout, /nothing to change/);
  const d = vvp.deployment('default', 'job-legacy');
  assert.equal(d.spec.template.spec.artifact.jarUri, bare);
  assert.equal(d.status.running.jobId, job, 'the same jar does not restart the job');
});

test('a run that overwrites the blob its deployment runs does not pretend it can roll back', async () => {
  const { cwd, deployment } = await uploadsCorrectly('job-overwrite.jar', 64 * 1024);
  writeFile(path.join(cwd, 'target', 'job-overwrite.jar'), 64 * 1024);
  vvp.nextJobs({ outcome: 'FAILED', failure: { reason: 'JobFailed', message: 'the rebuilt jar fails on start' } });
  const r = await upload({ cwd, inputs: { rollbackOnFailure: 'true' } });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.stdout, /on failure no rollback: this run overwrites wasbs:.*job-overwrite\.jar/);
  assert.match(r.errors[r.errors.length - 1].message, /rollback skipped \(this run overwrites .*job-overwrite\.jar, the jar the deployment runs now/);
  assert.deepEqual(steps(r).rollback, 'skipped');
  assert.deepEqual(writesTo(deployment.metadata.name).map((e) => e.method), ['POST', 'PATCH'], 'the first deploy and this update; no rollback write');
});

test('64 MiB in parallel blocks', async () => {
  const { r } = await uploadsCorrectly('job-64.jar', 64 * MiB);
  assert.match(r.stdout, /in 16 blocks/);
});

test('300 MiB', async () => {
  const { r } = await uploadsCorrectly('job-300.jar', 300 * MiB);
  assert.match(r.stdout, /in 75 blocks/);
});

test('a changed file with the same name replaces the blob', async () => {
  const { cwd } = await uploadsCorrectly('job-change.jar', 2 * MiB);
  const md5 = writeFile(path.join(cwd, 'target', 'job-change.jar'), 3 * MiB);
  const r = await upload({ cwd });
  assert.equal(r.exitCode, 0, r.log);
  assert.match(r.stdout, /will be replaced \(the blob there has different content\)/);
  const info = await blobInfo(az, CONTAINER, `${PREFIX}/job-change.jar`, sas);
  assert.equal(info.md5, md5);
  assert.equal(info.contentMd5, md5);
});

test('Azurite stopped mid-upload: nothing is committed, and a re-run completes the blob', async () => {
  const own = await startAzurite();
  await createContainer(own, CONTAINER, sas);
  const { cwd, md5 } = project('job-interrupted.jar', 200 * MiB);
  const blob = `${PREFIX}/job-interrupted.jar`;
  const running = upload({ cwd, inputs: { blobEndpoint: own.endpoint } });
  // Stop the emulator once some blocks have reached its disk.
  const dirSize = (d) => fs.readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? dirSize(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
  const started = Date.now();
  while (dirSize(own.location) < 24 * MiB && Date.now() - started < 60000) await new Promise((res) => setTimeout(res, 20));
  await own.kill();
  const r = await running;
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  const m = r.errors[0].message;
  assert.match(m, new RegExp(`127\\.0\\.0\\.1:${own.port} without a proxy`));
  assert.match(m, /Blob Storage could not (upload block \d+ of 50|commit)/);
  assert.match(r.log, /nothing was committed, so the blob is unchanged/);
  assert.deepEqual(steps(r), { plan: 'passed', 'upload artifact': 'failed' });
  assert.equal(r.outputs.jarUri, undefined, 'no jarUri for a failed upload');
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');

  const again = await startAzurite({ location: own.location, port: own.port });
  try {
    await createContainer(again, CONTAINER, sas);
    const head = await request('HEAD', `${again.endpoint}/${CONTAINER}/${blob}?${sas}`);
    assert.equal(head.status, 404, 'no partial blob was committed');
    const r2 = await upload({ cwd, inputs: { blobEndpoint: again.endpoint } });
    assert.equal(r2.exitCode, 0, r2.log);
    const info = await blobInfo(again, CONTAINER, blob, sas);
    assert.equal(info.md5, md5);
    assert.equal(info.contentMd5, md5);
    assert.equal(vvp.deployment('default', deploymentFor(cwd)).spec.template.spec.artifact.jarUri, r2.outputs.jarUri);
    assertNoSecrets(assert, r, [sas, sig(), VVP_TOKEN]);
    assertNoSecrets(assert, r2, [sas, sig(), VVP_TOKEN]);
  } finally {
    await again.stop();
  }
});

test('a network cut mid-upload: the re-run sends only the blocks not yet staged', async () => {
  const { cwd, md5 } = project('job-resume.jar', 64 * MiB);
  const blob = `${PREFIX}/job-resume.jar`;
  // At most 8 blocks (32 MiB) are in flight, so a cut after 48 MiB leaves at least 4 whole
  // blocks staged, and some not.
  const relay = await startCuttingRelay(az.port, 48 * MiB);
  const r = await upload({ cwd, inputs: { blobEndpoint: `http://127.0.0.1:${relay.port}/devstoreaccount1` } });
  relay.close();
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, new RegExp(`127\\.0\\.0\\.1:${relay.port} without a proxy`));
  assert.equal((await blobInfo(az, CONTAINER, blob, sas)).status, 404, 'nothing committed');
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');
  const staged = await request('GET', `${az.endpoint}/${CONTAINER}/${blob}?comp=blocklist&blocklisttype=uncommitted&${sas}`);
  const count = (staged.body.toString().match(/<Block>/g) || []).length;
  assert.ok(count > 0 && count < 16, `some blocks were staged before the cut (${count})`);

  const r2 = await upload({ cwd });
  assert.equal(r2.exitCode, 0, r2.log);
  const m = r2.stdout.match(/in 16 blocks, (\d+) already staged by an earlier run/);
  assert.ok(m, r2.stdout);
  assert.equal(Number(m[1]), count, 'every staged block is reused, none is sent again');
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.md5, md5);
  assert.equal(info.contentMd5, md5);
});

test('a glob matching no file or two files fails before anything is uploaded', async () => {
  const cwd = scratch();
  fs.mkdirSync(path.join(cwd, 'target'));
  const none = await upload({ cwd });
  assert.equal(none.exitCode, 2, none.log);
  assert.match(none.errors[0].message, /input `artifactPath`: `target\/\*\.jar` matches no file/);
  writeFile(path.join(cwd, 'target', 'a.jar'), 10);
  writeFile(path.join(cwd, 'target', 'b.jar'), 10);
  const two = await upload({ cwd });
  assert.equal(two.exitCode, 2, two.log);
  assert.match(two.errors[0].message, /matches 2 files; it must match exactly one/);
  assert.match(two.log, /match: .*target\/a\.jar/);
  assert.match(two.log, /match: .*target\/b\.jar/);
  for (const n of ['a.jar', 'b.jar']) {
    assert.equal((await blobInfo(az, CONTAINER, `${PREFIX}/${n}`, sas)).status, 404);
  }
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');
});

test('a SAS without write permission fails with the code, the request id and what the SAS needs', async () => {
  const { cwd } = project('job-readonly.jar', MiB);
  const readOnly = accountSas({ permissions: 'rl' });
  const r = await upload({ cwd, token: readOnly });
  assert.equal(r.exitCode, 1, r.log);
  const m = r.errors[0].message;
  assert.match(m, /Blob Storage could not upload block 1 of 1 for `http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/jars\/artifacts\/namespaces\/default\/job-readonly\.jar`/);
  assert.match(m, /AuthorizationPermissionMismatch: .*\(HTTP 403, request id [0-9a-f-]{36}\)/);
  assert.match(m, /hint: the SAS in storageSasToken .* needs read, create and write/);
  assert.equal((await blobInfo(az, CONTAINER, `${PREFIX}/job-readonly.jar`, sas)).status, 404);
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');
  assertNoSecrets(assert, r, [readOnly, new URLSearchParams(readOnly).get('sig'), VVP_TOKEN]);
});

test('an expired SAS and a missing container are reported by the plan', async () => {
  const { cwd } = project('job-expired.jar', MiB);
  const expired = accountSas({ expiry: new Date(Date.now() - 3600e3), start: new Date(Date.now() - 7200e3) });
  const r = await upload({ cwd, token: expired });
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.errors[0].message, /Blob Storage could not read the blob's properties .*HTTP 403/);
  assert.deepEqual(steps(r), { plan: 'failed' });
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');
  const c = await upload({ cwd, inputs: { containerName: 'missing' } });
  assert.equal(c.exitCode, 1, c.log);
  assert.match(c.errors[0].message, /ContainerNotFound/);
  assert.match(c.errors[0].message, /hint: create the container `missing` in the storage account `devstoreaccount1`/);
});

test('a plain-http endpoint without a SAS is refused before any sign-in', async () => {
  const { cwd } = project('job-nosas.jar', 10);
  const before = vvp.log.length;
  const r = await run({
    cwd,
    inputs: {
      target: 'ververica', action: 'validate', vvpUrl: vvp.url, vvpApiToken: '$(vvpApiToken)', deploymentName: deploymentFor(cwd), deploymentTargetName: 'vvp-jobs',
      artifactPath: 'target/*.jar', storageAccount: 'devstoreaccount1', containerName: CONTAINER, blobEndpoint: az.endpoint, azureSubscription: 'c0ffee00-0000-0000-0000-000000000001',
    },
    secrets: { vvpApiToken: VVP_TOKEN },
    endpoints: { 'c0ffee00-0000-0000-0000-000000000001': { url: 'https://management.azure.com/', scheme: 'ServicePrincipal', parameters: { tenantid: 't', serviceprincipalid: 'c', serviceprincipalkey: 'never-used-secret' } } },
  });
  assert.equal(r.exitCode, 2, r.log);
  assert.equal(vvp.log.length, before, 'no request reached Ververica Platform');
  assert.match(r.errors[0].message, /input `blobEndpoint`: .* is plain http/);
  assert.match(r.errors[0].message, /storageSasToken/);
});

test('the service connection\'s identity uploads over https with an Entra token for Storage', async () => {
  const secret = 'spn-secret~Blob.4';
  const tls = makeTestCa();
  const secure = await startAzurite({ tls });
  const entra = await startEntra({ jwt: true, clients: { [CLIENT]: { secret, tenant: TENANT } } });
  try {
    await createContainer(secure, CONTAINER, sas);
    const { cwd, md5 } = project('job-identity.jar', 8 * MiB);
    const r = await run({
      cwd,
      inputs: {
        target: 'ververica', vvpUrl: vvp.url, vvpApiToken: '$(vvpApiToken)', deploymentName: deploymentFor(cwd), deploymentTargetName: 'vvp-jobs',
        settleSeconds: '0', timeoutSeconds: '30', artifactPath: 'target/*.jar',
        storageAccount: 'devstoreaccount1', containerName: CONTAINER, blobEndpoint: secure.endpoint, azureSubscription: CONN,
      },
      secrets: { vvpApiToken: VVP_TOKEN },
      endpoints: azureRm({ params: { serviceprincipalkey: secret }, authority: entra.url }),
      variables: { 'Agent.CAInfo': tls.caFile },
    });
    assert.equal(r.exitCode, 0, r.log);
    // Uploaded to the https endpoint; Ververica Platform gets the wasbs:// name of the same blob
    // (the https URI a Flink cluster would get is covered by the unit tests of `blob::jar_uri`).
    assert.ok(r.stdout.includes(` to ${secure.endpoint}/${CONTAINER}/${PREFIX}/job-identity.jar in `), r.stdout);
    assert.equal(r.outputs.jarUri, `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/${PREFIX}/job-identity.jar?md5=${md5}`);
    assert.equal(vvp.deployment('default', deploymentFor(cwd)).spec.template.spec.artifact.jarUri, r.outputs.jarUri);
    assert.ok(entra.state.tokens.some((t) => t.scope === 'https://storage.azure.com/.default'));
    const info = await blobInfo(secure, CONTAINER, `${PREFIX}/job-identity.jar`, sas);
    assert.equal(info.md5, md5);
    assert.equal(info.contentMd5, md5);
    assertNoSecrets(assert, r, [secret, VVP_TOKEN, ...entra.state.tokens.map((t) => t.token)]);
  } finally {
    await entra.close();
    await secure.stop();
  }
});

// Integrity: what is committed is what the plan hashed, and a skip is proven, not assumed.

/** Write `bytes` over the file in place (same inode, same size). */
function rewrite(file, bytes) {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
  fs.closeSync(fd);
}

const md5Of = (b) => require('crypto').createHash('md5').update(b).digest('hex');

test('a jar rewritten while its blocks are sent is not committed; the next run uploads the jar as it is then', async () => {
  // Larger than the blocks in flight at once, so blocks are still read after the rewrite.
  const { cwd, md5 } = project('job-race.jar', 96 * MiB);
  const file = path.join(cwd, 'target', 'job-race.jar');
  const original = fs.readFileSync(file);
  const blob = `${PREFIX}/job-race.jar`;
  const relay = await startHoldingRelay(az.port);
  const running = upload({ cwd, inputs: { blobEndpoint: `http://127.0.0.1:${relay.port}/devstoreaccount1` } });
  // The plan has hashed the jar and the first blocks are on their way: a build writes the jar
  // again, same size, in place.
  await relay.firstBlock;
  const other = require('crypto').randomBytes(original.length);
  rewrite(file, other);
  relay.release();
  const r = await running;
  relay.close();
  assert.equal(r.exitCode, 1, r.log);
  assert.equal(r.errors.length, 1, JSON.stringify(r.issues));
  const m = r.errors[0].message;
  assert.ok(m.includes(`\`${file}\` was written to after the plan read it, so what would be uploaded is not what the plan hashed`), m);
  assert.match(m, /hint: something wrote the jar while this step ran .* let it finish before this step, then run again/);
  assert.match(r.log, /no longer has the MD5 the plan computed; Blob Storage refused it/);
  assert.match(r.log, /nothing was committed, so the blob is unchanged/);
  assert.deepEqual(steps(r), { plan: 'passed', 'upload artifact': 'failed' });
  assert.equal((await blobInfo(az, CONTAINER, blob, sas)).status, 404, 'nothing was committed');
  assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');

  // The build writes the first jar back. What is deployed is the jar the URI names.
  rewrite(file, original);
  const again = await upload({ cwd });
  assert.equal(again.exitCode, 0, again.log);
  assert.doesNotMatch(again.stdout, /upload skipped/);
  assert.equal(again.outputs.jarUri, `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/${blob}?md5=${md5}`);
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.md5, md5, 'the blob holds the bytes the jar URI names');
  assert.equal(info.contentMd5, md5);
  assert.equal(vvp.deployment('default', deploymentFor(cwd)).spec.template.spec.artifact.jarUri, again.outputs.jarUri);
});

test('a blob whose Content-MD5 names this jar but whose blocks hold other bytes is uploaded again, not skipped', async () => {
  const { cwd, md5 } = project('job-liar.jar', 2 * MiB);
  const blob = `${PREFIX}/job-liar.jar`;
  // Another writer committed other bytes of the same size and set the property to the jar's MD5
  // (Put Block List does not check it).
  const url = `${az.endpoint}/${CONTAINER}/${blob}`;
  const id = Buffer.from('other-writer-0001').toString('base64');
  const staged = await request('PUT', `${url}?comp=block&blockid=${encodeURIComponent(id)}&${sas}`, { body: require('crypto').randomBytes(2 * MiB) });
  assert.equal(staged.status, 201, String(staged.body));
  const committed = await request('PUT', `${url}?comp=blocklist&${sas}`, {
    headers: { 'x-ms-blob-content-md5': Buffer.from(md5, 'hex').toString('base64'), 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${id}</Latest></BlockList>`,
  });
  assert.equal(committed.status, 201, String(committed.body));
  const before = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(before.contentMd5, md5, 'the property claims the jar');
  assert.notEqual(before.md5, md5, 'the bytes are not the jar');

  const r = await upload({ cwd });
  assert.equal(r.exitCode, 0, r.log);
  assert.doesNotMatch(r.stdout, /upload skipped/);
  assert.match(r.stdout, /will be replaced \(the blob there has different content\)/);
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.md5, md5, 'the blob now holds the jar');
  // The blob this task committed is recognised by its blocks: the next run skips it.
  const again = await upload({ cwd });
  assert.equal(again.exitCode, 0, again.log);
  assert.match(again.stdout, /already holds this file \(same MD5\): upload skipped/);
  assert.equal((await blobInfo(az, CONTAINER, blob, sas)).etag, info.etag);
});

test('hashing the jar stops at the run\'s time limit instead of reading on', async () => {
  const cwd = scratch();
  fs.mkdirSync(path.join(cwd, 'target'));
  // A sparse 8 GiB file: reading its zeros costs nothing, hashing them some 12 s and more.
  const file = path.join(cwd, 'target', 'job-huge.jar');
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, 8 * 1024 * MiB);
  try {
    const started = Date.now();
    const r = await upload({ cwd, inputs: { action: 'validate', timeoutSeconds: '1' } });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.exitCode, 1, r.log);
    assert.ok(seconds < 8, `the run ended ${seconds.toFixed(1)} s after it started`);
    assert.ok(r.errors[0].message.includes(`hashing \`${file}\` did not finish within the run's time limit`), r.errors[0].message);
    assert.match(r.errors[0].message, /hint: raise timeoutSeconds/);
    assert.deepEqual(steps(r), { plan: 'failed' });
  } finally {
    fs.rmSync(file);
  }
});

// Names: the blob uploaded is the one the jar URI names, or the run refuses the name up front.

/** The path of a URI as java.net.URI accepts it (RFC 3986), decoded; throws otherwise. */
function uriPath(uri, prefix) {
  assert.ok(uri.startsWith(prefix), `${uri} starts with ${prefix}`);
  const p = uri.slice(prefix.length).split('?')[0];
  assert.match(p, /^([A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/, `${uri}: not an RFC 3986 path`);
  assert.ok(!uri.slice(prefix.length).includes('#'), `${uri}: a fragment cuts the name`);
  return p.split('/').map((s) => decodeURIComponent(s)).join('/');
}

const HOSTILE = ['my app 1.0.jar', 'app#1.jar', 'app%20x.jar', 'app?x.jar', 'a+b;v=1.jar', 'ünï-日本.jar', "~!$&'()*,=@.jar", 'app%2Fx.jar'];

test('hostile jar names and folders: the blob uploaded is exactly the blob the jar URI and the URL name', async () => {
  for (const [k, name] of HOSTILE.entries()) {
    const root = `hostile-${k}`;
    const prefix = `${root}/a b/100%/ü`;
    const { cwd, md5 } = project(name, 4096 + k);
    const r = await upload({ cwd, inputs: { blobPrefix: prefix } });
    assert.equal(r.exitCode, 0, `${name}: ${r.log}`);
    const want = `${prefix}/${name}`;
    const jar = r.outputs.jarUri;
    assert.equal(uriPath(jar, `wasbs://${CONTAINER}@devstoreaccount1.blob.core.windows.net/`), want, jar);
    assert.ok(jar.endsWith(`?md5=${md5}`), jar);
    const url = r.stdout.match(/ to (http:\S+) in [0-9.]+s \(/);
    assert.ok(url, r.stdout);
    assert.equal(uriPath(url[1], `${az.endpoint}/${CONTAINER}/`), want, url[1]);
    // The service holds exactly that one blob under the folder, with the jar's bytes.
    assert.deepEqual(await listBlobs(az, CONTAINER, `${root}/`, sas), [want], name);
    const info = await blobInfo(az, CONTAINER, want, sas);
    assert.equal(info.md5, md5, name);
    assert.equal(vvp.deployment('default', deploymentFor(cwd)).spec.template.spec.artifact.jarUri, jar, name);
  }
});

test('a blobPrefix or jar name no URI can carry is refused naming the input, before anything is uploaded', async () => {
  const cases = [
    [{ blobPrefix: 'refused/a\\..\\b' }, 'job.jar', /input `blobPrefix`: .* contains `\\`/],
    // Refused by the configuration already (without a hint), before the plan.
    [{ blobPrefix: 'refused/../b' }, 'job.jar', /input `blobPrefix`: .*`\.\.`/, false],
    [{ blobPrefix: 'refused/./b' }, 'job.jar', /input `blobPrefix`: .* has a `\.` segment/],
    [{ blobPrefix: 'refused//b' }, 'job.jar', /input `blobPrefix`: .* has an empty segment/],
    [{ blobPrefix: 'refused/a?b' }, 'job.jar', /input `blobPrefix`: .* contains `\?`/],
    [{ blobPrefix: 'refused/a#b' }, 'job.jar', /input `blobPrefix`: .* contains `#`/],
    [{ blobPrefix: 'refused/a\tb' }, 'job.jar', /input `blobPrefix`: .* contains the control character U\+0009/],
    [{ blobPrefix: 'refused' }, 'job:1.jar', /input `artifactPath`: the file name `job:1\.jar` contains `:`/],
    [{ blobPrefix: 'refused' }, 'job\\1.jar', /input `artifactPath`: the file name `job\\1\.jar` contains `\\`/],
    [{ blobPrefix: 'refused' }, 'job.jar.', /input `artifactPath`: the file name `job\.jar\.` has a segment that ends with `\.`/],
  ];
  for (const [inputs, name, why, hint = true] of cases) {
    const { cwd } = project(name, 10);
    const r = await upload({ cwd, inputs: { artifactPath: `target/${name.replace(/[?*[\]]/g, '[$&]')}`, ...inputs } });
    assert.equal(r.exitCode, 2, `${JSON.stringify(inputs)} ${name}: ${r.log}`);
    assert.match(r.errors[0].message, why);
    if (hint) assert.match(r.errors[0].message, /hint: (write the folder as plain segments|rename the jar)/);
    assert.deepEqual(writesTo(deploymentFor(cwd)), [], 'no write reached Ververica Platform');
  }
  assert.deepEqual(await listBlobs(az, CONTAINER, 'refused', sas), [], 'nothing was uploaded');
});

// HDInsight on AKS reads the jar through abfs:// and names no MD5, so the plan does not hash a jar
// that no blob of its size awaits: the upload hashes each block and the whole file from the bytes
// it sends.
test('HDInsight on AKS: hashed while uploading; a jar rewritten mid-upload is not committed; a re-run commits the jar with its own MD5 and a third skips it', async (t) => {
  const { startEntra } = require('../fakes/entra');
  const { startArmHdinsight } = require('../fakes/arm-hdinsight');
  const sub = '10e32bab-26da-4cc4-a441-52b318f824e6';
  const hdiClient = '4b9e2a43-5c1d-4f6e-8a7b-9c0d1e2f3a4b';
  const hdiSecret = 'hdi-blob-sp-secret-7Qz~';
  const entra = await startEntra({ clients: { [hdiClient]: { secret: hdiSecret, tenant: TENANT } } });
  const arm = await startArmHdinsight({ entra, subscriptionId: sub });
  t.after(async () => { await arm.close(); await entra.close(); });
  const hdi = (cwd, inputs = {}) => run({
    cwd,
    inputs: {
      target: 'hdinsight', azureSubscription: CONN, hdiResourceGroup: 'hiloResourcegroup', hdiClusterPool: 'clusterpool1', hdiClusterName: 'cluster1',
      hdiArmEndpoint: arm.url, settleSeconds: '0', timeoutSeconds: '60', jobName: 'race', entryClass: 'com.example.Race',
      artifactPath: 'target/*.jar', storageAccount: 'devstoreaccount1', containerName: CONTAINER, blobEndpoint: az.endpoint, storageSasToken: '$(storageSas)',
      ...inputs,
    },
    secrets: { storageSas: sas },
    endpoints: { [CONN]: { url: 'https://management.azure.com/', scheme: 'ServicePrincipal', parameters: { tenantid: TENANT, serviceprincipalid: hdiClient, serviceprincipalkey: hdiSecret, authenticationType: 'spnKey' }, data: { subscriptionid: sub, environment: 'AzureCloud', environmentAuthorityUrl: entra.url } } },
    env: { AGENT_CAINFO: arm.caFile },
  });
  const { cwd } = project('job-hdi.jar', 96 * MiB);
  const file = path.join(cwd, 'target', 'job-hdi.jar');
  const blob = `${PREFIX}/job-hdi.jar`;
  const relay = await startHoldingRelay(az.port);
  const running = hdi(cwd, { blobEndpoint: `http://127.0.0.1:${relay.port}/devstoreaccount1` });
  await relay.firstBlock;
  rewrite(file, require('crypto').randomBytes(96 * MiB));
  relay.release();
  const r = await running;
  relay.close();
  assert.equal(r.exitCode, 1, r.log);
  assert.match(r.stdout, /job-hdi\.jar \(100663296 bytes, MD5 computed while uploading\)/);
  assert.ok(r.errors[0].message.includes(`\`${file}\` was written to after the plan read it`), r.errors[0].message);
  assert.match(r.log, /nothing was committed, so the blob is unchanged/);
  assert.equal((await blobInfo(az, CONTAINER, blob, sas)).status, 404, 'nothing was committed');
  assert.deepEqual(arm.runJobs(), [], 'no job was sent');

  const md5 = md5Of(fs.readFileSync(file));
  const again = await hdi(cwd);
  assert.equal(again.exitCode, 0, again.log);
  // Blocks the first run staged after the rewrite hold the jar's bytes now: found by their MD5.
  assert.match(again.stdout, new RegExp(`uploaded .*job-hdi\\.jar \\(100663296 bytes in \\d+ blocks, \\d+ already staged by an earlier run, MD5 ${md5}\\)`));
  const info = await blobInfo(az, CONTAINER, blob, sas);
  assert.equal(info.md5, md5);
  assert.equal(info.contentMd5, md5, 'the Content-MD5 set on commit is the MD5 of the bytes sent');
  const jobs = arm.runJobs();
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].body.properties.jobJarDirectory, `abfs://${CONTAINER}@devstoreaccount1.dfs.core.windows.net/${PREFIX}`);
  assert.equal(jobs[0].body.properties.jarName, 'job-hdi.jar');

  // A blob of the jar's size is there: now the plan hashes, finds this very file, and skips.
  const third = await hdi(cwd);
  assert.equal(third.exitCode, 0, third.log);
  assert.match(third.stdout, new RegExp(`job-hdi\\.jar \\(100663296 bytes, MD5 ${md5}\\) -> .* already holds this file \\(same MD5\\): upload skipped`));
  assert.equal((await blobInfo(az, CONTAINER, blob, sas)).etag, info.etag);
  assertNoSecrets(assert, again, [sas, sig(), hdiSecret]);
});
