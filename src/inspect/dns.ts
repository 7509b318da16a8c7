// DNS answers (RFC 1035 4.1; SRV RFC 2782; AAAA RFC 3596): the names a capture gives
// addresses (A, AAAA, and PTR for the reverse names), the service locations it
// announces (SRV: _ldap._tcp.dc._msdcs.<domain> names the domain controllers,
// _autodiscover._tcp.<domain> the Client Access servers) and the mail exchangers
// (MX). Over UDP one message per datagram; over TCP each has a two-byte length
// (4.2.2). Short exchanges: the reader lets go after MAX_MESSAGES messages, and
// keeps at most MAX_RECORDS records per flow.
import type { FlowInspector } from '../flow/inspector';
import { ByteBudget } from './dcerpc/budget';
import { DirectionStream, StreamEnd } from './dcerpc/stream';
import { TcpFlag } from '../decode/packet';

const MAX_MESSAGES = 16;
const MAX_RECORDS = 32;
const MAX_TCP_MESSAGE = 16 * 1024;

const enum RrType {
  A = 1,
  Cname = 5,
  Ptr = 12,
  Mx = 15,
  Aaaa = 28,
  Srv = 33,
}

/** One answer exflow keeps: a name and what it points to. */
export interface DnsRecord {
  type: 'a' | 'ptr' | 'srv' | 'mx' | 'cname';
  /** The owner name (for PTR: the address it names, decoded from in-addr.arpa/ip6.arpa). */
  name: string;
  /** An address (A/AAAA, PTR's owner), or the target host name (SRV, MX, CNAME, PTR). */
  value: string;
}

/** What a kept record is charged to the run's payload budget: its two texts and the object around them. */
const RECORD_COST = 96;

export class DnsAnswers implements FlowInspector {
  readonly records: DnsRecord[] = [];
  /** Bytes the kept records are charged to the budget, given back when the flow is written (forget). */
  private charged = 0;
  private messages = 0;
  private done = false;
  private clientDir = -1;
  /** TCP: the message being gathered, per direction. */
  private readonly held: (Buffer | null)[] = [null, null];
  /**
   * TCP: each direction's bytes in order — retransmissions trimmed, a segment ahead of a
   * hole held until it fills (the same delivery the DCE/RPC reader uses).
   */
  private readonly streams: (DirectionStream | null)[] = [null, null];

  /** @param budget the run's payload budget: a TCP message spanning segments is held from it */
  constructor(
    private readonly tcp: boolean,
    private budget: ByteBudget | null = null,
  ) {}


  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (this.done) return false;
    if (this.tcp) {
      // SYNs too (no payload): they start the direction's sequence numbers.
      // A reader made without the run's budget (tests) gets one of its own: the streams' bound still holds.
      const s = (this.streams[dir] ??= new DirectionStream((this.budget ??= new ByteBudget(1 << 20)), (b, o, n) => this.tcpBytes(dir, b as Buffer, o, n)));
      s.segment(seq, (flags & TcpFlag.Syn) !== 0, buf, off, capLen, wireLen);
      if (s.end === StreamEnd.Gap || s.end === StreamEnd.Snaplen) return this.finish();
    } else {
      if (capLen === 0) return true;
      if (capLen < wireLen) return this.finish();
      this.message(dir, buf, off, off + capLen);
    }
    return this.messages < MAX_MESSAGES && this.records.length < MAX_RECORDS ? !this.done : this.finish();
  }

  private tcpBytes(dir: number, b: Buffer, off: number, len: number): void {
    const prev = this.held[dir];
    const data = prev ? Buffer.concat([prev, b.subarray(off, off + len)]) : b.subarray(off, off + len);
    let at = 0;
    while (data.length - at >= 2) {
      const n = data.readUInt16BE(at);
      if (data.length - at - 2 < n) break;
      this.message(dir, data, at + 2, at + 2 + n);
      at += 2 + n;
    }
    const rest = data.length - at;
    this.release(dir);
    if (rest > MAX_TCP_MESSAGE || (rest > 0 && this.budget && !this.budget.take(rest))) {
      this.finish();
      return;
    }
    if (rest > 0) {
      this.held[dir] = Buffer.from(data.subarray(at));
    }
  }

  private message(dir: number, b: Uint8Array, o: number, end: number): void {
    this.messages++;
    if (end - o < 12) return;
    const flags = (b[o + 2] << 8) | b[o + 3];
    const response = (flags & 0x8000) !== 0;
    // Every query and answer exflow reads asks one question (RFC 9619); anything else on the
    // port is not DNS as it is read here, and nothing more of the flow is.
    if (((b[o + 4] << 8) | b[o + 5]) !== 1 || (!response && (flags & 0x000f) !== 0)) {
      this.finish();
      return;
    }
    if (!response) {
      if (this.clientDir < 0) this.clientDir = dir;
      return;
    }
    if (this.clientDir < 0) this.clientDir = dir ^ 1;
    if ((flags & 0x000f) !== 0) return; // an error answer names nothing
    const qd = (b[o + 4] << 8) | b[o + 5];
    const an = (b[o + 6] << 8) | b[o + 7];
    const ns = (b[o + 8] << 8) | b[o + 9];
    const ar = (b[o + 10] << 8) | b[o + 11];
    let at = o + 12;
    for (let i = 0; i < qd && at > 0; i++) {
      at = skipName(b, o, at, end);
      at = at > 0 && at + 4 <= end ? at + 4 : -1;
    }
    // Answers, then authority (skipped), then additional records (the SRV and MX targets' addresses).
    for (let i = 0; i < an + ns + ar && at > 0 && at < end && this.records.length < MAX_RECORDS && !this.done; i++) {
      const name = readName(b, o, at, end);
      if (!name) return;
      at = name.next;
      if (at + 10 > end) return;
      const type = (b[at] << 8) | b[at + 1];
      const cls = (b[at + 2] << 8) | b[at + 3];
      const rdLen = (b[at + 8] << 8) | b[at + 9];
      const rd = at + 10;
      at = rd + rdLen;
      if (at > end) return;
      if (cls !== 1 || (i >= an && i < an + ns)) continue;
      this.record(b, o, end, type, name.text, rd, rdLen);
    }
  }

  private record(b: Uint8Array, o: number, end: number, type: number, owner: string, rd: number, len: number): void {
    switch (type) {
      case RrType.A:
        if (len === 4) this.push('a', owner, `${b[rd]}.${b[rd + 1]}.${b[rd + 2]}.${b[rd + 3]}`);
        break;
      case RrType.Aaaa:
        if (len === 16) this.push('a', owner, ipv6(b, rd));
        break;
      case RrType.Ptr: {
        const target = readName(b, o, rd, end);
        const address = reverseAddress(owner);
        if (target && address) this.push('ptr', address, target.text);
        break;
      }
      case RrType.Cname: {
        const target = readName(b, o, rd, end);
        if (target) this.push('cname', owner, target.text);
        break;
      }
      case RrType.Mx: {
        const target = len > 2 ? readName(b, o, rd + 2, end) : null;
        if (target) this.push('mx', owner, target.text);
        break;
      }
      case RrType.Srv: {
        const target = len > 6 ? readName(b, o, rd + 6, end) : null;
        if (target) this.push('srv', owner, target.text);
        break;
      }
      default:
        break;
    }
  }

  private push(type: DnsRecord['type'], name: string, value: string): void {
    if (!name || !value || name.length > 255 || value.length > 255) return;
    if (this.records.some((r) => r.type === type && r.name === name && r.value === value)) return;
    // Answers are held until the flow is written: charged to the run's payload budget, so that
    // a flood of answers over many open flows cannot grow memory past it (a refusal is counted
    // and warned about like every other; the flow keeps what it had).
    const cost = RECORD_COST + 2 * (name.length + value.length);
    if (this.budget && !this.budget.take(cost)) {
      this.finish();
      return;
    }
    this.charged += cost;
    this.records.push({ type, name, value });
  }

  /** The flow is written (its names taken): its records go, and their charge goes back to the budget. */
  forget(): void {
    this.finish();
    this.budget?.give(this.charged);
    this.charged = 0;
    this.records.length = 0;
  }

  clientSide(): number {
    return this.clientDir;
  }

  private release(dir: number): void {
    const h = this.held[dir];
    if (!h) return;
    this.budget?.give(h.length);
    this.held[dir] = null;
  }

  finish(): false {
    this.done = true;
    this.release(0);
    this.release(1);
    for (const s of this.streams) s?.stop(StreamEnd.Released);
    return false;
  }
}

/** A domain name at `at` (with compression pointers into the message at `o`), lower case, without the final dot. */
function readName(b: Uint8Array, o: number, at: number, end: number): { text: string; next: number } | null {
  const labels: string[] = [];
  let next = -1;
  let p = at;
  for (let hops = 0; hops < 32; hops++) {
    if (p >= end) return null;
    const n = b[p];
    if (n === 0) {
      if (next < 0) next = p + 1;
      return { text: labels.join('.').toLowerCase(), next };
    }
    if ((n & 0xc0) === 0xc0) {
      if (p + 1 >= end) return null;
      if (next < 0) next = p + 2;
      const target = o + (((n & 0x3f) << 8) | b[p + 1]);
      if (target >= p || target < o) return null; // pointers go backwards only: no loops
      p = target;
      continue;
    }
    if ((n & 0xc0) !== 0 || p + 1 + n > end) return null;
    let label = '';
    for (let i = 1; i <= n; i++) {
      const c = b[p + i];
      // Host names and service labels: letters, digits, "-", "_"; anything else makes the name unusable.
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f || c === 0x2a)) return null;
      label += String.fromCharCode(c);
    }
    labels.push(label);
    p += 1 + n;
  }
  return null;
}

function skipName(b: Uint8Array, o: number, at: number, end: number): number {
  let p = at;
  while (p < end) {
    const n = b[p];
    if (n === 0) return p + 1;
    if ((n & 0xc0) === 0xc0) return p + 2 <= end ? p + 2 : -1;
    p += 1 + n;
  }
  return -1;
}

function ipv6(b: Uint8Array, at: number): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[at + i] << 8) | b[at + i + 1]).toString(16));
  // The shortest form (RFC 5952): the longest run of zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** The address a reverse name (4.3.2.1.in-addr.arpa, or nibbles under ip6.arpa) stands for, or null. */
export function reverseAddress(name: string): string | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (v4) {
    const parts = [v4[4], v4[3], v4[2], v4[1]].map(Number);
    return parts.every((x) => x <= 255) ? parts.join('.') : null;
  }
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(name);
  if (v6) {
    const nibbles = v6[1].split('.').filter(Boolean).reverse();
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = parseInt(nibbles[2 * i] + nibbles[2 * i + 1], 16);
    return ipv6(bytes, 0);
  }
  return null;
}
