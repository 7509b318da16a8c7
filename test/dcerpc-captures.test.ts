// Issue 3 acceptance on real captures: the lab (Samba AD DC + impacket) against its
// MANIFEST, the focused Exchange-lab cases against their README, and every public
// DCE/RPC trace against tshark's own bind dissection.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, runCli, shared, tmpDir } from './helpers';

interface FlowJson {
  transport: string;
  client: string;
  client_port: number;
  server: string;
  server_port: number;
  service: string | null;
  via: string | null;
  rpc_interface: string | null;
  rpc_uuid: string | null;
  rpc_note: string | null;
  missing_c2s: number;
  missing_s2c: number;
}
interface EndpointJson {
  server: string;
  transport: string;
  port: number;
  uuid: string;
  interface: string | null;
  source: string;
  first_seen: string;
  client: string;
  protseq: string;
}

function analyze(file: string): { flows: FlowJson[]; endpoints: EndpointJson[] } {
  const db = path.join(tmpDir(), 'x.sqlite');
  const a = runCli(['analyze', file, '--db', db, '--quiet']);
  expect(a.code, a.stderr).toBe(0);
  const f = runCli(['flows', '--db', db, '--format', 'json']);
  const e = runCli(['epm', '--db', db, '--format', 'json']);
  expect(e.code, e.stderr).toBe(0);
  return { flows: JSON.parse(f.stdout), endpoints: JSON.parse(e.stdout) };
}

const DC = '10.77.0.10';

function checkLabAd(flows: FlowJson[], ports: { netlogon: number; shared: number; samr: number }): void {
  const to = (port: number) => flows.filter((f) => f.server === DC && f.server_port === port);
  expect(to(ports.netlogon).map((f) => f.rpc_interface)).toEqual(['netlogon']);
  expect(to(ports.samr).map((f) => f.rpc_interface)).toEqual(['samr']);
  // Two interfaces share one dynamic port: each connection's own bind decides.
  expect(to(ports.shared).map((f) => f.rpc_interface).sort()).toEqual(['drsuapi', 'lsarpc']);
  for (const f of [...to(ports.netlogon), ...to(ports.samr), ...to(ports.shared)]) expect(f.via).toBe('bind');
  expect(to(ports.shared).find((f) => f.rpc_interface === 'drsuapi')!.service).toBe('ad-replication-rpc');
  expect(to(ports.netlogon)[0].service).toBe('ad-rpc');
  for (const f of to(135)) {
    expect(f.rpc_interface).toBe('epmapper');
    expect(f.service).toBe('msrpc-epm');
    expect(f.rpc_uuid).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa');
  }
}

/** tshark's ncacn_ip_tcp endpoints of one ept_lookup response frame, as "port uuid" strings. */
function tsharkLookupEndpoints(file: string, frame: number): string[] {
  const r = spawnSync('tshark', ['-r', file, '-Y', `frame.number == ${frame}`, '-V'], { encoding: 'utf8' });
  const out: string[] = [];
  let uuid: string | null = null;
  let inFloor1 = false;
  for (const line of r.stdout.split('\n')) {
    if (/^\s+Floor \d+ /.test(line)) inFloor1 = /^\s+Floor 1 UUID/.test(line);
    // tshark names known UUIDs: "UUID: DNSSERVER (50abc2a4-...)" or the bare UUID.
    const u = /^\s+UUID: (?:.*\()?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(line);
    if (u && inFloor1) uuid = u[1];
    const t = /^\s+Floor \d+ TCP Port:(\d+)/.exec(line);
    if (t && uuid) out.push(`${t[1]} ${uuid}`);
  }
  return out.sort();
}

describe.skipIf(!HAVE_SHARED)('lab captures (MANIFEST.md)', () => {
  it('lab-ad-epm.pcap: each dynamic port named by its bind, 135 = epmapper, ept_map results on 10.77.0.10', () => {
    const file = shared('lab', 'lab-ad-epm.pcap');
    const { flows, endpoints } = analyze(file);
    checkLabAd(flows, { netlogon: 49152, shared: 49153, samr: 49154 });
    expect(flows.filter((f) => f.server_port === 135)).toHaveLength(5);
    const maps = endpoints.filter((e) => e.source === 'ept_map').map((e) => `${e.server} ${e.transport} ${e.port} ${e.interface} ${e.client}`).sort();
    // The towers say 0.0.0.0: the registry must hold the host that answered.
    expect(maps).toEqual([
      `${DC} tcp 49152 netlogon 10.77.0.100`,
      `${DC} tcp 49153 drsuapi 10.77.0.100`,
      `${DC} tcp 49153 lsarpc 10.77.0.100`,
      `${DC} tcp 49154 samr 10.77.0.100`,
    ]);
    for (const e of endpoints) expect(e.server).not.toBe('0.0.0.0');
  });

  it.skipIf(!HAVE_TSHARK)('lab-ad-epm.pcap: every ncacn_ip_tcp endpoint of the ept_lookup response in frame 11 (tshark as the oracle)', () => {
    const file = shared('lab', 'lab-ad-epm.pcap');
    const { endpoints } = analyze(file);
    const ours = endpoints.filter((e) => e.source === 'ept_lookup' && e.protseq === 'ncacn_ip_tcp').map((e) => `${e.port} ${e.uuid}`).sort();
    const theirs = tsharkLookupEndpoints(file, 11);
    expect(theirs.length).toBe(16);
    expect(ours).toEqual(theirs);
    // The two ncacn_http towers (port 593) are listed too, as such.
    expect(endpoints.filter((e) => e.source === 'ept_lookup' && e.protseq === 'ncacn_http').map((e) => e.port)).toEqual([593, 593]);
  });

  for (const variant of ['lab-ad-epm.pcapng', 'lab-ad-epm-bigendian.pcap', 'lab-ad-epm-bigendian.pcapng', 'lab-ad-epm.pcapng.gz']) {
    it(`${variant}: the same names`, () => {
      checkLabAd(analyze(shared('lab', variant)).flows, { netlogon: 49152, shared: 49153, samr: 49154 });
    });
  }

  it('lab-sll2-nano.pcap (cooked v2, ns): ports 51000-51002', () => {
    const { flows, endpoints } = analyze(shared('lab', 'lab-sll2-nano.pcap'));
    checkLabAd(flows, { netlogon: 51000, shared: 51001, samr: 51002 });
    expect(endpoints.filter((e) => e.source === 'ept_map').map((e) => `${e.port} ${e.interface}`).sort()).toEqual([
      '51000 netlogon', '51001 drsuapi', '51001 lsarpc', '51002 samr',
    ]);
  });

  it('lab-ad-epm-snap96.pcap: the cut payload is reported, nothing is misread', () => {
    const { flows, endpoints } = analyze(shared('lab', 'lab-ad-epm-snap96.pcap'));
    expect(endpoints).toEqual([]);
    const rpc = flows.filter((f) => f.server_port === 135 || f.server_port >= 49152);
    expect(rpc).toHaveLength(9);
    for (const f of rpc) {
      expect(f.rpc_interface).toBeNull();
      expect(f.rpc_note).toMatch(/cut by the snaplen/);
      expect(f.missing_c2s + f.missing_s2c).toBeGreaterThan(0);
    }
    // The dynamic-port connections began with a DCE/RPC header, so they are RPC of an unknown interface.
    for (const f of rpc.filter((x) => x.server_port !== 135)) {
      expect(f.service).toBe('rpc-dynamic');
      expect(f.via).toBe('payload');
    }
  });
});

describe.skipIf(!HAVE_SHARED)('lab-exchange focus captures (README.md)', () => {
  const dir = 'lab-exchange';
  it('focus-epm-drsuapi-dc: ept_map → 49153, the follow-up connection binds DRSUAPI', () => {
    const { flows, endpoints } = analyze(shared(dir, 'focus-epm-drsuapi-dc.pcap'));
    expect(flows.find((f) => f.server_port === 49153)!.rpc_interface).toBe('drsuapi');
    expect(endpoints.filter((e) => e.source === 'ept_map').map((e) => `${e.server}:${e.port} ${e.interface}`)).toEqual(['10.77.0.10:49153 drsuapi']);
  });
  it('focus-epm-winreg-mbx: ept_map on the mailbox host → 49152 winreg', () => {
    const { flows, endpoints } = analyze(shared(dir, 'focus-epm-winreg-mbx.pcapng'));
    expect(flows.find((f) => f.server === '10.77.0.20' && f.server_port === 49152)!.rpc_interface).toBe('winreg');
    expect(endpoints.filter((e) => e.source === 'ept_map').map((e) => `${e.server}:${e.port} ${e.interface}`)).toEqual(['10.77.0.20:49152 winreg']);
  });
  it('focus-epm-emsmdb-not-registered: status 0x16c9a0d6 is reported, no endpoint invented', () => {
    const { flows, endpoints } = analyze(shared(dir, 'focus-epm-emsmdb-not-registered.pcap'));
    expect(flows).toHaveLength(1);
    expect(flows[0].rpc_note).toMatch(/emsmdb not registered.*0x16c9a0d6/);
    expect(endpoints.filter((e) => e.source !== 'bind')).toEqual([]);
  });
  for (const f of ['focus-epm-drsuapi-dc-snap96.pcap', 'focus-epm-winreg-mbx-snap96.pcapng', 'focus-epm-emsmdb-not-registered-snap96.pcap']) {
    it(`${f}: no interface or port guessed`, () => {
      const { flows, endpoints } = analyze(shared(dir, f));
      expect(endpoints).toEqual([]);
      for (const x of flows) {
        expect(x.rpc_interface).toBeNull();
        expect(x.rpc_note).toMatch(/snaplen/);
      }
    });
  }
});

describe.skipIf(!HAVE_SHARED)('public traces: what only the endpoint mapper tells', () => {
  it('suricata-bug-5133: the mapper context was accepted as NDR64 and its ept_map answer (port 49683, svcctl) is read as NDR64', () => {
    const { flows, endpoints } = analyze(shared('public', 'suricata-bug-5133-input.pcap'));
    expect(flows.find((f) => f.server_port === 135)!.rpc_note).toMatch(/NDR64/);
    expect(endpoints.filter((e) => e.source === 'ept_map').map((e) => `${e.server}:${e.port} ${e.interface}`)).toEqual(['172.16.66.36:49683 svcctl']);
  });
  it('suricata-smb2-07 psexec: a connection to the mapped port with no bind is named by the ept_map answer (via epm)', () => {
    const { flows } = analyze(shared('public', 'suricata-smb2-07-20171220_smb_psexec_add_user.pcap'));
    const f = flows.find((x) => x.server_port === 49163)!;
    expect([f.service, f.via, f.rpc_interface]).toEqual(['windows-admin-rpc', 'epm', 'svcctl']);
    expect(f.rpc_note).toMatch(/no bind on this connection; named by ept_map answer to this client/);
  });
});

/** Public traces with DCE/RPC binds (tshark finds them); SMB-carried ones included. */
const PUBLIC_RPC = fs.existsSync(shared('public'))
  ? fs.readdirSync(shared('public')).filter((f) => /dce-rpc|dcerpc|bug-51|smb/.test(f))
  : [];

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('public DCE/RPC traces against tshark (dcerpc.cn_bind_to_uuid)', () => {
  for (const name of PUBLIC_RPC) {
    it(name, () => {
      const file = shared('public', name);
      const r = spawnSync('tshark', ['-r', file, '-Y', 'dcerpc.cn_bind_to_uuid', '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'dcerpc.cn_bind_to_uuid'], { encoding: 'utf8' });
      const binds = new Map<string, string[]>();
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const [src, sport, dst, dport, uuids] = line.split('\t');
        const key = `${src}:${sport} > ${dst}:${dport}`;
        binds.set(key, [...(binds.get(key) ?? []), ...uuids.split(',')]);
      }
      const { flows } = analyze(file);
      for (const [key, uuids] of binds) {
        const f = flows.find((x) => `${x.client}:${x.client_port} > ${x.server}:${x.server_port}` === key);
        expect(f, key).toBeDefined();
        // exflow names the connection by a bound interface: one tshark saw bound on it.
        expect(uuids, `${key}: exflow said ${f!.rpc_uuid}`).toContain(f!.rpc_uuid);
      }
    });
  }
});

describe.skipIf(!HAVE_TSHARK)('RPC over SMB on 139 and the mapper over \\pipe\\epmapper (the Exchange lab)', () => {
  const file = path.join(__dirname, 'fixtures', 'exchange-lab', 'exchange-rpc-smb139.pcap');
  it('both 139 connections are named by the interface bound over their pipe; the pipe\'s ept_lookup listing is in the registry, endpoint by endpoint as tshark reads it', () => {
    const { flows, endpoints } = analyze(file);
    const on139 = flows.filter((f) => f.server_port === 139);
    expect(on139.map((f) => f.rpc_interface).sort()).toEqual(['epmapper', 'lsarpc']);
    for (const f of on139) expect(f.service).toBe('netbios');
    const frame = Number(spawnSync('tshark', ['-r', file, '-Y', 'epm.opnum == 2 && dcerpc.pkt_type == 2 && epm.proto.tcp_port', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
    const theirs = tsharkLookupEndpoints(file, frame);
    expect(theirs.length).toBeGreaterThan(10);
    const ours = endpoints.filter((e) => e.source === 'ept_lookup' && e.protseq === 'ncacn_ip_tcp').map((e) => `${e.port} ${e.uuid}`).sort();
    expect(ours).toEqual(theirs);
    // Binds over a pipe are not endpoints on TCP 139.
    expect(endpoints.filter((e) => e.port === 139)).toEqual([]);
  });
});

describe.skipIf(!HAVE_TSHARK)('the endpoint mapper over UDP 135 (connectionless, ncadg_ip_udp)', () => {
  // Stubs and towers encoded by impacket: test/fixtures/cl-epm/make-cl-epm-capture.py.
  const file = path.join(__dirname, 'fixtures', 'cl-epm', 'cl-epm.pcap');
  it('the ept_map answer enters the registry as tshark reads its tower: LSARPC on UDP 49200 of the host that answered', () => {
    const { flows, endpoints } = analyze(file);
    const v = spawnSync('tshark', ['-r', file, '-2', '-Y', 'dcerpc.pkt_type == 2 && udp.srcport == 135', '-V'], { encoding: 'utf8' }).stdout;
    const port = Number(/Floor 4 UDP Port:(\d+)/.exec(v)![1]);
    const ip = /Floor 5 IP:([\d.]+)/.exec(v)![1];
    expect(endpoints.map((e) => `${e.server} ${e.transport} ${e.port} ${e.interface} ${e.source} ${e.protseq}`)).toEqual([`${ip} udp ${port} lsarpc ept_map ncadg_ip_udp`]);
    const mapper = flows.find((f) => f.server_port === 135)!;
    expect(mapper).toMatchObject({ transport: 'udp', service: 'msrpc-epm', rpc_interface: 'epmapper' });
    expect(mapper.rpc_note).toMatch(/ept_map over UDP: 1 endpoint/);
  });
});
