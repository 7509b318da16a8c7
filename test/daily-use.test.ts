// Issue 32: the daily habits of tshark, Zeek and nfdump users.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED)('10. hosts sort by address as numbers do', () => {
  it('the lab\'s hosts: 10.77.0.10, .20, .30, .100 — not .100 before .20 as text would', () => {
    const db = path.join(dir, 'lab.sqlite');
    expect(runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--quiet']).code).toBe(0);
    const r = runCli(['hosts', '--db', db, '--format', 'csv']);
    expect(r.code, r.stderr).toBe(0);
    const addresses = r.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(addresses).toEqual(['10.77.0.10', '10.77.0.20', '10.77.0.30', '10.77.0.100']);
    // The same order in every format: JSON too.
    expect((JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string }[]).map((h) => h.address)).toEqual(addresses);
  });
});
