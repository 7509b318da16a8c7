// report protection: the protection audit's findings (rules/protection.yaml), most
// severe first, each with the flows, the hosts and the accounts involved, examples,
// what to do and where the requirement is written. The findings were raised as the
// flows were written (flows.protection); this only counts them.
import type { Db } from '../store/db';
import type { RuleSet } from '../rules/load';
import { SEVERITIES } from '../rules/protection';
import { flowWhere, hasFinding, type FlowFilter } from './filter';
import { isoTime, type Row } from './format';
import { flowGroups } from './groups';

export const PROTECTION_COLUMNS = ['severity', 'finding', 'title', 'flows', 'clients', 'servers', 'accounts', 'hosts', 'examples', 'first_seen', 'last_seen', 'advice', 'cite'];
export const PROTECTION_TABLE_COLUMNS = ['severity', 'finding', 'flows', 'examples', 'accounts', 'clients', 'servers', 'title'];

/** The protection column as a set of rows: one per finding id of a flow (parsed; a part that is no id is left out). */
export const FINDING_IDS = 'json_each(finding_ids(f.protection))';

const HAS_FINDING = hasFinding('f');

const SHOWN = 5;

export function protectionReport(db: Db, rules: RuleSet, f: FlowFilter): Row[] {
  const g = flowGroups(db, f, ['f.protection IS NOT NULL']);
  const counts = db
    .prepare(
      `SELECT j.value AS finding, sum(f.flows) AS flows, count(DISTINCT f.client) AS clients, count(DISTINCT f.server) AS servers,
              min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec
       FROM ${g.sql} f, ${FINDING_IDS} j GROUP BY j.value`,
    )
    .all(...g.args) as { finding: string; flows: number; clients: number; servers: number; first_sec: number; last_sec: number }[];
  // The accounts are the flows' own (no rollup keeps them): read through the partial index flows_protection.
  const base = flowWhere(f, 'f');
  const w = { ...base, sql: `${base.sql ? `${base.sql} AND` : 'WHERE'} f.protection IS NOT NULL` };
  const byId = new Map(rules.protection.map((p) => [p.id, p]));
  const listOf = (sql: string, args: (string | number)[], id: string) => db.prepare(sql).pluck().all(...args, id) as string[];
  const rows = counts.map((c) => {
    const p = byId.get(c.finding);
    return {
      severity: p?.severity ?? 'info',
      finding: c.finding,
      title: p?.title ?? '(a finding the current rules do not define)',
      flows: c.flows,
      clients: c.clients,
      servers: c.servers,
      accounts: listOf(`SELECT DISTINCT f.auth_account FROM ${w.view} f ${w.sql} AND ${HAS_FINDING} AND f.auth_account IS NOT NULL LIMIT ${SHOWN}`, w.args, c.finding),
      // The clients and the distinct examples in the order first seen.
      hosts: listOf(`SELECT f.client FROM ${g.sql} f WHERE ${HAS_FINDING} GROUP BY f.client ORDER BY min(f.first_id) LIMIT ${SHOWN}`, g.args, c.finding),
      examples: listOf(
        `SELECT ex FROM (SELECT f.client || ' → ' || f.server || ':' || f.server_port || '/' || f.transport || coalesce(' ' || f.service, '') AS ex, min(f.first_id) AS first
                         FROM ${g.sql} f WHERE ${HAS_FINDING} GROUP BY ex) ORDER BY first LIMIT 3`,
        g.args,
        c.finding,
      ),
      first_seen: isoTime(c.first_sec, 0),
      last_seen: isoTime(c.last_sec, 0),
      advice: p?.advice ?? '',
      cite: p?.cite ?? [],
    };
  });
  const rank = (s: string) => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  return rows.sort((a, b) => rank(a.severity) - rank(b.severity) || b.flows - a.flows || a.finding.localeCompare(b.finding));
}

/** Per host: the findings of the flows it is client or server of (host ADDR). */
export function hostProtection(db: Db, rules: RuleSet | null, address: string): Row[] {
  const side = `CASE WHEN f.client = ? THEN 'client' ELSE 'server' END`;
  const g = flowGroups(db, { host: address }, ['f.protection IS NOT NULL']);
  const rows = db
    .prepare(`SELECT j.value AS finding, ${side} AS side, sum(f.flows) AS flows FROM ${g.sql} f, ${FINDING_IDS} j GROUP BY 1, 2`)
    .all(address, ...g.args) as { finding: string; side: string; flows: number }[];
  // The accounts are the flows' own, read through the address indexes.
  const accounts = db.prepare(
    `SELECT group_concat(DISTINCT f.auth_account) FROM flow_seen f, ${FINDING_IDS} j
     WHERE f.protection IS NOT NULL AND (f.client = ? OR f.server = ?) AND j.value = ? AND ${side} = ?`,
  ).pluck();
  const byId = new Map((rules?.protection ?? []).map((p) => [p.id, p]));
  const rank = (id: string) => SEVERITIES.indexOf(byId.get(id)?.severity ?? 'info');
  return rows
    .sort((a, b) => rank(a.finding) - rank(b.finding) || b.flows - a.flows || a.finding.localeCompare(b.finding) || a.side.localeCompare(b.side))
    .map((r) => {
      const list = accounts.get(address, address, r.finding, address, r.side) as string | null;
      return { severity: byId.get(r.finding)?.severity ?? 'info', finding: r.finding, as: r.side, flows: r.flows, accounts: list ? list.split(',').slice(0, SHOWN) : [], title: byId.get(r.finding)?.title ?? '' };
    });
}
