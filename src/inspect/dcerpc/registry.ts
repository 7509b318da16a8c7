// What a connection teaches about where interfaces live: (server address,
// transport, port) → interface, from the mapper's answers and from accepted
// binds. A dynamic port belongs to the server that answered (or that accepted
// the bind) and to no other host; a tower whose address is 0.0.0.0 — or that
// has none — means the host that answered the map.

import { RpcMode, type RpcConnection } from './connection';

export type EndpointSource = 'ept_map' | 'ept_lookup' | 'bind' | 'dcom';

export interface Endpoint {
  server: string;
  /** The flow transport that reaches it: tcp for ncacn_ip_tcp and ncacn_http, udp for ncadg_ip_udp. */
  transport: 'tcp' | 'udp';
  protseq: string;
  port: number;
  uuid: string;
  version: string | null;
  source: EndpointSource;
  sec: number;
  nsec: number;
  /** Who asked the mapper, or who bound. */
  client: string;
  annotation: string | null;
}

export interface ConnectionEnds {
  client: string;
  server: string;
  serverPort: number;
}

/**
 * The endpoints a finished connection revealed. Towers without an IP transport
 * (named pipes, local RPC) name no network endpoint and are counted instead.
 */
/** What endpointsOf reads of an inspector: mapper/DCOM answers, and (TCP) accepted binds. */
export interface AnswerSource {
  readonly answers: RpcConnection['answers'];
  readonly interfaces: readonly { accepted: boolean | null; uuid: string; version: string; sec: number; nsec: number }[];
  readonly mode?: RpcMode;
}

export function endpointsOf(conn: AnswerSource, ends: ConnectionEnds): { endpoints: Endpoint[]; nonIp: number } {
  const endpoints: Endpoint[] = [];
  let nonIp = 0;
  for (const a of conn.answers) {
    const t = a.tower;
    const transport = t.protseq === 'ncacn_ip_tcp' || t.protseq === 'ncacn_http' ? 'tcp' : t.protseq === 'ncadg_ip_udp' ? 'udp' : null;
    if (!transport || t.port < 0 || !t.uuid) {
      nonIp++;
      continue;
    }
    endpoints.push({
      server: t.ip === null || t.ip === '0.0.0.0' ? ends.server : t.ip,
      transport,
      protseq: t.protseq,
      port: t.port,
      uuid: t.uuid,
      version: t.version,
      source: a.source,
      sec: a.sec,
      nsec: a.nsec,
      client: ends.client,
      annotation: a.annotation,
    });
  }
  for (const i of conn.interfaces) {
    if (i.accepted !== true) continue;
    endpoints.push({
      server: ends.server,
      transport: 'tcp',
      protseq: ((conn.mode ?? 0) & RpcMode.Http) !== 0 ? 'ncacn_http' : 'ncacn_ip_tcp',
      port: ends.serverPort,
      uuid: i.uuid,
      version: i.version,
      source: 'bind',
      sec: i.sec,
      nsec: i.nsec,
      client: ends.client,
      annotation: null,
    });
  }
  return { endpoints, nonIp };
}
