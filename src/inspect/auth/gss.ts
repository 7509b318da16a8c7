// GSS-API tokens as the carriers hand them over (RFC 2743 3.1): SPNEGO
// (RFC 4178: NegTokenInit / NegTokenResp) unwrapped to the mechanism it carries,
// the Kerberos token (RFC 4121 4.1: its OID, a two-byte token id, then the AP-REQ
// of RFC 4120 5.5.1) and raw NTLMSSP. What is read: which mechanism, the NTLM
// fields (ntlmssp.ts), and the service principal of a Kerberos ticket (its realm
// and sname are in clear; the client's name is in the encrypted authenticator).
import { children, explicit, isOid, str, tlv, type Tlv } from './der';
import type { AuthFacts } from './facts';
import { isNtlmssp, readNtlmssp } from './ntlmssp';

export const OID_SPNEGO = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
export const OID_KRB5 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/** The Kerberos OID as older Windows sent it (1.2.840.48018.1.2.2). */
export const OID_MS_KRB5 = [0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
export const OID_NTLM = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

const enum Tag {
  InitialContextToken = 0x60,
  NegTokenInit = 0xa0,
  NegTokenResp = 0xa1,
  ApReq = 0x6e,
  ApRep = 0x6f,
}

/**
 * Reads one security token at b[o, end) into `facts`. Returns true when it was
 * one of the tokens above. Depth-bounded: SPNEGO may wrap at most a few levels.
 */
export function readGssToken(b: Uint8Array, o: number, end: number, facts: AuthFacts, depth = 0): boolean {
  if (depth > 3 || o >= end) return false;
  if (isNtlmssp(b, o, end)) return readNtlmssp(b, o, end, facts) > 0;
  const t = tlv(b, o, end);
  if (!t) return false;
  switch (t.tag) {
    case Tag.InitialContextToken: {
      const parts = children(b, t, 4);
      const oid = parts[0] ?? null;
      if (isOid(b, oid, OID_SPNEGO)) {
        const init = parts[1];
        return init?.tag === Tag.NegTokenInit ? negTokenInit(b, init, facts, depth) : false;
      }
      if (isOid(b, oid, OID_KRB5) || isOid(b, oid, OID_MS_KRB5)) {
        facts.setMech('kerberos');
        const ap = parts.find((p) => p.tag === Tag.ApReq);
        if (ap) apReq(b, ap, facts);
        return true;
      }
      return false;
    }
    case Tag.NegTokenInit:
      return negTokenInit(b, t, facts, depth);
    case Tag.NegTokenResp: {
      const seq = tlv(b, t.at, t.end);
      if (!seq || seq.tag !== 0x30) return false;
      const mech = explicit(b, seq, 1);
      mechByOid(b, mech, facts);
      const token = explicit(b, seq, 2);
      if (token && token.tag === 0x04) readGssToken(b, token.at, token.end, facts, depth + 1);
      return true;
    }
    case Tag.ApReq:
      facts.setMech('kerberos');
      apReq(b, t, facts);
      return true;
    case Tag.ApRep:
      facts.setMech('kerberos');
      return true;
    default:
      return false;
  }
}

function negTokenInit(b: Uint8Array, init: Tlv, facts: AuthFacts, depth: number): boolean {
  const seq = tlv(b, init.at, init.end);
  if (!seq || seq.tag !== 0x30) return false;
  const token = explicit(b, seq, 2);
  if (token && token.tag === 0x04 && readGssToken(b, token.at, token.end, facts, depth + 1)) return true;
  // No optimistic token: the client's first choice of mechanism says what it will use.
  const types = explicit(b, seq, 0);
  if (types && types.tag === 0x30) mechByOid(b, children(b, types, 1)[0] ?? null, facts);
  return true;
}

function mechByOid(b: Uint8Array, oid: Tlv | null, facts: AuthFacts): void {
  if (isOid(b, oid, OID_KRB5) || isOid(b, oid, OID_MS_KRB5)) facts.setMech('kerberos');
  else if (isOid(b, oid, OID_NTLM)) facts.setMech('ntlm');
}

/** AP-REQ: the ticket's realm and service principal, "service/host@REALM". */
function apReq(b: Uint8Array, ap: Tlv, facts: AuthFacts): void {
  const seq = tlv(b, ap.at, ap.end);
  if (!seq || seq.tag !== 0x30) return;
  const ticketApp = explicit(b, seq, 3);
  if (!ticketApp || ticketApp.tag !== 0x61) return;
  const ticket = tlv(b, ticketApp.at, ticketApp.end);
  if (!ticket || ticket.tag !== 0x30) return;
  const spn = principal(b, explicit(b, ticket, 2), str(b, explicit(b, ticket, 1)));
  if (spn && !facts.spn) facts.spn = spn;
}

/** A PrincipalName (RFC 4120 5.2.2) with its realm: "a/b@REALM", or null. */
export function principal(b: Uint8Array, name: Tlv | null, realm: string): string | null {
  if (!name || name.tag !== 0x30) return null;
  const parts = explicit(b, name, 1);
  if (!parts || parts.tag !== 0x30) return null;
  const strings = children(b, parts, 4).filter((c) => c.tag === 0x1b).map((c) => str(b, c));
  if (strings.length === 0) return null;
  const joined = strings.join('/');
  // An enterprise name (NT-ENTERPRISE, RFC 6806 5) already holds its own realm: user@domain.
  return realm && !strings[strings.length - 1].includes('@') ? `${joined}@${realm}` : joined;
}
