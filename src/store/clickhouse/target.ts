// Where a ClickHouse engine is, as the user names it: clickhouse://HOST[:PORT]/DATABASE (its
// HTTP interface, port 8123 by default), http://… the same, https://… over TLS (port 8443 by
// default). Credentials come from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, never from the
// command line, where every user of the machine can read them (ps, shell history).

/** A ClickHouse server's HTTP interface and the database exflow keeps its tables in. */
export interface ClickHouseTarget {
  /** As the user wrote it, for messages. */
  text: string;
  https: boolean;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** A target that cannot be used; its message says why, in one line. */
export class TargetError extends Error {}

/** Whether a --db or --to value names a ClickHouse engine rather than a SQLite file. */
export const isClickHouse = (s: string): boolean => /^(clickhouse|https?):\/\//i.test(s);

/** A database name ClickHouse takes unquoted (exflow quotes identifiers nowhere). */
const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function parseTarget(text: string, env: NodeJS.ProcessEnv = process.env): ClickHouseTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TargetError(`${text}: not a URL (clickhouse://HOST:PORT/DATABASE)`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (!['clickhouse', 'http', 'https'].includes(scheme)) throw new TargetError(`${text}: the scheme must be clickhouse, http or https`);
  if (u.username || u.password) throw new TargetError(`${redacted(u)}: credentials in the URL are refused (anyone on this machine can read a command line); set CLICKHOUSE_USER and CLICKHOUSE_PASSWORD`);
  if (u.search || u.hash) throw new TargetError(`${text}: a query or fragment is not taken; the URL is clickhouse://HOST:PORT/DATABASE`);
  const https = scheme === 'https';
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'exflow';
  if (!DATABASE_NAME.test(database)) throw new TargetError(`${text}: the database name must be letters, digits and _ (at most 64, not starting with a digit)`);
  if (!u.hostname) throw new TargetError(`${text}: no host`);
  return {
    text,
    https,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : https ? 8443 : 8123,
    database,
    user: env.CLICKHOUSE_USER ?? 'default',
    password: env.CLICKHOUSE_PASSWORD ?? '',
  };
}

/**
 * The servers a URL names: one, or several as shards — clickhouse://ch1:8123,ch2:8123/exflow
 * (the hosts comma-separated, one scheme and database for all), as other ClickHouse clients write them.
 */
export function parseTargets(text: string, env: NodeJS.ProcessEnv = process.env): ClickHouseTarget[] {
  const m = /^([A-Za-z]+:\/\/)([^/?#]*)(.*)$/s.exec(text);
  if (!m || !m[2].includes(',')) return [parseTarget(text, env)];
  const hosts = m[2].split(',');
  if (hosts.some((h) => h === '')) throw new TargetError(`${text}: an empty host in the list (clickhouse://HOST:PORT,HOST:PORT/DATABASE)`);
  const targets = hosts.map((h) => ({ ...parseTarget(`${m[1]}${h}${m[3]}`, env), text }));
  const seen = new Set(targets.map((t) => `${t.host}:${t.port}`));
  if (seen.size < targets.length) throw new TargetError(`${text}: a server named twice`);
  return targets;
}

/** The URL with whatever credentials it carried cut out (for the message that refuses them). */
function redacted(u: URL): string {
  const c = new URL(u.href);
  c.username = '';
  c.password = '';
  return c.href;
}
