import type { Db } from '../store/db';
import { addressCondition } from './filter';
import { captureFilter, isoTime, type Row } from './format';

/** The registry columns every consumer can rely on. */
export const EPM_COLUMNS = [
  'capture', 'server', 'transport', 'port', 'uuid', 'interface', 'source', 'first_seen', 'client',
  'version', 'protseq', 'service', 'annotation',
];
export const EPM_TABLE_COLUMNS = ['capture', 'server', 'transport', 'port', 'interface', 'source', 'client', 'first_seen', 'annotation'];

interface EndpointDbRow {
  capture_id: number;
  server: string;
  transport: string;
  protseq: string | null;
  port: number;
  uuid: string;
  version: string | null;
  interface: string | null;
  service: string | null;
  source: string;
  first_sec: number;
  first_nsec: number;
  client: string | null;
  annotation: string | null;
}

export interface EndpointQuery {
  capture?: string;
  source?: string;
  server?: string;
  /** Seconds since 1970: endpoints learned at or after / at or before this. */
  since?: number;
  until?: number;
}

export function queryEndpoints(db: Db, q: EndpointQuery): Row[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.since !== undefined) {
    where.push('e.first_sec + e.first_nsec / 1e9 >= ?');
    args.push(q.since);
  }
  if (q.until !== undefined) {
    where.push('e.first_sec + e.first_nsec / 1e9 <= ?');
    args.push(q.until);
  }
  if (q.server !== undefined) {
    const c = addressCondition('e.server', q.server);
    where.push(c.sql);
    args.push(c.arg);
  }
  if (q.capture !== undefined) {
    const c = captureFilter(q.capture, 'e.capture_id', 'c.path');
    where.push(c.sql);
    args.push(...c.args);
  }
  if (q.source !== undefined) {
    where.push('e.source = ?');
    args.push(q.source);
  }
  const rows = db
    .prepare(
      `SELECT e.* FROM rpc_endpoints e JOIN capture_view c ON c.id = e.capture_id
       ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY e.capture_id, e.server, e.transport, e.port, e.source, e.uuid`,
    )
    .all(...args) as EndpointDbRow[];
  return rows.map((r) => ({
    capture: r.capture_id,
    server: r.server,
    transport: r.transport,
    port: r.port,
    uuid: r.uuid,
    // An interface not in rules/rpc-interfaces.yaml is shown by the annotation the server sent, marked as
    // such: any host answering on 135 can write it, so it never passes for a known name.
    interface: r.interface ?? (r.annotation ? `"${r.annotation}" (annotation from the wire)` : null),
    source: r.source,
    first_seen: isoTime(r.first_sec, r.first_nsec),
    client: r.client,
    version: r.version,
    protseq: r.protseq,
    service: r.service,
    annotation: r.annotation,
  }));
}
