// Checks of option values, shared by every command: a bad value is a usage error
// (exit 64) naming the option and what it takes.
import { Option } from 'commander';
import { parseNet } from '../classify/ip';
import { escapeControls } from '../report/format';
import { parseTime } from '../report/filter';
import { parseBaseline, type Baseline } from '../report/new';
import { Exit, UserError } from './errors';

/**
 * The database every command uses without --db: $EXFLOW_DB, else exflow.sqlite in the current
 * folder (as git and nfdump work where they stand; a sensor's service sets the variable once).
 */
export function dbDefault(): string {
  return process.env.EXFLOW_DB || 'exflow.sqlite';
}

/** The --db option: what the database is for; its default named as where it comes from. */
export const dbOption = (what: string): Option => new Option('--db <file>', `SQLite database ${what}`).default(dbDefault(), `$EXFLOW_DB, else exflow.sqlite`);
/** --db of the commands that read from a ClickHouse engine as well. */
export const engineDbOption = (what: string): Option =>
  new Option('--db <file|url>', `SQLite database ${what}, or a ClickHouse engine: clickhouse://HOST:PORT/DATABASE (shards: HOST:PORT,HOST:PORT), https://… (CLICKHOUSE_USER, CLICKHOUSE_PASSWORD)`).default(dbDefault(), `$EXFLOW_DB, else exflow.sqlite`);

/** Commander's collector for a repeatable option. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
      throw new UserError(`exflow: ${name} takes a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, not "${v}"`, Exit.Usage);
    }
    return Number(v);
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UserError(`exflow: ${name} takes a whole number of seconds, not "${v}"`, Exit.Usage);
    return Number(v);
  };
}

/**
 * A host name as --host and host NAME take it (DNS labels; a NetBIOS name is one), with a letter
 * in it: digits and dots alone (10.77.0.300) are a mistyped address, not a name.
 */
const HOST_NAME = /^(?=[^]*[A-Za-z])[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;

/**
 * An --host/--client/--server value, checked: an address, a CIDR block or a host name (the
 * database turns a name into its address: resolveHostName), else a usage error.
 */
export function addressOption(name: string, v: string | undefined): string | undefined {
  if (v !== undefined && !parseNet(v) && !HOST_NAME.test(v)) {
    throw new UserError(`exflow: ${name} takes an IPv4/IPv6 address, a CIDR block (10.0.0.0/8) or a host name the database knows, not "${escapeControls(v)}"`, Exit.Usage);
  }
  return v;
}

/** Whether an address option's value is a host name rather than an address or block. */
export const isHostName = (v: string): boolean => !parseNet(v);

/**
 * A host name as its one address: exit 64 naming the addresses when the name stands for several
 * (say which), or the nearest names when for none.
 */
export function resolveHostName(option: string, v: string, addresses: (name: string) => string[], names: () => Iterable<string>): string {
  if (!isHostName(v)) return v;
  const found = addresses(v);
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new UserError(`exflow: ${option} ${escapeControls(v)} names ${found.length} hosts: ${found.map(escapeControls).join(', ')}; give one address`, Exit.Usage);
  const near = nearestNames(v, names());
  throw new UserError(`exflow: ${option} ${escapeControls(v)}: no host of that name in the database${near.length ? ` (did you mean ${near.map(escapeControls).join(', ')}?)` : ''}; exflow hosts lists the names`, Exit.Usage);
}

/** A --since/--until value as seconds since 1970, checked. */
export function timeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTime(v);
  if (t === null) throw new UserError(`exflow: ${name} takes an ISO 8601 time (2026-01-15T09:00:00Z; UTC unless it carries an offset such as +02:00), seconds since 1970, or a time before now (-15m, -1h, -2d, -1w, today, yesterday), not "${escapeControls(v)}"`, Exit.Usage);
  return t;
}

/** A --baseline value (report new, report html), checked. */
export function baselineOption(v: string): Baseline {
  const b = parseBaseline(v);
  if (!b) throw new UserError(`exflow: --baseline takes a capture id or path, run:N, or a time range FROM..TO, not "${v}"`, Exit.Usage);
  return b;
}

/** Edit distance (Levenshtein), for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The names closest to `value`: those containing it or contained in it first, then by edit distance; at most three. */
export function nearestNames(value: string, names: Iterable<string>): string[] {
  const v = value.toLowerCase();
  return [...new Set(names)]
    .map((n) => ({ n, score: n.toLowerCase().includes(v) || v.includes(n.toLowerCase()) ? 0 : distance(v, n.toLowerCase()) }))
    .filter((x) => x.score <= Math.max(2, Math.floor(v.length / 3)))
    .sort((a, b) => a.score - b.score || a.n.localeCompare(b.n))
    .slice(0, 3)
    .map((x) => x.n);
}

/**
 * A --service/--role value must name one of the rules (or one the database holds, from an
 * extra rules folder at analyze time): a filter that can match nothing is a usage error
 * with the nearest names, not an empty answer.
 */
export function knownName(option: string, value: string | undefined, what: string, names: () => Iterable<string>, more: () => Iterable<string>, hint: string): void {
  if (value === undefined) return;
  const known = new Set(names());
  if (known.has(value)) return;
  for (const n of more()) {
    if (n === value) return;
    known.add(n);
  }
  const near = nearestNames(value, known);
  throw new UserError(`exflow: ${option} ${JSON.stringify(value)} is not a ${what} exflow knows${near.length ? `; did you mean ${near.join(', ')}?` : ''} (${hint})`, Exit.Usage);
}

/** A sensor's name (analyze --sensor): 1-128 letters, digits and . _ - : @ / (it travels into every export). */
export function sensorName(name: string) {
  return (v: string): string => {
    if (!/^[\p{L}\p{N}._:@/-]{1,128}$/u.test(v)) throw new UserError(`exflow: ${name} takes a name of 1 to 128 letters, digits and . _ - : @ /, not ${JSON.stringify(v)}`, Exit.Usage);
    return v;
  };
}

/** --threads: 1 to 64 (more threads than that read the same file to no gain). */
export function threadCount(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 64) throw new UserError(`exflow: ${name} takes a number of threads from 1 to 64, not "${v}"`, Exit.Usage);
    return Number(v);
  };
}

/** EXFLOW_THREADS, the default of analyze --threads when it is set. */
export function threadsFromEnv(): number | undefined {
  const v = process.env.EXFLOW_THREADS;
  return v === undefined || v === '' ? undefined : threadCount('EXFLOW_THREADS')(v);
}
