// The endpoint mapper over UDP 135: connectionless DCE/RPC (ncadg_ip_udp, C706
// 12.5). Each datagram carries an 80-byte header naming the interface, the
// activity and the sequence number, then the body; ept_map (opnum 3) questions and
// answers in NDR are read like those over TCP, and the answers enter the same
// endpoint registry. Fragmented answers (rare for ept_map) are counted, not joined.
import type { FlowInspector } from '../../flow/inspector';
import type { MapperAnswer } from './connection';
import { decodeMapRequest, decodeMapResponse } from './epm';
import { EPM_UUID, EPT_S_NOT_REGISTERED, EpmOp } from './syntax';
import { isMalformed, WireReader } from './wire';
import { guidBytes } from './dcom';

const CL_HEADER = 80;
const enum ClType {
  Request = 0,
  Response = 2,
}
/** flags1: more fragments follow / this is a fragment. */
const FLAG_FRAG = 0x04 | 0x08;
const MAX_ANSWERS = 256;
const MAX_PENDING = 16;
const reader = new WireReader();
/** The mapper's interface UUID as it stands in a header of either byte order. */
const EPM_LE = guidBytes(EPM_UUID);
const EPM_BE = Buffer.from(EPM_UUID.replace(/-/g, ''), 'hex');


export class ClMapper implements FlowInspector {
  readonly answers: MapperAnswer[] = [];
  readonly notRegistered: string[] = [];
  readonly notes: string[] = [];
  /** No binds in connectionless RPC (endpointsOf reads them from TCP connections). */
  readonly interfaces: never[] = [];
  /** ept_map questions by sequence number: the interface asked about. */
  private readonly asked = new Map<number, string | null>();
  private clientDir = -1;

  segment(dir: number, _seq: number, _flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    if (capLen < CL_HEADER || buf[off] !== 4) return true;
    if (capLen < wireLen) {
      this.note('a datagram cut by the snaplen; not read');
      return true;
    }
    const le = (buf[off + 4] & 0x10) !== 0;
    const type = buf[off + 1];
    // The interface is compared as bytes: no string per datagram.
    if (buf.compare(le ? EPM_LE : EPM_BE, 0, 16, off + 24, off + 40) !== 0) return true;
    const opnum = le ? buf.readUInt16LE(off + 68) : buf.readUInt16BE(off + 68);
    const seq = le ? buf.readUInt32LE(off + 64) : buf.readUInt32BE(off + 64);
    const len = le ? buf.readUInt16LE(off + 74) : buf.readUInt16BE(off + 74);
    if (opnum !== EpmOp.Map || CL_HEADER + len > capLen) return true;
    if ((buf[off + 2] & FLAG_FRAG) !== 0) {
      this.note('a fragmented ept_map datagram; not joined');
      return true;
    }
    const body = buf.subarray(off + CL_HEADER, off + CL_HEADER + len);
    try {
      if (type === ClType.Request) {
        if (this.clientDir < 0) this.clientDir = dir;
        if (this.asked.size < MAX_PENDING) this.asked.set(seq, decodeMapRequest(reader.reset(body, 0, body.length, le, false))?.uuid ?? null);
      } else if (type === ClType.Response) {
        const answer = decodeMapResponse(reader.reset(body, 0, body.length, le, false));
        const asked = this.asked.get(seq) ?? null;
        this.asked.delete(seq);
        for (const e of answer.entries) if (this.answers.length < MAX_ANSWERS) this.answers.push({ source: 'ept_map', tower: e.tower, annotation: e.annotation, asked, sec, nsec });
        if (answer.status === EPT_S_NOT_REGISTERED && answer.entries.length === 0 && asked && !this.notRegistered.includes(asked)) this.notRegistered.push(asked);
      }
    } catch (e) {
      if (!isMalformed(e)) throw e;
      this.note('an ept_map datagram not decodable');
    }
    return true; // a mapper is read to the end, as on TCP
  }

  clientSide(): number {
    return this.clientDir;
  }

  private note(text: string): void {
    if (this.notes.length < 4 && !this.notes.includes(text)) this.notes.push(text);
  }
}
