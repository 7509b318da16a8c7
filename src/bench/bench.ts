#!/usr/bin/env node
// npm run bench: throughput as ratios between variants measured in the same run
// (shared machines are noisy; absolute packets/s drift, ratios hold).
//   (a) the bare record walk of exflow's reader
//   (b) exflow analyze end to end into SQLite (a child process, so its peak RSS is its own)
//   (c) pcap-parser feeding the same decoder and flow table
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../capture/reader';
import { PacketIngest } from '../flow/ingest';
import { FlowTable } from '../flow/table';
import { writeSynthetic } from '../samples/synthetic';
import { PcapFileWriter } from '../samples/writer';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, '.bench-cache');
const PACKETS = Number(process.env.BENCH_PACKETS ?? 1_000_000);
const FLOWS = Number(process.env.BENCH_FLOWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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

function pcapParserRun(file: string): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pcapParser = require('pcap-parser');
  const table = new FlowTable({});
  const ingest = new PacketIngest(table);
  return new Promise((resolve, reject) => {
    const p = pcapParser.parse(fs.createReadStream(file));
    let linkType = 1;
    p.on('globalHeader', (h: { linkLayerType: number }) => (linkType = h.linkLayerType));
    p.on('packet', (pkt: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) => {
      ingest.packet(linkType, pkt.header.timestampSeconds, pkt.header.timestampMicroseconds * 1000, pkt.data, 0, pkt.header.capturedLength, pkt.header.originalLength);
    });
    p.on('end', () => {
      table.flushAll();
      resolve(ingest.counters.packets);
    });
    p.on('error', reject);
  });
}

/** The real CLI in a child process; returns its wall time and peak RSS. */
function analyzeRun(file: string, db: string, extra: string[] = []): { seconds: number; rssMb: number; packets: number } {
  // A fresh database each round: a first analysis, not a --force re-run (which also re-hashes and deletes).
  for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true });
  const script = `
    const { main } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))});
    const t0 = process.hrtime.bigint();
    main(['node', 'exflow', 'analyze', ${JSON.stringify(file)}, '--db', ${JSON.stringify(db)}, '--quiet', ...${JSON.stringify(extra)}]).then((code) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ code, seconds: s, rssMb: process.resourceUsage().maxRSS / 1024 }));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const out = JSON.parse(r.stdout || '{}');
  if (out.code !== 0) throw new Error(`analyze failed: ${r.stderr}`);
  const Database = require('better-sqlite3');
  const d = new Database(db, { readonly: true });
  const packets = d.prepare('SELECT sum(packets) AS n FROM capture_view').get().n as number;
  d.close();
  return { seconds: out.seconds, rssMb: out.rssMb, packets };
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

async function main(): Promise<void> {
  fs.mkdirSync(CACHE, { recursive: true });
  const file = path.join(CACHE, `bench-${PACKETS}-${FLOWS}.pcap`);
  if (!fs.existsSync(file)) {
    process.stdout.write(`generating ${file} (${PACKETS} packets, ~${FLOWS} flows; cached for later runs)…\n`);
    generate(file);
  }
  const size = fs.statSync(file).size;
  const ringDir = path.join(CACHE, `bench-${PACKETS}-${FLOWS}-ring8`);
  if (!fs.existsSync(path.join(ringDir, 'ring_00007.pcap'))) {
    process.stdout.write(`splitting it into 8 files in ${ringDir} (cached)…\n`);
    await splitInto(file, 8, ringDir, PACKETS);
  }
  const db = path.join(os.tmpdir(), `exflow-bench-${process.pid}.sqlite`);
  process.stdout.write(`capture: ${file} (${(size / 1e6).toFixed(0)} MB), ${ROUNDS} rounds, variants alternated, medians\n`);
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const d: number[] = [];
  const e: number[] = [];
  const rss: number[] = [];
  const rssRing: number[] = [];
  let flows = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const ra = await timed(() => walk(file));
    a.push(ra.packets / ra.seconds);
    const rb = analyzeRun(file, db);
    b.push(rb.packets / rb.seconds);
    rss.push(rb.rssMb);
    const rc = await timed(() => pcapParserRun(file));
    c.push(rc.packets / rc.seconds);
    const rd = analyzeRun(file, db, ['--no-rpc']);
    d.push(rd.packets / rd.seconds);
    const re = analyzeRun(ringDir, db);
    e.push(re.packets / re.seconds);
    rssRing.push(re.rssMb);
  }
  {
    const Database = require('better-sqlite3');
    const d = new Database(db, { readonly: true });
    flows = d.prepare('SELECT count(*) AS n FROM flow_view').get().n;
    d.close();
  }
  for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true });
  const A = median(a);
  const B = median(b);
  const C = median(c);
  const D = median(d);
  const E = median(e);
  const fmt = (x: number) => `${(x / 1e6).toFixed(2)} Mpps`;
  process.stdout.write(
    [
      `(a) reader record walk           ${fmt(A)}`,
      `(b) exflow analyze → SQLite      ${fmt(B)}   (${flows} flows, peak RSS ${Math.max(...rss).toFixed(0)} MB)`,
      `(c) pcap-parser + same decoder   ${fmt(C)}`,
      `(d) exflow analyze --no-rpc      ${fmt(D)}`,
      `(e) exflow analyze DIR (8 files)  ${fmt(E)}   (one run, one stream; peak RSS ${Math.max(...rssRing).toFixed(0)} MB)`,
      `(b)/(a) = ${(B / A).toFixed(2)}   (target ≥ 0.40)`,
      `(b)/(c) = ${(B / C).toFixed(2)}`,
      `(b)/(d) = ${(B / D).toFixed(2)}   (the DCE/RPC layer's cost: 1.00 = none)`,
      `(e)/(b) = ${(E / B).toFixed(2)}   (a ring of 8 files against the one file: 1.00 = no cost for the files)`,
      `targets on a 2-core machine: (b) ≥ 2 Mpps, peak RSS ≤ 256 MB`,
    ].join('\n') + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
