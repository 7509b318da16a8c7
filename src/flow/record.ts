import { addressToString } from '../decode/addr';
import { TcpFlag } from '../decode/packet';
import type { FlowInspector } from './inspector';
import { FlowState, PREFIX_BYTES, type FlowTable } from './table';

/** How the client side of a flow was decided. 'rpc-endpoint' is set after a run, when the registry overrules a guess. */
export type DirectionBy = 'syn' | 'syn-ack' | 'payload' | 'rpc-endpoint' | 'service-port' | 'lower-port' | 'first-packet';

/** A summary of what the TCP flags say about a connection. */
export type TcpState =
  | 'syn-only' // SYN, never answered
  | 'rejected' // SYN answered by RST
  | 'established' // handshake seen, no close yet
  | 'closed' // handshake seen, FIN from both sides
  | 'reset' // handshake seen, then RST
  | 'midstream'; // no handshake in the capture (began before it started)

/** One flow as written out: per-flow code, so plain objects and strings are fine. */
export interface FlowRecord {
  transport: 'tcp' | 'udp';
  family: 4 | 6;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  directionBy: DirectionBy;
  firstSec: number;
  firstNsec: number;
  lastSec: number;
  lastNsec: number;
  packetsC2S: number;
  packetsS2C: number;
  bytesC2S: number;
  bytesS2C: number;
  payloadC2S: number;
  payloadS2C: number;
  /** Payload bytes the snaplen cut off, per direction. */
  missingC2S: number;
  missingS2C: number;
  tcpState: TcpState | null;
  vlan: number | null;
  tunnels: number;
  /** First payload bytes each way: views into the flow table, valid only while the flow is being flushed. */
  prefixC2S: Uint8Array;
  prefixS2C: Uint8Array;
  inspector: FlowInspector | null;
  /** Payload bytes the inspector was given (it may have let go before the flow ended). */
  inspectedBytes: number;
  /** Which table side (0 = A, the first packet's sender) is the client. */
  clientSide: 0 | 1;
}

/** Decides whether a port is a known service port (from the rules), for flows without a handshake. */
export type ServicePortTest = (transport: 'tcp' | 'udp', port: number) => boolean;

export function buildFlowRecord(t: FlowTable, idx: number, isServicePort: ServicePortTest): FlowRecord {
  const k = idx * 10;
  const famProto = t.keys[k];
  const family = (famProto >>> 8) as 4 | 6;
  const transport = (famProto & 0xff) === 6 ? 'tcp' : 'udp';
  const ports = t.keys[k + 9];
  const portA = ports >>> 16;
  const portB = ports & 0xffff;

  let clientSide: 0 | 1 = 0;
  let directionBy: DirectionBy;
  const payloadClient = t.inspectors[idx]?.clientSide?.() ?? -1;
  if (t.synDir[idx] >= 0) {
    clientSide = t.synDir[idx] as 0 | 1;
    directionBy = 'syn';
  } else if (t.synAckDir[idx] >= 0) {
    clientSide = (1 - t.synAckDir[idx]) as 0 | 1;
    directionBy = 'syn-ack';
  } else if (payloadClient >= 0) {
    clientSide = payloadClient as 0 | 1;
    directionBy = 'payload';
  } else {
    const aService = isServicePort(transport, portA);
    const bService = isServicePort(transport, portB);
    if (aService !== bService) {
      clientSide = aService ? 1 : 0;
      directionBy = 'service-port';
    } else if (portA !== portB) {
      clientSide = portA > portB ? 0 : 1;
      directionBy = 'lower-port';
    } else directionBy = 'first-packet';
  }
  const c = clientSide;
  const s = 1 - c;
  const addrA = addressToString(family, t.keys[k + 1], t.keys[k + 2], t.keys[k + 3], t.keys[k + 4]);
  const addrB = addressToString(family, t.keys[k + 5], t.keys[k + 6], t.keys[k + 7], t.keys[k + 8]);
  const d = idx * 2;
  // Views into the table, not copies: valid during the flush call (the writer copies them).
  const prefix = (dir: number): Uint8Array => {
    const at = (d + dir) * PREFIX_BYTES;
    return t.prefix.subarray(at, at + t.prefixLen[d + dir]);
  };
  return {
    transport,
    family,
    client: c === 0 ? addrA : addrB,
    clientPort: c === 0 ? portA : portB,
    server: c === 0 ? addrB : addrA,
    serverPort: c === 0 ? portB : portA,
    directionBy,
    firstSec: t.firstSec[idx],
    firstNsec: t.firstNsec[idx],
    lastSec: t.lastSec[idx],
    lastNsec: t.lastNsec[idx],
    packetsC2S: t.packets[d + c],
    packetsS2C: t.packets[d + s],
    bytesC2S: t.bytes[d + c],
    bytesS2C: t.bytes[d + s],
    payloadC2S: t.payload[d + c],
    payloadS2C: t.payload[d + s],
    missingC2S: t.payloadMissing[d + c],
    missingS2C: t.payloadMissing[d + s],
    tcpState: transport === 'tcp' ? tcpState(t, idx, c) : null,
    vlan: t.vlan[idx] >= 0 ? t.vlan[idx] : null,
    tunnels: t.tunnels[idx],
    prefixC2S: prefix(c),
    prefixS2C: prefix(s),
    inspector: t.inspectors[idx],
    inspectedBytes: t.inspectedBytes[idx],
    clientSide,
  };
}

function tcpState(t: FlowTable, idx: number, c: number): TcpState {
  const st = t.state[idx];
  const d = idx * 2;
  const serverFlags = t.tcpFlags[d + 1 - c];
  const rst = (st & FlowState.Rst) !== 0;
  const handshake = t.synDir[idx] >= 0 && t.synAckDir[idx] >= 0;
  if (t.synDir[idx] >= 0 && !handshake) {
    if (rst && (serverFlags & TcpFlag.Rst) !== 0) return 'rejected';
    if (t.packets[d + 1 - c] === 0 || (serverFlags & TcpFlag.Ack) === 0) return 'syn-only';
  }
  if (!handshake && t.synDir[idx] < 0 && t.synAckDir[idx] < 0) return 'midstream';
  if (rst) return 'reset';
  if ((st & (FlowState.FinA | FlowState.FinB)) === (FlowState.FinA | FlowState.FinB)) return 'closed';
  return 'established';
}
