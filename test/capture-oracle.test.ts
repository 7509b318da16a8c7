// Our reader against an independent one: pcap-parser (classic µs pcap only) must see
// the same records in every classic pcap of ../shared/captures.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCapture } from '../src/capture/reader';
import { captureFiles, HAVE_SHARED } from './helpers';

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
