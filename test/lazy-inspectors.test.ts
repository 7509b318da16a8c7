// A flow's payload inspector is made at its first payload, not at its SYN (memory under a
// SYN flood). The invariant: on real captures, every flow is labelled exactly as when the
// inspector is made at the first packet — the SYNs it missed are handed to it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapture } from '../src/capture/reader';
import { servicePortTest } from '../src/classify/by-port';
import { classifyFlow } from '../src/classify/flow';
import { PacketIngest } from '../src/flow/ingest';
import type { InspectorFactory } from '../src/flow/inspector';
import { buildFlowRecord } from '../src/flow/record';
import { FlowTable } from '../src/flow/table';
import { dcomActivatable, Inspectors } from '../src/inspect';
import { loadRules } from '../src/rules/load';
import { inspectorPorts } from '../src/rules/services';
import { writeFlood } from '../src/samples/flood';
import { HAVE_SHARED, ROOT, shared, tmpDir } from './helpers';

const rules = loadRules();
const isServicePort = servicePortTest(rules);
const newInspectors = () => new Inspectors(inspectorPorts(rules.services), { dcomIids: dcomActivatable(rules.rpcInterfaces.values()), udpPorts: inspectorPorts(rules.services, 'udp') });

/** The same inspectors, made at a flow's first packet (the factory does not offer wantsPorts). */
function eager(i: Inspectors): InspectorFactory {
  return { byPorts: (a, b) => i.byPorts(a, b), byPayload: (d, b, o, n) => i.byPayload(d, b, o, n), byUdpPorts: (a, b) => i.byUdpPorts(a, b) };
}

async function labelled(file: string, factory: InspectorFactory): Promise<string[]> {
  const table = new FlowTable({ inspectors: factory });
  const out: string[] = [];
  table.setFlushHandler((t, idx) => {
    const rec = buildFlowRecord(t, idx, isServicePort);
    const c = classifyFlow(rules, rec);
    out.push(JSON.stringify({ key: [rec.transport, rec.client, rec.clientPort, rec.server, rec.serverPort, rec.firstSec, rec.firstNsec], labels: c.labels, payload: c.payload, endpoints: c.endpoints, inspected: t.inspectedBytes[idx] }));
  });
  await readCapture(file, new PacketIngest(table));
  table.flushAll();
  return out.sort();
}

const captures = [
  ...fs.readdirSync(path.join(ROOT, 'test', 'fixtures', 'exchange-lab')).filter((f) => f.endsWith('.pcap')).map((f) => path.join(ROOT, 'test', 'fixtures', 'exchange-lab', f)),
  path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-oxid.pcap'),
  path.join(ROOT, 'samples', 'exchange-org.pcapng'),
  ...(HAVE_SHARED ? [shared('lab', 'lab-ad-epm.pcap'), shared('lab-exchange', 'focus-epm-drsuapi-dc.pcap'), shared('public', 'ndpi-smtp-starttls.pcap'), shared('public', 'arkime-wireshark-smb-on-windows10.pcap'), shared('public', 'zeek-dce-rpc-cs_window7-join_stream092.pcap')] : []),
];

describe('payload inspectors made at the first payload', () => {
  it('1,000 unanswered SYNs to 443 make no inspector at all', async () => {
    const file = path.join(tmpDir(), 'flood.pcap');
    writeFlood(file, 1000, 443);
    const ins = newInspectors();
    const table = new FlowTable({ inspectors: ins });
    await readCapture(file, new PacketIngest(table));
    expect(table.stats.flowsCreated).toBe(1000);
    expect(ins.attachedTls).toBe(0);
    expect(table.inspectors.filter((x) => x !== null)).toHaveLength(0);
  });

  for (const file of captures) {
    it(`${path.basename(file)}: every flow labelled as when the inspector is made at the SYN`, async () => {
      const lazy = await labelled(file, newInspectors());
      const atSyn = await labelled(file, eager(newInspectors()));
      expect(lazy.length).toBeGreaterThan(0);
      expect(lazy).toEqual(atSyn);
    });
  }
});
