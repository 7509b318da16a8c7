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
  return { firstSec: head.firstSec, firstNsec: head.firstNsec, headDigest: head.digest() };
}
