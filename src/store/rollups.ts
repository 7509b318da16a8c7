// Rollups (flow_rollup, src/store/schema.ts): flows added up per run, hour and what the
// reports group and filter by. They are kept as the flows are written — each batch of
// flows is added up in memory and merged into its rows in the batch's own transaction —
// so that no report, and no end of a run, scans every flow. A flow a later run renames
// or turns (the endpoint registry) has its old and new rows made again from their flows.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';
import { BUCKET_SECONDS, ROLLUP_GROUP, ROLLUP_KEY, ROLLUP_SELECT } from './schema';

/** Where a flow row (src/store/flows.ts flowRow) holds the core columns a rollup reads. */
const AT = { transport: 2, client: 4, server: 6, serverPort: 7, firstSec: 9, firstNsec: 10, lastSec: 11, lastNsec: 12, packetsC2S: 13, packetsS2C: 14, bytesC2S: 15, bytesS2C: 16, service: 24, via: 25, rpcInterface: 26 } as const;

/** One rollup row being added up: its key values, then its sums, then its times as (seconds, nanoseconds). */
interface Sum {
  key: (string | number)[];
  flows: number;
  packetsC2S: number;
  packetsS2C: number;
  bytesC2S: number;
  bytesS2C: number;
  firstSec: number;
  firstNsec: number;
  lastSec: number;
  lastNsec: number;
  maxFirstSec: number;
  maxFirstNsec: number;
  minLastSec: number;
  minLastNsec: number;
  firstId: number;
}

const before = (s1: number, n1: number, s2: number, n2: number) => s1 < s2 || (s1 === s2 && n1 < n2);
const text = (v: unknown) => (v === null || v === undefined ? '' : String(v));

const COLUMNS = [...ROLLUP_KEY, 'flows', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'first_ns', 'last_ns', 'max_first_ns', 'min_last_ns', 'first_id'];
const NS = "CAST(? AS INTEGER) * 1000000000 + CAST(? AS INTEGER)";
/** Adds a batch's row to the stored one: sums add, earliest and latest stay so. */
const UPSERT = `INSERT INTO flow_rollup (${COLUMNS.join(', ')})
  VALUES (${ROLLUP_KEY.map(() => '?').join(', ')}, ?, ?, ?, ?, ?, ${NS}, ${NS}, ${NS}, ${NS}, ?)
  ON CONFLICT (${ROLLUP_KEY.join(', ')}) DO UPDATE SET
    flows = flows + excluded.flows, packets_c2s = packets_c2s + excluded.packets_c2s, packets_s2c = packets_s2c + excluded.packets_s2c,
    bytes_c2s = bytes_c2s + excluded.bytes_c2s, bytes_s2c = bytes_s2c + excluded.bytes_s2c,
    first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns),
    max_first_ns = max(max_first_ns, excluded.max_first_ns), min_last_ns = min(min_last_ns, excluded.min_last_ns),
    first_id = min(first_id, excluded.first_id)`;

/**
 * Rollup rows held in memory before they are merged into the stored ones: each merge costs
 * an upsert a row, and a flow's row comes back batch after batch (a client's Kerberos, LDAP and
 * DNS each hour). ~300 bytes a row: 32,768 rows are ~10 MB.
 */
const HELD_ROWS = 32_768;

/** A run's rollup rows, added up from its flow rows as they are written. */
export class Rollups {
  private readonly sums = new Map<string, Sum>();
  private readonly upsert: Statement;

  constructor(
    db: Db,
    private readonly runId: number,
  ) {
    this.upsert = db.prepare(UPSERT);
  }

  /** A flow row as written, its id, and its tls and protection (NULL on a row of core columns only). */
  add(row: unknown[], id: number, rpcInterfaces: unknown, tls: unknown, protection: unknown): void {
    const firstSec = row[AT.firstSec] as number;
    const bucket = firstSec - (firstSec % BUCKET_SECONDS);
    const service = text(row[AT.service]);
    const via = text(row[AT.via]);
    const rpcInterface = text(row[AT.rpcInterface]);
    const interfaces = text(rpcInterfaces);
    const t = text(tls);
    const p = text(protection);
    const k = `${bucket}\u0000${row[AT.client]}\u0000${row[AT.server]}\u0000${row[AT.transport]}\u0000${row[AT.serverPort]}\u0000${service}\u0000${via}\u0000${rpcInterface}\u0000${interfaces}\u0000${t}\u0000${p}`;
    const firstNsec = row[AT.firstNsec] as number;
    const lastSec = row[AT.lastSec] as number;
    const lastNsec = row[AT.lastNsec] as number;
    let s = this.sums.get(k);
    if (s === undefined) {
      s = {
        key: [this.runId, bucket, row[AT.client] as string, row[AT.server] as string, row[AT.transport] as string, row[AT.serverPort] as number, service, via, rpcInterface, interfaces, t, p],
        flows: 0, packetsC2S: 0, packetsS2C: 0, bytesC2S: 0, bytesS2C: 0,
        firstSec, firstNsec, lastSec, lastNsec, maxFirstSec: firstSec, maxFirstNsec: firstNsec, minLastSec: lastSec, minLastNsec: lastNsec, firstId: id,
      };
      this.sums.set(k, s);
    } else {
      if (before(firstSec, firstNsec, s.firstSec, s.firstNsec)) (s.firstSec = firstSec), (s.firstNsec = firstNsec);
      if (before(s.maxFirstSec, s.maxFirstNsec, firstSec, firstNsec)) (s.maxFirstSec = firstSec), (s.maxFirstNsec = firstNsec);
      if (before(s.lastSec, s.lastNsec, lastSec, lastNsec)) (s.lastSec = lastSec), (s.lastNsec = lastNsec);
      if (before(lastSec, lastNsec, s.minLastSec, s.minLastNsec)) (s.minLastSec = lastSec), (s.minLastNsec = lastNsec);
      if (id < s.firstId) s.firstId = id;
    }
    s.flows++;
    s.packetsC2S += row[AT.packetsC2S] as number;
    s.packetsS2C += row[AT.packetsS2C] as number;
    s.bytesC2S += row[AT.bytesC2S] as number;
    s.bytesS2C += row[AT.bytesS2C] as number;
  }

  /** Whether the rows held have reached their budget (the writer then merges them in). */
  get full(): boolean {
    return this.sums.size >= HELD_ROWS;
  }

  /** Merges what was added up into the stored rows (inside the caller's transaction) and starts again. */
  write(): void {
    for (const s of this.sums.values()) {
      this.upsert.run(...s.key, s.flows, s.packetsC2S, s.packetsS2C, s.bytesC2S, s.bytesS2C,
        s.firstSec, s.firstNsec, s.lastSec, s.lastNsec, s.maxFirstSec, s.maxFirstNsec, s.minLastSec, s.minLastNsec, s.firstId);
    }
    this.sums.clear();
  }
}

/** The rollup key of flows f (captures c) as SQL values, in ROLLUP_KEY's order. */
const FLOW_KEY = `c.run_id, f.first_sec - f.first_sec % ${BUCKET_SECONDS}, f.client, f.server, f.transport, f.server_port,
  coalesce(f.service, ''), coalesce(f.via, ''), coalesce(f.rpc_interface, ''), coalesce(f.rpc_interfaces, ''), coalesce(f.tls, ''), coalesce(f.protection, '')`;

/**
 * Changes flows in place — `change` turns or renames the flows `ids` — and makes their rollup
 * rows again, before (the rows they leave) and after (the rows they join), from those rows' flows.
 * Inside the caller's transaction. The rows' flows are found through the client, server and time index.
 */
export function changingFlows(db: Db, ids: readonly number[], change: () => void): void {
  if (ids.length === 0) return change();
  db.exec(`DROP TABLE IF EXISTS temp.rollup_keys; CREATE TEMP TABLE rollup_keys (${ROLLUP_KEY.join(', ')}, UNIQUE (${ROLLUP_KEY.join(', ')}))`);
  db.exec('DROP TABLE IF EXISTS temp.rollup_ids; CREATE TEMP TABLE rollup_ids (id INTEGER PRIMARY KEY)');
  try {
    const addId = db.prepare('INSERT OR IGNORE INTO temp.rollup_ids (id) VALUES (?)');
    for (const id of ids) addId.run(id);
    const keysOf = db.prepare(`INSERT OR IGNORE INTO temp.rollup_keys SELECT ${FLOW_KEY} FROM temp.rollup_ids i JOIN flows f ON f.id = i.id JOIN captures c ON c.id = f.capture_id`);
    keysOf.run();
    change();
    keysOf.run();
    db.exec(`DELETE FROM flow_rollup WHERE (${ROLLUP_KEY.join(', ')}) IN (SELECT ${ROLLUP_KEY.join(', ')} FROM temp.rollup_keys)`);
    db.exec(`INSERT INTO flow_rollup SELECT ${ROLLUP_SELECT}
      FROM temp.rollup_keys k JOIN flows f ON f.client = k.client AND f.server = k.server AND f.first_sec >= k.bucket AND f.first_sec < k.bucket + ${BUCKET_SECONDS}
        JOIN captures c ON c.id = f.capture_id
      WHERE c.run_id = k.run_id AND f.server = k.server AND f.transport = k.transport AND f.server_port = k.server_port
        AND coalesce(f.service, '') = k.service AND coalesce(f.via, '') = k.via AND coalesce(f.rpc_interface, '') = k.rpc_interface AND coalesce(f.rpc_interfaces, '') = k.rpc_interfaces
        AND coalesce(f.tls, '') = k.tls AND coalesce(f.protection, '') = k.protection
      ${ROLLUP_GROUP}`);
  } finally {
    db.exec('DROP TABLE IF EXISTS temp.rollup_keys; DROP TABLE IF EXISTS temp.rollup_ids');
  }
}

/** Makes a run's rollup rows from its flows (merge, which copies flows in bulk). */
export function rollUpRun(db: Db, runId: number): void {
  db.prepare('DELETE FROM flow_rollup WHERE run_id = ?').run(runId);
  db.prepare(`INSERT INTO flow_rollup SELECT ${ROLLUP_SELECT} FROM flows f JOIN captures c ON c.id = f.capture_id WHERE c.run_id = ? ${ROLLUP_GROUP}`).run(runId);
}
