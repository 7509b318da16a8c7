import { Matrix } from '../audit/verdict';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { flowGroups, verdictSums } from './groups';
import type { Row } from './format';
import { NO_ROLE } from './role-traffic';

export interface MatrixCell {
  client_role: string;
  server_role: string;
  flows: number;
  bytes: number;
  expected: number;
  unexpected: number;
  unknown: number;
  /** What the rules say about the pair: "allowed: …", "no direct connection", "any", or "no rule". */
  rules_say: string;
  /** Traffic where the rules say there should be none. */
  no_direct_connection: boolean;
  services: { service: string; flows: number; bytes: number; verdict: string }[];
}

/** One word for a group of flows: unexpected, mixed (some of each), expected, or unknown. */
export function mixedVerdict(expected: number, unexpected: number): string {
  return unexpected > 0 ? (expected > 0 ? 'mixed' : 'unexpected') : expected > 0 ? 'expected' : 'unknown';
}

/**
 * Role × role: services observed in each cell and whether the rules expect them. A cell is a pair of
 * hosts' role sets (client_roles, server_roles: a domain controller that also serves DNS is
 * "domain-controller+dns-server" for all its flows), not the role each flow's rule named — that put
 * one host under a label per rule it matched and one more for what no rule allows.
 */
export function matrixReport(db: Db, rules: RuleSet, f: FlowFilter): MatrixCell[] {
  // Read: roles, service, verdict and the sums (the groups are added up before they are judged).
  const g = flowGroups(db, f, [], [], { by: [] });
  const rows = db
    .prepare(
      `SELECT coalesce(f.client_roles, '${NO_ROLE}') AS cr, coalesce(f.server_roles, '${NO_ROLE}') AS sr, coalesce(f.service, '(unknown)') AS service,
              sum(f.flows) AS flows, sum(f.bytes) AS bytes, ${verdictSums()}
       FROM ${g.sql} f GROUP BY cr, sr, service ORDER BY cr, sr, sum(f.bytes) DESC, service`,
    )
    .all(...g.args) as { cr: string; sr: string; service: string; flows: number; bytes: number; expected: number; unexpected: number; unknown: number }[];
  const m = new Matrix(rules.matrix, new Set());
  const cells = new Map<string, MatrixCell>();
  for (const r of rows) {
    const key = `${r.cr}|${r.sr}`;
    let c = cells.get(key);
    if (!c) {
      const pairRules = r.cr.split('+').flatMap((a) => r.sr.split('+').flatMap((b) => m.rulesFor(a, b)));
      const anyRule = pairRules.some((x) => x.any);
      const allowed = [...new Set(pairRules.flatMap((x) => x.services))];
      const rulesSay = pairRules.length === 0 ? 'no rule' : anyRule ? 'any' : allowed.length ? `allowed: ${allowed.join(', ')}` : 'no direct connection';
      c = { client_role: r.cr, server_role: r.sr, flows: 0, bytes: 0, expected: 0, unexpected: 0, unknown: 0, rules_say: rulesSay, no_direct_connection: rulesSay === 'no direct connection', services: [] };
      cells.set(key, c);
    }
    c.flows += r.flows;
    c.bytes += r.bytes;
    c.expected += r.expected;
    c.unexpected += r.unexpected;
    c.unknown += r.unknown;
    c.services.push({ service: r.service, flows: r.flows, bytes: r.bytes, verdict: mixedVerdict(r.expected, r.unexpected) });
  }
  return [...cells.values()];
}

export function matrixRows(cells: MatrixCell[]): Row[] {
  return cells.map((c) => ({
    client_role: c.client_role,
    server_role: c.server_role,
    flows: c.flows,
    bytes: c.bytes,
    services: c.services.map((s) => `${s.service} (${s.verdict})`),
    expected: c.expected,
    unexpected: c.unexpected,
    unknown: c.unknown,
    rules_say: c.no_direct_connection ? 'NO DIRECT CONNECTION — but traffic seen' : c.rules_say,
  }));
}
