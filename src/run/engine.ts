// Reports from a ClickHouse engine (exflow report … --db clickhouse://HOST:PORT/DATABASE): what
// the reports read is copied into a private SQLite database (src/store/clickhouse/copy.ts), roles
// are inferred and verdicts judged from every sensor's facts together — as after `exflow merge` —
// and the report runs on it as on any database. The copy lives in a temporary folder removed when
// the report is done.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RuleSet } from '../rules/load';
import { Auditor } from './audit';
import { ClickHouse } from '../store/clickhouse/http';
import { copyForReports, type EngineCopy } from '../store/clickhouse/copy';
import { parseTarget } from '../store/clickhouse/target';
import { openDb, type Db } from '../store/db';

export interface EngineDb {
  db: Db;
  copy: EngineCopy;
  /** Closes the copy and removes it. */
  close(): void;
}

/** The engine at `url` as a database the reports read (an error names the server: ClickHouseError; a bad URL: TargetError). */
export async function openEngineCopy(url: string, rules: RuleSet): Promise<EngineDb> {
  const ch = new ClickHouse(parseTarget(url));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-engine-'));
  let db: Db | null = null;
  const close = () => {
    db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    db = openDb(path.join(dir, 'engine.sqlite'), { create: true });
    // Nothing of it outlives the report: no journal worth keeping.
    db.pragma('synchronous = OFF');
    db.exec('BEGIN');
    const copy = await copyForReports(ch, db);
    db.exec('COMMIT');
    new Auditor(db, rules, null, { wireVersions: copy.wireVersions }).finish(true);
    const opened = db;
    return { db: opened, copy, close };
  } catch (e) {
    close();
    throw e;
  } finally {
    ch.close();
  }
}
