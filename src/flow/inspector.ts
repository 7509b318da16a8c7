/**
 * The hook later pipeline stages use to see a TCP flow's bytes. The flow table
 * knows nothing of DCE/RPC: the analyzer hands it a factory, and the factory
 * decides per flow whether to attach an inspector.
 *
 * Directions are relative to the flow's side A, the sender of its first packet.
 */
export interface FlowInspector {
  /**
   * One TCP segment as captured. `capLen` bytes are present at `off`; `wireLen` were
   * on the wire (fewer present means the snaplen cut them). Bytes are valid only
   * during the call. Reassembly is the inspector's job.
   *
   * Returns whether the inspector still wants the flow's bytes. The rule for when a
   * flow's payload stops being read: an inspector says false as soon as nothing
   * more on the flow can change its labels or the endpoint registry (a DCE/RPC
   * connection whose interface is bound, a TLS flow past its handshake); it has
   * released its buffers by then, and from that packet on the flow costs what a
   * port-only flow costs. Its findings stay readable for the flush.
   */
  segment(dir: number, seq: number, flags: number, buf: Buffer, off: number, capLen: number, wireLen: number, sec: number, nsec: number): boolean;
  /**
   * The side (0 = A, 1 = B) the payload showed acting as client — e.g. the sender
   * of a DCE/RPC bind — or -1. Consulted when the handshake is not in the capture,
   * before the port heuristics, which are wrong for dynamic ports.
   */
  clientSide?(): number;
}

export interface InspectorFactory {
  /** Attach by port (e.g. the endpoint mapper on 135): at the flow's first payload when `wantsPorts` is given, else at its first packet. */
  byPorts(portA: number, portB: number): FlowInspector | null;
  /**
   * Whether byPorts would attach an inspector to these ports: asked at a TCP flow's
   * first packet, so that the inspector itself is made only when payload arrives.
   */
  wantsPorts?(portA: number, portB: number): boolean;
  /** At the first payload of a TCP flow that has none yet: attach by what the bytes look like. */
  byPayload(dir: number, buf: Buffer, off: number, len: number): FlowInspector | null;
  /** At a UDP flow's first packet: attach by port (the endpoint mapper on UDP 135). Its datagrams come with seq 0. */
  byUdpPorts?(portA: number, portB: number): FlowInspector | null;
}
