// Values that go into code an administrator runs (nftables rulesets, PowerShell
// scripts). Everything placed there is one of a few validated kinds — an address or
// CIDR parsed and printed again, a port, a protocol, an identifier from an
// allow-list — or free text reduced to printable ASCII, which each language's own
// module then quotes by that language's full rules. Strings come from captures,
// databases and rules folders exflow is handed: none is pasted as it is.
import { parseNet, type Net } from '../../classify/ip';

/** An address or CIDR block, printed again from its parsed form (canonical; IPv6 compressed), or null. */
export function scriptAddress(text: unknown): string | null {
  if (typeof text !== 'string' || text.length > 64 || !/^[0-9A-Fa-f.:/]+$/.test(text)) return null;
  const net = parseNet(text);
  return net ? printNet(net) : null;
}

/** One host's address (no block), printed again from its parsed form, or null. */
export function scriptHostAddress(text: unknown): string | null {
  const a = scriptAddress(text);
  return a !== null && !a.includes('/') ? a : null;
}

/** The address family of a value scriptAddress accepted. */
export function scriptFamily(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function printNet(n: Net): string {
  let text: string;
  if (n.family === 4) {
    const w = n.words[3];
    text = [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255].join('.');
  } else {
    const g: number[] = [];
    for (const w of n.words) g.push(w >>> 16, w & 0xffff);
    // RFC 5952: the longest run (of two or more) of zero groups becomes "::".
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        best = i;
        bestLen = j - i;
      }
      i = j === i ? i + 1 : j;
    }
    const hex = g.map((x) => x.toString(16));
    text = best < 0 ? hex.join(':') : `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
  }
  return n.bits === (n.family === 4 ? 32 : 128) ? text : `${text}/${n.bits}`;
}

/** A TCP/UDP port: a whole number 0–65535, or null. */
export function scriptPort(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? v : null;
}

/** 'tcp' or 'udp', or null for anything else. */
export function scriptProtocol(v: unknown): 'tcp' | 'udp' | null {
  return v === 'tcp' || v === 'udp' ? v : null;
}

const IDENTIFIER = /^[A-Za-z0-9._:-]+$/;

/** Whether a value is an identifier as generated code may hold it: [A-Za-z0-9._:-]+, at most 128 characters. */
export function isScriptIdentifier(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 128 && IDENTIFIER.test(v);
}

/**
 * An identifier for generated code: the value itself when it is one, else its
 * allowed characters with `_` for the others and a short hash of the original,
 * so two different values never become the same identifier.
 */
export function scriptIdentifier(v: unknown): string {
  const s: string = typeof v === 'string' ? v : String(v);
  if (s.length <= 128 && IDENTIFIER.test(s)) return s;
  const kept = s.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 100);
  return `${kept}_${fnv1a(s).toString(16).padStart(8, '0')}`;
}

/** FNV-1a over UTF-16 code units: a stable short hash (not a secret, only a tie-breaker). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Free text as printable ASCII (0x20–0x7e): letters with accents lose them (NFKD),
 * every other run of characters outside printable ASCII — quotes of every script,
 * dashes, controls, line and paragraph separators, bidirectional marks, CJK — becomes
 * one "?". At most `max` characters. The languages' modules quote what is left.
 */
export function asciiText(v: unknown, max = 1000): string {
  const s = typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v);
  // eslint-disable-next-line no-control-regex
  const folded = s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x20-\x7e]+/g, '?');
  return folded.length > max ? folded.slice(0, max) : folded;
}
