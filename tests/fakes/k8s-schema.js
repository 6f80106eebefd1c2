// Custom resource definitions for the Kubernetes API fake: loading CRD YAML, the structural
// schema rules the API server applies to every write (pruning of unknown fields, dropping nulls
// of non-nullable fields, validation with Kubernetes' field error texts), the typed check server-
// side apply makes first ("field not declared in schema"), type nodes for apply and managed
// fields, and OpenAPI v3 documents built from the schemas.
//
// Written from https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-
// resource-definitions/ (structural schemas, pruning, x-kubernetes-* extensions, validation) and
// the API server's error formats. Validation runs on Ajv (JSON Schema) over a translation of the
// OpenAPI v3 schema; CEL rules (x-kubernetes-validations) and formats are not checked.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const YAML = require('yaml');
const Ajv = require('ajv');
const { isObj } = require('./k8s-ssa');

// ---- type nodes (for apply, compare and managed fields) --------------------------------------

const DEDUCED = {
  resolve(v) {
    if (isObj(v)) return { kind: 'map', child: () => DEDUCED };
    if (Array.isArray(v)) return { kind: 'list', atomic: true, listType: 'atomic', child: () => DEDUCED };
    // Without a value (walking a path of a managed-fields set) a deduced node can only be a map.
    if (v === undefined) return { kind: 'map', child: () => DEDUCED };
    return { kind: 'scalar', child: () => DEDUCED };
  },
};

const typeCache = new WeakMap();

/** The type node of an OpenAPI v3 (structural) schema node. */
function typeOf(s) {
  if (!s) return DEDUCED;
  if (typeCache.has(s)) return typeCache.get(s);
  const preserve = !!s['x-kubernetes-preserve-unknown-fields'];
  const node = {
    resolve(v) {
      if (s['x-kubernetes-int-or-string']) return { kind: 'scalar', child: () => DEDUCED };
      if (s.type === 'array') {
        const listType = s['x-kubernetes-list-type'] || 'atomic';
        return { kind: 'list', listType, atomic: listType === 'atomic', keys: s['x-kubernetes-list-map-keys'] || [], child: () => typeOf(s.items) };
      }
      if (s.type === 'object' || s.properties || s.additionalProperties) {
        const atomic = s['x-kubernetes-map-type'] === 'atomic';
        if (s.properties) {
          return { kind: 'struct', atomic, child: (k) => (s.properties[k] ? typeOf(s.properties[k]) : DEDUCED) };
        }
        if (isObj(s.additionalProperties)) return { kind: 'map', atomic, child: () => typeOf(s.additionalProperties) };
        return { kind: preserve ? 'map' : 'struct', atomic, child: () => DEDUCED };
      }
      if (preserve) return DEDUCED.resolve(v);
      return { kind: 'scalar', child: () => DEDUCED };
    },
  };
  typeCache.set(s, node);
  return node;
}

/** ObjectMeta as server-side apply sees it (k8s.io/apimachinery meta/v1). */
const OBJECT_META_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' }, generateName: { type: 'string' }, namespace: { type: 'string' }, uid: { type: 'string' },
    resourceVersion: { type: 'string' }, generation: { type: 'integer' }, creationTimestamp: { type: 'string' },
    deletionTimestamp: { type: 'string' }, deletionGracePeriodSeconds: { type: 'integer' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
    ownerReferences: {
      type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['uid'],
      items: { type: 'object', required: ['apiVersion', 'kind', 'name', 'uid'], properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, uid: { type: 'string' }, controller: { type: 'boolean' }, blockOwnerDeletion: { type: 'boolean' } } },
    },
    managedFields: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    selfLink: { type: 'string' },
  },
};

/** The root schema of a resource: the CRD's, with ObjectMeta in place of its `metadata`. */
function rootSchema(schema) {
  const s = { ...(schema || { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }) };
  s.type = 'object';
  s.properties = { ...(s.properties || {}), apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: OBJECT_META_SCHEMA };
  return s;
}

// ---- CRDs --------------------------------------------------------------------------------------

const compiled = new Map();

/**
 * A CRD from YAML text, a file path or an object: {name, group, names, scope, versions:[{name,
 * served, storage, schema, status (bool: status subresource), printerColumns}]}.
 */
function loadCrd(src) {
  let crd = src;
  if (typeof src === 'string') {
    const text = /\n/.test(src) ? src : fs.readFileSync(src, 'utf8');
    crd = YAML.parse(text, { maxAliasCount: -1 });
  }
  if (!crd || crd.kind !== 'CustomResourceDefinition') throw new Error('not a CustomResourceDefinition');
  const spec = crd.spec;
  const versions = spec.versions.map((v) => ({
    name: v.name,
    served: v.served !== false,
    storage: !!v.storage,
    schema: rootSchema(v.schema && v.schema.openAPIV3Schema),
    status: !!(v.subresources && v.subresources.status),
    printerColumns: v.additionalPrinterColumns || [],
  }));
  return {
    name: crd.metadata.name,
    group: spec.group,
    names: { listKind: `${spec.names.kind}List`, singular: spec.names.kind.toLowerCase(), ...spec.names },
    scope: spec.scope,
    versions,
    source: crd,
  };
}

// ---- pruning, nulls, typed check --------------------------------------------------------------

const jsonType = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);

/**
 * Drop unknown fields (not in `properties`, outside x-kubernetes-preserve-unknown-fields) and
 * nulls of non-nullable fields, as the API server does for structural schemas before it
 * validates. Returns the dotted paths of the unknown fields it dropped.
 */
function prune(value, s, path = '', unknown = []) {
  if (!s || s['x-kubernetes-int-or-string']) return unknown;
  if (isObj(value) && (s.type === 'object' || s.properties || s.additionalProperties)) {
    for (const k of Object.keys(value)) {
      const p = path ? `${path}.${k}` : k;
      const child = s.properties && s.properties[k] ? s.properties[k] : isObj(s.additionalProperties) ? s.additionalProperties : null;
      if (!child) {
        if (s['x-kubernetes-preserve-unknown-fields'] || s.additionalProperties === true || (path === 'metadata')) continue;
        unknown.push(p);
        delete value[k];
        continue;
      }
      if (value[k] === null && !child.nullable && !(child['x-kubernetes-preserve-unknown-fields'] && !child.type)) { delete value[k]; continue; }
      prune(value[k], child, p, unknown);
    }
  } else if (Array.isArray(value) && s.type === 'array' && s.items) {
    value.forEach((item, i) => prune(item, s.items, `${path}[${i}]`, unknown));
  }
  return unknown;
}

/** Go's %#v of a JSON value, as structured-merge-diff prints it in typed-conversion errors. */
function goValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return '<nil>';
  if (isObj(v)) return 'map[string]interface {}{...}';
  if (Array.isArray(v)) return '[]interface {}{...}';
  return String(v);
}
const goType = (v) => (typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? (Number.isInteger(v) ? 'int64' : 'float64') : Array.isArray(v) ? '[]interface {}' : isObj(v) ? 'map[string]interface {}' : 'nil');

/**
 * The check server-side apply makes when it turns the applied configuration into a typed
 * object: the first undeclared field or wrong-kind value, worded as structured-merge-diff words
 * it (`.spec.foo: field not declared in schema`), or null.
 */
function typedCheck(value, s, path = '') {
  const errs = [];
  const walk = (v, sch, p) => {
    if (!sch || v === null || sch['x-kubernetes-int-or-string']) return;
    if (!sch.type && sch['x-kubernetes-preserve-unknown-fields'] && !sch.properties) return;
    if (sch.type === 'object' || sch.properties || sch.additionalProperties) {
      if (!isObj(v)) { errs.push(`${p}: expected map, got ${goValue(v)}`); return; }
      for (const [k, x] of Object.entries(v)) {
        const child = sch.properties && sch.properties[k] ? sch.properties[k] : isObj(sch.additionalProperties) ? sch.additionalProperties : null;
        if (!child) {
          if (sch['x-kubernetes-preserve-unknown-fields'] || p === '.metadata') continue;
          errs.push(`${p}.${k}: field not declared in schema`);
          continue;
        }
        walk(x, child, `${p}.${k}`);
      }
      return;
    }
    if (sch.type === 'array') {
      if (!Array.isArray(v)) { errs.push(`${p}: expected list, got ${goValue(v)}`); return; }
      v.forEach((x, i) => walk(x, sch.items, `${p}[${i}]`));
      return;
    }
    if (sch.type === 'string' && typeof v !== 'string') errs.push(`${p}: expected string, got &value.valueUnstructured{Value:${goValue(v)}}`);
    if ((sch.type === 'integer' || sch.type === 'number') && typeof v !== 'number') errs.push(`${p}: expected numeric (int or float), got ${goType(v)}`);
    if (sch.type === 'boolean' && typeof v !== 'boolean') errs.push(`${p}: expected boolean, got &value.valueUnstructured{Value:${goValue(v)}}`);
  };
  walk(value, s, path);
  return errs.length ? errs[0] : null;
}

// ---- validation -------------------------------------------------------------------------------

/** JSON Schema (draft-07, for Ajv) of a structural OpenAPI v3 schema node. */
function toJsonSchema(s, atRoot = true) {
  if (!isObj(s)) return {};
  const out = {};
  if (s['x-kubernetes-int-or-string']) out.type = ['integer', 'string'];
  else if (s.type) out.type = s.type;
  if (s.nullable && out.type) out.type = [].concat(out.type, 'null');
  for (const k of ['required', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'multipleOf']) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  if (s.enum) out.enum = s.nullable ? [...s.enum, null] : s.enum;
  if (s.exclusiveMinimum === true && s.minimum !== undefined) { out.exclusiveMinimum = s.minimum; delete out.minimum; }
  if (s.exclusiveMaximum === true && s.maximum !== undefined) { out.exclusiveMaximum = s.maximum; delete out.maximum; }
  if (s.properties) {
    out.properties = {};
    for (const [k, v] of Object.entries(s.properties)) {
      // ObjectMeta is validated by the API server's own rules, not the CRD's schema.
      out.properties[k] = atRoot && k === 'metadata' ? { type: 'object' } : toJsonSchema(v, false);
    }
  }
  if (isObj(s.additionalProperties)) out.additionalProperties = toJsonSchema(s.additionalProperties, false);
  if (s.items) out.items = toJsonSchema(s.items, false);
  for (const k of ['allOf', 'anyOf', 'oneOf']) if (s[k]) out[k] = s[k].map((x) => toJsonSchema(x, false));
  if (s.not) out.not = toJsonSchema(s.not, false);
  return out;
}

let ajv;
/** The compiled validator of a CRD version (cached per schema object). */
function validatorOf(version) {
  if (compiled.has(version.schema)) return compiled.get(version.schema);
  if (!ajv) ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, code: { optimize: false } });
  const fn = ajv.compile(toJsonSchema(version.schema));
  compiled.set(version.schema, fn);
  return fn;
}

const fieldPath = (instancePath) => instancePath.split('/').slice(1).map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'))
  .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
const quoted = (v) => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v));

/** Ajv errors as the API server's field errors: [{reason, message, field}]. */
function toCauses(errors, obj) {
  const causes = [];
  const at = (p) => p.split(/\.|\[|\]/).filter(Boolean).reduce((o, k) => (o == null ? o : o[k]), obj);
  for (const e of errors) {
    let field = fieldPath(e.instancePath);
    const v = at(field);
    let reason = 'FieldValueInvalid';
    let message;
    switch (e.keyword) {
      case 'required':
        field = field ? `${field}.${e.params.missingProperty}` : e.params.missingProperty;
        reason = 'FieldValueRequired'; message = 'Required value'; break;
      case 'type': {
        const t = jsonType(v);
        reason = 'FieldValueTypeInvalid';
        message = `Invalid value: "${t}": ${field} in body must be of type ${[].concat(e.params.type).join(',')}: "${t}"`; break;
      }
      case 'enum':
        reason = 'FieldValueNotSupported';
        message = `Unsupported value: ${quoted(v)}: supported values: ${e.params.allowedValues.filter((x) => x !== null).map(quoted).join(', ')}`; break;
      case 'pattern': message = `Invalid value: ${quoted(v)}: ${field} in body should match '${e.params.pattern}'`; break;
      case 'minimum': message = `Invalid value: ${v}: ${field} in body should be greater than or equal to ${e.params.limit}`; break;
      case 'maximum': message = `Invalid value: ${v}: ${field} in body should be less than or equal to ${e.params.limit}`; break;
      case 'exclusiveMinimum': message = `Invalid value: ${v}: ${field} in body should be greater than ${e.params.limit}`; break;
      case 'exclusiveMaximum': message = `Invalid value: ${v}: ${field} in body should be less than ${e.params.limit}`; break;
      case 'minLength': message = `Invalid value: ${quoted(v)}: ${field} in body should be at least ${e.params.limit} chars long`; break;
      case 'maxLength': reason = 'FieldValueTooLong'; message = `Too long: may not be more than ${e.params.limit} bytes`; break;
      case 'minItems': message = `Invalid value: ${Array.isArray(v) ? v.length : 0}: ${field} in body should have at least ${e.params.limit} items`; break;
      case 'maxItems': reason = 'FieldValueTooMany'; message = `Too many: ${Array.isArray(v) ? v.length : 0}: must have at most ${e.params.limit} items`; break;
      default: message = `Invalid value: ${quoted(v)}: ${field} in body ${e.message}`;
    }
    if (!causes.some((c) => c.field === field && c.message === message)) causes.push({ reason, message, field });
  }
  return causes;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/** ObjectMeta rules every object meets (name, labels and annotations as strings). */
function metaCauses(meta) {
  const causes = [];
  if (!meta || !meta.name) causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  else if (!DNS1123_SUBDOMAIN.test(meta.name) || meta.name.length > 253) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(meta.name)}: ${SUBDOMAIN_MSG}`, field: 'metadata.name' });
  for (const k of ['labels', 'annotations']) {
    for (const [key, v] of Object.entries((meta && meta[k]) || {})) {
      if (typeof v !== 'string') causes.push({ reason: 'FieldValueTypeInvalid', message: `Invalid value: "${jsonType(v)}": must be a string`, field: `metadata.${k}.${key}` });
    }
  }
  return causes;
}

/** Validate a (pruned) object against its CRD version: the causes, empty when valid. */
function validate(version, obj) {
  const fn = validatorOf(version);
  const causes = metaCauses(obj.metadata);
  if (!fn(obj)) causes.push(...toCauses(fn.errors, obj));
  return causes;
}

// ---- OpenAPI v3 -------------------------------------------------------------------------------

const reverseGroup = (g) => g.split('.').reverse().join('.');
const defName = (group, version, kind) => `${reverseGroup(group || 'io.k8s.api.core')}.${version}.${kind}`;
const STATUS_DEF = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';
const META_DEF = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

const param = (name, type, description) => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });
const WRITE_PARAMS = [
  param('dryRun', 'string', 'When present, indicates that modifications should not be persisted.'),
  param('fieldManager', 'string', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  param('fieldValidation', 'string', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.'),
];

/**
 * An OpenAPI v3 document for one group/version, as /openapi/v3/apis/<group>/<version> serves it:
 * paths with the write operations' query parameters (kubectl looks for `fieldValidation` on the
 * PATCH operation of a kind to decide whether the server validates) and component schemas.
 */
function openapiV3(groupVersion, resources) {
  const doc = { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths: {}, components: { schemas: {} } };
  doc.components.schemas[STATUS_DEF] = { type: 'object', properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, code: { type: 'integer' }, message: { type: 'string' }, reason: { type: 'string' }, status: { type: 'string' }, details: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } }, 'x-kubernetes-group-version-kind': [{ group: '', kind: 'Status', version: 'v1' }] };
  doc.components.schemas[META_DEF] = OBJECT_META_SCHEMA;
  const [group, version] = groupVersion.includes('/') ? groupVersion.split('/') : ['', groupVersion];
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  for (const r of resources) {
    const gvk = { group, version, kind: r.kind };
    const ref = { $ref: `#/components/schemas/${defName(group, version, r.kind)}` };
    const schema = JSON.parse(JSON.stringify(r.schema || { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }));
    schema.properties = { ...(schema.properties || {}), metadata: { $ref: `#/components/schemas/${META_DEF}` } };
    schema['x-kubernetes-group-version-kind'] = [gvk];
    doc.components.schemas[defName(group, version, r.kind)] = schema;
    const ok = { 200: { description: 'OK', content: { 'application/json': { schema: ref } } } };
    const op = (action, extra = {}) => ({ operationId: `${action}${r.kind}`, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, responses: ok, ...extra });
    const body = (types) => ({ requestBody: { content: Object.fromEntries(types.map((t) => [t, { schema: ref }])), required: true } });
    const base = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
    doc.paths[base] = {
      get: op('list', { parameters: [param('fieldSelector', 'string'), param('labelSelector', 'string'), param('watch', 'boolean')] }),
      post: op('post', { parameters: WRITE_PARAMS, ...body(['application/json', 'application/yaml']) }),
    };
    const named = {
      get: op('get'),
      put: op('put', { parameters: WRITE_PARAMS, ...body(['application/json', 'application/yaml']) }),
      patch: op('patch', { parameters: [...WRITE_PARAMS, param('force', 'boolean', 'Force is going to "force" Apply requests.')], ...body(['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json']) }),
      delete: op('delete', { parameters: [param('dryRun', 'string'), param('propagationPolicy', 'string')] }),
    };
    doc.paths[`${base}/{name}`] = named;
    if (r.status) doc.paths[`${base}/{name}/status`] = { get: op('get'), put: named.put, patch: named.patch };
  }
  return doc;
}

const hashOf = (doc) => crypto.createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();

module.exports = { loadCrd, typeOf, rootSchema, prune, typedCheck, validate, openapiV3, hashOf, OBJECT_META_SCHEMA, DEDUCED, jsonType };
