#!/usr/bin/env node
// Makes an ECDSA P-256 key pair with Node's crypto (not pinsign's code), for the bundle tests:
//   node keygen.cjs PREFIX     -> PREFIX.key (PKCS#8 PEM, unencrypted) and PREFIX.pub (SPKI PEM)
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const prefix = process.argv[2];
if (!prefix) {
  console.error('usage: node keygen.cjs PREFIX');
  process.exit(2);
}
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
fs.writeFileSync(`${prefix}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
fs.writeFileSync(`${prefix}.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
