// Roles of hosts: from the inventory when it names the host, else inferred from
// what the host was seen serving and using (rules/inference.yaml). Both are kept,
// so a disagreement between what the user wrote and what the traffic shows can be
// reported rather than silently resolved.
import type { Confidence } from '../rules/inference';
import type { RuleSet } from '../rules/load';
import type { Inventory, InventoryEntry } from './inventory';
import { isPublicAddress } from './ip';

export interface HostActivity {
  address: string;
  serves: Set<string>;
  uses: Set<string>;
  /** Name-evidence tokens about the host's names ("dns-srv:_ldap._tcp.dc._msdcs", "dns-srv", …). */
  named: Set<string>;
  /** What its clients serve themselves, per service it served them ("service>profile", written by store/roles.ts refreshHostActivity: "mapi-rpc>mapi-rpc", "mapi-rpc>" for none). */
  servedTo: Set<string>;
}

/** Whether some client the host served one of `services` to has a profile (what it serves itself) that `fits`. */
function someClient(servedTo: Set<string>, services: string[], fits: (profile: string[]) => boolean): boolean {
  for (const t of servedTo) {
    const at = t.indexOf('>');
    if (services.includes(t.slice(0, at)) && fits(t.slice(at + 1).split(',').filter(Boolean))) return true;
  }
  return false;
}

export interface HostRoles {
  address: string;
  roles: string[];
  source: 'inventory' | 'inferred' | null;
  confidence: Confidence | null;
  /** Why: the inventory line, or each inference rule that matched and what it saw. */
  evidence: string[];
  inferred: string[];
  entry: InventoryEntry | null;
  disagreement: string | null;
}

const RANK: Record<Confidence, number> = { high: 3, medium: 2, low: 1 };

/** What inference concluded of a host: its roles, how sure, and why. */
export interface InferredRoles {
  roles: string[];
  confidence: Confidence | null;
  evidence: string[];
}

/**
 * Infers a host's roles from its activity. `isPublic` says whether its address is a public one,
 * asked only when a rule reaches its address condition (most hosts never get there).
 */
export function inferRoles(rules: RuleSet, a: HostActivity, isPublic: () => boolean = () => a.address !== '' && isPublicAddress(a.address)): InferredRoles {
  const matched: { rule: (typeof rules.inference)[number]; saw: string }[] = [];
  let best: Confidence | null = null;
  for (const r of rules.inference) {
    if (!r.servesAll.every((s) => a.serves.has(s))) continue;
    if (r.servesAny.length > 0 && !r.servesAny.some((s) => a.serves.has(s))) continue;
    const served = [...r.servesAll, ...r.servesAny.filter((s) => a.serves.has(s))];
    const frontEnd = r.clientsServeAny.length > 0;
    if (frontEnd && !someClient(a.servedTo, served, (p) => p.some((s) => r.clientsServeAny.includes(s)))) continue;
    if (r.clientsServeNone.length > 0 && !someClient(a.servedTo, served, (p) => !p.some((s) => r.clientsServeNone.includes(s)))) continue;
    if (r.usesAny.length > 0 && !r.usesAny.some((s) => a.uses.has(s))) continue;
    if (r.usesNone.some((s) => a.uses.has(s))) continue;
    if (r.servesNone && a.serves.size > 0) continue;
    if (r.namedAny.length > 0 && !r.namedAny.some((t) => a.named.has(t))) continue;
    if (r.address !== null && (r.address === 'public') !== isPublic()) continue;
    const used = r.usesAny.filter((s) => a.uses.has(s));
    const named = r.namedAny.filter((t) => a.named.has(t));
    const saw = [
      served.length ? `serves ${served.join(', ')}` : '',
      frontEnd ? `to a host that serves ${r.clientsServeAny.join(' or ')} itself` : '',
      r.clientsServeNone.length ? `to a host that serves none of ${r.clientsServeNone.join(', ')}` : '',
      r.servesNone ? 'serves nothing' : '',
      used.length ? `uses ${used.join(', ')}` : '',
      r.usesNone.length ? `uses none of ${r.usesNone.join(', ')}` : '',
      named.length ? `named by ${named.join(', ')}` : '',
      r.address ? `${r.address} address` : '',
    ].filter(Boolean).join('; ');
    matched.push({ rule: r, saw });
    // A rule that only rules roles out gives none: it is not evidence of what the host is.
    if (r.roles.length > 0 && (best === null || RANK[r.confidence] > RANK[best])) best = r.confidence;
  }
  // Weak evidence does not accuse: a guess (low confidence) stands only when nothing surer
  // matched — a "gateway" that is also seen acting as a Client Access server or an
  // Outlook client is that, not a gateway.
  const kept = best !== null && RANK[best] > RANK.low ? matched.filter((m) => m.rule.confidence !== 'low') : matched;
  let roles: string[] = [];
  const evidence: string[] = [];
  for (const { rule, saw } of matched) {
    const dropped = !kept.some((k) => k.rule === rule);
    const gives = [rule.roles.length ? rule.roles.join(' or ') : '', rule.rulesOut.length ? `not ${rule.rulesOut.join(', not ')}` : ''].filter(Boolean).join('; ');
    evidence.push(`${rule.id} (${rule.confidence}): ${saw} → ${gives}${dropped ? ' — set aside: surer evidence says otherwise' : ''}`);
    if (!dropped) for (const role of rule.roles) if (!roles.includes(role)) roles.push(role);
  }
  // What the evidence rules out goes, and the host's roles are then only as sure as that evidence:
  // an MX target that is not a domain member is the Edge (rules/inference.yaml: not-domain-member).
  let confidence = best;
  for (const { rule } of kept) {
    if (!rule.rulesOut.some((r) => roles.includes(r))) continue;
    roles = roles.filter((r) => !rule.rulesOut.includes(r));
    if (confidence !== null && RANK[rule.confidence] < RANK[confidence]) confidence = rule.confidence;
  }
  return { roles, confidence: roles.length ? confidence : null, evidence };
}

/** What RoleInference remembers for a profile whose answer depends on whether the address is public. */
const ADDRESS_MATTERS = Symbol('address matters');

/** At most this many activity profiles are remembered by a RoleInference (then each further host is inferred alone). */
export const MAX_PROFILES = 20_000;

/**
 * Inference for many hosts, each profile of activity inferred once: hosts that were seen
 * doing the same (a capture's thousands of clients, a farm of servers) share one answer.
 * Measured on the bench's synthetic capture (14,297 hosts that serve something): inferring each
 * host alone, with its four lists parsed, cost the audit 290 ms.
 */
export class RoleInference {
  /** By profile: the answer, or ADDRESS_MATTERS when a rule asked whether the address is public. */
  private readonly byProfile = new Map<string, InferredRoles | typeof ADDRESS_MATTERS>();
  /** For profiles whose answer depends on the address: by profile and whether it is public. */
  private readonly byPlace = new Map<string, InferredRoles>();

  constructor(private readonly rules: RuleSet) {}

  /**
   * The inference for host `address`, whose `profile` is equal for any two hosts with equal
   * activity (the stored lists' text); `activity` is asked for only when the profile is new.
   */
  infer(address: string, profile: string, activity: () => HostActivity): InferredRoles {
    const known = this.byProfile.get(profile);
    const isPublic = () => address !== '' && isPublicAddress(address);
    if (known !== undefined && known !== ADDRESS_MATTERS) return known;
    if (known === ADDRESS_MATTERS) {
      const place = `${isPublic() ? 'public' : 'private'}\u0000${profile}`;
      const placed = this.byPlace.get(place);
      if (placed !== undefined) return placed;
      const r = inferRoles(this.rules, activity(), isPublic);
      if (this.byPlace.size < MAX_PROFILES) this.byPlace.set(place, r);
      return r;
    }
    const asked: { isPublic?: boolean } = {};
    const r = inferRoles(this.rules, activity(), () => (asked.isPublic = isPublic()));
    if (this.byProfile.size >= MAX_PROFILES) return r;
    if (asked.isPublic === undefined) this.byProfile.set(profile, r);
    else {
      this.byProfile.set(profile, ADDRESS_MATTERS);
      this.byPlace.set(`${asked.isPublic ? 'public' : 'private'}\u0000${profile}`, r);
    }
    return r;
  }
}
/** A host's roles: the inventory's when it names the host (with what inference `inf` says beside), else inference's. */
export function resolveHost(address: string, inf: InferredRoles, inventory: Inventory): HostRoles {
  const entry = inventory.lookup(address);
  if (entry) {
    const missed = inf.roles.filter((r) => !entry.roles.includes(r));
    const disagreement =
      inf.roles.length > 0 && !inf.roles.some((r) => entry.roles.includes(r))
        ? `inventory says ${entry.roles.join(', ')}; the traffic suggests ${missed.join(' or ')} (${inf.evidence.join('; ')})`
        : null;
    return {
      address,
      roles: entry.roles,
      source: 'inventory',
      confidence: 'high',
      evidence: [`inventory ${entry.source}: ${entry.address} → ${entry.roles.join(', ')}`, ...inf.evidence],
      inferred: inf.roles,
      entry,
      disagreement,
    };
  }
  return {
    address,
    roles: inf.roles,
    source: inf.roles.length ? 'inferred' : null,
    confidence: inf.confidence,
    evidence: inf.evidence,
    inferred: inf.roles,
    entry: null,
    disagreement: null,
  };
}
