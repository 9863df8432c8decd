// Shared by sign.cjs and verify.cjs: argument parsing and cosign's key hint.
'use strict';
const crypto = require('crypto');

// `--name value` pairs; a repeated name collects its values. Unknown names are an error.
function parseArgs(argv, names) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--?/, '');
    if (!names.includes(name) || i + 1 >= argv.length) {
      throw new Error(`unexpected argument ${argv[i]}; expected one of --${names.join(', --')} with a value`);
    }
    (out[name] = out[name] || []).push(argv[++i]);
  }
  return out;
}

// cosign's verificationMaterial.publicKey.hint: base64(sha256(SPKI DER)) (cosign
// internal/key/svkeypair.go), computed here from Node's own key encoding.
function keyHint(keyObject) {
  const spki = keyObject.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

module.exports = { parseArgs, keyHint };
