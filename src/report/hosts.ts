import type { Db } from '../store/db';
import { addressCondition } from './filter';
import { isoTime, type Row } from './format';

export const HOST_COLUMNS = ['address', 'name', 'roles', 'role_source', 'confidence', 'evidence', 'serves', 'uses', 'site', 'version', 'version_source', 'first_seen', 'last_seen', 'disagreement'];
export const HOST_TABLE_COLUMNS = ['address', 'name', 'roles', 'role_source', 'version', 'version_source', 'confidence', 'serves', 'disagreement'];

interface HostDbRow {
  address: string;
  name: string | null;
  roles: string | null;
  role_source: string | null;
  confidence: string | null;
  evidence: string | null;
  serves: string | null;
  uses: string | null;
  site: string | null;
  version: string | null;
  version_source: string | null;
  first_sec: number;
  last_sec: number;
  disagreement: string | null;
}

/** Hosts with their roles (lists stay lists; the renderer joins them for text). */
export function queryHosts(db: Db, q: { host?: string; role?: string } = {}): Row[] {
  const where: string[] = [];
  const args: string[] = [];
  if (q.host !== undefined) {
    const c = addressCondition('address', q.host);
    where.push(c.sql);
    args.push(c.arg);
  }
  if (q.role !== undefined) {
    where.push(`instr(',' || coalesce(roles, '') || ',', ',' || ? || ',') > 0`);
    args.push(q.role);
  }
  const rows = db.prepare(`SELECT * FROM hosts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY address`).all(...args) as HostDbRow[];
  const list = (json: string | null) => (json ? (JSON.parse(json) as string[]) : []);
  return rows.map((r) => {
    return {
      address: r.address,
      name: r.name,
      roles: r.roles ? r.roles.split(',') : [],
      role_source: r.role_source,
      confidence: r.confidence,
      evidence: list(r.evidence),
      serves: list(r.serves),
      uses: list(r.uses),
      site: r.site,
      version: r.version,
      version_source: r.version_source,
      first_seen: isoTime(r.first_sec, 0),
      last_seen: isoTime(r.last_sec, 0),
      disagreement: r.disagreement,
    };
  });
}
