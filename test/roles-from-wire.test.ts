// Roles and names from the wire: a run without an inventory against the same run with
// the true inventory, flow by flow — on the Exchange lab capture (real Samba, Postfix,
// Dovecot, nginx, SIPp), on the project's sample organisation and on a generated
// organisation (the bench's Exchange-like generator: a DC, two Mailbox servers, a
// Client Access server, Hub, Edge and 40 Outlook clients). Targets (issue 18): at least
// 90% of flows get the same verdict, at most 1% are unexpected without the inventory
// and not with it. And every name the capture gives a host, checked against tshark.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeExchangeLike } from '../src/samples/exchange-like';
import { frame } from '../src/samples/frames';
import { PcapFileWriter } from '../src/samples/writer';
import { HAVE_TSHARK, ROOT, runCli, tmpDir } from './helpers';

const LAB = path.join(ROOT, 'test', 'fixtures', 'exchange-lab');

interface Compared {
  flows: number;
  same: number;
  falseUnexpected: number;
  hosts: Record<string, { name: string | null; name_source: string | null; roles: string | null }>;
}

function verdictsWithAndWithout(capture: string, inventory: string): Compared {
  const dir = tmpDir();
  const withDb = path.join(dir, 'with.sqlite');
  const without = path.join(dir, 'without.sqlite');
  expect(runCli(['analyze', capture, '--db', withDb, '--inventory', inventory, '--quiet']).code).toBe(0);
  expect(runCli(['analyze', capture, '--db', without, '--quiet']).code).toBe(0);
  const d = new Database(without, { readonly: true });
  d.exec(`ATTACH '${withDb.replace(/'/g, "''")}' AS w`);
  const r = d
    .prepare(
      `SELECT count(*) AS flows, sum(a.verdict IS b.verdict) AS same, sum(a.verdict = 'unexpected' AND b.verdict IS NOT 'unexpected') AS falseUnexpected
       FROM flow_view a JOIN w.flow_view b ON a.transport = b.transport AND a.client = b.client AND a.client_port = b.client_port
         AND a.server = b.server AND a.server_port = b.server_port AND a.first_sec = b.first_sec AND a.first_nsec = b.first_nsec`,
    )
    .get() as { flows: number; same: number; falseUnexpected: number };
  const total = d.prepare('SELECT count(*) FROM flows').pluck().get() as number;
  expect(r.flows).toBe(total); // every flow paired with its twin
  const hosts = Object.fromEntries((d.prepare('SELECT address, name, name_source, roles FROM hosts').all() as { address: string; name: string | null; name_source: string | null; roles: string | null }[]).map((h) => [h.address, h]));
  d.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { ...r, hosts };
}

function expectTargets(c: Compared): void {
  expect(c.same / c.flows, `${c.same} of ${c.flows} flows with the same verdict`).toBeGreaterThanOrEqual(0.9);
  expect(c.falseUnexpected / c.flows, `${c.falseUnexpected} flows unexpected only without the inventory`).toBeLessThanOrEqual(0.01);
}

describe('a first run without an inventory gives the verdicts the inventory gives', () => {
  it('the Exchange lab capture: every host named, every server, the DC and the client given its role', () => {
    const c = verdictsWithAndWithout(path.join(LAB, 'exchange-lab-full.pcap'), path.join(LAB, 'inventory.yaml'));
    expectTargets(c);
    const expected: Record<string, [string, string]> = {
      '10.77.0.10': ['dc01.contoso.lab', 'domain-controller'],
      '10.77.0.20': ['mbx01.contoso.lab', 'mailbox'],
      '10.77.0.30': ['cas01.contoso.lab', 'client-access'],
      '10.77.0.40': ['hub01.contoso.lab', 'hub-transport'],
      '10.77.0.50': ['edge01.contoso.lab', 'edge-transport'],
      '10.77.0.100': ['client01.contoso.lab', 'outlook'],
    };
    for (const [address, [name, role]] of Object.entries(expected)) {
      expect(c.hosts[address]?.name, address).toBe(name);
      expect(c.hosts[address]?.name_source, address).not.toBe('inventory');
      expect(c.hosts[address]?.roles?.split(','), address).toContain(role);
    }
    // The Client Access server that opens SIP to the UM server is not also called a gateway.
    expect(c.hosts['10.77.0.30'].roles).toBe('client-access');
  });

  it('the sample organisation', () => {
    const c = verdictsWithAndWithout(path.join(ROOT, 'samples', 'exchange-org.pcapng'), path.join(ROOT, 'samples', 'inventory.yaml'));
    expectTargets(c);
    expect(c.hosts['198.51.100.25'].roles).toBe('internet');
  });

  it('a generated organisation with a known inventory (40 Outlook clients)', () => {
    const dir = tmpDir();
    const capture = path.join(dir, 'org.pcap');
    writeExchangeLike(capture, { packets: 40000, clients: 40 });
    const inventory = path.join(dir, 'inventory.yaml');
    fs.writeFileSync(
      inventory,
      `hosts:
  - { address: 10.10.0.10, roles: [domain-controller] }
  - { address: 10.10.0.20, roles: [mailbox] }
  - { address: 10.10.0.21, roles: [mailbox] }
  - { address: 10.10.0.30, roles: [client-access] }
  - { address: 10.10.0.40, roles: [hub-transport] }
  - { address: 172.16.0.50, roles: [edge-transport] }
  - { address: 10.20.0.0/24, roles: [outlook-2007] }
`,
    );
    const c = verdictsWithAndWithout(capture, inventory);
    expectTargets(c);
    const clients = Object.entries(c.hosts).filter(([a]) => a.startsWith('10.20.0.'));
    expect(clients).toHaveLength(40);
    for (const [, h] of clients) expect(h.roles).toBe('outlook');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('weak evidence does not accuse', () => {
  it('a host that is only guessed to be a VoIP gateway (it opens SIP to the UM server, nothing else says more) gets unknown, not unexpected, for what the tables do not allow it', () => {
    const dir = tmpDir();
    const capture = path.join(dir, 'gw.pcap');
    const w = new PcapFileWriter(capture);
    let t = Date.UTC(2026, 0, 15, 9) * 1000;
    // A TCP connection with a handshake, one request and one answer.
    const conn = (c: string, cport: number, s: string, sport: number, req: Buffer, ans: Buffer) => {
      const a = { ip: c, port: cport };
      const b = { ip: s, port: sport };
      w.write((t += 10), frame('tcp', a, b, Buffer.alloc(0), { tcpFlags: 0x02, seq: 100 }));
      w.write((t += 10), frame('tcp', b, a, Buffer.alloc(0), { tcpFlags: 0x12, seq: 500, ack: 101 }));
      w.write((t += 10), frame('tcp', a, b, req, { tcpFlags: 0x18, seq: 101, ack: 501 }));
      w.write((t += 10), frame('tcp', b, a, ans, { tcpFlags: 0x18, seq: 501, ack: 101 + req.length }));
    };
    conn('10.0.0.70', 40000, '10.0.0.60', 5060, Buffer.from('OPTIONS sip:um@10.0.0.60 SIP/2.0\r\n\r\n'), Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
    conn('10.0.0.70', 40001, '10.0.0.60', 22, Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'));
    w.close();
    const db = path.join(dir, 'gw.sqlite');
    expect(runCli(['analyze', capture, '--db', db, '--quiet']).code).toBe(0);
    const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { server_port: number; verdict: string; reason: string; client_role: string | null }[];
    const ssh = flows.find((f) => f.server_port === 22)!;
    expect(ssh.verdict).toBe('unknown');
    expect(ssh.reason).toMatch(/^the client's role is only a guess \(inferred with low confidence/);
    expect(flows.find((f) => f.server_port === 5060)?.verdict).toBe('expected');
    // The same host written down as a gateway: the same flow is a finding.
    fs.writeFileSync(path.join(dir, 'inv.yaml'), 'hosts:\n  - { address: 10.0.0.70, roles: [ip-gateway] }\n  - { address: 10.0.0.60, roles: [unified-messaging] }\n');
    expect(runCli(['audit', '--db', db, '--inventory', path.join(dir, 'inv.yaml')]).code).toBe(0);
    const again = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { server_port: number; verdict: string }[];
    expect(again.find((f) => f.server_port === 22)?.verdict).toBe('unexpected');
  });
});

describe.skipIf(!HAVE_TSHARK)('names from the wire = what tshark reads', () => {
  let db: string;
  let names: { address: string; name: string; source: string }[];
  beforeAll(() => {
    db = path.join(tmpDir(), 'lab.sqlite');
    expect(runCli(['analyze', path.join(LAB, 'exchange-lab-full.pcap'), '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    names = d.prepare('SELECT address, name, source FROM host_names').all() as typeof names;
    d.close();
  });
  const tshark = (filter: string, fields: string[]) =>
    spawnSync('tshark', ['-n', '-r', path.join(LAB, 'exchange-lab-full.pcap'), '-Y', filter, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));

  it('every DNS A answer: the name and the address', () => {
    const rows = tshark('dns.flags.response == 1 && dns.a', ['dns.resp.name', 'dns.a', 'dns.resp.type']);
    let checked = 0;
    for (const [respNames, addrs, types] of rows) {
      const ns = respNames.split('|');
      const ts = types.split('|');
      const as = addrs.split('|');
      // dns.a lists the A records' addresses in order; dns.resp.name every record's owner.
      const aOwners = ns.filter((_, i) => ts[i] === '1');
      aOwners.forEach((owner, i) => {
        expect(names, `${owner} → ${as[i]}`).toContainEqual({ address: as[i], name: owner.toLowerCase(), source: 'dns-a' });
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('every TLS server name, NTLM computer name and SMTP EHLO name', () => {
    const sni = tshark('tls.handshake.extensions_server_name', ['ip.dst', 'tls.handshake.extensions_server_name']);
    for (const [dst, name] of sni) expect(names).toContainEqual({ address: dst, name: name.toLowerCase(), source: 'tls-sni' });
    const ntlm = tshark('ntlmssp.messagetype == 2', ['ip.src', 'ntlmssp.challenge.target_info.dns_computer_name']).filter(([, n]) => n);
    for (const [src, name] of ntlm) expect(names).toContainEqual({ address: src, name: name.split('|')[0].toLowerCase(), source: 'ntlm-dns-computer' });
    const ehlo = tshark('smtp.req.command == "EHLO"', ['ip.src', 'smtp.req.parameter']);
    for (const [src, name] of ehlo) expect(names).toContainEqual({ address: src, name: name.toLowerCase(), source: 'smtp-ehlo' });
    expect([sni.length, ntlm.length, ehlo.length].every((n) => n > 0)).toBe(true);
  });

  it('names are data: hosts, host and flows show them, escaped like any value', () => {
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; name: string }[];
    expect(hosts.find((h) => h.address === '10.77.0.10')?.name).toBe('dc01.contoso.lab');
    const host = JSON.parse(runCli(['host', '10.77.0.30', '--db', db, '--format', 'json']).stdout) as { names: { name: string; source: string }[] };
    expect(host.names.map((n) => `${n.name} ${n.source}`)).toEqual(expect.arrayContaining(['mail.contoso.lab dns-a', 'cas01.contoso.lab dns-ptr', 'mail.contoso.lab tls-sni']));
    const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json', '--server', '10.77.0.40']).stdout) as { client_name: string; server_name: string }[];
    expect(flows.every((f) => f.server_name === 'hub01.contoso.lab')).toBe(true);
  });
});

describe('31.12 roles without an inventory: what a host is not', () => {
  it('the lab\'s MX target that never talks to the directory is the Edge alone; the Hub, a domain member, is not an Edge; the client\'s SMTP to the Edge is unexpected as the inventory makes it', () => {
    const dir = tmpDir();
    const without = path.join(dir, 'without.sqlite');
    const withDb = path.join(dir, 'with.sqlite');
    const capture = path.join(LAB, 'exchange-lab-full.pcap');
    expect(runCli(['analyze', capture, '--db', without, '--quiet']).code).toBe(0);
    expect(runCli(['analyze', capture, '--db', withDb, '--inventory', path.join(LAB, 'inventory.yaml'), '--quiet']).code).toBe(0);
    const hosts = JSON.parse(runCli(['hosts', '--db', without, '--format', 'json']).stdout) as { address: string; roles: string[]; confidence: string; evidence: string[] }[];
    const host = (a: string) => hosts.find((h) => h.address === a)!;
    expect(host('10.77.0.50')).toMatchObject({ roles: ['edge-transport'], confidence: 'medium' });
    expect(host('10.77.0.50').evidence.join('\n')).toMatch(/^not-domain-member \(medium\): serves smtp; uses dns; uses none of kerberos, .* → not hub-transport$/m);
    expect(host('10.77.0.40').roles).toEqual(['hub-transport']);
    expect(host('10.77.0.40').evidence.join('\n')).toMatch(/^domain-member \(high\): uses ldaps-gc → not edge-transport$/m);
    const smtpToEdge = (db: string) =>
      (JSON.parse(runCli(['flows', '--db', db, '--server', '10.77.0.50', '--service', 'smtp', '--format', 'json']).stdout) as { client: string; verdict: string }[]).filter((f) => f.client === '10.77.0.100');
    const wire = smtpToEdge(without);
    expect(wire.length).toBeGreaterThan(0);
    expect(wire.map((f) => f.verdict)).toEqual(smtpToEdge(withDb).map((f) => f.verdict));
    expect(new Set(wire.map((f) => f.verdict))).toEqual(new Set(['unexpected']));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!HAVE_TSHARK)('a DC seen only answering LDAP and the global catalog (tshark keeps those packets alone) is a domain controller', () => {
    const dir = tmpDir();
    const only = path.join(dir, 'ldap-only.pcap');
    const t = spawnSync('tshark', ['-r', path.join(LAB, 'exchange-lab-full.pcap'), '-Y', 'tcp.port == 389 || tcp.port == 3268', '-F', 'pcap', '-w', only]);
    expect(t.status, String(t.stderr)).toBe(0);
    const db = path.join(dir, 'ldap.sqlite');
    expect(runCli(['analyze', only, '--db', db, '--quiet']).code).toBe(0);
    const dc = (JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; serves: string[]; evidence: string[] }[]).find((h) => h.address === '10.77.0.10')!;
    expect([...dc.serves].sort()).toEqual(['ldap', 'ldap-gc']);
    expect(dc.roles).toEqual(['domain-controller']);
    expect(dc.evidence.join('\n')).toMatch(/^dc-directory \(medium\): serves ldap, ldap-gc → domain-controller$/m);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('31.12 Exchange 2010 Mailbox and Client Access told apart by their MAPI peers', () => {
  const ROLES = path.join(ROOT, 'test', 'fixtures', 'roles');
  const hostsOf = (capture: string) => {
    const dir = tmpDir();
    const db = path.join(dir, 'm.sqlite');
    expect(runCli(['analyze', path.join(ROLES, capture), '--db', db, '--quiet']).code).toBe(0);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; evidence: string[] }[];
    fs.rmSync(dir, { recursive: true, force: true });
    return (a: string) => hosts.find((h) => h.address === a)!;
  };
  it('Outlook to the Client Access server, which opens MAPI to the Mailbox server: each gets its own role, not both', () => {
    const host = hostsOf('mapi-tiers-2010.pcap');
    expect(host('10.77.0.30').roles).toEqual(['client-access']);
    expect(host('10.77.0.30').evidence.join('\n')).toMatch(/^mapi-front-end \(medium\): serves mapi-rpc; uses mapi-rpc → client-access$/m);
    expect(host('10.77.0.20').roles).toEqual(['mailbox']);
    expect(host('10.77.0.20').evidence.join('\n')).toMatch(/^mapi-back-end \(medium\): serves mapi-rpc; to a host that serves mapi-rpc itself → mailbox$/m);
    expect(host('10.77.0.100').roles).toEqual(['outlook']);
  });
  it('a site rule that asks about the clients of nothing it serves is refused with its file and line', () => {
    const site = tmpDir();
    fs.writeFileSync(path.join(site, 'inference.yaml'), 'inference:\n  - id: site-front\n    roles: [client-access]\n    uses_any: [mapi-rpc]\n    clients_serve_any: [mapi-rpc]\n    confidence: low\n    cite: ["site"]\n');
    const r = runCli(['rules', 'check', site]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/inference\.yaml:\d+: .*clients_serve_any and clients_serve_none are about the clients of what serves_all\/serves_any name/);
  });
  it('Outlook to a server that opens no MAPI itself (a 2007 Mailbox server, or a 2010 Client Access server seen alone): still either, as before', () => {
    const host = hostsOf('mapi-direct-2007.pcap');
    expect(host('10.77.0.20').roles).toEqual(['mailbox', 'client-access']);
    expect(host('10.77.0.20').evidence.join('\n')).toMatch(/^mapi-store \(medium\): serves mapi-rpc; to a host that serves none of mapi-rpc; uses none of mapi-rpc → mailbox or client-access$/m);
  });
});

describe('31.11 a certificate does not outrank DNS', () => {
  it('the Mailbox server of the Exchange lab presents a certificate for odd-port.contoso.lab on one port; DNS calls it mbx01.contoso.lab, and that is its name', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'n.sqlite');
    expect(runCli(['analyze', ...['exchange-lab-full.pcap', 'exchange-tls-extra.pcap'].map((f) => path.join(LAB, f)), '--db', db, '--quiet']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const names = d.prepare("SELECT DISTINCT name, source FROM host_names WHERE address = '10.77.0.20' ORDER BY 1, 2").all();
    const host = d.prepare("SELECT name, name_source FROM hosts WHERE address = '10.77.0.20'").get();
    d.close();
    expect(names).toContainEqual({ name: 'odd-port.contoso.lab', source: 'tls-cert' });
    expect(host).toEqual({ name: 'mbx01.contoso.lab', name_source: 'dns-a' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('31.11 a name one source gives several hosts', () => {
  it('the sample\'s two SMTP servers both greet as "mx": the Edge takes the name it gives itself (EHLO) instead; a name several hosts keep is counted in name_shared', () => {
    const dir = tmpDir();
    const db = path.join(dir, 'names.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--quiet']).code).toBe(0);
    const names = (d: string) => Object.fromEntries((JSON.parse(runCli(['hosts', '--db', d, '--format', 'json']).stdout) as { address: string; name: string | null; name_source: string | null; name_shared: number }[]).map((h) => [h.address, h]));
    const wire = new Database(db, { readonly: true });
    const greeted = wire.prepare("SELECT address FROM host_names WHERE name = 'mx' AND source = 'smtp-banner' ORDER BY address").pluck().all();
    wire.close();
    expect(greeted).toEqual(['10.10.0.40', '172.16.0.50']);
    const h = names(db);
    expect(h['10.10.0.40']).toMatchObject({ name: 'mx', name_source: 'smtp-banner', name_shared: 0 });
    expect(h['172.16.0.50']).toMatchObject({ name: 'edge1.lab.example', name_source: 'smtp-ehlo', name_shared: 0 });
    // Hosts left with one name between them say so, each counting the others.
    const w = new Database(db);
    w.prepare("UPDATE hosts SET name = 'mx' WHERE address IN ('172.16.0.50', '198.51.100.25')").run();
    w.close();
    const after = names(db);
    for (const a of ['10.10.0.40', '172.16.0.50', '198.51.100.25']) expect(after[a].name_shared, a).toBe(2);
    expect(after['10.10.0.10'].name_shared).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
