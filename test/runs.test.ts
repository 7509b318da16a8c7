// Issue 9: one capture point's stream over time. Invariants on real captures:
// split into many files (shuffled names) = the whole file; a pipe = the file;
// gzip = plain; an interrupted or killed run shows nothing and a rerun gives
// exactly the totals of an uninterrupted one.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../src/capture/fingerprint';
import { writeSynthetic } from '../src/samples/synthetic';
import { captureFiles, CLI, HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

const INVENTORY = `hosts:
  - address: 10.77.0.10
    roles: [domain-controller]
  - address: 10.77.0.20
    roles: [mailbox]
  - address: 10.77.0.30
    roles: [client-access]
  - address: 10.77.0.100
    roles: [outlook-2007]
`;

/** Every visible flow, orientation and all, as comparable text (ids and capture numbers left out). */
function flowRows(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (d
      .prepare(
        `SELECT transport, client, client_port, server, server_port, direction_by, tcp_state, first_sec, first_nsec, last_sec, last_nsec,
                packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, payload_c2s, payload_s2c, service, via, rpc_interface, rpc_uuid,
                client_role, server_role, verdict, rule FROM flow_view`,
      )
      .raw()
      .all() as unknown[][]).map((r) => r.join('|')).sort();
  } finally {
    d.close();
  }
}

function scalar(db: string, sql: string): unknown {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).pluck().get();
  } finally {
    d.close();
  }
}

function analyze(args: string[], input?: Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'analyze', ...args], { input, encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** editcap -c n into a directory, every file renamed so that name order is not time order. */
function split(file: string, n: number): string {
  const dir = tmpDir();
  const r = spawnSync('editcap', ['-c', String(n), file, path.join(dir, 'part.pcap')]);
  expect(r.status, String(r.stderr)).toBe(0);
  const parts = fs.readdirSync(dir).sort();
  parts.forEach((p, i) => {
    // Reverse-ish, scrambled names: 'z…' for the first file, never in time order.
    const scrambled = `${String.fromCharCode(122 - (i % 26))}${(i * 7919) % 1000}-${i}.pcap`;
    fs.renameSync(path.join(dir, p), path.join(dir, scrambled));
  });
  return dir;
}

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('split invariance: a capture cut into files = the whole capture', () => {
  const inventory = path.join(tmpDir(), 'hosts.yaml');
  fs.writeFileSync(inventory, INVENTORY);
  const own = path.join(tmpDir(), 'long-lived.pcap');
  writeSynthetic(own, { packets: 1200, flows: 60, stepUs: 50_000, active: 30 });
  const files = [...captureFiles('lab'), ...captureFiles('lab-exchange'), path.join(ROOT, 'samples', 'exchange-org.pcapng'), own];

  for (const file of files) {
    it(path.basename(file), () => {
      const whole = path.join(tmpDir(), 'whole.sqlite');
      expect(analyze([file, '--db', whole, '--quiet', '--inventory', inventory]).code).toBe(0);
      const expected = flowRows(whole);
      expect(expected.length).toBeGreaterThan(0);
      const packets = scalar(whole, 'SELECT sum(packets) FROM capture_view') as number;
      // Many small files (3 packets each) and a few large ones (a fifth each).
      for (const n of [3, Math.max(2, Math.ceil(packets / 5))]) {
        const dir = split(file, n);
        const db = path.join(tmpDir(), 'split.sqlite');
        const r = analyze([dir, '--db', db, '--quiet', '--inventory', inventory]);
        expect(r.code, r.stderr).toBe(0);
        expect(scalar(db, 'SELECT count(*) FROM capture_view'), `${n} packets a file`).toBe(Math.ceil(packets / n));
        expect(flowRows(db), `${n} packets a file`).toEqual(expected);
      }
    });
  }
});

describe.skipIf(!HAVE_SHARED)('standard input, gzip, duplicates', () => {
  const file = shared('lab', 'lab-ad-epm.pcap');
  const whole = path.join(tmpDir(), 'whole.sqlite');
  beforeAll(() => {
    expect(analyze([file, '--db', whole, '--quiet']).code).toBe(0);
  });

  it('cat X | analyze - and gzip -c X | analyze - give the flows of analyze X', () => {
    const expected = flowRows(whole);
    for (const input of [fs.readFileSync(file), spawnSync('gzip', ['-c', file]).stdout]) {
      const db = path.join(tmpDir(), 'pipe.sqlite');
      const r = analyze(['-', '--db', db, '--quiet', '--sha256'], input);
      expect(r.code, r.stderr).toBe(0);
      expect(flowRows(db)).toEqual(expected);
      // Hashed while read (a pipe cannot be read twice), the same as sha256sum.
      expect(scalar(db, 'SELECT sha256 FROM captures')).toBe(require('node:crypto').createHash('sha256').update(input).digest('hex'));
    }
    // A stream's fingerprint (size, first and last MiB) is the file's: piping the same file again is seen as it.
    expect(scalar(whole, 'SELECT fingerprint FROM captures')).toBe(fingerprint(file).fingerprint);
    const again = analyze(['-', '--db', whole], fs.readFileSync(file));
    expect(again.stderr).toMatch(/standard input: the same packets as capture 1/);
  });

  it('the same packets as pcapng, gzip or again on standard input are detected and skipped, not counted twice', () => {
    const db = path.join(tmpDir(), 'dup.sqlite');
    expect(analyze([file, '--db', db, '--quiet']).code).toBe(0);
    const r1 = analyze([shared('lab', 'lab-ad-epm.pcapng'), shared('lab', 'lab-ad-epm.pcapng.gz'), '--db', db]);
    expect(r1.code).toBe(0);
    expect(r1.stderr).toMatch(/lab-ad-epm\.pcapng: already analyzed as capture 1 \(the same 230 records as .*lab-ad-epm\.pcap, perhaps in another format/);
    expect(r1.stderr).toMatch(/lab-ad-epm\.pcapng\.gz: the same packets as .*lab-ad-epm\.pcapng \(in this run\); skipped/);
    // A run whose every input was already analyzed added nothing: it leaves no empty row in exflow runs (issue 23, item 9).
    expect(scalar(db, 'SELECT count(*) FROM runs')).toBe(1);
    const r2 = analyze(['-', '--db', db], fs.readFileSync(file));
    expect(r2.stderr).toMatch(/standard input: the same packets as capture 1/);
    expect(scalar(db, 'SELECT count(*) FROM flow_view')).toBe(20);
  });

  it.skipIf(!HAVE_TSHARK)('a directory with other files: captures read, the rest skipped with a note; globs are expanded by exflow', () => {
    const dir = split(file, 40);
    fs.writeFileSync(path.join(dir, 'README.txt'), 'notes about this capture\n');
    const db = path.join(tmpDir(), 'dir.sqlite');
    const r = analyze([dir, '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/README\.txt: not a capture \(not a pcap or pcapng file \(first 4 bytes: 6e 6f 74 65\)\); skipped/);
    expect(r.stdout).toMatch(/files read in the order of their first packets, which differs from their names' order/);
    expect(flowRows(db)).toEqual(flowRows(whole));
    const db2 = path.join(tmpDir(), 'glob.sqlite');
    const g = analyze([path.join(dir, '*.pcap'), '--db', db2, '--quiet']);
    expect(g.code, g.stderr).toBe(0);
    expect(flowRows(db2)).toEqual(flowRows(whole));
    const none = analyze([path.join(dir, '*.nothing'), '--db', path.join(dir, 'none.sqlite')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/\*\.nothing: no such file \(the pattern matched nothing\)/);
    expect(fs.existsSync(path.join(dir, 'none.sqlite'))).toBe(false);
  });

  it('files from two capture points overlap in time: a warning that names --separate', () => {
    const db = path.join(tmpDir(), 'overlap.sqlite');
    const r = analyze([shared('lab', 'lab-sll2-nano.pcap'), shared('lab', 'lab-merged-2if.pcapng'), '--db', db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/overlap in time .*--separate/);
  });
});

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('direction of flows seen mid-stream', () => {
  it('with --separate, the halves of connections cut by a file boundary keep the DC as the server: the registry decides', () => {
    const dir = split(shared('lab', 'lab-ad-epm.pcap'), 40);
    const db = path.join(tmpDir(), 'sep.sqlite');
    const r = analyze([dir, '--db', db, '--quiet', '--separate']);
    expect(r.code, r.stderr).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT client, client_port, server, server_port, direction_by, service FROM flow_view').all() as { client: string; client_port: number; server: string; server_port: number; direction_by: string; service: string }[];
    d.close();
    expect(rows.length).toBeGreaterThan(20); // cut connections come out as two rows each
    for (const f of rows) expect(f.client, JSON.stringify(f)).toBe('10.77.0.100');
    const dynamic = rows.filter((f) => f.server_port >= 49152);
    expect(dynamic.every((f) => f.service !== 'rpc-dynamic' && f.service !== null), JSON.stringify(dynamic)).toBe(true);
  });
});

// A 1M-packet capture (~430 MB) interrupted at several points.
describe('interrupted runs leave nothing a report counts', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'big.pcap');
  const args = (db: string) => [CLI, 'analyze', file, '--db', db, '--quiet', '--idle-timeout', '10'];
  const reference = path.join(dir, 'ref.sqlite');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true })); // the 215 MB capture

  /** Starts an analyze and sends `signal` once its first batch of (still invisible) flows is committed. */
  async function interrupt(db: string, signal: NodeJS.Signals, when: 'start' | 'middle'): Promise<number | null> {
    const child = spawn(process.execPath, args(db), { stdio: ['ignore', 'ignore', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
    if (when === 'middle') {
      for (let i = 0; i < 3000; i++) {
        await new Promise((r) => setTimeout(r, 5));
        if (!fs.existsSync(db)) continue;
        try {
          if ((scalar(db, 'SELECT count(*) FROM flows') as number) > 0) break;
        } catch {
          /* schema not there yet */
        }
      }
    } else await new Promise((r) => setTimeout(r, 150));
    child.kill(signal);
    return exit;
  }

  function summary(db: string): { flows: number; packets: number; packets_read: number } {
    const r = runCli(['report', 'summary', '--db', db, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    return { flows: s.totals.flows, packets: s.totals.packets, packets_read: s.totals.packets_read };
  }

  it('reference: an uninterrupted run', () => {
    // Half a million packets: five batches of flows, so a signal lands in the middle (a million took the suite 20 s more).
    writeSynthetic(file, { packets: 500_000, flows: 25_000, stepUs: 1000 });
    const r = spawnSync(process.execPath, args(reference), { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(summary(reference).packets_read).toBe(500_000);
  });

  for (const [signal, when] of [['SIGINT', 'middle'], ['SIGKILL', 'middle'], ['SIGTERM', 'middle'], ['SIGKILL', 'start']] as const) {
    it(`${signal} at the ${when}: nothing shown, integrity ok, the rerun gives exactly the reference totals`, async () => {
      const db = path.join(dir, `${signal}-${when}.sqlite`);
      const code = await interrupt(db, signal, when);
      if (signal === 'SIGINT' && when === 'middle') expect(code).toBe(130);
      if (signal === 'SIGTERM') expect(code).toBe(143);
      if (fs.existsSync(db)) {
        const d = new Database(db);
        expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
        const tables = d.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get();
        d.close();
        if (tables === 0) {
          // Killed between creating the file and its schema: an empty file, said so.
          const r = runCli(['report', 'summary', '--db', db]);
          expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/is empty, not an exflow database/)]);
        }
      }
      if (fs.existsSync(db) && (scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") as number) > 0) {
        const during = summary(db);
        expect(during).toEqual({ flows: 0, packets: 0, packets_read: 0 });
        const hosts = runCli(['hosts', '--db', db, '--format', 'json']);
        expect(JSON.parse(hosts.stdout)).toEqual([]);
      }
      const again = spawnSync(process.execPath, args(db).filter((a) => a !== '--quiet'), { encoding: 'utf8' }); // -q would hide the note
      expect(again.status, again.stderr).toBe(0);
      if (signal === 'SIGKILL' && when === 'middle') expect(again.stderr).toMatch(/ended without finishing \(killed\?\)/);
      expect(summary(db)).toEqual(summary(reference));
      expect(flowRows(db)).toEqual(flowRows(reference));
    });
  }

  it.skipIf(!HAVE_SHARED)('reports work while an analyze writes to the same database, showing the finished runs', async () => {
    const db = path.join(dir, 'busy.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--quiet']).code).toBe(0);
    // A run long enough (about six seconds) for a second analyze and four reports to come while it writes.
    const long = path.join(dir, 'long.pcap');
    writeSynthetic(long, { packets: 1_000_000, flows: 50_000, stepUs: 1000 });
    const child = spawn(process.execPath, [CLI, 'analyze', long, '--db', db, '--quiet', '--idle-timeout', '10'], { stdio: 'ignore' });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    for (let i = 0; i < 3000 && !((scalar(db, 'SELECT count(*) FROM flows') as number) > 26); i++) await new Promise((r) => setTimeout(r, 5));
    // While the first writes (its flows are coming): a second analyze is refused, reports read the finished run.
    const second = spawnSync(process.execPath, [CLI, 'analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--wait', '0'], { encoding: 'utf8' });
    expect(second.status).toBe(3);
    expect(second.stderr).toMatch(/is writing to this database; wait for it to finish/);
    for (const cmd of [['report', 'summary'], ['flows'], ['hosts'], ['epm']]) {
      const r = runCli([...cmd, '--db', db, '--format', 'json']);
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect(summary(db).flows).toBe(26);
    expect(await exit).toBe(0);
  });
});

describe('live: a pipe that keeps running', () => {
  it('commits flows as they end, and on SIGINT writes the rest, exits 0 and marks the run complete', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'live.pcap');
    writeSynthetic(file, { packets: 20_000, flows: 2000, stepUs: 20_000, active: 100 });
    const bytes = fs.readFileSync(file);
    const db = path.join(dir, 'live.sqlite');
    const child = spawn(process.execPath, [CLI, 'analyze', '-', '--db', db, '--flush-interval', '1', '--idle-timeout', '5'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // About 3 s of writing: the header and two thirds of the records, slowly; the rest never comes.
    const cut = Math.floor(bytes.length * 0.66);
    const step = Math.ceil(cut / 30);
    for (let o = 0; o < cut; o += step) {
      child.stdin.write(bytes.subarray(o, Math.min(o + step, cut)));
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const midway = scalar(db, 'SELECT count(*) FROM flow_view') as number;
    expect(midway, 'flows that ended are visible while the pipe is open').toBeGreaterThan(0);
    child.kill('SIGINT');
    expect(await exit, stderr).toBe(0);
    const d = new Database(db);
    expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(d.prepare('SELECT status, live FROM runs').get()).toEqual({ status: 'complete', live: 1 });
    const visible = d.prepare('SELECT count(*) FROM flow_view').pluck().get() as number;
    const packets = d.prepare('SELECT sum(packets) FROM flow_view').pluck().get() as number;
    const read = d.prepare('SELECT packets FROM captures').pluck().get() as number;
    d.close();
    expect(visible).toBeGreaterThanOrEqual(midway);
    // Every packet read is in a flow: the flows still open at SIGINT were written too.
    expect(packets).toBe(read);
    expect(read).toBeGreaterThan(10_000);
    expect(read).toBeLessThan(20_000);
  });
});
