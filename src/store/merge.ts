// Copies the finished runs of another exflow database (attached as `src`) into this
// one: runs, captures, flows, the endpoint registry, names from the wire. New ids are
// given (a capture-id map in a temporary table); derived tables (hosts, verdicts) are
// not copied but made again by the caller (its audit), from the merged flows.
import type { Db } from './db';
import { rollUpRun, rollUpSensorsOf } from './rollups';
import { RunStore } from './runs';

export interface MergedRun {
  /** The run's id here, and in the other database. */
  id: number;
  from: number;
  sensor: string | null;
  captures: number;
  flows: number;
}

export interface SkippedRun {
  from: number;
  /** The run here that is the same run (its identity; for runs older than identities, the same start, host, process and command). */
  sameAs: number;
}

/** A run of the other database not finished yet (still running, or left so): merged once it is complete. */
export interface PendingRun {
  from: number;
  status: string;
}

/** Columns of `table` in the main database, but `skip`, in their order. */
function columnsOf(db: Db, table: string, skip: string[]): string[] {
  return (db.prepare(`PRAGMA main.table_info("${table}")`).all() as { name: string }[]).map((c) => c.name).filter((c) => !skip.includes(c));
}

/**
 * Copies every finished run of `src` not already here. The caller checked that `src`
 * is an exflow database of this schema version, and holds the write transaction.
 */
export function copyRuns(db: Db): { merged: MergedRun[]; skipped: SkippedRun[]; pending: PendingRun[]; replaced: number[] } {
  const merged: MergedRun[] = [];
  const skipped: SkippedRun[] = [];
  const pending: PendingRun[] = [];
  /** Runs here that an older exflow copied before they were complete, replaced by the complete run. */
  const replaced: number[] = [];
  const runCols = columnsOf(db, 'runs', ['id']);
  const captureCols = columnsOf(db, 'captures', ['id', 'run_id', 'stream_id']);
  const flowCols = columnsOf(db, 'flows', ['id', 'capture_id', 'last_capture_id']);
  const endpointCols = columnsOf(db, 'rpc_endpoints', ['id', 'capture_id']);
  const nameCols = columnsOf(db, 'host_names', ['capture_id']);
  const evidenceCols = columnsOf(db, 'name_evidence', ['capture_id']);
  const list = (cols: string[], alias = '') => cols.map((c) => `${alias}"${c}"`).join(', ');

  db.exec('CREATE TEMP TABLE IF NOT EXISTS capmap (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)');
  db.exec('DELETE FROM temp.capmap');
  // Complete runs only: a live run is copied once it has finished, whole (a half-written one
  // copied and then recognised as "already here" would never receive the rest).
  const runs = db.prepare('SELECT * FROM src.runs ORDER BY id').all() as Record<string, unknown>[];
  const byUid = db.prepare('SELECT id, status FROM main.runs WHERE uid = ?');
  const byStart = db.prepare('SELECT id, status FROM main.runs WHERE started_at = ? AND host IS ? AND pid IS ? AND command = ?');
  const store = new RunStore(db);
  const putRun = db.prepare(`INSERT INTO main.runs (${list(runCols)}) VALUES (${runCols.map(() => '?').join(', ')})`);
  const captures = db.prepare('SELECT id FROM src.captures WHERE run_id = ? ORDER BY id').pluck();
  const putCapture = db.prepare(`INSERT INTO main.captures (run_id, ${list(captureCols)}) SELECT ?, ${list(captureCols)} FROM src.captures WHERE id = ?`);
  const map = db.prepare('INSERT INTO temp.capmap (old, new) VALUES (?, ?)');
  for (const r of runs) {
    if (r.status !== 'complete') {
      if (r.status === 'running' || r.live === 1) pending.push({ from: r.id as number, status: r.status as string });
      continue;
    }
    const twin = ((r.uid ? byUid.get(r.uid) : undefined) ?? byStart.get(r.started_at, r.host, r.pid, r.command)) as { id: number; status: string } | undefined;
    if (twin !== undefined && twin.status === 'complete') {
      skipped.push({ from: r.id as number, sameAs: twin.id });
      continue;
    }
    if (twin !== undefined) {
      // An older exflow copied this run while it was live: what it copied goes, the whole run comes.
      store.removeData(twin.id, `replaced by the complete run merged again`, 'replaced');
      db.prepare('DELETE FROM main.runs WHERE id = ?').run(twin.id);
      replaced.push(twin.id);
    }
    const runId = Number(putRun.run(...runCols.map((c) => r[c])).lastInsertRowid);
    const ids = captures.all(r.id) as number[];
    for (const old of ids) map.run(old, Number(putCapture.run(runId, old).lastInsertRowid));
    merged.push({ id: runId, from: r.id as number, sensor: (r.sensor as string | null) ?? null, captures: ids.length, flows: 0 });
  }
  if (merged.length === 0) return { merged, skipped, pending, replaced };
  // A stream is named by its first capture's id: the new one.
  db.exec(`UPDATE main.captures SET stream_id = (SELECT m2.new FROM temp.capmap m1 JOIN src.captures s ON s.id = m1.old JOIN temp.capmap m2 ON m2.old = s.stream_id WHERE m1.new = main.captures.id)
           WHERE id IN (SELECT new FROM temp.capmap)`);
  db.exec(`INSERT INTO main.flows (capture_id, last_capture_id, ${list(flowCols)})
           SELECT m.new, coalesce(l.new, m.new), ${list(flowCols, 'f.')} FROM src.flows f JOIN temp.capmap m ON m.old = f.capture_id LEFT JOIN temp.capmap l ON l.old = f.last_capture_id
           ORDER BY f.id`);
  db.exec(`INSERT INTO main.rpc_endpoints (capture_id, ${list(endpointCols)}) SELECT m.new, ${list(endpointCols, 'e.')} FROM src.rpc_endpoints e JOIN temp.capmap m ON m.old = e.capture_id`);
  db.exec(`INSERT INTO main.host_names (capture_id, ${list(nameCols)}) SELECT m.new, ${list(nameCols, 'n.')} FROM src.host_names n JOIN temp.capmap m ON m.old = n.capture_id`);
  db.exec(`INSERT INTO main.name_evidence (capture_id, ${list(evidenceCols)}) SELECT m.new, ${list(evidenceCols, 'n.')} FROM src.name_evidence n JOIN temp.capmap m ON m.old = n.capture_id`);
  const flowsOf = db.prepare('SELECT count(*) FROM main.flows WHERE capture_id IN (SELECT id FROM main.captures WHERE run_id = ?)').pluck();
  for (const m of merged) {
    m.flows = flowsOf.get(m.id) as number;
    // The copied flows added up as the sensor's run did (the source's own rollups may be of an older exflow, or missing).
    rollUpRun(db, m.id);
  }
  // Their sensors' totals, made again from all their finished runs (merged runs came in whole, before their rows).
  rollUpSensorsOf(db, merged.map((m) => m.id));
  return { merged, skipped, pending, replaced };
}

/**
 * The other database's inventory entries for addresses this one's does not list: what its
 * sensor knew of hosts, marked as that sensor's (source "merged from SENSOR: SOURCE").
 * An address both list with other roles keeps this database's entry and is named in
 * `disagree`, never overridden silently.
 */
export function copyInventory(db: Db, from: string): { taken: number; disagree: string[] } {
  const cols = columnsOf(db, 'inventory', ['id', 'source']);
  const r = db.prepare(`INSERT INTO main.inventory (${cols.map((c) => `"${c}"`).join(', ')}, source)
    SELECT ${cols.map((c) => `s."${c}"`).join(', ')}, 'merged from ' || ? || ': ' || s.source FROM src.inventory s WHERE s.address NOT IN (SELECT address FROM main.inventory) ORDER BY s.id`).run(from);
  const disagree = db.prepare(`SELECT DISTINCT s.address FROM src.inventory s JOIN main.inventory m ON m.address = s.address
    WHERE m.roles != s.roles AND m.source NOT LIKE 'merged from ' || ? || ':%' ORDER BY s.address`).pluck().all(from) as string[];
  return { taken: r.changes, disagree };
}
