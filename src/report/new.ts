// "exflow report new --baseline …": what the flows outside a baseline have that the
// baseline did not — flows (client, server, transport, server port, service), host
// pairs, services, and RPC interfaces per server. The baseline is a capture, a run
// or a time range of the same database; the rest (narrowed by the usual filters)
// is what is compared with it.
import type { Db } from '../store/db';
import { flowWhere, parseTime, type FlowFilter } from './filter';
import { captureFilter, isoFraction, isoTime, type Row } from './format';
import { firstNs, secNsec } from './groups';

export interface Baseline {
  /** The SQL condition that selects the baseline's flows, on flow_view under the given alias. */
  sql: (alias: string) => string;
  args: (string | number)[];
  /** What a person reads: "capture 3", "run 2", "flows before 2026-11-01T00:00:00Z". */
  label: string;
}

/**
 * A --baseline value: `run:N`; `capture:ID|PATH` (or a bare id or path); a time
 * range `FROM..TO` (either end may be empty: `..2026-11-01` is everything that
 * started before November). Null when the text is none of these.
 */
export function parseBaseline(text: string): Baseline | null {
  const run = /^run:(\d+)$/.exec(text);
  if (run) return { sql: (a) => `${a}.capture_id IN (SELECT id FROM captures WHERE run_id = ?)`, args: [Number(run[1])], label: `run ${run[1]}` };
  // FROM..TO: a range when each side is a time or empty (a capture path may hold "..": "../day1.pcap" is a path).
  const cut = text.startsWith('capture:') ? -1 : text.indexOf('..');
  const a = cut < 0 ? '' : text.slice(0, cut);
  const b = cut < 0 ? '' : text.slice(cut + 2);
  const from = a === '' ? null : parseTime(a);
  const to = b === '' ? null : parseTime(b);
  const isRange = cut >= 0 && (a === '' || from !== null) && (b === '' || to !== null) && (from !== null || to !== null);
  // Without a "/" it was meant as a range (a capture named so is "capture:a..b.pcap"): a bad one is refused.
  if (cut >= 0 && !isRange && !text.includes('/')) return null;
  if (isRange) {
    const parts: ((a: string) => string)[] = [];
    const args: number[] = [];
    if (from !== null) {
      parts.push((a) => `${a}.first_ts >= ?`);
      args.push(from);
    }
    if (to !== null) {
      parts.push((a) => `${a}.first_ts < ?`);
      args.push(to);
    }
    const label = `flows that started ${from !== null ? `at or after ${isoFraction(from)}` : ''}${from !== null && to !== null ? ' and ' : ''}${to !== null ? `before ${isoFraction(to)}` : ''}`;
    return { sql: (a) => `(${parts.map((p) => p(a)).join(' AND ')})`, args, label };
  }
  const cap = text.replace(/^capture:/, '');
  if (cap === '') return null;
  const args = captureFilter(cap, 'b.capture_id', 'b.capture_path').args;
  return { sql: (a) => captureFilter(cap, `${a}.capture_id`, `${a}.capture_path`).sql, args, label: `capture ${cap}` };
}

export interface NewReport {
  baseline: string;
  baseline_flows: number;
  compared_flows: number;
  flows: Row[];
  host_pairs: Row[];
  services: Row[];
  rpc_interfaces: Row[];
}

export const NEW_FLOW_COLUMNS = ['client', 'server', 'transport', 'server_port', 'service', 'rpc_interface', 'client_role', 'server_role', 'verdict', 'flows', 'bytes', 'first_seen'];

export function newReport(db: Db, baseline: Baseline, f: FlowFilter, limit = 10000): NewReport {
  const now = flowWhere(f, 'f', [`NOT (${baseline.sql('f')})`]);
  const nowArgs = [...baseline.args, ...now.args];
  const count = (sql: string, args: (string | number)[]) => (db.prepare(sql).get(...args) as { n: number }).n;
  const baselineFlows = count(`SELECT count(*) AS n FROM flow_view b WHERE ${baseline.sql('b')}`, baseline.args);
  const compared = count(`SELECT count(*) AS n FROM flow_view f ${now.sql}`, nowArgs);
  const q = (select: string, absent: string, group: string, order: string) =>
    db
      .prepare(`SELECT ${select} FROM flow_view f ${now.sql} AND NOT EXISTS (SELECT 1 FROM flow_view b WHERE ${baseline.sql('b')} AND ${absent}) GROUP BY ${group} ORDER BY ${order} LIMIT ?`)
      .all(...nowArgs, ...baseline.args, limit) as Row[];
  const flows = q(
    `f.client, f.server, f.transport, f.server_port, coalesce(f.service, '(unknown)') AS service, group_concat(DISTINCT f.rpc_interface) AS rpc_interface,
     f.client_role, f.server_role, group_concat(DISTINCT f.verdict) AS verdict, count(*) AS flows, sum(f.bytes) AS bytes,
     ${secNsec(firstNs('f'), 'first')}`,
    `b.client = f.client AND b.server = f.server AND b.transport = f.transport AND b.server_port = f.server_port AND b.service IS f.service`,
    'f.client, f.server, f.transport, f.server_port, f.service',
    'min(f.first_ts), f.client, f.server, f.server_port',
  ).map(({ first_sec, first_nsec, ...r }) => ({ ...r, first_seen: isoTime(first_sec as number, first_nsec as number) }));
  const host_pairs = q(
    `f.client, f.server, f.client_role, f.server_role, group_concat(DISTINCT f.service) AS services, count(*) AS flows, sum(f.bytes) AS bytes`,
    `b.client = f.client AND b.server = f.server`,
    'f.client, f.server',
    'f.client, f.server',
  ).map((r) => ({ ...r, services: r.services ? String(r.services).split(',') : [] }));
  const services = q(
    `coalesce(f.service, '(unknown)') AS service, count(*) AS flows, count(DISTINCT f.server) AS servers, count(DISTINCT f.client) AS clients, sum(f.bytes) AS bytes`,
    `b.service IS f.service`,
    'f.service',
    'f.service',
  );
  const rpc_interfaces = db
    .prepare(
      `SELECT f.server, f.rpc_interface, count(*) AS flows, count(DISTINCT f.client) AS clients, group_concat(DISTINCT f.server_port) AS ports
       FROM flow_view f ${now.sql} AND f.rpc_interface IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM flow_view b WHERE ${baseline.sql('b')} AND b.server = f.server AND b.rpc_interface = f.rpc_interface)
       GROUP BY f.server, f.rpc_interface ORDER BY f.server, f.rpc_interface LIMIT ?`,
    )
    .all(...nowArgs, ...baseline.args, limit) as Row[];
  return { baseline: baseline.label, baseline_flows: baselineFlows, compared_flows: compared, flows, host_pairs, services, rpc_interfaces };
}
