// The bench's reports-from-ClickHouse workload (issue 29): the reports workload's database (a day
// of an organisation's short flows, about a million; BENCH_REPORTS_DAYS=10 BENCH_REPORTS_DAILY=1
// for ten daily runs) shipped into a ClickHouse server the bench starts on this machine, then each
// report the engine answers timed from the engine and from the SQLite database, alternating,
// medians: the first report after a ship (the engine's copy made: its cache emptied before) and
// the next ones (the copy kept) — and the commands that read flows one by one, which copy the
// flows they need. Target: every report at 10M flows ≤ 2 s on one server.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLICKHOUSE_SERVER, startClickHouse } from './clickhouse-server';
import { prepare, run, type ReportsBench } from './reports';

export async function measureEngineReports(b: ReportsBench, log: (s: string) => void): Promise<string[]> {
  if (!CLICKHOUSE_SERVER) return ['reports from ClickHouse: skipped (clickhouse-server not installed: apt-get install clickhouse-server)'];
  const { db, flows } = await prepare(b, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-bench-engine-'));
  const copies = path.join(dir, 'copies');
  fs.mkdirSync(path.join(dir, 'server'));
  const server = await startClickHouse(path.join(dir, 'server'));
  const before = process.env.EXFLOW_ENGINE_CACHE;
  // The children read it: the bench's copies, not the user's cache.
  process.env.EXFLOW_ENGINE_CACHE = copies;
  try {
    const engine = server.url('bench_reports');
    log(`shipping ${db} into ${engine}…`);
    const shipped = run(b.root, ['ship', '--db', db, '--to', engine]);
    const Database = require('better-sqlite3');
    const d = new Database(db, { readonly: true });
    const host = d.prepare('SELECT server FROM flows GROUP BY server ORDER BY count(*) DESC LIMIT 1').pluck().get() as string;
    // A time in the middle of the flows: windows that cut them.
    const mid = String(d.prepare('SELECT (min(first_sec) + max(last_sec)) / 2 FROM flows').pluck().get() as number);
    d.close();
    const reports: { name: string; args: string[] }[] = [
      ...['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection', 'firewall'].map((r) => ({ name: r, args: ['report', r, '--format', 'json'] })),
      { name: 'hosts', args: ['hosts', '--format', 'json'] },
      { name: `host ${host}`, args: ['host', host, '--format', 'json'] },
      { name: 'epm', args: ['epm', '--format', 'json'] },
      { name: 'html', args: ['report', 'html', '--out', path.join(dir, 'page.html')] },
      { name: 'unexpected --since (a window)', args: ['report', 'unexpected', '--format', 'json', '--since', mid] },
      { name: 'summary --since', args: ['report', 'summary', '--format', 'json', '--since', mid] },
      { name: 'html --since', args: ['report', 'html', '--since', mid, '--out', path.join(dir, 'page.html')] },
      { name: `host ${host} --since`, args: ['host', host, '--format', 'json', '--since', mid] },
      { name: 'flows --limit 20', args: ['flows', '--format', 'json', '--limit', '20'] },
      { name: `flows --server ${host} --limit 1000`, args: ['flows', '--format', 'json', '--server', host, '--limit', '1000'] },
      { name: `export --server ${host} --since`, args: ['export', '--server', host, '--since', mid] },
    ];
    const first: number[] = [];
    let firstRss = 0;
    const times = reports.map(() => ({ engine: [] as number[], sqlite: [] as number[], rss: 0 }));
    for (let round = 0; round < b.rounds; round++) {
      // The first report after a ship: no copy kept.
      fs.rmSync(copies, { recursive: true, force: true });
      const f = run(b.root, ['report', 'summary', '--format', 'json', '--db', engine]);
      first.push(f.seconds);
      firstRss = Math.max(firstRss, f.rssMb);
      for (const [i, r] of reports.entries()) {
        const e = run(b.root, [...r.args, '--db', engine]);
        const s = run(b.root, [...r.args, '--db', db]);
        times[i].engine.push(e.seconds);
        times[i].sqlite.push(s.seconds);
        times[i].rss = Math.max(times[i].rss, e.rssMb);
      }
    }
    const lines = [
      `reports from ClickHouse: ${db} (${flows} flows) shipped in ${shipped.seconds.toFixed(1)} s into one server on this machine (${(await server.sql('SELECT version()')).trim()}), ${b.rounds} rounds alternated, medians, JSON`,
      `  ${'first report after a ship (copy made)'.padEnd(40)} ${b.median(first).toFixed(2).padStart(7)}s  peak RSS ${firstRss.toFixed(0)} MB`,
      `  ${'report (copy kept)'.padEnd(40)} ${'engine'.padStart(8)} ${'SQLite'.padStart(8)} ${'peak RSS'.padStart(9)}`,
    ];
    let worst = 0;
    for (const [i, r] of reports.entries()) {
      const e = b.median(times[i].engine);
      worst = Math.max(worst, e);
      lines.push(`  ${r.name.padEnd(40)} ${e.toFixed(2).padStart(7)}s ${b.median(times[i].sqlite).toFixed(2).padStart(7)}s ${times[i].rss.toFixed(0).padStart(6)} MB`);
    }
    lines.push(`  slowest report from the engine ${worst.toFixed(2)} s with the copy kept, ${b.median(first).toFixed(2)} s when it is made (target, issue 29: every report at 10M flows ≤ 2 s on one server)`);
    return lines;
  } finally {
    if (before === undefined) delete process.env.EXFLOW_ENGINE_CACHE;
    else process.env.EXFLOW_ENGINE_CACHE = before;
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
