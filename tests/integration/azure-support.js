// Shared pieces of the Azure integration tests: service connection fixtures, a real Azurite
// (Microsoft's Storage emulator from npm) with account SAS signing, and test files.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const http = require('http');
const https = require('https');
const { spawn } = require('child_process');
const { repo, scratch } = require('./helpers');

const CONN = '3f1e0c52-7c1b-4f39-9d9e-0123456789ab';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '5b1d3a6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f';

/** An AzureRM endpoint as the agent passes it; `authority` is the fake Entra's URL. */
function azureRm({ scheme = 'ServicePrincipal', params = {}, data = {}, authority } = {}) {
  return {
    [CONN]: {
      url: 'https://management.azure.com/',
      scheme,
      parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, ...params },
      data: {
        subscriptionid: '00000000-0000-0000-0000-000000000001',
        environment: 'AzureCloud',
        ...(authority ? { environmentAuthorityUrl: authority } : {}),
        ...data,
      },
    },
  };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const ACCOUNT = 'devstoreaccount1';
// The emulator's published, well-known key (not a secret).
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * An account SAS (https://learn.microsoft.com/rest/api/storageservices/create-account-sas),
 * string-to-sign for versions 2020-12-06 and later.
 */
function accountSas({ permissions = 'rwdlacup', expiry = new Date(Date.now() + 3600e3), start, resourceTypes = 'sco', version = '2021-08-06' } = {}) {
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const se = iso(expiry);
  const st = start ? iso(start) : '';
  const toSign = [ACCOUNT, permissions, 'b', resourceTypes, st, se, '', 'https,http', version, '', ''].join('\n');
  const sig = crypto.createHmac('sha256', Buffer.from(ACCOUNT_KEY, 'base64')).update(toSign, 'utf8').digest('base64');
  const q = new URLSearchParams({ sv: version, ss: 'b', srt: resourceTypes, sp: permissions, se, spr: 'https,http', sig });
  if (st) q.set('st', st);
  return q.toString();
}

/**
 * A real Azurite blob service on a free port, with its data in `location`. With `tls` ({key,
 * cert} PEM buffers) it serves HTTPS and accepts Entra ID bearer tokens (`--oauth basic`: it
 * checks issuer, audience and lifetime, not the signature).
 */
async function startAzurite({ location = scratch('fd-azurite-'), port, tls } = {}) {
  port = port || await freePort();
  const bin = path.join(repo, 'node_modules/.bin/azurite-blob');
  const extra = [];
  if (tls) {
    const dir = scratch('fd-azurite-tls-');
    fs.writeFileSync(path.join(dir, 'cert.pem'), tls.cert);
    fs.writeFileSync(path.join(dir, 'key.pem'), tls.key);
    extra.push('--cert', path.join(dir, 'cert.pem'), '--key', path.join(dir, 'key.pem'), '--oauth', 'basic');
  }
  const child = spawn(bin, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location,
    '--skipApiVersionCheck', '--loose', '--disableTelemetry', '--silent', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 30000);
    const check = () => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); clearTimeout(t); resolve(); });
      s.on('error', () => setTimeout(check, 100));
    };
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`azurite exited ${code}: ${out}`)); });
    check();
  });
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/${ACCOUNT}`;
  return {
    port,
    location,
    endpoint,
    child,
    /** Kill at once (as a crash would), and wait for the port to close. */
    kill: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', r); child.kill('SIGKILL'); }),
    stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', r); child.kill('SIGTERM'); }),
  };
}

const caOption = () => ({ ca: require('../fakes/tls').makeTestCa().ca });

/** A request against Azurite (http or https with the test CA); resolves {status, headers, body}. */
function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers: { 'x-ms-version': '2021-08-06', ...headers }, ...caOption() }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function createContainer(az, container, sas) {
  const r = await request('PUT', `${az.endpoint}/${container}?restype=container&${sas}`);
  if (r.status !== 201 && r.status !== 409) throw new Error(`create container: ${r.status} ${r.body}`);
}

/** Download a blob and hash it: {status, md5 (hex of the content), contentMd5 (header, hex), length, etag}. */
function blobInfo(az, container, name, sas) {
  return new Promise((resolve, reject) => {
    const url = `${az.endpoint}/${container}/${name.split('/').map(encodeURIComponent).join('/')}?${sas}`;
    (url.startsWith('https:') ? https : http).get(url, { headers: { 'x-ms-version': '2021-08-06' }, ...caOption() }, (res) => {
      const h = crypto.createHash('md5');
      let length = 0;
      res.on('data', (c) => { h.update(c); length += c.length; });
      res.on('end', () => resolve({
        status: res.statusCode,
        md5: h.digest('hex'),
        contentMd5: res.headers['content-md5'] ? Buffer.from(res.headers['content-md5'], 'base64').toString('hex') : null,
        contentType: res.headers['content-type'],
        length,
        etag: res.headers.etag,
      }));
    }).on('error', reject);
  });
}

/** A file of `size` random bytes (random, so no layer can compress it); returns its MD5. */
function writeFile(file, size) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const h = crypto.createHash('md5');
  for (let done = 0; done < size;) {
    const b = crypto.randomBytes(Math.min(4 * 1024 * 1024, size - done));
    fs.writeSync(fd, b);
    h.update(b);
    done += b.length;
  }
  fs.closeSync(fd);
  return h.digest('hex');
}

/**
 * A TCP relay to `port` that drops every connection and stops listening once `cutAfter` bytes
 * have gone upstream: a network that fails in the middle of an upload.
 */
function startCuttingRelay(port, cutAfter) {
  const sockets = new Set();
  let sent = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const cut = () => {
      server.close();
      for (const s of sockets) s.destroy();
    };
    client.on('data', (d) => {
      sent += d.length;
      if (sent > cutAfter) return cut();
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    sent: () => sent,
    close: () => { server.close(); for (const s of sockets) s.destroy(); },
  })));
}

/**
 * An HTTP relay to Azurite on `port` that holds every Put Block request from the first one on,
 * until `release()`: the client has sent its first blocks and waits for their answers, so a test
 * can change the file between the plan and the blocks read after it. `firstBlock` resolves when
 * the first Put Block arrives.
 */
function startHoldingRelay(port) {
  let held = [];
  let released = false;
  let first;
  const firstBlock = new Promise((resolve) => { first = resolve; });
  const forward = (req, res) => {
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  const server = http.createServer((req, res) => {
    const block = req.method === 'PUT' && /[?&]comp=block(&|$)/.test(req.url);
    if (block && !released) {
      held.push([req, res]);
      first();
      return;
    }
    forward(req, res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    firstBlock,
    held: () => held.length,
    release: () => {
      released = true;
      for (const [req, res] of held) forward(req, res);
      held = [];
    },
    close: () => { server.closeAllConnections(); server.close(); },
  })));
}

/** The names of the blobs in `container` under `prefix`, as the service lists them (List Blobs). */
async function listBlobs(az, container, prefix, sas) {
  const r = await request('GET', `${az.endpoint}/${container}?restype=container&comp=list&prefix=${encodeURIComponent(prefix)}&${sas}`);
  if (r.status !== 200) throw new Error(`list blobs: ${r.status} ${r.body}`);
  const xml = r.body.toString('utf8');
  const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  return [...xml.matchAll(/<Blob>\s*<Name>([^<]*)<\/Name>/g)].map((m) => unescape(m[1]));
}

/** Every value written to stdout as a `task.setvariable`, by variable name (last one wins). */
function secretVariables(r) {
  const out = {};
  for (const c of r.command('task.setvariable')) {
    if (String(c.properties.issecret).toLowerCase() === 'true') out[c.properties.variable] = c.message;
  }
  return out;
}

/** The JUnit testcases of a run, by name: 'passed' | 'failed' | 'skipped'. */
function steps(r) {
  const { parseXml } = require('./helpers');
  const p = r.command('results.publish')[0];
  if (!p) return {};
  const xml = parseXml(p.properties.resultFiles);
  const out = {};
  for (const tc of xml.children[0].children.filter((c) => c.tag === 'testcase')) {
    const kinds = tc.children.map((c) => c.tag);
    out[tc.attrs.name] = kinds.includes('failure') || kinds.includes('error') ? 'failed' : kinds.includes('skipped') ? 'skipped' : 'passed';
  }
  return out;
}

module.exports = {
  CONN, TENANT, CLIENT, ACCOUNT, azureRm, freePort, accountSas, startAzurite, request, createContainer,
  blobInfo, writeFile, secretVariables, steps, startCuttingRelay, startHoldingRelay, listBlobs,
};
