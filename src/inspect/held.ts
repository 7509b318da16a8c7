// A unit of a stream (a TLS record, a handshake message, an LDAP message) that runs past
// the segment it began in: whole units are read where they lie; only a tail is copied.
import type { ByteBudget } from './dcerpc/budget';

/**
 * The bytes of an unfinished unit (a record, a handshake message) held between
 * segments. Whole units are read where they lie; only a tail is copied, into a
 * buffer charged to the run's budget and given back by release().
 */
export class Held {
  private buf: Buffer | null = null;
  private len = 0;
  private charged = 0;
  private released = false;

  constructor(
    private readonly max: number,
    private readonly budget: ByteBudget | null,
  ) {}

  /**
   * Reads the whole units of what is held plus b[off, off + n) with `read` (which
   * returns the bytes it used) and keeps the rest; false when the rest is over the
   * bound or the budget said no.
   */
  feed(b: Buffer, off: number, n: number, read: (b: Buffer, from: number, to: number) => number): boolean {
    if (this.len === 0) {
      const used = read(b, off, off + n);
      return this.released || used === n || this.add(b, off + used, n - used);
    }
    if (!this.add(b, off, n)) return false;
    const used = read(this.buf!, 0, this.len);
    if (!this.released) {
      this.buf!.copy(this.buf!, 0, used, this.len);
      this.len -= used;
    }
    return true;
  }

  private add(b: Buffer, off: number, n: number): boolean {
    if (this.len + n > this.max) return false;
    if (!this.buf || this.buf.length < this.len + n) {
      const size = Math.min(this.max, Math.max(2048, (this.len + n) * 2));
      const extra = size - (this.buf?.length ?? 0);
      if (this.budget && !this.budget.take(extra)) return false;
      this.charged += extra;
      const grown = Buffer.allocUnsafe(size);
      if (this.buf) this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    b.copy(this.buf, this.len, off, off + n);
    this.len += n;
    return true;
  }

  /** Forgets what is held (a gap in the capture: the unit cannot be completed); the buffer stays for the next. */
  drop(): void {
    this.len = 0;
  }

  release(): void {
    if (this.budget && this.charged > 0) this.budget.give(this.charged);
    this.charged = 0;
    this.buf = null;
    this.len = 0;
    this.released = true;
  }
}
