// Just enough DER (X.690) to read an X.509 certificate's issuer and subject names
// (RFC 5280 4.1): Certificate → tbsCertificate → [0] version, serialNumber,
// signature, issuer, validity, subject. Attribute types other than the common
// ones are left out; values are taken as text whatever their string type.
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

/** The attribute types people expect in a name, by their DER-encoded OID 2.5.4.x. */
const ATTRS: Record<number, string> = { 3: 'CN', 6: 'C', 7: 'L', 8: 'ST', 10: 'O', 11: 'OU' };

/** A Name (RDNSequence) as "CN=…, O=…" in the certificate's order. */
function nameText(b: Buffer, name: Tlv): string | null {
  const parts: string[] = [];
  for (let at = name.start; at < name.end; ) {
    const set = tlv(b, at, name.end);
    if (!set || set.tag !== 0x31) return null;
    for (let a = set.start; a < set.end; ) {
      const seq = tlv(b, a, set.end);
      if (!seq || seq.tag !== 0x30) return null;
      const oid = tlv(b, seq.start, seq.end);
      const value = oid && tlv(b, oid.end, seq.end);
      if (!oid || !value || oid.tag !== 0x06) return null;
      if (oid.end - oid.start === 3 && b[oid.start] === 0x55 && b[oid.start + 1] === 0x04 && ATTRS[b[oid.start + 2]]) {
        // BMPString is UTF-16BE; the others are (near enough) UTF-8 or Latin-1 text.
        // (An odd byte at the end of a BMPString is damage: left out, as swap16 needs pairs.)
        const text = value.tag === 0x1e ? Buffer.from(b.subarray(value.start, value.end - ((value.end - value.start) % 2))).swap16().toString('utf16le') : b.toString('utf8', value.start, value.end);
        parts.push(`${ATTRS[b[oid.start + 2]]}=${text}`);
      }
      a = seq.end;
    }
    at = set.end;
  }
  return parts.length ? parts.join(', ') : null;
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
