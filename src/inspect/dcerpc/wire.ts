// A bounds-checked cursor over one PDU body or stub, for per-PDU (not per-packet)
// code. Every read checks the end first and throws the one shared OUT_OF_BYTES
// value, so a malformed or truncated input ends the decode of that unit and is
// caught by its caller; nothing reads past `end` and no count allocates before
// the bytes for it are known to exist.

import { u16, u32 } from '../../capture/bytes';

/**
 * Bytes that do not hold what the protocol says they should: the one kind of
 * error decoders throw and inspectors catch (and note). Anything else — a
 * TypeError, a RangeError from the runtime — is a bug and is not caught there.
 */
export class Malformed extends Error {}
export class OutOfBytes extends Malformed {}

/** Whether `e` is a decoding problem of the bytes (noted and skipped), not a bug (rethrown). */
export function isMalformed(e: unknown): e is Malformed {
  return e instanceof Malformed;
}
export const OUT_OF_BYTES = new OutOfBytes('out of bytes');

export class WireReader {
  buf: Uint8Array = new Uint8Array(0);
  /** Where alignment is measured from (the stub start for NDR). */
  base = 0;
  pos = 0;
  end = 0;
  /** Integer byte order: DCE/RPC's data representation says which. */
  le = true;
  /** NDR64 transfer syntax: pointers and counts are 8 bytes. */
  ndr64 = false;

  reset(buf: Uint8Array, start: number, end: number, le: boolean, ndr64 = false): this {
    this.buf = buf;
    this.base = start;
    this.pos = start;
    this.end = end;
    this.le = le;
    this.ndr64 = ndr64;
    return this;
  }

  get left(): number {
    return this.end - this.pos;
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw OUT_OF_BYTES;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  align(n: number): void {
    const rem = (this.pos - this.base) % n;
    if (rem !== 0) this.skip(n - rem);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    this.pos += 2;
    return u16(this.buf, this.pos - 2, this.le);
  }

  u32(): number {
    this.need(4);
    this.pos += 4;
    return u32(this.buf, this.pos - 4, this.le);
  }

  /** A 64-bit count as a number; values beyond 2^32 are absurd here and read as "huge". */
  u64(): number {
    const a = this.u32();
    const b = this.u32();
    const [lo, hi] = this.le ? [a, b] : [b, a];
    return hi === 0 ? lo : Number.MAX_SAFE_INTEGER;
  }

  /** NDR aligned u32. */
  ndrU32(): number {
    this.align(4);
    return this.u32();
  }

  /** A pointer referent id or a conformance/variance count: 4 bytes in NDR, 8 in NDR64. */
  ndrSize(): number {
    if (this.ndr64) {
      this.align(8);
      return this.u64();
    }
    this.align(4);
    return this.u32();
  }

  /** A UUID in the reader's integer byte order (fields 1-3 swapped when little-endian). */
  uuid(): string {
    this.need(16);
    const s = uuidAt(this.buf, this.pos, this.le);
    this.pos += 16;
    return s;
  }

  latin1(n: number): string {
    this.need(n);
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = this.buf[this.pos + i];
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    this.pos += n;
    return s;
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Formats the 16 UUID bytes at `o` as text; `le` says how the first three fields are stored. */
export function uuidAt(b: Uint8Array, o: number, le: boolean): string {
  const h = (i: number) => HEX[b[o + i]];
  const d1 = le ? h(3) + h(2) + h(1) + h(0) : h(0) + h(1) + h(2) + h(3);
  const d2 = le ? h(5) + h(4) : h(4) + h(5);
  const d3 = le ? h(7) + h(6) : h(6) + h(7);
  return `${d1}-${d2}-${d3}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}
