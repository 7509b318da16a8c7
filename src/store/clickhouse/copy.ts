// Reports from the engine: what every report reads, copied out of ClickHouse into a private
// SQLite database of exflow's own schema — the runs, captures, endpoint registry and names of
// every sensor's shipped runs, and their traffic added up by the engine per sensor and key
// (flow_rollup_sensor: a few hundred thousand rows for ten million flows). The caller then
// infers roles and judges verdicts over all sensors' facts together and runs the reports as
// on any database: each report stays defined once (src/report), the engine answers the one
// question that grows with the flows. What differs from SQLite is here: ClickHouse's SQL for
// the sums (18.16's join syntax), and its JSON (64-bit integers quoted).
//
// The local ids are given as `exflow merge` gives them: runs in the order they began (then
// their identity), captures in their run's order, so that a report names the same capture ids
// as one on a database merged in that order.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db';
import { BUCKET_SECONDS, mergingSums, MINUTE_SECONDS, ROLLUP_KEY, rollupKeyOf, SENSOR_ROLLUP_KEY } from '../schema';
import { ClickHouseError, type ClickHouse } from './http';
import { parseNet } from '../../classify/ip';
import { identifier, integerLiteral, numberLiteral, stringLiteral } from './quote';
import { FLOW_SUMS, SHIP_LOG } from './schema';
import { spreadFar } from '../flow-ids';

export interface EngineCopy {
  /** Where the copy keeps the servers' versions the wire showed (the audit reads them there: the copy has no flows). */
  wireVersions: string;
  runs: number;
  captures: number;
  /** Sensor-level rollup rows (one per sensor and key). */
  rows: number;
  sensors: number;
}

/**
 * The most rows of one kind the copy holds in memory to order them (runs, captures, registry
 * entries: a sensor makes a few a day): an engine that sends more is not one exflow filled.
 */
export const MAX_HELD = 1_000_000;

/** Counts a row held in memory; an error naming the server past MAX_HELD. */
function held(ch: ClickHouse, what: string, n: number): void {
  if (n > MAX_HELD) throw new ClickHouseError(`${ch.where}: answered more than ${MAX_HELD.toLocaleString('en')} ${what} (is it an exflow database?)`);
}

/** The engine tables the copy reads (each checked for the columns this exflow reads of it). */
const READ = ['runs', 'captures', 'flow_rollup_run', 'flow_rollup', 'flow_hours', 'flow_minutes', 'rpc_endpoints', 'host_names', 'name_evidence'] as const;

/**
 * The order the copy numbers runs in (local ids 1, 2, …): by when they began, then by identity —
 * as a merge of the sensors in that order numbers them. copyWindow finds the ids again by it.
 */
const runOrder = (x: { uid: string; startedAt: string }, y: { uid: string; startedAt: string }): number =>
  x.startedAt < y.startedAt ? -1 : x.startedAt > y.startedAt ? 1 : x.uid < y.uid ? -1 : x.uid > y.uid ? 1 : 0;

/** The statement that writes a sensor-level sum (`cols`: flow_rollup_sensor's); from several servers, added to a row already there. */
const putSums = (db: Db, cols: { name: string }[], shards: readonly ClickHouse[], merging = shards.length > 1) =>
  db.prepare(`INSERT INTO flow_rollup_sensor (${cols.map((c) => `"${c.name}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
    ${merging ? mergingSums(SENSOR_ROLLUP_KEY) : ''}`);

/** Each sensor-level column as the engine adds up rollup rows (hourly or without the hour): the key as it is, the sums and times added up. */
const SUM_OF_ROWS: Record<string, string> = {
  flows: 'sum(flows)', packets_c2s: 'sum(packets_c2s)', packets_s2c: 'sum(packets_s2c)', bytes_c2s: 'sum(bytes_c2s)', bytes_s2c: 'sum(bytes_s2c)',
  first_ns: 'min(first_ns)', last_ns: 'max(last_ns)', max_first_ns: 'max(max_first_ns)', min_last_ns: 'min(min_last_ns)', first_id: 'min(first_id)',
};

/**
 * The sensor-level sums (flow_rollup_sensor's `columns`) of the rollup rows `rows` (a table, or a
 * subquery with run_uid, the key without the sensor and the sums) — their runs' sensors joined in:
 * a run whose own row is not there, being shipped, counts for nothing — in the order of the table's
 * key (bytes, as SQLite compares text): appended to its b-tree, not put in at random (128,000 rows
 * at 1M flows: 0.89 -> 0.48 s to insert).
 */
function sensorSums(columns: { name: string }[], rows: string): string {
  const key = SENSOR_ROLLUP_KEY.filter((k) => k !== 'sensor').join(', ');
  return `SELECT ${columns.map((c) => SUM_OF_ROWS[c.name] ?? c.name).join(', ')}
    FROM ${rows} ANY INNER JOIN (SELECT run_uid, ifNull(sensor, '') AS sensor FROM runs) USING run_uid
    GROUP BY sensor, ${key} ORDER BY sensor, ${key}`;
}

/** Writes a row of sensor-level sums the engine sent (`what`: the answer, in an error). */
const putSumsRow = (put: Statement, columns: { name: string; integer: boolean }[], ch: ClickHouse, what: string) => (r: (string | null)[]) =>
  put.run(...columns.map((c, i) => valueFor(r[i], c.integer, () => `${ch.where}: ${what}, ${c.name}`)));

/** A SELECT's rows as their fields, each row checked to have the `n` fields asked for (`what`: the answer, in an error). */
const fieldsOf = (ch: ClickHouse, sql: string, n: number, what: string, each: (fields: (string | null)[]) => void, settings = {}): Promise<void> =>
  ch.eachFields(
    sql,
    (r) => {
      if (r.length !== n) throw new ClickHouseError(`${ch.where}: answered ${r.length} fields for ${n} (${what})`);
      each(r);
    },
    settings,
  );

/** Columns of a local table, with whether SQLite keeps each as an integer. */
function localColumns(db: Db, table: string): { name: string; integer: boolean }[] {
  return (db.prepare(`PRAGMA main.table_info("${table}")`).all() as { name: string; type: string }[]).map((c) => ({ name: c.name, integer: /INT/i.test(c.type) }));
}

/**
 * A value the engine sent for a local column: an integer column's quoted 64-bit value as a
 * number where a double holds it exactly, else a BigInt (SQLite takes both); anything else as sent.
 */
function valueFor(v: unknown, integer: boolean, where: () => string): unknown {
  if (v === null || v === undefined) return null;
  if (!integer) {
    if (typeof v === 'string' || typeof v === 'number') return v;
    throw new ClickHouseError(`${where()}: not a text or number`);
  }
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : BigInt(v);
  }
  throw new ClickHouseError(`${where()}: ${JSON.stringify(v)?.slice(0, 40)} is not an integer`);
}

const noRuns = (ch: ClickHouse) => new ClickHouseError(`${ch.where}: database ${ch.target.database} holds no exflow runs (exflow ship --to sends them)`);

/**
 * The identities of the runs the engine's servers (its shards) hold, in order: what a copy of it
 * is a copy of. A server whose database or tables are not there is an error naming it (a shard
 * left out would be a partial answer given as whole); none holding a run, one naming the first.
 */
export async function engineRuns(shards: readonly ClickHouse[]): Promise<string[]> {
  const all = new Set<string>();
  for (const ch of shards) {
    const rows = await ch.query<{ run_uid: unknown }>('SELECT DISTINCT run_uid FROM runs').catch((e: unknown) => {
      // 81: no such database; 60: no such table.
      throw e instanceof ClickHouseError && (e.code === 81 || e.code === 60) ? noRuns(ch) : e;
    });
    for (const r of rows) all.add(String(r.run_uid));
  }
  if (all.size === 0) throw noRuns(shards[0]);
  return [...all].sort();
}

/** The rollup tables every run must have been shipped with (a report reads them all). */
const ROLLUP_TABLES = ['flow_rollup_run', 'flow_rollup', 'flow_hours', 'flow_minutes'];

/** Checks that the engine holds exflow's tables with (at least) this exflow's columns. */
async function checkEngine(ch: ClickHouse, db: Db): Promise<void> {
  const present = new Set((await ch.query<{ name: unknown }>('SHOW TABLES')).map((r) => String(r.name)));
  if (!present.has('runs')) throw noRuns(ch);
  for (const table of READ) {
    if (!present.has(table)) throw new ClickHouseError(`${ch.where}: database ${ch.target.database} has no table ${table}: its runs were shipped by an older exflow; ship their sensors' databases again (exflow ship completes them)`);
    const have = new Set((await ch.query<{ name: unknown }>(`DESCRIBE TABLE ${table}`)).map((r) => String(r.name)));
    const local = table === 'flow_rollup_run' ? localColumns(db, 'flow_rollup_sensor').filter((c) => c.name !== 'sensor') : localColumns(db, table);
    const missing = local.filter((c) => !have.has(c.name) && !(table === 'flow_rollup_run' && c.name === 'run_id'));
    if (missing.length) throw new ClickHouseError(`${ch.where}: table ${ch.target.database}.${table} lacks ${missing.slice(0, 3).map((c) => c.name).join(', ')}: made by another exflow version`);
  }
  // Runs shipped before their rollups were (an earlier exflow): their traffic would be missing.
  const bare = await ch.query<{ run_uid: unknown }>(
    `SELECT run_uid FROM runs WHERE run_uid NOT IN (SELECT run_uid FROM ${SHIP_LOG} WHERE tbl IN (${ROLLUP_TABLES.map(stringLiteral).join(', ')}) GROUP BY run_uid HAVING uniqExact(tbl) = ${ROLLUP_TABLES.length}) LIMIT 3`,
  );
  if (bare.length) throw new ClickHouseError(`${ch.where}: run ${bare.map((r) => String(r.run_uid)).join(', ')} was shipped by an earlier exflow, without its rollups: ship its sensor's database again (exflow ship completes it)`);
}

/**
 * Fills `db` — a new, empty exflow database — with what the reports read of every run in the
 * engine, inside the caller's transaction. Hosts and their first and last seen are made from the
 * sums; roles and verdicts are the caller's (its audit).
 */
export async function copyForReports(shards: readonly ClickHouse[], db: Db): Promise<EngineCopy> {
  for (const ch of shards) await checkEngine(ch, db);
  const out: EngineCopy = { wireVersions: 'SELECT address, v FROM temp.wire_versions', runs: 0, captures: 0, rows: 0, sensors: 0 };

  // Runs, in the order they began (then their identity), whichever server holds them: local ids 1, 2, …
  const runCols = localColumns(db, 'runs').filter((c) => c.name !== 'id');
  const found = new Map<string, { uid: string; shard: number; startedAt: string; values: unknown[] }>();
  for (const [shard, ch] of shards.entries()) {
    await ch.eachRow(`SELECT run_uid, ${runCols.map((c) => identifier(c.name)).join(', ')} FROM runs`, (r) => {
      const uid = String(r.run_uid);
      const there = found.get(uid);
      // A run twice on one server (two ships racing past the lock of two copies of a file): once here.
      // On two servers: each would count it (a ship puts a run whole on one), so nothing is answered.
      if (there !== undefined && there.shard !== shard) throw new ClickHouseError(`${ch.where}: run ${uid} is also on ${shards[there.shard].where}: a run belongs to one shard; delete it from one of them (ALTER TABLE … DELETE WHERE run_uid = …, every table) and report again`);
      if (there !== undefined) return;
      held(ch, 'runs', found.size + 1);
      found.set(uid, { uid, shard, startedAt: String(r.started_at), values: runCols.map((c) => valueFor(r[c.name], c.integer, () => `${ch.where}: run ${uid}, ${c.name}`)) });
    });
  }
  const putRun = db.prepare(`INSERT INTO runs (${runCols.map((c) => `"${c.name}"`).join(', ')}) VALUES (${runCols.map(() => '?').join(', ')})`);
  const runIds = new Map<string, number>();
  for (const r of [...found.values()].sort(runOrder)) runIds.set(r.uid, Number(putRun.run(...r.values).lastInsertRowid));
  out.runs = runIds.size;

  // Captures, in their run's order then their own: held until all are in (a capture is a file; runs have few).
  const capCols = localColumns(db, 'captures').filter((c) => !['id', 'run_id'].includes(c.name));
  const captures: { run: number; id: number; values: unknown[]; stream: unknown }[] = [];
  for (const ch of shards) {
    await ch.eachRow(`SELECT run_uid, id, ${capCols.map((c) => identifier(c.name)).join(', ')} FROM captures`, (r) => {
      const run = runIds.get(String(r.run_uid));
      if (run === undefined) return; // a run whose row never arrived: not shipped whole, not shown
      const id = valueFor(r.id, true, () => `${ch.where}: capture id`) as number;
      held(ch, 'captures', captures.length + 1);
      captures.push({ run, id, values: capCols.map((c) => valueFor(r[c.name], c.integer, () => `${ch.where}: capture ${id}, ${c.name}`)), stream: r.stream_id });
    });
  }
  captures.sort((a, b) => a.run - b.run || a.id - b.id);
  const putCapture = db.prepare(`INSERT INTO captures (run_id, ${capCols.map((c) => `"${c.name}"`).join(', ')}) VALUES (?, ${capCols.map(() => '?').join(', ')})`);
  const capIds = new Map<string, number>();
  const capKey = (run: number, id: unknown) => `${run}:${String(id)}`;
  for (const c of captures) capIds.set(capKey(c.run, c.id), Number(putCapture.run(c.run, ...c.values).lastInsertRowid));
  // A stream is named by its first capture's id: the new one.
  const setStream = db.prepare('UPDATE captures SET stream_id = ? WHERE id = ?');
  for (const c of captures) {
    if (c.stream === null || c.stream === undefined) continue;
    setStream.run(capIds.get(capKey(c.run, valueFor(c.stream, true, () => 'stream_id'))) ?? null, capIds.get(capKey(c.run, c.id)));
  }
  out.captures = captures.length;

  // The rows of a run's captures: their capture ids made local.
  const byCapture = async (table: string, order: string) => {
    const cols = localColumns(db, table).filter((c) => !['id', 'capture_id'].includes(c.name));
    const put = db.prepare(`INSERT INTO ${table} (capture_id, ${cols.map((c) => `"${c.name}"`).join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`);
    const rows: { capture: number; values: unknown[]; order: number }[] = [];
    // Fields: the run, the capture, the id where ordered, then the columns.
    const first = order ? 3 : 2;
    for (const ch of shards) await fieldsOf(ch, `SELECT run_uid, capture_id, ${order ? 'id, ' : ''}${cols.map((c) => identifier(c.name)).join(', ')} FROM ${table}`, first + cols.length, table, (r) => {
      const run = runIds.get(String(r[0]));
      const capture = run === undefined ? undefined : capIds.get(capKey(run, valueFor(r[1], true, () => `${ch.where}: ${table}.capture_id`)));
      if (capture === undefined) return;
      const values = cols.map((c, i) => valueFor(r[first + i], c.integer, () => `${ch.where}: ${table}.${c.name}`));
      // The endpoint registry keeps its order (its ids, as merge gives them); the names need none.
      if (order) {
        held(ch, `${table} rows`, rows.length + 1);
        rows.push({ capture, values, order: valueFor(r[2], true, () => `${ch.where}: ${table}.id`) as number });
      } else put.run(capture, ...values);
    });
    rows.sort((a, b) => a.capture - b.capture || a.order - b.order);
    for (const r of rows) put.run(r.capture, ...r.values);
  };
  // Every run's traffic added up per sensor and key, by the engine.
  const sumCols = localColumns(db, 'flow_rollup_sensor');
  // From several servers, a sensor's runs on each: their sums added up here as the engine adds them.
  const put = putSums(db, sumCols, shards);
  const copySums = async () => {
    for (const ch of shards) await fieldsOf(ch, sensorSums(sumCols, 'flow_rollup_run'), sumCols.length, 'sums', putSumsRow(put, sumCols, ch, 'sums'));
  };
  // The versions servers showed on the wire (a per-host fact the flows carry), from the flows of the runs copied.
  db.exec('DROP TABLE IF EXISTS temp.wire_versions; CREATE TEMP TABLE wire_versions (address TEXT PRIMARY KEY, v TEXT NOT NULL)');
  const putVersion = db.prepare('INSERT INTO temp.wire_versions (address, v) VALUES (?, ?) ON CONFLICT (address) DO UPDATE SET v = max(v, excluded.v)');
  const copyVersions = async () => {
    for (const ch of shards) {
      await ch.eachRow('SELECT server AS address, max(server_version) AS v FROM flows WHERE server_version IS NOT NULL AND run_uid IN (SELECT run_uid FROM runs) GROUP BY server', (r) => {
        putVersion.run(valueFor(r.address, false, () => `${ch.where}: a server's address`), valueFor(r.v, false, () => `${ch.where}: a server's version`));
      });
    }
  };
  // Each run's hours (their latest and earliest last packet: how a window stands to them) and the
  // minutes its flows began in (the HTML page's timeline): a few rows a run and hour or minute.
  const putHour = db.prepare('INSERT INTO flow_hours (run_id, bucket, last_ns, min_last_ns) VALUES (?, ?, ?, ?)');
  const putMinute = db.prepare('INSERT INTO flow_minutes (run_id, minute, flows, bytes, first_ts, last_first_ts, last_ns, min_last_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const copyTimes = async () => {
    for (const ch of shards) {
      await fieldsOf(ch, 'SELECT run_uid, bucket, last_ns, min_last_ns FROM flow_hours', 4, 'hours', (r) => {
        const run = runIds.get(String(r[0]));
        const at = () => `${ch.where}: hours`;
        if (run !== undefined) putHour.run(run, valueFor(r[1], true, at), valueFor(r[2], true, at), valueFor(r[3], true, at));
      });
      await fieldsOf(ch, 'SELECT run_uid, minute, flows, bytes, first_ts, last_first_ts, last_ns, min_last_ns FROM flow_minutes', 8, 'minutes', (r) => {
        const run = runIds.get(String(r[0]));
        const at = () => `${ch.where}: minutes`;
        if (run !== undefined) putMinute.run(run, valueFor(r[1], true, at), valueFor(r[2], true, at), valueFor(r[3], true, at), exactDouble(r[4], at), exactDouble(r[5], at), valueFor(r[6], true, at), valueFor(r[7], true, at));
      });
    }
  };
  // Asked at once: the names and the registry are read here while the engine adds up the sums
  // (ten million flows: 0.7 s before the sums' first row). Each settled before the copy goes on.
  const done = await Promise.allSettled([copySums(), copyVersions(), copyTimes(), byCapture('rpc_endpoints', 'id'), byCapture('host_names', ''), byCapture('name_evidence', '')]);
  const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
  if (failed) throw failed.reason;
  out.rows = db.prepare('SELECT count(*) FROM flow_rollup_sensor').pluck().get() as number;
  // They hold every run of their sensor (what the views ask before they read them).
  db.exec(`INSERT INTO rollup_sensor_runs (sensor, run_id) SELECT coalesce(sensor, ''), id FROM runs WHERE status = 'complete'`);
  out.sensors = db.prepare('SELECT count(DISTINCT sensor) FROM rollup_sensor_runs').pluck().get() as number;
  // Each address's earliest and latest second, as a run's hosts are made from its rows.
  db.exec(`INSERT INTO hosts (address, first_sec, last_sec)
    SELECT address, min(first_ns) / 1000000000, max(last_ns) / 1000000000 FROM (
      SELECT client AS address, first_ns, last_ns FROM flow_rollup_sensor UNION ALL SELECT server AS address, first_ns, last_ns FROM flow_rollup_sensor)
    GROUP BY address`);
  return out;
}

/** A time window of flows: those that end at or after `since` and start at or before `until` (seconds, as --since/--until). */
export interface TimeWindow {
  since?: number;
  until?: number;
  /** Only the traffic of these addresses, as client or server (host ADDR --since reads no other; no captures are asked then). */
  addresses?: string[];
}

/** Most runs or hours a window's questions name as a list (the query's text: 18.16 takes 256 KB); past it, asked inside them. */
const LISTED = 500;

/** Conditions joined by OR (none: false). */
const anyOf = (conditions: string[]): string => (conditions.length ? `(${conditions.join(' OR ')})` : '0');

/** Seconds (Float64, as SQLite's tsOf and flow_view compute them) of an engine's nanosecond column. */
const secondsOf = (ns: string) => `(intDiv(${ns}, 1000000000) + (${ns} % 1000000000) / 1e9)`;

/**
 * How an hourly row r (flow_rollup) stands to a window, in the engine's SQL: `whole`, every flow of
 * it passes (its earliest last packet is at or after --since, its latest first at or before
 * --until); `none`, none does; `cut`, the others — as SQLite's groups decide (src/report/groups.ts).
 */
function rowStands(window: TimeWindow, c = { minLast: 'min_last_ns', maxFirst: 'max_first_ns', last: 'last_ns', first: 'first_ns' }): { whole: string; none: string; cut: string } {
  const whole: string[] = [];
  const none: string[] = [];
  if (window.since !== undefined) {
    whole.push(`${secondsOf(c.minLast)} >= ${numberLiteral(window.since)}`);
    none.push(`${secondsOf(c.last)} < ${numberLiteral(window.since)}`);
  }
  if (window.until !== undefined) {
    whole.push(`${secondsOf(c.maxFirst)} <= ${numberLiteral(window.until)}`);
    none.push(`${secondsOf(c.first)} > ${numberLiteral(window.until)}`);
  }
  const w = whole.join(' AND ') || '1';
  const n = none.join(' OR ') || '0';
  return { whole: `(${w})`, none: `(${n})`, cut: `(NOT (${w}) AND NOT (${n}))` };
}

/**
 * Makes `db` — a copy made by copyForReports of the same runs — hold only the traffic of `window`:
 * its sums are replaced by the engine's sums of the window's traffic per sensor and key, and the
 * local ids of the captures with a flow in it are returned (what summary lists). As SQLite answers
 * a window: the hourly rows the window takes whole are added up as they are, and only the hours it
 * cuts (a row of which it takes in part) are read again from their flows — found by time, the
 * flows' sort key — and their flows that pass added up by the rollup key (rollupKeyOf, SQL both
 * engines read). A flow is in the window as flow_view's times say (seconds + nanoseconds / 1e9,
 * the same doubles in both engines). Inside the caller's transaction.
 */
export async function copyWindow(shards: readonly ClickHouse[], db: Db, window: TimeWindow): Promise<number[]> {
  const shipped = 'run_uid IN (SELECT run_uid FROM runs)';
  const inWindow = [
    `f.${shipped}`,
    ...(window.since !== undefined ? [`(f.last_sec + f.last_nsec / 1e9) >= ${numberLiteral(window.since)}`] : []),
    ...(window.until !== undefined ? [`(f.first_sec + f.first_nsec / 1e9) <= ${numberLiteral(window.until)}`] : []),
  ].join(' AND ');
  const stands = rowStands(window);
  // The traffic of the addresses asked for alone: a condition on the rows' and the flows' own columns.
  const listed = window.addresses?.length ? window.addresses.map(stringLiteral).join(', ') : null;
  const ofAddresses = (a: string) => (listed === null ? '1' : `(${a}client IN (${listed}) OR ${a}server IN (${listed}))`);
  const cutHours = `(SELECT run_uid, bucket FROM flow_rollup WHERE ${shipped} AND ${stands.cut} AND ${ofAddresses('')})`;
  // Runs the window takes whole (every row of theirs): read from their rows without the hour, not
  // hour by hour (ten daily runs, a window of the last five days: 2.1M hourly rows or 0.7M rows).
  const runWhole = rowStands(window, { minLast: 'min(min_last_ns)', maxFirst: 'max(max_first_ns)', last: 'max(last_ns)', first: 'min(first_ns)' }).whole;
  const wholeRuns = `(SELECT run_uid FROM flow_rollup_run GROUP BY run_uid HAVING ${runWhole})`;
  const rowColumns = ['run_uid', ...(SENSOR_ROLLUP_KEY as readonly string[]).filter((k) => k !== 'sensor'), 'flows', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'first_ns', 'last_ns', 'max_first_ns', 'min_last_ns', 'first_id'].join(', ');
  // Each sensor-level column from a flow f: the key as a flow's rollup row has it, then the sums.
  const keyOf = new Map(ROLLUP_KEY.map((k, i) => [k as string, rollupKeyOf('f', 'c')[i]]));
  const fromFlow: Record<string, string> = { sensor: "ifNull(f.sensor, '')", ...FLOW_SUMS };
  const sumCols = localColumns(db, 'flow_rollup_sensor');
  const keyCols = SENSOR_ROLLUP_KEY as readonly string[];
  // The key's expressions named k0, k1, … (ClickHouse's aliases are the whole query's: none may be a column's name).
  const flowSelect = sumCols.map((c) => {
    const k = keyCols.indexOf(c.name);
    if (k >= 0) return `${c.name === 'sensor' ? fromFlow.sensor : keyOf.get(c.name)} AS k${k}`;
    return fromFlow[c.name];
  });
  if (flowSelect.some((x) => x === undefined)) throw new Error('a sensor-level rollup column the window does not make');
  db.exec('DELETE FROM flow_rollup_sensor');
  // An hour's rows and the flows of another hour may add to one sensor's key: added up here.
  const put = putSums(db, sumCols, shards, true);
  const putRow = (ch: ClickHouse) => putSumsRow(put, sumCols, ch, "a window's sums");
  // The captures with a flow in the window (as engine keys; local ids below).
  const hit = new Set<string>();
  // Per server: which runs the window takes whole and which hours it cuts, asked first (a few rows),
  // then named in the questions as lists rather than asked again inside each (host ADDR --since of
  // the busiest server, ten daily runs: 2.27 -> 1.8 s); past LISTED of either, asked inside them.
  // Its questions at once: the engine works on each while the rows of another are written here.
  const perServer = async (ch: ClickHouse) => {
    const whole = (await ch.query<{ run_uid: unknown }>(`SELECT run_uid FROM flow_rollup_run GROUP BY run_uid HAVING ${runWhole}`)).map((r) => String(r.run_uid));
    const cut = (await ch.query<{ run_uid: unknown; bucket: unknown }>(`SELECT DISTINCT run_uid, bucket FROM flow_rollup WHERE ${shipped} AND ${stands.cut} AND ${ofAddresses('')}`)).map((r) => ({
      uid: String(r.run_uid),
      bucket: ch.whole(r.bucket),
    }));
    const inWhole = (x: string) => (whole.length > LISTED ? `${x}run_uid IN ${wholeRuns}` : anyOf(whole.map((u) => `${x}run_uid = ${stringLiteral(u)}`)));
    const inCut = (x: string, bucket: string) =>
      cut.length > LISTED ? `(${x}run_uid, ${bucket}) IN ${cutHours}` : anyOf(cut.map((h) => `(${x}run_uid = ${stringLiteral(h.uid)} AND ${bucket} = ${integerLiteral(h.bucket)})`));
    const asked = [
      // The runs and hours the window takes whole: their rows as they are.
      fieldsOf(
        ch,
        sensorSums(
          sumCols,
          `(SELECT ${rowColumns} FROM flow_rollup_run WHERE ${inWhole('')} AND ${ofAddresses('')}
            UNION ALL
            SELECT ${rowColumns} FROM flow_rollup WHERE ${stands.whole} AND ${ofAddresses('')} AND NOT ${inWhole('')} AND NOT ${inCut('', 'bucket')})`,
        ),
        sumCols.length,
        "a window's sums",
        putRow(ch),
      ),
    ];
    // The hours it cuts: their flows that pass, found by time (the flows' sort key) — an hour a run.
    if (cut.length > 0) {
      // (Not Math.min(...list): a window past long flows cuts many hours, more than a call's arguments.)
      const lo = cut.reduce((a, h) => Math.min(a, h.bucket), Infinity);
      const hi = cut.reduce((a, h) => Math.max(a, h.bucket), -Infinity);
      asked.push(
        fieldsOf(
          ch,
          `SELECT ${flowSelect.join(', ')} FROM flows AS f
           WHERE f.first_sec >= ${integerLiteral(lo)} AND f.first_sec < ${integerLiteral(hi + BUCKET_SECONDS)}
             AND ${inWindow} AND ${ofAddresses('f.')} AND ${inCut('f.', `f.first_sec - f.first_sec % ${BUCKET_SECONDS}`)}
           GROUP BY ${keyCols.map((_, k) => `k${k}`).join(', ')}`,
          sumCols.length,
          "a window's sums",
          putRow(ch),
        ),
      );
    }
    // The captures with a flow in the window: asked of the flows of the hours that may hold one.
    if (listed === null) {
      asked.push(
        (async () => {
          const reach = await ch.one<{ lo: unknown; hi: unknown; n: unknown }>(`SELECT min(bucket) AS lo, max(bucket) AS hi, count() AS n FROM flow_rollup WHERE ${shipped} AND NOT ${stands.none}`);
          if (ch.whole(reach.n) === 0) return;
          await ch.eachFields(
            `SELECT DISTINCT f.run_uid, f.capture_id FROM flows AS f
             WHERE f.first_sec >= ${integerLiteral(ch.whole(reach.lo))} AND f.first_sec < ${integerLiteral(ch.whole(reach.hi) + BUCKET_SECONDS)} AND ${inWindow}`,
            (r) => hit.add(captureKey(String(r[0]), valueFor(r[1], true, () => `${ch.where}: capture id`) as number)),
          );
        })(),
      );
    }
    const done = await Promise.allSettled(asked);
    const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed) throw failed.reason;
  };
  // Each server's questions settled before the copy goes on (a failed one's error is the answer).
  const done = await Promise.allSettled(shards.map(perServer));
  const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
  if (failed) throw failed.reason;
  const local = await localCaptures(shards, db);
  return [...hit].flatMap((k) => local.get(k) ?? []).sort((a, b) => a - b);
}

/** The engine's runs (their identities) with their ids in `db`, a copy copyForReports made of the same runs (numbered by runOrder). */
async function localRuns(shards: readonly ClickHouse[], db: Db): Promise<Map<string, number>> {
  const runs: { uid: string; startedAt: string }[] = [];
  for (const ch of shards) await ch.eachRow('SELECT DISTINCT run_uid, started_at FROM runs', (r) => runs.push({ uid: String(r.run_uid), startedAt: String(r.started_at) }));
  const seen = new Set<string>();
  const order = runs.filter((r) => !seen.has(r.uid) && seen.add(r.uid)).sort(runOrder);
  const local = db.prepare('SELECT id FROM runs ORDER BY id').pluck().all() as number[];
  if (local.length !== order.length) throw new ClickHouseError(`${shards[0].where}: its runs changed while the report was made; report again`);
  return new Map(order.map((r, i) => [r.uid, local[i]]));
}

/** A capture of the engine: its run's identity and its id there. */
const captureKey = (uid: string, id: number) => `${uid}\u0000${id}`;

/**
 * The engine's captures (captureKey) with their ids in `db`, a copy copyForReports made of the same
 * runs: it numbered its runs by runOrder and their captures in that order then their own id, from 1.
 */
async function localCaptures(shards: readonly ClickHouse[], db: Db, runs?: Map<string, number>): Promise<Map<string, number>> {
  const rank = runs ?? (await localRuns(shards, db));
  const captures: { uid: string; id: number }[] = [];
  for (const ch of shards) {
    await ch.eachFields('SELECT run_uid, id FROM captures WHERE run_uid IN (SELECT run_uid FROM runs)', (r) => captures.push({ uid: String(r[0]), id: valueFor(r[1], true, () => `${ch.where}: capture id`) as number }));
    held(ch, 'captures', captures.length);
  }
  captures.sort((a, b) => rank.get(a.uid)! - rank.get(b.uid)! || a.id - b.id);
  const local = db.prepare('SELECT id FROM captures ORDER BY id').pluck().all() as number[];
  if (local.length !== captures.length) throw new ClickHouseError(`${shards[0].where}: its captures changed while the report was made; report again`);
  return new Map(captures.map((c, i) => [captureKey(c.uid, c.id), local[i]]));
}

/** What copyFlows learns of the engine and the copy once, for the next copies into the same copy. */
export interface CopyContext {
  runIds?: Map<string, number>;
  captures?: Map<string, number>;
  /** The engine's flows table has the copy's columns. */
  checked?: boolean;
}

/**
 * Which of the engine's flows a command that reads flows one by one (flows, export) needs: the
 * conditions of its filter that the flows' own columns answer. The caller applies its whole filter
 * again to what is copied: each condition here lets through at least every flow it would pass.
 */
export interface FlowSelection {
  since?: number;
  until?: number;
  /** An address or block on any of `sides` (--host: both; --client, --server: one). */
  addresses: { value: string; sides: ('client' | 'server')[] }[];
  service?: string;
  sensor?: string;
  /** A protection finding the flow raised (one of its `protection` column's ids). */
  finding?: string;
  /** Only flows of these captures (ids in the copy), when a capture was named. */
  captures?: number[];
  /** Only flows that began in these minutes (each its first second, a multiple of MINUTE_SECONDS). */
  minutes?: number[];
  /** Only the first this many in time order (then id: a listing's order within one capture). */
  first?: number;
}

/** An address or block on a column as ClickHouse SQL that passes every flow in_net() or equality would. */
function addressSql(column: string, value: string): string {
  if (!value.includes('/')) return `${column} = ${stringLiteral(value)}`;
  const net = parseNet(value);
  if (net === null) return '0'; // in_net passes nothing for what is not a block
  if (net.family === 6) return `position(${column}, ':') > 0`; // every IPv6 address has one; the copy's in_net does the rest
  const size = 2 ** (32 - net.bits);
  const low = Math.floor(net.words[3] / size) * size;
  // An address not written as IPv4StringToNum reads it back is let through: the copy judges it.
  return `(IPv4StringToNum(${column}) BETWEEN ${integerLiteral(low)} AND ${integerLiteral(low + size - 1)} OR IPv4NumToString(IPv4StringToNum(${column})) != ${column})`;
}

/** The copy's BLOB columns travel as hex (TabSeparated is text). */
const isBlob = (db: Db, table: string) => {
  const blobs = new Set((db.prepare(`PRAGMA main.table_info("${table}")`).all() as { name: string; type: string }[]).filter((c) => /BLOB/i.test(c.type)).map((c) => c.name));
  return (name: string) => blobs.has(name);
};

/** The engine's condition for the flows a selection lets through (`captures`: the copy's, by engine key). */
function selectionWhere(sel: FlowSelection, captures: Map<string, number>): string[] {
  const where = ['run_uid IN (SELECT run_uid FROM runs)'];
  if (sel.since !== undefined) where.push(`(last_sec + last_nsec / 1e9) >= ${numberLiteral(sel.since)}`);
  if (sel.until !== undefined) where.push(`(first_sec + first_nsec / 1e9) <= ${numberLiteral(sel.until)}`);
  for (const a of sel.addresses) where.push(`(${a.sides.map((s) => addressSql(s, a.value)).join(' OR ')})`);
  if (sel.service !== undefined) where.push(`service = ${stringLiteral(sel.service)}`);
  if (sel.sensor !== undefined) where.push(`sensor = ${stringLiteral(sel.sensor)}`);
  if (sel.finding !== undefined) where.push(`position(concat(',', ifNull(protection, ''), ','), ${stringLiteral(`,${sel.finding},`)}) > 0`);
  if (sel.captures !== undefined) {
    const wanted = new Set(sel.captures);
    const pairs = [...captures].filter(([, local]) => wanted.has(local)).map(([k]) => k.split('\u0000'));
    where.push(pairs.length ? `(run_uid, capture_id) IN (${pairs.map(([uid, id]) => `(${stringLiteral(uid)}, ${integerLiteral(Number(id))})`).join(', ')})` : '0');
  }
  // As ranges of first_sec: the engine's sort key, so that it reads only their parts.
  if (sel.minutes !== undefined) where.push(sel.minutes.length ? `(${sel.minutes.map((m) => `(first_sec >= ${integerLiteral(m)} AND first_sec < ${integerLiteral(m + MINUTE_SECONDS)})`).join(' OR ')})` : '0');
  return where;
}

/**
 * How many of the engine's flows `sel` lets through in each capture (the copy's ids; captures
 * with none left out): what a listing of the first flows copies first.
 */
export async function flowsPerCapture(shards: readonly ClickHouse[], db: Db, sel: FlowSelection): Promise<Map<number, number>> {
  const captures = await localCaptures(shards, db);
  const out = new Map<number, number>();
  for (const ch of shards) {
    await ch.eachFields(`SELECT run_uid, capture_id, count() FROM flows WHERE ${selectionWhere(sel, captures).join(' AND ')} GROUP BY run_uid, capture_id`, (r) => {
      const at = () => `${ch.where}: a capture's flows`;
      const local = captures.get(captureKey(String(r[0]), valueFor(r[1], true, at) as number));
      if (local !== undefined) out.set(local, (out.get(local) ?? 0) + (valueFor(r[2], true, at) as number));
    });
  }
  return out;
}

/**
 * Copies into `db` — a copy copyForReports made of the same runs — the engine's flows `sel` lets
 * through, with their captures' local ids, numbered as a merge of the runs in the copy's order
 * numbers them (by run, then by their id in their sensor's database: flowPlaces). Inside the
 * caller's transaction; `progress` is told the flows copied so far now and then.
 */
export async function copyFlows(shards: readonly ClickHouse[], db: Db, sel: FlowSelection, progress: (flows: number) => void = () => {}, known: CopyContext = {}): Promise<void> {
  // The runs' and captures' ids in the copy, asked of the engine once for the whole copy (and for
  // the caller's next copies into it, given `known`).
  const runIds = (known.runIds ??= await localRuns(shards, db));
  const captures = (known.captures ??= await localCaptures(shards, db, runIds));
  const where = selectionWhere(sel, captures);
  const cols = localColumns(db, 'flows').filter((c) => c.name !== 'id');
  const blob = isBlob(db, 'flows');
  for (const ch of known.checked ? [] : shards) {
    const have = new Set((await ch.query<{ name: unknown }>('DESCRIBE TABLE flows')).map((r) => String(r.name)));
    const missing = cols.filter((c) => !have.has(c.name));
    if (missing.length) throw new ClickHouseError(`${ch.where}: table ${ch.target.database}.flows lacks ${missing.slice(0, 3).map((c) => c.name).join(', ')}: made by another exflow version`);
  }
  known.checked = true;
  const places = await flowPlaces(shards, db, where, runIds);
  // The copy is this command's own: its flows' indexes are made again after the rows are in (a
  // sort each) rather than kept up to date row by row.
  const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flows' AND sql IS NOT NULL").all() as { name: string; sql: string }[];
  for (const x of indexes) db.exec(`DROP INDEX main."${x.name}"`);
  const list = cols.map((c) => `"${c.name}"`).join(', ');
  // Ids spread far wider than the flows (runs whose ids another run's interleave, or a hostile
  // engine): put in order by run and id on disk first, then numbered densely (slower, exact).
  const sparse = places === null;
  if (sparse) db.exec(`DROP TABLE IF EXISTS main.engine_flows; CREATE TABLE main.engine_flows (run INTEGER NOT NULL, sid INTEGER NOT NULL, ${list}, PRIMARY KEY (run, sid)) WITHOUT ROWID`);
  const put = sparse
    ? db.prepare(`INSERT OR IGNORE INTO main.engine_flows VALUES (?, ?, ${cols.map(() => '?').join(', ')})`)
    : db.prepare(`INSERT OR IGNORE INTO main.flows (id, ${list}) VALUES (?, ${cols.map(() => '?').join(', ')})`);
  const select = cols.map((c) => (blob(c.name) ? `hex(${identifier(c.name)})` : identifier(c.name)));
  const capturesAt = cols.flatMap((c, i) => (c.name === 'capture_id' || c.name === 'last_capture_id' ? [i] : []));
  const integer = cols.map((c) => c.integer);
  const blobs = cols.map((c) => blob(c.name));
  let copied = 0;
  for (const ch of shards) {
    const first = sel.first === undefined ? '' : ` ORDER BY first_sec, first_nsec, id LIMIT ${integerLiteral(sel.first)}`;
    await fieldsOf(ch, `SELECT run_uid, id, ${select.join(', ')} FROM flows WHERE ${where.join(' AND ')}${first}`, 2 + cols.length, 'flows', (r) => {
      const uid = r[0] as string;
      const sid = valueFor(r[1], true, () => `${ch.where}: flow id`) as number;
      const values = new Array<unknown>(cols.length);
      for (let i = 0; i < cols.length; i++) {
        const v = r[2 + i];
        values[i] = blobs[i] ? (v === null ? null : Buffer.from(v, 'hex')) : valueFor(v, integer[i], () => `${ch.where}: flow ${sid}, ${cols[i].name}`);
      }
      for (const i of capturesAt) {
        if (values[i] === null) continue;
        const local = captures.get(captureKey(uid, values[i] as number));
        if (local === undefined && cols[i].name === 'capture_id') throw new ClickHouseError(`${ch.where}: flow ${sid} of run ${uid} names a capture the engine does not hold`);
        values[i] = local ?? null;
      }
      if (sparse) put.run(runIds.get(uid) ?? 0, sid, ...values);
      else {
        const span = places.get(uid);
        if (span === undefined || sid < span.low || sid > span.high) throw new ClickHouseError(`${ch.where}: sent flow ${sid} of run ${uid} outside the ids it counted (shipped meanwhile?); report again`);
        put.run(span.place + sid - span.low, ...values);
      }
      if (++copied % 50_000 === 0) progress(copied);
    });
  }
  if (sparse) db.exec(`INSERT INTO main.flows (${list}) SELECT ${list} FROM main.engine_flows ORDER BY run, sid; DROP TABLE main.engine_flows`);
  for (const x of indexes) db.exec(x.sql);
}

/**
 * Where each run's flows go in the copy: numbered in the order merge numbers them — a run's flows
 * after those of the runs before it (the copy's run order), in the order of their own ids — each
 * at its run's first place plus its id's distance from the run's lowest, so that rows need no
 * sorting, here or in the engine (ids a run does not use are gaps, which nothing reads; a run twice
 * on one server puts each of its flows in the same place twice: once). Null where the ids spread
 * over more than twice the flows and 100,000 (an export's parts are by id).
 */
async function flowPlaces(shards: readonly ClickHouse[], db: Db, where: string[], runIds: Map<string, number>): Promise<Map<string, { low: number; high: number; place: number }> | null> {
  const spans = new Map<string, { low: number; high: number; flows: number }>();
  for (const ch of shards) {
    await ch.eachFields(`SELECT run_uid, min(id), max(id), count() FROM flows WHERE ${where.join(' AND ')} GROUP BY run_uid`, (r) => {
      const at = () => `${ch.where}: a run's flow ids`;
      spans.set(String(r[0]), { low: valueFor(r[1], true, at) as number, high: valueFor(r[2], true, at) as number, flows: valueFor(r[3], true, at) as number });
    });
  }
  const out = new Map<string, { low: number; high: number; place: number }>();
  let next = ((db.prepare('SELECT max(id) FROM main.flows').pluck().get() as number | null) ?? 0) + 1;
  let ids = 0;
  let flows = 0;
  for (const [uid] of [...runIds].sort((a, b) => a[1] - b[1])) {
    const span = spans.get(uid);
    if (span === undefined) continue;
    out.set(uid, { low: span.low, high: span.high, place: next });
    next += span.high - span.low + 1;
    ids += span.high - span.low + 1;
    flows += span.flows;
  }
  return spreadFar(ids, flows) || !Number.isSafeInteger(next) ? null : out;
}

/** A Float64 the engine wrote as text (the shortest that reads back as it: JavaScript's Number reads it so). */
function exactDouble(v: string | null, where: () => string): number {
  const n = v === null ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new ClickHouseError(`${where()}: ${JSON.stringify(v)?.slice(0, 40)} is not a number`);
  return n;
}
