// Kerberos to the KDC (RFC 4120 5.4.1-2; over TCP each message has a 4-byte length
// first, 7.2.2): the client's name and realm (an AS-REQ's req-body, or the cname and
// crealm of an AS-REP/TGS-REP, in clear in both) and the service principal asked for
// (the sname of the request). Short exchanges: the inspector lets go once it has
// read a request and a reply, or MAX_MESSAGES messages, whichever comes first.
import type { FlowInspector } from '../flow/inspector';
import type { ByteBudget } from './dcerpc/budget';
import { explicit, str, tlv } from './auth/der';
import { ReadsAuth } from './auth/facts';
import { principal } from './auth/gss';
import { SeqTracker } from './seq';

/** The most of one TCP message kept (requests with PAC padata are a few KiB). */
const MAX_MESSAGE = 16 * 1024;
const MAX_MESSAGES = 4;

const enum KrbTag {
  AsReq = 0x6a,
  AsRep = 0x6b,
  TgsReq = 0x6c,
  TgsRep = 0x6d,
  KrbError = 0x7e,
}

export class KdcExchange extends ReadsAuth implements FlowInspector {
  /** The service principals the client asked tickets for (TGS-REQ snames; the AS-REQ's is krbtgt). */
  readonly requested: string[] = [];
  private clientDir = -1;
  private request = false;
  private reply = false;
  private messages = 0;
  private done = false;
  /** Per direction, for TCP: the message being gathered (its buffer the message's size) and where the stream is. */
  private readonly held: (Buffer | null)[] = [null, null];
  private readonly have = [0, 0];
  private readonly seq = [new SeqTracker(), new SeqTracker()];

  /**
   * @param tcp whether messages come with the 4-byte length (TCP) or one per datagram (UDP)
   * @param budget the run's payload memory budget, which a message spanning segments is held from
   */
  constructor(
    private readonly tcp: boolean,
    private readonly budget: ByteBudget | null = null,
  ) {
    super();
  }

  segment(dir: number, seq: number, _flags: number, buf: Buffer, off: number, capLen: number, wireLen: number): boolean {
    if (this.done) return false;
    if (capLen === 0) return true;
    if (capLen < wireLen) return this.finish(); // cut by the snaplen: what follows is not whole
    if (!this.tcp) {
      // A KDC message is one of five APPLICATION tags (RFC 4120 5.10): other bytes on the port are no Kerberos.
      const t = buf[off];
      if (t !== KrbTag.AsReq && t !== KrbTag.AsRep && t !== KrbTag.TgsReq && t !== KrbTag.TgsRep && t !== KrbTag.KrbError) return this.finish();
      this.message(dir, buf, off, off + capLen);
    }
    else {
      // A retransmission has the bytes read already skipped (a segment sent again in part carries new ones after them).
      const had = this.seq[dir].place(seq, capLen, wireLen);
      if (had < 0) return true;
      if (this.seq[dir].gap) return this.finish();
      this.tcpBytes(dir, buf, off + had, capLen - had);
    }
    if (this.messages >= MAX_MESSAGES || (this.request && this.reply)) return this.finish();
    return !this.done;
  }

  private tcpBytes(dir: number, b: Buffer, off: number, len: number): void {
    let h = this.held[dir];
    // The message's size where its record mark is here (the rest of it to come): the buffer is that big.
    let size = MAX_MESSAGE + 4;
    if (!h && len >= 4) {
      const want = b.readUInt32BE(off) & 0x7fffffff;
      if (want <= len - 4) {
        this.message(dir, b, off + 4, off + 4 + want);
        return;
      }
      // Longer than any KDC message exflow holds, or not a record mark at all (bytes that are not Kerberos).
      if (want > MAX_MESSAGE || (b[off + 4] & 0xe0) !== 0x60) {
        this.finish();
        return;
      }
      size = 4 + want;
    }
    if (!h) {
      if (this.budget && !this.budget.take(size)) {
        this.finish();
        return;
      }
      h = this.held[dir] = Buffer.allocUnsafe(size);
    }
    const take = Math.min(len, h.length - this.have[dir]);
    b.copy(h, this.have[dir], off, off + take);
    this.have[dir] += take;
    if (this.have[dir] < 4) return;
    const want = h.readUInt32BE(0) & 0x7fffffff;
    if (want > MAX_MESSAGE) {
      this.finish();
      return;
    }
    if (this.have[dir] >= 4 + want) {
      this.message(dir, h, 4, 4 + want);
      this.have[dir] = 0;
      this.drop(dir);
    }
  }

  private message(dir: number, b: Uint8Array, o: number, end: number): void {
    this.messages++;
    const app = tlv(b, o, end);
    if (!app) return;
    const seq = tlv(b, app.at, app.end);
    if (!seq || seq.tag !== 0x30) return;
    if (app.tag === KrbTag.AsReq || app.tag === KrbTag.TgsReq || app.tag === KrbTag.AsRep || app.tag === KrbTag.TgsRep || app.tag === KrbTag.KrbError) this.auth.setMech('kerberos');
    if (app.tag === KrbTag.AsReq || app.tag === KrbTag.TgsReq) {
      this.request = true;
      this.clientDir = dir;
      const body = explicit(b, seq, 4);
      if (!body || body.tag !== 0x30) return;
      const realm = str(b, explicit(b, body, 2));
      const cname = principal(b, explicit(b, body, 1), realm);
      if (cname) this.auth.setAccount(cname);
      const sname = principal(b, explicit(b, body, 3), realm);
      if (sname && app.tag === KrbTag.TgsReq && this.requested.length < 8 && !this.requested.includes(sname)) this.requested.push(sname);
      if (sname && !this.auth.spn) this.auth.spn = sname;
    } else if (app.tag === KrbTag.AsRep || app.tag === KrbTag.TgsRep) {
      this.reply = true;
      if (this.clientDir < 0) this.clientDir = dir ^ 1;
      const cname = principal(b, explicit(b, seq, 4), str(b, explicit(b, seq, 3)));
      if (cname) this.auth.setAccount(cname);
    } else if (app.tag === KrbTag.KrbError) {
      if (this.clientDir < 0) this.clientDir = dir ^ 1;
      // An error answering the request ends the exchange as a ticket would: a client asks again
      // on a new port or connection (PREAUTH_REQUIRED, RESPONSE_TOO_BIG — the lab's kinit does).
      if (this.request) this.reply = true;
    }
  }

  clientSide(): number {
    return this.clientDir;
  }

  private drop(dir: number): void {
    const h = this.held[dir];
    if (h && this.budget) this.budget.give(h.length);
    this.held[dir] = null;
  }

  finish(): false {
    this.done = true;
    this.drop(0);
    this.drop(1);
    return false;
  }
}
