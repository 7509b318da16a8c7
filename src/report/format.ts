import { resolve as pathResolve } from 'node:path';
import { checkColumns, rowView, viewAsked, ViewError, viewRows } from './view';
/** Renders rows of plain values as an aligned text table, CSV (RFC 4180) or JSON. */

export type Format = 'table' | 'tsv' | 'csv' | 'json' | 'md';
export const FORMATS: Format[] = ['table', 'tsv', 'csv', 'json', 'md'];

/** A list stays a list in JSON; tables and CSV show it joined by ", " (or " | " for long texts). */
export type Cell = string | number | boolean | null | string[];
export type Row = Record<string, Cell>;

/**
 * A list's rows and columns as the view asks (--columns, --sort, --limit; view.ts). The names are
 * checked against the list's columns and the keys its rows carry (JSON has more than a table shows);
 * `section`: one of several lists, which shows those of the asked columns it has (the command
 * checks the names against them all).
 */
function viewed(rows: Iterable<Row>, columns: string[], section: boolean): { rows: Iterable<Row>; columns: string[] } {
  const v = rowView();
  if (!viewAsked(v)) return { rows, columns };
  let available = columns;
  if (Array.isArray(rows) && rows.length > 0) available = [...new Set([...columns, ...Object.keys(rows[0])])];
  if (!section && (!Array.isArray(rows) || rows.length > 0)) checkColumns(available, v);
  return { rows: viewRows(rows, v), columns: v.columns ? v.columns.filter((c) => available.includes(c)) : columns };
}

export function render(rows: Row[], columns: string[], format: Format, section = false): string {
  const shown = viewed(rows, columns, section);
  return renderRows(Array.isArray(shown.rows) ? shown.rows : [...shown.rows], shown.columns, format, shown.columns !== columns);
}

/** What JSON.stringify escapes in a string: quote, backslash, controls, and halves of surrogate pairs (it writes a lone one as \\u). */
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A value as JSON.stringify writes it, for JSON text written piece by piece (the export's
 * documents). Numbers, null and strings with nothing to escape are written here: JSON.stringify
 * called per value cost a third of an export.
 */
export function jsonValue(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? `${v}` : 'null';
  if (v === null) return 'null';
  if (typeof v === 'string' && !JSON_ESCAPED.test(v)) return `"${v}"`;
  return JSON.stringify(v) ?? 'null';
}

/**
 * A report's JSON as it is made (an object, or a list of objects). A list takes the view
 * (--columns, --sort, --limit); an object cannot: exit 64 rather than the option ignored.
 */
export function renderJson(value: unknown, what: string): string {
  if (Array.isArray(value)) return render(value as Row[], Object.keys((value[0] ?? {}) as Row), 'json');
  if (viewAsked()) throw new ViewError(`exflow: ${what} --format json is one object, not a list: --columns, --sort and --limit apply to its text formats (or use jq)`);
  return JSON.stringify(value, null, 2) + '\n';
}

/** `picked`: JSON keeps only `columns` (--columns), else each row whole. */
function renderRows(rows: Row[], columns: string[], format: Format, picked: boolean): string {
  switch (format) {
    case 'json':
      return JSON.stringify(picked ? rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null]))) : rows, null, 2) + '\n';
    case 'csv':
      return columns.join(',') + '\n' + rows.map(csvLines(columns)).join('');
    case 'tsv':
      return columns.join('\t') + '\n' + rows.map((r) => tsvLine(r, columns)).join('');
    case 'md':
      return markdown(rows, columns);
    default:
      return table(rows, columns);
  }
}

/** Rows a text table holds at most (a terminal shows far fewer). */
export const TABLE_ROWS = 10_000;

/**
 * Renders rows as they come, for outputs that can be long (flows): CSV, Markdown and
 * JSON are written row by row; a text table needs every row for its column widths,
 * so it is collected first (use --limit for big tables).
 */
export function renderStream(all: Iterable<Row>, allColumns: string[], format: Format, write: (s: string) => void, section = false): void {
  const { rows, columns } = viewed(all, allColumns, section);
  if (format === 'table') {
    // A table needs its rows for its widths: at most TABLE_ROWS are held; the rest are counted.
    const held: Row[] = [];
    let more = 0;
    for (const r of rows) {
      if (held.length < TABLE_ROWS) held.push(r);
      else more++;
    }
    write(table(held, columns));
    if (more > 0) write(`(${more} more rows not shown in a table: --format csv, md or json stream every row; or narrow the selection)\n`);
    return;
  }
  let first = true;
  const csvLine = csvLines(columns);
  if (format === 'csv') write(columns.join(',') + '\n');
  if (format === 'tsv') write(columns.join('\t') + '\n');
  if (format === 'md') write(mdHeader(columns));
  if (format === 'json') write('[');
  for (const r of rows) {
    if (format === 'csv') write(csvLine(r));
    else if (format === 'tsv') write(tsvLine(r, columns));
    else if (format === 'md') write(mdRow(r, columns));
    else {
      const o: Row = {};
      for (const c of columns) o[c] = r[c] ?? null;
      write((first ? '\n  ' : ',\n  ') + JSON.stringify(o));
    }
    first = false;
  }
  if (format === 'json') write(first ? ']\n' : '\n]\n');
}

function text(v: string | number | boolean | string[]): string {
  return Array.isArray(v) ? v.join(v.some((x) => x.length > 40) ? ' | ' : ', ') : String(v);
}

// Every code point that controls, formats or hides rather than shows: Unicode's general
// categories Cc (C0, C1, DEL), Cf (bidirectional overrides and isolates, zero-width marks,
// the soft hyphen, tag characters U+E0000–E007F), Zl, Zp and Cs (a lone surrogate), and the
// property Default_Ignorable_Code_Point (U+034F, U+115F, U+180E, variation selectors, …).
// The table is Unicode's own, as the JavaScript engine carries it — not a hand list. Wire
// text must not move a cursor, recolour a terminal, smuggle invisible text or make
// "exe.txt" read as "txt.exe".
const CONTROLS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

/** Control, format and invisible code points shown as visible escapes (\x1b, \u202e, \u{e0041}); everything else as it is. */
export function escapeControls(s: string): string {
  // Printable ASCII, most of what exflow writes, has nothing to escape: not worth Unicode's tables.
  if (!NOT_PRINTABLE_ASCII.test(s)) return s;
  return s.replace(CONTROLS, (c) => {
    const n = c.codePointAt(0)!;
    if (n < 0x100) return `\\x${n.toString(16).padStart(2, '0')}`;
    return n <= 0xffff ? `\\u${n.toString(16).padStart(4, '0')}` : `\\u{${n.toString(16)}}`;
  });
}

const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;

/**
 * One row as a tab-separated line, its line end included: the shape zeek-cut and tshark -T fields
 * give, for awk -F'\t', cut and sort. Every value whole; no value holds a tab or a line break —
 * a backslash is doubled, tab, LF and CR written \t \n \r, other controls escaped as everywhere
 * (escapeControls); unset is "-" and an empty text "(empty)" (Zeek's conventions); a list is
 * joined by ",", a comma inside an element written \x2c (as Zeek writes its set separator).
 */
export function tsvLine(r: Row, columns: string[]): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) line += (i ? '\t' : '') + tsvCell(r[columns[i]]);
  return line + '\n';
}

function tsvCell(v: Cell | undefined): string {
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return '-';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x) => tsvText(x).replace(/,/g, '\\x2c')).join(',');
  return v === '' ? '(empty)' : tsvText(v);
}

/** Text for a TSV cell: as it is when printable ASCII without a backslash, else escaped. */
function tsvText(s: string): string {
  if (PLAIN_TSV.test(s)) return s;
  return escapeControls(s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r'));
}

/** Printable ASCII without a backslash: a TSV cell as it is. */
const PLAIN_TSV = /^[\x20-\x5b\x5d-\x7e]*$/;

/**
 * Rows as CSV lines (RFC 4180), each with its line end: the cells of repeated texts (a verdict's
 * reason and cite, the same for thousands of flows, with Unicode punctuation that sends them
 * through the control scan) made once, from a bounded memo of its own.
 */
export function csvLines(columns: string[]): (r: Row) => string {
  const memo = new Map<string, string>();
  const cell = (v: Cell): string => {
    // Only texts of a reason's length are kept (4,096 of at most 2 kB: a wire string of a megabyte is not).
    if (typeof v !== 'string' || v.length < 24 || v.length > 2048 || PLAIN_CELL.test(v)) return csvCell(v);
    let out = memo.get(v);
    if (out === undefined) {
      if (memo.size >= 4096) memo.clear();
      out = csvCell(v);
      memo.set(v, out);
    }
    return out;
  };
  return (r) => {
    let line = '';
    for (let i = 0; i < columns.length; i++) line += (i ? ',' : '') + cell(r[columns[i]]);
    return line + '\n';
  };
}

/** A text cell with nothing to escape, quote or defuse: printable ASCII without a quote or comma, not beginning as a formula would. */
const PLAIN_CELL = /^(?![=+\-@])[\x20\x21\x23-\x2b\x2d-\x7e]*$/;

/**
 * A CSV cell (RFC 4180). A text cell that a spreadsheet would run as a formula —
 * one beginning with = + - @, a tab or a carriage return — gets a leading
 * apostrophe, as OWASP advises; numbers stay numbers.
 */
function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return quoteCsv(String(v));
  if (typeof v === 'string' && PLAIN_CELL.test(v)) return v;
  const t = text(v);
  let s = escapeControls(t);
  if (/^[=+\-@\t\r]/.test(t)) s = `'${s}`;
  return quoteCsv(s);
}

/** RFC 4180: a field with a quote, comma or line break is quoted, its quotes doubled. */
export function quoteCsv(s: string, always = false): string {
  return always || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Text for a terminal table or Markdown: controls escaped, so wire-derived text cannot move a terminal's cursor. */
function printable(v: Cell): string {
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return '-';
  return escapeControls(text(v));
}

/** A GitHub-flavoured Markdown table; pipes and line breaks in values are escaped. */
function markdown(rows: Row[], columns: string[]): string {
  return mdHeader(columns) + rows.map((r) => mdRow(r, columns)).join('');
}

function mdHeader(columns: string[]): string {
  return `| ${columns.join(' | ')} |\n| ${columns.map(() => '---').join(' | ')} |\n`;
}

function mdRow(r: Row, columns: string[]): string {
  // Markdown renders inline HTML: angle brackets and ampersands are entities, pipes and backslashes escaped.
  const cell = (v: Cell) =>
    printable(v).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `| ${columns.map((c) => cell(r[c])).join(' | ')} |\n`;
}

/** A time as exflow writes it (isoTime): ISO 8601 UTC with its fraction. */
export const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let tableWidth: number | null = null;
/** A text column narrower than this (when its text is longer) is cut past reading: columns are left out first. */
const USEFUL = 20;
/** …but never fewer columns than these. */
const MIN_COLUMNS = 3;

/** Text tables no wider than this (the terminal's columns); null: as wide as the cells (--wide, or not a terminal). */
export function setTableWidth(width: number | null): void {
  tableWidth = width;
}

/**
 * Column widths that fit `limit`: the widest text columns give way first, none below
 * its heading or 8 characters; numbers and addresses are never cut.
 * A table whose columns cannot all give way stays wider than the limit.
 */
function fitWidths(widths: number[], columns: string[], numeric: boolean[], keepWhole: boolean[], limit: number): number[] {
  const w = [...widths];
  const floor = columns.map((c, i) => (numeric[i] || keepWhole[i] ? widths[i] : Math.min(widths[i], Math.max(8, c.length))));
  let total = w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1);
  while (total > limit) {
    let widest = -1;
    for (let i = 0; i < w.length; i++) if (w[i] > floor[i] && (widest < 0 || w[i] > w[widest])) widest = i;
    if (widest < 0) break; // cannot fit: every column at its floor
    w[widest]--;
    total--;
  }
  return w;
}

const MAX_TABLE_CELL = 1000;

function table(rows: Row[], allColumns: string[]): string {
  let columns = allColumns;
  let cells = rows.map((r) => columns.map((c) => printable(r[c])));
  const isNumeric = (c: string) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number');
  let numeric = columns.map(isNumeric);
  // An address or a time cut short is a different one: such columns keep their width.
  const ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]+)$/i;
  const whole = (v: unknown) => typeof v === 'string' && (ADDRESS.test(v) || ISO_TIME.test(v));
  let keepWhole = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || whole(r[c])));
  // Even unfitted (--wide, a pipe), a text cell is cut at MAX_TABLE_CELL: a table pads every
  // row to its widest cell, and one 1 MB value would make each row a megabyte (CSV and JSON
  // keep every value whole).
  let natural = columns.map((c, i) => Math.min(Math.max(c.length, ...cells.map((r) => r[i].length)), numeric[i] || keepWhole[i] ? Infinity : MAX_TABLE_CELL));
  let widths = natural;
  let hidden: string[] = [];
  if (tableWidth !== null) {
    widths = fitWidths(natural, columns, numeric, keepWhole, tableWidth);
    // Still too wide at every column's floor, or a text column cut below what can be read
    // (USEFUL characters): the last columns are left out (and named) — a table's columns
    // come most telling first, and a few readable columns say more than many stubs.
    const squeezed = () => widths.some((w, i) => !numeric[i] && !keepWhole[i] && w < Math.min(natural[i], USEFUL));
    while (columns.length > MIN_COLUMNS && (widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1) > tableWidth || squeezed())) {
      hidden = [columns[columns.length - 1], ...hidden];
      columns = columns.slice(0, -1);
      cells = cells.map((r) => r.slice(0, -1));
      numeric = numeric.slice(0, -1);
      keepWhole = keepWhole.slice(0, -1);
      natural = natural.slice(0, -1);
      widths = fitWidths(natural, columns, numeric, keepWhole, tableWidth);
    }
  }
  const cut = (v: string, i: number) => (v.length > widths[i] ? v.slice(0, widths[i] - 1) + '…' : v);
  const line = (vals: string[]) =>
    vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]) : cut(v, i).padEnd(widths[i]))).join('  ').trimEnd();
  const note = hidden.length ? wrap(`(${hidden.length} column${hidden.length === 1 ? '' : 's'} left out to fit: ${hidden.join(', ')}; --wide shows all)`, tableWidth ?? Infinity) : [];
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line), ...note].join('\n') + '\n';
}

/** Words in lines of at most `width` characters (a word longer than that stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

// The last two seconds written, as text: flows listed in time order share their second, and a
// flow's first and last packet are written in turn (one slot thrashed between them: 0.5 s an
// export of a million flows).
let secondA = NaN;
let textA = '';
let secondB = NaN;
let textB = '';

/**
 * A whole second as ISO 8601 UTC without fraction or zone ("2026-01-15T09:00:00"), or null for
 * a time no date formatter can print (a database from before the reader checked times, or a
 * hand-edited one: absent, never an error).
 */
export function isoSecondText(sec: number | null): string | null {
  if (sec === secondA) return textA;
  if (sec === secondB) return textB;
  if (!printableSecond(sec)) return null;
  secondB = secondA;
  textB = textA;
  secondA = sec;
  textA = new Date(sec * 1000).toISOString().slice(0, 19);
  return textA;
}

/** Whether a date formatter can print `sec` (years 1 to 9999). */
const printableSecond = (sec: number | null): sec is number => sec !== null && sec !== undefined && Number.isFinite(sec) && sec >= -62135596800 && sec <= 253402300799;

/**
 * A time known to the second only (what the hosts table and the names keep): written without a
 * fraction — six zero digits would claim a precision it does not have.
 */
export function isoSecond(sec: number | null): string | null {
  if (!printableSecond(sec)) return null;
  return `${new Date(Math.floor(sec) * 1000).toISOString().slice(0, 19)}Z`;
}

/** A time in seconds with a fraction (a --since, a timeline's edge) as isoTime writes a flow's. */
export function isoFraction(t: number | null): string | null {
  if (t === null || !Number.isFinite(t)) return null;
  const sec = Math.floor(t);
  return isoTime(sec, Math.min(999999999, Math.round((t - sec) * 1e9)));
}

/** ISO 8601 UTC, always with six fraction digits (microseconds): one width per column. */
export function isoTime(sec: number | null, nsec: number | null): string | null {
  // Total: a time no date formatter can print is absent, never an error.
  const base = isoSecondText(sec);
  if (base === null) return null;
  nsec = nsec !== null && nsec !== undefined && Number.isFinite(nsec) && nsec >= 0 && nsec < 1e9 ? Math.floor(nsec) : 0;
  // One width for every time (microseconds, what captures give; the ECS export keeps
  // nanoseconds): a column of them sorts as text, and "…:00.005" comes after "…:00".
  return `${base}.${String(Math.floor(nsec / 1000)).padStart(6, '0')}Z`;
}

/**
 * A `--capture ID|PATH` filter as an SQL condition on the given id and path columns.
 * Paths are stored absolute; the user may write one relative to the working
 * directory (./ring/a.pcap), absolute, or as its tail (ring/a.pcap, a.pcap) — a tail
 * matches whole path components only.
 */
export function captureFilter(capture: string, idColumn: string, pathColumn: string): { sql: string; args: (string | number)[] } {
  if (/^\d+$/.test(capture)) return { sql: `${idColumn} = ?`, args: [Number(capture)] };
  const tail = '/' + capture.replace(/^(\.\/)+/, '');
  return {
    sql: `(${pathColumn} = ? OR ${pathColumn} = ? OR substr(${pathColumn}, -length(?)) = ?)`,
    args: [capture, pathResolve(capture), tail, tail],
  };
}
