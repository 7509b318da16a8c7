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

export function writeHostRoles(db: Db, hosts: { roles: HostRoles; activity: HostActivity }[]): void {
  const update = db.prepare(
    `UPDATE hosts SET name = @name, site = @site, version = @version, roles = @roles, role_source = @source, confidence = @confidence,
       evidence = @evidence, serves = @serves, uses = @uses, disagreement = @disagreement WHERE address = @address`,
  );
  db.transaction(() => {
    for (const { roles: h, activity: a } of hosts) {
      update.run({
        address: h.address,
        name: h.entry?.name ?? null,
        site: h.entry?.site ?? null,
        version: h.entry?.version ?? null,
        roles: h.roles.length ? h.roles.join(',') : null,
        source: h.source,
        confidence: h.confidence,
        evidence: JSON.stringify(h.evidence),
        serves: JSON.stringify([...a.serves].sort()),
        uses: JSON.stringify([...a.uses].sort()),
        disagreement: h.disagreement,
      });
    }
  })();
}

export interface FlowKey {
  client: string;
  server: string;
  transport: string;
  serverPort: number;
  service: string | null;
}

/**
 * Sets client_role, server_role, verdict, rule and reason on every flow. The verdict
 * depends only on the two hosts and the service (and the port, for the reason text),
 * so it is decided once per distinct combination.
 */
export function writeVerdicts(db: Db, judge: (k: FlowKey) => Verdict): Record<string, number> {
  const keys = db
    .prepare('SELECT DISTINCT client, server, transport, server_port AS serverPort, service FROM flows')
    .all() as FlowKey[];
  const update: Statement = db.prepare(
    `UPDATE flows SET client_role = @clientRole, server_role = @serverRole, verdict = @verdict, rule = @rule, reason = @reason
     WHERE server = @server AND transport = @transport AND server_port = @serverPort AND client = @client AND service IS @service`,
  );
  const counts: Record<string, number> = { expected: 0, unexpected: 0, unknown: 0 };
  db.transaction(() => {
    for (const k of keys) {
      const v = judge(k);
      counts[v.verdict] += update.run({ ...k, ...v }).changes;
    }
  })();
  return counts;
}
