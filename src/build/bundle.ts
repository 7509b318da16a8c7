#!/usr/bin/env node
// Build step after tsc: every module the command line can load (dist/cli/main.js and what it
// requires by relative path) put into one file, dist/exflow-bundle.js, and V8's code cache of
// that file after a run of the sample (dist/exflow-bundle.cache). The installed command
// (dist/cli/exflow.js) loads the one file from the cache instead of finding, reading and compiling
// some 170 files: most of a small capture's start-up (issue 33: a 56 KB capture 0.20 s, ndpiReader
// 0.06 s). Packages (commander, better-sqlite3, yaml, …) and node: modules stay with Node's require;
// the modules keep their own file names, so __dirname, __filename and worker scripts are as before.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { BUNDLE_FILE, CACHE_FILE, type BundleFactory } from '../cli/bundle-format';

/** A require by a literal name in tsc's CommonJS output: `require("./x")`, `require('./x')` (from `await import('./x')`), `require("commander")`. */
const LITERAL_REQUIRE = /\brequire\((["'])([^"'\n]+)\1\)/g;

/**
 * Packages loaded at every start and bundled too: plain JavaScript that finds nothing by its own
 * file name. better-sqlite3 stays with Node (its addon is found from its file's place), and so
 * do packages only some commands load (yaml: only without the rules cache; cli-progress: on a terminal).
 */
const BUNDLED_PACKAGES = new Set(['commander', 'csv-parse']);

const isRelative = (spec: string) => spec.startsWith('./') || spec.startsWith('../');
const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

/** The module a relative specifier names, as a path relative to dist, or undefined when no file is there. */
function resolveRelative(distDir: string, fromRel: string, spec: string): string | undefined {
  const base = path.posix.join(path.posix.dirname(fromRel), spec);
  for (const rel of [base, `${base}.js`, `${base}/index.js`]) {
    const file = path.join(distDir, rel);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return rel;
  }
  return undefined;
}

export interface Modules {
  /** Path relative to dist → source, in the order found. */
  sources: Map<string, string>;
  /** A bundled package's name as required (`csv-parse/sync`) → its module, relative to dist. */
  packages: Map<string, string>;
}

/** Modules reachable from the entry by relative requires and requires of the bundled packages. */
export function collectModules(distDir: string, entry: string): Modules {
  const sources = new Map<string, string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const rel = todo.pop()!;
    if (sources.has(rel)) continue;
    const file = path.join(distDir, rel);
    const source = fs.readFileSync(file, 'utf8');
    sources.set(rel, source);
    for (const m of source.matchAll(LITERAL_REQUIRE)) {
      const spec = m[2];
      let target: string | undefined;
      if (isRelative(spec)) {
        target = resolveRelative(distDir, rel, spec);
        if (target === undefined) throw new Error(`${rel}: require(${m[1]}${spec}${m[1]}) names no file in ${distDir}`);
      } else if (BUNDLED_PACKAGES.has(packageOf(spec))) {
        target = path.relative(distDir, require.resolve(spec, { paths: [path.dirname(file)] })).split(path.sep).join('/');
        const before = packages.get(spec);
        if (before !== undefined && before !== target) throw new Error(`${spec} is two modules (${before}, ${target}): not bundled`);
        packages.set(spec, target);
      } else continue;
      if (!sources.has(target)) todo.push(target);
    }
  }
  return { sources, packages };
}

/**
 * A module's source as the bundle holds it: without comments (a third of dist's bytes, and most of
 * its characters beyond ASCII) and with every other character beyond ASCII written as a \u escape,
 * so that the bundle is ASCII and Node reads it without decoding UTF-8. The escapes mean the same
 * in strings, templates (their cooked text: the source uses no String.raw) and regular expressions.
 */
export function compactSource(source: string, rel: string): string {
  // typescript is a development dependency: the bundle is made by `npm run build`, where it is installed.
  const ts = require('typescript') as typeof import('typescript');
  const body = source.startsWith('#!') ? source.slice(source.indexOf('\n')) : source;
  const out = ts.transpileModule(body, {
    fileName: rel,
    compilerOptions: { removeComments: true, target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.None, allowJs: true, sourceMap: false },
    reportDiagnostics: false,
  }).outputText;
  return out.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The bundle's text: one function expression that, given Node's require and the dist folder,
 * returns the entry's exports. Each module is the function Node itself would wrap it in; a relative
 * require is answered from the bundle (resolved as Node would, the specifier joined to the module's
 * folder), anything else by Node's require from the module's own file.
 */
export function bundleText(modules: Modules, entry: string): string {
  const parts: string[] = [];
  parts.push('(function (nodeRequire, distDir) {\n"use strict";\n');
  parts.push('const path = nodeRequire("node:path");\nconst Module = nodeRequire("node:module");\n');
  parts.push('const defs = Object.create(null);\nconst loaded = Object.create(null);\n');
  for (const [rel, source] of modules.sources) {
    parts.push(`defs[${JSON.stringify(rel)}] = function (exports, require, module, __filename, __dirname) {\n${compactSource(source, rel)}\n};\n`);
  }
  parts.push(`const packages = Object.assign(Object.create(null), ${JSON.stringify(Object.fromEntries(modules.packages))});\n`);
  parts.push(`
function resolve(fromRel, spec) {
  const base = path.posix.join(path.posix.dirname(fromRel), spec);
  for (const rel of [base, base + ".js", base + "/index.js"]) if (rel in defs) return rel;
  return undefined;
}
function load(rel) {
  const done = loaded[rel];
  if (done !== undefined) return done.exports;
  const filename = path.join(distDir, rel);
  const module = { exports: {}, filename, id: filename, loaded: false, children: [], paths: [] };
  loaded[rel] = module;
  let outside;
  const require = function (spec) {
    const target = spec.startsWith("./") || spec.startsWith("../") ? resolve(rel, spec) : packages[spec];
    if (target !== undefined) return load(target);
    return (outside ??= Module.createRequire(filename))(spec);
  };
  require.resolve = function (spec, options) { return (outside ??= Module.createRequire(filename)).resolve(spec, options); };
  require.main = undefined;
  defs[rel].call(module.exports, module.exports, require, module, filename, path.dirname(filename));
  module.loaded = true;
  return module.exports;
}
return load(${JSON.stringify(entry)});
})`);
  return parts.join('');
}

/** Runs a bundle's text as the launcher does, returning the entry's exports and the script (for its code cache). */
export function runBundle(text: string, file: string, distDir: string, cachedData?: Buffer): { exports: unknown; script: vm.Script } {
  const script = new vm.Script(text, { filename: file, cachedData });
  const factory = script.runInThisContext() as BundleFactory;
  return { exports: factory(require, distDir), script };
}

async function main(): Promise<void> {
  const distDir = path.resolve(__dirname, '..');
  const modules = collectModules(distDir, 'cli/main.js');
  const text = bundleText(modules, 'cli/main.js');
  const bundleFile = path.join(distDir, BUNDLE_FILE);
  const cacheFile = path.join(distDir, CACHE_FILE);
  fs.writeFileSync(bundleFile, text, 'latin1');
  fs.rmSync(cacheFile, { force: true });
  // The code cache is taken after a run of the project's sample, so that the functions a run
  // compiles (reading, the flow path, the store) are in it, not only each module's top level.
  const { exports, script } = runBundle(text, bundleFile, distDir);
  const cli = exports as typeof import('../cli/main');
  const sample = path.resolve(distDir, '..', 'samples', 'exchange-org.pcapng');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-bundle-'));
  try {
    if (fs.existsSync(sample)) {
      const db = path.join(tmp, 'warm.sqlite');
      const said = process.stderr.write.bind(process.stderr);
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        await cli.main(['node', 'exflow', 'analyze', sample, '--db', db, '--quiet']);
      } finally {
        process.stderr.write = said;
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.exitCode = 0;
  const cache = script.createCachedData();
  fs.writeFileSync(cacheFile, cache);
  process.stdout.write(`exflow: bundled ${modules.sources.size} modules into dist/${BUNDLE_FILE} (${Math.round(text.length / 1024)} KB), code cache ${Math.round(cache.length / 1024)} KB\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`exflow bundle: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
