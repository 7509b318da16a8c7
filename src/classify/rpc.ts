// Naming RPC flows. Two moments: when a flow is written out, its own binds decide
// (the authority for that connection); after the capture is in, flows without a
// bind are named from the endpoint registry — whatever the mapper said, whenever
// it said it — so a connection that began before the map was captured, or whose
// map happened before the capture started, is still named.

import { RpcMode, type RpcConnection } from '../inspect/dcerpc/connection';
import type { SmbPipes } from '../inspect/dcerpc/smb';
import type { BoundInterface } from '../inspect/dcerpc/binds';
import { REBINDING_UUIDS } from '../inspect/dcerpc/dcom';
import { EPM_UUID } from '../inspect/dcerpc/syntax';
import { uuidAt } from '../inspect/dcerpc/wire';
import type { FlowRecord } from '../flow/record';
import type { RuleSet } from '../rules/load';
import type { FlowLabels } from './labels';

/** The service for flows on an RPC endpoint whose interface exflow cannot name. */
export const RPC_UNNAMED_SERVICE = 'rpc-dynamic';

export function interfaceName(rules: RuleSet, uuid: string): string {
  return rules.rpcInterfaces.get(uuid)?.name ?? uuid;
}

/**
 * Labels from the flow's own DCE/RPC conversation, on top of its port labels.
 * A bind (accepted, or unanswered in the capture) names the connection; several
 * interfaces on one connection are all listed in the note, the first one names it.
 */
export function labelFromConnection(rules: RuleSet, conn: RpcConnection, byPort: FlowLabels): FlowLabels {
  const notes = [...conn.notes];
  for (const u of conn.notRegistered) notes.push(`ept_map: ${interfaceName(rules, u)} not registered on the server (status 0x16c9a0d6)`);
  const accepted = conn.interfaces.filter((i) => i.accepted === true);
  const unanswered = conn.interfaces.filter((i) => i.accepted === null);
  const rejected = conn.interfaces.filter((i) => i.accepted === false);
  const chosen = accepted.length > 0 ? accepted : unanswered;
  if (chosen.length === 0) {
    if (rejected.length > 0) notes.unshift(`bind rejected: ${rejected.map((i) => interfaceName(rules, i.uuid)).join(', ')}`);
    const mapperCalls = conn.answers.length > 0 || conn.notRegistered.length > 0;
    const mapper = rules.rpcInterfaces.get(EPM_UUID);
    const epm = mapperCalls && mapper?.service === byPort.service ? mapper : undefined;
    // Attached by payload: the first bytes were a DCE/RPC header, so it is RPC even when nothing more could be read.
    const byPayload = conn.mode === RpcMode.Plain && byPort.service === null;
    // A bind may be in the capture and cut: the note says which it was.
    if (byPayload) notes.unshift(conn.cutBySnaplen ? 'DCE/RPC header seen; the interface could not be read: the snaplen cut the bind' : 'DCE/RPC header seen; no bind in the capture');
    return {
      ...byPort,
      service: byPayload ? RPC_UNNAMED_SERVICE : byPort.service,
      via: byPayload ? 'payload' : byPort.via,
      rpcInterface: epm ? epm.name : byPort.rpcInterface,
      rpcUuid: epm ? epm.uuid : byPort.rpcUuid,
      rpcNote: joinNotes(byPort.rpcNote, notes),
    };
  }
  // The interface that decides the service: the first that is not DCOM's reference
  // machinery (IRemUnknown2 is bound first on every object exporter connection; the
  // object's own interface, e.g. IWbemLevel1Login for WMI, follows by alter_context).
  const objects = chosen.filter((i) => !REBINDING_UUIDS.has(i.uuid));
  const inRules = (i: BoundInterface) => rules.rpcInterfaces.has(i.uuid);
  const first = objects.find(inRules) ?? chosen.find(inRules) ?? objects[0] ?? chosen[0];
  const known = rules.rpcInterfaces.get(first.uuid);
  if (accepted.length === 0 && !first.guessed) notes.unshift('bind answer not captured');
  if (chosen.length > 1) notes.unshift(`interfaces on this connection: ${chosen.map((i) => interfaceName(rules, i.uuid)).join(', ')}`);
  if (!known) notes.unshift(`interface ${first.uuid} v${first.version} is not in rules/rpc-interfaces.yaml`);
  if (first.ndr64) notes.push('NDR64');
  return {
    service: known ? known.service : byPort.service ?? RPC_UNNAMED_SERVICE,
    via: first.guessed ? 'payload' : 'bind',
    rpcInterface: known ? known.name : null,
    rpcUuid: first.uuid,
    rpcNote: joinNotes(null, notes),
    rpcUuids: chosen.map((i) => i.uuid),
    rpcInterfaces: chosen.map((i) => rules.rpcInterfaces.get(i.uuid)?.name ?? i.uuid),
  };
}

/**
 * An SMB connection keeps its service (the transport is SMB); the interfaces
 * bound over its named pipes are named in rpc_interface (the first) and the note (all).
 */
export function labelFromPipes(rules: RuleSet, pipes: SmbPipes, byPort: FlowLabels): FlowLabels {
  const bound = pipes.interfaces.filter((i) => i.accepted !== false);
  const notes = [...pipes.notes];
  if (bound.length > 0) notes.unshift(`DCE/RPC over SMB named pipes: ${bound.map((i) => interfaceName(rules, i.uuid)).join(', ')}`);
  const first = bound[0];
  return {
    ...byPort,
    rpcInterface: first ? (rules.rpcInterfaces.get(first.uuid)?.name ?? null) : null,
    rpcUuid: first ? first.uuid : null,
    rpcNote: joinNotes(byPort.rpcNote, notes),
    ...(bound.length > 0 ? { rpcUuids: bound.map((i) => i.uuid), rpcInterfaces: bound.map((i) => rules.rpcInterfaces.get(i.uuid)?.name ?? i.uuid) } : {}),
  };
}

/**
 * Connectionless DCE/RPC (ncadg_ip_udp, C706 12.5): every packet's 80-byte header
 * names the interface at offset 24, so the first client bytes are enough.
 */
export function labelConnectionless(rules: RuleSet, f: FlowRecord, byPort: FlowLabels): FlowLabels | null {
  const p = f.prefixC2S.length >= 40 ? f.prefixC2S : f.prefixS2C;
  if (f.transport !== 'udp' || p.length < 40 || p[0] !== 4 || p[1] > 10 || (p[4] & 0xee) !== 0) return null;
  const uuid = uuidAt(p, 24, (p[4] & 0x10) !== 0);
  const known = rules.rpcInterfaces.get(uuid);
  return {
    service: known ? known.service : byPort.service ?? RPC_UNNAMED_SERVICE,
    via: 'payload',
    rpcInterface: known ? known.name : null,
    rpcUuid: uuid,
    rpcNote: 'connectionless DCE/RPC (ncadg_ip_udp): interface from the packet header',
  };
}

/** One registry row as the post-capture pass sees it. */
export interface EndpointCandidate {
  streamId: number;
  uuid: string;
  source: 'ept_map' | 'ept_lookup' | 'bind' | 'dcom';
  sec: number;
  nsec: number;
  client: string | null;
}

/** The flow fields the post-capture pass needs. */
export interface UnboundFlow {
  streamId: number;
  client: string;
  firstSec: number;
  firstNsec: number;
  service: string | null;
  via: string | null;
}

/**
 * Names a flow that carried no bind from the endpoints registered for its server
 * address and port. Most specific first: the same client's ept_map answer just
 * before the flow; any ept_map answer; a DCOM OXID resolver answer; a bind on
 * another connection; an ept_lookup listing. Entries from the flow's own stream are preferred. When the
 * best level still names several interfaces, the flow gets their common service
 * (or rpc-dynamic) and a note listing them, not a guess.
 */
export function labelFromEndpoints(rules: RuleSet, f: UnboundFlow, all: EndpointCandidate[]): FlowLabels | null {
  // The flow's own stream (one capture, or the files of one run read as one) first.
  const own = all.filter((c) => c.streamId === f.streamId);
  const cands = own.length > 0 ? own : all;
  if (cands.length === 0) return null;
  const before = (c: EndpointCandidate) => c.sec < f.firstSec || (c.sec === f.firstSec && c.nsec <= f.firstNsec);
  const sameClientMaps = cands.filter((c) => c.source === 'ept_map' && c.client === f.client && before(c));
  let level: EndpointCandidate[] = [];
  let how = '';
  if (sameClientMaps.length > 0) {
    const latest = sameClientMaps.reduce((a, b) => (b.sec > a.sec || (b.sec === a.sec && b.nsec > a.nsec) ? b : a));
    level = [latest];
    how = 'ept_map answer to this client before the connection';
  } else {
    for (const [src, text] of [
      ['ept_map', 'ept_map answer'],
      ['dcom', 'a DCOM answer (OXID resolver or activation: the object exporter\'s string binding)'],
      ['bind', 'bind seen on another connection to this endpoint'],
      ['ept_lookup', 'ept_lookup listing'],
    ] as const) {
      level = cands.filter((c) => c.source === src);
      if (level.length > 0) {
        how = text;
        break;
      }
    }
  }
  const uuids = [...new Set(level.map((c) => c.uuid))];
  const fromOther = own.length === 0 ? ' (learned in another capture)' : '';
  const via = level[0].source === 'bind' ? 'bind' : 'epm';
  if (uuids.length === 1) {
    const known = rules.rpcInterfaces.get(uuids[0]);
    return {
      service: known ? known.service : RPC_UNNAMED_SERVICE,
      via,
      rpcInterface: known ? known.name : null,
      rpcUuid: uuids[0],
      rpcNote: `no bind on this connection; named by ${how}${fromOther}`,
    };
  }
  const services = [...new Set(uuids.map((u) => rules.rpcInterfaces.get(u)?.service ?? RPC_UNNAMED_SERVICE))];
  return {
    service: services.length === 1 ? services[0] : RPC_UNNAMED_SERVICE,
    via,
    rpcInterface: null,
    rpcUuid: null,
    rpcNote: `no bind on this connection; the endpoint serves ${uuids.length} interfaces by ${how}${fromOther}: ${uuids.map((u) => interfaceName(rules, u)).sort().join(', ')}`,
  };
}

function joinNotes(first: string | null, rest: string[]): string | null {
  const all = first ? [first, ...rest] : rest;
  return all.length > 0 ? all.join('; ') : null;
}
