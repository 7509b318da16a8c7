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

export const enum LineProtocol {
  Smtp = 1,
  Imap = 2,
  Pop3 = 3,
  Ldap = 4,
}

/** Client bytes read before deciding at most. */
const MAX_CLEAR = 8192;
/** Of each client line only its start is kept: the command word is all that is read. */
const LINE_HEAD = 40;

/** The command that asks for TLS, per protocol (upper case, the IMAP tag stripped). */
const STARTTLS_WORD: Record<number, string> = { [LineProtocol.Smtp]: 'STARTTLS', [LineProtocol.Imap]: 'STARTTLS', [LineProtocol.Pop3]: 'STLS' };
/** Commands that carry mail, credentials or mailbox contents: seen in clear, the session is in clear. */
const CLEAR_WORDS: Record<number, string[]> = {
  [LineProtocol.Smtp]: ['MAIL', 'RCPT', 'DATA', 'AUTH', 'BDAT'],
  [LineProtocol.Imap]: ['LOGIN', 'AUTHENTICATE', 'SELECT', 'EXAMINE', 'FETCH', 'LIST', 'APPEND'],
  [LineProtocol.Pop3]: ['USER', 'PASS', 'APOP', 'AUTH', 'RETR', 'LIST', 'STAT', 'TOP', 'UIDL'],
};
const LDAP_STARTTLS_OID = Buffer.from('1.3.6.1.4.1.1466.20037', 'latin1');

export type TlsUse = 'starttls' | 'none' | null;

export class StartTls implements FlowInspector {
  /** 'starttls' once a TLS handshake followed the request, 'none' once clear commands were seen, null undecided. */
  use: TlsUse = null;
  /** The handshake after the switch. */
  tls: TlsHandshake | null = null;
  private asked = false;
  /** The start of the client's current line (at most LINE_HEAD characters). */
  private line = '';
  private clientBytes = 0;
  private done = false;

  /** @param serverDir the side (0 = A) whose port is the protocol's: the other side is the client. */
  constructor(
    private readonly proto: LineProtocol,
    private readonly serverDir: number,
    private readonly budget: ByteBudget | null = null,
  ) {}

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    if (this.done) return false;
    if (this.tls) {
      if (!this.tls.segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec)) return this.finish();
      return true;
    }
    if (capLen === 0) return true;
    // The server's bytes before the client's ClientHello (its greeting, its answers) tell nothing here.
    if (dir === this.serverDir) return true;
    if (this.asked && looksLikeClientHello(buf, off, capLen)) {
      this.use = 'starttls';
      this.startTls();
      this.tls!.segment(dir, seq, flags, buf, off, capLen, wireLen, sec, nsec);
      return true;
    }
    this.clientBytes += capLen;
    if (this.proto === LineProtocol.Ldap) return this.ldap(buf, off, capLen);
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

  clientSide(): number {
    return this.serverDir ^ 1;
  }

  /** True when the line decided the question. */
  private command(line: string): boolean {
    const words = line.trim().toUpperCase().split(/\s+/);
    const verb = this.proto === LineProtocol.Imap ? words[1] ?? '' : words[0] ?? '';
    if (verb === STARTTLS_WORD[this.proto]) {
      this.asked = true;
      return false;
    }
    if (CLEAR_WORDS[this.proto].includes(verb)) {
      this.use = 'none';
      return true;
    }
    return false;
  }

  private ldap(buf: Buffer, off: number, len: number): boolean {
    // A client message before any switch: the StartTLS request names its OID; anything else (a bind, a search) is in clear.
    if (!this.asked && buf.subarray(off, off + len).indexOf(LDAP_STARTTLS_OID) >= 0) {
      this.asked = true;
      return true;
    }
    if (buf[off] === 0x30) {
      this.use = 'none';
      return this.finish();
    }
    // The client's first message is not an LDAP message (a BER SEQUENCE): this is not LDAP, nothing to learn.
    if (!this.asked) return this.finish();
    return this.clientBytes <= MAX_CLEAR ? true : this.finish();
  }

  private startTls(): void {
    this.tls = new TlsHandshake(this.budget);
  }

  finish(): false {
    this.done = true;
    this.line = '';
    if (this.tls) {
      this.use = 'starttls';
      this.tls.finish();
    }
    return false;
  }
}
