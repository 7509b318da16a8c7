// When flows started, as the HTML page's timeline asks it: how many and when the first and last,
// the start at a rank (its quartiles), and flows and bytes in equal intervals. For the whole
// database from flow_minutes (a run's flows by the minute they started), reading flows only for
// the few minutes an answer cuts — a quartile's minute, a minute that straddles two intervals —
// through flows_first; for any other filter from its flows. Both give the same numbers: the
// minutes hold first_ts as flow_view computes it, and an interval's index grows with the time.
import type { Db } from '../store/db';
import { MINUTE_SECONDS } from '../store/schema';
import { standOf, VISIBLE_RUNS, type Stand } from './window';
import { flowWhere, windowAlone, type FlowFilter } from './filter';

export interface StartStats {
  n: number;
  /** The earliest and latest first_ts. */
  first: number;
  last: number;
}

/** Flows and bytes in one interval; first and last start in it (for the intervals off the axis). */
export interface Interval {
  flows: number;
  bytes: number;
  first: number;
  last: number;
}

export interface Starts {
  stats(): StartStats | null;
  /** The first_ts at `rank` (0-based) in start order. */
  at(rank: number): number;
  /**
   * Flows by interval of `width` seconds from `lo`: index -1 before `lo`, `n` after `hi`, and the
   * last interval taking the rest up to `hi` — keyed by index, only those with flows.
   */
  intervals(lo: number, hi: number, width: number, n: number): Map<number, Interval>;
}

/** The interval index of a start `t` (as the flows' GROUP BY computes it, in the same doubles). */
const indexOf = (t: number, lo: number, hi: number, width: number, n: number): number => (t < lo ? -1 : t > hi ? n : Math.min(n - 1, Math.trunc((t - lo) / width)));

function add(to: Map<number, Interval>, k: number, flows: number, bytes: number, first: number, last: number): void {
  const v = to.get(k);
  if (!v) to.set(k, { flows, bytes, first, last });
  else {
    v.flows += flows;
    v.bytes += bytes;
    v.first = Math.min(v.first, first);
    v.last = Math.max(v.last, last);
  }
}

/** From the flows the filter selects, in SQL. */
function fromFlows(db: Db, f: FlowFilter): Starts {
  const w = flowWhere(f);
  return {
    stats() {
      const s = db.prepare(`SELECT count(*) AS n, min(f.first_ts) AS a, max(f.first_ts) AS b FROM ${w.view} f ${w.sql}`).get(...w.args) as { n: number; a: number | null; b: number | null };
      return s.n === 0 || s.a === null || s.b === null ? null : { n: s.n, first: s.a, last: s.b };
    },
    at(rank) {
      return (db.prepare(`SELECT f.first_ts AS t FROM ${w.view} f ${w.sql} ORDER BY f.first_ts LIMIT 1 OFFSET ?`).get(...w.args, rank) as { t: number }).t;
    },
    intervals(lo, hi, width, n) {
      const rows = db
        .prepare(
          `SELECT CASE WHEN f.first_ts < ? THEN -1 WHEN f.first_ts > ? THEN ${n} ELSE min(${n - 1}, CAST((f.first_ts - ?) / ? AS INTEGER)) END AS k,
                  sum(f.bytes) AS bytes, count(*) AS flows, min(f.first_ts) AS t0, max(f.first_ts) AS t1
           FROM ${w.view} f ${w.sql} GROUP BY k`,
        )
        .all(lo, hi, lo, width, ...w.args) as { k: number; bytes: number; flows: number; t0: number; t1: number }[];
      const out = new Map<number, Interval>();
      for (const r of rows) out.set(r.k, { flows: r.flows, bytes: r.bytes, first: r.t0, last: r.t1 });
      return out;
    },
  };
}

interface Minute {
  minute: number;
  flows: number;
  bytes: number;
  first: number;
  last: number;
  /** The minute's flows that pass a time window, in start order, where only some do (read already). */
  passing?: { t: number; b: number }[];
}

/** From flow_minutes of the runs reports see; `minuteRead` is told each minute whose flows are read. */
function fromMinutes(db: Db, minuteRead: (minute: number) => void = () => {}): Starts {
  const minutes = db
    .prepare(
      `SELECT m.minute, sum(m.flows) AS flows, sum(m.bytes) AS bytes, min(m.first_ts) AS first, max(m.last_first_ts) AS last
       FROM flow_minutes m WHERE m.run_id IN (${VISIBLE_RUNS})
       GROUP BY m.minute ORDER BY m.minute`,
    )
    .all() as Minute[];
  return fromPieces(db, minutes, minuteRead);
}

/**
 * From the minutes `minutes` (in order; those a window cuts with the flows that pass it), reading a
 * whole minute's flows only where an answer cuts it.
 */
function fromPieces(db: Db, minutes: Minute[], minuteRead: (minute: number) => void): Starts {
  /** A minute's flows in start order: first_ts and bytes (flow_seen sees the same runs). */
  const minuteFlows = db.prepare('SELECT f.first_ts AS t, f.bytes AS b FROM flow_seen f WHERE f.first_sec >= ? AND f.first_sec < ? ORDER BY f.first_ts');
  const flowsOf = (m: Minute) => {
    if (m.passing) return m.passing;
    minuteRead(m.minute);
    return minuteFlows.all(m.minute, m.minute + MINUTE_SECONDS) as { t: number; b: number }[];
  };
  return {
    stats() {
      if (minutes.length === 0) return null;
      let n = 0;
      for (const m of minutes) n += m.flows;
      return { n, first: minutes[0].first, last: Math.max(...minutes.map((m) => m.last)) };
    },
    at(rank) {
      let before = 0;
      for (const m of minutes) {
        if (rank < before + m.flows) {
          const flow = flowsOf(m)[rank - before];
          // The minutes count flows the database does not hold (not all copied yet, or a damaged database).
          if (flow === undefined) throw new MinuteFlowsMissing(m.minute);
          return flow.t;
        }
        before += m.flows;
      }
      throw new RangeError(`no flow at rank ${rank}`);
    },
    intervals(lo, hi, width, n) {
      const out = new Map<number, Interval>();
      for (const m of minutes) {
        const k = indexOf(m.first, lo, hi, width, n);
        if (k === indexOf(m.last, lo, hi, width, n)) add(out, k, m.flows, m.bytes, m.first, m.last);
        else for (const x of flowsOf(m)) add(out, indexOf(x.t, lo, hi, width, n), 1, x.b, x.t, x.t);
      }
      return out;
    },
  };
}

/** flow_minutes counts flows of a minute that flows does not hold. */
export class MinuteFlowsMissing extends Error {
  override name = 'MinuteFlowsMissing';
  constructor(readonly minute: number) {
    super(`the database's minute totals (flow_minutes) count flows of the minute at ${minute} (seconds since 1970) that its flows table does not hold: a damaged database (analyze its captures again)`);
  }
}

/**
 * From flow_minutes for a time window and nothing else: a minute all of whose flows pass is taken
 * whole (as without a window), one none of whose flows pass is left out, and of the others — the
 * minutes the window's edges cut, and those whose flows began before --since and may end after it —
 * the flows that pass are read (flows_first). Whether all of a minute's flows end at or after
 * --since comes from its earliest and latest last packet (a flow's last packet may come before its
 * first in a capture out of order: not from its starts); whether they began by --until from its
 * first and last start. What these cannot tell is read. The same numbers as from the flows (ten
 * daily runs, a time inside an hour: 15 minutes' flows read, where every flow was: 7 s of the page).
 */
function fromWindow(db: Db, since: number | undefined, until: number | undefined, minuteRead: (minute: number) => void): Starts {
  const rows = db
    .prepare(
      `SELECT m.minute, m.flows, m.bytes, m.first_ts AS first, m.last_first_ts AS last, m.last_ns / 1000000000 AS last_sec, m.min_last_ns / 1000000000 AS earliest_sec
       FROM flow_minutes m WHERE m.run_id IN (${VISIBLE_RUNS}) ORDER BY m.minute`,
    )
    .all() as (Minute & { last_sec: number; earliest_sec: number })[];
  const passing = db.prepare(
    `SELECT f.first_ts AS t, f.bytes AS b FROM flow_seen f WHERE f.first_sec >= ? AND f.first_sec < ?${since === undefined ? '' : ' AND f.last_ts >= ?'}${until === undefined ? '' : ' AND f.first_ts <= ?'} ORDER BY f.first_ts`,
  );
  const bounds = [...(since === undefined ? [] : [since]), ...(until === undefined ? [] : [until])];
  const pieces: Minute[] = [];
  for (let i = 0; i < rows.length; ) {
    let j = i;
    const m: Minute = { minute: rows[i].minute, flows: 0, bytes: 0, first: Infinity, last: -Infinity };
    const stands = new Set<Stand>();
    for (; j < rows.length && rows[j].minute === m.minute; j++) {
      const r = rows[j];
      m.flows += r.flows;
      m.bytes += r.bytes;
      m.first = Math.min(m.first, r.first);
      m.last = Math.max(m.last, r.last);
      stands.add(since === undefined ? 'all' : standOf(r.last_sec, r.earliest_sec, since));
    }
    i = j;
    const byUntil: Stand = until === undefined || m.last <= until ? 'all' : m.first > until ? 'none' : 'some';
    if (byUntil === 'none' || (stands.size === 1 && stands.has('none'))) continue;
    if (byUntil === 'all' && stands.size === 1 && stands.has('all')) {
      pieces.push(m);
      continue;
    }
    minuteRead(m.minute);
    const list = passing.all(m.minute, m.minute + MINUTE_SECONDS, ...bounds) as { t: number; b: number }[];
    if (list.length === 0) continue;
    pieces.push({ minute: m.minute, flows: list.length, bytes: list.reduce((a, x) => a + x.b, 0), first: list[0].t, last: list[list.length - 1].t, passing: list });
  }
  return fromPieces(db, pieces, minuteRead);
}

/** The starts of the flows `f` selects: from the minutes when it selects every flow the reports see, or a time window of them. */
export function startsOf(db: Db, f: FlowFilter, o: { minuteRead?: (minute: number) => void } = {}): Starts {
  if (startsFromMinutes(f)) return fromMinutes(db, o.minuteRead);
  return windowAlone(f) ? fromWindow(db, f.since, f.until, o.minuteRead ?? (() => {})) : fromFlows(db, f);
}

/** Whether startsOf reads the minutes (and the flows of a few of them) for `f`, rather than its flows. */
export const startsFromMinutes = (f: FlowFilter): boolean => !f.fromFlows && flowWhere(f).sql === '';
