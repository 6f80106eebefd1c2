// Server-side apply for the Kubernetes API fake: field sets, managedFields (FieldsV1), the apply
// merge, ownership transfer on update, and conflicts, following the documented semantics of
// structured-merge-diff (kubernetes-sigs/structured-merge-diff, the library behind the API
// server's field manager) and https://kubernetes.io/docs/reference/using-api/server-side-apply/.
//
// A field set is a JS Set of path keys; a path key is the JSON array of its path elements in
// FieldsV1 spelling: `f:<name>` (struct field or map key), `k:<json of the key fields>` (item of
// an associative list), `v:<json value>` (item of a set list), `i:<index>` (only for atomic
// lists' items, never produced here). A set holds member paths only (a leaf, an atomic value,
// a list item); ancestors are implied.
//
// Types come from a "type node" (see k8s-schema.js `typeOf`): {kind: 'struct'|'map'|'list'|
// 'scalar'|'deduced', atomic?, listType?, keys?, child(pe)} so the same code runs on CRD schemas,
// ObjectMeta, and schema-less (deduced) values.
'use strict';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
  return v;
}
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));

const keyOf = (pes) => JSON.stringify(pes);
const pesOf = (key) => JSON.parse(key);

/** The path element of a list item under `type` (a list type node). */
function itemPe(type, item) {
  if (type.listType === 'map') {
    const k = {};
    for (const f of [...type.keys].sort()) if (isObj(item) && item[f] !== undefined) k[f] = item[f];
    return `k:${JSON.stringify(k)}`;
  }
  return `v:${JSON.stringify(item)}`;
}

/** A path as the API server prints it in conflicts: `.spec.job.jarURI`, `[name="x"]`, `[="v"]`. */
function pathString(pes) {
  return pes.map((pe) => {
    const body = pe.slice(2);
    if (pe.startsWith('f:')) return `.${body}`;
    if (pe.startsWith('k:')) {
      const k = JSON.parse(body);
      return `[${Object.keys(k).map((n) => `${n}=${JSON.stringify(k[n])}`).join(',')}]`;
    }
    if (pe.startsWith('v:')) return `[=${body}]`;
    if (pe.startsWith('i:')) return `[${body}]`;
    return pe;
  }).join('');
}

// ---- FieldsV1 --------------------------------------------------------------------------------

/** FieldsV1 JSON of a set: nested objects; a member with children carries `".": {}`. */
function toFieldsV1(set) {
  const root = { kids: new Map(), member: false };
  for (const key of set) {
    let n = root;
    for (const pe of pesOf(key)) {
      if (!n.kids.has(pe)) n.kids.set(pe, { kids: new Map(), member: false });
      n = n.kids.get(pe);
    }
    n.member = true;
  }
  const out = (n) => {
    const o = {};
    if (n.member && n.kids.size) o['.'] = {};
    for (const pe of [...n.kids.keys()].sort()) o[pe] = out(n.kids.get(pe));
    return o;
  };
  return out(root);
}

/** The set a FieldsV1 object describes. */
function fromFieldsV1(f) {
  const set = new Set();
  const walk = (node, pes) => {
    const keys = Object.keys(node || {});
    if (pes.length && (keys.length === 0 || keys.includes('.'))) set.add(keyOf(pes));
    for (const k of keys) if (k !== '.') walk(node[k], [...pes, k]);
  };
  walk(f, []);
  return set;
}

// ---- walking values with their types -----------------------------------------------------------

/**
 * The set of fields a value sets (structured-merge-diff `ToFieldSet`): scalars and atomic values
 * are members, items of associative/set lists are members and descended into, granular maps
 * and structs are descended into only.
 */
function toFieldSet(value, type, pes = [], set = new Set()) {
  const t = type.resolve(value);
  if (t.kind === 'scalar' || t.atomic) { if (pes.length) set.add(keyOf(pes)); return set; }
  if (t.kind === 'list') {
    if (!Array.isArray(value)) { set.add(keyOf(pes)); return set; }
    for (const item of value) {
      const p = [...pes, itemPe(t, item)];
      toFieldSet(item, t.child(null), p, set);
      set.add(keyOf(p));
    }
    return set;
  }
  if (!isObj(value)) { if (pes.length) set.add(keyOf(pes)); return set; }
  for (const [k, v] of Object.entries(value)) toFieldSet(v, t.child(k), [...pes, `f:${k}`], set);
  return set;
}

/**
 * Compare two values (structured-merge-diff `Compare`): leaves that changed are modified; a
 * leaf, list item or map only on one side is added/removed (with everything under it).
 */
function compare(lhs, rhs, type, pes = [], out = { added: new Set(), modified: new Set(), removed: new Set() }) {
  const t = type.resolve(rhs !== undefined ? rhs : lhs);
  const here = keyOf(pes);
  if (lhs === undefined && rhs === undefined) return out;
  const container = (v) => (t.kind === 'list' ? Array.isArray(v) : isObj(v));
  if (t.kind === 'scalar' || t.atomic || !(container(lhs) || lhs === undefined) || !(container(rhs) || rhs === undefined)) {
    if (!pes.length) return out;
    if (lhs === undefined) out.added.add(here);
    else if (rhs === undefined) out.removed.add(here);
    else if (!same(lhs, rhs)) out.modified.add(here);
    return out;
  }
  if (pes.length && lhs === undefined) out.added.add(here);
  if (pes.length && rhs === undefined) out.removed.add(here);
  if (t.kind === 'list') {
    const l = new Map((lhs || []).map((i) => [itemPe(t, i), i]));
    const r = new Map((rhs || []).map((i) => [itemPe(t, i), i]));
    for (const pe of new Set([...l.keys(), ...r.keys()])) {
      const p = [...pes, pe];
      if (!l.has(pe)) out.added.add(keyOf(p));
      if (!r.has(pe)) out.removed.add(keyOf(p));
      compare(l.get(pe), r.get(pe), t.child(null), p, out);
    }
    return out;
  }
  for (const k of new Set([...Object.keys(lhs || {}), ...Object.keys(rhs || {})])) {
    compare((lhs || {})[k], (rhs || {})[k], t.child(k), [...pes, `f:${k}`], out);
  }
  return out;
}

/** Merge the applied configuration into the live object (structured-merge-diff `Merge`). */
function merge(live, config, type) {
  const t = type.resolve(config);
  if (config === undefined) return clone(live);
  if (t.kind === 'scalar' || t.atomic) return clone(config);
  if (t.kind === 'list') {
    if (!Array.isArray(config) || !Array.isArray(live)) return clone(config);
    // Items keep the live order; new items follow in the configuration's order.
    const out = live.map((i) => ({ pe: itemPe(t, i), v: clone(i) }));
    for (const item of config) {
      const pe = itemPe(t, item);
      const at = out.findIndex((x) => x.pe === pe);
      if (at >= 0) out[at].v = merge(out[at].v, item, t.child(null));
      else out.push({ pe, v: clone(item) });
    }
    return out.map((x) => x.v);
  }
  if (!isObj(config) || !isObj(live)) return clone(config);
  const out = clone(live);
  for (const [k, v] of Object.entries(config)) out[k] = merge(live[k], v, t.child(k));
  return out;
}

/** Remove the value at each path of `paths` (list items by key). */
function removePaths(obj, paths, type) {
  const sorted = [...paths].map(pesOf).sort((a, b) => a.length - b.length);
  for (const pes of sorted) {
    let parentType = type; let cur = obj; let ok = true;
    for (let i = 0; i < pes.length - 1 && ok; i++) {
      const t = parentType.resolve(cur);
      const pe = pes[i];
      if (pe.startsWith('f:')) { cur = isObj(cur) ? cur[pe.slice(2)] : undefined; parentType = t.child(pe.slice(2)); } else {
        cur = Array.isArray(cur) ? cur.find((it) => itemPe(t, it) === pe) : undefined; parentType = t.child(null);
      }
      if (cur === undefined) ok = false;
    }
    if (!ok) continue;
    const last = pes[pes.length - 1];
    const t = parentType.resolve(cur);
    if (last.startsWith('f:')) { if (isObj(cur)) delete cur[last.slice(2)]; } else if (Array.isArray(cur)) {
      const at = cur.findIndex((it) => itemPe(t, it) === last);
      if (at >= 0) cur.splice(at, 1);
    }
  }
  return obj;
}

/** `set` plus the struct fields (named fields) above its members: what prune may drop whole. */
function withNamedAncestors(set, type) {
  const out = new Set(set);
  for (const key of set) {
    const pes = pesOf(key);
    let t = type;
    for (let i = 0; i < pes.length - 1; i++) {
      const r = t.resolve(undefined);
      const pe = pes[i];
      if (r.kind === 'struct' && pe.startsWith('f:')) out.add(keyOf(pes.slice(0, i + 1)));
      t = pe.startsWith('f:') ? r.child(pe.slice(2)) : r.child(null);
    }
  }
  return out;
}

const hasPrefix = (key, prefixKey) => {
  const a = pesOf(key); const p = pesOf(prefixKey);
  return p.length <= a.length && p.every((pe, i) => pe === a[i]);
};
const touches = (set, key) => [...set].some((m) => hasPrefix(m, key) || hasPrefix(key, m));
const union = (...sets) => new Set(sets.flatMap((s) => [...s]));
const minus = (a, b) => new Set([...a].filter((x) => !b.has(x)));
const intersect = (a, b) => new Set([...a].filter((x) => b.has(x)));
/** Members of `a` that are at or under a member of `b`. */
const underAny = (a, b) => new Set([...a].filter((x) => [...b].some((y) => hasPrefix(x, y))));

// ---- managers ----------------------------------------------------------------------------------

/** The identity of a managedFields entry, as the API server keys its managers. */
function managerId(e) {
  return JSON.stringify({ manager: e.manager, operation: e.operation, apiVersion: e.operation === 'Apply' ? undefined : e.apiVersion, subresource: e.subresource || undefined });
}

/** `"name"`, `"name" with subresource "status"`, `... using group/version` for Update managers. */
function printManager(e) {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function readManagers(managedFields) {
  return (managedFields || []).map((e) => ({ ...e, set: fromFieldsV1(e.fieldsV1) }));
}
function writeManagers(managers) {
  return managers.filter((m) => m.set.size).map((m) => {
    const e = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion, time: m.time, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(m.set) };
    if (m.subresource) e.subresource = m.subresource;
    return e;
  });
}

/** The apply conflict Status message, as the API server words it. */
function conflictMessage(conflicts) {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].manager)}: ${conflicts[0].path}`;
  const by = new Map();
  for (const c of conflicts) {
    const id = printManager(c.manager);
    if (!by.has(id)) by.set(id, []);
    by.get(id).push(c.path);
  }
  const lines = [];
  for (const id of [...by.keys()].sort()) {
    lines.push(`conflicts with ${id}:`);
    for (const p of by.get(id)) lines.push(`- ${p}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

/**
 * Changes of ownership for a write from `live` to `next` by manager `me` (structured-merge-diff
 * `update`): fields that others own and this write changes are conflicts; with `force` they
 * pass to `me`. Fields the write removes leave every manager.
 */
function transfer(managers, me, live, next, type, force) {
  const cmp = compare(live, next, type);
  const changed = union(cmp.modified, cmp.added);
  const conflicts = [];
  for (const m of managers) {
    if (managerId(m) === managerId(me)) continue;
    for (const key of intersect(m.set, changed)) conflicts.push({ manager: m, path: pathString(pesOf(key)) });
  }
  if (conflicts.length && !force) return { conflicts, cmp };
  for (const m of managers) {
    if (managerId(m) === managerId(me)) continue;
    m.set = minus(minus(m.set, changed), cmp.removed);
  }
  return { conflicts: [], cmp };
}

/**
 * Server-side apply of `config` over `live` (undefined when creating) by `manager`.
 * `ignored(key)` tells fields the endpoint resets (status on the main resource, everything but
 * status on /status) and `reset(merged)` puts them back as they were, before ownership is
 * worked out. Returns {object, managers} or {conflicts, message}.
 */
function apply({ live, config, type, manager, apiVersion, subresource, force, ignored = () => false, reset = (o) => o, now }) {
  const managers = readManagers(live && live.metadata && live.metadata.managedFields);
  const me = { manager, operation: 'Apply', apiVersion, subresource };
  const mine = managers.find((m) => managerId(m) === managerId(me));
  const lastSet = mine ? mine.set : new Set();
  const configSet = new Set([...toFieldSet(config, type)].filter((k) => !ignored(k)));
  const base = live ? clone(live) : {};
  let merged = merge(base, config, type);

  // Prune what this manager applied before and no longer does, unless someone else holds it.
  const others = union(...managers.filter((m) => m !== mine).map((m) => m.set));
  const candidates = [...withNamedAncestors(lastSet, type)].filter((k) => !ignored(k)
    && !touches(configSet, k) && !touches(others, k));
  merged = reset(removePaths(merged, candidates, type));

  const t = transfer(managers, me, live || {}, merged, type, force);
  if (t.conflicts.length) return { conflicts: t.conflicts, message: conflictMessage(t.conflicts) };
  const entry = mine || { ...me, set: new Set() };
  const changedOwn = !mine || !same([...entry.set].sort(), [...configSet].sort());
  entry.set = configSet;
  entry.apiVersion = apiVersion;
  if (changedOwn || !entry.time) entry.time = now;
  if (!mine) managers.push(entry);
  return { object: merged, managers };
}

/**
 * Ownership after a non-apply write (create, update, merge patch) by `manager`: it gains what
 * it changed, from whoever owned it.
 */
function update({ live, next, type, manager, apiVersion, subresource, ignored = () => false, now }) {
  const managers = readManagers(live && live.metadata && live.metadata.managedFields);
  const me = { manager, operation: 'Update', apiVersion, subresource };
  const t = transfer(managers, me, live || {}, next, type, true);
  let entry = managers.find((m) => managerId(m) === managerId(me));
  const before = entry ? new Set(entry.set) : new Set();
  if (!entry) { entry = { ...me, set: new Set() }; managers.push(entry); }
  entry.set = new Set([...union(minus(entry.set, t.cmp.removed), t.cmp.modified, t.cmp.added)].filter((k) => !ignored(k)));
  if (!same([...before].sort(), [...entry.set].sort()) || !entry.time) entry.time = now;
  return { managers };
}

module.exports = {
  toFieldSet, compare, merge, apply, update, toFieldsV1, fromFieldsV1, pathString, writeManagers, readManagers,
  conflictMessage, printManager, keyOf, pesOf, same, canon, clone, isObj, underAny,
};
