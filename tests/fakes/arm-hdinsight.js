// Fake Azure Resource Manager for HDInsight on AKS Flink jobs, over HTTPS (test CA from tls.js).
//
// Written from the documented API (seed 003 "Flink job management", seed 001, and the
// 2023-06-01-preview hdinsight.json as summarised in flink-target-apis.md section B):
//
//   POST {cluster}/runJob?api-version=...   body ClusterJob {"properties":{"jobType":"FlinkJob",
//        "jobName", "action" (NEW UPDATE STATELESS_UPDATE STOP START SAVEPOINT LIST_SAVEPOINT CANCEL
//        DELETE), "jobJarDirectory", "jarName", "entryClass", "args", "savePointName",
//        "flinkConfiguration"}}  -> 202 + Location (long-running operation, final-state-via
//        location) or 200 ClusterJob
//   GET  {Location}                          -> 202 while running, then 200 ClusterJob
//   GET  {cluster}/jobs?api-version=...       -> 200 {"value":[ClusterJob], "nextLink"}
//   errors: ARM ErrorResponse {"error":{"code","message"}} with x-ms-request-id
//   {cluster} = /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HDInsight/
//               clusterpools/{pool}/clusters/{cluster}
//
// Each job's list entry carries the read-only fields jobId, status, jobOutput, actionResult
// (IN_PROGRESS while an action runs, then SUCCESS or FAILED) and lastSavePoint, as in seed 003.
// Where the documents are silent (conflicting actions, unknown jobs, the LIST_SAVEPOINT output
// format) the fake picks plausible ARM behaviour; tests that depend on it say so.
//
// Every request and answer is checked against Microsoft's hdinsight.json (2023-06-01-preview,
// with the ARM common types it refers to; the operation status URL as ARM's async contract
// documents it) by tests/fakes/contract.js. A runJob body ARM could not bind gets 400
// InvalidRequestContent; injected faults are not checked.
'use strict';
const https = require('https');
const crypto = require('crypto');
const { makeTestCa } = require('./tls');
const { contractFor } = require('./contract');

const ACTIONS = ['NEW', 'UPDATE', 'STATELESS_UPDATE', 'STOP', 'START', 'SAVEPOINT', 'LIST_SAVEPOINT', 'CANCEL', 'DELETE'];
const API_VERSIONS = ['2023-06-01-preview', '2023-11-01-preview', '2024-05-01-preview'];
const ARM_SCOPE = 'https://management.azure.com/.default';

const hex = (n) => crypto.randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
const eq = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/**
 * Start the fake.
 * opts: {entra (from startEntra), subscriptionId, resourceGroup, clusterPool, clusterName,
 *        jobs: [{jobName, ...properties, savepoints?, later?: {afterReads, ...properties}}]
 *              initial jobs (RUNNING unless status given),
 *        lroPolls: 202 answers of the operation before it completes (default 1; 0 = answer 200 at once),
 *        retryAfter: Retry-After seconds on 202s (default '0'),
 *        inProgressReads: job-list reads that still show IN_PROGRESS after the operation (default 1),
 *        pageSize: jobs per list page (default all),
 *        outcomes: {ACTION: props | (job, body) => props|undefined}  overrides of the default result,
 *        forbidden: true -> 403 AuthorizationFailed for every request,
 *        retired: 'provider' -> the resource provider no longer serves clusterpools (404
 *                 InvalidResourceType, as for any type a namespace does not have), 'cluster' ->
 *                 the cluster was removed (404 ResourceNotFound): HDInsight on AKS after
 *                 2025-01-31,
 *        audience: the token audience this Resource Manager accepts (default the public cloud's
 *                  https://management.azure.com; Azure Stack Hub has an AD FS resource id)}
 */
function startArmHdinsight(opts = {}) {
  const tls = makeTestCa();
  const cfg = {
    subscriptionId: '10e32bab-26da-4cc4-a441-52b318f824e6',
    resourceGroup: 'hiloResourcegroup',
    clusterPool: 'clusterpool1',
    clusterName: 'cluster1',
    lroPolls: 1,
    retryAfter: '0',
    inProgressReads: 1,
    pageSize: 0,
    outcomes: {},
    forbidden: false,
    ...opts,
  };
  const state = { requests: [], jobs: new Map(), operations: new Map(), faults: [] };
  const contract = contractFor('arm');
  let base = '';
  const jobId = (name) => `/subscriptions/${cfg.subscriptionId}/resourceGroups/${cfg.resourceGroup}/providers/Microsoft.HDInsight/clusterPools/${cfg.clusterPool}/clusters/${cfg.clusterName}/jobs/${name}`;
  const savepointDir = (job) => (job.properties.flinkConfiguration || {})['savepoint.directory']
    || `abfs://flink@fakestore.dfs.core.windows.net/${job.properties.jobName}/savepoints`;

  for (const { later, savepoints, ...j } of cfg.jobs || []) {
    const props = { jobType: 'FlinkJob', status: 'RUNNING', actionResult: 'SUCCESS', action: 'NEW', jobId: hex(32), jobOutput: '', ...j };
    const job = { id: jobId(j.jobName), name: j.jobName, type: 'Microsoft.HDInsight/clusterPools/clusters/jobs', properties: props, savepoints: [...(savepoints || [])] };
    if (props.lastSavePoint && !job.savepoints.includes(props.lastSavePoint)) job.savepoints.push(props.lastSavePoint);
    // `later`: properties the job takes on by itself after `afterReads` list reads.
    if (later) job.later = { ...later };
    state.jobs.set(j.jobName, job);
  }

  const render = (job) => ({ id: job.id, name: job.name, type: job.type, properties: JSON.parse(JSON.stringify(job.properties)) });

  function takeSavepoint(job) {
    const sp = `${savepointDir(job).replace(/\/$/, '')}/savepoint-${String(job.properties.jobId || hex(32)).slice(0, 6)}-${hex(12)}`;
    job.savepoints.push(sp);
    job.properties.lastSavePoint = sp;
    return sp;
  }

  function mergeDefinition(job, p) {
    for (const k of ['jobJarDirectory', 'jarName', 'entryClass', 'args']) if (p[k] !== undefined) job.properties[k] = p[k];
    if (p.flinkConfiguration) job.properties.flinkConfiguration = { ...p.flinkConfiguration };
  }

  /** The documented effect of each action on a job, as {props} to apply (or a failure). */
  function defaultOutcome(job, body) {
    const p = body.properties;
    const s = job.properties.status;
    const fail = (jobOutput, extra = {}) => ({ actionResult: 'FAILED', jobOutput, ...extra });
    switch (p.action) {
      case 'NEW':
        return { actionResult: 'SUCCESS', status: 'RUNNING', jobId: hex(32), jobOutput: '' };
      case 'UPDATE': {
        let from = job.properties.lastSavePoint;
        if (s === 'RUNNING') from = takeSavepoint(job);
        if (p.savePointName) {
          from = job.savepoints.find((x) => x.endsWith(`/${p.savePointName}`));
          if (!from) return fail(`Savepoint ${p.savePointName} does not exist.`);
        }
        mergeDefinition(job, p);
        return { actionResult: 'SUCCESS', status: 'RUNNING', jobId: hex(32), jobOutput: from ? `Job restarted from savepoint ${from}` : '' };
      }
      case 'STATELESS_UPDATE':
        mergeDefinition(job, p);
        return { actionResult: 'SUCCESS', status: 'RUNNING', jobId: hex(32), jobOutput: '' };
      case 'STOP': {
        if (s !== 'RUNNING') return fail(`Job is not running (status ${s}).`);
        const sp = takeSavepoint(job);
        return { actionResult: 'SUCCESS', status: 'STOPPED', jobOutput: `Savepoint completed. Path: ${sp}` };
      }
      case 'START': {
        if (s === 'RUNNING') return fail('Job is already running.');
        let from = job.properties.lastSavePoint;
        if (p.savePointName) {
          from = job.savepoints.find((x) => x.endsWith(`/${p.savePointName}`));
          if (!from) return fail(`Savepoint ${p.savePointName} does not exist.`);
        }
        if (p.args !== undefined) job.properties.args = p.args;
        return { actionResult: 'SUCCESS', status: 'RUNNING', jobId: hex(32), jobOutput: from ? `Job started from savepoint ${from}` : 'Job started without a savepoint' };
      }
      case 'SAVEPOINT': {
        if (s !== 'RUNNING') return fail(`Job is not running (status ${s}).`);
        const sp = takeSavepoint(job);
        return { actionResult: 'SUCCESS', jobOutput: `Savepoint completed. Path: ${sp}` };
      }
      case 'LIST_SAVEPOINT':
        // Format not documented: one savepoint path per line.
        return { actionResult: 'SUCCESS', jobOutput: job.savepoints.join('\n') };
      case 'CANCEL':
        if (s !== 'RUNNING') return fail(`Job is not running (status ${s}).`);
        return { actionResult: 'SUCCESS', status: 'CANCELED', jobOutput: '' };
      case 'DELETE':
        if (s === 'RUNNING') return fail('Job is running; stop or cancel it before deleting it.');
        return { actionResult: 'SUCCESS', deleted: true };
      default:
        return fail(`unknown action ${p.action}`);
    }
  }

  /** Finish an accepted action: apply the configured or documented outcome. */
  function finish(op) {
    const job = state.jobs.get(op.jobName);
    op.done = true;
    if (!job) return;
    const o = cfg.outcomes[op.body.properties.action];
    let result = typeof o === 'function' ? o(job, op.body) : o;
    if (!result) result = defaultOutcome(job, op.body);
    else if (result.actionResult !== 'FAILED') {
      // An override that succeeds still has the action's documented effect.
      result = { ...defaultOutcome(job, op.body), ...result };
    }
    const { deleted, later, ...props } = result;
    if (deleted) { state.jobs.delete(op.jobName); return; }
    Object.assign(job.properties, props);
    if (later) job.later = { ...later };
  }

  /** Advance the state machine by one job-list read. */
  function tick() {
    for (const op of state.operations.values()) {
      if (op.done || op.pollsLeft > 0) continue;
      if (op.readsLeft > 0) { op.readsLeft--; continue; }
      finish(op);
    }
    for (const job of state.jobs.values()) {
      if (!job.later) continue;
      if (job.later.afterReads > 0) { job.later.afterReads--; continue; }
      const { afterReads, ...props } = job.later;
      Object.assign(job.properties, props);
      delete job.later;
    }
  }

  function armError(res, status, code, message, headers = {}) {
    send(res, status, { error: { code, message } }, headers);
  }
  function send(res, status, body, headers = {}) {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ms-request-id': crypto.randomUUID(),
      'x-ms-correlation-request-id': crypto.randomUUID(),
      ...headers,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ctx = contract.check(req, body);
      contract.watch(res, ctx);
      handle(req, res, body.toString('utf8'), ctx);
    });
  });

  function handle(req, res, raw, ctx) {
    const url = new URL(req.url, 'https://localhost');
    const entry = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), time: Date.now(), auth: 'missing' };
    state.requests.push(entry);
    entry.requestId = crypto.randomUUID();
    const ids = { 'x-ms-request-id': entry.requestId };
    const reply = (status, body, headers) => { entry.status = status; send(res, status, body, { ...ids, ...headers }); };
    const fail = (status, code, message, headers) => { entry.status = status; entry.errorCode = code; armError(res, status, code, message, { ...ids, ...headers }); };
    try { entry.body = raw ? JSON.parse(raw) : undefined; } catch (e) { entry.body = raw; }

    const fi = state.faults.findIndex((f) => (!f.method || f.method === req.method) && (!f.path || f.path.test(url.pathname)));
    if (fi >= 0) {
      const f = state.faults[fi];
      if (--f.times <= 0) state.faults.splice(fi, 1);
      res.contractSkip = true;
      if (f.reset) { entry.status = 'reset'; entry.fault = 'reset'; req.socket.destroy(); return undefined; }
      if (f.resetMidBody) {
        entry.status = 'reset mid-body'; entry.fault = 'reset mid-body';
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '4096', ...ids });
        res.write('{"value":[{"id":"/subscriptions/');
        setTimeout(() => req.socket.destroy(), 20);
        return undefined;
      }
      if (f.truncate) {
        entry.status = 200; entry.fault = 'truncated';
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...ids });
        res.end('{"value":[{"id":"/subscriptions/');
        return undefined;
      }
      entry.fault = f.status;
      const headers = f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {};
      const code = f.status === 429 ? 'TooManyRequests' : f.status === 503 ? 'ServiceUnavailable' : 'InternalServerError';
      return fail(f.status, f.code || code, f.message || 'The request was throttled or the service is unavailable. Please retry.', headers);
    }

    const authz = req.headers.authorization || '';
    if (!authz) return fail(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", { 'www-authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"' });
    const m = authz.match(/^Bearer (.+)$/);
    if (!m || !cfg.entra.valid(m[1], cfg.audience ? `${cfg.audience}/.default` : ARM_SCOPE)) {
      entry.auth = 'invalid';
      return fail(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
    entry.auth = 'valid';

    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) return fail(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");

    const op = url.pathname.match(/^\/subscriptions\/([^/]+)\/providers\/Microsoft\.HDInsight\/locations\/([^/]+)\/operationResults\/([^/]+)$/i);
    if (op && req.method === 'GET') return operationStatus(op[3], reply, fail);

    const r = url.pathname.match(/^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.HDInsight\/clusterpools\/([^/]+)\/clusters\/([^/]+)\/(runJob|jobs)$/i);
    if (!r) return fail(404, 'InvalidResourceType', `The resource type could not be found for path '${url.pathname}'.`);
    const [, sub, rg, pool, cluster, what] = r.map(decodeURIComponent);
    if (cfg.retired === 'provider') {
      return fail(404, 'InvalidResourceType', `The resource type 'clusterpools' could not be found in the namespace 'Microsoft.HDInsight' for api version '${apiVersion}'. The supported api-versions are ''.`);
    }
    if (!API_VERSIONS.includes(apiVersion)) {
      return fail(400, 'NoRegisteredProviderFound', `No registered resource provider found for location 'westus3' and API version '${apiVersion}' for type 'clusterpools'. The supported api-versions are '${API_VERSIONS.join(', ')}'.`);
    }
    if (!eq(sub, cfg.subscriptionId)) return fail(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    if (!eq(rg, cfg.resourceGroup)) return fail(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    if (cfg.forbidden) {
      return fail(403, 'AuthorizationFailed', `The client 'fake-client' with object id '00000000-0000-0000-0000-000000000001' does not have authorization to perform action 'Microsoft.HDInsight/clusterpools/clusters/${what === 'jobs' ? 'jobs/read' : 'runJob/action'}' over scope '/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.HDInsight/clusterpools/${pool}/clusters/${cluster}' or the scope is invalid. If access was recently granted, please refresh your credentials.`);
    }
    if (!eq(pool, cfg.clusterPool)) return fail(404, 'ParentResourceNotFound', `Can not perform requested operation on nested resource. Parent resource '${pool}' not found.`);
    if (!eq(cluster, cfg.clusterName) || cfg.retired === 'cluster') return fail(404, 'ResourceNotFound', `The Resource 'Microsoft.HDInsight/clusterpools/${pool}/clusters/${cluster}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);

    if (what.toLowerCase() === 'jobs') {
      if (req.method !== 'GET') return fail(405, 'MethodNotAllowed', `The requested method ${req.method} is not allowed.`);
      tick();
      const all = [...state.jobs.values()].map(render);
      const size = cfg.pageSize > 0 ? cfg.pageSize : all.length || 1;
      const skip = Number(url.searchParams.get('$skipToken') || 0);
      const page = all.slice(skip, skip + size);
      const body = { value: page };
      if (skip + size < all.length) body.nextLink = `${base}${url.pathname}?api-version=${apiVersion}&$skipToken=${skip + size}`;
      return reply(200, body);
    }
    if (req.method !== 'POST') return fail(405, 'MethodNotAllowed', `The requested method ${req.method} is not allowed.`);
    return runJob(req, entry, apiVersion, reply, fail, ctx);
  }

  function runJob(req, entry, apiVersion, reply, fail, ctx) {
    if (!/^application\/json/i.test(req.headers['content-type'] || '')) return fail(415, 'UnsupportedMediaType', "The content media type '" + (req.headers['content-type'] || '') + "' is not supported. Only 'application/json' is supported.");
    const body = entry.body;
    if (!body || typeof body !== 'object') return fail(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
    if (ctx.unbindable.length) {
      const u = ctx.unbindable[0];
      return fail(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: ${u.where.replace(/^body\./, '')} ${u.rule}.`);
    }
    const p = body.properties;
    if (!p || typeof p !== 'object') return fail(400, 'InvalidRequestContent', "The request content is missing the required property 'properties'.");
    if (p.jobType !== 'FlinkJob') return fail(400, 'InvalidRequestContent', `The value '${p.jobType}' of property 'jobType' is not valid; expected 'FlinkJob'.`);
    if (!p.jobName) return fail(400, 'InvalidRequestContent', "The required property 'jobName' is missing.");
    if (!ACTIONS.includes(p.action)) return fail(400, 'InvalidRequestContent', `The value '${p.action}' of property 'action' is not valid. Allowed values: ${ACTIONS.join(', ')}.`);
    for (const [k, v] of Object.entries(p.flinkConfiguration || {})) {
      if (typeof v !== 'string') return fail(400, 'InvalidRequestContent', `flinkConfiguration value of '${k}' must be a string.`);
    }
    let job = state.jobs.get(p.jobName);
    if (p.action === 'NEW') {
      if (job) return fail(409, 'Conflict', `Job '${p.jobName}' already exists on cluster '${cfg.clusterName}'.`);
      for (const k of ['jobJarDirectory', 'jarName', 'entryClass']) {
        if (!p[k]) return fail(400, 'BadRequest', `'${k}' is required for action NEW.`);
      }
      job = {
        id: jobId(p.jobName), name: p.jobName, type: 'Microsoft.HDInsight/clusterPools/clusters/jobs', savepoints: [],
        properties: { jobType: 'FlinkJob', jobName: p.jobName, jobJarDirectory: p.jobJarDirectory, jarName: p.jarName, entryClass: p.entryClass,
          ...(p.args !== undefined ? { args: p.args } : {}), flinkConfiguration: { parallelism: '2', ...(p.flinkConfiguration || {}) } },
      };
      state.jobs.set(p.jobName, job);
    } else if (!job) {
      return fail(404, 'NotFound', `Job '${p.jobName}' was not found on cluster '${cfg.clusterName}'.`);
    }
    if (job.properties.actionResult === 'IN_PROGRESS') {
      return fail(409, 'Conflict', `Action ${job.properties.action} is in progress on job '${p.jobName}'.`);
    }
    Object.assign(job.properties, { action: p.action, actionResult: 'IN_PROGRESS' });
    const id = crypto.randomUUID();
    const op = { id, jobName: p.jobName, body, pollsLeft: cfg.lroPolls, readsLeft: cfg.inProgressReads, done: false, apiVersion };
    state.operations.set(id, op);
    entry.operation = id;
    if (cfg.lroPolls <= 0) return reply(200, render(job));
    return reply(202, undefined, { location: location(op), 'retry-after': String(cfg.retryAfter) });
  }

  const location = (op) => `${base}/subscriptions/${cfg.subscriptionId}/providers/Microsoft.HDInsight/locations/westus3/operationResults/${op.id}?api-version=${op.apiVersion}`;

  function operationStatus(id, reply, fail) {
    const op = state.operations.get(id);
    if (!op) return fail(404, 'NotFound', `Operation '${id}' was not found.`);
    if (op.pollsLeft > 0) {
      op.pollsLeft--;
      return reply(202, undefined, { location: location(op), 'retry-after': String(cfg.retryAfter) });
    }
    if (op.lroError) return fail(op.lroError.status, op.lroError.code, op.lroError.message);
    const job = state.jobs.get(op.jobName);
    return reply(200, job ? render(job) : { properties: op.body.properties });
  }

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    base = `https://127.0.0.1:${port}`;
    resolve({
      url: `${base}/`,
      caFile: tls.caFile,
      state,
      config: cfg,
      /** This fake's contract violations not yet taken (taking removes them from the ledger). */
      violations: (pred) => contract.take(pred),
      /** The job's current list entry (read-only fields included), or undefined. */
      job: (name) => (state.jobs.has(name) ? render(state.jobs.get(name)) : undefined),
      /** Requests that could change something (anything but GET). */
      writes: () => state.requests.filter((r) => r.method !== 'GET'),
      /** runJob requests, optionally of one action. */
      runJobs: (action) => state.requests.filter((r) => r.method === 'POST' && /\/runJob$/i.test(r.path) && (!action || (r.body && r.body.properties && r.body.properties.action === action))),
      /**
       * The next `times` matching requests fail: `status` (429/503...) with `retryAfter`, or
       * `reset` (closed before any answer), `resetMidBody` (closed after half of a 200 body),
       * `truncate` (a complete 200 whose JSON is cut).
       */
      fault: (f) => state.faults.push({ times: 1, ...f }),
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    });
  }));
}

module.exports = { startArmHdinsight, ARM_SCOPE, ACTIONS };
