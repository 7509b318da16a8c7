// Host roles and flow verdicts in the database. Everything here works in SQL or in
// pages of PAGE rows, so memory stays flat however many hosts and flows there are.
import type { Verdict, VerdictFacts } from '../audit/verdict';
import type { HostActivity, HostRoles } from '../classify/roles';
import type { Db } from './db';

const PAGE = 5000;

/** A flow that was answered: the server really served it (not a refused or unanswered attempt). */
const ANSWERED = `(tcp_state IN ('established', 'closed', 'reset', 'midstream') OR (transport = 'udp' AND packets_s2c > 0))`;

/**
 * Refreshes hosts.serves and hosts.uses (JSON arrays of services) from the flows,
 * in SQL: what each host answered as a server, and what it opened as a client.
 */
export function refreshHostActivity(db: Db): void {
  db.exec(`
    DROP TABLE IF EXISTS temp.host_serves;
    DROP TABLE IF EXISTS temp.host_uses;
    CREATE TEMP TABLE host_serves AS
      SELECT server AS address, json_group_array(service) AS services
      FROM (SELECT DISTINCT server, service FROM flows WHERE service IS NOT NULL AND ${ANSWERED} ORDER BY server, service) GROUP BY server;
    CREATE TEMP TABLE host_uses AS
      SELECT client AS address, json_group_array(service) AS services
      FROM (SELECT DISTINCT client, service FROM flows WHERE service IS NOT NULL AND ${ANSWERED} ORDER BY client, service) GROUP BY client;
    CREATE UNIQUE INDEX temp.host_serves_a ON host_serves (address);
    CREATE UNIQUE INDEX temp.host_uses_a ON host_uses (address);
    UPDATE hosts SET
      serves = coalesce((SELECT services FROM host_serves s WHERE s.address = hosts.address), '[]'),
      uses = coalesce((SELECT services FROM host_uses u WHERE u.address = hosts.address), '[]');
    DROP TABLE temp.host_serves;
    DROP TABLE temp.host_uses;
  `);
}

/** One page of hosts at a time, with what they serve and use. */
export function* hostPages(db: Db): Generator<HostActivity[]> {
  const page = db.prepare('SELECT address, serves, uses FROM hosts WHERE address > ? ORDER BY address LIMIT ?');
  let after = '';
  for (;;) {
    const rows = page.raw().all(after, PAGE) as [string, string | null, string | null][];
    if (rows.length === 0) return;
    after = rows[rows.length - 1][0];
    yield rows.map(([address, serves, uses]) => ({ address, serves: new Set(JSON.parse(serves ?? '[]') as string[]), uses: new Set(JSON.parse(uses ?? '[]') as string[]) }));
  }
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
 * Stores one page of hosts' roles; only rows whose values changed are written, and
 * the addresses whose roles changed go into the temp table changed_hosts (for
 * writeVerdicts). Call startRoleUpdate() first.
 */
export function writeHostRoles(db: Db, hosts: HostRoles[]): void {
  const cols = ['name', 'site', 'version', 'roles', 'role_source', 'confidence', 'evidence', 'disagreement', 'version_source'] as const;
  const read = db.prepare(`SELECT ${cols.join(', ')} FROM hosts WHERE address = ?`);
  const update = db.prepare(`UPDATE hosts SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE address = ?`);
  const changed = db.prepare('INSERT OR IGNORE INTO changed_hosts (address) VALUES (?)');
  db.transaction(() => {
    for (const h of hosts) {
      const values = [
        h.entry?.name ?? null,
        h.entry?.site ?? null,
        h.entry?.version ?? null,
        h.roles.length ? h.roles.join(',') : null,
        h.source,
        h.confidence,
        h.evidence.length ? JSON.stringify(h.evidence) : null,
        h.disagreement,
        h.entry?.version ? 'inventory' : null,
      ];
      const had = read.raw().get(h.address) as (string | null)[] | undefined;
      if (!had || had[3] !== values[3]) changed.run(h.address);
      if (had && had.every((v, i) => v === values[i])) continue;
      update.run(...values, h.address);
    }
  })();
}

/**
 * Versions the wire showed (a server's own X-OWA-Version) for hosts the inventory
 * gives none: version_source 'wire'; those hosts are judged again (changed_hosts).
 * Returns how many hosts got one.
 */
export function writeWireVersions(db: Db): number {
  return db.transaction(() => {
    const seen = `SELECT f.server AS address, max(f.server_version) AS v FROM flows f WHERE f.server_version IS NOT NULL GROUP BY f.server`;
    db.exec(`INSERT OR IGNORE INTO changed_hosts (address) SELECT w.address FROM (${seen}) w JOIN hosts h ON h.address = w.address WHERE h.version IS NULL`);
    return db.prepare(`UPDATE hosts SET version = w.v, version_source = 'wire' FROM (${seen}) w WHERE hosts.address = w.address AND hosts.version IS NULL`).run().changes;
  })();
}

export function startRoleUpdate(db: Db): void {
  db.exec('CREATE TEMP TABLE IF NOT EXISTS changed_hosts (address TEXT PRIMARY KEY); DELETE FROM changed_hosts;');
}

/** Hosts with roles (stored by earlier runs), by address: the hosts that have any, not all hosts. */
export function storedRoles(db: Db): Map<string, string[]> {
  const rows = db.prepare('SELECT address, roles FROM hosts WHERE roles IS NOT NULL').raw().all() as [string, string][];
  return new Map(rows.map(([a, r]) => [a, r.split(',')]));
}

/** Each host whose inventory entry the traffic contradicts, as "address: what disagrees". */
export function disagreements(db: Db): string[] {
  return (db.prepare('SELECT address, disagreement FROM hosts WHERE disagreement IS NOT NULL ORDER BY address').raw().all() as [string, string][]).map(([a, d]) => `${a}: ${d}`);
}

export function roleSourceCounts(db: Db): { hosts: number; inventory: number; inferred: number } {
  const r = db.prepare(`SELECT count(*) AS hosts, sum(role_source = 'inventory') AS inventory, sum(role_source = 'inferred') AS inferred FROM hosts`).get() as { hosts: number; inventory: number | null; inferred: number | null };
  return { hosts: r.hosts, inventory: r.inventory ?? 0, inferred: r.inferred ?? 0 };
}

/** Judges a flow by its facts, the two sides' roles and their Exchange versions as the hosts table has them ('' = none). */
type Judge = (k: VerdictFacts, clientRoles: string[], serverRoles: string[], clientVersion: string, serverVersion: string) => Verdict;

/**
 * Judges flows again with the roles stored in hosts and writes the verdicts that
 * changed: every flow (`all`), or those with a client or server in the temp table
 * changed_hosts. In sets, not row by row: a verdict depends only on the two sides'
 * roles, the service, the transport and — for an unnamed service — the port, so
 * each distinct combination is judged once (in JS, by the matrix) into a temp
 * table, and one UPDATE … FROM applies them all in SQLite. Returns the counts over
 * the database.
 */
export function writeVerdicts(db: Db, judge: Judge, all: boolean): Record<string, number> {
  const only = all ? '' : 'WHERE (f.client IN (SELECT address FROM changed_hosts) OR f.server IN (SELECT address FROM changed_hosts))';
  // The key of a flow's verdict, as SQL over flows f joined with its hosts hc and hs.
  const keyOf = `coalesce(hc.roles, '') AS cr, coalesce(hs.roles, '') AS sr, f.service AS service, f.transport AS transport,
                 CASE WHEN f.service IS NULL THEN f.server_port END AS port, coalesce(hc.version, '') AS cv, coalesce(hs.version, '') AS sv`;
  const joins = 'FROM flows f LEFT JOIN hosts hc ON hc.address = f.client LEFT JOIN hosts hs ON hs.address = f.server';
  db.exec(`DROP TABLE IF EXISTS temp.judged;
    CREATE TEMP TABLE judged (cr TEXT, sr TEXT, service TEXT, transport TEXT, port INTEGER, cv TEXT, sv TEXT,
      client_role TEXT, server_role TEXT, verdict TEXT, rule TEXT, reason TEXT)`);
  const keys = db.prepare(`SELECT DISTINCT ${keyOf} ${joins} ${only}`).raw().all() as [string, string, string | null, string, number | null, string, string][];
  const put = db.prepare('INSERT INTO judged VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const [cr, sr, service, transport, port, cv, sv] of keys) {
      const v = judge({ transport, serverPort: port ?? 0, service }, cr ? cr.split(',') : [], sr ? sr.split(',') : [], cv, sv);
      put.run(cr, sr, service, transport, port, cv, sv, v.clientRole, v.serverRole, v.verdict, v.rule, v.reason);
    }
  })();
  db.exec('CREATE INDEX temp.judged_key ON judged (cr, sr, service, transport, port)');
  db.prepare(
    `UPDATE flows SET client_role = x.client_role, server_role = x.server_role, verdict = x.verdict, rule = x.rule, reason = x.reason
     FROM (SELECT f.id, j.client_role, j.server_role, j.verdict, j.rule, j.reason
           FROM (SELECT f.id, ${keyOf} ${joins} ${only}) AS f
           JOIN judged j ON j.cr = f.cr AND j.sr = f.sr AND j.service IS f.service AND j.transport = f.transport AND j.port IS f.port AND j.cv = f.cv AND j.sv = f.sv) AS x
     WHERE flows.id = x.id AND (flows.client_role IS NOT x.client_role OR flows.server_role IS NOT x.server_role
       OR flows.verdict IS NOT x.verdict OR flows.rule IS NOT x.rule OR flows.reason IS NOT x.reason)`,
  ).run();
  db.exec('DROP TABLE temp.judged');
  const counts: Record<string, number> = { expected: 0, unexpected: 0, unknown: 0 };
  for (const [v, n] of db.prepare('SELECT verdict, count(*) FROM flows WHERE verdict IS NOT NULL GROUP BY verdict').raw().all() as [string, number][]) counts[v] = n;
  return counts;
}

/**
 * The encryption audit, in sets: an expected flow whose matrix rule says its service
 * is encrypted between the two roles, seen in clear (tls = 'none'), gets the finding
 * in `encryption`; every other flow has none. Returns the number of findings.
 */
export function writeEncryptionFindings(db: Db, requirements: { rule: string; service: string; text: string }[]): number {
  db.exec('DROP TABLE IF EXISTS temp.encryption_rules; CREATE TEMP TABLE encryption_rules (rule TEXT, service TEXT, text TEXT, PRIMARY KEY (rule, service))');
  const add = db.prepare('INSERT OR IGNORE INTO temp.encryption_rules VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const r of requirements) add.run(r.rule, r.service, r.text);
    db.exec(`UPDATE flows SET encryption = NULL WHERE encryption IS NOT NULL`);
    db.exec(`UPDATE flows SET encryption = e.text FROM temp.encryption_rules e
             WHERE flows.verdict = 'expected' AND flows.tls = 'none' AND e.rule = flows.rule AND e.service = flows.service`);
  })();
  return (db.prepare('SELECT count(*) FROM flows WHERE encryption IS NOT NULL').pluck().get() as number);
}
