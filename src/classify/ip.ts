// Addresses and CIDR blocks as four 32-bit words (IPv4 in the last word, as the
// flow table keys them), for the inventory's most-specific-match lookup.
import { parseIpv4 } from '../decode/addr';

export interface Net {
  family: 4 | 6;
  words: [number, number, number, number];
  /** Prefix length in bits (32 or 128 for a single address). */
  bits: number;
}

function parseIpv6(s: string): [number, number, number, number] | null {
  let text = s;
  let tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const a = parseIpv4(v4[2]);
    if (a === null) return null;
    tail = [a >>> 16, a & 0xffff];
    text = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const total = head.length + rest.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const all = [...head, ...new Array(8 - total).fill('0'), ...rest].map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const g = [...all.slice(0, 8 - tail.length), ...tail];
  if (g.length !== 8 || g.some((x) => Number.isNaN(x))) return null;
  return [((g[0] << 16) | g[1]) >>> 0, ((g[2] << 16) | g[3]) >>> 0, ((g[4] << 16) | g[5]) >>> 0, ((g[6] << 16) | g[7]) >>> 0];
}

/** "10.1.2.3", "10.1.0.0/16", "2001:db8::1", "2001:db8::/32" → Net, or null. */
export function parseNet(text: string): Net | null {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const v4 = parseIpv4(addr);
  let net: Net;
  if (v4 !== null) net = { family: 4, words: [0, 0, 0, v4], bits: 32 };
  else {
    const w = parseIpv6(addr);
    if (!w) return null;
    net = { family: 6, words: w, bits: 128 };
  }
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > net.bits) return null;
    net.bits = Number(len);
  }
  return net;
}

/** True when `addr` (a single address) lies in `net`. */
/**
 * One address (not a block) as its 32-bit words — one for IPv4, four for IPv6 — with its
 * family; null for anything else.
 */
export function addressWords(text: string): { family: 4 | 6; words: number[] } | null {
  const n = parseNet(text);
  if (!n || n.bits !== (n.family === 4 ? 32 : 128)) return null;
  return { family: n.family, words: n.family === 4 ? [n.words[3]] : [...n.words] };
}

/**
 * An address as text that sorts as the address does: IPv4 before IPv6, each by its value
 * (10.0.0.20 before 10.0.0.100); null for what is not one address.
 */
export function addressSortKey(text: string): string | null {
  const a = addressWords(text);
  return a ? `${a.family}${a.words.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('')}` : null;
}

export function contains(net: Net, addr: Net): boolean {
  if (net.family !== addr.family) return false;
  const offset = net.family === 4 ? 96 : 0;
  let bits = net.bits;
  for (let i = offset / 32; i < 4 && bits > 0; i++) {
    const take = Math.min(32, bits);
    const mask = take === 32 ? 0xffffffff : ~(0xffffffff >>> take) >>> 0;
    if (((net.words[i] ^ addr.words[i]) & mask) >>> 0 !== 0) return false;
    bits -= take;
  }
  return true;
}

/**
 * Blocks that are not the Internet: RFC 1918, loopback, link-local, shared (RFC 6598), ULA
 * (RFC 4193), multicast and reserved. The documentation ranges (RFC 5737, 3849) count as
 * the Internet: examples and generated captures use them for it.
 */
const NOT_PUBLIC = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4',
  '::1/128', '::/128', 'fc00::/7', 'fe80::/10', 'ff00::/8'].map((b) => parseNet(b)!);

/** Whether an address is on the Internet (outside every private, local, shared, multicast and reserved block). */
export function isPublicAddress(address: string): boolean {
  const a = parseNet(address);
  return a !== null && !NOT_PUBLIC.some((n) => n.family === a.family && contains(n, a));
}
