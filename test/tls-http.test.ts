// TLS, STARTTLS and HTTP on real traffic from the Exchange lab, checked against
// tshark's dissection of the same files: every ClientHello's server name, the
// version each ServerHello chose, STARTTLS where the client asked for it, clear
// sessions where it did not, the Exchange application of each cleartext request.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, ROOT, runCli, shared, tmpDir } from './helpers';

const FIX = path.join(ROOT, 'test', 'fixtures', 'exchange-lab');
interface Flow { client: string; client_port: number; server: string; server_port: number; transport: string; service: string | null; via: string | null; verdict: string | null; reason: string | null; rpc_note: string | null; tls: string | null; tls_version: string | null; tls_sni: string | null; tls_alpn: string | null; tls_subject: string | null; tls_issuer: string | null; http_app: string | null; http_target: string | null }

function flowsOf(file: string, extra: string[] = []): Flow[] {
  const db = path.join(tmpDir(), 'x.sqlite');
  const r = runCli(['analyze', file, '--db', db, '--quiet', ...extra]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[];
}

/** tshark fields per packet, split on tabs. */
function tshark(file: string, filter: string, fields: string[], decode: string[] = []): string[][] {
  const r = spawnSync('tshark', ['-r', file, ...decode.flatMap((d) => ['-d', d]), '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

const VERSION: Record<string, string> = { '0x0301': 'TLS 1.0', '0x0302': 'TLS 1.1', '0x0303': 'TLS 1.2', '0x0304': 'TLS 1.3' };

describe.skipIf(!HAVE_TSHARK)('TLS and STARTTLS on the Exchange lab capture', () => {
  const file = path.join(FIX, 'exchange-lab-full.pcap');
  const flows = flowsOf(file);
  const byClientPort = new Map(flows.filter((f) => f.transport === 'tcp').map((f) => [f.client_port, f]));

  it('every ClientHello tshark sees: the flow has its server name, and the version its ServerHello chose', () => {
    const hellos = tshark(file, 'tls.handshake.type == 1', ['tcp.srcport', 'tls.handshake.extensions_server_name']);
    expect(hellos.length).toBeGreaterThan(15);
    const chosen = new Map(tshark(file, 'tls.handshake.type == 2', ['tcp.dstport', 'tls.handshake.version', 'tls.handshake.extensions.supported_version']).map(([p, v, sv]) => [Number(p), VERSION[sv || v]]));
    for (const [port, sni] of hellos) {
      const f = byClientPort.get(Number(port));
      expect(f, `flow from port ${port}`).toBeDefined();
      expect(f!.tls_sni, `SNI of ${port}`).toBe(sni || null);
      expect(['implicit', 'starttls']).toContain(f!.tls);
      expect(f!.tls_version, `version of ${port}`).toBe(chosen.get(Number(port)) ?? null);
    }
  });

  it('STARTTLS where the client asked for it (SMTP, IMAP), clear where it sent mail or logged in without', () => {
    const asked = new Set([
      // tshark 4.0 shows SMTP commands by their first four letters ("STAR").
      ...tshark(file, 'smtp.req.command == "STARTTLS" || smtp.req.command == "STAR"', ['tcp.srcport']),
      ...tshark(file, 'imap.request.command == "STARTTLS" || imap.request.command == "starttls"', ['tcp.srcport']),
    ].map(([p]) => Number(p)));
    expect(asked.size).toBeGreaterThanOrEqual(4);
    for (const p of asked) expect(byClientPort.get(p)?.tls, `port ${p}`).toBe('starttls');
    const clear = flows.filter((f) => [25, 110, 143, 587].includes(f.server_port) && !asked.has(f.client_port));
    expect(clear.length).toBeGreaterThanOrEqual(3);
    for (const f of clear) expect(f.tls, `${f.client}:${f.client_port} → ${f.server_port}`).toBe('none');
    // The implicit-TLS ports, the 444 back end, 3269 and 22 are named.
    const served = new Set(flows.map((f) => `${f.server_port} ${f.service}`));
    for (const s of ['444 https-backend', '3269 ldaps-gc', '22 ssh', '993 imaps', '995 pop3s', '636 ldaps']) expect(served).toContain(s);
    expect(flows.filter((f) => [443, 444, 993, 995, 636, 3269].includes(f.server_port)).every((f) => f.tls === 'implicit')).toBe(true);
  });

  it('TLS 1.2: the server certificate\'s subject and issuer, as tshark reads them', () => {
    const tls12 = flows.filter((f) => f.tls_version === 'TLS 1.2');
    expect(tls12.length).toBeGreaterThan(0);
    for (const f of tls12) {
      const cns = tshark(file, `tcp.dstport == ${f.client_port} && tls.handshake.type == 11`, ['x509sat.printableString', 'x509sat.uTF8String']).flat().join(',');
      expect(f.tls_subject).toMatch(/CN=/);
      expect(cns).toContain(/CN=([^,]+)/.exec(f.tls_subject!)![1]);
    }
  });
});

describe.skipIf(!HAVE_TSHARK)('cleartext HTTP and TLS on other ports', () => {
  it('each request on 80 is named by its Exchange application; the request line is kept', () => {
    const file = path.join(FIX, 'exchange-http-paths.pcap');
    const flows = flowsOf(file);
    const requests = tshark(file, 'http.request', ['tcp.srcport', 'http.request.uri']);
    expect(requests).toHaveLength(10);
    const want: Record<string, string | null> = { owa: 'owa', ews: 'ews', 'microsoft-server-activesync': 'activesync', autodiscover: 'autodiscover', mapi: 'mapi-http', rpc: 'rpc-http', ecp: 'ecp', oab: 'oab', powershell: 'powershell', 'favicon.ico': null };
    for (const [port, uri] of requests) {
      const f = flows.find((x) => x.client_port === Number(port))!;
      expect(f.http_target).toBe(uri);
      expect(f.http_app, uri).toBe(want[uri.split('/')[1].split('?')[0].toLowerCase()]);
      expect(f.tls).toBe('none');
    }
  });

  it('TLS on port 8443 is recognised by its handshake; LDAP StartTLS on 389', () => {
    const file = path.join(FIX, 'exchange-tls-extra.pcap');
    const flows = flowsOf(file);
    const odd = flows.find((f) => f.server_port === 8443)!;
    expect(odd).toMatchObject({ service: 'tls', via: 'payload', tls: 'implicit', tls_version: 'TLS 1.2', tls_sni: 'odd-port.contoso.lab', tls_alpn: 'http/1.1', tls_subject: 'CN=odd-port.contoso.lab,O=exflow lab', tls_issuer: 'CN=odd-port.contoso.lab,O=exflow lab' });
    expect(tshark(file, 'tls.handshake.type == 1', ['tls.handshake.extensions_server_name'], ['tcp.port==8443,tls']).flat()).toEqual(['odd-port.contoso.lab']);
    const ldap = flows.find((f) => f.server_port === 389)!;
    expect(tshark(file, 'ldap.requestName == "1.3.6.1.4.1.1466.20037"', ['tcp.srcport']).flat()).toEqual([String(ldap.client_port)]);
    expect(ldap.tls).toBe('starttls');
  });
});

describe('a capture cut at 96 bytes is honest about it', () => {
  const inventory = path.join(tmpDir(), 'lab.yaml');
  require('node:fs').writeFileSync(
    inventory,
    'hosts:\n  - {address: 10.77.0.10, roles: [domain-controller]}\n  - {address: 10.77.0.20, roles: [mailbox]}\n  - {address: 10.77.0.30, roles: [client-access]}\n  - {address: 10.77.0.40, roles: [hub-transport]}\n  - {address: 10.77.0.50, roles: [edge-transport]}\n  - {address: 10.77.0.100, roles: [outlook-2007]}\n',
  );
  it('a capture warning counts the cut flows; cut binds say so; no unexpected verdict the full capture does not give', () => {
    const db = path.join(tmpDir(), 's.sqlite');
    const r = runCli(['analyze', path.join(FIX, 'exchange-lab-full-snap96.pcap'), '--db', db, '--inventory', inventory]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: .*snap96\.pcap: the snaplen cut the payload of \d+ flows/);
    const cut = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[];
    const full = flowsOf(path.join(FIX, 'exchange-lab-full.pcap'), ['--inventory', inventory]);
    const key = (f: Flow) => `${f.transport} ${f.client} > ${f.server}:${f.server_port}`;
    const unexpectedFull = new Set(full.filter((f) => f.verdict === 'unexpected').map(key));
    const extra = cut.filter((f) => f.verdict === 'unexpected' && !unexpectedFull.has(key(f)));
    expect(extra).toEqual([]);
    const unread = cut.filter((f) => f.service === 'rpc-dynamic');
    expect(unread.length).toBeGreaterThan(0);
    for (const f of unread) {
      expect(f.verdict).toBe('unknown');
      expect(f.reason).toMatch(/could not be read/);
      expect(f.rpc_note).toMatch(/cut by the snaplen|the snaplen cut the bind/);
      expect(f.rpc_note).not.toMatch(/no bind in the capture/);
    }
  });
});

describe('role inference on the Exchange lab, without an inventory', () => {
  it('the Hub (587 served) is a Hub Transport server; the back end on 444 makes the SIP-serving host a Mailbox server, not only Unified Messaging', () => {
    const db = path.join(tmpDir(), 'i.sqlite');
    expect(runCli(['analyze', path.join(FIX, 'exchange-lab-full.pcap'), '--db', db, '--quiet']).code).toBe(0);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; evidence: string[] }[];
    const of = (a: string) => hosts.find((h) => h.address === a)!;
    expect(of('10.77.0.40').roles).toEqual(['hub-transport']);
    expect(of('10.77.0.40').evidence.join(' ')).toMatch(/hub-submission \(medium\): serves smtp-submission/);
    expect(of('10.77.0.20').roles).toContain('mailbox');
    expect(of('10.77.0.20').evidence.join(' ')).toMatch(/mailbox-backend \(high\): serves https-backend/);
  });
});

describe.skipIf(!HAVE_SHARED)('the snaplen-96 variants in ../shared/captures', () => {
  const inventory = path.join(tmpDir(), 'lab.yaml');
  require('node:fs').writeFileSync(inventory, 'hosts:\n  - {address: 10.77.0.10, roles: [domain-controller]}\n  - {address: 10.77.0.20, roles: [mailbox]}\n  - {address: 10.77.0.30, roles: [client-access]}\n  - {address: 10.77.0.100, roles: [outlook-2007]}\n');
  const pairs = [['lab', 'lab-ad-epm']].concat(
    require('node:fs').readdirSync(shared('lab-exchange')).filter((f: string) => /-snap96\.pcapn?g?$/.test(f)).map((f: string) => ['lab-exchange', f.replace(/-snap96(\.pcapn?g?)$/, '$1').replace(/\.pcapn?g?$/, '') + (f.endsWith('.pcapng') ? '@ng' : '')]),
  );
  for (const [dir, base] of pairs) {
    const ext = base.endsWith('@ng') ? '.pcapng' : '.pcap';
    const name = base.replace('@ng', '');
    it(`${dir}/${name}-snap96${ext}: a capture warning, notes that say the snaplen cut, no unexpected verdict the full capture lacks`, () => {
      const run = (file: string) => {
        const db = path.join(tmpDir(), 'x.sqlite');
        const r = runCli(['analyze', file, '--db', db, '--inventory', inventory]);
        expect(r.code, r.stderr).toBe(0);
        return { stderr: r.stderr, flows: JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[] };
      };
      const cut = run(shared(dir, `${name}-snap96${ext}`));
      const full = run(shared(dir, `${name}${ext}`));
      expect(cut.stderr).toMatch(/warning: .*: the snaplen cut the payload of \d+ flows?/);
      const key = (f: Flow) => `${f.transport} ${f.client} > ${f.server}:${f.server_port}`;
      const unexpectedFull = new Set(full.flows.filter((f) => f.verdict === 'unexpected').map(key));
      expect(cut.flows.filter((f) => f.verdict === 'unexpected' && !unexpectedFull.has(key(f))).map(key)).toEqual([]);
      for (const f of cut.flows) expect(f.rpc_note ?? '').not.toMatch(/no bind in the capture/);
    });
  }
});
