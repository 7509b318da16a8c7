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
    // With the RPC layer: the connection that began before the capture has no SYN, and its requests show who the client is.
    const { flows } = await flowsOf(SAMPLE, { rpc: true });
    const got = flows.map((f) => `${f.transport} ${f.client} > ${f.server}:${f.serverPort}`).sort();
    const want = SAMPLE_FLOWS.map((f) => `${f.transport} ${f.client} > ${f.server}:${f.port}`).sort();
    expect(got).toEqual(want);
  });

  it('with samples/inventory.yaml (the README command) every flow has a verdict: all expected but the refused RDP attempt', () => {
    const db = path.join(tmpDir(), 'v.sqlite');
    const a = runCli(['analyze', SAMPLE, '--db', db, '--inventory', path.join(path.dirname(SAMPLE), 'inventory.yaml')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/25 expected, 1 unexpected, 0 unknown/);
    const rows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Record<string, unknown>[];
    expect(rows.filter((x) => x.verdict === 'unexpected').map((x) => x.service)).toEqual(['rdp']);
  });

  it('analyze + flows --format json give the documented keys; a second analyze is skipped', () => {
    const dir = tmpDir();
    const db = path.join(dir, 's.sqlite');
    expect(runCli(['analyze', SAMPLE, '--db', db, '--quiet']).code).toBe(0);
    const again = runCli(['analyze', SAMPLE, '--db', db]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already analyzed');
    const r = runCli(['flows', '--db', db, '--format', 'json']);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows.length).toBe(SAMPLE_FLOWS.length);
    for (const k of ['capture', 'transport', 'client', 'client_port', 'server', 'server_port', 'first_seen', 'last_seen', 'packets', 'bytes', 'service', 'via']) {
      expect(rows[0]).toHaveProperty(k);
    }
    // What the generator says each flow is: the RPC interface where there is one, else the service.
    const said = rows.map((x) => `${x.client} > ${x.server}:${x.server_port} ${x.rpc_interface ?? x.service}`).sort();
    expect(said).toEqual(SAMPLE_FLOWS.map((f) => `${f.client} > ${f.server}:${f.port} ${f.expect}`).sort());
    // The MAPI connection that began before the capture has no bind: named from the mapper's answer.
    const early = rows.find((x) => x.client_port === 49650)!;
    expect([early.service, early.via, early.rpc_interface, early.direction_by]).toEqual(['mapi-rpc', 'epm', 'emsmdb', 'payload']);
    const smtp = rows.find((x) => x.server_port === 25 && x.client === '198.51.100.25')!;
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
