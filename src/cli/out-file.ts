// Where --out writes. A report or export goes to a temporary file beside the target
// and is renamed over it only when complete: a full disk or an interrupted run leaves
// the earlier report as it was, a symlink at the target is replaced (never written
// through), and the name may not be the database itself (or its -wal, -shm,
// -journal), a directory, or a device. `--out -` is standard output.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Exit, UserError } from './errors';
import { escapeControls } from '../report/format';
import { ChunkedWriter } from './out';
import { sameFile } from '../store/db-file';
import type { ExportSink } from '../run/export';

export interface OutputSink {
  write: (s: string) => void;
  /** Writes text already encoded as UTF-8: one unit, as write() takes one (a chunked output never splits it). */
  writeBytes: (b: Uint8Array) => void;
  /** Writes what is left and puts the file in place (nothing for standard output). */
  finish(): void;
  /** Removes the temporary file (after an error); the target stays as it was. */
  abandon(): void;
  /** Bytes written so far. */
  readonly bytes: number;
  readonly toStdout: boolean;
}

const DB_SUFFIXES = ['', '-wal', '-shm', '-journal'];

/** Checks --out before anything is read: exit 64 with the reason when it may not be written. */
export function checkOutPath(out: string, dbPath: string | null): void {
  if (out === '-') return;
  const shown = escapeControls(out);
  if (out === '') throw new UserError('exflow: --out is empty (use - for standard output)', Exit.Usage);
  if (dbPath !== null) {
    for (const suffix of DB_SUFFIXES) {
      if (sameFile(out, dbPath + suffix)) throw new UserError(`exflow: --out ${shown} names the database${suffix ? ` (its ${suffix} file)` : ''}; choose another file`, Exit.Usage);
    }
  }
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`exflow: --out ${shown}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, Exit.BadInput);
  }
  if (st && !st.isFile() && !st.isSymbolicLink()) {
    const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';
    throw new UserError(`exflow: --out ${shown} is ${what}; name a file (or - for standard output)`, Exit.Usage);
  }
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`exflow: --out ${shown}: no such directory ${escapeControls(dir)}`, Exit.BadInput);
}

/** Opens --out (or standard output for undefined and "-") for one report. Call checkOutPath first. */
export function openOutput(out: string | undefined): OutputSink {
  if (out === undefined || out === '-') {
    const w = new ChunkedWriter(1);
    let bytes = 0;
    return {
      write: (s) => {
        bytes += w.write(s);
      },
      writeBytes: (b) => {
        bytes += w.writeBytes(b);
      },
      finish: () => w.flush(),
      abandon: () => {},
      get bytes() {
        return bytes;
      },
      toStdout: true,
    };
  }
  return new TempFileSink(out);
}

class TempFileSink implements OutputSink {
  private readonly tmp: string;
  private fd: number | null;
  private readonly writer: ChunkedWriter;
  private written = 0;
  readonly toStdout = false;

  constructor(private readonly target: string) {
    const abs = path.resolve(target);
    this.tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.exflow-${process.pid}-${Date.now().toString(36)}.tmp`);
    let mode = 0o644;
    try {
      const st = fs.lstatSync(target);
      if (st.isFile()) mode = st.mode & 0o777; // an existing report keeps its permissions (a link's target's are not ours)
    } catch {
      /* new file */
    }
    try {
      this.fd = fs.openSync(this.tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
    } catch (e) {
      throw this.failed(e);
    }
    this.writer = new ChunkedWriter(this.fd);
  }

  get bytes(): number {
    return this.written;
  }

  write = (s: string): void => this.guarded(() => this.writer.write(s));

  writeBytes = (b: Uint8Array): void => this.guarded(() => this.writer.writeBytes(b));

  /** Counts what `write` wrote; a failure removes the temporary file and says why, naming the target. */
  private guarded(write: () => number): void {
    try {
      this.written += write();
    } catch (e) {
      this.abandon();
      throw this.failed(e);
    }
  }

  finish(): void {
    this.close();
    this.place();
  }

  /** Writes what is left to the temporary file and closes it (a full disk is found here). */
  close(): void {
    if (this.fd === null) return;
    try {
      this.writer.flush();
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = null;
    } catch (e) {
      this.abandon();
      throw this.failed(e);
    }
  }

  /** Puts the closed temporary file in place. */
  place(): void {
    try {
      // rename() replaces a symlink at the target with the file: its target is untouched.
      fs.renameSync(this.tmp, this.target);
    } catch (e) {
      this.abandon();
      throw this.failed(e);
    }
  }

  abandon(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = null;
    }
    fs.rmSync(this.tmp, { force: true });
  }

  private failed(e: unknown): UserError {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on the device' : e instanceof UserError ? e.message.replace(/^exflow: cannot write the output \((.*)\)$/, '$1') : code ?? (e as Error).message;
    const kept = fs.existsSync(this.target) ? `; ${escapeControls(this.target)} was left as it was` : '';
    return new UserError(`exflow: --out ${escapeControls(this.target)}: cannot write (${why})${kept}`, Exit.BadInput);
  }
}

/** Writes a whole string to --out (or standard output) safely. */
export function writeOutput(out: string | undefined, text: string): number {
  const sink = openOutput(out);
  try {
    sink.write(text);
    sink.finish();
  } catch (e) {
    sink.abandon();
    throw e;
  }
  return sink.bytes;
}


/** The name of chunk `n` (from 1) of --out `out`: flows.ndjson → flows-0001.ndjson. */
export function chunkName(out: string, n: number): string {
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}-${String(n).padStart(4, '0')}${ext}`;
}

/** The manifest of a chunked export: the chunk files it wrote, one name a line (flows.ndjson → flows.ndjson.chunks). */
export function manifestName(out: string): string {
  return `${out}.chunks`;
}

const MANIFEST_HEAD = '# exflow export: the chunk files of this export, in order; the next export to this name removes these and no other file';

/**
 * An output cut into numbered files of at most `limit` bytes, between whole writes (each
 * write is one _bulk action and its document, so every file is a request body of its own).
 * The files are one unit: each is written beside its place as a temporary file, every name
 * checked as --out is (never the database or its -wal/-shm/-journal, by name, link or hard
 * link; never a directory); only when all are written are they put in place, then the
 * manifest that lists them. A full disk, an error or a signal removes the temporary files
 * and leaves the earlier export whole. Of an earlier export only the files its manifest
 * lists are removed — never another file that happens to have a chunk's name.
 */
export class ChunkFiles {
  private current: TempFileSink | null = null;
  private readonly pending: TempFileSink[] = [];
  private size = 0;
  readonly files: string[] = [];
  removed = 0;
  /** Files named like a chunk, not written by this export nor listed by an earlier one: left as they were. */
  readonly foreign: string[] = [];

  constructor(
    private readonly out: string,
    private readonly limit: number,
    private readonly dbPath: string | null,
  ) {
    checkOutPath(manifestName(out), dbPath);
  }

  write = (s: string): void => {
    const n = Buffer.byteLength(s);
    this.room(n).write(s);
    this.size += n;
  };

  writeBytes = (b: Uint8Array): void => {
    this.room(b.length).writeBytes(b);
    this.size += b.length;
  };

  /** The file `n` more bytes go to: the next one when they would take this one past the limit. */
  private room(n: number): TempFileSink {
    if (this.current === null || (this.size > 0 && this.size + n > this.limit)) this.next();
    return this.current!;
  }

  private next(): void {
    this.current?.close();
    const name = chunkName(this.out, this.files.length + 1);
    checkOutPath(name, this.dbPath);
    this.current = new TempFileSink(name);
    this.pending.push(this.current);
    this.files.push(name);
    this.size = 0;
  }

  finish(): void {
    if (this.current === null) this.next(); // nothing to export: one empty body says so
    this.current!.close();
    const earlier = readManifest(manifestName(this.out));
    // Every file is complete: now they go in place, then the manifest says they are exflow's.
    for (const f of this.pending) f.place();
    this.pending.length = 0;
    const manifest = new TempFileSink(manifestName(this.out));
    manifest.write(`${MANIFEST_HEAD}\n${this.files.map((f) => path.basename(f)).join('\n')}\n`);
    manifest.finish();
    const mine = new Set(this.files.map((f) => path.resolve(f)));
    const dir = path.dirname(path.resolve(this.out));
    for (const name of earlier) {
      const f = path.join(dir, name);
      if (mine.has(f) || !isChunkOf(this.out, name)) continue;
      if (this.dbPath !== null && DB_SUFFIXES.some((x) => sameFile(f, this.dbPath + x))) continue;
      try {
        if (!fs.lstatSync(f).isFile()) continue;
        fs.rmSync(f);
        this.removed++;
      } catch {
        /* gone already */
      }
    }
    for (const name of fs.readdirSync(dir).sort()) {
      if (isChunkOf(this.out, name) && !mine.has(path.join(dir, name)) && !earlier.includes(name)) this.foreign.push(path.join(path.dirname(this.out), name));
    }
  }

  /** After an error or a signal: every temporary file goes; nothing was put in place, the earlier export is whole. */
  abandon(): void {
    for (const f of this.pending) f.abandon();
    this.pending.length = 0;
  }
}

/** The chunk names an earlier export's manifest lists (base names), or none. */
function readManifest(file: string): string[] {
  let text: string;
  try {
    if (!fs.lstatSync(file).isFile() || fs.statSync(file).size > 1 << 20) return [];
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  if (!text.startsWith(MANIFEST_HEAD)) return [];
  return text.split('\n').slice(1).filter((l) => l !== '' && l === path.basename(l));
}

/** Whether `name` (a base name) is a chunk name of --out `out`. */
function isChunkOf(out: string, name: string): boolean {
  const ext = path.extname(out);
  const base = path.basename(out.slice(0, out.length - ext.length));
  return name.startsWith(`${base}-`) && name.endsWith(ext) && /^\d{4,}$/.test(name.slice(base.length + 1, name.length - ext.length));
}

/** --out's help, the same on every command that writes a report or a listing. */
export const OUT_HELP = 'write here instead of standard output (- for standard output); written beside it and renamed when complete, so a reader never sees half of it';

/**
 * The format a command writes when --format is not given: with --out FILE, the one its name
 * says (.json, .csv, .md, and `more` such as .nft), else a table; without, `otherwise()`
 * (a table on a terminal, JSON in a pipe).
 */
export function formatForOut<F extends string>(format: string | undefined, out: string | undefined, otherwise: () => F, more: Record<string, F> = {}): F | 'json' | 'csv' | 'tsv' | 'md' | 'table' {
  if (format !== undefined) return format as F;
  if (out === undefined || out === '-') return otherwise();
  const ext = path.extname(out).toLowerCase().slice(1);
  const byName: Record<string, F | 'json' | 'csv' | 'tsv' | 'md'> = { json: 'json', csv: 'csv', tsv: 'tsv', md: 'md', ...more };
  return byName[ext] ?? 'table';
}

/** An export's lines into `out`: encoded parts line by line into a chunked output (a chunk ends between documents), else at once. */
export function exportSink(out: OutputSink | ChunkFiles, stopped: () => boolean): ExportSink {
  return {
    line: out.write,
    encoded: (bytes, ends) => {
      if (!(out instanceof ChunkFiles)) return out.writeBytes(bytes);
      for (let i = 0, at = 0; i < ends.length; at = ends[i++]) out.writeBytes(bytes.subarray(at, ends[i]));
    },
    stopped,
  };
}
