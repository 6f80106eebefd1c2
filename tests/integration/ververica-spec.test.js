// Spec files through the packaged task against the Ververica Platform fake (which checks every
// request against the vendor's description): what the user wrote reaches the platform as written,
// and files that are odd (BOM, UTF-16, flow style, JSON, merge keys, anchors) are read right, or
// refused (duplicate keys, another namespace, non-UTF-8, alias bombs) before anything is written.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { scratch, run, vvpDeployment } = require('./helpers');
const { startVvp } = require('../fakes/vvp');

const TOKEN = 'vvp-api-5e0a71c3d9';
const TARGET_ID = '6232cc84-7aa3-4524-b3a8-36cab7203c47';
const JAR = 's3://vvp/artifacts/namespaces/default/job-1.jar';

function fake() {
  return startVvp({
    token: TOKEN,
    deploymentTargets: [{ name: 'vvp-jobs', id: TARGET_ID }],
    timing: { startMs: 200, stopMs: 100, savepointMs: 100 },
  });
}
const secrets = { vvpApiToken: TOKEN };
const inputs = (f, extra = {}) => ({ vvpUrl: f.url, vvpApiToken: '$(vvpApiToken)', settleSeconds: '0', timeoutSeconds: '20', ...extra });

function noWrites(f) {
  assert.deepEqual(f.writes().map((e) => `${e.method} ${e.path}`), [], 'no write request reached Ververica Platform');
}

/** Write `text` (a string or bytes) as the spec file and run the task with it. */
async function runSpec(f, text, extra = {}, name = 'd.yml') {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, name), text);
  return run({ cwd, inputs: inputs(f, { specFile: name, ...extra }), secrets });
}

const SPEC = (lines) => [
  'kind: Deployment', 'apiVersion: v1',
  'metadata:', '  name: orders',
  'spec:', '  state: RUNNING', '  deploymentTargetName: vvp-jobs',
  '  template:', '    spec:',
  '      artifact:', '        kind: JAR', `        jarUri: ${JAR}`,
  ...lines, '',
].join('\n');

/** Every key of a JSON value, at any depth. */
function keys(v) {
  if (Array.isArray(v)) return v.flatMap(keys);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)]);
  return [];
}

describe('spec files reach Ververica Platform as written', { concurrency: 4 }, () => {
  test('text that looks like a number, a boolean, null or a date stays text where the description says string; typed fields are typed', async () => {
    const f = await fake();
    try {
      const r = await runSpec(f, [
        'kind: Deployment', 'apiVersion: v1',
        'metadata:', '  name: orders', '  labels:', "    cost-center: 0x1F", '    enabled: yes', '    owner: ~', '    since: 2024-01-01',
        '  annotations:', '    ratio: 1e3',
        'spec:', '  deploymentTargetName: vvp-jobs', '  maxJobCreationAttempts: "4"',
        '  template:', '    spec:', '      parallelism: 0x2',
        '      artifact:', '        kind: JAR', `        jarUri: ${JAR}`, '        flinkVersion: 1.20', '        flinkImageTag: 1.20.0-scala_2.12', '        mainArgs: 007',
        '      flinkConfiguration:', '        pipeline.max-parallelism: 1e3', '        taskmanager.numberOfTaskSlots: 2', '        pipeline.object-reuse: TRUE',
        '      logging:', '        log4jLoggers:', '          org.apache.flink: 0.10',
        '      resources:', '        jobmanager:', '          cpu: 0.5', '          memory: 1G', '',
      ].join('\n'));
      assert.equal(r.exitCode, 0, r.log);
      const sent = f.writes()[0].body;
      assert.deepEqual(sent.metadata.labels, { 'cost-center': '0x1F', enabled: 'yes', owner: '~', since: '2024-01-01' });
      assert.deepEqual(sent.metadata.annotations, { ratio: '1e3' });
      assert.equal(sent.spec.maxJobCreationAttempts, 4);
      const t = sent.spec.template.spec;
      assert.equal(t.parallelism, 2);
      assert.deepEqual(t.artifact, { kind: 'JAR', jarUri: JAR, flinkVersion: '1.20', flinkImageTag: '1.20.0-scala_2.12', mainArgs: '007' });
      assert.deepEqual(t.flinkConfiguration, { 'pipeline.max-parallelism': '1e3', 'taskmanager.numberOfTaskSlots': '2', 'pipeline.object-reuse': 'TRUE' });
      assert.deepEqual(t.logging.log4jLoggers, { 'org.apache.flink': '0.10' });
      assert.deepEqual(t.resources.jobmanager, { cpu: 0.5, memory: '1G' });
      // The log shows the values as they are sent: quoted where they would read as something else.
      assert.match(r.stdout, /^\s+flinkVersion: '1\.20'$/m);
      assert.match(r.stdout, /^\s+cost-center: '0x1F'$/m);
      assert.match(r.stdout, /^\s+enabled: 'yes'$/m);
    } finally { await f.close(); }
  });

  test('validate shows the values as they will be sent', async () => {
    const f = await fake();
    try {
      f.seed('default', vvpDeployment('orders', JAR));
      const r = await runSpec(f, SPEC(['        flinkVersion: 1.20', '      flinkConfiguration:', '        pipeline.max-parallelism: 1e3']), { action: 'validate' });
      assert.equal(r.exitCode, 0, r.log);
      noWrites(f);
      assert.match(r.stdout, /^\+\s+flinkVersion: '1\.20'$/m);
      assert.match(r.stdout, /^\+\s+pipeline\.max-parallelism: '1e3'$/m);
    } finally { await f.close(); }
  });

  test('a JSON spec file is read as JSON (tabs, surrogate pairs); a number where the description says string is sent as its digits', async () => {
    const f = await fake();
    try {
      // Indented with tabs, and non-ASCII escaped as Python's json.dump writes it (a surrogate
      // pair): both are JSON a YAML parser does not read.
      const spec = `{"kind": "Deployment", "metadata": {"name": "orders", "displayName":\t"Orders \\ud83d\\ude80", "labels": {"team": 42}},
        "spec": {"deploymentTargetName": "vvp-jobs", "template": {"spec": {"parallelism": 2,
        "artifact": {"kind": "JAR", "jarUri": "${JAR}", "flinkVersion": 1.20}, "flinkConfiguration": {"a": 1.50}}}}}`;
      const r = await runSpec(f, spec, {}, 'd.json');
      assert.equal(r.exitCode, 0, r.log);
      const sent = f.writes()[0].body;
      assert.equal(sent.metadata.labels.team, '42');
      assert.equal(sent.metadata.displayName, 'Orders \u{1F680}');
      assert.equal(sent.spec.template.spec.artifact.flinkVersion, '1.20');
      assert.equal(sent.spec.template.spec.flinkConfiguration.a, '1.50');
      assert.equal(sent.spec.template.spec.parallelism, 2);
    } finally { await f.close(); }
  });

  test('a UTF-8 BOM, flow-style YAML and UTF-16 (Windows PowerShell) are read', async () => {
    const f = await fake();
    try {
      const flow = `{kind: Deployment, metadata: {name: flow, labels: {v: 1.20}}, spec: {deploymentTargetName: vvp-jobs, template: {spec: {artifact: {kind: JAR, jarUri: '${JAR}', flinkVersion: 1.20}}}}}\n`;
      const bom = await runSpec(f, `\ufeff${flow}`);
      assert.equal(bom.exitCode, 0, bom.log);
      const sent = f.writes()[0].body;
      assert.equal(sent.metadata.name, 'flow');
      assert.equal(sent.metadata.labels.v, '1.20');
      assert.equal(sent.spec.template.spec.artifact.flinkVersion, '1.20');

      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(SPEC(['        flinkVersion: 1.20']).replace('name: orders', 'name: wide'), 'utf16le')]);
      const wide = await runSpec(f, utf16);
      assert.equal(wide.exitCode, 0, wide.log);
      assert.equal(f.deployment('default', 'wide').spec.template.spec.artifact.flinkVersion, '1.20');
    } finally { await f.close(); }
  });

  test('YAML merge keys and anchors are applied: no `<<` key reaches the platform', async () => {
    const f = await fake();
    try {
      const r = await runSpec(f, [
        'x-defaults:', '  conf: &conf', '    state.backend.type: rocksdb', '    pipeline.max-parallelism: 128',
        '  labels: &labels', '    team: data', '    tier: 1',
        'kind: Deployment', 'metadata:', '  name: merged', '  labels:', '    <<: *labels', '    tier: 2',
        'spec:', '  deploymentTargetName: vvp-jobs', '  template:', '    spec:',
        '      artifact:', '        kind: JAR', `        jarUri: ${JAR}`,
        '      flinkConfiguration:', '        <<: *conf', '        pipeline.max-parallelism: 256', '',
      ].join('\n'));
      assert.equal(r.exitCode, 0, r.log);
      const sent = f.writes()[0].body;
      assert.ok(!keys(sent).includes('<<'), JSON.stringify(sent));
      assert.ok(!('x-defaults' in sent), 'a top-level x- key holds anchors and is not sent');
      assert.deepEqual(sent.metadata.labels, { team: 'data', tier: '2' });
      assert.deepEqual(sent.spec.template.spec.flinkConfiguration, { 'state.backend.type': 'rocksdb', 'pipeline.max-parallelism': '256' });
    } finally { await f.close(); }
  });

  test('placeholders are replaced as whole tokens only', async () => {
    const f = await fake();
    try {
      const r = await runSpec(f, [
        'kind: Deployment', 'metadata:', '  name: tokens', '  annotations:', '    note: MYJARURIS and JARURI_OLD',
        'spec:', '  deploymentTargetId: DEPLOYMENTTARGETID', '  template:', '    spec:',
        '      artifact:', '        kind: JAR', '        jarUri: JARURI', '        mainArgs: --jar JARURI --tag XDEPLOYMENTTARGETID', '',
      ].join('\n'), { jarUri: JAR, deploymentTargetId: TARGET_ID });
      assert.equal(r.exitCode, 0, r.log);
      const sent = f.writes()[0].body;
      assert.equal(sent.spec.deploymentTargetId, TARGET_ID);
      assert.equal(sent.spec.template.spec.artifact.jarUri, JAR);
      assert.equal(sent.spec.template.spec.artifact.mainArgs, `--jar ${JAR} --tag XDEPLOYMENTTARGETID`);
      assert.equal(sent.metadata.annotations.note, 'MYJARURIS and JARURI_OLD');
    } finally { await f.close(); }
  });

  test('a large spec is printed once; elsewhere a digest names it', async () => {
    const f = await fake();
    try {
      const conf = [];
      for (let i = 0; i < 12000; i++) conf.push(`        flink.key.${i}: value-${i}-${'x'.repeat(40)}`);
      const r = await runSpec(f, SPEC(['      flinkConfiguration:', '        marker.key: unique-marker-5c1d', ...conf]));
      assert.equal(r.exitCode, 0, r.log);
      assert.equal(Object.keys(f.writes()[0].body.spec.template.spec.flinkConfiguration).length, 12001);
      const specBytes = conf.join('\n').length;
      assert.equal(r.stdout.split('unique-marker-5c1d').length - 1, 1, 'the spec is printed once');
      assert.ok(r.stdout.length < 1.5 * specBytes, `the log is ${r.stdout.length} bytes for a spec of ${specBytes}`);
      assert.match(r.stdout, /The change is too large to print \(\d+ bytes, \d+ lines, SHA-256 [0-9a-f]{64}: 12\d{3} lines added, 0 removed\)/);
      assert.match(r.stdout, /The spec is large \(\d+ bytes, \d+ lines, SHA-256 [0-9a-f]{64}\); it is printed once/);
      const md = fs.readFileSync(r.command('task.uploadsummary')[0].message, 'utf8');
      assert.ok(!md.includes('unique-marker-5c1d'), 'the summary names the change by its digest');
    } finally { await f.close(); }
  });
});

describe('odd or hostile spec files are refused before anything is written', { concurrency: 4 }, () => {
  const refused = async (text, pattern, extra = {}, name = 'd.yml') => {
    const f = await fake();
    try {
      const r = await runSpec(f, text, extra, name);
      assert.equal(r.exitCode, 2, r.log);
      assert.equal(r.errors.length, 1, r.log);
      assert.match(r.errors[0].message, /^input `specFile`: /);
      assert.match(r.errors[0].message, pattern);
      noWrites(f);
      return r;
    } finally { await f.close(); }
  };

  test('a key written twice, naming its line', async () => {
    const r = await refused(SPEC(['      flinkConfiguration:', '        a.b: 1', '        c.d: 2', '        a.b: 3']),
      /d\.yml, line 16, column 9: key `a\.b` appears twice in this mapping \(first on line 14\)/);
    assert.match(r.errors[0].message, /hint: keys are unique: remove one of them/);
  });

  test('metadata.namespace other than vvpNamespace, for deploy and for a lifecycle action', async () => {
    const text = SPEC([]).replace('  name: orders', '  name: orders\n  namespace: production');
    await refused(text, /line 5, column 14: metadata\.namespace is `production`, but the task works in namespace `default` \(`vvpNamespace`\).*hint: set `vvpNamespace: production` to deploy there/s);
    await refused(text, /metadata\.namespace is `production`/, { action: 'suspend' });
  });

  test('a file that is not UTF-8 names its first bad byte', async () => {
    const latin1 = Buffer.from(SPEC([]).replace('  name: orders', '  name: orders\n  displayName: Caf\u00e9'), 'latin1');
    await refused(latin1, /d\.yml, line 5, column 19: is not UTF-8 text \(byte 0xE9 at offset \d+\).*hint: save the file as UTF-8/s);
  });

  test('an alias bomb is refused, quickly', async () => {
    let bomb = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i < 10; i++) bomb += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const started = Date.now();
    await refused(`${bomb}${SPEC([])}`, /aliases expand to more than \d+ nodes.*alias bomb/);
    assert.ok(Date.now() - started < 15000);
  });

  test('a value of the wrong type, a merge key with a scalar, an unknown tag, two documents', async () => {
    await refused(SPEC([]).replace('    spec:\n', '    spec:\n      parallelism: four\n'), /line 10, column 20: `spec\.template\.spec\.parallelism` is `four`, not an integer/);
    await refused(SPEC(['      flinkConfiguration:', '        <<: not-a-mapping']), /line 14, column 13: the merge key `<<` takes a mapping or a list of mappings/);
    await refused(SPEC(['        flinkVersion: !Version 1.20']), /line 13, column 23: has the tag `!Version`/);
    await refused(`${SPEC([])}---\nkind: Deployment\n`, /more than one YAML document/);
  });
});
