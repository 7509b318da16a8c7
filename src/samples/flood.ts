#!/usr/bin/env node
// A SYN flood for the memory measurements (README "Memory"): `count` SYNs, each from
// its own source address to its own destination (so every SYN is a flow and two hosts),
// none answered — the shape that costs a flow table the most per byte of capture.
//   node dist/samples/flood.js OUT.pcap [count] [port]
// Port 443 is an inspected port (TLS); 40000 is not.
import { frame } from './frames';
import { PcapFileWriter } from './writer';

const SYN = 0x02;

/** The nth address of a /8 (10.x or 11.x): distinct for n < 2^24. */
function addr(first: number, n: number): string {
  return `${first}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function writeFlood(file: string, count: number, port: number): void {
  const w = new PcapFileWriter(file);
  const t0 = Date.UTC(2026, 0, 15, 9) * 1000;
  for (let i = 0; i < count; i++) {
    const f = frame('tcp', { ip: addr(10, i), port: 1024 + (i % 60000) }, { ip: addr(11, i), port }, Buffer.alloc(0), { tcpFlags: SYN, seq: i });
    w.write(t0 + i, f);
  }
  w.close();
}

if (require.main === module) {
  const [out, count = '1000000', port = '443'] = process.argv.slice(2);
  if (!out || out.startsWith('-') || !/^\d+$/.test(count) || !/^\d+$/.test(port) || Number(port) > 65535) {
    process.stderr.write('usage: node dist/samples/flood.js OUT.pcap [count=1000000] [port=443]\n');
    process.exit(out === '--help' || out === '-h' ? 0 : 64);
  }
  writeFlood(out, Number(count), Number(port));
}
