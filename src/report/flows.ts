import type { Db } from '../store/db';
import { heldJudge } from '../store/judged';
import { flowWhere, type FlowFilter } from './filter';
import { isoTime, type Cell, type Row } from './format';

/** The protection audit's columns (docs/protection.md), as flows and the export write them. */
export const PROTECTION_FLOW_COLUMNS = [
  'auth_mech', 'auth_account', 'auth_workstation', 'ntlm_version', 'ntlm_mic', 'ntlm_channel_bindings', 'rpc_auth_level', 'rpc_auth_type',
  'smb_dialect', 'smb_signing', 'smb_encrypted', 'smb1_offered', 'ldap_bind', 'ldap_protection', 'cleartext_credentials', 'tls_client_versions', 'kerberos_spn', 'protection',
] as const;
/** The protection columns that hold 0/1 in the database and true/false in the output. */
const BOOLEAN_COLUMNS = new Set(['ntlm_mic', 'ntlm_channel_bindings', 'smb_encrypted', 'smb1_offered', 'cleartext_credentials']);

/** The flow columns every consumer can rely on; later issues add keys, never rename these. */
export const FLOW_COLUMNS = [
  'capture', 'transport', 'client', 'client_port', 'server', 'server_port', 'first_seen', 'last_seen', 'duration',
  'packets', 'bytes', 'client_name', 'server_name', 'service', 'via', 'rpc_interface', 'rpc_uuid', 'rpc_interfaces', 'rpc_uuids',
  'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'tcp_state', 'direction_by', 'rpc_note',
  'missing_c2s', 'missing_s2c', 'client_role', 'server_role', 'verdict', 'rule', 'reason', 'cite',
  'tls', 'tls_version', 'tls_sni', 'tls_alpn', 'tls_subject', 'tls_issuer', 'tls_note', 'http_app', 'http_target', 'encryption', 'encryption_cite', 'server_version',
  ...PROTECTION_FLOW_COLUMNS,
];
/** The narrower set the text table shows. */
// Most telling first: on a narrow terminal the last columns are the ones left out.
// Start and duration next: what nfdump and Zeek users read first after the endpoints.
export const FLOW_TABLE_COLUMNS = ['transport', 'client', 'server', 'server_port', 'service', 'verdict', 'first_seen', 'duration', 'client_role', 'server_role', 'rpc_interface', 'bytes', 'packets', 'via', 'tcp_state', 'client_port', 'capture'];

export interface FlowQuery extends FlowFilter {
  limit?: number;
  /** Only flows whose id is in [from, to): a part of a listing another thread writes the rest of. */
  ids?: IdRange;
}

/** Flow ids from `from` up to but not including `to`. */
export interface IdRange {
  from: number;
  to: number;
}

/** A row of the flow_view view (the columns reports read). */
export interface FlowDbRow {
  id: number;
  capture_id: number;
  capture_path: string;
  capture_fingerprint?: string | null;
  /** The sensor of the run that analyzed the capture, and the host that ran it. */
  sensor?: string | null;
  sensor_host?: string | null;
  vlan: number | null;
  transport: string;
  client: string;
  client_port: number;
  server: string;
  server_port: number;
  first_sec: number;
  first_nsec: number;
  last_sec: number;
  last_nsec: number;
  packets: number;
  bytes: number;
  service: string | null;
  via: string | null;
  rpc_interface: string | null;
  rpc_uuid: string | null;
  rpc_uuids: string | null;
  rpc_interfaces: string | null;
  rpc_note: string | null;
  missing_c2s: number;
  missing_s2c: number;
  client_role: string | null;
  server_role: string | null;
  client_name: string | null;
  server_name: string | null;
  verdict: string | null;
  rule: string | null;
  reason: string | null;
  cite: string | null;
  packets_c2s: number;
  packets_s2c: number;
  bytes_c2s: number;
  bytes_s2c: number;
  tcp_state: string | null;
  direction_by: string;
  tls: string | null;
  tls_version: string | null;
  tls_sni: string | null;
  tls_alpn: string | null;
  tls_subject: string | null;
  tls_issuer: string | null;
  tls_note: string | null;
  http_app: string | null;
  http_target: string | null;
  encryption: string | null;
  encryption_cite: string | null;
  server_version: string | null;
  protection: string | null;
}

/**
 * The flow_view columns flowViewRows reads per flow, in the order rowOf takes them. The
 * verdict's texts and the capture's path and sensor are not among them: they are the same
 * for thousands of flows, read once from their own small tables (a flow's long reason and
 * cite, made into strings a million times, were most of a long export's reading).
 */
const ROW_COLUMNS = [
  'id', 'capture_id', 'vlan', 'transport', 'client', 'client_port', 'server', 'server_port',
  'first_sec', 'first_nsec', 'last_sec', 'last_nsec', 'packets', 'bytes', 'service', 'via',
  'rpc_interface', 'rpc_uuid', 'rpc_uuids', 'rpc_interfaces', 'rpc_note', 'missing_c2s', 'missing_s2c',
  'client_name', 'server_name', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'tcp_state', 'direction_by',
  'tls', 'tls_version', 'tls_sni', 'tls_alpn', 'tls_subject', 'tls_issuer', 'tls_note', 'http_app', 'http_target', 'server_version',
];
const ROW_SELECT = [...ROW_COLUMNS, ...PROTECTION_FLOW_COLUMNS, 'verdict_id'].map((c) => `f.${c}`).join(', ') + ', f.encryption IS NOT NULL';
/** The same with the verdict's texts per flow: for a database whose verdicts are too many to hold (a hostile or odd one). */
const ROW_SELECT_TEXTS = `${ROW_SELECT}, f.client_role, f.server_role, f.verdict, f.rule, f.reason, f.cite, f.encryption, f.encryption_cite`;
/** More verdict rows than this are not held in memory (each is a few hundred bytes; a real audit has hundreds). */
const VERDICTS_HELD = 50_000;
/**
 * The same columns read from flow_seen, the hosts' names, the verdict's id and whether the flow
 * raised its encryption finding left to the judgement held in memory (filled in by index below).
 */
const seenSelect = (column: (c: string) => string) =>
  [...ROW_COLUMNS.map((c) => (c === 'client_name' || c === 'server_name' ? 'NULL' : column(c))), ...PROTECTION_FLOW_COLUMNS.map((c) => `f.${c}`), 'NULL', 'NULL'].join(', ');
const SEEN_SELECT = seenSelect((c) => `f.${c}`);
/** The same from the flows table itself: flow_seen's two sums written out. */
const FLOW_SUMS: Record<string, string> = { packets: '(f.packets_c2s + f.packets_s2c)', bytes: '(f.bytes_c2s + f.bytes_s2c)' };
const TABLE_SELECT = seenSelect((c) => FLOW_SUMS[c] ?? `f.${c}`);
/** Hosts and verdicts held in memory to judge flows from flow_seen (more: flow_view judges them). */
const JUDGEMENT_HELD = 200_000;
const COL = Object.fromEntries(ROW_COLUMNS.map((c, i) => [c, i])) as Record<(typeof ROW_COLUMNS)[number], number>;

interface VerdictTexts {
  client_role: string | null;
  server_role: string | null;
  verdict: string | null;
  rule: string | null;
  reason: string | null;
  cite: string | null;
  encryption: string | null;
  encryption_cite: string | null;
}
interface CaptureTexts {
  path: string;
  fingerprint: string | null;
  sensor: string | null;
  sensor_host: string | null;
}
const NO_VERDICT: VerdictTexts = { client_role: null, server_role: null, verdict: null, rule: null, reason: null, cite: null, encryption: null, encryption_cite: null };
const P = ROW_COLUMNS.length; // where the protection columns start in ROW_SELECT
const V = P + PROTECTION_FLOW_COLUMNS.length; // verdict_id, then whether the flow raised its verdict's encryption finding

/** A flow_view row from ROW_SELECT's values, its verdict's and its capture's texts. */
function rowOf(a: unknown[], v: VerdictTexts, c: CaptureTexts | undefined, clear: boolean): FlowDbRow {
  const row = {
    id: a[0], capture_id: a[1], capture_path: c?.path ?? null, capture_fingerprint: c?.fingerprint ?? null, sensor: c?.sensor ?? null, sensor_host: c?.sensor_host ?? null,
    vlan: a[2], transport: a[3], client: a[4], client_port: a[5], server: a[6], server_port: a[7],
    first_sec: a[8], first_nsec: a[9], last_sec: a[10], last_nsec: a[11], packets: a[12], bytes: a[13], service: a[14], via: a[15],
    rpc_interface: a[16], rpc_uuid: a[17], rpc_uuids: a[18], rpc_interfaces: a[19], rpc_note: a[20], missing_c2s: a[21], missing_s2c: a[22],
    client_role: v.client_role, server_role: v.server_role, client_name: a[23], server_name: a[24],
    verdict: v.verdict, rule: v.rule, reason: v.reason, cite: v.cite,
    packets_c2s: a[25], packets_s2c: a[26], bytes_c2s: a[27], bytes_s2c: a[28], tcp_state: a[29], direction_by: a[30],
    tls: a[31], tls_version: a[32], tls_sni: a[33], tls_alpn: a[34], tls_subject: a[35], tls_issuer: a[36], tls_note: a[37], http_app: a[38], http_target: a[39],
    encryption: clear ? v.encryption : null, encryption_cite: clear ? v.encryption_cite : null, server_version: a[40],
  } as Record<string, unknown>;
  for (let i = 0; i < PROTECTION_FLOW_COLUMNS.length; i++) row[PROTECTION_FLOW_COLUMNS[i]] = a[P + i];
  return row as unknown as FlowDbRow;
}

/**
 * flow_view rows one at a time, in capture and time order — or with `order: 'stored'` in the order
 * they were stored (a flow is stored when it ends or is evicted: Zeek's conn.log and nfdump order),
 * which needs no sort (the sort was 4.4 µs of a row's 9.7). The database may hold millions; SQLite's
 * sorter spills to disk, the heap holds a row at a time. When the filter names no role or verdict
 * and the hosts and verdicts are few enough to hold, the flows are read from flow_seen and judged
 * from memory (heldJudge) rather than through flow_view's three lookups a flow. Read in one read
 * transaction: the verdicts and captures read first are those of the flows that follow, whatever
 * an audit writes meanwhile.
 */
export function* flowViewRows(db: Db, q: FlowQuery, o: { verdictsHeld?: number; judgementHeld?: number; order?: 'time' | 'stored'; held?: HeldTexts; walkFrom?: number } = {}): Generator<FlowDbRow> {
  // The first few flows (flows --limit) of a host on many: capture by capture, each in time order
  // through flows_capture, until enough — not all of the host's flows found by address and sorted
  // (ten million flows, a server on four million: 15.8 -> 1.0 s for the first thousand).
  const walkFrom = o.walkFrom ?? WALK_FROM;
  const walk = q.limit !== undefined && q.ids === undefined && o.order !== 'stored' && addressedFlows(db, q, walkFrom) > walkFrom;
  const w = flowWhere(q, 'f', [], { scan: q.ids !== undefined || walk });
  const where = q.ids ? `${w.sql ? `${w.sql} AND` : 'WHERE'} f.id >= ? AND f.id < ?` : walk ? `${w.sql ? `${w.sql} AND` : 'WHERE'} f.capture_id = ?` : w.sql;
  const args = [...w.args, ...(q.ids ? [q.ids.from, q.ids.to] : []), ...(q.limit !== undefined && !walk ? [q.limit] : [])];
  const own = !db.inTransaction;
  if (own) db.exec('BEGIN');
  try {
    const { verdicts, captures, judge: heldJudgement } = o.held ?? heldTexts(db, o);
    const judge = w.view === 'flow_seen' ? heldJudgement() : null;
    // Unfiltered (export, flows): from the table, a flow of a capture no visible run holds skipped
    // here — flow_seen's join with capture_view was 1–2.5 µs of a row's 6–8.
    const table = judge !== null && w.sql === '' && q.limit === undefined;
    const select = table ? TABLE_SELECT : judge ? SEEN_SELECT : verdicts ? ROW_SELECT : ROW_SELECT_TEXTS;
    const order = o.order === 'stored' ? 'f.id' : 'f.capture_id, f.first_sec, f.first_nsec, f.id';
    const stmt = db.prepare(`SELECT ${select} FROM ${table ? 'flows' : judge ? 'flow_seen' : 'flow_view'} f ${where} ORDER BY ${order} ${q.limit !== undefined ? 'LIMIT ?' : ''}`).raw(true);
    const rows = walk ? byCapture(db, stmt, args, q.limit!) : (stmt.iterate(...args) as IterableIterator<unknown[]>);
    for (const a of rows) {
      if (table && !captures.has(a[1] as number)) continue;
      if (judge) {
        const j = judge(a[COL.client] as string, a[COL.server] as string, a[COL.service] as string | null, a[COL.transport] as string, a[COL.server_port] as number);
        a[COL.client_name] = j.clientName;
        a[COL.server_name] = j.serverName;
        a[V] = j.verdictId;
      }
      const v = verdicts ? (a[V] === null ? NO_VERDICT : (verdicts.get(a[V] as number) ?? NO_VERDICT)) : textsOf(a);
      // Whether the flow raised its verdict's encryption finding: flow_view's condition, or the same here.
      const clear = judge ? a[COL.tls] === 'none' && v.verdict === 'expected' && v.encryption !== null : a[V + 1] === 1;
      yield rowOf(a, v, captures.get(a[1] as number), clear);
    }
  } finally {
    if (own && db.inTransaction) db.exec('COMMIT');
  }
}

/** More flows than this with the filter's address: its first few are found capture by capture. */
const WALK_FROM = 100_000;

/** The first `limit` rows of `stmt` (a capture's, in time order: its last argument the capture) over the captures in order. */
function* byCapture(db: Db, stmt: { iterate(...params: unknown[]): IterableIterator<unknown> }, args: unknown[], limit: number): Generator<unknown[]> {
  let left = limit;
  for (const capture of db.prepare('SELECT id FROM captures ORDER BY id').pluck().all() as number[]) {
    for (const a of stmt.iterate(...args, capture, left) as IterableIterator<unknown[]>) {
      yield a;
      if (--left === 0) return;
    }
  }
}

/**
 * How many flows have one of the filter's exact addresses (--host, --client, --server) on their
 * side, as their index counts them, up to `most` + 1 (Infinity without one): which way a few of
 * them are read fastest (a part of an export, the first rows of a listing).
 */
export function addressedFlows(db: Db, f: FlowFilter, most: number): number {
  const of = (column: string, v: string) => db.prepare(`SELECT count(*) FROM (SELECT 1 FROM flows WHERE ${column} = ? LIMIT ${most + 1})`).pluck().get(v) as number;
  const exact = (v: string | undefined): v is string => v !== undefined && !v.includes('/');
  const counts: number[] = [];
  if (exact(f.host)) counts.push(of('client', f.host) + of('server', f.host));
  if (exact(f.client)) counts.push(of('client', f.client));
  if (exact(f.server)) counts.push(of('server', f.server));
  return counts.length ? Math.min(...counts) : Infinity;
}

/**
 * What flowViewRows holds while it reads flows: the verdicts' texts (null: too many, read per
 * flow), the captures' texts, and the judgement from memory (made on first need; null when it
 * cannot be held). Read inside the transaction the flows are read in; a caller that reads many
 * parts of one listing in that transaction (a thread of a parallel export) makes it once.
 */
export interface HeldTexts {
  verdicts: Map<number, VerdictTexts> | null;
  captures: Map<number, CaptureTexts>;
  judge: () => Judge | null;
}

type Judge = NonNullable<ReturnType<typeof heldJudge>>;

export function heldTexts(db: Db, o: { verdictsHeld?: number; judgementHeld?: number } = {}): HeldTexts {
  const verdicts = heldVerdicts(db, o.verdictsHeld ?? VERDICTS_HELD);
  const captures = new Map<number, CaptureTexts>();
  for (const c of db.prepare('SELECT id, path, fingerprint, sensor, sensor_host FROM capture_view').all() as (CaptureTexts & { id: number })[]) captures.set(c.id, c);
  let judge: Judge | null | undefined;
  return { verdicts, captures, judge: () => (judge === undefined ? (judge = verdicts ? heldJudge(db, o.judgementHeld ?? JUDGEMENT_HELD) : null) : judge) };
}

/** Every verdict's texts by id, or null when there are too many to hold. */
function heldVerdicts(db: Db, most: number): Map<number, VerdictTexts> | null {
  if ((db.prepare('SELECT count(*) FROM verdicts').pluck().get() as number) > most) return null;
  const out = new Map<number, VerdictTexts>();
  for (const r of db.prepare('SELECT id, client_role, server_role, verdict, rule, reason, cite, encryption, encryption_cite FROM verdicts').all() as (VerdictTexts & { id: number })[]) out.set(r.id, r);
  return out;
}

/** The verdict's texts ROW_SELECT_TEXTS read with the flow. */
function textsOf(a: unknown[]): VerdictTexts {
  const t = V + 2;
  return { client_role: a[t] as string | null, server_role: a[t + 1] as string | null, verdict: a[t + 2] as string | null, rule: a[t + 3] as string | null, reason: a[t + 4] as string | null, cite: a[t + 5] as string | null, encryption: a[t + 6] as string | null, encryption_cite: a[t + 7] as string | null };
}

/** Flows one row at a time, with the documented keys. */
export function* queryFlows(db: Db, q: FlowQuery, o: { order?: 'time' | 'stored'; held?: HeldTexts } = {}): Generator<Row> {
  for (const r of flowViewRows(db, q, o)) yield flowRow(r);
}

function flowRow(r: FlowDbRow): Row {
  return {
    capture: r.capture_id,
    transport: r.transport,
    client: r.client,
    client_port: r.client_port,
    server: r.server,
    server_port: r.server_port,
    first_seen: isoTime(r.first_sec, r.first_nsec),
    last_seen: isoTime(r.last_sec, r.last_nsec),
    duration: duration(r),
    packets: r.packets,
    bytes: r.bytes,
    client_name: r.client_name ?? null,
    server_name: r.server_name ?? null,
    service: r.service,
    via: r.via,
    rpc_interface: r.rpc_interface,
    rpc_uuid: r.rpc_uuid,
    rpc_interfaces: r.rpc_interfaces ? r.rpc_interfaces.split(',') : [],
    rpc_uuids: r.rpc_uuids ? r.rpc_uuids.split(',') : [],
    packets_c2s: r.packets_c2s,
    packets_s2c: r.packets_s2c,
    bytes_c2s: r.bytes_c2s,
    bytes_s2c: r.bytes_s2c,
    tcp_state: r.tcp_state,
    direction_by: r.direction_by,
    rpc_note: r.rpc_note,
    missing_c2s: r.missing_c2s,
    missing_s2c: r.missing_s2c,
    client_role: r.client_role,
    server_role: r.server_role,
    verdict: r.verdict,
    rule: r.rule,
    reason: r.reason,
    cite: r.cite ?? null,
    tls: r.tls,
    tls_version: r.tls_version,
    tls_sni: r.tls_sni,
    tls_alpn: r.tls_alpn,
    tls_subject: r.tls_subject,
    tls_issuer: r.tls_issuer,
    tls_note: r.tls_note,
    http_app: r.http_app,
    http_target: r.http_target,
    encryption: r.encryption,
    encryption_cite: r.encryption_cite ?? null,
    server_version: r.server_version,
    ...protectionColumns(r as unknown as Record<string, unknown>),
  };
}

/**
 * Seconds from the first packet to the last, to the microsecond as the times are written: a
 * number (JSON consumers compute with it; a whole count of microseconds over 1e6 prints as its
 * own decimal, never with float noise).
 */
function duration(r: FlowDbRow): number {
  const us = Math.max(0, (r.last_sec - r.first_sec) * 1_000_000 + Math.floor(r.last_nsec / 1000) - Math.floor(r.first_nsec / 1000));
  return us / 1_000_000;
}

/** The protection columns of a flow_view row: booleans as true/false, the findings as a list. */
export function protectionColumns(r: Record<string, unknown>): Row {
  const out: Row = {};
  for (const c of PROTECTION_FLOW_COLUMNS) out[c] = protectionValue(c, r[c]);
  return out;
}

/** One protection column's value as flows and export write it. */
export function protectionValue(c: (typeof PROTECTION_FLOW_COLUMNS)[number], v: unknown): Cell {
  if (c === 'protection') return typeof v === 'string' && v !== '' ? v.split(',') : [];
  if (BOOLEAN_COLUMNS.has(c)) return v === null || v === undefined ? null : v === 1;
  return (v ?? null) as string | null;
}
