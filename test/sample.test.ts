// The project's own sample: the generator reproduces the committed file byte for
// byte, and analysis finds exactly the flows the generator says it wrote.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildSample, SAMPLE_FLOWS } from '../src/samples/make-sample';
import { pcapngBytes } from '../src/samples/writer';
import { flowsOf, ROOT, runCli, tmpDir } from './helpers';

const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');

describe('samples/exchange-org.pcapng', () => {
  it('is what the generator writes', () => {
    expect(pcapngBytes(buildSample()).equals(fs.readFileSync(SAMPLE))).toBe(true);
  });

  it('holds the generator\'s flows, each with the right client and server', async () => {
    buildSample();
    const { flows } = await flowsOf(SAMPLE);
    const got = flows.map((f) => `${f.transport} ${f.client} > ${f.server}:${f.serverPort}`).sort();
    const want = SAMPLE_FLOWS.map((f) => `${f.transport} ${f.client} > ${f.server}:${f.port}`).sort();
    expect(got).toEqual(want);
  });

  it('analyze + flows --format json give the documented keys; a second analyze is skipped', () => {
    const dir = tmpDir();
    const db = path.join(dir, 's.sqlite');
    expect(runCli(['analyze', SAMPLE, '--db', db, '--quiet']).code).toBe(0);
    const again = runCli(['analyze', SAMPLE, '--db', db, '--quiet']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already analyzed');
    const r = runCli(['flows', '--db', db, '--format', 'json']);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows.length).toBe(SAMPLE_FLOWS.length);
    for (const k of ['capture', 'transport', 'client', 'client_port', 'server', 'server_port', 'first_seen', 'last_seen', 'packets', 'bytes', 'service', 'via']) {
      expect(rows[0]).toHaveProperty(k);
    }
    const smtp = rows.find((x) => x.server_port === 25)!;
    expect(smtp.service).toBe('smtp');
    expect(smtp.via).toBe('port');
    expect(String(smtp.first_seen)).toMatch(/^2026-01-15T09:\d\d:\d\d\.\d+Z$/);
    const csv = runCli(['flows', '--db', db, '--format', 'csv', '--limit', '3']);
    expect(csv.stdout.trim().split('\n')).toHaveLength(4);
    // --force replaces the earlier run instead of adding a second copy.
    expect(runCli(['analyze', SAMPLE, '--db', db, '--quiet', '--force']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    expect((d.prepare('SELECT count(*) AS n FROM captures').get() as { n: number }).n).toBe(1);
    expect((d.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n).toBe(SAMPLE_FLOWS.length);
    d.close();
  });
});
