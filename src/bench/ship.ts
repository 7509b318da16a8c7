// The bench's ship workload (issue 29): the reports workload's database (a day of an organisation's
// short flows, about a million; BENCH_REPORTS_DAYS=10 for ten) shipped into a ClickHouse server the
// bench starts on this machine (Debian's 18.16, loopback ports, its data in a directory of its own),
// each round into a database of its own, rounds alternating between the default reading threads
// and none; medians, flows a second, peak RSS. Target: ≥ 100,000 flows/s into one server.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLICKHOUSE_SERVER, startClickHouse } from './clickhouse-server';
import { prepare, run, type ReportsBench } from './reports';

export async function measureShip(b: ReportsBench, log: (s: string) => void): Promise<string[]> {
  if (!CLICKHOUSE_SERVER) return ['ship: skipped (clickhouse-server not installed: apt-get install clickhouse-server)'];
  const { db, flows } = await prepare(b, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-bench-clickhouse-'));
  const server = await startClickHouse(dir);
  try {
    const variants = [
      { name: 'ship (reading threads: default)', args: [] as string[] },
      { name: 'ship --threads 0', args: ['--threads', '0'] },
    ];
    const seconds = variants.map(() => [] as number[]);
    const rss = variants.map(() => 0);
    for (let round = 0; round < b.rounds; round++) {
      variants.forEach((v, i) => {
        const r = run(b.root, ['ship', '--db', db, '--to', server.url(`bench_${round}_${i}`), ...v.args]);
        seconds[i].push(r.seconds);
        rss[i] = Math.max(rss[i], r.rssMb);
      });
      // Each round's databases dropped: the server's disk and merges stay as at the start.
      for (let i = 0; i < variants.length; i++) await server.sql(`DROP DATABASE bench_${round}_${i}`);
    }
    const lines = [`ship: ${db} (${flows} flows) into one ClickHouse server on this machine (${(await server.sql('SELECT version()')).trim()}), ${b.rounds} rounds alternated, medians`];
    variants.forEach((v, i) => {
      const s = b.median(seconds[i]);
      lines.push(`  ${v.name.padEnd(34)} ${s.toFixed(2).padStart(7)}s  ${Math.round(flows / s).toLocaleString('en')} flows/s, peak RSS ${rss[i].toFixed(0)} MB`);
    });
    lines.push('  target (issue 29): ≥ 100,000 flows/s into one server');
    return lines;
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
