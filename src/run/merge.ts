// exflow merge: the finished runs of other sensors' databases brought into one, so
// that an organisation with several span ports reports once. Each database is checked
// as any database exflow is handed (src/store/db.ts: an exflow file, a schema it
// knows, no foreign objects) before it is read; one that fails stops the merge before
// anything is written. Each is then copied in one transaction; the hosts and verdicts
// are made again from every flow by the caller's audit.
import { labelFromEndpoints } from '../classify/rpc';
import type { RuleSet } from '../rules/load';
import { CaptureStore } from '../store/captures';
import { openDb, StoreError, type Db } from '../store/db';
import { sameFile } from '../store/db-file';
import { copyInventory, copyRuns, type MergedRun, type SkippedRun } from '../store/merge';
import { labelFlowsFromRegistry, orientFromRegistry } from '../store/rpc-endpoints';
import { RunBusy, RunStore } from '../store/runs';
import { SCHEMA_VERSION } from '../store/schema';

export interface MergeOutcome {
  path: string;
  merged: MergedRun[];
  skipped: SkippedRun[];
  /** Inventory entries taken over (addresses this database's inventory did not list). */
  inventory: number;
}

/**
 * Merges `others` into `db` (the database at `dbPath`). `sharedRegistry`: the merged
 * runs' flows are named again from every sensor's endpoint registry, and every run's
 * from theirs (by default each sensor's registry stays its own). `audit` runs last.
 */
export function mergeDatabases(db: Db, dbPath: string, rules: RuleSet, others: string[], o: { sharedRegistry: boolean; audit: () => void }): MergeOutcome[] {
  for (const other of others) {
    if (sameFile(other, dbPath)) throw new StoreError(other, 'is the database being merged into');
    // Opened as any database exflow is handed: refused unless it is an exflow database it can read (an older one is upgraded).
    openDb(other, { create: false, readonly: true }).close();
  }
  const busy = new RunStore(db).activeWriter();
  if (busy) throw new RunBusy(busy);
  const outcomes: MergeOutcome[] = [];
  const captures = new CaptureStore(db, '');
  for (const other of others) {
    db.prepare('ATTACH DATABASE ? AS src').run(other);
    try {
      const version = Number(db.prepare("SELECT value FROM src.meta WHERE key = 'schema_version'").pluck().get());
      if (version !== SCHEMA_VERSION) throw new StoreError(other, `has schema ${version}, this exflow writes ${SCHEMA_VERSION}`);
      const r = db.transaction(() => {
        const copied = copyRuns(db);
        for (const m of copied.merged) captures.updateHosts(m.id);
        return { ...copied, inventory: copyInventory(db) };
      }).immediate();
      outcomes.push({ path: other, ...r });
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
