// Real ClickHouse servers for the tests and the bench: each started from a config written here
// (nothing from /etc: its own data, users and log directories, loopback only, ports of its own),
// ready when /ping answers, stopped by the pid it started. Debian's clickhouse-server (18.16) —
// .ci/run installs it. A server may carry a user with a password.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export const CLICKHOUSE_SERVER = ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'].find((p) => fs.existsSync(p)) ?? null;

export interface ClickHouseServer {
  httpPort: number;
  tcpPort: number;
  dir: string;
  pid: number;
  /** clickhouse://127.0.0.1:PORT/DATABASE */
  url(database: string): string;
  /** Runs SQL on it (as the test's own check, not through exflow), the answer as text. */
  sql(query: string, settings?: Record<string, string | number>): Promise<string>;
  stop(): Promise<void>;
  /** Kills it (SIGKILL: as a crash or a power cut would) and starts it again on its data and ports. */
  crashAndRestart(): Promise<void>;
}

/** A loopback port nobody listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const xml = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

export async function startClickHouse(dir: string, o: { password?: string; user?: string } = {}): Promise<ClickHouseServer> {
  if (!CLICKHOUSE_SERVER) throw new Error('clickhouse-server is not installed (apt-get install clickhouse-server; .ci/run installs it)');
  const ports = { http: await freePort(), tcp: await freePort(), interserver: await freePort() };
  const user = o.user ?? 'default';
  fs.writeFileSync(
    path.join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex><profiles><default></default></profiles>
<users><${user}><password>${xml(o.password ?? '')}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></${user}></users>
<quotas><default></default></quotas></yandex>
`,
  );
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog></logger>
  <path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path><user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${ports.http}</http_port><tcp_port>${ports.tcp}</tcp_port><interserver_http_port>${ports.interserver}</interserver_http_port>
  <timezone>UTC</timezone><mlock_executable>false</mlock_executable><keep_alive_timeout>1</keep_alive_timeout>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
</yandex>
`,
  );
  const auth = 'Basic ' + Buffer.from(`${user}:${o.password ?? ''}`).toString('base64');
  const sql = async (query: string, settings: Record<string, string | number> = {}): Promise<string> => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(settings)) params.set(k, String(v));
    const r = await fetch(`http://127.0.0.1:${ports.http}/?${params}`, { method: 'POST', body: query, headers: { Authorization: auth } });
    const text = await r.text();
    if (!r.ok) throw new Error(`ClickHouse: ${text}`);
    return text;
  };
  let server = await launch(dir, ports.http);
  const stop = async (signal: NodeJS.Signals) => {
    if (server.exited()) return;
    const gone = new Promise<void>((r) => server.child.once('exit', () => r()));
    server.child.kill(signal);
    const t = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  };
  return {
    httpPort: ports.http,
    tcpPort: ports.tcp,
    dir,
    get pid() {
      return server.child.pid!;
    },
    url: (database) => `clickhouse://127.0.0.1:${ports.http}/${database}`,
    sql,
    stop: () => stop('SIGTERM'),
    crashAndRestart: async () => {
      await stop('SIGKILL');
      server = await launch(dir, ports.http);
    },
  };
}

/** Starts the server of `dir`'s config and waits until it answers /ping. */
async function launch(dir: string, httpPort: number): Promise<{ child: ChildProcess; exited: () => boolean }> {
  const child: ChildProcess = spawn(CLICKHOUSE_SERVER!, [`--config-file=${dir}/config.xml`, `--pid-file=${dir}/server.pid`], { stdio: 'ignore', cwd: dir });
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`clickhouse-server exited (${exited}) at start: ${fs.existsSync(`${dir}/error.log`) ? fs.readFileSync(`${dir}/error.log`, 'utf8').slice(-2000) : ''}`);
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/ping`);
      if ((await r.text()).startsWith('Ok')) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('clickhouse-server did not answer /ping in 30 s');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited: () => exited !== null };
}
