// Writing long outputs to standard output synchronously, in chunks, so a slow
// reader holds the writer back instead of the output piling up in memory.
import * as fs from 'node:fs';
import { Exit, UserError } from './errors';

/**
 * Writes all of `data` to a file descriptor. A pipe may take only part of a write
 * (or none, EAGAIN, when the reader is slow): keep going until everything is out.
 * A reader that went away (EPIPE, "| head") ends the program normally.
 */
export function writeAll(fd: number, data: Buffer): void {
  if (bomPending) {
    bomPending = false;
    data = Buffer.concat([BOM, data]);
  }
  let off = 0;
  let pause = FIRST_PAUSE_MS;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off, data.length - off);
      pause = FIRST_PAUSE_MS;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(Exit.Ok);
      // A full disk or a broken device behind a redirection: the user's to fix, not a bug.
      if (code !== 'EAGAIN') throw new UserError(`exflow: cannot write the output (${code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message})`, Exit.BadInput);
      // A full pipe: let the reader catch up, briefly first. A fixed 5 ms made `export | sha256sum`
      // of a million flows take 113 s instead of 21 (a 64 kB pipe is full after every chunk).
      Atomics.wait(PAUSE, 0, 0, pause);
      pause = Math.min(pause * 2, LAST_PAUSE_MS);
    }
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));
const FIRST_PAUSE_MS = 0.05;
const LAST_PAUSE_MS = 5;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
let bomPending = false;

/** --bom: the output starts with a UTF-8 byte order mark, which Excel needs to read CSV as UTF-8. */
export function startWithBom(): void {
  bomPending = true;
}

/**
 * A line sink that encodes into one reused 64 kB buffer and writes it to `fd` when full;
 * call flush() at the end. Encoding each line straight into the buffer (not joining lines
 * into a string first) keeps a long export's output from costing more than making it.
 */
export class ChunkedWriter {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;

  constructor(private readonly fd: number) {}

  /** Writes `s` (buffered); returns its length in bytes. */
  write = (s: string): number => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair's 4 bytes are 2 units).
    if (!this.fits(s.length * 3)) {
      const big = Buffer.from(s);
      writeAll(this.fd, big);
      return big.length;
    }
    const n = this.buf.write(s, this.used);
    this.used += n;
    return n;
  };

  /** Writes bytes already encoded (UTF-8), buffered like text. */
  writeBytes = (b: Uint8Array): number => {
    if (!this.fits(b.length)) writeAll(this.fd, Buffer.from(b.buffer, b.byteOffset, b.length));
    else {
      this.buf.set(b, this.used);
      this.used += b.length;
    }
    return b.length;
  };

  /** Whether up to `n` more bytes fit the buffer (flushed first when they do not fit beside what it holds). */
  private fits(n: number): boolean {
    if (this.used + n <= CHUNK) return true;
    this.flush();
    return n <= CHUNK;
  }

  flush(): void {
    if (this.used) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}
const CHUNK = 65536;

/** Everything the commands print to standard output goes through here (one EPIPE rule, no unbounded buffering). */
export function print(s: string): void {
  writeAll(1, Buffer.from(s));
}
