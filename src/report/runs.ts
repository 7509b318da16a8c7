import type { Db } from '../store/db';
import type { Row } from './format';

export const RUN_COLUMNS = ['run', 'status', 'started_at', 'finished_at', 'sensor', 'live', 'separate', 'captures', 'packets', 'flows', 'command', 'note'];
export const RUN_TABLE_COLUMNS = ['run', 'status', 'started_at', 'sensor', 'captures', 'packets', 'flows', 'command', 'note'];

/**
 * Every run with what it holds. Runs that did not finish are listed too — their
 * rows are what reports never show — with a note saying what became of them.
 */
export function queryRuns(db: Db): Row[] {
  return (db
    .prepare(
      `SELECT r.id AS run, r.status, r.started_at, r.finished_at, r.sensor, r.live, r.separate,
              (SELECT count(*) FROM captures c WHERE c.run_id = r.id) AS captures,
              (SELECT coalesce(sum(c.packets), 0) FROM captures c WHERE c.run_id = r.id) AS packets,
              (SELECT coalesce(sum(c.flows), 0) FROM captures c WHERE c.run_id = r.id) AS flows,
              r.command, r.note
       FROM runs r ORDER BY r.id`,
    )
    .all() as Row[]).map((r) => ({ ...r, live: r.live === 1, separate: r.separate === 1 }));
}
