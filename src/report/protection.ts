// report protection: the protection audit's findings (rules/protection.yaml), most
// severe first, each with the flows, the hosts and the accounts involved, examples,
// what to do and where the requirement is written. The findings were raised as the
// flows were written (flows.protection); this only counts them.
import type { Db } from '../store/db';
import type { RuleSet } from '../rules/load';
import { SEVERITIES } from '../rules/protection';
import type { FlowFilter } from './filter';
import { isoTime, type Row } from './format';
import { firstNs, flowGroups, keepGroups, lastNs, secNsec, type Groups } from './groups';
import { storedIds } from '../store/lists';

export const PROTECTION_COLUMNS = ['severity', 'finding', 'title', 'flows', 'clients', 'servers', 'accounts', 'hosts', 'examples', 'first_seen', 'last_seen', 'advice', 'cite'];
export const PROTECTION_TABLE_COLUMNS = ['severity', 'finding', 'flows', 'examples', 'accounts', 'clients', 'servers', 'title'];

/** The protection column as a set of rows: one per finding id of a flow (parsed; a part that is no id is left out). */
export const FINDING_IDS = 'json_each(finding_ids(f.protection))';
/** The same for the lists of rows p grouped by their list first. */
const LIST_IDS = 'json_each(finding_ids(p.protection))';


const SHOWN = 5;

export function protectionReport(db: Db, rules: RuleSet, f: FlowFilter): Row[] {
  const g = flowGroups(db, f, ['f.protection IS NOT NULL'], [], { judged: false });
  // The groups with findings read once, added up per list, pair, port and service into a
  // temporary table the four passes below read (each pass over the groups cost a scan of the rollups).
  db.exec('DROP TABLE IF EXISTS temp.protection_groups');
  db.prepare(
    `CREATE TEMP TABLE protection_groups AS
     SELECT f.protection, f.client, f.server, f.server_port, f.transport, f.service, f.account, sum(f.flows) AS flows, ${firstNs()} AS first_ns,
       ${lastNs()} AS last_ns
     FROM ${g.sql} f GROUP BY f.protection, f.client, f.server, f.server_port, f.transport, f.service, f.account`,
  ).run(...g.args);
  const groups = 'temp.protection_groups';
  // Grouped by the stored list first (few distinct lists), each list then split into its ids: the
  // split is a function call a row, too dear for every row of a large database.
  const byList = (inner: string, outer: string, also = '') => `SELECT j.value AS finding, ${outer} FROM (${inner}) p, ${LIST_IDS} j GROUP BY j.value${also}`;
  const counts = db
    .prepare(byList(`SELECT f.protection, f.client, sum(f.flows) AS flows, min(f.first_ns) AS first_ns, max(f.last_ns) AS last_ns FROM ${groups} f GROUP BY 1, 2`,
      `sum(p.flows) AS flows, count(DISTINCT p.client) AS clients, ${secNsec('min(p.first_ns)', 'first')}, ${secNsec('max(p.last_ns)', 'last')}`))
    .all() as { finding: string; flows: number; clients: number; first_sec: number; first_nsec: number; last_sec: number; last_nsec: number }[];
  const servers = new Map(
    (db.prepare(byList(`SELECT DISTINCT f.protection, f.server FROM ${groups} f`, 'count(DISTINCT p.server) AS n')).raw().all() as [string, number][]),
  );
  // Per finding, in one pass each (not a pass per finding): the accounts (a rollup key column, each
  // group with its earliest flow), the clients and the distinct examples, each in the order first seen.
  const firstFew = (sql: string, args: (string | number)[], n: number) => {
    const out = new Map<string, string[]>();
    const rows = db
      .prepare(`SELECT finding, value FROM (SELECT finding, value, row_number() OVER (PARTITION BY finding ORDER BY first, value) AS rank FROM (${sql})) WHERE rank <= ${n} ORDER BY finding, rank`)
      .raw()
      .all(...args) as [string, string][];
    for (const [finding, value] of rows) out.set(finding, [...(out.get(finding) ?? []), value]);
    return out;
  };
  const accounts = firstFew(
    byList(`SELECT f.protection, f.account AS value, min(f.first_ns) AS first FROM ${groups} f WHERE f.account IS NOT NULL GROUP BY 1, 2`, 'p.value, min(p.first) AS first', ', p.value'),
    [],
    SHOWN,
  );
  // The clients and examples of each finding, the first seen first: one pass over the groups in
  // the order of their earliest flow, then of their key (the flows' own order, not their ids').
  const hosts = new Map<string, string[]>();
  const examples = new Map<string, string[]>();
  const firstOf = (to: Map<string, string[]>, finding: string, value: string, n: number) => {
    const at = to.get(finding) ?? [];
    if (at.length < n && !at.includes(value)) at.push(value);
    to.set(finding, at);
  };
  const walk = db.prepare(`SELECT protection, client, server, server_port, transport, service FROM ${groups} ORDER BY first_ns, client, server, server_port, transport, service`).raw();
  // The walk stops once every finding has all it shows: SHOWN clients (or all it has) and three
  // examples (a finding of fewer than three clients may have fewer: it is walked to the end).
  const clientsOf = new Map(counts.map((c) => [c.finding, c.clients]));
  let open = counts.length;
  const full = (finding: string) => (hosts.get(finding)?.length ?? 0) >= Math.min(SHOWN, clientsOf.get(finding) ?? SHOWN) && (examples.get(finding)?.length ?? 0) >= 3;
  const done = new Set<string>();
  for (const [list, client, server, port, transport, service] of walk.iterate() as IterableIterator<[string, string, string, number, string, string | null]>) {
    for (const finding of storedIds(list)) {
      if (done.has(finding)) continue;
      firstOf(hosts, finding, client, SHOWN);
      firstOf(examples, finding, `${client} → ${server}:${port}/${transport}${service !== null ? ` ${service}` : ''}`, 3);
      if (full(finding)) {
        done.add(finding);
        open--;
      }
    }
    if (open === 0) break;
  }
  db.exec('DROP TABLE temp.protection_groups');
  const byId = new Map(rules.protection.map((p) => [p.id, p]));
  const rows = counts.map((c) => {
    const p = byId.get(c.finding);
    return {
      severity: p?.severity ?? 'info',
      finding: c.finding,
      title: p?.title ?? '(a finding the current rules do not define)',
      flows: c.flows,
      clients: c.clients,
      servers: servers.get(c.finding) ?? 0,
      accounts: accounts.get(c.finding) ?? [],
      hosts: hosts.get(c.finding) ?? [],
      examples: examples.get(c.finding) ?? [],
      first_seen: isoTime(c.first_sec, c.first_nsec),
      last_seen: isoTime(c.last_sec, c.last_nsec),
      advice: p?.advice ?? '',
      cite: p?.cite ?? [],
    };
  });
  const rank = (s: string) => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  return rows.sort((a, b) => rank(a.severity) - rank(b.severity) || b.flows - a.flows || a.finding.localeCompare(b.finding));
}

/** The columns of the groups hostProtection may be given (a caller that reads them once for many hosts, or of all time). */
export const PROTECTION_GROUP_COLUMNS = 'f.protection, f.client, f.server, f.account, f.flows, f.first_sec, f.first_nsec';

/**
 * Every group with protection findings, of all time whatever a filter asks (what a host's story
 * lists), kept in the temporary table `name` — those of `addresses` alone where given — indexed by
 * client and server: for a caller that reads them host by host.
 */
export function keepProtectionGroups(db: Db, name: string, addresses?: string[]): Groups {
  return keepGroups(db, name, PROTECTION_GROUP_COLUMNS, flowGroups(db, {}, ['f.protection IS NOT NULL'], [], { judged: false }), { addresses, indexed: true });
}

/** Per host: the findings of the flows it is client or server of (host ADDR). */
export function hostProtection(db: Db, rules: RuleSet | null, address: string, o: { groups?: Groups } = {}): Row[] {
  const side = `CASE WHEN f.client = ? THEN 'client' ELSE 'server' END`;
  // `o.groups`: groups with findings (protection, client, server, account, flows, first_sec, first_nsec) of several hosts, read once for all of them.
  const g = o.groups
    ? { sql: `(SELECT * FROM ${o.groups.sql} f WHERE f.client = ? OR f.server = ?)`, args: [...o.groups.args, address, address] }
    : flowGroups(db, { host: address }, ['f.protection IS NOT NULL'], [], { judged: false });
  // Each stored list split into its ids once per side (not once per row: a server is on most rows).
  const rows = db
    .prepare(
      `SELECT j.value AS finding, p.side, sum(p.flows) AS flows
       FROM (SELECT f.protection, ${side} AS side, sum(f.flows) AS flows FROM ${g.sql} f GROUP BY 1, 2) p, ${LIST_IDS} j GROUP BY 1, 2`,
    )
    .all(address, ...g.args) as { finding: string; side: string; flows: number }[];
  // The accounts (a rollup key column), each with its earliest flow's first packet, in one pass for every finding
  // and side: the first seen are shown, as report protection shows them.
  const accountRows = db
    .prepare(
      `SELECT j.value AS finding, p.side, p.account, min(p.first) AS first
       FROM (SELECT f.protection, ${side} AS side, f.account, ${firstNs()} AS first FROM ${g.sql} f WHERE f.account IS NOT NULL GROUP BY 1, 2, 3) p,
            ${LIST_IDS} j
       GROUP BY 1, 2, 3 ORDER BY 1, 2, 4, 3`,
    )
    .all(address, ...g.args) as { finding: string; side: string; account: string; first: number }[];
  const accounts = new Map<string, string[]>();
  for (const r of accountRows) {
    const key = `${r.finding}|${r.side}`;
    accounts.set(key, [...(accounts.get(key) ?? []), r.account]);
  }
  const byId = new Map((rules?.protection ?? []).map((p) => [p.id, p]));
  const rank = (id: string) => SEVERITIES.indexOf(byId.get(id)?.severity ?? 'info');
  return rows
    .sort((a, b) => rank(a.finding) - rank(b.finding) || b.flows - a.flows || a.finding.localeCompare(b.finding) || a.side.localeCompare(b.side))
    .map((r) => {
      const list = accounts.get(`${r.finding}|${r.side}`) ?? [];
      return { severity: byId.get(r.finding)?.severity ?? 'info', finding: r.finding, as: r.side, flows: r.flows, accounts: list.slice(0, SHOWN), title: byId.get(r.finding)?.title ?? '' };
    });
}
