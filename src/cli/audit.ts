// Roles and verdicts. A flow is judged when it is written out, with the roles known
// then (the inventory, and roles inferred by earlier runs); after the captures are
// in, roles are inferred from the whole database and only the flows of hosts whose
// roles changed are judged again. "exflow audit" judges everything again (after a
// new inventory or changed rules).
import { Matrix, type FlowFacts, type Verdict } from '../audit/verdict';
import { Inventory } from '../classify/inventory';
import { parseNet } from '../classify/ip';
import { resolveHost } from '../classify/roles';
import { versionOf } from '../rules/versions';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import {
  disagreements,
  hostPages,
  readInventory,
  refreshHostActivity,
  roleSourceCounts,
  saveInventory,
  startRoleUpdate,
  storedRoles,
  writeHostRoles,
  writeEncryptionFindings,
  writeWireVersions,
  writeVerdicts,
} from '../store/roles';

export interface AuditSummary {
  counts: Record<string, number>;
  hosts: number;
  fromInventory: number;
  inferred: number;
  disagreements: string[];
  /** Stored inventory entries whose roles the current rules no longer know. */
  stale: string[];
}

export class Auditor {
  readonly stale: string[] = [];
  private readonly inventory: Inventory;
  private readonly matrix: Matrix;
  private readonly roles = new Map<string, string[]>();

  /**
   * @param given a new inventory (loaded once, by the caller) to store and use;
   *   null = the one stored with the database by an earlier --inventory, if any.
   */
  constructor(
    private readonly db: Db,
    private readonly rules: RuleSet,
    given: Inventory | null,
  ) {
    if (given !== null) {
      this.inventory = given;
      saveInventory(db, this.inventory.entries);
    } else {
      const rows = readInventory(db).filter((r) => {
        const unknown = r.roles.filter((x) => !rules.roles.has(x));
        if (unknown.length) this.stale.push(`${r.source}: role ${unknown.join(', ')} no longer in the rules; entry ignored`);
        return unknown.length === 0;
      });
      this.inventory = new Inventory(rows.map((r) => ({ ...r, net: parseNet(r.address)! })));
    }
    // Every version's tables apply (a mixed organisation); the rule id names the table that allowed a flow.
    this.matrix = new Matrix(rules.matrix, new Set());
    for (const [address, roles] of storedRoles(db)) if (roles.every((r) => rules.roles.has(r))) this.roles.set(address, roles);
  }

  private rolesOf(address: string): string[] {
    return this.inventory.lookup(address)?.roles ?? this.roles.get(address) ?? [];
  }

  /** The tables (matrix versions) a host's Exchange version allows; null = unknown version, every table. */
  private tablesOfVersion(text: string | null | undefined): string[] | null {
    return versionOf(this.rules.versions, text)?.tables ?? null;
  }

  /** The verdict for a flow with the roles (and versions) known now. */
  judge = (k: FlowFacts): Verdict =>
    this.matrix.judge(k, this.rolesOf(k.client), this.rolesOf(k.server), this.tablesOfVersion(this.inventory.lookup(k.client)?.version), this.tablesOfVersion(this.inventory.lookup(k.server)?.version));

  /**
   * Infers roles from the whole database, stores them, and judges again the flows
   * of hosts whose roles changed — or every flow when `all`. Host by host in pages.
   */
  finish(all: boolean): AuditSummary {
    refreshHostActivity(this.db);
    startRoleUpdate(this.db);
    for (const page of hostPages(this.db)) writeHostRoles(this.db, page.map((a) => resolveHost(this.rules, a, this.inventory)));
    writeWireVersions(this.db);
    const counts = writeVerdicts(this.db, (k, cr, sr, cv, sv) => this.matrix.judge(k, cr, sr, this.tablesOfVersion(cv), this.tablesOfVersion(sv)), all);
    const requirements = this.rules.matrix.flatMap((r) =>
      r.encrypted.map((service) => ({ rule: r.id, service, text: `${service} between ${r.from} and ${r.to} is encrypted by the table (${r.id}; seed ${r.encryptedCite[0]}); this session was in clear` })),
    );
    counts.encryption = writeEncryptionFindings(this.db, requirements);
    const c = roleSourceCounts(this.db);
    return { counts, hosts: c.hosts, fromInventory: c.inventory, inferred: c.inferred, disagreements: disagreements(this.db), stale: this.stale };
  }
}
