// The bad-input matrix: for every input of task/task.json, the values that must be refused, run
// through the packaged task and the agent emulator against live fakes of each target. Every
// case must end Failed with exactly one error that names the input (or the spec field), and no
// request that could change anything may reach a fake: bad input is refused before anything is
// changed on a platform, in storage or in a variable.
//
// "Very long" is 120 KB, not 1 MB: the agent hands inputs to the task as environment variables,
// and Linux refuses a single one over 128 KiB (MAX_ARG_STRLEN), so no pipeline can pass more.
// The 1 MB case is a spec file. NUL cannot be in an environment variable either.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { repo, scratch, run } = require('./helpers');
const { startVvp } = require('../fakes/vvp');
const { startEntra } = require('../fakes/entra');
const { startArmHdinsight } = require('../fakes/arm-hdinsight');
const { startK8s } = require('../fakes/k8s');

const TASK = JSON.parse(fs.readFileSync(path.join(repo, 'task/task.json'), 'utf8'));
const DEFS = Object.fromEntries(TASK.inputs.map((i) => [i.name, i]));

const TOKEN = 'vvp-bad-input-token';
const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '4b9e2a43-5c1d-4f6e-8a7b-9c0d1e2f3a4b';
const SP_SECRET = 'bad-input-sp-secret';
const CONN = 'b1a5f0c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c';
const JARS = 'abfs://flinkjob@hilosa.dfs.core.windows.net/jars';
const LONG = 'a'.repeat(120_000);
const GUID = '6232cc84-7aa3-4524-b3a8-36cab7203c47';
const STORAGE = { storageAccount: 'acct1', containerName: 'jars', storageSasToken: 'sv=2024&sig=abc' };
const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const K8S_CONN = '3ef3fe8b-5efc-42b7-a2b6-eeefc0f3b8b3';
/** An AKS sign-in through the AzureRM connection, for the cluster inputs. */
const AKS = { connectionType: 'azureResourceManager', azureSubscription: CONN, azureResourceGroup: 'rg', kubernetesCluster: 'aks', kubernetesServiceEndpoint: undefined };

/** A plain HTTP server standing in for a Flink JobManager: it logs and answers nothing useful. */
function recorder() {
  const log = [];
  const server = http.createServer((req, res) => {
    log.push({ method: req.method, path: req.url });
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: ['Not found'] }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`, log, close: () => new Promise((r) => server.close(r)),
  })));
}

let vvp; let entra; let arm; let flink; let k8s; let cwd;

before(async () => {
  vvp = await startVvp({ token: TOKEN, deploymentTargets: [{ name: 'vvp-jobs', id: GUID }] });
  entra = await startEntra({ clients: { [CLIENT]: { secret: SP_SECRET, tenant: TENANT } } });
  arm = await startArmHdinsight({ entra, subscriptionId: SUB, jobs: [] });
  flink = await recorder();
  k8s = await startK8s({ namespaces: ['default', 'flink'], users: [{ name: 'ci', token: 'ci-bad-input-token', rules: 'admin' }] });
  cwd = scratch('fd-bad-input-');
  fs.writeFileSync(path.join(cwd, 'job.jar'), 'PK');
  fs.mkdirSync(path.join(cwd, 'lib'));
  fs.writeFileSync(path.join(cwd, 'lib/a.jar'), 'PK');
  fs.writeFileSync(path.join(cwd, 'lib/b.jar'), 'PK');
  const spec = (name, text) => fs.writeFileSync(path.join(cwd, name), text);
  spec('broken.yaml', 'kind: Deployment\nmetadata: [name: x\n');
  spec('broken.json', '{"kind": "Deployment", "metadata": {');
  spec('list.yaml', '- kind: Deployment\n');
  spec('placeholder.yaml', 'kind: Deployment\napiVersion: v1\nmetadata:\n  name: orders\nspec:\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: ${UNDEFINED_VARIABLE}\n');
  spec('huge.yaml', `kind: Deployment\nmetadata: {name: orders\n${'# filler\n'.repeat(120_000)}spec: [\n`);
  spec('wrong-kind.yaml', 'kind: Pod\napiVersion: v1\nmetadata:\n  name: orders\n');
});

after(async () => {
  await Promise.all([vvp, arm, entra, flink, k8s].filter(Boolean).map((f) => f.close()));
});

/** The inputs (fake URLs as functions) of a run that would succeed (or at least get past input checks) on each target. */
function base(target) {
  switch (target) {
    case 'ververica':
      return { target, vvpUrl: () => vvp.url, vvpApiToken: TOKEN, deploymentName: 'orders', deploymentTargetName: 'vvp-jobs', jarUri: `${JARS}/orders.jar`, settleSeconds: '0', timeoutSeconds: '20' };
    case 'hdinsight':
      return { target, azureSubscription: CONN, hdiResourceGroup: 'rg', hdiClusterPool: 'pool', hdiClusterName: 'cluster', hdiArmEndpoint: () => arm.url, jobName: 'orders', jarUri: `${JARS}/orders.jar`, entryClass: 'com.example.Orders', settleSeconds: '0', timeoutSeconds: '20' };
    case 'flink':
      return { target, flinkUrl: () => flink.url, jobName: 'orders', artifactPath: 'job.jar', settleSeconds: '0', timeoutSeconds: '20' };
    case 'ververicaOperator':
      return { target, vvpOperatorVersion: '2', kubernetesServiceEndpoint: K8S_CONN, namespace: 'flink', deploymentName: 'orders', deploymentTargetName: 'vvp-jobs', apikeySecretName: 'vvp-token', jarUri: `${JARS}/orders.jar`, settleSeconds: '0', timeoutSeconds: '20' };
    case 'flinkOperator':
      // Suspend by name: no spec file needed, and every input check runs before the cluster is asked.
      return { target, action: 'suspend', flinkResourceKind: 'FlinkDeployment', kubernetesServiceEndpoint: K8S_CONN, namespace: 'flink', deploymentName: 'orders', settleSeconds: '0', timeoutSeconds: '20' };
    default:
      throw new Error(target);
  }
}

/** The target on which an input is shown (its visibleRule), so the case runs where it matters. */
function targetFor(name) {
  const rule = DEFS[name].visibleRule || '';
  const m = rule.match(/target (=|!=) (\w+)/);
  if (!m) return ['hdiSubscriptionId', 'hdiResourceGroup', 'hdiClusterPool', 'hdiClusterName', 'hdiApiVersion', 'hdiArmEndpoint'].includes(name) ? 'hdinsight'
    : ['flinkUrl', 'flinkAuth', 'flinkUsername', 'flinkPassword', 'flinkToken', 'flinkCredentialSecret', 'jobName'].includes(name) ? 'flink'
      : ['kubernetesServiceEndpoint', 'azureResourceGroup', 'kubernetesCluster', 'namespace', 'vvpOperatorInstanceId'].includes(name) ? 'ververicaOperator' : 'ververica';
  return m[1] === '=' ? m[2] : ['ververica', 'flink', 'hdinsight'].find((t) => t !== m[2]);
}

const NUMBERS = { parallelism: [1, 100_000], timeoutSeconds: [1, 86_400], settleSeconds: [0, 3_600], healthCheckpoints: [0, 100], healthMaxRestarts: [0, 10], maxParallel: [1, 256] };
const GUIDS = ['deploymentId', 'deploymentTargetId', 'savepointId', 'hdiSubscriptionId'];
const URLS = ['vvpUrl', 'flinkUrl', 'hdiArmEndpoint', 'blobEndpoint'];

/**
 * The values each input must refuse, as [label, value, extra inputs, expected error]. Built from
 * task.json's type of each input, then what the input means.
 */
function badValues(def) {
  const n = def.name;
  const out = [];
  const add = (label, value, extra = {}, expect) => out.push({ label, value, extra, expect });
  if (def.type === 'boolean') {
    add('wrong type', 'yes');
    add('wrong type (number)', '1');
    add('unicode', 'trüe');
  } else if (def.type === 'pickList') {
    add('unknown value', 'explode');
    add('unicode', 'ververicä');
    add('control character', `${def.options && Object.keys(def.options).find(Boolean)}\u0007`);
  } else if (def.type.startsWith('connectedService')) {
    add('a connection the job was not given', 'not-a-connection');
  } else if (NUMBERS[n]) {
    const [min, max] = NUMBERS[n];
    add('wrong type', 'soon');
    add('negative', '-1');
    add('exponent', '1e3');
    add('unicode digit', '３');
    add('overflow', '99999999999999999999999');
    if (min > 0) add('out of range (low)', String(min - 1));
    add('out of range (high)', String(max + 1));
    add('very long', LONG);
  } else if (GUIDS.includes(n)) {
    add('wrong type', '123');
    add('not hex', 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz');
    add('unicode', `${GUID.slice(0, -1)}ä`);
    add('very long', LONG);
  } else if (URLS.includes(n)) {
    const extra = n === 'blobEndpoint' ? STORAGE : {};
    add('wrong type', 'not a url', extra);
    add('not http(s)', 'ftp://files.example.com/x', extra);
    add('credentials in the URL', 'https://user:pw@host.example.com', extra);
    add('unicode and control characters', 'https://hö\u0007st', extra);
    add('very long', LONG, extra);
  }
  return out;
}

/** Inputs whose meaning says more about what is bad than their type does. */
const SPECIFIC = {
  vvpUrl: [['whitespace only (required)', '   ']],
  flinkUrl: [['whitespace only (required)', '   ']],
  deploymentName: [['not a resource name', 'My Job'], ['unicode', 'jöb'], ['64 characters', 'a'.repeat(64)], ['very long', LONG]],
  vvpNamespace: [['not a resource name', 'Prod'], ['unicode', 'prød'], ['very long', LONG]],
  displayName: [['control character', 'a\u001bb'], ['very long', LONG]],
  deploymentTargetName: [['control character', 'vvp\u0007jobs'], ['very long', LONG]],
  sessionClusterName: [['control character', 's\u0007'], ['very long', LONG]],
  entryClass: [['not a class name', 'com..Main'], ['shell syntax', 'com.example.Main;rm'], ['very long', LONG]],
  mainArgs: [['unclosed quote', "--title 'open"], ['control character', '--a \u0007']],
  flinkConfiguration: [['not key: value', 'novalue'], ['control character', 'a: b\u001b'], ['very long line', LONG]],
  savepointLocation: [['control character', 's3://b/\u0007'], ['very long', LONG]],
  initialSavepointPath: [['control character', 'file:///sp\u0007'], ['very long', LONG]],
  savepointDirectory: [['control character', 'file:///sp\u0007'], ['very long', LONG]],
  apikeySecretName: [['not a resource name', 'Bad_Name', { _target: 'ververica', action: 'renderCustomResource', customResourcePath: 'out/cr.yaml' }]],
  azureResourceGroup: [['slash', 'rg/../x', AKS], ['whitespace only (required)', '  ', AKS], ['very long', LONG, AKS]],
  kubernetesCluster: [['slash', 'a/b', AKS], ['ends with an underscore', 'aks_', AKS], ['whitespace only (required)', '  ', AKS], ['very long', LONG, AKS]],
  namespace: [['not a namespace name', 'Flink'], ['unicode', 'flïnk'], ['very long', LONG]],
  vvpService: [
    ['no service name', 'vvp/', { vvpUrl: undefined, vvpApiToken: undefined }],
    ['port out of range', 'vvp/vvp-ververica-platform:99999', { vvpUrl: undefined, vvpApiToken: undefined }],
    ['with vvpUrl', 'vvp/vvp-ververica-platform:80', { vvpApiToken: undefined }],
    ['with an API token', 'vvp/vvp-ververica-platform:80', { vvpUrl: undefined }],
    ['very long', LONG, { vvpUrl: undefined, vvpApiToken: undefined }],
  ],
  vvpOperatorInstanceId: [['not a label value', 'my operator', { vvpOperatorVersion: '3' }], ['with version 2', 'vvp-main'], ['very long', LONG, { vvpOperatorVersion: '3' }]],
  customResourcePath: [
    ['whitespace only (required)', '  ', { action: 'renderCustomResource' }],
    ['very long', LONG, { action: 'renderCustomResource' }],
  ],
  specFile: [
    ['malformed YAML', 'broken.yaml'], ['malformed JSON', 'broken.json'], ['not a mapping', 'list.yaml'],
    ['placeholder left in the spec', 'placeholder.yaml', { jarUri: undefined }], ['1 MB of malformed YAML', 'huge.yaml'],
    ['path traversal to a non-spec file', '../../../../../../etc/hostname'], ['not a Deployment', 'wrong-kind.yaml'],
    ['missing file', 'nope.yaml'], ['very long', LONG],
  ],
  testResultsFile: [['control character', 'junit\u0007.xml'], ['very long', LONG]],
  artifactPath: [
    ['glob matching no file', 'lib/*.zip', { jarUri: undefined }],
    ['glob matching two files', 'lib/*.jar', { jarUri: undefined }],
    ['path traversal to nothing', '../../../nowhere/*.jar', { jarUri: undefined }],
    ['very long', LONG, { jarUri: undefined }],
    ['whitespace only (required)', '   ', { _target: 'flink' }],
  ],
  jarUri: [['not a URI', 'orders.jar'], ['control character', 'https://x/a.jar\u0007'], ['very long', LONG]],
  jobName: [['whitespace only (required)', '   '], ['control character', 'orders\u0007'], ['very long', LONG]],
  vvpApiToken: [['unicode', 'tök-en'], ['spaces', 'Bearer abc'], ['control character', 'tok\u0007'], ['very long', LONG]],
  vvpApiTokenSecret: [['without keyVaultName', 'vvp-token', { vvpApiToken: undefined }]],
  flinkUsername: [['colon', 'a:b', { flinkAuth: 'basic', flinkPassword: 'pw', flinkUrl: 'https://flink.example.com' }], ['whitespace only (required)', '  ', { flinkAuth: 'basic', flinkPassword: 'pw' }]],
  flinkPassword: [['whitespace only (required)', '  ', { flinkAuth: 'basic', flinkUsername: 'ci' }]],
  flinkToken: [['spaces', 'a b', { flinkAuth: 'bearer' }], ['whitespace only (required)', '  ', { flinkAuth: 'bearer' }], ['very long', LONG, { flinkAuth: 'bearer' }]],
  flinkCredentialSecret: [['without keyVaultName', 'flink-cred', { flinkAuth: 'bearer' }]],
  keyVaultName: [['too short', 'kv'], ['underscore', 'kv_1'], ['double hyphen', 'kv--x'], ['unicode', 'kvö1'], ['very long', LONG]],
  secretsFilter: [['not a secret name', 'bad name!', { keyVaultName: 'kv1', azureSubscription: CONN }], ['without keyVaultName', 'a']],
  hdiResourceGroup: [['whitespace only (required)', '  '], ['slash', 'rg/../x'], ['query', 'rg?x'], ['very long', LONG]],
  hdiClusterPool: [['whitespace only (required)', '  '], ['slash', 'a/b'], ['very long', LONG]],
  hdiClusterName: [['whitespace only (required)', '  '], ['fragment', 'c#1'], ['control character', 'c\u0007'], ['very long', LONG]],
  hdiApiVersion: [['query', '2023-06-01?x=1'], ['very long', `2023${'-a'.repeat(60_000)}`]],
  storageAccount: [['upper case', 'Acct1', { containerName: 'jars', storageSasToken: 'sv=1' }], ['too short', 'ab', { containerName: 'jars', storageSasToken: 'sv=1' }], ['very long', LONG, { containerName: 'jars', storageSasToken: 'sv=1' }]],
  containerName: [['upper case', 'Jars', { storageAccount: 'acct1', storageSasToken: 'sv=1' }], ['whitespace only (required)', '  ', { storageAccount: 'acct1', storageSasToken: 'sv=1' }], ['without storageAccount', 'jars']],
  blobPrefix: [['path traversal', '../up', STORAGE], ['path traversal inside', 'a/../../b', STORAGE]],
  storageSasToken: [['spaces', 'sv=1 sig=2', { storageAccount: 'acct1', containerName: 'jars' }], ['very long', LONG, { storageAccount: 'acct1', containerName: 'jars' }], ['without storageAccount', 'sv=1']],
};

/** Expected error text when it is another input that is named (conflicts, requirements). */
const NAMED_BY = {
  'flinkPassword:whitespace only (required)': /`flinkPassword`/,
  'flinkToken:whitespace only (required)': /`flinkToken`/,
  'vvpApiTokenSecret:without keyVaultName': /`vvpApiTokenSecret`.*`keyVaultName`/,
  'flinkCredentialSecret:without keyVaultName': /`flinkCredentialSecret`.*`keyVaultName`/,
  'secretsFilter:without keyVaultName': /`secretsFilter`.*`keyVaultName`/,
  'specFile:placeholder left in the spec': /`specFile`.*UNDEFINED_VARIABLE/,
};

function cases() {
  const out = [];
  for (const def of TASK.inputs) {
    const specific = (SPECIFIC[def.name] || []).map(([label, value, extra = {}]) => ({ label, value, extra }));
    for (const c of [...badValues(def), ...specific]) {
      const { _target, ...extra } = c.extra;
      const target = _target || (def.name === 'target' ? 'ververica' : targetFor(def.name));
      out.push({
        name: `${def.name}: ${c.label}`,
        target,
        inputs: { ...base(target), ...extra, [def.name]: c.value },
        expect: NAMED_BY[`${def.name}:${c.label}`] || new RegExp(`\`${def.name}\``),
      });
    }
  }
  // Conflicting inputs: each pair names the input that has to go.
  const conflict = (name, target, inputs, expect) => out.push({ name: `conflict: ${name}`, target, inputs: { ...base(target), ...inputs }, expect });
  conflict('artifactPath and jarUri', 'ververica', { artifactPath: 'job.jar' }, /`jarUri`.*`artifactPath`/);
  conflict('deploymentTargetName and sessionClusterName', 'ververica', { sessionClusterName: 'shared' }, /`sessionClusterName`/);
  conflict('deploymentTargetId and sessionClusterName', 'ververica', { deploymentTargetName: undefined, deploymentTargetId: GUID, sessionClusterName: 'shared' }, /`sessionClusterName`/);
  conflict('savepointId and savepointLocation', 'ververica', { action: 'resume', savepointId: GUID, savepointLocation: 's3://b/sp' }, /`savepointLocation`.*`savepointId`/);
  conflict('vvpApiToken and vvpApiTokenSecret', 'ververica', { vvpApiTokenSecret: 'tok', keyVaultName: 'kv1', azureSubscription: CONN }, /`vvpApiTokenSecret`.*`vvpApiToken`/);
  conflict('flinkToken and flinkCredentialSecret', 'flink', { flinkAuth: 'bearer', flinkToken: 'flink-token-1', flinkCredentialSecret: 'flink-cred', keyVaultName: 'kv1', azureSubscription: CONN }, /`flinkCredentialSecret`.*`flinkToken`/);
  conflict('renderCustomResource on target flink', 'flink', { action: 'renderCustomResource' }, /`action`.*renderCustomResource/);
  conflict('a token over plain http to another host (vvpUrl)', 'ververica', { vvpUrl: 'http://vvp.example.com' }, /`vvpUrl`.*plain http/);
  conflict('deploy to Flink without a jar', 'flink', { artifactPath: undefined }, /`artifactPath`/);
  conflict('hdinsight without a service connection', 'hdinsight', { azureSubscription: undefined }, /`azureSubscription`/);
  conflict('Blob Storage without SAS or connection', 'ververica', { storageAccount: 'acct1', containerName: 'jars' }, /`azureSubscription`/);
  return out;
}

const endpoints = {
  [K8S_CONN]: {
    url: 'https://127.0.0.1:1',
    scheme: 'Token',
    parameters: { apitoken: Buffer.from('ci-bad-input-token').toString('base64') },
    data: { authorizationType: 'ServiceAccount' },
  },
  [CONN]: {
    url: 'https://management.azure.com/',
    scheme: 'ServicePrincipal',
    parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, serviceprincipalkey: SP_SECRET, authenticationType: 'spnKey' },
    data: { subscriptionid: SUB, environment: 'AzureCloud', environmentAuthorityUrl: null },
  },
};

/** Every request the fakes saw, as `METHOD path`, with the target's fakes first. */
function requests() {
  return {
    ververica: vvp.log.map((e) => ({ method: e.method, path: e.path })),
    hdinsight: [...arm.state.requests, ...entra.state.requests].map((e) => ({ method: e.method, path: e.path })),
    flink: flink.log.slice(),
    ververicaOperator: [...k8s.log, ...vvp.log].map((e) => ({ method: e.method, path: e.path })),
  };
}

/**
 * Cases that cannot be judged without reading the platform (a deployment target that may or
 * may not exist is a read, never a write).
 */
const MAY_READ = /^(deploymentTargetName|sessionClusterName): /;

describe('bad input is refused before anything changes', { concurrency: 3 }, () => {
  const all = cases();
  for (const target of ['ververica', 'hdinsight', 'flink', 'ververicaOperator']) {
    test(`target ${target}: ${all.filter((c) => c.target === target).length} bad values`, async () => {
      endpoints[CONN].data.environmentAuthorityUrl = entra.url;
      endpoints[K8S_CONN].url = k8s.url;
      const problems = [];
      // One at a time per target, so each request in the fakes' logs belongs to one case; the
      // three targets run side by side.
      for (const c of all.filter((x) => x.target === target)) {
        // Fake URLs are known only once the fakes listen.
        const inputs = Object.fromEntries(Object.entries(c.inputs).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'function' ? v() : v]));
        const seen = requests()[target].length;
        const r = await run({ cwd, inputs, endpoints, env: { AGENT_CAINFO: arm.caFile } });
        const sent = requests()[target].slice(seen);
        const why = [];
        if (r.exitCode === 0) why.push('exit code 0');
        if (r.result !== 'Failed') why.push(`result ${r.result}`);
        if (r.errors.length !== 1) why.push(`${r.errors.length} errors: ${JSON.stringify(r.errors.map((e) => e.message.slice(0, 200)))}`);
        else {
          if (!c.expect.test(r.errors[0].message)) why.push(`error does not match ${c.expect}: ${r.errors[0].message.slice(0, 300)}`);
          if (r.errors[0].message.length > 2000) why.push(`error of ${r.errors[0].message.length} characters`);
        }
        const writes = sent.filter((q) => WRITE.has(q.method) && !/\/oauth2\/v2\.0\/token$/.test(q.path));
        if (writes.length) why.push(`writes: ${JSON.stringify(writes)}`);
        if (sent.length && !MAY_READ.test(c.name)) why.push(`requests before the input was refused: ${JSON.stringify(sent.slice(0, 3))}`);
        if (r.command('task.setvariable').length) why.push('a variable was set');
        if (why.length) problems.push(`${c.name}: ${why.join('; ')}`);
      }
      assert.deepEqual(problems, []);
    });
  }

  test('the matrix covers every input of task.json', () => {
    const covered = new Set(cases().map((c) => c.name.split(':')[0]));
    const uncovered = TASK.inputs.map((i) => i.name).filter((n) => !covered.has(n));
    assert.deepEqual(uncovered, []);
  });
});
