// Roles and verdicts for everything in the database: run after analyze (and by
// "exflow audit" on its own, e.g. with a corrected inventory). Host roles need the
// whole picture — what each host served across all captures — so this is a pass
// over the database, not a per-flow step at write-out.
import { Matrix } from '../audit/verdict';
import { Inventory, loadInventory } from '../classify/inventory';
import { parseNet } from '../classify/ip';
import { resolveHost } from '../classify/roles';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { hostActivity, readInventory, saveInventory, writeHostRoles, writeVerdicts } from '../store/roles';

export interface AuditSummary {
  counts: Record<string, number>;
  hosts: number;
  fromInventory: number;
  inferred: number;
  disagreements: string[];
  /** Stored inventory entries whose roles the current rules no longer know. */
  stale: string[];
}

/**
 * @param inventoryPath a new inventory to store and use; null = the one stored
 *   with the database (from an earlier --inventory), if any. Throws RulesError.
 */
export function auditDatabase(db: Db, rules: RuleSet, inventoryPath: string | null): AuditSummary {
  let inventory: Inventory;
  const stale: string[] = [];
  if (inventoryPath !== null) {
    inventory = loadInventory(inventoryPath, rules);
    saveInventory(db, inventory.entries);
  } else {
    const rows = readInventory(db).filter((r) => {
      const unknown = r.roles.filter((x) => !rules.roles.has(x));
      if (unknown.length) stale.push(`${r.source}: role ${unknown.join(', ')} no longer in the rules; entry ignored`);
      return unknown.length === 0;
    });
    inventory = new Inventory(rows.map((r) => ({ ...r, net: parseNet(r.address)! })));
  }
  const hosts = hostActivity(db).map((activity) => ({ activity, roles: resolveHost(rules, activity, inventory) }));
  writeHostRoles(db, hosts);
  const roleOf = new Map(hosts.map((h) => [h.roles.address, h.roles.roles]));
  // Every version's tables apply (a mixed organisation); the rule id names the table that allowed a flow.
  const matrix = new Matrix(rules.matrix, new Set());
  const counts = writeVerdicts(db, (k) => matrix.judge(k, roleOf.get(k.client) ?? [], roleOf.get(k.server) ?? []));
  return {
    counts,
    hosts: hosts.length,
    fromInventory: hosts.filter((h) => h.roles.source === 'inventory').length,
    inferred: hosts.filter((h) => h.roles.source === 'inferred').length,
    disagreements: hosts.filter((h) => h.roles.disagreement).map((h) => `${h.roles.address}: ${h.roles.disagreement}`),
    stale,
  };
}
