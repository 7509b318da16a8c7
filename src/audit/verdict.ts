// The audit verdict for one flow: do the seeds' role×role tables allow this
// service between the roles of its two hosts? A matrix cell is read in both
// orientations (see rules/matrix-2007.yaml's header): the seeds list directory
// services in the domain controller's row of every table although the DC serves
// them. "Mixed organisations: the rules of every version present apply."
import { RPC_UNNAMED_SERVICE } from '../classify/rpc';
import type { MatrixRule } from '../rules/matrix';

export type VerdictKind = 'expected' | 'unexpected' | 'unknown';

export interface Verdict {
  clientRole: string | null;
  serverRole: string | null;
  verdict: VerdictKind;
  /** The matrix entry that allows the flow. */
  rule: string | null;
  /** Why, in English: the rule that allows the flow, or why none does. */
  reason: string;
  /** Where the rule comes from, in its source's words and language (seed, section, quote); null when no rule allowed the flow. */
  cite: string | null;
  /**
   * For a flow no rule allows between roles the rules do name: every service they allow and every
   * rule read, in full. The reason names them only while they are short (SHORT_LIST); a host with
   * several roles can have 17 rules between it and its peer, which the reason then counts.
   */
  detail: string | null;
}

/** The longest list of allowed services and rule ids a reason spells out; a longer one is counted there and written in full in `detail`. */
export const SHORT_LIST = 120;

/** "1 rule", "17 rules". */
const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** What a verdict depends on, besides the two sides' roles: the service, and the transport and port (for the reason text). */
export interface VerdictFacts {
  transport: string;
  serverPort: number;
  service: string | null;
}

/** A flow as the audit sees it: its two hosts (whose roles are looked up) and what the verdict depends on. */
export interface FlowFacts extends VerdictFacts {
  client: string;
  server: string;
}

export class Matrix {
  private readonly byPair = new Map<string, MatrixRule[]>();

  /** @param versions the Exchange versions present; empty = all rules apply. */
  constructor(rules: MatrixRule[], versions: Set<string>) {
    for (const r of rules) {
      if (versions.size > 0 && !r.versions.some((v) => versions.has(v))) continue;
      for (const key of new Set([`${r.from}|${r.to}`, `${r.to}|${r.from}`])) {
        const list = this.byPair.get(key) ?? [];
        list.push(r);
        this.byPair.set(key, list);
      }
    }
  }

  /** Rules between two roles, those written in this orientation (a = from) first. */
  rulesFor(a: string, b: string): MatrixRule[] {
    const rs = this.byPair.get(`${a}|${b}`) ?? [];
    return [...rs.filter((r) => r.from === a), ...rs.filter((r) => r.from !== a)];
  }

  /**
   * @param clientTables the matrix versions the client's Exchange version allows
   *   (rules/versions.yaml `tables`); null = unknown version, every table
   */
  judge(f: VerdictFacts, clientRoles: string[], serverRoles: string[], clientTables: string[] | null = null, serverTables: string[] | null = null): Verdict {
    const join = (rs: string[]) => (rs.length ? rs.join('+') : null);
    if (clientRoles.length === 0 || serverRoles.length === 0) {
      // The addresses are the flow's own columns: the reason names the sides, so one verdict serves many flows.
      const missing = [clientRoles.length === 0 ? 'client' : '', serverRoles.length === 0 ? 'server' : ''].filter(Boolean).join(' and ');
      return { clientRole: join(clientRoles), serverRole: join(serverRoles), verdict: 'unknown', rule: null, reason: `no role for the ${missing} (not in the inventory, nothing inferred)`, cite: null, detail: null };
    }
    // A DCE/RPC connection whose interface could not be read (cut by the snaplen, its
    // bind before the capture) says nothing the tables could judge: a capture limit,
    // not a policy finding.
    if (f.service === RPC_UNNAMED_SERVICE) {
      return { clientRole: join(clientRoles), serverRole: join(serverRoles), verdict: 'unknown', rule: null, reason: `the RPC interface could not be read (its bind was cut by the snaplen or is not in the capture): it cannot be judged`, cite: null, detail: null };
    }
    const applies = tablesFor(clientTables, serverTables);
    const seen: MatrixRule[] = [];
    for (const cr of clientRoles) {
      for (const sr of serverRoles) {
        for (const r of applies(this.rulesFor(cr, sr))) {
          seen.push(r);
          if (r.any || (f.service !== null && r.services.includes(f.service))) {
            // The reason in English; the seed's own words, in its language, are the citation apart.
            const what = r.any ? `any service between ${cr} and ${sr}` : `${f.service} between ${cr} → ${sr}`;
            return { clientRole: cr, serverRole: sr, verdict: 'expected', rule: r.id, reason: `the matrix allows ${what} (${r.id})`, cite: citeOf(r.cite, r.text), detail: null };
          }
        }
      }
    }
    const what = f.service ?? `an unnamed service (${f.transport}/${f.serverPort})`;
    const pair = `${join(clientRoles)} → ${join(serverRoles)}`;
    let reason: string;
    let detail: string | null = null;
    if (seen.length === 0) reason = `no rule between ${pair} allows anything; ${what} is not expected`;
    else {
      const allowed = [...new Set(seen.flatMap((r) => r.services))];
      const ids = [...new Set(seen.map((r) => r.id))];
      const list = allowed.length ? `${allowed.join(', ')}; ${ids.join(', ')}` : ids.join(', ');
      const short = list.length <= SHORT_LIST ? list : allowed.length ? `${counted(allowed.length, 'service')} allowed by ${counted(ids.length, 'rule')}` : counted(ids.length, 'rule');
      reason = allowed.length ? `${what} is not among what the matrix allows between ${pair} (${short})` : `the matrix says no direct connection between ${pair} (${short})`;
      detail = allowed.length ? `allowed: ${allowed.join(', ')}; rules: ${ids.join(', ')}` : `rules: ${ids.join(', ')}`;
    }
    return { clientRole: join(clientRoles), serverRole: join(serverRoles), verdict: 'unexpected', rule: null, reason, cite: null, detail };
  }
}

/** A rule's citation as users read it: "seed 004 <section>: "<the table's words>"" (the seed's language). */
export function citeOf(cite: string[], quote = ''): string {
  // A seed is cited by its number ("004 <section>"); another source (Microsoft's reference) by its own name.
  return `${cite.map((c) => (/^\d{3} /.test(c) ? `seed ${c}` : c)).join('; ')}${quote ? `: "${quote}"` : ''}`;
}

/**
 * Which rules judge a flow between hosts whose versions allow these tables: with one
 * side's version known, its tables; with both, the tables both allow; for a
 * coexistence pair (none in common), the rules written for both versions at once
 * (000's mixed 2003/2007 table), else the tables of either side.
 */
function tablesFor(a: string[] | null, b: string[] | null): (rules: MatrixRule[]) => MatrixRule[] {
  if (a === null && b === null) return (rules) => rules;
  if (a === null || b === null) {
    const t = new Set(a ?? b!);
    return (rules) => rules.filter((r) => r.versions.some((v) => t.has(v)));
  }
  const common = a.filter((v) => b.includes(v));
  if (common.length > 0) return (rules) => rules.filter((r) => r.versions.some((v) => common.includes(v)));
  return (rules) => {
    const both = rules.filter((r) => r.versions.some((v) => a.includes(v)) && r.versions.some((v) => b.includes(v)));
    return both.length > 0 ? both : rules.filter((r) => r.versions.some((v) => a.includes(v) || b.includes(v)));
  };
}
