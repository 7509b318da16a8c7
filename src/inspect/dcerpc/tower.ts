// Protocol towers (C706 appendix L; [MS-RPCE] 2.2.1.1.7): a floor count, then per
// floor a left-hand side (protocol id first) and a right-hand side, each behind a
// little-endian 16-bit length. Towers are not NDR: no alignment inside, and the
// port and address floors are big-endian. Every floor is decoded from its two
// lengths, so unknown floors are skipped and floor order does not matter.

import { uuidAt } from './wire';

export const enum FloorId {
  Osi = 0x00,
  Dna = 0x02,
  LocalRpc = 0x0c,
  Uuid = 0x0d,
  Ncadg = 0x0a,
  Ncacn = 0x0b,
  TcpPort = 0x07,
  UdpPort = 0x08,
  Ipv4 = 0x09,
  NamedPipe = 0x0f,
  LocalName = 0x10,
  NetbiosHost = 0x11,
  HttpPort = 0x1f,
  HttpIpv4 = 0x20,
}

export interface Tower {
  /** The interface (first UUID floor), or null if the tower has none. */
  uuid: string | null;
  version: string | null;
  /** Protocol sequence: ncacn_ip_tcp, ncadg_ip_udp, ncacn_http, ncacn_np, ncalrpc, or "other". */
  protseq: string;
  /** TCP, UDP or HTTP port; -1 when the tower has none. */
  port: number;
  /** IPv4 address as text, or null; "0.0.0.0" means the host that answered. */
  ip: string | null;
  /** Named pipe, local RPC endpoint or NetBIOS host name, when present. */
  name: string | null;
}

const MAX_FLOORS = 32;

/** Decodes the tower octets buf[off, off+len). Returns null when the bytes do not hold a tower. */
export function decodeTower(buf: Uint8Array, off: number, len: number): Tower | null {
  const end = off + len;
  if (len < 2 || end > buf.length) return null;
  const floors = buf[off] | (buf[off + 1] << 8);
  if (floors === 0 || floors > MAX_FLOORS) return null;
  let p = off + 2;
  const t: Tower = { uuid: null, version: null, protseq: 'other', port: -1, ip: null, name: null };
  let rpcKind = 0;
  let portKind = 0;
  let uuidFloors = 0;
  let local = false;
  for (let i = 0; i < floors; i++) {
    if (p + 2 > end) return null;
    const lhsLen = buf[p] | (buf[p + 1] << 8);
    const lhs = p + 2;
    if (lhsLen < 1 || lhs + lhsLen + 2 > end) return null;
    const rhsLenAt = lhs + lhsLen;
    const rhsLen = buf[rhsLenAt] | (buf[rhsLenAt + 1] << 8);
    const rhs = rhsLenAt + 2;
    if (rhs + rhsLen > end) return null;
    p = rhs + rhsLen;
    const id = buf[lhs];
    switch (id) {
      case FloorId.Uuid:
        if (lhsLen >= 19 && uuidFloors++ === 0) {
          t.uuid = uuidAt(buf, lhs + 1, true);
          const major = buf[lhs + 17] | (buf[lhs + 18] << 8);
          const minor = rhsLen >= 2 ? buf[rhs] | (buf[rhs + 1] << 8) : 0;
          t.version = `${major}.${minor}`;
        }
        break;
      case FloorId.Ncacn:
      case FloorId.Ncadg:
        rpcKind = id;
        break;
      case FloorId.TcpPort:
      case FloorId.UdpPort:
      case FloorId.HttpPort:
        if (rhsLen >= 2) {
          t.port = (buf[rhs] << 8) | buf[rhs + 1];
          portKind = id;
        }
        break;
      case FloorId.Ipv4:
      case FloorId.HttpIpv4:
        if (rhsLen >= 4) t.ip = `${buf[rhs]}.${buf[rhs + 1]}.${buf[rhs + 2]}.${buf[rhs + 3]}`;
        break;
      case FloorId.NamedPipe:
      case FloorId.LocalName:
      case FloorId.NetbiosHost:
        if (id !== FloorId.NetbiosHost || t.name === null) t.name = text(buf, rhs, rhsLen);
        if (id === FloorId.NamedPipe) portKind = id;
        if (id === FloorId.LocalName) local = true;
        break;
      case FloorId.LocalRpc:
        local = true;
        break;
      default:
        break; // unknown floor: skipped by its lengths
    }
  }
  if (rpcKind === FloorId.Ncacn && portKind === FloorId.TcpPort) t.protseq = 'ncacn_ip_tcp';
  else if (rpcKind === FloorId.Ncadg && portKind === FloorId.UdpPort) t.protseq = 'ncadg_ip_udp';
  else if (rpcKind === FloorId.Ncacn && portKind === FloorId.HttpPort) t.protseq = 'ncacn_http';
  else if (portKind === FloorId.NamedPipe) t.protseq = 'ncacn_np';
  else if (local) t.protseq = 'ncalrpc';
  return t;
}

function text(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && i < 256; i++) {
    const c = buf[off + i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}
