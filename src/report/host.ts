// "exflow host ADDR": one host's whole story from the database — who it is (roles,
// their evidence, version), what it serves and what it uses (by service and peer
// role, then by peer), its findings, the RPC endpoints it announced, and when it
// was seen. Every list is capped (a busy server has tens of thousands of peers)
// and says how much it left out.
import type { Db } from '../store/db';
import { queryEndpoints } from './epm';
import type { FlowFilter } from './filter';
import { flowGroups, keepGroups, listed, SPAN, verdictSums, type Groups } from './groups';
import { unexpectedFrom } from './findings';
import { hostNames, queryHosts } from './hosts';
import { isoTime, type Row } from './format';
import { NO_ROLE } from './role-traffic';
import { hostProtection } from './protection';
import type { RuleSet } from '../rules/load';

export interface HostStory {
  address: string;
  /** The hosts-table row (roles, evidence, version…), null when the host has no row. */
  host: Row | null;
  flows: number;
  bytes: number;
  first_seen: string | null;
  last_seen: string | null;
  /** Per side: by service and peer role. */
  serves: Row[];
  uses: Row[];
  /** Per side: by peer host and service, the biggest first. */
  peers: Row[];
  /** Unexpected and unknown flows this host is part of, grouped as "report unexpected" groups them. */
  findings: Row[];
  rpc_endpoints: Row[];
  /** Every name the capture gave it, with the source. */
  names: Row[];
  /** Protection findings of the flows it is client or server of, most severe first. */
  protection: Row[];
  /** What the caps left out, per list. */
  omitted: Record<string, number>;
}

export const HOST_SERVICE_COLUMNS = ['service', 'port', 'rpc_interfaces', 'peer_role', 'peers', 'flows', 'bytes', 'expected', 'unexpected', 'unknown'];
export const HOST_PEER_COLUMNS = ['side', 'peer', 'peer_role', 'service', 'port', 'flows', 'bytes', 'verdicts'];

/** Aggregates one side of the host's flows; `self` is 'server' for what it serves, 'client' for what it uses. */
function bySide(db: Db, address: string, self: 'client' | 'server', both: Groups, limit: number): { rows: Row[]; more: number } {
  const peer = self === 'server' ? 'client' : 'server';
  const g = { sql: `(SELECT * FROM ${both.sql} f WHERE f.${self} = ?)`, args: [...both.args, address] };
  // The groups past the limit counted in the same pass (a window over the groups), not by grouping again.
  const rows = db
    .prepare(
      `SELECT coalesce(f.service, '(unknown)') AS service, f.transport || '/' || f.server_port AS port,
              coalesce(f.${peer}_role, '${NO_ROLE}') AS peer_role, count(DISTINCT f.${peer}) AS peers, sum(f.flows) AS flows, sum(f.bytes) AS bytes,
              ${verdictSums(false)},
              group_concat(DISTINCT coalesce(f.rpc_interfaces, f.rpc_interface)) AS rpc_interfaces, count(*) OVER () AS groups_in_all
       FROM ${g.sql} f
       GROUP BY service, f.transport, f.server_port, peer_role ORDER BY bytes DESC, flows DESC, service, f.transport, f.server_port, peer_role LIMIT ?`,
    )
    .all(...g.args, Math.max(limit, 1)) as Row[];
  const capped = cappedRows(rows, limit);
  // Every interface bound on the flows, once each (a connection lists all it bound).
  return { rows: capped.rows.map((r) => ({ ...r, rpc_interfaces: listed(r.rpc_interfaces) })), more: capped.more };
}

/**
 * The first `limit` rows of a grouped query that counted its groups as `groups_in_all`
 * (count(*) OVER ()), without that column, and how many groups it left out.
 */
function cappedRows(rows: Row[], limit: number): { rows: Row[]; more: number } {
  const all = rows.length ? Number(rows[0].groups_in_all) : 0;
  return { rows: rows.slice(0, limit).map(({ groups_in_all: _n, ...r }) => r), more: Math.max(0, all - limit) };
}

/** The columns of a host's groups that its story reads (host_groups, and the HTML page's drill_groups). */
export const HOST_GROUP_COLUMNS = `f.client, f.server, f.client_role, f.server_role, f.service, f.transport, f.server_port,
  f.flows, f.bytes, f.verdict, f.reason, f.reason_detail, f.rpc_interfaces, f.rpc_interface, f.first_sec, f.first_nsec, f.last_sec, f.last_nsec`;

/**
 * One host's story. `o.groups` (judged groups with HOST_GROUP_COLUMNS, of the same flows the
 * filter selects but for its addresses) and `o.protection` (hostProtection's groups) let a
 * caller that tells many stories read the rollups once for all of them.
 */
export function hostStory(db: Db, address: string, f: FlowFilter = {}, limit = 50, rules: RuleSet | null = null, o: { groups?: Groups; protection?: Groups } = {}): HostStory {
  const host = queryHosts(db, { host: address })[0] ?? null;
  const base = { ...f, host: undefined, client: undefined, server: undefined };
  // The host's groups, judged once into a temporary table that every list below reads (each read
  // of the rollups for one host is a scan of them all, and a busy server is on most rows).
  const both = o.groups
    ? keepGroups(db, 'host_groups', HOST_GROUP_COLUMNS, o.groups, { addresses: [address] })
    : keepGroups(db, 'host_groups', HOST_GROUP_COLUMNS, flowGroups(db, { ...base, host: address }, [], [], { by: ['rpc_interface', 'rpc_interfaces'] }));
  const totals = db
    .prepare(`SELECT coalesce(sum(f.flows), 0) AS flows, coalesce(sum(f.bytes), 0) AS bytes, ${SPAN()} FROM ${both.sql} f`)
    .get(...both.args) as { flows: number; bytes: number; first_sec: number | null; first_nsec: number | null; last_sec: number | null; last_nsec: number | null };
  const serves = bySide(db, address, 'server', both, limit);
  const uses = bySide(db, address, 'client', both, limit);
  const peerSql = `SELECT CASE WHEN f.server = ? THEN 'serves' ELSE 'uses' END AS side,
                          CASE WHEN f.server = ? THEN f.client ELSE f.server END AS peer,
                          CASE WHEN f.server = ? THEN coalesce(f.client_role, '${NO_ROLE}') ELSE coalesce(f.server_role, '${NO_ROLE}') END AS peer_role,
                          coalesce(f.service, '(unknown)') AS service, f.transport || '/' || f.server_port AS port,
                          sum(f.flows) AS flows, sum(f.bytes) AS bytes, group_concat(DISTINCT f.verdict) AS verdicts, count(*) OVER () AS groups_in_all
                   FROM ${both.sql} f
                   GROUP BY side, peer, service, f.transport, f.server_port`;
  const peerArgs = [address, address, address, ...both.args];
  const peerRows = cappedRows(db.prepare(`${peerSql} ORDER BY bytes DESC, flows DESC, side, peer, service, f.transport, f.server_port LIMIT ?`).all(...peerArgs, Math.max(limit, 1)) as Row[], limit);
  const peerMore = peerRows.more;
  const peers = peerRows.rows.map((r) => ({ ...r, verdicts: r.verdicts === null ? null : String(r.verdicts).split(',').sort().join(',') }));
  const findings = unexpectedFrom(db, { sql: `(SELECT * FROM ${both.sql} f WHERE f.verdict IN ('unexpected', 'unknown'))`, args: [] });
  db.exec(`DROP TABLE ${both.sql}`);
  const endpoints = queryEndpoints(db, { server: address, capture: f.capture });
  return {
    address,
    host,
    flows: totals.flows,
    bytes: totals.bytes,
    first_seen: isoTime(totals.first_sec, totals.first_nsec),
    last_seen: isoTime(totals.last_sec, totals.last_nsec),
    serves: serves.rows,
    uses: uses.rows,
    peers,
    findings,
    rpc_endpoints: endpoints.slice(0, limit),
    names: hostNames(db, address, limit),
    protection: hostProtection(db, rules, address, { groups: o.protection }).slice(0, limit),
    omitted: { serves: serves.more, uses: uses.more, peers: peerMore, rpc_endpoints: Math.max(0, endpoints.length - limit) },
  };
}
