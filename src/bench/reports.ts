// The bench's reports workload (issue 28): databases of real rows made quickly — a day of an
// organisation's short flows between thousands of clients and its servers (src/samples/org-day.ts:
// the lab's real conversations replayed), analyzed by exflow — and every report timed on them
// in table and JSON, from the rollups and (alternating) from the flows, medians, with each
// child's peak RSS; and the export's rate. 1M flows (one day) by default; with
// BENCH_REPORTS_DAYS=10, ten such days in one run: 10M flows.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultTemplates, writeOrgDay } from '../samples/org-day';

/** Packets of a day: ~8.2 packets a conversation, so about a million flows. */
const DAY_PACKETS = Number(process.env.BENCH_REPORTS_PACKETS ?? 8_200_000);
const DAYS = Number(process.env.BENCH_REPORTS_DAYS ?? 1);
/**
 * BENCH_REPORTS_DAILY=1: each day analyzed as its own run, into one database — as a site that
 * analyzes a day's captures each day has it (the run rows grow with the days; the sensor's totals
 * do not). Without it the days are one run.
 */
const DAILY = process.env.BENCH_REPORTS_DAILY === '1';
/** BENCH_REPORTS_FROM_FLOWS=0 leaves out the flow-scanning answers (at 10M flows the HTML page alone takes many minutes that way). */
const FROM_FLOWS = process.env.BENCH_REPORTS_FROM_FLOWS !== '0';
/** A frame every 10 ms: the day's conversations spread over its 24 hours. */
const PACE_US = Math.floor((86_400 * 1e6) / DAY_PACKETS);

export interface ReportsBench {
  root: string;
  cache: string;
  rounds: number;
  median: (xs: number[]) => number;
}

/** The report commands timed, each with what it needs beside --db (`since`: a time inside an hour, which cuts it). */
function commands(db: string, host: string, out: string, since: number): { name: string; args: string[]; formats: boolean }[] {
  return [
    { name: 'summary', args: ['report', 'summary'], formats: true },
    { name: 'roles', args: ['report', 'roles'], formats: true },
    { name: 'matrix', args: ['report', 'matrix'], formats: true },
    { name: 'unexpected', args: ['report', 'unexpected'], formats: true },
    { name: 'services', args: ['report', 'services'], formats: true },
    { name: 'encryption', args: ['report', 'encryption'], formats: true },
    { name: 'protection', args: ['report', 'protection'], formats: true },
    { name: 'epm', args: ['report', 'epm'], formats: true },
    { name: 'firewall', args: ['report', 'firewall'], formats: true },
    { name: 'hosts', args: ['hosts'], formats: true },
    { name: `host ${host}`, args: ['host', host], formats: true },
    { name: 'html', args: ['report', 'html', '--out', out], formats: false },
    { name: 'roles --since (cuts an hour)', args: ['report', 'roles', '--since', String(since)], formats: false },
    // A day's page and a host's story of the last part of the data: what an administrator asks each morning.
    { name: 'summary --since', args: ['report', 'summary', '--since', String(since)], formats: false },
    // Reports that read their groups twice (kept once: docs/database.md).
    { name: 'unexpected --since', args: ['report', 'unexpected', '--since', String(since)], formats: false },
    { name: 'encryption --since', args: ['report', 'encryption', '--since', String(since)], formats: false },
    { name: 'html --since', args: ['report', 'html', '--since', String(since), '--out', out], formats: false },
    { name: `host ${host} --since`, args: ['host', host, '--since', String(since)], formats: false },
  ].map((c) => ({ ...c, args: [...c.args, '--db', db] }));
}

/** One CLI command in a child process: wall seconds and peak RSS (its output is discarded). */
export function run(root: string, args: string[]): { seconds: number; rssMb: number } {
  const script = `
    const { main } = require(${JSON.stringify(path.join(root, 'dist', 'cli', 'main.js'))});
    const t0 = process.hrtime.bigint();
    main(['node', 'exflow', ...${JSON.stringify(args)}]).then((code) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      setImmediate(() => process.stderr.write('\\nBENCH ' + JSON.stringify({ code, seconds: s, rssMb: process.resourceUsage().maxRSS / 1024 }) + '\\n'));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'pipe'] });
  const m = /BENCH (.*)/.exec(r.stderr ?? '');
  const out = m ? JSON.parse(m[1]) : { code: -1 };
  if (out.code !== 0) throw new Error(`${args.join(' ')} failed: ${(r.stderr ?? '').slice(0, 500)}`);
  return { seconds: out.seconds, rssMb: out.rssMb };
}

/** The workload's captures (one a day, cached) and its database (cached beside them). */
export async function prepare(b: ReportsBench, log: (s: string) => void): Promise<{ db: string; flows: number; analyzeSeconds: number | null }> {
  const dir = path.join(b.cache, `reports-${DAY_PACKETS}-x${DAYS}`);
  fs.mkdirSync(dir, { recursive: true });
  for (let d = 0; d < DAYS; d++) {
    const file = path.join(dir, `day-${String(d).padStart(2, '0')}.pcap`);
    if (fs.existsSync(file)) continue;
    log(`generating ${file} (${DAY_PACKETS} packets: a day of short real conversations, 5,000 clients; cached)…`);
    const r = await writeOrgDay(file, { packets: DAY_PACKETS, shortPercent: 100, clients: 5000, concurrent: 400, paceUs: PACE_US, startMs: Date.UTC(2026, 0, 12 + d), templates: defaultTemplates(b.root) });
    log(`  ${r.flows} conversations`);
  }
  const db = path.join(b.cache, `reports-${DAY_PACKETS}-x${DAYS}${DAILY ? '-daily' : ''}.sqlite`);
  let analyzeSeconds: number | null = null;
  if (!fs.existsSync(db)) {
    log(`analyzing ${dir} into ${db}${DAILY ? ', a run a day' : ''} (cached)…`);
    fs.rmSync(db + '.tmp', { force: true });
    const inputs = DAILY ? fs.readdirSync(dir).filter((f) => f.endsWith('.pcap')).sort().map((f) => path.join(dir, f)) : [dir];
    analyzeSeconds = 0;
    for (const input of inputs) {
      const r = run(b.root, ['analyze', input, '--db', db + '.tmp', '--quiet', '--max-flows', '400000']);
      analyzeSeconds += r.seconds;
      if (DAILY) log(`  ${path.basename(input)}: ${r.seconds.toFixed(1)} s`);
    }
    for (const ext of ['-wal', '-shm']) fs.rmSync(db + '.tmp' + ext, { force: true });
    fs.renameSync(db + '.tmp', db);
  }
  const Database = require('better-sqlite3');
  const d = new Database(db, { readonly: true });
  const flows = d.prepare('SELECT count(*) FROM flows').pluck().get() as number;
  d.close();
  return { db, flows, analyzeSeconds };
}

export async function measureReports(b: ReportsBench, log: (s: string) => void): Promise<string[]> {
  const { db, flows, analyzeSeconds } = await prepare(b, log);
  const Database = require('better-sqlite3');
  const d = new Database(db, { readonly: true });
  const host = d.prepare('SELECT server FROM flows GROUP BY server ORDER BY count(*) DESC LIMIT 1').pluck().get() as string;
  const span = d.prepare('SELECT min(first_sec) AS a, max(last_sec) AS b FROM flows').get() as { a: number; b: number };
  const rows = d.prepare('SELECT count(*) FROM flow_rollup').pluck().get() as number;
  d.close();
  const out = path.join(path.dirname(db), 'bench-report.html');
  const cmds = commands(db, host, out, Math.floor((span.a + span.b) / 2) + 1800.5);
  const lines = [`reports: ${db} (${flows} flows, ${rows} rollup rows, ${((span.b - span.a) / 3600).toFixed(1)} hours${analyzeSeconds !== null ? `; analyzed in ${analyzeSeconds.toFixed(1)} s` : ''}), ${b.rounds} rounds alternated, medians`];
  lines.push(`  ${'report'.padEnd(30)} ${'table'.padStart(8)} ${'json'.padStart(8)} ${'--from-flows'.padStart(13)} ${'peak RSS'.padStart(9)}`);
  let worst = 0;
  let worstRss = 0;
  for (const c of cmds) {
    const table: number[] = [];
    const json: number[] = [];
    const flowsOnly: number[] = [];
    let rss = 0;
    for (let round = 0; round < b.rounds; round++) {
      const t = run(b.root, c.formats ? [...c.args, '--format', 'table'] : c.args);
      table.push(t.seconds);
      rss = Math.max(rss, t.rssMb);
      if (c.formats) {
        const j = run(b.root, [...c.args, '--format', 'json']);
        json.push(j.seconds);
        rss = Math.max(rss, j.rssMb);
      }
      // The flow-scanning answer, once: what the rollups replace (host, hosts and epm read no flows this way).
      if (round === 0 && FROM_FLOWS && !['hosts', 'epm'].includes(c.name)) flowsOnly.push(run(b.root, [...(c.formats ? [...c.args, '--format', 'json'] : c.args), '--from-flows']).seconds);
    }
    const T = b.median(table);
    const J = json.length ? b.median(json) : NaN;
    worst = Math.max(worst, T, Number.isNaN(J) ? 0 : J);
    worstRss = Math.max(worstRss, rss);
    lines.push(`  ${c.name.padEnd(30)} ${T.toFixed(2).padStart(7)}s ${Number.isNaN(J) ? '       —' : `${J.toFixed(2).padStart(7)}s`} ${flowsOnly.length ? `${flowsOnly[0].toFixed(2).padStart(12)}s` : '            —'} ${rss.toFixed(0).padStart(6)} MB`);
  }
  // The export's rate, NDJSON and CSV, to standard output (discarded): exflow's rate, not the
  // disk's — into a file, ten million flows are 15 GB of NDJSON, and this machine's disk took
  // 156 s to write what exflow made in 103.
  for (const format of ['ndjson', 'csv']) {
    const t: number[] = [];
    let rss = 0;
    for (let round = 0; round < b.rounds; round++) {
      const r = run(b.root, ['export', '--db', db, '--format', format, '--out', '-']);
      t.push(r.seconds);
      rss = Math.max(rss, r.rssMb);
    }
    const s = b.median(t);
    lines.push(`  ${`export --format ${format} --out -`.padEnd(31)}${s.toFixed(2).padStart(7)}s  ${Math.round(flows / s).toLocaleString('en')} flows/s, peak RSS ${rss.toFixed(0)} MB`);
  }
  lines.push(`  slowest report ${worst.toFixed(2)} s (target ≤ ${flows > 5e6 ? 3 : 1} s at ${flows > 5e6 ? '10M' : '1M'} flows); peak RSS ${worstRss.toFixed(0)} MB (target ≤ 256 MB); export target ≥ 100,000 flows/s`);
  return lines;
}
