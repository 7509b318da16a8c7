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
import { psComment, psString, psWord } from './lang/powershell';
import { scriptFamily, scriptHostAddress, scriptPort, scriptProtocol } from './lang/values';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { flowWhere, type FlowFilter } from './filter';
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
  rules: FirewallRule[];
  rpc_dynamic: DynamicPort[];
  conflicts: Conflict[];
  /** Members of every role a rule names (hosts with several roles are in each). */
  role_hosts: Record<string, string[]>;
  /** Every host the audit knows: new connections between them that no rule allows are what the rulesets drop. */
  audited_hosts: string[];
}

interface FlowGroup {
  client: string;
  server: string;
  client_role: string | null;
  server_role: string | null;
  transport: string;
  server_port: number;
  service: string | null;
  verdict: string | null;
  rule: string | null;
  via: string | null;
  interfaces: string | null;
  flows: number;
}

/** A port the service does not own by itself: a dynamic port the RPC layer named. */
function isDynamic(g: FlowGroup, rules: RuleSet): boolean {
  if (g.via !== 'epm' && g.via !== 'bind') return false;
  const s = g.service === null ? undefined : rules.serviceById.get(g.service);
  if (!s) return g.server_port >= 1024;
  return !s.ranges.some(([lo, hi]) => g.server_port >= lo && g.server_port <= hi && hi - lo < 1000);
}

export function firewallPlan(db: Db, rules: RuleSet, f: FlowFilter, opts: { per: 'role' | 'host'; all: boolean }): FirewallPlan {
  const w = flowWhere(f);
  const groups = db
    .prepare(
      `SELECT f.client, f.server, f.client_role, f.server_role, f.transport, f.server_port, f.service, f.verdict, f.rule, f.via,
              group_concat(DISTINCT f.rpc_interface) AS interfaces, count(*) AS flows
       FROM flow_view f ${w.sql}
       GROUP BY f.client, f.server, f.transport, f.server_port, f.service, f.verdict, f.rule, f.via
       ORDER BY f.server, f.transport, f.server_port`,
    )
    .all(...w.args) as FlowGroup[];
  const matrixById = new Map(rules.matrix.map((r) => [r.id, r]));
  const byName = new Map([...rules.rpcInterfaces.values()].map((i) => [i.name, i]));
  const list = (s: string | null) => (s ? s.split(',') : []);

  const ruleMap = new Map<string, FirewallRule>();
  const dynamic = new Map<string, DynamicPort & { clientSet: Set<string> }>();
  const allowedOn = new Map<string, Set<string>>(); // server|transport|port → services allowed
  for (const g of groups) {
    const allow = opts.all || g.verdict === 'expected';
    if (!allow) continue;
    const dyn = isDynamic(g, rules);
    const byRole = opts.per === 'role' && g.verdict === 'expected' && g.client_role !== null && g.server_role !== null;
    const from_kind = byRole ? 'role' : 'host';
    const from = byRole ? g.client_role! : g.client;
    // A dynamic port belongs to one server: the rule names that server even per role.
    const to_kind = byRole && !dyn ? 'role' : 'host';
    const to = to_kind === 'role' ? g.server_role! : g.server;
    const service = g.service ?? `(unknown ${g.transport}/${g.server_port})`;
    const key = [from_kind, from, to_kind, to, g.transport, service, dyn].join('|');
    const r = ruleMap.get(key) ?? { from_kind, from, to_kind, to, transport: g.transport, ports: [], service, rpc_interfaces: [], dynamic: dyn, flows: 0, rules: [], cite: [] };
    if (!r.ports.includes(g.server_port)) r.ports.push(g.server_port);
    for (const i of list(g.interfaces)) if (!r.rpc_interfaces.includes(i)) r.rpc_interfaces.push(i);
    r.flows += g.flows;
    if (g.rule !== null && !r.rules.includes(g.rule)) {
      r.rules.push(g.rule);
      for (const c of matrixById.get(g.rule)?.cite ?? []) if (!r.cite.includes(c)) r.cite.push(c);
    }
    ruleMap.set(key, r);
    const at = `${g.server}|${g.transport}|${g.server_port}`;
    const set = allowedOn.get(at) ?? new Set<string>();
    set.add(interfaceOrService(g));
    allowedOn.set(at, set);
    if (dyn) {
      const d = dynamic.get(at) ?? { server: g.server, transport: g.transport, port: g.server_port, interfaces: [], services: [], clients: 0, flows: 0, pin: [], cite: [], clientSet: new Set<string>() };
      for (const i of list(g.interfaces)) {
        if (!d.interfaces.includes(i)) d.interfaces.push(i);
        const known = byName.get(i);
        if (known?.pin && !d.pin.includes(`${i}: ${known.pin}`)) {
          d.pin.push(`${i}: ${known.pin}`);
          for (const c of known.pin_cite) if (!d.cite.includes(c)) d.cite.push(c);
        }
      }
      if (g.service !== null && !d.services.includes(g.service)) d.services.push(g.service);
      d.clientSet.add(g.client);
      d.flows += g.flows;
      dynamic.set(at, d);
    }
  }

  const rulesOut = [...ruleMap.values()].map((r) => ({ ...r, ports: r.ports.sort((a, b) => a - b) }));
  rulesOut.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.transport.localeCompare(b.transport) || a.ports[0] - b.ports[0] || a.service.localeCompare(b.service));
  const roleNames = new Set(rulesOut.flatMap((r) => [r.from_kind === 'role' ? r.from : null, r.to_kind === 'role' ? r.to : null]).filter((x): x is string => x !== null));
  const role_hosts: Record<string, string[]> = {};
  for (const role of [...roleNames].sort()) {
    role_hosts[role] = (db.prepare(`SELECT address FROM hosts WHERE instr(',' || coalesce(roles, '') || ',', ',' || ? || ',') > 0 ORDER BY address`).all(role) as { address: string }[]).map((h) => h.address);
  }
  const audited_hosts = (db.prepare(`SELECT address FROM hosts WHERE roles IS NOT NULL AND roles != '' ORDER BY address`).all() as { address: string }[]).map((h) => h.address);
  const plan: FirewallPlan = { per: opts.per, all: opts.all, rules: rulesOut, rpc_dynamic: [], conflicts: [], role_hosts, audited_hosts };

  // Flows left out that the rules would still let through (the same server and port
  // as an allowed flow, usually): replayed against the plan itself, so the list is exact.
  const conflicts = new Map<string, Conflict>();
  for (const g of groups) {
    if (opts.all || g.verdict === 'expected' || !planAllows(plan, g)) continue;
    const at = `${g.server}|${g.transport}|${g.server_port}`;
    const c = conflicts.get(at) ?? { server: g.server, transport: g.transport, port: g.server_port, allowed: [...(allowedOn.get(at) ?? [])].sort(), not_allowed: [], unexpected_flows: 0, examples: [], advice: '' };
    const what = interfaceOrService(g);
    if (!c.not_allowed.includes(what)) c.not_allowed.push(what);
    c.unexpected_flows += g.flows;
    if (c.examples.length < 3) c.examples.push(`${g.client} → ${g.server}:${g.server_port}/${g.transport}`);
    conflicts.set(at, c);
  }
  for (const c of conflicts.values()) {
    const pins = c.not_allowed.map((n) => byName.get(n)).filter((i) => i?.pin).map((i) => `${i!.name}: ${i!.pin}`);
    c.advice = c.allowed.length
      ? `${c.allowed.join(', ')} (allowed) and ${c.not_allowed.join(', ')} (not allowed) share this port; a port filter cannot tell them apart${pins.length ? `. Pin the latter to its own port: ${pins.join('; ')}` : ''}`
      : `a rule for the same roles and port lets ${c.not_allowed.join(', ')} through; narrow it with --per host`;
  }

  plan.rpc_dynamic = [...dynamic.values()].map(({ clientSet, ...d }) => ({ ...d, clients: clientSet.size }));
  plan.conflicts = [...conflicts.values()];
  return plan;
}

function interfaceOrService(g: FlowGroup): string {
  return g.interfaces ?? g.service ?? `${g.transport}/${g.server_port}`;
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

export const FIREWALL_RULE_COLUMNS = ['from', 'to', 'transport', 'ports', 'service', 'rpc_interfaces', 'flows', 'rules', 'cite'];
export const DYNAMIC_COLUMNS = ['server', 'transport', 'port', 'interfaces', 'services', 'clients', 'flows', 'pin', 'cite'];
export const CONFLICT_COLUMNS = ['server', 'transport', 'port', 'allowed', 'not_allowed', 'unexpected_flows', 'examples', 'advice'];

export function ruleRows(p: FirewallPlan): Row[] {
  return p.rules.map((r) => ({
    from: r.from_kind === 'role' ? `role ${r.from}` : r.from,
    to: r.to_kind === 'role' ? `role ${r.to}` : r.to,
    transport: r.transport,
    ports: portText(r.ports),
    service: r.dynamic ? `${r.service} (dynamic RPC)` : r.service,
    rpc_interfaces: r.rpc_interfaces,
    flows: r.flows,
    rules: r.rules,
    cite: r.cite,
  }));
}

// --- nftables ---------------------------------------------------------------

/** A rule's side as addresses that parse (a role's members, or the one host); what does not parse is left out. */
function sideAddresses(p: FirewallPlan, kind: 'role' | 'host', v: string): string[] {
  const list = kind === 'host' ? [v] : p.role_hosts[v] ?? [];
  return list.map(scriptHostAddress).filter((a): a is string => a !== null);
}

/** Ports of a rule that are ports (a database is input: a "port" may hold text). */
const rulePorts = (r: FirewallRule) => r.ports.map(scriptPort).filter((x): x is number => x !== null);

/** Addresses of the plan (role members, audited hosts, host rules) that are not addresses: left out of the scripts, and said so. */
function badAddresses(p: FirewallPlan): number {
  const all = new Set([...Object.values(p.role_hosts).flat(), ...p.audited_hosts, ...p.rules.flatMap((r) => [r.from_kind === 'host' ? r.from : null, r.to_kind === 'host' ? r.to : null])]);
  let n = 0;
  for (const a of all) if (a !== null && scriptHostAddress(a) === null) n++;
  return n;
}

function scriptHeader(p: FirewallPlan, header: string, comment: (s: string) => string): string[] {
  const bad = badAddresses(p);
  const lines = header.split(/\r\n|\r|\n/);
  if (bad > 0) lines.push(`${bad} value(s) in the database that are not IP addresses were left out`);
  return lines.map(comment);
}

/**
 * An nftables ruleset (nft -f): a table `exflow` with one set per role and family,
 * a forward chain that accepts established traffic and the allowed new connections,
 * and drops new connections between audited hosts that no rule allows. Other traffic
 * is left alone (policy accept): change the policy to drop for a default-deny.
 */
export function nftRuleset(p: FirewallPlan, header: string): string {
  const out: string[] = scriptHeader(p, header, nftLineComment);
  const setName = (role: string, fam: 4 | 6) => nftName('role_', role) + `_v${fam}`;
  const set = (name: string, fam: 4 | 6, members: string[]) => {
    out.push(`\tset ${name} {`, `\t\ttype ${fam === 4 ? 'ipv4_addr' : 'ipv6_addr'}`);
    if (members.length) out.push(`\t\telements = { ${members.join(', ')} }`);
    out.push('\t}');
  };
  out.push('table inet exflow {');
  for (const role of Object.keys(p.role_hosts)) {
    const members = sideAddresses(p, 'role', role);
    for (const fam of [4, 6] as const) set(setName(role, fam), fam, members.filter((h) => scriptFamily(h) === fam));
  }
  const audited = p.audited_hosts.map(scriptHostAddress).filter((a): a is string => a !== null);
  for (const fam of [4, 6] as const) set(`audited_v${fam}`, fam, audited.filter((h) => scriptFamily(h) === fam));
  out.push('', '\tchain forward {', '\t\ttype filter hook forward priority filter; policy accept;', '\t\tct state established,related accept');
  for (const r of p.rules) {
    const proto = scriptProtocol(r.transport);
    const portList = rulePorts(r);
    if (proto === null || portList.length === 0) continue;
    const ports = portList.length === 1 ? String(portList[0]) : `{ ${portText(portList)} }`;
    const comment = nftComment(`${r.service}${r.dynamic ? ' dynamic RPC' : ''}${r.rpc_interfaces.length ? ` (${r.rpc_interfaces.join(',')})` : ''}${r.rules.length ? ` ${r.rules[0]}` : ''}`);
    for (const fam of [4, 6] as const) {
      const side = (kind: 'role' | 'host', v: string): string | null => {
        const members = sideAddresses(p, kind, v).filter((h) => scriptFamily(h) === fam);
        if (members.length === 0) return null;
        return kind === 'host' ? members[0] : `@${setName(v, fam)}`;
      };
      const s = side(r.from_kind, r.from);
      const d = side(r.to_kind, r.to);
      if (s === null || d === null) continue;
      const ip = fam === 4 ? 'ip' : 'ip6';
      out.push(`\t\t${ip} saddr ${s} ${ip} daddr ${d} ${proto} dport ${ports} accept comment ${comment}`);
    }
  }
  out.push(
    `\t\tip saddr @audited_v4 ip daddr @audited_v4 ct state new counter drop comment ${nftComment('between audited hosts, not allowed by the audit')}`,
    `\t\tip6 saddr @audited_v6 ip6 daddr @audited_v6 ct state new counter drop comment ${nftComment('between audited hosts, not allowed by the audit')}`,
    '\t}',
    '}',
  );
  return out.join('\n') + '\n';
}

// --- Windows Firewall (PowerShell) -------------------------------------------

/**
 * New-NetFirewallRule commands: inbound allow rules for the servers' side (the
 * Windows Firewall filters on the host that receives). Each rule is scoped by
 * -LocalAddress to the servers it is for, so one script can be pushed to all of them.
 */
export function powershellRules(p: FirewallPlan, header: string): string {
  const out = scriptHeader(p, header, psComment);
  out.push("$ErrorActionPreference = 'Stop'");
  for (const r of p.rules) {
    const remote = sideAddresses(p, r.from_kind, r.from);
    const local = sideAddresses(p, r.to_kind, r.to);
    const proto = scriptProtocol(r.transport);
    const ports = rulePorts(r);
    if (remote.length === 0 || local.length === 0 || proto === null || ports.length === 0) continue;
    const name = `exflow: ${r.service}${r.dynamic ? ' (dynamic RPC)' : ''} ${r.from} -> ${r.to} ${proto}/${portText(ports, ',')}`;
    const desc = [r.rpc_interfaces.length ? `RPC: ${r.rpc_interfaces.join(', ')}` : '', r.rules.length ? `matrix: ${r.rules.join(', ')}` : 'seen, not allowed by the matrix (--all)', ...r.cite].filter(Boolean).join('; ');
    out.push(
      `New-NetFirewallRule -DisplayName ${psString(name, 250)} -Group 'exflow' -Direction Inbound -Action Allow ` +
        `-Protocol ${psWord(proto.toUpperCase())} -LocalPort ${ports.join(',')} ` +
        `-RemoteAddress ${remote.map((a) => psString(a)).join(',')} -LocalAddress ${local.map((a) => psString(a)).join(',')} ` +
        `-Description ${psString(desc, 1000)}`,
    );
  }
  return out.join('\n') + '\n';
}

/** Whether a plan's rules let a flow through (what the nftables ruleset does with a new connection). */
export function planAllows(p: FirewallPlan, flow: { client: string; server: string; transport: string; server_port: number }): boolean {
  const member = (kind: 'role' | 'host', v: string, addr: string) => (kind === 'host' ? v === addr : (p.role_hosts[v] ?? []).includes(addr));
  return p.rules.some((r) => r.transport === flow.transport && r.ports.includes(flow.server_port) && member(r.from_kind, r.from, flow.client) && member(r.to_kind, r.to, flow.server));
}
