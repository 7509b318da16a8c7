// Host roles and flow verdicts in the database. Everything here works in SQL or in
// pages of PAGE rows, so memory stays flat however many hosts and flows there are.
import { storedList } from './lists';
import type { Verdict, VerdictFacts } from '../audit/verdict';
import type { HostActivity, HostRoles } from '../classify/roles';
import type { Db } from './db';
import { AUDIT_ROWS, judgedFrom, RUN_VISIBLE_OR, VERDICT_KEY } from './schema';

const PAGE = 5000;

/**
 * Refreshes hosts.serves and hosts.uses (JSON arrays of services) from every run's traffic as
 * the finished runs' totals and the others' hourly rows have it (AUDIT_ROWS), in SQL: what each host answered as a server, and what it opened as a client; and
 * hosts.served_to: for each of `clients.served` a host answered, what of `clients.profile`
 * its clients serve themselves ("service>profile", the profile comma-separated), which the inference's clients_serve_* read.
 */
export function refreshHostActivity(db: Db, clients: { served: string[]; profile: string[] } = { served: [], profile: [] }): void {
  db.exec(`
    DROP TABLE IF EXISTS temp.served_pairs;
    DROP TABLE IF EXISTS temp.host_serves;
    DROP TABLE IF EXISTS temp.host_uses;
    DROP TABLE IF EXISTS temp.host_served_to;
    CREATE TEMP TABLE served_pairs AS SELECT DISTINCT f.server, f.service FROM ${AUDIT_ROWS} WHERE f.service IS NOT NULL AND f.answered = 1 ORDER BY 1, 2;
    CREATE TEMP TABLE host_serves AS
      SELECT server AS address, json_group_array(service) AS services FROM served_pairs GROUP BY server;`);
  // A client's profile: which of the services rules ask about it serves itself ("" for none). The rules' service ids are data.
  db.prepare(
    `CREATE TEMP TABLE host_served_to AS
      SELECT address, json_group_array(token) AS tokens FROM (
        SELECT DISTINCT r.server AS address, r.service || '>' || coalesce(p.profile, '') AS token
        FROM (SELECT DISTINCT f.server, f.client, f.service FROM ${AUDIT_ROWS} WHERE f.answered = 1 AND f.service IN (SELECT value FROM json_each(?))) r
        LEFT JOIN (SELECT server, group_concat(service, ',') AS profile FROM (SELECT server, service FROM served_pairs WHERE service IN (SELECT value FROM json_each(?)) ORDER BY server, service) GROUP BY server) p
          ON p.server = r.client
        ORDER BY 1, 2)
      GROUP BY address`,
  ).run(JSON.stringify(clients.served), JSON.stringify(clients.profile));
  db.exec(`
    CREATE UNIQUE INDEX temp.host_served_to_a ON host_served_to (address);
    CREATE TEMP TABLE host_uses AS
      SELECT client AS address, json_group_array(service) AS services
      FROM (SELECT DISTINCT f.client, f.service FROM ${AUDIT_ROWS} WHERE f.service IS NOT NULL AND f.answered = 1 ORDER BY 1, 2) GROUP BY client;
    CREATE UNIQUE INDEX temp.host_serves_a ON host_serves (address);
    CREATE UNIQUE INDEX temp.host_uses_a ON host_uses (address);
    -- What the capture said about the host's names (name_evidence on any name host_names gives it, or an alias of one),
    -- as tokens an inference rule's named_any asks for: "kind:detail" and "kind" alone. A name only the host itself
    -- claimed in EHLO, or an NTLM workstation name, says nothing of what it serves.
    -- Each name's tokens first (a few names, a few evidence rows), then each host's by its names: the
    -- evidence matched per name, not per host_names row (ten days of names, 130,500 rows of 16 names: 262 -> 36 ms).
    DROP TABLE IF EXISTS temp.name_tokens;
    CREATE TEMP TABLE name_tokens AS
      WITH matched AS (
        SELECT n.name, e.kind, e.detail FROM (SELECT DISTINCT name FROM host_names WHERE source NOT IN ('smtp-ehlo', 'ntlm-workstation')) n
          JOIN name_evidence e ON e.name = n.name OR e.name IN (SELECT a.name FROM name_evidence a WHERE a.kind = 'dns-cname' AND a.detail = n.name)
          WHERE e.kind != 'dns-cname')
      SELECT name, kind || ':' || detail AS token FROM matched UNION SELECT name, kind FROM matched;
    CREATE INDEX temp.name_tokens_name ON name_tokens (name);
    DROP TABLE IF EXISTS temp.host_named;
    CREATE TEMP TABLE host_named AS
      SELECT address, json_group_array(token) AS named FROM (
        SELECT DISTINCT n.address, t.token FROM (SELECT DISTINCT address, name FROM host_names WHERE source NOT IN ('smtp-ehlo', 'ntlm-workstation')) n
          JOIN temp.name_tokens t ON t.name = n.name
        ORDER BY 1, 2)
      GROUP BY address;
    DROP TABLE temp.name_tokens;
    CREATE UNIQUE INDEX temp.host_named_a ON host_named (address);
    UPDATE hosts SET serves = n.serves, uses = n.uses, named = n.named, served_to = n.served_to
    FROM (SELECT h.address, coalesce(s.services, '[]') AS serves, coalesce(u.services, '[]') AS uses, coalesce(m.named, '[]') AS named, coalesce(t.tokens, '[]') AS served_to
          FROM hosts h LEFT JOIN host_serves s ON s.address = h.address LEFT JOIN host_uses u ON u.address = h.address LEFT JOIN host_named m ON m.address = h.address
            LEFT JOIN host_served_to t ON t.address = h.address) AS n
    WHERE hosts.address = n.address AND (hosts.serves IS NOT n.serves OR hosts.uses IS NOT n.uses OR hosts.named IS NOT n.named OR hosts.served_to IS NOT n.served_to);
    DROP TABLE temp.served_pairs;
    DROP TABLE temp.host_served_to;
    DROP TABLE temp.host_serves;
    DROP TABLE temp.host_uses;
    DROP TABLE temp.host_named;
  `);
}

/** The hosts columns writeHostRoles sets, in its order. */
const ROLE_COLUMNS = ['name', 'site', 'version', 'roles', 'role_source', 'confidence', 'evidence', 'disagreement', 'version_source'] as const;

/** A host as the role inference reads it, with the values its role columns hold now. */
export interface StoredHost {
  address: string;
  /** Its stored serves, uses, named and served_to as one text: equal for two hosts seen doing the same. */
  profile: string;
  /** Those lists parsed (made when asked: many hosts share a profile inferred once). */
  activity: () => HostActivity;
  stored: (string | null)[];
}

/**
 * One page of hosts at a time, with what they serve and use and their role columns.
 * With `everyHost` false (no inventory to look hosts up in), only hosts whose roles
 * could come out other than none — those that serve something, use one of
 * `usesAlone` (services an inference rule asks only to be used), or hold role values
 * now (to be cleared) — are read: on a capture of 50,000 clients, a few hundred hosts.
 */
export function* hostPages(db: Db, o: { everyHost: boolean; usesAlone: string[] }): Generator<StoredHost[]> {
  const could = o.everyHost
    ? ''
    : `AND (serves != '[]' OR coalesce(named, '[]') != '[]' OR ${ROLE_COLUMNS.map((c) => `${c} IS NOT NULL`).join(' OR ')}${o.usesAlone.map(() => " OR instr(uses, ?) > 0").join('')})`;
  const page = db.prepare(`SELECT address, serves, uses, named, served_to, ${ROLE_COLUMNS.join(', ')} FROM hosts WHERE address > ? ${could} ORDER BY address LIMIT ?`);
  const quoted = o.everyHost ? [] : o.usesAlone.map((s) => JSON.stringify(s));
  let after = '';
  for (;;) {
    const rows = page.raw().all(after, ...quoted, PAGE) as [string, string | null, string | null, string | null, string | null, ...(string | null)[]][];
    if (rows.length === 0) return;
    after = rows[rows.length - 1][0];
    yield rows.map(([address, serves, uses, named, servedTo, ...stored]) => ({
      address,
      // As a JSON array of the four texts: no stored text (hostile or not) can make two hosts' lists read alike.
      profile: JSON.stringify([serves, uses, named, servedTo]),
      activity: () => ({
        address,
        serves: new Set(storedList(serves)),
        uses: new Set(storedList(uses)),
        named: new Set(storedList(named)),
        servedTo: new Set(storedList(servedTo)),
      }),
      stored,
    }));
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
    roles: storedList(r.roles),
  }));
}

/**
 * Stores one page of hosts' roles (`stored`: what hostPages read for each); only the
 * rows whose values changed are written.
 */
export function writeHostRoles(db: Db, hosts: HostRoles[], stored: (string | null)[][]): void {
  const update = db.prepare(`UPDATE hosts SET ${ROLE_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE address = ?`);
  db.transaction(() => {
    hosts.forEach((h, i) => {
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
      if (!values.every((v, k) => v === stored[i][k])) update.run(...values, h.address);
    });
  })();
}

/** Each server's version as the wire showed it (the greatest where it showed several): rows (address, v). */
export const WIRE_VERSIONS = 'SELECT f.server AS address, max(f.server_version) AS v FROM flows f WHERE f.server_version IS NOT NULL GROUP BY f.server';

/**
 * Versions the wire showed (a server's own X-OWA-Version) for hosts the inventory
 * gives none: version_source 'wire'; `seen` gives them (rows address, v: by default from the
 * flows). Returns how many hosts got one.
 */
export function writeWireVersions(db: Db, seen = WIRE_VERSIONS): number {
  return db.prepare(`UPDATE hosts SET version = w.v, version_source = 'wire' FROM (${seen}) w WHERE hosts.address = w.address AND hosts.version IS NULL`).run().changes;
}

/**
 * Which wire source names a host best, most authoritative first: what the organisation's
 * DNS says of the address, then what the host says of itself (its Kerberos machine
 * account, its NTLM computer name, its certificate, its SMTP greeting), then what
 * clients called it (the ticket they asked for, the server name they sent).
 */
export const NAME_SOURCE_RANK = ['dns-ptr', 'dns-a', 'kerberos-client', 'ntlm-dns-computer', 'tls-cert', 'smtp-banner', 'kerberos-spn', 'tls-sni', 'http-host', 'smtp-ehlo', 'dcom-binding', 'netbios-ns', 'ntlm-netbios-computer', 'ntlm-workstation'];

/** host_names rows reports may use: of finished runs (and live ones), and of run `runId` (being finished). */
export const NAMES_VISIBLE = `host_names n JOIN captures c ON c.id = n.capture_id JOIN runs r ON r.id = c.run_id
  WHERE ${RUN_VISIBLE_OR}`;

/**
 * Each host's preferred name: the inventory's, else the best wire name (NAME_SOURCE_RANK,
 * then the name more flows showed). name_source says which. Returns how many hosts the
 * wire named.
 */
export function writeWireNames(db: Db, runId: number | null): number {
  db.prepare("UPDATE hosts SET name_source = CASE WHEN name IS NULL THEN NULL ELSE 'inventory' END").run();
  const rank = `CASE n.source ${NAME_SOURCE_RANK.map((s, i) => `WHEN '${s}' THEN ${i}`).join(' ')} ELSE ${NAME_SOURCE_RANK.length} END`;
  // A name one source gives several addresses of one family (an SMTP greeting "mx" on seven
  // servers) says less of each than a name it gives one: it comes after those of every source.
  const shared = `SELECT n.name, n.source, instr(n.address, ':') > 0 AS v6 FROM ${NAMES_VISIBLE} GROUP BY 1, 2, 3 HAVING count(DISTINCT n.address) > 1`;
  const best = `SELECT address, name, source FROM (
      SELECT n.address, n.name, n.source, row_number() OVER (PARTITION BY n.address ORDER BY max(s.name IS NOT NULL), ${rank}, sum(n.flows) DESC, n.name) AS k
      FROM ${NAMES_VISIBLE.replace('WHERE', `LEFT JOIN (${shared}) s ON s.name = n.name AND s.source = n.source AND s.v6 = (instr(n.address, ':') > 0) WHERE`)}
      GROUP BY n.address, n.name, n.source) WHERE k = 1`;
  return db.prepare(`UPDATE hosts SET name = w.name, name_source = w.source FROM (${best}) w WHERE hosts.address = w.address AND hosts.name IS NULL`).run(runId ?? -1, runId ?? -1).changes;
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

/** The encryption finding (English) and where the table says so (its own words), for an expected verdict by a rule that says its service is encrypted. */
export interface EncryptionFinding {
  text: string;
  cite: string;
}
type EncryptionText = (rule: string, service: string) => EncryptionFinding | null;

/**
 * Gives every flow of the database its verdict, in sets: a verdict depends only on
 * its key (VERDICT_KEY: the two sides' roles and versions, the service, the transport
 * and, for an unnamed service, the port), so the flows are grouped by key in one pass
 * and each key is judged once (in JS, by the matrix) into verdicts, which the views
 * join in — no flow row is written. Judged: keys no verdict exists for yet (new flows,
 * hosts with new roles, flows the registry renamed), the keys of run `runId`'s flows
 * (its rules may be others than an earlier run's), and with `all` every key (the
 * verdicts table is emptied first). Returns the counts over the database, with
 * `encryption`: flows in clear whose verdict carries an encryption finding.
 */
export function writeVerdicts(db: Db, judge: Judge, encryptionText: EncryptionText, opts: { all: boolean; runId: number | null }): Record<string, number> {
  if (opts.all) db.exec('DELETE FROM verdicts');
  const ofRun = opts.runId === null ? '0' : 'f.run_id = @run';
  // The keys in use, with their flows counted, into a temporary table (SQLite's, not the
  // heap: unnamed services on many ports make many keys), then read back in pages. Read from
  // every run's totals and hourly rows (AUDIT_ROWS): a row's flows share their key. Added up per
  // client, server and service before the hosts are looked up (a day's 405,056 hourly rows are
  // 82,227 of these).
  db.exec('DROP TABLE IF EXISTS temp.verdict_keys');
  db.prepare(
    `CREATE TEMP TABLE verdict_keys AS
     SELECT ${VERDICT_KEY}, v.id AS id, v.verdict AS verdict, v.encryption AS encryption, sum(f.n) AS n, sum(f.clear) AS clear, max(f.fresh) AS fresh
     FROM ${judgedFrom(`(SELECT f.client, f.server, f.service, f.transport, f.server_port, sum(f.flows) AS n,
            sum(CASE WHEN f.tls = 'none' THEN f.flows ELSE 0 END) AS clear, max(${ofRun}) AS fresh
          FROM ${AUDIT_ROWS} GROUP BY 1, 2, 3, 4, 5) f`)}
     GROUP BY 1, 2, 3, 4, 5, 6, 7`,
  ).run(opts.runId === null ? {} : { run: opts.runId });
  const page = db.prepare(
    'SELECT rowid, cr, sr, service, transport, port, cv, sv, id, verdict, encryption, n, clear, fresh FROM temp.verdict_keys WHERE rowid > ? ORDER BY rowid LIMIT ?',
  );
  const put = db.prepare(
    `INSERT INTO verdicts (cr, sr, service, transport, port, cv, sv, client_role, server_role, verdict, rule, reason, cite, encryption, encryption_cite, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (cr, sr, service, transport, port, cv, sv) DO UPDATE SET client_role = excluded.client_role, server_role = excluded.server_role,
       verdict = excluded.verdict, rule = excluded.rule, reason = excluded.reason, cite = excluded.cite, encryption = excluded.encryption,
       encryption_cite = excluded.encryption_cite, detail = excluded.detail`,
  );
  type Group = [number, string, string, string, string, number, string, string, number | null, string | null, string | null, number, number | null, number];
  const counts: Record<string, number> = { expected: 0, unexpected: 0, unknown: 0, encryption: 0 };
  db.transaction(() => {
    for (let after = 0; ; ) {
      const groups = page.raw().all(after, PAGE) as Group[];
      if (groups.length === 0) break;
      after = groups[groups.length - 1][0];
      for (const [, cr, sr, service, transport, port, cv, sv, id, had, hadEncryption, n, clear, fresh] of groups) {
        let verdict = had;
        let encryption = hadEncryption;
        if (id === null || fresh === 1) {
          const roles = (key: string) => (key ? key.replace(/\?$/, '').split(',') : []);
          const v = judge({ transport, serverPort: port, service: service || null }, roles(cr), roles(sr), cv, sv);
          // Weak evidence does not accuse: on a role that is only a guess, a flow the tables do not allow is unknown, not unexpected.
          const guess = [cr.endsWith('?') ? 'client' : '', sr.endsWith('?') ? 'server' : ''].filter(Boolean).join(' and ');
          if (v.verdict === 'unexpected' && guess) {
            v.verdict = 'unknown';
            v.rule = null;
            v.reason = `the ${guess}'s role is only a guess (inferred with low confidence; exflow hosts shows the evidence): ${v.reason}`;
          }
          verdict = v.verdict;
          const e = v.verdict === 'expected' && v.rule !== null && service ? encryptionText(v.rule, service) : null;
          encryption = e?.text ?? null;
          put.run(cr, sr, service, transport, port, cv, sv, v.clientRole, v.serverRole, v.verdict, v.rule, v.reason, v.cite, encryption, e?.cite ?? null, v.detail);
        }
        counts[verdict!] += n;
        if (verdict === 'expected' && encryption !== null) counts.encryption += clear ?? 0;
      }
    }
  })();
  db.exec('DROP TABLE temp.verdict_keys');
  return counts;
}
