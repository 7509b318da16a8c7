// DCE/RPC connection-oriented PDUs (C706 chapter 12, little-endian NDR) for the
// project's own sample capture: bind, bind_ack, request, response, and the endpoint
// mapper's ept_map with protocol towers (C706 appendix L). Byte builders only.

export const NDR = '8a885d04-1ceb-11c9-9fe8-08002b104860';
export const EPM = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';

/** A UUID in NDR little-endian layout: the first three fields byte-swapped. */
export function uuidBytes(uuid: string): Buffer {
  const h = uuid.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  const out = Buffer.alloc(16);
  out.writeUInt32LE(b.readUInt32BE(0), 0);
  out.writeUInt16LE(b.readUInt16BE(4), 4);
  out.writeUInt16LE(b.readUInt16BE(6), 6);
  b.copy(out, 8, 8, 16);
  return out;
}

function pdu(ptype: number, callId: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h[0] = 5;
  h[1] = 0;
  h[2] = ptype;
  h[3] = 0x03; // first and last fragment
  h[4] = 0x10; // little-endian integers, ASCII, IEEE floats
  h.writeUInt16LE(16 + body.length, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt32LE(callId, 12);
  return Buffer.concat([h, body]);
}

export function bind(callId: number, iface: string, major: number, minor: number): Buffer {
  const b = Buffer.alloc(12 + 44);
  b.writeUInt16LE(4280, 0);
  b.writeUInt16LE(4280, 2);
  b.writeUInt32LE(0, 4);
  b[8] = 1; // one presentation context
  b.writeUInt16LE(0, 12); // context id
  b[14] = 1; // one transfer syntax
  uuidBytes(iface).copy(b, 16);
  b.writeUInt16LE(major, 32);
  b.writeUInt16LE(minor, 34);
  uuidBytes(NDR).copy(b, 36);
  b.writeUInt32LE(2, 52);
  return pdu(11, callId, b);
}

export function bindAck(callId: number, secondaryAddress: string): Buffer {
  const addr = Buffer.from(secondaryAddress + '\0', 'latin1');
  const head = Buffer.alloc(10);
  head.writeUInt16LE(4280, 0);
  head.writeUInt16LE(4280, 2);
  head.writeUInt32LE(0x12345, 4);
  head.writeUInt16LE(addr.length, 8);
  const before = 16 + head.length + addr.length;
  const pad = Buffer.alloc((4 - (before % 4)) % 4);
  const results = Buffer.alloc(4 + 24);
  results[0] = 1;
  results.writeUInt16LE(0, 4); // acceptance
  uuidBytes(NDR).copy(results, 8);
  results.writeUInt32LE(2, 24);
  return pdu(12, callId, Buffer.concat([head, addr, pad, results]));
}

export function request(callId: number, opnum: number, stub: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(stub.length, 0);
  b.writeUInt16LE(0, 4);
  b.writeUInt16LE(opnum, 6);
  return pdu(0, callId, Buffer.concat([b, stub]));
}

export function response(callId: number, stub: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(stub.length, 0);
  return pdu(2, callId, Buffer.concat([b, stub]));
}

function floor(lhs: Buffer, rhs: Buffer): Buffer {
  const f = Buffer.alloc(4 + lhs.length + rhs.length);
  f.writeUInt16LE(lhs.length, 0);
  lhs.copy(f, 2);
  f.writeUInt16LE(rhs.length, 2 + lhs.length);
  rhs.copy(f, 4 + lhs.length);
  return f;
}

/** An ncacn_ip_tcp tower: interface, NDR, connection-oriented RPC, TCP port, IPv4 address. */
export function tcpTower(iface: string, major: number, minor: number, port: number, ip: [number, number, number, number]): Buffer {
  const u16 = (v: number, be = false) => {
    const b = Buffer.alloc(2);
    if (be) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  };
  const uuidFloor = (u: string, maj: number, min: number) => {
    const lhs = Buffer.alloc(19);
    lhs[0] = 0x0d;
    uuidBytes(u).copy(lhs, 1);
    lhs.writeUInt16LE(maj, 17);
    return floor(lhs, u16(min));
  };
  return Buffer.concat([
    u16(5),
    uuidFloor(iface, major, minor),
    uuidFloor(NDR, 2, 0),
    floor(Buffer.from([0x0b]), u16(0)),
    floor(Buffer.from([0x07]), u16(port, true)),
    floor(Buffer.from([0x09]), Buffer.from(ip)),
  ]);
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]);
}

/** ept_map request stub (opnum 3): object, map tower, entry handle, max towers. */
export function eptMapRequest(tower: Buffer): Buffer {
  const head = Buffer.alloc(4 + 16 + 4 + 4 + 4);
  head.writeUInt32LE(1, 0); // object pointer referent
  head.writeUInt32LE(2, 20); // map_tower referent
  head.writeUInt32LE(tower.length, 24); // conformant max_count
  head.writeUInt32LE(tower.length, 28); // tower_length
  const tail = Buffer.alloc(20 + 4);
  tail.writeUInt32LE(4, 20); // max_towers
  return Buffer.concat([pad4(Buffer.concat([head, tower])), tail]);
}

/** ept_map response stub: entry handle, towers as a conformant varying array of pointers, status. */
export function eptMapResponse(towers: Buffer[], status = 0): Buffer {
  const head = Buffer.alloc(20 + 4 + 12);
  head.writeUInt32LE(towers.length, 20);
  head.writeUInt32LE(4, 24); // max_count
  head.writeUInt32LE(0, 28); // offset
  head.writeUInt32LE(towers.length, 32); // actual_count
  const refs = Buffer.alloc(4 * towers.length);
  towers.forEach((_, i) => refs.writeUInt32LE(3 + i, i * 4));
  const bodies = towers.map((t) => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(t.length, 0);
    h.writeUInt32LE(t.length, 4);
    return pad4(Buffer.concat([h, t]));
  });
  const st = Buffer.alloc(4);
  st.writeUInt32LE(status >>> 0, 0);
  return Buffer.concat([head, refs, ...bodies, st]);
}
