// exflow merge: the finished runs of other sensors' databases brought into one, so
// that an organisation with several span ports reports once. Each database is checked
// as any database exflow is handed (src/store/db.ts: an exflow file, a schema it
// knows, no foreign objects) before it is read; one that fails stops the merge before
// anything is written. Each is then copied in one transaction; the hosts and verdicts
// are made again from every flow by the caller's audit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labelFromEndpoints } from '../classify/rpc';
import type { RuleSet } from '../rules/load';
import { CaptureStore } from '../store/captures';
import { openDb, openSource, StoreError, type Db } from '../store/db';
import { sameFile } from '../store/db-file';
import { copyInventory, copyRuns, type MergedRun, type PendingRun, type SkippedRun } from '../store/merge';
import { readOnlyUri } from '../store/sqlite';
import { labelFlowsFromRegistry, orientFromRegistry } from '../store/rpc-endpoints';
import { RunBusy, RunStore } from '../store/runs';
import { SCHEMA_VERSION } from '../store/schema';

export interface MergeOutcome {
  path: string;
  merged: MergedRun[];
  skipped: SkippedRun[];
  /** Runs not finished there: merged by a later merge, once complete. */
  pending: PendingRun[];
  /** Runs here that were copied before they were complete (by an older exflow), replaced now. */
  replaced: number[];
  /** Inventory entries taken over (addresses this database's inventory did not list). */
  inventory: number;
  /** Addresses both inventories list with other roles: this database's entry is kept. */
  disagree: string[];
}

/**
 * Merges `others` into `db` (the database at `dbPath`). `sharedRegistry`: the merged
 * runs' flows are named again from every sensor's endpoint registry, and every run's
 * from theirs (by default each sensor's registry stays its own). `audit` runs last.
 * The sources are read and never written: each is attached read-only; one of an older
 * schema is copied (VACUUM INTO, beside the target) and the copy upgraded and read.
 */
export function mergeDatabases(db: Db, dbPath: string, rules: RuleSet, others: string[], o: { sharedRegistry: boolean; audit: () => void }): MergeOutcome[] {
  const sources: { path: string; uri: string; copy: string | null }[] = [];
  try {
    for (const other of others) {
      if (sameFile(other, dbPath)) throw new StoreError(other, 'is the database being merged into');
      // Checked as any database exflow is handed: refused unless it is an exflow database it can read.
      const src = openSource(other);
      let copy: string | null = null;
      try {
        if (src.version < SCHEMA_VERSION) {
          copy = path.join(path.dirname(path.resolve(dbPath)), `.exflow-merge-${process.pid}-${sources.length}.sqlite`);
          sources.push({ path: other, uri: readOnlyUri(copy), copy }); // pushed first: removed whatever happens next
          src.db.prepare('VACUUM INTO ?').run(copy);
        } else sources.push({ path: other, uri: src.uri, copy: null });
      } finally {
        src.db.close();
      }
      if (copy) openDb(copy, { create: false }).close(); // the copy is upgraded, never the source
    }
    return mergeSources(db, rules, sources, o);
  } finally {
    for (const s of sources) if (s.copy) for (const x of ['', '-wal', '-shm', '-journal']) fs.rmSync(s.copy + x, { force: true });
  }
}

function mergeSources(db: Db, rules: RuleSet, sources: { path: string; uri: string }[], o: { sharedRegistry: boolean; audit: () => void }): MergeOutcome[] {
  const busy = new RunStore(db).activeWriter();
  if (busy) throw new RunBusy(busy);
  const outcomes: MergeOutcome[] = [];
  const captures = new CaptureStore(db, '');
  for (const source of sources) {
    db.prepare('ATTACH DATABASE ? AS src').run(source.uri);
    try {
      const version = Number(db.prepare("SELECT value FROM src.meta WHERE key = 'schema_version'").pluck().get());
      if (version !== SCHEMA_VERSION) throw new StoreError(source.path, `has schema ${version}, this exflow writes ${SCHEMA_VERSION}`);
      const sensors = db.prepare("SELECT DISTINCT coalesce(sensor, host) FROM src.runs WHERE status = 'complete' ORDER BY 1").pluck().all() as string[];
      const from = sensors.length ? sensors.join(', ') : path.basename(source.path);
      const r = db.transaction(() => {
        const copied = copyRuns(db);
        for (const m of copied.merged) captures.updateHosts(m.id);
        const inv = copyInventory(db, from);
        return { ...copied, inventory: inv.taken, disagree: inv.disagree };
      }).immediate();
      outcomes.push({ path: source.path, ...r });
    } finally {
      db.exec('DETACH DATABASE src');
    }
  }
  if (o.sharedRegistry) {
    // Every run against every sensor's registry: a dynamic port one sensor saw the mapper hand out names the flows another saw.
    const ids = db.prepare("SELECT id FROM runs WHERE status = 'complete' OR live = 1 ORDER BY id").pluck().all() as number[];
    db.transaction(() => {
      for (const id of ids) {
        orientFromRegistry(db, id, true);
        labelFlowsFromRegistry(db, id, (f, c) => labelFromEndpoints(rules, f, c), true);
      }
    })();
  }
  o.audit();
  return outcomes;
}
