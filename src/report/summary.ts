import type { Db } from '../store/db';
import { flowWhere, type FlowFilter } from './filter';
import { isoTime, type Row } from './format';
import { storedWarnings } from '../store/lists';

export interface Summary {
  captures: Row[];
  totals: { captures: number; packets_read: number; flows: number; packets: number; bytes: number; hosts: number; first_seen: string | null; last_seen: string | null };
  classified: { port: number; epm: number; bind: number; payload: number; none: number };
  verdicts: { expected: number; unexpected: number; unknown: number; none: number };
}

/** Captures, totals over the (filtered) flows, how flows were classified, verdict counts. */
export function summaryReport(db: Db, f: FlowFilter): Summary {
  const w = flowWhere(f);
  // Unfiltered: every capture, failed and empty ones included; filtered: those with matching flows.
  const unfiltered = f.capture === undefined && f.since === undefined && f.until === undefined;
  const captures = (db
    .prepare(
      `SELECT c.id, c.path, c.status, c.format, c.packets, c.bytes, c.flows, c.first_sec, c.first_nsec, c.last_sec, c.last_nsec, c.warnings
       FROM capture_view c ${unfiltered ? '' : `WHERE c.id IN (SELECT DISTINCT f.capture_id FROM ${w.view} f ${w.sql})`} ORDER BY c.id`,
    )
    .all(...(unfiltered ? [] : w.args)) as Record<string, unknown>[]).map((c) => ({
    id: c.id as number,
    path: c.path as string,
    status: c.status as string,
    format: c.format as string,
    packets: c.packets as number,
    bytes: c.bytes as number,
    flows: c.flows as number,
    first_seen: isoTime(c.first_sec as number | null, c.first_nsec as number | null),
    last_seen: isoTime(c.last_sec as number | null, c.last_nsec as number | null),
    warnings: storedWarnings(c.warnings).map((x) => (x.offset >= 0 ? `byte ${x.offset}: ${x.message}` : x.message)),
  }));
  /** The nanoseconds of the earliest (latest) time within its second: an aggregate per part keeps the integers exact. */
  const nsecAt = (agg: string, secColumn: string, sec: number) =>
    (db.prepare(`SELECT ${agg} FROM ${w.view} f ${w.sql ? `${w.sql} AND` : 'WHERE'} ${secColumn} = ?`).pluck().get(...w.args, sec) as number | null) ?? 0;
  const t = db
    .prepare(
      `SELECT count(*) AS flows, coalesce(sum(f.packets), 0) AS packets, coalesce(sum(f.bytes), 0) AS bytes,
              min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec FROM ${w.view} f ${w.sql}`,
    )
    .get(...w.args) as { flows: number; packets: number; bytes: number; first_sec: number | null; last_sec: number | null };
  const hosts = (db.prepare(`SELECT count(*) AS n FROM (SELECT f.client AS a FROM ${w.view} f ${w.sql} UNION SELECT f.server FROM ${w.view} f ${w.sql})`).get(...w.args, ...w.args) as { n: number }).n;
  const classified = { port: 0, epm: 0, bind: 0, payload: 0, none: 0 };
  for (const r of db.prepare(`SELECT f.via, count(*) AS n FROM ${w.view} f ${w.sql} GROUP BY f.via`).all(...w.args) as { via: string | null; n: number }[]) {
    classified[(r.via ?? 'none') as keyof typeof classified] = r.n;
  }
  const verdicts = { expected: 0, unexpected: 0, unknown: 0, none: 0 };
  for (const r of db.prepare(`SELECT f.verdict, count(*) AS n FROM flow_view f ${w.sql} GROUP BY f.verdict`).all(...w.args) as { verdict: string | null; n: number }[]) {
    verdicts[(r.verdict ?? 'none') as keyof typeof verdicts] = r.n;
  }
  return {
    captures,
    totals: {
      captures: captures.length,
      packets_read: captures.reduce((a, c) => a + (c.packets as number), 0),
      flows: t.flows,
      packets: t.packets,
      bytes: t.bytes,
      hosts,
      // To the microsecond, as the flows and captures are written: the same instant reads the same everywhere.
      first_seen: isoTime(t.first_sec, t.first_sec === null ? 0 : nsecAt('min(f.first_nsec)', 'f.first_sec', t.first_sec)),
      last_seen: isoTime(t.last_sec, t.last_sec === null ? 0 : nsecAt('max(f.last_nsec)', 'f.last_sec', t.last_sec)),
    },
    classified,
    verdicts,
  };
}
