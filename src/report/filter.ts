// The filters every report takes: --capture ID|PATH, --since and --until (ISO 8601
// or seconds since 1970), as an SQL condition on flow_view.
import { captureFilter } from './format';

export interface FlowFilter {
  capture?: string;
  /** Seconds since 1970: flows that end at or after this. */
  since?: number;
  /** Seconds since 1970: flows that start at or before this. */
  until?: number;
}

/** Parses a --since/--until value; null when it is neither ISO 8601 nor a number. */
export function parseTime(text: string): number | null {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || !/T/.test(text) ? text : `${text}Z`);
  return Number.isNaN(t) ? null : t / 1000;
}

/** WHERE text (empty or starting with "WHERE") and its arguments, for flow_view aliased as `alias`. */
export function flowWhere(f: FlowFilter, alias = 'f', extra: string[] = []): { sql: string; args: (string | number)[] } {
  const where = [...extra];
  const args: (string | number)[] = [];
  if (f.capture !== undefined) {
    const c = captureFilter(f.capture, `${alias}.capture_id`, `${alias}.capture_path`);
    where.push(c.sql);
    args.push(c.arg);
  }
  if (f.since !== undefined) {
    where.push(`${alias}.last_ts >= ?`);
    args.push(f.since);
  }
  if (f.until !== undefined) {
    where.push(`${alias}.first_ts <= ?`);
    args.push(f.until);
  }
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}
