// Everything a flow's own packets say about it, at the moment it is written out:
// its port's service, then what its inspector saw (DCE/RPC binds and mapper
// answers, SMB pipes, connectionless RPC headers).
import { RpcConnection } from '../inspect/dcerpc/connection';
import { endpointsOf, type Endpoint } from '../inspect/dcerpc/registry';
import { SmbPipes } from '../inspect/dcerpc/smb';
import { ClMapper } from '../inspect/dcerpc/cl';
import type { FlowRecord } from '../flow/record';
import type { RuleSet } from '../rules/load';
import { labelByPort } from './by-port';
import { NO_PAYLOAD, payloadFacts, type PayloadFacts } from './payload';
import type { FlowLabels } from './labels';
import { NO_PROTECTION, protectionOf, type ProtectionFacts } from './protection';
import { NO_NAMES, wireNamesOf, type WireNames } from './names';
import { KdcExchange } from '../inspect/kerberos';
import { HttpRequest } from '../inspect/http';
import { LdapSession } from '../inspect/ldap';
import { DnsAnswers } from '../inspect/dns';
import { NbnsAnswers } from '../inspect/nbns';
import { labelConnectionless, labelFromConnection, labelFromPipes } from './rpc';

export interface ClassifiedFlow {
  labels: FlowLabels;
  /** How the flow authenticated and is protected. */
  protection: ProtectionFacts;
  /** The names its packets gave hosts, and what they said about other names. */
  names: WireNames;
  /** What the TLS, STARTTLS and HTTP inspectors saw. */
  payload: PayloadFacts;
  /** RPC endpoints the flow's mapper answers and accepted binds revealed. */
  endpoints: Endpoint[];
  /** Towers that name no network endpoint (named pipes, local RPC). */
  nonIpTowers: number;
}

export function classifyFlow(rules: RuleSet, rec: FlowRecord): ClassifiedFlow {
  const c = classify(rules, rec);
  const ins = rec.inspector;
  if (ins === null) return c;
  // Readers whose buffers the labels did not need to finish: their share of the budget goes back.
  if (ins instanceof KdcExchange || ins instanceof HttpRequest || ins instanceof LdapSession || ins instanceof DnsAnswers) ins.finish();
  // After classify(): each inspector has been finished, so what it read is complete.
  c.protection = protectionOf(ins);
  c.names = wireNamesOf(rec, c.payload, c.protection);
  if (ins instanceof DnsAnswers || ins instanceof NbnsAnswers) ins.forget();
  return c;
}

function classify(rules: RuleSet, rec: FlowRecord): ClassifiedFlow {
  let labels = labelByPort(rules, rec);
  const conn = rec.inspector;
  if (conn instanceof RpcConnection) {
    conn.finish(rec.clientSide);
    labels = labelFromConnection(rules, conn, labels);
    const found = endpointsOf(conn, rec);
    return { labels, payload: NO_PAYLOAD, endpoints: found.endpoints, nonIpTowers: found.nonIp, protection: NO_PROTECTION, names: NO_NAMES };
  }
  if (conn instanceof SmbPipes) {
    conn.finish(rec.clientSide);
    labels = labelFromPipes(rules, conn, labels);
    // Mapper answers over \pipe\epmapper feed the registry like those on TCP 135.
    const found = endpointsOf(conn.registryAnswers, rec);
    return { labels, payload: NO_PAYLOAD, endpoints: found.endpoints, nonIpTowers: found.nonIp, protection: NO_PROTECTION, names: NO_NAMES };
  } else if (conn instanceof ClMapper) {
    // The mapper over UDP 135: its answers go to the registry like those over TCP.
    const l = labelConnectionless(rules, rec, labels) ?? labels;
    const found = endpointsOf(conn, rec);
    const notes = [...conn.notes, ...conn.notRegistered.map((u) => `ept_map: ${rules.rpcInterfaces.get(u)?.name ?? u} not registered on the server`)];
    const answered = found.endpoints.length > 0 ? [`ept_map over UDP: ${found.endpoints.length} endpoint(s) learned`] : [];
    return { labels: { ...l, rpcNote: [l.rpcNote, ...answered, ...notes].filter(Boolean).join('; ') || null }, payload: NO_PAYLOAD, endpoints: found.endpoints, nonIpTowers: found.nonIp, protection: NO_PROTECTION, names: NO_NAMES };
  } else if (rec.transport === 'udp') {
    labels = labelConnectionless(rules, rec, labels) ?? labels;
  } else if (conn !== null) {
    const p = payloadFacts(rules, rec, labels);
    return { labels: p.labels, payload: p.facts, endpoints: [], nonIpTowers: 0, protection: NO_PROTECTION, names: NO_NAMES };
  }
  return { labels, payload: NO_PAYLOAD, endpoints: [], nonIpTowers: 0, protection: NO_PROTECTION, names: NO_NAMES };
}
