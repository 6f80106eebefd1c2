// Emulation of the Ververica Platform Kubernetes operator on the Kubernetes API fake, both
// generations, syncing VvpDeployment resources to a Ververica Platform fake (vvp.js) through its
// REST API the way the operator does, and mirroring the platform's state into the CR's status.
// Written from seed 002 (VVP 2.x "Operator Configuration") and Ververica's VVP 3 operator pages,
// as collected in the team's notes; what those sources leave open is marked ASSUMPTION.
//
// Both generations: the VVP deployment is named by the CR (2.x spec.deployment.userMetadata,
// 3.x spec.deployment.metadata: namespace + name); the API token comes from the Secret named by
// the CR's `apikeySecretName` annotation (key `apikey`); without a usable token a CR is not
// reconciled (nothing is written). syncingMode PATCH sends the CR's fields (VVP keeps the rest);
// PUT replaces the deployment. initFields (PATCH only) are merged in when the deployment is
// created, never afterwards.
//
// 2.x status: customResourceStatus {customResourceState SYNCING, deploymentId, observedSpecState,
//   statusState, vvpNamespace}, deploymentStatus (= the deployment's status), deploymentSystemMetadata.
//   No observedGeneration: the status is refreshed by polling the platform every `pollMs`, so right
//   after a change it still shows the previous state. A CR referring to a deployment that already
//   exists gets the patched result written back into its spec (an Update by the operator's field
//   manager), as the seed describes.
// 3.x: CRs must carry the label ververica.platform/owner = instanceId (an admission webhook
//   rejects others); status {deploymentId, conditions: Consistent (the platform has the CR's
//   current spec), Healthy (ASSUMPTION: deployment status.state == spec.state)}; VVP events are
//   mirrored as Kubernetes events on the CR; savepointNonce changes trigger a savepoint.
'use strict';

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) { if (v === null) delete out[k]; else out[k] = mergePatch(out[k], v); }
  return out;
}
/** Does `whole` contain every field of `part` with the same value? */
function contains(whole, part) {
  if (!isObj(part)) return JSON.stringify(whole) === JSON.stringify(part);
  return isObj(whole) && Object.entries(part).every(([k, v]) => contains(whole[k], v));
}

const OWNER_LABEL = 'ververica.platform/owner';

/**
 * Register the emulation. Options:
 *   vvp: a vvp.js fake (required); generation: 2 | 3 (default 2); pollMs (default 100);
 *   instanceId (3.x, default 'vvp-operator'); manager: its field manager.
 * Returns {log, errors, stop()}: `log` lists each platform call and skipped reconcile.
 */
function startVvpOperator(k8s, opts = {}) {
  const cfg = { generation: 2, pollMs: 100, instanceId: 'vvp-operator', manager: 'ververica-platform-operator', ...opts };
  if (!cfg.vvp) throw new Error('startVvpOperator needs a vvp.js fake');
  const v3 = cfg.generation === 3;
  const log = [];
  const errors = [];
  const crs = new Map();
  let stopped = false;

  if (v3) {
    k8s.admission('VvpDeployment', 'vvpdeployments.ververica.platform', (o) => {
      const owner = (o.metadata.labels || {})[OWNER_LABEL];
      if (!owner) return `label ${OWNER_LABEL} is required`;
      if (owner !== cfg.instanceId) return `label ${OWNER_LABEL}=${owner} does not match this operator's instanceId ${cfg.instanceId}`;
      return undefined;
    });
  }

  const ident = (o) => {
    const m = (v3 ? o.spec.deployment.metadata : o.spec.deployment.userMetadata) || {};
    return { ns: m.namespace || 'default', name: m.name || o.metadata.name, meta: m };
  };

  function tokenOf(o) {
    const secretName = (o.metadata.annotations || {}).apikeySecretName;
    if (!secretName) return null;
    const s = k8s.get('Secret', o.metadata.namespace, secretName);
    if (!s || !s.data || !s.data.apikey) return undefined;
    return Buffer.from(s.data.apikey, 'base64').toString().trim();
  }

  async function call(o, method, path, body) {
    const token = tokenOf(o);
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(cfg.vvp.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    log.push({ cr: o.metadata.name, method, path, status: r.status });
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  }

  function event(o, type, reason, message) {
    try { k8s.event('VvpDeployment', o.metadata.namespace, o.metadata.name, { type, reason, message, component: cfg.manager }); } catch (e) { /* gone */ }
  }

  /** Send the CR's deployment to the platform; returns the platform's deployment or null. */
  async function sync(st, o) {
    const { ns, name, meta } = ident(o);
    const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/deployments`;
    const mode = o.spec.syncingMode || 'PATCH';
    const userMeta = { name, displayName: meta.displayName || name };
    if (meta.labels) userMeta.labels = meta.labels;
    if (meta.annotations) userMeta.annotations = meta.annotations;
    const got = await call(o, 'GET', `${base}/${encodeURIComponent(name)}`);
    if (got.status === 401 || got.status === 403) { log.push({ cr: o.metadata.name, skipped: `platform answered ${got.status}: not reconciled` }); return null; }
    let spec = clone(o.spec.deployment.spec);
    if (got.status === 404) {
      const init = mode === 'PATCH' ? (o.spec.initFields || {}) : {};
      if (mode === 'PATCH') spec = mergePatch(init.spec || {}, spec);
      const initMeta = (v3 ? init.metadata : init.userMetadata) || {};
      const body = { kind: 'Deployment', apiVersion: 'v1', metadata: { ...initMeta, ...userMeta, displayName: meta.displayName || initMeta.displayName || name }, spec };
      const r = await call(o, 'POST', base, body);
      if (r.status >= 300) { event(o, 'Warning', 'SyncFailed', `Ververica Platform refused the deployment: ${r.body && r.body.message}`); return null; }
      if (v3) event(o, 'Normal', 'DeploymentCreated', 'Kubernetes operator created deployment');
      return r.body;
    }
    const r = mode === 'PUT'
      ? await call(o, 'PUT', `${base}/${encodeURIComponent(name)}`, { kind: 'Deployment', apiVersion: 'v1', metadata: userMeta, spec })
      : await call(o, 'PATCH', `${base}/${encodeURIComponent(name)}`, { metadata: userMeta, spec });
    if (r.status >= 300) { event(o, 'Warning', 'SyncFailed', `Ververica Platform refused the change: ${r.body && r.body.message}`); return null; }
    if (v3) {
      const from = got.body.spec.state; const to = r.body.spec.state;
      event(o, 'Normal', 'DeploymentConfigProjected', `Kubernetes operator projected deployment config (mode=${mode})${from !== to ? ` including state change: ${from} → ${to}` : ''}`);
    } else if (!st.synced) {
      // 2.x: a CR that refers to an existing deployment gets the patched result synced back.
      try {
        k8s.patch('VvpDeployment', o.metadata.namespace, o.metadata.name, { spec: { deployment: { spec: r.body.spec } } }, { manager: cfg.manager });
      } catch (e) { errors.push(e); }
    }
    return r.body;
  }

  function statusOf(o, st, dep) {
    if (!v3) {
      const { ns } = ident(o);
      const m = dep.metadata;
      return {
        customResourceStatus: { customResourceState: 'SYNCING', deploymentId: m.id, observedSpecState: dep.spec.state, statusState: dep.status.state, vvpNamespace: ns },
        deploymentStatus: clone(dep.status),
        deploymentSystemMetadata: { id: m.id, createdAt: m.createdAt, modifiedAt: m.modifiedAt, resourceVersion: m.resourceVersion, annotations: clone(m.annotations), labels: clone(m.labels || {}) },
      };
    }
    const prev = (o.status && o.status.conditions) || [];
    const cond = (type, ok, reason, message) => {
      const p = prev.find((c) => c.type === type);
      const s = ok ? 'True' : 'False';
      return { type, status: s, reason, message, lastTransitionTime: p && p.status === s ? p.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    };
    const consistent = st.syncedGeneration === o.metadata.generation && contains(dep.spec, o.spec.deployment.spec);
    const healthy = dep.status.state === dep.spec.state && dep.status.state !== 'FAILED';
    return {
      deploymentId: dep.metadata.id,
      conditions: [
        cond('Consistent', consistent, consistent ? 'Synced' : 'Pending', consistent ? 'The deployment in Ververica Platform matches the custom resource' : 'Changes are not yet projected to Ververica Platform'),
        cond('Healthy', healthy, healthy ? dep.status.state : (dep.status.state || 'Unknown'), `Deployment status ${dep.status.state}, desired ${dep.spec.state}`),
      ],
    };
  }

  /** One reconcile of a CR at a time: a change during a reconcile is picked up right after it. */
  async function poll(key) {
    const st = crs.get(key);
    if (!st || stopped) return;
    if (st.busy) { st.again = true; return; }
    st.busy = true;
    st.again = false;
    try { await reconcile(key, st); } finally { st.busy = false; }
    if (!stopped && crs.has(key)) {
      clearTimeout(st.timer);
      st.timer = setTimeout(() => poll(key), st.again ? 0 : cfg.pollMs);
    }
  }

  async function reconcile(key, st) {
    const [ns, name] = key.split('/');
    const o = k8s.get('VvpDeployment', ns, name);
    if (!o) { crs.delete(key); return; }
    try {
      if (st.pendingGeneration !== undefined && st.pendingGeneration !== st.syncedGeneration) {
        const gen = st.pendingGeneration;
        const dep = await sync(st, o);
        if (dep) { st.syncedGeneration = gen; st.synced = true; }
        if (v3 && dep && o.spec.savepointNonce !== undefined && o.spec.savepointNonce !== st.savepointNonce) {
          const r = await call(o, 'POST', `/api/v1/namespaces/${encodeURIComponent(ident(o).ns)}/savepoints`, { metadata: { deploymentId: dep.metadata.id } });
          event(o, r.status < 300 ? 'Normal' : 'Warning', r.status < 300 ? 'SavepointTriggered' : 'SavepointBlocked', r.status < 300 ? 'Kubernetes operator triggered savepoint' : `Savepoint blocked: ${r.body && r.body.message}`);
          st.savepointNonce = o.spec.savepointNonce;
        }
        // 2.x: the status catches up at the next poll, not with the change (no observedGeneration).
        if (!v3 && dep && st.refreshed) return;
      }
      if (st.synced) {
        st.refreshed = true;
        const { ns: vns, name: vname } = ident(o);
        const got = await call(o, 'GET', `/api/v1/namespaces/${encodeURIComponent(vns)}/deployments/${encodeURIComponent(vname)}`);
        if (got.status === 200) {
          const cur = k8s.get('VvpDeployment', ns, name);
          if (cur) {
            const status = statusOf(cur, st, got.body);
            if (JSON.stringify(status) !== JSON.stringify(cur.status)) k8s.setStatus('VvpDeployment', ns, name, status, cfg.manager);
          }
          if (v3) {
            for (const e of cfg.vvp.events(got.body.metadata.id)) {
              if (st.mirrored.has(e.metadata.id)) continue;
              st.mirrored.add(e.metadata.id);
              event(cur || o, /FAIL|TERMINATING/.test(e.metadata.name) ? 'Warning' : 'Normal', e.metadata.name, e.spec.message);
            }
          }
        }
      }
    } catch (e) { errors.push(e); }
  }

  function onWrite(o) {
    if (stopped || o.metadata.deletionTimestamp) return;
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    let st = crs.get(key);
    if (!st) {
      // A nonce present when the operator first sees the CR triggers nothing.
      st = { mirrored: new Set(), synced: false, refreshed: false, savepointNonce: o.spec.savepointNonce };
      crs.set(key, st);
    }
    st.pendingGeneration = o.metadata.generation;
    clearTimeout(st.timer);
    // The operator reacts to the change at once; the status follows at the next poll.
    st.timer = setTimeout(() => poll(key), 0);
  }

  const off = k8s.controller('VvpDeployment', onWrite, { manager: cfg.manager });
  return {
    log,
    errors,
    stop: () => { stopped = true; off(); for (const st of crs.values()) clearTimeout(st.timer); },
  };
}

module.exports = { startVvpOperator, OWNER_LABEL };
