import Database from 'better-sqlite3';
import { contains, parseNet } from '../classify/ip';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema';

export type Db = Database.Database;

/** PRAGMA application_id of every exflow database ("exfl"): tells ours from other programs' SQLite files. */
export const APPLICATION_ID = 0x6578666c;

/** How long a statement waits for another process's write lock before giving up (ms). */
const BUSY_TIMEOUT_MS = 10_000;

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

export interface OpenOptions {
  /** Create the file when it does not exist (analyze). */
  create: boolean;
  /**
   * Open read-only (reports): never writes, so it works beside a running analyze
   * and on a database the user may not write. An older schema is upgraded first
   * in a short read-write open.
   */
  readonly?: boolean;
}

/** in_net(address, 'cidr'): whether an address lies in a block (the reports' --host 10.0.0.0/8). */
function addFunctions(db: Db): Db {
  db.function('in_net', { deterministic: true }, (address: unknown, block: unknown) => {
    const net = typeof block === 'string' ? parseNet(block) : null;
    const a = typeof address === 'string' ? parseNet(address) : null;
    return net && a && contains(net, a) ? 1 : 0;
  });
  return db;
}

/** Opens (creating if asked) an exflow database in WAL mode and brings the schema up to date. */
export function openDb(path: string, opts: OpenOptions = { create: true }): Db {
  if (opts.readonly) return addFunctions(openReadOnly(path));
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: !opts.create });
  } catch (e) {
    const msg = (e as Error).message;
    throw new StoreError(path, opts.create ? `cannot open database (${msg})` : `no such database (run "exflow analyze" first)`);
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Two processes opening a new database at once race for its first write: switching
  // to WAL can fail at once with SQLITE_BUSY, without waiting for the busy timeout.
  // The set-up is idempotent, so it is simply tried again until the deadline.
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      initialize(db, path);
      return addFunctions(db);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY' && Date.now() < deadline) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      db.close();
      throw asStoreError(path, e);
    }
  }
}

/** Checks what the file is, switches it to WAL and brings its schema up to date (idempotent). */
function initialize(db: Db, path: string): void {
  const version = schemaVersion(db, path);
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  if (version === null || version < SCHEMA_VERSION || db.pragma('application_id', { simple: true }) !== APPLICATION_ID) {
    db.transaction(() => {
      // Read again inside the write transaction: another process may have just created it.
      const now = schemaVersion(db, path);
      for (let v = (now ?? SCHEMA_VERSION) + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
      db.exec(SCHEMA);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(SCHEMA_VERSION));
    }).immediate();
    db.pragma(`application_id = ${APPLICATION_ID}`);
  }
}

function openReadOnly(path: string): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new StoreError(path, code === 'SQLITE_CANTOPEN' ? 'no such database (run "exflow analyze" first)' : `cannot open database (${(e as Error).message})`);
  }
  let version: number | null;
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    version = schemaVersion(db, path);
  } catch (e) {
    db.close();
    throw asStoreError(path, e);
  }
  if (version === null) {
    db.close();
    throw new StoreError(path, 'is empty, not an exflow database (run "exflow analyze" first)');
  }
  if (version < SCHEMA_VERSION) {
    // Written by an older exflow: upgrade once (a short write), then read.
    db.close();
    openDb(path, { create: false }).close();
    return openReadOnly(path);
  }
  return db;
}

/**
 * The schema version of an exflow database, null for an empty file; throws for a
 * file another program wrote — checked before anything is written to it.
 */
function schemaVersion(db: Db, path: string): number | null {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  if (tables.length === 0) return null;
  const appId = db.pragma('application_id', { simple: true }) as number;
  const ours = appId === APPLICATION_ID;
  if (appId !== 0 && !ours) throw new StoreError(path, `is an SQLite database of another program (application_id 0x${appId.toString(16)}); left untouched`);
  // Databases from before application_id was set: exflow's own tables and a schema_version.
  const row = tables.includes('meta') && tables.includes('captures') && tables.includes('flows')
    ? (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)
    : undefined;
  if (!row || !/^\d+$/.test(row.value)) throw new StoreError(path, 'is an SQLite database, but not one exflow wrote; left untouched');
  const version = Number(row.value);
  if (version > SCHEMA_VERSION) throw new StoreError(path, `written by a newer exflow (schema ${version}, this one knows ${SCHEMA_VERSION})`);
  return version;
}

function asStoreError(path: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB') return new StoreError(path, 'is not an SQLite database');
  if (code === 'SQLITE_BUSY') return new StoreError(path, 'is locked by another process (busy for 10 s)');
  return new StoreError(path, `not a usable database (${(e as Error).message})`);
}
