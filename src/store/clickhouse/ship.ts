// Sends a sensor's finished runs to ClickHouse, each once, whole, and never twice. A run is
// there when its row is in `runs`: that row is sent last. Before it, its tables are sent in
// order — captures, flows in chunks of consecutive ids, the endpoint registry, names — and
// after each insert the ship notes in `ship_log` how far that table of that run is. A ship
// that was stopped (killed, the server gone) and is started again carries on from the note.
// Rows of the run beyond it were written by an insert whose note never came: kept (and noted)
// where they are exactly the run's rows of that stretch, else deleted and sent again — so
// nothing is doubled or lost whatever moment the ship was stopped at.
// The sensor's SQLite is only read: it stays the source of truth.
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from '../db';
import type { ClickHouse, Settings } from './http';
import { ClickHouseError } from './http';
import { integerLiteral, stringLiteral } from './quote';
import { RowBinaryWriter, ValueError, type ColumnType } from './rowbinary';
import { FLOW_CHUNK } from './chunk';
import { spreadFar } from '../flow-ids';
import { ensureSchema, rollupOfFlows, SHIP_LOG, SHIPPED_TABLES, shippedColumns, type ShippedColumns, type ShippedTable } from './schema';

/** Flow ids read and sent at a time within an insert (about 4,000 flows, 1.5 MB of RowBinary). */
const SLICE_IDS = 4_000;

export interface ShipProgress {
  run: number;
  table: ShippedTable;
  /** Rows of the table sent so far in this ship, and how many the run has. */
  rows: number;
  total: number;
}

export interface ShipOptions {
  /** Flows an insert (tests send small chunks to stop a ship between them). */
  chunkRows?: number;
  onProgress?: (p: ShipProgress) => void;
  /**
   * Who reads and encodes the flows (src/run/ship.ts: threads of its own); by default this thread,
   * through `db`.
   */
  slices?: (q: SliceQuery) => SliceReader;
}

/** What a reader of a run's flows needs: the statement (ids from @from to @to) and the columns' types. */
export interface SliceQuery {
  sql: string;
  bind: Record<string, string | number | null>;
  types: ColumnType[];
  names: string[];
  run: number;
}

/** A slice read: its flows' count and RowBinary (a view of a buffer the reader may make again). */
export interface SliceRead {
  rows: number;
  bytes: Buffer;
}

/** The flows with ids in (from, to], encoded as RowBinary. */
export interface SliceReader {
  read(from: number, to: number): Promise<SliceRead>;
  /** The slice's bytes are sent: its buffer may be used again. */
  release(slice: SliceRead): void;
  close(): void;
}

/** Reads slices in this thread, into a few buffers used again as slices are sent. */
export function sliceReader(db: Db, q: SliceQuery): SliceReader {
  const st = db.prepare(q.sql).raw();
  const writer = new RowBinaryWriter(q.types, q.names);
  const pool: ArrayBuffer[] = [];
  return {
    read: async (from, to) => encodeSlice(st.iterate({ ...q.bind, from, to }) as IterableIterator<unknown[]>, writer, q.run, pool.pop() ?? null),
    release: (slice) => pool.push(slice.bytes.buffer as ArrayBuffer),
    close: () => {},
  };
}

/** The rows of a slice as RowBinary, in `into` where it is big enough. */
export function encodeSlice(rows: Iterable<unknown[]>, writer: RowBinaryWriter, run: number, into: ArrayBuffer | null): SliceRead {
  for (const row of rows) encodeRow(writer, row, 'flows', run);
  const n = writer.rows;
  return { rows: n, bytes: writer.takeInto(into) };
}

export interface ShippedRun {
  id: number;
  uid: string;
  sensor: string | null;
  flows: number;
  /** Flows an earlier, stopped ship had sent (0: the run was sent from its start). */
  resumedAfter: number;
  /** The server it went to (an index into the shards given). */
  shard?: number;
}

export interface ShipOutcome {
  shipped: ShippedRun[];
  /** Runs already in the engine (their row is there). */
  already: { id: number; uid: string }[];
  /**
   * Runs in the engine without tables an earlier exflow did not send (the hourly rows, hours and
   * minutes): those sent now (or made by the engine) — the reports refuse such runs until then.
   */
  completed: { id: number; uid: string; tables: string[] }[];
  /** Runs not finished here (running, or live): shipped by a later ship, once complete. */
  pending: { id: number; status: string }[];
}

/**
 * Settings for every insert. Releases since 20.x parse an HTTP insert's body in parallel pieces of
 * about 10 MB, each its own block: turned off, so that an insert stays one block; and they refuse
 * a block of more than 100 days (partitions): lifted, since a chunk of old captures may span years
 * (the shared public traces: 72 days). 18.16 refuses a setting it does not know, so they are sent
 * only to a release that has them.
 */
async function insertSettings(ch: ClickHouse): Promise<Settings> {
  const { v } = await ch.one<{ v: string }>('SELECT version() AS v');
  return Number(/^(\d+)/.exec(String(v))?.[1] ?? 0) >= 20 ? { input_format_parallel_parsing: 0, max_partitions_per_insert_block: 0 } : {};
}

/** A database value that cannot be sent as its column's type (a hostile or damaged database). */
export class ShipValueError extends Error {
  override name = 'ShipValueError';
}

interface RunRow {
  id: number;
  status: string;
  live: number;
  uid: string | null;
  sensor: string | null;
  started_at: string;
  host: string | null;
  pid: number | null;
  command: string;
}

/**
 * A run's identity in the engine: its uid, made when it began; a run older than uids gets one
 * from what made it that run (its start, host, process and command), the same every ship.
 */
export function runUid(r: Pick<RunRow, 'uid' | 'started_at' | 'host' | 'pid' | 'command'>): string {
  if (r.uid) return r.uid;
  return 'legacy-' + createHash('sha256').update(JSON.stringify([r.started_at, r.host, r.pid, r.command])).digest('hex').slice(0, 32);
}

/**
 * Ships every complete run not in the engine. With several servers (shards, in the order given),
 * each run goes whole to one: the one an earlier, stopped ship of it had begun on, else the one its
 * identity hashes to — a run is never split between shards, so a shard's rows of a run are
 * complete or noted as far as they go, and one shard's ship_log says how far.
 */
export async function shipRuns(db: Db, shards: readonly ClickHouse[], o: ShipOptions = {}): Promise<ShipOutcome> {
  const columns = shippedColumns(db);
  const settings: Settings[] = [];
  const there = new Map<string, number>();
  const begun = new Map<string, number[]>();
  // Per run on a server, the tables its notes name (the run's own row is never noted).
  const notedTables = new Map<string, Set<string>>();
  for (const [i, ch] of shards.entries()) {
    await ensureSchema(ch, columns);
    settings.push(await insertSettings(ch));
    for (const { run_uid } of await ch.query<{ run_uid: unknown }>('SELECT run_uid FROM runs')) there.set(String(run_uid), i);
    // The runs begun on this server and the tables each has noted: one read of the notes.
    for (const { run_uid, tbl } of await ch.query<{ run_uid: unknown; tbl: unknown }>(`SELECT DISTINCT run_uid, tbl FROM ${SHIP_LOG}`)) {
      const uid = String(run_uid);
      const on = begun.get(uid) ?? [];
      if (!on.includes(i)) begun.set(uid, [...on, i]);
      if (there.get(uid) !== i) continue;
      const set = notedTables.get(uid) ?? new Set<string>();
      set.add(String(tbl));
      notedTables.set(uid, set);
    }
  }
  const out: ShipOutcome = { shipped: [], already: [], pending: [], completed: [] };
  const runs = db.prepare('SELECT id, status, live, uid, sensor, started_at, host, pid, command FROM runs ORDER BY id').all() as RunRow[];
  for (const r of runs) {
    const uid = runUid(r);
    if (r.status !== 'complete') {
      if (r.status === 'running' || r.live === 1) out.pending.push({ id: r.id, status: r.status });
      continue;
    }
    if (there.has(uid)) {
      // Shipped by an earlier exflow that did not send every table this one does: those sent now.
      const missing = SHIPPED_TABLES.filter((t) => t !== 'runs' && !(notedTables.get(uid)?.has(t) ?? false));
      if (missing.length === 0) out.already.push({ id: r.id, uid });
      else {
        const shard = there.get(uid)!;
        await shipRun(db, shards[shard], columns, r, uid, o, settings[shard], { rowThere: true });
        out.completed.push({ id: r.id, uid, tables: missing });
      }
      continue;
    }
    const started = begun.get(uid) ?? [];
    const shard = started[0] ?? shardOf(uid, shards.length);
    // Begun on more than one (shards were added between two stopped ships): carried on on the
    // first, the others' part of it deleted.
    for (const other of started.slice(1)) await forgetRun(shards[other], uid);
    out.shipped.push({ ...(await shipRun(db, shards[shard], columns, r, uid, o, settings[shard])), shard });
  }
  return out;
}

/** The shard a run's identity hashes to (SHA-256's first four bytes, modulo the shards). */
export function shardOf(uid: string, shards: number): number {
  return createHash('sha256').update(uid).digest().readUInt32BE(0) % shards;
}

/** Deletes every row of a run from a server (its tables and its notes), and waits until they are gone. */
async function forgetRun(ch: ClickHouse, uid: string): Promise<void> {
  const uidSql = stringLiteral(uid);
  for (const table of SHIPPED_TABLES) await removeUnnoted(ch, table, uidSql, null);
  await removeUnnoted(ch, SHIP_LOG, uidSql, null);
}

/** Which rows of a table belong to run @run (its captures' rows; the run's own row). */
/**
 * The run's flows as the slices read them: found by id, not through flows_capture (the unary +
 * keeps SQLite off that index, with which it sorted every flow left at each slice).
 */
const FLOWS_BY_ID = '+capture_id IN (SELECT id FROM captures WHERE run_id = @run)';

const OF_RUN: Record<ShippedTable, string> = {
  runs: 'id = @run',
  captures: 'run_id = @run',
  flows: 'capture_id IN (SELECT id FROM captures WHERE run_id = @run)',
  flow_rollup_run: 'run_id = @run',
  flow_rollup: 'run_id = @run',
  flow_hours: 'run_id = @run',
  flow_minutes: 'run_id = @run',
  rpc_endpoints: 'capture_id IN (SELECT id FROM captures WHERE run_id = @run)',
  host_names: 'capture_id IN (SELECT id FROM captures WHERE run_id = @run)',
  name_evidence: 'capture_id IN (SELECT id FROM captures WHERE run_id = @run)',
};

/** With `rowThere`, the run's row is in the engine already (its tables an earlier exflow left out are sent now): not sent again. */
async function shipRun(db: Db, ch: ClickHouse, columns: Record<ShippedTable, ShippedColumns>, r: RunRow, uid: string, o: ShipOptions, shared: Settings, w: { rowThere?: boolean } = {}): Promise<ShippedRun> {
  const uidSql = stringLiteral(uid);
  // Each insert named for its run, so that the next ship of the run can wait for it to be over.
  const settings = { ...shared, query_id: `${insertPrefix(uid)}${randomUUID()}` };
  await earlierInsertsOver(ch, uid);
  const noted = new Map(
    (await ch.query<{ tbl: unknown; upto: unknown }>(`SELECT tbl, max(upto) AS upto FROM ${SHIP_LOG} WHERE run_uid = ${uidSql} GROUP BY tbl`)).map((x) => [String(x.tbl), ch.whole(x.upto)]),
  );
  const shipped: ShippedRun = { id: r.id, uid, sensor: r.sensor, flows: 0, resumedAfter: 0 };
  // The engine making the run's hourly rows from its flows, while the run's other tables are sent.
  let making: Promise<void> | null = null;
  for (const table of SHIPPED_TABLES) {
    // The run's row once all else is in: the hourly rows made too.
    if (table === 'runs' && making !== null) await making;
    if (table === 'runs' && w.rowThere) continue;
    const c = columns[table];
    const writer = new RowBinaryWriter(c.types, c.names);
    // The added columns (run_uid, and the sensor on flows) come from the query, bound as values.
    const added = table === 'flows' ? '@uid, @sensor' : '@uid';
    const from = `SELECT ${added}, ${c.sqlite.map((n) => `"${n}"`).join(', ')} FROM main."${table}"`;
    const bind = { run: r.id, uid, ...(table === 'flows' ? { sensor: r.sensor } : {}) };
    if (table === 'flows') {
      shipped.resumedAfter = await settleUnnotedFlows(db, ch, uidSql, r.id, noted.get('flows') ?? 0);
      shipped.flows = await shipFlows(db, ch, { r, uidSql, from, bind, types: c.types, names: c.names, after: shipped.resumedAfter, settings }, o);
      continue;
    }
    if (noted.has(table)) continue;
    const count = db.prepare(`SELECT count(*) FROM main."${table}" WHERE ${OF_RUN[table]}`).pluck().get(bind) as number;
    // The run's row is never noted: sent, the run is there; not sent, nothing of it is. Another
    // table's rows without a note: its insert was whole and only the note is missing — noted now —
    // unless the count says otherwise (an insert of more than a block, cut): then sent again.
    if (table !== 'runs') {
      const there = await ch.count(`SELECT count() AS n FROM ${table} WHERE run_uid = ${uidSql}`);
      if (there > 0 && there === count) {
        await note(ch, uidSql, table, 0, count);
        continue;
      }
      if (there > 0) await removeUnnoted(ch, table, uidSql, null);
    }
    if (table === 'flow_rollup' && count > 0) {
      // Made by the engine from the run's flows, there already: sent, ten days' 4.2M hourly rows
      // cost the ship a third of its time (96,600 flows a second, 138,000-146,000 without them).
      // Begun here, awaited before the run's row (an error then is the ship's), noted once made.
      making = (async () => {
        await ch.exec(rollupOfFlows(c.names, r.id, uidSql), { ...settings, query_id: `${insertPrefix(uid)}${randomUUID()}` });
        const made = await ch.count(`SELECT count() AS n FROM ${table} WHERE run_uid = ${uidSql}`);
        if (made !== count) throw new ShipValueError(`${ch.where}: the engine made ${made} hourly rows of run ${r.id} from its flows, where the sensor's database has ${count}: its rollups do not match its flows (a damaged database: analyze its captures again)`);
        await note(ch, uidSql, table, 0, count);
        o.onProgress?.({ run: r.id, table, rows: count, total: count });
      })();
      making.catch(() => {}); // a ship stopped by another table's error: that one is its answer
      continue;
    }
    if (count > 0) {
      // Streamed in pieces: a run of ten days has a million rollup rows, which held at once would be
      // hundreds of MB. Integers read exactly: a rollup's times are nanoseconds since 1970.
      const rows = db.prepare(`${from} WHERE ${OF_RUN[table]}`).safeIntegers(true).raw().iterate(bind) as IterableIterator<unknown[]>;
      await ch.insertStream(
        table,
        c.names,
        'RowBinary',
        async (write) => {
          try {
            for (const row of rows) {
              encodeRow(writer, row, table, r.id);
              if (writer.rows >= SMALL_PIECE) await write(writer.take());
            }
            if (writer.rows > 0) await write(writer.take());
          } finally {
            // An insert broken off leaves the statement open: the connection would stay busy.
            rows.return?.();
            writer.take();
          }
        },
        settings,
      );
    }
    if (table !== 'runs') await note(ch, uidSql, table, 0, count);
    o.onProgress?.({ run: r.id, table, rows: count, total: count });
  }
  return shipped;
}

interface FlowShip {
  r: RunRow;
  uidSql: string;
  /** The flows' columns, the added ones first, and FROM (the caller's WHERE follows). */
  from: string;
  bind: Record<string, string | number | null>;
  types: ColumnType[];
  names: string[];
  /** The last flow id an earlier ship noted (0: none). */
  after: number;
  settings: Settings;
}

/**
 * Sends a run's flows after `s.after`, in inserts of at most chunkRows, each noted once it is in;
 * returns the run's flows. The flows are read in slices of SLICE_IDS ids (a run's flows are one
 * stretch of ids, give or take another run's written meanwhile), so that readers on other threads
 * can read ahead while an insert is sent; an insert ends at a slice's end, and its note says so.
 */
async function shipFlows(db: Db, ch: ClickHouse, s: FlowShip, o: ShipOptions): Promise<number> {
  const run = { run: s.r.id };
  const { total, lastId, before } = db
    .prepare(`SELECT count(*) AS total, coalesce(max(id), 0) AS lastId, coalesce(sum(id <= @after), 0) AS before FROM main.flows WHERE ${OF_RUN.flows}`)
    .get({ ...run, after: s.after }) as { total: number; lastId: number; before: number };
  let sent = before;
  const chunkRows = o.chunkRows ?? FLOW_CHUNK;
  const step = Math.min(SLICE_IDS, chunkRows);
  const q: SliceQuery = { sql: `${s.from} WHERE ${FLOWS_BY_ID} AND id > @from AND id <= @to`, bind: s.bind, types: s.types, names: s.names, run: s.r.id };
  const reader = (o.slices ?? ((x) => sliceReader(db, x)))(q);
  // Slices of `step` ids — or, where the run's ids spread far wider than its flows (a hostile or
  // odd database), of `step` flows each, their ends found first: empty slices of ids spread over
  // billions would take hours to step through.
  const ends = spreadFar(lastId - s.after, total - before) ? sliceEnds(db, run.run, s.after, step) : null;
  const slices = new SliceQueue(reader, s.after, lastId, ends ? endsIn(ends, lastId) : (from) => Math.min(from + step, lastId));
  try {
    let last = s.after;
    while (last < lastId) {
      // One insert (one block for ClickHouse) of up to chunkRows flows, sent a slice at a time:
      // ClickHouse reads one while the next is read. A slice that would make the insert too big waits for the next.
      let inChunk = 0;
      let upto = last;
      await ch.insertStream(
        'flows',
        s.names,
        'RowBinary',
        async (write) => {
          while (upto < lastId) {
            const slice = await slices.peek();
            if (inChunk > 0 && inChunk + slice.rows > chunkRows) break;
            slices.take();
            upto = slice.to;
            if (slice.rows === 0) {
              reader.release(slice);
              continue;
            }
            inChunk += slice.rows;
            await write(slice.bytes);
            reader.release(slice);
          }
        },
        s.settings,
      );
      last = upto;
      if (inChunk === 0) continue;
      await note(ch, s.uidSql, 'flows', last, inChunk);
      sent += inChunk;
      o.onProgress?.({ run: s.r.id, table: 'flows', rows: sent, total });
    }
  } finally {
    reader.close();
  }
  return total;
}

interface Slice extends SliceRead {
  to: number;
}

/** The slices of ids after `from` up to `last`, asked of the reader a few ahead, handed out in order. */
class SliceQueue {
  private readonly asked: Promise<Slice>[] = [];
  private next: number;

  constructor(
    private readonly reader: SliceReader,
    from: number,
    private readonly last: number,
    /** Where the slice after id `from` ends (its last id). */
    private readonly endAfter: (from: number) => number,
    private readonly ahead = 8,
  ) {
    this.next = from;
    this.fill();
  }

  /** The next slice (read when it is). */
  peek(): Promise<Slice> {
    return this.asked[0];
  }

  /** Done with the next slice: another is asked for. */
  take(): void {
    this.asked.shift();
    this.fill();
  }

  private fill(): void {
    while (this.asked.length < this.ahead && this.next < this.last) {
      const from = this.next;
      const to = this.endAfter(from);
      this.next = to;
      const p = this.reader.read(from, to).then((r) => ({ to, ...r }));
      // Looked at in order; one that fails before its turn is not an unhandled rejection.
      p.catch(() => {});
      this.asked.push(p);
    }
  }
}

/** Every `step`-th flow id of a run after `after`, and its last: where slices of `step` flows end. */
function sliceEnds(db: Db, run: number, after: number, step: number): number[] {
  return db
    .prepare(`SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS k, count(*) OVER () AS n FROM main.flows WHERE ${OF_RUN.flows} AND id > @after) WHERE k % @step = 0 OR k = n ORDER BY id`)
    .pluck()
    .all({ run, after, step }) as number[];
}

/** Slices that end at `ends` (ascending), the last at `last`: asked for in order, so each end is found after the one before. */
function endsIn(ends: number[], last: number): (from: number) => number {
  let at = 0;
  return (from) => {
    while (at < ends.length && ends[at] <= from) at++;
    return at < ends.length ? ends[at] : last;
  };
}

function encodeRow(writer: RowBinaryWriter, row: unknown[], table: ShippedTable, run: number): void {
  try {
    writer.add(row);
  } catch (e) {
    if (e instanceof ValueError) throw new ShipValueError(`run ${run}, table ${table}: ${e.message}`);
    throw e;
  }
}

/** Notes that `table`'s rows of a run are in, up to flow id `upto` (other tables: all of them). */
async function note(ch: ClickHouse, uidSql: string, table: ShippedTable, upto: number, rows: number): Promise<void> {
  await ch.exec(`INSERT INTO ${SHIP_LOG} (run_uid, tbl, upto, rows, shipped_at) VALUES (${uidSql}, ${stringLiteral(table)}, ${integerLiteral(upto)}, ${integerLiteral(rows)}, now())`);
}

/**
 * A run's flows in the engine past its last note (`after`): an insert whose note never came.
 * Where they are exactly the run's flows up to the highest of them — the insert was whole and the
 * ship was stopped between it and its note, the common case — the note is written and the ship
 * carries on after them; else (a server stopped in the middle of an insert that spans partitions)
 * they are deleted, a mutation the engine must rewrite parts for. Returns the flow id to carry on after.
 */
async function settleUnnotedFlows(db: Db, ch: ClickHouse, uidSql: string, run: number, after: number): Promise<number> {
  const past = await ch.one<{ n: unknown; ids: unknown; top: unknown }>(`SELECT count() AS n, uniqExact(id) AS ids, max(id) AS top FROM flows WHERE run_uid = ${uidSql} AND id > ${integerLiteral(after)}`);
  const n = ch.whole(past.n);
  if (n === 0) return after;
  const top = ch.whole(past.top);
  const here = db.prepare(`SELECT count(*) FROM main.flows WHERE ${OF_RUN.flows} AND id > @after AND id <= @top`).pluck().get({ run, after, top }) as number;
  if (ch.whole(past.ids) === n && here === n) {
    await note(ch, uidSql, 'flows', top, n);
    return top;
  }
  await removeUnnoted(ch, 'flows', uidSql, after);
  return after;
}

/** What the query ids of a run's inserts begin with. */
const insertPrefix = (uid: string) => `exflow-ship-${uid}-`;

/** How long an insert of a stopped ship may go on in the server before the next ship gives up. */
const INSERT_WAIT_MS = 120_000;

/**
 * Waits until no insert of run `uid` is running in the server: a ship killed in the middle of one
 * leaves the server to finish it, and rows it writes after the next ship has looked at what is there
 * would be sent twice (seen once in ten kills with both cores busy: a chunk of flows doubled).
 */
export async function earlierInsertsOver(ch: ClickHouse, uid: string): Promise<void> {
  const prefix = insertPrefix(uid);
  // position() counts bytes on both sides (a length from here would count UTF-16 units).
  const running = `SELECT count() AS n FROM system.processes WHERE position(query_id, ${stringLiteral(prefix)}) = 1`;
  const deadline = Date.now() + INSERT_WAIT_MS;
  while ((await ch.count(running)) > 0) {
    if (Date.now() > deadline) throw new ClickHouseError(`${ch.where}: an insert of an earlier ship of run ${uid} is still running after ${INSERT_WAIT_MS / 1000} s (system.processes); ship again later`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Rows of a run's other tables (captures, rollups, names…) encoded before they are written to the insert. */
const SMALL_PIECE = 10_000;

/** How long a deletion of an unnoted insert's rows may take before the ship gives up. */
const MUTATION_WAIT_MS = 120_000;

/**
 * Deletes a run's rows of `table` that no note covers (an insert whose note never came: the
 * ship was stopped between them, or the server in the middle of one), and waits until they are gone.
 */
async function removeUnnoted(ch: ClickHouse, table: ShippedTable | typeof SHIP_LOG, uidSql: string, afterId: number | null): Promise<void> {
  const where = `run_uid = ${uidSql}${afterId !== null ? ` AND id > ${integerLiteral(afterId)}` : ''}`;
  if ((await ch.count(`SELECT count() AS n FROM ${table} WHERE ${where}`)) === 0) return;
  await ch.exec(`ALTER TABLE ${table} DELETE WHERE ${where}`);
  const deadline = Date.now() + MUTATION_WAIT_MS;
  for (;;) {
    if ((await ch.count(`SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() AND table = ${stringLiteral(table)} AND is_done = 0`)) === 0) return;
    if (Date.now() > deadline) throw new ClickHouseError(`${ch.where}: the rows of an interrupted ship are not deleted after ${MUTATION_WAIT_MS / 1000} s (system.mutations of ${table}); ship again later`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
