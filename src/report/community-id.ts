// Community ID flow hashing, version 1 (the spec published with Zeek, Suricata and
// Arkime, which all write it): one identifier for the same 5-tuple in every tool, so
// exflow's flows join with their logs. For TCP and UDP: SHA-1 over seed (u16),
// the lower endpoint's address, the other's, protocol (u8), a zero byte, the lower
// endpoint's port and the other's (u16 each, network order); "1:" + base64.
import * as crypto from 'node:crypto';
import { addressWords } from '../classify/ip';

/** An address in network byte order: 4 bytes for IPv4, 16 for IPv6 (remembered: an export asks for the same servers a million times). */
function addressBytes(ip: string): Buffer | null {
  const known = seen.get(ip);
  if (known !== undefined) return known;
  const a = addressWords(ip);
  const out = a ? Buffer.alloc(a.words.length * 4) : null;
  a?.words.forEach((w, i) => out!.writeUInt32BE(w >>> 0, i * 4));
  if (seen.size >= SEEN_MAX) seen.clear();
  seen.set(ip, out);
  return out;
}
const seen = new Map<string, Buffer | null>();
// Bounded (a capture may hold millions of addresses), but above an organisation's clients: 4,096
// was cleared again and again by an export of 5,000 clients' flows.
const SEEN_MAX = 65536;

/** SHA-1 of `data` in base64, in one call where this Node has crypto.hash (20.12 and later). */
const sha1Base64: (data: Buffer) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash: (alg: string, d: Buffer, enc: string) => string }).hash('sha1', data, 'base64')
    : (data) => crypto.createHash('sha1').update(data).digest('base64');

/** The Community ID v1 of a TCP or UDP flow, or null for what it does not cover. */
export function communityId(transport: string, a: string, aPort: number, b: string, bPort: number, seed = 0): string | null {
  const proto = transport === 'tcp' ? 6 : transport === 'udp' ? 17 : -1;
  const ab = addressBytes(a);
  const bb = addressBytes(b);
  if (proto < 0 || !ab || !bb || ab.length !== bb.length) return null;
  // The endpoint with the lower address (then port) goes first.
  const c = Buffer.compare(ab, bb);
  const swap = c > 0 || (c === 0 && aPort > bPort);
  const [x, xp, y, yp] = swap ? [bb, bPort, ab, aPort] : [ab, aPort, bb, bPort];
  // seed (u16), the two addresses, protocol, a zero byte, the two ports (u16): one buffer, one hash.
  const n = x.length;
  const buf = Buffer.alloc(2 + 2 * n + 2 + 4);
  buf.writeUInt16BE(seed, 0);
  x.copy(buf, 2);
  y.copy(buf, 2 + n);
  buf[2 + 2 * n] = proto;
  buf.writeUInt16BE(xp, 4 + 2 * n);
  buf.writeUInt16BE(yp, 6 + 2 * n);
  return `1:${sha1Base64(buf)}`;
}
