import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { CaptureDamage, CaptureOpenError } from './errors';
import { PcapWalker } from './pcap';
import { PcapNgWalker } from './pcapng';
import type { CaptureWarning, PacketSink } from './sink';
import { MAX_RECORD, type RecordWalker } from './walker';

/** Chunk size for reads: large enough that per-chunk work vanishes, small enough to stay flat in memory. */
const CHUNK = 4 * 1024 * 1024;

export interface CaptureReadResult {
  path: string;
  format: string;
  compressed: boolean;
  fileSize: number;
  /** Bytes of capture data walked (decompressed bytes for .gz input). */
  bytesWalked: number;
  packets: number;
  linkTypes: number[];
  /** 'ok', or 'truncated' when reading stopped at damage; complete records before it were delivered. */
  status: 'ok' | 'truncated';
  warnings: CaptureWarning[];
}

export interface ReadOptions {
  /** Called once per chunk with compressed-or-plain file bytes consumed so far. */
  onProgress?: (fileBytesRead: number) => void;
}

/** The first bytes of a capture decide its format; file names never do. */
export function walkerForMagic(head: Buffer): RecordWalker | null {
  if (head.length < 4) return null;
  const m = head.readUInt32BE(0);
  switch (m) {
    case 0xd4c3b2a1: return new PcapWalker(true, false);
    case 0xa1b2c3d4: return new PcapWalker(false, false);
    case 0x4d3cb2a1: return new PcapWalker(true, true);
    case 0xa1b23c4d: return new PcapWalker(false, true);
    case 0x0a0d0d0a: return new PcapNgWalker();
    default: return null;
  }
}

function hex4(b: Buffer): string {
  return [...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Carries the bytes between reads: holds the unconsumed tail of one chunk at the
 * front of the buffer, appends the next chunk after it, and grows only when one
 * record is larger than the buffer (bounded by MAX_RECORD).
 */
class ChunkFramer {
  buf = Buffer.allocUnsafe(CHUNK);
  start = 0;
  end = 0;
  /** Stream offset of buf[0]. */
  base = 0;

  constructor(
    private readonly walker: RecordWalker,
    private readonly sink: PacketSink,
  ) {}

  /** Room at the end after moving the remainder to the front (and growing if a record needs it). */
  makeRoom(min: number): void {
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.end -= this.start;
      this.start = 0;
    }
    const want = Math.max(this.end + min, this.walker.needed);
    if (want > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(want, this.buf.length * 2), MAX_RECORD + CHUNK));
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
    }
  }

  walk(): void {
    this.start = this.walker.walk(this.buf, this.start, this.end, this.base, this.sink);
  }

  get remainder(): number {
    return this.end - this.start;
  }
  get offset(): number {
    return this.base + this.start;
  }
}

/**
 * Streams one capture file through `sink`. Never holds the file in memory: plain
 * files are read with readSync into one reused buffer; .gz input is inflated as a
 * stream. Throws CaptureOpenError when the file cannot be read at all; damage after
 * a good start ends reading with status 'truncated' and a warning instead.
 */
export async function readCapture(path: string, sink: PacketSink, opts: ReadOptions = {}): Promise<CaptureReadResult> {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new CaptureOpenError(path, describeFsError(e));
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new CaptureOpenError(path, 'is a directory, not a capture file');
    const head = Buffer.alloc(4);
    const got = fs.readSync(fd, head, 0, 4, 0);
    if (got >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      fs.closeSync(fd);
      fd = -1;
      return await readGzip(path, st.size, sink, opts);
    }
    if (got < 4) throw new CaptureOpenError(path, `too short to be a capture (${st.size} bytes)`);
    const walker = walkerForMagic(head);
    if (!walker) throw new CaptureOpenError(path, `not a pcap or pcapng file (first 4 bytes: ${hex4(head)})`);
    return readPlain(path, fd, st.size, walker, sink, opts);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

function readPlain(path: string, fd: number, size: number, walker: RecordWalker, sink: PacketSink, opts: ReadOptions): CaptureReadResult {
  const framer = new ChunkFramer(walker, sink);
  let pos = 0;
  let damage: CaptureDamage | null = null;
  try {
    for (;;) {
      framer.makeRoom(CHUNK / 2);
      const n = fs.readSync(fd, framer.buf, framer.end, framer.buf.length - framer.end, pos);
      if (n === 0) break;
      pos += n;
      framer.end += n;
      framer.walk();
      opts.onProgress?.(pos);
    }
  } catch (e) {
    if (!(e instanceof CaptureDamage)) throw e;
    damage = e;
  }
  return finish(path, false, size, framer, walker, damage);
}

async function readGzip(path: string, size: number, sink: PacketSink, opts: ReadOptions): Promise<CaptureReadResult> {
  const file = fs.createReadStream(path, { highWaterMark: 1024 * 1024 });
  const inflate = zlib.createGunzip({ chunkSize: 1024 * 1024 });
  file.pipe(inflate);
  let walker: RecordWalker | null = null;
  let framer: ChunkFramer | null = null;
  let damage: CaptureDamage | null = null;
  let inflated = 0;
  const head: Buffer[] = [];
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      if (!framer) {
        head.push(chunk);
        const joined = Buffer.concat(head);
        if (joined.length < 4) continue;
        walker = walkerForMagic(joined);
        if (!walker) throw new CaptureOpenError(path, `gzip data is not a pcap or pcapng capture (first 4 bytes inside: ${hex4(joined)})`);
        framer = new ChunkFramer(walker, sink);
        head.length = 0;
        framer.makeRoom(joined.length);
        joined.copy(framer.buf, framer.end);
        framer.end += joined.length;
      } else {
        framer.makeRoom(chunk.length);
        chunk.copy(framer.buf, framer.end);
        framer.end += chunk.length;
      }
      framer.walk();
      opts.onProgress?.(file.bytesRead);
    }
  } catch (e) {
    if (e instanceof CaptureDamage) damage = e;
    else if (e instanceof CaptureOpenError) throw e;
    else if (framer && isZlibError(e)) damage = new CaptureDamage(inflated, `gzip stream damaged (${(e as Error).message})`);
    else if (isZlibError(e)) throw new CaptureOpenError(path, `gzip stream damaged before any capture data (${(e as Error).message})`);
    else throw e;
  } finally {
    file.destroy();
  }
  if (!framer || !walker) throw new CaptureOpenError(path, `gzip data too short to hold a capture (${inflated} bytes inflated)`);
  return finish(path, true, size, framer, walker, damage);
}

function finish(path: string, compressed: boolean, size: number, framer: ChunkFramer, walker: RecordWalker, damage: CaptureDamage | null): CaptureReadResult {
  const warnings = walker.warnings.slice();
  let status: 'ok' | 'truncated' = 'ok';
  if (damage) {
    status = 'truncated';
    warnings.push({ offset: damage.offset, message: `${damage.reason}; stopped reading, ${walker.packets} complete records kept` });
  } else if (framer.remainder > 0) {
    status = 'truncated';
    warnings.push({
      offset: framer.offset,
      message: `file ends inside a record (${framer.remainder} of ${walker.needed} bytes present); ${walker.packets} complete records kept`,
    });
  }
  return {
    path,
    format: walker.format,
    compressed,
    fileSize: size,
    bytesWalked: framer.base + framer.end,
    packets: walker.packets,
    linkTypes: [...walker.linkTypes],
    status,
    warnings,
  };
}

function isZlibError(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return typeof code === 'string' && code.startsWith('Z_');
}

function describeFsError(e: unknown): string {
  const code = (e as { code?: string })?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a capture file';
  return (e as Error)?.message ?? String(e);
}
