// The one-file build of the command line (src/build/bundle.ts writes it; exflow.ts loads it).

/** Beside dist/cli: every module the command line loads, in one file. */
export const BUNDLE_FILE = 'exflow-bundle.js';
/** V8's code cache of the bundle, made at build time after a run of the sample. */
export const CACHE_FILE = 'exflow-bundle.cache';

/** What the bundle's text evaluates to: given Node's require and the dist folder, the entry's exports. */
export type BundleFactory = (nodeRequire: NodeJS.Require, distDir: string) => unknown;
