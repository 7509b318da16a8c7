// A database someone hands over is input, as untrusted as a capture: a trigger
// planted in it would run inside exflow at its next write, a view replaced by an
// endless recursive query would hang every report, a function in a view or column
// could reach outside. So before exflow reads or writes a database, its schema is
// compared with the one this version writes — every table (its columns), view,
// index and trigger — and anything extra or altered refuses the database, naming the
// object, before anything is written. (The connection also runs with trusted_schema
// off and SQLite's defensive mode, which better-sqlite3 turns on: functions with side
// effects cannot be called from the schema, and the schema cannot be written.)
import { Database } from './sqlite';
import { SCHEMA } from './schema';

type Db = Database.Database;

interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  /** Whitespace-folded CREATE statement (views, indexes, triggers); columns for tables. */
  shape: string;
}

/** Tables SQLite makes by itself (AUTOINCREMENT, ANALYZE): allowed, never read by exflow. */
const SQLITE_TABLES = new Set(['sqlite_sequence', 'sqlite_stat1', 'sqlite_stat4']);

const fold = (sql: string | null) => (sql ?? '').replace(/\s+/g, ' ').trim();

/** The objects of a database: tables by their columns (order aside: migrations append), the rest by their SQL. */
function objectsOf(db: Db): Map<string, SchemaObject> {
  const rows = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master').all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  const out = new Map<string, SchemaObject>();
  for (const r of rows) {
    if (r.type === 'index' && r.sql === null) continue; // an automatic index of a UNIQUE or PRIMARY KEY
    if (r.type === 'table' && SQLITE_TABLES.has(r.name)) continue;
    let shape = fold(r.sql);
    if (r.type === 'table' && !/^CREATE VIRTUAL/i.test(shape)) {
      const cols = db.prepare('SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)').all(r.name) as Record<string, unknown>[];
      const withoutRowid = /\)\s*WITHOUT\s+ROWID\s*$/i.test(shape);
      // CHECK constraints are not compared: an upgraded table lacks those added since,
      // and with trusted_schema off a constraint can call nothing with side effects.
      shape = `${withoutRowid ? 'without rowid ' : ''}columns: ${cols.map((c) => JSON.stringify([c.name, c.type, c.notnull, c.dflt_value, c.pk, c.hidden])).sort().join(' ')}`;
    }
    out.set(`${r.type} ${r.name}`, { type: r.type, name: r.name, tbl_name: r.tbl_name, shape });
  }
  return out;
}

let expected: Map<string, SchemaObject> | null = null;

/** The objects this version writes: SCHEMA run on an empty in-memory database. */
function expectedObjects(): Map<string, SchemaObject> {
  if (!expected) {
    const mem = new Database(':memory:');
    mem.exec(SCHEMA);
    expected = objectsOf(mem);
    mem.close();
  }
  return expected;
}

/** The views this version writes (dropped and made again when a database is upgraded). */
export function exflowViews(): string[] {
  return [...expectedObjects().values()].filter((o) => o.type === 'view').map((o) => o.name);
}

/**
 * What is wrong with a database's schema, as one phrase naming the object, or null when
 * it is exactly the one this version writes. `olderVersion`: written by an older exflow,
 * about to be upgraded — only what could run during the upgrade is checked (triggers,
 * virtual tables); the upgraded schema is checked in full before it commits.
 */
export function schemaProblem(db: Db, olderVersion = false): string | null {
  const have = objectsOf(db);
  if (olderVersion) {
    for (const o of have.values()) {
      if (o.type === 'trigger') return `holds trigger "${o.name}" (on ${o.tbl_name}), which exflow never writes`;
      if (o.type === 'table' && /^CREATE VIRTUAL/i.test(o.shape)) return `holds virtual table "${o.name}", which exflow never writes`;
    }
    return null;
  }
  const want = expectedObjects();
  for (const [key, o] of have) {
    const w = want.get(key);
    if (!w) return `holds ${o.type} "${o.name}"${o.type === 'trigger' || o.type === 'index' ? ` (on ${o.tbl_name})` : ''}, which this exflow does not write`;
    if (w.shape !== o.shape || w.tbl_name !== o.tbl_name) return `has ${o.type} "${o.name}" altered from the one exflow writes`;
  }
  for (const [key, w] of want) if (!have.has(key)) return `lacks ${w.type} "${w.name}", which exflow writes`;
  return null;
}
