// LDAP on 389 and the global catalog's 3268 (RFC 4511 4.2, 4.14; RFC 4513): how
// the session authenticates and whether it is protected. A StartTLS request
// switches it to TLS (its handshake read like any other); a BindRequest says
// simple (a DN and, unless anonymous, a password in clear), SASL with a mechanism
// (GSSAPI, GSS-SPNEGO, EXTERNAL, DIGEST-MD5, PLAIN) or Microsoft's Sicily NTLM
// ([MS-ADTS] 5.1.1.1.3: package discovery [9], negotiate [10], response [11]).
// After a bind the server accepted, the client's next message says whether the
// security layer signs or seals: a plain LDAPMessage (none), or a 4-byte length
// and a GSS wrap token (RFC 4121 4.2.6.2 flags; RFC 1964 1.2.1 SEAL_ALG; an
// NTLMSSP signature followed by clear or sealed bytes, [MS-NLMP] 3.4.4). A session
// whose every authenticating bind the server refused never authenticated: `unbound`.
//
// Windows binds after other operations (a rootDSE search first, as a rule), and a
// Kerberos bind's ticket runs over several segments: other messages are passed over,
// binds are held whole (up to MAX_BIND, from the run's budget). After a gap in the
// capture a side waits for a segment that begins with a message.
// The inspector lets go when the layer is known, after the TLS handshake, or after
// MAX_CLIENT bytes or MAX_CLIENT_MESSAGES messages from the client.
import type { FlowInspector } from '../flow/inspector';
import { type LdapProtection } from './auth/facts';
import { header, str, tlv, type Tlv } from './auth/der';
import { OID_KRB5, readGssToken } from './auth/gss';
import { findNtlmssp, readNtlmssp } from './auth/ntlmssp';
import type { ByteBudget } from './dcerpc/budget';
import { Held } from './held';
import { SeqTracker } from './seq';
import { SwitchesToTls } from './starttls';

const MAX_CLIENT = 64 * 1024;
const MAX_CLIENT_MESSAGES = 12;
/** A bind held across segments: Kerberos tickets with a PAC run to tens of KB (Windows' MaxTokenSize is 48 KB). */
const MAX_BIND = 64 * 1024;
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

/** resultCode (RFC 4511 4.1.9). */
const SUCCESS = 0;
const SASL_BIND_IN_PROGRESS = 14;

/** One direction's place in the stream. */
class Side {
  /** Where its segments fall in the stream. */
  readonly seq = new SeqTracker();
  /** Bytes of a message passed over that are still to come. */
  rest = 0;
  /** After a gap: segments are passed over until one begins with a message. */
  lost = false;
  readonly held: Held;
  constructor(budget: ByteBudget | null) {
    this.held = new Held(MAX_BIND, budget);
  }
}

export class LdapSession extends SwitchesToTls implements FlowInspector {
  /** simple, sasl-<mechanism>, sicily; null when no bind was read. */
  bind: string | null = null;
  /** What protected the messages: tls, or what followed the bind; null undecided. */
  private layer: LdapProtection | null = null;
  /** Whether an authenticating bind was accepted: null before a response to one, false while all were refused. */
  private bound: boolean | null = null;
  /** The last bind request authenticates (a SASL round, a Sicily response): its response says bound or refused. */
  private awaiting = false;
  /** The client's next message says the security layer. */
  private layerNext = false;
  private clientBytes = 0;
  private clientMessages = 0;
  /** The segment being read was cut by the snaplen: nothing of it can be held. */
  private cut = false;
  private readonly sides: [Side, Side];
  // Bound once, not a closure per segment.
  private readonly readers = [(b: Buffer, from: number, to: number) => this.messages(0, b, from, to) - from, (b: Buffer, from: number, to: number) => this.messages(1, b, from, to) - from];

  constructor(serverDir: number, budget: ByteBudget | null = null) {
    super(serverDir, budget);
    this.sides = [new Side(budget), new Side(budget)];
  }

  get protection(): LdapProtection | null {
    if (this.layer === 'tls') return 'tls';
    if (this.bound === false && this.bind !== null && this.bind !== 'simple') return 'unbound';
    return this.layer;
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    const switched = this.afterSwitch(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
    if (switched !== null) return switched;
    if (capLen === 0) return true;
    const client = dir !== this.serverDir;
    if (client) {
      this.clientBytes += capLen;
      if (this.switchOnHello(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec)) {
        this.layer = 'tls';
        return true;
      }
    }
    const side = this.sides[dir];
    // The client's first bytes: an LDAP message, or nothing to learn here.
    if (client && !side.seq.started && this.clientMessages === 0 && !startsMessage(buf, off, off + capLen)) return this.finish();
    // A retransmission: what was had already is skipped.
    const had = side.seq.place(seq, capLen, wireLen);
    if (had < 0) return true;
    if (side.seq.gap) {
      // A gap: what was held or passed over cannot be completed.
      side.held.drop();
      side.rest = 0;
      side.lost = true;
    }
    off += had;
    capLen -= had;
    wireLen -= had;
    if (side.lost) {
      if (!startsMessage(buf, off, off + capLen)) return this.clientBytes > MAX_CLIENT ? this.finish() : true;
      side.lost = false;
    }
    this.cut = capLen < wireLen;
    if (!side.held.feed(buf, off, capLen, this.readers[dir])) return this.finish();
    if (this.done) return false;
    if (this.cut || this.clientBytes > MAX_CLIENT || this.clientMessages > MAX_CLIENT_MESSAGES) return this.finish();
    return true;
  }

  /** Reads the messages in b[from, to) of one direction; returns where it stopped (a bind's start is held until it is whole). */
  private messages(dir: number, b: Buffer, from: number, to: number): number {
    const side = this.sides[dir];
    const client = dir !== this.serverDir;
    let at = from;
    while (at < to && !this.done) {
      if (side.rest > 0) {
        const skip = Math.min(side.rest, to - at);
        side.rest -= skip;
        at += skip;
        continue;
      }
      if (client && this.layerNext && b[at] !== 0x30) {
        // A wrapped message: its first bytes say the layer.
        if (to - at < 24 && !this.cut) return at;
        this.wrapped(b, at, to);
        this.finish();
        return to;
      }
      const msg = header(b, at, to);
      if (!msg) {
        if (to - at < 6 && !this.cut) return at; // a header cut by the segment: wait for the rest
        side.lost = true;
        return to;
      }
      if (msg.tag !== 0x30) {
        // Not a message where one should begin: the stream is out of step; find it again.
        side.lost = true;
        return to;
      }
      if (msg.end > to) {
        const op = opTag(b, msg, to);
        if (op < 0 && !this.cut) return at;
        const wanted = op === (client ? Op.BindRequest : Op.BindResponse) || (client && op === Op.ExtendedRequest);
        if (wanted && msg.end - at <= MAX_BIND && !this.cut) return at;
        // Read what is here of it (a cut or oversized bind still names its mechanism) and pass over the rest.
        this.message(client, b, msg, to);
        side.rest = msg.end - to;
        return to;
      }
      this.message(client, b, msg, msg.end);
      at = msg.end;
    }
    return this.done ? to : at;
  }

  private message(client: boolean, b: Buffer, msg: Tlv, end: number): void {
    if (client) {
      this.clientMessages++;
      this.clientMessage(b, msg, end);
    } else this.serverMessage(b, msg, end);
  }

  private clientMessage(b: Buffer, msg: Tlv, end: number): void {
    const id = tlv(b, msg.at, end);
    if (!id) return;
    const op = header(b, id.end, end);
    if (!op) return;
    if (op.tag === Op.ExtendedRequest && b.subarray(op.at, Math.min(op.end, end)).indexOf(STARTTLS_OID) >= 0) {
      this.asked = true;
      return;
    }
    if (this.use === null) this.use = 'none';
    if (this.layer === null) this.layer = 'none';
    if (op.tag !== Op.BindRequest) {
      // Another operation: in clear. Right after a bind, that is the layer (none); before one, read on.
      if (this.layerNext) this.finish();
      return;
    }
    this.layerNext = false;
    const version = tlv(b, op.at, end);
    const name = version ? tlv(b, version.end, end) : null;
    const how = name ? header(b, name.end, end) : null;
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
        const creds = mech ? header(b, mech.end, end) : null;
        this.sasl(mechName, b, creds, end);
        this.authenticating();
        return;
      }
      case Auth.SicilyDiscovery:
      case Auth.SicilyNegotiate:
      case Auth.SicilyResponse: {
        this.bind = 'sicily';
        this.auth.setMech('ntlm');
        if (how.tag !== Auth.SicilyDiscovery) readNtlmssp(b, how.at, Math.min(how.end, end), this.auth);
        // Discovery and negotiate are answered with the packages and the challenge; the response authenticates.
        if (how.tag === Auth.SicilyResponse) this.authenticating();
        else this.awaiting = false;
        return;
      }
      default:
        return;
    }
  }

  /** A bind round that may complete the authentication: its response says; unseen, the client's next message does. */
  private authenticating(): void {
    this.awaiting = true;
    this.layerNext = this.use !== 'starttls';
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
  }

  private serverMessage(b: Buffer, msg: Tlv, end: number): void {
    const id = tlv(b, msg.at, end);
    const op = id ? header(b, id.end, end) : null;
    if (!op || op.tag !== Op.BindResponse) return;
    // A SASL or Sicily challenge: NTLM's CHALLENGE names the server.
    const ntlm = findNtlmssp(b, op.at, Math.min(op.end, end));
    if (ntlm >= 0) readNtlmssp(b, ntlm, Math.min(op.end, end), this.auth);
    const result = tlv(b, op.at, end);
    if (!result || result.tag !== 0x0a || result.end - result.at !== 1 || !this.awaiting) return;
    const code = b[result.at];
    if (code === SASL_BIND_IN_PROGRESS) {
      this.layerNext = false; // more rounds: the client's next message is another bind
      return;
    }
    this.awaiting = false;
    if (code === SUCCESS) {
      this.bound = true;
      this.layerNext = this.use !== 'starttls';
    } else {
      // Refused: the session is as it was before the bind (anonymous, unless an earlier bind succeeded).
      if (this.bound !== true) this.bound = false;
      this.layerNext = false;
    }
  }

  /** The client's first message after the bind, wrapped by the security layer. */
  private wrapped(b: Buffer, at: number, end: number): void {
    if (end - at < 8) return;
    const t = at + 4; // the SASL buffer's 4-byte length
    if (b[t] === 0x05 && b[t + 1] === 0x04) {
      this.layer = (b[t + 2] & 0x02) !== 0 ? 'sasl-seal' : 'sasl-sign'; // RFC 4121 Wrap token, flag Sealed
    } else if (b[t] === 0x60) {
      // RFC 1964 wrap inside the GSS framing: token id 02 01, then SGN_ALG, then SEAL_ALG (ff ff = none).
      const id = findPair(b, t, Math.min(end, t + 32), 0x02, 0x01);
      if (id >= 0 && id + 6 <= end) this.layer = b[id + 4] === 0xff && b[id + 5] === 0xff ? 'sasl-sign' : 'sasl-seal';
    } else if (b[t] === 0x01 && b[t + 1] === 0 && b[t + 2] === 0 && b[t + 3] === 0) {
      // An NTLMSSP_MESSAGE_SIGNATURE (16 bytes): then the message, in clear when only signed.
      this.layer = end - t > 16 && b[t + 16] === 0x30 && !this.auth.ntlmSeal ? 'sasl-sign' : 'sasl-seal';
    } else this.layer = this.auth.ntlmSeal ? 'sasl-seal' : this.auth.ntlmSign ? 'sasl-sign' : this.layer;
  }

  protected override release(): void {
    this.sides[0].held.release();
    this.sides[1].held.release();
  }
}

/** The tag of a message's protocolOp, or -1 when its header is not in b[…, to). */
function opTag(b: Uint8Array, msg: Tlv, to: number): number {
  const id = tlv(b, msg.at, to);
  const op = id ? header(b, id.end, to) : null;
  return op ? op.tag : -1;
}

/** Whether an LDAPMessage begins at b[at]: a SEQUENCE whose first element is a small INTEGER (the messageID). */
function startsMessage(b: Uint8Array, at: number, to: number): boolean {
  const msg = header(b, at, to);
  if (!msg || msg.tag !== 0x30 || msg.at + 3 > to) return false;
  return b[msg.at] === 0x02 && b[msg.at + 1] >= 1 && b[msg.at + 1] <= 4;
}

function findPair(b: Uint8Array, from: number, to: number, x: number, y: number): number {
  for (let i = from; i + 1 < to; i++) if (b[i] === x && b[i + 1] === y) return i;
  return -1;
}
