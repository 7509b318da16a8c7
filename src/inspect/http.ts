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

const MAX_LINE = 4096;
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

export class HttpRequest implements FlowInspector {
  method: string | null = null;
  /** The request target as sent (origin form, or absolute form through a proxy), at most 512 characters. */
  target: string | null = null;
  /** The X-OWA-Version of the server's first answer ("15.1.2507.6"), if it sent one. */
  owaVersion: string | null = null;
  private line = '';
  /** The server's answer headers so far (at most MAX_LINE characters). */
  private answer = '';
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
    if (dir !== this.clientDir) return this.requestRead ? this.serverBytes(buf, off, capLen, wireLen) : true;
    if (this.requestRead) return true;
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

  /** The server's first answer: its headers, up to the blank line. */
  private serverBytes(buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    this.answer += buf.toString('latin1', off, off + Math.min(capLen, MAX_LINE - this.answer.length));
    const end = this.answer.indexOf('\r\n\r\n');
    if (end >= 0 || this.answer.length >= MAX_LINE || capLen < wireLen) {
      const v = /^X-OWA-Version:[ \t]*([0-9]+(?:\.[0-9]+){1,3})[ \t]*\r?$/im.exec(end >= 0 ? this.answer.slice(0, end + 2) : this.answer);
      if (v) this.owaVersion = v[1];
      return this.finish();
    }
    return true;
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
    this.answer = '';
    this.tunnel?.finish();
    return false;
  }
}
