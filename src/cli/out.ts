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
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off, data.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(Exit.Ok);
      // A full disk or a broken device behind a redirection: the user's to fix, not a bug.
      if (code !== 'EAGAIN') throw new UserError(`exflow: cannot write the output (${code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message})`, Exit.BadInput);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // let the reader catch up
    }
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
let bomPending = false;

/** --bom: the output starts with a UTF-8 byte order mark, which Excel needs to read CSV as UTF-8. */
export function startWithBom(): void {
  bomPending = true;
}

/** A line sink that batches into ~64 kB writes to `fd`; call flush() at the end. */
export class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly fd: number) {}

  write = (s: string): void => {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= 65536) this.flush();
  };

  flush(): void {
    if (this.parts.length) writeAll(this.fd, Buffer.from(this.parts.join('')));
    this.parts = [];
    this.size = 0;
  }
}

/** Everything the commands print to standard output goes through here (one EPIPE rule, no unbounded buffering). */
export function print(s: string): void {
  writeAll(1, Buffer.from(s));
}
