import type { Db } from '../store/db';
import { addressCondition } from './filter';
import { isoSecond, type Row } from './format';
import { storedList } from '../store/lists';

export const HOST_COLUMNS = ['address', 'name', 'name_source', 'name_shared', 'roles', 'role_source', 'confidence', 'evidence', 'serves', 'uses', 'site', 'version', 'version_source', 'first_seen', 'last_seen', 'disagreement'];
export const HOST_TABLE_COLUMNS = ['address', 'name', 'name_source', 'roles', 'role_source', 'version', 'version_source', 'confidence', 'serves', 'disagreement', 'name_shared'];

interface HostDbRow {
  address: string;
  name: string | null;
  name_source: string | null;
  roles: string | null;
  role_source: string | null;
  confidence: string | null;
  evidence: string | null;
  serves: string | null;
  uses: string | null;
  site: string | null;
  version: string | null;
  version_source: string | null;
  first_sec: number;
  last_sec: number;
  disagreement: string | null;
  /** Other hosts with the same name. */
  name_shared?: number | null;
}

/**
 * Every host with the number of other hosts named as it is (name_shared): one SMTP greeting
 * or certificate can name many servers ("mx", a load balancer's name) — a name that is
 * not one host's is flagged, not trusted (issue 31 item 11). A host's IPv4 and IPv6
 * addresses share their name rightly; the count says so too.
 */
const HOSTS_NAMED = `hosts h LEFT JOIN (SELECT name, count(*) - 1 AS shared FROM hosts WHERE name IS NOT NULL GROUP BY name HAVING count(*) > 1) s ON s.name = h.name`;

/**
 * Hosts with their roles (lists stay lists; the renderer joins them for text), one at a
 * time from SQLite: a database may hold millions.
 */
export function* iterateHosts(db: Db, q: { host?: string; role?: string } = {}): Generator<Row> {
  const where: string[] = [];
  const args: string[] = [];
  if (q.host !== undefined) {
    const c = addressCondition('address', q.host);
    where.push(c.sql);
    args.push(c.arg);
  }
  if (q.role !== undefined) {
    where.push(`instr(',' || coalesce(roles, '') || ',', ',' || ? || ',') > 0`);
    args.push(q.role);
  }
  for (const r of db.prepare(`SELECT h.*, coalesce(s.shared, 0) AS name_shared FROM ${HOSTS_NAMED} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY addr_key(h.address)`).iterate(...args) as IterableIterator<HostDbRow>) yield hostRow(r);
}

/** Hosts as a list (the whole answer in memory: for a host or a role, not a whole database). */
export function queryHosts(db: Db, q: { host?: string; role?: string } = {}): Row[] {
  return [...iterateHosts(db, q)];
}

/** One host by its exact address, or null. */
export function hostByAddress(db: Db, address: string): Row | null {
  // One host: its name's other hosts counted, not every name's (the HTML page asks for hundreds).
  const r = db.prepare(`SELECT h.*, (SELECT count(*) FROM hosts o WHERE o.name = h.name AND o.address != h.address) AS name_shared FROM hosts h WHERE h.address = ?`).get(address) as HostDbRow | undefined;
  return r ? hostRow(r) : null;
}

function hostRow(r: HostDbRow): Row {
  return {
    address: r.address,
    name: r.name,
    name_source: r.name_source ?? null,
    name_shared: r.name_shared ?? 0,
    roles: r.roles ? r.roles.split(',') : [],
    role_source: r.role_source,
    confidence: r.confidence,
    evidence: storedList(r.evidence),
    serves: storedList(r.serves),
    uses: storedList(r.uses),
    site: r.site,
    version: r.version,
    version_source: r.version_source,
    first_seen: isoSecond(r.first_sec),
    last_seen: isoSecond(r.last_sec),
    disagreement: r.disagreement,
  };
}

/**
 * The names the capture gave a host (at most `limit`, the most often shown first), with
 * their source, first and last seen and how many flows showed each (host ADDR). Only the
 * rows shown are read into memory: an address a flood gave a million names costs no more.
 */
export function hostNames(db: Db, address: string, limit = -1): Row[] {
  return (db
    .prepare(
      `SELECT n.name, n.source, min(n.first_sec) AS first_sec, max(n.last_sec) AS last_sec, sum(n.flows) AS flows
       FROM host_names n JOIN capture_view c ON c.id = n.capture_id WHERE n.address = ? GROUP BY n.name, n.source ORDER BY flows DESC, n.name LIMIT ?`,
    )
    .all(address, limit) as { name: string; source: string; first_sec: number; last_sec: number; flows: number }[]).map((r) => ({
    name: r.name,
    source: r.source,
    flows: r.flows,
    first_seen: isoSecond(r.first_sec),
    last_seen: isoSecond(r.last_sec),
  }));
}

/**
 * The addresses a host name stands for: hosts whose preferred name (inventory, else the wire's) or
 * a name the wire gave them (host_names, of captures reports see) is `name` — whole, or its first
 * label ("mbx01" for mbx01.contoso.local) — compared without case. Sorted as addresses sort.
 */
export function addressesNamed(db: Db, name: string): string[] {
  const n = name.toLowerCase();
  return db
    .prepare(
      `SELECT address FROM (
         SELECT h.address, lower(h.name) AS name FROM hosts h WHERE h.name IS NOT NULL
         UNION SELECT n.address, lower(n.name) FROM host_names n WHERE n.capture_id IN (SELECT id FROM capture_view))
       WHERE name = ? OR substr(name, 1, length(?) + 1) = ? || '.'
       GROUP BY address ORDER BY addr_key(address)`,
    )
    .pluck()
    .all(n, n, n) as string[];
}

/** Every name a host is known by (for "did you mean"). */
export function* hostNameList(db: Db): Generator<string> {
  yield* db.prepare('SELECT name FROM hosts WHERE name IS NOT NULL UNION SELECT name FROM host_names').pluck().iterate() as Iterable<string>;
}
