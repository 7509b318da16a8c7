// Reports from ClickHouse (issue 29) against a real server the test starts: three sensors (the
// shared lab captures, the public captures with the lab-exchange cases as a second run, and a
// generated organisation) are shipped into one engine and merged into one SQLite database; every
// report the engine answers must print what the same report prints on the merged database —
// byte for byte, in every format and with each filter it takes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { defaultTemplates, writeOrgDay } from '../src/samples/org-day';
import { CLICKHOUSE_SERVER } from '../src/bench/clickhouse-server';
import { alteredCopy, captureFiles, HAVE_SHARED, ROOT, runCli, shared, tmpDir } from './helpers';
import { startClickHouse, type ClickHouseServer } from './clickhouse-server';
import { numberLiteral } from '../src/store/clickhouse/quote';

if (!CLICKHOUSE_SERVER) console.warn('clickhouse-server not installed: the reports-from-ClickHouse tests are skipped (apt-get install clickhouse-server; .ci/run installs it)');

const ok = (args: string[]) => {
  const r = runCli(args);
  if (r.code !== 0) throw new Error(`exflow ${args.join(' ')} failed: ${r.stderr}`);
  return r;
};

/**
 * A sensor name no analyze gives (--sensor takes a plain name) but a hostile database may hold,
 * which the engine and the copy must carry as data: quote, backslash, newline, a bidi override, SQL.
 */
const HOSTILE = "site-'x\\\n\u202e'; DROP TABLE runs; --";

describe.skipIf(!HAVE_SHARED || !CLICKHOUSE_SERVER)('reports from ClickHouse: the answers of merge-then-report', () => {
  let ch: ClickHouseServer;
  let engine: string;
  const dir = tmpDir();
  const merged = path.join(dir, 'merged.sqlite');

  const copies = tmpDir();

  beforeAll(async () => {
    // The engine's copies in the test's own folder (the children inherit it), not the user's cache.
    process.env.EXFLOW_ENGINE_CACHE = copies;
    ch = await startClickHouse();
    engine = ch.url('org');
    const a = path.join(dir, 'site-a.sqlite');
    const b = path.join(dir, 'site-b.sqlite');
    const g = path.join(dir, 'site-g.sqlite');
    ok(['analyze', ...captureFiles('lab'), '--db', a, '--sensor', 'site-a']);
    // Sensor b's two runs in two files (one database a run): the sharded engine holds one on each server.
    const b2 = path.join(dir, 'site-b2.sqlite');
    ok(['analyze', shared('public'), '--db', b, '--sensor', 'site-b']);
    ok(['analyze', ...captureFiles('lab-exchange'), '--db', b2, '--sensor', 'site-b']);
    for (const f of [b, b2]) {
      const sensor = new Database(f);
      sensor.prepare('UPDATE runs SET sensor = ?').run(HOSTILE);
      sensor.close();
    }
    const day = path.join(dir, 'org.pcap');
    await writeOrgDay(day, { packets: 25_000, shortPercent: 100, clients: 300, concurrent: 60, paceUs: 200_000, templates: defaultTemplates(ROOT) });
    ok(['analyze', day, '--db', g, '--sensor', 'site-g']);
    for (const f of [a, b, b2, g]) ok(['ship', '--db', f, '--to', engine, '--chunk', '2000']);
    // Merged in the order the runs began: the order the engine numbers them in.
    ok(['merge', a, b, b2, g, '--db', merged]);
  }, 240_000);
  afterAll(async () => {
    // The worker runs other test files next (isolate: false): the setting goes with this file.
    delete process.env.EXFLOW_ENGINE_CACHE;
    await ch?.stop();
  });

  /** The same command on the engine and on the merged database: equal output and exit code. */
  const expectSame = (args: string[]) => {
    // The database's own name (an inventory's heading, "no such host in …") is the one difference.
    // And the HTML page's time of making.
    const named = (r: { stdout: string; stderr: string; code: number }, db: string) => ({ code: r.code, stdout: r.stdout.replaceAll(db, 'DB').replace(/generated \d{4}-[\d:.TZ-]+</, 'generated TIME<'), stderr: r.stderr.replaceAll(db, 'DB') });
    const e = named(runCli([...args, '--db', engine]), engine);
    const m = named(runCli([...args, '--db', merged]), merged);
    expect(e.stderr, args.join(' ')).toBe(m.stderr);
    expect(e.code, args.join(' ')).toBe(m.code);
    expect(e.stdout, args.join(' ')).toBe(m.stdout);
    return m;
  };

  it('every report, every format: what merge-then-report prints', () => {
    const reports = ['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection'];
    let printed = 0;
    // The firewall's plan, in the languages an administrator runs, per role and per host.
    for (const args of [['--format', 'nft'], ['--format', 'powershell', '--per', 'host'], ['--format', 'json', '--all']]) printed += expectSame(['report', 'firewall', ...args]).stdout.length;
    // JSON for each, and the text formats in turn (each report's text is written by the same code in every format).
    const text = ['csv', 'tsv', 'md', 'table'];
    reports.forEach((r, i) => {
      for (const format of ['json', text[i % text.length]]) printed += expectSame(['report', r, '--format', format]).stdout.length;
    });
    for (const format of ['json', 'tsv', 'inventory']) printed += expectSame(['hosts', '--format', format]).stdout.length;
    printed += expectSame(['runs', '--format', 'json']).stdout.length;
    expect(printed).toBeGreaterThan(200_000);
  }, 240_000);

  it('each filter the engine answers: hosts, blocks, names, services, roles, verdicts, findings, sensors', () => {
    // A busy host of each sensor, by the merged database's own answer.
    const hosts = JSON.parse(runCli(['hosts', '--db', merged, '--format', 'json']).stdout) as { address: string; roles: string[] | null; name: string | null }[];
    const busy = hosts.filter((h) => h.roles && h.roles.length > 0).slice(0, 3);
    expect(busy.length).toBe(3);
    const named = hosts.find((h) => h.name !== null);
    expect(named).toBeDefined();
    const filters: string[][] = [
      ['--host', busy[0].address],
      ['--server', busy[1].address],
      ['--client', '10.0.0.0/8'],
      ['--host', named!.name!],
      ['--service', 'ldap'],
      ['--role', 'domain-controller'],
      ['--verdict', 'unexpected'],
      ['--verdict', 'unknown', '--service', 'smtp'],
      ['--finding', 'ntlm-no-mic'],
      ['--sensor', 'site-g'],
      ['--sensor', 'site-a'],
    ];
    // Time windows, from the flows' own times: one that cuts the flows in two (at a flow's end, to the
    // nanosecond's double), one that ends there, one between two flows' starts.
    const times = new Database(merged, { readonly: true });
    const ends = times.prepare('SELECT last_sec + last_nsec / 1e9 FROM flows ORDER BY 1').pluck().all() as number[];
    const starts = times.prepare('SELECT first_sec + first_nsec / 1e9 FROM flows ORDER BY 1').pluck().all() as number[];
    times.close();
    const mid = ends[Math.floor(ends.length / 2)];
    filters.push(['--since', String(mid)], ['--until', String(mid)], ['--since', String(starts[Math.floor(starts.length / 3)]), '--until', String(ends[Math.floor((2 * ends.length) / 3)]), '--service', 'ldap']);
    // Each filter through one report, in turn: each report meets two filters (the filter is read
    // the same way by every report: the rollups test crosses them all on SQLite).
    const reports = ['summary', 'roles', 'unexpected', 'protection', 'matrix', 'services', 'encryption'];
    filters.forEach((f, i) => expectSame(['report', reports[i % reports.length], '--format', 'json', ...f]));
    // A window through the reports that read it differently: summary lists the captures with a flow
    // in it, roles the hosts, protection its findings' groups (every report reads the window's sums).
    for (const r of ['summary', 'roles', 'protection']) expectSame(['report', r, '--format', 'json', '--since', String(mid)]);
    busy.forEach((h, i) => expectSame(['host', h.address, ...(i === 0 ? [] : ['--format', 'json'])]));
    expectSame(['host', '192.0.2.254']);
  }, 240_000);

  it('flows one by one: every format and filter, --capture and --from-flows in reports — what merge-then-report prints', () => {
    const hosts = JSON.parse(runCli(['hosts', '--db', merged, '--format', 'json']).stdout) as { address: string; roles: string[] | null; name: string | null }[];
    const busy = hosts.filter((h) => h.roles && h.roles.length > 0).slice(0, 2);
    const named = hosts.find((h) => h.name !== null)!;
    const v6 = hosts.find((h) => h.address.includes(':'));
    const times = new Database(merged, { readonly: true });
    const ends = times.prepare('SELECT last_sec + last_nsec / 1e9 FROM flows ORDER BY 1').pluck().all() as number[];
    const path2 = times.prepare('SELECT path FROM captures WHERE id = 2').pluck().get() as string;
    // The server with the most flows with protection findings (its story's Protection section counts all time, whatever the window).
    const guarded = times.prepare('SELECT server FROM flows WHERE protection IS NOT NULL GROUP BY server ORDER BY count(*) DESC, server LIMIT 1').pluck().get() as string;
    const captures = times.prepare('SELECT count(*) FROM captures').pluck().get() as number;
    times.close();
    const mid = String(ends[Math.floor(ends.length / 2)]);
    let listed = 0;
    // JSON and the table (CSV is the export's below).
    for (const format of ['json', 'table']) listed += expectSame(['flows', '--format', format, '--wide']).stdout.length;
    expect(listed).toBeGreaterThan(700_000);
    const filters: string[][] = [
      ['--host', busy[0].address],
      ['--server', busy[1].address, '--until', mid],
      ['--client', '10.0.0.0/8', '--verdict', 'unexpected'],
      ...(v6 ? [['--host', `${v6.address}/64`]] : []),
      ['--host', named.name!],
      ['--service', 'ldap', '--since', mid],
      ['--role', 'domain-controller'],
      ['--finding', 'ntlm-no-mic'],
      ['--sensor', HOSTILE],
      // The first flows only: the captures that hold them, each one's earliest first.
      ['--limit', '3'],
      ['--limit', '1500', '--verdict', 'unexpected'],
      ['--limit', '2', '--role', 'mailbox', '--since', mid],
      ['--capture', '2'],
      ['--capture', path.basename(path2)],
      ['--capture', String(captures + 1)],
      ['--sort', '-bytes', '--limit', '7', '--columns', 'client,server,bytes,verdict,capture'],
    ];
    for (const f of filters) expectSame(['flows', '--format', 'json', ...f]);
    // Reports asked to read flows: of one capture, or every flow (--from-flows, a check of the sums).
    for (const r of ['summary', 'unexpected']) expectSame(['report', r, '--format', 'json', '--capture', '1']);
    for (const r of ['matrix', 'protection']) expectSame(['report', r, '--format', 'json', '--from-flows', '--since', mid]);
    // The export, in each format, on one thread and on three (parts of the copy's flows by id), and filtered.
    for (const args of [['--format', 'ndjson', '--threads', '1'], ['--format', 'bulk', '--threads', '3'], ['--format', 'csv', '--threads', '2', '--role', 'domain-controller', '--until', mid]]) {
      expect(expectSame(['export', ...args]).stdout.length, args.join(' ')).toBeGreaterThan(10_000);
    }
    // The HTML page (its timeline from the minutes flows began in, and the flows of the minutes it cuts) and what is new.
    for (const args of [[], ['--since', mid], ['--baseline', '1', '--service', 'ldap']]) expect(expectSame(['report', 'html', ...args]).stdout.length, args.join(' ')).toBeGreaterThan(20_000);
    expectSame(['report', 'new', '--baseline', `..${mid}`, '--format', 'json', '--service', 'ldap']);
    // The endpoint registry, which the copy holds.
    for (const args of [['report', 'epm', '--capture', '2', '--format', 'csv'], ['epm', '--server', busy[0].address, '--until', mid, '--format', 'json']]) expectSame(args);
    // The reports that read their window's flows: those of the window are copied.
    expectSame(['host', busy[0].address, '--format', 'json', '--since', mid]);
    expectSame(['host', guarded, '--since', mid]);
    expectSame(['report', 'firewall', '--format', 'json', '--until', mid]);
    expectSame(['report', 'firewall', '--format', 'nft', '--since', mid, '--per', 'host']);
  }, 240_000);

  it('flows whose ids spread far wider than they are many: numbered densely, in merge\'s order', () => {
    // A sensor's database whose flow ids are a billion apart (as if other runs' were written between them, or a hostile one): ship reads it in slices of flows, not of ids.
    const sparse = alteredCopy(path.join(dir, 'site-a.sqlite'), path.join(dir, 'site-sparse.sqlite'), 'UPDATE flows SET id = id * 1000000000');
    const db = ch.url('sparse');
    ok(['ship', '--db', sparse, '--to', db]);
    const mergedSparse = path.join(dir, 'merged-sparse.sqlite');
    ok(['merge', sparse, '--db', mergedSparse]);
    for (const args of [['flows', '--format', 'json'], ['export', '--threads', '2'], ['flows', '--limit', '7', '--format', 'csv']]) {
      const e = runCli([...args, '--db', db]);
      const m = runCli([...args, '--db', mergedSparse]);
      expect(e.stderr, args.join(' ')).toBe('');
      expect(e.stdout, args.join(' ')).toBe(m.stdout);
      expect(e.stdout.length).toBeGreaterThan(1000);
    }
  }, 120_000);

  it('two servers as shards give the one server\'s answers; a shard down is named, and nothing printed', async () => {
    const second = await startClickHouse();
    try {
      const port = (u: string) => new URL(u.replace(/^clickhouse:/, 'http:')).port;
      const one = ch.url('sharded');
      const two = second.url('sharded');
      // Two sensors on one server, two on the other, and sensor b on both (its sums are added up across them).
      for (const f of ['site-a', 'site-b']) ok(['ship', '--db', path.join(dir, `${f}.sqlite`), '--to', one, '--chunk', '2000']);
      for (const f of ['site-b2', 'site-g']) ok(['ship', '--db', path.join(dir, `${f}.sqlite`), '--to', two, '--chunk', '2000']);
      expect([Number(await ch.sql('SELECT count() FROM sharded.runs')), Number(await second.sql('SELECT count() FROM sharded.runs'))]).toEqual([2, 2]);
      const both = `clickhouse://127.0.0.1:${port(one)},127.0.0.1:${port(two)}/sharded`;
      for (const args of [['report', 'roles', '--format', 'json'], ['report', 'unexpected', '--format', 'csv'], ['report', 'summary', '--format', 'json', '--sensor', 'site-g'], ['hosts', '--format', 'json'], ['runs', '--format', 'json'], ['flows', '--format', 'json', '--service', 'ldap'], ['export']]) {
        const e = runCli([...args, '--db', both]);
        const m = runCli([...args, '--db', merged]);
        expect(e.stderr, args.join(' ')).toBe('');
        expect(e.stdout, args.join(' ')).toBe(m.stdout);
      }
      await second.stop();
      const down = runCli(['report', 'roles', '--db', both]);
      expect(down.code).toBe(3);
      expect(down.stdout).toBe('');
      expect(down.stderr).toBe(`exflow: ClickHouse at 127.0.0.1:${port(two)}: connection refused (is it running, is the port its HTTP port?)\n`);
    } finally {
      await second.stop();
    }
  }, 180_000);

  it('keeps its copy while the engine holds the same runs; a run shipped since makes a new one', () => {
    const db = ch.url('growing');
    const inFolder = () => fs.readdirSync(copies).filter((f) => !f.endsWith('.tmp'));
    const before = new Set(inFolder());
    ok(['ship', '--db', path.join(dir, 'site-a.sqlite'), '--to', db]);
    const runs = () => (JSON.parse(ok(['runs', '--db', db, '--format', 'json']).stdout) as unknown[]).length;
    expect(runs()).toBe(1);
    const made = inFolder().filter((f) => !before.has(f));
    expect(made).toHaveLength(1);
    const file = path.join(copies, made[0]);
    const stamp = fs.statSync(file).mtimeMs;
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    // The next report reads the kept copy: not made again.
    ok(['report', 'roles', '--db', db]);
    expect(fs.statSync(file).mtimeMs).toBe(stamp);
    // A folder it cannot make (here under a file; a read-only home alike): a note, and the answer from a copy made for it alone.
    const notFolder = path.join(tmpDir(), 'a-file');
    fs.writeFileSync(notFolder, '');
    const noted = runCli(['runs', '--db', db, '--format', 'json'], { env: { EXFLOW_ENGINE_CACHE: path.join(notFolder, 'copies') } });
    expect(noted.code, noted.stderr).toBe(0);
    expect(noted.stderr).toMatch(/^exflow: note: the engine's copy cannot be kept in .*; made for this report only/);
    expect((JSON.parse(noted.stdout) as unknown[]).length).toBe(1);
    // A copy a killed report left half made (its process gone) goes with the next new copy; one being made by a live process stays.
    const engineKey = made[0].split('-')[0];
    const dead = path.join(copies, `${engineKey}-0123.sqlite.999999999.tmp`);
    const live = path.join(copies, `${engineKey}-4567.sqlite.${process.pid}.tmp`);
    for (const f of [dead, `${dead}-journal`, live]) fs.writeFileSync(f, '');
    // A sensor ships two more runs: the next report sees all three, from a new copy that replaced the old.
    ok(['ship', '--db', path.join(dir, 'site-b.sqlite'), '--to', db]);
    ok(['ship', '--db', path.join(dir, 'site-b2.sqlite'), '--to', db]);
    expect(runs()).toBe(3);
    expect(fs.existsSync(file)).toBe(false);
    expect([fs.existsSync(dead), fs.existsSync(`${dead}-journal`), fs.existsSync(live)]).toEqual([false, false, true]);
    fs.rmSync(live);
    expect(inFolder().filter((f) => !before.has(f))).toHaveLength(1);
  }, 120_000);

  it('says what needs a SQLite file, and where the engine is not one it can read', async () => {
    // What writes a database (or merges into one) needs a SQLite file.
    for (const args of [['audit'], ['merge', path.join(dir, 'site-a.sqlite')], ['analyze', shared('lab-exchange')]]) {
      const r = runCli([...args, '--db', engine]);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/ClickHouse/);
    }
    // A time written into the engine's SQL (quote.ts) is read as the same double: ClickHouse's
    // shortest text of it is JavaScript's; what is not a plain decimal never becomes SQL.
    const windows = [1768469621.2, -1768469621.123456789, 0.1, 1768469797.5, 1e20, 1768469621.0000002];
    const read = (await ch.sql(`SELECT ${windows.map((v) => `toString(${numberLiteral(v)})`).join(', ')} FORMAT TSV`)).trim().split('\t');
    expect(read).toEqual(windows.map(String));
    for (const bad of [NaN, Infinity, 1e21, 5e-324]) expect(() => numberLiteral(bad)).toThrow(RangeError);
    // No exflow tables there: exit 3, one line naming the server.
    const empty = runCli(['report', 'roles', '--db', ch.url('nothing_here')]);
    expect(empty.code).toBe(3);
    expect(empty.stderr).toMatch(/^exflow: ClickHouse at 127\.0\.0\.1:\d+: .*no exflow runs.*\n$/);
    // A run shipped without its rollups (an earlier exflow): named, nothing answered as whole.
    const a = path.join(dir, 'site-a.sqlite');
    ok(['ship', '--db', a, '--to', ch.url('older')]);
    await ch.sql("ALTER TABLE older.ship_log DELETE WHERE tbl = 'flow_rollup_run'");
    // 18.16 has no mutations_sync: wait until the deletion is done.
    for (let i = 0; i < 100 && Number(await ch.sql("SELECT count() FROM older.ship_log WHERE tbl = 'flow_rollup_run'")) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const older = runCli(['report', 'roles', '--db', ch.url('older')]);
    expect(older.code).toBe(3);
    expect(older.stdout).toBe('');
    expect(older.stderr).toMatch(/without its rollups/);
    // The server gone: exit 3, one line.
    const port = new URL(engine.replace('clickhouse:', 'http:')).port;
    await ch.stop();
    const down = runCli(['report', 'summary', '--db', engine]);
    expect(down.code).toBe(3);
    expect(down.stderr).toBe(`exflow: ClickHouse at 127.0.0.1:${port}: connection refused (is it running, is the port its HTTP port?)\n`);
  }, 120_000);
});
