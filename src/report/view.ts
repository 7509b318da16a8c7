// --columns, --sort and --limit: which columns a listing shows and in what order, the order of
// its rows and how many — the same words on every listing and report, applied where rows are
// rendered (format.ts), so that no report carries its own. The CLI sets the view once per command
// (setRowView), as it sets the table width.
import { addressSortKey } from '../classify/ip';
import type { Cell, Row } from './format';

export interface SortKey {
  column: string;
  descending: boolean;
}

export interface RowView {
  /** The columns to show, in this order (JSON: the keys kept). */
  columns?: string[];
  sort?: SortKey[];
  /** At most this many rows per list, after sorting. */
  limit?: number;
}

/** A view that cannot apply: a column the output does not have, a sort too big to hold. Exit 64. */
export class ViewError extends Error {}

let current: RowView = {};

export function setRowView(v: RowView): void {
  current = v;
}

export function rowView(): RowView {
  return current;
}

/** Whether any of --columns, --sort, --limit was given. */
export const viewAsked = (v: RowView = current): boolean => v.columns !== undefined || v.sort !== undefined || v.limit !== undefined;

/** "bytes,-first_seen" or "bytes:desc": columns to sort by, each ascending unless it says otherwise. */
export function parseSort(text: string): SortKey[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(-)?([^:]+?)(?::(asc|desc))?$/.exec(s);
      if (!m) throw new ViewError(`exflow: --sort ${text}: give columns, each as NAME, -NAME or NAME:desc`);
      return { column: m[2], descending: m[1] === '-' || m[3] === 'desc' };
    });
}

/** The names a view asks for that none of `available` is: exit 64 naming what there is. */
export function checkColumns(available: string[], v: RowView = current, what = 'this output'): void {
  const asked = [...(v.columns ?? []), ...(v.sort ?? []).map((k) => k.column)];
  const unknown = asked.filter((c) => !available.includes(c));
  if (unknown.length) throw new ViewError(`exflow: ${what} has no column ${unknown.join(', ')}; its columns: ${[...new Set(available)].join(', ')}`);
}

/** The columns shown: --columns (those this list has, in its order), else the list's own. */
export function viewColumns(columns: string[], v: RowView = current): string[] {
  return v.columns ? v.columns.filter((c) => columns.includes(c)) : columns;
}

/** A value as a sort key: addresses by their value (10.0.0.20 before 10.0.0.100), lists by their text. */
function key(v: Cell | undefined): number | string | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number' || typeof v === 'boolean') return Number(v);
  const text = Array.isArray(v) ? v.join(',') : String(v);
  // A number written as text (a port list's one port) sorts as the number.
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const a = addressSortKey(text);
  return a === null ? text : `\u0000${a}`;
}

/** Orders rows by the sort keys; empty values last whichever the direction. */
export function compareRows(keys: SortKey[]): (a: Row, b: Row) => number {
  return (a, b) => {
    for (const k of keys) {
      const x = key(a[k.column]);
      const y = key(b[k.column]);
      if (x === y) continue;
      if (x === null) return 1;
      if (y === null) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1;
      if (c !== 0) return k.descending ? -c : c;
    }
    return 0;
  };
}

/** Rows held at most to sort a stream without --limit (a sort needs every row before the first). */
export const SORT_ROWS = 200_000;

/**
 * The rows of a list as the view asks: sorted (stably), the first `limit`. A stream with --sort
 * and --limit keeps only the best `limit` rows as it goes (memory of the limit, not the stream);
 * without --limit it holds at most SORT_ROWS.
 */
export function* viewRows(rows: Iterable<Row>, v: RowView = current): Generator<Row> {
  const limit = v.limit ?? Infinity;
  if (!v.sort || v.sort.length === 0) {
    let n = 0;
    for (const r of rows) {
      if (n++ >= limit) return;
      yield r;
    }
    return;
  }
  const cmp = compareRows(v.sort);
  // With a limit, the best rows are kept by sorting and cutting whenever twice the limit are held.
  const hold = Number.isFinite(limit) ? Math.max(2 * limit, 1024) : Infinity;
  let best: Row[] = [];
  for (const r of rows) {
    best.push(r);
    if (best.length >= hold) best = best.sort(cmp).slice(0, limit);
    else if (best.length > SORT_ROWS) throw new ViewError(`exflow: --sort holds the rows it sorts: more than ${SORT_ROWS} here; add --limit (the best N are kept as the rows go by) or narrow with filters`);
  }
  best.sort(cmp);
  if (best.length > limit) best.length = limit;
  yield* best;
}

/** A row with only the view's columns (JSON), in their order. */
export function pickColumns(r: Row, v: RowView = current): Row {
  if (!v.columns) return r;
  const out: Row = {};
  for (const c of v.columns) if (c in r) out[c] = r[c];
  return out;
}
