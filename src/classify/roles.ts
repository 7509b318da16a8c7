// Roles of hosts: from the inventory when it names the host, else inferred from
// what the host was seen serving and using (rules/inference.yaml). Both are kept,
// so a disagreement between what the user wrote and what the traffic shows can be
// reported rather than silently resolved.
import type { Confidence } from '../rules/inference';
import type { RuleSet } from '../rules/load';
import type { Inventory, InventoryEntry } from './inventory';

export interface HostActivity {
  address: string;
  serves: Set<string>;
  uses: Set<string>;
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

export function inferRoles(rules: RuleSet, a: HostActivity): { roles: string[]; confidence: Confidence | null; evidence: string[] } {
  const roles: string[] = [];
  const evidence: string[] = [];
  let best: Confidence | null = null;
  for (const r of rules.inference) {
    if (!r.servesAll.every((s) => a.serves.has(s))) continue;
    if (r.servesAny.length > 0 && !r.servesAny.some((s) => a.serves.has(s))) continue;
    if (r.usesAny.length > 0 && !r.usesAny.some((s) => a.uses.has(s))) continue;
    const served = [...r.servesAll, ...r.servesAny.filter((s) => a.serves.has(s))];
    const used = r.usesAny.filter((s) => a.uses.has(s));
    const saw = [served.length ? `serves ${served.join(', ')}` : '', used.length ? `uses ${used.join(', ')}` : ''].filter(Boolean).join('; ');
    evidence.push(`${r.id} (${r.confidence}): ${saw} → ${r.roles.join(' or ')}`);
    for (const role of r.roles) if (!roles.includes(role)) roles.push(role);
    if (best === null || RANK[r.confidence] > RANK[best]) best = r.confidence;
  }
  return { roles, confidence: best, evidence };
}

export function resolveHost(rules: RuleSet, activity: HostActivity, inventory: Inventory): HostRoles {
  const inf = inferRoles(rules, activity);
  const entry = inventory.lookup(activity.address);
  if (entry) {
    const missed = inf.roles.filter((r) => !entry.roles.includes(r));
    const disagreement =
      inf.roles.length > 0 && !inf.roles.some((r) => entry.roles.includes(r))
        ? `inventory says ${entry.roles.join(', ')}; the traffic suggests ${missed.join(' or ')} (${inf.evidence.join('; ')})`
        : null;
    return {
      address: activity.address,
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
    address: activity.address,
    roles: inf.roles,
    source: inf.roles.length ? 'inferred' : null,
    confidence: inf.confidence,
    evidence: inf.evidence,
    inferred: inf.roles,
    entry: null,
    disagreement: null,
  };
}
