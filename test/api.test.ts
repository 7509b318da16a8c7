// exflow as a library, through the entry point package.json names (dist/index.js):
// the run and the reports give what the commands give, errors are thrown (never an
// exit or a print), and an aborted run is 'interrupted' and shows nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const exflow = require(path.join(ROOT, 'dist', 'index.js')) as typeof import('../src/index');
const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');
const INVENTORY = path.join(ROOT, 'samples', 'inventory.yaml');

describe('the library entry point', () => {
  it('package.json main and types name files that exist', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; types: string };
    expect(fs.existsSync(path.join(ROOT, pkg.main))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, pkg.types))).toBe(true);
  });

  it('analyze + reports = the commands, row for row', async () => {
    const dir = tmpDir();
    const lib = path.join(dir, 'lib.sqlite');
    const cli = path.join(dir, 'cli.sqlite');
    const warnings: string[] = [];
    const r = await exflow.analyze([SAMPLE], { db: lib, inventory: INVENTORY, onWarning: (l) => warnings.push(l) });
    expect(r.status).toBe('complete');
    expect(r.flows).toBe(26);
    expect(r.audit?.counts).toMatchObject({ expected: 25, unexpected: 1, unknown: 0 });
    expect(runCli(['analyze', SAMPLE, '--db', cli, '--inventory', INVENTORY, '--quiet']).code).toBe(0);
    const db = exflow.openDatabase(lib);
    try {
      const strip = (rows: Record<string, unknown>[]) => rows.map(({ capture: _c, ...x }) => x);
      expect(strip([...exflow.flows(db)] as Record<string, unknown>[])).toEqual(strip(JSON.parse(runCli(['flows', '--db', cli, '--format', 'json']).stdout)));
      expect([...exflow.hosts(db)]).toEqual(JSON.parse(runCli(['hosts', '--db', cli, '--format', 'json']).stdout));
      expect(exflow.reports.unexpected(db)).toEqual(JSON.parse(runCli(['report', 'unexpected', '--db', cli, '--format', 'json']).stdout));
      expect(exflow.reports.protection(db)).toEqual(JSON.parse(runCli(['report', 'protection', '--db', cli, '--format', 'json']).stdout));
      expect(exflow.host(db, '10.10.0.30').flows).toBeGreaterThan(0);
      const lines: string[] = [];
      exflow.reports.export(db, (l) => lines.push(l));
      expect(lines).toHaveLength(26);
      expect(exflow.reports.html(db)).toMatch(/^<!doctype html>/i);
    } finally {
      db.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('errors are thrown with what is wrong, nothing is printed or exited', async () => {
    const dir = tmpDir();
    await expect(exflow.analyze([SAMPLE], { db: path.join(dir, 'x.sqlite'), rules: [path.join(dir, 'no-such-rules')] })).rejects.toBeInstanceOf(exflow.RulesError);
    expect(() => exflow.openDatabase(path.join(dir, 'missing.sqlite'))).toThrow(exflow.StoreError);
    await expect(exflow.analyze(['-'], { db: path.join(dir, 'x.sqlite') })).rejects.toThrow(/standard input/);
    const r = await exflow.analyze([path.join(dir, 'nothing-*.pcap')], { db: path.join(dir, 'y.sqlite') });
    expect(r.missing).toEqual([path.join(dir, 'nothing-*.pcap')]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an aborted run is interrupted and leaves nothing a report counts', async () => {
    const dir = tmpDir();
    const db = path.join(dir, 'a.sqlite');
    const abort = new AbortController();
    abort.abort();
    const r = await exflow.analyze([SAMPLE], { db, signal: abort.signal });
    expect(r.status).toBe('interrupted');
    const d = exflow.openDatabase(db);
    expect([...exflow.flows(d)]).toEqual([]);
    d.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
