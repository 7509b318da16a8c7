/**
 * The exflow database. Timestamps are kept as whole seconds since 1970 and
 * nanoseconds apart (a nanosecond epoch does not fit a double); the views add
 * REAL seconds for arithmetic. Documented in README.md ("The database").
 */
import { SHORT_LIST } from '../audit/verdict';

export const SCHEMA_VERSION = 25;

/** A run's rows that reports may use (as capture_view says), or that the run `?` being finished adds: for runs r. */
export const RUN_VISIBLE_OR = `(r.status = 'complete' OR r.live = 1 OR r.id = ?)`;

/**
 * A side's roles as a verdict key holds them: the roles, and "?" after them when they are only
 * a guess (inferred with low confidence) — a guess may not make a flow unexpected.
 */
export const GUESSED_ROLES = (h: string) => `coalesce(${h}.roles, '') || CASE WHEN ${h}.role_source = 'inferred' AND ${h}.confidence = 'low' THEN '?' ELSE '' END`;

/**
 * A verdict's key, as SQL over a flow f and its two hosts hc (client) and hs (server):
 * the two sides' roles and Exchange versions, the service, the transport and — for a
 * flow no service was named for — the port ('' and 0 stand for none: the key is NOT NULL
 * so that it can be UNIQUE). A verdict depends on nothing else (src/audit/verdict.ts).
 */
export const VERDICT_KEY = `${GUESSED_ROLES('hc')} AS cr, ${GUESSED_ROLES('hs')} AS sr, coalesce(f.service, '') AS service, f.transport AS transport,
  CASE WHEN f.service IS NULL THEN f.server_port ELSE 0 END AS port, coalesce(hc.version, '') AS cv, coalesce(hs.version, '') AS sv`;

const VERDICT_COLUMNS = `
  id          INTEGER PRIMARY KEY,
  cr          TEXT NOT NULL,
  sr          TEXT NOT NULL,
  service     TEXT NOT NULL,
  transport   TEXT NOT NULL,
  port        INTEGER NOT NULL,
  cv          TEXT NOT NULL,
  sv          TEXT NOT NULL,
  client_role TEXT,
  server_role TEXT,
  verdict     TEXT NOT NULL CHECK (verdict IN ('expected', 'unexpected', 'unknown')),
  rule        TEXT,
  -- Why, in English.
  reason      TEXT NOT NULL,
  -- For an expected verdict whose rule says the service is encrypted between the roles: the
  -- finding a flow of it gets when it was seen in clear (the views apply it where tls = 'none').
  encryption  TEXT`;
const VERDICT_UNIQUE = `
  UNIQUE (cr, sr, service, transport, port, cv, sv)`;

/** Added by schema 9: where a verdict's rule and its encryption finding come from, in the source's own words and language. */
const VERDICT_CITES = `
  cite            TEXT,
  encryption_cite TEXT`;

/** Added by schema 19: every service allowed and rule read, for a verdict whose reason only counts them (src/audit/verdict.ts). */
const VERDICT_DETAIL = `
  detail          TEXT`;

/**
 * Schema 19's rewrite of a stored reason that spells out a long list, as src/audit/verdict.ts now
 * words it: "(<list>)" at its end becomes "(N services allowed by M rules)" or "(M rules)" and the
 * list moves to detail. The list is what follows "between <pair> (" (role names hold no parenthesis).
 */
/** Where " between " is in a verdict's reason, what follows it, and the reason up to "between <pair> (" (role names hold no parenthesis). */
const REASON_AT = `instr(reason, ' between ')`;
const REASON_REST = `substr(reason, ${REASON_AT} + 9)`;
const REASON_HEAD = `substr(reason, 1, ${REASON_AT} + 8 + instr(${REASON_REST}, ' (') + 1)`;

const SHORTEN_REASONS = (() => {
  const rest = REASON_REST;
  const list = `substr(${rest}, instr(${rest}, ' (') + 2, length(${rest}) - instr(${rest}, ' (') - 2)`;
  const n = (x: string) => `(length(${x}) - length(replace(${x}, ', ', ',')) + 1)`;
  const counted = (x: string, what: string) => `${n(x)} || ' ${what}' || CASE WHEN ${n(x)} = 1 THEN '' ELSE 's' END`;
  const services = `substr(${list}, 1, instr(${list}, '; ') - 1)`;
  const ids = `substr(${list}, instr(${list}, '; ') + 2)`;
  const head = REASON_HEAD;
  return `UPDATE verdicts SET
      detail = CASE WHEN reason LIKE '% is not among what the matrix allows between % (%)' THEN 'allowed: ' || ${services} || '; rules: ' || ${ids} ELSE 'rules: ' || ${list} END,
      reason = ${head} || CASE WHEN length(${list}) <= ${SHORT_LIST} THEN ${list}
        WHEN reason LIKE '% is not among what the matrix allows between % (%)' THEN ${counted(services, 'service')} || ' allowed by ' || ${counted(ids, 'rule')}
        ELSE ${counted(list, 'rule')} END || ')'
    WHERE (reason LIKE '% is not among what the matrix allows between % (%)' OR reason LIKE '%the matrix says no direct connection between % (%)')`;
})();

/**
 * Schema 21: outlook-2007 written outlook in every stored role and rule id (renamed_id, db.ts), and a
 * reason that counted its list spelling it out again when the shorter ids bring it within SHORT_LIST.
 */
const RENAME_OUTLOOK = (() => {
  const renamed = (c: string) => `${c} = renamed_id(${c}, 'outlook-2007', 'outlook')`;
  const list = `CASE WHEN detail LIKE 'allowed: %' THEN replace(substr(detail, 10), '; rules: ', '; ') ELSE substr(detail, 8) END`;
  const head = REASON_HEAD;
  return `UPDATE hosts SET ${['roles', 'evidence', 'disagreement'].map(renamed).join(', ')} WHERE instr(coalesce(roles, '') || coalesce(evidence, '') || coalesce(disagreement, ''), 'outlook-2007') > 0;
    UPDATE inventory SET ${renamed('roles')} WHERE instr(roles, 'outlook-2007') > 0;
    UPDATE OR REPLACE verdicts SET ${['cr', 'sr', 'client_role', 'server_role', 'rule', 'reason', 'detail'].map(renamed).join(', ')}
      WHERE instr(cr || sr || coalesce(rule, '') || reason || coalesce(detail, ''), 'outlook-2007') > 0;
    UPDATE verdicts SET reason = ${head} || ${list} || ')'
      WHERE detail IS NOT NULL AND ${REASON_AT} > 0 AND length(${list}) <= ${SHORT_LIST} AND reason != ${head} || ${list} || ')';`;
})();

/** The hosts table as schema 6 made it (its migration must keep making exactly this). */
const HOST_COLUMNS_V6 = `
  address       TEXT PRIMARY KEY,
  first_sec     INTEGER NOT NULL,
  last_sec      INTEGER NOT NULL,
  name          TEXT,
  site          TEXT,
  version       TEXT,
  -- Where the version came from: inventory, or wire (a server's own answer).
  version_source TEXT,
  roles         TEXT,
  role_source   TEXT CHECK (role_source IN ('inventory', 'inferred') OR role_source IS NULL),
  confidence    TEXT,
  evidence      TEXT,
  serves        TEXT,
  uses          TEXT,
  disagreement  TEXT
`;

const HOST_COLUMNS = `${HOST_COLUMNS_V6.trimEnd()},
  -- Where the preferred name came from: inventory, or the wire source that named the host (host_names).
  name_source   TEXT,
  -- What the capture said about its names (JSON list of name-evidence tokens: "dns-srv:_ldap._tcp.dc._msdcs", …).
  named         TEXT,
  -- What its clients serve themselves, per service it served them (JSON list: "mapi-rpc>mapi-rpc", "mapi-rpc>").
  served_to     TEXT
`;

/** `source` (aliased f: flows, or rows with their client, server, service, transport and server_port) with their hosts hc, hs and verdict v joined in. */
export const judgedFrom = (source: string) => `${source}
  LEFT JOIN hosts hc ON hc.address = f.client
  LEFT JOIN hosts hs ON hs.address = f.server
  LEFT JOIN verdicts v ON v.cr = ${GUESSED_ROLES('hc')} AND v.sr = ${GUESSED_ROLES('hs')} AND v.service = coalesce(f.service, '')
    AND v.transport = f.transport AND v.port = CASE WHEN f.service IS NULL THEN f.server_port ELSE 0 END
    AND v.cv = coalesce(hc.version, '') AND v.sv = coalesce(hs.version, '')`;
/** flows f with their hosts hc, hs and verdict v joined in (the views' FROM). */
export const JUDGED_FROM = judgedFrom('flows f');

/** A judged row's verdict texts (the verdict v's), its hosts' names and roles (hc, hs), and its encryption finding given the verdict `verdict`. */
const VERDICT_WORDS = 'v.rule, v.reason, v.detail AS reason_detail, v.cite';
const HOST_NAMES = `hc.name AS client_name, hs.name AS server_name,
       nullif(replace(hc.roles, ',', '+'), '') AS client_roles, nullif(replace(hs.roles, ',', '+'), '') AS server_roles`;
const encryptionOf = (verdict: string) => `CASE WHEN f.tls = 'none' AND ${verdict} = 'expected' THEN v.encryption END AS encryption,
       CASE WHEN f.tls = 'none' AND ${verdict} = 'expected' THEN v.encryption_cite END AS encryption_cite`;

export const JUDGED_COLUMNS = `v.client_role, v.server_role, v.verdict, ${VERDICT_WORDS}, ${HOST_NAMES},
       ${encryptionOf('v.verdict')}`;

/**
 * JUDGED_COLUMNS without the verdict's texts, with the verdict's id to read them back by: for
 * judged rows kept for many reads (the HTML page's groups), where the texts are ~700 of a row's
 * ~1,000 bytes. VERDICT_TEXTS are the rest, over such a row f and its verdict v.
 */
export const JUDGED_SHORT = `v.client_role, v.server_role, v.verdict, ${HOST_NAMES}, v.id AS verdict_id`;
export const VERDICT_TEXTS = `${VERDICT_WORDS},
       ${encryptionOf('f.verdict')}`;

/**
 * The width of a rollup bucket, in seconds: an hour. Reports add up rollup rows, and a
 * --since/--until that falls inside a bucket is answered for that bucket's cut rows from
 * their flows: an hour of a mid-size site's traffic (~40,000 flows) is read through an
 * index in tens of milliseconds, where a day's would take a second. Most questions are
 * asked on the hour or the day, which cut nothing.
 */
export const BUCKET_SECONDS = 3600;

/**
 * What a rollup row is keyed by: its run, hour and the flow columns reports group and filter by.
 * The columns a flow may leave NULL are kept as '' (a key must be NOT NULL to be UNIQUE, and a
 * columnar engine keeps no NULLs in keys); rollup_view turns them back into NULL.
 */
export const ROLLUP_KEY = ['run_id', 'bucket', 'client', 'server', 'transport', 'server_port', 'service', 'via', 'rpc_interface', 'rpc_interfaces', 'tls', 'protection', 'account', 'answered'] as const;

/** A flow f that was answered: the server really served it (not a refused or unanswered attempt). */
export const answeredSql = (f: string) => `(${f}.tcp_state IN ('established', 'closed', 'reset', 'midstream') OR (${f}.transport = 'udp' AND ${f}.packets_s2c > 0))`;

/** The rollup key of a flow `f` (of capture `c`), in ROLLUP_KEY's order. */
export const rollupKeyOf = (f: string, c: string): string[] => [
  `${c}.run_id`, `${f}.first_sec - ${f}.first_sec % ${BUCKET_SECONDS}`, `${f}.client`, `${f}.server`, `${f}.transport`, `${f}.server_port`,
  `coalesce(${f}.service, '')`, `coalesce(${f}.via, '')`, `coalesce(${f}.rpc_interface, '')`, `coalesce(${f}.rpc_interfaces, '')`, `coalesce(${f}.tls, '')`, `coalesce(${f}.protection, '')`,
  `coalesce(${findingAccount(f)}, '')`, `CASE WHEN ${answeredSql(f)} THEN 1 ELSE 0 END`,
];
/**
 * The account a flow `f` with protection findings authenticated as (NULL for a flow without findings,
 * whose account no report adds up): a rollup key column, so that the accounts of a finding are read
 * from rollup rows with their earliest flow, not from every flow with findings.
 */
export const findingAccount = (f: string) => `CASE WHEN ${f}.protection IS NOT NULL THEN ${f}.auth_account END`;
/** The key columns a flow may leave NULL. */
export const ROLLUP_OPTIONAL = ['service', 'via', 'rpc_interface', 'rpc_interfaces', 'tls', 'protection', 'account'] as const;

/** Seconds (REAL, as flow_view's first_ts and last_ts compute them) of a nanosecond column. */
export const tsOf = (ns: string) => `(${ns} / 1000000000 + (${ns} % 1000000000) / 1e9)`;

/** A run v's sensor as a sensor-level rollup row keys it ('' for none). */
export const SENSOR_OF = (v: string) => `coalesce(${v}.sensor, '')`;

/**
 * The sensors whose flow_rollup_sensor rows may be read: those whose rows hold exactly the
 * sensor's finished runs (rollup_sensor_runs lists the runs they hold). A sensor whose finished
 * runs changed some way its rows were not kept for is read from its runs' rows instead (slower,
 * right). Plain SQL an older sqlite3 shell parses too (no ordered aggregates in a view).
 */
export const COVERED_SENSORS = `SELECT c.sensor FROM (SELECT DISTINCT h.sensor FROM rollup_sensor_runs h) c
  WHERE NOT EXISTS (SELECT 1 FROM runs v WHERE v.status = 'complete' AND ${SENSOR_OF('v')} = c.sensor
                      AND NOT EXISTS (SELECT 1 FROM rollup_sensor_runs h WHERE h.sensor = c.sensor AND h.run_id = v.id))
    AND NOT EXISTS (SELECT 1 FROM rollup_sensor_runs h LEFT JOIN runs v ON v.id = h.run_id
                    WHERE h.sensor = c.sensor AND (v.id IS NULL OR v.status != 'complete' OR ${SENSOR_OF('v')} != c.sensor))`;

/** A rollup table's row `a` as a flow's columns from client to first_id: the NULLs back, times as flow_view has them. */
const flowLike = (a: string) => `${a}.client, ${a}.server, ${a}.transport, ${a}.server_port,
       nullif(${a}.service, '') AS service, nullif(${a}.via, '') AS via, nullif(${a}.rpc_interface, '') AS rpc_interface, nullif(${a}.rpc_interfaces, '') AS rpc_interfaces,
       nullif(${a}.tls, '') AS tls, nullif(${a}.protection, '') AS protection, nullif(${a}.account, '') AS account, ${a}.answered,
       ${a}.flows, ${a}.packets_c2s, ${a}.packets_s2c, ${a}.bytes_c2s, ${a}.bytes_s2c,
       ${a}.first_ns / 1000000000 AS first_sec, ${a}.first_ns % 1000000000 AS first_nsec,
       ${a}.last_ns / 1000000000 AS last_sec, ${a}.last_ns % 1000000000 AS last_nsec,
       ${tsOf(`${a}.first_ns`)} AS first_ts, ${tsOf(`${a}.max_first_ns`)} AS max_first_ts,
       ${tsOf(`${a}.min_last_ns`)} AS min_last_ts, ${tsOf(`${a}.last_ns`)} AS last_ts,
       ${a}.first_id`;

/** Sensor-level rows s that `where` selects as flow-like rows (no run, no hour), as rollupRows makes them. */
const sensorRows = (where: string) => `SELECT NULL AS run_id, NULL AS bucket, ${flowLike('s')}, nullif(s.sensor, '') AS sensor, NULL AS sensor_host
     FROM flow_rollup_sensor s WHERE ${where}`;

/**
 * Rollup rows of `table` (flow_rollup, or flow_rollup_run without the hour) of the runs `which`
 * names (a condition on runs v), as flow-like rows. The runs are chosen first and their rows
 * found by the key's run_id (a join let SQLite scan every hourly row to find a live run's none:
 * 0.6 s a report at 10M flows).
 */
const rollupRows = (table: 'flow_rollup' | 'flow_rollup_run', which: string) => `SELECT r.run_id, ${table === 'flow_rollup' ? 'r.bucket' : 'NULL AS bucket'}, ${flowLike('r')}, u.sensor AS sensor, u.host AS sensor_host
     FROM ${table} r JOIN runs u ON u.id = r.run_id WHERE r.run_id IN (SELECT v.id FROM runs v WHERE ${which})`;
/**
 * The finished runs' traffic a row per key, not per run where the totals allow: each held
 * sensor's totals (flow_rollup_sensor; run_id NULL), and the rows without the hour of finished
 * runs whose sensor's are not held.
 */
const FINISHED_TOTALS = `${sensorRows(`s.sensor IN (${COVERED_SENSORS})`)}
     UNION ALL ${rollupRows('flow_rollup_run', `v.status = 'complete' AND ${SENSOR_OF('v')} NOT IN (${COVERED_SENSORS})`)}`;
/**
 * The rows without the hour of the finished runs `which` (a condition on runs v) as run_rollup_view
 * has them (with `judged`, the verdict joined in) or run_rollup_seen: for a time filter that takes
 * those runs whole (the views read a sensor's totals, which have no run).
 */
export const finishedRunRows = (which: string, judged: boolean) => {
  const rows = `(${rollupRows('flow_rollup_run', `v.status = 'complete' AND (${which})`)}) f`;
  return `SELECT f.*, ${judged ? `${JUDGED_COLUMNS}, ` : ''}f.packets_c2s + f.packets_s2c AS packets, f.bytes_c2s + f.bytes_s2c AS bytes
  FROM ${judged ? judgedFrom(rows) : rows}`;
};
/** The rollup rows of the runs reports see as flow-like rows f. */
const VISIBLE_ROLLUP_ROWS = `(${rollupRows('flow_rollup', "v.status = 'complete' OR v.live = 1")}) f`;
/**
 * The same traffic without the hour: the finished runs' totals, and a live run's hourly rows while
 * it is still running (its totals are made when it finishes, in the same transaction that shows it
 * finished).
 */
const VISIBLE_RUN_ROWS = `(${FINISHED_TOTALS}
     UNION ALL ${rollupRows('flow_rollup', "v.status != 'complete' AND v.live = 1")}) f`;

/**
 * Every run's traffic in as few rows as the totals allow, as flow-like rows f: the finished runs'
 * totals, and the hourly rows of the runs not finished (the run being finished, live runs, runs
 * still running). What the audit reads — what hosts serve and use, the verdict keys — so that its
 * cost is the keys', not the days' (a small run into ten days of a million flows: 26 s -> 1.8 s).
 */
export const AUDIT_ROWS = `(${FINISHED_TOTALS}
     UNION ALL ${rollupRows('flow_rollup', "v.status != 'complete'")}) f`;

/** What a run's rollup row is keyed by: an hourly row's key without the hour. */
export const RUN_ROLLUP_KEY = ROLLUP_KEY.filter((k) => k !== 'bucket');

/** A rollup row's sums over rows r of a finer one (hourly rows into a run's, a run's into its sensor's). */
const ROLLUP_SUMS = `sum(r.flows) AS flows, sum(r.packets_c2s) AS packets_c2s, sum(r.packets_s2c) AS packets_s2c, sum(r.bytes_c2s) AS bytes_c2s, sum(r.bytes_s2c) AS bytes_s2c,
  min(r.first_ns) AS first_ns, max(r.last_ns) AS last_ns, max(r.max_first_ns) AS max_first_ns, min(r.min_last_ns) AS min_last_ns, min(r.first_id) AS first_id`;

/** An upsert's clause that adds a new rollup row (keyed by `key`) to the one already there: sums added, the earliest and latest kept. */
export const mergingSums = (key: readonly string[]) => `ON CONFLICT (${key.join(', ')}) DO UPDATE SET
    flows = flows + excluded.flows, packets_c2s = packets_c2s + excluded.packets_c2s, packets_s2c = packets_s2c + excluded.packets_s2c,
    bytes_c2s = bytes_c2s + excluded.bytes_c2s, bytes_s2c = bytes_s2c + excluded.bytes_s2c,
    first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns),
    max_first_ns = max(max_first_ns, excluded.max_first_ns), min_last_ns = min(min_last_ns, excluded.min_last_ns),
    first_id = min(first_id, excluded.first_id)`;

/** Makes the run-level rows of the runs `where` selects (over flow_rollup r) from their hourly rows. */
export const totalRuns = (where: string) => `INSERT INTO flow_rollup_run SELECT ${RUN_ROLLUP_KEY.map((k) => `r.${k}`).join(', ')},
  ${ROLLUP_SUMS} FROM flow_rollup r ${where} GROUP BY ${RUN_ROLLUP_KEY.map((k) => `r.${k}`).join(', ')}`;

/** What a sensor-level rollup row is keyed by: a run's row's key with the run's sensor for the run. */
export const SENSOR_ROLLUP_KEY = ['sensor', ...RUN_ROLLUP_KEY.filter((k) => k !== 'run_id')];

/**
 * Adds to flow_rollup_sensor the run-level rows r (of runs u) that `from` joins and `where` selects,
 * summed per sensor and key — with `merge`, into the rows already there (a run added to its
 * sensor's: sums added, the earliest and latest kept).
 */
export const sensorRollUp = (where: string, o: { from?: string; merge?: boolean } = {}) => {
  const key = RUN_ROLLUP_KEY.filter((k) => k !== 'run_id').map((k) => `r.${k}`);
  return `INSERT INTO flow_rollup_sensor (${SENSOR_ROLLUP_KEY.join(', ')}, flows, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, first_ns, last_ns, max_first_ns, min_last_ns, first_id)
  SELECT ${SENSOR_OF('u')}, ${key.join(', ')}, ${ROLLUP_SUMS}
  FROM ${o.from ?? 'flow_rollup_run r JOIN runs u ON u.id = r.run_id'} ${where} GROUP BY ${SENSOR_OF('u')}, ${key.join(', ')}
  ${o.merge ? mergingSums(SENSOR_ROLLUP_KEY) : ''}`;
};

const ROLLUP_COLUMNS = `
  run_id        INTEGER NOT NULL,
  -- first_sec rounded down to BUCKET_SECONDS.
  bucket        INTEGER NOT NULL,
  client        TEXT NOT NULL,
  server        TEXT NOT NULL,
  transport     TEXT NOT NULL,
  server_port   INTEGER NOT NULL,
  service       TEXT NOT NULL,
  via           TEXT NOT NULL,
  rpc_interface TEXT NOT NULL,
  -- Every interface bound on the connection (flows.rpc_interfaces).
  rpc_interfaces TEXT NOT NULL,
  tls           TEXT NOT NULL,
  protection    TEXT NOT NULL,
  -- The account of flows with findings (findingAccount): what report protection and host list.
  account       TEXT NOT NULL,
  -- 1 when the server answered (what a host serves and uses counts only these).
  answered      INTEGER NOT NULL,
  flows         INTEGER NOT NULL,
  packets_c2s   INTEGER NOT NULL,
  packets_s2c   INTEGER NOT NULL,
  bytes_c2s     INTEGER NOT NULL,
  bytes_s2c     INTEGER NOT NULL,
  -- Nanoseconds since 1970: the earliest first and latest last packet (what a report prints), and the
  -- latest first and earliest last (with those: whether a time filter takes the row whole, leaves it, or cuts it).
  first_ns      INTEGER NOT NULL,
  last_ns       INTEGER NOT NULL,
  max_first_ns  INTEGER NOT NULL,
  min_last_ns   INTEGER NOT NULL,
  -- The row's earliest flow (its id): example rows are the earliest flows of a group.
  first_id      INTEGER NOT NULL,
  PRIMARY KEY (${ROLLUP_KEY.join(', ')})`;

/** flow_rollup's columns without the hour (schema 13). */
const RUN_ROLLUP_COLUMNS = ROLLUP_COLUMNS.replace(/\n  -- first_sec rounded down to BUCKET_SECONDS.\n  bucket        INTEGER NOT NULL,/, '').replace(`PRIMARY KEY (${ROLLUP_KEY.join(', ')})`, `PRIMARY KEY (${RUN_ROLLUP_KEY.join(', ')})`);
/** flow_rollup_run's columns with the run's sensor for the run (schema 23). */
const SENSOR_ROLLUP_COLUMNS = RUN_ROLLUP_COLUMNS.replace('  run_id        INTEGER NOT NULL,', "  -- The sensor of the runs (runs.sensor; '' for none).\n  sensor        TEXT NOT NULL,").replace(
  `PRIMARY KEY (${RUN_ROLLUP_KEY.join(', ')})`,
  `PRIMARY KEY (${SENSOR_ROLLUP_KEY.join(', ')})`,
);

/** A rollup row's values, aggregated from flows f (of captures c) grouped by ROLLUP_GROUP. */
export const ROLLUP_SELECT = `${rollupKeyOf('f', 'c').join(', ')},
  count(*), sum(f.packets_c2s), sum(f.packets_s2c), sum(f.bytes_c2s), sum(f.bytes_s2c),
  min(f.first_sec * 1000000000 + f.first_nsec), max(f.last_sec * 1000000000 + f.last_nsec),
  max(f.first_sec * 1000000000 + f.first_nsec), min(f.last_sec * 1000000000 + f.last_nsec), min(f.id)`;
export const ROLLUP_GROUP = `GROUP BY ${ROLLUP_KEY.map((_, i) => i + 1).join(', ')}`;

/** Adds up into flow_rollup the flows f (of captures c) that `from` joins and `where` selects. */
export const rollUpFlows = (where = '', from = 'flows f JOIN captures c ON c.id = f.capture_id') => `INSERT INTO flow_rollup SELECT ${ROLLUP_SELECT} FROM ${from} ${where} ${ROLLUP_GROUP}`;

/** Flows by the minute they started: what the HTML page's timeline draws, 1,440 rows a run's day. */
export const MINUTE_SECONDS = 60;
const MINUTE_COLUMNS = `
  run_id         INTEGER NOT NULL,
  -- first_sec rounded down to MINUTE_SECONDS.
  minute         INTEGER NOT NULL,
  flows          INTEGER NOT NULL,
  bytes          INTEGER NOT NULL,
  -- The earliest and latest start of the minute's flows, as flow_view's first_ts (the same REAL).
  first_ts       REAL NOT NULL,
  last_first_ts  REAL NOT NULL,
  -- The latest and the earliest last packet of the minute's flows (nanoseconds since 1970): how
  -- the minute stands to a --since without reading its flows.
  last_ns        INTEGER NOT NULL,
  min_last_ns    INTEGER NOT NULL,
  PRIMARY KEY (run_id, minute)`;

/** Adds up into flow_minutes the flows f (of captures c) that `where` selects. */
export const minutesOfFlows = (where = '') => `INSERT INTO flow_minutes
  SELECT c.run_id, f.first_sec - f.first_sec % ${MINUTE_SECONDS}, count(*), sum(f.bytes_c2s + f.bytes_s2c),
         min(f.first_sec + f.first_nsec / 1e9), max(f.first_sec + f.first_nsec / 1e9),
         max(f.last_sec * 1000000000 + f.last_nsec), min(f.last_sec * 1000000000 + f.last_nsec)
  FROM flows f JOIN captures c ON c.id = f.capture_id ${where} GROUP BY 1, 2`;

/**
 * Per run and hour of flows' starts (a flow_rollup bucket): the latest and the earliest last packet
 * of those flows. A time filter reads only the hours whose flows may pass it: for --since those
 * whose latest last is at or after it, for --until those that begin at or before it; and an hour
 * whose earliest last is at or after --since passes whole (kept at each commit).
 */
const HOURS_TABLE = `CREATE TABLE IF NOT EXISTS flow_hours (
  run_id  INTEGER NOT NULL,
  bucket  INTEGER NOT NULL,
  -- Nanoseconds since 1970.
  last_ns INTEGER NOT NULL,
  min_last_ns INTEGER NOT NULL,
  PRIMARY KEY (run_id, bucket)
) WITHOUT ROWID;`;

/** Makes flow_hours rows from the hourly rollup rows `where` selects (over flow_rollup r). */
export const hoursOfRollups = (where = '') =>
  `INSERT INTO flow_hours (run_id, bucket, last_ns, min_last_ns) SELECT r.run_id, r.bucket, max(r.last_ns), min(r.min_last_ns) FROM flow_rollup r ${where} GROUP BY 1, 2`;

/**
 * A sensor's finished runs' flow_rollup_run rows added up without the run, and which runs they
 * hold: kept as runs finish, are replaced or change (src/store/rollups.ts), read only while they
 * hold exactly the sensor's finished runs (COVERED_SENSORS).
 */
const SENSOR_TABLES = `CREATE TABLE IF NOT EXISTS flow_rollup_sensor (${SENSOR_ROLLUP_COLUMNS}) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_sensor_runs (
  -- A sensor and a finished run its rows hold.
  sensor TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  PRIMARY KEY (sensor, run_id)
) WITHOUT ROWID;`;

/** Statements that bring a database of schema version N-1 to N, by N. */
export const MIGRATIONS: Record<number, string> = {
  2: `ALTER TABLE rpc_endpoints ADD COLUMN protseq TEXT;
      ALTER TABLE flows ADD COLUMN via_registry INTEGER NOT NULL DEFAULT 0;`,
  3: `ALTER TABLE hosts ADD COLUMN name TEXT;
      ALTER TABLE hosts ADD COLUMN site TEXT;
      ALTER TABLE hosts ADD COLUMN version TEXT;
      ALTER TABLE hosts ADD COLUMN roles TEXT;
      ALTER TABLE hosts ADD COLUMN role_source TEXT;
      ALTER TABLE hosts ADD COLUMN confidence TEXT;
      ALTER TABLE hosts ADD COLUMN evidence TEXT;
      ALTER TABLE hosts ADD COLUMN serves TEXT;
      ALTER TABLE hosts ADD COLUMN uses TEXT;
      ALTER TABLE hosts ADD COLUMN disagreement TEXT;`,
  // Runs: captures analyzed before runs existed become one finished run; a capture
  // left 'running' by a crash becomes a dead run (its rows stay invisible).
  4: `CREATE TABLE runs (
        id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
        live INTEGER NOT NULL DEFAULT 0, separate INTEGER NOT NULL DEFAULT 0, command TEXT NOT NULL,
        pid INTEGER, host TEXT, captures INTEGER NOT NULL DEFAULT 0, note TEXT, exflow_version TEXT NOT NULL);
      INSERT INTO runs (id, started_at, finished_at, status, command, captures, note, exflow_version)
        SELECT 1, min(analyzed_at), max(analyzed_at), 'complete', 'before runs were recorded', count(*), NULL, max(exflow_version)
        FROM captures WHERE status != 'running' HAVING count(*) > 0;
      INSERT INTO runs (id, started_at, status, command, captures, note, exflow_version)
        SELECT 2, min(analyzed_at), 'dead', 'before runs were recorded', count(*), 'left running by an earlier exflow', max(exflow_version)
        FROM captures WHERE status = 'running' HAVING count(*) > 0;
      ALTER TABLE captures ADD COLUMN run_id INTEGER REFERENCES runs (id);
      ALTER TABLE captures ADD COLUMN stream_id INTEGER;
      ALTER TABLE captures ADD COLUMN head_digest TEXT;
      ALTER TABLE captures ADD COLUMN position INTEGER;
      UPDATE captures SET run_id = CASE WHEN status = 'running' THEN 2 ELSE 1 END, stream_id = id, position = id;
      ALTER TABLE flows ADD COLUMN last_capture_id INTEGER;
      ALTER TABLE flows ADD COLUMN inspected_bytes INTEGER NOT NULL DEFAULT 0;
      UPDATE flows SET last_capture_id = capture_id;
      DROP VIEW IF EXISTS flow_view;`,
  // What the TLS, STARTTLS and HTTP inspectors learn about a flow.
  5: `ALTER TABLE flows ADD COLUMN tls TEXT;
      ALTER TABLE flows ADD COLUMN tls_version TEXT;
      ALTER TABLE flows ADD COLUMN tls_sni TEXT;
      ALTER TABLE flows ADD COLUMN tls_alpn TEXT;
      ALTER TABLE flows ADD COLUMN tls_subject TEXT;
      ALTER TABLE flows ADD COLUMN tls_issuer TEXT;
      ALTER TABLE flows ADD COLUMN http_app TEXT;
      ALTER TABLE flows ADD COLUMN http_target TEXT;
      ALTER TABLE flows ADD COLUMN encryption TEXT;
      ALTER TABLE flows ADD COLUMN server_version TEXT;
      ALTER TABLE hosts ADD COLUMN version_source TEXT;
      UPDATE hosts SET version_source = 'inventory' WHERE version IS NOT NULL;
      DROP VIEW IF EXISTS flow_view;
      -- The registry takes DCOM's OXID resolver answers (source 'dcom'): the CHECK is rebuilt with the table.
      CREATE TABLE rpc_endpoints_v5 (
        id INTEGER PRIMARY KEY, capture_id INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
        server TEXT NOT NULL, transport TEXT NOT NULL, protseq TEXT, port INTEGER NOT NULL, uuid TEXT NOT NULL,
        version TEXT, interface TEXT, service TEXT,
        source TEXT NOT NULL CHECK (source IN ('ept_map', 'ept_lookup', 'bind', 'dcom')),
        first_sec INTEGER NOT NULL, first_nsec INTEGER NOT NULL, client TEXT, annotation TEXT,
        UNIQUE (capture_id, server, transport, port, uuid, source));
      INSERT INTO rpc_endpoints_v5 (id, capture_id, server, transport, protseq, port, uuid, version, interface, service, source, first_sec, first_nsec, client, annotation)
        SELECT id, capture_id, server, transport, protseq, port, uuid, version, interface, service, source, first_sec, first_nsec, client, annotation FROM rpc_endpoints;
      DROP TABLE rpc_endpoints;
      ALTER TABLE rpc_endpoints_v5 RENAME TO rpc_endpoints;
      CREATE INDEX IF NOT EXISTS rpc_endpoints_key ON rpc_endpoints (server, transport, port);`,
  // Verdicts move out of the flows: one row per distinct (roles, service, port, versions),
  // joined in by the views, so that inferring a host's roles rewrites no flow. The
  // verdicts the old flows had are kept under their keys.
  6: `CREATE TABLE verdicts (${VERDICT_COLUMNS},${VERDICT_UNIQUE});
      INSERT OR IGNORE INTO verdicts (cr, sr, service, transport, port, cv, sv, client_role, server_role, verdict, rule, reason, encryption)
        SELECT ${VERDICT_KEY}, f.client_role, f.server_role, f.verdict, f.rule, f.reason, max(f.encryption)
        FROM flows f LEFT JOIN hosts hc ON hc.address = f.client LEFT JOIN hosts hs ON hs.address = f.server
        WHERE f.verdict IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7;
      DROP VIEW IF EXISTS flow_view;
      ALTER TABLE flows DROP COLUMN client_role;
      ALTER TABLE flows DROP COLUMN server_role;
      ALTER TABLE flows DROP COLUMN verdict;
      ALTER TABLE flows DROP COLUMN rule;
      ALTER TABLE flows DROP COLUMN reason;
      ALTER TABLE flows DROP COLUMN encryption;
      CREATE TABLE hosts_v6 (${HOST_COLUMNS_V6}) WITHOUT ROWID;
      INSERT INTO hosts_v6 (address, first_sec, last_sec, name, site, version, version_source, roles, role_source, confidence, evidence, serves, uses, disagreement)
        SELECT address, first_sec, last_sec, name, site, version, version_source, roles, role_source, confidence, evidence, serves, uses, disagreement FROM hosts;
      DROP TABLE hosts;
      ALTER TABLE hosts_v6 RENAME TO hosts;`,
  7: `ALTER TABLE flows ADD COLUMN tls_note TEXT;
      ALTER TABLE flows ADD COLUMN rpc_uuids TEXT;
      ALTER TABLE flows ADD COLUMN rpc_interfaces TEXT;`,
  8: `ALTER TABLE flows ADD COLUMN auth_mech TEXT;
      ALTER TABLE flows ADD COLUMN auth_account TEXT;
      ALTER TABLE flows ADD COLUMN auth_workstation TEXT;
      ALTER TABLE flows ADD COLUMN ntlm_version TEXT;
      ALTER TABLE flows ADD COLUMN ntlm_mic INTEGER;
      ALTER TABLE flows ADD COLUMN ntlm_channel_bindings INTEGER;
      ALTER TABLE flows ADD COLUMN rpc_auth_level TEXT;
      ALTER TABLE flows ADD COLUMN rpc_auth_type TEXT;
      ALTER TABLE flows ADD COLUMN smb_dialect TEXT;
      ALTER TABLE flows ADD COLUMN smb_signing TEXT;
      ALTER TABLE flows ADD COLUMN smb_encrypted INTEGER;
      ALTER TABLE flows ADD COLUMN smb1_offered INTEGER;
      ALTER TABLE flows ADD COLUMN ldap_bind TEXT;
      ALTER TABLE flows ADD COLUMN ldap_protection TEXT;
      ALTER TABLE flows ADD COLUMN cleartext_credentials INTEGER;
      ALTER TABLE flows ADD COLUMN tls_client_versions TEXT;
      ALTER TABLE flows ADD COLUMN kerberos_spn TEXT;
      ALTER TABLE flows ADD COLUMN protection TEXT;
      CREATE INDEX IF NOT EXISTS flows_protection ON flows (protection) WHERE protection IS NOT NULL;
      ALTER TABLE hosts ADD COLUMN name_source TEXT;
      ALTER TABLE hosts ADD COLUMN named TEXT;`,
  // Reasons in English, the seeds' words apart (cite); and the sensor that made each run.
  // Reasons schema 8 wrote as "… (RULE; seed CITE)" are split so; the next audit writes them anew.
  9: `ALTER TABLE verdicts ADD COLUMN cite TEXT;
      ALTER TABLE verdicts ADD COLUMN encryption_cite TEXT;
      UPDATE verdicts SET cite = substr(reason, instr(reason, '; seed ') + 2, length(reason) - instr(reason, '; seed ') - 2),
        reason = substr(reason, 1, instr(reason, '; seed ') - 1) || ')'
        WHERE reason LIKE 'the matrix allows % (%; seed %)';
      UPDATE verdicts SET encryption_cite = substr(encryption, instr(encryption, '; seed ') + 2, instr(encryption, '); this session') - instr(encryption, '; seed ') - 2),
        encryption = substr(encryption, 1, instr(encryption, '; seed ') - 1) || substr(encryption, instr(encryption, '); this session'))
        WHERE encryption LIKE '% (%; seed %); this session was in clear';
      ALTER TABLE runs ADD COLUMN sensor TEXT;
      UPDATE runs SET sensor = host;
      DROP VIEW IF EXISTS flow_view;`,
  // A run's identity, made at its start: merge recognises a run by it (older runs by their start, host, process and command).
  10: `ALTER TABLE runs ADD COLUMN uid TEXT;`,
  // Rollups: the reports add up these rows instead of scanning every flow; an older database's are built once, here.
  // Flows by their first second: a time filter that cuts a rollup row reads that row's hour through it.
  11: `CREATE TABLE flow_rollup (${ROLLUP_COLUMNS}) WITHOUT ROWID;
       ${rollUpFlows()};
       CREATE INDEX flows_first ON flows (first_sec);`,
  // Flows in capture and time order (what flows and export list) read through an index, not sorted;
  // it serves every lookup by capture as the index it replaces did. flow_view names each flow's verdict row.
  12: `DROP INDEX IF EXISTS flows_capture;
       CREATE INDEX flows_capture_time ON flows (capture_id, first_sec, first_nsec);
       DROP VIEW IF EXISTS flow_view;`,
  // A finished run's rollups without the hour: what reports add up when no time filter cuts (a day's
  // 403,689 hourly rows are 112,887 of these on the bench's day of 5,000 clients).
  13: `CREATE TABLE flow_rollup_run (${RUN_ROLLUP_COLUMNS}) WITHOUT ROWID;
       ${totalRuns("WHERE r.run_id IN (SELECT id FROM runs WHERE status = 'complete')")};`,
  // The rollup views choose their runs first (made again, as every upgrade makes the views).
  14: `-- views only`,
  // The accounts of the flows with findings read from their index (0.6 s -> 15 ms on the bench's day).
  15: `DROP INDEX IF EXISTS flows_protection;
       CREATE INDEX flows_protection_accounts ON flows (protection, auth_account, capture_id, client, server) WHERE protection IS NOT NULL;`,
  // Back to flows by capture alone: keeping every flow's index entry in time order cost analyze
  // ~10 % on the bench's day (58.2 -> 64.9 s, and 67.4 -> 73.0 s); flows and export sort instead
  // (~0.75 s a million flows, paid only by them). The accounts' index without the addresses (each
  // insert went to a random page: analyze 51 -> 69 s).
  16: `DROP INDEX IF EXISTS flows_capture_time;
       CREATE INDEX IF NOT EXISTS flows_capture ON flows (capture_id);
       DROP INDEX IF EXISTS flows_protection_accounts;
       CREATE INDEX flows_protection_accounts ON flows (protection, auth_account, capture_id) WHERE protection IS NOT NULL;`,
  // Flows by the minute they started: the HTML page's timeline read from 1,440 rows a day, not every flow.
  17: `CREATE TABLE flow_minutes (${MINUTE_COLUMNS}) WITHOUT ROWID;
       ${minutesOfFlows()};`,
  // The account of flows with findings a rollup key column: a finding's and a host's accounts come from
  // rollup rows (host ADDR of a DC at 10M flows read 0.9M flows for them: 5 s); their index goes.
  18: `DROP TABLE flow_rollup;
       CREATE TABLE flow_rollup (${ROLLUP_COLUMNS}) WITHOUT ROWID;
       ${rollUpFlows()};
       DROP TABLE flow_rollup_run;
       CREATE TABLE flow_rollup_run (${RUN_ROLLUP_COLUMNS}) WITHOUT ROWID;
       ${totalRuns("WHERE r.run_id IN (SELECT id FROM runs WHERE status = 'complete')")};
       DROP INDEX IF EXISTS flows_protection_accounts;`,
  // A reason that named 17 rules is short again; the full list is the verdict's detail (issue 32).
  19: `ALTER TABLE verdicts ADD COLUMN ${VERDICT_DETAIL.trim()};
       ${SHORTEN_REASONS};`,
  // The views gain client_roles and server_roles (every role of each side's host, joined by '+'):
  // the role matrix groups a host under one label however many rules its flows matched. Views only.
  20: ``,
  // The role outlook-2007 is outlook now (every Outlook since 2007, Microsoft 365 Apps included:
  // issue 32), and the rules naming it are 2007:outlook>mailbox and so on. Rewritten wherever a
  // role or rule id is stored, so that no verdict is judged again and no report shows both.
  21: RENAME_OUTLOOK,
  // What a host's clients serve themselves, for the inference's clients_serve_any/none (issue 31:
  // a 2010 Mailbox server is the one whose MAPI clients serve MAPI; filled by the next audit).
  22: `ALTER TABLE hosts ADD COLUMN served_to TEXT;`,
  // A sensor's finished runs added up without the run (issue 28): reports read a row per sensor
  // and key however many runs (a day each) the database holds; and each hour's latest last packet,
  // so that a time filter reads the hours it may reach, not every day's.
  23: `${SENSOR_TABLES}
       ${sensorRollUp("WHERE u.status = 'complete'")};
       INSERT INTO rollup_sensor_runs (sensor, run_id) SELECT ${SENSOR_OF('u')}, u.id FROM runs u WHERE u.status = 'complete';
       ${HOURS_TABLE}
       ${hoursOfRollups()};`,
  // Each hour's earliest last packet beside its latest (issue 29): whether a window takes an hour
  // whole is read from the hour alone — in SQLite and in an engine's copy, which has no hourly rows.
  24: `DROP TABLE IF EXISTS flow_hours;
       ${HOURS_TABLE}
       ${hoursOfRollups()};`,
  // Each minute's latest and earliest last packet likewise: the timeline of a window reads the flows
  // of the minutes it cuts, not of every minute of an hour it cuts (made again from the flows: once).
  25: `DROP TABLE IF EXISTS flow_minutes;
       CREATE TABLE flow_minutes (${MINUTE_COLUMNS}) WITHOUT ROWID;
       ${minutesOfFlows()};`,
};

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- One analyze command. Its flows are visible (capture_view, flow_view) only once it
-- is 'complete' — or, for a live run from standard input, batch by batch as each
-- batch commits. 'running' with a process that no longer exists is 'dead'.
CREATE TABLE IF NOT EXISTS runs (
  id              INTEGER PRIMARY KEY,
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  status          TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'dead', 'failed', 'replaced')),
  live            INTEGER NOT NULL DEFAULT 0,
  separate        INTEGER NOT NULL DEFAULT 0,
  command         TEXT NOT NULL,
  pid             INTEGER,
  host            TEXT,
  captures        INTEGER NOT NULL DEFAULT 0,
  note            TEXT,
  exflow_version  TEXT NOT NULL,
  -- The sensor (capture point) whose captures the run read: analyze --sensor, else the host name.
  sensor          TEXT,
  -- A random identity made when the run begins: the same run in another database (exflow merge).
  uid             TEXT
);

CREATE TABLE IF NOT EXISTS captures (
  id              INTEGER PRIMARY KEY,
  run_id          INTEGER REFERENCES runs (id),
  -- Files of one stream share one flow table: the id of the stream's first capture.
  stream_id       INTEGER,
  -- Place in the run's time order (first packet's timestamp).
  position        INTEGER,
  -- SHA-256 of the first records (timestamps, lengths, bytes): the same packets in another format.
  head_digest     TEXT,
  path            TEXT NOT NULL,
  size            INTEGER NOT NULL,
  sha256          TEXT,
  fingerprint     TEXT NOT NULL,
  format          TEXT,
  compressed      INTEGER NOT NULL DEFAULT 0,
  link_types      TEXT,
  packets         INTEGER NOT NULL DEFAULT 0,
  bytes           INTEGER NOT NULL DEFAULT 0,
  first_sec       INTEGER,
  first_nsec      INTEGER,
  last_sec        INTEGER,
  last_nsec       INTEGER,
  status          TEXT NOT NULL CHECK (status IN ('running', 'ok', 'truncated', 'failed')),
  warnings        TEXT NOT NULL DEFAULT '[]',
  flows           INTEGER NOT NULL DEFAULT 0,
  counters        TEXT NOT NULL DEFAULT '{}',
  analyzed_at     TEXT NOT NULL,
  seconds         REAL,
  exflow_version  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS captures_fingerprint ON captures (fingerprint);
CREATE INDEX IF NOT EXISTS captures_head ON captures (head_digest);
CREATE INDEX IF NOT EXISTS captures_run ON captures (run_id);

CREATE TABLE IF NOT EXISTS flows (
  id              INTEGER PRIMARY KEY,
  -- The capture the flow began in, and the last one it was seen in (one stream across files).
  capture_id      INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
  last_capture_id INTEGER,
  transport       TEXT NOT NULL,
  family          INTEGER NOT NULL,
  client          TEXT NOT NULL,
  client_port     INTEGER NOT NULL,
  server          TEXT NOT NULL,
  server_port     INTEGER NOT NULL,
  direction_by    TEXT NOT NULL,
  first_sec       INTEGER NOT NULL,
  first_nsec      INTEGER NOT NULL,
  last_sec        INTEGER NOT NULL,
  last_nsec       INTEGER NOT NULL,
  packets_c2s     INTEGER NOT NULL,
  packets_s2c     INTEGER NOT NULL,
  bytes_c2s       INTEGER NOT NULL,
  bytes_s2c       INTEGER NOT NULL,
  payload_c2s     INTEGER NOT NULL,
  payload_s2c     INTEGER NOT NULL,
  missing_c2s     INTEGER NOT NULL,
  missing_s2c     INTEGER NOT NULL,
  tcp_state       TEXT,
  vlan            INTEGER,
  tunnels         INTEGER NOT NULL DEFAULT 0,
  service         TEXT,
  via             TEXT CHECK (via IN ('port', 'epm', 'bind', 'payload') OR via IS NULL),
  rpc_interface   TEXT,
  rpc_uuid        TEXT,
  rpc_note        TEXT,
  -- Every interface bound on the connection (binds and alter_contexts, accepted or unanswered), in bind order, comma-separated.
  rpc_uuids       TEXT,
  rpc_interfaces  TEXT,
  via_registry    INTEGER NOT NULL DEFAULT 0,
  prefix_c2s      BLOB,
  prefix_s2c      BLOB,
  -- Payload bytes the flow's inspector read before it had decided (0: none attached).
  inspected_bytes INTEGER NOT NULL DEFAULT 0,
  -- TLS: implicit, starttls, none (the session talked in clear), NULL (the capture cannot tell).
  tls             TEXT CHECK (tls IN ('implicit', 'starttls', 'none') OR tls IS NULL),
  tls_version     TEXT,
  tls_sni         TEXT,
  tls_alpn        TEXT,
  tls_subject     TEXT,
  tls_issuer      TEXT,
  -- What the TLS reader could not read or read in an unusual form (an oversize or SSLv2-format hello).
  tls_note        TEXT,
  -- Cleartext HTTP: the Exchange application of the first request (rules/http-apps.yaml) and its target.
  http_app        TEXT,
  http_target     TEXT,
  -- The server's Exchange build as its own answer named it (X-OWA-Version).
  server_version  TEXT,
  -- The protection audit (docs/protection.md): how the flow authenticated, NULL where the capture does not show it.
  -- auth_mech: ntlm, kerberos, basic, digest, simple, plain, login, cram-md5, anonymous, external, schannel, netlogon.
  auth_mech       TEXT,
  -- DOMAIN\\user or user@REALM (or a keyed hash with --redact-accounts); never a password, hash or response.
  auth_account    TEXT,
  auth_workstation TEXT,
  -- lm, v1, v2, anonymous: the weakest on the flow; MIC and channel bindings from the AUTHENTICATE's AV pairs (0/1).
  ntlm_version    TEXT,
  ntlm_mic        INTEGER,
  ntlm_channel_bindings INTEGER,
  -- The lowest auth_level of the connection's binds and alter_contexts (none … privacy) and that bind's auth_type.
  rpc_auth_level  TEXT,
  rpc_auth_type   TEXT,
  -- SMB: dialect (1, 2.0.2 … 3.1.1), the server's signing (required, enabled, off), a transform header seen, SMB1 offered by the client.
  smb_dialect     TEXT,
  smb_signing     TEXT,
  smb_encrypted   INTEGER,
  smb1_offered    INTEGER,
  -- LDAP: simple, sasl-<mechanism>, sicily; tls, sasl-sign, sasl-seal, none.
  ldap_bind       TEXT,
  ldap_protection TEXT,
  -- 1 when a password crossed without encryption.
  cleartext_credentials INTEGER,
  -- What the ClientHello offered (supported_versions), beside the negotiated tls_version.
  tls_client_versions TEXT,
  -- The Kerberos service principal of the flow's ticket (AP-REQ) or request (TGS-REQ).
  kerberos_spn    TEXT,
  -- The protection findings the flow raises (rules/protection.yaml ids, comma-separated).
  protection      TEXT
);
CREATE INDEX IF NOT EXISTS flows_capture ON flows (capture_id);
CREATE INDEX IF NOT EXISTS flows_server ON flows (server, transport, server_port);
CREATE INDEX IF NOT EXISTS flows_client ON flows (client);
-- Flows by their first second (written in about that order: the index grows at its end): an hour's
-- flows, for a rollup row a time filter cuts, and for rows a later run's registry renames.
CREATE INDEX IF NOT EXISTS flows_first ON flows (first_sec);
-- The few flows whose server named its Exchange build: the wire versions are read from these alone.
CREATE INDEX IF NOT EXISTS flows_server_version ON flows (server) WHERE server_version IS NOT NULL;

-- Keyed by the address alone (WITHOUT ROWID): every flow's verdict is found through its two
-- hosts, one b-tree search each.
CREATE TABLE IF NOT EXISTS hosts (${HOST_COLUMNS}) WITHOUT ROWID;

-- Names the flows gave hosts, per capture (src/classify/names.ts): dns-a, dns-ptr, kerberos-client,
-- kerberos-spn, tls-sni, tls-cert, smtp-banner, smtp-ehlo, http-host, ntlm-dns-computer, ntlm-netbios-computer,
-- ntlm-workstation; first and last seen, and how many flows showed it.
CREATE TABLE IF NOT EXISTS host_names (
  capture_id  INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
  address     TEXT NOT NULL,
  name        TEXT NOT NULL,
  source      TEXT NOT NULL,
  first_sec   INTEGER NOT NULL,
  last_sec    INTEGER NOT NULL,
  flows       INTEGER NOT NULL,
  PRIMARY KEY (capture_id, address, name, source)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS host_names_address ON host_names (address);

-- What the flows said about names that are not their own hosts': dns-srv (detail: the service label),
-- dns-mx (the mail domain), dns-cname (the canonical name), kerberos-spn (the service class asked for).
CREATE TABLE IF NOT EXISTS name_evidence (
  capture_id  INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  kind        TEXT NOT NULL,
  detail      TEXT NOT NULL,
  first_sec   INTEGER NOT NULL,
  last_sec    INTEGER NOT NULL,
  flows       INTEGER NOT NULL,
  PRIMARY KEY (capture_id, name, kind, detail)
) WITHOUT ROWID;

-- Flows added up per run, hour and what reports group by (ROLLUP_KEY): added to at each commit of
-- the run's flows, made again for the flows a later run renames; never written by the audit (roles
-- and verdicts are joined in). No index beside the key: a host's rows are found by a scan of the
-- rollups (a fraction of the flows), and every index would cost each upsert a random write.
CREATE TABLE IF NOT EXISTS flow_rollup (${ROLLUP_COLUMNS}) WITHOUT ROWID;

-- A finished run's flow_rollup rows added up without the hour (made when the run finishes, and
-- again when its flows change): reports with no time filter read these, a fraction of the hours'.
CREATE TABLE IF NOT EXISTS flow_rollup_run (${RUN_ROLLUP_COLUMNS}) WITHOUT ROWID;

${SENSOR_TABLES}

${HOURS_TABLE}

-- Flows by the minute they started, per run (kept at each commit as flow_rollup is): the timeline.
CREATE TABLE IF NOT EXISTS flow_minutes (${MINUTE_COLUMNS}) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inventory (
  id        INTEGER PRIMARY KEY,
  address   TEXT NOT NULL,
  roles     TEXT NOT NULL,
  name      TEXT,
  site      TEXT,
  version   TEXT,
  source    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS rpc_endpoints (
  id          INTEGER PRIMARY KEY,
  capture_id  INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
  server      TEXT NOT NULL,
  transport   TEXT NOT NULL,
  protseq     TEXT,
  port        INTEGER NOT NULL,
  uuid        TEXT NOT NULL,
  version     TEXT,
  interface   TEXT,
  service     TEXT,
  source      TEXT NOT NULL CHECK (source IN ('ept_map', 'ept_lookup', 'bind', 'dcom')),
  first_sec   INTEGER NOT NULL,
  first_nsec  INTEGER NOT NULL,
  client      TEXT,
  annotation  TEXT,
  UNIQUE (capture_id, server, transport, port, uuid, source)
);
CREATE INDEX IF NOT EXISTS rpc_endpoints_key ON rpc_endpoints (server, transport, port);

-- What reports see: captures of finished runs (and of live runs, batch by batch).
CREATE VIEW IF NOT EXISTS capture_view AS
SELECT c.*, r.sensor AS sensor, r.host AS sensor_host FROM captures c JOIN runs r ON r.id = c.run_id
WHERE r.status = 'complete' OR r.live = 1;

-- A flow's verdict is its key's row in verdicts (VERDICT_KEY), found through its hosts'
-- roles and versions: judging is per key, and a host's new roles rewrite no flow.
CREATE TABLE IF NOT EXISTS verdicts (${VERDICT_COLUMNS},${VERDICT_CITES},${VERDICT_DETAIL},${VERDICT_UNIQUE});

-- Every flow (of any run, visible or not) with its verdict: what the audit counts and compares.
CREATE VIEW IF NOT EXISTS flow_judged AS
SELECT f.*, ${JUDGED_COLUMNS}
FROM ${JUDGED_FROM};

-- flow_view without the verdict: the same rows, scanned without the three lookups per flow
-- (reports that count traffic, not verdicts, read this one).
CREATE VIEW IF NOT EXISTS flow_seen AS
SELECT f.*,
       f.first_sec + f.first_nsec / 1e9 AS first_ts,
       f.last_sec + f.last_nsec / 1e9 AS last_ts,
       f.packets_c2s + f.packets_s2c AS packets,
       f.bytes_c2s + f.bytes_s2c AS bytes,
       c.path AS capture_path, c.fingerprint AS capture_fingerprint, c.sensor AS sensor, c.sensor_host AS sensor_host
FROM flows f JOIN capture_view c ON c.id = f.capture_id;

-- verdict_id: the verdict's row, so a long listing can read the verdicts' texts once, not per flow.
CREATE VIEW IF NOT EXISTS flow_view AS
SELECT f.*, ${JUDGED_COLUMNS}, v.id AS verdict_id,
       f.first_sec + f.first_nsec / 1e9 AS first_ts,
       f.last_sec + f.last_nsec / 1e9 AS last_ts,
       f.packets_c2s + f.packets_s2c AS packets,
       f.bytes_c2s + f.bytes_s2c AS bytes,
       c.path AS capture_path, c.fingerprint AS capture_fingerprint, c.sensor AS sensor, c.sensor_host AS sensor_host
FROM ${JUDGED_FROM}
  JOIN capture_view c ON c.id = f.capture_id;

-- Every rollup row (of any run, visible or not) with its verdict: what the audit judges and compares.
CREATE VIEW IF NOT EXISTS rollup_judged AS
SELECT f.*, ${JUDGED_COLUMNS}
FROM ${judgedFrom(`(SELECT r.run_id, r.bucket, r.client, r.server, r.transport, r.server_port,
       nullif(r.service, '') AS service, nullif(r.via, '') AS via, nullif(r.rpc_interface, '') AS rpc_interface, nullif(r.rpc_interfaces, '') AS rpc_interfaces,
       nullif(r.tls, '') AS tls, nullif(r.protection, '') AS protection, nullif(r.account, '') AS account, r.answered, r.flows FROM flow_rollup r) f`)};

-- rollup_view without the verdict (as flow_seen is flow_view without it): for reports that count traffic, not verdicts.
CREATE VIEW IF NOT EXISTS rollup_seen AS
SELECT f.*, f.packets_c2s + f.packets_s2c AS packets, f.bytes_c2s + f.bytes_s2c AS bytes
FROM ${VISIBLE_ROLLUP_ROWS};

-- Rollup rows of the runs reports see, as flow_view has flows: the NULLs back, the verdict
-- joined in through the hosts, times as flow_view has them (first_* the earliest, last_* the
-- latest; max_first_ts and min_last_ts for deciding what a time filter cuts).
CREATE VIEW IF NOT EXISTS rollup_view AS
SELECT f.*, ${JUDGED_COLUMNS},
       f.packets_c2s + f.packets_s2c AS packets,
       f.bytes_c2s + f.bytes_s2c AS bytes
FROM ${judgedFrom(VISIBLE_ROLLUP_ROWS)};

-- rollup_seen and rollup_view a row per run and key, without the hour (finished runs from
-- flow_rollup_run): what reports read when no time filter cuts a row.
CREATE VIEW IF NOT EXISTS run_rollup_seen AS
SELECT f.*, f.packets_c2s + f.packets_s2c AS packets, f.bytes_c2s + f.bytes_s2c AS bytes
FROM ${VISIBLE_RUN_ROWS};

CREATE VIEW IF NOT EXISTS run_rollup_view AS
SELECT f.*, ${JUDGED_COLUMNS},
       f.packets_c2s + f.packets_s2c AS packets,
       f.bytes_c2s + f.bytes_s2c AS bytes
FROM ${judgedFrom(VISIBLE_RUN_ROWS)};
`;
