// Run by tls.test.js in a child process, so that NODE_EXTRA_CA_CERTS (read once, when node
// starts) can name the CA that the test generated. @alicloud/kms20160120 1.2.0 with its default
// protocol (HTTPS) and no CA option: it trusts Node's roots plus NODE_EXTRA_CA_CERTS.
//   OPENKMS_TLS_ENDPOINT=host:port AK=... SK=... SECRET_NAME=... SECRET_VALUE=... node tls-client.js
// Prints {"created": ..., "secretData": ...} on success; on failure prints the error's code and
// message on stderr and exits 1.
'use strict';
const Kms120 = require('@alicloud/kms20160120');

async function main() {
  const env = process.env;
  const kms = new Kms120.default({
    accessKeyId: env.AK, accessKeySecret: env.SK, regionId: 'cn-hangzhou', endpoint: env.OPENKMS_TLS_ENDPOINT,
  });
  const created = await kms.createSecret(new Kms120.CreateSecretRequest({
    secretName: env.SECRET_NAME, versionId: 'v1', secretData: env.SECRET_VALUE,
  }));
  const got = await kms.getSecretValue(new Kms120.GetSecretValueRequest({ secretName: env.SECRET_NAME }));
  const c = created.body || created;
  const g = got.body || got;
  process.stdout.write(JSON.stringify({ created: c.secretName, secretData: g.secretData }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.code || ''} ${err.message || err}\n`);
  process.exit(1);
});
