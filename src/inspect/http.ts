// Cleartext HTTP: the first request line of the client (RFC 9112 3) names the
// Exchange application by its path (rules/http-apps.yaml). The inspector lets go
// after the first request line, or after 4 KiB without one.
import type { FlowInspector } from '../flow/inspector';

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
  private line = '';
  private clientDir = -1;
  private done = false;

  constructor(serverDir = -1) {
    if (serverDir >= 0) this.clientDir = serverDir ^ 1;
  }

  segment(dir: number, _seq: number, _flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (this.done) return false;
    if (capLen === 0) return true;
    if (this.clientDir < 0) {
      if (!looksLikeHttpRequest(buf, off, capLen)) return true; // the server's bytes, or not yet a request
      this.clientDir = dir;
    } else if (dir === this.clientDir && this.line.length === 0 && !looksLikeHttpRequest(buf, off, capLen)) {
      return this.finish(); // the client's first bytes are no HTTP request: nothing to learn here
    }
    if (dir !== this.clientDir) return true;
    const nl = buf.indexOf(10, off);
    const end = nl >= 0 && nl < off + capLen ? nl : off + capLen;
    this.line += buf.toString('latin1', off, Math.min(end, off + MAX_LINE - this.line.length));
    if ((nl >= 0 && nl < off + capLen) || this.line.length >= MAX_LINE || capLen < wireLen) {
      const m = /^([A-Z_]+) (\S+) HTTP\/\d/.exec(this.line.replace(/\r$/, ''));
      if (m) {
        this.method = m[1];
        this.target = m[2].slice(0, 512);
      }
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
    return false;
  }
}
