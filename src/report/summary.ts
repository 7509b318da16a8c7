import type { Db } from '../store/db';
import { flowWhere, windowAlone, type FlowFilter } from './filter';
import { dropKept, flowGroups, keepForPasses, type Groups } from './groups';
import { runStands } from './window';
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
  // The verdicts' pass adds the groups up before they are judged; the hosts and times need no verdict.
  const judged = flowGroups(db, f, [], [], { by: ['via'] });
  // Kept once for the three passes below (ten daily runs, the last five days: 3.99 -> 2.30 s; the
  // hosts' pass alone read the window again in 1.2 s).
  const kept = keepForPasses(db, f, 'summary_groups', SUMMED_COLUMNS, judged);
  try {
    return summaryOf(db, f, kept ?? judged, kept ?? flowGroups(db, f, [], [], { judged: false }));
  } finally {
    dropKept(db, kept);
  }
}

/** What the summary reads of the summed groups it keeps. */
const SUMMED_COLUMNS = 'f.via, f.verdict, f.client, f.server, f.flows, f.packets, f.bytes, f.first_sec, f.first_nsec, f.last_sec, f.last_nsec';

/** The summary of groups `judged` (with verdicts) and `g` (the same groups, their verdicts not needed). */
function summaryOf(db: Db, f: FlowFilter, judged: Groups, g: Groups): Summary {
  // Unfiltered: every capture, failed and empty ones included; filtered: those with matching flows
  // (each capture asked through its index whether it has one: the rollups do not keep captures).
  const unfiltered = f.capture === undefined && f.since === undefined && f.until === undefined;
  const w = flowWhere(f, 'f', ['f.capture_id = c.id']);
  // Only a role or verdict condition needs the verdicts joined in.
  const view = f.role !== undefined || f.verdict !== undefined ? 'flow_view' : 'flow_seen';
  const hasFlow = `EXISTS (SELECT 1 FROM ${view} f ${w.sql})`;
  // Where no flows are at hand (an engine's copy), the captures with a passing flow are given.
  const which = f.captureHits
    ? { sql: 'WHERE c.id IN (SELECT value FROM json_each(?))', args: [JSON.stringify(f.captureHits)] }
    : unfiltered
      ? { sql: '', args: [] }
      : f.fromFlows || (f.since === undefined && f.until === undefined)
        ? { sql: `WHERE ${hasFlow}`, args: w.args }
        : windowedCaptures(db, f, hasFlow, w.args);
  const captures = (db
    .prepare(
      `SELECT c.id, c.path, c.status, c.format, c.packets, c.bytes, c.flows, c.first_sec, c.first_nsec, c.last_sec, c.last_nsec, c.warnings
       FROM capture_view c ${which.sql} ORDER BY c.id`,
    )
    .all(...which.args) as Record<string, unknown>[]).map((c) => ({
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
    (db.prepare(`SELECT ${agg} FROM ${g.sql} f WHERE ${secColumn} = ?`).pluck().get(...g.args, sec) as number | null) ?? 0;
  // One pass: the flows by how they were classified and by verdict, with their sums and times.
  const parts = db
    .prepare(
      `SELECT f.via, f.verdict, sum(f.flows) AS flows, sum(f.packets) AS packets, sum(f.bytes) AS bytes, min(f.first_sec) AS first_sec, max(f.last_sec) AS last_sec
       FROM ${judged.sql} f GROUP BY f.via, f.verdict`,
    )
    .all(...judged.args) as { via: string | null; verdict: string | null; flows: number; packets: number; bytes: number; first_sec: number; last_sec: number }[];
  const t = { flows: 0, packets: 0, bytes: 0, first_sec: null as number | null, last_sec: null as number | null };
  const classified = { port: 0, epm: 0, bind: 0, payload: 0, none: 0 };
  const verdicts = { expected: 0, unexpected: 0, unknown: 0, none: 0 };
  for (const r of parts) {
    t.flows += r.flows;
    t.packets += r.packets;
    t.bytes += r.bytes;
    t.first_sec = t.first_sec === null ? r.first_sec : Math.min(t.first_sec, r.first_sec);
    t.last_sec = t.last_sec === null ? r.last_sec : Math.max(t.last_sec, r.last_sec);
    classified[(r.via ?? 'none') as keyof typeof classified] += r.flows;
    verdicts[(r.verdict ?? 'none') as keyof typeof verdicts] += r.flows;
  }
  const hosts = (db.prepare(`SELECT count(*) AS n FROM (SELECT f.client AS a FROM ${g.sql} f UNION SELECT f.server FROM ${g.sql} f)`).get(...g.args, ...g.args) as { n: number }).n;
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

/**
 * The captures with a flow that passes `f` (with a time window), asked of each capture only where
 * its run's hours cannot tell: a run none of whose flows the window can pass is left out, and with
 * no other condition a finished run all of whose flows it passes gives every capture with flows —
 * not a scan of each capture's flows for one that ends after --since (ten daily runs, the last five
 * days: 0.75 s). --from-flows asks every capture (the reference this is tested against).
 */
function windowedCaptures(db: Db, f: FlowFilter, hasFlow: string, args: (string | number)[]): { sql: string; args: (string | number)[] } {
  const stands = runStands(db, f.since, f.until);
  const none = JSON.stringify(stands.none);
  const all = JSON.stringify(windowAlone(f) ? stands.all : []);
  return {
    sql: `WHERE c.run_id NOT IN (SELECT value FROM json_each(?)) AND ((c.run_id IN (SELECT value FROM json_each(?)) AND c.flows > 0) OR (c.run_id NOT IN (SELECT value FROM json_each(?)) AND ${hasFlow}))`,
    args: [none, all, all, ...args],
  };
}
