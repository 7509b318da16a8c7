// Every interface bound on a connection — bind and alter_context, as Windows binds WMI —
// against tshark's dissection, connection by connection; and DCOM's activation read on
// 135 without its bind. Captures: test/fixtures/dcom/dcom-wmi.pcap (PDUs and NDR stubs
// encoded by impacket, make-dcom-capture.py wmi), dcom-oxid.pcap, and the shared public
// DCE/RPC traces.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

interface Flow { client_port: number; server_port: number; service: string | null; via: string | null; rpc_interface: string | null; rpc_uuid: string | null; rpc_uuids: string[]; rpc_interfaces: string[]; rpc_note: string | null }

const WMI = path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-wmi.pcap');

function analyzed(file: string): { flows: Flow[]; db: string } {
  const db = path.join(tmpDir(), 'r.sqlite');
  const a = runCli(['analyze', file, '--db', db, '--quiet']);
  expect(a.code, a.stderr).toBe(0);
  return { flows: JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[], db };
}

/** tshark: the abstract syntaxes each TCP connection's binds and alter_contexts offered, by the client's port, and those some answer accepted. */
function tsharkContexts(file: string): Map<number, { offered: Set<string>; accepted: Set<string> }> {
  const r = spawnSync('tshark', ['-r', file, '-o', 'tcp.desegment_tcp_streams:TRUE', '-Y', 'dcerpc.pkt_type == 11 || dcerpc.pkt_type == 14', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'dcerpc.cn_bind_to_uuid'], { encoding: 'utf8' });
  const out = new Map<number, { offered: Set<string>; accepted: Set<string> }>();
  for (const line of r.stdout.trim().split('\n').filter(Boolean)) {
    const [port, uuids] = line.split('\t');
    const e = out.get(Number(port)) ?? { offered: new Set<string>(), accepted: new Set<string>() };
    for (const u of (uuids ?? '').split(',').filter(Boolean)) e.offered.add(u);
    out.set(Number(port), e);
  }
  return out;
}

describe.skipIf(!HAVE_TSHARK)('every interface on a connection, as tshark sees the binds', () => {
  it('WMI over DCOM: IRemUnknown2, then IWbemLoginClientID, IWbemLevel1Login and IWbemServices by alter_context on one connection: named wmi, all four listed in bind order', () => {
    const { flows, db } = analyzed(WMI);
    const wmi = flows.find((f) => f.client_port === 50011)!;
    const theirs = tsharkContexts(WMI).get(50011)!;
    expect([...theirs.offered]).toEqual(['00000143-0000-0000-c000-000000000046', 'd4781cd6-e5d3-44df-ad94-930efe48a887', 'f309ad18-d86a-11d0-a075-00c04fb68820', '9556dc99-828c-11cf-a37e-00aa003240c7']);
    expect(wmi.rpc_uuids).toEqual([...theirs.offered]);
    expect(wmi).toMatchObject({ service: 'wmi', via: 'bind', rpc_interfaces: ['iremunknown2', 'iwbemloginclientid', 'iwbemlevel1login', 'iwbemservices'] });
    // The registry holds every one of them on the exporter's port.
    const eps = JSON.parse(runCli(['epm', '--db', db, '--server', '10.77.0.20', '--format', 'json']).stdout) as { port: number; uuid: string }[];
    expect(eps.filter((e) => e.port === 49702).map((e) => e.uuid).sort()).toEqual([...theirs.offered].sort());
    // The firewall's rule for the port lists them too.
    const plan = JSON.parse(runCli(['report', 'firewall', '--db', db, '--all', '--format', 'json']).stdout) as { rules: { ports: number[]; rpc_interfaces: string[] }[] };
    expect(plan.rules.find((r) => r.ports.includes(49702))!.rpc_interfaces).toEqual(expect.arrayContaining(['iwbemlevel1login', 'iwbemservices']));
  });

  it('an activation on 135 without its bind: read by its structure (the OBJREF), named as activation, and the exporter\'s port it hands out named wmi', () => {
    const { flows, db } = analyzed(WMI);
    const on135 = flows.find((f) => f.client_port === 50012)!;
    expect(tsharkContexts(WMI).has(50012)).toBe(false); // no bind in the capture
    expect(on135).toMatchObject({ service: 'dcom', via: 'payload', rpc_interface: 'isystemactivator' });
    expect(on135.rpc_note).toMatch(/activation request \(its OBJREF\)/);
    // The string binding impacket encoded into the answer (UTF-16LE in the stub) is the one registered.
    const bytes = fs.readFileSync(WMI);
    expect(bytes.indexOf(Buffer.from('MBX01[49703]', 'utf16le'))).toBeGreaterThan(0);
    const eps = JSON.parse(runCli(['epm', '--db', db, '--source', 'dcom', '--format', 'json']).stdout) as { port: number; interface: string }[];
    expect(eps).toEqual([expect.objectContaining({ port: 49703, interface: 'iwbemlevel1login' })]);
    const exporter = flows.find((f) => f.client_port === 50013)!;
    expect(exporter).toMatchObject({ server_port: 49703, service: 'wmi', via: 'epm', rpc_interface: 'iwbemlevel1login' });
  });

  it('a ResolveOxid2 answer on 135 without its bind (the capture cut mid-stream with editcap): read by its structure, its port registered', () => {
    const cut = path.join(tmpDir(), 'oxid-midstream.pcap');
    // Frames 1-5: the handshake and the bind of the resolver's connection; the capture keeps the calls.
    const e = spawnSync('editcap', [path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-oxid.pcap'), cut, '1-5'], { encoding: 'utf8' });
    expect(e.status, e.stderr).toBe(0);
    const { flows, db } = analyzed(cut);
    expect(tsharkContexts(cut).has(50001)).toBe(false);
    const on135 = flows.find((f) => f.client_port === 50001)!;
    expect(on135).toMatchObject({ service: 'dcom', via: 'payload', rpc_interface: 'ioxidresolver' });
    expect(on135.rpc_note).toMatch(/structure of ResolveOxid/);
    const eps = JSON.parse(runCli(['epm', '--db', db, '--source', 'dcom', '--format', 'json']).stdout) as { port: number; interface: string }[];
    expect(eps.map((x) => x.port)).toContain(49701);
    expect(flows.find((f) => f.client_port === 50003)).toMatchObject({ service: 'dcom', via: 'epm', rpc_interface: 'iremunknown2' });
  });

  const corpus = [
    path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-oxid.pcap'),
    WMI,
    ...(HAVE_SHARED
      ? ['suricata-dcerpc-dcerpc-ctxids-input.pcap', 'zeek-dce-rpc-cs_window7-join_stream092.pcap', 'zeek-dce-rpc-kerberos135_auth.pcapng', 'zeek-dce-rpc-dce_rpc_netlogon.pcapng', 'suricata-dcerpc-dcerpc-bind-no-frag-flag-input.pcap'].map((f) => shared('public', f))
      : []),
  ];
  for (const file of corpus) {
    it(`${path.basename(file)}: each TCP connection's rpc_uuids are the interfaces tshark sees offered on it (less any refused)`, () => {
      const { flows } = analyzed(file);
      const theirs = tsharkContexts(file);
      let compared = 0;
      for (const f of flows) {
        const t = theirs.get(f.client_port);
        if (!t || f.server_port === 445 || f.server_port === 139) continue; // SMB: binds inside pipes, by file id
        compared++;
        for (const u of f.rpc_uuids) expect(t.offered.has(u), `${f.client_port}: ${u}`).toBe(true);
        if (!/bind rejected/.test(f.rpc_note ?? '')) expect(new Set(f.rpc_uuids), `${f.client_port}`).toEqual(t.offered);
      }
      expect(compared).toBeGreaterThan(0);
    });
  }
});
