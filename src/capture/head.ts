import * as crypto from 'node:crypto';
import type { PacketSink } from './sink';

/** Records that make up a capture's head digest. */
export const HEAD_RECORDS = 64;
const HEAD_BYTES = 256 * 1024;

/**
 * A digest of a capture's first records — timestamps (ns), lengths, link type and
 * bytes — independent of the file format: the same packets saved as pcap, pcapng
 * or gzip give the same digest. Copies into one fixed buffer; hashed once at the end.
 */
export class HeadDigest implements PacketSink {
  private readonly buf = Buffer.alloc(HEAD_BYTES);
  private used = 0;
  records = 0;
  firstSec = NaN;
  firstNsec = NaN;

  get done(): boolean {
    return this.records >= HEAD_RECORDS || this.used >= HEAD_BYTES;
  }

  packet(linkType: number, sec: number, nsec: number, buf: Buffer, off: number, capLen: number, origLen: number): void {
    if (this.records === 0) {
      this.firstSec = sec;
      this.firstNsec = nsec;
    }
    if (this.done) return;
    this.records++;
    const b = this.buf;
    if (this.used + 24 > HEAD_BYTES) {
      this.used = HEAD_BYTES;
      return;
    }
    b.writeDoubleLE(sec, this.used);
    b.writeUInt32LE(nsec >>> 0, this.used + 8);
    b.writeUInt32LE(capLen, this.used + 12);
    b.writeUInt32LE(origLen, this.used + 16);
    b.writeUInt32LE(linkType, this.used + 20);
    this.used += 24;
    const n = Math.min(capLen, HEAD_BYTES - this.used);
    buf.copy(b, this.used, off, off + n);
    this.used += n;
  }

  /** Hex SHA-256 of what was collected; null when there was no record. */
  digest(): string | null {
    if (this.records === 0) return null;
    return crypto.createHash('sha256').update(this.buf.subarray(0, this.used)).digest('hex');
  }
}

/** Forwards every packet to `next`, and the first ones to a HeadDigest as well. */
export class HeadTee implements PacketSink {
  readonly head = new HeadDigest();
  constructor(private readonly next: PacketSink) {}
  packet(linkType: number, sec: number, nsec: number, buf: Buffer, off: number, capLen: number, origLen: number): void {
    if (!this.head.done) this.head.packet(linkType, sec, nsec, buf, off, capLen, origLen);
    this.next.packet(linkType, sec, nsec, buf, off, capLen, origLen);
  }
}
