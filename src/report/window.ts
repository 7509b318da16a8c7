// How runs and their hours stand to a time window (--since, --until): none of their flows can pass
// it, all of them do, or it takes reading them — from what a run keeps beside its flows: its hours'
// and minutes' latest and earliest last packet (flow_hours, flow_minutes). What a report of a window
// can take whole or leave out without reading flows (the page's timeline, summary's captures).
// Times are compared in whole seconds, so that a time at an edge is read rather than guessed: a
// flow's last_ts is last_sec plus a fraction below one, which as a double may round up to the next second.
import type { Db } from '../store/db';
import { BUCKET_SECONDS } from '../store/schema';

/** The runs reports see (as capture_view chooses them). */
export const VISIBLE_RUNS = `SELECT r.id FROM runs r WHERE r.status = 'complete' OR r.live = 1`;

/** Every flow whose last packet is in second `lastSec` or before it ended before `since`. */
const endedBefore = (lastSec: number, since: number): boolean => lastSec + 1 < since;

/**
 * How the flows of a run's hour or minute stand to --since: every one ends at or after it ('all': its
 * earliest last packet says so), none does ('none': its latest), or it takes reading them.
 */
export type Stand = 'all' | 'none' | 'some';

/** How flows whose latest and earliest last packets are in seconds `lastSec` and `earliestSec` stand to --since `since`. */
export const standOf = (lastSec: number, earliestSec: number, since: number): Stand => (endedBefore(lastSec, since) ? 'none' : earliestSec >= since ? 'all' : 'some');

/**
 * Which runs a time window takes none of (every flow ends before --since, or begins after --until:
 * their hours say so) and which finished runs it takes whole (every flow ends at or after --since —
 * their hours' earliest last packet — and began before --until: their last hour ended by it).
 */
export function runStands(db: Db, since: number | undefined, until: number | undefined): { none: number[]; all: number[] } {
  const runs = db
    .prepare(
      `SELECT h.run_id AS run, min(h.bucket) AS first_hour, max(h.bucket) AS last_hour, max(h.last_ns) / 1000000000 AS last_sec,
              min(h.min_last_ns) / 1000000000 AS earliest_sec, v.status = 'complete' AS done
       FROM flow_hours h JOIN runs v ON v.id = h.run_id GROUP BY h.run_id`,
    )
    .all() as { run: number; first_hour: number; last_hour: number; last_sec: number; earliest_sec: number; done: number }[];
  const out = { none: [] as number[], all: [] as number[] };
  for (const r of runs) {
    const bySince = since === undefined ? 'all' : standOf(r.last_sec, r.earliest_sec, since);
    if (bySince === 'none' || (until !== undefined && r.first_hour > until)) out.none.push(r.run);
    else if (r.done && bySince === 'all' && (until === undefined || r.last_hour + BUCKET_SECONDS <= until)) out.all.push(r.run);
  }
  return out;
}
