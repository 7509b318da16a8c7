// A database someone hands over is input, as untrusted as a capture: a trigger
// planted in it would run inside exflow at its next write, a view replaced by an
// endless recursive query would hang every report, a function in a view or column
// could reach outside. So before exflow reads or writes a database, its schema is
// compared with the one this version writes — every table (its columns, and its
// definition whole: constraints, conflict clauses, collations), view, index and
// trigger — and anything extra or altered refuses the database, naming the
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
  /** Tables: the definition, parsed (every constraint, conflict clause and collation). */
  definition?: TableDefinition | null;
}

/** A CREATE TABLE statement as parts that do not depend on how it came to be (created whole, or columns added since). */
interface TableDefinition {
  /** Column definitions by column name, normalised text ("status TEXT NOT NULL CHECK(…)"). */
  columns: Map<string, string>;
  /** Table constraints (PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY), normalised text. */
  constraints: Set<string>;
  /** What follows the closing parenthesis (WITHOUT ROWID, STRICT). */
  options: string;
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
    const definition = r.type === 'table' && r.sql && !/^CREATE VIRTUAL/i.test(r.sql) ? tableDefinition(r.sql) : undefined;
    out.set(`${r.type} ${r.name}`, { type: r.type, name: r.name, tbl_name: r.tbl_name, shape, definition });
  }
  return out;
}

/**
 * A CREATE TABLE statement taken apart at its top-level commas, comments dropped, white
 * space folded (none beside parentheses and commas). SQLite keeps the text as written,
 * and ALTER TABLE … ADD COLUMN appends the added column's text: a table exflow upgraded
 * and one it created at the same version have the same parts, in another order. Null
 * when the text cannot be taken apart (then the table is refused as altered).
 */
export function tableDefinition(sql: string): TableDefinition | null {
  const text = stripComments(sql);
  const open = text.indexOf('(');
  if (open < 0) return null;
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = open + 1;
  let close = -1;
  for (let i = open + 1; i < text.length && close < 0; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = text[i + 1] === quote ? (i++, quote) : null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '[') quote = ']';
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if ((c === ',' || c === ')') && depth === 0) {
      parts.push(normalise(text.slice(start, i)));
      start = i + 1;
      if (c === ')') close = i;
    }
  }
  if (close < 0 || quote) return null;
  const columns = new Map<string, string>();
  const constraints = new Set<string>();
  for (const p of parts) {
    if (/^(CONSTRAINT|PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b/i.test(p)) constraints.add(p);
    else columns.set(unquote(p.split(' ', 1)[0]), p);
  }
  return { columns, constraints, options: normalise(text.slice(close + 1)).replace(/;$/, '').toUpperCase() };
}

/** SQL without its comments (outside quotes). */
function stripComments(sql: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = null;
      out += c;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 1;
      out += ' ';
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      else if (c === '[') quote = ']';
      out += c;
    }
  }
  return out;
}

const normalise = (s: string) => s.replace(/\s+/g, ' ').replace(/ ?([(),]) ?/g, '$1').trim();
const unquote = (name: string) => name.replace(/^["`[]|["`\]]$/g, '');
/** A column definition without its CHECK constraints (which exflow adds to new tables only). */
const withoutChecks = (def: string) => def.replace(/ ?CHECK ?\((?:[^()']|'[^']*'|\((?:[^()']|'[^']*')*\))*\)/gi, '');

/**
 * What differs between a table's definition and the one exflow writes, or null. A column
 * or constraint must be exflow's as written; the one allowance is a CHECK constraint that
 * exflow added to new tables after this one was created (an upgraded table lacks it) —
 * never one the table has and exflow does not write.
 */
function definitionProblem(have: TableDefinition | null | undefined, want: TableDefinition | null | undefined): string | null {
  if (!have || !want) return have === want ? null : 'its definition cannot be read';
  if (have.options !== want.options) return `its options ("${have.options}")`;
  for (const [name, def] of have.columns) {
    const w = want.columns.get(name);
    if (w === undefined) return `column "${name}"`;
    if (def !== w && def !== withoutChecks(w)) return `column "${name}" (${def})`;
  }
  for (const c of have.constraints) if (!want.constraints.has(c)) return `constraint ${c}`;
  for (const c of want.constraints) if (!have.constraints.has(c) && !/^CHECK\b/i.test(c)) return `a missing constraint ${c}`;
  return null;
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
    if (o.type === 'table') {
      const why = definitionProblem(o.definition, w.definition);
      if (why) return `has table "${o.name}" altered from the one exflow writes: ${why.length > 160 ? why.slice(0, 159) + '…' : why}`;
    }
  }
  for (const [key, w] of want) if (!have.has(key)) return `lacks ${w.type} "${w.name}", which exflow writes`;
  return null;
}
