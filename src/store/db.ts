import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema';

export type Db = Database.Database;

/** The database cannot be opened or is not an exflow database. Exit code 3. */
export class StoreError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'StoreError';
  }
}

/** Opens (creating if asked) an exflow database in WAL mode and brings the schema up to date. */
export function openDb(path: string, opts: { create: boolean } = { create: true }): Db {
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: !opts.create });
  } catch (e) {
    const msg = (e as Error).message;
    throw new StoreError(path, opts.create ? `cannot open database (${msg})` : `no such database (run "exflow analyze" first)`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (!hasMeta && tables > 0) throw new StoreError(path, 'is an SQLite database, but not one exflow wrote');
    const row = hasMeta ? (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined) : undefined;
    const version = row ? Number(row.value) : SCHEMA_VERSION;
    if (version > SCHEMA_VERSION) throw new StoreError(path, `written by a newer exflow (schema ${row!.value}, this one knows ${SCHEMA_VERSION})`);
    db.transaction(() => {
      for (let v = version + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
      db.exec(SCHEMA);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(SCHEMA_VERSION));
    })();
  } catch (e) {
    db.close();
    if (e instanceof StoreError) throw e;
    throw new StoreError(path, `not a usable database (${(e as Error).message})`);
  }
  return db;
}
