// Rows as ClickHouse's RowBinary, the format it loads fastest: each value in its column's
// type, little-endian, strings as a LEB128 length and their bytes, a Nullable value after a
// byte that says whether it is NULL. One buffer reused for every batch. A value that does not
// fit its column's type (a hostile database's text in an integer column) is refused with the
// column's name: nothing is guessed or cut.

/** The column types exflow sends (what SQLite's INTEGER, REAL, TEXT and BLOB become). */
export type ColumnType = 'Int64' | 'Float64' | 'String' | 'Nullable(Int64)' | 'Nullable(Float64)' | 'Nullable(String)';

export class ValueError extends Error {}

const TWO_32 = 2 ** 32;
const STRING = 1;
const INT64 = 2;
const FLOAT64 = 3;
const NULLABLE = 8;

export class RowBinaryWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private at = 0;
  /** Rows written since the last take(). */
  rows = 0;

  /** Each column's kind (STRING, INT64, FLOAT64), with NULLABLE added: read once, not a type name compared a value. */
  private readonly kinds: Uint8Array;

  constructor(
    types: readonly ColumnType[],
    private readonly names: readonly string[],
  ) {
    this.kinds = Uint8Array.from(types, (t) => (t.startsWith('Nullable(') ? NULLABLE : 0) | (/String/.test(t) ? STRING : /Int64/.test(t) ? INT64 : FLOAT64));
  }

  /** Appends one row: its values in the columns' order. */
  add(row: readonly unknown[]): void {
    const kinds = this.kinds;
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[i];
      const v = row[i];
      if (k & NULLABLE) {
        this.room(1);
        if (v === null || v === undefined) {
          this.buf[this.at++] = 1;
          continue;
        }
        this.buf[this.at++] = 0;
      }
      const kind = k & ~NULLABLE;
      if (kind === STRING) this.string(v, i);
      else if (kind === INT64) this.int64(v, i);
      else this.float64(v, i);
    }
    this.rows++;
  }

  /** The rows written so far, as a buffer of their own; the writer starts again empty. */
  take(): Buffer {
    return this.takeInto(null);
  }

  /**
   * The rows written so far, copied into `into` where it is big enough (a buffer given back after
   * an earlier slice was sent: slices reuse a few buffers rather than make one each), else into a
   * new one; the writer starts again empty.
   */
  takeInto(into: ArrayBuffer | null): Buffer {
    const out = into !== null && into.byteLength >= this.at ? Buffer.from(into, 0, this.at) : Buffer.from(new ArrayBuffer(Math.max(this.at, 1 << 20)), 0, this.at);
    this.buf.copy(out, 0, 0, this.at);
    this.at = 0;
    this.rows = 0;
    return out;
  }

  get bytes(): number {
    return this.at;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  private string(v: unknown, i: number): void {
    if (typeof v === 'string') {
      // At most three bytes a UTF-16 unit, and five for the length.
      this.room(5 + v.length * 3);
      const n = Buffer.byteLength(v, 'utf8');
      this.varint(n);
      this.at += this.buf.write(v, this.at, 'utf8');
    } else if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
      this.room(5 + v.length);
      this.varint(v.length);
      this.buf.set(v, this.at);
      this.at += v.length;
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      // SQLite keeps what it is given: a number in a text column is sent as its text.
      this.string(String(v), i);
    } else throw new ValueError(`column ${this.names[i]}: ${v === null || v === undefined ? 'NULL in a column that cannot hold it' : `a ${typeof v}, not text`}`);
  }

  private int64(v: unknown, i: number): void {
    if (typeof v === 'bigint') {
      this.room(8);
      this.buf.writeBigInt64LE(v, this.at);
      this.at += 8;
      return;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ValueError(`column ${this.names[i]}: ${v === null || v === undefined ? 'NULL in a column that cannot hold it' : `${JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : typeof v)} is not an integer`}`);
    this.room(8);
    const high = Math.floor(v / TWO_32);
    this.buf.writeUInt32LE(v - high * TWO_32, this.at);
    this.buf.writeInt32LE(high, this.at + 4);
    this.at += 8;
  }

  private float64(v: unknown, i: number): void {
    // A whole number read exactly (SQLite's integers as BigInt) in a REAL column: the double nearest it.
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v !== 'number') throw new ValueError(`column ${this.names[i]}: ${v === null || v === undefined ? 'NULL in a column that cannot hold it' : 'not a number'}`);
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.at++] = n;
  }
}
