// exflow's tables in ClickHouse: what a sensor's SQLite holds of each finished run — the run,
// its captures, flows, its flows added up without the hour (flow_rollup_run: what reports from
// the engine add up) and by the hour (flow_rollup, with each hour's and minute's totals: what a
// time window adds up), endpoint registry and names from the wire — each row with the run's
// identity (run_uid), so that many sensors' runs share one table. The columns are the SQLite
// tables' own (their types mapped: INTEGER → Int64, REAL → Float64, TEXT and BLOB → String,
// Nullable where SQLite allows NULL), read from the sensor's database, so that the two cannot
// drift; what ClickHouse adds is the engine, the sort key and the partition.
//
// Only what Debian's 18.16 and current releases both take: MergeTree with PARTITION BY and
// ORDER BY, Int64/Float64/String/Nullable, no DateTime64, LowCardinality, codecs, TTL or
// IPv6 types (docs/clickhouse.md says why each).
import type { Db } from '../db';
import type { ClickHouse } from './http';
import { identifier, integerLiteral } from './quote';
import { ROLLUP_KEY, rollupKeyOf } from '../schema';
import type { ColumnType } from './rowbinary';
import { ClickHouseError } from './http';

/** The sensor tables shipped, in the order a run's rows are sent (the run's row last: it says the run is whole). */
export const SHIPPED_TABLES = ['captures', 'flows', 'flow_rollup', 'flow_rollup_run', 'flow_hours', 'flow_minutes', 'rpc_endpoints', 'host_names', 'name_evidence', 'runs'] as const;
export type ShippedTable = (typeof SHIPPED_TABLES)[number];

/** Per table: the sort key and partition (after run_uid, which every table has first). */
const LAYOUT: Record<ShippedTable, { orderBy: string; partitionBy?: string }> = {
  runs: { orderBy: 'run_uid' },
  captures: { orderBy: '(run_uid, id)' },
  // Time first: reports and --since/--until read a span of days across sensors; a day a
  // partition, so that retention drops whole days (ALTER TABLE … DROP PARTITION).
  flows: { orderBy: '(first_sec, run_uid, id)', partitionBy: 'toYYYYMMDD(toDateTime(first_sec))' },
  // Read whole, added up per sensor and key (src/store/clickhouse/copy.ts).
  flow_rollup_run: { orderBy: '(run_uid, server, client)' },
  // Hourly rows: a time window adds up the hours it takes whole (src/store/clickhouse/copy.ts);
  // by hour first, partitioned by day as the flows are.
  flow_rollup: { orderBy: '(bucket, run_uid, server, client)', partitionBy: 'toYYYYMMDD(toDateTime(bucket))' },
  // A few rows a run and hour or minute: how a window stands to each hour, and the HTML timeline.
  flow_hours: { orderBy: '(run_uid, bucket)' },
  flow_minutes: { orderBy: '(run_uid, minute)' },
  rpc_endpoints: { orderBy: '(run_uid, id)' },
  host_names: { orderBy: '(run_uid, capture_id, address, name, source)' },
  name_evidence: { orderBy: '(run_uid, capture_id, name, kind, detail)' },
};

/** What is sent of each row besides its SQLite columns. */
const ADDED: Record<ShippedTable, { name: string; type: ColumnType }[]> = {
  runs: [{ name: 'run_uid', type: 'String' }],
  captures: [{ name: 'run_uid', type: 'String' }],
  // The run's sensor on each flow: reports filter and group by it without a join.
  flows: [{ name: 'run_uid', type: 'String' }, { name: 'sensor', type: 'Nullable(String)' }],
  flow_rollup_run: [{ name: 'run_uid', type: 'String' }],
  flow_rollup: [{ name: 'run_uid', type: 'String' }],
  flow_hours: [{ name: 'run_uid', type: 'String' }],
  flow_minutes: [{ name: 'run_uid', type: 'String' }],
  rpc_endpoints: [{ name: 'run_uid', type: 'String' }],
  host_names: [{ name: 'run_uid', type: 'String' }],
  name_evidence: [{ name: 'run_uid', type: 'String' }],
};

export interface ShippedColumns {
  /** Every column ClickHouse keeps, the added ones first. */
  names: string[];
  types: ColumnType[];
  /** The SQLite columns, in the same order after the added ones. */
  sqlite: string[];
}

/** A SQLite column's ClickHouse type. */
function typeOf(declared: string, nullable: boolean): ColumnType {
  const base = /INT/i.test(declared) ? 'Int64' : /REAL|FLOA|DOUB/i.test(declared) ? 'Float64' : 'String';
  return (nullable ? `Nullable(${base})` : base) as ColumnType;
}

/** The columns of each shipped table, from the sensor's own schema. */
export function shippedColumns(db: Db): Record<ShippedTable, ShippedColumns> {
  const out = {} as Record<ShippedTable, ShippedColumns>;
  for (const table of SHIPPED_TABLES) {
    const info = db.prepare(`PRAGMA main.table_info("${table}")`).all() as { name: string; type: string; notnull: number; pk: number }[];
    const sqlite = info.map((c) => identifier(c.name));
    // An INTEGER PRIMARY KEY is the rowid: never NULL, whatever table_info says.
    const types = info.map((c) => typeOf(c.type, c.notnull === 0 && !(c.pk === 1 && /INT/i.test(c.type))));
    out[table] = { names: [...ADDED[table].map((a) => a.name), ...sqlite], types: [...ADDED[table].map((a) => a.type), ...types], sqlite };
  }
  return out;
}

/**
 * A rollup row's sums and times from the flows f it adds up, in ClickHouse's SQL (as SQLite's
 * rollUpFlows makes them): what the engine makes of a run's flows, and of a window's.
 */
export const FLOW_SUMS: Record<string, string> = {
  flows: 'count()', packets_c2s: 'sum(f.packets_c2s)', packets_s2c: 'sum(f.packets_s2c)', bytes_c2s: 'sum(f.bytes_c2s)', bytes_s2c: 'sum(f.bytes_s2c)',
  first_ns: 'min(f.first_sec * 1000000000 + f.first_nsec)', last_ns: 'max(f.last_sec * 1000000000 + f.last_nsec)',
  max_first_ns: 'max(f.first_sec * 1000000000 + f.first_nsec)', min_last_ns: 'min(f.last_sec * 1000000000 + f.last_nsec)', first_id: 'min(f.id)',
};

/**
 * The INSERT that makes a run's hourly rows (flow_rollup, its `columns` in order) from its flows
 * already in the engine, as SQLite makes them from its own (rollupKeyOf: SQL both engines read).
 */
export function rollupOfFlows(columns: readonly string[], runId: number, uidSql: string): string {
  const key = new Map(ROLLUP_KEY.map((k, i) => [k as string, rollupKeyOf('f', 'c')[i]]));
  key.set('run_id', integerLiteral(runId));
  const select = columns.map((name) => {
    if (name === 'run_uid') return uidSql;
    const x = key.get(name) ?? FLOW_SUMS[name];
    if (x === undefined) throw new Error(`flow_rollup.${name}: a column the engine does not make from flows`);
    return x;
  });
  const groupBy = ROLLUP_KEY.filter((k) => k !== 'run_id').map((k) => key.get(k)!);
  return `INSERT INTO flow_rollup (${columns.join(', ')}) SELECT ${select.join(', ')} FROM flows AS f WHERE f.run_uid = ${uidSql} GROUP BY ${groupBy.join(', ')}`;
}

/** The ship's own record of what it sent: a table's rows of a run up to a flow id, written after they were. */
export const SHIP_LOG = 'ship_log';

/**
 * Makes the database and tables where they are missing; where a table is there with other
 * columns (another exflow version's), says so rather than send rows it would misplace.
 */
export async function ensureSchema(ch: ClickHouse, columns: Record<ShippedTable, ShippedColumns>): Promise<void> {
  const db = ch.target.database;
  await ch.exec(`CREATE DATABASE IF NOT EXISTS ${identifier(db)}`, {}, null);
  for (const table of SHIPPED_TABLES) {
    const c = columns[table];
    const l = LAYOUT[table];
    await ch.exec(`CREATE TABLE IF NOT EXISTS ${table} (${c.names.map((n, i) => `${n} ${c.types[i]}`).join(', ')})
      ENGINE = MergeTree ${l.partitionBy ? `PARTITION BY ${l.partitionBy} ` : ''}ORDER BY ${l.orderBy}`);
  }
  await ch.exec(`CREATE TABLE IF NOT EXISTS ${SHIP_LOG} (run_uid String, tbl String, upto Int64, rows Int64, shipped_at DateTime) ENGINE = MergeTree ORDER BY (run_uid, tbl, upto)`);
  for (const table of SHIPPED_TABLES) {
    // DESCRIBE keeps the table's order of columns (18.16's system.columns has no position).
    const have = (await ch.query<{ name: unknown; type: unknown }>(`DESCRIBE TABLE ${table}`)).map((r) => `${String(r.name)} ${String(r.type)}`);
    const want = columns[table].names.map((n, i) => `${n} ${columns[table].types[i]}`);
    if (have.join(',') !== want.join(',')) {
      const missing = want.filter((w) => !have.includes(w));
      throw new ClickHouseError(`${ch.where}: table ${db}.${table} has other columns than this exflow sends (${missing.length ? `missing ${missing.slice(0, 3).join(', ')}` : 'in another order or with more'}): made by another exflow version; ship into another database, or drop that table`);
    }
  }
}
