// In-order delivery of one direction of a TCP connection to a consumer. Segments
// at the expected sequence number are passed straight through (no copy);
// retransmissions and overlaps are trimmed to their new bytes; segments ahead of
// a hole are copied and held, up to a per-direction bound drawn from the shared
// budget. A hole that does not fill within that bound, or bytes the snaplen cut
// off, end the direction: the consumer is told why and receives nothing more.

import type { ByteBudget } from './budget';

export type Deliver = (buf: Uint8Array, off: number, len: number) => void;

export const enum StreamEnd {
  Open = 0,
  /** Bytes missing from the capture (a hole that never filled). */
  Gap = 1,
  /** The snaplen cut the payload. */
  Snaplen = 2,
  /** The consumer stopped (not DCE/RPC, or a malformed PDU). */
  Consumer = 3,
  /** The connection had what it needed and let go of the stream (nothing to say about it). */
  Released = 4,
}

/** Out-of-order bytes held per direction before a hole is declared a gap. */
const HOLD_LIMIT = 256 * 1024;
/** Out-of-order segments held per direction. */
const HOLD_SEGMENTS = 64;

interface Held {
  seq: number;
  data: Buffer;
}

export class DirectionStream {
  /** Next expected sequence number; -1 until the first SYN or payload. */
  private next = -1;
  private held: Held[] = [];
  private heldBytes = 0;
  /** Bytes delivered so far (the stream offset of the next byte). */
  delivered = 0;
  end: StreamEnd = StreamEnd.Open;

  constructor(
    private readonly budget: ByteBudget,
    private readonly deliver: Deliver,
  ) {}

  segment(seq: number, syn: boolean, buf: Uint8Array, off: number, capLen: number, wireLen: number): void {
    if (this.end !== StreamEnd.Open) return;
    if (syn) {
      if (this.next < 0) this.next = (seq + 1) >>> 0;
      seq = (seq + 1) >>> 0; // a SYN with data (rare) carries it after the SYN's own sequence number
    }
    if (wireLen === 0) return;
    if (this.next < 0) this.next = seq;
    const cut = capLen < wireLen;
    const diff = (seq - this.next) | 0;
    if (diff > 0) {
      if (cut) return this.stop(StreamEnd.Snaplen);
      this.hold(seq, buf, off, capLen);
      return;
    }
    this.accept(diff, buf, off, capLen);
    if (cut && this.end === StreamEnd.Open) {
      // Only the first capLen of wireLen bytes exist: nothing after them can be trusted.
      if (-diff < wireLen) return this.stop(StreamEnd.Snaplen);
    }
    if (this.held.length > 0) this.drain();
  }

  /** Delivers a segment that starts at or before `next` (diff ≤ 0), trimmed to its new bytes. */
  private accept(diff: number, buf: Uint8Array, off: number, len: number): void {
    const skip = -diff;
    if (skip >= len) return; // a pure retransmission or keep-alive
    const n = len - skip;
    this.next = (this.next + n) >>> 0;
    this.delivered += n;
    this.deliver(buf, off + skip, n);
  }

  private hold(seq: number, buf: Uint8Array, off: number, len: number): void {
    if (this.held.length >= HOLD_SEGMENTS || this.heldBytes + len > HOLD_LIMIT || !this.budget.take(len)) {
      return this.stop(StreamEnd.Gap);
    }
    this.held.push({ seq, data: Buffer.from(buf.subarray(off, off + len)) });
    this.heldBytes += len;
  }

  private drain(): void {
    let progress = true;
    while (progress && this.end === StreamEnd.Open) {
      progress = false;
      for (let i = 0; i < this.held.length; i++) {
        const h = this.held[i];
        const diff = (h.seq - this.next) | 0;
        if (diff > 0) continue;
        this.held.splice(i, 1);
        this.release(h.data.length);
        this.accept(diff, h.data, 0, h.data.length);
        progress = true;
        break;
      }
    }
  }

  private release(n: number): void {
    this.heldBytes -= n;
    this.budget.give(n);
  }

  /** At the end of the flow: a hole still open means bytes were never captured. */
  finish(): void {
    if (this.held.length > 0 && this.end === StreamEnd.Open) this.stop(StreamEnd.Gap);
  }

  stop(why: StreamEnd): void {
    if (this.end === StreamEnd.Open) this.end = why;
    for (const h of this.held) this.release(h.data.length);
    this.held = [];
  }
}
