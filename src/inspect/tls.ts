// TLS handshakes, read in the clear part only (RFC 8446 4, RFC 5246 7.4): the
// client's ClientHello (server_name, ALPN, supported_versions), the server's
// ServerHello (the version and ALPN it chose) and, up to TLS 1.2, the server's
// certificate (subject and issuer of the first one; TLS 1.3 encrypts it). The
// inspector lets go of the flow as soon as the handshake can tell nothing more.
//
// Reassembly is per direction, in order, bounded: a gap, bytes cut by the snaplen,
// a record that is not TLS, more than MAX_BYTES of handshake, or the run's payload
// memory budget (shared with the DCE/RPC inspectors) saying no end the reading with
// what was learned so far.
import type { FlowInspector } from '../flow/inspector';
import type { ByteBudget } from './dcerpc/budget';
import { certificateNames } from './x509';
import { Held } from './held';
import { SeqTracker } from './seq';

/** Handshake bytes kept per direction at most (a certificate chain fits; more is not read). */
const MAX_BYTES = 32 * 1024;
const RECORD_HEADER = 5;

export const enum ContentType {
  ChangeCipherSpec = 20,
  Alert = 21,
  Handshake = 22,
  ApplicationData = 23,
}

export interface TlsFacts {
  version: string | null;
  sni: string | null;
  /** The protocol the server chose (TLS 1.2), else what the client offered (TLS 1.3 hides the choice), comma-separated. */
  alpn: string | null;
  subject: string | null;
  issuer: string | null;
  /** The snaplen cut the handshake before it was read through. */
  cut: boolean;
  /** What could not be read, said on the flow (tls_note): an oversize hello, an SSLv2-format hello. */
  note: string | null;
  /**
   * What the ClientHello offered (tls_client_versions): its supported_versions list
   * (RFC 8446 4.2.1, GREASE values left out), highest first; without that extension,
   * "up to" its legacy version, as a TLS 1.2 client offers 1.2 and what is below.
   */
  clientVersions: string | null;
}

/**
 * TLS's version numbers as people write them, drafts included: 0x7f00 + n is TLS 1.3
 * draft n (draft-ietf-tls-tls13 4.2.1 of drafts 14–28), 0xfb17/0xfb1a Facebook's
 * builds of drafts 23 and 26 (as tshark names them), 0x7e01–0x7e03 BoringSSL's TLS 1.3
 * experiment variants of 2017.
 */
export function versionName(v: number): string | null {
  if (v >= 0x7f0e && v <= 0x7f1c) return `TLS 1.3 (draft ${v - 0x7f00})`;
  if (v === 0xfb17 || v === 0xfb1a) return `TLS 1.3 (Facebook draft ${v === 0xfb17 ? 23 : 26})`;
  if (v >= 0x7e01 && v <= 0x7e03) return `TLS 1.3 (experiment ${v - 0x7e00})`;
  switch (v) {
    case 0x0300:
      return 'SSL 3.0';
    case 0x0301:
      return 'TLS 1.0';
    case 0x0302:
      return 'TLS 1.1';
    case 0x0303:
      return 'TLS 1.2';
    case 0x0304:
      return 'TLS 1.3';
    default:
      return null;
  }
}

/**
 * The first bytes of a ClientHello: a TLS record (handshake, version 3.x, handshake
 * type 1), or an SSLv2-format one (RFC 6101 E.1, RFC 5246 E.2: a two-byte length with
 * the high bit set, message type 1, a version 3.x or 2.0) as old clients still send.
 */
export function looksLikeClientHello(buf: Buffer, off: number, len: number): boolean {
  if (len >= 6 && buf[off] === ContentType.Handshake && buf[off + 1] === 3 && buf[off + 2] <= 4 && buf[off + 5] === 1) return true;
  return isSslv2Hello(buf, off, len);
}

function isSslv2Hello(buf: Buffer, off: number, len: number): boolean {
  return len >= 5 && (buf[off] & 0x80) !== 0 && buf[off + 2] === 1 && ((buf[off + 3] === 3 && buf[off + 4] <= 4) || (buf[off + 3] === 0 && buf[off + 4] === 2));
}

/** One direction's TLS records, reassembled in order into handshake messages. */
class Direction {
  private readonly seq = new SeqTracker();
  /** An unfinished record, and an unfinished handshake message spread over records. */
  private readonly record: Held;
  private readonly message: Held;
  stopped = false;
  /** A record other than handshake arrived: the clear part of this side is over. */
  pastHandshake = false;
  cut = false;
  /** This side's hello (ClientHello or ServerHello) has been read: before it, other records are passed over. */
  helloSeen = false;
  /** A handshake message longer than MAX_BYTES: not read (its SNI or certificate unknown); its type. */
  oversize = false;
  oversizeType = -1;
  /** No record read yet: the first may be an SSLv2-format ClientHello. */
  private first = true;

  // Bound once, not a closure per segment.
  private readonly readRecords = (b: Buffer, from: number, to: number) => this.records(b, from, to);
  private readonly readMessages = (b: Buffer, from: number, to: number) => this.messages(b, from, to);

  constructor(
    private readonly onMessage: (type: number, body: Buffer) => void,
    budget: ByteBudget | null,
    private readonly onSslv2Hello: (version: number) => void = () => {},
  ) {
    this.record = new Held(MAX_BYTES + RECORD_HEADER, budget);
    this.message = new Held(MAX_BYTES, budget);
  }

  /** Takes one segment; false when this side is stopped. */
  feed(seq: number, data: Buffer, off: number, len: number, wireLen: number): boolean {
    if (this.stopped || len === 0) return !this.stopped;
    // A retransmission: what was had already is skipped; a gap (the capture lacks bytes) stops this side.
    const had = this.seq.place(seq, len, wireLen);
    if (had < 0) return true;
    if (this.seq.gap) return this.stop();
    off += had;
    len -= had;
    wireLen -= had;
    if (!this.record.feed(data, off, len, this.readRecords)) return this.stop();
    if (len < wireLen) {
      this.cut = true;
      return this.stop();
    }
    return !this.stopped;
  }

  /** Reads the whole records in b[from, to); returns the bytes used. */
  private records(b: Buffer, from: number, to: number): number {
    let at = from;
    if (this.first && to - at >= 5) {
      this.first = false;
      if (isSslv2Hello(b, at, to - at)) {
        // An SSLv2-format ClientHello: one message, no extensions (no SNI, no ALPN); the
        // version it offers is the highest the client speaks. TLS records follow.
        const n = ((b[at] & 0x7f) << 8) | b[at + 1];
        if (to - at < 2 + n) {
          this.first = true;
          return 0;
        }
        this.helloSeen = true;
        this.onSslv2Hello((b[at + 3] << 8) | b[at + 4]);
        at += 2 + n;
      }
    }
    while (!this.stopped && to - at >= RECORD_HEADER) {
      const type = b[at];
      // 20–24: change_cipher_spec, alert, handshake, application_data, heartbeat (RFC 6520).
      if (b[at + 1] !== 3 || type < ContentType.ChangeCipherSpec || type > 24) {
        this.stop();
        break;
      }
      const n = b.readUInt16BE(at + 3);
      if (type !== ContentType.Handshake) {
        // An alert (a warning such as unrecognized_name, before or after the hello) or,
        // before this side's hello, a compatibility change_cipher_spec says nothing of the
        // handshake: pass over it. Anything else — application data before any hello is
        // a flow seen mid-stream — means the clear part is over (or was never seen).
        if (type === ContentType.Alert || (type === ContentType.ChangeCipherSpec && !this.helloSeen)) {
          if (to - at < RECORD_HEADER + n) break;
          at += RECORD_HEADER + n;
          continue;
        }
        this.pastHandshake = true;
        this.stop();
        break;
      }
      if (to - at < RECORD_HEADER + n) break; // the rest of the record is still to come
      if (!this.message.feed(b, at + RECORD_HEADER, n, this.readMessages)) this.stop();
      at += RECORD_HEADER + n;
    }
    return at - from;
  }

  /** Hands on the whole handshake messages in b[from, to); returns the bytes used. */
  private messages(b: Buffer, from: number, to: number): number {
    let at = from;
    while (to - at >= 4) {
      const len = b.readUIntBE(at + 1, 3);
      if (len > MAX_BYTES && !this.oversize) {
        // Held no further: its reading stops here.
        this.oversize = true;
        this.oversizeType = b[at];
      }
      if (to - at < 4 + len) break;
      this.onMessage(b[at], b.subarray(at + 4, at + 4 + len));
      at += 4 + len;
      if (this.stopped) break;
    }
    return at - from;
  }

  stop(): false {
    this.stopped = true;
    this.record.release();
    this.message.release();
    return false;
  }
}

/**
 * Reads the handshake of one TLS connection. `clientDir` is -1 until the
 * ClientHello shows which side is the client.
 */
export class TlsHandshake implements FlowInspector {
  readonly facts: TlsFacts = { version: null, sni: null, alpn: null, subject: null, issuer: null, cut: false, note: null, clientVersions: null };
  clientHello = false;
  serverHello = false;
  private done = false;
  private clientDir = -1;
  private readonly sides: [Direction, Direction];

  /** @param budget the run's payload memory budget (null: unbounded, for tests of the parser alone) */
  constructor(budget: ByteBudget | null = null) {
    const side = (dir: number) => new Direction((t, b) => this.message(dir, t, b), budget, (v) => this.sslv2Hello(dir, v));
    this.sides = [side(0), side(1)];
  }

  /** An SSLv2-format ClientHello: the client is known, and the version it offers; it names no server. */
  private sslv2Hello(dir: number, version: number): void {
    if (this.clientHello) return;
    this.clientHello = true;
    this.clientDir = dir;
    this.facts.clientVersions = `up to ${versionName(version) ?? (version === 2 ? 'SSL 2.0' : `0x${version.toString(16).padStart(4, '0')}`)}`;
    this.facts.note = `SSLv2-format ClientHello offering ${versionName(version) ?? (version === 2 ? 'SSL 2.0' : `0x${version.toString(16).padStart(4, '0')}`)} (no server name)`;
  }

  segment(dir: number, seq: number, _flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, _sec?: number, _nsec?: number): boolean {
    if (this.done) return false;
    this.sides[dir].feed(seq, buf, off, capLen, wireLen);
    if (this.sides[dir].cut) this.facts.cut = true;
    if (this.sides[dir].oversize && this.facts.note === null) {
      const hello = this.sides[dir].oversizeType === 1;
      if (hello && !this.clientHello) {
        this.clientHello = true; // a ClientHello by its type, too long to read
        this.clientDir = dir;
      }
      this.facts.note = hello ? `a ClientHello longer than ${MAX_BYTES / 1024} KiB was not read (no server name)` : `a server handshake message longer than ${MAX_BYTES / 1024} KiB was not read`;
    }
    if (this.done || (this.sides[0].stopped && this.sides[1].stopped) || (this.serverHello && this.clientDir >= 0 && this.sides[this.clientDir ^ 1].pastHandshake)) return this.finish();
    return true;
  }

  clientSide(): number {
    return this.clientDir;
  }

  /** Ends reading (decided, or nothing more to learn); the facts stay. */
  finish(): false {
    this.done = true;
    this.sides[0].stop();
    this.sides[1].stop();
    return false;
  }

  private message(dir: number, type: number, body: Buffer): void {
    if (type === 1 || type === 2) this.sides[dir].helloSeen = true;
    if (type === 1 && !this.clientHello) {
      this.clientHello = true;
      this.clientDir = dir;
      this.readClientHello(body);
    } else if (type === 2 && dir !== this.clientDir && !this.serverHello) {
      this.serverHello = true;
      this.readServerHello(body);
      // TLS 1.3 encrypts everything after the ServerHello.
      if (this.facts.version === 'TLS 1.3') this.finish();
    } else if (type === 11 && dir !== this.clientDir && this.serverHello) {
      const names = firstCertificate(body);
      if (names) {
        this.facts.subject = names.subject;
        this.facts.issuer = names.issuer;
      }
      this.finish();
    } else if (type === 14 && dir !== this.clientDir) {
      this.finish(); // ServerHelloDone: no certificate in this handshake (anonymous or PSK)
    }
  }

  private readClientHello(b: Buffer): void {
    const ext = extensionsOf(b, true);
    if (b.length >= 2) {
      const legacy = b.readUInt16BE(0);
      this.facts.clientVersions = `up to ${versionName(legacy) ?? `0x${legacy.toString(16).padStart(4, '0')}`}`;
    }
    if (!ext) return;
    for (const [type, at, len] of ext) {
      if (type === 43 && len >= 3) {
        // supported_versions: a length byte, then two bytes per version; GREASE (0x?a?a, RFC 8701) is not a version.
        const names: string[] = [];
        for (let i = at + 1; i + 1 < at + len && i + 1 < at + 1 + b[at]; i += 2) {
          const v = b.readUInt16BE(i);
          if ((v & 0x0f0f) === 0x0a0a && b[i] === b[i + 1]) continue;
          const name = versionName(v) ?? `0x${v.toString(16).padStart(4, '0')}`;
          if (!names.includes(name) && names.length < 8) names.push(name);
        }
        if (names.length > 0) this.facts.clientVersions = names.join(',');
      }
      if (type === 16 && len >= 3) this.facts.alpn = alpnList(b, at + 2, at + len).join(',') || null;
      if (type === 0 && len >= 5) {
        // server_name: list length, then entries of type 0 (host_name).
        const nameLen = b.readUInt16BE(at + 3);
        if (b[at + 2] === 0 && 5 + nameLen <= len) this.facts.sni = b.toString('latin1', at + 5, at + 5 + nameLen);
      }
    }
  }

  private readServerHello(b: Buffer): void {
    if (b.length < 2) return;
    let version = b.readUInt16BE(0);
    const ext = extensionsOf(b, false);
    for (const [type, at, len] of ext ?? []) {
      if (type === 43 && len === 2) version = b.readUInt16BE(at);
      if (type === 16 && len >= 3) this.facts.alpn = alpnList(b, at + 2, at + len)[0] ?? this.facts.alpn;
    }
    this.facts.version = versionName(version);
  }
}

/** Extensions of a ClientHello or ServerHello as [type, offset, length], or null when the message is malformed. */
function extensionsOf(b: Buffer, client: boolean): [number, number, number][] | null {
  let at = 2 + 32;
  if (b.length < at + 1) return null;
  at += 1 + b[at]; // session id
  if (client) {
    if (b.length < at + 2) return null;
    at += 2 + b.readUInt16BE(at); // cipher suites
    if (b.length < at + 1) return null;
    at += 1 + b[at]; // compression methods
  } else at += 3; // cipher suite, compression method
  if (b.length < at + 2) return [];
  const end = Math.min(b.length, at + 2 + b.readUInt16BE(at));
  at += 2;
  const out: [number, number, number][] = [];
  while (at + 4 <= end) {
    const type = b.readUInt16BE(at);
    const len = b.readUInt16BE(at + 2);
    if (at + 4 + len > end) return out;
    out.push([type, at + 4, len]);
    at += 4 + len;
  }
  return out;
}

/** ALPN protocol names (RFC 7301 3.1: one length byte each) between `at` and `end`. */
function alpnList(b: Buffer, at: number, end: number): string[] {
  const out: string[] = [];
  while (at < end) {
    const n = b[at];
    if (n === 0 || at + 1 + n > end) break;
    out.push(b.toString('latin1', at + 1, at + 1 + n));
    at += 1 + n;
  }
  return out;
}

/** Subject and issuer of the first certificate of a TLS 1.2 Certificate message. */
function firstCertificate(b: Buffer): { subject: string | null; issuer: string | null } | null {
  if (b.length < 6) return null;
  const n = b.readUIntBE(3, 3);
  if (6 + n > b.length) return null;
  return certificateNames(b.subarray(6, 6 + n));
}
