import type { Db } from '../store/db';
import { flowWhere, type FlowFilter } from './filter';
import { isoTime, type Row } from './format';

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

/** flow_view rows one at a time, in capture and time order (the database may hold millions). */
export function flowViewRows(db: Db, q: FlowQuery): IterableIterator<FlowDbRow> {
  const w = flowWhere(q);
  const args = q.limit !== undefined ? [...w.args, q.limit] : w.args;
  return db
    .prepare(`SELECT * FROM flow_view f ${w.sql} ORDER BY f.capture_id, f.first_sec, f.first_nsec, f.id ${q.limit !== undefined ? 'LIMIT ?' : ''}`)
    .iterate(...args) as IterableIterator<FlowDbRow>;
}

/** Flows one row at a time, with the documented keys. */
export function* queryFlows(db: Db, q: FlowQuery): Generator<Row> {
  for (const r of flowViewRows(db, q)) yield flowRow(r);
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

/** Seconds from the first packet to the last, in microseconds as the times are written (a string: one width, no float noise). */
function duration(r: FlowDbRow): string {
  const us = Math.max(0, (r.last_sec - r.first_sec) * 1_000_000 + Math.floor(r.last_nsec / 1000) - Math.floor(r.first_nsec / 1000));
  return `${Math.floor(us / 1_000_000)}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/** The protection columns of a flow_view row: booleans as true/false, the findings as a list. */
export function protectionColumns(r: Record<string, unknown>): Row {
  const out: Row = {};
  for (const c of PROTECTION_FLOW_COLUMNS) {
    const v = r[c];
    if (c === 'protection') out[c] = typeof v === 'string' && v !== '' ? v.split(',') : [];
    else if (BOOLEAN_COLUMNS.has(c)) out[c] = v === null || v === undefined ? null : v === 1;
    else out[c] = (v ?? null) as string | null;
  }
  return out;
}
