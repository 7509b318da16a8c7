// gzip input, member by member (RFC 1952), without losing a byte that inflated.
//
// Node's Gunzip raises an error for a bad CRC, for text after the data and for a
// cut-off file, and drops the output of the call that raised it — records that
// zcat prints. So the header and the trailer are read here and the deflate data
// goes to a raw inflater that never errs on an end that comes early: every byte
// it produced is delivered, and what is wrong with the trailer or after it
// becomes a warning after the data, as gzip(1) does.
import * as zlib from 'node:zlib';
import { CaptureDamage } from './errors';

const FTEXT_MASK = 0xe0; // reserved flag bits: must be zero
const FHCRC = 2;
/** Compressed bytes given to the inflater at a time. */
const SLICE = 16 * 1024;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

export interface GzipNotes {
  warn(offset: number, message: string): void;
}

/** Raw bytes with a push-back buffer and the stream offset of its first byte. */
class RawReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Input offset of buf[0]. */
  base = 0;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  get length(): number {
    return this.buf.length;
  }

  at(i: number): number {
    return this.buf[i];
  }

  /** At least n bytes buffered, or all there are. */
  async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    return this.buf.length >= n;
  }

  skip(n: number): void {
    this.buf = this.buf.subarray(n);
    this.base += n;
  }

  /** The buffered bytes, then the rest of the input, chunk by chunk. */
  async next(): Promise<Buffer | null> {
    if (this.buf.length) {
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      this.base += b.length;
      return b;
    }
    if (this.done) return null;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return null;
    }
    this.base += r.value.length;
    return r.value;
  }

  /** Puts bytes back in front (they were taken with next()). */
  unread(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([b, this.buf]) : b;
    this.base -= b.length;
  }

  /** Counts and drops the rest of the input. */
  async drain(): Promise<number> {
    let n = 0;
    for (let b = await this.next(); b; b = await this.next()) n += b.length;
    return n;
  }
}

/** The inflated bytes of every gzip member in `raw`; problems are notes (or CaptureDamage mid-data). */
export async function* gunzipMembers(raw: AsyncIterable<Buffer>, notes: GzipNotes): AsyncGenerator<Buffer> {
  const r = new RawReader(raw[Symbol.asyncIterator]());
  let inflatedTotal = 0;
  for (let member = 0; ; member++) {
    const at = r.base;
    if (!(await r.fill(1))) return; // clean end after the last member
    await r.fill(10);
    if (r.length < 10 || r.at(0) !== 0x1f || r.at(1) !== 0x8b || r.at(2) !== 8 || (r.at(3) & FTEXT_MASK) !== 0) {
      if (member === 0) throw new CaptureDamage(at, 'gzip header damaged');
      const rest = await r.drain();
      notes.warn(at, `${rest} bytes after the end of the gzip data are not another gzip member; ignored (gzip: trailing garbage ignored)`);
      return;
    }
    const flags = r.at(3);
    let pos = 10;
    if (flags & FEXTRA) {
      await r.fill(pos + 2);
      pos += 2 + (r.at(pos) | (r.at(pos + 1) << 8));
    }
    for (const f of [FNAME, FCOMMENT]) {
      if (!(flags & f)) continue;
      for (;;) {
        if (!(await r.fill(pos + 1))) break;
        if (r.at(pos++) === 0) break;
      }
    }
    if (flags & FHCRC) pos += 2;
    if (!(await r.fill(pos))) {
      notes.warn(at, 'the file ends inside a gzip header');
      return;
    }
    r.skip(pos);

    // The deflate data, fed in small slices until the inflater stops consuming
    // (its stream ended). A slice is processed before the next is written, so the
    // output of one slice is all that is ever held (≤ 1032 × SLICE: deflate's ratio).
    const bodyStart = r.base;
    const inflater = zlib.createInflateRaw({ chunkSize: 64 * 1024, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const out: Buffer[] = [];
    inflater.on('data', (c: Buffer) => out.push(c));
    let failure: Error | null = null;
    inflater.on('error', (e) => (failure ??= e));
    let fed = 0;
    const recent: { start: number; bytes: Buffer }[] = [];
    let ended = false;
    let crc = 0;
    let size = 0;
    const flushOut = function* (): Generator<Buffer> {
      while (out.length) {
        const c = out.shift()!;
        crc = zlib.crc32(c, crc);
        size += c.length;
        inflatedTotal += c.length;
        yield c;
      }
    };
    const damaged = (e: Error) => new CaptureDamage(inflatedTotal, `gzip data damaged at input byte ${bodyStart + inflater.bytesWritten} (${e.message})`);
    feeding: for (;;) {
      const b = await r.next();
      if (!b) break;
      recent.push({ start: fed, bytes: b });
      if (recent.length > 2) recent.shift();
      for (let o = 0; o < b.length; o += SLICE) {
        const piece = b.subarray(o, Math.min(o + SLICE, b.length));
        fed += piece.length;
        await new Promise<void>((resolve) => inflater.write(piece, () => resolve()));
        await new Promise<void>((resolve) => setImmediate(resolve));
        yield* flushOut();
        if (failure) throw damaged(failure);
        if (inflater.bytesWritten < fed) {
          ended = true;
          // The rest of this chunk was never given to the inflater: count it as fed, it is given back below.
          fed += b.length - o - piece.length;
          break feeding;
        }
      }
    }
    await new Promise<void>((resolve) => inflater.end(() => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield* flushOut();
    if (failure) throw damaged(failure);
    const consumed = inflater.bytesWritten;
    if (!ended && consumed >= fed) {
      // The input ended before the deflate data did (no end-of-stream marker, no trailer).
      notes.warn(bodyStart + consumed, 'the gzip data ends early (file cut off?); everything it held up to there was read');
      return;
    }
    // Give back what the inflater did not take: the trailer and whatever follows.
    const tail: Buffer[] = [];
    for (const c of recent) {
      const from = Math.max(consumed - c.start, 0);
      if (from < c.bytes.length) tail.push(c.bytes.subarray(from));
    }
    const back = Buffer.concat(tail);
    if (back.length) r.unread(back);
    const trailerAt = r.base;
    if (!(await r.fill(8))) {
      notes.warn(trailerAt, 'the gzip trailer (CRC-32 and size) is missing; the data was read');
      return;
    }
    const want = [r.at(0), r.at(1), r.at(2), r.at(3)].reduce((a, b, i) => a + b * 2 ** (8 * i), 0);
    const isize = [r.at(4), r.at(5), r.at(6), r.at(7)].reduce((a, b, i) => a + b * 2 ** (8 * i), 0);
    if (want !== crc >>> 0) notes.warn(trailerAt, `gzip CRC-32 mismatch (trailer says ${hex(want)}, the data gives ${hex(crc >>> 0)}); the data was read`);
    else if (isize !== size % 4294967296) notes.warn(trailerAt + 4, `gzip size mismatch (trailer says ${isize}, the data has ${size}); the data was read`);
    r.skip(8);
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
