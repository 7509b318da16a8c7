#!/usr/bin/env node
// The installed command. It loads the command line from dist/exflow-bundle.js — every module in
// one file — compiled from the code cache made at build time, rather than some 150 files found, read and
// compiled one by one (on a small capture, most of exflow's time). Without the bundle (a build
// without its last step), or with a cache this Node rejects, it still runs: main.js directly, or
// the bundle compiled anew. A bundle older than main.js (tsc run since the bundle was made, as
// in development) is not used: it would run the code as it was. EXFLOW_NO_BUNDLE=1 loads main.js
// (to compare, or to debug with the files' own names in stack traces).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { BUNDLE_FILE, CACHE_FILE, type BundleFactory } from './bundle-format';

type Cli = typeof import('./main');

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The bundle, when it is there and was made from the files as they are. */
function currentBundle(bundleFile: string): Buffer | undefined {
  if (process.env.EXFLOW_NO_BUNDLE) return undefined;
  try {
    if (fs.statSync(bundleFile).mtimeMs < fs.statSync(path.join(__dirname, 'main.js')).mtimeMs) return undefined;
  } catch {
    return undefined;
  }
  return readOrUndefined(bundleFile);
}

function loadCli(): Cli {
  const distDir = path.resolve(__dirname, '..');
  const bundleFile = path.join(distDir, BUNDLE_FILE);
  const text = currentBundle(bundleFile);
  if (text === undefined) return require('./main') as Cli;
  const script = new vm.Script(text.toString('latin1'), { filename: bundleFile, cachedData: readOrUndefined(path.join(distDir, CACHE_FILE)) });
  const factory = script.runInThisContext() as BundleFactory;
  return factory(require, distDir) as Cli;
}

loadCli()
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
