import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

const EDGE = 1024 * 1024;

/**
 * A cheap identity for "have we analyzed this file before?": SHA-256 over the size,
 * the first and the last MiB. A match is confirmed with the full SHA-256 (computed
 * while the file is analyzed) before anything is skipped.
 */
export function fingerprint(path: string): { size: number; fingerprint: string } {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const h = crypto.createHash('sha256');
    h.update(String(size));
    const buf = Buffer.allocUnsafe(Math.min(EDGE, size));
    const n1 = fs.readSync(fd, buf, 0, buf.length, 0);
    h.update(buf.subarray(0, n1));
    if (size > EDGE) {
      const n2 = fs.readSync(fd, buf, 0, buf.length, size - buf.length);
      h.update(buf.subarray(0, n2));
    }
    return { size, fingerprint: h.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/** Full SHA-256 of a file, streamed. */
export function sha256File(path: string): string {
  const fd = fs.openSync(path, 'r');
  try {
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The same fingerprint for a stream read once (standard input, a FIFO): the first
 * MiB is kept as it comes, the last MiB in a ring; so a capture piped in and the
 * same file named on the command line have the same fingerprint.
 */
export class StreamFingerprint {
  private readonly first = Buffer.alloc(EDGE);
  private firstLen = 0;
  private readonly ring = Buffer.alloc(EDGE);
  private ringEnd = 0;
  size = 0;

  update(chunk: Buffer): void {
    this.size += chunk.length;
    let c = chunk;
    if (this.firstLen < EDGE) {
      const n = Math.min(EDGE - this.firstLen, c.length);
      c.copy(this.first, this.firstLen, 0, n);
      this.firstLen += n;
    }
    // The last MiB: only the tail of a big chunk matters.
    if (c.length > EDGE) c = c.subarray(c.length - EDGE);
    const at = this.ringEnd % EDGE;
    const n1 = Math.min(EDGE - at, c.length);
    c.copy(this.ring, at, 0, n1);
    if (n1 < c.length) c.copy(this.ring, 0, n1);
    this.ringEnd += c.length;
  }

  digest(): string {
    const h = crypto.createHash('sha256');
    h.update(String(this.size));
    h.update(this.first.subarray(0, this.firstLen));
    if (this.size > EDGE) {
      const at = this.ringEnd % EDGE;
      h.update(this.ring.subarray(at));
      h.update(this.ring.subarray(0, at));
    }
    return h.digest('hex');
  }
}
