// better-sqlite3, loaded with SQLite's URI filenames on: a database on a read-only
// medium (or another user's file in a directory this user cannot write) can only be
// read as `file:…?immutable=1`, since SQLite cannot make its WAL index there. The
// native addon reads SQLITE_USE_URI once, when the first connection is made. With
// URIs on, a path that itself begins with "file:" is given as "./file:…" (dbPath).
import * as path from 'node:path';

process.env.SQLITE_USE_URI = '1';

// eslint-disable-next-line @typescript-eslint/no-require-imports
import Database = require('better-sqlite3');

export { Database };

/** A file name SQLite will not take for a URI. */
export function dbPath(p: string): string {
  return p.startsWith('file:') ? `.${path.sep}${p}` : p;
}

/** The read-only URI of a database file (SQLite may make its WAL index beside it; the file itself is never written). */
export function readOnlyUri(p: string): string {
  return `file:${path.resolve(p).split('/').map(encodeURIComponent).join('/')}?mode=ro`;
}

/** The read-only, immutable URI of a database file: SQLite reads it without locks or a WAL index. */
export function immutableUri(p: string): string {
  return `file:${path.resolve(p).split('/').map(encodeURIComponent).join('/')}?mode=ro&immutable=1`;
}
