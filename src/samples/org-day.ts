// The bench's organisation mix: what a span port in an Exchange site carries in a
// busy hour — a few long MAPI, NSPI and replication sessions beside thousands of
// short flows of every service (DNS, Kerberos, LDAP, SMB, the endpoint mapper and
// the RPC connections it hands out, DCOM, TLS, SMTP with STARTTLS, IMAP, HTTP).
//
// The short flows are real: every conversation of the project's own lab captures
// (test/fixtures/exchange-lab, test/fixtures/protection — Samba, Postfix, Dovecot,
// nginx, impacket; see their README files) is a template, replayed again and again
// from a population of client hosts with new addresses and ports (checksums made
// again), interleaved with each other and with the long sessions as a span port
// interleaves them. The servers keep their addresses, so a mapper answer still names
// the port its follow-up connection uses. Deterministic: the same options give the
// same bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCapture } from '../capture/reader';
import { ExchangeSessions } from './exchange-like';
import { PcapFileWriter } from './writer';

export interface OrgDayOptions {
  packets: number;
  /** Of every 100 packets, how many belong to the short flows (default 10). */
  shortPercent?: number;
  /** Client hosts replaying the templates (default 40; they live in 10.77.1.0/24). */
  clients?: number;
  /** Short conversations in progress at once (default 400). */
  concurrent?: number;
  /** The capture files whose conversations are the templates. */
  templates: string[];
  /** When the first frame is sent, in milliseconds since 1970 (default 2026-01-15 09:00 UTC). */
  startMs?: number;
  /** Microseconds between two frames on the span port (default 10: 100,000 frames a second); larger spreads the same flows over hours. */
  paceUs?: number;
}

/** One conversation of a template capture: its frames, who sent each, and when (µs from its start). */
export interface Template {
  proto: number;
  frames: Buffer[];
  fromClient: boolean[];
  offsetUs: number[];
  /** Offsets in each frame of the client's address and port (they differ by direction). */
  ipOff: number;
}

interface Instance {
  t: Template;
  next: number;
  clientIp: number;
  clientPort: number;
  startUs: number;
}

/** Reads the IPv4 TCP/UDP conversations of the template captures (Ethernet, optionally one VLAN tag). */
export async function readTemplates(files: string[]): Promise<Template[]> {
  const out: Template[] = [];
  for (const file of files) {
    const byKey = new Map<string, Template & { client: string; firstUs: number }>();
    await readCapture(file, {
      packet(linkType, sec, nsec, buf, off, capLen, origLen) {
        if (linkType !== 1 || capLen !== origLen) return;
        let l3 = 14;
        let type = buf.readUInt16BE(off + 12);
        if (type === 0x8100) {
          type = buf.readUInt16BE(off + 16);
          l3 = 18;
        }
        if (type !== 0x0800 || capLen < l3 + 28) return;
        const ip = off + l3;
        const ihl = (buf[ip] & 0x0f) * 4;
        const proto = buf[ip + 9];
        if ((proto !== 6 && proto !== 17) || (buf.readUInt16BE(ip + 6) & 0x3fff) !== 0) return;
        const src = `${buf.readUInt32BE(ip + 12)}:${buf.readUInt16BE(ip + ihl)}`;
        const dst = `${buf.readUInt32BE(ip + 16)}:${buf.readUInt16BE(ip + ihl + 2)}`;
        const key = `${proto}|${src < dst ? src + '|' + dst : dst + '|' + src}`;
        const us = sec * 1e6 + Math.floor(nsec / 1000);
        let t = byKey.get(key);
        if (!t) {
          // The client: the sender of the first packet (a SYN where the handshake is in the capture).
          t = { proto, frames: [], fromClient: [], offsetUs: [], ipOff: l3, client: src, firstUs: us };
          byKey.set(key, t);
        }
        t.frames.push(Buffer.from(buf.subarray(off, off + capLen)));
        t.fromClient.push(src === t.client);
        t.offsetUs.push(us - t.firstUs);
      },
    });
    for (const t of byKey.values()) out.push({ proto: t.proto, frames: t.frames, fromClient: t.fromClient, offsetUs: t.offsetUs, ipOff: t.ipOff });
  }
  return out;
}

/** The project's own lab captures: real conversations of every service the mix needs. */
export function defaultTemplates(root: string): string[] {
  const dirs = [path.join(root, 'test', 'fixtures', 'exchange-lab'), path.join(root, 'test', 'fixtures', 'protection')];
  return dirs
    .flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).map((f) => path.join(d, f)) : []))
    .filter((f) => f.endsWith('.pcap') && !f.includes('snap96'))
    .sort();
}

function checksum(buf: Buffer, start: number, end: number, initial: number): number {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if ((end - start) & 1) sum += buf[end - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A template frame sent from a new client address and port, its IPv4 and TCP/UDP checksums made again. */
export function rewrite(t: Template, k: number, clientIp: number, clientPort: number): Buffer {
  const f = Buffer.from(t.frames[k]);
  const ip = t.ipOff;
  const ihl = (f[ip] & 0x0f) * 4;
  const fromClient = t.fromClient[k];
  f.writeUInt32BE(clientIp >>> 0, ip + (fromClient ? 12 : 16));
  f.writeUInt16BE(clientPort, ip + ihl + (fromClient ? 0 : 2));
  f.writeUInt16BE(0, ip + 10);
  f.writeUInt16BE(checksum(f, ip, ip + ihl, 0), ip + 10);
  const l4 = ip + ihl;
  const end = Math.min(f.length, ip + f.readUInt16BE(ip + 2));
  const ckAt = l4 + (t.proto === 6 ? 16 : 6);
  f.writeUInt16BE(0, ckAt);
  let pseudo = t.proto + (end - l4);
  for (let i = ip + 12; i < ip + 20; i += 2) pseudo += f.readUInt16BE(i);
  let ck = checksum(f, l4, end, pseudo);
  if (t.proto === 17 && ck === 0) ck = 0xffff;
  f.writeUInt16BE(ck, ckAt);
  return f;
}

/** A small deterministic generator (the same seed, the same day). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

/** Microseconds between two frames of a conversation in the mix: its own gap, at most 50 ms. */
const MAX_GAP_US = 50_000;
/** The span port's pace: one frame every 10 µs (100,000 frames a second). */
const PACE_US = 10;

export async function writeOrgDay(file: string, o: OrgDayOptions): Promise<{ flows: number; templates: number }> {
  const templates = await readTemplates(o.templates);
  if (templates.length === 0) throw new Error(`no IPv4 TCP/UDP conversations in ${o.templates.join(', ')}`);
  const shortPercent = o.shortPercent ?? 10;
  const clients = o.clients ?? 40;
  const concurrent = o.concurrent ?? 400;
  const pace = o.paceUs ?? PACE_US;
  const rand = lcg(0x0e7c4a3e);
  const long = new ExchangeSessions({ clients, clientBase: '10.77.1.' });
  const nextPort = new Array<number>(clients).fill(49152);
  const active: Instance[] = [];
  let started = 0;
  let t = (o.startMs ?? Date.UTC(2026, 0, 15, 9, 0, 0)) * 1000;

  const start = (): Instance => {
    const c = Math.floor(rand() * clients);
    const port = nextPort[c];
    nextPort[c] = port >= 65535 ? 49152 : port + 1;
    started++;
    return { t: templates[Math.floor(rand() * templates.length)], next: 0, clientIp: (10 << 24) | (77 << 16) | (1 << 8) | (100 + c), clientPort: port, startUs: t };
  };
  for (let i = 0; i < concurrent; i++) {
    const inst = start();
    inst.startUs += Math.floor(rand() * MAX_GAP_US);
    active.push(inst);
  }

  const w = new PcapFileWriter(file + '.tmp');
  let shortCredit = 0;
  for (let written = 0; written < o.packets; written++) {
    t += pace;
    shortCredit += shortPercent;
    let sent = false;
    if (shortCredit >= 100) {
      // The short conversation whose next frame is due first, if one is due.
      let best = -1;
      let due = Infinity;
      for (let i = 0; i < active.length; i++) {
        const a = active[i];
        const at = a.startUs + Math.min(a.t.offsetUs[a.next], MAX_GAP_US * (a.next + 1));
        if (at < due) {
          due = at;
          best = i;
        }
      }
      if (best >= 0 && due <= t) {
        shortCredit -= 100;
        const a = active[best];
        w.write(t, rewrite(a.t, a.next, a.clientIp, a.clientPort));
        a.next++;
        if (a.next >= a.t.frames.length) active[best] = start();
        sent = true;
      }
    }
    if (!sent) w.write(t, long.next());
  }
  w.close();
  fs.renameSync(file + '.tmp', file);
  return { flows: started, templates: templates.length };
}
