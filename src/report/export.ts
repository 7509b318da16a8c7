// Flows for other engines: NDJSON with Elastic Common Schema field names (nested
// objects, as ECS documents are), exflow's own fields under "exflow", or CSV.
// Streams row by row, so a database of millions of flows exports in flat memory.
import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { flowViewRows, queryFlows, type FlowDbRow } from './flows';
import { isoTime, renderStream } from './format';

/** One flow as an ECS document. */
export function ecsDocument(r: FlowDbRow): Record<string, unknown> {
  const start = isoTime(r.first_sec, r.first_nsec);
  return {
    '@timestamp': start,
    event: { kind: 'event', category: ['network'], type: ['connection'], start, end: isoTime(r.last_sec, r.last_nsec), duration: Math.round((r.last_sec - r.first_sec) * 1e9 + (r.last_nsec - r.first_nsec)) },
    source: { ip: r.client, port: r.client_port, bytes: r.bytes_c2s, packets: r.packets_c2s },
    destination: { ip: r.server, port: r.server_port, bytes: r.bytes_s2c, packets: r.packets_s2c },
    network: {
      transport: r.transport,
      protocol: r.service,
      bytes: r.bytes_c2s + r.bytes_s2c,
      packets: r.packets_c2s + r.packets_s2c,
      ...(r.vlan !== null ? { vlan: { id: String(r.vlan) } } : {}),
    },
    exflow: {
      capture: r.capture_id,
      capture_path: r.capture_path,
      service: r.service,
      via: r.via,
      rpc_interface: r.rpc_interface,
      rpc_uuid: r.rpc_uuid,
      rpc_note: r.rpc_note,
      tcp_state: r.tcp_state,
      client_role: r.client_role,
      server_role: r.server_role,
      verdict: r.verdict,
      rule: r.rule,
      reason: r.reason,
    },
  };
}

const CSV_COLUMNS = ['capture', 'transport', 'client', 'client_port', 'server', 'server_port', 'first_seen', 'last_seen', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'service', 'via', 'rpc_interface', 'rpc_uuid', 'tcp_state', 'client_role', 'server_role', 'verdict', 'rule', 'reason'];

/** Writes every (filtered) flow with `write`, one line at a time. */
export function exportFlows(db: Db, f: FlowFilter, format: 'ndjson' | 'csv', write: (line: string) => void): void {
  if (format === 'csv') renderStream(queryFlows(db, f), CSV_COLUMNS, 'csv', write);
  else for (const r of flowViewRows(db, f)) write(JSON.stringify(ecsDocument(r)) + '\n');
}
