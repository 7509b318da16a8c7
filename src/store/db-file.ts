// The database as a file: what --db may name, and whether the file exflow opened is
// still the one at that path. A database deleted or replaced while analyze writes
// would otherwise swallow the run without a word (SQLite keeps writing to the
// unlinked file) — and, when replaced, the earlier runs with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from './errors';

/** The same file, whether named through links or by another path (device and inode), else the same resolved name. */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
  } catch {
    /* one does not exist: compare names */
  }
  return path.resolve(a) === path.resolve(b);
}

/**
 * `--db` must be a regular file or not exist yet: a FIFO would block the open forever,
 * /dev/null would leave /dev/null-journal, a directory cannot hold a database.
 */
export function checkDbPath(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new StoreError(path, `cannot be read (${code ?? (e as Error).message})`);
  }
  if (st.isFile()) return;
  const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new StoreError(path, `is ${what}; --db names a database file (a new one is created)`);
}

/** Remembers which file a path named when it was opened; `changed()` says how it differs now, or null. */
export class DbFileIdentity {
  private readonly dev: number;
  private readonly ino: number;

  constructor(readonly path: string) {
    const st = fs.statSync(path);
    this.dev = st.dev;
    this.ino = st.ino;
  }

  changed(): string | null {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.path);
    } catch {
      return 'the database file was deleted while analyze wrote to it';
    }
    return st.dev === this.dev && st.ino === this.ino ? null : 'the database file was replaced by another file while analyze wrote to it';
  }
}
