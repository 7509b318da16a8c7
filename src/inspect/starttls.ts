// STARTTLS on the mail and directory protocols: did the client switch the
// connection to TLS before sending anything that matters, or did it talk in the
// clear? SMTP "STARTTLS" (RFC 3207), IMAP4 "tag STARTTLS" (RFC 3501 6.2.1), POP3
// "STLS" (RFC 2595 4), LDAP's StartTLS extended operation, OID 1.3.6.1.4.1.1466.20037
// (RFC 4511 4.14). After the switch the TLS handshake is read like any other
// (server name, version, certificate); the inspector lets go when the handshake is
// read, or at the first command that shows the session in clear.
import type { FlowInspector } from '../flow/inspector';
import type { ByteBudget } from './dcerpc/budget';
import { looksLikeClientHello, TlsHandshake } from './tls';
import { ReadsAuth } from './auth/facts';
import { readNtlmssp } from './auth/ntlmssp';

/** A host name as SMTP greetings and EHLO carry it: dot-separated labels of letters, digits and dashes. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;

/** An IMAP astring as sent: a quoted string loses its quotes (RFC 3501 4.3). */
function unquote(s: string): string {
  return s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"' ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

export const enum LineProtocol {
  Smtp = 1,
  Imap = 2,
  Pop3 = 3,
}

/** Client bytes read before deciding at most. */
const MAX_CLEAR = 8192;
/** Of each client line only its start is kept: the command and, for a login, its names (a SASL line is a few hundred characters of base64). */
const LINE_HEAD = 2048;

/** The command that asks for TLS, per protocol (upper case, the IMAP tag stripped). */
const STARTTLS_WORD: Record<number, string> = { [LineProtocol.Smtp]: 'STARTTLS', [LineProtocol.Imap]: 'STARTTLS', [LineProtocol.Pop3]: 'STLS' };
/** Commands that carry mail, credentials or mailbox contents: seen in clear, the session is in clear. */
const CLEAR_WORDS: Record<number, string[]> = {
  [LineProtocol.Smtp]: ['MAIL', 'RCPT', 'DATA', 'AUTH', 'BDAT'],
  [LineProtocol.Imap]: ['LOGIN', 'AUTHENTICATE', 'SELECT', 'EXAMINE', 'FETCH', 'LIST', 'APPEND'],
  [LineProtocol.Pop3]: ['USER', 'PASS', 'APOP', 'AUTH', 'RETR', 'LIST', 'STAT', 'TOP', 'UIDL'],
};

export type TlsUse = 'starttls' | 'none' | null;

/**
 * A line or message protocol that may switch to TLS in the middle (STARTTLS, STLS, LDAP's
 * StartTLS): what the mail protocols and LDAP share — the switch after the request, the
 * handshake read like any other after it, and letting go.
 */
export abstract class SwitchesToTls extends ReadsAuth {
  /** 'starttls' once a TLS handshake followed the request, 'none' once the session went on in clear, null undecided. */
  use: TlsUse = null;
  /** The handshake after the switch. */
  tls: TlsHandshake | null = null;
  /** The client asked for TLS. */
  protected asked = false;
  protected done = false;

  /** @param serverDir the side (0 = A) whose port is the protocol's: the other side is the client. */
  protected constructor(
    protected readonly serverDir: number,
    protected readonly budget: ByteBudget | null,
  ) {
    super();
  }

  /** Before reading a segment: false when done, true when the switched session's handshake took it, null to read it as the protocol. */
  protected afterSwitch(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean | null {
    if (this.done) return false;
    if (!this.tls) return null;
    return this.tls.segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec) ? true : this.finish();
  }

  /** A client segment after the request: a ClientHello switches the session to TLS (true). */
  protected switchOnHello(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    if (!this.asked || !looksLikeClientHello(buf, off, capLen)) return false;
    this.use = 'starttls';
    this.tls = new TlsHandshake(this.budget);
    this.tls.segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
    return true;
  }

  clientSide(): number {
    return this.serverDir ^ 1;
  }

  /** Ends the reading; what was learned stays. */
  finish(): false {
    this.done = true;
    this.release();
    if (this.tls) {
      this.use = 'starttls';
      this.tls.finish();
    }
    return false;
  }

  /** What a subclass holds that finish() lets go of. */
  protected release(): void {}
}

export class StartTls extends SwitchesToTls implements FlowInspector {
  /** The start of the client's current line (at most LINE_HEAD characters). */
  private line = '';
  private clientBytes = 0;
  /** How the client logged in, if it did before any switch to TLS. */
  /** The host name of the server's SMTP greeting ("220 mx.contoso.com ESMTP"), '' when it named none, null before it. */
  banner: string | null = null;
  /** The name the client gave in EHLO/HELO, '' when it gave none or an address, null before it. */
  ehlo: string | null = null;
  /** The SASL mechanism whose client lines are being read, and how many were. */
  private saslStep: string | null = null;
  private saslLines = 0;

  /** @param serverDir the side (0 = A) whose port is the protocol's: the other side is the client. */
  constructor(
    private readonly proto: LineProtocol,
    serverDir: number,
    budget: ByteBudget | null = null,
  ) {
    super(serverDir, budget);
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    const switched = this.afterSwitch(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
    if (switched !== null) return switched;
    if (capLen === 0) return true;
    // The server's bytes before the client's ClientHello: only its greeting's first line is read (an SMTP banner names the host).
    if (dir === this.serverDir) {
      if (this.banner === null && this.proto === LineProtocol.Smtp) this.greeting(buf, off, capLen);
      return true;
    }
    if (this.switchOnHello(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec)) return true;
    this.clientBytes += capLen;
    // The client's lines, of which only the starts are kept; binary bytes mean this is not the line protocol.
    for (let i = off, end = off + capLen; i < end; i++) {
      const c = buf[i];
      if (c === 10) {
        if (this.command(this.line.replace(/\r$/, ''))) return this.finish();
        this.line = '';
      } else if ((c < 0x20 && c !== 13 && c !== 9) || c > 0x7e) {
        return this.finish();
      } else if (this.line.length < LINE_HEAD) this.line += String.fromCharCode(c);
    }
    if (this.clientBytes > MAX_CLEAR || capLen < wireLen) return this.finish();
    return true;
  }

  /** The first line of the server's greeting (RFC 5321 4.2: "220 " or "220-" then the host's name). */
  private greeting(buf: Buffer, off: number, len: number): void {
    const line = buf.toString('latin1', off, off + Math.min(len, 256)).split('\n')[0];
    const m = /^220[ -]([^\s]+)/.exec(line);
    this.banner = m && HOST_NAME.test(m[1]) ? m[1].toLowerCase() : '';
  }

  /** True when the line decided everything there is to read: the session went on in clear, with its login read if there was one. */
  private command(line: string): boolean {
    if (this.saslStep !== null) return this.saslLine(line.trim());
    const words = line.trim().split(/\s+/);
    const verbAt = this.proto === LineProtocol.Imap ? 1 : 0;
    const verb = (words[verbAt] ?? '').toUpperCase();
    const args = words.slice(verbAt + 1);
    if (verb === STARTTLS_WORD[this.proto]) {
      this.asked = true;
      return false;
    }
    if ((verb === 'EHLO' || verb === 'HELO') && this.proto === LineProtocol.Smtp && this.ehlo === null) {
      // The client's own name (RFC 5321 4.1.1.1): a domain, or an address literal, which names nothing.
      const name = args[0] ?? '';
      this.ehlo = HOST_NAME.test(name) ? name.toLowerCase() : '';
      return false;
    }
    if (!CLEAR_WORDS[this.proto].includes(verb)) return false;
    this.use = 'none';
    switch (verb) {
      case 'AUTH':
      case 'AUTHENTICATE':
        if (args.length === 0) return false; // POP3's bare AUTH lists the mechanisms
        return this.saslStart((args[0] ?? '').toUpperCase(), args[1]);
      case 'LOGIN': // IMAP LOGIN user password (RFC 3501 6.2.3)
        this.auth.setMech('login');
        if (args[0]) this.auth.setAccount(unquote(args[0]));
        if (args[1] !== undefined && unquote(args[1]) !== '') this.auth.cleartext = true;
        return true;
      case 'USER': // POP3 USER, then PASS (RFC 1939 7)
        this.auth.setMech('plain');
        if (args[0]) this.auth.setAccount(args[0]);
        return false;
      case 'PASS':
        this.auth.setMech('plain');
        if (args.length > 0 && args.join(' ') !== '') this.auth.cleartext = true;
        return true;
      case 'APOP':
        this.auth.setMech('digest');
        if (args[0]) this.auth.setAccount(args[0]);
        return true;
      default:
        return true; // mail or mailbox commands in clear, no login before them
    }
  }

  /** A SASL exchange (SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH; RFC 4954, 3501, 5034): its mechanism, and its first response if given. */
  private saslStart(mech: string, initial: string | undefined): boolean {
    switch (mech) {
      case 'PLAIN':
        this.auth.setMech('plain');
        break;
      case 'LOGIN':
        this.auth.setMech('login');
        break;
      case 'CRAM-MD5':
        this.auth.setMech('cram-md5');
        break;
      case 'DIGEST-MD5':
        this.auth.setMech('digest');
        break;
      case 'NTLM':
        this.auth.setMech('ntlm');
        break;
      case 'GSSAPI':
        this.auth.setMech('kerberos');
        return true;
      default:
        return true;
    }
    this.saslStep = mech;
    this.saslLines = 0;
    if (initial !== undefined && initial !== '=') return this.saslLine(initial);
    return false;
  }

  /** One client line of a SASL exchange (base64). Only names are kept; a password is only noted as sent. */
  private saslLine(line: string): boolean {
    if (line === '*') return true; // cancelled
    const data = Buffer.from(line, 'base64');
    const n = this.saslLines++;
    switch (this.saslStep) {
      case 'PLAIN': {
        const parts = data.toString('utf8').split('\0'); // authzid NUL authcid NUL password (RFC 4616)
        if (parts[1]) this.auth.setAccount(parts[1]);
        if (parts.length >= 3 && parts[2] !== '') this.auth.cleartext = true;
        return true;
      }
      case 'LOGIN':
        if (n === 0) {
          if (data.length > 0) this.auth.setAccount(data.toString('utf8'));
          return false;
        }
        if (data.length > 0) this.auth.cleartext = true;
        return true;
      case 'CRAM-MD5': {
        const text = data.toString('utf8');
        const sp = text.lastIndexOf(' ');
        if (sp > 0) this.auth.setAccount(text.slice(0, sp));
        return true;
      }
      case 'NTLM':
        return readNtlmssp(data, 0, data.length, this.auth) === 3 || n >= 2;
      default:
        return true;
    }
  }

  protected override release(): void {
    this.line = '';
  }
}
