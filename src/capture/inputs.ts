// What `analyze` was given, made into a list of inputs: files as named, the
// capture files under a directory (recursively), globs expanded here — Windows
// shells do not expand them — and `-` for standard input.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STDIN } from './reader';

export interface Input {
  /** The path as the user will recognise it (or `-`). */
  path: string;
  /** Found by walking a directory or a glob: a file that is not a capture is skipped with a note, not an error. */
  found: boolean;
}

export interface Expanded {
  inputs: Input[];
  /** Arguments that named nothing (no such file, a glob that matched nothing). */
  missing: string[];
  /** Directories named (or matched) that hold no file at all. */
  empty: string[];
}

const GLOB_CHARS = /[*?[]/;

/** Expands the command line's capture arguments, in the order given; directories and globs sorted by name. */
export function expandInputs(args: string[]): Expanded {
  const inputs: Input[] = [];
  const missing: string[] = [];
  const empty: string[] = [];
  const fromDir = (d: string) => {
    const files = walkDir(d);
    if (files.length === 0) empty.push(d);
    for (const f of files) add(f, true);
  };
  const seen = new Set<string>();
  const add = (p: string, found: boolean) => {
    const key = p === STDIN ? p : path.resolve(p);
    if (seen.has(key)) return;
    seen.add(key);
    inputs.push({ path: p, found });
  };
  for (const arg of args) {
    if (arg === STDIN) {
      add(arg, false);
      continue;
    }
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(arg);
    } catch {
      st = null;
    }
    if (st?.isDirectory()) {
      fromDir(arg);
    } else if (st) {
      add(arg, false);
    } else if (GLOB_CHARS.test(arg)) {
      const matches = expandGlob(arg);
      if (matches.length === 0) missing.push(arg);
      for (const m of matches) {
        let ms: fs.Stats | null = null;
        try {
          ms = fs.statSync(m);
        } catch {
          ms = null;
        }
        if (ms?.isDirectory()) fromDir(m);
        else if (ms) add(m, true);
      }
    } else {
      missing.push(arg);
    }
  }
  return { inputs, missing, empty };
}

/** Every non-hidden file below `dir`, sorted by path (names compared as numbers where they are numbers). */
function walkDir(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => byName(a.name, b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile() || e.isSymbolicLink()) out.push(p);
    }
  };
  visit(dir);
  return out;
}

const collator = new Intl.Collator('en', { numeric: true });
export const byName = (a: string, b: string): number => collator.compare(a, b);

/**
 * Expands `*`, `?`, `[...]` within a path segment and `**` for any depth, like a
 * POSIX shell (hidden files only when the pattern names the dot).
 */
export function expandGlob(pattern: string): string[] {
  const normalized = pattern.split(path.sep).join('/');
  const absolute = normalized.startsWith('/');
  const parts = normalized.split('/').filter((p, i) => p !== '' || i === 0);
  let bases = [absolute ? '/' : '.'];
  if (absolute) parts.shift();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const last = i === parts.length - 1;
    const next: string[] = [];
    for (const base of bases) {
      if (!GLOB_CHARS.test(part)) {
        const p = join(base, part);
        if (fs.existsSync(p)) next.push(p);
        continue;
      }
      if (part === '**') {
        // Zero or more directories.
        const stack = [base];
        while (stack.length) {
          const d = stack.pop()!;
          next.push(d);
          for (const e of safeDir(d)) if (e.isDirectory() && !e.name.startsWith('.')) stack.push(join(d, e.name));
        }
        continue;
      }
      const re = segmentRegex(part);
      for (const e of safeDir(base)) {
        if (e.name.startsWith('.') && !part.startsWith('.')) continue;
        if (!re.test(e.name)) continue;
        if (!last && !e.isDirectory()) continue;
        next.push(join(base, e.name));
      }
    }
    bases = [...new Set(next)];
  }
  return bases.filter((b) => b !== '.' && b !== '/').sort(byName);
}

function join(base: string, name: string): string {
  return base === '.' ? name : base === '/' ? '/' + name : `${base}/${name}`;
}

function safeDir(d: string): fs.Dirent[] {
  try {
    return fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return [];
  }
}

function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
