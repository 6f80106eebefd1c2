// renderCustomResource: the operator's VvpDeployment (seed 002) written for GitOps, validated
// against the JSON schema seed 002 publishes, through the packaged task and the agent emulator.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { repo, scratch, run } = require('./helpers');

const SCHEMA_TEXT = fs.readFileSync(path.join(repo, 'tests/fixtures/vvp/vvpdeployment.schema.seed002.txt'), 'utf8');

/**
 * Seed 002 prints the schema with the closing brace of `metadata` missing (so it is not JSON,
 * and `spec` would sit inside `metadata`). Add exactly that brace.
 */
function repairSeedSchema(text) {
  const re = /("metadata": \{\s*"type": "object",\s*"properties": \{\s*"name": \{\s*"type": "string"\s*\},\s*"namespace": \{\s*"type": "string"\s*\}\s*\})(\s*,\s*"spec": \{)/;
  assert.match(text, re, 'the seed schema still has the known defect');
  return JSON.parse(text.replace(re, '$1}$2'));
}

function validator() {
  const Ajv = require('ajv-draft-04');
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  return ajv.compile(repairSeedSchema(SCHEMA_TEXT));
}

/** YAML to JSON with Python's YAML parser: an independent reader of what the task wrote. */
function readYaml(file) {
  return JSON.parse(execFileSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]).toString());
}

const SPEC = `kind: Deployment
apiVersion: v1
metadata:
  name: test-cr
  labels:
    env: testing
spec:
  state: CANCELLED
  deploymentTargetName: test-target
  maxJobCreationAttempts: 99
  restoreStrategy:
    kind: LATEST_SAVEPOINT
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: JARURI
      parallelism: 2
      resources:
        jobmanager:
          cpu: 0.5
          memory: 1G
initFields:
  userMetadata:
    displayName: abc
  spec:
    maxSavepointCreationAttempts: 999
`;

test('the seed 002 schema fixture is verbatim and needs exactly one brace', () => {
  assert.throws(() => JSON.parse(SCHEMA_TEXT), SyntaxError);
  const s = repairSeedSchema(SCHEMA_TEXT);
  assert.deepEqual(Object.keys(s.properties), ['kind', 'metadata', 'spec']);
  assert.deepEqual(s.properties.spec.properties.deployment.required, ['userMetadata', 'spec']);
});

test('renderCustomResource writes a VvpDeployment that passes seed 002\'s schema', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'deployment.yml'), SPEC);
  const r = await run({
    cwd,
    inputs: {
      action: 'renderCustomResource', specFile: 'deployment.yml', customResourcePath: 'k8s/vvpdeployment.yaml',
      jarUri: 'file:///flink/examples/streaming/TopSpeedWindowing.jar', apikeySecretName: 'example-secret-name',
      savepointLocation: 's3://bucket/path/to/savepoint-abc123', vvpNamespace: 'vvp-some-user',
    },
  });
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.result, 'Succeeded');
  const file = path.join(cwd, 'k8s/vvpdeployment.yaml');
  const cr = readYaml(file);
  const validate = validator();
  assert.ok(validate(cr), JSON.stringify(validate.errors, null, 2));
  assert.equal(cr.apiVersion, 'ververica.platform/v1');
  assert.equal(cr.kind, 'VvpDeployment');
  assert.deepEqual(cr.metadata, { name: 'test-cr', annotations: { apikeySecretName: 'example-secret-name' } });
  assert.equal(cr.spec.syncingMode, 'PATCH');
  assert.deepEqual(cr.spec.initialSavepointSpec, { savepointLocation: 's3://bucket/path/to/savepoint-abc123' });
  assert.deepEqual(cr.spec.deployment.userMetadata, { name: 'test-cr', labels: { env: 'testing' }, namespace: 'vvp-some-user', displayName: 'test-cr' });
  assert.equal(cr.spec.deployment.spec.deploymentTargetName, 'test-target');
  assert.equal(cr.spec.deployment.spec.template.spec.artifact.jarUri, 'file:///flink/examples/streaming/TopSpeedWindowing.jar');
  assert.deepEqual(cr.spec.initFields, { userMetadata: { displayName: 'abc' }, spec: { maxSavepointCreationAttempts: 999 } });
  assert.equal(cr.spec.deployment.initFields, undefined);
  assert.equal(r.outputs.deploymentName, 'test-cr');
  assert.match(r.stdout, /##\[group\]VvpDeployment/);
  // The schema bites: the same resource without what it requires fails.
  const broken = JSON.parse(JSON.stringify(cr));
  delete broken.spec.deployment.userMetadata.displayName;
  delete broken.spec.deployment.spec.deploymentTargetName;
  assert.equal(validate(broken), false);
  assert.deepEqual(validate.errors.map((e) => e.instancePath).sort(), ['/spec/deployment/spec', '/spec/deployment/spec', '/spec/deployment/spec', '/spec/deployment/userMetadata']);
});

test('what the operator would reject is refused before anything is written', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'deployment.yml'), SPEC.replace('deploymentTargetName: test-target', 'deploymentTargetId: DEPLOYMENTTARGETID'));
  const out = 'k8s/vvpdeployment.yaml';
  const r = await run({
    cwd,
    inputs: { action: 'renderCustomResource', specFile: 'deployment.yml', customResourcePath: out, jarUri: 's3://b/j.jar', deploymentTargetId: '6232cc84-7aa3-4524-b3a8-36cab7203c47' },
  });
  assert.equal(r.exitCode, 2, r.log);
  assert.match(r.errors[0].message, /`deploymentTargetName`: is required for `renderCustomResource`/);
  assert.equal(fs.existsSync(path.join(cwd, out)), false);

  fs.writeFileSync(path.join(cwd, 'deployment.yml'), SPEC);
  const put = await run({ cwd, inputs: { action: 'renderCustomResource', specFile: 'deployment.yml', customResourcePath: out, jarUri: 's3://b/j.jar', syncingMode: 'PUT' } });
  assert.equal(put.exitCode, 2, put.log);
  assert.match(put.errors[0].message, /`syncingMode`: `PUT` cannot be used with `initFields`/);
  assert.equal(fs.existsSync(path.join(cwd, out)), false);

  fs.writeFileSync(path.join(cwd, 'job.jar'), 'x');
  const local = await run({ cwd, inputs: { action: 'renderCustomResource', specFile: 'deployment.yml', customResourcePath: out, artifactPath: 'job.jar' } });
  assert.equal(local.exitCode, 2, local.log);
  assert.match(local.errors[0].message, /`artifactPath`: cannot be used with `renderCustomResource`/);
  assert.equal(fs.existsSync(path.join(cwd, out)), false);
});

test('the VvpDeployment keeps the text the spec file has, read back by a YAML 1.1 reader, and still passes seed 002\'s schema', async () => {
  const cwd = scratch();
  fs.writeFileSync(path.join(cwd, 'deployment.yml'), [
    'kind: Deployment', 'metadata:', '  name: text-cr', '  labels:', '    enabled: yes', '    cost-center: 0x1F', '    since: 2024-01-01',
    'spec:', '  deploymentTargetName: test-target', '  template:', '    spec:', '      parallelism: "2"', '      latestCheckpointFetchInterval: "5000"',
    '      artifact:', '        kind: JAR', '        jarUri: JARURI', '        flinkVersion: 1.20', '        mainArgs: 1_000',
    '      flinkConfiguration:', '        pipeline.max-parallelism: 1e3', '        taskmanager.numberOfTaskSlots: 2', '        state.ttl: 1:20',
    '      logging:', '        log4jLoggers:', '          org.apache.flink: 0.10', '',
  ].join('\n'));
  const out = 'k8s/vvpdeployment.yaml';
  const r = await run({ cwd, inputs: { action: 'renderCustomResource', specFile: 'deployment.yml', customResourcePath: out, jarUri: 's3://b/j.jar' } });
  assert.equal(r.exitCode, 0, r.log);
  const cr = readYaml(path.join(cwd, out));
  const validate = validator();
  assert.ok(validate(cr), JSON.stringify(validate.errors, null, 2));
  assert.deepEqual(cr.spec.deployment.userMetadata.labels, { enabled: 'yes', 'cost-center': '0x1F', since: '2024-01-01' });
  const t = cr.spec.deployment.spec.template.spec;
  assert.equal(t.parallelism, 2);
  assert.equal(t.latestCheckpointFetchInterval, 5000, 'typed by the operator\'s schema');
  assert.equal(t.artifact.flinkVersion, '1.20');
  assert.equal(t.artifact.mainArgs, '1_000');
  assert.deepEqual(t.flinkConfiguration, { 'pipeline.max-parallelism': '1e3', 'taskmanager.numberOfTaskSlots': '2', 'state.ttl': '1:20' });
  assert.deepEqual(t.logging.log4jLoggers, { 'org.apache.flink': '0.10' });
});
