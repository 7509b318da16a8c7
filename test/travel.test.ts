// Results that travel (issue 23, item 8): the sensor of each run, flow ids that do
// not collide between sensors and stay the same when a body is sent again, _bulk
// bodies in numbered chunks under Elasticsearch's request limit, an index template a
// newer exflow can still write to, and `exflow merge` of several sensors' databases.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';
import { writeSynthetic } from '../src/samples/synthetic';

const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');
const INVENTORY = path.join(ROOT, 'samples', 'inventory.yaml');
const LAB = path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap');

interface Doc {
  event: { id: string };
  observer?: { name: string; hostname?: string };
  exflow: Record<string, unknown>;
  [k: string]: unknown;
}

const ok = (r: { code: number; stderr: string }) => expect(r.code, r.stderr).toBe(0);
const docsOf = (db: string, ...args: string[]) =>
  runCli(['export', '--db', db, ...args]).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);

describe('sensors and flow ids', () => {
  const dir = tmpDir();
  const a = path.join(dir, 'a.sqlite');
  const a2 = path.join(dir, 'a2.sqlite');
  const b = path.join(dir, 'b.sqlite');
  beforeAll(() => {
    ok(runCli(['analyze', SAMPLE, '--db', a, '--sensor', 'site-a', '--inventory', INVENTORY, '--quiet']));
    ok(runCli(['analyze', SAMPLE, '--db', a2, '--sensor', 'site-a', '--inventory', INVENTORY, '--quiet']));
    ok(runCli(['analyze', SAMPLE, '--db', b, '--sensor', 'site-b', '--quiet']));
  });

  it('each run keeps its sensor; exports carry it as observer.name, with the analyzing host', () => {
    const runs = JSON.parse(runCli(['runs', '--db', a, '--format', 'json']).stdout) as { sensor: string }[];
    expect(runs.map((r) => r.sensor)).toEqual(['site-a']);
    const docs = docsOf(a);
    expect(docs).toHaveLength(26);
    for (const d of docs) expect(d.observer).toEqual({ name: 'site-a', hostname: expect.any(String) });
  });

  it('event.id: the same for the same flow analyzed again, apart between sensors, unique in an export', () => {
    const ids = (db: string) => docsOf(db).map((d) => d.event.id).sort();
    const ofA = ids(a);
    expect(new Set(ofA).size).toBe(26);
    expect(ids(a2)).toEqual(ofA);
    const ofB = new Set(ids(b));
    expect(ofA.filter((id) => ofB.has(id))).toEqual([]);
    // --force analyzes the capture again, in a new run: the ids stay.
    ok(runCli(['analyze', SAMPLE, '--db', a2, '--sensor', 'site-a', '--force', '--quiet']));
    expect(ids(a2)).toEqual(ofA);
  });

  it('--sensor filters reports; an unknown or malformed one is a usage error', () => {
    expect(JSON.parse(runCli(['flows', '--db', a, '--sensor', 'site-a', '--format', 'json']).stdout)).toHaveLength(26);
    const unknown = runCli(['flows', '--db', a, '--sensor', 'site-b']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/--sensor "site-b" is not a sensor exflow knows; did you mean site-a\?/);
    const bad = runCli(['analyze', SAMPLE, '--db', path.join(dir, 'x.sqlite'), '--sensor', 'a b;rm']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/^exflow: --sensor takes a name/);
  });
});

describe('_bulk bodies in chunks', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'x.sqlite');
  beforeAll(() => {
    const file = path.join(dir, 'many.pcap');
    writeSynthetic(file, { packets: 40_000, flows: 8_000 });
    ok(runCli(['analyze', file, '--db', db, '--quiet']));
  });

  it('numbered files of at most --chunk-mb, each a whole body, every flow once, _id = event.id', () => {
    const out = path.join(dir, 'flows.ndjson');
    const r = runCli(['export', '--db', db, '--format', 'bulk', '--out', out, '--chunk-mb', '1']);
    ok(r);
    const files = fs.readdirSync(dir).filter((f) => /^flows-\d{4}\.ndjson$/.test(f)).sort();
    expect(files.length).toBeGreaterThan(3);
    expect(r.stderr).toContain(`${files.length} bulk bodies of at most 1 MB`);
    const ids: string[] = [];
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1e6);
      const lines = text.trim().split('\n');
      expect(lines.length % 2).toBe(0);
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i]) as { create: { _index: string; _id: string } };
        const doc = JSON.parse(lines[i + 1]) as Doc;
        expect(action.create._id).toBe(doc.event.id);
        ids.push(doc.event.id);
      }
    }
    const flows = JSON.parse(runCli(['report', 'summary', '--db', db, '--format', 'json']).stdout).totals.flows as number;
    expect(ids).toHaveLength(flows);
    expect(new Set(ids).size).toBe(flows);
    // Bigger chunks: fewer files, and the earlier export's extra files are gone.
    const again = runCli(['export', '--db', db, '--format', 'bulk', '--out', out, '--chunk-mb', '5']);
    ok(again);
    expect(again.stderr).toMatch(/older chunk files? of the earlier export removed/);
    const now = fs.readdirSync(dir).filter((f) => /^flows-\d{4}\.ndjson$/.test(f));
    expect(now.length).toBeLessThan(files.length);
  });
});

describe('the index template', () => {
  const t = JSON.parse(fs.readFileSync(path.join(ROOT, 'share', 'elastic', 'exflow-flows-template.json'), 'utf8'));

  it('maps every field of every document (sample and lab, with an inventory: citations, names, protection)', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'x.sqlite');
    ok(runCli(['analyze', SAMPLE, LAB, '--separate', '--db', db, '--inventory', INVENTORY, '--sensor', 'lab', '--quiet']));
    const mapped = (obj: Record<string, unknown>, props: Record<string, { properties?: Record<string, unknown> }>, at: string) => {
      for (const [k, v] of Object.entries(obj)) {
        expect(props[k], `${at}${k} is mapped`).toBeDefined();
        if (v && typeof v === 'object' && !Array.isArray(v)) mapped(v as Record<string, unknown>, props[k].properties as never, `${at}${k}.`);
      }
    };
    const docs = docsOf(db);
    expect(docs.length).toBeGreaterThan(200);
    for (const d of docs) mapped(d, t.template.mappings.properties, '');
  });

  it('is not strict (a newer exflow adds fields), leaves shards to the cluster, and url.original has a text sub-field', () => {
    expect(t.template.mappings.dynamic).toBe(false);
    expect(t.template.settings?.index?.number_of_shards).toBeUndefined();
    expect(t.template.mappings.properties.url.properties.original).toMatchObject({ type: 'keyword', fields: { text: { type: 'text' } } });
    expect(t._meta.checked_against).toMatch(/Elasticsearch 8.*OpenSearch 2/);
  });
});

describe('exflow merge', () => {
  const dir = tmpDir();
  const a = path.join(dir, 'site-a.sqlite');
  const b = path.join(dir, 'site-b.sqlite');
  const org = path.join(dir, 'org.sqlite');
  beforeAll(() => {
    ok(runCli(['analyze', SAMPLE, '--db', a, '--sensor', 'site-a', '--inventory', INVENTORY, '--quiet']));
    ok(runCli(['analyze', LAB, '--db', b, '--sensor', 'site-b', '--quiet']));
  });

  const flowsOf = (db: string, ...args: string[]) =>
    (JSON.parse(runCli(['flows', '--db', db, '--format', 'json', ...args]).stdout) as Record<string, unknown>[]).map(({ capture: _c, ...f }) => f);

  it('brings both sensors\' runs in: each sensor\'s flows as its own database has them, roles from the inventory taken over', () => {
    const r = runCli(['merge', a, b, '--db', org]);
    ok(r);
    expect(r.stdout).toMatch(/site-a\.sqlite: 1 run merged \(1 capture, 26 flows; sensor site-a\); \d+ inventory entries taken over/);
    expect(r.stdout).toMatch(/site-b\.sqlite: 1 run merged \(1 capture, 191 flows; sensor site-b\)/);
    const strip = (fs_: Record<string, unknown>[]) => fs_.map((f) => JSON.stringify({ ...f, client_role: undefined, server_role: undefined, verdict: undefined, rule: undefined, reason: undefined, cite: undefined, encryption: undefined, encryption_cite: undefined, client_name: undefined, server_name: undefined })).sort();
    expect(strip(flowsOf(org, '--sensor', 'site-a'))).toEqual(strip(flowsOf(a)));
    expect(strip(flowsOf(org, '--sensor', 'site-b'))).toEqual(strip(flowsOf(b)));
    // The inventory came with site-a's database: its hosts keep their roles.
    const hosts = JSON.parse(runCli(['hosts', '--db', org, '--format', 'json']).stdout) as { address: string; role_source: string }[];
    expect(hosts.find((h) => h.address === '10.10.0.30')?.role_source).toBe('inventory');
    // Exports of the merged database give the ids each sensor's own gives.
    const ids = (db: string, ...args: string[]) => docsOf(db, ...args).map((d) => d.event.id).sort();
    expect(ids(org, '--sensor', 'site-a')).toEqual(ids(a));
  });

  it('a second merge of the same databases adds nothing', () => {
    const before = flowsOf(org).length;
    const r = runCli(['merge', a, b, '--db', org]);
    ok(r);
    expect(r.stdout).toMatch(/0 runs merged .*1 already here \(run 1 is run 1\)/);
    expect(flowsOf(org)).toHaveLength(before);
  });

  it('a file that is not an exflow database stops the merge before anything is written (exit 3)', () => {
    const junk = path.join(dir, 'junk.sqlite');
    fs.writeFileSync(junk, 'not a database at all, just text'.repeat(100));
    const fresh = path.join(dir, 'fresh.sqlite');
    const r = runCli(['merge', a, junk, '--db', fresh]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^exflow: .*junk\.sqlite: /);
    expect(runCli(['runs', '--db', fresh, '--format', 'json']).stdout.trim()).toBe('[]');
  });

  it('--shared-registry names flows from every sensor\'s registry', () => {
    const shared = path.join(dir, 'shared.sqlite');
    ok(runCli(['merge', a, b, '--db', shared, '--shared-registry']));
    expect(flowsOf(shared)).toHaveLength(26 + 191);
  });
});
