// Just enough DER (X.690) to read an X.509 certificate's issuer and subject names
// (RFC 5280 4.1): Certificate → tbsCertificate → [0] version, serialNumber,
// signature, issuer, validity, subject. Names are written as RFC 4514 does; values
// of the types it names are taken as text whatever their string type.
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(b: Buffer, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = b[at];
  let len = b[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > limit) return null;
    len = b.readUIntBE(start, n);
    start += n;
  }
  if (start + len > limit) return null;
  return { tag, start, end: start + len };
}

/**
 * Attribute types by name: those RFC 4514 3 names (CN, L, ST, O, OU, C, STREET, DC, UID), and
 * the others OpenSSL (-nameopt RFC2253) and tshark name — a certificate's emailAddress read
 * "1.2.840.113549.1.9.1=#16…" before (issue 31 item 11). Any other is its dotted OID with
 * its DER value in hex.
 */
const ATTRS: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
  '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.12': 'title', '2.5.4.15': 'businessCategory', '2.5.4.17': 'postalCode', '2.5.4.42': 'GN',
  '1.2.840.113549.1.9.1': 'emailAddress', '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/** An OID's DER contents as dotted numbers (X.690 8.19). */
function dotted(b: Buffer, start: number, end: number): string {
  const arcs: number[] = [];
  let v = 0;
  for (let i = start; i < end; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if ((b[i] & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/** RFC 4514 2.4: a value's special characters escaped with a backslash. */
function escapeValue(s: string): string {
  let out = s.replace(/[\\",+;<>]/g, (c) => `\\${c}`).replace(/\0/g, '\\00');
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1 && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * A Name (RDNSequence) as RFC 4514 writes it: the last RDN first, RDNs separated by
 * ",", the attributes of a multi-valued RDN by "+"; the types ATTRS names by their
 * names, any other as its dotted OID with the value as "#" and the hex of its DER.
 */
function nameText(b: Buffer, name: Tlv): string | null {
  const rdns: string[] = [];
  for (let at = name.start; at < name.end; ) {
    const set = tlv(b, at, name.end);
    if (!set || set.tag !== 0x31) return null;
    const parts: string[] = [];
    for (let a = set.start; a < set.end; ) {
      const seq = tlv(b, a, set.end);
      if (!seq || seq.tag !== 0x30) return null;
      const oid = tlv(b, seq.start, seq.end);
      const value = oid && tlv(b, oid.end, seq.end);
      if (!oid || !value || oid.tag !== 0x06) return null;
      const type = dotted(b, oid.start, oid.end);
      const short = Object.hasOwn(ATTRS, type) ? ATTRS[type] : undefined;
      if (short) {
        // BMPString is UTF-16BE; the others are (near enough) UTF-8 or Latin-1 text.
        // (An odd byte at the end of a BMPString is damage: left out, as swap16 needs pairs.)
        const text = value.tag === 0x1e ? Buffer.from(b.subarray(value.start, value.end - ((value.end - value.start) % 2))).swap16().toString('utf16le') : b.toString('utf8', value.start, value.end);
        parts.push(`${short}=${escapeValue(text)}`);
      } else parts.push(`${type}=#${b.toString('hex', oid.end, value.end)}`);
      a = seq.end;
    }
    if (parts.length) rdns.push(parts.join('+'));
    at = set.end;
  }
  return rdns.length ? rdns.reverse().join(',') : null;
}

export function certificateNames(der: Buffer): { subject: string | null; issuer: string | null } | null {
  const cert = tlv(der, 0, der.length);
  if (!cert || cert.tag !== 0x30) return null;
  const tbs = tlv(der, cert.start, cert.end);
  if (!tbs || tbs.tag !== 0x30) return null;
  const fields: Tlv[] = [];
  for (let at = tbs.start; at < tbs.end && fields.length < 6; ) {
    const f = tlv(der, at, tbs.end);
    if (!f) return null;
    fields.push(f);
    at = f.end;
  }
  const i = fields[0]?.tag === 0xa0 ? 1 : 0; // explicit [0] version, absent in v1 certificates
  const issuer = fields[i + 2];
  const subject = fields[i + 4];
  if (!issuer || !subject || issuer.tag !== 0x30 || subject.tag !== 0x30) return null;
  return { subject: nameText(der, subject), issuer: nameText(der, issuer) };
}
