// Flow counts against tshark's conversation tables (-z conv,tcp + -z conv,udp) on every
// public capture. Two differences are by design and are allowed for below:
//  - tunnels: tshark also lists the outer conversation of a VXLAN tunnel (UDP 4789);
//    exflow keys flows on the inner packet only, as a span-port user wants.
//  - fragments: tshark counts a fragmented datagram only when it reassembles it;
//    exflow opens the flow from the first fragment's ports (ndpi-ip_fragmented_garbage
//    holds four first fragments whose datagrams never complete: tshark 2, exflow 4).
import { describe, expect, it } from 'vitest';
import { captureFiles, flowsOf, HAVE_SHARED, HAVE_TSHARK, tsharkReading } from './helpers';

const FIRST_FRAGMENT_ONLY: Record<string, number> = { 'ndpi-ip_fragmented_garbage.pcap': 2 };

function tsharkConversations(file: string): string[] {
  return tsharkReading(file).conversations;
}

const files = HAVE_SHARED ? [...captureFiles('public'), ...captureFiles('lab-exchange')] : [];

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('flow count = tshark conversations', () => {
  for (const f of files) {
    const name = f.split('/').pop()!;
    it(name, async () => {
      const theirs = tsharkConversations(f);
      const outerTunnels = theirs.filter((l) => /:4789\s/.test(l)).length;
      const { flows } = await flowsOf(f);
      const expected = theirs.length - outerTunnels + (FIRST_FRAGMENT_ONLY[name] ?? 0);
      expect(flows.length).toBe(expected);
    });
  }
});

describe.skipIf(!HAVE_SHARED)('span-port encapsulations: flows are the inner ones', () => {
  it('VXLAN: inner DNS and HTTPS, no UDP 4789 flow', async () => {
    const { flows } = await flowsOf(captureFiles('public').find((f) => f.endsWith('ndpi-vxlan.pcap'))!);
    expect(flows.some((f) => f.serverPort === 4789)).toBe(false);
    expect(flows.map((f) => `${f.client}>${f.server}:${f.serverPort}`).sort()).toEqual(
      ['10.10.20.4>157.240.224.35:443', '10.10.20.4>157.240.224.35:443', '10.10.20.4>8.8.8.8:53', '10.10.20.4>8.8.8.8:53'],
    );
    expect(flows.every((f) => f.tunnels === 1)).toBe(true);
  });

  it('QinQ: one inner HTTP flow with its outer VLAN id', async () => {
    const { flows } = await flowsOf(captureFiles('public').find((f) => f.endsWith('zeek-http-qinq-0.pcap'))!);
    expect(flows).toHaveLength(1);
    expect(flows[0].serverPort).toBe(80);
    expect(flows[0].vlan).not.toBeNull();
  });

  it('ERSPAN type II and III: the inner packets are decoded (ICMP there: no TCP/UDP flows, counted as other IP)', async () => {
    for (const name of ['zeek-erspanII.pcap', 'zeek-erspanIII.pcap', 'zeek-tunnels-gre-erspan3-dot1q.pcap']) {
      const { flows, ingest } = await flowsOf(captureFiles('public').find((f) => f.endsWith(name))!);
      expect(flows).toHaveLength(0);
      expect(ingest.counters.otherIpPackets).toBe(ingest.counters.packets);
      expect(ingest.counters.malformedPackets).toBe(0);
    }
  });

  it('ERSPAN (zeek-erspan.pcap): inner TCP/UDP flows, none on the GRE outer addresses', async () => {
    const { flows } = await flowsOf(captureFiles('public').find((f) => f.endsWith('zeek-erspan.pcap'))!);
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.every((f) => f.tunnels >= 1)).toBe(true);
  });

  it('PPTP GRE carrying PPP: the inner SIP over UDP', async () => {
    const { flows } = await flowsOf(captureFiles('public').find((f) => f.endsWith('ndpi-gre.pcapng'))!);
    expect(flows).toHaveLength(1);
    expect(flows[0].transport).toBe('udp');
    expect(flows[0].serverPort).toBe(5060);
  });

  it('IPv4 fragments: later fragments count toward the flow of the first', async () => {
    const { flows, ingest } = await flowsOf(captureFiles('public').find((f) => f.endsWith('zeek-ipv4-fragmented-1.pcap'))!);
    expect(flows).toHaveLength(1);
    expect(ingest.counters.fragmentPackets).toBe(1);
    expect(flows[0].packetsC2S + flows[0].packetsS2C).toBe(3);
  });
});
