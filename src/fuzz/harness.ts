// Structure-aware fuzzing of the whole pipeline — reader, decoders, flow table,
// DCE/RPC and SMB inspectors, classification, and (every so often) the database
// and every report — seeded from real captures, with oracles that can fail:
//
//   truncate      a capture cut anywhere: exactly the records wholly before the cut
//   gzip-cut      a gzipped capture cut anywhere: exactly the records in what inflates
//   gzip-trailer  a bad CRC, a wrong size, text after the member: every record
//   payload       DCE/RPC framing fields, NDR counts, SMB headers, random bytes in
//                 TCP/UDP payloads only: the same packets and the same 5-tuples
//   segments      TCP segments reordered, duplicated with overlap, lost: every packet
//   tunnel        packets inside 1-7 IP-in-IP layers: the inner 5-tuples up to 4 layers,
//                 counted as too deep beyond
//   blocks        bytes of record headers and blocks changed: no crash, no hang
//
// After every input the RPC memory budget must be back to zero. Exceptions are
// not caught anywhere inside the code under test (decoders throw only Malformed,
// which inspectors note): one that reaches this harness is a crash, saved with
// the seed and the input's number so it repeats.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { readCapture, readStream } from '../capture/reader';
import { pcapHeader, pcapngInterface, pcapngOption, pcapngSectionHeader } from '../samples/writer';
import type { PacketSink } from '../capture/sink';
import { servicePortTest } from '../classify/by-port';
import { classifyFlow } from '../classify/flow';
import { Inventory } from '../classify/inventory';
import { dcomActivatable, Inspectors, setupCalls } from '../inspect';
import { PacketIngest } from '../flow/ingest';
import { buildFlowRecord } from '../flow/record';
import { FlowTable } from '../flow/table';
import { loadRules, type RuleSet } from '../rules/load';
import { inspectorPorts } from '../rules/services';
import { openDb, type Db } from '../store/db';
import { NameWriter } from '../store/names';
import { RunStore } from '../store/runs';
import { CaptureStore } from '../store/captures';
import { conditionValues, protectionFindings } from '../audit/protection';
import { analyzeRun } from '../run/analyze';
import { Auditor } from '../run/audit';
import { SILENT } from '../run/progress';
import { queryEndpoints } from '../report/epm';
import { exportFlows } from '../report/export';
import { unexpectedReport, servicesReport } from '../report/findings';
import { queryFlows } from '../report/flows';
import { render, renderStream, FORMATS } from '../report/format';
import { queryHosts } from '../report/hosts';
import { htmlReport } from '../report/html';
import { matrixReport, matrixRows } from '../report/matrix';
import { roleServiceRows, rolesReport } from '../report/role-traffic';
import { queryRuns } from '../report/runs';
import { summaryReport } from '../report/summary';

export interface FuzzOptions {
  inputs: number;
  seed: number;
  /** Folders of seed captures (searched recursively). */
  seedDirs: string[];
  /** Every this many inputs, one goes through analyze into SQLite and every report. */
  reportEvery?: number;
  /** Where crashing and hanging inputs are saved. */
  crashDir?: string;
  /** An input that takes longer than this (ms) counts as a hang. */
  hangMs?: number;
  log?: (line: string) => void;
}

export interface FuzzFailure {
  index: number;
  kind: string;
  what: string;
  file: string | null;
}

export interface FuzzStats {
  inputs: number;
  seeds: number;
  byKind: Record<string, number>;
  crashes: number;
  hangs: number;
  /** Intact records an oracle expected that the reader did not deliver. */
  lostRecords: number;
  /** Oracle disagreements of any other kind (extra records, changed tuples, budget left over). */
  oracleFailures: number;
  reportRuns: number;
  slowestMs: number;
  seconds: number;
  failures: FuzzFailure[];
}

interface SeedRecord {
  linkType: number;
  sec: number;
  nsec: number;
  data: Buffer;
}

interface Seed {
  name: string;
  records: SeedRecord[];
}

/** xorshift32: small, seeded; the same seed gives the same inputs. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

// ---- seeds and the harness's own writers (their offsets are the oracles) ----

async function loadSeeds(dirs: string[]): Promise<Seed[]> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(pcap|pcapng|cap)$/.test(e.name) && fs.statSync(p).size <= 2_000_000) files.push(p);
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d);
  const seeds: Seed[] = [];
  for (const f of files.sort()) {
    const records: SeedRecord[] = [];
    const sink: PacketSink = {
      packet(linkType, sec, nsec, buf, off, capLen) {
        if (records.length < 400) records.push({ linkType, sec, nsec, data: Buffer.from(buf.subarray(off, off + capLen)) });
      },
    };
    try {
      await readCapture(f, sink);
    } catch {
      continue; // not a capture at all: not a seed
    }
    // One link type per seed, so it can be written as classic pcap too.
    const lt = records[0]?.linkType;
    const same = records.filter((r) => r.linkType === lt);
    if (same.length > 0) seeds.push({ name: path.basename(f), records: same });
  }
  return seeds;
}

/** Classic pcap, little-endian, µs; returns the bytes and where each record ends. */
function writePcap(records: SeedRecord[]): { bytes: Buffer; ends: number[] } {
  const parts: Buffer[] = [pcapHeader(262144, records[0]?.linkType ?? 1)];
  let at = 24;
  const ends: number[] = [];
  for (const r of records) {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(r.sec >>> 0, 0);
    rh.writeUInt32LE(Math.floor(r.nsec / 1000), 4);
    rh.writeUInt32LE(r.data.length, 8);
    rh.writeUInt32LE(r.data.length, 12);
    parts.push(rh, r.data);
    at += 16 + r.data.length;
    ends.push(at);
  }
  return { bytes: Buffer.concat(parts), ends };
}

/** pcapng, little-endian, one interface (ns resolution); record ends as for writePcap. */
function writePcapng(records: SeedRecord[]): { bytes: Buffer; ends: number[] } {
  // if_tsresol 9: nanoseconds.
  const parts: Buffer[] = [pcapngSectionHeader(), pcapngInterface(records[0]?.linkType ?? 1, pcapngOption(9, Buffer.from([9])))];
  let at = 60;
  const ends: number[] = [];
  for (const r of records) {
    const padded = (r.data.length + 3) & ~3;
    const len = 32 + padded;
    const b = Buffer.alloc(len);
    const t = BigInt(r.sec) * 1_000_000_000n + BigInt(r.nsec);
    b.writeUInt32LE(6, 0);
    b.writeUInt32LE(len, 4);
    b.writeUInt32LE(Number(t >> 32n), 12);
    b.writeUInt32LE(Number(t & 0xffffffffn), 16);
    b.writeUInt32LE(r.data.length, 20);
    b.writeUInt32LE(r.data.length, 24);
    r.data.copy(b, 28);
    b.writeUInt32LE(len, len - 4);
    parts.push(b);
    at += len;
    ends.push(at);
  }
  return { bytes: Buffer.concat(parts), ends };
}

// ---- where the transport payload of an Ethernet/IPv4 record starts (for payload-only mutation) ----

function ipv4At(linkType: number, d: Buffer): number {
  if (linkType === 1 && d.length >= 34 && d.readUInt16BE(12) === 0x0800) return 14;
  if (linkType === 1 && d.length >= 38 && d.readUInt16BE(12) === 0x8100 && d.readUInt16BE(16) === 0x0800) return 18;
  if ((linkType === 101 || linkType === 12) && d.length >= 20 && d[0] >> 4 === 4) return 0;
  return -1;
}

/** Where the transport header and its payload start in a plain TCP/UDP-in-IPv4 record, or null. */
function transportOf(r: SeedRecord): { l4: number; payload: number; proto: number } | null {
  const ip = ipv4At(r.linkType, r.data);
  if (ip < 0) return null;
  const d = r.data;
  const ihl = (d[ip] & 15) * 4;
  const proto = d[ip + 9];
  if ((d.readUInt16BE(ip + 6) & 0x3fff) !== 0) return null; // fragments: not touched
  const l4 = ip + ihl;
  if (proto === 6 && d.length >= l4 + 20) return { l4, payload: l4 + ((d[l4 + 12] >> 4) * 4), proto };
  if (proto === 17 && d.length >= l4 + 8) return { l4, payload: l4 + 8, proto };
  return null;
}

// ---- mutators ----

/** A UDP payload that is itself a packet (VXLAN): changing it changes the inner 5-tuple, so it is left alone. */
function carriesPackets(r: SeedRecord, t: { l4: number; proto: number }): boolean {
  return t.proto === 17 && (r.data.readUInt16BE(t.l4) === 4789 || r.data.readUInt16BE(t.l4 + 2) === 4789);
}

/** A record the tunnel oracles can reason about: plain TCP/UDP in IPv4, no encapsulation of its own. */
function plainTransport(r: SeedRecord): boolean {
  const t = transportOf(r);
  return t !== null && !carriesPackets(r, t);
}

function mutatePayload(r: SeedRecord, rand: () => number): SeedRecord {
  const t = transportOf(r);
  if (!t || t.payload >= r.data.length || carriesPackets(r, t)) return r;
  const d = Buffer.from(r.data);
  const p = t.payload;
  const n = d.length - p;
  const pick = Math.floor(rand() * 6);
  // DCE/RPC connection-oriented header: version 5 at payload byte 0.
  const rpc = d[p] === 5 && n >= 16 ? p : -1;
  // SMB2 over NetBIOS session: 0x00, length, then 0xFE 'SMB'.
  const smb = n >= 68 && d[p] === 0 && d[p + 4] === 0xfe && d[p + 5] === 0x53 ? p + 4 : -1;
  const u16 = (at: number, v: number) => at + 2 <= d.length && d.writeUInt16LE(v & 0xffff, at);
  const u32 = (at: number, v: number) => at + 4 <= d.length && d.writeUInt32LE(v >>> 0, at);
  const wild = () => (rand() < 0.5 ? [0, 1, 0xffff, 0xffffffff, 0x7fffffff, 0x10000][Math.floor(rand() * 6)] : Math.floor(rand() * 0x100000000));
  if (rpc >= 0 && pick <= 2) {
    // frag_length, auth_length, packet type and flags, call id; or an NDR count in the stub.
    const field = Math.floor(rand() * 6);
    if (field === 0) u16(rpc + 8, wild());
    else if (field === 1) u16(rpc + 10, wild());
    else if (field === 2) d[rpc + 2] = Math.floor(rand() * 20);
    else if (field === 3) d[rpc + 3] = Math.floor(rand() * 256);
    else if (field === 4) d[rpc + 4] = rand() < 0.5 ? 0x00 : 0x10; // integer byte order
    else u32(rpc + 24 + 4 * Math.floor(rand() * Math.max(1, (n - 28) / 4)), wild());
  } else if (smb >= 0 && pick <= 3) {
    const field = Math.floor(rand() * 4);
    if (field === 0) u16(smb + 12, Math.floor(rand() * 20)); // command
    else if (field === 1) u32(smb + 20, wild()); // next command
    else if (field === 2) u16(smb + 64 + 2 * Math.floor(rand() * 8), wild()); // body offsets and lengths
    else u32(smb + 64 + 4 * Math.floor(rand() * 8), wild());
  } else if (pick === 5 && hostileText(d, p, rand)) {
    // done: a name, principal or header from the wire now holds a byte no name may hold
  } else {
    for (let i = 0, k = 1 + Math.floor(rand() * 6); i < k; i++) d[p + Math.floor(rand() * n)] ^= 1 << Math.floor(rand() * 8);
  }
  return { ...r, data: d };
}

/** Bytes names are read from and none may hold: NUL, line ends, quotes, DEL, a lone UTF-8 lead byte, backslash. */
const HOSTILE_BYTES = [0x00, 0x0a, 0x0d, 0x22, 0x27, 0x7f, 0xe2, 0x5c, 0x2c, 0x3b];

/**
 * Replaces one byte in each of a few runs of printable text in the payload (service
 * principals, DNS labels, host headers, banners) by a hostile byte, lengths unchanged.
 * False when the payload holds no text run.
 */
function hostileText(d: Buffer, from: number, rand: () => number): boolean {
  const runs: [number, number][] = [];
  for (let i = from, start = -1; i <= d.length; i++) {
    const printable = i < d.length && d[i] >= 0x21 && d[i] <= 0x7e;
    if (printable && start < 0) start = i;
    else if (!printable && start >= 0) {
      if (i - start >= 3) runs.push([start, i]);
      start = -1;
    }
  }
  if (runs.length === 0) return false;
  for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
    const [a, b] = runs[Math.floor(rand() * runs.length)];
    d[a + Math.floor(rand() * (b - a))] = HOSTILE_BYTES[Math.floor(rand() * HOSTILE_BYTES.length)];
  }
  return true;
}

/** TCP segments reordered within a window, some duplicated (a retransmission, or overlapping by a few bytes), some lost. */
function mutateSegments(records: SeedRecord[], rand: () => number): SeedRecord[] {
  const out: SeedRecord[] = [];
  for (const r of records) {
    const x = rand();
    if (x < 0.05) continue; // lost
    out.push(r);
    if (x > 0.92) {
      const t = transportOf(r);
      if (t && t.proto === 6 && t.payload < r.data.length - 4 && rand() < 0.5) {
        // An overlapping copy: sequence number moved back by up to 8 bytes, payload shifted alike.
        const d = Buffer.from(r.data);
        const back = 1 + Math.floor(rand() * 8);
        d.writeUInt32BE((d.readUInt32BE(t.l4 + 4) - back) >>> 0, t.l4 + 4);
        out.push({ ...r, data: d });
      } else out.push(r);
    }
  }
  for (let i = 0; i < out.length; i++) {
    if (rand() < 0.15) {
      const j = Math.min(out.length - 1, i + 1 + Math.floor(rand() * 4));
      [out[i], out[j]] = [out[j], out[i]];
    }
  }
  return out;
}

/** Each plain IPv4 record wrapped in `depth` outer IPv4 headers (protocol 4, IP-in-IP). */
function tunnel(records: SeedRecord[], depth: number): SeedRecord[] {
  return records.map((r) => {
    const ip = ipv4At(r.linkType, r.data);
    if (ip < 0) return r;
    let inner = r.data.subarray(ip);
    for (let k = 0; k < depth; k++) {
      const h = Buffer.alloc(20);
      h[0] = 0x45;
      h.writeUInt16BE(20 + inner.length, 2);
      h[8] = 64;
      h[9] = 4;
      h.writeUInt32BE(0x0a630000 + k, 12);
      h.writeUInt32BE(0x0a640000 + k, 16);
      inner = Buffer.concat([h, inner]);
    }
    return { ...r, data: Buffer.concat([r.data.subarray(0, ip), inner]) };
  });
}

function mutateBlocks(bytes: Buffer, rand: () => number): Buffer {
  const d = Buffer.from(bytes);
  for (let i = 0, k = 1 + Math.floor(rand() * 4); i < k; i++) {
    const at = Math.floor(rand() * Math.min(d.length, 4096));
    if (rand() < 0.5) d[at] ^= 1 << Math.floor(rand() * 8);
    else if (at + 4 <= d.length) d.writeUInt32LE(rand() < 0.5 ? 0xffffffff : Math.floor(rand() * 0x100000000), at & ~3);
  }
  return d;
}

// ---- the pipeline under test ----

interface RunResult {
  packets: number;
  tuples: string[];
  tooDeep: number;
  budgetLeft: number;
}

class Pipeline {
  private readonly names: NameWriter;
  private readonly inspectors: Inspectors;
  private readonly table: FlowTable;
  private readonly ingest: PacketIngest;
  private readonly isServicePort: (t: 'tcp' | 'udp', p: number) => boolean;

  /** @param db where each input's names and evidence are written (and emptied after), as a run writes them */
  constructor(private readonly rules: RuleSet, private readonly db: Db, private readonly captureId: number) {
    this.names = new NameWriter(db);
    // Every inspector (DCE/RPC, SMB, DCOM, TLS, STARTTLS, HTTP, the mapper over UDP), with a
    // small budget, so its bound is reached and its refusals exercised.
    this.inspectors = new Inspectors(inspectorPorts(rules.services), { budget: 4 << 20, dcomIids: dcomActivatable(rules.rpcInterfaces.values()), udpPorts: inspectorPorts(rules.services, 'udp'), setupCalls: setupCalls(rules.rpcInterfaces.values()) });
    this.table = new FlowTable({ capacity: 2048, inspectors: this.inspectors });
    this.ingest = new PacketIngest(this.table);
    this.isServicePort = servicePortTest(rules);
  }

  async run(bytes: Buffer): Promise<RunResult> {
    const tuples: string[] = [];
    this.table.setFlushHandler((t, i) => {
      const rec = buildFlowRecord(t, i, this.isServicePort);
      // Everything a run derives from a flow's facts: names (written below) and protection findings.
      const c = classifyFlow(this.rules, rec);
      protectionFindings(this.rules.protection, conditionValues(c.labels.service, c.payload, c.protection));
      this.names.add(this.captureId, rec.firstSec, rec.lastSec, c.names.names, c.names.evidence);
      const a = `${rec.client}:${rec.clientPort}`;
      const b = `${rec.server}:${rec.serverPort}`;
      tuples.push(`${rec.transport} ${a < b ? a + ' ' + b : b + ' ' + a}`);
    });
    this.ingest.beginCapture(0);
    try {
      await readStream('fuzz-input', Readable.from([bytes]), this.ingest);
    } catch (e) {
      if (!(e as Error).name?.startsWith('CaptureOpen')) throw e;
    }
    this.table.flushAll();
    this.names.flush();
    this.db.exec('DELETE FROM host_names; DELETE FROM name_evidence');
    return { packets: this.ingest.counters.packets, tuples: [...new Set(tuples)].sort(), tooDeep: this.ingest.decoder.tooDeep, budgetLeft: this.inspectors.rpc.budget.used };
  }
}

/** One input through analyze into a fresh database, then every report in every format. */
async function throughReports(rules: RuleSet, bytes: Buffer, dir: string): Promise<void> {
  const file = path.join(dir, 'input.pcap');
  fs.writeFileSync(file, bytes);
  const dbPath = path.join(dir, `fuzz-${process.pid}.sqlite`);
  for (const ext of ['', '-wal', '-shm']) fs.rmSync(dbPath + ext, { force: true });
  const db = openDb(dbPath, { create: true });
  try {
    const auditor = new Auditor(db, rules, new Inventory([]));
    await analyzeRun(db, rules, [{ path: file, found: false }], {
      force: true, separate: false, progress: SILENT, flushInterval: 60, command: 'fuzz', version: 'fuzz',
      audit: (runId) => void auditor.finish(false, runId), shouldStop: () => false, warn: () => {},
    });
    const f = {};
    const sinks: string[] = [];
    const s = summaryReport(db, f);
    sinks.push(JSON.stringify(s));
    const tables = [
      queryHosts(db), queryEndpoints(db, {}), queryRuns(db), unexpectedReport(db, f), servicesReport(db, f),
      matrixRows(matrixReport(db, rules, f)), roleServiceRows(rolesReport(db, f)),
    ];
    for (const rows of tables) {
      const cols = rows.length ? Object.keys(rows[0]) : ['none'];
      for (const fm of FORMATS) sinks.push(render(rows, cols, fm));
    }
    for (const fm of FORMATS) renderStream(queryFlows(db, {}), ['client', 'server', 'service', 'rpc_note', 'first_seen'], fm, (x) => sinks.push(x));
    for (const fm of ['ndjson', 'bulk', 'csv'] as const) exportFlows(db, rules, f, fm, (x) => sinks.push(x));
    sinks.push(htmlReport(db, rules, f, 'fuzz'));
    for (const line of sinks.join('').split('\n')) if (line.startsWith('{') && line.endsWith('}')) JSON.parse(line);
  } finally {
    db.close();
  }
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzStats> {
  const t0 = Date.now();
  const rules = loadRules();
  const seeds = await loadSeeds(o.seedDirs);
  if (seeds.length === 0) throw new Error(`no seed captures under ${o.seedDirs.join(', ')}`);
  const rand = rng(o.seed);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'exflow-fuzz-'));
  const namesDb = openDb(path.join(work, 'names.sqlite'), { create: true });
  // The names' rows need a capture (and a run) to belong to.
  const runId = new RunStore(namesDb).begin('fuzz', false, false, 'fuzz', 'fuzz');
  const captureId = new CaptureStore(namesDb, 'fuzz').begin('fuzz-input', 0, 'fuzz', { runId, streamId: null, position: 0, headDigest: null });
  const pipe = new Pipeline(rules, namesDb, captureId);
  const stats: FuzzStats = { inputs: 0, seeds: seeds.length, byKind: {}, crashes: 0, hangs: 0, lostRecords: 0, oracleFailures: 0, reportRuns: 0, slowestMs: 0, seconds: 0, failures: [] };
  const hangMs = o.hangMs ?? 2000;
  const reportEvery = o.reportEvery ?? 2000;
  const kinds = ['truncate', 'gzip-cut', 'gzip-trailer', 'payload', 'payload', 'segments', 'tunnel', 'blocks'] as const;
  const baseline = new Map<string, RunResult>();
  const fail = (index: number, kind: string, what: string, bytes: Buffer | null) => {
    let file: string | null = null;
    if (bytes && o.crashDir && stats.failures.length < 50) {
      fs.mkdirSync(o.crashDir, { recursive: true });
      file = path.join(o.crashDir, `seed${o.seed}-input${index}-${kind}.bin`);
      fs.writeFileSync(file, bytes);
    }
    if (stats.failures.length < 50) stats.failures.push({ index, kind, what, file });
    if (stats.failures.length <= 50) o.log?.(`FAIL input ${index} (${kind}): ${what}${file ? ` → ${file}` : ''}`);
  };

  try {
    for (let index = 0; index < o.inputs; index++) {
      const seed = seeds[Math.floor(rand() * seeds.length)];
      const kind = kinds[Math.floor(rand() * kinds.length)];
      const ng = rand() < 0.5;
      const written = ng ? writePcapng(seed.records) : writePcap(seed.records);
      let bytes = written.bytes;
      let expect: number | null = null;
      let sameTuplesAs: string | null = null;
      let wantDeep = -1;
      switch (kind) {
        case 'truncate': {
          const cut = Math.floor(rand() * (bytes.length + 1));
          bytes = bytes.subarray(0, cut);
          expect = written.ends.filter((e) => e <= cut).length;
          break;
        }
        case 'gzip-cut': {
          const gz = zlib.gzipSync(bytes, { level: 1 + Math.floor(rand() * 9) });
          const cut = 10 + Math.floor(rand() * (gz.length - 9));
          bytes = gz.subarray(0, cut);
          // The oracle: what zlib's one-shot inflate gives of that prefix.
          let inflated = 0;
          try {
            inflated = zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length;
          } catch {
            inflated = 0;
          }
          expect = written.ends.filter((e) => e <= inflated).length;
          break;
        }
        case 'gzip-trailer': {
          const gz = zlib.gzipSync(bytes);
          const how = Math.floor(rand() * 3);
          if (how === 0) gz[gz.length - 8] ^= 0xff;
          else if (how === 1) gz[gz.length - 1] ^= 0x55;
          bytes = how === 2 ? Buffer.concat([gz, Buffer.from('junk after the member\n')]) : gz;
          expect = seed.records.length;
          break;
        }
        case 'payload': {
          const recs = seed.records.map((r) => (rand() < 0.3 ? mutatePayload(r, rand) : r));
          bytes = (ng ? writePcapng(recs) : writePcap(recs)).bytes;
          expect = recs.length;
          sameTuplesAs = seed.name;
          break;
        }
        case 'segments': {
          const recs = mutateSegments(seed.records, rand);
          bytes = (ng ? writePcapng(recs) : writePcap(recs)).bytes;
          expect = recs.length;
          break;
        }
        case 'tunnel': {
          const depth = 1 + Math.floor(rand() * 7);
          // Only captures of plain TCP/UDP-in-IPv4 records: one with its own tunnels (GRE, VXLAN) would
          // reach the depth limit sooner, as it should, and the oracles below would not know.
          const plain = seed.records.every((r) => ipv4At(r.linkType, r.data) < 0 || plainTransport(r));
          const recs = tunnel(seed.records, depth);
          bytes = (ng ? writePcapng(recs) : writePcap(recs)).bytes;
          expect = recs.length;
          if (plain && depth <= 4) sameTuplesAs = seed.name;
          else if (plain) wantDeep = seed.records.filter((r) => ipv4At(r.linkType, r.data) >= 0).length;
          break;
        }
        default:
          bytes = mutateBlocks(bytes, rand);
      }
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
      const started = Date.now();
      let got: RunResult;
      try {
        got = await pipe.run(bytes);
      } catch (e) {
        stats.crashes++;
        fail(index, kind, `exception: ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`, bytes);
        continue;
      }
      const ms = Date.now() - started;
      stats.slowestMs = Math.max(stats.slowestMs, ms);
      if (ms > hangMs) {
        stats.hangs++;
        fail(index, kind, `took ${ms} ms`, bytes);
      }
      if (got.budgetLeft !== 0) {
        stats.oracleFailures++;
        fail(index, kind, `payload budget not returned: ${got.budgetLeft} bytes still taken`, bytes);
      }
      if (expect !== null && got.packets !== expect) {
        if (got.packets < expect) stats.lostRecords += expect - got.packets;
        else stats.oracleFailures++;
        fail(index, kind, `expected ${expect} records, read ${got.packets}`, bytes);
      }
      if (sameTuplesAs !== null) {
        let base = baseline.get(sameTuplesAs);
        if (!base) {
          base = await pipe.run(writePcap(seed.records).bytes);
          baseline.set(sameTuplesAs, base);
        }
        if (base.tuples.join('\n') !== got.tuples.join('\n')) {
          stats.oracleFailures++;
          fail(index, kind, `5-tuples differ from the unmutated capture (${got.tuples.length} against ${base.tuples.length})`, bytes);
        }
      }
      if (wantDeep >= 0 && got.tooDeep !== wantDeep) {
        stats.oracleFailures++;
        fail(index, kind, `expected ${wantDeep} packets counted as too deep, got ${got.tooDeep}`, bytes);
      }
      if (index % reportEvery === reportEvery - 1) {
        try {
          await throughReports(rules, bytes, work);
          stats.reportRuns++;
        } catch (e) {
          stats.crashes++;
          fail(index, kind, `analyze or a report failed: ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ')}`, bytes);
        }
      }
      stats.inputs++;
      if (o.log && stats.inputs % 50_000 === 0) o.log(`${stats.inputs} inputs, ${stats.crashes} crashes, ${stats.hangs} hangs, ${stats.lostRecords} lost, ${stats.oracleFailures} oracle failures, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    namesDb.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
  stats.seconds = (Date.now() - t0) / 1000;
  return stats;
}
