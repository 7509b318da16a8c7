// Reports from a ClickHouse engine (exflow report … --db clickhouse://HOST:PORT/DATABASE): what
// the reports read is copied into a SQLite database of exflow's schema (src/store/clickhouse/copy.ts),
// roles are inferred and verdicts judged from every sensor's facts together — as after `exflow
// merge` — and the report runs on it as on any database.
//
// The copy is kept in the user's cache folder and used again while the engine holds the same
// runs and exflow the same rules: a run shipped (or dropped) since makes a new one. So the first
// report after a ship pays for the engine's sums and the audit; the next ones cost what they cost
// on SQLite, plus one small query that asks the engine which runs it holds.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { plainRules, type RuleSet } from '../rules/load';
import type { FlowFilter } from '../report/filter';
import { materializeFor } from '../report/groups';
import { Auditor } from './audit';
import { ClickHouse } from '../store/clickhouse/http';
import { copyFlows, copyForReports, copyWindow, flowsPerCapture, engineRuns, type CopyContext, type FlowSelection, type TimeWindow } from '../store/clickhouse/copy';
import { captureFilter } from '../report/format';
import { flowWhere } from '../report/filter';
import { timelineIntervals } from '../report/html';
import { MinuteFlowsMissing } from '../report/starts';
import { parseTargets, type ClickHouseTarget } from '../store/clickhouse/target';
import { openDb, type Db } from '../store/db';
import { processAlive } from '../store/runs';
import { SCHEMA_VERSION } from '../store/schema';

export interface EngineDb {
  db: Db;
  /** Its file (threads of an export open it themselves). */
  file: string;
  /** Whether the copy was made now (false: a kept one was used). */
  made: boolean;
  /** With a time window: the captures with a flow in it (FlowFilter.captureHits); else null. */
  captureHits: number[] | null;
  close(): void;
}

/** What a copy's layout is: a new one when the copy would hold other tables or other sums. */
const COPY_FORMAT = 'exflow engine copy 1';

/** The folder copies are kept in: EXFLOW_ENGINE_CACHE, else exflow's cache folder (XDG_CACHE_HOME or ~/.cache). */
export function copyFolder(env: NodeJS.ProcessEnv = process.env): string {
  return env.EXFLOW_ENGINE_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'exflow', 'engine');
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/** The rules' content, as a key: a copy's roles and verdicts are those these rules give. */
function rulesKey(rules: RuleSet): string {
  const { dirs: _dirs, files: _files, ...content } = plainRules(rules);
  return sha256(JSON.stringify(content));
}

/** How a command reads an engine: what it is told of, and what besides the kept copy it needs. */
export interface EngineRead {
  /** A line for the user (a copy that cannot be kept). */
  note?: (line: string) => void;
  /** What takes time (null: done). */
  busy?: (what: string | null) => void;
  /** --since/--until of the reports that read groups: the copy's sums made the window's. */
  window?: TimeWindow | null;
  /**
   * For a command that reads flows one by one (flows, export, new, --capture …): given the kept copy, the filter its
   * flows must pass (its host names made addresses there). The engine's flows the filter may pass
   * are copied into the command's own copy, which the command reads with that filter as any database.
   */
  flows?: (copy: Db) => FlowFilter;
  /**
   * Only the first this many flows the filter passes, in listing order (flows --limit without
   * --sort), are read: captures are copied in their order until that many pass.
   */
  firstFlows?: number;
  /** Every flow, whatever the filter (report new: its baseline is not narrowed by the filter). */
  allFlows?: boolean;
  /**
   * The HTML page's timeline of every flow: the minutes flows began in, and the flows of the few
   * minutes it reads (its quartiles', those an interval's edge cuts) — not every flow.
   */
  timeline?: boolean;
  /**
   * Told the command's own copy before a window's sums replace those of all time: what a report
   * reads of all time besides the window is kept there (host: its protection findings). It may
   * answer the addresses the report reads the window's traffic of (host: its own), the only rows
   * of the window added up.
   */
  beforeWindow?: (copy: Db) => WindowOf | void;
}

/** What of a window a report reads: the traffic of these addresses (as client or server) alone. */
export interface WindowOf {
  addresses?: string[];
}

/**
 * The engine at `url` (one server, or shards: clickhouse://ch1:8123,ch2:8123/exflow) as a database
 * the reports read: the kept copy of its runs, or a new one; with a time window or flows, a copy of
 * that made for this command (`captureHits`: the captures with a flow in the window). An error
 * names the server (ClickHouseError); a bad URL is a TargetError.
 */
export async function openEngineCopy(url: string, rules: RuleSet, version: string, o: EngineRead = {}): Promise<EngineDb> {
  const { note = () => {}, busy = () => {} } = o;
  const targets = parseTargets(url);
  const shards = targets.map((t) => new ClickHouse(t));
  try {
    const kept = await keptCopy(shards, targets, rules, version, note, busy);
    let filter: FlowFilter | null = null;
    if (o.flows) {
      const db = openDb(kept.file, { create: false, readonly: true });
      try {
        filter = o.flows(db);
      } catch (e) {
        kept.release(); // a name the copy does not know: the command ends here
        throw e;
      } finally {
        db.close();
      }
    }
    if (!o.window && filter === null && !o.timeline) {
      const db = openDb(kept.file, { create: false, readonly: true });
      return { db, file: kept.file, made: kept.made, captureHits: null, close: () => (db.close(), kept.release()) };
    }
    return await commandCopy(shards, kept, o, filter);
  } finally {
    for (const ch of shards) ch.close();
  }
}

/**
 * A copy of the kept copy made for one command and removed after it: the window's sums in it, the
 * flows its filter may pass (or the first of them, or every flow), the timeline's minutes.
 */
async function commandCopy(shards: ClickHouse[], kept: { file: string; made: boolean; release: () => void }, o: EngineRead, filter: FlowFilter | null): Promise<EngineDb> {
  const { busy = () => {}, window = null } = o;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-copy-'));
  const release = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    kept.release();
  };
  try {
    const file = path.join(dir, 'command.sqlite');
    fs.copyFileSync(kept.file, file);
    fs.chmodSync(file, 0o600);
    const db = openDb(file, { create: false });
    try {
      db.pragma('synchronous = OFF');
      db.exec('BEGIN');
      let captureHits: number[] | null = null;
      if (window !== null) {
        const of = o.beforeWindow?.(db);
        busy("adding up the window's flows in the engine");
        captureHits = await copyWindow(shards, db, { ...window, addresses: of?.addresses });
      }
      if (filter !== null) {
        busy('copying the flows asked for from the engine');
        const progress = (n: number) => busy(`copying the flows asked for from the engine: ${n.toLocaleString('en-US')}`);
        const sel = o.allFlows ? { addresses: [] } : selectionOf(db, filter);
        if (o.firstFlows === undefined) await copyFlows(shards, db, sel, progress);
        else await copyFirstFlows(shards, db, sel, filter, o.firstFlows);
      }
      if (o.timeline) {
        busy('the flows of the minutes the timeline reads, from the engine');
        await copyTimelineFlows(shards, db, window ?? {});
      }
      db.exec('COMMIT');
      busy(null);
      return { db, file, made: kept.made, captureHits, close: () => (db.close(), release()) };
    } catch (e) {
      db.close();
      throw e;
    }
  } catch (e) {
    release();
    throw e;
  }
}

/** Most captures one request names (each a (run, capture) pair in the query's text, which 18.16 caps at 256 KB). */
const CAPTURES_PER_REQUEST = 500;

/**
 * Copies the flows `sel` lets through in the copy's listing order (capture, then time) until
 * `first` of them pass the whole filter `f` (roles and verdicts too), or none are left. Whole
 * captures are copied together while their flows are no more than the flows still wanted (twice
 * the shortfall, at least 1,000): a folder of small captures in a few requests, not one each (a
 * filter few flows pass walked the shared captures' 200 in 16 s). A capture bigger than that (a day
 * of a million flows) gives its earliest flows, four times as many each time too few of them pass.
 */
async function copyFirstFlows(shards: ClickHouse[], db: Db, sel: FlowSelection, f: FlowFilter, first: number): Promise<void> {
  const where = flowWhere(f);
  const passing = () => db.prepare(`SELECT count(*) FROM ${where.view} f ${where.sql}`).pluck().get(...where.args) as number;
  const forget = db.prepare('DELETE FROM main.flows WHERE capture_id = ?');
  const order = [...(await flowsPerCapture(shards, db, sel))].sort((a, b) => a[0] - b[0]);
  // The engine's runs and captures asked once for every batch.
  const known: CopyContext = {};
  for (let i = 0; i < order.length; ) {
    const wanted = Math.max(2 * (first - passing()), 1_000);
    let j = i;
    for (let total = 0; j < order.length && j - i < CAPTURES_PER_REQUEST && total + order[j][1] <= wanted; j++) total += order[j][1];
    if (j > i) {
      await copyFlows(shards, db, { ...sel, captures: order.slice(i, j).map(([capture]) => capture) }, undefined, known);
      i = j;
      if (passing() >= first) return;
      continue;
    }
    const [capture, count] = order[i++];
    for (let n = wanted; ; n *= 4) {
      forget.run(capture);
      await copyFlows(shards, db, { ...sel, captures: [capture], first: n }, undefined, known);
      if (passing() >= first) return;
      if (n >= count) break; // the whole capture is in: the next one
    }
  }
}

/**
 * Copies the flows of the minutes the timeline reads: it is drawn, the minutes it read and the
 * copy lacks are copied, and again, until it reads none the copy lacks — its quartiles' minutes
 * first, then (the axis known) those its intervals' edges cut: three or four rounds. With a time
 * window, the timeline of the window: the minutes it cuts as well.
 */
async function copyTimelineFlows(shards: ClickHouse[], db: Db, window: TimeWindow): Promise<void> {
  const copied = new Set<number>();
  const known: CopyContext = {};
  for (let round = 0; round < 8; round++) {
    const read = new Set<number>();
    try {
      timelineIntervals(db, { since: window.since, until: window.until }, { minuteRead: (m) => read.add(m) });
    } catch (e) {
      if (!(e instanceof MinuteFlowsMissing)) throw e;
    }
    const missing = [...read].filter((m) => !copied.has(m));
    if (missing.length === 0) return;
    await copyFlows(shards, db, { addresses: [], minutes: missing }, undefined, known);
    for (const m of missing) copied.add(m);
  }
  throw new Error('the timeline asked for other minutes in each of eight rounds');
}

/** The conditions of a filter the engine's flows answer (the rest — roles, verdicts — the copy's judgement does). */
function selectionOf(db: Db, f: FlowFilter): FlowSelection {
  const captures = f.capture === undefined ? undefined : (() => {
    const c = captureFilter(f.capture, 'c.id', 'c.path');
    return db.prepare(`SELECT c.id FROM capture_view c WHERE ${c.sql}`).pluck().all(...c.args) as number[];
  })();
  const sides: [string | undefined, ('client' | 'server')[]][] = [[f.host, ['client', 'server']], [f.client, ['client']], [f.server, ['server']]];
  const addresses = sides.flatMap(([value, on]) => (value === undefined ? [] : [{ value, sides: on }]));
  return { since: f.since, until: f.until, addresses, service: f.service, sensor: f.sensor, finding: f.finding, captures };
}

/** The kept copy of the engine's runs (made now where there is none): its file, and what to do once read. */
async function keptCopy(shards: ClickHouse[], targets: ClickHouseTarget[], rules: RuleSet, version: string, note: (line: string) => void, busy: (what: string | null) => void): Promise<{ file: string; made: boolean; release: () => void }> {
  const runs = await engineRuns(shards);
  // One engine (servers, database, user) keeps one copy: its name says which, and of what.
  const engine = sha256(JSON.stringify(targets.map((t) => [t.https, t.host, t.port, t.database, t.user]))).slice(0, 16);
  const state = sha256(JSON.stringify([COPY_FORMAT, version, SCHEMA_VERSION, rulesKey(rules), runs])).slice(0, 32);
  let folder = copyFolder();
  let temporary = false;
  try {
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    fs.accessSync(folder, fs.constants.W_OK);
  } catch (e) {
    // A read-only home, a full disk: the report still answers, from a copy made for it alone.
    note(`exflow: note: the engine's copy cannot be kept in ${folder} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); made for this report only (EXFLOW_ENGINE_CACHE names another folder)`);
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-engine-'));
    temporary = true;
  }
  const release = () => {
    if (temporary) fs.rmSync(folder, { recursive: true, force: true });
  };
  const file = path.join(folder, `${engine}-${state}.sqlite`);
  if (fs.existsSync(file)) {
    try {
      openDb(file, { create: false, readonly: true }).close();
      return { file, made: false, release };
    } catch {
      fs.rmSync(file, { force: true }); // unreadable: made again below
    }
  }
  const building = `${file}.${process.pid}.tmp`;
  try {
    const db = openDb(building, { create: true });
    try {
      // What it holds is the engine's: made again whole if lost.
      db.pragma('synchronous = OFF');
      db.exec('BEGIN');
      busy(`copying the engine's sums of ${runs.length} run${runs.length === 1 ? '' : 's'} (once after each ship)`);
      const copy = await copyForReports(shards, db);
      db.exec('COMMIT');
      busy('roles and verdicts of every sensor together');
      new Auditor(db, rules, null, { wireVersions: copy.wireVersions }).finish(true);
      busy(null);
      // Read by reports that only read: no write-ahead log to keep beside it.
      db.pragma('journal_mode = DELETE');
    } finally {
      db.close();
    }
    // Names, accounts and addresses of the organisation: the user's alone.
    fs.chmodSync(building, 0o600);
    fs.renameSync(building, file); // whole or not at all: another report may be reading the folder
  } catch (e) {
    release();
    throw e;
  } finally {
    for (const x of ['', '-wal', '-shm', '-journal']) fs.rmSync(building + x, { force: true });
  }
  // One copy an engine: its earlier ones (of other runs, rules or versions) go — a report reading one
  // keeps it open until done —, and copies a killed report left half made (its process gone).
  for (const old of fs.readdirSync(folder)) {
    if (!old.startsWith(`${engine}-`) || old === path.basename(file)) continue;
    const building = /\.(\d+)\.tmp(-journal|-wal|-shm)?$/.exec(old);
    if (building === null || !processAlive(Number(building[1]))) fs.rmSync(path.join(folder, old), { force: true });
  }
  return { file, made: true, release };
}

/**
 * The filter reports read an engine's copy with: as asked, or — a copy of a time window's sums —
 * the same filter made to read the window's groups, judged once into a temporary table (its time
 * conditions already hold for every row), and the captures with a flow in the window given.
 */
export function engineFilter(e: EngineDb, f: FlowFilter): FlowFilter {
  if (e.captureHits === null) return f;
  return materializeFor(e.db, { ...f, since: undefined, until: undefined }, { ...f, captureHits: e.captureHits });
}
