// What an "exflow audit" changed: hosts' roles and flows' verdicts before and after,
// kept in temporary tables (SQLite's, not the heap) per rollup row — its flows share a
// verdict — and compared in SQL, grouped for a person to read. The rows are the audit's own
// (AUDIT_ROWS: the finished runs' totals, the others' hourly rows), not every day's hourly rows:
// an audit of ten daily runs of a million flows read 4M of them twice (20 s of its 38).
import type { Db } from './db';
import { AUDIT_ROWS, JUDGED_COLUMNS, judgedFrom, ROLLUP_KEY } from './schema';

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

/** The audit's rows f with their verdicts. */
const JUDGED_ROWS = `(SELECT f.*, ${JUDGED_COLUMNS} FROM ${judgedFrom(AUDIT_ROWS)})`;
/** Such a row's key (a sensor's totals have no run or hour, a run's no hour: NULL), as f and the snapshot o have it. */
const KEY = [...ROLLUP_KEY, 'sensor'];
const SAME_ROW = KEY.map((k) => `o.${k} IS f.${k}`).join(' AND ');

/** Remembers every host's roles and every audit row's verdict and roles (call before judging again): its flows share them. */
export function snapshotJudgement(db: Db): void {
  db.exec(`DROP TABLE IF EXISTS temp.judged_hosts; DROP TABLE IF EXISTS temp.judged_rows;
           CREATE TEMP TABLE judged_hosts AS SELECT address, roles FROM hosts;
           CREATE TEMP TABLE judged_rows AS SELECT ${KEY.join(', ')}, verdict, client_role, server_role FROM ${JUDGED_ROWS};
           CREATE INDEX temp.judged_rows_key ON judged_rows (${KEY.join(', ')});`);
}

/** What changed since snapshotJudgement, at most `limit` rows of each kind. */
export function judgementChanges(db: Db, limit = 200): { roles: RoleChange[]; verdicts: VerdictChange[]; rolesTotal: number; flowsTotal: number } {
  const roleSql = `FROM hosts h LEFT JOIN temp.judged_hosts o ON o.address = h.address WHERE coalesce(o.roles, '') != coalesce(h.roles, '')`;
  const roles = db.prepare(`SELECT h.address, nullif(o.roles, '') AS before, nullif(h.roles, '') AS after, h.role_source AS source ${roleSql} ORDER BY h.address LIMIT ?`).all(limit) as RoleChange[];
  const rolesTotal = (db.prepare(`SELECT count(*) AS n ${roleSql}`).get() as { n: number }).n;
  // A verdict that changed: a row whose roles changed but whose verdict did not (expected before
  // and after) is not one — the roles' own table says what changed about the hosts.
  const verdictSql = `FROM ${JUDGED_ROWS} f JOIN temp.judged_rows o ON ${SAME_ROW} WHERE o.verdict IS NOT f.verdict`;
  const verdicts = db
    .prepare(
      `SELECT o.verdict AS before, f.verdict AS after, f.client_role, f.server_role, f.service, sum(f.flows) AS flows ${verdictSql}
       GROUP BY o.verdict, f.verdict, f.client_role, f.server_role, f.service ORDER BY flows DESC LIMIT ?`,
    )
    .all(limit) as VerdictChange[];
  const flowsTotal = (db.prepare(`SELECT coalesce(sum(f.flows), 0) AS n ${verdictSql}`).get() as { n: number }).n;
  return { roles, verdicts, rolesTotal, flowsTotal };
}
