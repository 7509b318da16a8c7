// DCE/RPC over SMB named pipes (ncacn_np): SMB2 WRITE, READ and IOCTL
// FSCTL_PIPE_TRANSCEIVE ([MS-SMB2] 2.2.19-2.2.22, 2.2.31-32) and SMB1 TRANSACTION,
// WRITE_ANDX and READ_ANDX ([MS-CIFS] 2.2.4.33, 2.2.4.42-43): enough to name the
// interfaces an SMB connection binds, not a full SMB dissector. Each NetBIOS session message
// ([MS-SMB2] 2.1: a zero byte and a 24-bit length) is read only as far as its
// first HEAD bytes — where the SMB2 header and a whole DCE/RPC fragment of the
// usual size (4280 bytes) sit — and the rest is skipped by count, so the bytes held
// per direction are bounded whatever the message size. Whole PDUs go on to an RPC
// connection of the flow's own, which follows endpoint-mapper calls over
// \pipe\epmapper as it does on TCP 135, for the same endpoint registry.

import { isMalformed } from './wire';
import { TcpFlag } from '../../decode/packet';
import type { FlowInspector } from '../../flow/inspector';
import { u16, u16le, u32, u32le } from '../../capture/bytes';
import { BindTracker, type BoundInterface } from './binds';
import type { ByteBudget } from './budget';
import { looksLikeCoPdu } from './pdu';
import { DirectionStream, StreamEnd } from './stream';
import { NO_SETUP_CALLS, RpcConnection, RpcMode, type SetupCalls } from './connection';
import type { AnswerSource } from './registry';
import { type SmbSigning, ReadsAuth } from '../auth/facts';
import { readGssToken } from '../auth/gss';
import { findNtlmssp, readNtlmssp } from '../auth/ntlmssp';

/** SMB2 DialectRevision as people write it ([MS-SMB2] 2.2.4). */
const SMB2_DIALECTS: Record<number, string> = { 0x0202: '2.0.2', 0x0210: '2.1', 0x0300: '3.0', 0x0302: '3.0.2', 0x0311: '3.1.1', 0x02ff: '2.???' };
/** The SMB1 dialect whose offer means SMB1 ([MS-CIFS] 2.2.4.52.1): every SMB1 client sends it. */
const NT_LM_012 = Buffer.from('NT LM 0.12\0', 'latin1');

/** How an SMB session negotiated and authenticated, from its NEGOTIATE and SESSION_SETUP messages. */
export interface SmbFacts {
  /** '1' for SMB1, '2.0.2' … '3.1.1' from the server's NEGOTIATE response. */
  dialect: string | null;
  signing: SmbSigning | null;
  /** A TRANSFORM_HEADER (0xFD 'SMB') was seen: the session is encrypted. */
  encrypted: boolean;
  /** The client's SMB1 NEGOTIATE offered NT LM 0.12. */
  smb1Offered: boolean | null;
}

const HEAD = 4400;
/** The Kerberos mechanism OID's DER bytes, as the start of a cut SPNEGO token names it. */
const KRB5_OID = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]);
const SMB2_HEADER = 64;

const enum Smb1Command {
  Negotiate = 0x72,
  SessionSetupAndX = 0x73,
  Transaction = 0x25,
  ReadAndX = 0x2e,
  WriteAndX = 0x2f,
}

/**
 * SMB1 messages carrying pipe data: where (from the SMB header) the data count and
 * data offset words sit — the header is 32 bytes, the word count 1, so word i is
 * at 33 + 2i — for requests and for replies.
 */
const SMB1_DATA_WORDS: Record<number, [number, number] | undefined> = {
  [Smb1Command.Transaction * 2]: [33 + 2 * 11, 33 + 2 * 12],
  [Smb1Command.Transaction * 2 + 1]: [33 + 2 * 6, 33 + 2 * 7],
  [Smb1Command.WriteAndX * 2]: [33 + 2 * 10, 33 + 2 * 11],
  [Smb1Command.ReadAndX * 2 + 1]: [33 + 2 * 5, 33 + 2 * 6],
};

const enum Smb2Command {
  Negotiate = 0x00,
  SessionSetup = 0x01,
  Read = 0x08,
  Write = 0x09,
  Ioctl = 0x0b,
}

class MessageReader {
  /** Bytes of the 4-byte NetBIOS header read so far. */
  private nbHave = 0;
  private readonly nb = new Uint8Array(4);
  /** Bytes left in the current message. */
  private left = 0;
  /**
   * A message head that spans segments, gathered here: taken from the run's budget when a
   * head does not arrive whole, given back as soon as it is read. A head that arrives in one
   * piece (most) is read where it lies, and nothing is held.
   */
  private head: Buffer | null = null;
  private headLen = 0;
  private headWant = 0;
  /** The budget refused a head buffer: this side's messages are no longer read. */
  refused = false;

  constructor(
    private readonly onHead: (b: Buffer, len: number) => void,
    private readonly budget: ByteBudget,
  ) {}

  release(): void {
    if (this.head) this.budget.give(HEAD);
    this.head = null;
  }

  /** A buffer for a head that spans segments, from the budget; refused: this side's messages are no longer read. */
  private hold(): boolean {
    if (this.budget.take(HEAD)) {
      this.head = Buffer.allocUnsafe(HEAD);
      return true;
    }
    this.refused = true;
    this.headWant = 0;
    return false;
  }

  push(b: Uint8Array, off: number, len: number): void {
    let p = off;
    const end = off + len;
    while (p < end) {
      if (this.left === 0) {
        this.nb[this.nbHave++] = b[p++];
        if (this.nbHave < 4) continue;
        this.nbHave = 0;
        this.left = (this.nb[1] << 16) | (this.nb[2] << 8) | this.nb[3];
        this.headLen = 0;
        this.headWant = this.nb[0] === 0 && !this.refused ? Math.min(this.left, HEAD) : 0; // only session messages
        continue;
      }
      const n = Math.min(this.left, end - p);
      if (this.headLen < this.headWant) {
        const take = Math.min(n, this.headWant - this.headLen);
        if (this.headLen === 0 && take === this.headWant) {
          this.headLen = take;
          this.onHead(Buffer.from(b.buffer, b.byteOffset + p, take), take);
        } else if (this.head || this.hold()) {
          this.head!.set(b.subarray(p, p + take), this.headLen);
          this.headLen += take;
          if (this.headLen === this.headWant) {
            this.onHead(this.head!, this.headLen);
            this.release();
          }
        }
      }
      this.left -= n;
      p += n;
    }
  }
}

export class SmbPipes extends ReadsAuth implements FlowInspector {
  readonly binds = new BindTracker();
  readonly smb: SmbFacts = { dialect: null, signing: null, encrypted: false, smb1Offered: null };
  /** The session's authentication (SESSION_SETUP's security buffers); the pipes' RPC binds have their own, absorbed at finish. */
  readonly notes: string[] = [];
  /** Each direction's bytes in order, and the message reader behind each; let go when the connection closes. */
  private streams: [DirectionStream, DirectionStream] | null;
  private readers: MessageReader[] = [];
  /** The directions that sent FIN (bit per direction). */
  private fins = 0;
  private sec = 0;
  private nsec = 0;

  /**
   * The pipes' DCE/RPC PDUs as one connection: mapper calls over \\pipe\\epmapper are read
   * there. Made at the first PDU: a session that opens no pipe (most: file shares, logons)
   * never pays for one — a flood of SMB sessions holds only the session's own state.
   */
  private pdus: RpcConnection | null = null;
  /**
   * What the pipes add to the endpoint registry: the mapper's answers, not the binds —
   * an interface bound over a pipe lives on the pipe, not on TCP 139/445.
   */
  get registryAnswers(): AnswerSource {
    return { answers: this.pdus?.answers ?? [], interfaces: [] };
  }
  private readonly pduSeq = [0, 0];
  private dir = 0;

  constructor(
    private readonly budget: ByteBudget,
    private readonly setupCalls: SetupCalls = NO_SETUP_CALLS,
  ) {
    super();
    const mk = (dir: number) => {
      const m = new MessageReader((b, n) => this.message(dir, b, n), budget);
      this.readers.push(m);
      return new DirectionStream(budget, (b, o, n) => m.push(b, o, n));
    };
    this.streams = [mk(0), mk(1)];
  }

  get interfaces(): BoundInterface[] {
    return this.binds.interfaces;
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    this.sec = sec;
    this.nsec = nsec;
    if (!this.streams) return false;
    this.streams[dir].segment(seq, (flags & TcpFlag.Syn) !== 0, buf, off, capLen, wireLen);
    if ((flags & TcpFlag.Fin) !== 0) this.fins |= 1 << dir;
    // A session may open another pipe at any time: read to the end (only message heads are kept).
    // Once both sides said FIN, or one RST, no more bytes come: the readers go now, not when the
    // flow is written (a closed flow lingers in the table; a flood of sessions would hold them all).
    if (this.fins === 3 || (flags & TcpFlag.Rst) !== 0) {
      this.stopReading();
      return false;
    }
    return true;
  }

  finish(clientSide = -1): void {
    this.pdus?.finish(clientSide);
    const rpcAuth = this.pdus?.authSeen;
    if (rpcAuth) this.auth.absorb(rpcAuth);
    this.stopReading();
  }

  /** The streams and readers are finished and let go; what they noticed becomes the flow's notes. */
  private stopReading(): void {
    for (const r of this.readers) {
      if (r.refused) this.note('SMB message heads not read for want of inspector memory (the run\'s payload budget)');
      r.release();
    }
    for (const s of this.streams ?? []) {
      s.finish();
      if (s.end === StreamEnd.Gap || s.end === StreamEnd.Snaplen) {
        this.note('SMB stream incomplete in the capture; named pipes followed only up to the gap');
      }
    }
    this.readers = [];
    this.streams = null;
  }

  private note(text: string): void {
    if (this.notes.length < 4 && !this.notes.includes(text)) this.notes.push(text);
  }

  /** The first bytes of one NetBIOS session message: one or more (compounded) SMB2 commands. */
  private message(dir: number, b: Buffer, len: number): void {
    this.dir = dir;
    if (len >= 4 && b[0] === 0xfd && b[1] === 0x53 && b[2] === 0x4d && b[3] === 0x42) {
      this.smb.encrypted = true; // TRANSFORM_HEADER ([MS-SMB2] 2.2.41): nothing inside is readable
      return;
    }
    if (len >= 4 && b[0] === 0xff && b[1] === 0x53 && b[2] === 0x4d && b[3] === 0x42) {
      if (len >= 35) this.smb1Session(b, len);
      if (len < 33 || b[32] === 0) return;
      const words = SMB1_DATA_WORDS[b[4] * 2 + ((b[9] & 0x80) !== 0 ? 1 : 0)];
      if (!words || words[1] + 2 > len) return;
      const dataAt = u16le(b, words[1]);
      if (dataAt > 32 && dataAt < len) this.rpc(b, dataAt, Math.min(u16le(b, words[0]), len - dataAt));
      return;
    }
    let h = 0;
    for (let guard = 0; guard < 16 && h + SMB2_HEADER + 8 <= len; guard++) {
      if (b[h] !== 0xfe || b[h + 1] !== 0x53 || b[h + 2] !== 0x4d || b[h + 3] !== 0x42) return;
      const command = u16le(b, h + 12);
      const response = (u32le(b, h + 16) & 1) !== 0;
      const body = h + SMB2_HEADER;
      let dataAt = -1;
      let dataLen = 0;
      if (command === Smb2Command.Negotiate || command === Smb2Command.SessionSetup) this.smb2Session(b, h, len, command, response);
      if (!response && command === Smb2Command.Write) {
        dataAt = h + u16le(b, body + 2);
        dataLen = u32le(b, body + 4);
      } else if (response && command === Smb2Command.Read) {
        dataAt = h + b[body + 2];
        dataLen = u32le(b, body + 4);
      } else if (command === Smb2Command.Ioctl && body + 40 <= len) {
        dataAt = h + u32le(b, body + (response ? 32 : 24));
        dataLen = u32le(b, body + (response ? 36 : 28));
      }
      if (dataAt > h && dataAt < len) this.rpc(b, dataAt, Math.min(dataLen, len - dataAt));
      const next = u32le(b, h + 20);
      if (next === 0 || next % 8 !== 0) return;
      h += next;
    }
  }

  /** SMB2 NEGOTIATE response (dialect, SecurityMode) and SESSION_SETUP security buffers ([MS-SMB2] 2.2.4, 2.2.5-6). */
  private smb2Session(b: Buffer, h: number, len: number, command: number, response: boolean): void {
    const body = h + SMB2_HEADER;
    if (command === Smb2Command.Negotiate) {
      if (!response || body + 6 > len) return;
      const mode = u16le(b, body + 2);
      const dialect = u16le(b, body + 4);
      if (dialect === 0x02ff) return; // the wildcard answer to an SMB1 multi-protocol negotiate: the real one follows
      this.smb.dialect = SMB2_DIALECTS[dialect] ?? `0x${dialect.toString(16).padStart(4, '0')}`;
      this.smb.signing = (mode & 0x02) !== 0 ? 'required' : (mode & 0x01) !== 0 ? 'enabled' : 'off';
      if (this.smb.smb1Offered === null) this.smb.smb1Offered = false;
      return;
    }
    const at = response ? body + 4 : body + 12;
    if (at + 4 > len) return;
    const off = h + u16le(b, at);
    const n = u16le(b, at + 2);
    if (n > 0 && off >= body && off < len) this.securityBlob(b, off, Math.min(off + n, len), off + n > len);
  }

  /** SMB1 NEGOTIATE (the dialects offered, the one chosen, SecurityMode) and SESSION_SETUP_ANDX security blobs ([MS-CIFS] 2.2.4.52-53). */
  private smb1Session(b: Buffer, len: number): void {
    const command = b[4];
    const response = (b[9] & 0x80) !== 0;
    const wc = b[32];
    const data = 33 + 2 * wc + 2;
    if (command === Smb1Command.Negotiate) {
      if (!response) {
        if (data <= len) this.smb.smb1Offered = b.subarray(data, len).indexOf(NT_LM_012) >= 0;
      } else if (wc === 17 && len >= 36 && u16le(b, 33) !== 0xffff) {
        this.smb.dialect = '1';
        const mode = b[35];
        this.smb.signing = (mode & 0x08) !== 0 ? 'required' : (mode & 0x04) !== 0 ? 'enabled' : 'off';
      } else if ((wc === 13 || wc === 1) && len >= 35 && u16le(b, 33) !== 0xffff) {
        // An older dialect was chosen: LANMAN1.0 … LANMAN2.1 answer in 13 words, the core
        // protocol in one ([MS-CIFS] 2.2.4.52.2). SMB1 all the same, and without signing,
        // which only NT LM 0.12 negotiates (its SecurityMode bits 0x04/0x08).
        this.smb.dialect = '1';
        this.smb.signing = 'off';
      }
      return;
    }
    if (command !== Smb1Command.SessionSetupAndX) return;
    // Extended security: the blob's length is word 7 of a request (12 words), word 3 of a reply (4 words).
    const lenWord = !response && wc === 12 ? 33 + 2 * 7 : response && wc === 4 ? 33 + 2 * 3 : -1;
    if (lenWord < 0 || lenWord + 2 > len) return;
    const n = u16le(b, lenWord);
    if (n > 0 && data < len) this.securityBlob(b, data, Math.min(data + n, len), data + n > len);
  }

  /**
   * A security buffer: SPNEGO (or raw NTLMSSP) as the session's first messages carry it. One
   * longer than the bytes read of its message (a Kerberos ticket with a large PAC) is read
   * for what its first bytes say: an NTLMSSP message inside, else the mechanism SPNEGO names.
   */
  private securityBlob(b: Buffer, o: number, end: number, cut: boolean): void {
    if (readGssToken(b, o, end, this.auth) || !cut) return;
    const ntlm = findNtlmssp(b, o, end);
    if (ntlm >= 0) readNtlmssp(b, ntlm, end, this.auth);
    else if (b.subarray(o, Math.min(end, o + 64)).indexOf(KRB5_OID) >= 0) this.auth.setMech('kerberos');
  }

  /** The RPC connection the pipes' PDUs go to: read to the end, as the session is. */
  private pipesConnection(): RpcConnection {
    const c = new RpcConnection(RpcMode.Plain, this.budget, [], this.setupCalls);
    c.readsToEnd = true;
    return c;
  }

  /** A pipe payload: a DCE/RPC PDU if it looks like one; only binds and their answers matter here. */
  private rpc(b: Buffer, o: number, n: number): void {
    if (!looksLikeCoPdu(b, o, n)) return;
    const le = (b[o + 4] & 0x10) !== 0;
    const end = o + Math.min(n, u16(b, o + 8, le));
    const callId = u32(b, o + 12, le);
    try {
      this.binds.pdu(b[o + 2], b, o, end, le, callId, this.sec, this.nsec);
    } catch (e) {
      if (!isMalformed(e)) throw e;
      this.note('a bind inside SMB was cut short (beyond the bytes exflow reads per message)');
    }
    // A whole fragment goes on to the flow's RPC connection, as a stream of PDUs per direction.
    const fragLen = u16(b, o + 8, le);
    if (fragLen <= n) {
      (this.pdus ??= this.pipesConnection()).segment(this.dir, this.pduSeq[this.dir], 0, b, o, fragLen, fragLen, this.sec, this.nsec);
      this.pduSeq[this.dir] = (this.pduSeq[this.dir] + fragLen) >>> 0;
    }
  }
}
