// lab-ad-epm against its ground truth (../shared/captures/lab/MANIFEST.md), and its
// variants (pcapng, big-endian, gzip, snaplen 96) against the original.
import { describe, expect, it } from 'vitest';
import { flowKey, flowsOf, HAVE_SHARED, shared } from './helpers';

describe.skipIf(!HAVE_SHARED)('lab-ad-epm flows = MANIFEST.md', () => {
  it('19 TCP + 1 UDP flows, client 10.77.0.100, servers and ports as listed', async () => {
    const { flows, ingest } = await flowsOf(shared('lab', 'lab-ad-epm.pcap'));
    expect(ingest.counters.packets).toBe(230);
    expect(flows.filter((f) => f.transport === 'tcp')).toHaveLength(19);
    expect(flows.filter((f) => f.transport === 'udp')).toHaveLength(1);
    for (const f of flows) expect(f.client).toBe('10.77.0.100');
    const count = (server: string, port: number, transport = 'tcp') => flows.filter((f) => f.server === server && f.serverPort === port && f.transport === transport).length;
    expect(count('10.77.0.10', 135)).toBe(5);
    expect(count('10.77.0.10', 49153)).toBe(2);
    expect(count('10.77.0.10', 49152)).toBe(1);
    expect(count('10.77.0.10', 49154)).toBe(1);
    expect(count('10.77.0.10', 389)).toBe(1);
    expect(count('10.77.0.10', 3268)).toBe(1);
    expect(count('10.77.0.10', 88)).toBe(2);
    expect(count('10.77.0.10', 53)).toBe(1);
    expect(count('10.77.0.10', 53, 'udp')).toBe(1);
    expect(count('10.77.0.20', 25)).toBe(1);
    expect(count('10.77.0.30', 80)).toBe(3);
    expect(count('10.77.0.20', 3389)).toBe(1);
    // The refused RDP attempt: SYN answered by RST.
    const rdp = flows.find((f) => f.serverPort === 3389)!;
    expect(rdp.tcpState).toBe('rejected');
    expect(rdp.packetsC2S + rdp.packetsS2C).toBe(2);
    // Every TCP flow's direction came from its SYN.
    for (const f of flows.filter((x) => x.transport === 'tcp')) expect(f.directionBy).toBe('syn');
    // DNS over UDP has no SYN: decided by the known service port.
    expect(flows.find((f) => f.transport === 'udp')!.directionBy).toBe('service-port');
  });

  const summary = (flows: Awaited<ReturnType<typeof flowsOf>>['flows']) =>
    flows.map((f) => `${flowKey(f)} ${f.packetsC2S}/${f.packetsS2C}`).sort();

  for (const variant of ['lab-ad-epm.pcapng', 'lab-ad-epm-bigendian.pcap', 'lab-ad-epm-bigendian.pcapng', 'lab-ad-epm.pcapng.gz', 'lab-ad-epm-snap96.pcap']) {
    it(`${variant} gives the same flows (tuples and packet counts)`, async () => {
      const base = await flowsOf(shared('lab', 'lab-ad-epm.pcap'));
      const v = await flowsOf(shared('lab', variant));
      expect(summary(v.flows)).toEqual(summary(base.flows));
      expect(v.status).toBe('ok');
    });
  }

  it('snaplen 96: payload the capture lacks is counted as missing, not invented', async () => {
    const base = await flowsOf(shared('lab', 'lab-ad-epm.pcap'));
    const cut = await flowsOf(shared('lab', 'lab-ad-epm-snap96.pcap'));
    const epmBase = base.flows.find((f) => f.serverPort === 135)!;
    const epmCut = cut.flows.find((f) => flowKey(f) === flowKey(epmBase))!;
    expect(epmCut.payloadS2C).toBe(epmBase.payloadS2C); // wire payload from the headers
    expect(epmCut.missingS2C).toBeGreaterThan(0);
    expect(epmBase.missingS2C).toBe(0);
  });

  it('merged two-interface pcapng (Ethernet µs + Linux cooked v2 ns) holds both captures', async () => {
    const merged = await flowsOf(shared('lab', 'lab-merged-2if.pcapng'));
    const a = await flowsOf(shared('lab', 'lab-ad-epm.pcap'));
    const b = await flowsOf(shared('lab', 'lab-sll2-nano.pcap'));
    expect(merged.ingest.counters.packets).toBe(230 + 106);
    expect(merged.flows.length).toBe(a.flows.length + b.flows.length);
  });

  it('Linux cooked v2 with nanosecond timestamps: the 51000-51002 dynamic ports are flows', async () => {
    const { flows } = await flowsOf(shared('lab', 'lab-sll2-nano.pcap'));
    const ports = flows.filter((f) => f.server === '10.77.0.10').map((f) => f.serverPort);
    expect(ports).toEqual(expect.arrayContaining([51000, 51001, 51002]));
    // Nanosecond timestamps survive (a µs reader would leave every value a multiple of 1000).
    expect(flows.some((f) => f.firstNsec % 1000 !== 0)).toBe(true);
  });
});
