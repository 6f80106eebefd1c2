// Holds every fake to the vendor's API description: each request a fake receives, and each
// answer it gives, is checked against the description kept under tests/contracts/ (see the
// README there for where each file comes from).
//
// Validation is Ajv's (JSON Schema draft-04, the dialect Swagger 2.0 schemas are written in,
// with ajv-formats for date-time, uuid, int32...). What Swagger 2.0 adds on top of JSON Schema
// is read here from the description itself: the operation for method + path (basePath and path
// templates), path/query/header/formData parameters with their types and collectionFormat, the
// media type against `consumes`/`produces`, the body parameter's schema, the answer's schema by
// status, readOnly (never in a request), `discriminator` with x-ms-discriminator-value, and
// x-nullable. Everything a description does not state stays allowed, with two decisions:
//   - answers are closed: an object with `properties` and no `additionalProperties` takes no
//     other property, so a fake cannot invent fields the platform does not send (requests stay
//     open, as the descriptions are: the platforms' binders ignore unknown fields);
//   - `null` is only a value where the description says x-nullable (Swagger 2.0 has no other
//     way to say it), so `null` in a PATCH body is a violation.
//
// A violation is recorded in the ledger below with the method, the path, the operation, the
// place and the rule; the fake answers as the platform would. The test helpers
// (tests/integration/helpers.js) fail the test whose run caused it: the ledger finds the run
// from the TCP connection the request came on (/proc: socket -> process -> its
// FLINK_DEPLOY_TEST_RUN variable), so concurrent tests each get their own.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const Ajv = require('ajv-draft-04');
const addFormats = require('ajv-formats');

const ROOT = path.join(__dirname, '..', 'contracts');
const HDI = 'azure/specification/hdinsight/resource-manager/Microsoft.HDInsight/HDInsightOnAks/preview/2023-06-01-preview/hdinsight.json';
const MODES = { request: 'https://request.contracts.test/', answer: 'https://answer.contracts.test/' };
const RUN_VARIABLE = 'FLINK_DEPLOY_TEST_RUN';

/** What each fake is held to. */
const CONTRACTS = {
  vvp: {
    title: 'Ververica Platform',
    files: ['vvp/appmanager-2.4.3.json', 'vvp/platform-2.4.3.namespaces.extract.json', 'documented/vvp-artifacts.json'],
    // The description gives PUT an unconstrained ObjectNode body; the platform binds it as a
    // Deployment (the operation is "Create or replace the deployment").
    bodyAs: { upsertDeploymentUsingPUT: 'vvp/appmanager-2.4.3.json#/definitions/Deployment' },
    // springfox lists no 400/409/415/5xx; VVP's error bodies are JSON with a `message`.
    undocumentedError: { type: 'object', required: ['message'], properties: { message: { type: 'string' } }, additionalProperties: false },
    // What the platform sends that the swagger leaves out. restoreStrategy.allowNonRestoredState:
    // Ververica's "Deployments" page (deployment defaults: `restoreStrategy: {allowNonRestoredState:
    // false, kind: LATEST_STATE}`) and the VvpDeployment CRD schema (seed 002).
    extras: { 'vvp/appmanager-2.4.3.json': { DeploymentRestoreStrategy: { allowNonRestoredState: { type: 'boolean' } } } },
  },
  arm: {
    title: 'Azure Resource Manager (HDInsight on AKS)',
    files: [HDI, 'documented/arm-async-operation.json'],
    // nextLink (x-ms-pageable) is opaque: the client follows it as given.
    extraQuery: ['$skipToken'],
  },
  keyvault: {
    title: 'Azure Key Vault',
    files: ['azure/keyvault/secrets-2025-07-01.extract.json'],
    extraQuery: ['$skiptoken'],
  },
  imds: { title: 'Managed identity endpoint (IMDS)', files: ['azure/imds/imds-2023-07-01.extract.json'] },
  entra: { title: 'Microsoft Entra ID token endpoint', files: ['documented/entra-token.json'], rules: entraRules },
  oidc: { title: 'Azure DevOps OIDC token endpoint', files: ['documented/devops-oidc.json'] },
};

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => JSON.parse(JSON.stringify(v));
const show = (v) => {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
};
const ptrUnescape = (s) => s.replace(/~1/g, '/').replace(/~0/g, '~');

// ---- loading and normalising descriptions (once per process) ------------------------------

const raw = new Map(); // file (relative to ROOT) -> parsed description, discriminators applied

function loadRaw(file) {
  if (!raw.has(file)) {
    const doc = JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    for (const c of Object.values(CONTRACTS)) {
      for (const [def, props] of Object.entries((c.extras || {})[file] || {})) {
        doc.definitions[def].properties = { ...doc.definitions[def].properties, ...props };
      }
    }
    raw.set(file, applyDiscriminators(doc));
  }
  return raw.get(file);
}

/** Absolute form of a $ref met in `file`, under a mode's base URI. */
function absRef(ref, file, mode) {
  const u = new URL(ref, MODES[mode] + file);
  return u.href;
}

/** file and JSON pointer of an absolute ref. */
function splitRef(abs, mode) {
  const [doc, frag = ''] = abs.split('#');
  return { file: doc.slice(MODES[mode].length), pointer: frag };
}

function atPointer(doc, pointer) {
  let cur = doc;
  for (const part of pointer.split('/').slice(1)) {
    if (cur === undefined) return undefined;
    cur = cur[ptrUnescape(decodeURIComponent(part))];
  }
  return cur;
}

/**
 * Swagger 2.0 polymorphism: a definition with `discriminator: p` stands for any definition whose
 * allOf names it, chosen by p (the subtype's name, or its x-ms-discriminator-value). Rewritten
 * into plain JSON Schema: the base becomes anyOf its subtypes, each subtype pins p to its value
 * and inherits from a copy of the base without the discriminator.
 */
function applyDiscriminators(doc) {
  const defs = doc.definitions || {};
  for (const [base, schema] of Object.entries(defs)) {
    if (typeof schema.discriminator !== 'string') continue;
    const prop = schema.discriminator;
    const own = `#/definitions/${base}`;
    const subs = Object.entries(defs).filter(([, s]) => Array.isArray(s.allOf) && s.allOf.some((m) => m.$ref === own));
    if (!subs.length) { delete schema.discriminator; continue; }
    const plain = `${base}__base`;
    defs[plain] = { ...schema };
    delete defs[plain].discriminator;
    for (const [name, s] of subs) {
      s.allOf = s.allOf.map((m) => (m.$ref === own ? { $ref: `#/definitions/${plain}` } : m));
      const value = s['x-ms-discriminator-value'] || name;
      s.properties = { ...(s.properties || {}), [prop]: { type: 'string', enum: [value] } };
      s.required = [...new Set([...(s.required || []), prop])];
    }
    defs[base] = { description: schema.description, anyOf: subs.map(([name]) => ({ $ref: `#/definitions/${name}` })) };
  }
  return doc;
}

const SCHEMA_MAPS = new Set(['properties', 'definitions']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const REF_SIBLINGS_IGNORED = new Set(['description', 'title', 'example']);

const normalised = new Map(); // mode + abs ref -> normalised schema

/** The normalised schema an absolute ref points at. */
function schemaAt(abs, mode, depth = 0) {
  const key = `${mode} ${abs}`;
  if (!normalised.has(key)) {
    if (depth > 20) throw new Error(`allOf chain too deep at ${abs}`);
    const { file, pointer } = splitRef(abs, mode);
    const target = atPointer(loadRaw(file), pointer);
    if (target === undefined) throw new Error(`${abs}: no such place in ${file}`);
    normalised.set(key, null); // a cycle through allOf reads as "not flattenable"
    normalised.set(key, tx(target, file, mode, depth + 1));
  }
  return normalised.get(key);
}

/**
 * One schema, for requests or answers: refs made absolute, a $ref with meaningful siblings
 * wrapped in allOf (Swagger 2.0 keeps readOnly and friends beside a $ref), x-nullable turned
 * into a null type, object inheritance (allOf of objects) flattened, readOnly properties not
 * required in requests, and answers closed.
 */
function tx(s, file, mode, depth = 0) {
  if (!isObj(s)) return s;
  if (s.$ref !== undefined) {
    const siblings = Object.keys(s).filter((k) => k !== '$ref' && !REF_SIBLINGS_IGNORED.has(k) && !k.startsWith('x-'));
    if (!siblings.length) return { $ref: absRef(s.$ref, file, mode) };
    const { $ref, ...rest } = s;
    s = { ...rest, allOf: [{ $ref }, ...(rest.allOf || [])] };
  }
  let out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-') || k === 'discriminator' || k === 'example') continue;
    if (SCHEMA_MAPS.has(k) && isObj(v)) out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, tx(x, file, mode, depth)]));
    else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) out[k] = v.map((x) => tx(x, file, mode, depth));
    else if ((k === 'additionalProperties' || k === 'not') && isObj(v)) out[k] = tx(v, file, mode, depth);
    else if (k === 'items') out[k] = Array.isArray(v) ? v.map((x) => tx(x, file, mode, depth)) : tx(v, file, mode, depth);
    else out[k] = v;
  }
  if (s['x-nullable'] === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (out.allOf && out.properties) out = flatten(out, mode, depth);
  if (mode === 'request' && Array.isArray(out.required) && out.properties) {
    out.required = out.required.filter((n) => !(out.properties[n] && out.properties[n].readOnly === true));
  }
  if (mode === 'answer' && isObj(out.properties) && out.additionalProperties === undefined && !out.allOf && !out.anyOf && !out.oneOf) {
    out.additionalProperties = false;
  }
  return out;
}

/** The properties an object schema has, through its allOf parents; null if not a plain object. */
function objectParts(schema, mode, depth) {
  if (!isObj(schema) || schema.anyOf || schema.oneOf || schema.not) return null;
  if (schema.type !== undefined && schema.type !== 'object') return null;
  let properties = {};
  let required = [];
  for (const m of schema.allOf || []) {
    const r = m.$ref ? schemaAt(m.$ref, mode, depth) : m;
    const parts = objectParts(r, mode, depth);
    if (!parts) return null;
    properties = { ...properties, ...parts.properties };
    required = [...required, ...parts.required];
  }
  return { properties: { ...properties, ...(schema.properties || {}) }, required: [...required, ...(schema.required || [])] };
}

function flatten(schema, mode, depth) {
  const parts = objectParts({ ...schema, additionalProperties: undefined }, mode, depth);
  if (!parts) return schema;
  const { allOf, ...rest } = schema;
  const out = { ...rest, type: 'object', properties: parts.properties };
  if (parts.required.length) out.required = [...new Set(parts.required)];
  if (mode === 'answer') delete out.additionalProperties; // closed again by the caller
  return out;
}

let ajvs;
const registered = new Set();

function ajvFor(mode) {
  if (!ajvs) {
    const make = (m) => {
      const ajv = new Ajv({ allErrors: true, strict: false, logger: false, validateSchema: false, unicodeRegExp: false });
      addFormats(ajv);
      // Formats the descriptions name that ajv-formats does not know: checked by type only.
      for (const f of ['unixtime', 'arm-id', 'base64url']) ajv.addFormat(f, true);
      ajv.addKeyword(m === 'request'
        ? {
          keyword: 'readOnly',
          schemaType: 'boolean',
          validate: function readOnly(flag) {
            if (!flag) return true;
            readOnly.errors = [{ keyword: 'readOnly', message: 'is readOnly in the description: the server sets it, a request must not send it', params: {} }];
            return false;
          },
        }
        : { keyword: 'readOnly', schemaType: 'boolean' });
      return ajv;
    };
    ajvs = { request: make('request'), answer: make('answer') };
  }
  return ajvs[mode];
}

/** Register a normalised copy of every schema place of a description, and what it refers to. */
function register(file, mode) {
  const key = `${mode} ${file}`;
  if (registered.has(key)) return;
  registered.add(key);
  const doc = loadRaw(file);
  const refs = new Set();
  const collect = (x) => {
    if (Array.isArray(x)) x.forEach(collect);
    else if (isObj(x)) for (const [k, v] of Object.entries(x)) { if (k === '$ref' && typeof v === 'string') refs.add(absRef(v, file, mode).split('#')[0]); else if (!k.startsWith('x-ms-examples')) collect(v); }
  };
  const norm = { definitions: {}, parameters: {} };
  for (const [n, d] of Object.entries(doc.definitions || {})) norm.definitions[n] = tx(d, file, mode);
  for (const [n, p] of Object.entries(doc.parameters || {})) norm.parameters[n] = p.in === 'body' ? { ...p, schema: tx(p.schema, file, mode) } : paramSchema(p);
  collect(doc.definitions);
  collect(doc.parameters);
  for (const item of Object.values(doc.paths || {})) collect(item);
  ajvFor(mode).addSchema(norm, MODES[mode] + file);
  for (const r of refs) {
    const other = r.slice(MODES[mode].length);
    if (other && other !== file) register(other, mode);
  }
}

/** A non-body parameter as a JSON Schema for its (coerced) value. */
function paramSchema(p) {
  const out = {};
  for (const k of ['type', 'format', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems', 'multipleOf']) {
    if (p[k] !== undefined) out[k] = p[k];
  }
  if (p.items) out.items = paramSchema(p.items);
  if (out.type === 'file') delete out.type;
  return out;
}

// ---- routing ------------------------------------------------------------------------------

function loadContract(name) {
  const spec = CONTRACTS[name];
  if (!spec) throw new Error(`no contract named ${name}`);
  if (spec.routes) return spec;
  spec.routes = [];
  for (const file of spec.files) {
    const doc = loadRaw(file);
    const base = (doc.basePath || '/').replace(/\/$/, '');
    for (const [template, item] of Object.entries(doc.paths || {})) {
      const full = base + template;
      const names = [];
      const re = full.split(/(\{[^}]+\})/).map((part) => {
        const m = /^\{([^}]+)\}$/.exec(part);
        if (m) { names.push(m[1]); return '([^/]*)'; }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }).join('');
      spec.routes.push({ file, doc, template: full, item, names, regex: new RegExp(`^${re}$`), literal: full.replace(/\{[^}]+\}/g, '').length });
    }
  }
  return spec;
}

function resolveParam(p, file) {
  if (!p.$ref) return { p, file };
  const abs = absRef(p.$ref, file, 'request');
  const { file: f, pointer } = splitRef(abs, 'request');
  return resolveParam(atPointer(loadRaw(f), pointer), f);
}

/** The operation's parameters (path-level merged with operation-level), resolved. */
function operationOf(spec, route, method) {
  const op = route.item[method.toLowerCase()];
  if (!op) return null;
  if (!op.__contract) {
    const byKey = new Map();
    for (const p0 of [...(route.item.parameters || []), ...(op.parameters || [])]) {
      const { p, file } = resolveParam(p0, route.file);
      byKey.set(`${p.in} ${p.in === 'header' ? p.name.toLowerCase() : p.name}`, { p, file });
    }
    const params = [...byKey.values()];
    Object.defineProperty(op, '__contract', {
      value: {
        id: op.operationId || `${method} ${route.template}`,
        params,
        consumes: op.consumes || route.doc.consumes,
        produces: op.produces || route.doc.produces,
        validators: new Map(),
      },
    });
  }
  return op;
}

/** A compiled validator for a schema place, cached per operation. */
function validator(op, key, mode, build) {
  const c = op.__contract;
  const k = `${mode} ${key}`;
  if (!c.validators.has(k)) c.validators.set(k, ajvFor(mode).compile(build()));
  return c.validators.get(k);
}

// ---- values -------------------------------------------------------------------------------

function coerce(value, p) {
  const t = p.type;
  if (t === 'integer') return /^-?\d+$/.test(value) ? Number(value) : value;
  if (t === 'number') return value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value;
  if (t === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

function arrayValues(values, p) {
  const sep = { csv: ',', ssv: ' ', tsv: '\t', pipes: '|' }[p.collectionFormat || 'csv'];
  const items = p.collectionFormat === 'multi' ? values : values.flatMap((v) => v.split(sep));
  return items.map((v) => coerce(v, p.items || {}));
}

function mediaType(ct) {
  return String(ct || '').split(';')[0].trim().toLowerCase();
}

let pyYaml;
/** YAML to a value with Python's PyYAML (part of this machine's baseline): {value}|{error}|{unsupported}. */
function parseYaml(text) {
  if (pyYaml === false) return { unsupported: true };
  try {
    const out = execFileSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
    pyYaml = true;
    return { value: JSON.parse(out.toString()) };
  } catch (e) {
    const err = String(e.stderr || e.message);
    if (/No module named|not found|ENOENT/.test(err)) { pyYaml = false; return { unsupported: true }; }
    return { error: err.split('\n').filter(Boolean).pop() };
  }
}

/** The parts of a multipart/form-data body: [{name, filename?}]; null if it cannot be read. */
function multipartParts(ct, body) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(String(ct || ''));
  if (!m) return null;
  const boundary = Buffer.from(`--${m[1] || m[2]}`);
  const parts = [];
  let at = body.indexOf(boundary);
  if (at < 0) return null;
  for (;;) {
    const after = at + boundary.length;
    if (body.slice(after, after + 2).toString() === '--') return parts;
    const headEnd = body.indexOf('\r\n\r\n', after);
    if (headEnd < 0) return null;
    const head = body.slice(after, headEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headEnd);
    if (next < 0) return null;
    const name = /name="([^"]*)"/i.exec(head);
    const filename = /filename="([^"]*)"/i.exec(head);
    parts.push({ name: name && name[1], filename: filename ? filename[1] : undefined });
    at = next + 2;
  }
}

/** Ajv errors as violations: the place in the body, the rule, the value found there. */
function fromAjv(errors, where, data) {
  const seen = new Set();
  const out = [];
  for (const e of errors || []) {
    // anyOf over subtypes: the branch errors say more than the summary.
    if (e.keyword === 'anyOf' && errors.length > 1) continue;
    let place = e.instancePath;
    let rule = e.message;
    if (e.keyword === 'additionalProperties') {
      place += `/${e.params.additionalProperty}`;
      rule = 'is not in the description (no such property)';
    } else if (e.keyword === 'required') {
      place += `/${e.params.missingProperty}`;
      rule = 'is required by the description';
    } else if (e.keyword === 'type' && atPointer(data, e.instancePath) === null) {
      rule = `is null, which the description does not allow (no x-nullable; Swagger 2.0 cannot say nullable): it must be ${e.params.type}`;
    } else if (e.keyword === 'type') {
      rule = `must be ${e.params.type}, as the description says`;
    } else if (e.keyword === 'enum') {
      rule = `must be one of ${e.params.allowedValues.map((x) => JSON.stringify(x)).join(', ')}`;
    } else if (e.keyword === 'format') {
      rule = `must be a ${e.params.format}`;
    }
    const value = e.keyword === 'required' || e.keyword === 'additionalProperties'
      ? (e.keyword === 'additionalProperties' ? atPointer(data, place) : undefined)
      : atPointer(data, e.instancePath);
    const w = `${where}${place.replace(/\//g, '.')}`;
    const key = `${w} ${rule}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ where: w, rule, value, keyword: e.keyword, pointer: e.instancePath, wanted: e.params && e.params.type });
  }
  return out;
}

/**
 * Whether a platform that binds JSON to typed objects (Jackson, System.Text.Json) could still
 * read the value: a scalar given for another scalar type is coerced (1.2 becomes "1.2"), null is
 * taken as absent; an object for a string, a value outside an enum or a malformed uuid/date
 * cannot be bound.
 */
function bindable(v) {
  if (v.keyword === 'enum' || v.keyword === 'format') return false;
  if (v.keyword !== 'type') return true;
  const found = Array.isArray(v.value) ? 'array' : v.value === null ? 'null' : typeof v.value;
  const wanted = String(v.rule);
  const container = (t) => t === 'object' || t === 'array';
  if (found === 'null') return true;
  return container(found) === (/must be (object|array)/.test(wanted));
}

/**
 * The body as a platform binding it would hold it: scalars given for another scalar type are
 * coerced to the described type (1.2 -> "1.2", "2" -> 2, true -> "true"). Nulls stay (a merge
 * patch deletes with them). Used by fakes so their answers show what the platform would store.
 */
function asBound(value, ctx) {
  const fixes = (ctx.violations || []).filter((x) => x.keyword === 'type' && x.pointer !== undefined && x.value !== null && !x.unbindable);
  if (!fixes.length) return value;
  const out = clone(value);
  for (const f of fixes) {
    const parts = f.pointer.split('/').slice(1).map((p) => ptrUnescape(p));
    const key = parts.pop();
    const parent = parts.reduce((o, k) => (o === undefined ? o : o[k]), out);
    if (parent === undefined) continue;
    const wanted = String(f.wanted).split(',')[0];
    const v = parent[key];
    if (wanted === 'string') parent[key] = String(v);
    else if ((wanted === 'integer' || wanted === 'number') && typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) parent[key] = Number(v);
    else if (wanted === 'boolean' && (v === 'true' || v === 'false')) parent[key] = v === 'true';
  }
  return out;
}

// ---- documented rules Swagger 2.0 cannot state ---------------------------------------------

/** Entra client credentials: a secret or an assertion (with its type), not both, not neither. */
function entraRules({ form }) {
  const out = [];
  if (!form) return out;
  const secret = form.has('client_secret');
  const assertion = form.has('client_assertion');
  if (secret === assertion) out.push({ where: 'body', rule: 'needs exactly one of client_secret or client_assertion (client credentials grant)', value: [...form.keys()] });
  if (assertion && !form.has('client_assertion_type')) out.push({ where: 'body.client_assertion_type', rule: 'is required with client_assertion' });
  if (!assertion && form.has('client_assertion_type')) out.push({ where: 'body.client_assertion_type', rule: 'is only sent with client_assertion' });
  for (const [k] of form) if ([...form.keys()].filter((x) => x === k).length > 1) out.push({ where: `body.${k}`, rule: 'is sent more than once' });
  return out;
}

// ---- checking a request and its answer ----------------------------------------------------

/**
 * Check one request. `req` is Node's IncomingMessage, `body` the raw bytes. Returns the context
 * for the answer: {operation, violations, unbindable}.
 */
function checkRequest(name, { method, url, headers, body, parsedBody }) {
  const spec = loadContract(name);
  register(spec.files[0], 'request');
  for (const f of spec.files) register(f, 'request');
  const u = new URL(url, 'http://fake');
  const ctx = { contract: name, title: spec.title, method, path: u.pathname + u.search, violations: [], op: null };
  const v = (where, rule, value, extra = {}) => ctx.violations.push({ where, rule, value, ...extra });

  const matches = spec.routes.map((r) => ({ r, m: r.regex.exec(u.pathname) })).filter((x) => x.m).sort((a, b) => b.r.literal - a.r.literal);
  if (!matches.length) { v('path', `no operation in the description matches ${u.pathname}`); return ctx; }
  const hit = matches.find((x) => x.r.item[method.toLowerCase()]);
  if (!hit) {
    v('method', `the description has no ${method} for ${matches[0].r.template} (it has ${Object.keys(matches[0].r.item).filter((k) => k !== 'parameters').map((k) => k.toUpperCase()).join(', ')})`);
    return ctx;
  }
  const route = hit.r;
  const op = operationOf(spec, route, method);
  const c = op.__contract;
  ctx.op = op;
  ctx.operation = c.id;
  ctx.template = route.template;

  const checkValue = (p, value, where) => {
    const val = validator(op, `param ${p.in} ${p.name}`, 'request', () => paramSchema(p));
    if (!val(value)) for (const e of fromAjv(val.errors, where, value)) v(e.where, e.rule, e.value, { keyword: e.keyword });
  };

  // path parameters
  route.names.forEach((n, i) => {
    const entry = c.params.find(({ p }) => p.in === 'path' && p.name === n);
    let value;
    try { value = decodeURIComponent(hit.m[i + 1]); } catch (e) { v(`path parameter ${n}`, 'is not valid percent-encoding', hit.m[i + 1]); return; }
    if (entry) checkValue(entry.p, coerce(value, entry.p), `path parameter ${n}`);
  });

  // query parameters
  const q = u.searchParams;
  const declared = new Set();
  for (const { p } of c.params.filter((x) => x.p.in === 'query')) {
    declared.add(p.name);
    const values = q.getAll(p.name);
    if (!values.length) { if (p.required) v(`query parameter ${p.name}`, 'is required by the description'); continue; }
    if (p.type === 'array') checkValue(p, arrayValues(values, p), `query parameter ${p.name}`);
    else if (values.length > 1) v(`query parameter ${p.name}`, 'is sent more than once', values);
    else checkValue(p, coerce(values[0], p), `query parameter ${p.name}`);
  }
  for (const k of new Set(q.keys())) {
    if (!declared.has(k) && !(spec.extraQuery || []).includes(k)) v(`query parameter ${k}`, 'is not in the description', q.get(k));
  }

  // header parameters
  for (const { p } of c.params.filter((x) => x.p.in === 'header')) {
    const value = headers[p.name.toLowerCase()];
    if (value === undefined) { if (p.required) v(`header ${p.name}`, 'is required by the description'); continue; }
    checkValue(p, coerce(String(value), p), `header ${p.name}`);
  }

  // body
  const bodyParam = c.params.find(({ p }) => p.in === 'body');
  const formParams = c.params.filter(({ p }) => p.in === 'formData');
  const has = body && body.length > 0;
  const ct = mediaType(headers['content-type']);
  if (has && !bodyParam && !formParams.length) v('body', `the operation takes no body (${body.length} bytes sent)`);
  if (has && (bodyParam || formParams.length)) {
    if (!ct) v('header Content-Type', `is missing; the description consumes ${(c.consumes || []).join(', ')}`);
    else if (c.consumes && !c.consumes.includes(ct)) v('header Content-Type', `${ct} is not one the operation consumes (${c.consumes.join(', ')})`, ct);
  }
  if (bodyParam && !has && bodyParam.p.required) v('body', 'is required by the description');
  if (bodyParam && has) {
    let value = parsedBody;
    if (value === undefined) {
      const text = body.toString('utf8');
      if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
        const y = parseYaml(text);
        if (y.error) v('body', `is not YAML: ${y.error}`);
        value = y.value;
      } else {
        try { value = JSON.parse(text); } catch (e) { v('body', `is not JSON: ${e.message}`); }
      }
    }
    if (value !== undefined) {
      const as = spec.bodyAs && spec.bodyAs[c.id];
      const val = validator(op, 'body', 'request', () => (as ? { $ref: absRef(as, '', 'request') } : tx(bodyParam.p.schema, bodyParam.file, 'request')));
      if (!val(value)) {
        for (const e of fromAjv(val.errors, 'body', value)) v(e.where, e.rule, e.value, { keyword: e.keyword, pointer: e.pointer, wanted: e.wanted, unbindable: !bindable(e) });
      }
    }
  }
  let form;
  if (formParams.length && has) {
    const fields = new Map();
    if (ct === 'application/x-www-form-urlencoded') {
      form = new URLSearchParams(body.toString('utf8'));
      for (const [k, val] of form) fields.set(k, [...(fields.get(k) || []), { value: val }]);
    } else if (ct === 'multipart/form-data') {
      const parts = multipartParts(headers['content-type'], body);
      if (!parts) v('body', 'is not a readable multipart/form-data body');
      for (const part of parts || []) fields.set(part.name, [...(fields.get(part.name) || []), { filename: part.filename }]);
    }
    for (const { p } of formParams) {
      const got = fields.get(p.name);
      fields.delete(p.name);
      if (!got) { if (p.required) v(`form field ${p.name}`, 'is required by the description'); continue; }
      if (p.type === 'file') { if (got.some((g) => g.filename === undefined)) v(`form field ${p.name}`, 'must be a file (a part with a filename)'); continue; }
      if (got.length > 1) v(`form field ${p.name}`, 'is sent more than once');
      checkValue(p, coerce(got[0].value, p), `form field ${p.name}`);
    }
    for (const k of fields.keys()) v(`form field ${k}`, 'is not in the description');
  } else if (formParams.length && !has && formParams.some(({ p }) => p.required)) {
    v('body', 'is required by the description (form fields)');
  }
  if (spec.rules) for (const r of spec.rules({ form, ctx })) v(r.where, r.rule, r.value);
  ctx.unbindable = ctx.violations.filter((x) => x.unbindable);
  return ctx;
}

/** Check the answer to a request checked with checkRequest. */
function checkAnswer(ctx, status, headers, body) {
  const out = [];
  if (!ctx.op) return out;
  const spec = CONTRACTS[ctx.contract];
  for (const f of spec.files) register(f, 'answer');
  const op = ctx.op;
  const c = op.__contract;
  const responses = op.responses || {};
  let response = responses[String(status)] || responses.default;
  let schema;
  let documented;
  if (!response) {
    if (status >= 400 && spec.undocumentedError) {
      response = { schema: spec.undocumentedError };
      schema = spec.undocumentedError;
      documented = `${spec.title}'s documented error body`;
    } else {
      out.push({ where: 'status', rule: `${status} is not an answer the description gives for ${ctx.operation} (it has ${Object.keys(responses).join(', ')})`, value: status });
      return out;
    }
  }
  // springfox writes "201 Created" without a schema; the platform sends the resource, as for 200.
  if (!response.schema && status === 201 && responses['200'] && responses['200'].schema) response = responses['200'];
  const text = body ? body.toString('utf8') : '';
  if (!response.schema || !text) return out;
  const ct = mediaType(headers['content-type']);
  if (c.produces && !c.produces.includes(ct)) out.push({ where: 'header Content-Type', rule: `${ct || 'none'} is not one the operation produces (${c.produces.join(', ')})`, value: ct });
  let value;
  try { value = JSON.parse(text); } catch (e) { out.push({ where: 'body', rule: `is not JSON: ${e.message}` }); return out; }
  const key = schema ? 'undocumented error' : `answer ${responses[String(status)] ? status : 'default'}`;
  const val = validator(op, key, 'answer', () => (schema ? clone(schema) : tx(response.schema, fileOf(ctx), 'answer')));
  if (!val(value)) for (const e of fromAjv(val.errors, 'body', value)) out.push(schema ? { ...e, rule: `${e.rule} (${documented})` } : e);
  return out;
}

function fileOf(ctx) {
  const spec = CONTRACTS[ctx.contract];
  const route = spec.routes.find((r) => r.template === ctx.template);
  return route.file;
}

// ---- the ledger ---------------------------------------------------------------------------

const ledger = [];
const portLinks = new Map();

/** A proxy in this process tells the ledger which client port a tunnel's upstream port serves. */
function linkPorts(upstreamLocalPort, clientPort) { portLinks.set(upstreamLocalPort, clientPort); }
function unlinkPorts(upstreamLocalPort) { portLinks.delete(upstreamLocalPort); }

/** The test run (FLINK_DEPLOY_TEST_RUN of the client process) a socket's peer belongs to. */
function runOf(socket) {
  if (!socket) return undefined;
  if (socket.__contractRun !== undefined) return socket.__contractRun || undefined;
  let run = '';
  try { run = runOfPort(socket.remotePort, 0) || ''; } catch (e) { run = ''; }
  socket.__contractRun = run;
  return run || undefined;
}

function runOfPort(port, depth) {
  if (depth > 3 || !port) return undefined;
  if (portLinks.has(port)) return runOfPort(portLinks.get(port), depth + 1);
  if (process.platform !== 'linux') return undefined;
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try { text = fs.readFileSync(f, 'utf8'); } catch (e) { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      if (parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
    }
  }
  if (!inodes.size) return undefined;
  // Only this process's descendants can be a test run's task.
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch (e) { /* gone */ }
  }
  const isOurs = (pid) => { for (let p = pid, i = 0; p > 1 && i < 64; p = parent.get(p), i++) if (parent.get(p) === process.pid) return true; return false; };
  for (const pid of parent.keys()) {
    if (!isOurs(pid)) continue;
    let fds;
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch (e) { continue; }
    for (const fd of fds) {
      let link;
      try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch (e) { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) {
        try {
          const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
          const hit = env.find((e) => e.startsWith(`${RUN_VARIABLE}=`));
          return hit ? hit.slice(RUN_VARIABLE.length + 1) : undefined;
        } catch (e) { return undefined; }
      }
    }
  }
  return undefined;
}

function record(ctx, direction, items, fake, socket) {
  const run = items.length ? runOf(socket) : undefined;
  for (const i of items) {
    const entry = {
      fake, contract: ctx.title, direction, method: ctx.method, path: ctx.path, operation: ctx.operation,
      where: i.where, rule: i.rule, value: i.value, at: Date.now(), run,
    };
    ledger.push(entry);
  }
}

/** Remove and return the violations matching `pred` (all of them without one). */
function takeViolations(pred = () => true) {
  const out = [];
  for (let i = 0; i < ledger.length;) {
    if (pred(ledger[i])) out.push(...ledger.splice(i, 1)); else i++;
  }
  return out;
}

/** One line per violation: who, what, where, which rule, what was there. */
function formatViolations(list) {
  return list.map((x) => `${x.contract} ${x.direction === 'answer' ? 'answer to' : 'request'} ${x.method} ${x.path}`
    + `${x.operation ? ` (${x.operation})` : ''}: ${x.where} ${x.rule}${x.value !== undefined ? `; found ${show(x.value)}` : ''}`
    + `${x.direction === 'answer' ? ' [the fake drifted from the description]' : ''}`).join('\n');
}

/**
 * A fake's checker. `check(req, body)` validates a request and records what breaks the
 * description; `watch(res, ctx)` validates the answer as it is written (set `res.contractSkip`
 * for deliberately broken answers: injected faults, cut-short bodies).
 */
let fakes = 0;
function contractFor(name) {
  loadContract(name);
  const fake = `${CONTRACTS[name].title} fake #${++fakes}`;
  return {
    name,
    check(req, body, parsedBody) {
      const ctx = checkRequest(name, { method: req.method, url: req.url, headers: req.headers, body, parsedBody });
      record(ctx, 'request', ctx.violations, fake, req.socket);
      ctx.socket = req.socket;
      return ctx;
    },
    watch(res, ctx) {
      const writeHead = res.writeHead;
      const write = res.write;
      const end = res.end;
      let headers = {};
      const chunks = [];
      res.writeHead = function (status, ...rest) {
        const h = rest.find((x) => isObj(x));
        if (h) headers = Object.fromEntries(Object.entries(h).map(([k, val]) => [k.toLowerCase(), val]));
        return writeHead.call(this, status, ...rest);
      };
      res.write = function (chunk, ...rest) {
        if (chunk) chunks.push(Buffer.from(chunk));
        return write.call(this, chunk, ...rest);
      };
      res.end = function (chunk, ...rest) {
        if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
        if (!res.contractSkip) {
          const h = { 'content-type': res.getHeader('content-type'), ...headers };
          try {
            record(ctx, 'answer', checkAnswer(ctx, res.statusCode, h, Buffer.concat(chunks)), fake, ctx.socket);
          } catch (e) {
            record(ctx, 'answer', [{ where: 'answer', rule: `could not be checked: ${e.message}` }], fake, ctx.socket);
          }
        }
        return end.call(this, chunk, ...rest);
      };
    },
    /** This fake's violations still in the ledger (taken: removed from it). */
    take: (pred = () => true) => takeViolations((x) => x.fake === fake && pred(x)),
  };
}

module.exports = {
  asBound, contractFor, checkRequest, checkAnswer, takeViolations, formatViolations, linkPorts, unlinkPorts,
  parseYaml, multipartParts, RUN_VARIABLE, CONTRACTS,
};
