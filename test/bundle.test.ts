// The installed command (dist/cli/exflow.js) runs the command line from one bundled file and
// V8's code cache of it (issue 33: start-up). The bundle must be the same program as the files:
// the same output, exit codes and files written, with the cache and with a cache Node rejects.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FILE, CACHE_FILE } from '../src/cli/bundle-format';
import { collectModules } from '../src/build/bundle';
import { ROOT, tmpDir } from './helpers';

const LAUNCHER = path.join(ROOT, 'dist', 'cli', 'exflow.js');
const FILES = path.join(ROOT, 'dist', 'cli', 'main.js');
const DIST = path.join(ROOT, 'dist');
const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env, EXFLOW_NO_PROGRESS: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Outputs that differ only by the time a run took. */
const untimed = (text: string) => text.replace(/\d+(\.\d+)? s\b/g, 'T s').replace(/\d+ packets\/s/g, 'N packets/s');

describe('the bundled command line', () => {
  it('is ASCII and holds every module main.js loads, and the packages every start needs', () => {
    const text = fs.readFileSync(path.join(DIST, BUNDLE_FILE));
    expect(text.every((b) => b < 0x80)).toBe(true);
    const mods = collectModules(DIST, 'cli/main.js');
    expect(mods.sources.has('run/analyze.js')).toBe(true);
    expect([...mods.packages.keys()].sort()).toEqual(['commander', 'csv-parse/sync']);
    for (const rel of mods.sources.keys()) expect(text.includes(JSON.stringify(rel)), rel).toBe(true);
    expect(fs.statSync(path.join(DIST, CACHE_FILE)).size).toBeGreaterThan(0);
  });

  it('gives what main.js gives: analyze, reports, errors and their exit codes; and with a cache V8 rejects', () => {
    const dir = tmpDir();
    const cases: string[][] = [
      ['--version'],
      ['report', '--help'],
      ['analyze', SAMPLE, '--db', '@DB', '--inventory', path.join(ROOT, 'samples', 'inventory.yaml')],
      ['report', 'matrix', '--db', '@DB', '--format', 'json'],
      ['flows', '--db', '@DB', '--format', 'csv', '--role', 'mailbox'],
      ['report', 'html', '--db', '@DB', '--out', '@OUT'],
      ['flows', '--db', path.join(dir, 'absent.sqlite')],
      ['report', 'nonsense'],
      ['analyze', path.join(ROOT, 'README.md'), '--db', '@DB2'],
    ];
    const outcomes = (script: string, tag: string, env: Record<string, string> = {}) =>
      cases.map((args) => {
        const a = args.map((x) => (x === '@DB' ? path.join(dir, `${tag}.sqlite`) : x === '@DB2' ? path.join(dir, `${tag}-2.sqlite`) : x === '@OUT' ? path.join(dir, `${tag}.html`) : x));
        const r = run(script, a, env);
        const named = (s: string) => untimed(s.split(tag).join('zqTAG'));
        return { args: args.join(' '), code: r.code, stdout: named(r.stdout), stderr: named(r.stderr) };
      });
    const files = outcomes(FILES, 'zqfiles');
    expect(files.map((o) => o.code)).toEqual([0, 0, 0, 0, 0, 0, 3, 64, 2]);
    expect(files[2].stdout + files[2].stderr).toMatch(/1 capture analyzed, 217 packets, 26 flows/);
    const bundled = outcomes(LAUNCHER, 'zqbundled');
    expect(bundled).toEqual(files);
    expect(fs.readFileSync(path.join(dir, 'zqbundled.html'), 'utf8').length).toBe(fs.readFileSync(path.join(dir, 'zqfiles.html'), 'utf8').length);
    // A cache this Node does not take (another Node, a damaged file) is set aside by V8: the same program.
    const cache = path.join(DIST, CACHE_FILE);
    const kept = fs.readFileSync(cache);
    const damaged = Buffer.from(kept);
    damaged.fill(0x5a, 0, 64);
    fs.writeFileSync(cache, damaged);
    try {
      expect(outcomes(LAUNCHER, 'zqrejected').slice(0, 5)).toEqual(files.slice(0, 5));
    } finally {
      fs.writeFileSync(cache, kept);
    }
  });
});
