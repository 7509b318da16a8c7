// The connection-oriented PDU header (C706 12.6.3.1; [MS-RPCE] 2.2.2.1) and the
// framing of a byte stream into PDUs: frag_length says where each ends, so a PDU
// may arrive in many segments and a segment may hold many PDUs. A partial PDU is
// carried over in one buffer per direction (frag_length is 16 bits, so 64 KiB is
// always enough), taken from the shared budget only while something is pending.

import { u16 } from '../../capture/bytes';
import type { ByteBudget } from './budget';

export const enum PType {
  Request = 0,
  Response = 2,
  Fault = 3,
  Bind = 11,
  BindAck = 12,
  BindNak = 13,
  AlterContext = 14,
  AlterContextResp = 15,
  Auth3 = 16,
  Shutdown = 17,
  CoCancel = 18,
  Orphaned = 19,
  /** RPC over HTTP's RTS PDU ([MS-RPCH] 2.2.3.6.1). */
  Rts = 20,
}

/** auth_type of a security trailer ([MS-RPCE] 2.2.1.1.7). */
export const enum AuthType {
  None = 0,
  /** RPC_C_AUTHN_DCE_PRIVATE */
  DcePrivate = 1,
  /** RPC_C_AUTHN_GSS_NEGOTIATE: SPNEGO, which carries NTLM or Kerberos */
  Spnego = 9,
  /** RPC_C_AUTHN_WINNT: NTLMSSP */
  Ntlm = 10,
  /** RPC_C_AUTHN_GSS_SCHANNEL */
  Schannel = 14,
  /** RPC_C_AUTHN_GSS_KERBEROS */
  Kerberos = 16,
  /** RPC_C_AUTHN_NETLOGON: the Netlogon secure channel */
  Netlogon = 0x44,
  /** RPC_C_AUTHN_DEFAULT: NTLM on Windows */
  Default = 0xff,
}

/** auth_type as the wire names it (the rpc_auth_type column). */
export function authTypeName(t: number): string {
  switch (t) {
    case AuthType.None: return 'none';
    case AuthType.DcePrivate: return 'dce-private';
    case AuthType.Spnego: return 'spnego';
    case AuthType.Ntlm: return 'ntlmssp';
    case AuthType.Schannel: return 'schannel';
    case AuthType.Kerberos: return 'kerberos';
    case AuthType.Netlogon: return 'netlogon';
    case AuthType.Default: return 'default';
    default: return `0x${t.toString(16).padStart(2, '0')}`;
  }
}

/** auth_level ([MS-RPCE] 2.2.1.1.8; C706 13.1.2.1), 1 … 6, as the rpc_auth_level column names it. */
export const AUTH_LEVELS = ['none', 'connect', 'call', 'packet', 'integrity', 'privacy'] as const;

export const enum PfcFlag {
  FirstFrag = 0x01,
  LastFrag = 0x02,
  ObjectUuid = 0x80,
}

export const HEADER_LEN = 16;

/** The greeting an ncacn_http endpoint sends before its first PDU ([MS-RPCH], RPC over HTTP). */
export const NCACN_HTTP_GREETING = 'ncacn_http/1.0';

/** True when the n bytes at `o` are the start (or all) of the ncacn_http greeting. */
export function matchesGreeting(b: Uint8Array, o: number, n: number): boolean {
  const m = Math.min(n, NCACN_HTTP_GREETING.length);
  for (let i = 0; i < m; i++) if (b[o + i] !== NCACN_HTTP_GREETING.charCodeAt(i)) return false;
  return m > 0;
}

/** frag_length of the header at `o`, in the byte order its data representation names. */
function fragLength(b: Uint8Array, o: number): number {
  return u16(b, o + 8, (b[o + 4] & 0x10) !== 0);
}

/** True when the bytes at `off` could start a connection-oriented PDU (used to attach by payload). */
export function looksLikeCoPdu(b: Uint8Array, off: number, len: number): boolean {
  if (len < HEADER_LEN) return false;
  if (b[off] !== 5 || b[off + 1] > 1) return false;
  const ptype = b[off + 2];
  if (ptype > PType.Rts || ptype === 1 || (ptype >= 4 && ptype <= 10)) return false; // 1, 4-10 are connectionless only
  const drep0 = b[off + 4];
  if ((drep0 & 0xee) !== 0 || b[off + 5] > 3) return false; // integer/char and float representations
  const fragLen = fragLength(b, off);
  const authLen = u16(b, off + 10, (drep0 & 0x10) !== 0);
  return fragLen >= HEADER_LEN && (authLen === 0 || authLen + 8 <= fragLen - HEADER_LEN);
}

export type OnPdu = (buf: Uint8Array, off: number, len: number) => void;

const CARRY = 65536;
/**
 * Carry buffers go back to a pool instead of the garbage collector: every RPC
 * message that spans TCP segments (most MAPI, NSPI and DRSUAPI fragments) needs
 * one for a moment, and a fresh 64 KiB each time meant hundreds of GC pauses.
 * The pool keeps at most POOL_MAX (4 MiB); the budget still counts buffers in use.
 */
const carryPool: Buffer[] = [];
const POOL_MAX = 64;

/** Splits one direction's byte stream into whole PDUs. */
export class PduFramer {
  private carry: Buffer | null = null;
  private have = 0;
  /** Set when the stream stopped looking like DCE/RPC; the framer then ignores input. */
  bad: string | null = null;

  constructor(
    private readonly budget: ByteBudget,
    private readonly onPdu: OnPdu,
  ) {}

  push(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let p = off;
    while (p < end && this.bad === null) {
      if (this.have > 0) {
        p = this.fill(buf, p, end);
        continue;
      }
      const avail = end - p;
      if (avail >= HEADER_LEN) {
        const fragLen = this.check(buf, p);
        if (fragLen < 0) return;
        if (fragLen <= avail) {
          this.onPdu(buf, p, fragLen);
          p += fragLen;
          continue;
        }
      }
      if (!this.startCarry()) return;
      p = this.fill(buf, p, end);
    }
  }

  /** Copies into the carry buffer up to the end of the current PDU; emits it when whole. */
  private fill(buf: Uint8Array, p: number, end: number): number {
    const c = this.carry!;
    if (this.have < HEADER_LEN) {
      const take = Math.min(HEADER_LEN - this.have, end - p);
      c.set(buf.subarray(p, p + take), this.have);
      this.have += take;
      p += take;
      if (this.have < HEADER_LEN) return p;
      if (this.check(c, 0) < 0) return end;
    }
    const fragLen = fragLength(c, 0);
    const take = Math.min(fragLen - this.have, end - p);
    c.set(buf.subarray(p, p + take), this.have);
    this.have += take;
    p += take;
    if (this.have === fragLen) {
      this.have = 0;
      this.onPdu(c, 0, fragLen);
      this.endCarry();
    }
    return p;
  }

  private startCarry(): boolean {
    if (this.carry) return true;
    if (!this.budget.take(CARRY)) {
      this.bad = 'reassembly budget exhausted';
      return false;
    }
    this.carry = carryPool.pop() ?? Buffer.allocUnsafe(CARRY);
    return true;
  }

  private endCarry(): void {
    if (this.carry && this.have === 0) this.dropCarry();
  }

  private dropCarry(): void {
    if (carryPool.length < POOL_MAX) carryPool.push(this.carry!);
    this.carry = null;
    this.budget.give(CARRY);
  }

  /** Validates a header; returns frag_length, or -1 after marking the stream bad. */
  private check(b: Uint8Array, o: number): number {
    if (!looksLikeCoPdu(b, o, HEADER_LEN)) {
      this.bad = `bytes that are not a DCE/RPC header (${hex(b, o, 4)})`;
      this.release();
      return -1;
    }
    return fragLength(b, o);
  }

  release(): void {
    if (this.carry) {
      this.have = 0;
      this.dropCarry();
    }
  }
}

function hex(b: Uint8Array, o: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += b[o + i].toString(16).padStart(2, '0');
  return s;
}
