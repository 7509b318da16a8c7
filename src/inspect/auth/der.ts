// Just enough BER/DER (X.690 8.1) to walk the tokens of SPNEGO, Kerberos and LDAP:
// a tag, a length, the value's bounds. Every read is checked against the end it is
// given; a cut or malformed element reads as null, never as an exception.

export interface Tlv {
  tag: number;
  /** Where the value starts and ends. */
  at: number;
  end: number;
}

/**
 * The element's header at `o` (single-byte tags, definite lengths up to 4 bytes): its tag
 * and where its value starts and ends as declared — the end may lie past `end` (a value
 * cut by what is at hand; tlv() refuses that, readers of cut messages clamp it). Null when
 * the header itself is cut or malformed.
 */
export function header(b: Uint8Array, o: number, end: number): Tlv | null {
  if (o + 2 > end) return null;
  const tag = b[o];
  if ((tag & 0x1f) === 0x1f) return null; // multi-byte tags: not used by what is read here
  let len = b[o + 1];
  let at = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + n > end) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[at + i];
    at += n;
  }
  return { tag, at, end: at + len };
}

/** The element at `o` whose value lies wholly before `end`, or null. */
export function tlv(b: Uint8Array, o: number, end: number): Tlv | null {
  const h = header(b, o, end);
  return h && h.end <= end ? h : null;
}

/** The children of a constructed element, in order (at most `max`). */
export function children(b: Uint8Array, e: Tlv, max = 32): Tlv[] {
  const out: Tlv[] = [];
  let o = e.at;
  while (o < e.end && out.length < max) {
    const c = tlv(b, o, e.end);
    if (!c) break;
    out.push(c);
    o = c.end;
  }
  return out;
}

/** The child with context tag [n] (0xa0 + n) of a SEQUENCE, unwrapped to the element inside it. */
export function explicit(b: Uint8Array, seq: Tlv, n: number): Tlv | null {
  for (const c of children(b, seq)) if (c.tag === (0xa0 | n)) return tlv(b, c.at, c.end);
  return null;
}

/** Whether the element is an OBJECT IDENTIFIER with these content bytes. */
export function isOid(b: Uint8Array, e: Tlv | null, oid: readonly number[]): boolean {
  if (!e || e.tag !== 0x06 || e.end - e.at !== oid.length) return false;
  for (let i = 0; i < oid.length; i++) if (b[e.at + i] !== oid[i]) return false;
  return true;
}

/** An element's value as text (GeneralString, OCTET STRING of names: ASCII as Kerberos and LDAP send it). */
export function str(b: Uint8Array, e: Tlv | null): string {
  if (!e) return '';
  return Buffer.from(b.buffer, b.byteOffset + e.at, e.end - e.at).toString('utf8');
}

/** A small non-negative INTEGER (at most 4 bytes), or -1. */
export function int(b: Uint8Array, e: Tlv | null): number {
  if (!e || e.tag !== 0x02 || e.end - e.at > 4 || e.end === e.at) return -1;
  let v = 0;
  for (let i = e.at; i < e.end; i++) v = v * 256 + b[i];
  return v;
}
