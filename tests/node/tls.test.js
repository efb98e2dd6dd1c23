// The official Node clients reach openkms over HTTPS with their defaults (certificate verification
// on) against `openkms serve --tls-cert --tls-key`, the certificate made by `openkms tls init`:
//   @alicloud/openapi-client 0.4.15: the CA as Config.ca (PEM text), protocol left as the API
//     params give it (HTTPS);
//   @alicloud/kms20160120 1.2.0: default protocol HTTPS, no CA option; it trusts Node's roots plus
//     NODE_EXTRA_CA_CERTS, which node reads only at start: it runs in a child (tls-client.js).
// Without the CA both refuse the server's certificate. Needs a server started here: skipped, and
// says so, when OPENKMS_TEST_ENDPOINT is set.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const OpenApi = require('@alicloud/openapi-client');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.OPENKMS_BIN || path.join(REPO_ROOT, 'target', 'debug', 'openkms');
const SKIP = process.env.OPENKMS_TEST_ENDPOINT
  ? 'needs a TLS server started by the test; skipped because OPENKMS_TEST_ENDPOINT is set' : false;
const AK = 'testAccessKeyId';
const SK = 'testAccessKeySecret0123456789abcdef';
const ACCOUNT_ID = '1234567890123456';
const REGION = 'cn-hangzhou';
const VALUE = '{"user":"alice","password":"p@ss w0rd&=+%*~ \u5bc6\u7801"}';

let child = null;
let tmpDir = null;
let tlsDir = null;
let port = 0;
let endpoint = '';
let stderrText = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

function readyz(ca) {
  return new Promise((resolve) => {
    const req = https.get({
      host: '127.0.0.1', port, path: '/readyz', servername: 'localhost', ca, agent: false, timeout: 2000,
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode === 200)); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

async function startTlsServer() {
  assert.ok(fs.existsSync(BIN), `openkms binary not found at ${BIN} (cargo build --bin openkms, or set OPENKMS_BIN)`);
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openkms-node-tls-'));
  tlsDir = path.join(tmpDir, 'tls');
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENKMS_')) env[k] = v;
  const init = spawnSync(BIN, ['tls', 'init', '--out', tlsDir, '--dns', 'localhost', '--ip', '127.0.0.1'],
    { env, encoding: 'utf8', timeout: 60000 });
  assert.equal(init.status, 0, `openkms tls init failed:\n${init.stdout}${init.stderr}`);
  for (const f of ['ca.pem', 'server.pem', 'server-key.pem']) {
    assert.ok(fs.existsSync(path.join(tlsDir, f)), `openkms tls init did not write ${f}`);
  }
  port = await freePort();
  const dataDir = path.join(tmpDir, 'data');
  fs.mkdirSync(dataDir);
  env.OPENKMS_ROOT_ACCESS_KEY_ID = AK;
  env.OPENKMS_ROOT_ACCESS_KEY_SECRET = SK;
  child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--account-id', ACCOUNT_ID,
    '--region', REGION, '--tls-cert', path.join(tlsDir, 'server.pem'), '--tls-key', path.join(tlsDir, 'server-key.pem')],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => { stderrText += d.toString(); });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const ca = fs.readFileSync(path.join(tlsDir, 'ca.pem'));
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`openkms exited (${JSON.stringify(exited)}) before serving HTTPS:\n${stderrText}`);
    if (await readyz(ca)) { endpoint = `localhost:${port}`; return; }
    await new Promise((r) => setTimeout(r, 50)); // poll interval while waiting for /readyz over HTTPS
  }
  child.kill('SIGKILL');
  throw new Error(`openkms did not answer /readyz over HTTPS on port ${port} within 20 s:\n${stderrText}`);
}

before(async () => { if (!SKIP) await startTlsServer(); });

after(async () => {
  if (child && child.exitCode === null) {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    await done;
    clearTimeout(timer);
  }
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

function uniqueName(prefix) {
  return `${prefix}-${crypto.randomBytes(8).toString('hex')}`;
}

function openapiClient(sig, ca) {
  const cfg = new OpenApi.Config({ accessKeyId: AK, accessKeySecret: SK, regionId: REGION, endpoint });
  if (ca !== undefined) cfg.ca = ca;
  if (sig === 'v1') cfg.signatureAlgorithm = 'v2';
  return new OpenApi.default(cfg);
}

function params(action) {
  return new OpenApi.Params({
    action, version: '2016-01-20', protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
}

async function callApi(client, action, query, body) {
  const req = new OpenApi.OpenApiRequest({ query: OpenApiUtil.query(query), body: body || {} });
  return client.callApi(params(action), req, new Util.RuntimeOptions({}));
}

const CERT_ERROR = /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|self[- ]signed certificate|unable to verify/i;

function runKmsChild(extraEnv) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('NODE_TEST')) env[k] = v;
  Object.assign(env, { OPENKMS_TLS_ENDPOINT: endpoint, AK, SK, SECRET_VALUE: VALUE }, extraEnv);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(__dirname, 'tls-client.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('openapi-client without the CA refuses the server certificate (verification is on)', { skip: SKIP }, async () => {
  const name = uniqueName('node-tls-refused');
  await assert.rejects(
    callApi(openapiClient('v3'), 'CreateSecret', { SecretName: name, VersionId: 'v1' }, { SecretData: VALUE }),
    (err) => { assert.match(`${err.code} ${err.message}`, CERT_ERROR); return true; },
  );
  const ca = fs.readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8');
  await assert.rejects(callApi(openapiClient('v3', ca), 'GetSecretValue', { SecretName: name }),
    (err) => { assert.equal(err.code, 'Forbidden.ResourceNotFound'); return true; });
});

for (const sig of ['v3', 'v1']) {
  test(`openapi-client ${sig} over HTTPS trusting Config.ca: CreateSecret then GetSecretValue`, { skip: SKIP }, async () => {
    const ca = fs.readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8');
    const client = openapiClient(sig, ca);
    const name = uniqueName(`node-tls-${sig}`);
    const created = await callApi(client, 'CreateSecret', { SecretName: name, VersionId: 'v1' }, { SecretData: VALUE });
    assert.equal(created.statusCode, 200);
    assert.equal(created.body.SecretName, name);
    const got = await callApi(client, 'GetSecretValue', { SecretName: name });
    assert.equal(got.body.SecretData, VALUE);
  });
}

test('kms20160120 with its default protocol (HTTPS) trusts NODE_EXTRA_CA_CERTS: CreateSecret then GetSecretValue',
  { skip: SKIP }, async () => {
    const name = uniqueName('node-tls-kms120');
    const r = await runKmsChild({ NODE_EXTRA_CA_CERTS: path.join(tlsDir, 'ca.pem'), SECRET_NAME: name });
    assert.equal(r.code, 0, `tls-client.js failed:\n${r.err}\nserver:\n${stderrText}`);
    assert.deepEqual(JSON.parse(r.out), { created: name, secretData: VALUE });
  });

test('kms20160120 without NODE_EXTRA_CA_CERTS refuses the server certificate', { skip: SKIP }, async () => {
  const r = await runKmsChild({ SECRET_NAME: uniqueName('node-tls-kms120-refused') });
  assert.notEqual(r.code, 0, `expected a certificate error, got: ${r.out}`);
  assert.match(r.err, CERT_ERROR);
});
