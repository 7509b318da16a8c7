#!/usr/bin/env node
// The installed command. It loads the command line from dist/exflow-bundle.js — every module in
// one file — compiled from the code cache made at build time, rather than 170 files found, read and
// compiled one by one (on a small capture, most of exflow's time). Without the bundle (a build
// without its last step), or with a cache this Node rejects, it still runs: main.js directly, or
// the bundle compiled anew. EXFLOW_NO_BUNDLE=1 loads main.js (to compare, or to debug with the
// files' own names in stack traces).
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

function loadCli(): Cli {
  const distDir = path.resolve(__dirname, '..');
  const bundleFile = path.join(distDir, BUNDLE_FILE);
  const text = process.env.EXFLOW_NO_BUNDLE ? undefined : readOrUndefined(bundleFile);
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
