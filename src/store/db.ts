import * as fs from 'node:fs';
import { Database, dbPath, immutableUri, readOnlyUri } from './sqlite';
import { addressSortKey, contains, parseNet } from '../classify/ip';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema';
import { exflowViews, schemaProblem } from './trust';
import { checkDbPath } from './db-file';
import { StoreError } from './errors';
import { storedIds } from './lists';

export { StoreError };

export type Db = InstanceType<typeof Database>;

/** PRAGMA application_id of every exflow database ("exfl"): tells ours from other programs' SQLite files. */
export const APPLICATION_ID = 0x6578666c;

/** How long a statement waits for another process's write lock before giving up (ms). */
const BUSY_TIMEOUT_MS = 10_000;

export interface OpenOptions {
  /** Create the file when it does not exist (analyze). */
  create: boolean;
  /**
   * Open read-only (reports): never writes, so it works beside a running analyze
   * and on a database the user may not write. An older schema is upgraded first
   * in a short read-write open.
   */
  readonly?: boolean;
  /**
   * Read-only opens: told when the file had to be read as it is (immutable: no WAL index
   * could be made here), and whether a -wal beside it holds changes that are not seen.
   */
  onImmutable?: (walPending: boolean) => void;
  /**
   * Told before an older schema is upgraded (from version `from`, with `flows` flows) and when it
   * is done: an upgrade that builds rollups reads every flow once, a minute or more at ten million.
   */
  onUpgrade?: (u: { from: number; to: number; flows: number; done: boolean }) => void;
}

/**
 * `text` with every whole id `old` written `now`: an id is a run of lower case letters, digits,
 * dots and dashes (rules/roles.yaml), so outlook-2007 in "2007:outlook-2007>mailbox" or in
 * "outlook-2003,outlook-2007" is one, and in "outlook-2007-site" (another id) it is not.
 */
export function renamedId(text: string, old: string, now: string): string {
  const word = /[a-z0-9.-]/;
  let out = '';
  let from = 0;
  for (let at = text.indexOf(old); at >= 0; at = text.indexOf(old, at + old.length)) {
    const end = at + old.length;
    if ((at > 0 && word.test(text[at - 1])) || (end < text.length && word.test(text[end]))) continue;
    out += text.slice(from, at) + now;
    from = end;
  }
  return out + text.slice(from);
}

/** in_net(address, 'cidr'): whether an address lies in a block (the reports' --host 10.0.0.0/8). */
function addFunctions(db: Db): Db {
  // Temporary tables (a report's groups, the end of a run's host tables) stay in memory up to this
  // budget: at SQLite's default of 2 MB every pass of a report over a page's 128k groups read them
  // back from the temporary file (25 ms a pass at 1M flows; 1 ms cached). Beyond it they spill as before.
  db.pragma(`temp.cache_size = -${TEMP_CACHE_KIB}`);
  db.function('in_net', { deterministic: true }, (address: unknown, block: unknown) => {
    const net = typeof block === 'string' ? parseNet(block) : null;
    const a = typeof address === 'string' ? parseNet(address) : null;
    return net && a && contains(net, a) ? 1 : 0;
  });
  // An address as a key that sorts as numbers do: IPv4 before IPv6, each by its value
  // (10.0.0.20 before 10.0.0.100); anything else after both, as text.
  db.function('addr_key', { deterministic: true }, (address: unknown) => (typeof address === 'string' ? addressSortKey(address) : null) ?? `z${String(address ?? '')}`);
  // A flow's findings as a JSON array for json_each(): made by serialising the parsed ids,
  // never by pasting the stored text between quotes.
  db.function('finding_ids', { deterministic: true }, (csv: unknown) => JSON.stringify(storedIds(csv)));
  return db;
}

/** The temporary database's page cache, KiB: bounded, as every structure of a run or report is. */
const TEMP_CACHE_KIB = 64 * 1024;

/** Opens (creating if asked) an exflow database in WAL mode and brings the schema up to date. */
export function openDb(path: string, opts: OpenOptions = { create: true }): Db {
  checkDbPath(path);
  if (opts.readonly) return addFunctions(openReadOnly(path, opts.onImmutable, false, true, opts.onUpgrade));
  let db: Db;
  try {
    db = new Database(dbPath(path), { fileMustExist: !opts.create });
  } catch (e) {
    const msg = (e as Error).message;
    throw new StoreError(path, opts.create ? `cannot open database (${msg})` : `no such database (run "exflow analyze" first)`);
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  distrustSchema(db);
  // Two processes opening a new database at once race for its first write: switching
  // to WAL can fail at once with SQLITE_BUSY, without waiting for the busy timeout.
  // The set-up is idempotent, so it is simply tried again until the deadline.
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      initialize(db, path, opts.onUpgrade);
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

/** The flows of a database being upgraded (its largest table: what an upgrade's passes read). */
function flowCount(db: Db): number {
  try {
    return Number(db.prepare('SELECT max(rowid) FROM flows').pluck().get() ?? 0);
  } catch {
    return 0;
  }
}

/** Checks what the file is, switches it to WAL and brings its schema up to date (idempotent). */
function initialize(db: Db, path: string, onUpgrade?: OpenOptions['onUpgrade']): void {
  const version = schemaVersion(db, path);
  // Checked before anything is written: a refused database is left as it was.
  if (version !== null) checkTrust(db, path, version < SCHEMA_VERSION);
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  if (version === null || version < SCHEMA_VERSION || db.pragma('application_id', { simple: true }) !== APPLICATION_ID) {
    // What the migrations call, registered once the schema they run on was checked: renamed_id(text,
    // old, new), every whole id `old` in the text as `new` (schema 21 renames a role).
    db.function('renamed_id', { deterministic: true }, (text: unknown, old: unknown, now: unknown) => (typeof text === 'string' && typeof old === 'string' && typeof now === 'string' ? renamedId(text, old, now) : text));
    db.transaction(() => {
      // Read again inside the write transaction: another process may have just created it.
      const now = schemaVersion(db, path);
      const told = now !== null && now < SCHEMA_VERSION && onUpgrade ? { from: now, to: SCHEMA_VERSION, flows: flowCount(db) } : null;
      if (told) onUpgrade?.({ ...told, done: false });
      for (let v = (now ?? SCHEMA_VERSION) + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
      // An upgrade makes exflow's views again, so that they are exactly this version's.
      if (now !== null && now < SCHEMA_VERSION) for (const v of exflowViews()) db.exec(`DROP VIEW IF EXISTS "${v}"`);
      db.exec(SCHEMA);
      // The upgraded schema is checked in full before it commits (a refusal rolls it back).
      if (now !== null) checkTrust(db, path, false);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(SCHEMA_VERSION));
      if (told) onUpgrade?.({ ...told, done: true });
    }).immediate();
    db.pragma(`application_id = ${APPLICATION_ID}`);
  }
}

/** A database read and never written (exflow merge's sources): read-only, never upgraded, its schema checked as for its version. */
export interface SourceDb {
  db: Db;
  version: number;
  /** The URI that attaches it read-only (immutable where SQLite cannot make its WAL index). */
  uri: string;
}

export function openSource(path: string): SourceDb {
  checkDbPath(path);
  let immutable = false;
  const db = openReadOnly(path, () => (immutable = true), false, false);
  const version = Number(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get());
  return { db, version, uri: immutable ? immutableUri(path) : readOnlyUri(path) };
}

function openReadOnly(path: string, onImmutable?: (walPending: boolean) => void, immutable = false, upgrade = true, onUpgrade?: OpenOptions['onUpgrade']): Db {
  let db: Db;
  try {
    db = immutable ? new Database(immutableUri(path), { readonly: true }) : new Database(dbPath(path), { readonly: true, fileMustExist: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new StoreError(path, code === 'SQLITE_CANTOPEN' ? 'no such database (run "exflow analyze" first)' : `cannot open database (${(e as Error).message})`);
  }
  let version: number | null;
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    distrustSchema(db);
    version = schemaVersion(db, path);
    if (version !== null && version >= SCHEMA_VERSION) checkTrust(db, path, false);
  } catch (e) {
    db.close();
    // A WAL database needs its -shm index, which SQLite cannot make on a read-only medium
    // or in a directory this user may not write: read the file as it is, immutable.
    if (!immutable && cannotMakeIndex(e)) return openReadOnly(path, onImmutable, true, upgrade, onUpgrade);
    throw asStoreError(path, e);
  }
  if (version === null) {
    db.close();
    throw new StoreError(path, 'is empty, not an exflow database (run "exflow analyze" first)');
  }
  if (version < SCHEMA_VERSION && !upgrade) {
    // Read as it is: only what could run while it is read is checked (triggers, virtual tables).
    try {
      checkTrust(db, path, true);
    } catch (e) {
      db.close();
      throw asStoreError(path, e);
    }
    if (immutable) onImmutable?.(walPending(path));
    return db;
  }
  if (version < SCHEMA_VERSION) {
    db.close();
    if (immutable) throw new StoreError(path, `was written by an older exflow (schema ${version}) and cannot be upgraded here (read-only); copy it somewhere writable and run any report once`);
    // Written by an older exflow: upgrade once (a short write), then read.
    openDb(path, { create: false, onUpgrade }).close();
    return openReadOnly(path, onImmutable, false, true, onUpgrade);
  }
  if (immutable) onImmutable?.(walPending(path));
  return db;
}

/** The open failed for want of a WAL index (-shm) it could not create. */
function cannotMakeIndex(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN';
}

/** A -wal file with content beside a database read immutable: its latest commits are not seen. */
function walPending(path: string): boolean {
  try {
    return fs.statSync(path + '-wal').size > 0;
  } catch {
    return false;
  }
}


/**
 * Functions with side effects may not be called from the schema (views, triggers,
 * defaults, generated columns): SQLite's trusted_schema off. better-sqlite3 opens
 * every connection in defensive mode (SQLITE_DBCONFIG_DEFENSIVE) already.
 */
function distrustSchema(db: Db): void {
  db.pragma('trusted_schema = OFF');
}

/** Refuses a database whose schema is not the one exflow writes (src/store/trust.ts). Exit 3. */
function checkTrust(db: Db, path: string, olderVersion: boolean): void {
  const problem = schemaProblem(db, olderVersion);
  if (problem) throw new StoreError(path, `${problem}; refused and left untouched (a database you are handed is input: docs/trust.md, "Databases you are handed")`);
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
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR_READONLY')
    return new StoreError(path, 'cannot be written here (a read-only file, directory or medium); the report commands read it as it is, but analyze and audit write to it — copy it somewhere writable');
  return new StoreError(path, `not a usable database (${(e as Error).message})`);
}
