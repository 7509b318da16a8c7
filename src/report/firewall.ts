// "exflow report firewall": least-privilege allow rules from the flows the audit
// saw. By default only flows the matrix expects become rules (--all: every flow
// seen), per role pair (the roles the matrix rule named) or per host pair.
//
// Two things no port-based tool can print come from the RPC layer:
//  - a dynamic RPC port is allowed on the one server that handed it out, for the
//    interfaces seen on it, with the registry value that pins the interface to a
//    fixed port where Microsoft documents one (rules/rpc-interfaces.yaml `pin`);
//  - a port that carried an expected and an unexpected interface at once (one RPC
//    server process serves several interfaces on one port) cannot be split by a
//    port filter: such flows are listed as conflicts instead of silently allowed.
//
// The rules are data (FirewallPlan); nftables and PowerShell are renderings of it.
import { nftComment, nftLineComment, nftName } from './lang/nft';
import { createHash } from 'node:crypto';
import { psComment, psString, psWord } from './lang/powershell';
import { scriptFamily, scriptHostAddress, scriptPort, scriptProtocol } from './lang/values';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { flowGroups } from './groups';
import type { Row } from './format';

export interface FirewallRule {
  /** 'role': a role's hosts; 'host': one address. */
  from_kind: 'role' | 'host';
  from: string;
  to_kind: 'role' | 'host';
  to: string;
  transport: string;
  /** Sorted, without duplicates. */
  ports: number[];
  service: string;
  rpc_interfaces: string[];
  /** A dynamic RPC port (handed out by the endpoint mapper or seen bound), not a service's own port. */
  dynamic: boolean;
  flows: number;
  /** The matrix rules that allowed the flows (empty with --all for flows no rule allows). */
  rules: string[];
  cite: string[];
  /**
   * Whether Microsoft supports a firewall rule here: false between the internal servers of
   * Exchange 2013 and later (both roles `internal`, every matrix rule of a table whose
   * versions say internal_firewalls unsupported); `unsupported` cites where it says so.
   */
  supported: boolean;
  unsupported: string[];
}

export interface DynamicPort {
  server: string;
  transport: string;
  port: number;
  interfaces: string[];
  services: string[];
  clients: number;
  flows: number;
  /** How to pin the interfaces to a fixed port, where documented. */
  pin: string[];
  cite: string[];
}

export interface Conflict {
  server: string;
  transport: string;
  port: number;
  allowed: string[];
  not_allowed: string[];
  unexpected_flows: number;
  examples: string[];
  advice: string;
}

export interface FirewallPlan {
  per: 'role' | 'host';
  all: boolean;
  /** In order (from, to, transport, first port, service). Every list of a plan may be iterated more than once. */
  rules: Iterable<FirewallRule>;
  rpc_dynamic: Iterable<DynamicPort>;
  conflicts: Iterable<Conflict>;
  /** Members of every role a rule names (hosts with several roles are in each). */
  role_hosts: Record<string, Iterable<string>>;
  /** Every host the audit knows: new connections between them that no rule allows are what the rulesets drop. */
  audited_hosts: Iterable<string>;
}

/** A plan read from a database: its lists stream from temporary tables (a database may hold millions of host pairs). */
export interface DbFirewallPlan extends FirewallPlan {
  counts: { rules: number; rpc_dynamic: number; conflicts: number };
}

/** A list the plan reads again from SQLite each time it is iterated. */
function rows<T>(read: () => Iterable<T>): Iterable<T> {
  return { [Symbol.iterator]: () => read()[Symbol.iterator]() };
}

const list = (s: string | null | undefined): string[] => (s ? [...new Set(s.split(','))] : []);

/**
 * The plan, built in temporary tables (SQLite's temp store, not the heap):
 *  fw_parts  the flows grouped by (client, server, roles, transport, port, service,
 *            verdict, rule, via), each with whether it is allowed, whether its port is
 *            dynamic, and the rule it belongs to (from/to as a role or a host);
 *  fw_ranges the services' own port ranges (narrower than 1000 ports), to tell a
 *            service's port from a dynamic one the RPC layer named.
 */
export function firewallPlan(db: Db, rules: RuleSet, f: FlowFilter, opts: { per: 'role' | 'host'; all: boolean; supportedOnly?: boolean }): DbFirewallPlan {
  // Added up per pair, port, service and RPC binding before they are judged (the verdict is the same for all of a sum).
  const g = flowGroups(db, f, [], [], { by: ['via'], lists: { interfaces: 'coalesce(f.rpc_interfaces, f.rpc_interface)' } });
  for (const t of ['fw_groups', 'fw_parts', 'fw_ranges', 'fw_allowed', 'fw_conflicts']) db.exec(`DROP TABLE IF EXISTS temp.${t}`);
  db.exec('CREATE TEMP TABLE fw_ranges (service TEXT NOT NULL, lo INTEGER, hi INTEGER)');
  const addRange = db.prepare('INSERT INTO temp.fw_ranges VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const sv of rules.serviceById.values()) {
      addRange.run(sv.id, null, null); // known, whatever its ranges
      for (const [lo, hi] of sv.ranges) if (hi - lo < 1000) addRange.run(sv.id, lo, hi);
    }
  })();
  // Asked twice for every group below: found by service, not by reading every range.
  db.exec('CREATE INDEX temp.fw_ranges_service ON fw_ranges (service, lo, hi)');
  const columns = ['client', 'server', 'client_role', 'server_role', 'transport', 'server_port', 'service', 'verdict', 'rule', 'via'];
  const key = columns.map((k) => `f.${k}`).join(', ');
  // Groups already added up by this key's columns are only put in its order (the order the rows
  // below are listed and concatenated in): a second GROUP BY of 82,229 sums took 0.1-0.3 s at 1M flows.
  const summed = g.keyedBy?.every((k) => columns.includes(k)) === true;
  db.prepare(
    summed
      ? `CREATE TEMP TABLE fw_groups AS SELECT ${key}, f.interfaces, f.flows FROM ${g.sql} f ORDER BY ${key}`
      : `CREATE TEMP TABLE fw_groups AS
         SELECT ${key}, group_concat(DISTINCT f.interfaces ORDER BY f.interfaces) AS interfaces, sum(f.flows) AS flows
         FROM ${g.sql} f GROUP BY ${key}`,
  ).run(...g.args);
  // A port the service does not own by itself: a dynamic port the RPC layer named (an unknown
  // service's port is dynamic from 1024 up).
  const dyn = `(g.via IN ('epm', 'bind') AND CASE WHEN g.service IS NULL OR NOT EXISTS (SELECT 1 FROM temp.fw_ranges r WHERE r.service = g.service) THEN g.server_port >= 1024
     ELSE NOT EXISTS (SELECT 1 FROM temp.fw_ranges r WHERE r.service = g.service AND g.server_port BETWEEN r.lo AND r.hi) END)`;
  const byRole = `(? = 'role' AND g.verdict = 'expected' AND g.client_role IS NOT NULL AND g.server_role IS NOT NULL)`;
  db.prepare(
    `CREATE TEMP TABLE fw_parts AS
     SELECT x.*, CASE WHEN x.by_role THEN 'role' ELSE 'host' END AS from_kind, CASE WHEN x.by_role THEN x.client_role ELSE x.client END AS from_,
            CASE WHEN x.by_role AND NOT x.dyn THEN 'role' ELSE 'host' END AS to_kind, CASE WHEN x.by_role AND NOT x.dyn THEN x.server_role ELSE x.server END AS to_
     FROM (SELECT g.*, ${dyn} AS dyn, ${byRole} AS by_role, (? OR g.verdict = 'expected') AS allow,
                  coalesce(g.service, '(unknown ' || g.transport || '/' || g.server_port || ')') AS svc,
                  coalesce(g.interfaces, g.service, g.transport || '/' || g.server_port) AS what
           FROM temp.fw_groups g) x`,
  ).run(opts.per, opts.all ? 1 : 0);
  db.exec(`DROP TABLE temp.fw_groups;
    CREATE INDEX temp.fw_parts_to ON fw_parts (allow, transport, server_port, to_kind, to_);
    CREATE INDEX temp.fw_parts_at ON fw_parts (allow, server, transport, server_port);`);

  const matrixById = new Map(rules.matrix.map((r) => [r.id, r]));
  // Tables whose versions Microsoft does not support internal firewalls for, with where it says so.
  const noInternalFirewalls = new Map<string, string[]>();
  for (const v of rules.versions) if (v.internalFirewallsUnsupported) for (const t of v.tables) noInternalFirewalls.set(t, v.internalFirewallsUnsupported);
  /** Null when supported; else the citations: every matrix rule is between internal roles in such a table. */
  const unsupportedBy = (ruleIds: string[]): string[] | null => {
    if (ruleIds.length === 0) return null;
    const cites = new Set<string>();
    for (const id of ruleIds) {
      const m = matrixById.get(id);
      const internal = (role: string) => rules.roles.get(role)?.internal === true;
      const table = m?.versions.find((t) => noInternalFirewalls.has(t));
      if (!m || !table || !internal(m.from) || !internal(m.to)) return null;
      for (const c of noInternalFirewalls.get(table)!) cites.add(c);
    }
    return [...cites];
  };
  const byName = new Map([...rules.rpcInterfaces.values()].map((i) => [i.name, i]));
  const RULES = `FROM temp.fw_parts WHERE allow GROUP BY from_kind, from_, to_kind, to_, transport, svc, dyn`;
  const ruleList = rows(() => {
    const it = db
      .prepare(
        `SELECT from_kind, from_, to_kind, to_, transport, svc, dyn, group_concat(DISTINCT server_port) AS ports, group_concat(interfaces) AS interfaces,
                sum(flows) AS flows, group_concat(DISTINCT rule) AS rules ${RULES} ORDER BY from_, to_, transport, min(server_port), svc`,
      )
      .iterate() as IterableIterator<{ from_kind: 'role' | 'host'; from_: string; to_kind: 'role' | 'host'; to_: string; transport: string; svc: string; dyn: number; ports: string; interfaces: string | null; flows: number; rules: string | null }>;
    return (function* () {
      for (const r of it) {
        const names = list(r.rules);
        const cite = [...new Set(names.flatMap((n) => matrixById.get(n)?.cite ?? []))];
        const ports = list(r.ports).map(Number).sort((a, b) => a - b);
        const unsupported = unsupportedBy(names);
        if (opts.supportedOnly && unsupported !== null) continue;
        yield {
          from_kind: r.from_kind, from: r.from_, to_kind: r.to_kind, to: r.to_, transport: r.transport, ports, service: r.svc, rpc_interfaces: list(r.interfaces),
          dynamic: r.dyn === 1, flows: r.flows, rules: names, cite, supported: unsupported === null, unsupported: unsupported ?? [],
        } satisfies FirewallRule;
      }
    })();
  });

  const dynamicList = rows(() => {
    const it = db
      .prepare(
        `SELECT server, transport, server_port AS port, group_concat(interfaces) AS interfaces, group_concat(DISTINCT service) AS services,
                count(DISTINCT client) AS clients, sum(flows) AS flows
         FROM temp.fw_parts WHERE allow AND dyn GROUP BY server, transport, server_port ORDER BY server, transport, server_port`,
      )
      .iterate() as IterableIterator<{ server: string; transport: string; port: number; interfaces: string | null; services: string | null; clients: number; flows: number }>;
    return (function* () {
      for (const d of it) {
        const interfaces = list(d.interfaces);
        const pinned = interfaces.map((i) => byName.get(i)).filter((i) => i?.pin);
        yield {
          server: d.server, transport: d.transport, port: d.port, interfaces, services: list(d.services), clients: d.clients, flows: d.flows,
          pin: pinned.map((i) => `${i!.name}: ${i!.pin}`),
          cite: [...new Set(pinned.flatMap((i) => i!.pin_cite))],
        } satisfies DynamicPort;
      }
    })();
  });

  // Flows left out that the rules would still let through (the same server and port as an
  // allowed flow, usually): each not-allowed group replayed against the allowed rules —
  // a side matches a rule's host, or a role the host holds.
  const member = (kind: string, value: string, roles: string) => `(p.${kind} = 'host' AND p.${value} = g.${kind === 'from_kind' ? 'client' : 'server'} OR p.${kind} = 'role' AND instr(',' || coalesce(${roles}, '') || ',', ',' || p.${value} || ',') > 0)`;
  if (!opts.all) {
    // The allowed rules' shapes, each once: a role rule stands for thousands of allowed host pairs.
    db.exec(`DROP TABLE IF EXISTS temp.fw_allowed;
      CREATE TEMP TABLE fw_allowed AS SELECT DISTINCT transport, server_port, to_kind, to_, from_kind, from_ FROM temp.fw_parts WHERE allow = 1;
      CREATE INDEX temp.fw_allowed_to ON fw_allowed (transport, server_port, to_kind, to_);`);
    db.exec(
      `CREATE TEMP TABLE fw_conflicts AS
       SELECT g.* FROM temp.fw_parts g LEFT JOIN hosts hc ON hc.address = g.client LEFT JOIN hosts hs ON hs.address = g.server
       WHERE g.allow = 0 AND (
         EXISTS (SELECT 1 FROM temp.fw_allowed p WHERE p.transport = g.transport AND p.server_port = g.server_port AND p.to_kind = 'host' AND p.to_ = g.server AND ${member('from_kind', 'from_', 'hc.roles')})
         OR EXISTS (SELECT 1 FROM temp.fw_allowed p WHERE p.transport = g.transport AND p.server_port = g.server_port AND p.to_kind = 'role'
                      AND instr(',' || coalesce(hs.roles, '') || ',', ',' || p.to_ || ',') > 0 AND ${member('from_kind', 'from_', 'hc.roles')}));
       CREATE INDEX temp.fw_conflicts_at ON fw_conflicts (server, transport, server_port);`,
    );
  } else db.exec('CREATE TEMP TABLE fw_conflicts AS SELECT * FROM temp.fw_parts WHERE 0');
  const conflictList = rows(() => {
    const it = db
      .prepare(
        `SELECT c.server, c.transport, c.server_port AS port, group_concat(DISTINCT c.what) AS not_allowed, sum(c.flows) AS unexpected_flows,
                (SELECT group_concat(DISTINCT a.what) FROM temp.fw_parts a WHERE a.allow = 1 AND a.server = c.server AND a.transport = c.transport AND a.server_port = c.server_port) AS allowed,
                (SELECT group_concat(e, char(10)) FROM (SELECT e.client || ' → ' || e.server || ':' || e.server_port || '/' || e.transport AS e FROM temp.fw_conflicts e
                   WHERE e.server = c.server AND e.transport = c.transport AND e.server_port = c.server_port LIMIT 3)) AS examples
         FROM temp.fw_conflicts c GROUP BY c.server, c.transport, c.server_port ORDER BY c.server, c.transport, c.server_port`,
      )
      .iterate() as IterableIterator<{ server: string; transport: string; port: number; not_allowed: string | null; unexpected_flows: number; allowed: string | null; examples: string | null }>;
    return (function* () {
      for (const c of it) {
        const allowed = list(c.allowed).sort();
        const notAllowed = list(c.not_allowed);
        const pins = notAllowed.map((n) => byName.get(n)).filter((i) => i?.pin).map((i) => `${i!.name}: ${i!.pin}`);
        const advice = allowed.length
          ? `${allowed.join(', ')} (allowed) and ${notAllowed.join(', ')} (not allowed) share this port; a port filter cannot tell them apart${pins.length ? `. Pin the latter to its own port: ${pins.join('; ')}` : ''}`
          : `a rule for the same roles and port lets ${notAllowed.join(', ')} through; narrow it with --per host`;
        yield { server: c.server, transport: c.transport, port: c.port, allowed, not_allowed: notAllowed, unexpected_flows: c.unexpected_flows, examples: c.examples ? c.examples.split('\n') : [], advice } satisfies Conflict;
      }
    })();
  });

  const roleNames = db
    .prepare(`SELECT from_ AS role FROM temp.fw_parts WHERE allow AND from_kind = 'role' UNION SELECT to_ FROM temp.fw_parts WHERE allow AND to_kind = 'role' ORDER BY 1`)
    .pluck()
    .all() as string[];
  const members = db.prepare(`SELECT address FROM hosts WHERE instr(',' || coalesce(roles, '') || ',', ',' || ? || ',') > 0 ORDER BY address`).pluck();
  const role_hosts: Record<string, Iterable<string>> = {};
  for (const role of roleNames) role_hosts[role] = rows(() => members.iterate(role) as IterableIterator<string>);
  const audited = db.prepare(`SELECT address FROM hosts WHERE roles IS NOT NULL AND roles != '' ORDER BY address`).pluck();
  const count = (sql: string) => db.prepare(sql).pluck().get() as number;
  return {
    per: opts.per,
    all: opts.all,
    rules: ruleList,
    rpc_dynamic: dynamicList,
    conflicts: conflictList,
    role_hosts,
    audited_hosts: rows(() => audited.iterate() as IterableIterator<string>),
    counts: {
      rules: opts.supportedOnly ? countOf(ruleList) : count(`SELECT count(*) FROM (SELECT 1 ${RULES})`),
      rpc_dynamic: count('SELECT count(*) FROM (SELECT 1 FROM temp.fw_parts WHERE allow AND dyn GROUP BY server, transport, server_port)'),
      conflicts: count('SELECT count(*) FROM (SELECT 1 FROM temp.fw_conflicts GROUP BY server, transport, server_port)'),
    },
  };
}

function countOf(xs: Iterable<unknown>): number {
  let n = 0;
  for (const _ of xs) n++;
  return n;
}

/** "135", "389, 3268", "49152-49154": contiguous ports as ranges. */
export function portText(ports: number[], sep = ', '): string {
  const out: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j] + 1) j++;
    out.push(j > i ? `${ports[i]}-${ports[j]}` : String(ports[i]));
    i = j + 1;
  }
  return out.join(sep);
}

export const FIREWALL_RULE_COLUMNS = ['from', 'to', 'transport', 'ports', 'service', 'rpc_interfaces', 'flows', 'supported', 'rules', 'cite'];
export const DYNAMIC_COLUMNS = ['server', 'transport', 'port', 'interfaces', 'services', 'clients', 'flows', 'pin', 'cite'];
export const CONFLICT_COLUMNS = ['server', 'transport', 'port', 'allowed', 'not_allowed', 'unexpected_flows', 'examples', 'advice'];

/** The rules as table rows, as they come. */
export function* ruleRows(p: FirewallPlan): Generator<Row> {
  for (const r of p.rules) {
    yield {
      from: r.from_kind === 'role' ? `role ${r.from}` : r.from,
      to: r.to_kind === 'role' ? `role ${r.to}` : r.to,
      transport: r.transport,
      ports: portText(r.ports),
      service: r.dynamic ? `${r.service} (dynamic RPC)` : r.service,
      rpc_interfaces: r.rpc_interfaces,
      flows: r.flows,
      supported: r.supported ? 'yes' : 'no (Microsoft does not support firewalls between internal servers of Exchange 2013 and later)',
      rules: r.rules,
      cite: [...r.cite, ...r.unsupported],
    };
  }
}

/** The plan as one JSON document, written as it is read: {per, all, rules, rpc_dynamic, conflicts, role_hosts, audited_hosts}. */
export function writePlanJson(p: FirewallPlan, write: (s: string) => void): void {
  const array = (items: Iterable<unknown>, indent: string) => {
    let first = true;
    for (const x of items) {
      write(`${first ? '\n' : ',\n'}${indent}  ${JSON.stringify(x)}`);
      first = false;
    }
    write(first ? ']' : `\n${indent}]`);
  };
  write(`{\n  "per": ${JSON.stringify(p.per)},\n  "all": ${p.all},\n  "rules": [`);
  array(p.rules, '  ');
  write(',\n  "rpc_dynamic": [');
  array(p.rpc_dynamic, '  ');
  write(',\n  "conflicts": [');
  array(p.conflicts, '  ');
  write(',\n  "role_hosts": {');
  let first = true;
  for (const [role, hosts] of Object.entries(p.role_hosts)) {
    write(`${first ? '\n' : ',\n'}    ${JSON.stringify(role)}: [`);
    array(hosts, '    ');
    first = false;
  }
  write(first ? '},\n  "audited_hosts": [' : '\n  },\n  "audited_hosts": [');
  array(p.audited_hosts, '  ');
  write('\n}\n');
}

// --- nftables and PowerShell: values only, each through its language's module ----------

/** A rule's side as addresses that parse (a role's members, or the one host); what does not parse is left out. */
function* sideAddresses(p: FirewallPlan, kind: 'role' | 'host', v: string, family?: 4 | 6): Generator<string> {
  for (const h of kind === 'host' ? [v] : p.role_hosts[v] ?? []) {
    const a = scriptHostAddress(h);
    if (a !== null && (family === undefined || scriptFamily(a) === family)) yield a;
  }
}

/** Ports of a rule that are ports (a database is input: a "port" may hold text). */
const rulePorts = (r: FirewallRule) => r.ports.map(scriptPort).filter((x): x is number => x !== null);

/** Distinct values of the plan (role members, audited hosts, host rules) that are not addresses: left out of the scripts, and said so. */
function badAddresses(p: FirewallPlan): number {
  const bad = new Set<string>();
  const check = (a: string) => {
    if (scriptHostAddress(a) === null) bad.add(a);
  };
  for (const hosts of Object.values(p.role_hosts)) for (const a of hosts) check(a);
  for (const a of p.audited_hosts) check(a);
  for (const r of p.rules) {
    if (r.from_kind === 'host') check(r.from);
    if (r.to_kind === 'host') check(r.to);
  }
  return bad.size;
}

function* scriptHeader(p: FirewallPlan, header: string, comment: (s: string) => string): Generator<string> {
  for (const line of header.split(/\r\n|\r|\n/)) yield comment(line);
  const bad = badAddresses(p);
  if (bad > 0) yield comment(`${bad} value(s) in the database that are not IP addresses were left out`);
}

/** Whether a role has members of each family (asked once per role). */
function familiesOf(p: FirewallPlan): (role: string, fam: 4 | 6) => boolean {
  const seen = new Map<string, Set<number>>();
  return (role, fam) => {
    let s = seen.get(role);
    if (!s) {
      s = new Set<number>();
      for (const a of sideAddresses(p, 'role', role)) {
        s.add(scriptFamily(a));
        if (s.size === 2) break;
      }
      seen.set(role, s);
    }
    return s.has(fam);
  };
}

/**
 * An nftables ruleset (nft -f), line by line: a table `exflow` with one set per role and
 * family, a forward chain that accepts established traffic and the allowed new
 * connections, and drops new connections between audited hosts that no rule allows.
 * Other traffic is left alone (policy accept): change the policy to drop for a default-deny.
 */
export function* nftLines(p: FirewallPlan, header: string): Generator<string> {
  yield* scriptHeader(p, header, nftLineComment);
  const setName = (role: string, fam: 4 | 6) => nftName('role_', role) + `_v${fam}`;
  function* set(name: string, fam: 4 | 6, members: Iterable<string>): Generator<string> {
    yield `\tset ${name} {`;
    yield `\t\ttype ${fam === 4 ? 'ipv4_addr' : 'ipv6_addr'}`;
    let line: string[] = [];
    let any = false;
    for (const a of members) {
      if (!any) yield '\t\telements = {';
      any = true;
      line.push(a);
      if (line.length === 16) {
        yield `\t\t\t${line.join(', ')},`;
        line = [];
      }
    }
    if (line.length) yield `\t\t\t${line.join(', ')}`;
    if (any) yield '\t\t}';
    yield '\t}';
  }
  yield 'table inet exflow {';
  for (const role of Object.keys(p.role_hosts)) for (const fam of [4, 6] as const) yield* set(setName(role, fam), fam, sideAddresses(p, 'role', role, fam));
  const audited = (fam: 4 | 6) => ({ *[Symbol.iterator]() { for (const h of p.audited_hosts) { const a = scriptHostAddress(h); if (a !== null && scriptFamily(a) === fam) yield a; } } });
  for (const fam of [4, 6] as const) yield* set(`audited_v${fam}`, fam, audited(fam));
  yield '';
  yield '\tchain forward {';
  yield '\t\ttype filter hook forward priority filter; policy accept;';
  yield '\t\tct state established,related accept';
  const hasFamily = familiesOf(p);
  for (const r of p.rules) {
    const proto = scriptProtocol(r.transport);
    const portList = rulePorts(r);
    if (proto === null || portList.length === 0) continue;
    const ports = portList.length === 1 ? String(portList[0]) : `{ ${portText(portList)} }`;
    const comment = nftComment(`${r.service}${r.dynamic ? ' dynamic RPC' : ''}${r.rpc_interfaces.length ? ` (${r.rpc_interfaces.join(',')})` : ''}${r.rules.length ? ` ${r.rules[0]}` : ''}`);
    for (const fam of [4, 6] as const) {
      const side = (kind: 'role' | 'host', v: string): string | null => {
        if (kind === 'role') return hasFamily(v, fam) ? `@${setName(v, fam)}` : null;
        for (const a of sideAddresses(p, 'host', v, fam)) return a;
        return null;
      };
      const src = side(r.from_kind, r.from);
      const dst = side(r.to_kind, r.to);
      if (src === null || dst === null) continue;
      const ip = fam === 4 ? 'ip' : 'ip6';
      yield `\t\t${ip} saddr ${src} ${ip} daddr ${dst} ${proto} dport ${ports} accept comment ${comment}`;
    }
  }
  yield `\t\tip saddr @audited_v4 ip daddr @audited_v4 ct state new counter drop comment ${nftComment('between audited hosts, not allowed by the audit')}`;
  yield `\t\tip6 saddr @audited_v6 ip6 daddr @audited_v6 ct state new counter drop comment ${nftComment('between audited hosts, not allowed by the audit')}`;
  yield '\t}';
  yield '}';
}

/**
 * New-NetFirewallRule commands, line by line: inbound allow rules for the servers' side
 * (the Windows Firewall filters on the host that receives). Each rule is scoped by
 * -LocalAddress to the servers it is for, so one script can be pushed to all of them,
 * and run again: it first removes the group 'exflow' an earlier run made.
 */
export function* powershellLines(p: FirewallPlan, header: string): Generator<string> {
  yield* scriptHeader(p, header, psComment);
  yield "$ErrorActionPreference = 'Stop'";
  // Idempotent: the rules an earlier run of an exflow script made go first (they are all in
  // the group 'exflow'), and each rule has a stable -Name from what it allows.
  yield "Remove-NetFirewallRule -Group 'exflow' -ErrorAction SilentlyContinue";
  const hasFamily = familiesOf(p);
  const hasAny = (kind: 'role' | 'host', v: string) => (kind === 'role' ? hasFamily(v, 4) || hasFamily(v, 6) : scriptHostAddress(v) !== null);
  for (const r of p.rules) {
    const proto = scriptProtocol(r.transport);
    const ports = rulePorts(r);
    if (proto === null || ports.length === 0 || !hasAny(r.from_kind, r.from) || !hasAny(r.to_kind, r.to)) continue;
    const name = `exflow: ${r.service}${r.dynamic ? ' (dynamic RPC)' : ''} ${r.from} -> ${r.to} ${proto}/${portText(ports, ',')}`;
    // The Description a firewall console shows is English: the matrix rules by id. Their sources, in the
    // seeds' languages, are the cite of `report firewall --format json` and `exflow rules show matrix`.
    const desc = [r.rpc_interfaces.length ? `RPC: ${r.rpc_interfaces.join(', ')}` : '', r.rules.length ? `matrix: ${r.rules.join(', ')}` : 'seen, not allowed by the matrix (--all)'].filter(Boolean).join('; ');
    // An address list may be long (a role's members): it continues on the next line after a
    // comma, as PowerShell's grammar allows inside an array literal, 32 addresses a line.
    const id = `exflow-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
    let line = `New-NetFirewallRule -Name ${psString(id)} -DisplayName ${psString(name, 250)} -Group 'exflow' -Direction Inbound -Action Allow -Protocol ${psWord(proto.toUpperCase())} -LocalPort ${ports.join(',')} -RemoteAddress `;
    const addresses = function* (kind: 'role' | 'host', v: string) {
      let n = 0;
      for (const a of sideAddresses(p, kind, v)) {
        if (n > 0) line += ',';
        if (n > 0 && n % 32 === 0) {
          yield line;
          line = '  ';
        }
        line += psString(a);
        n++;
      }
    };
    yield* addresses(r.from_kind, r.from);
    line += ' -LocalAddress ';
    yield* addresses(r.to_kind, r.to);
    yield `${line} -Description ${psString(desc, 1000)}`;
  }
}

export const nftRuleset = (p: FirewallPlan, header: string): string => [...nftLines(p, header)].join('\n') + '\n';
export const powershellRules = (p: FirewallPlan, header: string): string => [...powershellLines(p, header)].join('\n') + '\n';
