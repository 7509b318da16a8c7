// report protection: the protection audit's findings (rules/protection.yaml), most
// severe first, each with the flows, the hosts and the accounts involved, examples,
// what to do and where the requirement is written. The findings were raised as the
// flows were written (flows.protection); this only counts them.
import type { Db } from '../store/db';
import type { RuleSet } from '../rules/load';
import { SEVERITIES } from '../rules/protection';
import { flowWhere, hasFinding, type FlowFilter } from './filter';
import { isoTime, type Row } from './format';

export const PROTECTION_COLUMNS = ['severity', 'finding', 'title', 'flows', 'clients', 'servers', 'accounts', 'hosts', 'examples', 'first_seen', 'last_seen', 'advice', 'cite'];
export const PROTECTION_TABLE_COLUMNS = ['severity', 'finding', 'flows', 'examples', 'accounts', 'clients', 'servers', 'title'];

/** The protection column as a set of rows: one per finding id of a flow (parsed; a part that is no id is left out). */
export const FINDING_IDS = 'json_each(finding_ids(f.protection))';

const HAS_FINDING = hasFinding('f');

const SHOWN = 5;

export function protectionReport(db: Db, rules: RuleSet, f: FlowFilter): Row[] {
  const base = flowWhere(f, 'f');
  // The partial index flows_protection holds just the flows with findings.
  const w = { ...base, sql: `${base.sql ? `${base.sql} AND` : 'WHERE'} f.protection IS NOT NULL` };
  const counts = db
    .prepare(
      `SELECT j.value AS finding, count(*) AS flows, count(DISTINCT f.client) AS clients, count(DISTINCT f.server) AS servers,
              min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec
       FROM ${w.view} f, ${FINDING_IDS} j ${w.sql} GROUP BY j.value`,
    )
    .all(...w.args) as { finding: string; flows: number; clients: number; servers: number; first_sec: number; last_sec: number }[];
  const byId = new Map(rules.protection.map((p) => [p.id, p]));
  const listOf = (sql: string, id: string) => db.prepare(sql).pluck().all(...w.args, id) as string[];
  const and = `${w.sql} AND`;
  const rows = counts.map((c) => {
    const p = byId.get(c.finding);
    return {
      severity: p?.severity ?? 'info',
      finding: c.finding,
      title: p?.title ?? '(a finding the current rules do not define)',
      flows: c.flows,
      clients: c.clients,
      servers: c.servers,
      accounts: listOf(`SELECT DISTINCT f.auth_account FROM ${w.view} f ${and} ${HAS_FINDING} AND f.auth_account IS NOT NULL LIMIT ${SHOWN}`, c.finding),
      hosts: listOf(`SELECT DISTINCT f.client FROM ${w.view} f ${and} ${HAS_FINDING} LIMIT ${SHOWN}`, c.finding),
      // Distinct examples, in the order first seen.
      examples: listOf(
        `SELECT ex FROM (SELECT f.client || ' → ' || f.server || ':' || f.server_port || '/' || f.transport || coalesce(' ' || f.service, '') AS ex, min(f.id) AS first
                         FROM ${w.view} f ${and} ${HAS_FINDING} GROUP BY ex) ORDER BY first LIMIT 3`,
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
  const rows = db
    .prepare(
      `SELECT j.value AS finding, CASE WHEN f.client = ? THEN 'client' ELSE 'server' END AS side, count(*) AS flows,
              group_concat(DISTINCT f.auth_account) AS accounts
       FROM flow_seen f, ${FINDING_IDS} j WHERE f.protection IS NOT NULL AND (f.client = ? OR f.server = ?) GROUP BY 1, 2`,
    )
    .all(address, address, address) as { finding: string; side: string; flows: number; accounts: string | null }[];
  const byId = new Map((rules?.protection ?? []).map((p) => [p.id, p]));
  const rank = (id: string) => SEVERITIES.indexOf(byId.get(id)?.severity ?? 'info');
  return rows
    .sort((a, b) => rank(a.finding) - rank(b.finding) || b.flows - a.flows)
    .map((r) => ({ severity: byId.get(r.finding)?.severity ?? 'info', finding: r.finding, as: r.side, flows: r.flows, accounts: r.accounts ? r.accounts.split(',').slice(0, SHOWN) : [], title: byId.get(r.finding)?.title ?? '' }));
}
