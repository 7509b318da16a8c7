import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { gunzipMembers } from './gunzip';
import { CaptureDamage, CaptureOpenError } from './errors';
import { PcapWalker } from './pcap';
import { PcapNgWalker } from './pcapng';
import type { CaptureWarning, PacketSink } from './sink';
import { MAX_RECORD, type RecordWalker } from './walker';

/** Chunk size for a stream's gathering buffer: large enough that per-chunk work vanishes, small enough to stay flat in memory. */
const CHUNK = 4 * 1024 * 1024;
/** The chunk buffer never grows past this: the largest record plus room for the next chunk. */
const BUFFER_LIMIT = MAX_RECORD + 2 * CHUNK;

export interface CaptureReadResult {
  path: string;
  format: string;
  compressed: boolean;
  /** File size; for a stream (standard input, a FIFO), the bytes read from it. */
  fileSize: number;
  /** Bytes of capture data walked (decompressed bytes for .gz input). */
  bytesWalked: number;
  packets: number;
  linkTypes: number[];
  /** 'ok', or 'truncated' when reading stopped at damage; complete records before it were delivered. */
  status: 'ok' | 'truncated';
  /** Reading was stopped on request (shouldStop) before the end of the input. */
  stopped: boolean;
  warnings: CaptureWarning[];
}

export interface ReadOptions {
  /** Called once per chunk with compressed-or-plain input bytes consumed so far. */
  onProgress?: (inputBytesRead: number) => void;
  /** Asked between chunks: true stops reading there (a clean point: whole records only). */
  shouldStop?: () => boolean;
  /** Every input byte as read (compressed bytes for gzip): hashing while reading, for inputs that cannot be read twice. */
  onInput?: (chunk: Buffer) => void;
  /** An input already open, read instead of opening the path (a capture process's output: analyze --interface). */
  stream?: Readable;
}

/** Standard input, by its conventional name. */
export const STDIN = '-';

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
 * Carries the bytes between reads. A file's chunks are read ahead into two buffers in
 * turn, each with HEADROOM bytes free in front: the unconsumed tail of one chunk (a
 * record cut by the chunk's end) is moved in front of the next, and walking goes on
 * in that buffer. A tail longer than the headroom (a record of more than 256 KiB) is
 * gathered in the framer's own buffer instead, which grows only as far as one record
 * needs (bounded by MAX_RECORD). Streams, whose chunks come in buffers of their own,
 * are appended to that buffer too.
 */
class ChunkFramer {
  buf: Buffer;
  start = 0;
  end = 0;
  /** Stream offset of buf[0]. */
  base = 0;
  /** Where tails longer than the headroom, and streams' chunks, are gathered. */
  private own: Buffer | null = null;

  constructor(
    private readonly walker: RecordWalker,
    private readonly sink: PacketSink,
  ) {
    this.buf = this.gather();
  }

  private gather(): Buffer {
    this.own ??= Buffer.allocUnsafe(CHUNK);
    return this.own;
  }

  /** Room at the end of the own buffer after moving the remainder to its front (and growing if a record needs it). */
  makeRoom(min: number): void {
    if (this.buf !== this.own) {
      // Walking went on in a read-ahead buffer: its tail moves to the own buffer.
      const own = this.gather();
      const r = this.end - this.start;
      if (r > own.length) this.own = Buffer.allocUnsafe(Math.min(Math.max(r + min, own.length * 2), BUFFER_LIMIT));
      this.buf.copy(this.own!, 0, this.start, this.end);
      this.base += this.start;
      this.buf = this.own!;
      this.start = 0;
      this.end = r;
    }
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.end -= this.start;
      this.start = 0;
    }
    const want = Math.max(this.end + min, this.walker.needed);
    if (want > BUFFER_LIMIT) {
      // Walkers refuse records over MAX_RECORD before asking for them; this guards the copy below.
      throw new CaptureDamage(this.offset, `a record needs ${this.walker.needed} bytes, more than the ${MAX_RECORD / 1048576} MiB any record may have`);
    }
    if (want > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(want, this.buf.length * 2), BUFFER_LIMIT));
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
      this.own = grown;
    }
  }

  /**
   * Before a read into `chunk` at `at`: a remainder still lying in that buffer moves out
   * of the read's way — in front of `at` when it fits there, else to the own buffer.
   */
  clear(chunk: Buffer, at: number): void {
    if (this.buf !== chunk) return;
    const r = this.end - this.start;
    if (r > at) {
      this.makeRoom(0);
      return;
    }
    chunk.copy(chunk, at - r, this.start, this.end);
    this.base += this.start - (at - r);
    this.start = at - r;
    this.end = at;
  }

  /**
   * The next chunk lies in `chunk` at [at, at + n), stream offset `pos`, with `at` bytes
   * free before it: the remainder moves there and walking continues in `chunk` — or,
   * when the remainder is longer, the chunk is appended to it in the own buffer.
   */
  adopt(chunk: Buffer, at: number, n: number, pos: number): void {
    const r = this.end - this.start;
    if (r <= at) {
      if (r > 0) this.buf.copy(chunk, at - r, this.start, this.end);
      this.buf = chunk;
      this.start = at - r;
      this.end = at + n;
      this.base = pos - at;
      return;
    }
    this.makeRoom(n);
    chunk.copy(this.buf, this.end, at, at + n);
    this.end += n;
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
 * Streams one capture through `sink`: a file, or `-` for standard input (or a FIFO,
 * a device: anything that is not a regular file is read once, as a stream). Never
 * holds the input in memory. Yields to the event loop between chunks, so a signal
 * can stop it at a clean point. Throws CaptureOpenError when the input cannot be
 * read at all; damage after a good start ends reading with status 'truncated'.
 */
export async function readCapture(path: string, sink: PacketSink, opts: ReadOptions = {}): Promise<CaptureReadResult> {
  if (opts.stream) return readStream(path, opts.stream, sink, opts);
  if (path === STDIN) return readStream(path, process.stdin, sink, opts);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new CaptureOpenError(path, describeFsError(e));
  }
  let owned = true;
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new CaptureOpenError(path, 'is a directory, not a capture file');
    if (!st.isFile()) {
      owned = false;
      return await readStream(path, fs.createReadStream('', { fd, highWaterMark: 1024 * 1024 }), sink, opts);
    }
    const head = Buffer.alloc(4);
    const got = fs.readSync(fd, head, 0, 4, 0);
    if (got >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      owned = false;
      return await readStream(path, fs.createReadStream('', { fd, highWaterMark: 1024 * 1024 }), sink, opts, st.size);
    }
    if (got < 4) throw new CaptureOpenError(path, `too short to be a capture (${st.size} bytes)`);
    const walker = walkerForMagic(head);
    if (!walker) throw new CaptureOpenError(path, `not a pcap or pcapng file (first 4 bytes: ${hex4(head)})`);
    return await readPlain(path, fd, st.size, walker, sink, opts);
  } finally {
    if (owned) fs.closeSync(fd);
  }
}

/**
 * A regular file is read in small pieces into one buffer that stays in the core's
 * cache: the copy out of the page cache and the walk then touch cached lines only.
 * Measured on the bench's 1.9 GB mix (src/samples/org-day.ts): 64 KiB reads into a
 * 128 KiB buffer, 0.32 s for reading and walking 2M records; 4 MiB chunks read ahead
 * by the thread pool into two 4.25 MiB buffers, 1.25 s — every byte then goes to
 * memory and back (this machine copies ~1.7 GB/s once a buffer leaves the cache).
 * The kernel's read-ahead keeps a cold file's disk reads ahead of these.
 */
const READ_BYTES = 64 * 1024;
/** Free bytes in front of each read, for the tail of the read before it. */
const HEADROOM = 64 * 1024;
/** Between two turns of the event loop (a signal, the progress line, a stop request). */
const TURN_BYTES = 4 * 1024 * 1024;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A regular file, front to back, in READ_BYTES pieces (synchronous reads: a read
 * from the page cache costs less than handing it to another thread), with a turn of
 * the event loop every TURN_BYTES.
 */
async function readPlain(path: string, fd: number, size: number, walker: RecordWalker, sink: PacketSink, opts: ReadOptions): Promise<CaptureReadResult> {
  const framer = new ChunkFramer(walker, sink);
  const buf = Buffer.allocUnsafe(HEADROOM + READ_BYTES);
  let pos = 0;
  let turn = TURN_BYTES;
  let damage: CaptureDamage | null = null;
  let stopped = false;
  try {
    for (;;) {
      // The tail of the last read moves in front of this one, so the walk goes on in one buffer.
      framer.clear(buf, HEADROOM);
      const n = fs.readSync(fd, buf, HEADROOM, READ_BYTES, pos);
      if (n === 0) break;
      opts.onInput?.(buf.subarray(HEADROOM, HEADROOM + n));
      framer.adopt(buf, HEADROOM, n, pos);
      pos += n;
      framer.walk();
      if (pos >= turn) {
        turn = pos + TURN_BYTES;
        opts.onProgress?.(pos);
        if (opts.shouldStop?.()) {
          stopped = true;
          break;
        }
        await nextTurn();
      }
    }
    opts.onProgress?.(pos);
  } catch (e) {
    if (!(e instanceof CaptureDamage)) {
      if (isReadError(e)) throw new CaptureOpenError(path, describeFsError(e));
      throw e;
    }
    damage = e;
  }
  return finish(path, false, size, framer, walker, damage, stopped);
}

/** The input's bytes, each chunk also handed to onInput; counts what was read. */
async function* counted(src: AsyncIterable<Buffer>, opts: ReadOptions, total: { n: number }): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    total.n += chunk.length;
    opts.onInput?.(chunk);
    yield chunk;
  }
}

/** A capture read once, front to back: standard input, a FIFO, a device, any gzip input, or bytes in memory. */
export async function readStream(path: string, input: Readable, sink: PacketSink, opts: ReadOptions = {}, knownSize?: number): Promise<CaptureReadResult> {
  const read = { n: 0 };
  const raw = counted(input as AsyncIterable<Buffer>, opts, read);
  let walker: RecordWalker | null = null;
  let framer: ChunkFramer | null = null;
  let damage: CaptureDamage | null = null;
  let stopped = false;
  let compressed = false;
  let delivered = 0;
  let chunks: AsyncIterable<Buffer>;
  const head: Buffer[] = [];
  let headLen = 0;
  /** Problems of the gzip container (trailer, trailing data): warnings after the data, which was all read. */
  const gzipNotes: CaptureWarning[] = [];
  // A live input may go quiet for hours: a stop request ends the wait for its next bytes, and
  // progress is reported while it waits (a live run commits what ended within --flush-interval,
  // however slowly the bytes come). The timer runs only while the reading awaits its next
  // chunk — every record before it has been walked — so what it reports is consistent.
  // What the timer's progress call threw (a live commit the database refused): an exception in a
  // timer would end the process with a stack trace; it ends the reading and is thrown from it instead.
  let fault: { error: unknown } | null = null;
  const watch = opts.shouldStop || opts.onProgress
    ? setInterval(() => {
        if (fault) return;
        try {
          if (opts.shouldStop?.()) {
            stopped = true;
            input.destroy();
          } else opts.onProgress?.(read.n);
        } catch (error) {
          fault = { error };
          input.destroy();
        }
      }, 100)
    : null;
  try {
    // The first bytes decide: gzip, or a capture format.
    while (headLen < 4) {
      const r = await raw.next();
      if (r.done) break;
      head.push(r.value);
      headLen += r.value.length;
    }
    const start = Buffer.concat(head);
    if (start.length >= 2 && start[0] === 0x1f && start[1] === 0x8b) {
      compressed = true;
      chunks = gunzipMembers((async function* () {
        yield start;
        yield* raw;
      })(), { warn: (offset, message) => gzipNotes.push({ offset, message }) });
    } else {
      chunks = (async function* () {
        if (start.length > 0) yield start;
        yield* raw;
      })();
    }
    const pending: Buffer[] = [];
    for await (const chunk of chunks) {
      delivered += chunk.length;
      if (!framer) {
        pending.push(chunk);
        const joined = Buffer.concat(pending);
        if (joined.length < 4) continue;
        walker = walkerForMagic(joined);
        if (!walker) {
          throw new CaptureOpenError(path, compressed
            ? `gzip data is not a pcap or pcapng capture (first 4 bytes inside: ${hex4(joined)})`
            : `not a pcap or pcapng file (first 4 bytes: ${hex4(joined)})`);
        }
        framer = new ChunkFramer(walker, sink);
        pending.length = 0;
        framer.makeRoom(joined.length);
        joined.copy(framer.buf, framer.end);
        framer.end += joined.length;
      } else {
        framer.makeRoom(chunk.length);
        chunk.copy(framer.buf, framer.end);
        framer.end += chunk.length;
      }
      framer.walk();
      opts.onProgress?.(read.n);
      if (opts.shouldStop?.()) {
        stopped = true;
        break;
      }
    }
  } catch (e) {
    if (fault) throw (fault as { error: unknown }).error;
    if (e instanceof CaptureDamage && !framer) throw new CaptureOpenError(path, `${e.reason}, before any capture data`);
    if (e instanceof CaptureDamage) damage = e;
    else if (e instanceof CaptureOpenError) throw e;
    else if (stopped) {
      // The input was closed on purpose: what was read stands.
    } else if (isReadError(e)) throw new CaptureOpenError(path, describeFsError(e));
    else throw e;
  } finally {
    if (watch) clearInterval(watch);
    if (input !== process.stdin) input.destroy();
  }
  if (fault) throw (fault as { error: unknown }).error;
  if (!framer || !walker) {
    if (delivered === 0 && read.n === 0) throw new CaptureOpenError(path, path === STDIN ? 'standard input is empty' : opts.stream ? 'the capture process wrote nothing' : 'empty');
    throw new CaptureOpenError(path, compressed ? `gzip data too short to hold a capture (${delivered} bytes inflated)` : `too short to be a capture (${delivered} bytes)`);
  }
  const result = finish(path, compressed, knownSize ?? read.n, framer, walker, damage, stopped);
  result.warnings.push(...gzipNotes);
  return result;
}

function finish(path: string, compressed: boolean, size: number, framer: ChunkFramer, walker: RecordWalker, damage: CaptureDamage | null, stopped: boolean): CaptureReadResult {
  const warnings = walker.warnings.slice();
  if ((walker.overSnaplen ?? 0) > 1) warnings.push({ offset: -1, message: `${walker.overSnaplen} records in all were longer than the file header's snaplen; all were read` });
  let status: 'ok' | 'truncated' = 'ok';
  if (damage) {
    status = 'truncated';
    warnings.push({ offset: damage.offset, message: `${damage.reason}; stopped reading, ${walker.packets} complete records kept` });
  } else if (framer.remainder > 0 && !stopped) {
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
    stopped,
    warnings,
  };
}

function isReadError(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/** A file-system error as the words a user expects ("no such file"), or the error's own message. */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: string })?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a capture file';
  return (e as Error)?.message ?? String(e);
}
