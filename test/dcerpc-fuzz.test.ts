// Hostile input for the DCE/RPC layer: well-formed mapper conversations, towers and
// stubs, mutated (bit flips, truncation, huge lengths and counts, spliced bytes),
// fed through the same entry points the packet loop uses. Nothing may throw out of
// the inspector (which catches only Malformed, the decoders' one error: a runtime
// error in the code under test escapes and fails this test), every reassembly byte must go back to the budget, and a stream
// of endless fragments must stay within its bounds. Seeded, so a failure repeats.
import { describe, expect, it } from 'vitest';
import { rng } from '../src/fuzz/harness';
import { ByteBudget } from '../src/inspect/dcerpc/budget';
import { RpcConnection, RpcMode } from '../src/inspect/dcerpc/connection';
import { decodeLookupResponse, decodeMapRequest, decodeMapResponse } from '../src/inspect/dcerpc/epm';
import { Malformed, WireReader } from '../src/inspect/dcerpc/wire';
import { decodeTower } from '../src/inspect/dcerpc/tower';
import { SmbPipes } from '../src/inspect/dcerpc/smb';
import { bind, EPM, eptMapRequest, eptMapResponse, request, tcpTower } from '../src/samples/dcerpc-bytes';
import { eptLookupResponse, eptMapResponse64, mapperConversation, type Conversation } from './dcerpc-build';

// xorshift32 from the fuzz harness: seeded, so a failure repeats.
function mutate(src: Buffer, r: () => number): Buffer {
  let b = Buffer.from(src);
  const kind = Math.floor(r() * 6);
  const at = Math.floor(r() * b.length);
  switch (kind) {
    case 0: // bit flips
      for (let i = 0, n = 1 + Math.floor(r() * 8); i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      break;
    case 1: // truncation
      b = b.subarray(0, at);
      break;
    case 2: // a huge 16-bit length or count
      if (at + 2 <= b.length) b.writeUInt16LE(r() < 0.5 ? 0xffff : Math.floor(r() * 0x10000), at);
      break;
    case 3: // a huge 32-bit length, count or referent
      if (at + 4 <= b.length) b.writeUInt32LE(r() < 0.5 ? 0xffffffff : Math.floor(r() * 0x100000000), at & ~3);
      break;
    case 4: // spliced random bytes
      b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(r() * 40) }, () => Math.floor(r() * 256))), b.subarray(at)]);
      break;
    default: // a copy of itself appended (repeated PDUs, chained counts)
      b = Buffer.concat([b, b.subarray(at)]);
  }
  return b;
}

const IFACES = ['a4f1db00-ca47-1067-b31f-00dd010662da', 'f5cc5a18-4264-101a-8c59-08002b2f8426', 'e3514235-4b06-11d1-ab04-00c04fc2dcd2'];

function seeds(): Conversation[] {
  const towers = IFACES.map((u, i) => tcpTower(u, 1, 0, 50000 + i, [0, 0, 0, 0]));
  return [
    mapperConversation(IFACES[0], 59532),
    mapperConversation(IFACES[1], 59533, { ndr64: true }),
    mapperConversation(IFACES[2], 49153, { fragmentAt: 20 }),
    {
      client: [bind(1, EPM, 3, 0), request(2, 2, Buffer.alloc(60))],
      server: mapperConversation(IFACES[0], 1).server.slice(0, 1).concat([
        Buffer.concat([Buffer.from(mapperConversation(IFACES[0], 1).server[1].subarray(0, 24)), eptLookupResponse(towers.map((t, i) => ({ tower: t, annotation: `iface ${i}` })))]),
      ]),
    },
  ];
}

/** Feeds one side's bytes as segments of random sizes, in order. */
function feedSide(conn: RpcConnection | SmbPipes, dir: number, bytes: Buffer, r: () => number): void {
  let seq = dir === 0 ? 1000 : 5000;
  let at = 0;
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(r() * 300));
    conn.segment(dir, seq, 0x18, bytes, at, n, n, 1, 0);
    seq += n;
    at += n;
  }
}

describe('fuzz: mutated PDUs, stubs and towers', () => {
  it('≥ 100,000 mutated inputs: nothing escapes, memory goes back to the budget', () => {
    const r = rng(0x5eed);
    const budget = new ByteBudget(8 << 20);
    const convs = seeds();
    const towers = IFACES.map((u) => tcpTower(u, 1, 0, 1234, [10, 0, 0, 1]));
    const stubs: [Buffer, 'map' | 'map64' | 'lookup' | 'req'][] = [
      [eptMapResponse(towers), 'map'],
      [eptMapResponse64(towers), 'map64'],
      [eptLookupResponse(towers.map((t) => ({ tower: t, annotation: 'x' }))), 'lookup'],
      [eptMapRequest(towers[0]), 'req'],
    ];
    const reader = new WireReader();
    let inputs = 0;
    let decodedAnswers = 0;
    // 1. Whole conversations through the inspector (the path the packet loop takes).
    for (let i = 0; i < 30000; i++) {
      const conv = convs[i % convs.length];
      const conn = new RpcConnection(i % 3 === 0 ? RpcMode.Plain : RpcMode.Mapper, budget);
      const client = Buffer.concat(conv.client);
      const server = Buffer.concat(conv.server);
      const target = r() < 0.5 ? 0 : 1;
      feedSide(conn, 0, target === 0 ? mutate(client, r) : client, r);
      feedSide(conn, 1, target === 1 ? mutate(server, r) : server, r);
      conn.finish(0);
      decodedAnswers += conn.answers.length;
      inputs++;
    }
    // 2. The same bytes through the SMB pipe reader (they are not SMB: it must shrug).
    for (let i = 0; i < 10000; i++) {
      const pipes = new SmbPipes(budget);
      feedSide(pipes, 0, mutate(Buffer.concat(convs[i % convs.length].client), r), r);
      pipes.finish();
      inputs++;
    }
    expect(budget.used).toBe(0);
    // 3. Stubs and towers straight into the decoders: only the two expected failure kinds.
    for (let i = 0; i < 70000; i++) {
      const [stub, kind] = stubs[i % stubs.length];
      const m = mutate(stub, r);
      try {
        reader.reset(m, 0, m.length, r() < 0.9, kind === 'map64');
        if (kind === 'req') decodeMapRequest(reader);
        else if (kind === 'lookup') decodeLookupResponse(reader);
        else decodeMapResponse(reader);
      } catch (e) {
        if (!(e instanceof Malformed)) throw e; // decoders throw Malformed for bad bytes; anything else is a bug
      }
      const t = mutate(towers[i % towers.length], r);
      decodeTower(t, 0, t.length); // returns null or a tower; never throws
      inputs += 2;
    }
    expect(inputs).toBeGreaterThanOrEqual(100000);
    // Most mutations leave the answer readable or not; some must still decode (the test is not vacuous).
    expect(decodedAnswers).toBeGreaterThan(1000);
  });

  it('endless fragments of one call stay within the per-call bound', () => {
    const budget = new ByteBudget(64 << 20);
    const conn = new RpcConnection(RpcMode.Mapper, budget);
    const head = bind(1, EPM, 3, 0);
    conn.segment(0, 1000, 0x18, head, 0, head.length, head.length, 1, 0);
    let seq = 1000 + head.length;
    const chunk = Buffer.alloc(4000, 0x41);
    let peak = 0;
    for (let i = 0; i < 5000; i++) {
      const pdu = request(2, 3, chunk);
      pdu[3] = i === 0 ? 0x01 : 0x00; // first fragment, then middles forever: no last fragment
      conn.segment(0, seq, 0x18, pdu, 0, pdu.length, pdu.length, 1, 0);
      seq += pdu.length;
      peak = Math.max(peak, budget.used);
    }
    expect(peak).toBeLessThanOrEqual((1 << 20) + 65536);
    expect(conn.notes.join()).toMatch(/stub over 1048576 bytes/);
    conn.finish(0);
    expect(budget.used).toBe(0);
  });

  it('endless out-of-order segments stay within the per-direction hold bound', () => {
    const budget = new ByteBudget(64 << 20);
    const conn = new RpcConnection(RpcMode.Plain, budget);
    const b = Buffer.alloc(1400, 5);
    conn.segment(0, 1, 0x02, b, 0, 0, 0, 1, 0);
    let peak = 0;
    for (let i = 0; i < 10000; i++) {
      conn.segment(0, 100000 + i * 1400, 0x18, b, 0, 1400, 1400, 1, 0); // always beyond a hole
      peak = Math.max(peak, budget.used);
    }
    expect(peak).toBeLessThanOrEqual(256 * 1024);
    conn.finish(0);
    expect(budget.used).toBe(0);
    expect(conn.notes.join()).toMatch(/missing from the capture/);
  });
});
