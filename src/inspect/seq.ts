// Where a TCP segment falls in one direction of a stream, for the readers that take segments in
// capture order and do not hold a hole's far side (TLS, LDAP): a segment after bytes the capture
// lacks is a gap; one that repeats bytes already had (a retransmission, whole or in part) has those
// bytes skipped. The next segment is expected after the end of the furthest one seen.
export class SeqTracker {
  private next = -1;
  /** The segment last placed came after bytes the capture lacks. */
  gap = false;

  /**
   * Places a segment of `wireLen` bytes at `seq`, `capLen` of them captured: returns how many of
   * its first bytes were had already (0 for new bytes), or -1 when no captured byte is new.
   */
  place(seq: number, capLen: number, wireLen: number): number {
    this.gap = false;
    let had = 0;
    if (this.next >= 0) {
      const d = (seq - this.next) | 0;
      if (d > 0) this.gap = true;
      else if (d < 0) {
        if (-d >= capLen) return -1;
        had = -d;
      }
    }
    // The end of this segment, not of its new part: a partial retransmission ends where it ends.
    this.next = (seq + wireLen) >>> 0;
    return had;
  }

  /** Whether a segment was placed yet. */
  get started(): boolean {
    return this.next >= 0;
  }
}
