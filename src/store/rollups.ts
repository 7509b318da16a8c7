// Rollups (flow_rollup, src/store/schema.ts): flows added up per run, hour and what the
// reports group and filter by. They are kept as the flows are written — at each commit,
// the flows written since the one before are added to their rows — so that no report
// scans every flow. The hours of flows a later run renames or turns (the endpoint
// registry) are added up again from their flows. A finished run's rows are added up
// without the hour (flow_rollup_run), and a sensor's finished runs without the run
// (flow_rollup_sensor): what reports read when no time filter cuts, however many runs.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';
import { BUCKET_SECONDS, COVERED_SENSORS, hoursOfRollups, mergingSums, MINUTE_SECONDS, minutesOfFlows, ROLLUP_KEY, rollUpFlows, rollupKeyOf, SENSOR_OF, SENSOR_ROLLUP_KEY, sensorRollUp, totalRuns } from './schema';

/**
 * A run's rollup rows, added to at each commit of its flows: the flows written since the last
 * commit (a range of ids, read where they were just written) are grouped by SQLite and merged
 * into the stored rows by upsert. Measured on a day of 966,000 short flows (5,000 clients, 399,000
 * hourly rows): rows added up in the writer's memory and merged in batches cost the run 14-43 s
 * (an upsert a row into a growing table); grouped by SQLite at the commit, about 4 s.
 */
export class Rollups {
  private readonly upsert: Statement;
  private readonly minutes: Statement;
  private readonly hours: Statement;
  /** The flows written since the last commit, by the minute they started (their sums: a few rows a commit). */
  private readonly pending = new Map<number, MinuteSum>();
  /** The last flow id already added up. */
  private last: number;

  constructor(
    db: Db,
    private readonly runId: number,
  ) {
    this.last = Number(db.prepare('SELECT coalesce(max(id), 0) FROM flows').pluck().get());
    this.upsert = db.prepare(`${rollUpFlows('WHERE f.id > @last AND f.id <= @upto AND c.run_id = @run')}
      ${mergingSums(ROLLUP_KEY)}`);
    this.minutes = db.prepare(`INSERT INTO flow_minutes VALUES (@run, @minute, @flows, @bytes, @first, @last, @sec * 1000000000 + @nsec, @minSec * 1000000000 + @minNsec)
      ON CONFLICT (run_id, minute) DO UPDATE SET flows = flows + excluded.flows, bytes = bytes + excluded.bytes,
        first_ts = min(first_ts, excluded.first_ts), last_first_ts = max(last_first_ts, excluded.last_first_ts),
        last_ns = max(last_ns, excluded.last_ns), min_last_ns = min(min_last_ns, excluded.min_last_ns)`);
    this.hours = db.prepare(`INSERT INTO flow_hours (run_id, bucket, last_ns, min_last_ns) VALUES (@run, @bucket, @sec * 1000000000 + @nsec, @minSec * 1000000000 + @minNsec)
      ON CONFLICT (run_id, bucket) DO UPDATE SET last_ns = max(last_ns, excluded.last_ns), min_last_ns = min(min_last_ns, excluded.min_last_ns)`);
  }

  /** Adds up the flows written since the last call, up to flow id `upto` (inside the caller's transaction). */
  commit(upto: number): void {
    if (upto <= this.last) return;
    this.upsert.run({ last: this.last, upto, run: this.runId });
    // Each minute's and hour's latest and earliest last packet (seconds and nanoseconds apart: a nanosecond count is past a double's integers).
    const hours = new Map<number, { latest: MinuteSum; earliest: MinuteSum }>();
    for (const [minute, m] of this.pending) {
      this.minutes.run({ run: this.runId, minute, flows: m.flows, bytes: m.bytes, first: m.first, last: m.last, sec: m.endSec, nsec: m.endNsec, minSec: m.minEndSec, minNsec: m.minEndNsec });
      const bucket = minute - (minute % BUCKET_SECONDS);
      const h = hours.get(bucket);
      if (h === undefined) hours.set(bucket, { latest: m, earliest: m });
      else {
        if (later(m.endSec, m.endNsec, h.latest.endSec, h.latest.endNsec)) h.latest = m;
        if (later(h.earliest.minEndSec, h.earliest.minEndNsec, m.minEndSec, m.minEndNsec)) h.earliest = m;
      }
    }
    for (const [bucket, h] of hours) this.hours.run({ run: this.runId, bucket, sec: h.latest.endSec, nsec: h.latest.endNsec, minSec: h.earliest.minEndSec, minNsec: h.earliest.minEndNsec });
    this.pending.clear();
    this.last = upto;
  }

  /**
   * Counts a flow as it is written into its minute (flow_minutes). Kept here rather than read back
   * from the commit's flows as the hourly rows are: a second pass over them cost a day's analysis
   * 1-2 s; this costs a map lookup a flow.
   */
  written(firstSec: number, firstNsec: number, lastSec: number, lastNsec: number, bytes: number): void {
    const minute = firstSec - (firstSec % MINUTE_SECONDS);
    // The same REAL as minutesOfFlows' (first_sec + first_nsec / 1e9): the timeline reads both.
    const ts = firstSec + firstNsec / 1e9;
    const m = this.pending.get(minute);
    if (m === undefined) this.pending.set(minute, { flows: 1, bytes, first: ts, last: ts, endSec: lastSec, endNsec: lastNsec, minEndSec: lastSec, minEndNsec: lastNsec });
    else {
      m.flows++;
      m.bytes += bytes;
      if (ts < m.first) m.first = ts;
      if (ts > m.last) m.last = ts;
      if (later(lastSec, lastNsec, m.endSec, m.endNsec)) {
        m.endSec = lastSec;
        m.endNsec = lastNsec;
      }
      if (later(m.minEndSec, m.minEndNsec, lastSec, lastNsec)) {
        m.minEndSec = lastSec;
        m.minEndNsec = lastNsec;
      }
    }
  }
}

interface MinuteSum {
  flows: number;
  bytes: number;
  /** The earliest and latest start (flow_minutes' first_ts, last_first_ts). */
  first: number;
  last: number;
  /** The latest and the earliest last packet (flow_hours). */
  endSec: number;
  endNsec: number;
  minEndSec: number;
  minEndNsec: number;
}

/** Whether the time aSec.aNsec is after bSec.bNsec. */
const later = (aSec: number, aNsec: number, bSec: number, bNsec: number): boolean => aSec > bSec || (aSec === bSec && aNsec > bNsec);

/**
 * Changes flows in place — `change` turns or renames the flows `ids` — and keeps the rollup rows of
 * their runs right: the rows the changed flows were all of are dropped and the changed flows added
 * to their rows as they are now; a row they were only part of is made again from its hour's flows
 * (found through flows_first). Inside the caller's transaction.
 */
export function changingFlows(db: Db, ids: readonly number[], change: () => void): void {
  if (ids.length === 0) return change();
  db.exec('DROP TABLE IF EXISTS temp.rollup_ids; CREATE TEMP TABLE rollup_ids (id INTEGER PRIMARY KEY)');
  try {
    const addId = db.prepare('INSERT OR IGNORE INTO temp.rollup_ids (id) VALUES (?)');
    for (const id of ids) addId.run(id);
    // The changed flows' rows as they were, and how many of each row's flows they are (a change
    // keeps a flow's first second: its hour is the same before and after).
    db.exec(`DROP TABLE IF EXISTS temp.rollup_left; CREATE TEMP TABLE rollup_left AS SELECT *, count(*) AS n FROM (${CHANGED_FLOW_KEYS}) GROUP BY ${ROLLUP_KEY.join(', ')}`);
    // The changed flows' keys as they were and (below) as they are: the sensors' totals of those keys change.
    const sensorKeys = changedSensorKeys(db);
    change();
    rollUpChanged(db);
    // A finished run's totals follow (a run still running makes its own when it finishes).
    const finished = db.prepare("SELECT DISTINCT l.run_id FROM temp.rollup_left l JOIN runs u ON u.id = l.run_id WHERE u.status = 'complete'").pluck().all() as number[];
    for (const run of finished) totalRun(db, run);
    // Their sensors' totals, for those keys (the others are as they were).
    sensorKeys.add();
    sensorKeys.rebuild();
  } finally {
    db.exec('DROP TABLE IF EXISTS temp.rollup_left; DROP TABLE IF EXISTS temp.rollup_redo; DROP TABLE IF EXISTS temp.rollup_ids; DROP TABLE IF EXISTS temp.sensor_keys');
  }
}

/**
 * The hourly rows after changed flows (temp.rollup_ids, their rows before in temp.rollup_left):
 * where they were all of a row, it goes and they are added where they are now, by upsert — a day's
 * flows the registry named were its hours made again from every flow of the day (4.4 s at a
 * million flows). Only a row they were part of is made again from the flows of its hour, and with
 * it the rows they joined there. Rows that do not hold the changed flows (a commit not made yet:
 * nothing calls this before one) have their whole hours made again, as before.
 */
function rollUpChanged(db: Db): void {
  const key = ROLLUP_KEY.join(', ');
  const on = ROLLUP_KEY.map((k) => `r.${k} = l.${k}`).join(' AND ');
  const missing = db.prepare(`SELECT count(*) FROM temp.rollup_left l LEFT JOIN flow_rollup r ON ${on} WHERE r.flows IS NULL OR r.flows < l.n`).pluck().get() as number;
  if (missing > 0) {
    // A row lacks them: every row of their hours made again.
    const hours = '(SELECT DISTINCT run_id, bucket FROM temp.rollup_left)';
    db.exec(`DELETE FROM flow_rollup WHERE (run_id, bucket) IN ${hours}`);
    db.exec(rollUpFlows('', hourFlows(hours)));
    return;
  }
  // Rows made again: those the changed flows were part of.
  db.exec(`DROP TABLE IF EXISTS temp.rollup_redo; CREATE TEMP TABLE rollup_redo AS SELECT l.* FROM temp.rollup_left l JOIN flow_rollup r ON ${on} WHERE r.flows > l.n`);
  db.exec(`DELETE FROM flow_rollup WHERE (${key}) IN (SELECT ${key} FROM temp.rollup_left)`);
  // The changed flows where they are now, but in rows made again below.
  const now = rollupKeyOf('f', 'c').join(', ');
  db.exec(`${rollUpFlows(`WHERE (${now}) NOT IN (SELECT ${key} FROM temp.rollup_redo)`, CHANGED_FLOWS)}
    ${mergingSums(ROLLUP_KEY)}`);
  db.exec(rollUpFlows(`WHERE (${now}) IN (SELECT ${key} FROM temp.rollup_redo)`, hourFlows('(SELECT DISTINCT run_id, bucket FROM temp.rollup_redo)')));
}

/**
 * The flows f (of captures c) of the hours `hours` (run_id, bucket) lists. In this order (the
 * hours, their flows by start, their captures): left to choose, SQLite read every flow of a
 * ten-day database for one changed hour (2.4 s).
 */
const hourFlows = (hours: string) => `${hours} h CROSS JOIN flows f INDEXED BY flows_first ON f.first_sec >= h.bucket AND f.first_sec < h.bucket + ${BUCKET_SECONDS}
  CROSS JOIN captures c ON c.id = f.capture_id AND c.run_id = h.run_id`;

/** The changed flows f (temp.rollup_ids) of their captures c. */
const CHANGED_FLOWS = 'temp.rollup_ids i CROSS JOIN flows f ON f.id = i.id CROSS JOIN captures c ON c.id = f.capture_id';

/** Makes a run's rollup rows (hourly, by minute, each hour's latest end) from its flows (merge, which copies flows in bulk). */
export function rollUpRun(db: Db, runId: number): void {
  db.prepare('DELETE FROM flow_rollup WHERE run_id = ?').run(runId);
  db.prepare(rollUpFlows('WHERE c.run_id = ?')).run(runId);
  totalRun(db, runId);
  db.prepare('DELETE FROM flow_minutes WHERE run_id = ?').run(runId);
  db.prepare(minutesOfFlows('WHERE c.run_id = ?')).run(runId);
  db.prepare('DELETE FROM flow_hours WHERE run_id = ?').run(runId);
  db.prepare(hoursOfRollups('WHERE r.run_id = ?')).run(runId);
}

/**
 * Makes a run's rows without the hour (flow_rollup_run) from its hourly rows: when it finishes,
 * and again when its flows change. A row per run and key is written once, in key order: a day of
 * 403,689 hourly rows takes 0.9 s. Inside the caller's transaction.
 */
export function totalRun(db: Db, runId: number): void {
  db.prepare('DELETE FROM flow_rollup_run WHERE run_id = ?').run(runId);
  db.prepare(totalRuns('WHERE r.run_id = ?')).run(runId);
}

/** A sensor-level row's key without the sensor (a run-level row's without the run). */
const KEY_NO_RUN = SENSOR_ROLLUP_KEY.filter((k) => k !== 'sensor');
/** The rollup keys (with run_id) of the flows in temp.rollup_ids, as they are now. */
const CHANGED_FLOW_KEYS = `SELECT ${rollupKeyOf('f', 'c').map((x, i) => `${x} AS ${ROLLUP_KEY[i]}`).join(', ')} FROM ${CHANGED_FLOWS}`;

/**
 * The keys of sensor-level rows that changed flows (temp.rollup_ids) count in: `add` takes their
 * keys as the flows have them now (before the change and after it; a run's keys count for its
 * sensor while the sensor's totals are read — COVERED_SENSORS); `rebuild` makes those sensors'
 * rows of those keys again. Each key's rows are found by their key in each finished run's rows (a
 * search per run and key), so a change of a few keys costs what it touches, not the sensor's days.
 */
function changedSensorKeys(db: Db): { add: () => void; rebuild: () => void } {
  db.exec(`DROP TABLE IF EXISTS temp.sensor_keys; CREATE TEMP TABLE sensor_keys (${SENSOR_ROLLUP_KEY.join(', ')}, PRIMARY KEY (${SENSOR_ROLLUP_KEY.join(', ')})) WITHOUT ROWID`);
  const add = () =>
    db.exec(`INSERT OR IGNORE INTO temp.sensor_keys SELECT ${SENSOR_OF('u')}, ${KEY_NO_RUN.map((k) => `x.${k}`).join(', ')}
      FROM (${CHANGED_FLOW_KEYS}) x CROSS JOIN runs u ON u.id = x.run_id WHERE ${SENSOR_OF('u')} IN (${COVERED_SENSORS})`);
  add();
  return {
    add,
    rebuild: () => {
      const key = SENSOR_ROLLUP_KEY.join(', ');
      db.exec(`DELETE FROM flow_rollup_sensor WHERE (${key}) IN (SELECT ${key} FROM temp.sensor_keys)`);
      db.exec(
        sensorRollUp("WHERE u.status = 'complete'", {
          from: `temp.sensor_keys k CROSS JOIN runs u ON ${SENSOR_OF('u')} = k.sensor
            CROSS JOIN flow_rollup_run r ON r.run_id = u.id AND ${KEY_NO_RUN.map((c) => `r.${c} = k.${c}`).join(' AND ')}`,
        }),
      );
      db.exec('DROP TABLE temp.sensor_keys');
    },
  };
}

/** The sensor (as flow_rollup_sensor keys it) of run `runId`. */
const sensorOf = (db: Db, runId: number): string => db.prepare(`SELECT ${SENSOR_OF('u')} FROM runs u WHERE u.id = ?`).pluck().get(runId) as string;

/** Writes that `sensor`'s rows now hold all of its finished runs. */
function holdRuns(db: Db, sensor: string): void {
  db.prepare('DELETE FROM rollup_sensor_runs WHERE sensor = ?').run(sensor);
  db.prepare(`INSERT INTO rollup_sensor_runs (sensor, run_id) SELECT ?, v.id FROM runs v WHERE v.status = 'complete' AND ${SENSOR_OF('v')} = ?`).run(sensor, sensor);
}

/**
 * Makes `sensor`'s rows again from all its finished runs' rows (inside the caller's transaction).
 * A sensor of one finished run has none: that run's own rows are its totals (reports read a
 * sensor's runs' rows while it holds none) — a first run of 50,000 distinct keys (the bench's
 * synthetic) spent 100 ms copying them.
 */
export function rollUpSensor(db: Db, sensor: string): void {
  db.prepare('DELETE FROM flow_rollup_sensor WHERE sensor = ?').run(sensor);
  const runs = db.prepare(`SELECT count(*) FROM runs v WHERE v.status = 'complete' AND ${SENSOR_OF('v')} = ?`).pluck().get(sensor) as number;
  if (runs < 2) {
    db.prepare('DELETE FROM rollup_sensor_runs WHERE sensor = ?').run(sensor);
    return;
  }
  db.prepare(sensorRollUp(`WHERE u.status = 'complete' AND ${SENSOR_OF('u')} = ?`)).run(sensor);
  holdRuns(db, sensor);
}

/** Makes the rows of the sensors of runs `runIds` again (merge, which copies runs whole). */
export function rollUpSensorsOf(db: Db, runIds: readonly number[]): void {
  for (const sensor of new Set(runIds.map((id) => sensorOf(db, id)))) rollUpSensor(db, sensor);
}

/**
 * Marks run `runId` complete (`markComplete`; its run-level rows made) and brings its sensor's
 * totals with it: its rows added to them when, before it finished, they held exactly the sensor's
 * finished runs (COVERED_SENSORS); else they are made again from all its finished runs (the
 * sensor's first run, or after a change they missed). Inside the caller's transaction.
 */
export function finishingRun(db: Db, runId: number, markComplete: () => void): void {
  const sensor = sensorOf(db, runId);
  const held = db.prepare(`SELECT 1 WHERE ? IN (${COVERED_SENSORS})`).get(sensor) !== undefined;
  markComplete();
  if (!held) return rollUpSensor(db, sensor);
  db.prepare(sensorRollUp('WHERE r.run_id = ?', { merge: true })).run(runId);
  db.prepare('INSERT INTO rollup_sensor_runs (sensor, run_id) VALUES (?, ?)').run(sensor, runId);
}
