// TLS as it arrives, on captures of real servers (test/fixtures/tls-cases/make-tls-cases.sh:
// openssl s_server, curl through a CONNECT proxy) and against tshark's dissection:
// an alert before the ServerHello, an SSLv2-format ClientHello, a ClientHello over the
// reader's 32 KiB, TLS inside an HTTP CONNECT tunnel; and every TLS version name tshark
// knows (drafts included) named as tshark names it.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { versionName } from '../src/inspect/tls';
import { frame } from '../src/samples/frames';
import { PcapFileWriter } from '../src/samples/writer';
import { HAVE_TSHARK, runCli, tmpDir } from './helpers';

const DIR = path.join(__dirname, 'fixtures', 'tls-cases');

interface Flow { client_port: number; server_port: number; service: string | null; tls: string | null; tls_version: string | null; tls_sni: string | null; tls_alpn: string | null; tls_subject: string | null; tls_issuer: string | null; tls_note: string | null; http_target: string | null }

function flowsOf(file: string): Flow[] {
  const db = path.join(tmpDir(), 'x.sqlite');
  const a = runCli(['analyze', file, '--db', db, '--quiet']);
  expect(a.code, a.stderr).toBe(0);
  return JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[];
}

/** tshark's handshake facts per TCP connection (keyed by the client's port). */
function tsharkHandshakes(file: string): Map<number, { version: string | null; sni: string | null; alpn: string | null; names: string[] }> {
  const r = spawnSync('tshark', ['-r', file, '-Y', 'tls.handshake.type == 1 || tls.handshake.type == 2 || tls.handshake.type == 11', '-T', 'fields', '-E', 'separator=|',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tls.handshake.type', '-e', 'tls.handshake.version', '-e', 'tls.handshake.extensions_server_name', '-e', 'tls.handshake.extensions_alpn_str',
    '-e', 'x509sat.printableString', '-e', 'x509sat.uTF8String', '-e', 'x509sat.IA5String'], { encoding: 'utf8' });
  const out = new Map<number, { version: string | null; sni: string | null; alpn: string | null; names: string[] }>();
  for (const line of r.stdout.trim().split('\n').filter(Boolean)) {
    const [sport, dport, types, version, sni, alpn, ...names] = line.split('|');
    const t = types.split(',');
    const client = t.includes('1') ? Number(sport) : Number(dport);
    const e = out.get(client) ?? { version: null, sni: null, alpn: null, names: [] };
    if (t.includes('1')) e.sni = sni || null;
    if (t.includes('2')) {
      e.version = versionName(parseInt(version.split(',')[0], 16));
      e.alpn = alpn || null;
    }
    if (t.includes('11')) e.names.push(...names.join(',').split(',').filter(Boolean));
    out.set(client, e);
  }
  return out;
}

describe.skipIf(!HAVE_TSHARK)('TLS as it arrives, as tshark reads it', () => {
  it('a warning alert (unrecognized_name) before the ServerHello: version, SNI and certificate still read', () => {
    const file = path.join(DIR, 'tls-alert-before-hello.pcap');
    const [f] = flowsOf(file);
    const t = tsharkHandshakes(file).get(f.client_port)!;
    expect(t.version).toBe('TLS 1.2');
    expect(f).toMatchObject({ tls: 'implicit', tls_version: t.version, tls_sni: t.sni, tls_note: null });
    for (const n of ['mail.contoso.lab', 'Contoso\\, Inc.']) expect(f.tls_subject).toContain(n);
    expect(t.names).toContain('mail.contoso.lab');
    // emailAddress by its name, as tshark and OpenSSL show it, with tshark's value.
    expect(f.tls_subject).toBe('emailAddress=admin@contoso.lab,CN=mail.contoso.lab,O=Contoso\\, Inc.,C=DE');
    expect(t.names).toContain('admin@contoso.lab');
  });

  it('an SSLv2-format ClientHello: taken as TLS; the server\'s TLS 1.0 and certificate, as tshark reads them', () => {
    const file = path.join(DIR, 'tls-sslv2-hello.pcap');
    const [f] = flowsOf(file);
    const t = tsharkHandshakes(file).get(f.client_port)!;
    expect(t.version).toBe('TLS 1.0');
    expect(f).toMatchObject({ service: 'tls', tls: 'implicit', tls_version: 'TLS 1.0', tls_sni: null });
    expect(f.tls_subject).toMatch(/CN=mail\.contoso\.lab/);
    expect(f.tls_note).toBe('SSLv2-format ClientHello offering TLS 1.0 (no server name)');
  });

  it('a ClientHello over 32 KiB: not read, and the flow says so; the server side still read', () => {
    const file = path.join(DIR, 'tls-oversize-hello.pcap');
    const [f] = flowsOf(file);
    const t = tsharkHandshakes(file).get(f.client_port)!;
    expect(t.sni).toBe('big.contoso.lab'); // what tshark reassembles and exflow does not hold
    expect(f).toMatchObject({ tls: 'implicit', tls_version: t.version, tls_sni: null });
    expect(f.tls_note).toBe('a ClientHello longer than 32 KiB was not read (no server name)');
    expect(f.tls_subject).toMatch(/CN=mail\.contoso\.lab/);
  });

  it('TLS inside an HTTP CONNECT tunnel: the tunnel flow has the handshake tshark finds in it, and the CONNECT target', () => {
    const file = path.join(DIR, 'tls-connect-tunnel.pcap');
    const flows = flowsOf(file);
    const hs = tsharkHandshakes(file);
    expect(flows).toHaveLength(2);
    for (const f of flows) {
      const t = hs.get(f.client_port)!;
      expect(f).toMatchObject({ tls: 'implicit', tls_version: t.version, tls_sni: t.sni, tls_alpn: t.alpn });
      expect(f.tls_subject).toBe('CN=autodiscover.contoso.lab,O=exflow lab');
      expect(t.names).toEqual(expect.arrayContaining(['exflow lab', 'autodiscover.contoso.lab']));
    }
    const tunnel = flows.find((f) => f.server_port === 3128)!;
    expect(tunnel).toMatchObject({ service: 'http', http_target: 'autodiscover.contoso.lab:4434' });
  });

  it('every TLS version tshark names (drafts, Facebook drafts) is named as tshark names it', () => {
    const r = spawnSync('tshark', ['-G', 'values'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('V\ttls.handshake.extensions.supported_version\t')).map((l) => l.split('\t'));
    const tls = rows.filter(([, , v, name]) => /^(TLS|SSL 3)/.test(name) && Number(v) !== 0);
    expect(tls.length).toBeGreaterThan(20);
    for (const [, , v, name] of tls) expect(versionName(parseInt(v, 16)), name).toBe(name);
  });

  it('a draft version chosen in a ServerHello (supported_versions 0x7f17): "TLS 1.3 (draft 23)", as tshark shows it', () => {
    const file = path.join(tmpDir(), 'draft.pcap');
    const c = { ip: '10.0.0.1', port: 50000 };
    const s = { ip: '10.0.0.2', port: 443 };
    const ext = (t: number, d: Buffer) => Buffer.concat([Buffer.from([t >> 8, t & 255, d.length >> 8, d.length & 255]), d]);
    const hs = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, 0, body.length >> 8, body.length & 255]), body]);
    const record = (body: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, body.length >> 8, body.length & 255]), body]);
    const sni = Buffer.from('draft.contoso.lab');
    const chExt = Buffer.concat([ext(0, Buffer.concat([Buffer.from([0, sni.length + 3, 0, 0, sni.length]), sni])), ext(43, Buffer.from([2, 0x7f, 0x17]))]);
    const ch = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0, chExt.length >> 8, chExt.length & 255]), chExt]);
    const shExt = ext(43, Buffer.from([0x7f, 0x17]));
    const sh = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 2), Buffer.from([0, 0x13, 0x01, 0, shExt.length >> 8, shExt.length & 255]), shExt]);
    const w = new PcapFileWriter(file);
    w.write(1e15, frame('tcp', c, s, Buffer.alloc(0), { tcpFlags: 0x02, seq: 100 }));
    w.write(1e15 + 1, frame('tcp', s, c, Buffer.alloc(0), { tcpFlags: 0x12, seq: 500, ack: 101 }));
    const chRec = record(hs(1, ch));
    w.write(1e15 + 2, frame('tcp', c, s, chRec, { tcpFlags: 0x18, seq: 101, ack: 501 }));
    w.write(1e15 + 3, frame('tcp', s, c, record(hs(2, sh)), { tcpFlags: 0x18, seq: 501, ack: 101 + chRec.length }));
    w.close();
    const t = spawnSync('tshark', ['-r', file, '-V', '-Y', 'tls.handshake.type == 2'], { encoding: 'utf8' }).stdout;
    expect(t).toContain('Supported Version: TLS 1.3 (draft 23) (0x7f17)');
    const [f] = flowsOf(file);
    expect(f).toMatchObject({ tls: 'implicit', tls_version: 'TLS 1.3 (draft 23)', tls_sni: 'draft.contoso.lab' });
  });
});
