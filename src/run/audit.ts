// Roles and verdicts. After a run's captures are in, roles are inferred from the
// whole database; then each distinct verdict key (roles, versions, service, port) in
// use is judged once — those not judged before and those of the run's own flows —
// and the views join the verdicts to the flows. "exflow audit" judges every key
// again (after a new inventory or changed rules).
import { citeOf, Matrix } from '../audit/verdict';
import { Inventory } from '../classify/inventory';
import { parseNet } from '../classify/ip';
import { resolveHost, RoleInference } from '../classify/roles';
import { clientProfiles } from '../rules/inference';
import { versionOf } from '../rules/versions';
import type { RuleSet } from '../rules/load';
import type { Db } from '../store/db';
import { AUDIT_ROWS, RUN_VISIBLE_OR } from '../store/schema';
import {
  type EncryptionFinding,
  disagreements,
  hostPages,
  readInventory,
  refreshHostActivity,
  roleSourceCounts,
  saveInventory,
  writeHostRoles,
  writeWireVersions,
  writeWireNames,
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
  /** Flows (of complete runs) that raised a protection finding. */
  protection: number;
}

export class Auditor {
  readonly stale: string[] = [];
  private readonly inventory: Inventory;
  private readonly matrix: Matrix;

  /**
   * @param given a new inventory (loaded once, by the caller) to store and use;
   *   null = the one stored with the database by an earlier --inventory, if any.
   */
  /**
   * @param o.wireVersions where the servers' versions the wire showed are read (rows address, v),
   *   for a database without the flows (an engine's copy); by default from its flows
   */
  constructor(
    private readonly db: Db,
    private readonly rules: RuleSet,
    given: Inventory | null,
    private readonly o: { wireVersions?: string } = {},
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
  }

  /** The tables (matrix versions) a host's Exchange version allows; null = unknown version, every table. */
  private tablesOfVersion(text: string | null | undefined): string[] | null {
    return versionOf(this.rules.versions, text)?.tables ?? null;
  }

  /**
   * Infers roles from the whole database, stores them, and judges the verdict keys in
   * use that have no verdict yet and those of run `runId`'s flows — or every key when
   * `all`. Hosts are read in pages; flows only in SQL.
   */
  finish(all: boolean, runId: number | null = null): AuditSummary {
    refreshHostActivity(this.db, clientProfiles(this.rules.inference));
    // Services an inference rule asks only to be used (nothing served): a host that serves nothing can have roles only by them.
    const usesAlone = [...new Set(this.rules.inference.filter((r) => r.servesAll.length === 0 && r.servesAny.length === 0).flatMap((r) => r.usesAny))];
    const inference = new RoleInference(this.rules);
    for (const page of hostPages(this.db, { everyHost: this.inventory.entries.length > 0, usesAlone })) {
      const roles = page.map((h) => resolveHost(h.address, inference.infer(h.address, h.profile, h.activity), this.inventory));
      writeHostRoles(this.db, roles, page.map((h) => h.stored));
    }
    writeWireVersions(this.db, this.o.wireVersions);
    writeWireNames(this.db, runId);
    const encrypted = new Map<string, EncryptionFinding>();
    for (const r of this.rules.matrix) {
      for (const service of r.encrypted) {
        encrypted.set(`${r.id}|${service}`, { text: `${service} between ${r.from} and ${r.to} is encrypted by the table (${r.id}); this session was in clear`, cite: citeOf(r.encryptedCite) });
      }
    }
    const counts = writeVerdicts(
      this.db,
      (k, cr, sr, cv, sv) => this.matrix.judge(k, cr, sr, this.tablesOfVersion(cv), this.tablesOfVersion(sv)),
      (rule, service) => encrypted.get(`${rule}|${service}`) ?? null,
      { all, runId },
    );
    const c = roleSourceCounts(this.db);
    // The flows reports show, and the run being finished (not yet marked complete when its audit runs).
    const protection = this.db
      .prepare(`SELECT coalesce(sum(f.flows), 0) FROM ${AUDIT_ROWS} WHERE f.protection IS NOT NULL AND (f.run_id IS NULL OR f.run_id IN (SELECT r.id FROM runs r WHERE ${RUN_VISIBLE_OR}))`)
      .pluck()
      .get(runId ?? -1) as number;
    return { counts, hosts: c.hosts, fromInventory: c.inventory, inferred: c.inferred, disagreements: disagreements(this.db), stale: this.stale, protection };
  }
}
