// Fake Ververica Platform (self-managed 2.x), written from the Application Manager swagger
// (vvp-appmanager-swagger-2.4.3.json), the seeds and the API brief, not from what the task
// sends. Plain Node http, no npm dependencies.
//
// Application Manager, base /api/v1/namespaces/{ns}:
//   GET/POST   /deployments                 list (ResourceListOfDeployment) / create (name unique)
//   GET/PUT/PATCH/DELETE /deployments/{name} by name; a valid UUID is tried as an id first
//                                            ("by name, falls back to id", 2.4.3). PUT = upsert,
//                                            PATCH = JSON merge patch (RFC 7386), DELETE only
//                                            with desired state CANCELLED or SUSPENDED
//   GET  /events?deploymentId=&jobId=       ResourceListOfEvent
//   GET  /jobs?deploymentId=, /jobs/{id}    Job with status.state STARTING|STARTED|FAILED|TERMINATED
//                                            and status.failure {reason, message, failedAt}
//   GET/POST /savepoints?deploymentId=, GET /savepoints/{id}   STARTED -> COMPLETED (or a
//                                            COMPLETED one registered by location, origin COPIED)
//   GET  /deployment-targets[/{name}], /sessionclusters[/{name}]
// Platform API: GET /namespaces/v1/namespaces/{ns}. Artifacts: POST
// /artifacts/v1/namespaces/{ns}/artifacts:upload (multipart field `file`, 50 MB) -> {artifact:
// {filename, uri, createTime}}.
//
// Bodies: application/json, or application/yaml (seed 000 sends YAML with curl). YAML is parsed
// by Python's PyYAML (part of this machine's baseline) in a child process; without it a YAML
// body gets 415. Answers are always JSON. Errors are VVP's `{"message": ...}` bodies.
//
// The controller is a state machine with configurable times: a template change of a running
// job is an upgrade (new job; STATEFUL takes a savepoint first), the same template changes
// nothing, upgradeStrategy NONE never upgrades. `nextJobs` scripts what each new job does:
// reach RUNNING, FAIL (with events and a job failure), or reach RUNNING and FAIL later.
//
// For tests: a request log (`log`, `writes()`), fault injection (`fault()`: status with
// headers/body or plain text, delay, reset connection, reset after half a body, truncated JSON, an endless body, a
// redirect), and `transitions` with the time each status was entered.
//
// Every request and every answer is checked against the descriptions (tests/fakes/contract.js):
// the Application Manager swagger 2.4.3, the Platform API's namespace operation, and the
// artifacts upload as documented. A body the platform could not bind (an object where the
// description says string, a value outside an enum, a malformed uuid) gets VVP's 400
// {"message"}; what it would coerce is stored coerced (1.2 becomes "1.2", as Jackson binds it)
// and null in a PATCH deletes (merge patch); either way the violation is recorded and fails the
// test.
// Injected faults are deliberately off-contract and their answers are not checked.
'use strict';
const http = require('http');
const crypto = require('crypto');
const { asBound, contractFor, parseYaml } = require('./contract');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SPEC_VERSION = 'com.dataartisans.appmanager.controller.deployment.spec.version';
const TRANSITIONING = 'com.dataartisans.appmanager.controller.deployment.transitioning';
const MAX_ARTIFACT = 50 * 1024 * 1024;

const now = () => new Date().toISOString();
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function deepEqual(a, b) {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
  return v;
}

/**
 * RFC 7386 JSON merge patch. With `keepNulls` a `null` is stored as a value instead of deleting
 * the key: what a platform does that binds the body to typed objects and copies every field it
 * was given (the VVP description promises neither).
 */
function mergePatch(target, patch, keepNulls = false) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null && !keepNulls) delete out[k];
    else out[k] = v === null ? null : mergePatch(out[k], v, keepNulls);
  }
  return out;
}

/**
 * Start the fake. Options:
 *   token: the API token required as `Authorization: Bearer <token>` (null: authentication off)
 *   roles: {token: 'viewer'|'editor'|'owner'} for further tokens (viewer may not write)
 *   namespaces: ['default']
 *   deploymentTargets: [{name, id?, namespace?}]   sessionClusters: [{name, namespace?}]
 *   timing: {startMs, stopMs, savepointMs, reactMs}  (reactMs: delay before the controller
 *           acts on a change; 0 acts at once)
 *   routes: path prefixes the ingress in front of the platform routes (default all), e.g.
 *           ['/api'] for an installation that exposes only the Application Manager; any other
 *           path gets the ingress's own HTML 404 (not the platform's answer, so not checked
 *           against its description)
 *   nulls: 'delete' (default: a null in a PATCH deletes the key, as a merge patch does) or
 *          'literal' (a null in a PATCH or PUT body is stored as null: the description has no
 *          null at all, so a platform may do either; the answers then carry the null, outside
 *          the description too)
 */
function startVvp(opts = {}) {
  const timing = { startMs: 300, stopMs: 200, savepointMs: 200, reactMs: 0, ...(opts.timing || {}) };
  const t0 = Date.now();
  const contract = contractFor('vvp');
  const st = {
    timing,
    token: opts.token === undefined ? 'vvp-test-token' : opts.token,
    roles: opts.roles || {},
    namespaces: new Set(opts.namespaces || ['default']),
    deployments: new Map(),
    jobs: new Map(),
    savepoints: new Map(),
    events: [],
    targets: [],
    sessionClusters: [],
    artifacts: [],
    log: [],
    faults: [],
    nextJobs: [],
    transitions: [],
    timers: new Set(),
    keepNulls: opts.nulls === 'literal',
    routes: opts.routes || null,
  };
  if (opts.nulls !== undefined && !['delete', 'literal'].includes(opts.nulls)) throw new Error(`nulls: 'delete' or 'literal', not ${opts.nulls}`);
  for (const t of opts.deploymentTargets || [{ name: 'vvp-jobs' }]) {
    st.targets.push({
      kind: 'DeploymentTarget', apiVersion: 'v1',
      metadata: { id: t.id || crypto.randomUUID(), name: t.name, namespace: t.namespace || 'default', createdAt: now(), modifiedAt: now(), resourceVersion: 1, labels: {}, annotations: {} },
      spec: { kubernetes: { namespace: t.k8sNamespace || 'vvp-jobs' } },
    });
  }
  for (const s of opts.sessionClusters || []) {
    st.sessionClusters.push({
      kind: 'SessionCluster', apiVersion: 'v1',
      metadata: { id: crypto.randomUUID(), name: s.name, namespace: s.namespace || 'default', createdAt: now(), modifiedAt: now(), resourceVersion: 1 },
      spec: { state: 'RUNNING', deploymentTargetName: st.targets[0] && st.targets[0].metadata.name },
      status: { state: 'RUNNING' },
    });
  }

  const later = (ms, fn) => {
    const h = setTimeout(() => { st.timers.delete(h); fn(); }, ms);
    st.timers.add(h);
    return h;
  };

  // ---- the controller -------------------------------------------------------------------

  function event(dep, name, message, jobId) {
    st.events.push({
      kind: 'Event', apiVersion: 'v1',
      metadata: { id: crypto.randomUUID(), name, namespace: dep.metadata.namespace, createdAt: now(), deploymentId: dep.metadata.id, jobId, resourceVersion: 1 },
      spec: { message },
    });
  }

  function setStatus(d, status) {
    const dep = d.resource;
    dep.status = status;
    dep.metadata.resourceVersion += 1;
    dep.metadata.annotations[TRANSITIONING] = String(status.state === 'TRANSITIONING');
    st.transitions.push({ deployment: dep.metadata.name, id: dep.metadata.id, state: status.state, jobId: status.running && status.running.jobId, at: Date.now() - t0, wall: Date.now() });
  }

  function clearDeploymentTimers(d) {
    for (const h of d.timers) { clearTimeout(h); st.timers.delete(h); }
    d.timers.clear();
  }
  function dLater(d, ms, fn) {
    const h = later(ms, () => { d.timers.delete(h); fn(); });
    d.timers.add(h);
  }

  function latestSavepoint(depId) {
    return [...st.savepoints.values()]
      .filter((s) => s.metadata.deploymentId === depId && s.status.state === 'COMPLETED')
      .sort((a, b) => (a.metadata.createdAt < b.metadata.createdAt ? -1 : a.metadata.createdAt > b.metadata.createdAt ? 1 : 0))
      .pop();
  }

  function addSavepoint(dep, origin, jobId, state, location, flinkSavepointId) {
    const id = crypto.randomUUID();
    const sp = {
      kind: 'Savepoint', apiVersion: 'v1',
      metadata: { id, namespace: dep.metadata.namespace, createdAt: now(), modifiedAt: now(), deploymentId: dep.metadata.id, jobId, origin, resourceVersion: 1, annotations: {} },
      spec: location ? { savepointLocation: location, flinkSavepointId: flinkSavepointId || crypto.randomUUID() } : {},
      status: { state },
    };
    st.savepoints.set(id, sp);
    return sp;
  }

  function savepointLocation(dep, jobId) {
    return `s3://vvp/flink-savepoints/namespaces/${dep.metadata.namespace}/deployments/${dep.metadata.id}/savepoint-${jobId.slice(0, 6)}-${crypto.randomBytes(6).toString('hex')}`;
  }

  function targetExists(dep) {
    const s = dep.spec;
    const ns = dep.metadata.namespace;
    if (s.sessionClusterName) return st.sessionClusters.some((c) => c.metadata.name === s.sessionClusterName && c.metadata.namespace === ns);
    if (s.deploymentTargetName) return st.targets.some((t) => t.metadata.name === s.deploymentTargetName && t.metadata.namespace === ns);
    if (s.deploymentTargetId) return st.targets.some((t) => t.metadata.id === s.deploymentTargetId);
    return false;
  }

  function terminateJob(job, state = 'TERMINATED') {
    if (!job || ['TERMINATED', 'FAILED', 'FINISHED'].includes(job.status.state)) return;
    job.status.state = state;
    job.metadata.terminatedAt = now();
  }

  function failDeployment(d, job, failure, eventName) {
    const dep = d.resource;
    if (job) {
      job.status.state = 'FAILED';
      job.status.failure = { ...failure, failedAt: now() };
      job.metadata.terminatedAt = now();
    }
    event(dep, eventName, failure.message, job && job.metadata.id);
    setStatus(d, { state: 'FAILED' });
    d.jobId = null;
  }

  function startJob(d) {
    const dep = d.resource;
    // A behaviour may name its deployment (deployments of one run start in any order).
    const at = st.nextJobs.findIndex((j) => j.deployment === undefined || j.deployment === dep.metadata.name);
    const b = { startMs: timing.startMs, outcome: 'RUNNING', ...(at < 0 ? {} : st.nextJobs.splice(at, 1)[0]) };
    if (!targetExists(dep)) {
      event(dep, 'STATE_TRANSITION_IS_NEEDED', `Transitioning to ${dep.spec.state}.`);
      dLater(d, b.startMs, () => failDeployment(d, null, { reason: 'DeploymentTargetMissing', message: 'The referenced Deployment Target does not exist.' }, 'REFERENCED_DEPLOYMENT_TARGET_DOES_NOT_EXIST'));
      return;
    }
    const restore = (dep.spec.restoreStrategy || {}).kind || 'LATEST_STATE';
    const sp = restore === 'NONE' ? undefined : latestSavepoint(dep.metadata.id);
    const id = crypto.randomUUID();
    const job = {
      kind: 'Job', apiVersion: 'v1',
      metadata: { id, namespace: dep.metadata.namespace, deploymentId: dep.metadata.id, deploymentName: dep.metadata.name, createdAt: now(), modifiedAt: now(), resourceVersion: 1, annotations: {} },
      spec: {
        artifact: clone(((dep.spec.template || {}).spec || {}).artifact),
        parallelism: ((dep.spec.template || {}).spec || {}).parallelism,
        savepointLocation: sp && sp.spec.savepointLocation,
        allowNonRestoredState: !!(dep.spec.restoreStrategy || {}).allowNonRestoredState,
      },
      status: { state: 'STARTING' },
    };
    st.jobs.set(id, job);
    d.jobId = id;
    d.jobTemplate = clone(dep.spec.template);
    event(dep, 'CREATING_A_NEW_JOB', `Creating a new job${sp ? ` restored from ${sp.spec.savepointLocation}` : ''}.`, id);
    event(dep, 'AWAITING_A_JOB_TO_START', 'Awaiting the job to start.', id);
    dLater(d, b.startMs, () => {
      if (b.outcome === 'FAILED') {
        const failure = b.failure || { reason: 'JobFailed', message: 'org.apache.flink.runtime.client.JobInitializationException: Could not start the JobMaster.' };
        event(dep, 'FAILED_CREATING_A_NEW_JOB', `Job failed: ${failure.message}`, id);
        failDeployment(d, job, failure, 'TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS');
        return;
      }
      job.status = { state: 'STARTED', started: { flinkJobId: crypto.randomBytes(16).toString('hex'), observedFlinkJobStatus: 'RUNNING', observedFlinkJobRestarts: 0, startedAt: now(), lastUpdateTime: now() } };
      event(dep, 'JOB_SUCCESSFULLY_STARTED', 'Job successfully started.', id);
      event(dep, 'STATE_TRANSITION_IS_COMPLETED', 'State transition to RUNNING is completed.', id);
      setStatus(d, { state: 'RUNNING', running: { jobId: id, transitionTime: now(), conditions: [] } });
      if (b.restartAfterMs !== undefined) {
        // Flink restarts the job inside its cluster: the platform only observes the count; the
        // deployment stays RUNNING and no event is written (as the vendor's docs describe).
        dLater(d, b.restartAfterMs, () => {
          if (!job.status.started) return;
          job.status.started.observedFlinkJobRestarts += b.restarts || 1;
          job.status.started.lastUpdateTime = now();
          job.metadata.resourceVersion += 1;
        });
      }
      if (b.failAfterMs !== undefined) {
        dLater(d, b.failAfterMs, () => {
          const failure = b.failure || { reason: 'JobFailed', message: 'java.lang.IllegalStateException: the job crashed after it started' };
          event(dep, 'TERMINATING_A_JOB_DUE_TO_AN_UNRECOVERABLE_FAILURE', `The job failed: ${failure.message}`, id);
          failDeployment(d, job, failure, 'TRANSITIONING_TO_FAILED_STATE_BECAUSE_OF_A_MISSING_JOB');
        });
      }
    });
  }

  /** Stop the current job (a savepoint first when asked), then run `then`. */
  function stopJob(d, withSavepoint, origin, then) {
    const dep = d.resource;
    const job = d.jobId && st.jobs.get(d.jobId);
    const running = job && job.status.state === 'STARTED';
    if (!job) { dLater(d, timing.stopMs, then); return; }
    if (withSavepoint && running) {
      event(dep, 'CREATING_A_SAVEPOINT_BEFORE_SUSPENSION', 'Creating a savepoint before stopping the job.', job.metadata.id);
      const sp = addSavepoint(dep, origin, job.metadata.id, 'STARTED');
      dLater(d, timing.stopMs, () => {
        sp.status.state = 'COMPLETED';
        sp.spec = { savepointLocation: savepointLocation(dep, job.metadata.id), flinkSavepointId: crypto.randomUUID() };
        sp.metadata.modifiedAt = now();
        terminateJob(job);
        d.jobId = null;
        then();
      });
    } else {
      dLater(d, timing.stopMs, () => { terminateJob(job); d.jobId = null; then(); });
    }
  }

  function reconcile(d) {
    const dep = d.resource;
    clearDeploymentTimers(d);
    const desired = dep.spec.state;
    const status = (dep.status || {}).state;
    const job = d.jobId && st.jobs.get(d.jobId);
    const jobUp = job && job.status.state === 'STARTED';
    const upgrade = ((dep.spec.upgradeStrategy || {}).kind) || 'STATEFUL';
    if (desired === 'RUNNING') {
      if (status === 'RUNNING' && jobUp) {
        if (deepEqual(d.jobTemplate, dep.spec.template) || upgrade === 'NONE') return;
        event(dep, 'STATE_TRANSITION_IS_NEEDED', 'The deployment template changed: upgrading the job.');
        event(dep, 'USING_AN_UPGRADE_STRATEGY', `Using upgrade strategy ${upgrade}.`);
        setStatus(d, { state: 'TRANSITIONING' });
        stopJob(d, upgrade === 'STATEFUL', 'SUSPEND_AND_UPGRADE', () => startJob(d));
        return;
      }
      event(dep, 'STATE_TRANSITION_IS_NEEDED', `Transitioning from ${status || 'nothing'} to RUNNING.`);
      setStatus(d, { state: 'TRANSITIONING' });
      if (job && job.status.state === 'STARTING') terminateJob(job);
      if (jobUp) stopJob(d, false, 'SUSPEND', () => startJob(d));
      else startJob(d);
      return;
    }
    if (status === desired) return;
    const target = desired;
    if (jobUp || (job && job.status.state === 'STARTING')) {
      event(dep, 'STATE_TRANSITION_IS_NEEDED', `Transitioning from ${status} to ${target}.`);
      setStatus(d, { state: 'TRANSITIONING' });
      stopJob(d, target === 'SUSPENDED' && jobUp, 'SUSPEND', () => {
        event(dep, 'STATE_TRANSITION_IS_COMPLETED', `State transition to ${target} is completed.`);
        setStatus(d, { state: target });
      });
    } else {
      setStatus(d, { state: 'TRANSITIONING' });
      dLater(d, timing.stopMs, () => setStatus(d, { state: target }));
    }
  }

  function changed(d) {
    if (timing.reactMs > 0) later(timing.reactMs, () => reconcile(d));
    else reconcile(d);
  }

  // ---- resources ------------------------------------------------------------------------

  function findDeployment(ns, key) {
    if (UUID.test(key)) {
      const d = st.deployments.get(key.toLowerCase());
      if (d && d.resource.metadata.namespace === ns) return d;
    }
    for (const d of st.deployments.values()) {
      if (d.resource.metadata.namespace === ns && d.resource.metadata.name === key) return d;
    }
    return undefined;
  }

  function validateDeployment(body, ns) {
    if (!isObj(body)) return 'the body must be a Deployment object';
    const m = body.metadata || {};
    if (!m.name) return 'metadata.name is required';
    if (!NAME.test(m.name) || m.name.length > 63) return `metadata.name '${m.name}' is invalid: it must match [a-z0-9]([-a-z0-9]*[a-z0-9])? and be at most 63 characters`;
    if (m.namespace && m.namespace !== ns) return `metadata.namespace '${m.namespace}' does not match the namespace of the request '${ns}'`;
    const s = body.spec || {};
    if (s.state && !['RUNNING', 'SUSPENDED', 'CANCELLED'].includes(s.state)) return `spec.state '${s.state}' is invalid`;
    const modes = ['deploymentTargetName', 'deploymentTargetId', 'sessionClusterName'].filter((k) => s[k]);
    if (modes.includes('sessionClusterName') && modes.length > 1) return 'a deployment cannot have both a deployment target and a session cluster';
    return null;
  }

  function createDeployment(ns, body) {
    const id = crypto.randomUUID();
    const m = body.metadata || {};
    const resource = {
      kind: 'Deployment', apiVersion: 'v1',
      metadata: {
        id, name: m.name, displayName: m.displayName || m.name, namespace: ns,
        labels: m.labels || {}, annotations: { ...(m.annotations || {}), [SPEC_VERSION]: '1' },
        createdAt: now(), modifiedAt: now(), resourceVersion: 1,
      },
      spec: withDefaults(body.spec || {}),
      status: { state: 'CANCELLED' },
    };
    const d = { resource, jobId: null, jobTemplate: null, timers: new Set() };
    st.deployments.set(id, d);
    return d;
  }

  // Deployment defaults (seed 004): optional fields are filled in on create and replace.
  function withDefaults(spec) {
    return {
      state: 'RUNNING',
      upgradeStrategy: { kind: 'STATEFUL' },
      restoreStrategy: { kind: 'LATEST_STATE', allowNonRestoredState: false },
      maxJobCreationAttempts: 4,
      maxSavepointCreationAttempts: 4,
      ...clone(spec),
      template: mergePatch({ spec: { parallelism: 1, resources: { jobmanager: { cpu: 1, memory: '1G' }, taskmanager: { cpu: 1, memory: '2G' } }, flinkConfiguration: { 'execution.checkpointing.interval': '10s' } } }, clone(spec.template || {}), st.keepNulls),
    };
  }

  function updateDeployment(d, next) {
    const dep = d.resource;
    const before = JSON.stringify(canon({ m: dep.metadata, s: dep.spec }));
    dep.spec = next.spec;
    for (const k of ['displayName', 'labels']) if (next.metadata[k] !== undefined) dep.metadata[k] = next.metadata[k];
    const userAnn = { ...(next.metadata.annotations || {}) };
    for (const k of Object.keys(dep.metadata.annotations)) if (k.startsWith('com.dataartisans.appmanager.controller.')) userAnn[k] = dep.metadata.annotations[k];
    dep.metadata.annotations = userAnn;
    if (JSON.stringify(canon({ m: dep.metadata, s: dep.spec })) !== before) {
      dep.metadata.modifiedAt = now();
      dep.metadata.resourceVersion += 1;
      dep.metadata.annotations[SPEC_VERSION] = String(Number(dep.metadata.annotations[SPEC_VERSION] || '0') + 1);
    }
    changed(d);
  }

  const list = (items) => ({ kind: 'ResourceList', apiVersion: 'v1', metadata: {}, items });

  // ---- HTTP -----------------------------------------------------------------------------

  function send(res, status, obj, headers = {}) {
    const body = obj === undefined ? '' : JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
    return status;
  }
  const msg = (res, status, message) => send(res, status, { message });

  function authorize(req) {
    if (st.token === null) return { ok: true, role: 'owner' };
    const h = req.headers.authorization;
    if (!h) return { ok: false, status: 401, auth: 'missing' };
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return { ok: false, status: 401, auth: 'malformed' };
    if (m[1] === st.token) return { ok: true, role: 'editor', auth: 'ok' };
    if (st.roles[m[1]]) return { ok: true, role: st.roles[m[1]], auth: 'ok' };
    return { ok: false, status: 401, auth: 'wrong' };
  }

  function parseBody(req, raw) {
    if (!raw.length) return { value: undefined };
    const ct = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const text = raw.toString('utf8');
    if (ct === 'application/json' || ct === '') {
      try { return { value: JSON.parse(text) }; } catch (e) { return { status: 400, message: `Could not parse the JSON body: ${e.message}` }; }
    }
    if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
      try { return { value: JSON.parse(text) }; } catch (e) { /* not JSON: real YAML */ }
      const y = parseYaml(text);
      if (y.unsupported) return { status: 415, message: 'YAML bodies need PyYAML in this fake; send application/json' };
      if (y.error) return { status: 400, message: `Could not parse the YAML body: ${y.error}` };
      return { value: y.value };
    }
    return { status: 415, message: `Content type '${ct}' is not supported; use application/json or application/yaml` };
  }

  function handle(req, res, raw, entry) {
    const url = new URL(req.url, 'http://vvp');
    const path = url.pathname;
    const q = url.searchParams;
    const method = req.method;
    const a = authorize(req);
    entry.auth = a.auth || (st.token === null ? 'none' : 'ok');
    if (!a.ok) return msg(res, 401, 'Full authentication is required to access this resource');
    const write = method !== 'GET';
    if (write && a.role === 'viewer') return msg(res, 403, "Access is denied: the 'viewer' role cannot modify resources");

    let m;
    if ((m = /^\/namespaces\/v1\/namespaces\/([^/]+)$/.exec(path)) && method === 'GET') {
      const ns = decodeURIComponent(m[1]);
      if (!st.namespaces.has(ns)) return msg(res, 404, `Namespace 'namespaces/${ns}' not found`);
      return send(res, 200, { namespace: { name: `namespaces/${ns}`, lifecyclePhase: 'LIFECYCLE_PHASE_ACTIVE', roleBindings: [], createTime: new Date(t0).toISOString() } });
    }
    if (path === '/api/v1/status' && method === 'GET') return send(res, 200, { status: { health: 'OK' }, revisionInformation: { buildVersion: '2.4.3-fake' } });
    if ((m = /^\/artifacts\/v1\/namespaces\/([^/]+)\/artifacts:upload$/.exec(path)) && method === 'POST') {
      const ns = decodeURIComponent(m[1]);
      if (!st.namespaces.has(ns)) return msg(res, 404, `Namespace '${ns}' not found`);
      if (raw.length > MAX_ARTIFACT) return msg(res, 413, 'Maximum upload size exceeded');
      const part = multipartFile(req, raw);
      if (!part) return msg(res, 400, "Required request part 'file' is not present");
      const artifact = { filename: part.filename, uri: `s3://vvp/artifacts/namespaces/${ns}/${part.filename}`, createTime: now().replace(/\.\d+Z$/, 'Z'), size: part.data.length };
      st.artifacts = st.artifacts.filter((x) => !(x.uri === artifact.uri));
      st.artifacts.push(artifact);
      entry.artifact = { filename: part.filename, size: part.data.length, sha256: crypto.createHash('sha256').update(part.data).digest('hex') };
      return send(res, 200, { artifact: { filename: artifact.filename, uri: artifact.uri, createTime: artifact.createTime } });
    }
    if (!(m = /^\/api\/v1\/namespaces\/([^/]+)\/(.*)$/.exec(path))) return msg(res, 404, `No endpoint ${method} ${path}`);
    const ns = decodeURIComponent(m[1]);
    const rest = m[2];
    if (!st.namespaces.has(ns)) return msg(res, 404, `Namespace '${ns}' not found`);

    let body;
    if (write && method !== 'DELETE') {
      const p = parseBody(req, raw);
      if (p.status) return msg(res, p.status, p.message);
      entry.body = p.value;
      const unbindable = entry.contract && entry.contract.unbindable;
      if (unbindable && unbindable.length) {
        const u = unbindable[0];
        return msg(res, 400, `Could not read the request body: ${u.where} ${u.rule}; found ${JSON.stringify(u.value)}`);
      }
      body = entry.contract ? asBound(p.value, entry.contract) : p.value;
    }

    if (rest === 'deployments') {
      if (method === 'GET') return send(res, 200, list([...st.deployments.values()].filter((d) => d.resource.metadata.namespace === ns).map((d) => d.resource)));
      if (method === 'POST') {
        const bad = validateDeployment(body, ns);
        if (bad) return msg(res, 400, bad);
        if (findDeployment(ns, body.metadata.name)) return msg(res, 409, `Deployment with name '${body.metadata.name}' already exists in namespace '${ns}'`);
        const d = createDeployment(ns, body);
        changed(d);
        return send(res, 201, d.resource);
      }
    }
    if ((m = /^deployments\/([^/]+)$/.exec(rest))) {
      const key = decodeURIComponent(m[1]);
      const d = findDeployment(ns, key);
      if (method === 'GET') return d ? send(res, 200, d.resource) : msg(res, 404, `Deployment '${key}' not found in namespace '${ns}'`);
      if (method === 'PATCH') {
        if (!d) return msg(res, 404, `Deployment '${key}' not found in namespace '${ns}'`);
        if (!isObj(body)) return msg(res, 400, 'the body must be a (partial) Deployment object');
        const patch = {};
        for (const k of ['metadata', 'spec']) if (body[k] !== undefined) patch[k] = body[k];
        const merged = mergePatch({ metadata: d.resource.metadata, spec: d.resource.spec }, patch, st.keepNulls);
        if (merged.metadata.name !== d.resource.metadata.name) return msg(res, 400, `metadata.name is immutable ('${d.resource.metadata.name}')`);
        if (merged.metadata.id !== d.resource.metadata.id) return msg(res, 400, 'metadata.id is immutable');
        const bad = validateDeployment(merged, ns);
        if (bad) return msg(res, 400, bad);
        updateDeployment(d, merged);
        return send(res, 200, d.resource);
      }
      if (method === 'PUT') {
        const bad = validateDeployment(body, ns);
        if (bad) return msg(res, 400, bad);
        if (!d) {
          if (UUID.test(key) && body.metadata.name !== key) return msg(res, 404, `Deployment '${key}' not found in namespace '${ns}'`);
          if (body.metadata.name !== key) return msg(res, 400, `metadata.name '${body.metadata.name}' does not match '${key}'`);
          const created = createDeployment(ns, body);
          changed(created);
          return send(res, 201, created.resource);
        }
        if (body.metadata.name !== d.resource.metadata.name) return msg(res, 400, `metadata.name is immutable ('${d.resource.metadata.name}')`);
        // Replace: what the body leaves out goes back to its default.
        updateDeployment(d, { metadata: { labels: {}, displayName: body.metadata.name, annotations: {}, ...body.metadata }, spec: withDefaults(body.spec || {}) });
        return send(res, 200, d.resource);
      }
      if (method === 'DELETE') {
        if (!d) return msg(res, 404, `Deployment '${key}' not found in namespace '${ns}'`);
        if (!['CANCELLED', 'SUSPENDED'].includes(d.resource.spec.state)) return msg(res, 400, `Deployment '${d.resource.metadata.name}' must have desired state CANCELLED or SUSPENDED to be deleted (it is ${d.resource.spec.state})`);
        if (d.jobId && st.jobs.get(d.jobId) && st.jobs.get(d.jobId).status.state === 'STARTED') return msg(res, 400, `Deployment '${d.resource.metadata.name}' still has a running job`);
        clearDeploymentTimers(d);
        st.deployments.delete(d.resource.metadata.id);
        return send(res, 200, d.resource);
      }
    }
    if (rest === 'events' && method === 'GET') {
      const items = st.events.filter((e) => e.metadata.namespace === ns
        && (!q.get('deploymentId') || e.metadata.deploymentId === q.get('deploymentId'))
        && (!q.get('jobId') || e.metadata.jobId === q.get('jobId')));
      return send(res, 200, list(items));
    }
    if (rest === 'jobs' && method === 'GET') {
      return send(res, 200, list([...st.jobs.values()].filter((j) => j.metadata.namespace === ns && (!q.get('deploymentId') || j.metadata.deploymentId === q.get('deploymentId')))));
    }
    if ((m = /^jobs\/([^/]+)$/.exec(rest)) && method === 'GET') {
      const j = st.jobs.get(decodeURIComponent(m[1]));
      return j && j.metadata.namespace === ns ? send(res, 200, j) : msg(res, 404, `Job '${m[1]}' not found`);
    }
    if (rest === 'savepoints') {
      if (method === 'GET') {
        return send(res, 200, list([...st.savepoints.values()].filter((s) => s.metadata.namespace === ns
          && (!q.get('deploymentId') || s.metadata.deploymentId === q.get('deploymentId'))
          && (!q.get('jobId') || s.metadata.jobId === q.get('jobId')))));
      }
      if (method === 'POST') {
        const depId = body && body.metadata && body.metadata.deploymentId;
        const d = depId && st.deployments.get(String(depId).toLowerCase());
        if (!d || d.resource.metadata.namespace !== ns) return msg(res, 404, `Deployment '${depId}' not found in namespace '${ns}'`);
        const loc = body.spec && body.spec.savepointLocation;
        if (loc) {
          // A snapshot taken elsewhere, added by hand: COMPLETED at once, origin COPIED.
          const sp = addSavepoint(d.resource, 'COPIED', undefined, (body.status && body.status.state) || 'COMPLETED', loc, body.spec.flinkSavepointId);
          if (body.metadata.annotations) sp.metadata.annotations = { ...body.metadata.annotations };
          return send(res, 201, sp);
        }
        const job = d.jobId && st.jobs.get(d.jobId);
        if (!job || job.status.state !== 'STARTED') return msg(res, 400, `Deployment '${d.resource.metadata.name}' has no running job to take a savepoint of`);
        const sp = addSavepoint(d.resource, 'USER_REQUEST', job.metadata.id, 'STARTED');
        const b = st.nextSavepoint || {};
        st.nextSavepoint = null;
        later(timing.savepointMs, () => {
          if (b.fail) {
            sp.status = { state: 'FAILED', failure: { reason: 'SavepointFailed', message: b.message || 'Checkpoint Coordinator is suspending.', failedAt: now() } };
          } else {
            sp.status = { state: 'COMPLETED' };
            sp.spec = { savepointLocation: savepointLocation(d.resource, job.metadata.id), flinkSavepointId: crypto.randomUUID() };
          }
          sp.metadata.modifiedAt = now();
        });
        return send(res, 201, sp);
      }
    }
    if ((m = /^savepoints\/([^/]+)$/.exec(rest)) && method === 'GET') {
      const s = st.savepoints.get(decodeURIComponent(m[1]));
      return s && s.metadata.namespace === ns ? send(res, 200, s) : msg(res, 404, `Savepoint '${m[1]}' not found`);
    }
    const named = (items, kind) => {
      if (method !== 'GET') return null;
      const inNs = items.filter((x) => x.metadata.namespace === ns);
      const base = kind === 'DeploymentTarget' ? 'deployment-targets' : 'sessionclusters';
      if (rest === base) return send(res, 200, list(inNs));
      const mm = new RegExp(`^${base}/([^/]+)$`).exec(rest);
      if (!mm) return null;
      const x = inNs.find((t) => t.metadata.name === decodeURIComponent(mm[1]));
      return x ? send(res, 200, x) : msg(res, 404, `${kind} '${mm[1]}' not found in namespace '${ns}'`);
    };
    const r = named(st.targets, 'DeploymentTarget') || named(st.sessionClusters, 'SessionCluster');
    if (r) return r;
    return msg(res, 404, `No endpoint ${method} ${path}`);
  }

  function multipartFile(req, raw) {
    const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(String(req.headers['content-type'] || ''));
    if (!m) return null;
    const boundary = Buffer.from(`--${m[1] || m[2]}`);
    let at = raw.indexOf(boundary);
    while (at >= 0) {
      const headEnd = raw.indexOf('\r\n\r\n', at);
      if (headEnd < 0) return null;
      const head = raw.slice(at + boundary.length, headEnd).toString('utf8');
      const next = raw.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headEnd);
      if (next < 0) return null;
      const name = /name="([^"]*)"/i.exec(head);
      const file = /filename="([^"]*)"/i.exec(head);
      if (name && name[1] === 'file' && file) return { filename: file[1], data: raw.slice(headEnd + 4, next) };
      at = next + 2;
    }
    return null;
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://vvp');
      const entry = {
        at: Date.now() - t0, method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'], accept: req.headers.accept,
      };
      st.log.push(entry);
      Object.defineProperty(entry, 'contract', { value: contract.check(req, raw) });
      contract.watch(res, entry.contract);
      if (st.routes && !st.routes.some((p) => url.pathname === p || url.pathname.startsWith(`${p}/`))) {
        res.contractSkip = true;
        entry.status = 404; entry.ingress = true;
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n');
        return;
      }
      const fault = takeFault(req.method, url.pathname);
      if (fault) res.contractSkip = true;
      const go = () => {
        if (fault && fault.reset) { entry.status = 'reset'; entry.fault = true; req.socket.destroy(); return; }
        if (fault && fault.resetMidBody) {
          entry.status = 'reset mid-body'; entry.fault = true;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2048' });
          res.write('{"kind": "Deployment", "metadata": {"na');
          later(20, () => req.socket.destroy());
          return;
        }
        if (fault && fault.truncate && fault.done) {
          // The request is carried out; only its answer is cut on the way back.
          const sink = { writeHead() { return sink; }, setHeader() {}, write() {}, end() {} };
          let status = 500;
          try { status = handle(req, sink, raw, entry); } catch (e) { /* answered below */ }
          entry.status = status; entry.fault = true;
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end('{"kind": "Deployment", "metadata": {"na');
          return;
        }
        if (fault && fault.truncate) {
          entry.status = 200; entry.fault = true;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"kind": "Deployment", "metadata": {"na');
          return;
        }
        if (fault && fault.endless) {
          // A 200 whose body never ends (a broken proxy, a hostile server).
          entry.status = 'endless'; entry.fault = true;
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          res.write('{"items": [');
          const pump = () => { while (!res.destroyed && res.write(chunk)) { /* until the buffer fills */ } if (!res.destroyed) res.once('drain', pump); };
          res.on('close', () => { entry.sent = res.socket ? res.socket.bytesWritten : undefined; });
          pump();
          return;
        }
        if (fault && fault.redirect) {
          entry.status = fault.redirect.status || 302; entry.fault = true;
          res.writeHead(entry.status, { location: fault.redirect.location, 'content-length': '0' });
          res.end();
          return;
        }
        if (fault && fault.text !== undefined) {
          entry.status = fault.status || 200; entry.fault = true;
          res.writeHead(entry.status, { 'content-type': 'text/plain' });
          res.end(fault.text);
          return;
        }
        if (fault && fault.status) {
          entry.status = fault.status; entry.fault = true;
          send(res, fault.status, fault.body === undefined ? { message: `injected HTTP ${fault.status}` } : fault.body, fault.headers || {});
          return;
        }
        try {
          entry.status = handle(req, res, raw, entry);
        } catch (e) {
          entry.status = 500;
          res.contractSkip = true;
          msg(res, 500, `fake error: ${e.stack}`);
        }
      };
      if (fault && fault.delayMs) later(fault.delayMs, go); else go();
    });
  });

  function takeFault(method, path) {
    const i = st.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || (f.path instanceof RegExp ? f.path.test(path) : path.includes(f.path))));
    if (i < 0) return null;
    const f = st.faults[i];
    f.times = (f.times === undefined ? 1 : f.times) - 1;
    if (f.times <= 0) st.faults.splice(i, 1);
    return f;
  }

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    const api = {
      url: `http://127.0.0.1:${port}`,
      state: st,
      log: st.log,
      /** Requests that could change something. */
      writes: () => st.log.filter((e) => e.method !== 'GET' && e.method !== 'HEAD'),
      requests: (method, re) => st.log.filter((e) => e.method === method && (!re || re.test(e.path))),
      /**
       * The next matching requests fail: {method?, path?, times?, status?, headers?, body?, text?, delayMs?, reset?, resetMidBody?,
       * truncate?, done?, endless?, redirect?: {status?, location}}. With `done`, a truncated answer follows a request that was
       * carried out; `text` answers plain text (with `status`); `endless` answers 200 with a body that never ends; `redirect`
       * answers 3xx (302 unless given) pointing at `location`; `delayMs` holds the answer (a stalled server).
       */
      fault: (f) => st.faults.push({ ...f }),
      /**
       * What the next new jobs do: {deployment?, startMs?, outcome?: 'RUNNING'|'FAILED', failAfterMs?, failure?: {reason, message},
       * restartAfterMs?, restarts?} (`restarts`, 1 unless given, are added to observedFlinkJobRestarts that long after the start);
       * with `deployment`, only that deployment's next job.
       */
      nextJobs: (...behaviours) => st.nextJobs.push(...behaviours),
      nextSavepoint: (b) => { st.nextSavepoint = b; },
      addNamespace: (ns) => st.namespaces.add(ns),
      deployment: (ns, key) => { const d = findDeployment(ns, key); return d && clone(d.resource); },
      jobs: (deploymentId) => [...st.jobs.values()].filter((j) => j.metadata.deploymentId === deploymentId).map(clone),
      savepoints: (deploymentId) => [...st.savepoints.values()].filter((s) => s.metadata.deploymentId === deploymentId).map(clone),
      events: (deploymentId) => st.events.filter((e) => e.metadata.deploymentId === deploymentId).map(clone),
      target: (name) => clone(st.targets.find((t) => t.metadata.name === name)),
      /**
       * Put a deployment in place without a run, in `state` (RUNNING gets a started job),
       * e.g. what a pipeline deployed yesterday. Returns it.
       */
      seed: (ns, body, state = body.spec && body.spec.state ? body.spec.state : 'RUNNING') => {
        const d = createDeployment(ns, body);
        if (body.metadata && body.metadata.id) {
          st.deployments.delete(d.resource.metadata.id);
          d.resource.metadata.id = body.metadata.id;
          st.deployments.set(body.metadata.id, d);
        }
        d.resource.spec.state = state === 'FAILED' ? 'RUNNING' : state;
        if (state === 'RUNNING') {
          const id = crypto.randomUUID();
          st.jobs.set(id, {
            kind: 'Job', apiVersion: 'v1',
            metadata: { id, namespace: ns, deploymentId: d.resource.metadata.id, deploymentName: d.resource.metadata.name, createdAt: now(), resourceVersion: 1 },
            spec: { artifact: clone(((d.resource.spec.template || {}).spec || {}).artifact) },
            status: { state: 'STARTED', started: { flinkJobId: crypto.randomBytes(16).toString('hex'), observedFlinkJobStatus: 'RUNNING', startedAt: now() } },
          });
          d.jobId = id;
          d.jobTemplate = clone(d.resource.spec.template);
          d.resource.status = { state: 'RUNNING', running: { jobId: id, transitionTime: now(), conditions: [] } };
        } else {
          d.resource.status = { state };
        }
        return clone(d.resource);
      },
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      /** When a deployment entered `state` (ms since the fake started; `wall` is Date.now()). */
      reached: (idOrName, state) => st.transitions.filter((t) => (t.id === idOrName || t.deployment === idOrName) && t.state === state),
      close: () => new Promise((r) => {
        for (const h of st.timers) clearTimeout(h);
        st.timers.clear();
        server.closeAllConnections && server.closeAllConnections();
        server.close(() => r());
      }),
    };
    resolve(api);
  }));
}

module.exports = { startVvp, mergePatch };
