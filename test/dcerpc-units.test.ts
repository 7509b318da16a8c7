// DCE/RPC layer on bytes with known layout: towers, ept_map / ept_lookup in NDR and
// NDR64, big-endian data representation, fragmented stubs, and TCP delivery cut
// every way (byte by byte, all at once, retransmitted, reordered, with a hole).
import { Malformed } from '../src/inspect/dcerpc/wire';
import { describe, expect, it } from 'vitest';
import { labelFromEndpoints, type EndpointCandidate } from '../src/classify/rpc';
import { BindTracker } from '../src/inspect/dcerpc/binds';
import { ByteBudget } from '../src/inspect/dcerpc/budget';
import { RpcMode } from '../src/inspect/dcerpc/connection';
import { decodeLookupResponse, decodeMapResponse } from '../src/inspect/dcerpc/epm';
import { decodeTower } from '../src/inspect/dcerpc/tower';
import { WireReader } from '../src/inspect/dcerpc/wire';
import { loadRules } from '../src/rules/load';
import { bind, bindAck, EPM, eptMapResponse, tcpTower } from '../src/samples/dcerpc-bytes';
import { bindBigEndian, eptLookupResponse, eptMapResponse64, feed, mapperConversation, newConnection } from './dcerpc-build';

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';

describe('protocol towers', () => {
  it('decodes an ncacn_ip_tcp tower floor by floor (port and address big-endian)', () => {
    const t = decodeTower(tcpTower(EMSMDB, 0, 81, 0xe88c, [10, 1, 2, 3]), 0, 75);
    expect(t).toEqual({ uuid: EMSMDB, version: '0.81', protseq: 'ncacn_ip_tcp', port: 0xe88c, ip: '10.1.2.3', name: null });
  });
  it('skips an unknown floor by its lengths, and rejects a cut tower', () => {
    const tower = tcpTower(NSPI, 56, 0, 6004, [0, 0, 0, 0]);
    const extra = Buffer.from([1, 0, 0x42, 3, 0, 1, 2, 3]); // lhs len 1, id 0x42, rhs len 3
    const withExtra = Buffer.concat([Buffer.from([6, 0]), tower.subarray(2), extra]);
    expect(decodeTower(withExtra, 0, withExtra.length)).toMatchObject({ uuid: NSPI, port: 6004, ip: '0.0.0.0' });
    for (let n = 0; n < tower.length; n++) expect(decodeTower(tower, 0, n)).toBeNull();
  });
});

describe('endpoint mapper stubs', () => {
  const r = new WireReader();
  it('ept_map response, NDR', () => {
    const stub = eptMapResponse([tcpTower(EMSMDB, 0, 81, 59532, [0, 0, 0, 0]), tcpTower(EMSMDB, 0, 81, 59533, [10, 0, 0, 9])]);
    const a = decodeMapResponse(r.reset(stub, 0, stub.length, true, false));
    expect(a.status).toBe(0);
    expect(a.entries.map((e) => `${e.tower.port} ${e.tower.ip}`)).toEqual(['59532 0.0.0.0', '59533 10.0.0.9']);
  });
  it('ept_map response, NDR64 (8-byte referents and counts)', () => {
    const stub = eptMapResponse64([tcpTower(NSPI, 56, 0, 50001, [0, 0, 0, 0])], 0);
    const a = decodeMapResponse(r.reset(stub, 0, stub.length, true, true));
    expect(a.entries.map((e) => [e.tower.uuid, e.tower.port])).toEqual([[NSPI, 50001]]);
    // Read as 32-bit NDR the same bytes do not give that answer.
    let wrong: number[] = [];
    try {
      wrong = decodeMapResponse(r.reset(stub, 0, stub.length, true, false)).entries.map((e) => e.tower.port);
    } catch (e) {
      expect(e).toBeInstanceOf(Malformed); // bad bytes are Malformed, never a runtime error
    }
    expect(wrong).not.toEqual([50001]);
  });
  it('not registered: no towers, status 0x16c9a0d6', () => {
    const stub = eptMapResponse([], 0x16c9a0d6);
    expect(decodeMapResponse(r.reset(stub, 0, stub.length, true, false))).toEqual({ entries: [], badTowers: 0, status: 0x16c9a0d6 });
  });
  it('ept_lookup response: annotations and deferred towers in entry order', () => {
    const stub = eptLookupResponse([
      { tower: tcpTower(EMSMDB, 0, 81, 1100, [0, 0, 0, 0]), annotation: 'Exchange Server STORE EMSMDB Interface' },
      { tower: tcpTower(NSPI, 56, 0, 1101, [0, 0, 0, 0]), annotation: 'MS Exchange Directory NSP Interface' },
    ]);
    const a = decodeLookupResponse(r.reset(stub, 0, stub.length, true, false));
    expect(a.entries.map((e) => `${e.tower.port} ${e.annotation}`)).toEqual([
      '1100 Exchange Server STORE EMSMDB Interface',
      '1101 MS Exchange Directory NSP Interface',
    ]);
  });
});

describe('binds', () => {
  it('big-endian data representation: the UUID and context fields read big-endian', () => {
    const t = new BindTracker();
    const b = bindBigEndian(7, EMSMDB, 0, 81);
    t.bind(b, 0, b.length, false, 7, 0, 0);
    expect(t.interfaces.map((i) => `${i.uuid} ${i.version}`)).toEqual([`${EMSMDB} 0.81`]);
  });
  it('the answer is paired by call id and read in context order', () => {
    const t = new BindTracker();
    const b = bind(3, NSPI, 56, 0);
    t.bind(b, 0, b.length, true, 3, 0, 0);
    const a = bindAck(3, '59533');
    t.answer(a, 0, a.length, true, 3);
    expect(t.interfaces[0].accepted).toBe(true);
    const other = bindAck(9, '1');
    t.answer(other, 0, other.length, true, 9);
    expect(t.orphanAnswers).toBe(1);
  });
});

describe('a mapper conversation through the inspector', () => {
  const answersOf = (conn: ReturnType<typeof newConnection>) => conn.answers.map((a) => `${a.source} ${a.tower.uuid} ${a.tower.port} asked=${a.asked}`);
  const expected = [`ept_map ${EMSMDB} 59532 asked=${EMSMDB}`];

  it('one PDU per segment', () => {
    const c = newConnection();
    feed(c, mapperConversation(EMSMDB, 59532));
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
    expect(c.interfaces.map((i) => [i.uuid, i.accepted])).toEqual([[EPM, true]]);
    expect(c.notes).toEqual([]);
  });
  it('one byte per segment (a PDU across many segments)', () => {
    const c = newConnection();
    feed(c, mapperConversation(EMSMDB, 59532), (n) => new Array(n).fill(1));
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
  });
  it('several PDUs in one segment', () => {
    const conv = mapperConversation(EMSMDB, 59532);
    const c = newConnection();
    feed(c, { client: [Buffer.concat(conv.client)], server: [Buffer.concat(conv.server)] });
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
  });
  it('NDR64 accepted for the mapper: the answer is read as NDR64', () => {
    const c = newConnection();
    feed(c, mapperConversation(NSPI, 50123, { ndr64: true }));
    c.finish(0);
    expect(c.interfaces[0].ndr64).toBe(true);
    expect(c.answers.map((a) => [a.tower.uuid, a.tower.port, a.asked])).toEqual([[NSPI, 50123, NSPI]]);
  });
  it('a response stub in two fragments is joined', () => {
    const c = newConnection();
    feed(c, mapperConversation(EMSMDB, 59532, { fragmentAt: 37 }));
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
  });
  it('retransmissions and overlapping segments are trimmed', () => {
    const conv = mapperConversation(EMSMDB, 59532);
    const server = Buffer.concat(conv.server);
    const c = newConnection();
    feed(c, { client: conv.client, server: [] });
    const base = 5000;
    // 0-40, then 0-40 again, then 20-100 (overlap), then the rest, then 50-60 again.
    const pieces: [number, number][] = [[0, 40], [0, 40], [20, 100], [100, server.length], [50, 60]];
    for (const [a, b] of pieces) c.segment(1, base + a, 0x18, server, a, b - a, b - a, 3, 0);
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
  });
  it('segments out of order are held until the hole fills', () => {
    const conv = mapperConversation(EMSMDB, 59532);
    const server = Buffer.concat(conv.server);
    const c = newConnection();
    feed(c, { client: conv.client, server: [] });
    c.segment(1, 5000 + 60, 0x18, server, 60, server.length - 60, server.length - 60, 3, 0);
    c.segment(1, 5000, 0x18, server, 0, 60, 60, 3, 0);
    c.finish(0);
    expect(answersOf(c)).toEqual(expected);
  });
  it('a hole that never fills stops that side with a note, and nothing is guessed', () => {
    const conv = mapperConversation(EMSMDB, 59532);
    const server = Buffer.concat(conv.server);
    const c = newConnection();
    feed(c, { client: conv.client, server: [] });
    c.segment(1, 5000 + 60, 0x18, server, 60, server.length - 60, server.length - 60, 3, 0);
    c.finish(0);
    expect(c.answers).toEqual([]);
    expect(c.notes.join()).toMatch(/server side has bytes missing from the capture after stream byte 0/);
  });
  it('payload cut by the snaplen: reported, not read', () => {
    const conv = mapperConversation(EMSMDB, 59532);
    const server = Buffer.concat(conv.server);
    const c = newConnection();
    feed(c, { client: conv.client, server: [] });
    c.segment(1, 5000, 0x18, server, 0, 30, server.length, 3, 0);
    c.finish(0);
    expect(c.answers).toEqual([]);
    expect(c.notes.join()).toMatch(/server side payload cut by the snaplen after stream byte 30/);
  });
  it('bytes that are not DCE/RPC stop inspection of that side', () => {
    const c = newConnection(RpcMode.Plain);
    const junk = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    c.segment(0, 1, 0x18, junk, 0, junk.length, junk.length, 1, 0);
    c.finish(0);
    expect(c.notes.join()).toMatch(/client side stopped: bytes that are not a DCE\/RPC header \(47455420\)/);
  });
  it('every byte of reassembly memory goes back to the budget', () => {
    const budget = new ByteBudget(1 << 20);
    const c = newConnection(RpcMode.Mapper, budget);
    const conv = mapperConversation(EMSMDB, 59532);
    feed(c, conv, (n) => [3, n - 3]);
    c.finish(0);
    expect(budget.used).toBe(0);
  });
});

describe('naming a flow without a bind from the registry', () => {
  const rules = loadRules();
  const flow = { streamId: 1, client: '10.0.0.5', firstSec: 100, firstNsec: 0, service: null, via: null };
  const cand = (uuid: string, source: EndpointCandidate['source'], sec: number, client = '10.0.0.5', streamId = 1): EndpointCandidate => ({ streamId, uuid, source, sec, nsec: 0, client });
  it("the same client's latest ept_map answer before the connection wins", () => {
    const l = labelFromEndpoints(rules, flow, [cand(NSPI, 'ept_map', 90), cand(EMSMDB, 'ept_map', 99), cand(NSPI, 'ept_lookup', 10)]);
    expect(l).toMatchObject({ service: 'mapi-rpc', via: 'epm', rpcInterface: 'emsmdb' });
  });
  it('a map answered after the connection began (or to another client) still names it', () => {
    expect(labelFromEndpoints(rules, flow, [cand(NSPI, 'ept_map', 200, '10.9.9.9')])).toMatchObject({ rpcInterface: 'nspi', via: 'epm' });
  });
  it('only a bind on another connection is known: via bind', () => {
    expect(labelFromEndpoints(rules, flow, [cand(EMSMDB, 'bind', 50)])).toMatchObject({ rpcInterface: 'emsmdb', via: 'bind' });
  });
  it('several interfaces on the endpoint and nothing more specific: no guess, a note lists them', () => {
    const l = labelFromEndpoints(rules, flow, [cand(EMSMDB, 'ept_lookup', 5), cand(NSPI, 'ept_lookup', 5)])!;
    expect(l.rpcInterface).toBeNull();
    expect(l.service).toBe('rpc-dynamic');
    expect(l.rpcNote).toMatch(/serves 2 interfaces.*emsmdb, nspi/);
  });
  it("the flow's own capture is preferred to others", () => {
    const l = labelFromEndpoints(rules, flow, [cand(NSPI, 'ept_map', 1, '10.0.0.5', 2), cand(EMSMDB, 'ept_lookup', 1, '10.0.0.5', 1)]);
    expect(l!.rpcInterface).toBe('emsmdb');
  });
});

describe('inspect until decided: a mapper connection that is not DCE/RPC', () => {
  // The mapper's connection is read to its end (its answers are the registry) — unless
  // neither side speaks DCE/RPC: then nothing more can be learned and it lets go.
  const junk = (b: number) => Buffer.alloc(300, b);
  it('keeps reading while one side may still speak DCE/RPC, lets go once both sides are not', () => {
    const conn = newConnection(RpcMode.Mapper);
    expect(conn.segment(0, 999, 0x02, Buffer.alloc(0), 0, 0, 0, 1, 0)).toBe(true);
    expect(conn.segment(1, 4999, 0x12, Buffer.alloc(0), 0, 0, 0, 1, 0)).toBe(true);
    expect(conn.segment(0, 1000, 0x18, junk(1), 0, 300, 300, 1, 0)).toBe(true);
    expect(conn.segment(0, 1300, 0x18, junk(1), 0, 300, 300, 1, 0)).toBe(true);
    expect(conn.segment(1, 5000, 0x18, junk(2), 0, 300, 300, 1, 0)).toBe(false);
    conn.finish(0);
    expect(conn.notes.join('; ')).toMatch(/client side stopped: bytes that are not a DCE\/RPC header \(01010101\); server side stopped: bytes that are not a DCE\/RPC header \(02020202\)/);
  });
  it('a mapper conversation is still read to its end', () => {
    const conn = newConnection(RpcMode.Mapper);
    const results: boolean[] = [];
    const conv = mapperConversation(EMSMDB, 59532);
    const seq = [1000, 5000];
    for (let i = 0; i < Math.max(conv.client.length, conv.server.length); i++) {
      for (const [dir, pdus] of [[0, conv.client], [1, conv.server]] as const) {
        const pdu = pdus[i];
        if (!pdu) continue;
        results.push(conn.segment(dir, seq[dir], 0x18, pdu, 0, pdu.length, pdu.length, 2, 0));
        seq[dir] += pdu.length;
      }
    }
    expect(results.every((r) => r)).toBe(true);
    expect(conn.answers.length).toBeGreaterThan(0);
  });
});
