#!/usr/bin/env node
// npm run bench: three workloads (the synthetic one — 50,000 flows between 50,000
// hosts —, an Exchange-like one — 51 hosts, long MAPI/NSPI/DRSUAPI sessions — and
// an organisation's mix — the long sessions beside ~25,000 short real conversations
// of every service, src/samples/org-day.ts),
// each measured in alternating rounds, medians (shared machines are noisy;
// absolute packets/s drift, ratios hold):
//   (a) the bare record walk of exflow's reader
//   (b) exflow analyze end to end into SQLite (a child process: its own peak RSS and GC time)
//   (c) exflow analyze --no-rpc (no payload inspectors)
//   (d) ndpiReader and (e) tshark -z conv on the same file, when installed
//   (f) the synthetic capture as a directory of 8 files (one run, one stream)
//   (g) exflow analyze --threads k for k = 1 … the machine's cores (the curve)
// and, where taskset is installed, on one core (taskset -c 0): the floor (read, walk and
// decode, src/bench/floor.ts), exflow --threads 1 and ndpiReader, and (k) the inspectors' cost per
// segment they are handed (src/bench/inspectors.ts); CPU time (user + sys) beside wall for exflow
// and ndpiReader (issue 33).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../capture/reader';
import { writeExchangeLike } from '../samples/exchange-like';
import { defaultTemplates, writeOrgDay } from '../samples/org-day';
import { writeSynthetic } from '../samples/synthetic';
import { PcapFileWriter } from '../samples/writer';
import { measureStartup } from './startup';
import { measureReports } from './reports';
import { measureShip } from './ship';
import { measureEngineReports } from './engine-reports';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, '.bench-cache');
const PACKETS = Number(process.env.BENCH_PACKETS ?? 1_000_000);
const FLOWS = Number(process.env.BENCH_FLOWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const skipped = (peer: string) => (process.env.BENCH_SKIP ?? '').includes(peer);
const EXCHANGE_PACKETS = Number(process.env.BENCH_EXCHANGE_PACKETS ?? 3_000_000);
const MIX_PACKETS = Number(process.env.BENCH_MIX_PACKETS ?? 2_000_000);
/** The thread counts of the curve (g): 1 … the machine's cores, at most 8. */
const THREAD_COUNTS = Array.from({ length: Math.min(8, os.availableParallelism()) }, (_, i) => i + 1);

/** ~1M packets over ~50k flows, interleaved; a third VLAN-tagged, an eighth IPv6, a few known service ports. */
function generate(file: string): void {
  writeSynthetic(file, { packets: PACKETS, flows: FLOWS });
}

/** The same capture cut into `n` files of equal packet counts, as a ring buffer would hold it. */
async function splitInto(file: string, n: number, dir: string, total: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const per = Math.ceil(total / n);
  let i = 0;
  let w: PcapFileWriter | null = null;
  await readCapture(file, {
    packet(_lt, sec, nsec, buf, off, capLen) {
      if (i % per === 0) {
        w?.close();
        w = new PcapFileWriter(path.join(dir, `ring_${String(i / per).padStart(5, '0')}.pcap`));
      }
      i++;
      w!.write(sec * 1e6 + Math.floor(nsec / 1000), buf.subarray(off, off + capLen));
    },
  });
  (w as PcapFileWriter | null)?.close();
}

async function walk(file: string): Promise<number> {
  let n = 0;
  await readCapture(file, { packet() { n++; } });
  return n;
}

/** taskset: what pins a child to one core (util-linux); without it the one-core figures are left out. */
const ONE_CORE = ['taskset', '-c', '0'];

/** The real CLI in a child process (on one core with `oneCore`); returns its wall and CPU time and peak RSS. */
function analyzeRun(file: string, db: string, extra: string[] = [], oneCore = false): { seconds: number; cpu: number; rssMb: number; gcMs: number; packets: number; phases: string } {
  // A fresh database each round: a first analysis, not a --force re-run (which also re-hashes and deletes).
  for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true });
  const script = `
    const { main } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))});
    const { PerformanceObserver } = require('node:perf_hooks');
    let gcMs = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ['gc'] });
    const t0 = process.hrtime.bigint();
    main(['node', 'exflow', 'analyze', ${JSON.stringify(file)}, '--db', ${JSON.stringify(db)}, '--quiet', ...${JSON.stringify(extra)}]).then((code) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const ru = process.resourceUsage();
      setImmediate(() => process.stdout.write(JSON.stringify({ code, seconds: s, gcMs, rssMb: ru.maxRSS / 1024, cpu: (ru.userCPUTime + ru.systemCPUTime) / 1e6 })));
    });`;
  // EXFLOW_PHASES: analyze prints its per-phase times on stderr (reading, writing flows, judging).
  const argv = [process.execPath, '-e', script];
  const cmd = oneCore ? [...ONE_CORE, ...argv] : argv;
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: { ...process.env, EXFLOW_PHASES: '1' } });
  const out = JSON.parse(r.stdout || '{}');
  const phases = /exflow: phases: (.*)/.exec(r.stderr ?? '')?.[1] ?? '';
  if (out.code !== 0) throw new Error(`analyze failed: ${r.stderr}`);
  const Database = require('better-sqlite3');
  const d = new Database(db, { readonly: true });
  const packets = d.prepare('SELECT sum(packets) AS n FROM capture_view').get().n as number;
  d.close();
  return { seconds: out.seconds, cpu: out.cpu, rssMb: out.rssMb, gcMs: out.gcMs, packets, phases };
}

/** A peer tool on the same file, if installed (on one core with `oneCore`): its wall time and its CPU time (bash's `times` for its children), or null (the bench installs nothing). */
function peerRun(cmd: string, args: string[], oneCore = false): { seconds: number; cpu: number } | null {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', '"$@" >/dev/null 2>&1; s=$?; times; exit $s', 'peer', ...(oneCore ? ONE_CORE : []), cmd, ...args], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error || r.status !== 0) return null;
  // times: the shell's user and sys, then its children's, as "XmY.YYYs XmY.YYYs".
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(r.stdout.trim().split('\n')[1] ?? '');
  return { seconds, cpu: m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN };
}

/** One inspector kind's cost per segment it was handed (src/bench/inspectors.ts). */
interface InspectorCost {
  kind: string;
  segments: number;
  bytes: number;
  ns: number;
}

/** The inspectors timed segment by segment (src/bench/inspectors.ts) in a child process on one core: per kind, the most costly first. */
function inspectorsRun(file: string): InspectorCost[] {
  const r = spawnSync(ONE_CORE[0], [...ONE_CORE.slice(1), process.execPath, path.join(ROOT, 'dist', 'bench', 'inspectors.js'), file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`inspectors failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { kinds: InspectorCost[] }).kinds;
}

/** The floor (read, walk and decode: src/bench/floor.ts) in a child process on one core. */
function floorRun(file: string): { seconds: number; cpu: number } {
  const r = spawnSync(ONE_CORE[0], [...ONE_CORE.slice(1), process.execPath, path.join(ROOT, 'dist', 'bench', 'floor.js'), file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`floor failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { seconds: number; cpu: number };
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(fn: () => Promise<number> | number): Promise<{ seconds: number; packets: number }> {
  const t0 = process.hrtime.bigint();
  const packets = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, packets };
}

/** The targets each workload is read against (issues 11 and 22). */
const TARGETS: Record<string, { walk?: string; ndpi: string }> = {
  synthetic: { ndpi: '1.0' },
  'exchange-like': { walk: '0.20', ndpi: '2.0' },
  'org-mix': { walk: '0.30', ndpi: '2.0' },
};

interface Workload {
  name: string;
  file: string;
  /** The same packets as a directory of 8 files, for the ring-buffer figure. */
  ring?: string;
}

async function measure(w: Workload, db: string): Promise<string[]> {
  const size = fs.statSync(w.file).size;
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const d: number[] = [];
  const e: number[] = [];
  const ring: number[] = [];
  const rss: number[] = [];
  const gc: number[] = [];
  const rssRing: number[] = [];
  const curve = new Map<number, number[]>(THREAD_COUNTS.map((k) => [k, []]));
  const rssCurve: number[] = [];
  // One core (taskset -c 0): the floor, exflow --threads 1, ndpiReader; and CPU times.
  const pin = { floor: [] as number[], exflow: [] as number[], exflowCpu: [] as number[], ndpi: [] as number[], ndpiCpu: [] as number[] };
  const cpuB: number[] = [];
  const cpuD: number[] = [];
  const pinned = have('taskset');
  let phases = '';
  const ndpi = have('ndpiReader') && !(process.env.BENCH_SKIP ?? '').includes('ndpi');
  const tshark = have('tshark') && !(process.env.BENCH_SKIP ?? '').includes('tshark');
  let packets = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const ra = await timed(() => walk(w.file));
    a.push(ra.seconds);
    packets = ra.packets;
    const rb = analyzeRun(w.file, db);
    b.push(rb.seconds);
    cpuB.push(rb.cpu);
    if (round === Math.floor(ROUNDS / 2)) phases = rb.phases;
    rss.push(rb.rssMb);
    gc.push(rb.gcMs);
    c.push(analyzeRun(w.file, db, ['--no-rpc']).seconds);
    if (ndpi) {
      const t = peerRun('ndpiReader', ['-i', w.file, '-q']);
      if (t !== null) {
        d.push(t.seconds);
        cpuD.push(t.cpu);
      }
    }
    if (pinned) {
      pin.floor.push(floorRun(w.file).seconds);
      const r1 = analyzeRun(w.file, db, ['--threads', '1'], true);
      pin.exflow.push(r1.seconds);
      pin.exflowCpu.push(r1.cpu);
      if (ndpi) {
        const t = peerRun('ndpiReader', ['-i', w.file, '-q'], true);
        if (t !== null) {
          pin.ndpi.push(t.seconds);
          pin.ndpiCpu.push(t.cpu);
        }
      }
    }
    if (tshark && round === 0) {
      // Once per workload: on the Exchange-like file it takes minutes a run (and GBs of memory).
      const t = peerRun('tshark', ['-r', w.file, '-q', '-z', 'conv,tcp', '-z', 'conv,udp']);
      if (t !== null) e.push(t.seconds);
    }
    for (const k of THREAD_COUNTS) {
      const rk = analyzeRun(w.file, db, ['--threads', String(k)]);
      curve.get(k)!.push(rk.seconds);
      rssCurve.push(rk.rssMb);
    }
    if (w.ring) {
      const rr = analyzeRun(w.ring, db);
      ring.push(rr.seconds);
      rssRing.push(rr.rssMb);
    }
  }
  const A = median(a);
  const B = median(b);
  const mpps = (secs: number) => `${(packets / secs / 1e6).toFixed(2)} Mpps`;
  const line = (label: string, secs: number, extra = '') => `  ${label.padEnd(34)} ${secs.toFixed(2).padStart(6)} s  ${mpps(secs).padStart(10)}${extra}`;
  const out = [
    `${w.name}: ${w.file} (${(size / 1e6).toFixed(0)} MB, ${packets} packets), ${ROUNDS} rounds alternated, medians`,
    line('(a) bare record walk', A),
    line('(b) exflow analyze → SQLite', B, `   peak RSS ${Math.max(...rss).toFixed(0)} MB, GC ${median(gc).toFixed(0)} ms, CPU ${median(cpuB).toFixed(2)} s (${(median(cpuB) / B).toFixed(2)}× wall; target ≤ 1.2)`),
    `      phases of (b), middle round: ${phases}`,
    line('(c) exflow analyze --no-rpc', median(c)),
    d.length ? line('(d) ndpiReader -i FILE -q', median(d), `   CPU ${median(cpuD).toFixed(2)} s`) : `  (d) ndpiReader: ${skipped('ndpi') ? 'skipped (BENCH_SKIP)' : 'not installed (apt-get install libndpi-bin)'}`,
    e.length ? line('(e) tshark -z conv (round 1 only)', median(e)) : `  (e) tshark: ${skipped('tshark') ? 'skipped (BENCH_SKIP)' : 'not installed (apt-get install tshark)'}`,
  ];
  if (w.ring) out.push(line('(f) exflow analyze DIR (8 files)', median(ring), `   peak RSS ${Math.max(...rssRing).toFixed(0)} MB (one run, one stream)`));
  const one = median(curve.get(1)!);
  for (const k of THREAD_COUNTS) {
    const t = median(curve.get(k)!);
    out.push(line(`(g) exflow analyze --threads ${k}`, t, `   ×${(one / t).toFixed(2)} of --threads 1${k === THREAD_COUNTS.length ? `; peak RSS ${Math.max(...rssCurve).toFixed(0)} MB` : ''}`));
  }
  if (pinned) {
    const F = median(pin.floor);
    const X = median(pin.exflow);
    out.push(`  one core (taskset -c 0):`);
    out.push(line('(h) floor: read, walk and decode', F));
    out.push(line('(i) exflow analyze --threads 1', X, `   CPU ${median(pin.exflowCpu).toFixed(2)} s; ${(X - F).toFixed(2)} s above the floor (${(X / F).toFixed(2)}×)`));
    if (pin.ndpi.length) {
      out.push(line('(j) ndpiReader -i FILE -q', median(pin.ndpi), `   CPU ${median(pin.ndpiCpu).toFixed(2)} s`));
      out.push(`  (j)/(i) = ${(median(pin.ndpi) / X).toFixed(2)}   ndpiReader's time over exflow's on one core (target ≥ 1.5, the goal 2.0: issue 33)`);
    }
    // Once (after the rounds): each inspector's segment() calls timed, the making of it included.
    const kinds = inspectorsRun(w.file);
    const segments = kinds.reduce((n, k) => n + k.segments, 0);
    if (segments > 0) {
      const us = (k: { ns: number; segments: number }) => (k.ns / Math.max(k.segments, 1) / 1000).toFixed(2);
      const all = { ns: kinds.reduce((n, k) => n + k.ns, 0), segments };
      out.push(`  (k) inspectors: ${segments} segments, ${(all.ns / 1e6).toFixed(0)} ms, ${us(all)} µs a segment (target ≤ 1 µs on the org mix: issue 33)`);
      out.push(`      ${kinds.map((k) => `${k.kind} ${us(k)} µs × ${k.segments}`).join(', ')}`);
    }
  } else out.push('  one core: taskset not installed (util-linux); left out');
  const target = TARGETS[w.name];
  out.push(`  (b) rate / (a) rate = ${(A / B).toFixed(3)}   (target ≥ ${target.walk ?? '—'})`);
  if (d.length) out.push(`  (d)/(b) = ${(median(d) / B).toFixed(2)}   ndpiReader's time over exflow's (target ≥ ${target.ndpi})`);
  if (e.length) out.push(`  (e)/(b) = ${(median(e) / B).toFixed(2)}   tshark's time over exflow's`);
  out.push(`  (c)/(b) = ${(median(c) / B).toFixed(2)}   time without the inspectors over with them (1.00: they cost nothing)`);
  if (w.ring) out.push(`  (f)/(b) = ${(median(ring) / B).toFixed(2)}   a ring of 8 files over the one file (1.00: the files cost nothing)`);
  if (THREAD_COUNTS.length > 1) out.push(`  (g) --threads 1 over --threads ${THREAD_COUNTS.length} = ${(one / median(curve.get(THREAD_COUNTS.length)!)).toFixed(2)}   (target ≥ ${w.name === 'org-mix' && THREAD_COUNTS.length === 2 ? '1.5 with 2 threads' : '—'})`);
  return out;
}

const USAGE = `usage: npm run bench [-- --help]
Generates three workloads once (cached in .bench-cache/) and measures, in alternating
rounds, medians: (a) the bare record walk, (b) exflow analyze (default threads),
(c) --no-rpc, (d) ndpiReader and (e) tshark when installed, (f) the synthetic capture
as 8 files, (g) --threads 1 … the machine's cores; on one core (taskset -c 0) (h) the floor
(read, walk and decode), (i) exflow --threads 1, (j) ndpiReader; CPU time beside wall.
Environment: BENCH_ROUNDS (3), BENCH_PACKETS (1000000), BENCH_FLOWS (50000),
BENCH_EXCHANGE_PACKETS (3000000), BENCH_MIX_PACKETS (2000000), BENCH_SKIP (peers to
leave out: tshark, ndpi), BENCH_ONLY (startup: the sample analyzed by the installed
command beside Node's own start and ndpiReader; synthetic, exchange-like, org-mix,
reports, ship or engine: reports from ClickHouse beside SQLite).
The reports workload: a day of ~1M short real flows between 5,000 clients and the
servers (BENCH_REPORTS_PACKETS, 8200000), BENCH_REPORTS_DAYS days of it in one run
(1; 10 makes the 10M-flow database: ~14 GB of captures, cached) or, with
BENCH_REPORTS_DAILY=1, a run a day (as a site analyzing each day's captures has them),
every report timed; BENCH_REPORTS_FROM_FLOWS=0 leaves out each report's flow-scanning answer.
`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length > 0) {
    // Nothing is generated for --help (3 GB), nor for an argument the bench does not take.
    const help = args.includes('--help') || args.includes('-h');
    (help ? process.stdout : process.stderr).write(help ? USAGE : `bench: takes no arguments (${args.join(' ')}); settings are environment variables\n${USAGE}`);
    process.exitCode = help ? 0 : 64;
    return;
  }
  fs.mkdirSync(CACHE, { recursive: true });
  const file = path.join(CACHE, `bench-${PACKETS}-${FLOWS}.pcap`);
  if (!fs.existsSync(file)) {
    process.stdout.write(`generating ${file} (${PACKETS} packets, ~${FLOWS} flows; cached for later runs)…\n`);
    generate(file);
  }
  const ringDir = path.join(CACHE, `bench-${PACKETS}-${FLOWS}-ring8`);
  if (!fs.existsSync(path.join(ringDir, 'ring_00007.pcap'))) {
    process.stdout.write(`splitting it into 8 files in ${ringDir} (cached)…\n`);
    await splitInto(file, 8, ringDir, PACKETS);
  }
  const exchange = path.join(CACHE, `exchange-like-${EXCHANGE_PACKETS}.pcap`);
  if (!fs.existsSync(exchange)) {
    process.stdout.write(`generating ${exchange} (${EXCHANGE_PACKETS} packets, 40 Outlook clients, MAPI/NSPI/DRSUAPI/SMTP/LDAP/Kerberos/TLS; cached)…\n`);
    writeExchangeLike(exchange, { packets: EXCHANGE_PACKETS });
  }
  const mix = path.join(CACHE, `org-mix-${MIX_PACKETS}.pcap`);
  if (!fs.existsSync(mix)) {
    process.stdout.write(`generating ${mix} (${MIX_PACKETS} packets: long MAPI/NSPI/DRSUAPI sessions beside the lab's real conversations replayed by 40 clients; cached)…\n`);
    const r = await writeOrgDay(mix, { packets: MIX_PACKETS, templates: defaultTemplates(ROOT) });
    process.stdout.write(`  ${r.flows} short conversations from ${r.templates} templates\n`);
  }
  const db = path.join(os.tmpdir(), `exflow-bench-${process.pid}.sqlite`);
  const workloads: Workload[] = [
    { name: 'synthetic', file, ring: ringDir },
    { name: 'exchange-like', file: exchange },
    { name: 'org-mix', file: mix },
  ];
  const only = process.env.BENCH_ONLY;
  if (!only || only === 'startup') {
    const ndpi = have('ndpiReader') && !(process.env.BENCH_SKIP ?? '').includes('ndpi');
    process.stdout.write(measureStartup({ root: ROOT, rounds: ROUNDS, median, oneCore: have('taskset') ? ONE_CORE : null, ndpi }).join('\n') + '\n');
  }
  for (const w of workloads) {
    if (only && only !== w.name) continue;
    process.stdout.write((await measure(w, db)).join('\n') + '\n');
  }
  for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true });
  if (!only || only === 'reports') {
    const lines = await measureReports({ root: ROOT, cache: CACHE, rounds: ROUNDS, median }, (s) => process.stdout.write(s + '\n'));
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (!only || only === 'ship') {
    const lines = await measureShip({ root: ROOT, cache: CACHE, rounds: ROUNDS, median }, (s) => process.stdout.write(s + '\n'));
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (!only || only === 'engine') {
    const lines = await measureEngineReports({ root: ROOT, cache: CACHE, rounds: ROUNDS, median }, (s) => process.stdout.write(s + '\n'));
    process.stdout.write(lines.join('\n') + '\n');
  }
  process.stdout.write(
    'targets (issues 11 and 22, on a 2-core machine): exchange-like (b) ≥ 2× faster than ndpiReader and ≥ 20% of (a)\'s rate; ' +
      'org-mix (b) ≥ 2× faster than ndpiReader and ≥ 30% of (a)\'s rate, --threads 2 ≥ 1.5× --threads 1; ' +
      'synthetic (b) at least as fast as ndpiReader; peak RSS ≤ 256 MB\n',
  );
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
