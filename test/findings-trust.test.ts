// Issue 31: findings you can trust on real Windows traffic. Each case on the public trace
// the issue names, checked against tshark's dissection of the same connections.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('1 and 2. DCOM/WMI: SPNEGO (Kerberos) bind, alter_context without a trailer, NTLM, integrity requests', () => {
  // Two DCOM connections to 49724 (and 49727/49732 in tshark's numbering of the second side) carry
  // 104 and 109 requests at packet integrity; some alter_contexts carry no auth trailer.
  const capture = shared('public', 'suricata-dcerpc-dcerpc-ctxids-input.pcap');
  const db = path.join(dir, 'ctxids.sqlite');

  /** tshark: per TCP stream to 49724, the auth levels of the requests and whether NTLMSSP AUTHENTICATE and Kerberos appear. */
  function tsharkStreams(): Map<string, { requestLevels: Set<string>; bareAlter: number; ntlmAuth: boolean; krb: boolean }> {
    const out = spawnSync('tshark', ['-r', capture, '-d', 'tcp.port==49724,dcerpc', '-Y', 'tcp.port == 49724 && dcerpc', '-T', 'fields', '-E', 'separator=\t',
      '-e', 'tcp.stream', '-e', 'dcerpc.pkt_type', '-e', 'dcerpc.auth_level', '-e', 'ntlmssp.messagetype', '-e', 'kerberos.msg_type'], { encoding: 'utf8' }).stdout;
    const m = new Map<string, { requestLevels: Set<string>; bareAlter: number; ntlmAuth: boolean; krb: boolean }>();
    for (const line of out.split('\n').filter((l) => l !== '')) {
      const [stream, ptype, level, ntlm = '', krb = ''] = line.split('\t');
      const e = m.get(stream) ?? { requestLevels: new Set<string>(), bareAlter: 0, ntlmAuth: false, krb: false };
      m.set(stream, e);
      if (ptype === '0') e.requestLevels.add(level);
      if (ptype === '14' && level === '') e.bareAlter++;
      if (ntlm.split(',').includes('0x00000003')) e.ntlmAuth = true;
      if (krb !== '') e.krb = true;
    }
    return m;
  }

  it('tshark: each connection has alter_contexts without a trailer, NTLM AUTHENTICATE, Kerberos, and every request at integrity (5)', () => {
    const t = tsharkStreams();
    expect(t.size).toBe(2);
    for (const e of t.values()) {
      expect(e.bareAlter).toBeGreaterThan(0);
      expect([...e.requestLevels]).toEqual(['5']);
      expect(e.ntlmAuth).toBe(true);
      expect(e.krb).toBe(true);
    }
  });

  it('exflow: rpc_auth_level integrity (what the requests carried), both mechanisms, ntlm-in-use; no rpc-unauthenticated', () => {
    expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT rpc_auth_level, rpc_auth_type, auth_mech, ntlm_version, protection FROM flows WHERE server_port = 49724').all() as Record<string, string | null>[];
    d.close();
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r).toMatchObject({ rpc_auth_level: 'integrity', rpc_auth_type: 'spnego', auth_mech: 'kerberos,ntlm', ntlm_version: 'v2' });
      expect((r.protection ?? '').split(',')).toContain('ntlm-in-use');
      expect(r.protection ?? '').not.toMatch(/rpc-unauthenticated/);
    }
  });
});

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('10. an activation answered to RemoteGetClassObject (ISystemActivator opnum 3) registers its string bindings', () => {
  const capture = shared('public', 'suricata-dcerpc-dcerpc-ctxids-input.pcap');

  it('tshark reads the answer\'s string bindings; exflow registers the TCP one (host[port]) for the server, source dcom', () => {
    const out = spawnSync('tshark', ['-r', capture, '-Y', 'isystemactivator.opnum == 3 && dcerpc.pkt_type == 2', '-T', 'fields', '-e', 'dcom.dualstringarray.network_addr'], { encoding: 'utf8' }).stdout;
    const bindings = out.trim().split(/[,\n]/).filter((x) => /\[\d+\]$/.test(x));
    expect(bindings).toContain('DC1[49724]');
    const db = path.join(dir, 'getclassobject.sqlite');
    expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare("SELECT server, port, source, annotation FROM rpc_endpoints WHERE source = 'dcom'").all();
    d.close();
    expect(rows).toEqual([{ server: '192.168.56.101', port: 49724, source: 'dcom', annotation: 'activation: DC1[49724]' }]);
  });
});

describe.skipIf(!HAVE_TSHARK)('8. SMB1 settled on an older dialect (LANMAN2.1): SMB1 all the same, unsigned', () => {
  const capture = path.join(__dirname, 'fixtures', 'protection', 'smb1-lanman21.pcap');

  it('tshark: one NEGOTIATE answer in 13 words (LANMAN2.1), one in 17 (NT LM 0.12), neither signing', () => {
    const out = spawnSync('tshark', ['-r', capture, '-Y', 'smb.cmd == 0x72 && smb.flags.response == 1', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'smb.wct', '-e', 'smb.sm.sig_required', '-e', 'smb.sm.signatures'], { encoding: 'utf8' }).stdout;
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.map((r) => r[2]).sort()).toEqual(['13', '17']);
  });

  it('exflow: both sessions smb_dialect 1, signing off, smb1-negotiated (high) raised', () => {
    const db = path.join(dir, 'lanman.sqlite');
    expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT smb_dialect, smb_signing, protection FROM flows ORDER BY client_port').all() as Record<string, string>[];
    d.close();
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r).toMatchObject({ smb_dialect: '1', smb_signing: 'off' });
      expect(r.protection.split(',')).toContain('smb1-negotiated');
    }
  });
});

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('7. Netlogon is judged by the calls after its secure-channel setup', () => {
  // NetrServerReqChallenge and NetrServerAuthenticate* travel without RPC authentication by
  // design ([MS-NRPC] 3.1); a later call without it — the Zerologon exploit's
  // NetrServerPasswordSet2 — is what rpc-unauthenticated is for.
  for (const name of ['suricata-dcerpc-zerologon-input.pcap', 'suricata-bug-5162-input.pcap']) {
    it(`${name}: rpc-unauthenticated on exactly the Netlogon connections tshark shows an unprotected call after the setup on`, () => {
      const capture = shared('public', name);
      const out = spawnSync('tshark', ['-r', capture, '-Y', 'netlogon.opnum && dcerpc.pkt_type == 0', '-T', 'fields', '-E', 'separator=\t', '-e', 'tcp.srcport', '-e', 'netlogon.opnum', '-e', 'dcerpc.auth_level'], { encoding: 'utf8' }).stdout;
      const netlogon = new Set<number>();
      const unprotected = new Set<number>();
      for (const line of out.split('\n').filter(Boolean)) {
        const [port, opnum, level] = line.split('\t');
        netlogon.add(Number(port));
        if (level === '' && !['4', '5', '15', '26'].includes(opnum)) unprotected.add(Number(port));
      }
      expect(netlogon.size).toBeGreaterThan(0);
      const db = path.join(dir, `${name}.sqlite`);
      expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
      const d = new Database(db, { readonly: true });
      const flagged = d.prepare("SELECT client_port FROM flows WHERE rpc_interface = 'netlogon' AND instr(protection, 'rpc-unauthenticated') > 0").pluck().all() as number[];
      d.close();
      expect(new Set(flagged)).toEqual(unprotected);
    });
  }
});

describe.skipIf(!HAVE_TSHARK)('3. several pipes on one SMB session: the lowest level is the session\'s', () => {
  const capture = path.join(__dirname, 'fixtures', 'protection', 'smb-pipes-mixed.pcap');

  it('tshark: a winreg request at privacy (6) and an lsarpc request without a trailer on one session', () => {
    const out = spawnSync('tshark', ['-r', capture, '-Y', 'dcerpc.pkt_type == 0', '-T', 'fields', '-E', 'separator=\t', '-e', 'tcp.srcport', '-e', 'dcerpc.opnum', '-e', 'dcerpc.auth_level'], { encoding: 'utf8' }).stdout;
    const rows = out.split('\n').filter(Boolean).map((l) => l.split('\t'));
    expect(new Set(rows.map((r) => r[0])).size).toBe(1);
    expect(rows.map((r) => `${r[1]}:${r[2]}`).sort()).toEqual(['2:6', '44:']);
  });

  it('exflow: both interfaces on the flow, rpc_auth_level none (not privacy)', () => {
    const db = path.join(dir, 'pipes.sqlite');
    expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT rpc_interfaces, rpc_auth_level, auth_mech FROM flows').all();
    d.close();
    expect(rows).toEqual([{ rpc_interfaces: 'winreg,lsarpc', rpc_auth_level: 'none', auth_mech: 'ntlm' }]);
  });
});

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('9. an interface seen only in an alter_context (its bind before the capture began)', () => {
  // ndpi-kerberos.pcap: two connections to 49155 whose bind's first segment is not in the capture;
  // the client's first payload is the bind's tail, the server's a bind_ack, then an alter_context names DRSUAPI.
  const capture = shared('public', 'ndpi-kerberos.pcap');
  it('49165 and 49185 → 49155 bind the interface tshark reads in their alter_contexts', () => {
    const t = spawnSync('tshark', ['-r', capture, '-Y', 'tcp.dstport == 49155 && dcerpc.pkt_type == 14', '-T', 'fields', '-E', 'separator=\t', '-e', 'tcp.srcport', '-e', 'dcerpc.cn_bind_to_uuid'], { encoding: 'utf8' }).stdout;
    const want = new Map(t.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]));
    expect([...want.keys()].sort()).toEqual(['49165', '49185']);
    const db = path.join(dir, 'alter.sqlite');
    expect(runCli(['analyze', capture, '--db', db, '-q']).code).toBe(0);
    const flows = JSON.parse(runCli(['flows', '--db', db, '--server', '172.16.8.8', '--format', 'json']).stdout) as { client_port: number; server_port: number; rpc_uuid: string; rpc_interface: string; service: string; via: string }[];
    for (const [port, uuid] of want) {
      const f = flows.find((x) => x.client_port === Number(port) && x.server_port === 49155);
      expect(f, port).toBeDefined();
      expect(f).toMatchObject({ rpc_uuid: uuid, rpc_interface: 'drsuapi', service: 'ad-replication-rpc', via: 'bind' });
    }
  });
});
