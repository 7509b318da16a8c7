// Runs: one analyze command each. A run's flows become visible to every report
// only when the run is 'complete' (views capture_view and flow_view), so an
// interrupted or killed run never shows partial data; the next analyze removes
// what such a run left. A live run (standard input) is visible batch by batch.
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import type { Db } from './db';
import { finishingRun, totalRun } from './rollups';

export type RunStatus = 'running' | 'complete' | 'interrupted' | 'dead' | 'failed' | 'replaced';

export interface RunRow {
  id: number;
  started_at: string;
  finished_at: string | null;
  status: RunStatus;
  live: number;
  command: string;
  pid: number | null;
  host: string | null;
  captures: number;
  note: string | null;
}

/** Whether a process of this machine is still there (signal 0 tests without sending). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Another process is analyzing into the same database. */
export class RunBusy extends Error {
  constructor(readonly other: RunRow) {
    super(`run ${other.id} (process ${other.pid}, "${other.command}") is writing to this database`);
    this.name = 'RunBusy';
  }
}

export class RunStore {
  constructor(private readonly db: Db) {}

  /**
   * Runs marked 'running' whose process is gone (killed, power loss). Read-only
   * callers only report them; a writer marks them dead.
   */
  deadRuns(): RunRow[] {
    const rows = this.db.prepare("SELECT * FROM runs WHERE status = 'running'").all() as RunRow[];
    return rows.filter((r) => r.host === os.hostname() && r.pid !== null && r.pid !== process.pid && !processAlive(r.pid));
  }

  /** A run of another process that is still writing, if any. */
  activeWriter(): RunRow | null {
    const rows = this.db.prepare("SELECT * FROM runs WHERE status = 'running'").all() as RunRow[];
    return rows.find((r) => r.pid !== process.pid && (r.host !== os.hostname() || (r.pid !== null && processAlive(r.pid)))) ?? null;
  }

  markDead(): RunRow[] {
    const dead = this.deadRuns();
    const mark = this.db.prepare("UPDATE runs SET status = 'dead', note = coalesce(note, 'the process ended without finishing (killed?)') WHERE id = ?");
    for (const r of dead) mark.run(r.id);
    return dead;
  }

  /**
   * Starts a run, unless another process's run is writing: the check and the new
   * row are one IMMEDIATE transaction, so two analyzes started at the same moment
   * cannot both pass the check. Throws RunBusy naming the other run.
   */
  begin(command: string, live: boolean, separate: boolean, version: string, sensor: string = os.hostname()): number {
    return this.db
      .transaction(() => {
        const other = this.activeWriter();
        if (other) throw new RunBusy(other);
        const r = this.db
          .prepare('INSERT INTO runs (started_at, status, live, separate, command, pid, host, exflow_version, sensor, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(new Date().toISOString(), 'running', live ? 1 : 0, separate ? 1 : 0, command, process.pid, os.hostname(), version, sensor, crypto.randomUUID());
        return Number(r.lastInsertRowid);
      })
      .immediate();
  }

  finish(id: number, status: RunStatus, note: string | null = null): void {
    this.db.transaction(() => {
      // A finished run's totals are there from the moment reports see it finished.
      const mark = () =>
        this.db
          .prepare('UPDATE runs SET status = ?, finished_at = ?, note = coalesce(?, note), captures = (SELECT count(*) FROM captures WHERE run_id = ?) WHERE id = ?')
          .run(status, new Date().toISOString(), note, id, id);
      if (status !== 'complete') return void mark();
      totalRun(this.db, id);
      // ... and its sensor's totals hold it (the sensor's finished runs added up without the run).
      finishingRun(this.db, id, mark);
    })();
  }

  /**
   * Removes the rows of runs that did not finish (interrupted, dead, failed; not
   * live ones, whose batches were complete when committed): they were never
   * visible, and a rerun of the same files must not meet them. The runs rows stay,
   * saying what happened. Returns the runs cleared.
   */
  clearUnfinished(byRun: number): number[] {
    const ids = this.db
      .prepare("SELECT r.id FROM runs r WHERE r.status IN ('interrupted', 'dead', 'failed') AND r.live = 0 AND EXISTS (SELECT 1 FROM captures c WHERE c.run_id = r.id)")
      .pluck()
      .all() as number[];
    for (const id of ids) this.removeData(id, `partial data removed by run ${byRun}`, null);
    return ids;
  }

  /** Removes everything a run stored (for --force and for unfinished runs); its runs row stays with the note. */
  removeData(id: number, note: string, status: RunStatus | null): void {
    // A finished run removed leaves its sensor's totals holding a run that is not finished: they are
    // not read (COVERED_SENSORS) until the sensor's next finished run makes them again.
    this.db.transaction(() => {
      const caps = 'SELECT id FROM captures WHERE run_id = ?';
      this.db.prepare(`DELETE FROM flows WHERE capture_id IN (${caps})`).run(id);
      this.db.prepare('DELETE FROM flow_rollup WHERE run_id = ?').run(id);
      this.db.prepare('DELETE FROM flow_rollup_run WHERE run_id = ?').run(id);
      this.db.prepare('DELETE FROM flow_minutes WHERE run_id = ?').run(id);
      this.db.prepare('DELETE FROM flow_hours WHERE run_id = ?').run(id);
      this.db.prepare(`DELETE FROM rpc_endpoints WHERE capture_id IN (${caps})`).run(id);
      this.db.prepare(`DELETE FROM host_names WHERE capture_id IN (${caps})`).run(id);
      this.db.prepare(`DELETE FROM name_evidence WHERE capture_id IN (${caps})`).run(id);
      this.db.prepare('DELETE FROM captures WHERE run_id = ?').run(id);
      this.db.prepare('UPDATE runs SET note = ?, status = coalesce(?, status) WHERE id = ?').run(note, status, id);
    })();
  }

  list(): RunRow[] {
    return this.db.prepare('SELECT * FROM runs ORDER BY id').all() as RunRow[];
  }
}
