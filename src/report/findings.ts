import type { Db } from '../store/db';
import { flowWhere, type FlowFilter } from './filter';
import { isoTime, type Row } from './format';
import { NO_ROLE } from './role-traffic';

/** Unexpected and unknown-role flows grouped by (client role, server role, service, verdict). */
export function unexpectedReport(db: Db, f: FlowFilter): Row[] {
  const w = flowWhere(f, 'f', [`f.verdict IN ('unexpected', 'unknown')`]);
  const rows = db
    .prepare(
      `SELECT f.verdict, coalesce(f.client_role, '${NO_ROLE}') AS client_role, coalesce(f.server_role, '${NO_ROLE}') AS server_role,
              coalesce(f.service, '(unknown)') AS service, count(*) AS flows, sum(f.bytes) AS bytes,
              min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec,
              group_concat(DISTINCT f.client || ' → ' || f.server || ':' || f.server_port || '/' || f.transport) AS examples,
              min(f.reason) AS reason, group_concat(DISTINCT f.rpc_interface) AS rpc_interfaces
       FROM flow_view f ${w.sql}
       GROUP BY f.verdict, client_role, server_role, service ORDER BY f.verdict DESC, flows DESC`,
    )
    .all(...w.args) as Record<string, string | number | null>[];
  return rows.map((r) => ({
    verdict: r.verdict,
    client_role: r.client_role,
    server_role: r.server_role,
    service: r.service,
    flows: r.flows,
    bytes: r.bytes,
    first_seen: isoTime(r.first_sec as number, 0),
    last_seen: isoTime(r.last_sec as number, 0),
    examples: String(r.examples ?? '').split(',').slice(0, 3),
    rpc_interfaces: r.rpc_interfaces ? String(r.rpc_interfaces).split(',') : [],
    reason: r.reason,
  }));
}

/** Per service and how it was decided: flows, bytes, packets, hosts on each side. */
export function servicesReport(db: Db, f: FlowFilter): Row[] {
  const w = flowWhere(f);
  return db
    .prepare(
      `SELECT coalesce(f.service, '(unknown)') AS service, coalesce(f.via, '-') AS via, count(*) AS flows, sum(f.bytes) AS bytes, sum(f.packets) AS packets,
              count(DISTINCT f.server) AS servers, count(DISTINCT f.client) AS clients, group_concat(DISTINCT f.rpc_interface) AS rpc_interfaces
       FROM ${w.view} f ${w.sql} GROUP BY service, via ORDER BY sum(f.bytes) DESC`,
    )
    .all(...w.args)
    .map((r) => {
      const x = r as Record<string, string | number | null>;
      return { ...x, rpc_interfaces: x.rpc_interfaces ? String(x.rpc_interfaces).split(',') : [] } as Row;
    });
}

/** Encryption findings: expected flows in clear where the matrix says the service is encrypted, grouped. */
export function encryptionReport(db: Db, f: FlowFilter): Row[] {
  const w = flowWhere(f, 'f', ['f.encryption IS NOT NULL']);
  return (db
    .prepare(
      `SELECT f.client_role, f.server_role, f.service, f.rule, count(*) AS flows, sum(f.bytes) AS bytes, min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec,
              group_concat(DISTINCT f.client || ' → ' || f.server || ':' || f.server_port || '/' || f.transport) AS examples, min(f.encryption) AS finding
       FROM flow_view f ${w.sql} GROUP BY f.client_role, f.server_role, f.service, f.rule ORDER BY flows DESC`,
    )
    .all(...w.args) as Record<string, string | number | null>[]).map((r) => ({
    client_role: r.client_role,
    server_role: r.server_role,
    service: r.service,
    rule: r.rule,
    flows: r.flows,
    bytes: r.bytes,
    first_seen: isoTime(r.first_sec as number, 0),
    last_seen: isoTime(r.last_sec as number, 0),
    examples: String(r.examples ?? '').split(',').slice(0, 3),
    finding: r.finding,
  }));
}

export const ENCRYPTION_COLUMNS = ['client_role', 'server_role', 'service', 'rule', 'flows', 'bytes', 'first_seen', 'last_seen', 'examples', 'finding'];
