// DCOM: the OXID resolver's answers on 135 name the object exporter's dynamic port,
// so the connection there is named even when it begins mid-stream. The capture's
// PDUs and NDR stubs were encoded by impacket (test/fixtures/dcom/make-dcom-capture.py);
// tshark's DCOM dissection of the same file is the oracle for the string bindings.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_TSHARK, ROOT, runCli, tmpDir } from './helpers';

const FILE = path.join(ROOT, 'test', 'fixtures', 'dcom', 'dcom-oxid.pcap');

describe.skipIf(!HAVE_TSHARK)('DCOM OXID resolution', () => {
  const db = path.join(tmpDir(), 'd.sqlite');
  const a = runCli(['analyze', FILE, '--db', db, '--quiet']);
  const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { client_port: number; server_port: number; service: string; via: string; rpc_interface: string | null; rpc_note: string | null }[];
  const eps = JSON.parse(runCli(['epm', '--db', db, '--source', 'dcom', '--format', 'json']).stdout) as { server: string; port: number; interface: string; annotation: string }[];

  it('the string bindings tshark reads in the ResolveOxid2 answer are the registry\'s dcom endpoints', () => {
    expect(a.code, a.stderr).toBe(0);
    const theirs = spawnSync('tshark', ['-r', FILE, '-Y', 'dcerpc.pkt_type == 2 && dcerpc.opnum == 4 && tcp.dstport == 50001', '-T', 'fields', '-e', 'dcom.dualstringarray.network_addr'], { encoding: 'utf8' })
      .stdout.trim().split(/[,\n]/).filter(Boolean);
    expect(theirs).toEqual(['MBX01[49701]', '10.77.0.20[49701]']);
    const ports = [...new Set(theirs.map((b) => Number(/\[(\d+)\]$/.exec(b)![1])))];
    expect(eps.filter((e) => /^OXID/.test(e.annotation)).map((e) => e.port)).toEqual(ports);
    for (const e of eps.filter((x) => x.port === 49701)) expect(e).toMatchObject({ server: '10.77.0.20', interface: 'iremunknown2' });
    // ServerAlive2's bindings carry no port: nothing registered from them.
    expect(eps.every((e) => /\[\d+\]$/.test(e.annotation))).toBe(true);
  });

  it('135 is named as the OXID resolver it is, not taken as the mapper; the exporter\'s port is named with and without a bind', () => {
    const on135 = flows.find((f) => f.server_port === 135)!;
    expect(on135).toMatchObject({ service: 'dcom', rpc_interface: 'ioxidresolver' });
    expect(on135.rpc_note ?? '').not.toMatch(/taken as EPM/);
    const bound = flows.find((f) => f.client_port === 50002)!;
    expect(bound).toMatchObject({ service: 'dcom', via: 'bind', rpc_interface: 'iremunknown2' });
    const midstream = flows.find((f) => f.client_port === 50003)!;
    expect(midstream).toMatchObject({ service: 'dcom', via: 'epm', rpc_interface: 'iremunknown2' });
    expect(midstream.rpc_note).toMatch(/a DCOM answer/);
  });

  it("a RemoteCreateInstance answer (WMI): the exporter's port, registered for the interface the answer names, as tshark reads both", () => {
    const frame = spawnSync('tshark', ['-r', FILE, '-Y', 'dcerpc.pkt_type == 2 && dcerpc.opnum == 4 && dcom.iid', '-T', 'fields', '-e', 'dcom.dualstringarray.network_addr', '-e', 'dcom.iid'], { encoding: 'utf8' }).stdout.trim();
    const [addrs, iids] = frame.split('\t');
    const ports = [...new Set(addrs.split(',').map((b) => /\[(\d+)\]$/.exec(b)?.[1]).filter(Boolean).map(Number))];
    expect(ports).toEqual([49702]);
    expect(iids.split(',')).toContain('f309ad18-d86a-11d0-a075-00c04fb68820');
    const act = eps.filter((e) => /^activation/.test(e.annotation));
    expect(act.map((e) => `${e.port} ${e.interface}`)).toEqual(['49702 iwbemlevel1login']);
    // The class the request asked for (WMI's CLSID_WbemLevel1Login, as the script encoded it; tshark does not dissect this request).
    expect(act[0].annotation).toMatch(/^activation of class 8bc3f05e-d86b-11d0-a075-00c04fb68820: MBX01\[49702\]$/);
    expect(flows.find((f) => f.server_port === 135 && f.client_port === 50004)).toMatchObject({ service: 'dcom', rpc_interface: 'isystemactivator' });
    // The object's connection begins mid-stream: named WMI from the activation.
    expect(flows.find((f) => f.client_port === 50005)).toMatchObject({ service: 'wmi', via: 'epm', rpc_interface: 'iwbemlevel1login' });
  });
});
