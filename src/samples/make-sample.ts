#!/usr/bin/env node
// Writes samples/exchange-org.pcapng: a small, plausible Exchange 2010 organisation
// on one span port. Every flow is listed in SAMPLE_FLOWS (exported for the tests),
// so the sample has a ground truth of its own. Deterministic: same bytes every run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bind, bindAck, EPM, eptMapRequest, eptMapResponse, request, response, tcpTower } from './dcerpc-bytes';
import { tcpConversation, udpExchange, type Endpoint, type TimedFrame } from './frames';
import { pcapngBytes } from './writer';

export const HOSTS = {
  dc: '10.10.0.10',
  mbx1: '10.10.0.20',
  mbx2: '10.10.0.21',
  cas: '10.10.0.30',
  hub: '10.10.0.40',
  um: '10.10.0.60',
  ipgw: '10.10.0.70',
  edge: '172.16.0.50',
  client: '10.20.0.100',
  internet: '198.51.100.25',
  client6: '2001:db8:20::100',
  cas6: '2001:db8:10::30',
};

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
const T0 = Date.UTC(2026, 0, 15, 9, 0, 0) * 1000; // µs

const text = (s: string) => Buffer.from(s, 'latin1');
let ephemeral = 49700;
const eph = (ip: string): Endpoint => ({ ip, port: ephemeral++ });
const at = (ip: string, port: number): Endpoint => ({ ip, port });

/** What the sample holds, flow by flow: client, server, port, transport, what a classifier should say. */
export interface SampleFlow {
  client: string;
  server: string;
  port: number;
  transport: 'tcp' | 'udp';
  expect: string;
}
export const SAMPLE_FLOWS: SampleFlow[] = [];

function tcp(client: Endpoint, server: Endpoint, ex: { c2s?: Buffer; s2c?: Buffer }[], t: number, expect: string, o: { vlan?: number; refused?: boolean; midstream?: boolean } = {}): TimedFrame[] {
  SAMPLE_FLOWS.push({ client: client.ip, server: server.ip, port: server.port, transport: 'tcp', expect });
  return tcpConversation(client, server, ex, t, o);
}
function udp(client: Endpoint, server: Endpoint, pairs: { c2s: Buffer; s2c?: Buffer }[], t: number, expect: string, vlan?: number): TimedFrame[] {
  SAMPLE_FLOWS.push({ client: client.ip, server: server.ip, port: server.port, transport: 'udp', expect });
  return udpExchange(client, server, pairs, t, vlan);
}

/** The endpoint mapper conversation and the connection to the port it hands out. */
function rpcViaMapper(client: string, server: string, iface: string, major: number, minor: number, port: number, t: number, name: string, vlan?: number): TimedFrame[] {
  const ip = server.split('.').map(Number) as [number, number, number, number];
  const ask = tcpTower(iface, major, minor, 135, [0, 0, 0, 0]);
  const answer = tcpTower(iface, major, minor, port, ip);
  return [
    ...tcp(eph(client), at(server, 135), [
      { c2s: bind(1, EPM, 3, 0), s2c: bindAck(1, '135') },
      { c2s: request(2, 3, eptMapRequest(ask)), s2c: response(2, eptMapResponse([answer])) },
    ], t, 'epmapper', { vlan }),
    ...tcp(eph(client), at(server, port), [
      { c2s: bind(1, iface, major, minor), s2c: bindAck(1, String(port)) },
      { c2s: request(2, name === 'emsmdb' ? 10 : 0, Buffer.alloc(64, 0x11)), s2c: response(2, Buffer.alloc(128, 0x22)) },
    ], t + 20_000, name, { vlan }),
  ];
}

export function buildSample(): TimedFrame[] {
  SAMPLE_FLOWS.length = 0;
  ephemeral = 49700;
  const H = HOSTS;
  let t = T0;
  const next = (ms: number) => (t += ms * 1000);
  const frames: TimedFrame[] = [];
  const dnsQuery = Buffer.from('12340100000100000000000003646331036c61620000010001', 'hex');
  const dnsAnswer = Buffer.from('12348180000100010000000003646331036c61620000010001c00c000100010000012c00040a0a000a', 'hex');

  // A MAPI connection Outlook opened before the capture began: no handshake and no
  // bind in the capture; only the endpoint mapper's answer seen later names it.
  frames.push(...tcp({ ip: H.client, port: 49650 }, at(H.cas, 59532), [{ c2s: request(40, 11, Buffer.alloc(96, 0x31)), s2c: response(40, Buffer.alloc(240, 0x32)) }], next(0), 'emsmdb', { vlan: 20, midstream: true }));

  // The Outlook client on VLAN 20 finds its servers and logs on.
  frames.push(...udp(eph(H.client), at(H.dc, 53), [{ c2s: dnsQuery, s2c: dnsAnswer }], next(5), 'dns', 20));
  frames.push(...tcp(eph(H.client), at(H.dc, 88), [{ c2s: Buffer.alloc(220, 0x6a), s2c: Buffer.alloc(1300, 0x6b) }], next(5), 'kerberos', { vlan: 20 }));
  frames.push(...tcp(eph(H.client), at(H.cas, 80), [{ c2s: text('GET /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: mail.lab.example\r\n\r\n'), s2c: text('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') }], next(10), 'http', { vlan: 20 }));
  frames.push(...rpcViaMapper(H.client, H.cas, EMSMDB, 0, 81, 59532, next(10), 'emsmdb', 20));
  frames.push(...rpcViaMapper(H.client, H.cas, NSPI, 56, 0, 59533, next(60), 'nspi', 20));
  frames.push(...tcp(eph(H.client), at(H.cas, 443), [{ c2s: Buffer.concat([Buffer.from('160301', 'hex'), Buffer.alloc(180, 0x01)]), s2c: Buffer.concat([Buffer.from('160303', 'hex'), Buffer.alloc(1400, 0x02)]) }], next(60), 'https', { vlan: 20 }));
  frames.push(...tcp(eph(H.client6), at(H.cas6, 443), [{ c2s: Buffer.concat([Buffer.from('160301', 'hex'), Buffer.alloc(200, 0x03)]), s2c: Buffer.concat([Buffer.from('160303', 'hex'), Buffer.alloc(900, 0x04)]) }], next(20), 'https'));

  // Client Access reaches the mailbox server's store through its endpoint mapper.
  frames.push(...rpcViaMapper(H.cas, H.mbx1, EMSMDB, 0, 81, 60001, next(30), 'emsmdb'));
  // Servers ask the domain controller / global catalog.
  for (const s of [H.cas, H.mbx1, H.hub]) {
    frames.push(...tcp(eph(s), at(H.dc, 389), [{ c2s: Buffer.alloc(90, 0x30), s2c: Buffer.alloc(600, 0x30) }], next(15), 'ldap'));
    frames.push(...tcp(eph(s), at(H.dc, 3268), [{ c2s: Buffer.alloc(110, 0x30), s2c: Buffer.alloc(900, 0x30) }], next(15), 'ldap-gc'));
  }
  frames.push(...udp(eph(H.mbx1), at(H.dc, 88), [{ c2s: Buffer.alloc(200, 0x6a), s2c: Buffer.alloc(1100, 0x6b) }], next(10), 'kerberos'));

  // Mail flow: Internet → Edge → Hub → Mailbox, and EdgeSync from Hub to Edge.
  const smtp = (helo: string) => [
    { s2c: text('220 mx ESMTP\r\n') },
    { c2s: text(`EHLO ${helo}\r\n`), s2c: text('250-mx\r\n250 STARTTLS\r\n') },
    { c2s: text('MAIL FROM:<a@example.org>\r\n'), s2c: text('250 OK\r\n') },
    { c2s: text('RCPT TO:<b@lab.example>\r\n'), s2c: text('250 OK\r\n') },
    { c2s: text('DATA\r\n'), s2c: text('354 go\r\n') },
    { c2s: Buffer.concat([text('Subject: hello\r\n\r\n'), Buffer.alloc(2000, 0x61), text('\r\n.\r\n')]), s2c: text('250 queued\r\n') },
    { c2s: text('QUIT\r\n'), s2c: text('221 bye\r\n') },
  ];
  frames.push(...tcp(eph(H.internet), at(H.edge, 25), smtp('mail.example.org'), next(40), 'smtp'));
  frames.push(...tcp(eph(H.edge), at(H.hub, 25), smtp('edge1.lab.example'), next(20), 'smtp'));
  frames.push(...tcp(eph(H.hub), at(H.edge, 50636), [{ c2s: Buffer.alloc(300, 0x17), s2c: Buffer.alloc(2500, 0x17) }], next(20), 'edgesync'));

  // Mailbox high availability: log shipping between DAG members, cluster heartbeat.
  frames.push(...tcp(eph(H.mbx1), at(H.mbx2, 64327), [{ c2s: Buffer.alloc(8000, 0x4c), s2c: Buffer.alloc(60, 0x4c) }, { c2s: Buffer.alloc(8000, 0x4d), s2c: Buffer.alloc(60, 0x4d) }], next(30), 'log-shipping'));
  frames.push(...udp(at(H.mbx1, 3343), at(H.mbx2, 3343), [{ c2s: Buffer.alloc(80, 0x33), s2c: Buffer.alloc(80, 0x33) }], next(10), 'cluster'));

  // Unified Messaging: a call from the IP gateway.
  frames.push(...tcp(eph(H.ipgw), at(H.um, 5060), [{ c2s: text('INVITE sip:5000@um1.lab.example SIP/2.0\r\nVia: SIP/2.0/TCP 10.10.0.70\r\n\r\n'), s2c: text('SIP/2.0 100 Trying\r\n\r\n') }], next(30), 'um-sip'));

  // Someone tries Remote Desktop on the mailbox server: refused, and unexpected.
  frames.push(...tcp(eph(H.client), at(H.mbx1, 3389), [], next(30), 'rdp', { vlan: 20, refused: true }));

  frames.sort((a, b) => a.tsUs - b.tsUs);
  return frames;
}

if (require.main === module) {
  const arg = process.argv[2];
  if (arg !== undefined && arg.startsWith('-')) {
    // An option is never a file name: --help says what the script does, anything else is a usage error.
    const help = arg === '--help' || arg === '-h';
    (help ? process.stdout : process.stderr).write('usage: node dist/samples/make-sample.js [OUT.pcapng]  (default samples/exchange-org.pcapng; npm run samples)\n');
    process.exit(help ? 0 : 64);
  }
  const out = arg ?? path.join('samples', 'exchange-org.pcapng');
  const frames = buildSample();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, pcapngBytes(frames));
  process.stdout.write(`wrote ${out}: ${frames.length} packets, ${SAMPLE_FLOWS.length} flows\n`);
}
