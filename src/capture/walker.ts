import type { CaptureWarning, PacketSink } from './sink';

/**
 * A record walker frames one capture format out of a byte stream that arrives in
 * chunks. The driver owns the buffer; the walker consumes whole records from
 * `buf[start, end)` and returns where the first unconsumed byte is. A record that
 * straddles the end stays for the next call (the driver carries the remainder over).
 */
export interface RecordWalker {
  readonly format: string;
  /** Bytes the walker needs from the returned offset before it can make progress. */
  needed: number;
  packets: number;
  /** Link types seen (per interface for pcapng). */
  readonly linkTypes: Set<number>;
  readonly warnings: CaptureWarning[];
  /** Records longer than the file's stated snaplen, read all the same (classic pcap). */
  overSnaplen?: number;
  /** `base` is the file (or decompressed stream) offset of buf[0]. Throws CaptureDamage. */
  walk(buf: Buffer, start: number, end: number, base: number, sink: PacketSink): number;
}

/** The largest record we accept; a claimed length beyond it is damage, not a reason to allocate. */
export const MAX_RECORD = 64 * 1024 * 1024;
