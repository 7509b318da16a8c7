// ECS export: every document carries ecs.version, and network.community_id equals
// tshark's Community ID (its communityid dissector) for every flow of every shared
// capture with TCP/UDP flows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureFiles, HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, tmpDir, tsharkReading } from './helpers';
import { openDb } from '../src/store/db';
import { flowViewRows } from '../src/report/flows';
import { ecsDocument, ecsJson } from '../src/report/export';
import { loadRules } from '../src/rules/load';
import Database from 'better-sqlite3';

/** tshark's Community IDs by orientation-free tuple, from the innermost IP and transport headers. */
function tsharkIds(file: string): Map<string, Set<string>> {
  const ids = new Map<string, Set<string>>();
  for (const line of tsharkReading(file).packets) {
    const [s4, s6, st, su, d4, d6, dt, du, cid] = line.split('\t');
    if (!cid) continue;
    // IPv6 in IPv4 (or the reverse): both headers are in the line; the flow may be keyed on either.
    for (const [s, d] of [[s4, d4], [s6, d6]]) {
      if (!s || !d) continue;
      const a = `${s} ${st || su}`;
      const b = `${d} ${dt || du}`;
      const key = `${st ? 'tcp' : 'udp'} ${a < b ? a + ' ' + b : b + ' ' + a}`;
      if (!ids.has(key)) ids.set(key, new Set());
      ids.get(key)!.add(cid);
    }
  }
  return ids;
}

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('ECS export against tshark', () => {
  const files = [...captureFiles('lab'), ...captureFiles('lab-exchange'), ...captureFiles('public')].filter((f) => fs.statSync(f).size > 24);
  const db = path.join(tmpDir(), 'ecs.sqlite');
  const a = runCli(['analyze', ...files, '--db', db, '--separate', '--quiet']);

  it('analyzed every shared capture', () => {
    expect([0, 2]).toContain(a.code); // 2: the public set holds captures that are damaged on purpose
  });

  // One export of every flow, its documents by capture (a spawn per capture cost ~0.4 s each).
  let byCapture: Map<string, Record<string, any>[]> | null = null;
  const docsOf = (file: string): Record<string, any>[] => {
    if (!byCapture) {
      const r = runCli(['export', '--db', db]);
      expect(r.code, r.stderr).toBe(0);
      byCapture = new Map();
      for (const l of r.stdout.split('\n')) {
        if (!l) continue;
        const d = JSON.parse(l);
        const at = byCapture.get(d.exflow.capture_path) ?? [];
        at.push(d);
        byCapture.set(d.exflow.capture_path, at);
      }
    }
    const mine = byCapture.get(file);
    if (mine) return mine;
    // Stored under another path (a capture whose content was analyzed before): as --capture finds it.
    const r = runCli(['export', '--db', db, '--capture', file]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  };

  for (const file of files) {
    it(`${path.basename(file)}: every document has ecs.version, related.ip and tshark's community_id`, () => {
      const docs = docsOf(file);
      const ids = tsharkIds(file);
      let compared = 0;
      for (const d of docs) {
        expect(d.ecs.version).toMatch(/^8\.\d+\.\d+$/);
        expect(d.related.ip).toContain(d.source.ip);
        expect(d['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        const a1 = `${d.source.ip} ${d.source.port}`;
        const b1 = `${d.destination.ip} ${d.destination.port}`;
        const key = `${d.network.transport} ${a1 < b1 ? a1 + ' ' + b1 : b1 + ' ' + a1}`;
        const theirs = ids.get(key);
        if (!theirs) continue; // tshark saw this tuple on another layer (a tunnel's outer header) or not at all
        expect([...theirs], key).toContain(d.network.community_id);
        compared++;
      }
      if (docs.length > 0 && ids.size > 0) expect(compared).toBeGreaterThan(0);
    });
  }

  it('the index template is valid JSON that maps every field a document has', () => {
    const t = JSON.parse(fs.readFileSync(path.join(ROOT, 'share', 'elastic', 'exflow-flows-template.json'), 'utf8'));
    const doc = JSON.parse(runCli(['export', '--db', db]).stdout.split('\n')[0]);
    const mapped = (obj: Record<string, unknown>, props: Record<string, { properties?: Record<string, unknown> }>, at: string) => {
      for (const [k, v] of Object.entries(obj)) {
        expect(props[k], `${at}${k} is mapped`).toBeDefined();
        if (v && typeof v === 'object' && !Array.isArray(v)) mapped(v as Record<string, unknown>, props[k].properties as never, `${at}${k}.`);
      }
    };
    mapped(doc, t.template.mappings.properties, '');
  });

  // The export reads flows with their verdicts' and captures' texts held aside (read once, not
  // per flow), and judges them from memory (hosts and verdict keys held); the reference is
  // flow_view read whole, as every flow listing did before. On these captures and on the sample
  // with its inventory (names, roles, encryption findings).
  it('the documents the export writes as text are ecsDocument\'s, byte for byte: every flow of the shared captures and the sample, and sensors and names of hostile text', () => {
    const sample = path.join(tmpDir(), 'sample-text.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', sample, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '--sensor', 'site-a', '--quiet']).code).toBe(0);
    // Values JSON must escape, where the export writes text: a sensor, its host, a name.
    const w = new Database(sample);
    w.prepare('UPDATE runs SET sensor = ?, host = ?').run('s\'x"\\y\u202e\n\u0000', 'h\t"');
    w.prepare("UPDATE hosts SET name = ? WHERE address IN (SELECT address FROM hosts WHERE name IS NOT NULL LIMIT 2)").run('n"\\\u2028');
    w.close();
    const rules = loadRules([]);
    const protocolOf = (service: string | null) => (service === null ? null : (rules.serviceById.get(service)?.protocol ?? null));
    let flows = 0;
    for (const file of [db, sample]) {
      const d = openDb(file, { readonly: true });
      try {
        for (const r of flowViewRows(d, {}, { order: 'stored' })) {
          expect(ecsJson(r, protocolOf), `flow ${r.id}`).toBe(JSON.stringify(ecsDocument(r, protocolOf)));
          flows++;
        }
      } finally {
        d.close();
      }
    }
    expect(flows).toBeGreaterThan(500);
  });

  it('flows read for export are the rows of flow_view, in capture and time order or as stored, judged in memory, with the verdicts held or read per flow', () => {
    const sample = path.join(tmpDir(), 'sample.sqlite');
    const s = runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', sample, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '--quiet']);
    expect(s.code, s.stderr).toBe(0);
    const seen = { names: 0, encryption: 0, verdicts: 0 };
    for (const file of [db, sample]) {
      const d = openDb(file, { readonly: true });
      try {
        const whole = d.prepare('SELECT * FROM flow_view f ORDER BY f.capture_id, f.first_sec, f.first_nsec, f.id').all() as Record<string, unknown>[];
        const stored = [...whole].sort((a, b) => Number(a.id) - Number(b.id));
        expect(whole.length).toBeGreaterThan(20);
        seen.names += whole.filter((r) => r.client_name !== null || r.server_name !== null).length;
        seen.encryption += whole.filter((r) => r.encryption !== null).length;
        seen.verdicts += whole.filter((r) => r.verdict !== null).length;
        const ways: [string, Parameters<typeof flowViewRows>[2], Record<string, unknown>[]][] = [
          ['judged in memory', {}, whole],
          ['judged in memory, as stored', { order: 'stored' }, stored],
          ['judged by flow_view, verdicts held', { judgementHeld: 0 }, whole],
          ['judged by flow_view, verdicts per flow', { verdictsHeld: 0 }, whole],
        ];
        for (const [how, o, expected] of ways) {
          const rows = [...flowViewRows(d, {}, o)] as unknown as Record<string, unknown>[];
          expect(rows, how).toHaveLength(expected.length);
          rows.forEach((r, i) => {
            for (const k of Object.keys(r)) expect(r[k], `${how}: flow ${expected[i].id} ${k}`).toStrictEqual(expected[i][k]);
          });
        }
      } finally {
        d.close();
      }
    }
    expect(seen.names).toBeGreaterThan(0);
    expect(seen.encryption).toBeGreaterThan(0);
    expect(seen.verdicts).toBeGreaterThan(100);
  });
});
