// The filters every report, flows and export take, with the same meaning everywhere:
// --capture ID|PATH, --since and --until (ISO 8601 or seconds since 1970), --host
// (either side), --client, --server (an address or a CIDR block), --service, --role
// (either side's role), --verdict and --finding (a protection finding the flow raised) — as one SQL condition on flow_view. An exact
// address is an index lookup (flows_client, flows_server); a block is matched by the
// in_net() function every exflow connection registers.
import { captureFilter } from './format';

export interface FlowFilter {
  capture?: string;
  /** Seconds since 1970: flows that end at or after this. */
  since?: number;
  /** Seconds since 1970: flows that start at or before this. */
  until?: number;
  /** An address or CIDR block on either side, the client side, the server side. */
  host?: string;
  client?: string;
  server?: string;
  service?: string;
  /** A role id on either side (a side with several roles matches each of them). */
  role?: string;
  verdict?: string;
  /** A protection finding id (rules/protection.yaml) the flow raised. */
  finding?: string;
  /** The sensor whose run analyzed the flow's capture (analyze --sensor). */
  sensor?: string;
  /**
   * Answer from the flows themselves rather than the rollups (--from-flows): the reference the
   * rollups are checked against, and slower by the ratio of flows to rollup rows.
   */
  fromFlows?: boolean;
  /**
   * The groups of exactly this filter already read into a temporary table (groups.ts,
   * materializeGroups): a caller that runs many reports over one filter — the HTML page — reads
   * the rollups once. Ignored by a filter that differs in anything else.
   */
  materialized?: { table: string; of: string };
  /**
   * The captures with a flow the filter passes, where the flows are not at hand to ask (a copy of a
   * ClickHouse engine's sums: src/run/engine.ts): what summary lists under a time filter.
   */
  captureHits?: number[];
}

/**
 * Whether `f` selects every flow: no condition, no other source (materialized groups aside, and the
 * captures a window's flows are in, which come only with a window).
 */
export const selectsAll = (f: FlowFilter): boolean => Object.entries(f).every(([k, v]) => k === 'materialized' || k === 'captureHits' || v === undefined);

/** Whether `f` is a time window (--since, --until) and nothing else. */
export const windowAlone = (f: FlowFilter): boolean => (f.since !== undefined || f.until !== undefined) && selectsAll({ ...f, since: undefined, until: undefined });

/** SQL condition: the flow aliased `alias` raised the protection finding `?` (its protection column holds comma-separated ids). */
export function hasFinding(alias = 'f'): string {
  return `instr(',' || ${alias}.protection || ',', ',' || ? || ',') > 0`;
}

/** An address or a CIDR block as an SQL condition on `column`. */
export function addressCondition(column: string, value: string): { sql: string; arg: string } {
  return value.includes('/') ? { sql: `in_net(${column}, ?)`, arg: value } : { sql: `${column} = ?`, arg: value };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * A time relative to `now` (seconds since 1970): "now", "-90s", "-15m", "-1h", "-2d", "-1w" (that
 * long before now, as date -d and journalctl take them), "today" and "yesterday" (their midnight,
 * UTC: exflow's times are UTC). Undefined when the text is none of these.
 */
function relativeTime(text: string, now: number): number | undefined {
  if (text === 'now') return now;
  const day = Math.floor(now / 86400) * 86400;
  if (text === 'today') return day;
  if (text === 'yesterday') return day - 86400;
  const m = /^-(\d{1,9})([smhdw])$/.exec(text);
  return m ? now - Number(m[1]) * UNIT_SECONDS[m[2]] : undefined;
}

/**
 * Parses a --since/--until value: epoch seconds, a time relative to now (relativeTime), or an ISO 8601 date or date and time —
 * UTC unless the text carries its own offset ("Z", "+02:00", "-0500"), whether the date
 * and time are joined by "T" or a space. Local time is written with its offset. Null when
 * it is neither.
 */
export function parseTime(text: string, now: number = Date.now() / 1000): number | null {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const relative = relativeTime(text.trim().toLowerCase(), now);
  if (relative !== undefined) return relative;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(text.trim());
  if (!m) return null;
  const offset = m[3] ? (m[3].toUpperCase() === 'Z' ? 'Z' : m[3].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')) : 'Z';
  const t = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${offset}`);
  return Number.isNaN(t) ? null : t / 1000;
}

/**
 * WHERE text (empty or starting with "WHERE") and its arguments, for flow_view aliased
 * as `alias`; `view`: the view a query that reads no verdict column should scan — flow_seen, or
 * flow_view when the filter itself asks for roles or verdicts.
 */
export function flowWhere(f: FlowFilter, alias = 'f', extra: string[] = [], o: { time?: boolean; scan?: boolean } = {}): { sql: string; args: (string | number)[]; view: 'flow_view' | 'flow_seen' } {
  const where = [...extra];
  const args: (string | number)[] = [];
  // `o.scan`: for a range of ids (a part of an export), conditions no index answers (a unary +):
  // through an index, each part would read every flow of a busy host again.
  const col = (c: string) => `${o.scan ? '+' : ''}${alias}.${c}`;
  if (f.capture !== undefined) {
    const c = captureFilter(f.capture, col('capture_id'), `${alias}.capture_path`);
    where.push(c.sql);
    args.push(...c.args);
  }
  for (const [value, columns] of [[f.host, ['client', 'server']], [f.client, ['client']], [f.server, ['server']]] as const) {
    if (value === undefined) continue;
    const parts = columns.map((c) => addressCondition(col(c), value));
    where.push(`(${parts.map((p) => p.sql).join(' OR ')})`);
    args.push(...parts.map((p) => p.arg));
  }
  if (f.service !== undefined) {
    where.push(`${alias}.service = ?`);
    args.push(f.service);
  }
  if (f.role !== undefined) {
    // Roles of one side are joined by '+': match whole names only.
    where.push(`(instr('+' || coalesce(${alias}.client_role, '') || '+', '+' || ? || '+') > 0 OR instr('+' || coalesce(${alias}.server_role, '') || '+', '+' || ? || '+') > 0)`);
    args.push(f.role, f.role);
  }
  if (f.verdict !== undefined) {
    where.push(`${alias}.verdict = ?`);
    args.push(f.verdict);
  }
  if (f.finding !== undefined) {
    where.push(`${col('protection')} IS NOT NULL AND ${hasFinding(alias)}`);
    args.push(f.finding);
  }
  if (f.sensor !== undefined) {
    where.push(`${alias}.sensor = ?`);
    args.push(f.sensor);
  }
  if (f.since !== undefined && o.time !== false) {
    where.push(`${alias}.last_ts >= ?`);
    args.push(f.since);
  }
  if (f.until !== undefined && o.time !== false) {
    where.push(`${alias}.first_ts <= ?`);
    args.push(f.until);
  }
  // Without a role or verdict condition (or a caller's own, which may name one), a query that reads no verdict column may scan flow_seen.
  const view = f.role !== undefined || f.verdict !== undefined || extra.length > 0 ? 'flow_view' : 'flow_seen';
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', args, view };
}
