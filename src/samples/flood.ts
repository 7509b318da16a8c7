#!/usr/bin/env node
// Floods for the memory measurements (README "Memory", npm run memory).
//   node dist/samples/flood.js OUT.pcap [count] [port]      a SYN flood
//   node dist/samples/flood.js OUT.pcap [count] dns [answers]  a DNS answer flood
//   node dist/samples/flood.js OUT.pcap count replay PORT TEMPLATE.pcap…
//                                   the template captures' conversations to PORT (Kerberos on
//                                   88, NTLM over SMB on 445), replayed `count` times, each
//                                   from its own client address and port
// The SYN flood: `count` SYNs, each from its own source address to its own destination
// (so every SYN is a flow and two hosts), none answered — the shape that costs a flow table
// the most per byte of capture. Port 443 is an inspected port (TLS); 40000 is not.
// The DNS flood: `count` queries from as many clients, each answered with `answers` A
// records of distinct names — every answer a name exflow keeps while the flow is open.
import { frame } from './frames';
import { readTemplates, rewrite, type Template } from './org-day';
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

/** A DNS answer: one question, `answers` A records (RFC 1035 4.1), each name its own. */
function dnsAnswer(id: number, n: number, answers: number): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, no error
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers, 6);
  parts.push(header, dnsName(`q${n}.flood.example`), Buffer.from([0, 1, 0, 1]));
  for (let k = 0; k < answers; k++) {
    const rr = Buffer.alloc(14);
    rr.writeUInt16BE(1, 0); // A
    rr.writeUInt16BE(1, 2); // IN
    rr.writeUInt32BE(300, 4);
    rr.writeUInt16BE(4, 8);
    rr.writeUInt32BE((0x0c000000 + n * answers + k) >>> 0, 10); // 12.x.y.z: an address per answer
    parts.push(dnsName(`h${k}.q${n}.flood.example`), rr);
  }
  return Buffer.concat(parts);
}

function dnsName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

export function writeDnsFlood(file: string, count: number, answers: number): void {
  const w = new PcapFileWriter(file);
  const t0 = Date.UTC(2026, 0, 15, 9) * 1000;
  const server = { ip: '10.53.0.1', port: 53 };
  for (let i = 0; i < count; i++) {
    const client = { ip: addr(11, i), port: 1024 + (i % 60000) };
    const query = Buffer.concat([Buffer.from([i >> 8 & 255, i & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), dnsName(`q${i}.flood.example`), Buffer.from([0, 1, 0, 1])]);
    w.write(t0 + 2 * i, frame('udp', client, server, query));
    w.write(t0 + 2 * i + 1, frame('udp', server, client, dnsAnswer(i, i, answers)));
  }
  w.close();
}

/** The server port of a template conversation (the destination of its first client frame). */
function serverPort(t: Template): number {
  const k = t.fromClient.indexOf(true);
  if (k < 0) return -1;
  const f = t.frames[k];
  return f.readUInt16BE(t.ipOff + (f[t.ipOff] & 0x0f) * 4 + 2);
}

/** @param frameGapMicros microseconds between frames (5: a flood; a test that needs sessions to end seconds apart spreads them) */
export async function writeReplayFlood(file: string, count: number, port: number, templateFiles: string[], frameGapMicros = 5): Promise<number> {
  const templates = (await readTemplates(templateFiles)).filter((t) => serverPort(t) === port);
  if (templates.length === 0) throw new Error(`no conversation to port ${port} in ${templateFiles.join(', ')}`);
  const w = new PcapFileWriter(file);
  let t = Date.UTC(2026, 0, 15, 9) * 1000;
  for (let i = 0; i < count; i++) {
    const tpl = templates[i % templates.length];
    const ip = (11 << 24) | (i & 0xffffff);
    for (let k = 0; k < tpl.frames.length; k++) w.write((t += frameGapMicros), rewrite(tpl, k, ip, 1024 + (i % 60000)));
  }
  w.close();
  return templates.length;
}

if (require.main === module && process.argv[4] === 'replay') {
  const [out, count, , port, ...templates] = process.argv.slice(2);
  if (!out || !/^\d+$/.test(count ?? '') || !/^\d+$/.test(port ?? '') || templates.length === 0) {
    process.stderr.write('usage: node dist/samples/flood.js OUT.pcap COUNT replay PORT TEMPLATE.pcap...\n');
    process.exit(64);
  }
  writeReplayFlood(out, Number(count), Number(port), templates).catch((e) => {
    process.stderr.write(`flood: ${(e as Error).message}\n`);
    process.exit(1);
  });
} else if (require.main === module && process.argv[4] === 'dns') {
  const [out, count = '130000', , answers = '32'] = process.argv.slice(2);
  if (!out || !/^\d+$/.test(count) || !/^\d+$/.test(answers) || Number(answers) > 1000) {
    process.stderr.write('usage: node dist/samples/flood.js OUT.pcap [count=130000] dns [answers=32]\n');
    process.exit(64);
  }
  writeDnsFlood(out, Number(count), Number(answers));
} else if (require.main === module) {
  const [out, count = '1000000', port = '443'] = process.argv.slice(2);
  if (!out || out.startsWith('-') || !/^\d+$/.test(count) || !/^\d+$/.test(port) || Number(port) > 65535) {
    process.stderr.write('usage: node dist/samples/flood.js OUT.pcap [count=1000000] [port=443]\n');
    process.exit(out === '--help' || out === '-h' ? 0 : 64);
  }
  writeFlood(out, Number(count), Number(port));
}
