// Presentation contexts of one association (C706 12.6.4.3-4; [MS-RPCE] 2.2.2.13):
// what the client offered in bind / alter_context, and which contexts the server's
// bind_ack / alter_context_resp accepted. Answers list results in the order the
// contexts were offered and are paired with their bind by call_id.

import { HEADER_LEN, PType } from './pdu';
import { NDR64_UUID } from './syntax';
import { WireReader } from './wire';

export interface BoundInterface {
  uuid: string;
  version: string;
  /** true accepted, false rejected, null when no answer was seen. */
  accepted: boolean | null;
  ndr64: boolean;
  sec: number;
  nsec: number;
  /** Taken from a call's structure, the bind not being in the capture. */
  guessed?: boolean;
}

export interface Context {
  uuid: string;
  version: string;
  ndr64: boolean;
  iface: BoundInterface;
}

const MAX_CONTEXTS = 64;
const MAX_PENDING = 16;
const reader = new WireReader();

export class BindTracker {
  readonly interfaces: BoundInterface[] = [];
  readonly contexts = new Map<number, Context>();
  private readonly pending = new Map<number, number[]>();
  /** Answers whose bind was not seen (capture started late, or a lost segment). */
  orphanAnswers = 0;

  /**
   * Takes a PDU if it is about presentation contexts (bind, alter_context, their
   * answers, bind_nak) and returns true; false for any other type. Throws OutOfBytes
   * when the PDU is cut short.
   */
  pdu(ptype: number, b: Uint8Array, o: number, end: number, le: boolean, callId: number, sec: number, nsec: number): boolean {
    switch (ptype) {
      case PType.Bind:
      case PType.AlterContext:
        this.bind(b, o, end, le, callId, sec, nsec);
        return true;
      case PType.BindAck:
      case PType.AlterContextResp:
        this.answer(b, o, end, le, callId);
        return true;
      case PType.BindNak:
        this.refuse(callId);
        return true;
      default:
        return false;
    }
  }

  /** A bind or alter_context PDU at b[o, end). Throws OutOfBytes when cut short. */
  bind(b: Uint8Array, o: number, end: number, le: boolean, callId: number, sec: number, nsec: number): void {
    const r = reader.reset(b, o, end, le);
    r.skip(HEADER_LEN + 8); // max_xmit, max_recv, assoc_group
    const n = r.u8();
    r.skip(3);
    const order: number[] = [];
    for (let i = 0; i < n; i++) {
      const ctxId = r.u16();
      const nts = r.u8();
      r.skip(1);
      const uuid = r.uuid();
      const version = `${r.u16()}.${r.u16()}`;
      r.skip(20 * nts); // the offered transfer syntaxes; the answer says which one was taken
      order.push(ctxId);
      if (this.contexts.size >= MAX_CONTEXTS && !this.contexts.has(ctxId)) continue;
      let iface = this.interfaces.find((x) => x.uuid === uuid && x.version === version);
      if (!iface && this.interfaces.length < MAX_CONTEXTS) {
        iface = { uuid, version, accepted: null, ndr64: false, sec, nsec };
        this.interfaces.push(iface);
      }
      if (iface) this.contexts.set(ctxId, { uuid, version, ndr64: false, iface });
    }
    if (this.pending.size < MAX_PENDING || this.pending.has(callId)) this.pending.set(callId, order);
  }

  /** A bind_ack or alter_context_resp PDU at b[o, end). */
  answer(b: Uint8Array, o: number, end: number, le: boolean, callId: number): void {
    const order = this.pending.get(callId);
    this.pending.delete(callId);
    if (!order) {
      this.orphanAnswers++;
      return;
    }
    const r = reader.reset(b, o, end, le);
    r.skip(HEADER_LEN + 8);
    const secAddrLen = r.u16();
    r.skip(secAddrLen);
    r.align(4);
    const n = r.u8();
    r.skip(3);
    for (let i = 0; i < n && i < order.length; i++) {
      const result = r.u16();
      r.skip(2); // reason
      const syntax = r.uuid();
      r.skip(4);
      const ctx = this.contexts.get(order[i]);
      if (!ctx) continue;
      if (result === 0) {
        ctx.ndr64 = syntax === NDR64_UUID;
        ctx.iface.accepted = true;
        ctx.iface.ndr64 = ctx.ndr64;
      } else if (result !== 3 && ctx.iface.accepted === null) {
        ctx.iface.accepted = false; // 3 = negotiate ack of bind-time feature negotiation, not a refusal
      }
    }
  }

  /** A bind_nak: every context of that bind was refused. */
  refuse(callId: number): void {
    for (const id of this.pending.get(callId) ?? []) {
      const ctx = this.contexts.get(id);
      if (ctx && ctx.iface.accepted === null) ctx.iface.accepted = false;
    }
    this.pending.delete(callId);
  }
}
