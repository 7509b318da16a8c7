import * as fs from 'node:fs';
import { CaptureOpenError } from './errors';
import { HeadDigest } from './head';
import { readCapture } from './reader';

export interface Peek {
  /** Seconds and nanoseconds of the first packet; NaN when the capture has none. */
  firstSec: number;
  firstNsec: number;
  /** Digest of the first records (same packets in any format → same digest); null without records. */
  headDigest: string | null;
  /**
   * The most flows the file can hold: its bytes over the fewest bytes a flow's first packet is
   * stored in (an IPv4 header and the ports, without link layer or record header); unbounded
   * when it is compressed.
   */
  mostFlows: number;
}

/** An IPv4 header (20 bytes) and a TCP or UDP header's ports (4): no stored packet that begins a flow is shorter. */
const FEWEST_FLOW_BYTES = 24;

function isGzip(path: string): boolean {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the start of a regular capture file (its first chunk; the first inflated
 * chunk of a .gz) for what ordering and duplicate detection need. Throws
 * CaptureOpenError when it is not a capture.
 */
export async function peekCapture(path: string): Promise<Peek> {
  const st = fs.statSync(path);
  if (!st.isFile()) throw new CaptureOpenError(path, 'not a regular file');
  const head = new HeadDigest();
  await readCapture(path, head, { shouldStop: () => head.done });
  const mostFlows = isGzip(path) ? Infinity : Math.ceil(st.size / FEWEST_FLOW_BYTES);
  return { firstSec: head.firstSec, firstNsec: head.firstNsec, headDigest: head.digest(), mostFlows };
}
