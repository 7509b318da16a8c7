// Builds Ethernet/IPv4/IPv6/TCP/UDP frames for the project's own sample and bench
// captures. Not on any analysis path: plain code, checksums left zero (the analyzer
// does not verify them, and neither do tshark's defaults).

export interface Endpoint {
  /** "a.b.c.d" or an IPv6 address in full or "::" form. */
  ip: string;
  port: number;
}

export interface FrameOptions {
  vlan?: number;
  tcpFlags?: number;
  seq?: number;
  ack?: number;
}

const MAC_A = Buffer.from([0x00, 0x15, 0x5d, 0x01, 0x02, 0x03]);
const MAC_B = Buffer.from([0x00, 0x15, 0x5d, 0x0a, 0x0b, 0x0c]);

export function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return b;
  }
  return Buffer.from(ip.split('.').map(Number));
}

/** One frame: Ethernet (optionally 802.1Q-tagged), IPv4 or IPv6, then TCP or UDP and the payload. */
export function frame(proto: 'tcp' | 'udp', src: Endpoint, dst: Endpoint, payload: Buffer, o: FrameOptions = {}): Buffer {
  const v6 = src.ip.includes(':');
  const l4len = proto === 'tcp' ? 20 : 8;
  const l4 = Buffer.alloc(l4len + payload.length);
  l4.writeUInt16BE(src.port, 0);
  l4.writeUInt16BE(dst.port, 2);
  if (proto === 'tcp') {
    l4.writeUInt32BE((o.seq ?? 0) >>> 0, 4);
    l4.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
    l4[12] = 5 << 4;
    l4[13] = o.tcpFlags ?? 0x18;
    l4.writeUInt16BE(64240, 14);
  } else {
    l4.writeUInt16BE(8 + payload.length, 4);
  }
  payload.copy(l4, l4len);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(l4.length, 4);
    ip[6] = proto === 'tcp' ? 6 : 17;
    ip[7] = 64;
    ipBytes(src.ip).copy(ip, 8);
    ipBytes(dst.ip).copy(ip, 24);
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip.writeUInt16BE(0x4000, 6);
    ip[8] = 128;
    ip[9] = proto === 'tcp' ? 6 : 17;
    ipBytes(src.ip).copy(ip, 12);
    ipBytes(dst.ip).copy(ip, 16);
  }
  const eth = Buffer.alloc(o.vlan !== undefined ? 18 : 14);
  MAC_B.copy(eth, 0);
  MAC_A.copy(eth, 6);
  if (o.vlan !== undefined) {
    eth.writeUInt16BE(0x8100, 12);
    eth.writeUInt16BE(o.vlan & 0xfff, 14);
    eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 16);
  } else eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, l4]);
}

export interface TimedFrame {
  /** Microseconds since 1970. */
  tsUs: number;
  data: Buffer;
}

const SYN = 0x02;
const ACK = 0x10;
const PSH_ACK = 0x18;
const FIN_ACK = 0x11;
const RST_ACK = 0x14;

/**
 * A whole TCP connection: handshake (unless midstream), the exchanges in order (client→server then
 * server→client, each one segment), FIN from both sides. Sequence numbers advance
 * correctly so a reassembler sees a clean stream.
 */
export function tcpConversation(
  client: Endpoint,
  server: Endpoint,
  exchanges: { c2s?: Buffer; s2c?: Buffer }[],
  startUs: number,
  o: { vlan?: number; refused?: boolean; gapUs?: number; midstream?: boolean } = {},
): TimedFrame[] {
  const out: TimedFrame[] = [];
  let t = startUs;
  const gap = o.gapUs ?? 400;
  let cseq = 1000 + (client.port * 7919) % 100000;
  let sseq = 5000 + (server.port * 104729) % 100000;
  const push = (fromClient: boolean, flags: number, payload: Buffer) => {
    const [src, dst] = fromClient ? [client, server] : [server, client];
    const seq = fromClient ? cseq : sseq;
    const ack = fromClient ? sseq : cseq;
    out.push({ tsUs: t, data: frame('tcp', src, dst, payload, { vlan: o.vlan, tcpFlags: flags, seq, ack: flags === SYN ? 0 : ack }) });
    const adv = payload.length + (flags & (SYN | 0x01) ? 1 : 0);
    if (fromClient) cseq = (cseq + adv) >>> 0;
    else sseq = (sseq + adv) >>> 0;
    t += gap;
  };
  // midstream: the connection began before the capture did, so no handshake is in it.
  if (!o.midstream) {
    push(true, SYN, Buffer.alloc(0));
    if (o.refused) {
      push(false, RST_ACK, Buffer.alloc(0));
      return out;
    }
    push(false, SYN | ACK, Buffer.alloc(0));
    push(true, ACK, Buffer.alloc(0));
  }
  for (const x of exchanges) {
    if (x.c2s) push(true, PSH_ACK, x.c2s);
    if (x.s2c) push(false, PSH_ACK, x.s2c);
  }
  push(true, FIN_ACK, Buffer.alloc(0));
  push(false, FIN_ACK, Buffer.alloc(0));
  push(true, ACK, Buffer.alloc(0));
  return out;
}

export function udpExchange(client: Endpoint, server: Endpoint, pairs: { c2s: Buffer; s2c?: Buffer }[], startUs: number, vlan?: number): TimedFrame[] {
  const out: TimedFrame[] = [];
  let t = startUs;
  for (const p of pairs) {
    out.push({ tsUs: t, data: frame('udp', client, server, p.c2s, { vlan }) });
    t += 300;
    if (p.s2c) {
      out.push({ tsUs: t, data: frame('udp', server, client, p.s2c, { vlan }) });
      t += 300;
    }
  }
  return out;
}
