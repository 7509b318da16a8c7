// Community ID flow hashing, version 1 (the spec published with Zeek, Suricata and
// Arkime, which all write it): one identifier for the same 5-tuple in every tool, so
// exflow's flows join with their logs. For TCP and UDP: SHA-1 over seed (u16),
// the lower endpoint's address, the other's, protocol (u8), a zero byte, the lower
// endpoint's port and the other's (u16 each, network order); "1:" + base64.
import * as crypto from 'node:crypto';
import { addressWords } from '../classify/ip';

/** An address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
function addressBytes(ip: string): Buffer | null {
  const a = addressWords(ip);
  if (!a) return null;
  const out = Buffer.alloc(a.words.length * 4);
  a.words.forEach((w, i) => out.writeUInt32BE(w >>> 0, i * 4));
  return out;
}

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
  const h = crypto.createHash('sha1');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(seed);
  const mid = Buffer.from([proto, 0]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(xp, 0);
  ports.writeUInt16BE(yp, 2);
  h.update(head).update(x).update(y).update(mid).update(ports);
  return `1:${h.digest('base64')}`;
}
