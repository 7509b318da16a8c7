// What an "exflow audit" changed: hosts' roles and flows' verdicts before and after,
// kept in temporary tables (SQLite's, not the heap) per rollup row — its flows share a
// verdict — and compared in SQL, grouped for a person to read.
import type { Db } from './db';
import { ROLLUP_KEY } from './schema';

export interface RoleChange {
  address: string;
  before: string | null;
  after: string | null;
  source: string | null;
}

export interface VerdictChange {
  before: string | null;
  after: string | null;
  client_role: string | null;
  server_role: string | null;
  service: string | null;
  flows: number;
}

/** A rollup row's key, as rollup_judged f and the snapshot o have it. */
const SAME_ROW = ROLLUP_KEY.map((k) => `o.${k} IS f.${k}`).join(' AND ');

/** Remembers every host's roles and every rollup row's verdict and roles (call before judging again): its flows share them. */
export function snapshotJudgement(db: Db): void {
  db.exec(`DROP TABLE IF EXISTS temp.judged_hosts; DROP TABLE IF EXISTS temp.judged_rows;
           CREATE TEMP TABLE judged_hosts AS SELECT address, roles FROM hosts;
           CREATE TEMP TABLE judged_rows AS SELECT ${ROLLUP_KEY.join(', ')}, verdict, client_role, server_role FROM rollup_judged;
           CREATE INDEX temp.judged_rows_key ON judged_rows (${ROLLUP_KEY.join(', ')});`);
}

/** What changed since snapshotJudgement, at most `limit` rows of each kind. */
export function judgementChanges(db: Db, limit = 200): { roles: RoleChange[]; verdicts: VerdictChange[]; rolesTotal: number; flowsTotal: number } {
  const roleSql = `FROM hosts h LEFT JOIN temp.judged_hosts o ON o.address = h.address WHERE coalesce(o.roles, '') != coalesce(h.roles, '')`;
  const roles = db.prepare(`SELECT h.address, nullif(o.roles, '') AS before, nullif(h.roles, '') AS after, h.role_source AS source ${roleSql} ORDER BY h.address LIMIT ?`).all(limit) as RoleChange[];
  const rolesTotal = (db.prepare(`SELECT count(*) AS n ${roleSql}`).get() as { n: number }).n;
  // A verdict that changed: a row whose roles changed but whose verdict did not (expected before
  // and after) is not one — the roles' own table says what changed about the hosts.
  const verdictSql = `FROM rollup_judged f JOIN temp.judged_rows o ON ${SAME_ROW} WHERE o.verdict IS NOT f.verdict`;
  const verdicts = db
    .prepare(
      `SELECT o.verdict AS before, f.verdict AS after, f.client_role, f.server_role, f.service, sum(f.flows) AS flows ${verdictSql}
       GROUP BY o.verdict, f.verdict, f.client_role, f.server_role, f.service ORDER BY flows DESC LIMIT ?`,
    )
    .all(limit) as VerdictChange[];
  const flowsTotal = (db.prepare(`SELECT coalesce(sum(f.flows), 0) AS n ${verdictSql}`).get() as { n: number }).n;
  return { roles, verdicts, rolesTotal, flowsTotal };
}
