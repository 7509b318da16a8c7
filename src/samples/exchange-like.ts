// The Exchange-like bench workload: few hosts, long sessions, RPC-heavy — what
// exflow exists for. Outlook clients ask the endpoint mapper where EMSMDB and NSPI
// live, then hold MAPI and NSPI connections open with request/response calls whose
// responses span many TCP segments; Mailbox servers replicate with the DC over
// DRSUAPI; Hub and Edge speak SMTP; clients use LDAP, Kerberos and TLS on 443.
// Sessions are interleaved packet by packet, as a span port sees them.
// Deterministic: the same options give the same bytes.
import * as fs from 'node:fs';
import { bind, bindAck, EPM, eptMapRequest, eptMapResponse, request, response, tcpTower } from './dcerpc-bytes';
import { frame, type Endpoint } from './frames';
import { PcapFileWriter } from './writer';

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
const DRSUAPI = 'e3514235-4b06-11d1-ab04-00c04fc2dcd2';
const MSS = 1460;

export interface ExchangeLikeOptions {
  packets: number;
  clients?: number;
}

/** One TCP session: an opening (handshake and setup PDUs), then a call repeated until the session's share of packets is spent. */
interface Session {
  client: Endpoint;
  server: Endpoint;
  cseq: number;
  sseq: number;
  /** Queue of segments still to send: [fromClient, payload, flags]. */
  queue: [boolean, Buffer, number][];
  opening: [boolean, Buffer][];
  cycle: [boolean, Buffer][];
  opened: boolean;
}

function segments(fromClient: boolean, payload: Buffer): [boolean, Buffer, number][] {
  const out: [boolean, Buffer, number][] = [];
  for (let o = 0; o < payload.length; o += MSS) out.push([fromClient, payload.subarray(o, Math.min(o + MSS, payload.length)), 0x18]);
  return out;
}

function fill(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * The long sessions of an Exchange organisation as an endless source of frames: each
 * call of next() sends the next segment of one session, round-robin over them.
 */
export class ExchangeSessions {
  private readonly sessions: Session[] = [];
  private readonly burst: Buffer[] = [];
  private i = 0;

  constructor(o: { clients?: number; clientBase?: string } = {}) {
    const clients = o.clients ?? 40;
    const base = o.clientBase ?? '10.20.0.';
    const dc = '10.10.0.10';
    const mbx = ['10.10.0.20', '10.10.0.21'];
    const cas = '10.10.0.30';
    const hub = '10.10.0.40';
    const edge = '172.16.0.50';
    const sessions = this.sessions;
    let port = 50000;
    const add = (client: string, server: string, sport: number, opening: [boolean, Buffer][], cycle: [boolean, Buffer][]) =>
      sessions.push({ client: { ip: client, port: port++ }, server: { ip: server, port: sport }, cseq: 1000, sseq: 9000, queue: [], opening, cycle, opened: false });

    const mapper = (iface: string, dyn: number, server: string): [boolean, Buffer][] => [
      [true, bind(1, EPM, 3, 0)],
      [false, bindAck(1, '135')],
      [true, request(2, 3, eptMapRequest(tcpTower(iface, 1, 0, 0, [0, 0, 0, 0])))],
      [false, response(2, eptMapResponse([tcpTower(iface, 1, 0, dyn, server.split('.').map(Number) as [number, number, number, number])]))],
    ];
    for (let c = 0; c < clients; c++) {
      const ip = `${base}${100 + c}`;
      // The mapper is asked once; MAPI and NSPI connections stay open and carry calls.
      add(ip, cas, 135, mapper(EMSMDB, 59532, cas), []);
      add(ip, cas, 59532, [[true, bind(1, EMSMDB, 4811, 0)], [false, bindAck(1, '59532')]], [
        [true, request(3, 11, fill(400, c))],
        [false, response(3, fill(6000 + (c % 7) * 1500, c + 1))],
      ]);
      add(ip, cas, 59533, [[true, bind(1, NSPI, 56, 0)], [false, bindAck(1, '59533')]], [
        [true, request(4, 8, fill(200, c + 2))],
        [false, response(4, fill(3000, c + 3))],
      ]);
      add(ip, dc, 389, [], [[true, fill(300, c + 4)], [false, fill(1800, c + 5)]]);
      add(ip, dc, 88, [], [[true, fill(1400, c + 6)], [false, fill(1500, c + 7)]]);
      add(ip, cas, 443, [[true, Buffer.concat([Buffer.from([0x16, 3, 1, 0, 200]), fill(200, c)])]], [[true, Buffer.concat([Buffer.from([0x17, 3, 3, 3, 0]), fill(768, c)])], [false, Buffer.concat([Buffer.from([0x17, 3, 3, 16, 0]), fill(4096, c)])]]);
    }
    for (const m of mbx) {
      add(m, dc, 135, mapper(DRSUAPI, 49153, dc), []);
      add(m, dc, 49153, [[true, bind(1, DRSUAPI, 4, 0)], [false, bindAck(1, '49153')]], [
        [true, request(5, 3, fill(600, 9))],
        [false, response(5, fill(24000, 10))],
      ]);
      add(hub, m, 25, [[false, Buffer.from('220 mbx ESMTP\r\n')]], [[true, fill(4000, 11)], [false, Buffer.from('250 OK\r\n')]]);
    }
    add(hub, edge, 25, [[false, Buffer.from('220 edge ESMTP\r\n')]], [[true, fill(6000, 12)], [false, Buffer.from('250 OK\r\n')]]);
    add(edge, hub, 25, [[false, Buffer.from('220 hub ESMTP\r\n')]], [[true, fill(5000, 13)], [false, Buffer.from('250 OK\r\n')]]);
  }

  /** The next frame of the round. */
  next(): Buffer {
    if (this.burst.length > 0) return this.burst.shift()!;
    for (;;) {
      const s = this.sessions[this.i];
      this.i = (this.i + 1) % this.sessions.length;
      if (!s.opened) {
        // The handshake is one turn of three segments; the opening PDUs follow, one a turn.
        s.opened = true;
        const syn = this.send(s, true, Buffer.alloc(0), 0x02);
        this.burst.push(this.send(s, false, Buffer.alloc(0), 0x12), this.send(s, true, Buffer.alloc(0), 0x10));
        for (const [c, p] of s.opening) s.queue.push(...segments(c, p));
        return syn;
      }
      if (s.queue.length === 0) {
        if (s.cycle.length === 0) continue; // the mapper connection: done after its answer
        for (const [c, p] of s.cycle) s.queue.push(...segments(c, p));
      }
      const [fromClient, payload, flags] = s.queue.shift()!;
      return this.send(s, fromClient, payload, flags);
    }
  }

  private send(s: Session, fromClient: boolean, payload: Buffer, flags: number): Buffer {
    const [src, dst] = fromClient ? [s.client, s.server] : [s.server, s.client];
    const f = frame('tcp', src, dst, payload, { tcpFlags: flags, seq: fromClient ? s.cseq : s.sseq, ack: fromClient ? s.sseq : s.cseq });
    const adv = payload.length + (flags & 0x02 ? 1 : 0);
    if (fromClient) s.cseq = (s.cseq + adv) >>> 0;
    else s.sseq = (s.sseq + adv) >>> 0;
    return f;
  }
}

export function writeExchangeLike(file: string, o: ExchangeLikeOptions): void {
  const source = new ExchangeSessions({ clients: o.clients });
  const w = new PcapFileWriter(file + '.tmp');
  let t = Date.UTC(2026, 0, 15, 9, 0, 0) * 1000;
  for (let written = 0; written < o.packets; written++) w.write((t += 7), source.next());
  w.close();
  fs.renameSync(file + '.tmp', file);
}
