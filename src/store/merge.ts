// Copies the finished runs of another exflow database (attached as `src`) into this
// one: runs, captures, flows, the endpoint registry, names from the wire. New ids are
// given (a capture-id map in a temporary table); derived tables (hosts, verdicts) are
// not copied but made again by the caller (its audit), from the merged flows.
import type { Db } from './db';

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
  /** The run here that is the same run (the same start, host, process and command). */
  sameAs: number;
}

/** Columns of `table` in the main database, but `skip`, in their order. */
function columnsOf(db: Db, table: string, skip: string[]): string[] {
  return (db.prepare(`PRAGMA main.table_info("${table}")`).all() as { name: string }[]).map((c) => c.name).filter((c) => !skip.includes(c));
}

/**
 * Copies every finished run of `src` not already here. The caller checked that `src`
 * is an exflow database of this schema version, and holds the write transaction.
 */
export function copyRuns(db: Db): { merged: MergedRun[]; skipped: SkippedRun[] } {
  const merged: MergedRun[] = [];
  const skipped: SkippedRun[] = [];
  const runCols = columnsOf(db, 'runs', ['id']);
  const captureCols = columnsOf(db, 'captures', ['id', 'run_id', 'stream_id']);
  const flowCols = columnsOf(db, 'flows', ['id', 'capture_id', 'last_capture_id']);
  const endpointCols = columnsOf(db, 'rpc_endpoints', ['id', 'capture_id']);
  const nameCols = columnsOf(db, 'host_names', ['capture_id']);
  const evidenceCols = columnsOf(db, 'name_evidence', ['capture_id']);
  const list = (cols: string[], alias = '') => cols.map((c) => `${alias}"${c}"`).join(', ');

  db.exec('CREATE TEMP TABLE IF NOT EXISTS capmap (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)');
  db.exec('DELETE FROM temp.capmap');
  const runs = db.prepare("SELECT * FROM src.runs WHERE status = 'complete' OR live = 1 ORDER BY id").all() as Record<string, unknown>[];
  const same = db.prepare('SELECT id FROM main.runs WHERE started_at = ? AND host IS ? AND pid IS ? AND command = ?').pluck();
  const putRun = db.prepare(`INSERT INTO main.runs (${list(runCols)}) VALUES (${runCols.map(() => '?').join(', ')})`);
  const captures = db.prepare('SELECT id FROM src.captures WHERE run_id = ? ORDER BY id').pluck();
  const putCapture = db.prepare(`INSERT INTO main.captures (run_id, ${list(captureCols)}) SELECT ?, ${list(captureCols)} FROM src.captures WHERE id = ?`);
  const map = db.prepare('INSERT INTO temp.capmap (old, new) VALUES (?, ?)');
  for (const r of runs) {
    const twin = same.get(r.started_at, r.host, r.pid, r.command) as number | undefined;
    if (twin !== undefined) {
      skipped.push({ from: r.id as number, sameAs: twin });
      continue;
    }
    const runId = Number(putRun.run(...runCols.map((c) => r[c])).lastInsertRowid);
    const ids = captures.all(r.id) as number[];
    for (const old of ids) map.run(old, Number(putCapture.run(runId, old).lastInsertRowid));
    merged.push({ id: runId, from: r.id as number, sensor: (r.sensor as string | null) ?? null, captures: ids.length, flows: 0 });
  }
  if (merged.length === 0) return { merged, skipped };
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
  for (const m of merged) m.flows = flowsOf.get(m.id) as number;
  return { merged, skipped };
}

/** The other database's inventory entries for addresses this one's does not list: what its sensor knew of hosts. Returns how many. */
export function copyInventory(db: Db): number {
  const cols = columnsOf(db, 'inventory', ['id']);
  const r = db.prepare(`INSERT INTO main.inventory (${cols.map((c) => `"${c}"`).join(', ')})
    SELECT ${cols.map((c) => `s."${c}"`).join(', ')} FROM src.inventory s WHERE s.address NOT IN (SELECT address FROM main.inventory) ORDER BY s.id`).run();
  return r.changes;
}
