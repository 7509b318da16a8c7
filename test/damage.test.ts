// Hostile and damaged input through the real CLI: one-line errors, documented exit
// codes, no stack traces, and what came before the damage kept.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { HAVE_SHARED, HAVE_TSHARK, runCli, shared, tmpDir } from './helpers';
import { pcapHeader } from '../src/samples/writer';

function captures(db: string) {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT path, status, packets, flows, warnings FROM captures ORDER BY id').all() as { path: string; status: string; packets: number; flows: number; warnings: string }[];
  d.close();
  return rows;
}

describe('damaged input', () => {
  it('random bytes: exit 2, one line naming the file and the 4 bytes found', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'random.pcap');
    fs.writeFileSync(f, Buffer.from([0xde, 0xad, 0xbe, 0xef, ...Array.from({ length: 4000 }, (_, i) => (i * 37) & 255)]));
    const r = runCli(['analyze', f, '--db', path.join(dir, 'x.sqlite')]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(f);
    expect(lines[0]).toContain('de ad be ef');
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('a missing file: exit 2, one line', () => {
    const dir = tmpDir();
    const r = runCli(['analyze', path.join(dir, 'nope.pcap'), '--db', path.join(dir, 'x.sqlite')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('no such file');
  });

  it.skipIf(!HAVE_SHARED)('a pcap cut in the middle of a record keeps the complete records, warns with the offset, is marked truncated', () => {
    const dir = tmpDir();
    const whole = fs.readFileSync(shared('lab', 'lab-ad-epm.pcap'));
    // Walk the record headers to find where record 101 starts, then cut 30 bytes into it.
    let o = 24;
    for (let i = 0; i < 100; i++) o += 16 + whole.readUInt32LE(o + 8);
    const cut = path.join(dir, 'cut.pcap');
    fs.writeFileSync(cut, whole.subarray(0, o + 30));
    const db = path.join(dir, 'x.sqlite');
    const r = runCli(['analyze', cut, '--db', db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${cut}: byte ${o}`);
    expect(r.stderr).toContain('100 complete records kept');
    const [c] = captures(db);
    expect(c.status).toBe('truncated');
    expect(c.packets).toBe(100);
    expect(c.flows).toBeGreaterThan(0);
  });

  it('records longer than the header\'s snaplen (a real capture, its header edited to 1000): every record read, as tshark reads them; the flows of the unedited file', () => {
    const dir = tmpDir();
    const original = path.join(__dirname, 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap');
    const edited = path.join(dir, 'snaplen-1000.pcap');
    const b = Buffer.from(fs.readFileSync(original));
    b.writeUInt32LE(1000, 16);
    fs.writeFileSync(edited, b);
    const r = runCli(['analyze', edited, '--db', path.join(dir, 'e.sqlite')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/record \d+ holds 1514 captured bytes, more than the file header's snaplen 1000; read anyway/);
    expect(r.stderr).toMatch(/\d+ records in all were longer than the file header's snaplen; all were read/);
    const [c] = captures(path.join(dir, 'e.sqlite'));
    expect(c.status).toBe('ok');
    if (HAVE_TSHARK) {
      const t = spawnSync('tshark', ['-r', edited, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(c.packets).toBe(t.stdout.trim().split('\n').length);
    } else expect(c.packets).toBe(1498);
    expect(runCli(['analyze', original, '--db', path.join(dir, 'o.sqlite')]).code).toBe(0);
    const rows = (db: string) => runCli(['flows', '--db', db, '--format', 'csv']).stdout.split('\n').map((l) => l.replace(/^\d+,/, '')).sort();
    expect(rows(path.join(dir, 'e.sqlite'))).toEqual(rows(path.join(dir, 'o.sqlite')));
  });

  it.skipIf(!HAVE_SHARED)('a record claiming more than the snaplen (real damaged capture): 18 records kept, truncated, exit 0', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'x.sqlite');
    const r = runCli(['analyze', shared('public', 'suricata-smtp-to-comma-10.7.29.101_49898-178.63.41.150_25.pcap'), '--db', db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('byte 3695');
    const [c] = captures(db);
    expect(c.status).toBe('truncated');
    expect(c.packets).toBe(18);
  });

  it.skipIf(!HAVE_SHARED)('a pcapng block with a bad length stops there with its offset; a damaged file does not stop the next one', () => {
    const dir = tmpDir();
    const whole = Buffer.from(fs.readFileSync(shared('lab', 'lab-ad-epm.pcapng')));
    // Find the 51st enhanced packet block and break its length.
    let o = 0;
    let epb = 0;
    while (o < whole.length) {
      const type = whole.readUInt32LE(o);
      if (type === 6 && ++epb === 51) break;
      o += whole.readUInt32LE(o + 4);
    }
    whole.writeUInt32LE(13, o + 4);
    const bad = path.join(dir, 'bad.pcapng');
    fs.writeFileSync(bad, whole);
    const db = path.join(dir, 'x.sqlite');
    const r = runCli(['analyze', bad, shared('lab', 'lab-ad-epm.pcap'), '--db', db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`byte ${o + 4}`);
    expect(r.stderr).toContain('bad length 13');
    const rows = captures(db);
    expect(rows.map((x) => [x.status, x.packets])).toEqual([['truncated', 50], ['ok', 230]]);
  });

  it.skipIf(!HAVE_SHARED)('a gzip stream cut short keeps what inflated', () => {
    const dir = tmpDir();
    const gz = zlib.gzipSync(fs.readFileSync(shared('lab', 'lab-ad-epm.pcap')));
    const f = path.join(dir, 'cut.pcap.gz');
    fs.writeFileSync(f, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const db = path.join(dir, 'x.sqlite');
    const r = runCli(['analyze', f, '--db', db]);
    expect(r.code).toBe(0);
    const [c] = captures(db);
    expect(c.status).toBe('truncated');
    expect(c.packets).toBeGreaterThan(0);
    expect(c.packets).toBeLessThan(230);
  });

  it('an empty file and a header-only capture', () => {
    const dir = tmpDir();
    const empty = path.join(dir, 'empty.pcap');
    fs.writeFileSync(empty, Buffer.alloc(0));
    const r1 = runCli(['analyze', empty, '--db', path.join(dir, 'a.sqlite')]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('too short');
    const h = path.join(dir, 'header.pcap');
    fs.writeFileSync(h, pcapHeader(65535));
    const r2 = runCli(['analyze', h, '--db', path.join(dir, 'b.sqlite')]);
    expect(r2.code).toBe(0);
  });

  it('a database that is not exflow\'s: exit 3, one line', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'other.sqlite');
    const d = new Database(db);
    d.exec('CREATE TABLE t (x)');
    d.close();
    const r = runCli(['flows', '--db', db]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('usage errors exit 64; --help exits 0 and shows an example', () => {
    expect(runCli(['analyze']).code).toBe(64);
    expect(runCli(['flows', '--format', 'yaml']).code).toBe(64);
    const h = runCli(['analyze', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Examples:');
    expect(runCli(['flows', '--help']).stdout).toContain('Examples:');
  });
});
