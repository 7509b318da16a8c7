import type { Statement } from 'better-sqlite3';
import type { Verdict } from '../audit/verdict';
import type { HostActivity, HostRoles } from '../classify/roles';
import type { Db } from './db';

/** A flow that was answered: the server really served it (not a refused or unanswered attempt). */
const ANSWERED = `(tcp_state IN ('established', 'closed', 'reset', 'midstream') OR (transport = 'udp' AND packets_s2c > 0))`;

/** What every host in the database served and used, by service. */
export function hostActivity(db: Db): HostActivity[] {
  const hosts = new Map<string, HostActivity>();
  const get = (address: string) => {
    let h = hosts.get(address);
    if (!h) hosts.set(address, (h = { address, serves: new Set(), uses: new Set() }));
    return h;
  };
  for (const { address } of db.prepare('SELECT address FROM hosts').all() as { address: string }[]) get(address);
  const rows = db
    .prepare(`SELECT DISTINCT client, server, service FROM flows WHERE service IS NOT NULL AND ${ANSWERED}`)
    .all() as { client: string; server: string; service: string }[];
  for (const r of rows) {
    get(r.server).serves.add(r.service);
    get(r.client).uses.add(r.service);
  }
  return [...hosts.values()];
}

export interface StoredInventoryRow {
  address: string;
  roles: string[];
  name: string | null;
  site: string | null;
  version: string | null;
  source: string;
}

export function saveInventory(db: Db, rows: StoredInventoryRow[]): void {
  const insert = db.prepare('INSERT INTO inventory (address, roles, name, site, version, source) VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    db.prepare('DELETE FROM inventory').run();
    for (const r of rows) insert.run(r.address, JSON.stringify(r.roles), r.name, r.site, r.version, r.source);
  })();
}

export function readInventory(db: Db): StoredInventoryRow[] {
  return (db.prepare('SELECT address, roles, name, site, version, source FROM inventory ORDER BY id').all() as (Omit<StoredInventoryRow, 'roles'> & { roles: string })[]).map((r) => ({
    ...r,
    roles: JSON.parse(r.roles) as string[],
  }));
}

/**
 * Stores each host's roles and activity; only rows whose values changed are
 * written. Returns the addresses whose roles changed.
 */
export function writeHostRoles(db: Db, hosts: { roles: HostRoles; activity: HostActivity }[]): Set<string> {
  const rolesChanged = new Set<string>();
  const cols = ['name', 'site', 'version', 'roles', 'role_source', 'confidence', 'evidence', 'serves', 'uses', 'disagreement'] as const;
  const current = new Map(
    (db.prepare(`SELECT address, ${cols.join(', ')} FROM hosts`).raw().all() as (string | null)[][]).map((r) => [r[0] as string, r.slice(1)]),
  );
  const update = db.prepare(`UPDATE hosts SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE address = ?`);
  db.transaction(() => {
    for (const { roles: h, activity: a } of hosts) {
      const values = [
        h.entry?.name ?? null,
        h.entry?.site ?? null,
        h.entry?.version ?? null,
        h.roles.length ? h.roles.join(',') : null,
        h.source,
        h.confidence,
        JSON.stringify(h.evidence),
        JSON.stringify([...a.serves].sort()),
        JSON.stringify([...a.uses].sort()),
        h.disagreement,
      ];
      const had = current.get(h.address);
      if (!had || had[3] !== values[3]) rolesChanged.add(h.address);
      if (had && had.every((v, i) => v === values[i])) continue;
      update.run(...values, h.address);
    }
  })();
  return rolesChanged;
}

/** Roles stored by earlier runs, by address. */
export function storedRoles(db: Db): Map<string, string[]> {
  const rows = db.prepare('SELECT address, roles FROM hosts WHERE roles IS NOT NULL').raw().all() as [string, string][];
  return new Map(rows.map(([a, r]) => [a, r.split(',')]));
}

export interface FlowKey {
  client: string;
  server: string;
  transport: string;
  serverPort: number;
  service: string | null;
}

/**
 * Judges flows again and writes the verdicts that changed, by row id: every flow
 * (`hosts` null), or those with a client or server in `hosts`. The verdict depends
 * only on the two hosts, the service and the port, so it is decided once per
 * distinct combination. Returns the counts over the whole database.
 */
export function writeVerdicts(db: Db, judge: (k: FlowKey) => Verdict, hosts: Set<string> | null): Record<string, number> {
  let where = '';
  if (hosts !== null) {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS changed_hosts (address TEXT PRIMARY KEY); DELETE FROM changed_hosts;');
    const add = db.prepare('INSERT OR IGNORE INTO changed_hosts (address) VALUES (?)');
    db.transaction(() => {
      for (const h of hosts) add.run(h);
    })();
    where = 'WHERE client IN (SELECT address FROM changed_hosts) OR server IN (SELECT address FROM changed_hosts)';
  }
  const rows = db
    .prepare(`SELECT id, client, server, transport, server_port, service, client_role, server_role, verdict, rule, reason FROM flows ${where}`)
    .raw()
    .all() as [number, string, string, string, number, string | null, string | null, string | null, string | null, string | null, string | null][];
  const update: Statement = db.prepare('UPDATE flows SET client_role = ?, server_role = ?, verdict = ?, rule = ?, reason = ? WHERE id = ?');
  const cache = new Map<string, Verdict>();
  db.transaction(() => {
    for (const [id, client, server, transport, serverPort, service, cr, sr, verdict, rule, reason] of rows) {
      const key = `${client}|${server}|${transport}|${serverPort}|${service}`;
      let v = cache.get(key);
      if (!v) cache.set(key, (v = judge({ client, server, transport, serverPort, service })));
      if (cr !== v.clientRole || sr !== v.serverRole || verdict !== v.verdict || rule !== v.rule || reason !== v.reason) {
        update.run(v.clientRole, v.serverRole, v.verdict, v.rule, v.reason, id);
      }
    }
  })();
  const counts: Record<string, number> = { expected: 0, unexpected: 0, unknown: 0 };
  for (const [v, n] of db.prepare('SELECT verdict, count(*) FROM flows WHERE verdict IS NOT NULL GROUP BY verdict').raw().all() as [string, number][]) counts[v] = n;
  return counts;
}
