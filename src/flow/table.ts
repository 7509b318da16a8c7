import { type DecodedPacket, TcpFlag } from '../decode/packet';
import { finalize, flowHash, mix } from './hash';
import type { FlowInspector, InspectorFactory } from './inspector';

/** Bytes of payload kept per direction for later stages (service sniffing, reports). */
export const PREFIX_BYTES = 64;
const KEY_WORDS = 10; // family|proto, a0..a3, b0..b3, portA<<16|portB

// Per-flow TCP state bits.
export const enum FlowState {
  FinA = 1,
  FinB = 2,
  Rst = 4,
  /** A data segment was seen before any SYN: the handshake began before the capture. */
  Midstream = 8,
  /** The snaplen cut some of the flow's payload. */
  SnapCut = 16,
  /** A SYN from side A / side B was seen and its sequence number kept in `synSeq` (for a pending inspector). */
  SynSeqA = 32,
  SynSeqB = 64,
  /** Done (TCP closed, or a UDP flow whose inspector decided) while holding an inspector: counted in `doneHeld`. */
  HeldDone = 128,
}

export const enum InspectState {
  Undecided = 0,
  Attached = 1,
  None = 2,
  /** The inspector had what it needed: no more bytes go to it (its findings stay for the flush). */
  Released = 3,
  /**
   * The ports ask for an inspector, which is made when the first payload arrives: a
   * flow that never carries payload (a SYN flood, a scan, a refused connection) costs
   * the typed arrays only, never an inspector object.
   */
  Pending = 4,
  /**
   * A flow that began before the capture whose first payload in one direction (5: from side A,
   * 6: from side B) named nothing: that payload may be the tail of a message cut by the capture's
   * start (a bind whose first segment is missing); the other direction's first payload is tried
   * once too (the server's bind_ack begins a PDU).
   */
  UndecidedNotA = 5,
  UndecidedNotB = 6,
}

export interface FlowTableOptions {
  /** Most flows held at once; more forces early flushes (memory stays flat). */
  capacity?: number;
  /** Seconds of capture time without packets after which a flow is written out. */
  idleTimeout?: number;
  /** Seconds a flow lingers after FIN from both sides or RST (late ACKs and retransmissions). */
  closedLinger?: number;
  /**
   * Most done flows (closed TCP, UDP exchanges whose inspector decided) that may wait
   * holding their inspector (default an eighth of the capacity). An inspector's facts cost
   * ~1-1.5 KB a flow; a flood of short sessions ends faster than a closed flow's linger or a
   * UDP flow's idle time, and would fill the table with them.
   */
  doneHeldLimit?: number;
  inspectors?: InspectorFactory | null;
}

export interface FlowTableStats {
  flowsCreated: number;
  flowsFlushed: number;
  /** Flows written out early because the table was full (the same 5-tuple may then appear twice). */
  forcedFlushes: number;
  /** Done flows written out before their linger or idle time ended, to bound what they hold (a late packet of one starts a new flow). */
  doneEarly: number;
  portReuse: number;
  fragmentsAttributed: number;
  fragmentsUnattributed: number;
  /** Flows whose inspector let go before the flow ended (it had decided). */
  inspectorsReleased: number;
  /** Flows some of whose payload the snaplen cut (counted at the first cut packet). */
  snapCutFlows: number;
}

/** Receives a flow just before its slot is reused. Read the table's arrays at `idx`. */
export type FlushHandler = (table: FlowTable, idx: number) => void;

const FRAG_SLOTS = 4096; // bounded: datagrams in flight at once, direct-mapped
const FRAG_WORDS = 10; // proto, id, src0..3, dst0..3

/**
 * Bidirectional flows in typed arrays with open addressing (linear probing and
 * backward-shift deletion). Flow storage (by index) is apart from the hash index
 * (slots), so indices stay stable while slots move. Nothing here allocates per packet.
 */
export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly slots: Int32Array; // flow index + 1; 0 = empty
  readonly keys: Uint32Array;
  /** Each flow's flowHash() (signed, as it returns it). */
  readonly hashOf: Int32Array;
  readonly live: Uint8Array;
  readonly gen: Uint32Array;
  readonly firstSec: Float64Array;
  readonly firstNsec: Float64Array;
  readonly lastSec: Float64Array;
  readonly lastNsec: Float64Array;
  /** [idx*2 + dir]: dir 0 from side A (the first packet's sender), 1 from side B. */
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly payload: Float64Array;
  /** Payload bytes on the wire that the capture did not hold (snaplen). */
  readonly payloadMissing: Float64Array;
  readonly tcpFlags: Uint8Array;
  readonly prefix: Uint8Array;
  readonly prefixLen: Uint8Array;
  /** Direction of the first SYN without ACK, or -1. */
  readonly synDir: Int8Array;
  /** Direction of the first SYN+ACK, or -1. */
  readonly synAckDir: Int8Array;
  readonly state: Uint8Array;
  readonly vlan: Int16Array;
  readonly tunnels: Uint8Array;
  readonly inspectState: Uint8Array;
  readonly inspectors: (FlowInspector | null)[];
  /** Payload bytes (captured) handed to the flow's inspector. */
  readonly inspectedBytes: Float64Array;
  /** [idx*2 + dir]: the sequence number of the first SYN from that side, while the inspector is pending. */
  private readonly synSeq: Uint32Array;
  /** Position (in the run) of the capture file a flow began in, and of the last one it was seen in. */
  readonly firstFile: Int32Array;
  readonly lastFile: Int32Array;
  /** The capture file being read now: one table spans the files of a stream. */
  currentFile = 0;
  private readonly freeList: Int32Array;
  private freeTop: number;
  private highWater = 0;
  liveCount = 0;

  readonly stats: FlowTableStats = {
    flowsCreated: 0,
    flowsFlushed: 0,
    forcedFlushes: 0,
    doneEarly: 0,
    portReuse: 0,
    fragmentsAttributed: 0,
    fragmentsUnattributed: 0,
    inspectorsReleased: 0,
    snapCutFlows: 0,
  };

  private readonly idleTimeout: number;
  private readonly closedLinger: number;
  private readonly doneHeldLimit: number;
  /** Done flows holding an inspector (state HeldDone). */
  private doneHeld = 0;
  /** Done flows (closed TCP, answered UDP exchanges) waiting to be written that hold their inspector. */
  get heldDone(): number {
    return this.doneHeld;
  }
  /** doneHeld past which done flows are written out early; raised when that finds too few quiet long enough. */
  private shedAt: number;
  private nextSweep = 0;
  /** The latest packet time seen (seconds): where a quiet live input's time goes on from. */
  private clock = 0;
  private readonly inspectorFactory: InspectorFactory | null;
  private onFlush: FlushHandler = () => {};

  private readonly fragKeys = new Uint32Array(FRAG_SLOTS * FRAG_WORDS);
  private readonly fragFlow = new Int32Array(FRAG_SLOTS).fill(-1);
  private readonly fragGen = new Uint32Array(FRAG_SLOTS);
  private readonly fragDir = new Uint8Array(FRAG_SLOTS);

  constructor(opts: FlowTableOptions = {}) {
    const cap = opts.capacity ?? 131072;
    this.capacity = cap;
    let n = 1;
    while (n < cap * 2) n <<= 1;
    this.mask = n - 1;
    this.slots = new Int32Array(n);
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.hashOf = new Int32Array(cap);
    this.live = new Uint8Array(cap);
    this.gen = new Uint32Array(cap);
    this.firstSec = new Float64Array(cap);
    this.firstNsec = new Float64Array(cap);
    this.lastSec = new Float64Array(cap);
    this.lastNsec = new Float64Array(cap);
    this.packets = new Float64Array(cap * 2);
    this.bytes = new Float64Array(cap * 2);
    this.payload = new Float64Array(cap * 2);
    this.payloadMissing = new Float64Array(cap * 2);
    this.tcpFlags = new Uint8Array(cap * 2);
    this.prefix = new Uint8Array(cap * 2 * PREFIX_BYTES);
    this.prefixLen = new Uint8Array(cap * 2);
    this.synDir = new Int8Array(cap);
    this.synAckDir = new Int8Array(cap);
    this.state = new Uint8Array(cap);
    this.vlan = new Int16Array(cap);
    this.tunnels = new Uint8Array(cap);
    this.inspectState = new Uint8Array(cap);
    this.inspectors = new Array<FlowInspector | null>(cap).fill(null);
    this.inspectedBytes = new Float64Array(cap);
    this.synSeq = new Uint32Array(cap * 2);
    this.firstFile = new Int32Array(cap);
    this.lastFile = new Int32Array(cap);
    this.freeList = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.freeList[i] = cap - 1 - i;
    this.freeTop = cap;
    this.idleTimeout = opts.idleTimeout ?? 900;
    this.closedLinger = opts.closedLinger ?? 60;
    this.doneHeldLimit = Math.max(1, opts.doneHeldLimit ?? cap >> 3);
    this.shedAt = this.doneHeldLimit;
    this.inspectorFactory = opts.inspectors ?? null;
  }

  setFlushHandler(h: FlushHandler): void {
    this.onFlush = h;
  }

  /** Accounts one decoded TCP/UDP packet (or first fragment); `h` is its flowHash(). Returns the flow index. */
  add(p: DecodedPacket, sec: number, nsec: number, wireLen: number, buf: Buffer, h: number = flowHash(p)): number {
    if (sec >= this.nextSweep) this.sweep(sec);
    if (sec > this.clock) this.clock = sec;
    const famProto = (p.family << 8) | p.proto;
    const keys = this.keys;
    const mask = this.mask;
    let s = h & mask;
    let idx = -1;
    let dir = 0;
    for (;;) {
      const v = this.slots[s];
      if (v === 0) break;
      const i = v - 1;
      if (this.hashOf[i] === h) {
        const k = i * KEY_WORDS;
        if (keys[k] === famProto) {
          if (keys[k + 1] === p.src0 && keys[k + 2] === p.src1 && keys[k + 3] === p.src2 && keys[k + 4] === p.src3 &&
              keys[k + 5] === p.dst0 && keys[k + 6] === p.dst1 && keys[k + 7] === p.dst2 && keys[k + 8] === p.dst3 &&
              keys[k + 9] === ((p.sport << 16) | p.dport) >>> 0) {
            idx = i;
            dir = 0;
            break;
          }
          if (keys[k + 1] === p.dst0 && keys[k + 2] === p.dst1 && keys[k + 3] === p.dst2 && keys[k + 4] === p.dst3 &&
              keys[k + 5] === p.src0 && keys[k + 6] === p.src1 && keys[k + 7] === p.src2 && keys[k + 8] === p.src3 &&
              keys[k + 9] === ((p.dport << 16) | p.sport) >>> 0) {
            idx = i;
            dir = 1;
            break;
          }
        }
      }
      s = (s + 1) & mask;
    }

    const flags = p.tcpFlags;
    const isTcp = p.proto === 6;
    if (idx >= 0 && isTcp && (flags & (TcpFlag.Syn | TcpFlag.Ack)) === TcpFlag.Syn && this.synDir[idx] >= 0 && this.isClosed(idx)) {
      // A new SYN on a closed connection: the 5-tuple is being reused, start a new flow.
      this.stats.portReuse++;
      this.release(idx);
      idx = -1;
    }
    if (idx < 0) {
      idx = this.create(p, h, famProto, sec, nsec);
      dir = 0;
    }

    const d = idx * 2 + dir;
    this.lastSec[idx] = sec;
    this.lastNsec[idx] = nsec;
    this.lastFile[idx] = this.currentFile;
    this.packets[d]++;
    this.bytes[d] += wireLen;
    const plen = p.payloadLen;
    this.payload[d] += p.payloadWireLen;
    if (p.payloadWireLen > plen) {
      this.payloadMissing[d] += p.payloadWireLen - plen;
      if ((this.state[idx] & FlowState.SnapCut) === 0) {
        this.state[idx] |= FlowState.SnapCut;
        this.stats.snapCutFlows++;
      }
    }
    if (plen > 0) {
      const have = this.prefixLen[d];
      if (have < PREFIX_BYTES) {
        const take = plen < PREFIX_BYTES - have ? plen : PREFIX_BYTES - have;
        const at = d * PREFIX_BYTES + have;
        for (let j = 0; j < take; j++) this.prefix[at + j] = buf[p.payloadOff + j];
        this.prefixLen[d] = have + take;
      }
    }
    if (isTcp) {
      this.tcpFlags[d] |= flags;
      if ((flags & TcpFlag.Syn) !== 0) {
        if ((flags & TcpFlag.Ack) === 0) {
          if (this.synDir[idx] < 0) this.synDir[idx] = dir;
        } else if (this.synAckDir[idx] < 0) this.synAckDir[idx] = dir;
      } else if (plen > 0 && this.synDir[idx] < 0 && this.synAckDir[idx] < 0) {
        this.state[idx] |= FlowState.Midstream;
      }
      if ((flags & TcpFlag.Fin) !== 0) this.state[idx] |= dir === 0 ? FlowState.FinA : FlowState.FinB;
      if ((flags & TcpFlag.Rst) !== 0) this.state[idx] |= FlowState.Rst;
      let ist = this.inspectState[idx];
      if (ist === InspectState.Pending) {
        if (plen > 0) ist = this.attachPending(idx, buf, p.payloadOff, sec, nsec);
        else if ((flags & TcpFlag.Syn) !== 0) {
          const bit = dir === 0 ? FlowState.SynSeqA : FlowState.SynSeqB;
          if ((this.state[idx] & bit) === 0) {
            this.state[idx] |= bit;
            this.synSeq[d] = p.seq;
          }
        }
      }
      if (ist === InspectState.Attached) {
        this.inspect(idx, this.inspectors[idx]!, dir, p.seq, flags, buf, p.payloadOff, plen, p.payloadWireLen, sec, nsec);
      } else if (plen > 0 && (ist === InspectState.Undecided || ist === (dir === 0 ? InspectState.UndecidedNotB : InspectState.UndecidedNotA))) {
        const ins = this.inspectorFactory!.byPayload(dir, buf, p.payloadOff, plen);
        if (ins) {
          this.inspectors[idx] = ins;
          this.inspectState[idx] = InspectState.Attached;
          this.inspect(idx, ins, dir, p.seq, flags, buf, p.payloadOff, plen, p.payloadWireLen, sec, nsec);
        } else if (ist === InspectState.Undecided && (this.state[idx] & FlowState.Midstream) !== 0) {
          this.inspectState[idx] = dir === 0 ? InspectState.UndecidedNotA : InspectState.UndecidedNotB;
        } else this.inspectState[idx] = InspectState.None;
      }
    } else if (this.inspectState[idx] === InspectState.Attached && plen > 0) {
      // A UDP flow with an inspector (the mapper on 135): each datagram as it comes.
      this.inspect(idx, this.inspectors[idx]!, dir, 0, 0, buf, p.payloadOff, plen, p.payloadWireLen, sec, nsec);
    }
    if (isTcp && (flags & (TcpFlag.Fin | TcpFlag.Rst)) !== 0 && this.isClosed(idx)) this.holdDone(idx, sec);
    if (p.firstFragment) this.rememberFragment(p, idx, dir);
    return idx;
  }

  /**
   * A flow is done (TCP: FIN from both sides, or RST; UDP: its inspector decided) and holds
   * its inspector's facts until written: counted, and past the limit the done flows quiet
   * the longest are written out before their linger or idle time ends.
   */
  private holdDone(idx: number, sec: number): void {
    const st = this.state[idx];
    if ((st & FlowState.HeldDone) !== 0 || this.inspectors[idx] === null) return;
    this.state[idx] = st | FlowState.HeldDone;
    if (++this.doneHeld > this.shedAt) this.shedDone(sec, idx);
  }

  /**
   * Writes out done flows that hold an inspector, those quiet the longest first, until a
   * quarter of the limit is free. Only flows quiet for about a second or more: a flow that
   * closed this very second may still see its last ACK, which would start a new flow.
   * `current`, the flow whose packet is being added, stays (its packet is not done with it).
   */
  private shedDone(sec: number, current: number): void {
    const want = this.doneHeldLimit - (this.doneHeldLimit >> 2);
    let window = this.closedLinger;
    while (this.doneHeld > want && window >= 1) {
      window /= 2;
      const before = sec - window;
      for (let i = 0; i < this.highWater && this.doneHeld > want; i++) {
        if (this.live[i] && this.holdsDone(i) && this.lastSec[i] < before) {
          this.stats.doneEarly++;
          this.release(i);
        }
      }
    }
    // A UDP exchange has no last ACK to wait for: the rest may go now (a burst that ends
    // faster than a second — a DNS flood's answers).
    for (let i = 0; i < this.highWater && this.doneHeld > want; i++) {
      if (i !== current && this.live[i] && this.holdsDone(i) && this.isUdp(i)) {
        this.stats.doneEarly++;
        this.release(i);
      }
    }
    // Too few were quiet long enough: look again only after another quarter of the limit.
    this.shedAt = Math.max(this.doneHeldLimit, this.doneHeld + (this.doneHeldLimit >> 2));
  }

  /**
   * Makes a pending flow's inspector at its first payload and hands it the SYNs it
   * missed (their sequence numbers start its streams), so it reads exactly what it
   * would have read had it been made at the first packet. Returns the new state.
   */
  private attachPending(idx: number, buf: Buffer, off: number, sec: number, nsec: number): InspectState {
    const ports = this.keys[idx * KEY_WORDS + 9];
    const ins = this.inspectorFactory!.byPorts(ports >>> 16, ports & 0xffff);
    if (!ins) {
      this.inspectState[idx] = InspectState.Undecided;
      return InspectState.Undecided;
    }
    this.inspectors[idx] = ins;
    this.inspectState[idx] = InspectState.Attached;
    const st = this.state[idx];
    for (let dir = 0; dir < 2; dir++) {
      if ((st & (dir === 0 ? FlowState.SynSeqA : FlowState.SynSeqB)) === 0) continue;
      const synFlags = this.synAckDir[idx] === dir ? TcpFlag.Syn | TcpFlag.Ack : TcpFlag.Syn;
      this.inspect(idx, ins, dir, this.synSeq[idx * 2 + dir], synFlags, buf, off, 0, 0, sec, nsec);
    }
    return this.inspectState[idx] as InspectState;
  }

  private inspect(idx: number, ins: FlowInspector, dir: number, seq: number, flags: number, buf: Buffer, off: number, plen: number, wireLen: number, sec: number, nsec: number): void {
    this.inspectedBytes[idx] += plen;
    if (!ins.segment(dir, seq, flags, buf, off, plen, wireLen, sec, nsec)) {
      this.inspectState[idx] = InspectState.Released;
      this.stats.inspectorsReleased++;
      // A UDP exchange whose inspector has decided (a KDC request and its reply) is done as a closed TCP flow is.
      if (this.isUdp(idx)) this.holdDone(idx, sec);
    }
  }

  /**
   * A TCP/UDP packet of another share's flow went by (threads): the clock that writes out
   * idle flows moves with every packet, as it does with one thread, so that each share
   * writes its flows out at the packets one table would.
   */
  tick(sec: number): void {
    if (sec >= this.nextSweep) this.sweep(sec);
    if (sec > this.clock) this.clock = sec;
  }

  /**
   * A live run's commit (--flush-interval of wall-clock time): what has ended is written out now.
   * Time goes on while the input is quiet (`quietSeconds` of wall clock since its last packet:
   * packet time alone would stand still, and a flow idle for an hour would wait for the next
   * packet); done flows (closed TCP, decided UDP exchanges) quiet for a second are written without
   * their linger — a late ACK after that starts a flow of its own, as under memory pressure.
   */
  settleLive(quietSeconds: number): void {
    if (this.highWater === 0) return;
    const sec = this.clock + Math.max(0, quietSeconds);
    this.sweep(sec);
    for (let i = 0; i < this.highWater; i++) {
      // Not counted as doneEarly: that warns of memory pressure, and this is what a live run is for.
      if (this.live[i] && this.lastSec[i] < sec - 1 && (this.holdsDone(i) || this.isClosed(i))) this.release(i);
    }
  }

  /**
   * Another share's flow took this first fragment's slot (threads): with one table its
   * entry would replace whatever the slot held, so the later fragments of that
   * datagram must find nothing here.
   */
  forgetFragmentSlot(p: DecodedPacket): void {
    this.fragFlow[this.fragSlot(p)] = -1;
  }

  /** Accounts a later IP fragment to the flow its first fragment opened, if known. */
  addFragment(p: DecodedPacket, sec: number, nsec: number, wireLen: number): boolean {
    const slot = this.fragSlot(p);
    const k = slot * FRAG_WORDS;
    const fk = this.fragKeys;
    const idx = this.fragFlow[slot];
    if (idx < 0 || this.gen[idx] !== this.fragGen[slot] || !this.live[idx] ||
        fk[k] !== p.proto || fk[k + 1] !== p.ipId ||
        fk[k + 2] !== p.src0 || fk[k + 3] !== p.src1 || fk[k + 4] !== p.src2 || fk[k + 5] !== p.src3 ||
        fk[k + 6] !== p.dst0 || fk[k + 7] !== p.dst1 || fk[k + 8] !== p.dst2 || fk[k + 9] !== p.dst3) {
      this.stats.fragmentsUnattributed++;
      return false;
    }
    const d = idx * 2 + this.fragDir[slot];
    this.packets[d]++;
    this.bytes[d] += wireLen;
    this.lastSec[idx] = sec;
    this.lastNsec[idx] = nsec;
    this.lastFile[idx] = this.currentFile;
    this.stats.fragmentsAttributed++;
    return true;
  }

  private fragSlot(p: DecodedPacket): number {
    const h = finalize(mix(mix(mix(mix(p.ipId, p.src3), p.dst3), p.src0 ^ p.dst0), p.proto));
    return h & (FRAG_SLOTS - 1);
  }

  private rememberFragment(p: DecodedPacket, idx: number, dir: number): void {
    const slot = this.fragSlot(p);
    const k = slot * FRAG_WORDS;
    const fk = this.fragKeys;
    fk[k] = p.proto; fk[k + 1] = p.ipId;
    fk[k + 2] = p.src0; fk[k + 3] = p.src1; fk[k + 4] = p.src2; fk[k + 5] = p.src3;
    fk[k + 6] = p.dst0; fk[k + 7] = p.dst1; fk[k + 8] = p.dst2; fk[k + 9] = p.dst3;
    this.fragFlow[slot] = idx;
    this.fragGen[slot] = this.gen[idx];
    this.fragDir[slot] = dir;
  }

  private create(p: DecodedPacket, h: number, famProto: number, sec: number, nsec: number): number {
    if (this.freeTop === 0) this.makeRoom(sec);
    const idx = this.freeList[--this.freeTop];
    if (idx >= this.highWater) this.highWater = idx + 1;
    const k = idx * KEY_WORDS;
    const keys = this.keys;
    keys[k] = famProto;
    keys[k + 1] = p.src0; keys[k + 2] = p.src1; keys[k + 3] = p.src2; keys[k + 4] = p.src3;
    keys[k + 5] = p.dst0; keys[k + 6] = p.dst1; keys[k + 7] = p.dst2; keys[k + 8] = p.dst3;
    keys[k + 9] = ((p.sport << 16) | p.dport) >>> 0;
    this.hashOf[idx] = h;
    this.live[idx] = 1;
    this.gen[idx]++;
    this.firstSec[idx] = sec;
    this.firstNsec[idx] = nsec;
    this.firstFile[idx] = this.currentFile;
    const d = idx * 2;
    this.packets[d] = 0; this.packets[d + 1] = 0;
    this.bytes[d] = 0; this.bytes[d + 1] = 0;
    this.payload[d] = 0; this.payload[d + 1] = 0;
    this.payloadMissing[d] = 0; this.payloadMissing[d + 1] = 0;
    this.tcpFlags[d] = 0; this.tcpFlags[d + 1] = 0;
    this.prefixLen[d] = 0; this.prefixLen[d + 1] = 0;
    this.synDir[idx] = -1;
    this.synAckDir[idx] = -1;
    this.state[idx] = 0;
    this.vlan[idx] = p.vlan;
    this.tunnels[idx] = p.tunnels;
    this.inspectors[idx] = null;
    this.inspectedBytes[idx] = 0;
    let ist = InspectState.None;
    if (p.proto === 6 && this.inspectorFactory?.wantsPorts) {
      ist = this.inspectorFactory.wantsPorts(p.sport, p.dport) ? InspectState.Pending : InspectState.Undecided;
    } else if (p.proto === 6 && this.inspectorFactory) {
      const ins = this.inspectorFactory.byPorts(p.sport, p.dport);
      if (ins) {
        this.inspectors[idx] = ins;
        ist = InspectState.Attached;
      } else ist = InspectState.Undecided;
    } else if (p.proto === 17 && this.inspectorFactory?.byUdpPorts) {
      const ins = this.inspectorFactory.byUdpPorts(p.sport, p.dport);
      if (ins) {
        this.inspectors[idx] = ins;
        ist = InspectState.Attached;
      }
    }
    this.inspectState[idx] = ist;
    let s = h & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = idx + 1;
    this.liveCount++;
    this.stats.flowsCreated++;
    return idx;
  }

  /** Writes the flow out (flush handler) and frees its index and slot. */
  private release(idx: number): void {
    if (this.holdsDone(idx)) this.doneHeld--;
    this.onFlush(this, idx);
    this.stats.flowsFlushed++;
    this.live[idx] = 0;
    this.inspectors[idx] = null;
    this.liveCount--;
    this.freeList[this.freeTop++] = idx;
    // Find the slot, then backward-shift the cluster after it so probes stay correct.
    const mask = this.mask;
    let i = this.hashOf[idx] & mask;
    while (this.slots[i] !== idx + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = this.slots[j];
      if (v === 0) break;
      const home = this.hashOf[v - 1] & mask;
      // Move v back to i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? i < home && home <= j : i < home || home <= j;
      if (inRange) continue;
      this.slots[i] = v;
      i = j;
    }
    this.slots[i] = 0;
  }

  /** Writes out flows that are idle, or closed and past their linger time. */
  sweep(sec: number): void {
    this.nextSweep = sec + 10;
    const idleBefore = sec - this.idleTimeout;
    const closedBefore = sec - this.closedLinger;
    for (let i = 0; i < this.highWater; i++) {
      if (!this.live[i]) continue;
      const last = this.lastSec[i];
      if (last < idleBefore || (last < closedBefore && this.isClosed(i))) this.release(i);
    }
  }

  private isUdp(i: number): boolean {
    return (this.keys[i * KEY_WORDS] & 0xff) === 17;
  }

  /** A done flow (closed TCP, a UDP exchange whose inspector decided) counted in doneHeld. */
  private holdsDone(i: number): boolean {
    return (this.state[i] & FlowState.HeldDone) !== 0;
  }

  private isClosed(i: number): boolean {
    const st = this.state[i];
    return (st & FlowState.Rst) !== 0 || (st & (FlowState.FinA | FlowState.FinB)) === (FlowState.FinA | FlowState.FinB);
  }

  /**
   * The table is full: write out done flows quiet for a second or more (closed TCP flows'
   * linger cut short, answered UDP exchanges), then the least recently active flows, until
   * an eighth is free.
   */
  private makeRoom(sec: number): void {
    this.sweep(sec);
    const want = this.capacity >> 3;
    for (let i = 0; i < this.highWater && this.freeTop < want; i++) {
      if (this.live[i] && this.lastSec[i] < sec - 1 && (this.holdsDone(i) || this.isClosed(i))) {
        this.stats.doneEarly++;
        this.release(i);
      }
    }
    let window = this.idleTimeout;
    while (this.freeTop < want && window >= 1) {
      window /= 4;
      const before = sec - window;
      for (let i = 0; i < this.highWater && this.freeTop < want; i++) {
        if (this.live[i] && this.lastSec[i] < before) {
          this.stats.forcedFlushes++;
          this.release(i);
        }
      }
    }
    // Everything is active this very second: write out the lowest indices.
    for (let i = 0; i < this.highWater && this.freeTop < want; i++) {
      if (this.live[i]) {
        this.stats.forcedFlushes++;
        this.release(i);
      }
    }
  }

  /** Writes out every flow (end of input). */
  flushAll(): void {
    for (let i = 0; i < this.highWater; i++) if (this.live[i]) this.release(i);
    this.highWater = 0;
    // The next stream (--separate) may lie at any time: its first packet sets the sweep clock.
    this.nextSweep = 0;
  }
}
