// Contract checks of Azure Resource Manager calls against Microsoft's API description (Swagger
// 2.0 files from Azure/azure-rest-api-specs kept under tests/fixtures/aks/, see SOURCE.txt there).
// Self-contained so it can move onto a shared validator for all ARM fakes: load the files,
// find the operation of a request, `validateRequest(op, request)` and `validateResponse(op,
// status, body)`, each returning a list of violations (empty when the call keeps the contract).
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const BASE = 'https://specs.invalid/';

/** Load Swagger files (paths relative to `root`, which mirrors the upstream layout). */
function loadSpec(root, files) {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const docs = new Map();
  const all = new Set(files);
  // The common types every file refers to.
  for (const f of files) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of text.matchAll(/"\$ref":\s*"([^"#]+)#/g)) all.add(path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1])));
  }
  for (const f of all) {
    const doc = JSON.parse(fs.readFileSync(path.join(root, f), 'utf8'));
    docs.set(f, doc);
    ajv.addSchema({ $id: BASE + f, definitions: doc.definitions || {}, parameters: doc.parameters || {} });
  }
  const ops = [];
  for (const f of files) {
    const doc = docs.get(f);
    for (const [template, item] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'put', 'post', 'patch', 'delete', 'head'].includes(method)) continue;
        const params = (op.parameters || []).map((p) => resolve(docs, f, p));
        const names = [];
        const re = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, n) => { names.push(n); return '([^/]+)'; })}$`, 'i');
        ops.push({ file: f, template, method: method.toUpperCase(), operationId: op.operationId, params, names, re, responses: op.responses || {}, doc });
      }
    }
  }
  return { ops, docs, ajv, validators: new Map() };
}

/** A `$ref`'d parameter or schema, followed across files. */
function resolve(docs, file, node) {
  if (!node || !node.$ref) return node;
  const [rel, pointer] = node.$ref.split('#');
  const target = rel ? path.posix.normalize(path.posix.join(path.posix.dirname(file), rel)) : file;
  const doc = docs.get(target);
  const value = pointer.split('/').slice(1).reduce((o, k) => o && o[k], doc);
  return resolve(docs, target, value);
}

/** The operation a request calls, or undefined. */
function findOperation(spec, method, pathname) {
  for (const op of spec.ops) {
    if (op.method !== method) continue;
    const m = op.re.exec(pathname);
    if (m) return { op, pathParams: Object.fromEntries(op.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkValue(p, v) {
  const out = [];
  if (p.type === 'string') {
    if (p.minLength !== undefined && v.length < p.minLength) out.push(`${p.in} parameter ${p.name} is shorter than ${p.minLength}`);
    if (p.maxLength !== undefined && v.length > p.maxLength) out.push(`${p.in} parameter ${p.name} is longer than ${p.maxLength}`);
    if (p.pattern && !new RegExp(p.pattern).test(v)) out.push(`${p.in} parameter ${p.name} '${v}' does not match ${p.pattern}`);
    if (p.enum && !p.enum.includes(v)) out.push(`${p.in} parameter ${p.name} '${v}' is not one of ${p.enum.join(', ')}`);
    if (p.format === 'uuid' && !UUID.test(v)) out.push(`${p.in} parameter ${p.name} '${v}' is not a UUID`);
  }
  if (p.type === 'boolean' && !['true', 'false'].includes(v)) out.push(`${p.in} parameter ${p.name} '${v}' is not a boolean`);
  return out;
}

/**
 * Violations of the operation's request contract: path and query parameters (required, type,
 * length, pattern, enum, uuid), unknown query parameters, and the body (none unless the
 * operation declares one).
 */
function validateRequest(found, { query = {}, body, contentType }) {
  const { op, pathParams } = found;
  const out = [];
  for (const p of op.params) {
    const v = p.in === 'path' ? pathParams[p.name] : p.in === 'query' ? query[p.name] : undefined;
    if (p.in !== 'path' && p.in !== 'query') continue;
    if (v === undefined || v === '') { if (p.required) out.push(`${p.in} parameter ${p.name} is required`); continue; }
    out.push(...checkValue(p, v));
  }
  const known = new Set(op.params.filter((p) => p.in === 'query').map((p) => p.name));
  for (const k of Object.keys(query)) if (!known.has(k)) out.push(`query parameter ${k} is not part of ${op.operationId}`);
  const bodyParam = op.params.find((p) => p.in === 'body');
  const hasBody = body !== undefined && body !== '' && !(Buffer.isBuffer(body) && !body.length);
  if (hasBody && !bodyParam) out.push(`${op.operationId} takes no request body`);
  if (bodyParam && bodyParam.required && !hasBody) out.push(`${op.operationId} needs a body`);
  if (hasBody && contentType && !/^application\/json/i.test(contentType)) out.push(`content type ${contentType} is not application/json`);
  return out;
}

/** Violations of the operation's response contract: a declared status, and its schema. */
function validateResponse(spec, found, status, body) {
  const { op } = found;
  const r = op.responses[String(status)] || (status >= 400 ? op.responses.default : undefined);
  if (!r) return [`${op.operationId} does not answer ${status}`];
  if (!r.schema) return body === undefined || body === '' ? [] : [`${op.operationId} answers ${status} without a body`];
  const key = `${op.file}|${status}`;
  if (!spec.validators.has(key)) {
    const ref = r.schema.$ref;
    const [rel, pointer] = ref.split('#');
    const target = rel ? path.posix.normalize(path.posix.join(path.posix.dirname(op.file), rel)) : op.file;
    spec.validators.set(key, spec.ajv.compile({ $ref: `${BASE}${target}#${pointer}` }));
  }
  const v = spec.validators.get(key);
  if (v(body)) return [];
  return v.errors.map((e) => `${op.operationId} ${status} answer: ${e.instancePath || '/'} ${e.message}`);
}

module.exports = { loadSpec, findOperation, validateRequest, validateResponse };
