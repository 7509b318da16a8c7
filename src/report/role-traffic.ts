import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { flowGroups } from './groups';
import type { Row } from './format';

/** A flow side without a role is reported under this label. */
export const NO_ROLE = '(no role)';

export interface RoleReport {
  role: string;
  hosts: number;
  flows: number;
  bytes_out: number;
  bytes_in: number;
  packets_out: number;
  packets_in: number;
  by_service: { service: string; flows: number; bytes_out: number; bytes_in: number }[];
  by_peer: { peer_role: string; flows: number; bytes_out: number; bytes_in: number }[];
  top_talkers: { address: string; bytes: number; flows: number }[];
}

/**
 * The groups added up per client and server, their roles and the service: what the
 * groupings below tell apart (a day's rollup rows: ~400,000; its pairs: ~80,000), so each
 * group's roles are looked up once and its two sides made from the smaller set.
 */
function pairs(g: { sql: string }): string {
  return `SELECT coalesce(f.client_role, '${NO_ROLE}') AS cr, coalesce(f.server_role, '${NO_ROLE}') AS sr, f.client, f.server,
            coalesce(f.service, '(unknown)') AS service, sum(f.flows) AS flows, sum(f.bytes_c2s) AS bytes_c2s, sum(f.bytes_s2c) AS bytes_s2c,
            sum(f.packets_c2s) AS packets_c2s, sum(f.packets_s2c) AS packets_s2c
          FROM ${g.sql} f GROUP BY 1, 2, 3, 4, 5`;
}

/**
 * Each pair seen from both ends: its client's role sends bytes_c2s and receives
 * bytes_s2c, its server's role the other way round. A flow whose side carries several roles
 * (joined with "+") is counted under that joined label, once, so the totals add up to the
 * flows'. A flow whose two sides fall in the same row of a grouping (both ends of one role;
 * for the talkers, of one host too) is counted there once: `twin` and `twin_host` mark the
 * second side. Added up per row the groupings read.
 */
function sides(): string {
  return `SELECT role, peer, address, service, twin, twin_host, sum(flows) AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
            sum(packets_out) AS packets_out, sum(packets_in) AS packets_in FROM (
            SELECT cr AS role, sr AS peer, client AS address, service, flows, 0 AS twin, 0 AS twin_host,
              bytes_c2s AS bytes_out, bytes_s2c AS bytes_in, packets_c2s AS packets_out, packets_s2c AS packets_in FROM temp.role_pairs
            UNION ALL
            SELECT sr, cr, server, service, flows, cr = sr, cr = sr AND client = server,
              bytes_s2c, bytes_c2s, packets_s2c, packets_c2s FROM temp.role_pairs)
          GROUP BY role, peer, address, service, twin, twin_host`;
}

/** Flows of the rows grouped, each once. */
const FLOWS = 'sum(CASE WHEN twin THEN 0 ELSE flows END)';

export function rolesReport(db: Db, f: FlowFilter, top = 5): RoleReport[] {
  // Added up per pair, port, service and TLS before the roles are looked up (one lookup a sum, not a rollup row).
  const g = flowGroups(db, f, [], [], { by: [] });
  // The two sides of every pair, once, into a temporary table (SQLite's temp store, not the
  // heap): the four groupings below read it instead of joining each group to its verdict again.
  db.exec('DROP TABLE IF EXISTS temp.role_sides; DROP TABLE IF EXISTS temp.role_pairs');
  db.prepare(`CREATE TEMP TABLE role_pairs AS ${pairs(g)}`).run(...g.args);
  db.exec(`CREATE TEMP TABLE role_sides AS ${sides()}; DROP TABLE temp.role_pairs`);
  try {
    const roles = db
      .prepare(
        `SELECT role, count(DISTINCT address) AS hosts, ${FLOWS} AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
                sum(packets_out) AS packets_out, sum(packets_in) AS packets_in FROM temp.role_sides GROUP BY role ORDER BY sum(bytes_out) + sum(bytes_in) DESC, role`,
      )
      .all() as Omit<RoleReport, 'by_service' | 'by_peer' | 'top_talkers'>[];
    const byService = db
      .prepare(`SELECT role, service, ${FLOWS} AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in FROM temp.role_sides GROUP BY role, service ORDER BY role, sum(bytes_out) + sum(bytes_in) DESC, service`)
      .all() as { role: string; service: string; flows: number; bytes_out: number; bytes_in: number }[];
    const byPeer = db
      .prepare(`SELECT role, peer AS peer_role, ${FLOWS} AS flows, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in FROM temp.role_sides GROUP BY role, peer ORDER BY role, sum(bytes_out) + sum(bytes_in) DESC, peer`)
      .all() as { role: string; peer_role: string; flows: number; bytes_out: number; bytes_in: number }[];
    // Only the top talkers of each role reach the heap (a role may hold millions of hosts).
    const talkers = db
      .prepare(
        `SELECT role, address, bytes, flows FROM (
           SELECT role, address, bytes, flows, row_number() OVER (PARTITION BY role ORDER BY bytes DESC, address) AS rank FROM (
             SELECT role, address, sum(bytes_out) + sum(bytes_in) AS bytes, sum(CASE WHEN twin_host THEN 0 ELSE flows END) AS flows FROM temp.role_sides GROUP BY role, address))
         WHERE rank <= ? ORDER BY role, rank`,
      )
      .all(top) as { role: string; address: string; bytes: number; flows: number }[];
    return roles.map((r) => ({
      ...r,
      by_service: byService.filter((x) => x.role === r.role).map(({ role: _r, ...x }) => x),
      by_peer: byPeer.filter((x) => x.role === r.role).map(({ role: _r, ...x }) => x),
      top_talkers: talkers.filter((x) => x.role === r.role).map(({ role: _r, ...x }) => x),
    }));
  } finally {
    db.exec('DROP TABLE IF EXISTS temp.role_sides; DROP TABLE IF EXISTS temp.role_pairs');
  }
}

/** The roles report flattened for tables: one row per role and service. */
export function roleServiceRows(report: RoleReport[]): Row[] {
  return report.flatMap((r) => r.by_service.map((s) => ({ role: r.role, service: s.service, flows: s.flows, bytes_out: s.bytes_out, bytes_in: s.bytes_in })));
}
