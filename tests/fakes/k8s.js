// Fake Kubernetes API server (HTTPS with the test CA from tls.js, or plain HTTP), written from
// the Kubernetes API documentation (https://kubernetes.io/docs/reference/using-api/), not from
// what our client sends, and proven with the real kubectl (tests/integration/k8s-fake.test.js).
//
//   discovery    /version, /api, /api/v1, /apis, /apis/<group>/<version>, /openapi/v3 and
//                /openapi/v3/<api|apis/group>/<version> (OpenAPI v3 built from the CRD schemas;
//                kubectl reads it to learn that the server validates: see below). /openapi/v2
//                is 404, as on a server that has turned it off.
//   resources    core/v1 namespaces, services, secrets, configmaps, events; events.k8s.io/v1
//                events (a view of the core ones); custom resources from CRD YAML.
//   verbs        GET (one, list, ?watch=true), POST, PUT, PATCH (application/apply-patch+yaml,
//                application/merge-patch+json, application/json-patch+json), DELETE; `/status`
//                subresource when the CRD declares it; dryRun=All on every write.
//   apply        server-side apply with managedFields (FieldsV1) per manager, conflicts (409,
//                `conflict with "mgr": .spec.x`), force, pruning of what a manager stopped
//                applying (k8s-ssa.js). Non-apply writes take ownership of what they change.
//   schema       every write of a custom resource is pruned and validated against the CRD's
//                openAPIV3Schema (k8s-schema.js): 422 Invalid with field causes; server-side
//                apply first checks the applied fields are declared (500, as the API server
//                still answers: kubernetes/kubernetes#139253); non-apply writes with
//                fieldValidation=Strict get 400 for unknown fields, otherwise a Warning header.
//   metadata     uid, creationTimestamp, resourceVersion (cluster-wide counter, unchanged by a
//                write that changes nothing), generation (1, then +1 when anything but metadata
//                and status changes; status too when there is no status subresource),
//                finalizers and deletionTimestamp.
//   auth         bearer tokens, client certificates (mTLS, test CA; CN = user, O = groups),
//                Entra access tokens issued by entra.js for the AKS server application; RBAC
//                rules per user; 401/403 Status as the API server words them.
//   proxy        /api/v1/namespaces/{ns}/services/[{scheme}:]{name}[:{port}]/proxy/{path}, any
//                method, to a registered backend URL. The API server's authentication filter
//                removes the Authorization header once it has authenticated a request, so the
//                backend never sees the caller's Kubernetes credentials; everything else
//                (method, query, headers, body) passes. Unknown service: 404; unknown port:
//                503 `no service port "x" found for service "y"`; refused backend: 503
//                `error trying to reach service: dial tcp ...: connect: connection refused`.
//   tests        request log, fault injection, controllers called after writes of a kind (they
//                write status through the /status code path and emit events), direct access.
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const YAML = require('yaml');
const { makeTestCa } = require('./tls');
const ssa = require('./k8s-ssa');
const schemaLib = require('./k8s-schema');

const { clone, isObj, same } = ssa;
const AKS_SERVER_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';
const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const nowMicro = () => new Date().toISOString().replace(/Z$/, '000Z');

/** RFC 7386 JSON merge patch. */
function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch (add, remove, replace, test, move, copy). */
function jsonPatch(doc, ops) {
  let out = clone(doc);
  const parse = (p) => p.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const walk = (p) => {
    const segs = parse(p);
    const last = segs.pop();
    let cur = out;
    for (const s of segs) {
      if (cur == null || typeof cur !== 'object') throw new Error(`path ${p} does not exist`);
      cur = cur[s];
    }
    if (cur == null || typeof cur !== 'object') throw new Error(`path ${p} does not exist`);
    return { parent: cur, key: last };
  };
  const get = (p) => { const { parent, key } = walk(p); return parent[key]; };
  const put = (p, v, replace) => {
    if (p === '') { out = v; return; }
    const { parent, key } = walk(p);
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : Number(key);
      if (replace) parent[i] = v; else parent.splice(i, 0, v);
    } else {
      if (replace && !(key in parent)) throw new Error(`replace operation does not apply: doc is missing key: ${p}`);
      parent[key] = v;
    }
  };
  const del = (p) => {
    const { parent, key } = walk(p);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else { if (!(key in parent)) throw new Error(`remove operation does not apply: doc is missing path: ${p}`); delete parent[key]; }
  };
  for (const op of ops) {
    switch (op.op) {
      case 'add': put(op.path, clone(op.value), false); break;
      case 'replace': put(op.path, clone(op.value), true); break;
      case 'remove': del(op.path); break;
      case 'test': if (!same(get(op.path), op.value)) throw new Error(`testing value ${op.path} failed`); break;
      case 'move': { const v = get(op.from); del(op.from); put(op.path, v, false); break; }
      case 'copy': put(op.path, clone(get(op.from)), false); break;
      default: throw new Error(`Unexpected kind: ${op.op}`);
    }
  }
  return out;
}

// ---- Status objects ----------------------------------------------------------------------------

function status(code, reason, message, details) {
  const s = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) s.details = details;
  if (!reason) delete s.reason;
  return s;
}
const qualified = (res) => (res.group ? `${res.plural}.${res.group}` : res.plural);
const errors = {
  notFound: (res, name) => status(404, 'NotFound', `${qualified(res)} "${name}" not found`, { name, group: res.group || undefined, kind: res.plural }),
  alreadyExists: (res, name) => status(409, 'AlreadyExists', `${qualified(res)} "${name}" already exists`, { name, group: res.group || undefined, kind: res.plural }),
  conflict: (res, name, why) => status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(res)} "${name}": ${why}`, { name, group: res.group || undefined, kind: res.plural }),
  invalid: (res, name, causes) => status(422, 'Invalid', `${res.kind}${res.group ? `.${res.group}` : ''} "${name}" is invalid: ${causes.length === 1 ? `${causes[0].field}: ${causes[0].message}` : `[${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}]`}`, { name, group: res.group || undefined, kind: res.kind, causes }),
  badRequest: (message) => status(400, 'BadRequest', message),
  unauthorized: () => status(401, 'Unauthorized', 'Unauthorized'),
  methodNotAllowed: () => status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  unsupportedMedia: () => status(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml'),
};

/** The Forbidden Status the API server's RBAC answers with. */
function forbidden(user, a) {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  let why;
  if (!a.resource) why = `User "${user}" cannot ${a.verb} path "${a.path}"`;
  else if (a.namespace) why = `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" in the namespace "${a.namespace}"`;
  else why = `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" at the cluster scope`;
  const gr = a.resource ? (a.group ? `${a.resource}.${a.group}` : a.resource) : '';
  const message = !gr ? `forbidden: ${why}` : a.name ? `${gr} "${a.name}" is forbidden: ${why}` : `${gr} is forbidden: ${why}`;
  return status(403, 'Forbidden', message, { name: a.name || undefined, group: a.group || undefined, kind: a.resource || undefined });
}

// ---- selectors ---------------------------------------------------------------------------------

function fieldValue(obj, p) {
  return p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function parseFieldSelector(sel) {
  if (!sel) return () => true;
  const terms = sel.split(',').filter(Boolean).map((t) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(t);
    if (!m) throw new Error(`invalid selector: '${sel}'; can't understand '${t}'`);
    return { path: m[1], neg: m[2] === '!=', value: m[3] };
  });
  return (obj) => terms.every((t) => {
    const v = fieldValue(obj, t.path);
    const eq = String(v === undefined ? '' : v) === t.value;
    return t.neg ? !eq : eq;
  });
}
function parseLabelSelector(sel) {
  if (!sel) return () => true;
  const terms = [];
  const re = /\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*(?:,|$)/gy;
  let m;
  while (re.lastIndex < sel.length && (m = re.exec(sel))) {
    terms.push({ not: m[1] === '!', key: m[2], op: m[3] || m[5], value: m[4], set: m[6] && m[6].split(',').map((x) => x.trim()) });
  }
  return (obj) => {
    const labels = (obj.metadata && obj.metadata.labels) || {};
    return terms.every((t) => {
      const has = t.key in labels;
      if (!t.op) return t.not ? !has : has;
      if (t.op === '=' || t.op === '==') return labels[t.key] === t.value;
      if (t.op === '!=') return labels[t.key] !== t.value;
      if (t.op === 'in') return has && t.set.includes(labels[t.key]);
      return !has || !t.set.includes(labels[t.key]);
    });
  };
}

// ---- certificates ------------------------------------------------------------------------------

const issuedClients = new Map();
/** A client certificate from the test CA: CN = user, O = each group (as Kubernetes reads them). */
function clientCert(user, groups = []) {
  const key = `${user}|${groups.join(',')}`;
  if (issuedClients.has(key)) return issuedClients.get(key);
  const ca = makeTestCa();
  const dir = ca.dir;
  const base = path.join(dir, `client-${crypto.createHash('sha1').update(key).digest('hex').slice(0, 10)}`);
  const subj = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  const run = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', `${base}.key`, '-out', `${base}.csr`);
  fs.writeFileSync(`${base}.cnf`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  run('x509', '-req', '-in', `${base}.csr`, '-CA', ca.caFile, '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-out', `${base}.pem`, '-extfile', `${base}.cnf`);
  const out = { key: fs.readFileSync(`${base}.key`), cert: fs.readFileSync(`${base}.pem`), keyFile: `${base}.key`, certFile: `${base}.pem` };
  issuedClients.set(key, out);
  return out;
}

// ---- the server --------------------------------------------------------------------------------

const CORE = [
  { plural: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { plural: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'], proxy: true },
  { plural: 'secrets', kind: 'Secret', namespaced: true },
  { plural: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] },
  { plural: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] },
];
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * Start the fake. Options:
 *   tls: true (HTTPS, test CA, client certificates accepted) | false (plain HTTP)
 *   crds: [path | YAML text | object]  custom resource definitions to serve
 *   namespaces: ['default']
 *   users: [{name, groups?, token?, cert?: true, entraClient?: clientId, rules: 'admin' |
 *           [{verbs, apiGroups?, resources, namespaces?, resourceNames?}]}]
 *   entra: an entra.js fake: its tokens for `<AKS server id>/.default` authenticate as the
 *          user whose `entraClient` is the token's client (unknown clients: authenticated, no rules)
 *   services: [{namespace, name, ports: [{name?, port, backend?: URL}]}]
 *   openapi: true (default) | false (no /openapi/v3 either)
 */
function startK8s(opts = {}) {
  const useTls = opts.tls !== false;
  const tls = useTls ? makeTestCa() : null;
  const t0 = Date.now();
  const st = {
    rv: 100,
    objects: new Map(),
    history: [],
    log: [],
    faults: [],
    watchers: new Set(),
    controllers: [],
    timers: new Set(),
    backends: new Map(),
    users: (opts.users || []).map((u) => ({ ...u })),
    resources: new Map(),
    crds: [],
    openapi: opts.openapi !== false,
    admission: [],
  };
  const serverId = opts.entraServerId || AKS_SERVER_ID;

  const later = (ms, fn) => {
    const h = setTimeout(() => { st.timers.delete(h); fn(); }, ms);
    st.timers.add(h);
    return h;
  };

  // ---- resource registry ----------------------------------------------------------------------

  const coreSchema = schemaLib.rootSchema(undefined);
  for (const c of CORE) st.resources.set(`/v1/${c.plural}`, { group: '', version: 'v1', ...c, singular: c.kind.toLowerCase(), status: c.plural === 'namespaces' || c.plural === 'services', schema: coreSchema, core: true });
  st.resources.set('events.k8s.io/v1/events', { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', singular: 'event', namespaced: true, schema: coreSchema, view: 'events', shortNames: ['ev'] });

  function addCrd(src) {
    const crd = schemaLib.loadCrd(src);
    st.crds.push(crd);
    for (const v of crd.versions) {
      if (!v.served) continue;
      st.resources.set(`${crd.group}/${v.name}/${crd.names.plural}`, {
        group: crd.group, version: v.name, plural: crd.names.plural, kind: crd.names.kind, singular: crd.names.singular,
        shortNames: crd.names.shortNames || [], categories: crd.names.categories || [], namespaced: crd.scope === 'Namespaced',
        status: v.status, schema: v.schema, crdVersion: v, crd,
      });
    }
    return crd;
  }
  for (const c of opts.crds || []) addCrd(c);

  const findRes = (group, version, plural) => st.resources.get(`${group}/${version}/${plural}`);
  const resByKind = (group, kind) => [...st.resources.values()].find((r) => r.group === group && r.kind === kind && !r.view);
  const storeKey = (res, ns, name) => `${res.view === 'events' ? '' : res.group}|${res.plural}|${res.namespaced ? ns : ''}|${name}`;
  const apiVersionOf = (res) => (res.group ? `${res.group}/${res.version}` : res.version);

  // ---- store ----------------------------------------------------------------------------------

  function commit(type, res, obj) {
    st.rv += 1;
    obj.metadata.resourceVersion = String(st.rv);
    const key = storeKey(res, obj.metadata.namespace, obj.metadata.name);
    if (type === 'DELETED') st.objects.delete(key); else st.objects.set(key, obj);
    const ev = { type, rv: st.rv, key, res, object: clone(obj) };
    st.history.push(ev);
    if (st.history.length > 5000) st.history.shift();
    for (const w of st.watchers) w.offer(ev);
    return obj;
  }

  function seedObject(res, obj) {
    const o = clone(obj);
    o.apiVersion = apiVersionOf(res);
    o.kind = res.kind;
    o.metadata = { ...(o.metadata || {}) };
    if (res.namespaced) o.metadata.namespace = o.metadata.namespace || 'default';
    o.metadata.uid = o.metadata.uid || crypto.randomUUID();
    o.metadata.creationTimestamp = o.metadata.creationTimestamp || nowIso();
    if (!res.core) o.metadata.generation = o.metadata.generation || 1;
    return commit('ADDED', res, o);
  }

  const nsRes = findRes('', 'v1', 'namespaces');
  for (const ns of opts.namespaces || ['default']) seedObject(nsRes, { metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });

  function addService({ namespace = 'default', name, ports = [], labels }) {
    const svc = findRes('', 'v1', 'services');
    for (const p of ports) if (p.backend) st.backends.set(`${namespace}/${name}/${p.port}`, p.backend);
    return seedObject(svc, {
      metadata: { name, namespace, labels },
      spec: { type: 'ClusterIP', clusterIP: `10.0.${(st.rv % 250) + 1}.${(ports.length % 250) + 10}`, ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP', targetPort: p.targetPort || p.port })).map((p) => { if (!p.name) delete p.name; return p; }) },
      status: { loadBalancer: {} },
    });
  }
  for (const s of opts.services || []) addService(s);
  for (const s of opts.secrets || []) seedObject(findRes('', 'v1', 'secrets'), { type: 'Opaque', ...s, metadata: { name: s.name, namespace: s.namespace || 'default' }, name: undefined, namespace: undefined });

  // ---- authentication and authorization ---------------------------------------------------------

  function authenticate(req) {
    const h = req.headers.authorization;
    if (h) {
      const m = /^Bearer\s+(.+)$/i.exec(h);
      if (!m) return null;
      const token = m[1].trim();
      const byToken = st.users.find((u) => u.token === token);
      if (byToken) return { name: byToken.name, groups: [...(byToken.groups || []), 'system:authenticated'], via: 'token', user: byToken };
      if (opts.entra) {
        const issued = opts.entra.state.tokens.find((t) => t.token === token);
        if (issued && (issued.scope === `${serverId}/.default` || issued.scope === `api://${serverId}/.default`)) {
          const u = st.users.find((x) => x.entraClient === issued.client);
          return { name: u ? u.name : issued.client, groups: [...((u && u.groups) || []), 'system:authenticated'], via: 'entra', user: u };
        }
      }
      return null;
    }
    if (useTls && req.socket.authorized) {
      const peer = req.socket.getPeerCertificate();
      const cn = peer && peer.subject && peer.subject.CN;
      if (cn) {
        const o = peer.subject.O;
        const groups = o ? [].concat(o) : [];
        const u = st.users.find((x) => x.name === cn && x.cert);
        return { name: cn, groups: [...groups, 'system:authenticated'], via: 'cert', user: u };
      }
    }
    return null;
  }

  function allowed(who, a) {
    const u = who.user;
    if (!u) return false;
    if (u.rules === 'admin') return true;
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    return (u.rules || []).some((r) => {
      const any = (list, v) => !list || list.includes('*') || list.includes(v);
      if (!any(r.verbs, a.verb)) return false;
      if (!a.resource) return !!r.nonResourceURLs && r.nonResourceURLs.some((p) => p === a.path || (p.endsWith('*') && a.path.startsWith(p.slice(0, -1))));
      if (!any(r.apiGroups || [''], a.group)) return false;
      if (!any(r.resources, resource)) return false;
      if (r.namespaces && !r.namespaces.includes(a.namespace)) return false;
      if (r.resourceNames && !r.resourceNames.includes(a.name)) return false;
      return true;
    });
  }

  // ---- HTTP helpers -----------------------------------------------------------------------------

  function send(res, code, obj, headers = {}) {
    const body = obj === undefined ? '' : JSON.stringify(obj);
    res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'audit-id': crypto.randomUUID(), ...headers });
    res.end(body);
    return code;
  }

  function parseBody(req, raw, entry) {
    const ct = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const text = raw.toString('utf8');
    entry.contentType = ct;
    if (!text.length) return { value: undefined, ct };
    try {
      if (ct === 'application/apply-patch+yaml' || ct === 'application/yaml') return { value: YAML.parse(text), ct };
      return { value: JSON.parse(text), ct };
    } catch (e) {
      return { error: errors.badRequest(ct.includes('yaml') ? `error decoding YAML: ${e.message.split('\n')[0]}` : `couldn't get version/kind; json parse error: ${e.message}`), ct };
    }
  }

  // ---- discovery and OpenAPI --------------------------------------------------------------------

  function groups() {
    const by = new Map();
    for (const r of st.resources.values()) {
      if (!r.group) continue;
      if (!by.has(r.group)) by.set(r.group, []);
      if (!by.get(r.group).includes(r.version)) by.get(r.group).push(r.version);
    }
    return [...by.entries()].map(([name, versions]) => {
      const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
      return { name, versions: vs, preferredVersion: vs[0] };
    });
  }

  function resourceList(group, version) {
    const list = [...st.resources.values()].filter((r) => r.group === group && r.version === version);
    if (!list.length) return null;
    const resources = [];
    for (const r of list) {
      const e = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS };
      if (r.shortNames && r.shortNames.length) e.shortNames = r.shortNames;
      if (r.categories && r.categories.length) e.categories = r.categories;
      if (!r.core && !r.view) e.storageVersionHash = crypto.createHash('sha256').update(`${r.group}/${r.version}/${r.kind}`).digest('base64').slice(0, 11);
      resources.push(e);
      if (r.status) resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      if (r.proxy) resources.push({ name: `${r.plural}/proxy`, singularName: '', namespaced: r.namespaced, kind: 'ServiceProxyOptions', verbs: ['create', 'delete', 'get', 'patch', 'update'] });
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
  }

  const openapiDocs = new Map();
  function openapiDoc(gv) {
    if (openapiDocs.has(gv)) return openapiDocs.get(gv);
    const [group, version] = gv.startsWith('apis/') ? gv.slice(5).split('/') : ['', gv.split('/')[1]];
    const list = [...st.resources.values()].filter((r) => r.group === group && r.version === version && !r.view);
    if (!list.length) return null;
    const doc = schemaLib.openapiV3(group ? `${group}/${version}` : version, list.map((r) => ({ kind: r.kind, plural: r.plural, namespaced: r.namespaced, status: r.status, schema: r.core ? undefined : r.schema })));
    const out = { doc, hash: schemaLib.hashOf(doc) };
    openapiDocs.set(gv, out);
    return out;
  }

  function discovery(req, res, url) {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/version') return send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23.4', compiler: 'gc', platform: 'linux/amd64' });
    if (p === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${req.socket.localAddress}:${req.socket.localPort}` }] });
    if (p === '/apis') return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups() });
    if (p === '/api/v1') return send(res, 200, resourceList('', 'v1'));
    let m;
    if ((m = /^\/apis\/([^/]+)$/.exec(p))) {
      const g = groups().find((x) => x.name === m[1]);
      return g ? send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...g }) : send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if ((m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p))) {
      const l = resourceList(m[1], m[2]);
      return l ? send(res, 200, l) : send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (p === '/openapi/v3' && st.openapi) {
      const paths = {};
      const gvs = new Set([...st.resources.values()].filter((r) => !r.view).map((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)));
      for (const gv of gvs) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${openapiDoc(gv).hash}` };
      return send(res, 200, { paths });
    }
    if ((m = /^\/openapi\/v3\/(apis?\/.+)$/.exec(p)) && st.openapi) {
      const d = openapiDoc(m[1]);
      if (!d) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return send(res, 200, d.doc, { etag: `"${d.hash}"` });
    }
    return null;
  }

  // ---- writes -----------------------------------------------------------------------------------

  const STRIPPED_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds']);
  /** Fields no manager owns (system metadata), and the part of the object an endpoint resets. */
  function ignoredFor(res, sub) {
    return (key) => {
      const pes = ssa.pesOf(key);
      if (pes[0] === 'f:apiVersion' || pes[0] === 'f:kind') return true;
      if (pes[0] === 'f:metadata' && pes[1] && STRIPPED_META.has(pes[1].slice(2))) return true;
      if (pes[0] === 'f:metadata' && pes.length === 1) return true;
      if (sub === 'status') return pes[0] !== 'f:status';
      if (res.status && pes[0] === 'f:status') return true;
      return false;
    };
  }

  const specChanged = (res, a, b) => {
    const strip = (o) => { const c = { ...(o || {}) }; delete c.metadata; if (res.status || res.core) delete c.status; return c; };
    return !same(strip(a), strip(b));
  };

  /** The common write path: create, update, patches, apply, status; returns [code, body, headers]. */
  function write(w) {
    const { res, ns, name, sub, op, query, who } = w;
    const dryRun = query.get('dryRun') === 'All';
    if (query.get('dryRun') && !dryRun) return [400, errors.badRequest(`Invalid dry run value: ${query.get('dryRun')}; valid values are: All`)];
    const validation = query.get('fieldValidation') || 'Warn';
    const force = query.get('force') === 'true';
    let manager = query.get('fieldManager');
    if (op === 'apply' && !manager) return [422, status(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', { group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }] })];
    if (force && op !== 'apply') return [422, status(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch', { group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueForbidden', message: 'Forbidden: may not be specified for non-apply patch', field: 'force' }] })];
    if (!manager) manager = String(w.userAgent || 'unknown').split('/')[0];
    if (res.view) return [405, errors.methodNotAllowed()];
    if (res.namespaced && !st.objects.has(storeKey(nsRes, '', ns))) return [404, errors.notFound(nsRes, ns)];

    const key = storeKey(res, ns, name);
    const live = st.objects.get(key);
    const body = w.body;
    const apiVersion = apiVersionOf(res);
    const warnings = [];
    if (!isObj(body) && op !== 'json-patch') return [400, errors.badRequest('the body of the request must be an object')];

    if (['create', 'update', 'apply'].includes(op)) {
      if (body.apiVersion !== apiVersion || body.kind !== res.kind) {
        if (!body.kind) return [400, errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`)];
        if (body.apiVersion !== apiVersion) return [400, errors.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersion})`)];
        return [400, errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${res.kind})`)];
      }
      const m = body.metadata || {};
      if (op !== 'create' && m.name && m.name !== name) return [400, errors.badRequest(`the name of the object (${m.name}) does not match the name on the URL (${name})`)];
      if (res.namespaced && m.namespace && m.namespace !== ns) return [400, errors.badRequest('the namespace of the provided object does not match the namespace sent on the request')];
    }
    if (op === 'apply' && body.metadata && body.metadata.managedFields) return [400, errors.badRequest('metadata.managedFields must be nil')];
    if (op !== 'create' && op !== 'apply' && !live) return [404, errors.notFound(res, name)];
    if (op === 'create' && live) return [409, errors.alreadyExists(res, name)];
    if (sub === 'status' && !live) return [404, errors.notFound(res, name)];

    const rootType = schemaLib.typeOf(res.schema);
    const ignored = ignoredFor(res, sub);
    const now = nowIso();
    const schema = res.crdVersion ? res.schema : null;

    // The candidate object, before system metadata.
    let next;
    let managers;
    const systemMeta = (o) => {
      o.apiVersion = apiVersion;
      o.kind = res.kind;
      o.metadata = { ...(o.metadata || {}) };
      for (const k of STRIPPED_META) delete o.metadata[k];
      o.metadata.name = name;
      if (res.namespaced) o.metadata.namespace = ns;
      if (live) {
        for (const k of ['uid', 'creationTimestamp', 'generation', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds']) if (live.metadata[k] !== undefined) o.metadata[k] = live.metadata[k];
      }
      if (live && res.status && sub !== 'status') { if (live.status !== undefined) o.status = clone(live.status); else delete o.status; }
      if (!live && res.status && !res.core) delete o.status;
      if (sub === 'status') {
        const s = o.status;
        const keep = clone(live);
        delete keep.metadata.managedFields;
        Object.keys(o).forEach((k) => delete o[k]);
        Object.assign(o, keep);
        if (s !== undefined) o.status = s; else delete o.status;
      }
      return o;
    };

    if (op === 'apply') {
      if (schema) {
        const bad = schemaLib.typedCheck(body, schema);
        if (bad) return [500, status(500, '', `failed to create typed patch object (${ns ? `${ns}/` : '/'}${name}; ${apiVersion}, Kind=${res.kind}): ${bad}`)];
      }
      const config = clone(body);
      const r = ssa.apply({
        live, config, type: rootType, manager, apiVersion, subresource: sub || undefined, force, ignored, now,
        reset: (merged) => systemMeta(merged),
      });
      if (r.conflicts) return [409, status(409, 'Conflict', r.message, { causes: r.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${ssa.printManager(c.manager)}`, field: c.path })) })];
      next = r.object;
      managers = r.managers;
    } else {
      let candidate;
      if (op === 'create' || op === 'update') candidate = clone(body);
      else if (op === 'merge') candidate = mergePatch(live, body);
      else if (op === 'json-patch') {
        if (!Array.isArray(body)) return [400, errors.badRequest('the body of the request was not a JSON patch (an array of operations)')];
        try { candidate = jsonPatch(live, body); } catch (e) { return [422, status(422, 'Invalid', e.message)]; }
      }
      if (op === 'update' && body.metadata && body.metadata.resourceVersion && live && body.metadata.resourceVersion !== live.metadata.resourceVersion) {
        return [409, errors.conflict(res, name, 'the object has been modified; please apply your changes to the latest version and try again')];
      }
      if (schema) {
        const probe = clone(candidate);
        const unknown = schemaLib.prune(probe, schema);
        if (unknown.length && validation === 'Strict') {
          return [400, errors.badRequest(`${res.kind} in version "${res.version}" cannot be handled as a ${res.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`)];
        }
        if (unknown.length && validation === 'Warn') for (const u of unknown) warnings.push(`unknown field "${u}"`);
      }
      next = systemMeta(candidate);
      const u = ssa.update({ live, next, type: rootType, manager, apiVersion, subresource: sub || undefined, ignored, now });
      managers = u.managers;
    }

    // Structural schema: prune, then validate.
    if (schema) schemaLib.prune(next, schema);
    if (!live) {
      next.metadata.uid = crypto.randomUUID();
      next.metadata.creationTimestamp = now;
      if (!res.core) next.metadata.generation = 1;
    } else if (!res.core && specChanged(res, live, next)) {
      next.metadata.generation = (live.metadata.generation || 1) + 1;
    }
    if (schema) {
      const causes = schemaLib.validate(res.crdVersion, next);
      if (causes.length) return [422, errors.invalid(res, name, causes)];
    } else if (!next.metadata.name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(next.metadata.name)) {
      return [422, errors.invalid(res, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(next.metadata.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` }])];
    }
    if (live && live.metadata.deletionTimestamp && (next.metadata.finalizers || []).some((f) => !(live.metadata.finalizers || []).includes(f))) {
      return [422, errors.invalid(res, name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: 'Forbidden: no new finalizers can be added if the object is being deleted' }])];
    }
    for (const a of st.admission) {
      if (a.kind !== res.kind || sub) continue;
      const denied = a.fn(clone(next), { operation: live ? 'UPDATE' : 'CREATE', old: live ? clone(live) : undefined, user: w.who && w.who.name, dryRun });
      if (denied) return [403, status(403, 'Forbidden', `admission webhook "${a.name}" denied the request: ${denied}`)];
    }
    next.metadata.managedFields = ssa.writeManagers(managers);
    const headers = warnings.length ? { warning: warnings.map((x) => `299 - ${JSON.stringify(x)}`).join(', ') } : {};

    // A write that changes nothing is not stored: the resourceVersion stays.
    if (live && same(live, { ...next, metadata: { ...next.metadata, resourceVersion: live.metadata.resourceVersion } })) return [200, clone(live), headers];
    if (dryRun) {
      if (!live) delete next.metadata.resourceVersion;
      return [live ? 200 : 201, next, headers];
    }
    // The last finalizer gone from an object being deleted: it goes.
    if (live && live.metadata.deletionTimestamp && !(next.metadata.finalizers || []).length) {
      commit('DELETED', res, next);
      afterWrite(res, next, 'DELETED', sub);
      return [200, clone(next), headers];
    }
    commit(live ? 'MODIFIED' : 'ADDED', res, next);
    afterWrite(res, next, live ? 'MODIFIED' : 'ADDED', sub);
    return [live ? 200 : 201, clone(next), headers];
  }

  function remove(res, ns, name, query) {
    const key = storeKey(res, ns, name);
    const live = st.objects.get(key);
    if (!live) return [404, errors.notFound(res, name)];
    if (res.view) return [405, errors.methodNotAllowed()];
    const dryRun = query.get('dryRun') === 'All';
    const next = clone(live);
    if ((live.metadata.finalizers || []).length) {
      if (live.metadata.deletionTimestamp) return [200, clone(live)];
      next.metadata.deletionTimestamp = nowIso();
      next.metadata.deletionGracePeriodSeconds = 0;
      if (!res.core) next.metadata.generation = (live.metadata.generation || 1) + 1;
      if (dryRun) return [200, next];
      commit('MODIFIED', res, next);
      afterWrite(res, next, 'MODIFIED', '');
      return [200, clone(next)];
    }
    if (dryRun) return [200, next];
    commit('DELETED', res, next);
    afterWrite(res, next, 'DELETED', '');
    return [200, clone(next)];
  }

  // ---- controllers and events -------------------------------------------------------------------

  function afterWrite(res, obj, type, sub) {
    for (const c of st.controllers) {
      if (c.kind !== res.kind || (c.group !== undefined && c.group !== res.group)) continue;
      if (sub === 'status' && !c.onStatus) continue;
      const snapshot = clone(obj);
      setImmediate(() => {
        try {
          const r = c.fn(snapshot, controllerContext(res, snapshot, c), type);
          if (r && typeof r.catch === 'function') r.catch((e) => { st.controllerErrors.push(e); });
        } catch (e) { st.controllerErrors.push(e); }
      });
    }
  }
  st.controllerErrors = [];

  const systemUser = (mgr) => ({ name: `system:serviceaccount:operators:${mgr}`, groups: ['system:serviceaccounts'], user: { rules: 'admin' } });

  /** What a controller may do: write status (through the /status path), emit events, read. */
  function controllerContext(res, obj, c) {
    const mgr = c.manager || 'fake-controller';
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name;
    return {
      object: obj,
      res,
      /** Replace status via a /status merge patch (or a function of the current object) after `delayMs`. */
      setStatus: (statusOrFn, { delayMs = 0 } = {}) => new Promise((resolve, reject) => {
        later(delayMs, () => {
          const cur = st.objects.get(storeKey(res, ns, name));
          if (!cur) { resolve(null); return; }
          const s = typeof statusOrFn === 'function' ? statusOrFn(clone(cur)) : statusOrFn;
          if (s === undefined) { resolve(null); return; }
          const [code, out] = writeStatus(res, ns, name, s, mgr, cur);
          if (code >= 300) reject(new Error(`status write ${code}: ${out.message}`)); else resolve(out);
        });
      }),
      event: (e, { delayMs = 0 } = {}) => new Promise((resolve) => later(delayMs, () => resolve(emitEvent(res, obj, { component: mgr, ...e })))),
      get: () => clone(st.objects.get(storeKey(res, ns, name))),
      later: (ms, fn) => later(ms, fn),
    };
  }

  /** A status write as a controller makes it: PUT .../status with the whole status. */
  function writeStatus(res, ns, name, newStatus, mgr, cur) {
    const body = clone(cur);
    delete body.metadata.managedFields;
    body.status = newStatus;
    const sub = res.status ? 'status' : '';
    return write({ res, ns, name, sub, op: 'update', query: new URLSearchParams(`fieldManager=${encodeURIComponent(mgr)}`), body, who: systemUser(mgr), userAgent: mgr });
  }

  /** A core/v1 Event about `obj`, as a controller's event recorder posts it. */
  function emitEvent(res, obj, { type = 'Normal', reason, message, component = 'fake-controller', action }) {
    const evRes = findRes('', 'v1', 'events');
    const ns = obj.metadata.namespace || 'default';
    const t = nowIso();
    const body = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${crypto.randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: apiVersionOf(res), kind: res.kind, name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      reason, message, type, action,
      source: { component }, reportingComponent: component, reportingInstance: '',
      firstTimestamp: t, lastTimestamp: t, count: 1, eventTime: null,
    };
    if (!action) delete body.action;
    const [code, out] = write({ res: evRes, ns, name: body.metadata.name, sub: '', op: 'create', query: new URLSearchParams(), body, who: systemUser(component), userAgent: component });
    return code < 300 ? out : null;
  }

  /** events.k8s.io/v1 rendering of a core/v1 Event. */
  function eventV1(e) {
    return {
      apiVersion: 'events.k8s.io/v1', kind: 'Event',
      metadata: e.metadata,
      eventTime: e.eventTime || nowMicro(),
      reportingController: e.reportingComponent || (e.source && e.source.component) || '',
      reportingInstance: e.reportingInstance || '',
      action: e.action, reason: e.reason, regarding: e.involvedObject, note: e.message, type: e.type,
      deprecatedSource: e.source, deprecatedFirstTimestamp: e.firstTimestamp, deprecatedLastTimestamp: e.lastTimestamp, deprecatedCount: e.count,
    };
  }

  // ---- lists and watches -----------------------------------------------------------------------

  function listItems(res, ns, fieldSel, labelSel) {
    const prefix = `${res.view === 'events' ? '' : res.group}|${res.plural}|`;
    const out = [];
    for (const [k, o] of st.objects) {
      if (!k.startsWith(prefix)) continue;
      if (res.namespaced && ns && o.metadata.namespace !== ns) continue;
      const view = res.view === 'events' ? eventV1(o) : o;
      if (!fieldSel(view) || !labelSel(view)) continue;
      out.push(clone(view));
    }
    return out.sort((a, b) => (a.metadata.namespace || '').localeCompare(b.metadata.namespace || '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  function watch(req, res, resDef, ns, query, entry) {
    let fieldSel; let labelSel;
    try { fieldSel = parseFieldSelector(query.get('fieldSelector')); labelSel = parseLabelSelector(query.get('labelSelector')); } catch (e) { return send(res, 400, errors.badRequest(e.message)); }
    const fromRv = Number(query.get('resourceVersion') || 0);
    const initial = query.get('sendInitialEvents') === 'true';
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    entry.status = 200;
    entry.watch = true;
    const prefix = `${resDef.view === 'events' ? '' : resDef.group}|${resDef.plural}|`;
    const matches = (ev) => ev.key.startsWith(prefix) && (!resDef.namespaced || !ns || ev.object.metadata.namespace === ns);
    const render = (o) => (resDef.view === 'events' ? eventV1(o) : o);
    const out = (type, object) => { try { res.write(`${JSON.stringify({ type, object })}\n`); } catch (e) { /* closed */ } };
    const w = {
      offer(ev) {
        if (!matches(ev)) return;
        const o = render(ev.object);
        if (!fieldSel(o) || !labelSel(o)) return;
        out(ev.type, o);
      },
    };
    if (initial || !fromRv) {
      for (const o of listItems(resDef, ns, fieldSel, labelSel)) out('ADDED', o);
      if (initial) out('BOOKMARK', { kind: resDef.kind, apiVersion: apiVersionOf(resDef), metadata: { resourceVersion: String(st.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } });
    } else {
      const oldest = st.history.length ? st.history[0].rv : st.rv;
      if (fromRv < oldest - 1) {
        out('ERROR', status(410, 'Expired', `too old resource version: ${fromRv} (${oldest})`));
        res.end();
        return 200;
      }
      for (const ev of st.history) if (ev.rv > fromRv) w.offer(ev);
    }
    st.watchers.add(w);
    const stop = () => { st.watchers.delete(w); try { res.end(); } catch (e) { /* closed */ } };
    const timeout = Number(query.get('timeoutSeconds') || 0);
    if (timeout > 0) later(Math.min(timeout * 1000, 600000), stop);
    // The response's close, not the request's: a request closes once its body is read.
    res.on('close', () => st.watchers.delete(w));
    w.stop = stop;
    return 200;
  }

  // ---- the service proxy ----------------------------------------------------------------------

  function proxy(req, res, raw, url, ns, spec, rest, entry) {
    const m = /^(?:(https?):)?([^:]+)(?::(.*))?$/.exec(spec);
    const scheme = (m && m[1]) || 'http';
    const svcName = m ? m[2] : spec;
    const portStr = (m && m[3]) || '';
    const svcRes = findRes('', 'v1', 'services');
    const svc = st.objects.get(storeKey(svcRes, ns, svcName));
    if (!svc) return send(res, 404, errors.notFound(svcRes, svcName));
    const ports = svc.spec.ports || [];
    let port;
    if (!portStr) {
      if (ports.length !== 1) return send(res, 503, status(503, 'ServiceUnavailable', `no service port "" found for service "${svcName}"`));
      [port] = ports;
    } else {
      port = ports.find((p) => p.name === portStr || String(p.port) === portStr);
      if (!port) return send(res, 503, status(503, 'ServiceUnavailable', `no service port "${portStr}" found for service "${svcName}"`));
    }
    const backend = st.backends.get(`${ns}/${svcName}/${port.port}`);
    if (!backend) return send(res, 503, status(503, 'ServiceUnavailable', `no endpoints available for service "${svcName}"`));
    const target = new URL(backend);
    const headers = { ...req.headers };
    // Removed by the API server's authentication filter, and hop-by-hop headers.
    for (const h of ['authorization', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'host', 'content-length',
      'x-remote-user', 'x-remote-group', 'impersonate-user', 'impersonate-group']) delete headers[h];
    headers.host = target.host;
    if (raw.length) headers['content-length'] = String(raw.length);
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    const basePath = target.pathname.replace(/\/$/, '');
    const lib = scheme === 'https' ? https : http;
    entry.proxy = { service: `${ns}/${svcName}:${port.name || port.port}`, path: `/${rest}`, query: url.search, headers: Object.keys(headers) };
    const preq = lib.request({
      host: target.hostname, port: target.port, method: req.method, path: `${basePath}/${rest}${url.search}`, headers, rejectUnauthorized: false,
    }, (pres) => {
      const h = { ...pres.headers };
      delete h.connection; delete h['transfer-encoding'];
      res.writeHead(pres.statusCode, h);
      pres.pipe(res);
    });
    preq.on('error', (e) => {
      if (res.headersSent) { res.destroy(); return; }
      const what = e.code === 'ECONNREFUSED' ? `dial tcp ${target.hostname}:${target.port}: connect: connection refused` : e.message;
      entry.status = 503;
      send(res, 503, status(503, 'ServiceUnavailable', `error trying to reach service: ${what}`));
    });
    preq.end(raw);
    return 'proxied';
  }

  // ---- the request handler --------------------------------------------------------------------

  function handle(req, res, raw, entry) {
    const url = new URL(req.url, 'https://k8s');
    const who = authenticate(req);
    entry.user = who ? who.name : undefined;
    entry.auth = who ? who.via : (req.headers.authorization ? 'invalid' : 'none');
    if (!who) return send(res, 401, errors.unauthorized());

    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'api' && parts[0] !== 'apis' || (parts[0] === 'api' && parts.length < 3) || (parts[0] === 'apis' && parts.length < 4)) {
      if (req.method !== 'GET') return send(res, 405, errors.methodNotAllowed());
      const r = discovery(req, res, url);
      if (r) return r;
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const group = parts[0] === 'api' ? '' : parts[1];
    const version = parts[0] === 'api' ? parts[1] : parts[2];
    let rest = parts.slice(parts[0] === 'api' ? 2 : 3);
    let ns = '';
    if (rest[0] === 'namespaces' && rest.length >= 3) { ns = rest[1]; rest = rest.slice(2); }
    const [plural, name, sub, ...tail] = rest;
    const resDef = findRes(group, version, plural);
    if (!resDef) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (resDef.namespaced && !ns && name) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const q = url.searchParams;
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = {
      GET: name ? 'get' : isWatch ? 'watch' : 'list', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection',
    }[req.method];
    if (!verb) return send(res, 405, errors.methodNotAllowed());
    const attrs = { verb, group, resource: plural, subresource: sub || '', namespace: ns, name: name || '', path: url.pathname };
    Object.assign(entry, { verb, resource: `${plural}${sub ? `/${sub}` : ''}${group ? `.${group}` : ''}`, namespace: ns, name });
    if (!allowed(who, attrs)) return send(res, 403, forbidden(who.name, attrs));

    if (sub === 'proxy') {
      if (!resDef.proxy) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return proxy(req, res, raw, url, ns, name, tail.join('/') + (url.pathname.endsWith('/') && tail.length ? '/' : ''), entry);
    }
    if (sub && !(sub === 'status' && resDef.status)) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (tail.length) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));

    if (req.method === 'GET' || req.method === 'HEAD') {
      if (name) {
        const o = st.objects.get(storeKey(resDef, ns, name));
        if (!o) return send(res, 404, errors.notFound(resDef, name));
        return send(res, 200, resDef.view === 'events' ? eventV1(o) : o);
      }
      if (isWatch) return watch(req, res, resDef, ns, q, entry);
      let fieldSel; let labelSel;
      try { fieldSel = parseFieldSelector(q.get('fieldSelector')); labelSel = parseLabelSelector(q.get('labelSelector')); } catch (e) { return send(res, 400, errors.badRequest(e.message)); }
      return send(res, 200, { apiVersion: apiVersionOf(resDef), kind: `${resDef.kind}List`, metadata: { resourceVersion: String(st.rv) }, items: listItems(resDef, ns, fieldSel, labelSel) });
    }
    if (req.method === 'DELETE') {
      if (!name) return send(res, 405, errors.methodNotAllowed());
      const [code, out] = remove(resDef, ns, name, q);
      return send(res, code, out);
    }

    const p = parseBody(req, raw, entry);
    if (p.error) return send(res, 400, p.error);
    entry.body = p.value;
    let op;
    if (req.method === 'POST') {
      if (name) return send(res, 405, errors.methodNotAllowed());
      op = 'create';
    } else if (req.method === 'PUT') op = 'update';
    else {
      op = { 'application/apply-patch+yaml': 'apply', 'application/merge-patch+json': 'merge', 'application/json-patch+json': 'json-patch', 'application/strategic-merge-patch+json': 'strategic' }[p.ct];
      if (!op || (op === 'strategic' && !resDef.core)) return send(res, 415, errors.unsupportedMedia());
      if (op === 'strategic') op = 'merge';
    }
    if (!name && op !== 'create') return send(res, 405, errors.methodNotAllowed());
    let objName = name;
    if (op === 'create') {
      const m = (p.value && p.value.metadata) || {};
      if (!m.name && m.generateName) m.name = `${m.generateName}${crypto.randomBytes(3).toString('hex').slice(0, 5)}`;
      objName = m.name;
      if (!objName) return send(res, 422, errors.invalid(resDef, '', [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]));
    }
    // Creating through apply needs the create permission too.
    if (op === 'apply' && !st.objects.has(storeKey(resDef, ns, objName)) && !allowed(who, { ...attrs, verb: 'create' })) {
      return send(res, 403, forbidden(who.name, { ...attrs, verb: 'create' }));
    }
    const [code, out, headers] = write({ res: resDef, ns, name: objName, sub: sub || '', op, query: q, body: p.value, who, userAgent: req.headers['user-agent'] });
    entry.fieldManager = q.get('fieldManager');
    return send(res, code, out, headers || {});
  }

  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url, 'https://k8s');
      const entry = {
        at: Date.now() - t0, method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams),
        accept: req.headers.accept, userAgent: req.headers['user-agent'],
      };
      st.log.push(entry);
      const fault = takeFault(req.method, url.pathname);
      const go = () => {
        if (fault && fault.reset) { entry.status = 'reset'; entry.fault = true; req.socket.destroy(); return; }
        if (fault && fault.status) {
          entry.status = fault.status; entry.fault = true;
          send(res, fault.status, fault.body || status(fault.status, fault.reason || (fault.status === 429 ? 'TooManyRequests' : fault.status === 500 ? 'InternalError' : 'ServiceUnavailable'), fault.message || `injected HTTP ${fault.status}`), fault.headers || {});
          return;
        }
        try {
          const r = handle(req, res, raw, entry);
          if (entry.status === undefined) entry.status = r;
        } catch (e) {
          entry.status = 500;
          entry.error = e.stack;
          if (!res.headersSent) send(res, 500, status(500, 'InternalError', `Internal error occurred: ${e.message}`));
        }
      };
      if (fault && fault.delayMs) later(fault.delayMs, go); else go();
    });
  };

  function takeFault(method, p) {
    const i = st.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || (f.path instanceof RegExp ? f.path.test(p) : p.includes(f.path))));
    if (i < 0) return null;
    const f = st.faults[i];
    f.times = (f.times === undefined ? 1 : f.times) - 1;
    if (f.times <= 0) st.faults.splice(i, 1);
    return f;
  }

  const server = useTls
    ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: false }, onRequest)
    : http.createServer(onRequest);

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    const url = `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const resOf = (kindOrPlural, group) => [...st.resources.values()].find((r) => !r.view && (r.kind === kindOrPlural || r.plural === kindOrPlural) && (group === undefined || r.group === group));
    const api = {
      url,
      caFile: tls && tls.caFile,
      ca: tls && tls.ca,
      state: st,
      log: st.log,
      /** Requests that could change something. */
      writes: () => st.log.filter((e) => !['GET', 'HEAD'].includes(e.method)),
      requests: (method, re) => st.log.filter((e) => e.method === method && (!re || re.test(e.path))),
      /** The next matching requests fail: {method?, path?, times?, status?, reason?, message?, body?, headers?, delayMs?, reset?}. */
      fault: (f) => st.faults.push({ ...f }),
      addCrd: (src) => { const c = addCrd(src); openapiDocs.clear(); return c; },
      addNamespace: (name) => seedObject(nsRes, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }),
      addService,
      /** Point service port `port` of `namespace/name` at `backend` (URL), or at nothing (null). */
      setBackend: (namespace, name, port, backend) => { if (backend) st.backends.set(`${namespace}/${name}/${port}`, backend); else st.backends.delete(`${namespace}/${name}/${port}`); },
      addUser: (u) => st.users.push({ ...u }),
      /**
       * A JSON merge patch as a controller makes it (PATCH, application/merge-patch+json, through
       * the same write path as HTTP requests), on the object or its `subresource`. Returns the
       * stored object; throws with the Status message when the API server would refuse it.
       */
      patch: (kind, namespace, name, patch, { manager = 'fake-controller', subresource = '' } = {}) => {
        const r = resOf(kind);
        const [code, out] = write({ res: r, ns: namespace, name, sub: subresource, op: 'merge', query: new URLSearchParams(`fieldManager=${encodeURIComponent(manager)}`), body: patch, who: systemUser(manager), userAgent: manager });
        if (code >= 300) throw Object.assign(new Error(`patch ${kind} ${namespace}/${name}: ${code} ${out.message}`), { status: out });
        return out;
      },
      /**
       * An admission check for writes of `kind` (as a validating webhook): `fn(object, {operation,
       * old, user})` returns a message to deny the write, or nothing to allow it.
       */
      admission: (kind, name, fn) => st.admission.push({ kind, name, fn }),
      /** The stored object (a copy), by kind or plural. */
      get: (kind, namespace, name, group) => {
        const r = resOf(kind, group);
        const o = r && st.objects.get(storeKey(r, namespace, name));
        return o ? clone(o) : undefined;
      },
      list: (kind, namespace, group) => { const r = resOf(kind, group); return r ? listItems(r, namespace, () => true, () => true) : []; },
      /** Core events about an object (what `kubectl get events --field-selector involvedObject.name=...` lists), oldest first. */
      events: (namespace, name, kind) => listItems(findRes('', 'v1', 'events'), namespace, parseFieldSelector(`involvedObject.name=${name}${kind ? `,involvedObject.kind=${kind}` : ''}`), () => true)
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion)),
      /**
       * Register a controller for `kind`: `fn(object, ctx, eventType)` after each committed write
       * of that kind (not status writes unless `onStatus`), with ctx.setStatus(status|fn, {delayMs}),
       * ctx.event({type, reason, message}, {delayMs}), ctx.get(), ctx.later(ms, fn).
       */
      controller: (kind, fn, o = {}) => {
        const c = { kind, fn, group: o.group, manager: o.manager, onStatus: !!o.onStatus };
        st.controllers.push(c);
        return () => { st.controllers = st.controllers.filter((x) => x !== c); };
      },
      /** Write status as a controller would (PUT /status); resolves to the stored object. */
      setStatus: (kind, namespace, name, s, manager = 'fake-controller') => {
        const r = resOf(kind);
        const cur = st.objects.get(storeKey(r, namespace, name));
        if (!cur) throw new Error(`${kind} ${namespace}/${name} not found`);
        const [code, out] = writeStatus(r, namespace, name, s, manager, cur);
        if (code >= 300) throw new Error(`status write ${code}: ${out.message}`);
        return out;
      },
      /** Emit a core/v1 Event about a stored object. */
      event: (kind, namespace, name, e) => {
        const r = resOf(kind);
        const cur = st.objects.get(storeKey(r, namespace, name));
        if (!cur) throw new Error(`${kind} ${namespace}/${name} not found`);
        return emitEvent(r, cur, e);
      },
      clientCert,
      /**
       * A kubeconfig (YAML text) for this server: `user` with {token} | {cert: true} (client
       * certificate from the test CA, CN = name) | {exec: {...}} | nothing; `namespace`.
       */
      kubeconfig: ({ user = 'user', token, cert, groups, exec, namespace, server } = {}) => {
        const u = {};
        if (token) u.token = token;
        if (cert) {
          const c = clientCert(user, groups || []);
          u['client-certificate-data'] = c.cert.toString('base64');
          u['client-key-data'] = c.key.toString('base64');
        }
        if (exec) u.exec = exec;
        const cluster = { server: server || url };
        if (tls) cluster['certificate-authority-data'] = tls.ca.toString('base64');
        return YAML.stringify({
          apiVersion: 'v1', kind: 'Config', preferences: {},
          clusters: [{ name: 'fake', cluster }],
          users: [{ name: user, user: u }],
          contexts: [{ name: 'fake', context: { cluster: 'fake', user, ...(namespace ? { namespace } : {}) } }],
          'current-context': 'fake',
        });
      },
      /** Write `kubeconfig(o)` to a temporary file; returns its path. */
      writeKubeconfig: (o = {}) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fd-kube-'));
        const f = path.join(dir, 'config');
        fs.writeFileSync(f, api.kubeconfig(o), { mode: 0o600 });
        return f;
      },
      close: () => new Promise((r) => {
        for (const h of st.timers) clearTimeout(h);
        st.timers.clear();
        for (const w of st.watchers) if (w.stop) w.stop();
        st.watchers.clear();
        if (server.closeAllConnections) server.closeAllConnections();
        server.close(() => r());
      }),
    };
    resolve(api);
  }));
}

module.exports = { startK8s, clientCert, mergePatch, jsonPatch, AKS_SERVER_ID };
