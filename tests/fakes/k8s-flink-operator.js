// Emulation of the Apache Flink Kubernetes Operator (1.15.0) on the Kubernetes API fake:
// FlinkDeployment (application and session clusters) and FlinkSessionJob status progressions as
// the operator writes them, with its events. Written from the operator's source and docs at
// release-1.15.0 (CommonStatus#getLifecycleState, the reconcilers and observers, EventRecorder;
// docs/content/docs/custom-resource/job-management.md) as summarised row by row in the team's
// notes; each status write here is one status PATCH the operator makes (a poller may miss some).
//
// Status rows are (lifecycleState, reconciliationStatus.state, jobStatus.state,
// jobManagerDeploymentStatus, observedGeneration); lifecycleState is computed from the other
// fields by the operator's rules (`lifecycleOf`), never set directly (except DELETING).
//
//   first deploy        CREATED -> UPGRADING -> DEPLOYED(RECONCILING, DEPLOYING) -> DEPLOYED_NOT_READY -> STABLE(RUNNING, READY)
//   created suspended   CREATED with reconciliation UPGRADING and no observedGeneration, nothing more (FLINK-39243)
//   upgrade             SpecChanged + Suspended events; savepoint: UPGRADING(FINISHED, READY, upgradeSavepointPath) ->
//                       UPGRADING(FINISHED, MISSING); last-state / stateless: UPGRADING(FINISHED, MISSING); then deploy
//   job fails           FAILED(FAILED, READY) with `error` (JSON) + JobStatusChanged and Warning Error events
//   JobManager fails    DEPLOYED(RECONCILING, ERROR) with `error` and a Warning event (the container reason)
//   rollback (opt-in)   after the readiness timeout: Rollback event, ROLLING_BACK(FINISHED, MISSING) ->
//                       ROLLED_BACK(RECONCILING, DEPLOYING) -> ROLLED_BACK(RUNNING, READY); observedGeneration = the failed one
//   suspend / resume    SUSPENDED(FINISHED, READY|MISSING); resume = an upgrade from suspended
//   no spec change      observedGeneration catches up (FLINK-36890)
//   delete              Cleanup event, DELETING, finalizer removed
//   savepoint nonce     a change of spec.job.savepointTriggerNonce alone (legacy tracking, i.e.
//                       kubernetes.operator.snapshot.resource.enabled=false): savepointInfo.triggerId,
//                       then lastSavepoint + savepointHistory with the nonce; or a Warning SavepointError
//   job keeps restarting RUNNING (STABLE) then RESTARTING/RUNNING with JobStatusChanged events; STABLE stays
//   restarts at times   {restartsAfterMs: [ms, ...]}: one RESTARTING/RUNNING pair at each time after RUNNING;
//                       {restartsBeforeRunning: true}: RECONCILING -> RESTARTING -> RUNNING (STABLE only then)
//   session job         SessionJobReconciler#deploy persists a new jobId with RECONCILING before it submits;
//                       a stop (AbstractFlinkService#cancelSessionJob) leaves jobStatus FINISHED without a jobId
//   upgrade savepoint   recorded in savepointInfo as an UPGRADE savepoint as well (setUpgradeSavepointPath, with
//                       FlinkStateSnapshot resources off as for the nonces above)
//   session job,        cancelled (CANCELLING, UPGRADING, observedGeneration unchanged), then CANCELED with the last
//   last-state upgrade  checkpoint as upgradeSavepointPath, then started from it as a new job (allowLastStateCancel)
//   upgrade of a job    FAILED/FINISHED/CANCELED: nothing to stop (JobUpgrade.savepoint(true), SuspendMode.NOOP); the new spec
//   that is not running starts from the last savepoint the status knows (upgradeSavepointPath, else lastSavepoint);
//                       none known: Warning UpgradeFailed "... last checkpoint is unknown ..." and nothing recorded
//                       (AbstractJobReconciler#getJobUpgrade / #restoreJob)
// `jobs` lists what happened to the jobs on the Flink side: {name, kind, what: submit|stop|cancel, jobId, savepoint}.
// What each new job does is scripted per test with `nextJobs(...)`, as with the VVP fake.
'use strict';
const crypto = require('crypto');

const API_VERSION = 'flink.apache.org/v1beta1';
const FINALIZER = { FlinkDeployment: 'flinkdeployments.flink.apache.org/finalizer', FlinkSessionJob: 'flinksessionjobs.flink.apache.org/finalizer' };
const MANUAL_RESTORE = ['Manual restore required.', 'It is possible that the job has finished or terminally failed, or the configmaps have been deleted.', 'HA metadata is not available'];

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CommonStatus#getLifecycleState, rule by rule. */
function lifecycleOf(status, kind) {
  if (status.lifecycleState === 'DELETING' || status.lifecycleState === 'DELETED') return status.lifecycleState;
  const rs = status.reconciliationStatus || {};
  if (!rs.lastReconciledSpec) return status.error ? 'FAILED' : 'CREATED';
  if (rs.state === 'UPGRADING') return 'UPGRADING';
  if (rs.state === 'ROLLING_BACK') return 'ROLLING_BACK';
  const recorded = JSON.parse(rs.lastReconciledSpec).spec;
  if (recorded.job && recorded.job.state === 'suspended') return 'SUSPENDED';
  if ((status.jobStatus || {}).state === 'FAILED') return 'FAILED';
  if (kind === 'FlinkDeployment' && ['MISSING', 'ERROR'].includes(status.jobManagerDeploymentStatus) && status.error && MANUAL_RESTORE.some((t) => status.error.includes(t))) return 'FAILED';
  if (rs.state === 'ROLLED_BACK') return 'ROLLED_BACK';
  if (rs.lastReconciledSpec === rs.lastStableSpec) return 'STABLE';
  return 'DEPLOYED';
}

const specString = (spec, firstDeployment, overrides = {}) => {
  const s = clone(spec);
  if (s.job) Object.assign(s.job, overrides);
  return JSON.stringify({ spec: s, resource_metadata: { apiVersion: API_VERSION, firstDeployment } });
};
const recordedSpec = (status) => {
  const r = status.reconciliationStatus && status.reconciliationStatus.lastReconciledSpec;
  return r ? JSON.parse(r).spec : undefined;
};
/** The spec as the user wrote it vs. as recorded: job.state and upgradeMode are the operator's. */
const sameSpec = (a, b) => {
  const norm = (s) => { const c = clone(s || {}); if (c.job) { delete c.job.upgradeMode; delete c.job.state; delete c.job.savepointTriggerNonce; } return JSON.stringify(c); };
  return norm(a) === norm(b) && ((a.job || {}).state || 'running') === ((b.job || {}).state || 'running');
};
const capital = (s) => s.charAt(0) + s.slice(1).toLowerCase();

/**
 * Register the emulation on a k8s.js fake. Options:
 *   stepMs: time between status writes (default 40)
 *   rollback: kubernetes.operator.deployment.rollback.enabled (default false)
 *   readinessTimeoutMs: kubernetes.operator.deployment.readiness.timeout (default 600)
 *   finalizer: add the operator's finalizer on first reconcile (default true)
 *   savepointFails: a triggered savepoint fails with a SavepointError event (default false)
 * Returns {nextJobs(...b), transitions, errors, stop()}; b = {outcome: 'RUNNING'|'FAILED'|'JM_ERROR'|'RESTARTING',
 * failure?: {type, message}, reason? (container reason for JM_ERROR)}.
 */
function startFlinkOperator(k8s, opts = {}) {
  const cfg = { stepMs: 40, rollback: false, readinessTimeoutMs: 600, finalizer: true, manager: 'flink-kubernetes-operator', ...opts };
  const queue = [];
  const runs = new Map();
  const transitions = [];
  const errors = [];
  const jobs = [];
  let stopped = false;

  const keyOf = (o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;

  function event(o, type, reason, message, component) {
    try { k8s.event(o.kind, o.metadata.namespace, o.metadata.name, { type, reason, message, component }); } catch (e) { /* object gone */ }
  }

  /** One status write: the operator's fields, lifecycleState computed, the Running condition. */
  function write(run, o, mutate) {
    if (run.cancelled || stopped) throw Object.assign(new Error('superseded'), { superseded: true });
    const cur = k8s.get(o.kind, o.metadata.namespace, o.metadata.name);
    if (!cur) throw Object.assign(new Error('gone'), { superseded: true });
    const s = clone(cur.status) || {};
    mutate(s, cur);
    s.lifecycleState = lifecycleOf(s, o.kind);
    if (o.kind === 'FlinkDeployment' && s.reconciliationStatus && s.reconciliationStatus.lastReconciledSpec) {
      const session = !(cur.spec.job);
      const prev = (s.conditions || [])[0];
      const c = session
        ? { type: 'Running', status: s.jobManagerDeploymentStatus === 'READY' ? 'True' : 'False', reason: { READY: 'JobManagerReady', DEPLOYED_NOT_READY: 'DeployedNotReady', DEPLOYING: 'JobManagerIsDeploying', MISSING: 'JobManagerDeploymentMissing', ERROR: 'Error' }[s.jobManagerDeploymentStatus], message: `JobManager status ${s.jobManagerDeploymentStatus}` }
        : { type: 'Running', status: (s.jobStatus || {}).state === 'RUNNING' ? 'True' : 'False', reason: capital((s.jobStatus || {}).state || 'Created'), message: `Job status ${(s.jobStatus || {}).state || 'CREATED'}` };
      c.lastTransitionTime = prev && prev.status === c.status ? prev.lastTransitionTime : new Date().toISOString();
      s.conditions = [c];
    }
    if (o.kind === 'FlinkSessionJob') { delete s.jobManagerDeploymentStatus; delete s.conditions; }
    k8s.setStatus(o.kind, o.metadata.namespace, o.metadata.name, s, cfg.manager);
    transitions.push({ name: o.metadata.name, kind: o.kind, at: Date.now(), lifecycleState: s.lifecycleState, reconciliation: (s.reconciliationStatus || {}).state, job: (s.jobStatus || {}).state, jobId: (s.jobStatus || {}).jobId, jm: s.jobManagerDeploymentStatus, observedGeneration: s.observedGeneration });
    return s;
  }

  const step = async (run) => { await sleep(cfg.stepMs); if (run.cancelled || stopped) throw Object.assign(new Error('superseded'), { superseded: true }); };

  /** Submit the current spec and follow the new job to its scripted outcome. */
  async function deploy(run, o, gen, firstDeployment, { restoreFrom, jobId } = {}) {
    const b = { outcome: 'RUNNING', ...(queue.shift() || {}) };
    const session = o.kind === 'FlinkDeployment' && !o.spec.job;
    const isApp = o.kind === 'FlinkDeployment' && !session;
    const reconciled = specString(o.spec, firstDeployment);
    const newJobId = jobId || crypto.randomBytes(16).toString('hex');
    if (o.kind === 'FlinkSessionJob') {
      // SessionJobReconciler#deploy: the new job id is written with RECONCILING before the submit,
      // while the reconciliation still says what it said (UPGRADING on an upgrade).
      write(run, o, (s) => { s.jobStatus = { ...(s.jobStatus || {}), jobId: newJobId, state: 'RECONCILING' }; });
    }
    if (!session) jobs.push({ name: o.metadata.name, kind: o.kind, what: 'submit', jobId: session ? undefined : newJobId, savepoint: restoreFrom });
    write(run, o, (s) => {
      s.reconciliationStatus = { ...(s.reconciliationStatus || {}), state: 'DEPLOYED', lastReconciledSpec: reconciled, reconciliationTimestamp: Date.now() };
      s.observedGeneration = gen;
      if (!session) s.jobStatus = { ...(s.jobStatus || {}), jobId: newJobId, state: 'RECONCILING', jobName: o.metadata.name, ...(restoreFrom ? { upgradeSavepointPath: restoreFrom } : {}) };
      if (o.kind === 'FlinkDeployment') s.jobManagerDeploymentStatus = 'DEPLOYING';
      delete s.error;
    });
    event(o, 'Normal', 'Submit', 'Starting deployment', o.kind === 'FlinkSessionJob' ? 'Job' : 'JobManagerDeployment');
    await step(run);
    if (b.outcome === 'JM_ERROR') {
      const reason = b.reason || 'ImagePullBackOff';
      const message = b.failure ? b.failure.message : `[flink-main-container] Back-off pulling image "${o.spec.image || 'flink'}"`;
      write(run, o, (s) => { s.jobManagerDeploymentStatus = 'ERROR'; s.error = JSON.stringify({ type: 'org.apache.flink.kubernetes.operator.exception.DeploymentFailedException', message, additionalMetadata: { reason }, throwableList: [] }); });
      event(o, 'Warning', reason, message, 'JobManagerDeployment');
      return { ok: false };
    }
    if (isApp || session) {
      write(run, o, (s) => { s.jobManagerDeploymentStatus = 'DEPLOYED_NOT_READY'; });
      await step(run);
    }
    if (session) {
      write(run, o, (s) => { s.jobManagerDeploymentStatus = 'READY'; s.reconciliationStatus.lastStableSpec = s.reconciliationStatus.lastReconciledSpec; });
      return { ok: true };
    }
    if (b.outcome === 'FAILED') {
      const failure = b.failure || { type: 'org.apache.flink.runtime.JobException', message: 'Recovery is suppressed by NoRestartBackoffTimeStrategy' };
      write(run, o, (s) => {
        if (isApp) s.jobManagerDeploymentStatus = 'READY';
        s.jobStatus.state = 'FAILED';
        s.jobStatus.updateTime = String(Date.now());
        s.error = JSON.stringify({ type: failure.type, message: failure.message, additionalMetadata: {}, throwableList: [] });
      });
      event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RECONCILING to FAILED', 'Job');
      event(o, 'Warning', 'Error', failure.message, 'Job');
      return { ok: false };
    }
    let was = 'RECONCILING';
    if (b.restartsBeforeRunning) {
      // The job failed over before the operator first saw it RUNNING: no stable spec yet.
      write(run, o, (s) => { if (isApp) s.jobManagerDeploymentStatus = 'READY'; s.jobStatus.state = 'RESTARTING'; s.jobStatus.updateTime = String(Date.now()); });
      event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RECONCILING to RESTARTING', 'Job');
      await step(run);
      was = 'RESTARTING';
    }
    write(run, o, (s) => {
      if (isApp) s.jobManagerDeploymentStatus = 'READY';
      s.jobStatus.state = 'RUNNING';
      s.jobStatus.startTime = String(Date.now());
      s.jobStatus.updateTime = String(Date.now());
      s.reconciliationStatus.lastStableSpec = s.reconciliationStatus.lastReconciledSpec;
    });
    event(o, 'Normal', 'JobStatusChanged', `Job status changed from ${was} to RUNNING`, 'Job');
    let elapsed = 0;
    for (const at of b.restartsAfterMs || []) {
      await sleep(Math.max(0, at - elapsed));
      elapsed = at;
      write(run, o, (s) => { s.jobStatus.state = 'RESTARTING'; s.jobStatus.updateTime = String(Date.now()); });
      event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RUNNING to RESTARTING', 'Job');
      await step(run);
      elapsed += cfg.stepMs;
      write(run, o, (s) => { s.jobStatus.state = 'RUNNING'; s.jobStatus.updateTime = String(Date.now()); });
      event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RESTARTING to RUNNING', 'Job');
    }
    if (b.outcome === 'RESTARTING') {
      // The job fails over and over; the lifecycle stays STABLE (it was seen running once).
      for (let n = 0; n < 50; n++) {
        await step(run);
        write(run, o, (s) => { s.jobStatus.state = 'RESTARTING'; s.jobStatus.updateTime = String(Date.now()); });
        event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RUNNING to RESTARTING', 'Job');
        await step(run);
        write(run, o, (s) => { s.jobStatus.state = 'RUNNING'; s.jobStatus.updateTime = String(Date.now()); });
        event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RESTARTING to RUNNING', 'Job');
      }
    }
    return { ok: true };
  }

  /** A manual savepoint for a new savepointTriggerNonce (legacy tracking in the status). */
  async function savepoint(run, o, gen) {
    const nonce = o.spec.job.savepointTriggerNonce;
    const triggerId = crypto.randomBytes(16).toString('hex');
    write(run, o, (s) => {
      s.jobStatus.savepointInfo = { ...(s.jobStatus.savepointInfo || {}), triggerId, triggerTimestamp: Date.now(), triggerType: 'MANUAL', formatType: 'CANONICAL' };
    });
    await step(run);
    if (cfg.savepointFails) {
      write(run, o, (s) => { s.jobStatus.savepointInfo = { ...s.jobStatus.savepointInfo, triggerId: '', triggerTimestamp: 0 }; });
      event(o, 'Warning', 'SavepointError', 'Savepoint failed for savepointTriggerNonce : ' + nonce, 'Job');
      return;
    }
    const sp = { timeStamp: Date.now(), location: `s3://flink/savepoints/${o.metadata.name}/savepoint-${crypto.randomBytes(6).toString('hex')}`, triggerType: 'MANUAL', formatType: 'CANONICAL', triggerNonce: nonce };
    write(run, o, (s) => {
      const info = s.jobStatus.savepointInfo;
      s.jobStatus.savepointInfo = { ...info, triggerId: '', triggerTimestamp: 0, lastSavepoint: sp, savepointHistory: [...(info.savepointHistory || []), sp] };
      const rec = JSON.parse(s.reconciliationStatus.lastReconciledSpec);
      rec.spec.job.savepointTriggerNonce = nonce;
      s.reconciliationStatus.lastReconciledSpec = JSON.stringify(rec);
      if (s.reconciliationStatus.lastStableSpec) {
        const st = JSON.parse(s.reconciliationStatus.lastStableSpec);
        st.spec.job.savepointTriggerNonce = nonce;
        s.reconciliationStatus.lastStableSpec = JSON.stringify(st);
      }
      s.observedGeneration = gen;
    });
  }

  /** Stop the running job the way the upgrade mode says; returns the savepoint path if one was taken. */
  async function suspendJob(run, o, gen, mode, recordedAs, { asSuspend = false } = {}) {
    const isApp = o.kind === 'FlinkDeployment';
    let path;
    if (mode === 'savepoint') path = `s3://flink/savepoints/${o.metadata.name}/savepoint-${crypto.randomBytes(3).toString('hex')}-${crypto.randomBytes(6).toString('hex')}`;
    if (mode === 'last-state') path = 'KUBERNETES_OPERATOR_LAST_STATE';
    const stoppedAt = Date.now();
    const cur = k8s.get(o.kind, o.metadata.namespace, o.metadata.name);
    jobs.push({ name: o.metadata.name, kind: o.kind, what: mode === 'savepoint' ? 'stop' : 'cancel', jobId: cur && cur.status.jobStatus && cur.status.jobStatus.jobId, savepoint: mode === 'savepoint' ? path : undefined });
    /** What the stop leaves in jobStatus, whichever way it is recorded. */
    const stopped = (s) => {
      s.jobStatus = { ...(s.jobStatus || {}), state: 'FINISHED', updateTime: String(Date.now()) };
      if (path) s.jobStatus.upgradeSavepointPath = path;
      // AbstractFlinkService#cancelSessionJob clears the id of the job it stopped.
      if (o.kind === 'FlinkSessionJob') delete s.jobStatus.jobId;
      if (mode === 'savepoint') {
        const sp = { timeStamp: stoppedAt, location: path, triggerType: 'UPGRADE', formatType: 'CANONICAL' };
        const info = s.jobStatus.savepointInfo || {};
        s.jobStatus.savepointInfo = { ...info, triggerId: '', triggerTimestamp: 0, lastSavepoint: sp, savepointHistory: [...(info.savepointHistory || []), sp] };
      }
    };
    if (asSuspend) {
      // A suspend is recorded as deployed and stable in one write (updateStatusForDeployedSpec).
      write(run, o, (s) => {
        s.reconciliationStatus.state = 'DEPLOYED';
        s.reconciliationStatus.lastReconciledSpec = recordedAs;
        s.reconciliationStatus.lastStableSpec = recordedAs;
        s.reconciliationStatus.reconciliationTimestamp = Date.now();
        s.observedGeneration = gen;
        stopped(s);
        if (isApp) s.jobManagerDeploymentStatus = mode === 'savepoint' ? 'READY' : 'MISSING';
      });
      return path;
    }
    write(run, o, (s) => {
      s.reconciliationStatus.state = 'UPGRADING';
      s.reconciliationStatus.lastReconciledSpec = recordedAs;
      s.observedGeneration = gen;
      stopped(s);
      if (isApp) s.jobManagerDeploymentStatus = mode === 'savepoint' ? 'READY' : 'MISSING';
    });
    await step(run);
    if (isApp && mode === 'savepoint') {
      write(run, o, (s) => { s.jobManagerDeploymentStatus = 'MISSING'; });
      await step(run);
    }
    return path;
  }

  async function maybeRollBack(run, o, gen) {
    if (!cfg.rollback || o.kind !== 'FlinkDeployment') return;
    const cur = k8s.get(o.kind, o.metadata.namespace, o.metadata.name);
    const stable = cur.status.reconciliationStatus.lastStableSpec;
    if (!stable || JSON.parse(stable).spec.job.state === 'suspended') return;
    await sleep(cfg.readinessTimeoutMs);
    if (run.cancelled || stopped) return;
    event(o, 'Normal', 'Rollback', 'Rolling back failed deployment.', 'JobManagerDeployment');
    write(run, o, (s) => {
      s.reconciliationStatus.state = 'ROLLING_BACK';
      s.jobStatus.state = 'FINISHED';
      s.jobManagerDeploymentStatus = 'MISSING';
    });
    await step(run);
    write(run, o, (s) => {
      s.reconciliationStatus.state = 'ROLLED_BACK';
      s.reconciliationStatus.reconciliationTimestamp = Date.now();
      s.jobStatus.state = 'RECONCILING';
      s.jobManagerDeploymentStatus = 'DEPLOYING';
      delete s.error;
    });
    await step(run);
    write(run, o, (s) => {
      s.jobStatus.state = 'RUNNING';
      s.jobStatus.updateTime = String(Date.now());
      s.jobManagerDeploymentStatus = 'READY';
    });
    event(o, 'Normal', 'JobStatusChanged', 'Job status changed from RECONCILING to RUNNING', 'Job');
  }

  /**
   * A new spec for a job that already stopped (FAILED, FINISHED): there is nothing to stop
   * (JobUpgrade.savepoint(true) or .stateless(true): SuspendMode.NOOP), the spec is recorded as
   * upgrading and the new job starts from the last savepoint the status knows (restoreJob:
   * upgradeSavepointPath, else savepointInfo.lastSavepoint); a stateful mode without one is an
   * UpgradeFailureException, reported as a warning, and nothing is recorded.
   */
  async function restartTerminal(run, o, gen, mode, status) {
    const js = status.jobStatus || {};
    const known = js.upgradeSavepointPath || ((js.savepointInfo || {}).lastSavepoint || {}).location;
    if (mode !== 'stateless' && !known) {
      event(o, 'Warning', 'UpgradeFailed', `Job is in terminal state but last checkpoint is unknown, possibly due to an unrecoverable restore error. ${MANUAL_RESTORE[0]}`, 'Job');
      return;
    }
    write(run, o, (s) => {
      s.reconciliationStatus.state = 'UPGRADING';
      s.reconciliationStatus.lastReconciledSpec = specString(o.spec, false, { state: 'suspended', upgradeMode: mode });
      s.observedGeneration = gen;
    });
    await step(run);
    const r = await deploy(run, o, gen, false, { restoreFrom: mode === 'stateless' ? undefined : known });
    if (!r.ok) await maybeRollBack(run, o, gen);
  }

  /**
   * A session job's last-state upgrade: the operator cancels it (allowLastStateCancel is true for
   * session jobs: JobUpgrade.lastStateUsingCancel, SuspendMode.CANCEL, restore mode savepoint),
   * asynchronously: UPGRADING with the job CANCELLING and the previous generation recorded; once
   * CANCELED the observer records the last checkpoint as upgradeSavepointPath
   * (SnapshotObserver#observeLatestCheckpoint), and the next reconcile starts the new spec from it
   * as for any stopped job.
   */
  async function cancelForLastState(run, o, gen, status) {
    event(o, 'Normal', 'Suspended', 'Suspending existing deployment.', 'JobManagerDeployment');
    const jobId = (status.jobStatus || {}).jobId;
    write(run, o, (s) => {
      s.reconciliationStatus.state = 'UPGRADING';
      const rec = JSON.parse(s.reconciliationStatus.lastReconciledSpec);
      rec.spec.job.upgradeMode = 'savepoint';
      rec.resource_metadata.firstDeployment = false;
      s.reconciliationStatus.lastReconciledSpec = JSON.stringify(rec);
      s.jobStatus.state = 'CANCELLING';
    });
    jobs.push({ name: o.metadata.name, kind: o.kind, what: 'cancel', jobId });
    await step(run);
    const checkpoint = `s3://flink/checkpoints/${o.metadata.name}/${jobId}/chk-${1 + crypto.randomInt(90)}`;
    const after = write(run, o, (s) => {
      s.jobStatus.state = 'CANCELED';
      s.jobStatus.updateTime = String(Date.now());
      s.jobStatus.upgradeSavepointPath = checkpoint;
    });
    event(o, 'Normal', 'JobStatusChanged', 'Job status changed from CANCELLING to CANCELED', 'Job');
    await step(run);
    await restartTerminal(run, o, gen, 'savepoint', after);
  }

  async function reconcile(run, o) {
    const gen = o.metadata.generation;
    const status = o.status || {};
    const recorded = recordedSpec(status);
    const wantSuspended = o.spec.job && o.spec.job.state === 'suspended';

    if (o.kind === 'FlinkSessionJob') {
      // Not reconciled until the session cluster's JobManager is READY.
      for (;;) {
        const cluster = k8s.get('FlinkDeployment', o.metadata.namespace, o.spec.deploymentName);
        if (cluster && cluster.status && cluster.status.jobManagerDeploymentStatus === 'READY') break;
        await step(run);
      }
    }
    if (!status.reconciliationStatus) {
      write(run, o, (s) => { s.reconciliationStatus = { state: 'UPGRADING' }; if (o.kind === 'FlinkDeployment') s.jobManagerDeploymentStatus = 'MISSING'; s.jobStatus = s.jobStatus || {}; });
      // Created suspended: the operator returns before recording anything (FLINK-39243).
      if (wantSuspended) return;
      await step(run);
    }
    const cur = k8s.get(o.kind, o.metadata.namespace, o.metadata.name);
    const rec = recordedSpec(cur.status);
    if (!rec) {
      if (wantSuspended) return;
      write(run, o, (s) => {
        s.reconciliationStatus.lastReconciledSpec = specString(o.spec, true, o.spec.job ? { state: 'suspended', upgradeMode: o.spec.job.initialSavepointPath ? 'savepoint' : 'stateless' } : {});
        s.reconciliationStatus.reconciliationTimestamp = Date.now();
        s.observedGeneration = gen;
      });
      await step(run);
      await deploy(run, o, gen, true);
      return;
    }
    if (sameSpec(rec, o.spec)) {
      const nonce = o.spec.job && o.spec.job.savepointTriggerNonce;
      if (nonce != null && nonce !== (rec.job || {}).savepointTriggerNonce && (cur.status.jobStatus || {}).state === 'RUNNING') {
        await savepoint(run, o, gen);
        return;
      }
      if (cur.status.observedGeneration !== gen) write(run, o, (s) => { s.observedGeneration = gen; });
      return;
    }
    // A spec change: upgrade, suspend or resume.
    const from = rec.job && rec.job.state === 'suspended' ? 'suspended' : 'running';
    const mode = (o.spec.job && o.spec.job.upgradeMode) || 'stateless';
    const changes = Object.keys({ ...(rec.job || {}), ...((o.spec.job) || {}) }).filter((k) => JSON.stringify((rec.job || {})[k]) !== JSON.stringify((o.spec.job || {})[k])).map((k) => `job.${k} : ${JSON.stringify((rec.job || {})[k])} -> ${JSON.stringify((o.spec.job || {})[k])}`);
    event(o, 'Normal', 'SpecChanged', `UPGRADE change(s) detected (Diff: ${o.kind}Spec[${changes.join(', ')}]), starting reconciliation.`, 'JobManagerDeployment');
    const jobNow = (cur.status.jobStatus || {}).state;
    if (from === 'running' && !wantSuspended && ['FAILED', 'FINISHED', 'CANCELED'].includes(jobNow)) {
      await restartTerminal(run, o, gen, mode, cur.status);
      return;
    }
    if (from === 'running' && !wantSuspended && o.kind === 'FlinkSessionJob' && mode === 'last-state') {
      await cancelForLastState(run, o, gen, cur.status);
      return;
    }
    if (from === 'running') {
      event(o, 'Normal', 'Suspended', 'Suspending existing deployment.', 'JobManagerDeployment');
      if (wantSuspended) {
        await suspendJob(run, o, gen, mode, specString(o.spec, false, { upgradeMode: mode }), { asSuspend: true });
        return;
      }
      const path = await suspendJob(run, o, gen, mode, specString(o.spec, false, { state: 'suspended', upgradeMode: mode }));
      const keepId = mode === 'last-state' ? cur.status.jobStatus.jobId : undefined;
      const r = await deploy(run, o, gen, false, { restoreFrom: path, jobId: keepId });
      if (!r.ok) await maybeRollBack(run, o, gen);
      return;
    }
    // Resume from suspended.
    if (wantSuspended) { write(run, o, (s) => { s.observedGeneration = gen; }); return; }
    write(run, o, (s) => { s.reconciliationStatus.state = 'UPGRADING'; s.observedGeneration = gen; if (o.kind === 'FlinkDeployment') s.jobManagerDeploymentStatus = 'MISSING'; });
    await step(run);
    await deploy(run, o, gen, false, { restoreFrom: cur.status.jobStatus && cur.status.jobStatus.upgradeSavepointPath });
  }

  async function cleanup(run, o) {
    event(o, 'Normal', 'Cleanup', `Cleaning up ${o.kind}`, 'Operator');
    try {
      write(run, o, (s) => { s.lifecycleState = 'DELETING'; });
    } catch (e) { if (!e.superseded) throw e; }
    await sleep(cfg.stepMs);
    const cur = k8s.get(o.kind, o.metadata.namespace, o.metadata.name);
    if (!cur) return;
    // SessionJobReconciler#cleanupInternal (ApplicationReconciler likewise): a job that still
    // runs is cancelled, without a savepoint unless kubernetes.operator.job.savepoint-on-deletion;
    // a suspended or terminal one has nothing to cancel.
    const js = (cur.status || {}).jobStatus || {};
    const rec = recordedSpec(cur.status || {});
    if (js.jobId && rec && rec.job && rec.job.state !== 'suspended' && !['FAILED', 'FINISHED', 'CANCELED'].includes(js.state)) {
      jobs.push({ name: o.metadata.name, kind: o.kind, what: 'cancel', jobId: js.jobId });
    }
    const fin = (cur.metadata.finalizers || []).filter((f) => f !== FINALIZER[o.kind]);
    k8s.patch(o.kind, o.metadata.namespace, o.metadata.name, { metadata: { finalizers: fin.length ? fin : null } }, { manager: cfg.manager });
  }

  function onWrite(o) {
    if (stopped) return;
    const key = keyOf(o);
    const prev = runs.get(key);
    if (o.metadata.deletionTimestamp) {
      if (prev && prev.deleting) return;
      if (prev) prev.cancelled = true;
      const run = { deleting: true };
      runs.set(key, run);
      cleanup(run, o).catch((e) => { if (!e.superseded) errors.push(e); });
      return;
    }
    if (cfg.finalizer && !(o.metadata.finalizers || []).includes(FINALIZER[o.kind])) {
      // The operator adds its finalizer first; that write brings it back here.
      try { k8s.patch(o.kind, o.metadata.namespace, o.metadata.name, { metadata: { finalizers: [...(o.metadata.finalizers || []), FINALIZER[o.kind]] } }, { manager: cfg.manager }); } catch (e) { errors.push(e); }
      return;
    }
    if (prev && prev.gen === o.metadata.generation) return;
    if (prev) prev.cancelled = true;
    const run = { gen: o.metadata.generation };
    runs.set(key, run);
    reconcile(run, o).catch((e) => { if (!e.superseded) errors.push(e); });
  }

  const offs = [k8s.controller('FlinkDeployment', onWrite, { manager: cfg.manager }), k8s.controller('FlinkSessionJob', onWrite, { manager: cfg.manager })];
  return {
    /** What the next submitted jobs do: {outcome: 'RUNNING'|'FAILED'|'JM_ERROR', failure?, reason?}. */
    nextJobs: (...b) => queue.push(...b),
    transitions,
    errors,
    jobs,
    lifecycleOf,
    stop: () => { stopped = true; for (const off of offs) off(); },
  };
}

module.exports = { startFlinkOperator, lifecycleOf, FINALIZER };
