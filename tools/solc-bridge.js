#!/usr/bin/env node
// Compiler bridge: answers py-solc-x (and so brownie) as if it were a native `solc`
// binary, using solcjs (the WebAssembly build of the same compiler) from node_modules.
// No registry reachable here ships a native solc, hence this file.
// Supports what py-solc-x calls: `--version` and `--standard-json` (JSON on stdin).
// Other flags (--allow-paths, --base-path, ...) are accepted and ignored; imports are
// resolved relative to the project root, or node_modules for package imports.
'use strict';
const fs = require('fs');
const path = require('path');

const projectRoot = path.resolve(__dirname, '..');
const solc = require(path.join(projectRoot, 'node_modules', 'solc'));

function writeAllAndExit(text, code) {
  // Large outputs are cut short when piped if the process exits before stdout drains:
  // write synchronously, in full, before exiting.
  let buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
  process.exit(code);
}

function findImport(importPath) {
  const candidates = [
    path.resolve(projectRoot, importPath),
    path.resolve(projectRoot, 'node_modules', importPath),
  ];
  for (const candidate of candidates) {
    if (candidate.startsWith(projectRoot) && fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    }
  }
  return { error: `File not found: ${importPath} (looked in the project and node_modules)` };
}

const args = process.argv.slice(2);
if (args.includes('--version')) {
  // py-solc-x parses "Version: 0.8.N+commit.XXXXXXXX..."
  writeAllAndExit(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`, 0);
} else if (args.includes('--standard-json')) {
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: findImport });
  writeAllAndExit(output, 0);
} else {
  process.stderr.write('solc-bridge: only --version and --standard-json are supported\n');
  process.exit(1);
}
