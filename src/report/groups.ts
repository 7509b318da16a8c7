// The relation every report adds up: groups of flows, each with the columns reports
// group and filter by and the sums they print. From the rollups by default — a row per run,
// client, server, port, service, interface, TLS, findings and their account (flow_rollup_run), or with a time
// filter the same per hour (flow_rollup), so that only the hours it cuts are read again from flows; from
// the flows themselves, one group a flow, with --from-flows — the reference the rollups are
// checked against (test/rollups.test.ts). A report is written once, over `FROM (groups) f`.
//
// Filters stay exact. Those on a group's own columns (addresses, service, roles, verdict,
// finding, sensor) hold for all of a rollup row's flows or none. A --since/--until takes a
// rollup row whole when every flow of it passes, leaves it when none does, and otherwise
// (the row is cut) takes its flows that pass: its hour's flows (flows_first) with its key.
// --capture is answered from the flows of that capture (flows_capture).
import { createHash } from 'node:crypto';
import { BUCKET_SECONDS, findingAccount, finishedRunRows, JUDGED_COLUMNS, JUDGED_SHORT, judgedFrom, VERDICT_TEXTS, rollupKeyOf, ROLLUP_KEY, ROLLUP_OPTIONAL, tsOf } from '../store/schema';
import type { Db } from '../store/db';
import { flowWhere, type FlowFilter } from './filter';

/** What a group has, whichever its source; and with `judged`, its roles and verdict. */
const SEEN = `f.client, f.server, f.transport, f.server_port, f.service, f.via, f.rpc_interface, f.rpc_interfaces, f.tls, f.protection,
  f.packets_c2s, f.packets_s2c, f.bytes_c2s, f.bytes_s2c, f.packets, f.bytes,
  f.first_sec, f.first_nsec, f.last_sec, f.last_nsec, f.first_ts, f.last_ts, f.sensor`;
const JUDGED = `f.client_role, f.server_role, f.verdict, f.rule, f.reason, f.reason_detail, f.cite, f.client_name, f.server_name, f.client_roles, f.server_roles, f.encryption, f.encryption_cite`;
/** A flow as a group of one: its columns, as SELECT's list (over flow_view or flow_seen f). */
const asGroup = (judged: boolean) => `${SEEN}, ${findingAccount('f')} AS account, ${judged ? `${JUDGED}, ` : ''}1 AS flows, f.id AS first_id`;
const sources = (judged: boolean) => ({
  flows: `SELECT ${asGroup(judged)} FROM ${judged ? 'flow_view' : 'flow_seen'} f`,
  /**
   * The flows whose ids `ids` (a SELECT of ids) gives, found by id: CROSS JOIN keeps SQLite from
   * reading them through an address index instead (with --host of a busy server, every flow it is
   * on, ten days of them, to keep an hour's: host --since at 10M flows 4.2 s in this statement).
   */
  flowsOf: (ids: string) =>
    `SELECT ${asGroup(judged)} FROM (${ids}) cut CROSS JOIN ${judged ? 'flow_view' : 'flow_seen'} f ON f.id = cut.id`,
  /** Hourly rows: where a time filter may cut a row, an hour's flows answer for it. */
  rollups: `SELECT ${SEEN}, f.account, ${judged ? `${JUDGED}, ` : ''}f.flows, f.first_id FROM ${judged ? 'rollup_view' : 'rollup_seen'} f`,
  /** A row per run and key: where no time filter cuts (a fraction of the hourly rows). */
  runs: `SELECT ${SEEN}, f.account, ${judged ? `${JUDGED}, ` : ''}f.flows, f.first_id FROM ${judged ? 'run_rollup_view' : 'run_rollup_seen'} f`,
});

export interface Groups {
  /** A parenthesized subquery: use as `FROM ${g.sql} f`. */
  sql: string;
  args: (string | number)[];
  /**
   * Set where the groups are already added up: the columns each row is the only one of (its
   * roles and verdict follow from them), so a report grouping by these and judged columns has
   * nothing left to add up.
   */
  keyedBy?: string[];
}

/** A rollup_view row r's key as flow_rollup stores it (the NULLs back to ''). */
const RAW_KEY = ROLLUP_KEY.map((k) => ((ROLLUP_OPTIONAL as readonly string[]).includes(k) ? `coalesce(r.${k}, '')` : `r.${k}`));

/**
 * Of the flows a time filter leaves to rollup rows it cuts, past this share of the rows' flows it is
 * cheaper to read the flows alone: one scan, where each cut row's flows are found through an index.
 */
const CUT_SHARE = 0.2;

/** A condition that reads a judged column (a role, the verdict or what comes with it). */
const JUDGED_NAMES = /\.(client_role|server_role|client_roles|server_roles|verdict|rule|reason|reason_detail|cite|client_name|server_name|encryption|encryption_cite)\b/;

/** A condition on groups f as the same condition on rollup rows r. */
const onRow = (x: string) => x.replace(/\bf\./g, 'r.');

/**
 * What a verdict depends on besides the hosts (judgedFrom's join). The encryption finding reads
 * tls as well: a report that reads it names tls in `by` (without, its groups' tls is NULL).
 */
const JUDGED_KEY = ['client', 'server', 'transport', 'server_port', 'service'];

/** Splits conditions (and their `?` arguments, in order) into those on judged columns and the rest. */
function splitConditions(extra: string[], args: (string | number)[]) {
  const out = { judged: { sql: [] as string[], args: [] as (string | number)[] }, seen: { sql: [] as string[], args: [] as (string | number)[] } };
  let at = 0;
  for (const x of extra) {
    const n = (x.match(/\?/g) ?? []).length;
    const to = JUDGED_NAMES.test(x) ? out.judged : out.seen;
    to.sql.push(x);
    to.args.push(...args.slice(at, at + n));
    at += n;
  }
  return out;
}

/**
 * Judged groups added up before they are judged: the unjudged groups of the filter (rollup rows,
 * with a time filter the rows it leaves whole and the flows of those it cuts) summed per
 * JUDGED_KEY and the columns `by` names, then each sum's hosts and verdict looked up — a day's
 * 403,689 rollup rows are 87,285 such sums. Conditions on judged columns hold after the lookup,
 * the others before the sums. Groups have only those columns, the sums and times. The sums'
 * GROUP BY sorts every row (0.35-0.5 s on that day), so this pays for a report that reads its
 * groups once (matrix 1.53 -> 1.18 s, summary's verdict pass), not for one that reads them again
 * for its examples.
 */
function judgedSums(db: Db, f: FlowFilter, by: string[], lists: Record<string, string>, extra: string[], extraArgs: (string | number)[]): Groups {
  const columns = [...new Set([...JUDGED_KEY, ...by])];
  const key = columns.map((k) => `f.${k}`).join(', ');
  const collected = Object.entries(lists).map(([name, x]) => `group_concat(DISTINCT ${x} ORDER BY ${x}) AS ${name}, `).join('');
  const c = splitConditions(extra, extraArgs);
  const seen = flowGroups(db, { ...f, role: undefined, verdict: undefined }, c.seen.sql, c.seen.args, { judged: false });
  const after = flowWhere({ role: f.role, verdict: f.verdict } as FlowFilter, 'f', c.judged.sql);
  const sums = `SELECT ${key}, ${columns.includes('tls') ? '' : 'NULL AS tls, '}${collected}sum(f.flows) AS flows, sum(f.packets_c2s) AS packets_c2s, sum(f.packets_s2c) AS packets_s2c,
      sum(f.bytes_c2s) AS bytes_c2s, sum(f.bytes_s2c) AS bytes_s2c, sum(f.packets) AS packets, sum(f.bytes) AS bytes,
      ${firstNs()} AS first_ns, ${lastNs()} AS last_ns, min(f.first_id) AS first_id
    FROM ${seen.sql} f GROUP BY ${key}`;
  const judgedRows = `SELECT f.*, f.first_ns / 1000000000 AS first_sec, f.first_ns % 1000000000 AS first_nsec, f.last_ns / 1000000000 AS last_sec,
        f.last_ns % 1000000000 AS last_nsec, ${tsOf('f.first_ns')} AS first_ts, ${tsOf('f.last_ns')} AS last_ts, ${JUDGED_COLUMNS}
      FROM ${judgedFrom(`(${sums}) f`)}`;
  return {
    sql: `(SELECT * FROM (${judgedRows}) f ${after.sql})`,
    args: [...seen.args, ...c.judged.args, ...after.args],
    keyedBy: columns,
  };
}

/**
 * The groups of the flows the filter selects, with `extra` conditions on group columns (alias f)
 * whose `?` take `extraArgs`. Without `o.judged` (a report that counts traffic, not verdicts, and
 * whose extra conditions name no role or verdict), the groups have no roles or verdict and cost
 * no lookups of them. With `o.by` (the columns a judged report reads besides the sums, times,
 * roles and verdict; tls only if it reads encryption), the groups are added up before they are
 * judged; `o.lists` are columns those sums collect instead of grouping by them (name → an
 * expression over a group's columns, as group_concat(DISTINCT x ORDER BY x)): each group has
 * the column, its own value where the groups are not summed.
 */
export function flowGroups(db: Db, f: FlowFilter, extra: string[] = [], extraArgs: (string | number)[] = [], o: { judged?: boolean; by?: string[]; lists?: Record<string, string> } = {}): Groups {
  const judged = o.judged !== false || f.role !== undefined || f.verdict !== undefined;
  if (judged && o.by && !f.fromFlows && !isMaterialized(f)) return judgedSums(db, f, o.by, o.lists ?? {}, extra, extraArgs);
  const g = unsummedGroups(db, f, extra, extraArgs, judged);
  const lists = Object.entries(o.lists ?? {});
  return lists.length ? { sql: `(SELECT f.*, ${lists.map(([name, x]) => `${x} AS ${name}`).join(', ')} FROM ${g.sql} f)`, args: g.args } : g;
}

/** flowGroups without sums: the materialized groups, the flows, or the rollup rows (with the flows of hours a time filter cuts). */
function unsummedGroups(db: Db, f: FlowFilter, extra: string[], extraArgs: (string | number)[], judged: boolean): Groups {
  if (isMaterialized(f)) {
    const w = flowWhere({}, 'f', extra);
    // The verdict's texts by its id (a row lookup, left out by SQLite where no report reads them).
    const kept = `(SELECT f.*, ${VERDICT_TEXTS} FROM ${f.materialized!.table} f LEFT JOIN verdicts v ON v.id = f.verdict_id)`;
    return { sql: `(SELECT * FROM ${kept} f ${w.sql})`, args: [...extraArgs, ...w.args] };
  }
  const source = sources(judged);
  const where = (alias: string, o: { time?: boolean } = {}) => {
    const w = flowWhere(f, alias, alias === 'f' ? extra : extra.map(onRow), o);
    return { sql: w.sql, args: [...extraArgs, ...w.args] };
  };
  const fromFlows = (): Groups => {
    const w = where('f');
    return { sql: `(${source.flows} ${w.sql})`, args: w.args };
  };
  if (f.fromFlows || f.capture !== undefined) return fromFlows();
  const w = where('f', { time: false });
  if (f.since === undefined && f.until === undefined) return { sql: `(${source.runs} ${w.sql})`, args: w.args };
  const whole: string[] = [];
  const none: string[] = [];
  const times: number[] = [];
  if (f.since !== undefined) {
    whole.push('f.min_last_ts >= ?');
    none.push('f.last_ts < ?');
    times.push(f.since);
  }
  if (f.until !== undefined) {
    whole.push('f.max_first_ts <= ?');
    none.push('f.first_ts > ?');
    times.push(f.until);
  }
  const and = (sql: string) => (sql ? `${sql} AND` : 'WHERE');
  // Only the hours whose flows may pass (flow_hours): one that ended before --since, or began after
  // --until, has no row that passes, and is not read (ten daily runs, roles --since in the last day: 4.2 -> 1.3 s).
  const reach: string[] = [];
  if (f.since !== undefined) reach.push(`${tsOf('h.last_ns')} >= ?`);
  if (f.until !== undefined) reach.push('h.bucket <= ?');
  // Finished runs the filter takes whole — every flow starts at or after --since (their first hour
  // does), every flow ends a second or more before --until — are read from their rows without the
  // hour, not hour by hour (ten daily runs, roles --since mid-span: five days of hourly rows).
  const wholeIf: string[] = [];
  if (f.since !== undefined) wholeIf.push('min(h.bucket) >= ?');
  if (f.until !== undefined) wholeIf.push('max(h.last_ns) < (? - 1) * 1000000000');
  const wholeRuns = `SELECT h.run_id FROM flow_hours h JOIN runs v ON v.id = h.run_id WHERE v.status = 'complete' GROUP BY h.run_id HAVING ${wholeIf.join(' AND ')}`;
  const inReach = (alias: string) => `(${alias}.run_id, ${alias}.bucket) IN (SELECT h.run_id, h.bucket FROM flow_hours h WHERE ${reach.join(' AND ')} AND h.run_id NOT IN (${wholeRuns})) AND`;
  // Which rows are cut needs the verdict only when a condition names it or a role.
  const cutFrom = f.role !== undefined || f.verdict !== undefined || extra.some((x) => JUDGED_NAMES.test(x)) ? 'rollup_view' : 'rollup_seen';
  const r = where('r', { time: false });
  const exact = where('f');
  const cut = `NOT (${onRow(whole.join(' AND '))}) AND NOT (${onRow(none.join(' OR '))})`;
  // The cut rows' keys and flows, in a temporary table named for the question (asked again, made again).
  const table = `temp.cut_${createHash('sha256').update(JSON.stringify([r.sql, cut, r.args, times])).digest('hex').slice(0, 16)}`;
  db.exec(`DROP TABLE IF EXISTS ${table}`);
  db.prepare(`CREATE TEMP TABLE ${table.slice(5)} AS SELECT ${RAW_KEY.map((x, i) => `${x} AS ${ROLLUP_KEY[i]}`).join(', ')}, sum(r.flows) AS flows FROM ${cutFrom} r ${and(r.sql)} ${inReach('r')} ${cut} GROUP BY ${RAW_KEY.map((_, i) => i + 1).join(', ')}`).run(...r.args, ...times, ...times, ...times, ...times);
  // Many flows cut: read them all from the flows. The share's whole from the runs' rows (a row per
  // run and key, not per hour): the hourly rows were read a second time for it (1.9 s of 5.5 at 10M flows).
  const cutFlows = db.prepare(`SELECT sum(flows) FROM ${table}`).pluck().get() as number | null;
  const allFlows = db.prepare(`SELECT sum(r.flows) FROM ${cutFrom === 'rollup_view' ? 'run_rollup_view' : 'run_rollup_seen'} r ${r.sql}`).pluck().get(...r.args) as number | null;
  if ((cutFlows ?? 0) > CUT_SHARE * (allFlows ?? 0)) {
    db.exec(`DROP TABLE ${table}`);
    return fromFlows();
  }
  db.exec(`CREATE INDEX ${table}_key ON ${table.slice(5)} (${ROLLUP_KEY.join(', ')})`);
  // Their flows: those of the cut rows' hours whose key is a cut row's. The order is fixed (the
  // hours, then their flows by start time, then their captures): left to choose, SQLite 3.53 reads
  // the flows through flows_server for the key's server — every flow of the day, 3× slower.
  const cutFlowIds = `SELECT fl.id FROM (SELECT DISTINCT run_id, bucket FROM ${table}) h
    CROSS JOIN flows fl INDEXED BY flows_first ON fl.first_sec >= h.bucket AND fl.first_sec < h.bucket + ${BUCKET_SECONDS}
    CROSS JOIN captures c ON c.id = fl.capture_id AND c.run_id = h.run_id
    WHERE (${rollupKeyOf('fl', 'c').join(', ')}) IN (SELECT ${ROLLUP_KEY.join(', ')} FROM ${table})`;
  const wholeRows = `SELECT ${SEEN}, f.account, ${judged ? `${JUDGED}, ` : ''}f.flows, f.first_id FROM (${finishedRunRows(`v.id IN (${wholeRuns})`, judged)}) f ${w.sql}`;
  return {
    sql: `(${wholeRows}
      UNION ALL
      ${source.rollups} ${and(w.sql)} ${inReach('f')} ${whole.join(' AND ')}
      UNION ALL
      ${source.flowsOf(cutFlowIds)} ${exact.sql})`,
    args: [...times, ...w.args, ...w.args, ...times, ...times, ...times, ...exact.args],
  };
}

/** What a filter selects, as text: materialized groups serve only the filter they were read for. */
const filterKey = (f: FlowFilter): string => JSON.stringify({ ...f, materialized: undefined });
/** Whether `f` names groups materialized for itself (materializeGroups). */
const isMaterialized = (f: FlowFilter): boolean => f.materialized !== undefined && f.materialized.of === filterKey(f);

/**
 * Reads the judged groups of `f` into a temporary table once and returns the filter that makes
 * every report over it (flowGroups with any conditions, judged or not) read that table instead
 * of the rollups. dropGroups removes it.
 */
export function materializeGroups(db: Db, f: FlowFilter): FlowFilter {
  // Already (an engine's copy of a window's sums, judged for the filter): as they are.
  if (isMaterialized(f)) return f;
  return materializeFor(db, f, f);
}

/**
 * Reads the judged groups of `from` into a temporary table and returns `serves` made to read them:
 * for a database whose rows already hold only what `serves` selects (an engine's copy of the sums
 * of a time window: `from` is the filter without the window).
 */
export function materializeFor(db: Db, from: FlowFilter, serves: FlowFilter): FlowFilter {
  // Judged here rather than by the views, to keep the verdict's id in place of its texts, which
  // every report's pass over the table would read (1M flows: a row's JSON 1,153 -> 721 characters).
  const read = flowGroups(db, { ...from, role: undefined, verdict: undefined, materialized: undefined }, [], [], { judged: false });
  // A time window reads each run's rows (a sensor's totals span all its time): added up across
  // runs here, once, for every pass of the page (ten daily runs, the last five days: 639,560 rows, 127,912 sums).
  const seen = from.since !== undefined || from.until !== undefined ? acrossRuns(read) : read;
  const after = flowWhere({ role: from.role, verdict: from.verdict }, 'f');
  const judged = `(SELECT * FROM (SELECT f.*, ${JUDGED_SHORT} FROM ${judgedFrom(`${seen.sql} f`)}) f ${after.sql})`;
  const kept = keepGroups(db, 'page_groups', '*', { sql: judged, args: [...seen.args, ...after.args] });
  return { ...serves, materialized: { table: kept.sql, of: filterKey(serves) } };
}

/** What a group is keyed by once runs are added together (SEEN's columns that are not sums or times). */
const ACROSS_RUNS_KEY = 'f.client, f.server, f.transport, f.server_port, f.service, f.via, f.rpc_interface, f.rpc_interfaces, f.tls, f.protection, f.sensor, f.account';

/** Unjudged groups `g` added up per key across runs and hours: the same sums, times and first flow, in fewer groups. */
function acrossRuns(g: Groups): Groups {
  return {
    sql: `(SELECT ${ACROSS_RUNS_KEY}, sum(f.packets_c2s) AS packets_c2s, sum(f.packets_s2c) AS packets_s2c, sum(f.bytes_c2s) AS bytes_c2s,
        sum(f.bytes_s2c) AS bytes_s2c, sum(f.packets) AS packets, sum(f.bytes) AS bytes, ${SPAN()}, min(f.first_ts) AS first_ts, max(f.last_ts) AS last_ts,
        sum(f.flows) AS flows, min(f.first_id) AS first_id
      FROM ${g.sql} f GROUP BY ${ACROSS_RUNS_KEY})`,
    args: g.args,
  };
}

/**
 * Reads groups `g` — with `o.addresses`, those with one of them as client or server; with
 * `o.groupBy`, added up by it — into the temporary table `name` (its `columns`, indexed by client
 * and server with `o.indexed`), made
 * again if it is there; returns it as groups. For a report that reads the same groups many times.
 */
export function keepGroups(db: Db, name: string, columns: string, g: Groups, o: { addresses?: string[]; indexed?: boolean; groupBy?: string } = {}): Groups {
  const a = o.addresses;
  const marks = (a ?? []).map(() => '?').join(', ');
  const where = a === undefined ? '' : a.length ? `WHERE f.client IN (${marks}) OR f.server IN (${marks})` : 'WHERE 0';
  const group = o.groupBy ? `GROUP BY ${o.groupBy}` : '';
  db.exec(`DROP TABLE IF EXISTS temp.${name}`);
  db.prepare(`CREATE TEMP TABLE ${name} AS SELECT ${columns} FROM ${g.sql} f ${where} ${group}`).run(...g.args, ...(a ?? []), ...(a ?? []));
  if (o.indexed) db.exec(`CREATE INDEX temp.${name}_client ON ${name} (client); CREATE INDEX temp.${name}_server ON ${name} (server)`);
  return { sql: `temp.${name}`, args: [] };
}

/**
 * Groups `g` of filter `f`, for a report that reads them more than once: kept in the temporary
 * table `name` (its `columns`) when they come from the rollups — each read of a time window cuts
 * its hours and adds its runs up again (ten daily runs, the last five days: 929k rows added up in
 * 1.9 s a read) — and null otherwise: a page's groups are kept already, and flows (--from-flows,
 * --capture) are not copied. The caller drops the table (dropKept).
 */
export function keepForPasses(db: Db, f: FlowFilter, name: string, columns: string, g: Groups, o: { groupBy?: string } = {}): Groups | null {
  if (isMaterialized(f) || f.fromFlows || f.capture !== undefined) return null;
  return keepGroups(db, name, columns, g, o);
}

/**
 * `read` of groups `g` that it reads more than once: kept for its passes (keepForPasses), added up
 * by `reads` — the columns it reads besides flows, bytes and the times — and dropped after.
 */
export function readKeptSums<T>(db: Db, f: FlowFilter, name: string, reads: string, g: Groups, read: (g: Groups) => T): T {
  const kept = keepForPasses(db, f, name, `${reads}, sum(f.flows) AS flows, sum(f.bytes) AS bytes, ${SPAN()}`, g, { groupBy: reads });
  try {
    return read(kept ?? g);
  } finally {
    dropKept(db, kept);
  }
}

/** Drops a table keepForPasses kept (none: nothing). */
export function dropKept(db: Db, kept: Groups | null): void {
  if (kept) db.exec(`DROP TABLE IF EXISTS ${kept.sql}`);
}

/**
 * Indexes groups materialized for `f` by client and by server, for a caller that reads one host's
 * groups at a time out of them (the HTML page's drill-downs): found through the index, not copied
 * out first (a busy server is on most of them). Returns the groups, as flowGroups gives them.
 */
export function indexedGroups(db: Db, f: FlowFilter): Groups {
  if (!isMaterialized(f)) throw new Error('indexedGroups: the groups are not materialized for this filter');
  const table = f.materialized!.table;
  const bare = table.replace(/^temp\./, '');
  db.exec(`CREATE INDEX IF NOT EXISTS temp.${bare}_client ON ${bare} (client); CREATE INDEX IF NOT EXISTS temp.${bare}_server ON ${bare} (server)`);
  return flowGroups(db, f);
}

export function dropGroups(db: Db, f: FlowFilter): void {
  if (f.materialized) db.exec(`DROP TABLE IF EXISTS ${f.materialized.table}`);
}

/** The earliest first packet of rows `f` in nanoseconds (an aggregate), and the latest last. */
export const firstNs = (f = 'f') => `min(${f}.first_sec * 1000000000 + ${f}.first_nsec)`;
export const lastNs = (f = 'f') => `max(${f}.last_sec * 1000000000 + ${f}.last_nsec)`;

/** A nanosecond expression as the columns NAME_sec and NAME_nsec that isoTime takes. */
export const secNsec = (ns: string, name: string) => `${ns} / 1000000000 AS ${name}_sec, ${ns} % 1000000000 AS ${name}_nsec`;

/**
 * The earliest first and latest last packet of groups `f` as first_sec, first_nsec, last_sec and
 * last_nsec, to the nanosecond: a grouped row's times are its flows' own, not cut to the second.
 */
export const SPAN = (f = 'f') => `${secNsec(firstNs(f), 'first')}, ${secNsec(lastNs(f), 'last')}`;

/** The flows of groups f by verdict: expected, unexpected, and unknown (with `orNone`, flows without a verdict too). */
export const verdictSums = (orNone = true) => `sum(CASE WHEN f.verdict = 'expected' THEN f.flows ELSE 0 END) AS expected,
  sum(CASE WHEN f.verdict = 'unexpected' THEN f.flows ELSE 0 END) AS unexpected,
  sum(CASE WHEN ${orNone ? 'f.verdict IS NULL OR ' : ''}f.verdict = 'unknown' THEN f.flows ELSE 0 END) AS unknown`;


/**
 * A group_concat(DISTINCT …) of a list column (comma-separated) as a list in one order, each
 * element once, whatever order the groups came in.
 */
export const listed = (v: unknown): string[] => (v ? [...new Set(String(v).split(',').filter(Boolean))].sort() : []);
