// NetBIOS name service on UDP 137 (RFC 1002 4.2): the names Windows hosts give
// themselves and each other where DNS says nothing. Read: a positive name query
// response (4.2.13: NB records, each a flags word and an address), a registration,
// refresh or multi-homed registration (opcodes 5, 8, 9; 4.2.2, 4.2.4) whose
// additional record claims a name for an address, and a node status response (4.2.18:
// the responder's own name table). Kept: unique names (the G bit clear) with the
// suffix 0x00 (workstation) or 0x20 (server) — a group name (the domain, the
// workgroup) or another suffix (the messenger's user names) names no host. A name is
// 16 bytes in "first-level encoding" (RFC 1001 14.1): each byte as two letters 'A'+nibble.
import type { FlowInspector } from '../flow/inspector';
import type { ByteBudget } from './dcerpc/budget';

const MAX_MESSAGES = 16;
const MAX_RECORDS = 16;
const HEADER = 12;
/** A first-level encoded name: a 32-byte label and its length byte. */
const ENCODED = 33;

const enum Op {
  Query = 0,
  Registration = 5,
  Refresh = 8,
  MultiHomed = 9,
}

const enum RrType {
  Nb = 0x20,
  NbStat = 0x21,
}

/** A name read: its address, or null for the responder of a node status query (the flow's server). */
export interface NetbiosName {
  address: string | null;
  name: string;
}

/** What a kept name is charged to the run's payload budget. */
const RECORD_COST = 64;

export class NbnsAnswers implements FlowInspector {
  readonly names: NetbiosName[] = [];
  private charged = 0;
  private messages = 0;
  private done = false;
  private clientDir = -1;

  constructor(private readonly budget: ByteBudget | null = null) {}

  segment(dir: number, _seq: number, _flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (this.done) return false;
    if (capLen === 0) return true;
    if (capLen < wireLen) return this.finish();
    this.messages++;
    this.message(dir, buf, off, off + capLen);
    return this.messages < MAX_MESSAGES && this.names.length < MAX_RECORDS ? !this.done : this.finish();
  }

  private message(dir: number, b: Buffer, o: number, end: number): void {
    if (end - o < HEADER) return;
    const flags = (b[o + 2] << 8) | b[o + 3];
    const response = (flags & 0x8000) !== 0;
    const op = (flags >> 11) & 0x0f;
    const qd = (b[o + 4] << 8) | b[o + 5];
    const an = (b[o + 6] << 8) | b[o + 7];
    const ar = (b[o + 10] << 8) | b[o + 11];
    if (!response && this.clientDir < 0) this.clientDir = dir;
    if (response && this.clientDir < 0) this.clientDir = dir ^ 1;
    let at = o + HEADER;
    if (!response) {
      // A claim for a name: the question, then the additional record with the address.
      if ((op !== Op.Registration && op !== Op.Refresh && op !== Op.MultiHomed) || qd !== 1 || ar !== 1) return;
      at = skipName(b, at, end);
      if (at < 0 || at + 4 > end) return;
      this.records(b, o, at + 4, end, 1);
      return;
    }
    if (op !== Op.Query || (flags & 0x000f) !== 0 || qd !== 0) return; // an error or another answer names nothing
    this.records(b, o, at, end, an);
  }

  /** Reads `count` resource records from b[at] of the message at b[o]. */
  private records(b: Buffer, o: number, at: number, end: number, count: number): void {
    for (let i = 0; i < count && at > 0 && !this.done; i++) {
      const name = decodeName(b, o, at, end);
      at = skipName(b, at, end);
      if (at < 0 || at + 10 > end) return;
      const type = (b[at] << 8) | b[at + 1];
      const len = (b[at + 8] << 8) | b[at + 9];
      const rd = at + 10;
      at = rd + len;
      if (at > end) return;
      if (type === RrType.Nb && name && hostName(name.suffix)) {
        // Entries of NB_FLAGS (the G bit: a group) and NB_ADDRESS.
        for (let e = rd; e + 6 <= rd + len; e += 6) {
          if ((b[e] & 0x80) === 0) this.push(`${b[e + 2]}.${b[e + 3]}.${b[e + 4]}.${b[e + 5]}`, name.text);
        }
      } else if (type === RrType.NbStat && len > 0) {
        // The responder's name table: NUM_NAMES, then 18-byte entries (16 name bytes, NAME_FLAGS).
        const n = b[rd];
        for (let e = rd + 1, k = 0; k < n && e + 18 <= rd + len; k++, e += 18) {
          if ((b[e + 16] & 0x80) !== 0 || !hostName(b[e + 15])) continue;
          const text = plainName(b, e);
          if (text) this.push(null, text);
        }
      }
    }
  }

  private push(address: string | null, name: string): void {
    if (this.names.some((r) => r.address === address && r.name === name)) return;
    if (this.budget && !this.budget.take(RECORD_COST)) {
      this.finish();
      return;
    }
    this.charged += RECORD_COST;
    this.names.push({ address, name });
  }

  /** The flow is written (its names taken): they go, and their charge goes back to the budget. */
  forget(): void {
    this.finish();
    this.budget?.give(this.charged);
    this.charged = 0;
    this.names.length = 0;
  }

  clientSide(): number {
    return this.clientDir;
  }

  finish(): false {
    this.done = true;
    return false;
  }
}

/** Whether a name with this suffix names a host: the workstation (0x00) or server (0x20) service. */
const hostName = (suffix: number) => suffix === 0x00 || suffix === 0x20;

/** The end of a name at b[at] (labels, or a compression pointer), or -1. */
function skipName(b: Uint8Array, at: number, end: number): number {
  for (let n = 0; n < 64 && at < end; n++) {
    const len = b[at];
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= end ? at + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    at += 1 + len;
  }
  return -1;
}

/**
 * The NetBIOS name (trailing spaces gone) and suffix of a first-level encoded name at b[at] of
 * the message at b[o] — or where its compression pointer leads (a registration's additional
 * record points at the question's name, RFC 1002 4.2.2) — or null.
 */
function decodeName(b: Uint8Array, o: number, at: number, end: number): { text: string; suffix: number } | null {
  if (at + 2 <= end && (b[at] & 0xc0) === 0xc0) at = o + (((b[at] & 0x3f) << 8) | b[at + 1]);
  if (at + ENCODED > end || b[at] !== 32) return null;
  const raw = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const hi = b[at + 1 + 2 * i] - 0x41;
    const lo = b[at + 2 + 2 * i] - 0x41;
    if (hi < 0 || hi > 15 || lo < 0 || lo > 15) return null;
    raw[i] = (hi << 4) | lo;
  }
  const text = plainName(raw, 0);
  return text ? { text, suffix: raw[15] } : null;
}

/** The 15 name bytes at b[at] as text: printable ASCII, trailing spaces dropped; null when empty or not printable. */
function plainName(b: Uint8Array, at: number): string | null {
  let end = at + 15;
  while (end > at && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  if (end === at) return null;
  let s = '';
  for (let i = at; i < end; i++) {
    if (b[i] <= 0x20 || b[i] >= 0x7f || b[i] === 0x2a) return null; // a space, a control, non-ASCII or the wildcard '*'
    s += String.fromCharCode(b[i]);
  }
  return s;
}
