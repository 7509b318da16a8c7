// Cleartext HTTP: the first request line of the client (RFC 9112 3) names the
// Exchange application by its path (rules/http-apps.yaml), and the headers of the
// server's first answer may name the Exchange build (X-OWA-Version, which Outlook
// Web App sends). The inspector lets go after those headers, or after 4 KiB of a
// side without what it looks for. A CONNECT request (RFC 9110 9.3.6) opens a tunnel:
// once both sides' headers end (the server's with a 2xx status), the tunnel's bytes
// are read as a TLS handshake, as if the flow had begun there.
import type { FlowInspector } from '../flow/inspector';
import type { ByteBudget } from './dcerpc/budget';
import { looksLikeClientHello, TlsHandshake } from './tls';
import { ReadsAuth } from './auth/facts';
import { readGssToken } from './auth/gss';

function looksLikeRequestLine(line: string): boolean {
  return /^[A-Z_]{3,16} \S+ HTTP\/\d/.test(line);
}

const MAX_LINE = 4096;
/** A header line is kept up to this length (a Kerberos Negotiate token is a few KiB of base64). */
const MAX_HEADER_LINE = 24 * 1024;
/** Bytes per side read for the authentication at most, and requests. */
const MAX_SEEN = 64 * 1024;
/** Header lines are kept to this length unless the budget gives room for long ones. */
const SHORT_LINE = 1024;
const MAX_REQUESTS = 6;
const METHODS = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|LOCK|UNLOCK|SEARCH|RPC_IN_DATA|RPC_OUT_DATA|CONNECT) $/;

/** The first bytes of a request: an HTTP method (as Exchange clients send them) and a space. */
export function looksLikeHttpRequest(buf: Buffer, off: number, len: number): boolean {
  const n = Math.min(len, 13);
  let sp = -1;
  for (let i = 0; i < n; i++) {
    const c = buf[off + i];
    if (c === 0x20) {
      sp = i;
      break;
    }
    if (c < 0x41 || c > 0x5a) {
      if (c !== 0x5f) return false; // A-Z and "_" (RPC_IN_DATA)
    }
  }
  return sp > 2 && METHODS.test(buf.toString('latin1', off, off + sp + 1));
}

export class HttpRequest extends ReadsAuth implements FlowInspector {
  method: string | null = null;
  /** The request target as sent (origin form, or absolute form through a proxy), at most 512 characters. */
  target: string | null = null;
  /** The X-OWA-Version of the server's first answer ("15.1.2507.6"), if it sent one. */
  owaVersion: string | null = null;
  /** The Host header of the first request that had one (a name, not an address literal's brackets). */
  host: string | null = null;
  /** What the Authorization headers and the server's challenges said. */
  private authRead = false;
  private answerHeadersRead = false;
  private firstStatus = 0;
  private answers = 0;
  private requests = 0;
  /** Per direction: the header line being gathered, and the bytes read. */
  private readonly lines = ['', ''];
  private readonly seen = [0, 0];
  /** Room for long header lines was taken from the budget (MAX_HEADER_LINE per side). */
  private longLines = false;
  private line = '';
  private requestRead = false;
  private clientDir = -1;
  private done = false;
  /** The TLS handshake inside a CONNECT tunnel, once the tunnel is open. */
  tunnel: TlsHandshake | null = null;
  /** Per direction: how much of the blank line ending the headers ("\r\n\r\n") has been seen; 4 = the headers ended. */
  private readonly headerEnd = [0, 0];
  /** The server's status line began with "HTTP/1.x 2": the tunnel is open. */
  private connectOk = false;
  private statusRead = false;

  constructor(
    serverDir = -1,
    private readonly budget: ByteBudget | null = null,
  ) {
    super();
    if (serverDir >= 0) this.clientDir = serverDir ^ 1;
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (this.done) return false;
    if (capLen === 0) return true;
    if (this.method === 'CONNECT') return this.connectBytes(dir, seq, flags, buf, off, capLen, wireLen);
    if (this.clientDir < 0) {
      if (!looksLikeHttpRequest(buf, off, capLen)) return true; // the server's bytes, or not yet a request
      this.clientDir = dir;
    } else if (dir === this.clientDir && this.line.length === 0 && !looksLikeHttpRequest(buf, off, capLen)) {
      return this.finish(); // the client's first bytes are no HTTP request: nothing to learn here
    }
    if (dir !== this.clientDir) return this.requestRead ? this.headerBytes(dir, buf, off, capLen, wireLen) : true;
    if (this.requestRead) return this.headerBytes(dir, buf, off, capLen, wireLen);
    const nl = buf.indexOf(10, off);
    const end = nl >= 0 && nl < off + capLen ? nl : off + capLen;
    this.line += buf.toString('latin1', off, Math.min(end, off + MAX_LINE - this.line.length));
    if ((nl >= 0 && nl < off + capLen) || this.line.length >= MAX_LINE || capLen < wireLen) {
      const m = /^([A-Z_]+) (\S+) HTTP\/\d/.exec(this.line.replace(/\r$/, ''));
      if (m) {
        this.method = m[1];
        this.target = m[2].slice(0, 512);
      }
      this.line = '';
      this.requestRead = true;
      if (!m) return this.finish();
      if (this.method === 'CONNECT' && nl >= 0 && nl < off + capLen && capLen === wireLen) {
        // The rest of the request's headers (and, rarely, tunnel bytes) follow the line.
        this.headerEnd[dir] = 2; // the line's own "\r\n"
        const skip = nl + 1 - off;
        return this.connectBytes(dir, (seq + skip) >>> 0, flags, buf, nl + 1, capLen - skip, wireLen - skip);
      }
      this.requests = 1;
      if (nl >= 0 && nl + 1 < off + capLen) return this.headerBytes(dir, buf, nl + 1, off + capLen - nl - 1, off + wireLen - nl - 1);
    }
    return true;
  }

  /**
   * A CONNECT flow: each side's headers up to their blank line, then the tunnel. The
   * server's status must be 2xx; bytes cut by the snaplen end the reading.
   */
  private connectBytes(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (capLen < wireLen && this.headerEnd[dir] < 4) return this.finish();
    let at = off;
    const end = off + capLen;
    if (this.headerEnd[dir] < 4) {
      if (dir !== this.clientDir && !this.statusRead) {
        this.statusRead = true;
        const status = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(buf.toString('latin1', off, Math.min(end, off + 16)));
        if (!status || status[1][0] !== '2') return this.finish(); // refused: no tunnel
        this.connectOk = true;
      }
      // "\r\n\r\n" across segments: a count of its characters matched so far.
      let k = this.headerEnd[dir];
      while (at < end && k < 4) {
        const c = buf[at++];
        k = c === (k % 2 === 0 ? 13 : 10) ? k + 1 : c === 13 ? 1 : 0;
      }
      this.headerEnd[dir] = k;
      if (k < 4) return true;
    }
    if (at >= end) return true;
    const skip = at - off;
    if (!this.tunnel) {
      if (!this.connectOk && dir !== this.clientDir) return true;
      if (!looksLikeClientHello(buf, at, end - at)) return this.finish(); // a tunnel, but not TLS
      this.tunnel = new TlsHandshake(this.budget);
    }
    if (!this.tunnel.segment(dir, (seq + skip) >>> 0, flags, buf, at, capLen - skip, wireLen - skip)) {
      this.done = true;
      return false;
    }
    return true;
  }

  /**
   * Header lines after the request line, of both sides, until the authentication is
   * read: the client's Authorization (Basic, Digest, NTLM, Negotiate), the server's
   * WWW-Authenticate challenges (an NTLM CHALLENGE names the server) and its first
   * answer's X-OWA-Version. A 401 answer keeps the reading on for the next request
   * (NTLM takes three); any other first answer, or an authentication read, ends it.
   */
  private headerBytes(dir: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (capLen < wireLen) return this.finish();
    this.seen[dir] += capLen;
    let p = off;
    const end = off + capLen;
    while (p < end) {
      const nl = buf.indexOf(10, p);
      const stop = nl >= 0 && nl < end ? nl : end;
      const room = (this.longLines ? MAX_HEADER_LINE : SHORT_LINE) - this.lines[dir].length;
      if (room > 0) this.lines[dir] += buf.toString('latin1', p, Math.min(stop, p + room));
      if (this.lines[dir].length >= SHORT_LINE && !this.longLines && this.budget?.take(MAX_HEADER_LINE * 2) !== false) {
        // A long line (an authentication token): its room comes from the run's budget, once per flow.
        this.longLines = true;
        this.lines[dir] += buf.toString('latin1', p + room, Math.min(stop, p + room + MAX_HEADER_LINE - SHORT_LINE));
      }
      if (stop === end) break;
      const line = this.lines[dir].replace(/\r$/, '');
      this.lines[dir] = '';
      p = stop + 1;
      if (dir === this.clientDir) this.clientLine(line);
      else this.serverLine(line);
      if (this.done) return false;
    }
    if (this.authRead && this.answerHeadersRead) return this.finish();
    if (this.seen[0] > MAX_SEEN || this.seen[1] > MAX_SEEN || this.requests > MAX_REQUESTS) return this.finish();
    return true;
  }

  private clientLine(line: string): void {
    if (looksLikeRequestLine(line)) this.requests++;
    if (this.host === null) {
      // The first request's Host (RFC 9110 7.2): the name the client used for the server, without a port.
      const h = /^Host:[ \t]*([A-Za-z0-9.-]{1,253})(?::\d+)?[ \t]*$/i.exec(line);
      if (h) this.host = h[1].toLowerCase();
    }
    const m = /^(?:Proxy-)?Authorization:[ \t]*([A-Za-z-]+)(?:[ \t]+(.*))?$/i.exec(line);
    if (!m) return;
    const scheme = m[1].toLowerCase();
    const value = (m[2] ?? '').trim();
    if (scheme === 'basic') {
      this.auth.setMech('basic');
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      // user:password (RFC 7617 2): the user is kept, the password only counted as present.
      if (colon > 0) this.auth.setAccount(decoded.slice(0, colon));
      if (colon >= 0 && colon < decoded.length - 1) this.auth.cleartext = true;
      this.authRead = true;
    } else if (scheme === 'digest') {
      this.auth.setMech('digest');
      const user = /(?:^|,)\s*username\s*=\s*"([^"]*)"/i.exec(value);
      if (user) this.auth.setAccount(user[1]);
      this.authRead = true;
    } else if (scheme === 'ntlm' || scheme === 'negotiate') {
      const token = Buffer.from(value, 'base64');
      readGssToken(token, 0, token.length, this.auth);
      // NTLM's third message, or a Kerberos ticket: the authentication is complete.
      if (this.auth.ntlmVersion !== null || this.auth.mechs.includes('kerberos')) this.authRead = true;
    }
  }

  private serverLine(line: string): void {
    if (/^HTTP\/\d(?:\.\d)? \d{3}/.test(line)) {
      this.answers++;
      if (this.answers === 1) this.firstStatus = Number(line.slice(line.indexOf(' ') + 1, line.indexOf(' ') + 4));
      return;
    }
    if (line === '') {
      if (this.answers === 1 && !this.answerHeadersRead) {
        this.answerHeadersRead = true;
        // Not a challenge: no authentication is coming on this connection (or it came with the first request).
        if (this.firstStatus !== 401 && this.firstStatus !== 407) this.authRead = true;
      }
      return;
    }
    if (this.answers === 1 && this.owaVersion === null) {
      const v = /^X-OWA-Version:[ \t]*([0-9]+(?:\.[0-9]+){1,3})[ \t]*$/i.exec(line);
      if (v) this.owaVersion = v[1];
    }
    const ch = /^(?:Proxy|WWW)-Authenticate:[ \t]*(NTLM|Negotiate)[ \t]+([A-Za-z0-9+/=]+)/i.exec(line);
    if (ch) {
      const token = Buffer.from(ch[2], 'base64');
      readGssToken(token, 0, token.length, this.auth);
    }
  }

  clientSide(): number {
    return this.clientDir;
  }

  /** The path of the target: without scheme and authority (absolute form), with the query. */
  get path(): string | null {
    if (this.target === null) return null;
    const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(this.target);
    return abs ? abs[1] ?? '/' : this.target;
  }

  finish(): false {
    this.done = true;
    this.line = '';
    this.lines[0] = this.lines[1] = '';
    if (this.longLines) {
      this.budget?.give(MAX_HEADER_LINE * 2);
      this.longLines = false;
    }
    this.tunnel?.finish();
    return false;
  }
}
