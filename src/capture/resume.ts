// A capture that begins with one already analyzed — the file a tcpdump ring is still
// writing, read again after it grew; `mergecap -a old.pcap new.pcap` — is read for what
// is new: its first records are checked against the earlier capture (their count, the
// bytes they carried, the time of the last one; the first records' digest matched
// already) and, where they are that capture, skipped.
import { readCapture } from './reader';
import type { PacketSink } from './sink';

/** What an earlier reading of a capture saw: how many records, their wire bytes, the last one's time. */
export interface RecordsSeen {
  records: number;
  bytes: number;
  lastSec: number;
  lastNsec: number;
}

/**
 * The first `n` records of a file, walked without decoding: their count (fewer when the
 * file has fewer), wire bytes and last time, and whether more records follow.
 */
export async function firstRecords(path: string, n: number): Promise<RecordsSeen & { more: boolean }> {
  const seen = { records: 0, bytes: 0, lastSec: 0, lastNsec: 0, more: false };
  const sink: PacketSink = {
    packet(_link, sec, nsec, _buf, _off, _cap, origLen) {
      if (seen.records === n) {
        seen.more = true;
        return;
      }
      seen.records++;
      seen.bytes += origLen;
      seen.lastSec = sec;
      seen.lastNsec = nsec;
    },
  };
  await readCapture(path, sink, { shouldStop: () => seen.more });
  return seen;
}

/** Whether the first records of a file are the records an earlier reading saw. */
export function samePrefix(first: RecordsSeen, earlier: RecordsSeen): boolean {
  return first.records === earlier.records && first.bytes === earlier.bytes && first.lastSec === earlier.lastSec && first.lastNsec === earlier.lastNsec;
}

/** Hands on every record after the first `skip`, which it counts (records and wire bytes). */
export class SkipFirst implements PacketSink {
  skipped = 0;
  skippedBytes = 0;

  constructor(
    private readonly inner: PacketSink,
    private readonly skip: number,
  ) {}

  packet(linkType: number, sec: number, nsec: number, buf: Buffer, off: number, capLen: number, origLen: number): void {
    if (this.skipped < this.skip) {
      this.skipped++;
      this.skippedBytes += origLen;
      return;
    }
    this.inner.packet(linkType, sec, nsec, buf, off, capLen, origLen);
  }
}
