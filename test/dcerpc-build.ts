// Test-only byte builders beyond the sample generator's: NDR64 ept_map answers,
// ept_lookup answers, big-endian binds, fragmented responses, and a TCP stream
// feeder. Layouts from C706 / [MS-RPCE] (see src/inspect/dcerpc/epm.ts).
import { RpcConnection, RpcMode } from '../src/inspect/dcerpc/connection';
import { ByteBudget } from '../src/inspect/dcerpc/budget';
import { bind, bindAck, EPM, eptMapRequest, eptMapResponse, request, response, tcpTower, uuidBytes } from '../src/samples/dcerpc-bytes';

export const NDR64 = '71710533-beba-4937-8319-b5dbef9ccc36';

function pad(b: Buffer, n: number, base = 0): Buffer {
  const r = (b.length - base) % n;
  return r === 0 ? b : Buffer.concat([b, Buffer.alloc(n - r)]);
}
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** ept_map response stub in NDR64: 8-byte referents and counts, 8-aligned. */
export function eptMapResponse64(towers: Buffer[], status = 0): Buffer {
  let b = Buffer.concat([Buffer.alloc(20), u32(towers.length)]); // handle, num_towers
  b = pad(b, 8);
  b = Buffer.concat([b, u64(4), u64(0), u64(towers.length)]);
  towers.forEach((_, i) => (b = Buffer.concat([b, u64(0x20000 + i * 4)])));
  for (const t of towers) {
    b = pad(b, 8);
    b = Buffer.concat([b, u64(t.length), u32(t.length), t]);
  }
  b = pad(b, 4);
  return Buffer.concat([b, u32(status)]);
}

/** ept_lookup response stub in NDR: entries (object, tower pointer, annotation), then the towers. */
export function eptLookupResponse(entries: { tower: Buffer; annotation: string }[], status = 0): Buffer {
  let b = Buffer.concat([Buffer.alloc(20), u32(entries.length), u32(entries.length), u32(0), u32(entries.length)]);
  entries.forEach((e, i) => {
    const text = Buffer.from(e.annotation + '\0', 'latin1');
    b = pad(b, 4);
    b = Buffer.concat([b, Buffer.alloc(16), u32(0x100 + i), u32(0), u32(text.length), text]);
  });
  for (const e of entries) {
    b = pad(b, 4);
    b = Buffer.concat([b, u32(e.tower.length), u32(e.tower.length), e.tower]);
  }
  b = pad(b, 4);
  return Buffer.concat([b, u32(status)]);
}

/** A bind with big-endian integers (drep[0] = 0x00): header, context fields and UUID fields all big-endian. */
export function bindBigEndian(callId: number, iface: string, major: number, minor: number): Buffer {
  const le = bind(callId, iface, major, minor);
  const b = Buffer.from(le);
  b[4] = 0x00;
  b.writeUInt16BE(le.readUInt16LE(8), 8);
  b.writeUInt16BE(le.readUInt16LE(10), 10);
  b.writeUInt32BE(le.readUInt32LE(12), 12);
  b.writeUInt16BE(le.readUInt16LE(16), 16);
  b.writeUInt16BE(le.readUInt16LE(18), 18);
  b.writeUInt32BE(le.readUInt32LE(20), 20);
  b.writeUInt16BE(le.readUInt16LE(28), 28); // ctx id
  const beUuid = (at: number, u: string) => Buffer.from(u.replace(/-/g, ''), 'hex').copy(b, at);
  beUuid(32, iface);
  b.writeUInt16BE(major, 48);
  b.writeUInt16BE(minor, 50);
  beUuid(52, '8a885d04-1ceb-11c9-9fe8-08002b104860');
  b.writeUInt32BE(2, 68);
  return b;
}

/** Re-flags a PDU's fragment bits (0x01 first, 0x02 last). */
export function withFlags(pdu: Buffer, flags: number): Buffer {
  const b = Buffer.from(pdu);
  b[3] = flags;
  return b;
}

/** The response stub split over two response PDUs (first, last). */
export function fragmentedResponse(callId: number, stub: Buffer, at: number): Buffer[] {
  return [withFlags(response(callId, stub.subarray(0, at)), 0x01), withFlags(response(callId, stub.subarray(at)), 0x02)];
}

export interface Conversation {
  client: Buffer[];
  server: Buffer[];
}

/** A whole mapper conversation: bind EPM, accepted, ept_map for iface, answer with its port. */
export function mapperConversation(iface: string, port: number, opts: { ndr64?: boolean; fragmentAt?: number } = {}): Conversation {
  const tower = tcpTower(iface, 1, 0, port, [0, 0, 0, 0]);
  const stub = opts.ndr64 ? eptMapResponse64([tower]) : eptMapResponse([tower]);
  const ack = opts.ndr64 ? ackWith(bindAck(1, '135'), NDR64) : bindAck(1, '135');
  const resp = opts.fragmentAt !== undefined ? fragmentedResponse(2, stub, opts.fragmentAt) : [response(2, stub)];
  return {
    client: [bind(1, EPM, 3, 0), request(2, 3, opts.ndr64 ? eptMapRequest64(tcpTower(iface, 1, 0, 0, [0, 0, 0, 0])) : eptMapRequest(tcpTower(iface, 1, 0, 0, [0, 0, 0, 0])))],
    server: [ack, ...resp],
  };
}

function eptMapRequest64(tower: Buffer): Buffer {
  let b = Buffer.concat([u64(1), Buffer.alloc(16)]); // object referent, object UUID
  b = pad(b, 8);
  b = Buffer.concat([b, u64(2), u64(tower.length), u32(tower.length), tower]);
  b = pad(b, 4);
  return Buffer.concat([b, Buffer.alloc(20), u32(4)]);
}

/** A bind_ack whose (single) result names another transfer syntax. */
function ackWith(ack: Buffer, syntax: string): Buffer {
  const b = Buffer.from(ack);
  uuidBytes(syntax).copy(b, b.length - 20);
  return b;
}

/**
 * Feeds a conversation to an inspector as TCP segments: SYNs first, then each side's
 * bytes cut into pieces by `cut` (sizes), client and server alternating per PDU.
 */
export function feed(conn: RpcConnection, conv: Conversation, cut: (total: number) => number[] = (n) => [n]): void {
  const seq = [1000, 5000];
  conn.segment(0, 999, 0x02, Buffer.alloc(0), 0, 0, 0, 1, 0);
  conn.segment(1, 4999, 0x12, Buffer.alloc(0), 0, 0, 0, 1, 0);
  const n = Math.max(conv.client.length, conv.server.length);
  for (let i = 0; i < n; i++) {
    for (const [dir, pdus] of [[0, conv.client], [1, conv.server]] as const) {
      const pdu = pdus[i];
      if (!pdu) continue;
      let at = 0;
      for (const size of cut(pdu.length)) {
        conn.segment(dir, seq[dir], 0x18, pdu, at, size, size, 2, 0);
        seq[dir] = (seq[dir] + size) >>> 0;
        at += size;
      }
    }
  }
}

export function newConnection(mode = RpcMode.Mapper, budget = new ByteBudget(64 << 20)): RpcConnection {
  return new RpcConnection(mode, budget);
}
