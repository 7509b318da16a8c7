// Our reader against an independent one: pcap-parser (classic µs pcap only) must see
// the same records in every classic pcap of ../shared/captures.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCapture } from '../src/capture/reader';
import { PcapFileWriter } from '../src/samples/writer';
import { captureFiles, HAVE_SHARED, tmpDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pcapParser = require('pcap-parser');

interface Rec {
  sec: number;
  usec: number;
  capLen: number;
  origLen: number;
  sha: string;
}

function hash(b: Buffer): string {
  return require('node:crypto').createHash('sha1').update(b).digest('hex');
}

function viaPcapParser(file: string): Promise<Rec[]> {
  return new Promise((resolve) => {
    const recs: Rec[] = [];
    const p = pcapParser.parse(fs.createReadStream(file));
    p.on('packet', (pkt: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) => {
      recs.push({ sec: pkt.header.timestampSeconds, usec: pkt.header.timestampMicroseconds, capLen: pkt.header.capturedLength, origLen: pkt.header.originalLength, sha: hash(pkt.data) });
    });
    // pcap-parser ends silently at a truncated tail and emits 'error' for what it rejects.
    p.on('end', () => resolve(recs));
    p.on('error', () => resolve(recs));
  });
}

async function viaExflow(file: string): Promise<{ recs: Rec[]; status: string }> {
  const recs: Rec[] = [];
  const r = await readCapture(file, {
    packet(_lt, sec, nsec, buf, off, capLen, origLen) {
      recs.push({ sec, usec: nsec / 1000, capLen, origLen, sha: hash(buf.subarray(off, off + capLen)) });
    },
  });
  return { recs, status: r.status };
}

function isClassicMicro(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(4);
  fs.readSync(fd, b, 0, 4, 0);
  fs.closeSync(fd);
  const m = b.readUInt32BE(0);
  return m === 0xd4c3b2a1 || m === 0xa1b2c3d4;
}

const files = HAVE_SHARED ? [...captureFiles('public'), ...captureFiles('lab'), ...captureFiles('lab-exchange')].filter(isClassicMicro) : [];

describe.skipIf(!HAVE_SHARED)('classic pcap: exflow reader = pcap-parser', () => {
  it('covers a good number of files', () => {
    expect(files.length).toBeGreaterThan(50);
  });
  for (const f of files) {
    it(f.split('/').pop()!, async () => {
      const [theirs, ours] = await Promise.all([viaPcapParser(f), viaExflow(f)]);
      if (ours.status === 'ok') {
        expect(ours.recs.length).toBe(theirs.length);
      } else {
        // pcap-parser drops a damaged tail silently; every record it did deliver must match ours.
        expect(ours.recs.length).toBeGreaterThanOrEqual(theirs.length);
      }
      expect(ours.recs.slice(0, theirs.length)).toEqual(theirs);
    });
  }
});

describe('records across chunk boundaries (4 MiB reads, 256 KiB carried in front of the next)', () => {
  // Sizes chosen to cut records at every chunk boundary in every way: small ones, ones longer
  // than the 256 KiB carried in front of the next chunk, and one longer than a chunk.
  const sizes = [60, 1514, 300_000, 9000, 1_500_000, 100, 5_300_000, 64, 262_144, 262_145, 700_000, 42];
  function bigRecordsPcap(file: string, count: number): void {
    const w = new PcapFileWriter(file, 0x7fffffff);
    for (let i = 0; i < count; i++) {
      const n = sizes[i % sizes.length] + (i % 7);
      const data = Buffer.alloc(n);
      for (let j = 0; j < n; j += 4096) data[j] = (i + j) & 255;
      data[n - 1] = i & 255;
      w.write((1_700_000_000 + i) * 1e6 + i, data);
    }
    w.close();
  }

  it('every record as pcap-parser reads it; cut inside a record, exactly the records before the cut', async () => {
    const dir = tmpDir();
    const file = `${dir}/big.pcap`;
    bigRecordsPcap(file, 40);
    expect(fs.statSync(file).size).toBeGreaterThan(6 * 4 * 1024 * 1024);
    const [theirs, ours] = await Promise.all([viaPcapParser(file), viaExflow(file)]);
    expect(ours.status).toBe('ok');
    expect(theirs).toHaveLength(40);
    expect(ours.recs).toEqual(theirs);
    // Cut 1000 bytes into record 30 (a 5.3 MB one): the 30 records before it, and status truncated.
    const whole = fs.readFileSync(file);
    let at = 24;
    for (let i = 0; i < 30; i++) at += 16 + whole.readUInt32LE(at + 8);
    expect(whole.readUInt32LE(at + 8)).toBeGreaterThan(5_000_000);
    fs.writeFileSync(`${dir}/cut.pcap`, whole.subarray(0, at + 16 + 1000));
    const cut = await viaExflow(`${dir}/cut.pcap`);
    expect(cut.status).toBe('truncated');
    expect(cut.recs).toEqual(theirs.slice(0, 30));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
