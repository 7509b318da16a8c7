// ClickHouse over its HTTP interface, with Node's own http/https: a statement is POSTed as the
// body; an INSERT names its statement in the URL and streams its rows (RowBinary) as the body.
// Every failure becomes a ClickHouseError with one line that names the server — refused,
// unreachable, a wrong password, an error ClickHouse reported (its code and the first line of
// its text: 18.16 sends the code only inside the text).
import * as http from 'node:http';
import * as https from 'node:https';
import type { ClickHouseTarget } from './target';

export class ClickHouseError extends Error {
  constructor(
    message: string,
    /** ClickHouse's error code, where it sent one (e.g. 60: no such table), else null. */
    readonly code: number | null = null,
  ) {
    super(message);
    this.name = 'ClickHouseError';
  }
}

/** How long (ms) a connection may take to open, and a request may go without a byte either way. */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 300_000;
/** The most an answer may hold: a million runs' identities are ~40 MB. */
const MAX_ANSWER_BYTES = 64 << 20;
/** The most one row of a streamed answer may hold. */
const MAX_ROW_BYTES = 16 << 20;

export type Settings = Record<string, string | number>;

/** Makes an insert's rows, piece by piece, with the write it is given. */
type Producer = (write: (piece: Buffer) => Promise<void>) => Promise<void>;

export class ClickHouse {
  private readonly agent: http.Agent;
  private readonly auth: string;

  constructor(readonly target: ClickHouseTarget) {
    this.agent = target.https ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.auth = 'Basic ' + Buffer.from(`${target.user}:${target.password}`).toString('base64');
  }

  /** The server as messages name it. */
  get where(): string {
    return `ClickHouse at ${this.target.host}:${this.target.port}`;
  }

  /** Runs a statement that returns nothing (DDL, ALTER, an INSERT … VALUES of exflow's own literals). */
  async exec(sql: string, settings: Settings = {}, database: string | null = this.target.database): Promise<void> {
    await this.send(sql, null, settings, database);
  }

  /**
   * The rows of a SELECT, as objects (numbers as numbers: 64-bit integers are not quoted). The
   * answer is input like any other: one that is not rows of JSON objects is an error naming the server.
   */
  async query<T = Record<string, unknown>>(sql: string, settings: Settings = {}): Promise<T[]> {
    const text = await this.send(`${sql} FORMAT JSONEachRow`, null, { output_format_json_quote_64bit_integers: 0, ...settings });
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => this.row(line) as T);
  }

  /** One line of a JSONEachRow answer as its row: an error naming the server where it is not a JSON object. */
  private row(line: string): Record<string, unknown> {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      row = null;
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new ClickHouseError(`${this.where}: answered with something that is not ClickHouse's JSON rows (is it a ClickHouse server?)`);
    return row as Record<string, unknown>;
  }

  /**
   * The rows of a SELECT handed to `each` as they arrive (JSONEachRow, 64-bit integers quoted:
   * nanosecond times are past a double's integers), for answers too large to hold: no cap on the
   * answer, a cap on one row. A line that is not a JSON object is an error naming the server.
   */
  async eachRow(sql: string, each: (row: Record<string, unknown>) => void, settings: Settings = {}): Promise<void> {
    await this.eachLine(`${sql} FORMAT JSONEachRow`, (line) => each(this.row(line)), { output_format_json_quote_64bit_integers: 1, ...settings });
  }

  /**
   * The rows of a SELECT as their fields, in the SELECT's order, handed to `each` as they arrive:
   * TabSeparated — no names repeated on every row and no JSON to parse, for the largest answers
   * (ten million flows' sums and names: ~0.4 s less than JSONEachRow). NULL is null; ClickHouse's
   * escapes are undone; numbers come as their text.
   */
  async eachFields(sql: string, each: (fields: (string | null)[]) => void, settings: Settings = {}): Promise<void> {
    await this.eachLine(`${sql} FORMAT TabSeparated`, (line) => each(line.split('\t').map(unescapeField)), settings);
  }

  /** An answer's lines, as they arrive; no cap on the answer, one on a line. */
  private async eachLine(sql: string, each: (line: string) => void, settings: Settings): Promise<void> {
    let rest = '';
    const decoder = new TextDecoder('utf-8');
    await this.send(sql, null, settings, this.target.database, (chunk) => {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop() ?? '';
      if (rest.length > MAX_ROW_BYTES) throw new ClickHouseError(`${this.where}: answered a row of more than ${MAX_ROW_BYTES >> 20} MB`);
      for (const l of lines) if (l) each(l);
    });
    const last = rest + decoder.decode();
    if (last) each(last);
  }

  /** A count (a query whose one row's one column `n` is a whole number): an error where it is not one. */
  async count(sql: string): Promise<number> {
    return this.whole((await this.one<{ n: unknown }>(sql)).n);
  }

  /** A whole number the server answered (a count, a flow id), checked: it goes into arithmetic and SQL. */
  whole(v: unknown): number {
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ClickHouseError(`${this.where}: answered ${JSON.stringify(v)?.slice(0, 40)} where a whole number was asked for (is it a ClickHouse server?)`);
    return n;
  }

  /** The one row a query of an aggregate answers (count(), version()): an error where there is not exactly one. */
  async one<T = Record<string, unknown>>(sql: string): Promise<T> {
    const rows = await this.query<T>(sql);
    if (rows.length !== 1) throw new ClickHouseError(`${this.where}: answered ${rows.length} rows where one was asked for (is it a ClickHouse server?)`);
    return rows[0];
  }

  /** Sends `body` (rows in `format`) into `table`'s `columns`. */
  async insert(table: string, columns: readonly string[], format: 'RowBinary', body: Buffer, settings: Settings = {}): Promise<void> {
    await this.send(`INSERT INTO ${table} (${columns.join(', ')}) FORMAT ${format}`, body, settings);
  }

  /**
   * Sends rows into `table` as `produce` makes them: each piece it writes goes out as it is made
   * (chunked), so that ClickHouse reads one part while the next is made; a write waits while the
   * connection is full. Rows a stopped insert had sent are not kept (ClickHouse writes a block once
   * its body has ended, and an insert of fewer rows than max_insert_block_size is one block).
   */
  async insertStream(table: string, columns: readonly string[], format: 'RowBinary', produce: (write: (piece: Buffer) => Promise<void>) => Promise<void>, settings: Settings = {}): Promise<void> {
    await this.send(`INSERT INTO ${table} (${columns.join(', ')}) FORMAT ${format}`, produce, settings);
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request: `sql` in the URL with a body of rows (made at once, or piece by piece), or as the body itself. */
  private send(sql: string, rows: Buffer | Producer | null, settings: Settings, database: string | null = this.target.database, sink: ((chunk: Buffer) => void) | null = null): Promise<string> {
    const params = new URLSearchParams();
    if (database !== null) params.set('database', database);
    for (const [k, v] of Object.entries(settings)) params.set(k, String(v));
    if (rows !== null) params.set('query', sql);
    const body = rows === null ? Buffer.from(sql, 'utf8') : rows;
    const lib = this.target.https ? https : http;
    const headers: http.OutgoingHttpHeaders = { Authorization: this.auth, 'Content-Type': 'application/octet-stream' };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const req = lib.request({ host: this.target.host, port: this.target.port, method: 'POST', path: `/?${params.toString()}`, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // A streamed answer's rows go to the sink as they come (an error's text is kept, to be reported).
          if (sink !== null && res.statusCode === 200) {
            try {
              sink(c);
            } catch (e) {
              // The rows' consumer failed (a bad row, the local copy): its own error, not the server's.
              fail(e as Error);
              req.destroy();
            }
            return;
          }
          size += c.length;
          // exflow asks for small answers (counts, a table's columns, the runs' identities).
          if (size > MAX_ANSWER_BYTES) {
            fail(new ClickHouseError(`${this.where}: answered more than ${MAX_ANSWER_BYTES >> 20} MB where a small answer was asked for`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('error', (e) => fail(this.failed(e)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return fail(this.reported(res.statusCode ?? 0, text));
          if (!settled) {
            settled = true;
            resolve(text);
          }
        });
      });
      const connect = setTimeout(() => req.destroy(Object.assign(new Error('no connection'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      req.on('socket', (s) => {
        // Pieces go out as written: Nagle's algorithm held the last piece of an insert (and so the
        // answer) for a delayed acknowledgement, ~250 ms an insert on loopback.
        s.setNoDelay(true);
        // A kept-alive socket is connected already; a new one is timed until it is.
        if (!s.connecting) clearTimeout(connect);
        else s.once(this.target.https ? 'secureConnect' : 'connect', () => clearTimeout(connect));
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => {
        clearTimeout(connect);
        fail(this.failed(e));
      });
      req.on('close', () => clearTimeout(connect));
      if (Buffer.isBuffer(body)) return req.end(body);
      // Resolves once the piece is handed to the system (its buffer may then be used again).
      const write = (piece: Buffer) =>
        new Promise<void>((done, stop) => {
          if (settled) return stop(new ClickHouseError(`${this.where}: the insert ended early`));
          const gone = () => stop(new ClickHouseError(`${this.where}: the connection closed during an insert`));
          req.once('close', gone);
          req.write(piece, (e) => {
            req.off('close', gone);
            if (e) stop(new ClickHouseError(`${this.where}: ${e.message}`));
            else done();
          });
        });
      body(write).then(
        () => req.end(),
        (e: unknown) => {
          // The rows could not be made: the insert is broken off, so that nothing of it is kept.
          req.destroy();
          if (!settled) {
            settled = true;
            reject(e);
          }
        },
      );
    });
  }

  /** A connection that failed: refused, unreachable, TLS, timed out. */
  private failed(e: Error & { code?: string }): ClickHouseError {
    const known: Record<string, string> = {
      ECONNREFUSED: 'connection refused (is it running, is the port its HTTP port?)',
      ECONNRESET: 'the connection was cut (did the server stop?); ship again to carry on',
      EPIPE: 'the connection was cut (did the server stop?); ship again to carry on',
      ETIMEDOUT: 'no answer in time',
      ENOTFOUND: 'no such host',
    };
    const why = (e.code && known[e.code]) ?? `${e.code ?? ''} ${e.message}`.trim();
    return new ClickHouseError(`${this.where}: ${oneLine(why)}`);
  }

  /** An error ClickHouse answered with. */
  private reported(status: number, text: string): ClickHouseError {
    const m = /Code:\s*(\d+)/.exec(text);
    const code = m ? Number(m[1]) : null;
    const what = /DB::Exception:\s*(.*?)(?:, e\.what\(\)|\s*\(version|$)/s.exec(text)?.[1] ?? text;
    const auth = code === 516 || code === 192 || code === 193 || status === 401 || status === 403;
    return new ClickHouseError(`${this.where}: ${auth ? 'refused the user or password (CLICKHOUSE_USER, CLICKHOUSE_PASSWORD): ' : ''}${oneLine(what)}${code !== null ? ` (code ${code})` : ` (HTTP ${status})`}`, code);
  }
}

/** What ClickHouse's TabSeparated writes after a backslash, and the character it stands for. */
const ESCAPED: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0', a: '\x07', v: '\v', "'": "'", '\\': '\\' };

/** A TabSeparated field as its value: \N is NULL, an escape its character (any other escaped character itself). */
function unescapeField(field: string): string | null {
  if (field === '\\N') return null;
  return field.includes('\\') ? field.replace(/\\(.)/gs, (_, c: string) => ESCAPED[c] ?? c) : field;
}

/** A server's text as one line, and not a page of it. */
function oneLine(s: string): string {
  const t = s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}
