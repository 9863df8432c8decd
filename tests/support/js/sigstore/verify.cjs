#!/usr/bin/env node
// Verifies a key-signed Sigstore bundle offline with sigstore-js (@sigstore/verify): an empty
// trusted root, the given public keys looked up by the bundle's key hint, and no transparency
// log, CT log or timestamp required (thresholds 0), as `cosign verify --key` with
// --insecure-ignore-tlog does. sigstore-js checks the signature (over PAE for DSSE; over the
// artifact for a message signature), not the statement: the caller checks that.
//
//   node verify.cjs --bundle FILE --key PUB.pem [--key PUB.pem]... [--artifact FILE]
//
// On success prints one JSON line: {"verified":true,"mediaType","hint","content","payloadType",
// "statement"} (statement: the DSSE payload parsed, or null). On failure prints the error on
// stderr and exits 1. Run with NODE_PATH=<tools>/sigstore-js/node_modules.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { parseArgs, keyHint } = require('./common.cjs');

function main() {
  const a = parseArgs(process.argv.slice(2), ['bundle', 'key', 'artifact']);
  if (!a.bundle || a.bundle.length !== 1 || !a.key) {
    throw new Error('usage: verify.cjs --bundle FILE --key PUB.pem [--key PUB.pem]... [--artifact FILE]');
  }
  const json = JSON.parse(fs.readFileSync(a.bundle[0]));
  const bundle = bundleFromJSON(json);
  const keys = a.key.map((f) => {
    const publicKey = crypto.createPublicKey(fs.readFileSync(f));
    return { hint: keyHint(publicKey), publicKey };
  });
  const keyFinder = (hint) => {
    const k = keys.find((k) => k.hint === hint);
    if (!k) throw new Error(`no given key has the bundle's hint ${hint}`);
    return { publicKey: k.publicKey, validFor: () => true };
  };
  const emptyRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  });
  const verifier = new Verifier(toTrustMaterial(emptyRoot, keyFinder), {
    tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0, timestampThreshold: 0,
  });
  const artifact = a.artifact ? fs.readFileSync(a.artifact[0]) : undefined;
  verifier.verify(toSignedEntity(bundle, artifact));
  const env = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : null;
  let statement = null;
  if (env) {
    try { statement = JSON.parse(env.payload.toString('utf8')); } catch (_) { statement = null; }
  }
  console.log(JSON.stringify({
    verified: true,
    mediaType: bundle.mediaType,
    hint: bundle.verificationMaterial.content.$case === 'publicKey'
      ? bundle.verificationMaterial.content.publicKey.hint : null,
    content: bundle.content.$case,
    payloadType: env ? env.payloadType : null,
    statement,
  }));
}

try {
  main();
} catch (e) {
  console.error(`verify.cjs: ${e.code ? e.code + ': ' : ''}${e.message}`);
  process.exit(1);
}
