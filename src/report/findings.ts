import type { Db } from '../store/db';
import type { FlowFilter } from './filter';
import { firstNs, flowGroups, listed, readKeptSums, SPAN, type Groups } from './groups';
import { isoTime, type Row } from './format';
import { NO_ROLE } from './role-traffic';

/**
 * Why a flow is unknown, from its verdict's reason (src/audit/verdict.ts and the guess rule of
 * src/store/roles.ts word them): no role for a side, a role only guessed, an RPC interface unread.
 */
const WHY = `CASE
  WHEN min(f.reason) LIKE 'no role for the client and server%' THEN 'no role for either side'
  WHEN min(f.reason) LIKE 'no role for the client%' THEN 'no role for the client'
  WHEN min(f.reason) LIKE 'no role for the server%' THEN 'no role for the server'
  WHEN min(f.reason) LIKE '%role is only a guess%' THEN 'role only guessed'
  WHEN min(f.reason) LIKE 'the RPC interface could not be read%' THEN 'RPC interface not read'
  ELSE 'other' END`;
/** Unknown flows in the order a reader acts on them: a missing role first (an inventory line fixes it), guesses, capture limits. */
const WHY_ORDER = ['no role for either side', 'no role for the client', 'no role for the server', 'role only guessed', 'RPC interface not read', 'other'];

/** Unexpected flows first, then unknown ones grouped by why, each grouped by (client role, server role, service). */
export function unexpectedReport(db: Db, f: FlowFilter): Row[] {
  // Read twice (the rows, their examples): kept once where reading them again costs, added up by
  // what the two read (ten daily runs, the last five days: 272k rows of 929k; 4.24 -> 2.72 s).
  const w = flowGroups(db, f, [`f.verdict IN ('unexpected', 'unknown')`]);
  return readKeptSums(db, f, 'unexpected_groups', UNEXPECTED_READS, w, (g) => unexpectedFrom(db, g));
}

/** What unexpectedFrom reads of its groups besides the sums and times. */
const UNEXPECTED_READS = 'f.verdict, f.client_role, f.server_role, f.service, f.client, f.server, f.server_port, f.transport, f.reason, f.rpc_interface';

/** The unexpected report of judged groups `w` that are already the unexpected and unknown ones (host ADDR hands its own). */
export function unexpectedFrom(db: Db, w: Groups): Row[] {
  const rows = db
    .prepare(
      `SELECT f.verdict, coalesce(f.client_role, '${NO_ROLE}') AS client_role, coalesce(f.server_role, '${NO_ROLE}') AS server_role,
              coalesce(f.service, '(unknown)') AS service, sum(f.flows) AS flows, sum(f.bytes) AS bytes,
              ${SPAN()},
              min(f.reason) AS reason, group_concat(DISTINCT f.rpc_interface) AS rpc_interfaces, ${WHY} AS why
       FROM ${w.sql} f
       GROUP BY f.verdict, client_role, server_role, service`,
    )
    .all(...w.args) as Record<string, string | number | null>[];
  const rank = (r: Record<string, string | number | null>) => (r.verdict === 'unexpected' ? -1 : WHY_ORDER.indexOf(String(r.why)));
  rows.sort((x, y) => rank(x) - rank(y) || Number(y.flows) - Number(x.flows));
  const examples = examplesOf(db, w, [`f.verdict`, `coalesce(f.client_role, '${NO_ROLE}')`, `coalesce(f.server_role, '${NO_ROLE}')`, `coalesce(f.service, '(unknown)')`]);
  // The full list a short reason counts: its verdict's detail, looked up for the few rows shown
  // (carried through the grouping it cost every group row a string).
  const detailOf = db.prepare('SELECT detail FROM verdicts WHERE reason = ? AND detail IS NOT NULL LIMIT 1').pluck();
  return rows.map((r) => ({
    verdict: r.verdict,
    why: r.verdict === 'unknown' ? r.why : null,
    client_role: r.client_role,
    server_role: r.server_role,
    service: r.service,
    flows: r.flows,
    bytes: r.bytes,
    first_seen: isoTime(r.first_sec as number, r.first_nsec as number),
    last_seen: isoTime(r.last_sec as number, r.last_nsec as number),
    examples: examples.get(groupKey([r.verdict, r.client_role, r.server_role, r.service])) ?? [],
    rpc_interfaces: listed(r.rpc_interfaces),
    reason: r.reason,
    // The full list a long reason counts (JSON has it; the text formats keep the reason short).
    reason_detail: r.reason === null ? null : ((detailOf.get(r.reason) as string | undefined) ?? null),
  }));
}

/** Per service and how it was decided: flows, bytes, packets, hosts on each side. */
export function servicesReport(db: Db, f: FlowFilter): Row[] {
  const g = flowGroups(db, f, [], [], { judged: false });
  return db
    .prepare(
      `SELECT coalesce(f.service, '(unknown)') AS service, coalesce(f.via, '-') AS via, sum(f.flows) AS flows, sum(f.bytes) AS bytes, sum(f.packets) AS packets,
              count(DISTINCT f.server) AS servers, count(DISTINCT f.client) AS clients, group_concat(DISTINCT f.rpc_interface) AS rpc_interfaces
       FROM ${g.sql} f GROUP BY service, via ORDER BY sum(f.bytes) DESC, service, via`,
    )
    .all(...g.args)
    .map((r) => {
      const x = r as Record<string, string | number | null>;
      return { ...x, rpc_interfaces: listed(x.rpc_interfaces) } as Row;
    });
}

/** Encryption findings: expected flows in clear where the matrix says the service is encrypted, grouped. */
export function encryptionReport(db: Db, f: FlowFilter): Row[] {
  const read = flowGroups(db, f, ['f.encryption IS NOT NULL']);
  // Read twice (the examples, the rows): kept once where reading them again costs, added up by
  // what the two read (ten daily runs, the last five days: 3.01 -> 1.84 s).
  return readKeptSums(db, f, 'encryption_groups', ENCRYPTION_READS, read, (g) => encryptionOf(db, g));
}

/** What encryptionOf reads of its groups besides the sums and times. */
const ENCRYPTION_READS = 'f.client_role, f.server_role, f.service, f.rule, f.encryption, f.encryption_cite, f.client, f.server, f.server_port, f.transport';

/** The encryption report of judged groups `w` that are already the expected flows in clear where the tables say encrypted. */
function encryptionOf(db: Db, w: Groups): Row[] {
  const examples = examplesOf(db, w, ['f.client_role', 'f.server_role', 'f.service', 'f.rule']);
  return (db
    .prepare(
      `SELECT f.client_role, f.server_role, f.service, f.rule, sum(f.flows) AS flows, sum(f.bytes) AS bytes, ${SPAN()},
              min(f.encryption) AS finding, min(f.encryption_cite) AS cite
       FROM ${w.sql} f GROUP BY f.client_role, f.server_role, f.service, f.rule ORDER BY flows DESC, f.client_role, f.server_role, f.service, f.rule`,
    )
    .all(...w.args) as Record<string, string | number | null>[]).map((r) => ({
    client_role: r.client_role,
    server_role: r.server_role,
    service: r.service,
    rule: r.rule,
    flows: r.flows,
    bytes: r.bytes,
    first_seen: isoTime(r.first_sec as number, r.first_nsec as number),
    last_seen: isoTime(r.last_sec as number, r.last_nsec as number),
    examples: examples.get(groupKey([r.client_role, r.server_role, r.service, r.rule])) ?? [],
    finding: r.finding,
    cite: r.cite,
  }));
}

const groupKey = (values: unknown[]) => JSON.stringify(values);

/**
 * Up to `n` example flows ("client → server:port/transport", distinct, in the order
 * first seen: by their earliest first packet, then by the text) for each group of the given
 * key expressions. The order is the flows' own, not their ids' (the order they were written,
 * which another database or engine of the same flows does not share). Only the examples shown
 * reach the heap: a group may hold millions of flows.
 */
function examplesOf(db: Db, w: Groups, keys: string[], n = 3): Map<string, string[]> {
  const cols = keys.map((k, i) => `${k} AS k${i}`).join(', ');
  const names = keys.map((_, i) => `k${i}`).join(', ');
  const rows = db
    .prepare(
      `SELECT ${names}, example FROM (
         SELECT ${names}, example, row_number() OVER (PARTITION BY ${names} ORDER BY first_ns, example) AS rank FROM (
           SELECT ${cols}, f.client || ' → ' || f.server || ':' || f.server_port || '/' || f.transport AS example, ${firstNs()} AS first_ns
           FROM ${w.sql} f GROUP BY ${names}, example))
       WHERE rank <= ? ORDER BY ${names}, rank`,
    )
    .raw()
    .all(...w.args, n) as unknown[][];
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const key = groupKey(r.slice(0, keys.length));
    const list = out.get(key) ?? [];
    list.push(String(r[keys.length]));
    out.set(key, list);
  }
  return out;
}

export const ENCRYPTION_COLUMNS = ['client_role', 'server_role', 'service', 'rule', 'flows', 'bytes', 'first_seen', 'last_seen', 'examples', 'finding', 'cite'];
/**
 * A text table keeps its first columns when the terminal is narrow (src/report/format.ts
 * leaves out the last): most telling first — who, what, how many, an example, why —
 * then the times and sizes. The citation (a seed's own words) is for CSV and JSON.
 */
export const ENCRYPTION_TABLE_COLUMNS = ['service', 'flows', 'examples', 'finding', 'client_role', 'server_role', 'rule', 'bytes', 'first_seen', 'last_seen'];
export const UNEXPECTED_COLUMNS = ['verdict', 'why', 'client_role', 'server_role', 'service', 'flows', 'bytes', 'first_seen', 'last_seen', 'examples', 'rpc_interfaces', 'reason'];
export const UNEXPECTED_TABLE_COLUMNS = ['verdict', 'service', 'flows', 'examples', 'reason', 'client_role', 'server_role', 'why', 'bytes', 'first_seen', 'last_seen', 'rpc_interfaces'];
