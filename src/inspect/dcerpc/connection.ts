// One TCP connection's DCE/RPC conversation, as a flow inspector: reassembles each
// direction, frames PDUs, and keeps what classification needs — which interfaces
// were bound and whether the server accepted them, and what the endpoint mapper
// answered. Everything here is per flow (only RPC flows get one), bounded, and
// never throws into the packet loop: a malformed PDU ends that direction with a note.

import type { FlowInspector } from '../../flow/inspector';
import { TcpFlag } from '../../decode/packet';
import { BindTracker, type BoundInterface } from './binds';
import type { ByteBudget } from './budget';
import { decodeLookupResponse, decodeMapRequest, decodeMapResponse, type EpmAnswer } from './epm';
import { AuthType, HEADER_LEN, matchesGreeting, NCACN_HTTP_GREETING, PduFramer, PfcFlag, PType } from './pdu';
import { ReadsAuth } from '../auth/facts';
import { readGssToken } from '../auth/gss';
import { DirectionStream, StreamEnd } from './stream';
import { EPM_UUID, EPT_S_NOT_REGISTERED, EpmOp } from './syntax';
import { ActivationOp, systemActivation, activationBindings, activationClsid, IREMUNKNOWN2_UUID, isTcpBinding, oxidBindings, OXID_RESOLVER_UUID, OxidOp, REBINDING_UUIDS, REMOTE_ACTIVATION_UUID, SYSTEM_ACTIVATOR_UUID, type StringBinding } from './dcom';
import type { Tower } from './tower';
import { u16, u32 } from '../../capture/bytes';
import { isMalformed, WireReader } from './wire';

/** How a connection was picked for inspection, which decides what to expect on it (bit flags). */
export const enum RpcMode {
  /** Plain connection-oriented DCE/RPC (ncacn_ip_tcp), attached by payload. */
  Plain = 0,
  /** The endpoint mapper's port: requests on a context whose bind was not captured are taken as EPM in NDR. */
  Mapper = 1,
  /** ncacn_http: each direction may open with the "ncacn_http/1.0" greeting; RTS PDUs are skipped. */
  Http = 2,
  /** The ncacn_http mapper (593): both of the above. */
  HttpMapper = 3,
}

export interface MapperAnswer {
  /** ept_map/ept_lookup from the endpoint mapper, dcom from the OXID resolver. */
  source: 'ept_map' | 'ept_lookup' | 'dcom';
  tower: Tower;
  annotation: string | null;
  /** For ept_map: the interface the client asked about. */
  asked: string | null;
  sec: number;
  nsec: number;
}

const MAX_CALLS = 16;
/** Marks a call (in its opnum) as an OXID resolver call, not an EPM one. */
const DCOM_CALL = 0x100;
/** …and, with this bit too, an activation call. */
const ACTIVATION_CALL = 0x200;
/** …and, with this bit too, a call whose bind was not captured: the answer is read only if its structure fits. */
const GUESSED_CALL = 0x400;
/** An OBJREF's signature ([MS-DCOM] 2.2.18: "MEOW"): an activation request carries its activation properties as one. */
const OBJREF_SIGNATURE = Buffer.from('MEOW', 'latin1');
/** Mapper answer entries kept per connection (an ept_lookup listing of a whole server is a few hundred). */
const MAX_ANSWERS = 1000;
/**
 * What one decoded answer (tower, strings, annotation) is charged against the RPC
 * budget: ~0.5 KiB of live heap, ~2 KiB of process memory once the heap's
 * headroom is counted (measured: 400 open mapper connections, RSS per answer held).
 */
export const ANSWER_COST = 2048;
const MAX_STUB = 1 << 20;
const MAX_NOTES = 8;

interface Call {
  opnum: number;
  ndr64: boolean;
  asked: string | null;
  parts: Buffer[];
  bytes: number;
}

const reader = new WireReader();

/** Per interface UUID, the opnums that travel without RPC authentication by design. */
export type SetupCalls = ReadonlyMap<string, ReadonlySet<number>>;
export const NO_SETUP_CALLS: SetupCalls = new Map();

export class RpcConnection extends ReadsAuth implements FlowInspector {
  readonly binds = new BindTracker();
  /** How the connection authenticated: its binds' lowest level, the tokens they carried. */
  readonly answers: MapperAnswer[] = [];
  /** Answer entries not kept: over MAX_ANSWERS, or the budget said no. */
  answersRefused = 0;
  /** ept_map questions answered "not registered": the interfaces asked about. */
  readonly notRegistered: string[] = [];
  readonly notes: string[] = [];
  /** Set by finish(): the snaplen cut a side's payload before it was read through. */
  cutBySnaplen = false;
  /** Table side that sent binds and requests (the RPC client), -1 until known. */
  clientDir = -1;
  pdus = 0;

  private readonly streams: [DirectionStream, DirectionStream];
  private readonly framers: [PduFramer, PduFramer];
  private readonly greetingLeft = [0, 0];
  private readonly calls = new Map<number, Call>();
  private sec = 0;
  private nsec = 0;

  /**
   * @param dcomIids interfaces (UUID and its 16 wire bytes) an activation answer may name
   *   (WMI's, …: the rules say which): the object exporter's port is registered for them
   */
  constructor(
    readonly mode: RpcMode,
    private readonly budget: ByteBudget,
    private readonly dcomIids: readonly { uuid: string; bytes: Buffer }[] = [],
    /** Per interface, the calls that travel without RPC authentication by design (rules: setup_calls). */
    private readonly setupCalls: SetupCalls = NO_SETUP_CALLS,
  ) {
    super();
    const mk = (dir: number) => {
      const framer = new PduFramer(budget, (b, o, n) => this.pdu(dir, b, o, n));
      const stream = new DirectionStream(budget, (b, o, n) => this.bytes(dir, b, o, n));
      return [framer, stream] as const;
    };
    const [f0, s0] = mk(0);
    const [f1, s1] = mk(1);
    this.framers = [f0, f1];
    this.streams = [s0, s1];
    if ((mode & RpcMode.Http) !== 0) this.greetingLeft[0] = this.greetingLeft[1] = -1;
  }

  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean {
    this.sec = sec;
    this.nsec = nsec;
    this.streams[dir].segment(seq, (flags & TcpFlag.Syn) !== 0, buf, off, capLen, wireLen);
    // Both sides stopped on bytes that are not DCE/RPC (or the budget): nothing more can be
    // learned, even on a mapper port; each side's stream has stopped and released its bytes.
    if (this.framers[0].bad !== null && this.framers[1].bad !== null) return false;
    if (!this.decided()) return true;
    this.letGo();
    return false;
  }

  /**
   * Nothing more on this connection can change its labels or the registry: it is
   * not on a mapper port, its bind was accepted for an interface other than the
   * mapper's, it is not a DCOM object exporter's connection (which binds
   * IRemUnknown2 first and the objects' interfaces after it, by alter_context, at any
   * time: read to its end, as SMB pipes are), and who the client is is known. (A MAPI or DRSUAPI connection's
   * calls are the bulk of its bytes and name nothing new.) Mapper connections are
   * read to the end: their answers are the registry.
   */
  private decided(): boolean {
    if (this.readsToEnd || (this.mode & RpcMode.Mapper) !== 0 || this.clientDir < 0 || this.calls.size > 0 || this.authenticating) return false;
    const ifs = this.binds.interfaces;
    // An interface whose first calls set up its protection (Netlogon): read on to the first
    // call after them, whose level says whether the channel is signed or sealed.
    if (!this.callAfterSetup && this.setupCalls.size > 0 && ifs.some((i) => this.setupCalls.has(i.uuid))) return false;
    let accepted = false;
    for (let i = 0; i < ifs.length; i++) {
      if (ifs[i].uuid === EPM_UUID || REBINDING_UUIDS.has(ifs[i].uuid)) return false;
      if (ifs[i].accepted === true) accepted = true;
    }
    return accepted;
  }

  /** Frees reassembly state early; finish() later finds nothing held and notes nothing about it. */
  private letGo(): void {
    for (let dir = 0; dir < 2; dir++) {
      this.streams[dir].stop(StreamEnd.Released);
      this.framers[dir].release();
    }
    this.released = true;
  }

  /** Whether the connection let go of its bytes before the flow ended (see decided()). */
  released = false;

  /** In-order bytes of one direction: strip an ncacn_http greeting, then frame. */
  private bytes(dir: number, b: Uint8Array, o: number, n: number): void {
    let g = this.greetingLeft[dir];
    if (g !== 0) {
      if (g < 0) g = this.greetingLeft[dir] = matchesGreeting(b, o, n) ? NCACN_HTTP_GREETING.length : 0;
      const skip = Math.min(g, n);
      this.greetingLeft[dir] -= skip;
      o += skip;
      n -= skip;
      if (n === 0) return;
    }
    const f = this.framers[dir];
    f.push(b, o, n);
    if (f.bad !== null) this.streams[dir].stop(StreamEnd.Consumer); // the reason is noted at finish(), when the sides are known
  }

  clientSide(): number {
    return this.clientDir;
  }

  get interfaces(): BoundInterface[] {
    return this.binds.interfaces;
  }

  /**
   * Ends inspection at flow write-out: reports holes and cut payload. `clientSide`
   * is the flow table's verdict, used when no bind or request said who the client is.
   */
  finish(clientSide: number): void {
    if (this.clientDir < 0) this.clientDir = clientSide;
    this.cutBySnaplen = this.streams[0].end === StreamEnd.Snaplen || this.streams[1].end === StreamEnd.Snaplen;
    for (let dir = 0; dir < 2; dir++) {
      const s = this.streams[dir];
      s.finish();
      const side = dir === this.clientDir ? 'client' : 'server';
      if (s.end === StreamEnd.Consumer) this.note(`${side} side stopped: ${this.framers[dir].bad}`);
      else if (s.end === StreamEnd.Gap) this.note(`${side} side has bytes missing from the capture after stream byte ${s.delivered}; not inspected further`);
      else if (s.end === StreamEnd.Snaplen) this.note(`${side} side payload cut by the snaplen after stream byte ${s.delivered}; not inspected further`);
      this.framers[dir].release();
    }
    for (const c of this.calls.values()) this.budget.give(c.bytes);
    this.calls.clear();
    // The answers stay readable for the flush; their share of the budget is free again.
    this.budget.give(this.answers.length * ANSWER_COST);
    if (this.answersRefused > 0) this.note(`${this.answersRefused} mapper answer entries not kept (more than ${MAX_ANSWERS} on one connection, or the RPC memory bound reached)`);
    if (this.binds.orphanAnswers > 0) this.note('bind answer without its bind (not captured); its contexts are unknown');
  }

  note(text: string): void {
    if (this.notes.length < MAX_NOTES && !this.notes.includes(text)) this.notes.push(text);
  }

  private pdu(dir: number, b: Uint8Array, o: number, len: number): void {
    this.pdus++;
    const le = (b[o + 4] & 0x10) !== 0;
    const ptype = b[o + 2];
    const flags = b[o + 3];
    const authLen = u16(b, o + 10, le);
    const callId = u32(b, o + 12, le);
    let bodyEnd = o + len;
    let privacy = false;
    const binding = ptype === PType.Bind || ptype === PType.AlterContext;
    if (authLen > 0) {
      const trailer = o + len - authLen - 8;
      const pad = b[trailer + 2];
      privacy = b[trailer + 1] === 6; // RPC_C_AUTHN_LEVEL_PKT_PRIVACY: the stub is encrypted
      if (trailer >= o + HEADER_LEN && (binding || ptype === PType.BindAck || ptype === PType.AlterContextResp || ptype === PType.Auth3)) this.security(ptype, b, trailer, o + len);
      bodyEnd = trailer - pad;
      if (bodyEnd < o + HEADER_LEN) return;
    } else if (ptype === PType.Bind) this.auth.rpcBind(0, 1); // a bind without a security trailer: level none
    // (an alter_context without one adds a context under the association's security: no level of its own)
    if (ptype === PType.Request) {
      const setup = authLen === 0 && this.isSetupCall(b, o, len, le);
      if (setup) this.auth.setupRequests++;
      else {
        this.callAfterSetup = true;
        if (authLen > 0) this.auth.rpcRequest(b[o + len - authLen - 8], b[o + len - authLen - 7]);
        else if (this.authSeen) this.auth.bareRequests = true; // what it means, the binds tell (no bind seen: nothing)
      }
    }
    try {
      if (ptype === PType.Bind || ptype === PType.AlterContext) this.clientDir = dir;
      if (this.binds.pdu(ptype, b, o, bodyEnd, le, callId, this.sec, this.nsec)) return;
      switch (ptype) {
        case PType.Request:
          this.clientDir = dir;
          this.authenticating = false;
          if (!privacy) this.request(b, o, bodyEnd, le, flags, callId);
          break;
        case PType.Response:
          if (!privacy) this.response(b, o, bodyEnd, le, flags, callId);
          break;
        case PType.Fault:
          this.dropCall(callId);
          break;
        default:
          break; // auth3, shutdown, cancel, orphaned, RTS: nothing to learn
      }
    } catch (e) {
      if (!isMalformed(e)) throw e;
      this.note(`malformed ${ptypeName(ptype)} PDU (call ${callId}); skipped`);
    }
  }

  /**
   * The security trailer of a bind, alter_context, their answers or auth3 ([MS-RPCE]
   * 2.2.2.11): its auth_type and auth_level, and the token it carries (NTLMSSP,
   * SPNEGO, Kerberos). Until the client's first request, an authenticating
   * connection is read on: the token that names the account (NTLM's AUTHENTICATE)
   * comes in auth3 or alter_context after the bind is accepted.
   */
  private security(ptype: number, b: Uint8Array, trailer: number, end: number): void {
    const type = b[trailer];
    if (ptype === PType.Bind || ptype === PType.AlterContext) {
      this.auth.rpcBind(type, b[trailer + 1]);
      this.authenticating = true;
    }
    // The tokens: the server's (bind_ack, alter_context_resp) name it; the client's name the account.
    if (type === AuthType.Spnego || type === AuthType.Ntlm || type === AuthType.Kerberos || type === AuthType.Default) {
      readGssToken(b, trailer + 8, end, this.auth);
    } else if (type === AuthType.Netlogon) this.auth.setMech('netlogon');
    else if (type === AuthType.Schannel) this.auth.setMech('schannel');
  }

  /**
   * Never let go before the end: the PDUs of an SMB session's pipes, where another pipe —
   * another interface, bound at another level — may be opened at any time.
   */
  readsToEnd = false;

  /** A request that is not a setup call was seen (see decided()). */
  private callAfterSetup = false;

  /** A request the rules say travels without RPC authentication by design (Netlogon's NetrServerReqChallenge, NetrServerAuthenticate*). */
  private isSetupCall(b: Uint8Array, o: number, len: number, le: boolean): boolean {
    if (this.setupCalls.size === 0 || len < HEADER_LEN + 8) return false;
    const uuid = this.binds.contexts.get(u16(b, o + HEADER_LEN + 4, le))?.uuid;
    return uuid !== undefined && this.setupCalls.get(uuid)?.has(u16(b, o + HEADER_LEN + 6, le)) === true;
  }

  /** An authenticated bind was seen and the client has not yet sent a request: the handshake may still be going on. */
  private authenticating = false;

  private request(b: Uint8Array, o: number, end: number, le: boolean, flags: number, callId: number): void {
    const r = reader.reset(b, o, end, le);
    r.skip(HEADER_LEN + 4); // alloc_hint
    const ctxId = r.u16();
    const opnum = r.u16();
    if ((flags & PfcFlag.ObjectUuid) !== 0) r.skip(16);
    const contexts = this.binds.contexts;
    let ctx = contexts.get(ctxId);
    if (!ctx && (this.mode & RpcMode.Mapper) !== 0 && (opnum === EpmOp.Map || opnum === EpmOp.Lookup)) {
      // Mapper port, bind not captured: an EPM call in NDR is by far the likeliest.
      const iface: BoundInterface = { uuid: EPM_UUID, version: '3.0', accepted: null, ndr64: false, sec: this.sec, nsec: this.nsec };
      ctx = { uuid: EPM_UUID, version: '3.0', ndr64: false, iface };
      contexts.set(ctxId, ctx);
      this.note('bind not captured; calls on the mapper port taken as EPM');
    } else if (!ctx && (this.mode & RpcMode.Mapper) !== 0 && (flags & PfcFlag.FirstFrag) !== 0) {
      // Mapper port, bind not captured, not an EPM call: DCOM shares port 135. An
      // activation request is known by its structure — its activation properties are
      // an OBJREF ("MEOW") — and read as ISystemActivator's; a ResolveOxid(2) is
      // only asked, and its answer is read if it is a well-formed DUALSTRINGARRAY.
      const stub = Buffer.from(b.buffer, b.byteOffset + r.pos, Math.max(0, end - r.pos));
      if (systemActivation(opnum) && stub.indexOf(OBJREF_SIGNATURE) >= 0) {
        ctx = this.guessedContext(ctxId, SYSTEM_ACTIVATOR_UUID, 'bind not captured; an activation request (its OBJREF) read as ISystemActivator');
      } else if (opnum === OxidOp.ResolveOxid || opnum === OxidOp.ResolveOxid2) {
        const call = this.collect(callId, flags, b, r.pos, r.pos, { opnum: DCOM_CALL | GUESSED_CALL | opnum, ndr64: false });
        if (call) call.parts = [];
        return;
      }
    }
    const activation =
      ctx && !ctx.ndr64 && ((ctx.uuid === SYSTEM_ACTIVATOR_UUID && systemActivation(opnum)) || (ctx.uuid === REMOTE_ACTIVATION_UUID && opnum === ActivationOp.RemoteActivation));
    if (activation) {
      // The request is kept to the end of its stub: it names the class being activated.
      const call = this.collect(callId, flags, b, r.pos, end, { opnum: DCOM_CALL | ACTIVATION_CALL, ndr64: false });
      // RemoteCreateInstance's first activation property is InstantiationInfoData with the class;
      // RemoteGetClassObject's properties come in another order: its class is not read.
      if (call && opnum === ActivationOp.RemoteCreateInstance) {
        const stub = Buffer.concat(call.parts);
        call.asked = activationClsid(stub);
      }
      if (call) {
        this.budget.give(call.bytes);
        call.parts = [];
        call.bytes = 0;
      }
      return;
    }
    if (ctx && ctx.uuid === OXID_RESOLVER_UUID && !ctx.ndr64 && (opnum === OxidOp.ResolveOxid || opnum === OxidOp.ResolveOxid2)) {
      // Only that it was asked: the answer holds the string bindings.
      const call = this.collect(callId, flags, b, r.pos, r.pos, { opnum: DCOM_CALL | opnum, ndr64: false });
      if (call) call.parts = [];
      return;
    }
    if (!ctx || ctx.uuid !== EPM_UUID || (opnum !== EpmOp.Map && opnum !== EpmOp.Lookup)) return;
    // Only ept_map's question is read (which interface was asked for); of ept_lookup's,
    // only that it was asked, so none of its bytes are kept.
    const call = this.collect(callId, flags, b, r.pos, opnum === EpmOp.Map ? end : r.pos, { opnum, ndr64: ctx.ndr64 });
    if (!call) return;
    if (opnum === EpmOp.Map) {
      try {
        const stub = Buffer.concat(call.parts);
        const t = decodeMapRequest(reader.reset(stub, 0, stub.length, le, call.ndr64));
        call.asked = t?.uuid ?? null;
      } catch (e) {
        if (!isMalformed(e)) throw e;
        this.note(`ept_map request (call ${callId}) not decodable`);
      }
    }
    this.budget.give(call.bytes);
    call.parts = [];
    call.bytes = 0;
  }

  private response(b: Uint8Array, o: number, end: number, le: boolean, flags: number, callId: number): void {
    const pending = this.calls.get(callId);
    if (!pending) return;
    const stubAt = o + HEADER_LEN + 8; // alloc_hint, ctx_id, cancel_count, reserved
    if (stubAt > end) return;
    const call = this.collect(callId, flags, b, stubAt, end, pending);
    if (!call) return;
    this.calls.delete(callId);
    this.budget.give(call.bytes);
    const stub = Buffer.concat(call.parts);
    if ((call.opnum & ACTIVATION_CALL) !== 0) {
      this.activationAnswer(stub, call.asked);
      return;
    }
    if ((call.opnum & DCOM_CALL) !== 0) {
      this.oxidAnswer(stub, le, callId, (call.opnum & GUESSED_CALL) !== 0);
      return;
    }
    let answer: EpmAnswer;
    try {
      const r = reader.reset(stub, 0, stub.length, le, call.ndr64);
      answer = call.opnum === EpmOp.Map ? decodeMapResponse(r) : decodeLookupResponse(r);
    } catch (e) {
      if (!isMalformed(e)) throw e;
      this.note(`${call.opnum === EpmOp.Map ? 'ept_map' : 'ept_lookup'} response (call ${callId}) not decodable`);
      return;
    }
    const source = call.opnum === EpmOp.Map ? 'ept_map' : 'ept_lookup';
    for (const e of answer.entries) {
      // Decoded answers are held until the flow ends: each is charged to the run's RPC memory budget.
      if (this.answers.length >= MAX_ANSWERS || !this.budget.take(ANSWER_COST)) {
        this.answersRefused++;
        continue;
      }
      this.answers.push({ source, tower: e.tower, annotation: e.annotation, asked: call.asked, sec: this.sec, nsec: this.nsec });
    }
    if (answer.badTowers > 0) this.note(`${source}: ${answer.badTowers} tower(s) not decodable`);
    if (answer.status === EPT_S_NOT_REGISTERED && call.opnum === EpmOp.Map && answer.entries.length === 0) {
      if (call.asked && !this.notRegistered.includes(call.asked)) this.notRegistered.push(call.asked);
    } else if (answer.status !== 0 && answer.status !== EPT_S_NOT_REGISTERED) {
      this.note(`${source} answered status 0x${answer.status.toString(16).padStart(8, '0')}`);
    }
  }

  /** An interface taken for a context whose bind the capture lacks (unanswered: it names the connection, marked so in the note). */
  private guessedContext(ctxId: number, uuid: string, why: string): { uuid: string; version: string; ndr64: boolean; iface: BoundInterface } {
    let iface = this.binds.interfaces.find((i) => i.uuid === uuid);
    if (!iface) {
      iface = { uuid, version: '0.0', accepted: null, ndr64: false, sec: this.sec, nsec: this.nsec, guessed: true };
      this.binds.interfaces.push(iface);
    }
    const ctx = { uuid, version: '0.0', ndr64: false, iface };
    if (ctxId >= 0) this.binds.contexts.set(ctxId, ctx);
    this.note(why);
    return ctx;
  }

  /**
   * A ResolveOxid/ResolveOxid2 answer: its TCP string bindings become endpoints of
   * IRemUnknown2. `guessed`: the bind was not captured — the answer is taken for the
   * resolver's only if it parses as one and names a TCP endpoint, and says nothing otherwise.
   */
  private oxidAnswer(stub: Buffer, le: boolean, callId: number, guessed: boolean): void {
    let bindings: StringBinding[];
    try {
      bindings = oxidBindings(stub, le);
    } catch (e) {
      if (!isMalformed(e)) throw e;
      if (!guessed) this.note(`OXID resolver answer (call ${callId}) not decodable`);
      return;
    }
    if (guessed) {
      if (!bindings.some(isTcpBinding)) return;
      this.guessedContext(-1, OXID_RESOLVER_UUID, 'bind not captured; an answer with the structure of ResolveOxid read as the OXID resolver\'s');
    }
    this.dcomEndpoints(bindings, [IREMUNKNOWN2_UUID], 'OXID resolver');
  }

  /**
   * An activation answer: the object exporter's TCP bindings, registered for the
   * interfaces the answer names among those exflow knows (the activated object's,
   * e.g. IWbemLevel1Login), else for IRemUnknown2.
   */
  private activationAnswer(stub: Buffer, clsid: string | null): void {
    const iids = this.dcomIids.filter((i) => stub.indexOf(i.bytes) >= 0).map((i) => i.uuid);
    this.dcomEndpoints(activationBindings(stub), iids.length > 0 ? iids : [IREMUNKNOWN2_UUID], clsid ? `activation of class ${clsid}` : 'activation');
  }

  private dcomEndpoints(bindings: StringBinding[], uuids: string[], what: string): void {
    for (const sb of bindings) {
      if (!isTcpBinding(sb)) continue;
      for (const uuid of uuids) this.dcomEndpoint(sb, uuid, what);
    }
  }

  private dcomEndpoint(sb: StringBinding, uuid: string, what: string): void {
    if (this.answers.length >= MAX_ANSWERS || !this.budget.take(ANSWER_COST)) {
      this.answersRefused++;
      return;
    }
    const ip = /^\d{1,3}(\.\d{1,3}){3}$/.test(sb.address) ? sb.address : null; // a host name: the server that answered
    this.answers.push({
      source: 'dcom',
      tower: { uuid, version: '0.0', protseq: 'ncacn_ip_tcp', port: sb.port, ip, name: ip ? null : sb.address },
      annotation: `${what}: ${sb.address}[${sb.port}]`,
      asked: null,
      sec: this.sec,
      nsec: this.nsec,
    });
  }

  /**
   * Adds one fragment's stub to its call (a first fragment starts it afresh) and
   * returns the call once its last fragment is in; null while more are due or
   * when the call went over its bound.
   */
  private collect(callId: number, flags: number, b: Uint8Array, from: number, to: number, proto: { opnum: number; ndr64: boolean; asked?: string | null }): Call | null {
    let call = this.calls.get(callId);
    if ((flags & PfcFlag.FirstFrag) !== 0 || !call) {
      if (call) this.budget.give(call.bytes);
      else if (this.calls.size >= MAX_CALLS) {
        this.note('too many outstanding EPM calls; some not followed');
        return null;
      }
      call = { opnum: proto.opnum, ndr64: proto.ndr64, asked: proto.asked ?? null, parts: [], bytes: 0 };
      this.calls.set(callId, call);
    }
    const n = Math.max(0, to - from);
    if (call.bytes + n > MAX_STUB || !this.budget.take(n)) {
      this.note(`call ${callId}: stub over ${MAX_STUB} bytes or reassembly budget exhausted; dropped`);
      this.dropCall(callId);
      return null;
    }
    call.parts.push(Buffer.from(b.subarray(from, from + n)));
    call.bytes += n;
    if ((flags & PfcFlag.LastFrag) === 0) return null;
    return call;
  }

  private dropCall(callId: number): void {
    const c = this.calls.get(callId);
    if (c) this.budget.give(c.bytes);
    this.calls.delete(callId);
  }
}

function ptypeName(t: number): string {
  switch (t) {
    case PType.Bind: return 'bind';
    case PType.BindAck: return 'bind_ack';
    case PType.AlterContext: return 'alter_context';
    case PType.AlterContextResp: return 'alter_context_resp';
    case PType.Request: return 'request';
    case PType.Response: return 'response';
    default: return `type ${t}`;
  }
}
