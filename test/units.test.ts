import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitTimestamp, unitsPerSecondFromTsresol } from '../src/capture/timestamp';
import { ipv6ToString } from '../src/decode/addr';
import { DecodedPacket } from '../src/decode/packet';
import { FlowTable } from '../src/flow/table';
import { ROOT, runCli, tmpDir } from './helpers';

describe('timestamps', () => {
  it('splits 64-bit counts exactly for ns, µs, ms and 2^-n resolutions (checked with BigInt)', () => {
    const out = new Float64Array(2);
    const cases: [bigint, number][] = [
      [1_763_900_000_123_456_789n, 1e9],
      [18_446_744_073_709_551_615n, 1e9],
      [1_763_900_000_123_456n, 1e6],
      [1_763_900_000_123n, 1e3],
      [123_456_789_012_345n, 2 ** 20],
      [0n, 1e9],
    ];
    for (const [v, units] of cases) {
      splitTimestamp(Number(v >> 32n), Number(v & 0xffffffffn), units, out);
      const sec = v / BigInt(units);
      const rem = v - sec * BigInt(units);
      expect(out[0]).toBe(Number(sec));
      expect(out[1]).toBe(Number((rem * 1_000_000_000n) / BigInt(units)));
    }
  });
  it('reads if_tsresol as a power of 10 or, with the top bit, of 2', () => {
    expect(unitsPerSecondFromTsresol(6)).toBe(1e6);
    expect(unitsPerSecondFromTsresol(9)).toBe(1e9);
    expect(unitsPerSecondFromTsresol(0x8a)).toBe(1024);
  });
});

describe('addresses', () => {
  it('prints IPv6 per RFC 5952', () => {
    expect(ipv6ToString(0x20010db8, 0, 0, 1)).toBe('2001:db8::1');
    expect(ipv6ToString(0, 0, 0, 1)).toBe('::1');
    expect(ipv6ToString(0x20010db8, 0x00000001, 0x00010001, 0x00010001)).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipv6ToString(0, 0, 0xffff, 0x0a000001)).toBe('::ffff:10.0.0.1');
  });
});

describe('flow table', () => {
  // A reference model (a Map keyed by a canonical string) against the typed-array table,
  // with a small capacity so that flushing, reuse and backward-shift deletion all happen.
  it('agrees with a Map-based model through eviction and slot reuse', () => {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    const table = new FlowTable({ capacity: 256, idleTimeout: 50, closedLinger: 5 });
    const flushed: Record<string, number>[] = [];
    const model = new Map<string, number>();
    table.setFlushHandler((t, i) => {
      const k = i * 10;
      const key = `${t.keys[k + 4]}:${t.keys[k + 9] >>> 16}-${t.keys[k + 8]}:${t.keys[k + 9] & 0xffff}`;
      flushed.push({ [key]: t.packets[i * 2] + t.packets[i * 2 + 1] });
    });
    const p = new DecodedPacket();
    const buf = Buffer.alloc(64);
    let sec = 1000;
    for (let n = 0; n < 20000; n++) {
      if (rnd() < 0.01) sec += 1;
      const a = 1 + Math.floor(rnd() * 40);
      const b = 100 + Math.floor(rnd() * 40);
      const pa = 1000 + Math.floor(rnd() * 8);
      const swap = rnd() < 0.5;
      p.family = 4;
      p.proto = 17;
      p.src3 = swap ? b : a;
      p.dst3 = swap ? a : b;
      p.sport = swap ? 53 : pa;
      p.dport = swap ? pa : 53;
      p.payloadLen = 0;
      p.payloadWireLen = 0;
      p.firstFragment = false;
      table.add(p, sec, 0, 60, buf);
      const key = `${a}:${pa}-${b}:53`;
      model.set(key, (model.get(key) ?? 0) + 1);
    }
    table.flushAll();
    // Every packet is in exactly one flushed flow, and per 5-tuple the sums agree.
    const sums = new Map<string, number>();
    for (const f of flushed) for (const [k, v] of Object.entries(f)) {
      const [x, y] = k.split('-');
      const canon = Number(x.split(':')[0]) < 100 ? `${x}-${y}` : `${y}-${x}`;
      sums.set(canon, (sums.get(canon) ?? 0) + v);
    }
    expect(sums).toEqual(model);
    expect(table.liveCount).toBe(0);
    expect(table.stats.flowsFlushed).toBe(flushed.length);
  });
});

describe('small traps: the scripts and the bare command say what they do instead of acting', () => {
  it('a bare "exflow" prints the help on standard output, exit 0', () => {
    const r = runCli([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: exflow/);
    expect(r.stderr).toBe('');
  });

  it('npm run bench -- --help prints its usage and generates nothing; make-sample --help writes no file named --help', () => {
    const dir = tmpDir();
    const bench = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'bench.js'), '--help'], { encoding: 'utf8', cwd: dir, timeout: 20_000 });
    expect(bench.status).toBe(0);
    expect(bench.stdout).toMatch(/^usage: npm run bench/);
    expect(spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'bench.js'), '--rounds', '3'], { encoding: 'utf8', cwd: dir }).status).toBe(64);
    const sample = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'samples', 'make-sample.js'), '--help'], { encoding: 'utf8', cwd: dir });
    expect(sample.status).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('the database connection', () => {
  it('keeps temporary tables in a bounded cache of 64 MiB, however the database is opened', async () => {
    const { openDb } = await import('../src/store/db');
    const file = path.join(tmpDir(), 'x.sqlite');
    const written = openDb(file);
    // SQLite's default is 2 MB: a report's groups of a day's flows were read back from the temporary file on every pass.
    expect(written.pragma('temp.cache_size', { simple: true })).toBe(-64 * 1024);
    written.close();
    const read = openDb(file, { create: false, readonly: true });
    expect(read.pragma('temp.cache_size', { simple: true })).toBe(-64 * 1024);
    read.close();
  });
});
