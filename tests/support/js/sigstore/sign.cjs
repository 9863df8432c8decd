#!/usr/bin/env node
// Writes Sigstore bundles with sigstore-js (@sigstore/sign), key-signed, no witnesses (no Rekor,
// no TSA), as cosign v3 writes them with --key --tlog-upload=false:
//
//   node sign.cjs image --key KEY.pem --digest sha256:HEX [-a K=V]... [--predicate-type URI] --out FILE
//       DSSE over an in-toto Statement v1 shaped like cosign's (one subject with only the digest
//       and the annotations, predicate {}), predicateType https://sigstore.dev/cosign/sign/v1
//   node sign.cjs blob --key KEY.pem --file FILE --out FILE
//       a message signature over FILE (cosign sign-blob --new-bundle-format)
//   node sign.cjs blob-dsse --key KEY.pem --file FILE [--predicate-type URI] --out FILE
//       DSSE over a Statement naming FILE (name = its base name, digest = its sha256)
//
// KEY.pem is a PKCS#8 PEM private key. Run with NODE_PATH=<tools>/sigstore-js/node_modules.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { bundleToJSON } = require('@sigstore/bundle');
const { DSSEBundleBuilder, MessageSignatureBundleBuilder } = require('@sigstore/sign');
const { parseArgs, keyHint } = require('./common.cjs');

const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO = 'application/vnd.in-toto+json';

function keySigner(privatePem) {
  const privateKey = crypto.createPrivateKey(privatePem);
  const publicKey = crypto.createPublicKey(privateKey);
  return {
    async sign(data) {
      return {
        // DER ECDSA over SHA-256(data), as cosign signs.
        signature: crypto.sign('sha256', data, privateKey),
        key: {
          $case: 'publicKey',
          publicKey: publicKey.export({ type: 'spki', format: 'pem' }),
          hint: keyHint(publicKey),
        },
      };
    },
  };
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  const a = parseArgs(rest, ['key', 'digest', 'a', 'predicate-type', 'file', 'out']);
  const one = (n) => {
    if (!a[n] || a[n].length !== 1) throw new Error(`--${n} is required once`);
    return a[n][0];
  };
  const signer = keySigner(fs.readFileSync(one('key')));
  const predicateType = a['predicate-type'] ? a['predicate-type'][0] : COSIGN_SIGN;
  let bundle;
  if (mode === 'image') {
    const digest = one('digest');
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!m) throw new Error(`--digest ${digest} is not sha256:<64 hex>`);
    const annotations = {};
    for (const kv of a.a || []) {
      const i = kv.indexOf('=');
      if (i < 1) throw new Error(`-a ${kv} is not KEY=VALUE`);
      annotations[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: m[1] }, annotations }],
      predicateType,
      predicate: {},
    };
    const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
    bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO });
  } else if (mode === 'blob') {
    const builder = new MessageSignatureBundleBuilder({ signer, witnesses: [] });
    bundle = await builder.create({ data: fs.readFileSync(one('file')) });
  } else if (mode === 'blob-dsse') {
    const file = one('file');
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{
        name: path.basename(file),
        digest: { sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') },
      }],
      predicateType,
      predicate: {},
    };
    const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
    bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO });
  } else {
    throw new Error(`unknown mode ${mode}; use image, blob or blob-dsse`);
  }
  fs.writeFileSync(one('out'), JSON.stringify(bundleToJSON(bundle)));
}

main().catch((e) => {
  console.error(`sign.cjs: ${e.message}`);
  process.exit(1);
});
