// The bench's ship workload (issue 29): the reports workload's database (a day of an organisation's
// short flows, about a million; BENCH_REPORTS_DAYS=10 for ten) shipped into a ClickHouse server the
// bench starts on this machine (Debian's 18.16, loopback ports, its data in a directory of its own),
// each round into a database of its own, rounds alternating between the default reading threads,
// none, and two servers as shards; medians, flows a second, peak RSS. Target: ≥ 100,000 flows/s
// into one server.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLICKHOUSE_SERVER, startClickHouse } from './clickhouse-server';
import { prepare, run, type ReportsBench } from './reports';

export async function measureShip(b: ReportsBench, log: (s: string) => void): Promise<string[]> {
  if (!CLICKHOUSE_SERVER) return ['ship: skipped (clickhouse-server not installed: apt-get install clickhouse-server)'];
  const { db, flows } = await prepare(b, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-bench-clickhouse-'));
  for (const d of ['a', 'b']) fs.mkdirSync(path.join(dir, d));
  const server = await startClickHouse(path.join(dir, 'a'));
  const second = await startClickHouse(path.join(dir, 'b'));
  try {
    // Each round's database is named by the round and variant (`{db}`).
    const variants = [
      { name: 'ship (reading threads: default)', to: (db: string) => ['--to', server.url(db)] },
      { name: 'ship --threads 0', to: (db: string) => ['--to', server.url(db), '--threads', '0'] },
      // Each run whole on one shard: a database of one run goes at one server's speed.
      { name: 'ship into two shards', to: (db: string) => ['--to', server.url(db), '--to', second.url(db)] },
    ];
    const seconds = variants.map(() => [] as number[]);
    const rss = variants.map(() => 0);
    for (let round = 0; round < b.rounds; round++) {
      for (const [i, v] of variants.entries()) {
        const r = run(b.root, ['ship', '--db', db, ...v.to(`bench_${round}_${i}`)]);
        seconds[i].push(r.seconds);
        rss[i] = Math.max(rss[i], r.rssMb);
        // Dropped at once: the next variant does not share the machine with this one's merges.
        for (const x of [server, second]) await x.sql(`DROP DATABASE IF EXISTS bench_${round}_${i}`);
      }
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
    await second.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
