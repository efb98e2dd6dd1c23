// Black-box test of openkms with the official Node clients:
//   @alicloud/openapi-client 0.4.15 callApi (V3 default and signatureAlgorithm 'v2' = V1; the form
//   body is sent with Transfer-Encoding: chunked), @alicloud/pop-core 1.8.0 (V1, GET by default) and
//   @alicloud/kms20160120 1.2.0 (V1 through rpc-client, maps flattened into the query).
// Starts its own server (free port, fresh tmp data dir, env keys) unless OPENKMS_TEST_ENDPOINT is set.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const OpenApi = require('@alicloud/openapi-client');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util');
const { RPCClient } = require('@alicloud/pop-core');
const Kms120 = require('@alicloud/kms20160120');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const EXTERNAL = process.env.OPENKMS_TEST_ENDPOINT || '';
const AK = EXTERNAL ? (process.env.OPENKMS_ROOT_ACCESS_KEY_ID || 'testAccessKeyId') : 'testAccessKeyId';
const SK = EXTERNAL ? (process.env.OPENKMS_ROOT_ACCESS_KEY_SECRET || 'testAccessKeySecret0123456789abcdef') : 'testAccessKeySecret0123456789abcdef';
const ACCOUNT_ID = '1234567890123456';
const REGION = 'cn-hangzhou';
const VALUE = '{"user":"alice","password":"p@ss w0rd&=+%*~ \u5bc6\u7801"}';

let endpoint = EXTERNAL;
let child = null;
let tmpDir = null;
let stderrText = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

async function startServer() {
  const bin = process.env.OPENKMS_BIN || path.join(REPO_ROOT, 'target', 'debug', 'openkms');
  assert.ok(fs.existsSync(bin), `openkms binary not found at ${bin} (cargo build --bin openkms, or set OPENKMS_BIN)`);
  const port = await freePort();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openkms-node-'));
  const dataDir = path.join(tmpDir, 'data');
  fs.mkdirSync(dataDir);
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENKMS_')) env[k] = v;
  env.OPENKMS_ROOT_ACCESS_KEY_ID = AK;
  env.OPENKMS_ROOT_ACCESS_KEY_SECRET = SK;
  child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
    '--account-id', ACCOUNT_ID, '--region', REGION], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => { stderrText += d.toString(); });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`openkms exited (${JSON.stringify(exited)}) before accepting connections:\n${stderrText}`);
    if (await tryConnect(port)) { endpoint = `127.0.0.1:${port}`; return; }
    await new Promise((r) => setTimeout(r, 50)); // poll interval while waiting for the port
  }
  child.kill('SIGKILL');
  throw new Error(`openkms did not accept connections on port ${port} within 20 s:\n${stderrText}`);
}

before(async () => { if (!EXTERNAL) await startServer(); });

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

function openapiClient(sig) {
  const cfg = new OpenApi.Config({
    accessKeyId: AK, accessKeySecret: SK, regionId: REGION, endpoint, protocol: 'http',
  });
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

for (const sig of ['v3', 'v1']) {
  test(`openapi-client ${sig}: CreateSecret with SecretData in the chunked form body, then GetSecretValue`, async () => {
    const client = openapiClient(sig);
    const name = uniqueName(`node-${sig}`);
    const created = await callApi(client, 'CreateSecret', { SecretName: name, VersionId: 'v1' }, { SecretData: VALUE });
    assert.equal(created.statusCode, 200);
    assert.equal(created.body.SecretName, name);
    assert.equal(created.body.VersionId, 'v1');
    assert.equal(created.body.Arn, `acs:kms:${REGION}:${ACCOUNT_ID}:secret/${name}`);
    assert.equal(created.body.Code, undefined);

    const got = await callApi(client, 'GetSecretValue', { SecretName: name, VersionStage: 'ACSCurrent', FetchExtendedConfig: true });
    assert.equal(got.statusCode, 200);
    assert.equal(got.body.SecretData, VALUE);
    assert.equal(got.body.SecretDataType, 'text');
    assert.equal(got.body.VersionId, 'v1');
    assert.deepEqual(got.body.VersionStages, { VersionStage: ['ACSCurrent'] });
  });

  test(`openapi-client ${sig}: unknown secret gives 404 Forbidden.ResourceNotFound`, async () => {
    const client = openapiClient(sig);
    await assert.rejects(
      callApi(client, 'GetSecretValue', { SecretName: uniqueName('node-missing') }),
      (err) => {
        assert.equal(err.code, 'Forbidden.ResourceNotFound');
        assert.equal(err.statusCode, 404);
        return true;
      },
    );
  });
}

test('pop-core: GET GetSecretValue returns a value created by openapi-client', async () => {
  const name = uniqueName('node-popcore');
  await callApi(openapiClient('v3'), 'CreateSecret', { SecretName: name, VersionId: 'v1' }, { SecretData: VALUE });
  const client = new RPCClient({
    accessKeyId: AK, accessKeySecret: SK, endpoint: `http://${endpoint}`, apiVersion: '2016-01-20',
  });
  const body = await client.request('GetSecretValue',
    { RegionId: REGION, SecretName: name, VersionStage: 'ACSCurrent', FetchExtendedConfig: true });
  assert.equal(body.SecretData, VALUE);
  assert.equal(body.SecretName, name);
  assert.equal(body.Code, undefined);
});

test('pop-core: POST CreateSecret with everything in the form body, then GET reads it', async () => {
  const name = uniqueName('node-popcore-post');
  const client = new RPCClient({
    accessKeyId: AK, accessKeySecret: SK, endpoint: `http://${endpoint}`, apiVersion: '2016-01-20',
  });
  const created = await client.request('CreateSecret',
    { RegionId: REGION, SecretName: name, VersionId: 'v1', SecretData: VALUE }, { method: 'POST' });
  assert.equal(created.SecretName, name);
  const body = await client.request('GetSecretValue', { RegionId: REGION, SecretName: name });
  assert.equal(body.SecretData, VALUE);
});

test('pop-core: unknown secret is an error with code Forbidden.ResourceNotFound', async () => {
  const client = new RPCClient({
    accessKeyId: AK, accessKeySecret: SK, endpoint: `http://${endpoint}`, apiVersion: '2016-01-20',
  });
  await assert.rejects(
    client.request('GetSecretValue', { RegionId: REGION, SecretName: uniqueName('node-missing') }),
    (err) => { assert.equal(err.code, 'Forbidden.ResourceNotFound'); return true; },
  );
});

// @alicloud/kms20160120 1.2.0 flattens the EncryptionContext map into the query
// (EncryptionContext.app=c5). It must bind the blob exactly as the JSON form does: an earlier
// openkms dropped it, so the blob bound no context at all (issue 12).
test('kms20160120 1.2.0: a flattened EncryptionContext binds like the JSON form', async () => {
  const kms = new Kms120.default({
    accessKeyId: AK, accessKeySecret: SK, regionId: REGION, endpoint, protocol: 'http',
  });
  const key = await callApi(openapiClient('v3'), 'CreateKey', {});
  const keyId = key.body.KeyMetadata.KeyId;
  const plaintext = Buffer.from('bound to c5').toString('base64');
  const enc = await kms.encrypt(new Kms120.EncryptRequest({ keyId, plaintext, encryptionContext: { app: 'c5' } }));
  const blob = enc.body ? enc.body.ciphertextBlob : enc.ciphertextBlob;
  assert.ok(blob);

  const decrypt = (context) => {
    const query = { CiphertextBlob: blob };
    if (context !== undefined) query.EncryptionContext = JSON.stringify(context);
    return callApi(openapiClient('v3'), 'Decrypt', query);
  };
  const opened = await decrypt({ app: 'c5' });
  assert.equal(Buffer.from(opened.body.Plaintext, 'base64').toString(), 'bound to c5');
  for (const wrong of [undefined, { app: 'c6' }, {}]) {
    await assert.rejects(decrypt(wrong), (err) => {
      assert.equal(err.code, 'InvalidCiphertext');
      return true;
    });
  }
  // The same SDK decrypts with its own flattened form, and a wrong context still fails.
  const back = await kms.decrypt(new Kms120.DecryptRequest({ ciphertextBlob: blob, encryptionContext: { app: 'c5' } }));
  const text = back.body ? back.body.plaintext : back.plaintext;
  assert.equal(Buffer.from(text, 'base64').toString(), 'bound to c5');
  await assert.rejects(
    kms.decrypt(new Kms120.DecryptRequest({ ciphertextBlob: blob, encryptionContext: { app: 'c6' } })),
    (err) => { assert.match(String(err.code), /^InvalidCiphertext/); return true; },
  );
});
