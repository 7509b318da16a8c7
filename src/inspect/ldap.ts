// LDAP on 389 and the global catalog's 3268 (RFC 4511 4.2, 4.14; RFC 4513): how
// the session authenticates and whether it is protected. A StartTLS request
// switches it to TLS (its handshake read like any other); a BindRequest says
// simple (a DN and, unless anonymous, a password in clear), SASL with a mechanism
// (GSSAPI, GSS-SPNEGO, EXTERNAL, DIGEST-MD5, PLAIN) or Microsoft's Sicily NTLM
// (tags [9]-[11]); after a SASL bind, the client's next message says whether the
// security layer signs or seals: a plain LDAPMessage (none), or a 4-byte length
// and a GSS wrap token (RFC 4121 4.2.6.2 flags; RFC 1964 1.2.1 SEAL_ALG; an
// NTLMSSP signature followed by clear or sealed bytes, [MS-NLMP] 3.4.4).
// The inspector lets go when that is known, after the TLS handshake, or after
// MAX_CLIENT bytes from the client.
import type { FlowInspector } from '../flow/inspector';
import { type LdapProtection } from './auth/facts';
import { header as lenient, str, tlv, type Tlv } from './auth/der';
import { OID_KRB5, readGssToken } from './auth/gss';
import { findNtlmssp, readNtlmssp } from './auth/ntlmssp';
import type { ByteBudget } from './dcerpc/budget';
import { SwitchesToTls } from './starttls';

const MAX_CLIENT = 32 * 1024;
const MAX_MESSAGES = 8;
const STARTTLS_OID = Buffer.from('1.3.6.1.4.1.1466.20037', 'latin1');
const KRB5_OID = Buffer.from(OID_KRB5);

const enum Op {
  BindRequest = 0x60,
  BindResponse = 0x61,
  ExtendedRequest = 0x77,
}

const enum Auth {
  Simple = 0x80,
  Sasl = 0xa3,
  SicilyDiscovery = 0x89,
  SicilyNegotiate = 0x8a,
  SicilyResponse = 0x8b,
}

export class LdapSession extends SwitchesToTls implements FlowInspector {
  /** simple, sasl-<mechanism>, sicily; null when no bind was read. */
  bind: string | null = null;
  protection: LdapProtection | null = null;
  private saslBound = false;
  private clientBytes = 0;
  private messages = 0;
  /** Per direction: bytes of a message that began in an earlier segment, still to pass. */
  private readonly rest = [0, 0];

  constructor(serverDir: number, budget: ByteBudget | null = null) {
    super(serverDir, budget);
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    const switched = this.afterSwitch(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
    if (switched !== null) return switched;
    if (capLen === 0) return true;
    const client = dir !== this.serverDir;
    if (client) {
      this.clientBytes += capLen;
      if (this.switchOnHello(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec)) {
        this.protection = 'tls';
        return true;
      }
    }
    let at = off;
    const end = off + capLen;
    // Messages that begin in this segment; one that runs past it is read from what is here.
    while (at < end && !this.done) {
      if (this.rest[dir] > 0) {
        const skip = Math.min(this.rest[dir], end - at);
        this.rest[dir] -= skip;
        at += skip;
        continue;
      }
      if (client && this.saslBound) {
        this.afterSasl(buf, at, end);
        return this.finish();
      }
      const msg = lenient(buf, at, end);
      if (!msg || msg.tag !== 0x30) {
        if (client && this.messages === 0) return this.finish(); // not LDAP: nothing to learn
        break;
      }
      this.messages++;
      const whole = msg.end <= end;
      if (client) this.clientMessage(buf, msg, Math.min(msg.end, end));
      else this.serverMessage(buf, msg, Math.min(msg.end, end));
      if (whole) at = msg.end;
      else {
        this.rest[dir] = msg.end - end;
        at = end;
      }
    }
    if (this.done) return false;
    if (this.clientBytes > MAX_CLIENT || this.messages > MAX_MESSAGES || capLen < wireLen) return this.finish();
    return true;
  }

  private clientMessage(b: Buffer, msg: Tlv, end: number): void {
    const id = tlv(b, msg.at, end);
    if (!id) return;
    const op = tlv(b, id.end, end) ?? lenient(b, id.end, end);
    if (!op) return;
    if (op.tag === Op.ExtendedRequest && b.subarray(op.at, Math.min(op.end, end)).indexOf(STARTTLS_OID) >= 0) {
      this.asked = true;
      return;
    }
    if (this.use === null) this.use = 'none';
    if (this.protection === null) this.protection = 'none';
    if (op.tag !== Op.BindRequest) {
      // An operation in clear with no bind before it: anonymous, nothing more to learn.
      if (this.bind === null) this.finish();
      return;
    }
    const version = tlv(b, op.at, end);
    const name = version ? tlv(b, version.end, end) : null;
    const how = name ? tlv(b, name.end, end) ?? lenient(b, name.end, end) : null;
    if (!name || !how) return;
    const dn = str(b, name);
    switch (how.tag) {
      case Auth.Simple: {
        this.bind = 'simple';
        const withPassword = how.end > how.at;
        if (dn === '' && !withPassword) this.auth.setMech('anonymous');
        else {
          this.auth.setMech('simple');
          if (dn) this.auth.setAccount(dn);
          if (withPassword && this.use !== 'starttls') this.auth.cleartext = true;
        }
        this.finish(); // a simple bind has no security layer: what follows is as protected as the session
        return;
      }
      case Auth.Sasl: {
        const mech = tlv(b, how.at, end);
        const mechName = str(b, mech).toUpperCase().replace(/[^A-Z0-9-]/g, '').slice(0, 20);
        this.bind = `sasl-${mechName.toLowerCase() || 'unknown'}`;
        const creds = mech ? tlv(b, mech.end, end) ?? lenient(b, mech.end, end) : null;
        this.sasl(mechName, b, creds, end);
        return;
      }
      case Auth.SicilyDiscovery:
      case Auth.SicilyNegotiate:
      case Auth.SicilyResponse: {
        this.bind = 'sicily';
        this.auth.setMech('ntlm');
        if (how.tag !== Auth.SicilyDiscovery) readNtlmssp(b, how.at, Math.min(how.end, end), this.auth);
        if (how.tag === Auth.SicilyResponse) this.saslBound = this.use !== 'starttls';
        return;
      }
      default:
        return;
    }
  }

  private sasl(mech: string, b: Buffer, creds: Tlv | null, end: number): void {
    const cEnd = creds ? Math.min(creds.end, end) : 0;
    switch (mech) {
      case 'GSSAPI':
        this.auth.setMech('kerberos');
        if (creds) readGssToken(b, creds.at, cEnd, this.auth);
        break;
      case 'GSS-SPNEGO':
        if (creds && !readGssToken(b, creds.at, cEnd, this.auth)) {
          const ntlm = findNtlmssp(b, creds.at, cEnd);
          if (ntlm >= 0) readNtlmssp(b, ntlm, cEnd, this.auth);
          else if (b.subarray(creds.at, cEnd).indexOf(KRB5_OID) >= 0) this.auth.setMech('kerberos');
        }
        break;
      case 'EXTERNAL':
        this.auth.setMech('external');
        break;
      case 'DIGEST-MD5':
        this.auth.setMech('digest');
        break;
      case 'PLAIN':
        this.auth.setMech('plain');
        if (creds && creds.end <= end) {
          // authzid NUL authcid NUL password (RFC 4616): only the authcid is kept.
          const parts = b.toString('utf8', creds.at, creds.end).split('\0');
          if (parts[1]) this.auth.setAccount(parts[1]);
          if (parts.length >= 3 && parts[2] !== '' && this.use !== 'starttls') this.auth.cleartext = true;
        }
        break;
      default:
        break;
    }
    // A SASL bind may take several rounds; the security layer (if any) starts after the last.
    if (this.use !== 'starttls') this.saslBound = true;
  }

  private serverMessage(b: Buffer, msg: Tlv, end: number): void {
    const id = tlv(b, msg.at, end);
    const op = id ? tlv(b, id.end, end) ?? lenient(b, id.end, end) : null;
    if (!op || op.tag !== Op.BindResponse) return;
    // A SASL or Sicily challenge: NTLM's CHALLENGE names the server.
    const ntlm = findNtlmssp(b, op.at, Math.min(op.end, end));
    if (ntlm >= 0) readNtlmssp(b, ntlm, Math.min(op.end, end), this.auth);
    // resultCode saslBindInProgress (14): more rounds to come; the client's next message is another bind.
    const result = tlv(b, op.at, end);
    if (result && result.tag === 0x0a && result.end - result.at === 1 && b[result.at] === 14) this.saslBound = false;
    else if (this.bind !== null && this.bind !== 'simple' && this.use !== 'starttls') this.saslBound = true;
  }

  /** The client's first message after a SASL bind: a plain LDAPMessage, or a wrapped one. */
  private afterSasl(b: Buffer, at: number, end: number): void {
    if (b[at] === 0x30) {
      this.protection = 'none';
      return;
    }
    if (end - at < 8) return;
    const t = at + 4; // the SASL buffer's 4-byte length
    if (b[t] === 0x05 && b[t + 1] === 0x04) {
      this.protection = (b[t + 2] & 0x02) !== 0 ? 'sasl-seal' : 'sasl-sign'; // RFC 4121 Wrap token, flag Sealed
    } else if (b[t] === 0x60) {
      // RFC 1964 wrap inside the GSS framing: token id 02 01, then SGN_ALG, then SEAL_ALG (ff ff = none).
      const id = findPair(b, t, Math.min(end, t + 32), 0x02, 0x01);
      if (id >= 0 && id + 6 <= end) this.protection = b[id + 4] === 0xff && b[id + 5] === 0xff ? 'sasl-sign' : 'sasl-seal';
    } else if (b[t] === 0x01 && b[t + 1] === 0 && b[t + 2] === 0 && b[t + 3] === 0) {
      // An NTLMSSP_MESSAGE_SIGNATURE (16 bytes): then the message, in clear when only signed.
      this.protection = end - t > 16 && b[t + 16] === 0x30 && !this.auth.ntlmSeal ? 'sasl-sign' : 'sasl-seal';
    } else this.protection = this.auth.ntlmSeal ? 'sasl-seal' : this.auth.ntlmSign ? 'sasl-sign' : null;
  }
}

function findPair(b: Uint8Array, from: number, to: number, x: number, y: number): number {
  for (let i = from; i + 1 < to; i++) if (b[i] === x && b[i + 1] === y) return i;
  return -1;
}
