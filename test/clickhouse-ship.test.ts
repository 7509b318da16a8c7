// exflow ship (issue 29) against a real ClickHouse server started by the test: sensors made from
// the shared captures and a generated organisation are shipped, and every shipped table is
// compared, row for row and value for value, with the sensor's SQLite — once, again (nothing
// added), after ships killed at ten points (nothing doubled or lost), with hostile values, and
// against servers that are down, refuse the password or hold another version's tables.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { defaultTemplates, writeOrgDay } from '../src/samples/org-day';
import { writeSynthetic } from '../src/samples/synthetic';
import { stringLiteral } from '../src/store/clickhouse/quote';
import { ClickHouse } from '../src/store/clickhouse/http';
import { earlierInsertsOver } from '../src/store/clickhouse/ship';
import { parseTargets } from '../src/store/clickhouse/target';
import { CLI, captureFiles, HAVE_SHARED, ROOT, runCli, shared, tmpDir } from './helpers';
import { freePort, startClickHouse, type ClickHouseServer } from './clickhouse-server';
import { CLICKHOUSE_SERVER } from '../src/bench/clickhouse-server';

if (!CLICKHOUSE_SERVER) console.warn('clickhouse-server not installed: the ship tests are skipped (apt-get install clickhouse-server; .ci/run installs it)');

const TABLES = ['runs', 'captures', 'flows', 'flow_rollup_run', 'flow_rollup', 'flow_hours', 'flow_minutes', 'rpc_endpoints', 'host_names', 'name_evidence'] as const;
/** How a table's rows find their run in SQLite. */
const RUN_OF: Record<(typeof TABLES)[number], string> = {
  runs: 'SELECT r.uid AS run_uid, t.* FROM runs t JOIN runs r ON r.id = t.id',
  captures: 'SELECT r.uid AS run_uid, t.* FROM captures t JOIN runs r ON r.id = t.run_id',
  flows: 'SELECT r.uid AS run_uid, r.sensor AS sensor, t.* FROM flows t JOIN captures c ON c.id = t.capture_id JOIN runs r ON r.id = c.run_id',
  flow_rollup_run: 'SELECT r.uid AS run_uid, t.* FROM flow_rollup_run t JOIN runs r ON r.id = t.run_id',
  // Made by the engine from the run's flows: the sensor's own, row for row.
  flow_rollup: 'SELECT r.uid AS run_uid, t.* FROM flow_rollup t JOIN runs r ON r.id = t.run_id',
  flow_hours: 'SELECT r.uid AS run_uid, t.* FROM flow_hours t JOIN runs r ON r.id = t.run_id',
  flow_minutes: 'SELECT r.uid AS run_uid, t.* FROM flow_minutes t JOIN runs r ON r.id = t.run_id',
  rpc_endpoints: 'SELECT r.uid AS run_uid, t.* FROM rpc_endpoints t JOIN captures c ON c.id = t.capture_id JOIN runs r ON r.id = c.run_id',
  host_names: 'SELECT r.uid AS run_uid, t.* FROM host_names t JOIN captures c ON c.id = t.capture_id JOIN runs r ON r.id = c.run_id',
  name_evidence: 'SELECT r.uid AS run_uid, t.* FROM name_evidence t JOIN captures c ON c.id = t.capture_id JOIN runs r ON r.id = c.run_id',
};

/** Rows as comparable text, sorted: a BLOB as hex, so that both engines' rows print alike. */
const canonical = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex').toUpperCase() : v]))).sort();

function sqliteRows(file: string, table: (typeof TABLES)[number]): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const blobs = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string; type: string }[]).filter((c) => c.type === 'BLOB').map((c) => c.name);
    const rows = db.prepare(`${RUN_OF[table]} WHERE r.status = 'complete'`).all() as Record<string, unknown>[];
    for (const r of rows) for (const b of blobs) r[b] = r[b] === null ? null : Buffer.from(r[b] as Buffer).toString('hex').toUpperCase();
    return canonical(rows);
  } finally {
    db.close();
  }
}

async function engineRows(servers: ClickHouseServer | ClickHouseServer[], database: string, table: (typeof TABLES)[number], file: string): Promise<string[]> {
  const db = new Database(file, { readonly: true });
  const cols = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string; type: string }[]).map((c) => (c.type === 'BLOB' ? `if(isNull(${c.name}), NULL, hex(assumeNotNull(${c.name}))) AS ${c.name}` : c.name));
  db.close();
  const uids = sqliteUids(file);
  let text = '';
  for (const ch of Array.isArray(servers) ? servers : [servers]) {
    text += await ch.sql(`SELECT run_uid, ${table === 'flows' ? 'sensor, ' : ''}${cols.join(', ')} FROM ${database}.${table} WHERE run_uid IN (${uids.map(stringLiteral).join(', ') || "''"}) FORMAT JSONEachRow`, { output_format_json_quote_64bit_integers: 0 });
  }
  return canonical(text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

const sqliteUids = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT uid FROM runs WHERE status = 'complete'").pluck().all() as string[];
  } finally {
    db.close();
  }
};

/** Every shipped table of `file`'s complete runs, in the engine (its shards together) as in SQLite. */
async function expectSame(ch: ClickHouseServer | ClickHouseServer[], database: string, file: string): Promise<void> {
  for (const table of TABLES) {
    const want = sqliteRows(file, table);
    const got = await engineRows(ch, database, table, file);
    expect(got.length, `${table}: rows`).toBe(want.length);
    expect(got, table).toEqual(want);
  }
}

const analyze = (args: string[]) => {
  const r = runCli(['analyze', ...args]);
  if (r.code !== 0) throw new Error(`analyze failed: ${r.stderr}`);
};

describe.skipIf(!HAVE_SHARED || !CLICKHOUSE_SERVER)('exflow ship: a sensor\'s runs into ClickHouse', () => {
  let ch: ClickHouseServer;
  const dir = tmpDir();
  const lab = path.join(dir, 'lab.sqlite');
  const pub = path.join(dir, 'public.sqlite');
  const org = path.join(dir, 'org.sqlite');

  beforeAll(async () => {
    ch = await startClickHouse();
    analyze([...captureFiles('lab'), '--db', lab, '--sensor', 'site-a']);
    analyze([shared('public'), '--db', pub, '--sensor', 'site-b']);
    // A second run in the public sensor's database: two runs of one sensor.
    analyze([...captureFiles('lab-exchange'), '--db', pub, '--sensor', 'site-b']);
    const day = path.join(dir, 'org.pcap');
    await writeOrgDay(day, { packets: 25_000, shortPercent: 100, clients: 300, concurrent: 60, paceUs: 200_000, templates: defaultTemplates(ROOT) });
    analyze([day, '--db', org, '--sensor', 'site-g']);
  });
  afterAll(async () => {
    await ch?.stop();
  });

  it('sends every finished run whole: each table\'s rows as the sensor\'s SQLite has them', async () => {
    // One read by a thread of its own (the default), one by the thread that sends (--threads 0).
    for (const [file, threads] of [[lab, '1'], [pub, '0']]) {
      const r = runCli(['ship', '--db', file, '--to', ch.url('two_sensors'), '--threads', threads]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^exflow: \d+ runs? shipped \(\d+ flows?\)/);
    }
    await expectSame(ch, 'two_sensors', lab);
    await expectSame(ch, 'two_sensors', pub);
    // Nothing but theirs: the engine's runs are the two sensors' three.
    expect(Number(await ch.sql('SELECT count() FROM two_sensors.runs'))).toBe(3);
    expect((await ch.sql('SELECT DISTINCT sensor FROM two_sensors.flows ORDER BY sensor')).trim().split('\n')).toEqual(['site-a', 'site-b']);
  });

  it('a second ship adds nothing', async () => {
    const before = await ch.sql(`SELECT ${TABLES.map((t) => `(SELECT count() FROM two_sensors.${t})`).join(', ')}`);
    const r = runCli(['ship', '--db', pub, '--to', ch.url('two_sensors')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 runs shipped (0 flows); 2 already there');
    expect(await ch.sql(`SELECT ${TABLES.map((t) => `(SELECT count() FROM two_sensors.${t})`).join(', ')}`)).toBe(before);
  });

  it("waits for an earlier ship's insert of the run still running in the server before it looks at what is there", async () => {
    // A ship killed in the middle of an insert leaves the server to finish it: here a query of six
    // seconds (two blocks of three) named as that run's insert would be. The ship's wait returns
    // only once it is over; for another run, at once.
    const [uid] = sqliteUids(org);
    const held = ch.sql('SELECT sleep(3) FROM numbers(2)', { query_id: `exflow-ship-${uid}-held-by-a-test`, max_block_size: 1 });
    await new Promise((res) => setTimeout(res, 300));
    const engine = new ClickHouse(parseTargets(ch.url('default'))[0]);
    try {
      let t0 = Date.now();
      await earlierInsertsOver(engine, 'another-run');
      expect(Date.now() - t0).toBeLessThan(1_500);
      t0 = Date.now();
      await earlierInsertsOver(engine, uid);
      expect(Date.now() - t0).toBeGreaterThan(4_500);
    } finally {
      engine.close();
      await held;
    }
    // And a ship started meanwhile sends every row once.
    expect(runCli(['ship', '--db', org, '--to', ch.url('held')]).code).toBe(0);
    await expectSame(ch, 'held', org);
  });

  it('completes a run an earlier exflow shipped without the hourly rows, hours and minutes: the reports refuse it until then', async () => {
    expect(runCli(['ship', '--db', org, '--to', ch.url('older_run')]).code).toBe(0);
    const [uid] = sqliteUids(org);
    const u = stringLiteral(uid);
    // As an earlier exflow left it: those tables' rows and notes not there.
    for (const t of ['flow_rollup', 'flow_hours', 'flow_minutes']) await ch.sql(`ALTER TABLE older_run.${t} DELETE WHERE run_uid = ${u}`);
    await ch.sql(`ALTER TABLE older_run.ship_log DELETE WHERE run_uid = ${u} AND tbl IN ('flow_rollup', 'flow_hours', 'flow_minutes')`);
    while (Number(await ch.sql("SELECT count() FROM system.mutations WHERE database = 'older_run' AND is_done = 0")) > 0) await new Promise((res) => setTimeout(res, 20));
    const refused = runCli(['report', 'summary', '--db', ch.url('older_run')], { env: { EXFLOW_ENGINE_CACHE: tmpDir() } });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/without its rollups: ship its sensor's database again/);
    const again = runCli(['ship', '--db', org, '--to', ch.url('older_run')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 runs shipped (0 flows)');
    expect(again.stdout).toMatch(/run \d+ was in the engine without flow_rollup, flow_hours, flow_minutes \(shipped by an earlier exflow\): completed/);
    await expectSame(ch, 'older_run', org);
    expect(Number(await ch.sql('SELECT count() FROM older_run.runs'))).toBe(1);
    // Then it is there whole: the next ship adds nothing.
    expect(runCli(['ship', '--db', org, '--to', ch.url('older_run')]).stdout).toContain('1 already there');
  });

  it('a ship killed at any of ten points carries on when started again: nothing doubled or lost', async () => {
    const flows = Number(new Database(org, { readonly: true }).prepare('SELECT count(*) FROM flows').pluck().get());
    expect(flows).toBeGreaterThan(2000);
    const chunk = 500;
    const chunks = Math.ceil(flows / chunk);
    /** The chunks of flows noted in `database` so far (0 before the ship has made its tables). */
    const noted = async (database: string) => Number(await ch.sql(`SELECT count() FROM ${database}.ship_log WHERE tbl = 'flows'`).catch(() => '0'));
    let resumed = 0;
    for (let trial = 0; trial < 10; trial++) {
      const database = `killed_${trial}`;
      const child = spawn(process.execPath, [CLI, 'ship', '--db', org, '--to', ch.url(database), '--chunk', String(chunk)], { stdio: 'ignore' });
      let exited = false;
      const exit = new Promise<void>((res) => child.once('exit', () => ((exited = true), res())));
      // Killed at once, or once a share of its inserts are noted: somewhere inside the next insert,
      // or (the last trial) in the tables after the flows.
      const at = Math.round((trial / 9) * chunks);
      while (!exited && at > 0 && (await noted(database)) < at) await new Promise((res) => setTimeout(res, 5));
      child.kill('SIGKILL');
      await exit;
      const again = runCli(['ship', '--db', org, '--to', ch.url(database), '--chunk', String(chunk)]);
      expect(again.code, again.stderr).toBe(0);
      if (/carried on from an earlier ship/.test(again.stdout)) resumed++;
      await expectSame(ch, database, org);
      expect(Number(await ch.sql(`SELECT count() FROM ${database}.runs`))).toBe(1);
    }
    // Every kill after the first insert's note left a ship that carried on.
    expect(resumed).toBeGreaterThanOrEqual(8);
  });

  it('an insert whose note never came: kept when whole (only the note written), deleted and sent again when not', async () => {
    const [uid] = sqliteUids(org);
    const u = stringLiteral(uid);
    const wait = async (database: string) => {
      while (Number(await ch.sql(`SELECT count() FROM system.mutations WHERE database = '${database}' AND is_done = 0`)) > 0) await new Promise((res) => setTimeout(res, 20));
    };
    for (const [database, partial] of [['lost_note', false], ['lost_rows', true]] as const) {
      expect(runCli(['ship', '--db', org, '--to', ch.url(database), '--chunk', '500']).code).toBe(0);
      // As if the ship had been stopped after its last flows' insert: that insert's note, the
      // later tables' notes and rows and the run's row gone; with `partial`, part of the insert too.
      const top = Number(await ch.sql(`SELECT max(upto) FROM ${database}.ship_log WHERE run_uid = ${u} AND tbl = 'flows'`));
      const before = Number(await ch.sql(`SELECT max(upto) FROM ${database}.ship_log WHERE run_uid = ${u} AND tbl = 'flows' AND upto < ${top}`));
      await ch.sql(`ALTER TABLE ${database}.ship_log DELETE WHERE run_uid = ${u} AND (tbl != 'flows' OR upto = ${top}) AND tbl != 'captures'`);
      for (const t of ['runs', 'rpc_endpoints', 'host_names', 'name_evidence']) await ch.sql(`ALTER TABLE ${database}.${t} DELETE WHERE run_uid = ${u}`);
      // (Its first flow: the rest, up to the highest, no longer the run's flows in that stretch.)
      if (partial) await ch.sql(`ALTER TABLE ${database}.flows DELETE WHERE run_uid = ${u} AND id = (SELECT min(id) FROM ${database}.flows WHERE run_uid = ${u} AND id > ${before})`);
      await wait(database);
      const mutations = Number(await ch.sql(`SELECT count() FROM system.mutations WHERE database = '${database}' AND table = 'flows'`));
      const r = runCli(['ship', '--db', org, '--to', ch.url(database), '--chunk', '500']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`1 run shipped (${sqliteRows(org, 'flows').length} flows), 1 carried on from an earlier ship`);
      await wait(database);
      await expectSame(ch, database, org);
      // Whole: no deletion (a mutation rewrites parts); partial: the rows after the last note deleted.
      const after = Number(await ch.sql(`SELECT count() FROM system.mutations WHERE database = '${database}' AND table = 'flows'`));
      expect(after - mutations, database).toBe(partial ? 1 : 0);
      expect(before).toBeGreaterThan(0);
    }
  });

  it('two ships of one database at once: the second stops at once (exit 3), the first sends all, once', async () => {
    // Small inserts (~30 of ~0.1 s): the first ship is still sending when the second starts.
    const child = spawn(process.execPath, [CLI, 'ship', '--db', org, '--to', ch.url('overlap'), '--chunk', '100'], { stdio: 'ignore' });
    const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    while (Number(await ch.sql("SELECT count() FROM overlap.ship_log WHERE tbl = 'flows'").catch(() => '0')) < 1) await new Promise((res) => setTimeout(res, 5));
    const second = runCli(['ship', '--db', org, '--to', ch.url('overlap'), '--chunk', '500']);
    expect(second.code).toBe(3);
    expect(second.stderr.trim()).toMatch(new RegExp(`another exflow ship \\(process ${child.pid}\\) is sending this database; wait for it to end`));
    expect(await exit).toBe(0);
    await expectSame(ch, 'overlap', org);
    expect(fs.existsSync(`${org}.ship-lock`)).toBe(false);
  });

  it('a server killed mid-ship and started again: the ship stops with exit 3, the next carries on', async () => {
    const server = await startClickHouse();
    try {
      const child = spawn(process.execPath, [CLI, 'ship', '--db', org, '--to', server.url('crashed'), '--chunk', '500'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      const noted = async () => Number(await server.sql("SELECT count() FROM crashed.ship_log WHERE tbl = 'flows'").catch(() => '0'));
      while ((await noted()) < 2) await new Promise((res) => setTimeout(res, 5));
      await server.crashAndRestart();
      expect(await exit).toBe(3);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr.trim()).toMatch(new RegExp(`^exflow: ClickHouse at 127\\.0\\.0\\.1:${server.httpPort}: the connection was cut \\(did the server stop\\?\\); ship again to carry on$`));
      const again = runCli(['ship', '--db', org, '--to', server.url('crashed'), '--chunk', '500']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('carried on from an earlier ship');
      await expectSame(server, 'crashed', org);
    } finally {
      await server.stop();
    }
  });

  it('a live run shipped while it grows: nothing of it before it ends, all of it after', async () => {
    const file = path.join(dir, 'live.pcap');
    writeSynthetic(file, { packets: 12_000, flows: 1200, stepUs: 20_000, active: 100 });
    const bytes = fs.readFileSync(file);
    const live = path.join(dir, 'live.sqlite');
    const child = spawn(process.execPath, [CLI, 'analyze', '-', '--db', live, '--flush-interval', '1', '--idle-timeout', '5', '--sensor', 'span-live'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exit = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const cut = Math.floor(bytes.length * 0.7);
    const step = Math.ceil(cut / 20);
    const visible = () => Number(new Database(live, { readonly: true }).prepare('SELECT count(*) FROM flows').pluck().get());
    let shippedWhileLive = 0;
    for (let o = 0; o < cut; o += step) {
      child.stdin!.write(bytes.subarray(o, Math.min(o + step, cut)));
      await new Promise((r) => setTimeout(r, 100));
      if (o / step === 10 || o + step >= cut) {
        // Committed flows are there to ship; the run is not finished: it is left for a later ship.
        await new Promise((r) => setTimeout(r, 1200));
        expect(visible()).toBeGreaterThan(0);
        const r = runCli(['ship', '--db', live, '--to', ch.url('live')]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/run 1 not finished \(running\); shipped by a later ship, once complete/);
        shippedWhileLive++;
        expect(Number(await ch.sql('SELECT count() FROM live.runs'))).toBe(0);
      }
    }
    expect(shippedWhileLive).toBe(2);
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    const r = runCli(['ship', '--db', live, '--to', ch.url('live')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^exflow: 1 run shipped/);
    await expectSame(ch, 'live', live);
  });

  it('two shards: each run whole on one, together every row; a run begun on one shard is carried on there', async () => {
    const b = await startClickHouse();
    try {
      const both = [ch.url('sharded'), b.url('sharded')];
      for (const file of [lab, pub, org]) {
        const r = runCli(['ship', '--db', file, ...both.flatMap((u) => ['--to', u])]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain('(2 shards)');
        await expectSame([ch, b], 'sharded', file);
      }
      // Each run on exactly one shard, the one its identity hashes to, all its rows with it.
      const { shardOf } = await import('../src/store/clickhouse/ship');
      for (const file of [lab, pub, org]) {
        for (const uid of sqliteUids(file)) {
          const on = [Number(await ch.sql(`SELECT count() FROM sharded.flows WHERE run_uid = ${stringLiteral(uid)}`)), Number(await b.sql(`SELECT count() FROM sharded.flows WHERE run_uid = ${stringLiteral(uid)}`))];
          expect(on.filter((n) => n > 0).length).toBe(1);
          expect(on[shardOf(uid, 2)]).toBeGreaterThan(0);
        }
      }
      // A ship into one server stopped part-way, then one into two: the run goes on where it began.
      const [uid] = sqliteUids(org);
      const first = [ch, b][1 - shardOf(uid, 2)];
      const child = spawn(process.execPath, [CLI, 'ship', '--db', org, '--to', first.url('moved'), '--chunk', '500'], { stdio: 'ignore' });
      const exit = new Promise<void>((res) => child.once('exit', () => res()));
      while (Number(await first.sql("SELECT count() FROM moved.ship_log WHERE tbl = 'flows'").catch(() => '0')) < 2) await new Promise((res) => setTimeout(res, 5));
      child.kill('SIGKILL');
      await exit;
      const r = runCli(['ship', '--db', org, '--to', ch.url('moved'), '--to', b.url('moved'), '--chunk', '500']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('carried on from an earlier ship');
      await expectSame([ch, b], 'moved', org);
      expect(Number(await first.sql('SELECT count() FROM moved.runs'))).toBe(1);
    } finally {
      await b.stop();
    }
  });

  it('a reading thread out of memory leaves its slices to the thread that sends: the same rows', async () => {
    const { shipDatabase } = await import('../src/run/ship');
    const { openDb } = await import('../src/store/db');
    const db = openDb(org, { create: false, readonly: true });
    try {
      const r = await shipDatabase(db, org, ch.url('starved'), { threads: 2, threadOldMb: 1, chunkRows: 1000 });
      expect(r.shipped.map((x) => x.flows)).toEqual([Number(db.prepare('SELECT count(*) FROM flows').pluck().get())]);
    } finally {
      db.close();
    }
    await expectSame(ch, 'starved', org);
  });

  it('carries hostile values as data: quotes, backslashes, control and bidi characters, SQL', async () => {
    const hostile = ["x'; DROP TABLE flows; --", 'back\\slash\\', 'new\nline\r\x00nul', '\u202eevil\u202c', "')) UNION SELECT 1 --", '\\x27', 'ünïcödé 日本 🙂'];
    // The quoting module's literals: ClickHouse reads back exactly the value.
    for (const v of hostile) expect(JSON.parse((await ch.sql(`SELECT ${stringLiteral(v)} AS v FORMAT JSONEachRow`)).trim()).v).toBe(v);
    const file = path.join(dir, 'hostile.sqlite');
    fs.copyFileSync(lab, file);
    const db = new Database(file);
    db.prepare('UPDATE runs SET uid = ?, sensor = ?, command = ?').run(hostile[0] + hostile[2], hostile[3], hostile[4]);
    db.prepare('UPDATE captures SET path = ? WHERE id = (SELECT min(id) FROM captures)').run(hostile[1] + hostile[5]);
    db.prepare('UPDATE host_names SET name = ?').run(hostile[6]);
    db.close();
    const r = runCli(['ship', '--db', file, '--to', ch.url('hostile')]);
    expect(r.code, r.stderr).toBe(0);
    await expectSame(ch, 'hostile', file);
    // The run is found again by its hostile identity: a second ship sends nothing.
    expect(runCli(['ship', '--db', file, '--to', ch.url('hostile')]).stdout).toContain('0 runs shipped (0 flows); 1 already there');
  });

  it('a server that is not ClickHouse or answers in bad faith: exit 3, one line, at once', async () => {
    const http = await import('node:http');
    const answers: Record<string, (res: import('node:http').ServerResponse) => void> = {
      html: (res) => res.end('<html><body>It works!</body></html>\n'),
      'no rows': (res) => res.end(''),
      'a count that is text': (res) => res.end('{"v":"18.16.1","n":"many","run_uid":"x"}\n'),
      endless: (res) => {
        const piece = Buffer.alloc(1 << 20, 0x7b);
        const more = () => {
          while (res.write(piece));
          res.once('drain', more);
        };
        more();
        res.on('close', () => res.removeAllListeners('drain'));
      },
      'a hostile error': (res) => {
        res.statusCode = 500;
        res.end('Code: 60. DB::Exception: \u202eevil\nsecond line\x1b[31m, e.what() = DB::Exception');
      },
    };
    for (const [name, answer] of Object.entries(answers)) {
      const server = http.createServer((req, res) => {
        req.resume();
        // DDL is taken; what exflow reads back is the bad answer.
        req.on('end', () => (/^(CREATE|INSERT|ALTER)/.test(decodeURIComponent(req.url ?? '').replace(/^.*query=/, '')) ? res.end('') : answer(res)));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as import('node:net').AddressInfo).port;
      try {
        const child = spawn(process.execPath, [CLI, 'ship', '--db', lab, '--to', `clickhouse://127.0.0.1:${port}/x`], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
        const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
        expect(code, `${name}: ${stderr}`).toBe(3);
        expect(stderr.trim().split('\n'), name).toHaveLength(1);
        expect(stderr, name).toMatch(new RegExp(`^exflow: ClickHouse at 127\\.0\\.0\\.1:${port}: `));
        expect(stderr, name).not.toMatch(/[\u202e\x1b]/);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    }
  });

  it('a server down, a wrong password, a table of another version, a value that is no integer: exit 3, one line', async () => {
    const down = await freePort();
    let r = runCli(['ship', '--db', lab, '--to', `clickhouse://127.0.0.1:${down}/x`]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toEqual([`exflow: ClickHouse at 127.0.0.1:${down}: connection refused (is it running, is the port its HTTP port?)`]);

    const locked = await startClickHouse({ user: 'exflow', password: 's3cret' });
    try {
      r = runCli(['ship', '--db', lab, '--to', locked.url('x')], { env: { CLICKHOUSE_USER: 'exflow', CLICKHOUSE_PASSWORD: 'wrong' } });
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/refused the user or password/);
      expect(r.stderr).not.toContain('wrong');
      r = runCli(['ship', '--db', lab, '--to', locked.url('x')], { env: { CLICKHOUSE_USER: 'exflow', CLICKHOUSE_PASSWORD: 's3cret' } });
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await locked.stop();
    }
    r = runCli(['ship', '--db', lab, '--to', `clickhouse://exflow:s3cret@127.0.0.1:${ch.httpPort}/x`]);
    expect(r.code).toBe(64);
    expect(r.stderr).not.toContain('s3cret');

    await ch.sql('CREATE DATABASE IF NOT EXISTS older');
    await ch.sql('CREATE TABLE older.flows (run_uid String, id Int64) ENGINE = MergeTree ORDER BY id');
    r = runCli(['ship', '--db', lab, '--to', ch.url('older')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^exflow: ClickHouse at 127\.0\.0\.1:\d+: table older\.flows has other columns than this exflow sends .*another exflow version/);

    const bad = path.join(dir, 'bad.sqlite');
    fs.copyFileSync(lab, bad);
    const db = new Database(bad);
    db.prepare("UPDATE flows SET first_sec = 'soon' WHERE id = (SELECT max(id) FROM flows)").run();
    db.close();
    r = runCli(['ship', '--db', bad, '--to', ch.url('bad')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(/^exflow: run 1, table flows: column first_sec: "soon" is not an integer$/);
    // Nothing of that run counts: its row never came.
    expect(Number(await ch.sql('SELECT count() FROM bad.runs'))).toBe(0);
  });
});
