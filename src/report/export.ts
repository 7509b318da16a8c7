// Flows for other engines: NDJSON with Elastic Common Schema field names (nested
// objects, as ECS documents are), exflow's own fields under "exflow"; the same as
// an Elasticsearch/OpenSearch _bulk body; or CSV.
// Streams row by row, so a database of millions of flows exports in flat memory.
import * as crypto from 'node:crypto';
import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { flowViewRows, PROTECTION_FLOW_COLUMNS, protectionValue, queryFlows, type FlowDbRow, type HeldTexts, type IdRange } from './flows';
import type { RuleSet } from '../rules/load';
import { communityId } from './community-id';
// Every value of a document as JSON writes it: format.ts owns JSON's escaping.
import { csvLines, isoSecondText, jsonValue as json } from './format';

/** The Elastic Common Schema version the documents follow (ecs.version, required in every event). */
export const ECS_VERSION = '8.11.0';
/** The index (or data stream) `--format bulk` writes to unless told otherwise. */
export const DEFAULT_INDEX = 'exflow-flows';

/** ISO 8601 UTC with exactly nine fraction digits, as Elasticsearch's date_nanos keeps them. */
function nanoTime(sec: number, nsec: number): string | null {
  const t = isoSecondText(sec);
  return t === null ? null : `${t}.${String(Math.floor(nsec)).padStart(9, '0')}Z`;
}

/** SHA-256 of `text` in hex, in one call where this Node has crypto.hash (20.12 and later). */
const sha256Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => (crypto as unknown as { hash: (alg: string, d: string, enc: string) => string }).hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * A flow's id in every export (event.id, the _bulk _id): a hash of the sensor, the
 * capture's fingerprint and the flow's key and first packet — the same flow analyzed
 * again (--force, another database, merge) has the same id, and no two sensors' flows
 * share one, so sending a body twice duplicates nothing.
 */
export function flowId(r: FlowDbRow): string {
  const key = [r.sensor ?? '', r.capture_fingerprint ?? String(r.capture_id), r.transport, r.client, r.client_port, r.server, r.server_port, r.first_sec, r.first_nsec].join('\0');
  return sha256Hex(key).slice(0, 32);
}

/**
 * One flow as an ECS document; `protocolOf` gives the application protocol of an exflow service.
 * Built by assignment in the key order the export has always had (no object spreads: a million
 * documents each made of a dozen spread copies cost the export a third of its time).
 */
export function ecsDocument(r: FlowDbRow, protocolOf: (service: string | null) => string | null = () => null): Record<string, unknown> {
  const start = nanoTime(r.first_sec, r.first_nsec);
  const protocol = protocolOf(r.service);
  const cid = communityId(r.transport, r.client, r.client_port, r.server, r.server_port);
  const acct = (r as unknown as { auth_account: string | null }).auth_account;
  const doc: Record<string, unknown> = {
    '@timestamp': start,
    ecs: { version: ECS_VERSION },
    event: {
      kind: 'event', category: ['network'], type: ['connection'], dataset: 'exflow.flow', module: 'exflow',
      id: flowId(r),
      start, end: nanoTime(r.last_sec, r.last_nsec), duration: Math.round((r.last_sec - r.first_sec) * 1e9 + (r.last_nsec - r.first_nsec)),
    },
  };
  // ECS observer: the sensor that captured the flow (analyze --sensor) and the host that analyzed it.
  if (r.sensor) doc.observer = r.sensor_host ? { name: r.sensor, hostname: r.sensor_host } : { name: r.sensor };
  // ECS source.domain / destination.domain: the host's preferred name (inventory, else the wire's).
  const source: Record<string, unknown> = { ip: r.client, port: r.client_port, bytes: r.bytes_c2s, packets: r.packets_c2s };
  if (r.client_name) source.domain = r.client_name;
  doc.source = source;
  const destination: Record<string, unknown> = { ip: r.server, port: r.server_port, bytes: r.bytes_s2c, packets: r.packets_s2c };
  if (r.server_name) destination.domain = r.server_name;
  doc.destination = destination;
  const network: Record<string, unknown> = { transport: r.transport, type: r.client.includes(':') ? 'ipv6' : 'ipv4', iana_number: r.transport === 'tcp' ? '6' : '17' };
  if (protocol !== null) network.protocol = protocol;
  if (cid !== null) network.community_id = cid;
  network.bytes = r.bytes_c2s + r.bytes_s2c;
  network.packets = r.packets_c2s + r.packets_s2c;
  if (r.vlan !== null) network.vlan = { id: String(r.vlan) };
  doc.network = network;
  const related: Record<string, unknown> = { ip: r.client === r.server ? [r.client] : [r.client, r.server] };
  if (r.tls_sni) related.hosts = [r.tls_sni];
  doc.related = related;
  // ECS tls.* and url.*: only what the handshake or the request line showed.
  if (r.tls_version || r.tls_sni || r.tls_subject) {
    const tls: Record<string, unknown> = {};
    if (r.tls_version) {
      tls.version = r.tls_version.replace(/^(TLS|SSL) /, '').replace(/ \(.*\)$/, '');
      tls.version_protocol = r.tls_version.startsWith('SSL') ? 'ssl' : 'tls';
    }
    if (r.tls_alpn && !r.tls_alpn.includes(',')) tls.next_protocol = r.tls_alpn;
    if (r.tls_sni) tls.client = { server_name: r.tls_sni };
    if (r.tls_subject || r.tls_issuer) {
      const server: Record<string, unknown> = {};
      if (r.tls_subject) server.subject = r.tls_subject;
      if (r.tls_issuer) server.issuer = r.tls_issuer;
      tls.server = server;
    }
    doc.tls = tls;
  }
  if (r.http_target) doc.url = { original: r.http_target };
  const exflow: Record<string, unknown> = {
    capture: r.capture_id,
    capture_path: r.capture_path,
    service: r.service,
    via: r.via,
    rpc_interface: r.rpc_interface,
    rpc_uuid: r.rpc_uuid,
  };
  if (r.rpc_interfaces) {
    exflow.rpc_interfaces = r.rpc_interfaces.split(',');
    exflow.rpc_uuids = (r.rpc_uuids ?? '').split(',');
  }
  exflow.rpc_note = r.rpc_note;
  if (r.tls_note) exflow.tls_note = r.tls_note;
  exflow.tcp_state = r.tcp_state;
  exflow.client_role = r.client_role;
  exflow.server_role = r.server_role;
  exflow.verdict = r.verdict;
  exflow.rule = r.rule;
  exflow.reason = r.reason;
  if (r.cite) exflow.cite = r.cite;
  exflow.tls = r.tls;
  exflow.http_app = r.http_app;
  if (r.encryption) {
    exflow.encryption = r.encryption;
    exflow.encryption_cite = r.encryption_cite;
  }
  protectionFields(r, exflow);
  doc.exflow = exflow;
  // ECS user.name: the account the flow authenticated as (a keyed hash with --redact-accounts).
  if (acct) doc.user = { name: acct };
  return doc;
}

/** Adds to `out` the protection columns a flow has (null ones left out), under exflow.* as the flows command names them. */
function protectionFields(r: FlowDbRow, out: Record<string, unknown>): void {
  const row = r as unknown as Record<string, unknown>;
  for (const k of PROTECTION_FLOW_COLUMNS) {
    // Most flows have none: a null column is left out without the flows command's conversion.
    if (row[k] === null || row[k] === undefined || k === 'auth_account') continue;
    const v = protectionValue(k, row[k]);
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
}

/**
 * ecsDocument's document as its JSON text, written directly: the same keys in the same order, each
 * value through JSON.stringify (the one escaper of JSON text), without the dozen objects a document
 * is made of and their second walk by JSON.stringify (a third of an export's time). The export
 * writes this; ecsDocument is the document's definition as an object, and a test holds the two equal.
 */
export function ecsJson(r: FlowDbRow, protocolOf: (service: string | null) => string | null = () => null): string {
  const start = json(nanoTime(r.first_sec, r.first_nsec));
  const protocol = protocolOf(r.service);
  const cid = communityId(r.transport, r.client, r.client_port, r.server, r.server_port);
  const acct = (r as unknown as { auth_account: string | null }).auth_account;
  let t = `{"@timestamp":${start},"ecs":{"version":${json(ECS_VERSION)}},"event":{"kind":"event","category":["network"],"type":["connection"],"dataset":"exflow.flow","module":"exflow","id":${json(flowId(r))},"start":${start},"end":${json(nanoTime(r.last_sec, r.last_nsec))},"duration":${json(Math.round((r.last_sec - r.first_sec) * 1e9 + (r.last_nsec - r.first_nsec)))}}`;
  if (r.sensor) t += `,"observer":{"name":${json(r.sensor)}${r.sensor_host ? `,"hostname":${json(r.sensor_host)}` : ''}}`;
  t += `,"source":{"ip":${json(r.client)},"port":${json(r.client_port)},"bytes":${json(r.bytes_c2s)},"packets":${json(r.packets_c2s)}${r.client_name ? `,"domain":${json(r.client_name)}` : ''}}`;
  t += `,"destination":{"ip":${json(r.server)},"port":${json(r.server_port)},"bytes":${json(r.bytes_s2c)},"packets":${json(r.packets_s2c)}${r.server_name ? `,"domain":${json(r.server_name)}` : ''}}`;
  t += `,"network":{"transport":${json(r.transport)},"type":"${r.client.includes(':') ? 'ipv6' : 'ipv4'}","iana_number":"${r.transport === 'tcp' ? '6' : '17'}"`;
  if (protocol !== null) t += `,"protocol":${json(protocol)}`;
  if (cid !== null) t += `,"community_id":${json(cid)}`;
  t += `,"bytes":${json(r.bytes_c2s + r.bytes_s2c)},"packets":${json(r.packets_c2s + r.packets_s2c)}${r.vlan !== null ? `,"vlan":{"id":${json(String(r.vlan))}}` : ''}}`;
  t += `,"related":{"ip":${r.client === r.server ? `[${json(r.client)}]` : `[${json(r.client)},${json(r.server)}]`}${r.tls_sni ? `,"hosts":[${json(r.tls_sni)}]` : ''}}`;
  if (r.tls_version || r.tls_sni || r.tls_subject) {
    const tls: string[] = [];
    if (r.tls_version) {
      tls.push(`"version":${json(r.tls_version.replace(/^(TLS|SSL) /, '').replace(/ \(.*\)$/, ''))}`, `"version_protocol":"${r.tls_version.startsWith('SSL') ? 'ssl' : 'tls'}"`);
    }
    if (r.tls_alpn && !r.tls_alpn.includes(',')) tls.push(`"next_protocol":${json(r.tls_alpn)}`);
    if (r.tls_sni) tls.push(`"client":{"server_name":${json(r.tls_sni)}}`);
    if (r.tls_subject || r.tls_issuer) {
      const server: string[] = [];
      if (r.tls_subject) server.push(`"subject":${json(r.tls_subject)}`);
      if (r.tls_issuer) server.push(`"issuer":${json(r.tls_issuer)}`);
      tls.push(`"server":{${server.join(',')}}`);
    }
    t += `,"tls":{${tls.join(',')}}`;
  }
  if (r.http_target) t += `,"url":{"original":${json(r.http_target)}}`;
  t += `,"exflow":{"capture":${json(r.capture_id)},"capture_path":${json(r.capture_path)},"service":${json(r.service)},"via":${json(r.via)},"rpc_interface":${json(r.rpc_interface)},"rpc_uuid":${json(r.rpc_uuid)}`;
  if (r.rpc_interfaces) t += `,"rpc_interfaces":${json(r.rpc_interfaces.split(','))},"rpc_uuids":${json((r.rpc_uuids ?? '').split(','))}`;
  t += `,"rpc_note":${json(r.rpc_note)}`;
  if (r.tls_note) t += `,"tls_note":${json(r.tls_note)}`;
  t += `,"tcp_state":${json(r.tcp_state)},"client_role":${json(r.client_role)},"server_role":${json(r.server_role)},"verdict":${json(r.verdict)},"rule":${json(r.rule)},"reason":${json(r.reason)}`;
  if (r.cite) t += `,"cite":${json(r.cite)}`;
  t += `,"tls":${json(r.tls)},"http_app":${json(r.http_app)}`;
  if (r.encryption) t += `,"encryption":${json(r.encryption)},"encryption_cite":${json(r.encryption_cite)}`;
  const row = r as unknown as Record<string, unknown>;
  for (const k of PROTECTION_FLOW_COLUMNS) {
    if (row[k] === null || row[k] === undefined || k === 'auth_account') continue;
    const v = protectionValue(k, row[k]);
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    t += `,${json(k)}:${json(v)}`;
  }
  t += '}';
  if (acct) t += `,"user":{"name":${json(acct)}}`;
  return `${t}}`;
}

const CSV_COLUMNS = ['capture', 'transport', 'client', 'client_port', 'server', 'server_port', 'first_seen', 'last_seen', 'duration', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'service', 'via', 'rpc_interface', 'rpc_uuid', 'tcp_state', 'client_role', 'server_role', 'verdict', 'rule', 'reason', 'cite', 'tls', 'tls_version', 'tls_sni', 'http_app', 'auth_mech', 'auth_account', 'ntlm_version', 'rpc_auth_level', 'smb_dialect', 'smb_signing', 'ldap_bind', 'ldap_protection', 'cleartext_credentials', 'protection'];

/**
 * Writes every (filtered) flow with `write`, one line at a time: CSV, ECS NDJSON, or
 * the same documents as an Elasticsearch/OpenSearch _bulk body (a `create` action
 * before each, as data streams require).
 */
export type ExportFormat = 'ndjson' | 'csv' | 'bulk';

/** The line before the flows' (CSV's header), or null. */
export function exportHeader(format: ExportFormat): string | null {
  return format === 'csv' ? CSV_COLUMNS.join(',') + '\n' : null;
}

export function exportFlows(db: Db, rules: RuleSet, f: FlowFilter, format: ExportFormat, write: (line: string) => void, index = DEFAULT_INDEX): void {
  for (const line of exportLines(db, rules, f, format, index)) write(line);
}

/** A part of an export (threads write one each): its flows by id, and whether it begins with the CSV header. */
export interface ExportPart {
  ids?: IdRange;
  header?: boolean;
  /** What the reading holds, made once for every part a thread writes (flows.ts: heldTexts). */
  held?: HeldTexts;
}

/**
 * The export's lines as they are made (a caller that writes them can stop between any two), the
 * flows in the order they were stored — as Zeek's conn.log and nfdump write them, and without a
 * sort (an engine that receives them orders them itself).
 */
export function* exportLines(db: Db, rules: RuleSet, f: FlowFilter, format: ExportFormat, index = DEFAULT_INDEX, part: ExportPart = {}): Generator<string> {
  const q = part.ids ? { ...f, ids: part.ids } : f;
  if (format === 'csv') {
    if (part.header !== false) yield exportHeader(format)!;
    const line = csvLines(CSV_COLUMNS);
    for (const r of queryFlows(db, q, { order: 'stored', held: part.held })) yield line(r);
    return;
  }
  const protocolOf = (service: string | null) => (service === null ? null : (rules.serviceById.get(service)?.protocol ?? null));
  for (const r of flowViewRows(db, q, { order: 'stored', held: part.held })) {
    // `create` with the flow's id: a document sent again is refused (409), not added twice.
    const action = format === 'bulk' ? JSON.stringify({ create: { _index: index, _id: flowId(r) } }) + '\n' : '';
    yield action + ecsJson(r, protocolOf) + '\n';
  }
}
