// analyze --threads N gives what one thread gives: every row of every table, on the
// shared real captures (each its own stream, and a folder of them as one stream) and
// on small versions of the three bench workloads. Three threads on any machine, so
// that shares are uneven and really run side by side. And a signal stops every thread.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureFiles, CLI, HAVE_SHARED, holdsOpen, ROOT, runCli, shared, tmpDir, waitFor } from './helpers';
import { writeSynthetic } from '../src/samples/synthetic';
import { writeExchangeLike } from '../src/samples/exchange-like';
import { defaultTemplates, writeOrgDay } from '../src/samples/org-day';

/** Columns that say when or how long the run took, or in which order rows were written (a flow's id, a rollup row's first flow id), not what it found. */
const VOLATILE = new Set(['id', 'seconds', 'analyzed_at', 'first_id']);

/** Every table but runs, each row as JSON with its volatile columns left out, sorted. */
function dump(file: string): Record<string, string[]> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, string[]> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'runs'").pluck().all() as string[];
    for (const t of tables) {
      const cols = (db.prepare(`PRAGMA table_info("${t}")`).all() as { name: string }[]).map((c) => c.name).filter((c) => !VOLATILE.has(c));
      const rows = db.prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM "${t}"`).raw().all() as unknown[][];
      out[t] = rows.map((r) => JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v)))).sort();
    }
    return out;
  } finally {
    db.close();
  }
}

function analyzeWith(threads: number, dir: string, args: string[]): string {
  const db = path.join(dir, `t${threads}.sqlite`);
  const r = runCli(['analyze', ...args, '--db', db, '--quiet', '--threads', String(threads)]);
  expect(r.code, r.stderr).toBe(0);
  return db;
}

function expectSameRows(args: string[], minFlows: number): void {
  const dir = tmpDir();
  const one = dump(analyzeWith(1, dir, args));
  const three = dump(analyzeWith(3, dir, args));
  expect(one.flows.length).toBeGreaterThanOrEqual(minFlows);
  expect(Object.keys(three).sort()).toEqual(Object.keys(one).sort());
  for (const t of Object.keys(one)) expect({ table: t, rows: three[t] }).toEqual({ table: t, rows: one[t] });
  fs.rmSync(dir, { recursive: true, force: true });
}

describe.skipIf(!HAVE_SHARED)('threads on the shared captures', () => {
  it('every shared capture, each its own stream: the same rows with 3 threads as with 1', () => {
    const files = ['lab', 'lab-exchange', 'public'].flatMap((d) => captureFiles(d));
    expect(files.length).toBeGreaterThan(80);
    expectSameRows([...files, '--separate'], 700);
  });

  it('a folder of captures as one stream (flows crossing files): the same rows', () => {
    expectSameRows([shared('lab-exchange')], 10);
  });

  it('the project\'s lab captures, with an inventory: the same roles and verdicts', () => {
    expectSameRows([path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap'), path.join(ROOT, 'test', 'fixtures', 'protection'), '--separate', '--inventory', path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'inventory.yaml')], 150);
  });
});

describe('threads on the bench workloads (small versions)', () => {
  const dir = tmpDir();
  const mix = path.join(dir, 'org-mix.pcap');
  const synthetic = path.join(dir, 'synthetic.pcap');
  const exchange = path.join(dir, 'exchange-like.pcap');
  beforeAll(async () => {
    await writeOrgDay(mix, { packets: 120_000, templates: defaultTemplates(ROOT) });
    writeSynthetic(synthetic, { packets: 60_000, flows: 6_000 });
    writeExchangeLike(exchange, { packets: 60_000 });
  });

  it('the organisation mix: the same rows', () => expectSameRows([mix], 1000));
  it('the synthetic workload (6,000 flows between 6,000 hosts): the same rows', () => expectSameRows([synthetic], 5000));
  it('the Exchange-like workload: the same rows', () => expectSameRows([exchange], 100));

  it('a flow table too small for the capture: each share writes its flows out early, and the run says so', () => {
    const r = runCli(['analyze', synthetic, '--db', path.join(dir, 'small.sqlite'), '--threads', '3', '--max-flows', '300']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/flow table full: \d+ active flows written out early/);
  });

  it('SIGINT stops every thread: the run is interrupted (exit 130) and shows nothing', async () => {
    const big = path.join(dir, 'big-mix.pcap');
    await writeOrgDay(big, { packets: 400_000, templates: defaultTemplates(ROOT) });
    const db = path.join(dir, 'stopped.sqlite');
    const child = spawn(process.execPath, [CLI, 'analyze', big, '--db', db, '--threads', '2', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    // Once a thread has the capture open the run is under way (its signal handlers were
    // installed before): a guessed delay failed on a busy machine, before Node had installed them.
    expect(await waitFor(() => holdsOpen(child.pid!, big)), 'the capture was opened').toBe(true);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    expect(runCli(['flows', '--db', db, '--format', 'csv']).stdout.trim().split('\n')).toHaveLength(1);
    expect(runCli(['runs', '--db', db, '--format', 'csv']).stdout).toMatch(/interrupted/);
  });
});
