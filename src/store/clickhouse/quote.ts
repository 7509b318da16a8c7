// The one place exflow writes a value into ClickHouse SQL text. Debian's ClickHouse 18.16 has
// no query parameters, so where a query must name a value (a run's identity, a filter's
// address) it is written as a string literal made from an allow-list: letters, digits and a
// few punctuation marks stand as themselves, every other byte of the value's UTF-8 as \xHH.
// No quote, backslash, newline or control character of a hostile value reaches the SQL as
// itself. Rows themselves never travel as SQL: they are sent as RowBinary (rowbinary.ts).

/** Bytes written as themselves inside '…': nothing ClickHouse's lexer gives a meaning there. */
const PLAIN = /^[A-Za-z0-9 .,:;_@/+=-]$/;

/** A ClickHouse string literal holding exactly `value`'s UTF-8 bytes. */
export function stringLiteral(value: string): string {
  let out = "'";
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && PLAIN.test(c) ? c : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out + "'";
}

/** An integer literal, or an error: a value that is not a safe integer never becomes SQL. */
export function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`not an integer: ${String(value)}`);
  return String(value);
}

/**
 * A number as a literal ClickHouse reads as the same double (a --since of 1768222800.5):
 * JavaScript's shortest text that round-trips; toFloat64 keeps a whole number from being read as
 * an integer. Only plain decimals (18.16 refuses some exponent forms, 5e-324): others are refused.
 */
export function numberLiteral(value: number): string {
  const text = String(value);
  if (!Number.isFinite(value) || !/^-?\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a plain decimal number: ${text}`);
  return `toFloat64(${text})`;
}

/** An identifier exflow itself names (its tables and columns): checked, never quoted from input. */
export function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`not an identifier exflow uses: ${JSON.stringify(name)}`);
  return name;
}
