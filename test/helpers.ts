import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../src/capture/reader';
import { PacketIngest } from '../src/flow/ingest';
import { buildFlowRecord, type FlowRecord } from '../src/flow/record';
import { FlowTable } from '../src/flow/table';
import { loadRules } from '../src/rules/load';
import { servicePortTest } from '../src/classify/by-port';
import { RpcInspectorFactory } from '../src/inspect/dcerpc/factory';
import { inspectorPorts } from '../src/rules/services';

export const ROOT = path.resolve(__dirname, '..');
export const SHARED = path.resolve(ROOT, '..', 'shared', 'captures');
/** The shared captures exist in CI and next to the team's checkouts, not in a user's fresh clone. */
export const HAVE_SHARED = fs.existsSync(SHARED);
export const HAVE_TSHARK = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
/** The installed command: the bundle (npm run build), or main.js when the bundle is older than it. */
export const CLI = path.join(ROOT, 'dist', 'cli', 'exflow.js');
/** The command line's module (its main()), for a test that runs it in a process of its own making. */
export const CLI_MODULE = path.join(ROOT, 'dist', 'cli', 'main.js');

if (!HAVE_SHARED) console.warn(`shared captures not found at ${SHARED}: the tests that need them are skipped`);
if (!HAVE_TSHARK) console.warn('tshark not installed: the tshark-oracle tests are skipped (apt-get install tshark)');

export function shared(...p: string[]): string {
  return path.join(SHARED, ...p);
}

export function captureFiles(dir: string): string[] {
  return fs
    .readdirSync(shared(dir))
    .filter((f) => !f.endsWith('.tsv') && !f.endsWith('.md'))
    .sort()
    .map((f) => shared(dir, f));
}

const rules = loadRules();

/** Runs a capture through reader, decoder and flow table; returns the flow records. */
export async function flowsOf(file: string, opts: { capacity?: number; rpc?: boolean } = {}): Promise<{ flows: FlowRecord[]; ingest: PacketIngest; status: string }> {
  const inspectors = opts.rpc ? new RpcInspectorFactory(inspectorPorts(rules.services)) : null;
  const table = new FlowTable({ capacity: opts.capacity, inspectors });
  const ingest = new PacketIngest(table);
  const flows: FlowRecord[] = [];
  const test = servicePortTest(rules);
  table.setFlushHandler((t, i) => flows.push(buildFlowRecord(t, i, test)));
  const r = await readCapture(file, ingest);
  table.flushAll();
  return { flows, ingest, status: r.status };
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): { code: number; stdout: string; stderr: string } {
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: opts.cwd ?? ROOT, maxBuffer: 1 << 28, env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A new directory under the run's (test/global-tmp.ts: removed when the run ends). */
export function tmpDir(): string {
  const root = process.env.EXFLOW_TEST_TMP ?? os.tmpdir();
  return fs.mkdtempSync(path.join(root, 'exflow-test-'));
}

/** A copy of database `from` at `to` with `sql` run on it: a database damaged or odd in one known way. */
export function alteredCopy(from: string, to: string, sql: string): string {
  fs.copyFileSync(from, to);
  const Database = require('better-sqlite3');
  const d = new Database(to);
  try {
    d.exec(sql);
  } finally {
    d.close();
  }
  return to;
}

/** A flow as an orientation-free key: "tcp 10.0.0.1:1234 > 10.0.0.2:80". */
export function flowKey(f: { transport: string; client: string; clientPort: number; server: string; serverPort: number }): string {
  return `${f.transport} ${f.client}:${f.clientPort} > ${f.server}:${f.serverPort}`;
}

/** Whether process `pid` holds `file` open now (Linux: its /proc/PID/fd links). */
export function holdsOpen(pid: number, file: string): boolean {
  const want = fs.realpathSync(file);
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === want;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Bytes process `pid` has read so far, by any means (Linux: rchar of /proc/PID/io), or -1 when it is gone. */
export function bytesRead(pid: number): number {
  try {
    return Number(/^rchar:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? -1);
  } catch {
    return -1;
  }
}

/** Polls `ready` every 5 ms until it holds (true) or `ms` pass (false): tests signal a run once it is under way, not after a guessed delay. */
export async function waitFor(ready: () => boolean, ms = 60_000): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    if (ready()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/**
 * What a terminal shows for these bytes: one string per line, trailing blanks dropped. The
 * controls a progress bar uses are a terminal's: carriage return, ESC[nG (to column n), ESC[0K
 * (clear to the right), ESC[2K (clear the line), ESC[nA (up n lines), ESC[0J (clear to the end of
 * the screen); other ESC sequences (cursor shown or hidden, wrapping) change nothing shown.
 */
export function screen(written: string): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  const tokens = written.match(/\x1b\[[?]?[0-9;]*[A-Za-z]|\x1b[78]|[\s\S]/g) ?? [];
  for (const t of tokens) {
    if (t === '\n') {
      row++;
      col = 0;
      lines[row] ??= [];
    } else if (t === '\r') col = 0;
    else if (t.startsWith('\x1b')) {
      const m = /^\x1b\[(\d*)([A-Za-z])$/.exec(t);
      if (!m) continue;
      const n = m[1] === '' ? 0 : Number(m[1]);
      if (m[2] === 'G') col = Math.max(0, (n || 1) - 1);
      else if (m[2] === 'K') lines[row] = n === 2 ? [] : n === 1 ? lines[row].map((c, i) => (i <= col ? ' ' : c)) : lines[row].slice(0, col);
      else if (m[2] === 'A') row = Math.max(0, row - (n || 1));
      else if (m[2] === 'J' && n === 0) {
        lines[row] = lines[row].slice(0, col);
        lines.length = row + 1;
      }
    } else {
      lines[row][col++] = t;
    }
  }
  return lines.map((l) => Array.from(l, (c) => c ?? ' ').join('').trimEnd());
}

/** What tshark reads in a capture, for the oracles that compare with it (flows-tshark, ecs). */
export interface TsharkReading {
  /** The lines of its conversation tables (-z conv,tcp and conv,udp). */
  conversations: string[];
  /** Per packet: the innermost IPv4 and IPv6 addresses and TCP/UDP ports, and its Community ID, tab-separated. */
  packets: string[];
}

/**
 * One tshark run per capture for the whole suite: tshark spends half a second starting, and two
 * test files read every shared capture. Kept in the run's folder (global-tmp.ts) by the file's
 * path; a capture damaged on purpose gives what tshark read before the damage.
 */
export function tsharkReading(file: string): TsharkReading {
  const folder = path.join(process.env.EXFLOW_TEST_TMP ?? os.tmpdir(), 'tshark');
  const kept = path.join(folder, `${crypto.createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 32)}.json`);
  fs.mkdirSync(folder, { recursive: true });
  // One test file runs tshark on a capture; another that asks meanwhile waits for its reading.
  let mine = false;
  for (const until = Date.now() + 120_000; !fs.existsSync(kept) && !mine && Date.now() < until; ) {
    try {
      fs.closeSync(fs.openSync(`${kept}.lock`, 'wx'));
      mine = true;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  if (fs.existsSync(kept)) return JSON.parse(fs.readFileSync(kept, 'utf8')) as TsharkReading;
  const r = spawnSync('tshark', ['-n', '-r', file, '--enable-protocol', 'communityid', '-T', 'fields', '-E', 'occurrence=l', '-E', 'separator=\t',
    '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'udp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'udp.dstport', '-e', 'communityid',
    '-z', 'conv,tcp', '-z', 'conv,udp'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const lines = (r.stdout ?? '').split('\n');
  // The packets' lines, then the tables, each begun by a line of '='.
  const tables = lines.findIndex((l) => l.startsWith('====='));
  const reading = { packets: tables < 0 ? lines : lines.slice(0, tables), conversations: tables < 0 ? [] : lines.slice(tables).filter((l) => l.includes('<->')) };
  const part = `${kept}.${process.pid}`;
  fs.writeFileSync(part, JSON.stringify(reading));
  fs.renameSync(part, kept);
  return reading;
}
