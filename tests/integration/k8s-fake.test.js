// The Kubernetes API fake driven by the real kubectl: if kubectl (a client we did not write)
// gets the answers a real API server gives, the fake speaks Kubernetes and the task's tests
// against it prove something. kubectl (v1.32) is part of every machine here.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const { startK8s } = require('../fakes/k8s');
const { startVvp } = require('../fakes/vvp');
const { FLINK_CRDS, requireKubectl, kubectl, asFile } = require('./k8s-fake-support');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test.before(requireKubectl);

function manifest(name, job = {}, extra = {}) {
  return {
    apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkDeployment',
    metadata: { name, ...(extra.metadata || {}) },
    spec: {
      image: 'flink:1.20', flinkVersion: 'v1_20', serviceAccount: 'flink',
      jobManager: { resource: { memory: '2048m', cpu: 1 } },
      taskManager: { resource: { memory: '2048m', cpu: 1 } },
      job: { jarURI: 'local:///opt/flink/examples/streaming/StateMachineExample.jar', parallelism: 2, upgradeMode: 'stateless', ...job },
      ...(extra.spec || {}),
    },
  };
}
const entry = (obj, manager, operation = 'Apply', subresource) => (obj.metadata.managedFields || []).find((e) => e.manager === manager && e.operation === operation && e.subresource === subresource);

async function cluster(o = {}) {
  const k = await startK8s({
    crds: FLINK_CRDS,
    namespaces: ['default', 'vvp'],
    users: [
      { name: 'admin', token: 'admin-token', rules: 'admin' },
      { name: 'ci-cert', cert: true, rules: [{ verbs: ['*'], apiGroups: ['flink.apache.org'], resources: ['flinkdeployments', 'flinksessionjobs'], namespaces: ['default'] }] },
      { name: 'viewer', token: 'viewer-token', rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: ['flink.apache.org'], resources: ['flinkdeployments'] }] },
      { name: 'proxy-user', token: 'proxy-token', rules: [{ verbs: ['get'], resources: ['services/proxy'], namespaces: ['vvp'] }] },
      { name: 'patcher', token: 'patcher-token', rules: [{ verbs: ['get', 'patch'], apiGroups: ['flink.apache.org'], resources: ['flinkdeployments'] }] },
    ],
    ...o,
  });
  const kc = (who = 'admin') => {
    if (who === 'ci-cert') return k.writeKubeconfig({ user: 'ci-cert', cert: true, namespace: 'default' });
    return k.writeKubeconfig({ user: who, token: `${who.replace(/-user$/, '')}-token`, namespace: 'default' });
  };
  return { k, kc };
}

test('server-side apply creates, a repeat is a no-op, managedFields name the manager', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    const f = asFile(manifest('basic'));
    const a = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /flinkdeployment\.flink\.apache\.org\/basic serverside-applied/);
    const patch = k.requests('PATCH').at(-1);
    assert.equal(patch.contentType, 'application/apply-patch+yaml');
    assert.equal(patch.query.fieldManager, 'flink-deploy');
    // kubectl learned from /openapi/v3 that the server validates, so it asks it to be strict.
    assert.equal(patch.query.fieldValidation, 'Strict');
    assert.equal(patch.status, 201);
    const o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.metadata.generation, 1);
    assert.match(o.metadata.uid, /^[0-9a-f-]{36}$/);
    const e = entry(o, 'flink-deploy');
    assert.ok(e, JSON.stringify(o.metadata.managedFields));
    assert.deepEqual(e.fieldsV1['f:spec']['f:job'], { 'f:jarURI': {}, 'f:parallelism': {}, 'f:upgradeMode': {} });
    assert.equal(e.fieldsV1['f:metadata'], undefined, 'name and namespace are nobody\'s fields');

    const again = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(again.code, 0, again.stderr);
    const o2 = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o2.metadata.resourceVersion, o.metadata.resourceVersion, 'an apply that changes nothing is not a write');
    assert.equal(o2.metadata.generation, 1);

    const got = await kubectl(admin, ['get', 'flinkdeployment', 'basic', '-o', 'json', '--show-managed-fields']);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(JSON.parse(got.stdout), o2);
  } finally { await k.close(); }
});

test('another manager changing an owned field conflicts; --force-conflicts takes it over', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic'))])).code, 0);
    const before = k.get('FlinkDeployment', 'default', 'basic');
    const theirs = asFile(manifest('basic', { parallelism: 3 }));
    const c = await kubectl(admin, ['apply', '--server-side', '--field-manager=platform-team', '-f', theirs]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /Apply failed with 1 conflict: conflict with "flink-deploy": \.spec\.job\.parallelism/);
    assert.equal(k.requests('PATCH').at(-1).status, 409);
    assert.deepEqual(k.get('FlinkDeployment', 'default', 'basic'), before, 'a conflict changes nothing');

    // The same value is no conflict: the field becomes shared.
    const same = await kubectl(admin, ['apply', '--server-side', '--field-manager=platform-team', '-f', asFile(manifest('basic'))]);
    assert.equal(same.code, 0, same.stderr);
    assert.ok(entry(k.get('FlinkDeployment', 'default', 'basic'), 'platform-team').fieldsV1['f:spec']['f:job']['f:parallelism']);

    const f = await kubectl(admin, ['apply', '--server-side', '--field-manager=platform-team', '--force-conflicts', '-f', theirs]);
    assert.equal(f.code, 0, f.stderr);
    const o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.spec.job.parallelism, 3);
    assert.equal(o.metadata.generation, 2);
    assert.equal(entry(o, 'flink-deploy').fieldsV1['f:spec']['f:job']['f:parallelism'], undefined, 'the forced field left its old manager');
    assert.deepEqual(entry(o, 'platform-team').fieldsV1['f:spec']['f:job']['f:parallelism'], {});

    // Now ours conflicts with theirs; several fields are listed under the manager.
    const back = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic', { parallelism: 4, upgradeMode: 'savepoint' }))]);
    assert.equal(back.code, 1);
    assert.match(back.stderr, /Apply failed with 2 conflicts: conflicts with "platform-team":\n- \.spec\.job\.parallelism\n- \.spec\.job\.upgradeMode\n/);
  } finally { await k.close(); }
});

test('a field a manager stops applying is removed, unless another manager holds it', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    const withArgs = manifest('basic', { args: ['--a', '1'], entryClass: 'org.example.Main' });
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(withArgs)])).code, 0);
    // Another manager also sets entryClass (same value: shared).
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=other', '-f', asFile({ apiVersion: 'flink.apache.org/v1beta1', kind: 'FlinkDeployment', metadata: { name: 'basic' }, spec: { job: { entryClass: 'org.example.Main' } } })])).code, 0);
    const r = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic'))]);
    assert.equal(r.code, 0, r.stderr);
    const o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.spec.job.args, undefined, 'args were only ours: removed');
    assert.equal(o.spec.job.entryClass, 'org.example.Main', 'entryClass is still held by "other"');
    assert.equal(o.metadata.generation, 2);
  } finally { await k.close(); }
});

test('kubectl diff --server-side: exit 1 with the difference, 0 when equal; nothing stored', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    const f = asFile(manifest('basic'));
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f])).code, 0);
    const rv = k.get('FlinkDeployment', 'default', 'basic').metadata.resourceVersion;
    const eq = await kubectl(admin, ['diff', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(eq.code, 0, eq.stderr + eq.stdout);
    assert.equal(eq.stdout, '');
    const d = await kubectl(admin, ['diff', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic', { parallelism: 5 }))]);
    assert.equal(d.code, 1, d.stderr);
    assert.match(d.stdout, /^-\s+parallelism: 2$/m);
    assert.match(d.stdout, /^\+\s+parallelism: 5$/m);
    assert.match(d.stdout, /^\+\s+generation: 2$/m, 'the dry run answers with the generation the change would get');
    assert.ok(k.requests('PATCH').slice(-2).every((e) => e.query.dryRun === 'All'));
    assert.equal(k.get('FlinkDeployment', 'default', 'basic').metadata.resourceVersion, rv);
    assert.equal(k.get('FlinkDeployment', 'default', 'basic').spec.job.parallelism, 2);
  } finally { await k.close(); }
});

test('apply --dry-run=server validates and stores nothing; schema violations are 422 Invalid', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    const dry = await kubectl(admin, ['apply', '--server-side', '--dry-run=server', '--field-manager=flink-deploy', '-f', asFile(manifest('basic'))]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /serverside-applied \(server dry run\)/);
    assert.equal(k.get('FlinkDeployment', 'default', 'basic'), undefined);

    const bad = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic', { upgradeMode: 'sometimes', parallelism: -1 }, { spec: { mode: 'cloud' } }))]);
    assert.equal(bad.code, 1);
    // kubectl renders the Status's causes one per line.
    assert.match(bad.stderr, /^The FlinkDeployment "basic" is invalid: \n/);
    assert.match(bad.stderr, /spec\.job\.upgradeMode: Unsupported value: "sometimes": supported values: "last-state", "savepoint", "stateless"/);
    assert.match(bad.stderr, /spec\.mode: Unsupported value: "cloud": supported values: "native", "standalone"/);
    const e = k.requests('PATCH').at(-1);
    assert.equal(e.status, 422);
    assert.equal(k.get('FlinkDeployment', 'default', 'basic'), undefined);

    const dryBad = await kubectl(admin, ['apply', '--server-side', '--dry-run=server', '--field-manager=flink-deploy', '-f', asFile(manifest('basic', { upgradeMode: 'sometimes' }))]);
    assert.equal(dryBad.code, 1);
    assert.match(dryBad.stderr, /Unsupported value: "sometimes"/);

    // Server-side apply first turns the manifest into a typed object: an undeclared field or a
    // value of the wrong kind is rejected there, with the API server's (500) answer.
    const typed = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic', { parallelism: 'two' }))]);
    assert.equal(typed.code, 1);
    assert.match(typed.stderr, /Error from server: failed to create typed patch object \(default\/basic; flink\.apache\.org\/v1beta1, Kind=FlinkDeployment\): \.spec\.job\.parallelism: expected numeric \(int or float\), got string/);
    assert.equal(k.requests('PATCH').at(-1).status, 500);
    const unknown = manifest('basic');
    unknown.spec.jobb = { jarURI: 'x' };
    const u = await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(unknown)]);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /failed to create typed patch object \(default\/basic; flink\.apache\.org\/v1beta1, Kind=FlinkDeployment\): \.spec\.jobb: field not declared in schema/);
  } finally { await k.close(); }
});

test('kubectl wait on status a controller writes after a delay; status writes keep the generation', async () => {
  const { k, kc } = await cluster();
  try {
    k.controller('FlinkDeployment', (o, ctx) => {
      ctx.event({ type: 'Normal', reason: 'Submit', message: 'Starting deployment' });
      ctx.setStatus({ lifecycleState: 'DEPLOYED', jobStatus: { state: 'RUNNING' }, observedGeneration: o.metadata.generation }, { delayMs: 800 });
    }, { manager: 'flink-kubernetes-operator' });
    const admin = kc();
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('basic'))])).code, 0);
    const w = await kubectl(admin, ['wait', '--for=jsonpath={.status.jobStatus.state}=RUNNING', 'flinkdeployment/basic', '--timeout=20s']);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /condition met/);
    assert.ok(k.log.some((e) => e.query.watch === 'true' && e.query.fieldSelector === 'metadata.name=basic'), 'kubectl waited with a watch');
    const o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.metadata.generation, 1);
    assert.equal(o.status.observedGeneration, 1);
    const st = entry(o, 'flink-kubernetes-operator', 'Update', 'status');
    assert.equal(st.subresource, 'status');
    assert.ok(st.fieldsV1['f:status']['f:jobStatus']);

    // A status the wait never sees ends in kubectl's timeout error.
    const never = await kubectl(admin, ['wait', '--for=jsonpath={.status.lifecycleState}=STABLE', 'flinkdeployment/basic', '--timeout=1s']);
    assert.equal(never.code, 1);
    assert.match(never.stderr, /timed out waiting for the condition/);

    const ev = await kubectl(admin, ['get', 'events', '--field-selector', 'involvedObject.name=basic,involvedObject.kind=FlinkDeployment', '-o', 'json']);
    assert.equal(ev.code, 0, ev.stderr);
    const items = JSON.parse(ev.stdout).items;
    assert.deepEqual(items.map((x) => [x.reason, x.message, x.source.component]), [['Submit', 'Starting deployment', 'flink-kubernetes-operator']]);
    const ev2 = await kubectl(admin, ['get', 'events.v1.events.k8s.io', '--field-selector', 'regarding.name=basic', '-o', 'json']);
    assert.equal(ev2.code, 0, ev2.stderr);
    assert.deepEqual(JSON.parse(ev2.stdout).items.map((x) => [x.reason, x.note, x.reportingController]), [['Submit', 'Starting deployment', 'flink-kubernetes-operator']]);
    const none = await kubectl(admin, ['get', 'events', '--field-selector', 'involvedObject.name=other', '-o', 'json']);
    assert.deepEqual(JSON.parse(none.stdout).items, []);
  } finally { await k.close(); }
});

test('kubectl delete: without finalizers the object goes; with them it waits for their removal', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(manifest('plain'))])).code, 0);
    const d = await kubectl(admin, ['delete', 'flinkdeployment', 'plain']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /flinkdeployment\.flink\.apache\.org "plain" deleted/);
    assert.equal(k.get('FlinkDeployment', 'default', 'plain'), undefined);
    const again = await kubectl(admin, ['delete', 'flinkdeployment', 'plain']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error from server \(NotFound\): flinkdeployments\.flink\.apache\.org "plain" not found/);

    // The operator's finalizer: deletion marks the object; the controller cleans up and removes it.
    k.controller('FlinkDeployment', (o, ctx) => {
      if (!o.metadata.deletionTimestamp) return;
      ctx.setStatus((cur) => ({ ...(cur.status || {}), lifecycleState: 'DELETING' }), { delayMs: 100 });
    });
    const fin = manifest('held', {}, { metadata: { finalizers: ['flinkdeployments.flink.apache.org/finalizer'] } });
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(fin)])).code, 0);
    const nowait = await kubectl(admin, ['delete', 'flinkdeployment', 'held', '--wait=false']);
    assert.equal(nowait.code, 0, nowait.stderr);
    const marked = k.get('FlinkDeployment', 'default', 'held');
    assert.ok(marked.metadata.deletionTimestamp, 'marked for deletion, still there');
    assert.equal(marked.metadata.generation, 2, 'setting deletionTimestamp bumps the generation of a custom resource');
    // Removing the finalizer (merge patch, as an operator does) lets it go; kubectl wait --for=delete sees it.
    const waiter = kubectl(admin, ['wait', '--for=delete', 'flinkdeployment/held', '--timeout=20s']);
    await sleep(300);
    const p = await kubectl(admin, ['patch', 'flinkdeployment', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    assert.equal(p.code, 0, p.stderr);
    const w = await waiter;
    assert.equal(w.code, 0, w.stderr);
    assert.equal(k.get('FlinkDeployment', 'default', 'held'), undefined);
  } finally { await k.close(); }
});

test('service proxy: kubectl get --raw reaches the backend; no Kubernetes credentials pass; 404/503 as the API server answers', async () => {
  const seen = [];
  const echo = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': 'echo' });
      res.end(JSON.stringify({ path: req.url }));
    });
  });
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const vvp = await startVvp({ token: null });
  const refused = http.createServer();
  await new Promise((r) => refused.listen(0, '127.0.0.1', r));
  const deadPort = refused.address().port;
  await new Promise((r) => refused.close(r));
  const { k, kc } = await cluster({
    services: [
      { namespace: 'vvp', name: 'vvp-ververica-platform', ports: [{ name: 'http', port: 80, backend: vvp.url }] },
      { namespace: 'vvp', name: 'echo', ports: [{ name: 'web', port: 8080, backend: `http://127.0.0.1:${echo.address().port}/` }, { name: 'other', port: 9090, backend: `http://127.0.0.1:${deadPort}` }] },
    ],
  });
  try {
    vvp.seed('default', { metadata: { name: 'via-proxy' }, spec: { state: 'RUNNING', deploymentTargetName: 'vvp-jobs', template: { spec: { artifact: { kind: 'JAR', jarUri: 's3://x/y.jar' } } } } });
    const proxyUser = kc('proxy-user');
    const r = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/vvp/services/vvp-ververica-platform:http/proxy/api/v1/namespaces/default/deployments']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).items.map((d) => d.metadata.name), ['via-proxy']);
    assert.equal(vvp.log.at(-1).path, '/api/v1/namespaces/default/deployments');

    const e = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/vvp/services/http:echo:8080/proxy/some/path?x=1&y=two']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(seen.at(-1).url, '/some/path?x=1&y=two');
    assert.equal(seen.at(-1).headers.authorization, undefined, 'the API server keeps the caller\'s bearer token to itself');
    assert.match(seen.at(-1).headers['user-agent'], /^kubectl\//);

    const unknownSvc = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/vvp/services/nope:80/proxy/']);
    assert.equal(unknownSvc.code, 1);
    assert.match(unknownSvc.stderr, /Error from server \(NotFound\): services "nope" not found/);
    const unknownPort = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/vvp/services/echo:nope/proxy/']);
    assert.equal(unknownPort.code, 1);
    assert.match(unknownPort.stderr, /no service port "nope" found for service "echo"/);
    const down = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/vvp/services/echo:other/proxy/x']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /error trying to reach service: dial tcp 127\.0\.0\.1:\d+: connect: connection refused/);
    assert.equal(k.log.at(-1).status, 503);

    // Writes through the proxy need create/update/... on services/proxy: this user has only get.
    const post = await kubectl(proxyUser, ['create', '--raw', '/api/v1/namespaces/vvp/services/echo:web/proxy/x', '-f', '-'], { input: '{"a":1}' });
    assert.equal(post.code, 1);
    // The name RBAC sees is the path segment, port included.
    assert.match(post.stderr, /services "echo:web" is forbidden: User "proxy-user" cannot create resource "services\/proxy" in API group "" in the namespace "vvp"/);
    const admin = await kubectl(kc(), ['create', '--raw', '/api/v1/namespaces/vvp/services/echo:web/proxy/x', '-f', '-'], { input: '{"a":1}' });
    assert.equal(admin.code, 0, admin.stderr);
    assert.deepEqual([seen.at(-1).method, seen.at(-1).body], ['POST', '{"a":1}']);
    const other = await kubectl(proxyUser, ['get', '--raw', '/api/v1/namespaces/default/services/echo:web/proxy/']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /User "proxy-user" cannot get resource "services\/proxy" in API group "" in the namespace "default"/);
  } finally {
    await k.close(); await vvp.close();
    await new Promise((r) => echo.close(r));
  }
});

test('authentication and RBAC: 401 for unknown credentials, 403 in the API server\'s words, client certificates', async () => {
  const { k, kc } = await cluster();
  try {
    const f = asFile(manifest('basic'));
    const bad = k.writeKubeconfig({ user: 'x', token: 'wrong', namespace: 'default' });
    const u = await kubectl(bad, ['get', 'flinkdeployments']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /error: You must be logged in to the server \(the server has asked for the client to provide credentials\)/);
    assert.ok(k.log.every((e) => e.status === 401 && e.auth === 'invalid'));

    const v = await kubectl(kc('viewer'), ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /flinkdeployments\.flink\.apache\.org "basic" is forbidden: User "viewer" cannot patch resource "flinkdeployments" in API group "flink\.apache\.org" in the namespace "default"/);
    // Apply that would create needs create as well as patch.
    const p = await kubectl(kc('patcher'), ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /User "patcher" cannot create resource "flinkdeployments"/);
    assert.equal(k.get('FlinkDeployment', 'default', 'basic'), undefined);

    const c = await kubectl(kc('ci-cert'), ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(k.requests('PATCH').at(-1).auth, 'cert');
    assert.equal(k.requests('PATCH').at(-1).user, 'ci-cert');
    const s = await kubectl(kc('ci-cert'), ['get', 'flinkdeployment', 'basic', '-o', 'jsonpath={.metadata.name}']);
    assert.equal(s.stdout, 'basic');
    const st = await kubectl(kc('ci-cert'), ['get', 'secrets']);
    assert.equal(st.code, 1);
    assert.match(st.stderr, /secrets is forbidden: User "ci-cert" cannot list resource "secrets" in API group "" in the namespace "default"/);
    // The status subresource is its own resource for RBAC.
    const vs = await kubectl(kc('patcher'), ['patch', 'flinkdeployment', 'basic', '--subresource=status', '--type=merge', '-p', '{"status":{"lifecycleState":"STABLE"}}']);
    assert.equal(vs.code, 1);
    assert.match(vs.stderr, /User "patcher" cannot get resource "flinkdeployments\/status" in API group "flink\.apache\.org" in the namespace "default"/);
  } finally { await k.close(); }
});

test('without OpenAPI kubectl cannot validate: it refuses unless --validate=false, then asks the server to ignore unknown fields', async () => {
  const { k, kc } = await cluster({ openapi: false });
  try {
    const f = asFile(manifest('basic'));
    const a = await kubectl(kc(), ['apply', '--server-side', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /failed to download openapi: the server could not find the requested resource/);
    assert.ok(k.log.some((e) => e.path === '/openapi/v2' && e.status === 404));
    const b = await kubectl(kc(), ['apply', '--server-side', '--validate=false', '--field-manager=flink-deploy', '-f', f]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(k.requests('PATCH').at(-1).query.fieldValidation, 'Ignore');
  } finally { await k.close(); }
});

test('status subresource: main-resource writes ignore status, status writes ignore the rest; merge patch and PUT by other managers', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    const m = manifest('basic');
    m.status = { lifecycleState: 'STABLE' };
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=flink-deploy', '-f', asFile(m)])).code, 0);
    let o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.status, undefined, 'status in a main-resource write is dropped');
    assert.equal(entry(o, 'flink-deploy').fieldsV1['f:status'], undefined);

    const s = await kubectl(admin, ['patch', 'flinkdeployment', 'basic', '--subresource=status', '--type=merge', '-p', '{"status":{"lifecycleState":"DEPLOYED"},"spec":{"job":{"parallelism":9}}}']);
    assert.equal(s.code, 0, s.stderr);
    o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.status.lifecycleState, 'DEPLOYED');
    assert.equal(o.spec.job.parallelism, 2, 'spec in a status write is dropped');
    assert.equal(o.metadata.generation, 1);

    const e = await kubectl(admin, ['patch', 'flinkdeployment', 'basic', '--type=merge', '-p', '{"spec":{"job":{"parallelism":7}}}']);
    assert.equal(e.code, 0, e.stderr);
    o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.spec.job.parallelism, 7);
    assert.equal(o.metadata.generation, 2);
    const patchEntry = entry(o, 'kubectl-patch', 'Update');
    assert.deepEqual(patchEntry.fieldsV1, { 'f:spec': { 'f:job': { 'f:parallelism': {} } } });
    assert.equal(entry(o, 'flink-deploy').fieldsV1['f:spec']['f:job']['f:parallelism'], undefined, 'an update takes the field without a conflict');
    // Unknown fields in non-apply writes: kubectl patch asks for nothing, so the server prunes
    // and warns; kubectl replace asks for Strict and gets 400.
    const warn = await kubectl(admin, ['patch', 'flinkdeployment', 'basic', '--type=merge', '-p', '{"spec":{"nope":1}}']);
    assert.equal(warn.code, 0, warn.stderr);
    assert.match(warn.stderr, /Warning: unknown field "spec\.nope"/);
    assert.equal(k.get('FlinkDeployment', 'default', 'basic').spec.nope, undefined);
    const replaced = manifest('basic');
    replaced.spec.nope = 1;
    const strict = await kubectl(admin, ['replace', '-f', asFile(replaced)]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /Error from server \(BadRequest\): error when replacing ".*": FlinkDeployment in version "v1beta1" cannot be handled as a FlinkDeployment: strict decoding error: unknown field "spec\.nope"/);
    assert.equal(k.requests('PUT').at(-1).query.fieldValidation, 'Strict');
    // PUT without the current resourceVersion is accepted; with a stale one it conflicts.
    const stale = manifest('basic', { parallelism: 8 });
    stale.metadata.resourceVersion = '1';
    const c = await kubectl(admin, ['replace', '-f', asFile(stale)]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /Operation cannot be fulfilled on flinkdeployments\.flink\.apache\.org "basic": the object has been modified; please apply your changes to the latest version and try again/);
    const r = await kubectl(admin, ['replace', '-f', asFile(manifest('basic', { parallelism: 8 }))]);
    assert.equal(r.code, 0, r.stderr);
    o = k.get('FlinkDeployment', 'default', 'basic');
    assert.equal(o.spec.job.parallelism, 8);
    assert.equal(o.status.lifecycleState, 'DEPLOYED', 'a PUT of the main resource keeps the status');
    assert.equal(o.metadata.generation, 3);
  } finally { await k.close(); }
});

test('granular maps, set lists and associative lists: managers share labels, finalizers and list items; conflicts name the item', async () => {
  const widgets = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
              tags:
                type: array
                x-kubernetes-list-type: set
                items: {type: string}
`;
  const { k, kc } = await cluster({ crds: [...FLINK_CRDS, widgets] });
  try {
    const admin = kc();
    const widget = (ports, tags, labels, finalizers) => asFile({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', labels, finalizers }, spec: { ports, tags } });
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=a', '-f', widget([{ name: 'http', port: 80 }], ['x'], { team: 'a' }, ['example.com/a'])])).code, 0);
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=b', '-f', widget([{ name: 'admin', port: 9000 }], ['y'], { env: 'prod' }, ['example.com/b'])])).code, 0);
    let o = k.get('Widget', 'default', 'w');
    assert.deepEqual(o.metadata.labels, { team: 'a', env: 'prod' });
    assert.deepEqual(o.metadata.finalizers, ['example.com/a', 'example.com/b']);
    assert.deepEqual(o.spec.ports, [{ name: 'http', port: 80 }, { name: 'admin', port: 9000 }]);
    assert.deepEqual(o.spec.tags, ['x', 'y']);
    assert.deepEqual(entry(o, 'a').fieldsV1, {
      'f:metadata': { 'f:finalizers': { 'v:"example.com/a"': {} }, 'f:labels': { 'f:team': {} } },
      'f:spec': { 'f:ports': { 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } }, 'f:tags': { 'v:"x"': {} } },
    });
    const c = await kubectl(admin, ['apply', '--server-side', '--field-manager=b', '-f', widget([{ name: 'admin', port: 9000 }, { name: 'http', port: 8080 }], ['y'], { env: 'prod' }, ['example.com/b'])]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /conflict with "a": \.spec\.ports\[name="http"\]\.port/);
    // "a" stops applying its label, port and tag: they go; "b"'s stay.
    assert.equal((await kubectl(admin, ['apply', '--server-side', '--field-manager=a', '-f', widget(undefined, undefined, undefined, ['example.com/a'])])).code, 0);
    o = k.get('Widget', 'default', 'w');
    assert.deepEqual(o.metadata.labels, { env: 'prod' });
    assert.deepEqual(o.spec.ports, [{ name: 'admin', port: 9000 }]);
    assert.deepEqual(o.spec.tags, ['y']);
    assert.deepEqual(o.metadata.finalizers, ['example.com/a', 'example.com/b']);
  } finally { await k.close(); }
});

test('fault hooks: injected Status answers and reset connections reach the client; the request log records them', async () => {
  const { k, kc } = await cluster();
  try {
    const admin = kc();
    k.fault({ method: 'GET', path: /\/flinkdeployments$/, status: 429, message: 'too many requests, please try again later', headers: { 'retry-after': '0' }, times: 1 });
    k.fault({ method: 'GET', path: /\/flinkdeployments$/, status: 500, message: 'etcdserver: request timed out', times: 1 });
    const r = await kubectl(admin, ['get', 'flinkdeployments', '-o', 'json']);
    // kubectl retries the 429 on its own (Retry-After), then shows the 500.
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Error from server \(InternalError\): etcdserver: request timed out/);
    assert.deepEqual(k.log.filter((e) => e.fault).map((e) => e.status), [429, 500]);
    // A GET whose connection is reset is retried by kubectl (client-go retries idempotent
    // requests on a reset).
    k.fault({ path: /\/flinkdeployments$/, reset: true, times: 2 });
    const once = await kubectl(admin, ['get', 'flinkdeployments', '-o', 'json']);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(k.log.filter((e) => e.status === 'reset').length, 2);
    const ok = await kubectl(admin, ['get', 'flinkdeployments', '-o', 'json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).items, []);
  } finally { await k.close(); }
});
