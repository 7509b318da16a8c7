// Issue 4 acceptance: rules check, the inventory, role inference and the verdict,
// through the CLI on the lab capture.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Matrix } from '../src/audit/verdict';
import { loadRules } from '../src/rules/load';
import { versionOf } from '../src/rules/versions';
import { HAVE_SHARED, ROOT, runCli, shared, tmpDir } from './helpers';

interface FlowJson {
  client: string;
  server: string;
  server_port: number;
  transport: string;
  service: string | null;
  client_role: string | null;
  server_role: string | null;
  verdict: string | null;
  rule: string | null;
  reason: string | null;
}

const INVENTORY = `# the lab, as an administrator would describe it
hosts:
  - address: 10.77.0.10
    roles: [domain-controller]
    name: dc1
  - address: 10.77.0.20
    roles: [mailbox]
    name: mbx1
    version: "2010"
  - address: 10.77.0.30
    roles: [client-access]
    name: cas1
    version: "2010"
  - address: 10.77.0.100
    roles: [outlook-2007]
    name: ws1
`;

describe('exflow rules check', () => {
  it('passes on the shipped rules', () => {
    const r = runCli(['rules', 'check']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rules ok: .* 21 roles, \d+ matrix rules/);
  });
  it('fails with file:line on a broken copy', () => {
    const dir = tmpDir();
    const text = fs.readFileSync(path.join(ROOT, 'rules', 'matrix-2007.yaml'), 'utf8');
    const broken = text.replace('services: [smtp, smtp-submission]', 'services: [smtp-tsl, smtp-submission]');
    fs.writeFileSync(path.join(dir, 'matrix-2007.yaml'), broken);
    const line = broken.split('\n').findIndex((l) => l.includes('smtp-tsl')) + 1;
    const r = runCli(['rules', 'check', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`exflow: ${path.join(dir, 'matrix-2007.yaml')}:${line}: unknown service "smtp-tsl"`);
  });
  it('a site folder moves the log-shipping port and adds a role, by id, without replacing the shipped files', () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'site.yaml'),
      [
        'services:',
        '  - id: log-shipping',
        '    name: DAG log shipping (moved here)',
        '    transport: tcp',
        '    ports: [64400]',
        '    cite: ["site change ticket 42"]',
        'roles:',
        '  - id: backup-server',
        '    name: Backup server',
        '    kind: server',
        '    cite: ["site"]',
        '',
      ].join('\n'),
    );
    expect(runCli(['rules', 'check', dir]).code).toBe(0);
    const j = JSON.parse(runCli(['rules', 'show', '--rules', dir, '--format', 'json']).stdout);
    expect(j.services.find((s: { id: string }) => s.id === 'log-shipping').ports).toBe('64400');
    expect(j.services.find((s: { id: string }) => s.id === 'smtp')).toBeDefined();
    expect(j.roles.map((r: { id: string }) => r.id)).toContain('backup-server');
  });

  it('rules show prints every section', () => {
    const r = runCli(['rules', 'show', '--format', 'json']);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['services', 'rpc', 'roles', 'matrix', 'http-apps', 'versions', 'protection']);
    expect(j.protection.map((p: { id: string }) => p.id)).toContain('ntlmv1');
    expect(j.versions.map((v: { id: string }) => v.id)).toContain('2019');
    expect(j.matrix.length).toBeGreaterThan(196);
  });
});

describe('verdicts', () => {
  const rules = loadRules();
  const m = new Matrix(rules.matrix, new Set());
  const f = { client: '10.0.0.1', server: '10.0.0.2', transport: 'tcp', serverPort: 25, service: 'smtp' };
  it('expected names the matrix entry; either orientation of a cell counts', () => {
    expect(m.judge(f, ['hub-transport'], ['edge-transport'])).toMatchObject({ verdict: 'expected', rule: '2010:hub-transport>edge-transport' });
    expect(m.judge({ ...f, service: 'ldap', serverPort: 389 }, ['hub-transport'], ['domain-controller'])).toMatchObject({ verdict: 'expected', rule: expect.stringMatching(/^20(07|10):hub-transport>domain-controller$/) });
  });
  it('unexpected says what the matrix allows; unknown says which side has no role', () => {
    const u = m.judge({ ...f, service: 'rdp', serverPort: 3389 }, ['outlook-2003'], ['hub-transport']);
    expect(u.verdict).toBe('unexpected');
    expect(u.reason).toMatch(/no direct connection between outlook-2003 → hub-transport/);
    expect(m.judge(f, [], ['hub-transport'])).toMatchObject({ verdict: 'unknown', reason: expect.stringMatching(/^no role for the client \(not in the inventory/) });
  });
  it("2013's unrestricted internal traffic allows any service, even an unnamed one", () => {
    expect(m.judge({ ...f, service: null, serverPort: 50123 }, ['client-access'], ['mailbox'])).toMatchObject({ verdict: 'expected', rule: '2013:internal:client-access>mailbox' });
  });
});

describe.skipIf(!HAVE_SHARED)('lab-ad-epm with an inventory', () => {
  const run = (inventory: string | null, ext = 'yaml') => {
    const dir = tmpDir();
    const db = path.join(dir, 'a.sqlite');
    const args = ['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db];
    if (inventory !== null) {
      fs.writeFileSync(path.join(dir, `hosts.${ext}`), inventory);
      args.push('--inventory', path.join(dir, `hosts.${ext}`));
    }
    const a = runCli(args);
    expect(a.code, a.stderr).toBe(0);
    return { db, stderr: a.stderr, flows: JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as FlowJson[] };
  };

  it('directory traffic from the client to the DC is expected, the refused RDP attempt unexpected, every flow has roles and a rule or a reason', () => {
    const { flows } = run(INVENTORY);
    expect(flows).toHaveLength(20);
    for (const f of flows.filter((x) => x.server === '10.77.0.10' && ['ldap', 'ldap-gc', 'kerberos', 'dns'].includes(x.service!))) {
      expect(f.verdict, `${f.service}`).toBe('expected');
      expect(f.rule).toMatch(/^2007:outlook>domain-controller$/);
    }
    expect(flows.filter((x) => ['ldap', 'ldap-gc', 'kerberos', 'dns'].includes(x.service!))).toHaveLength(6);
    const rdp = flows.find((x) => x.server_port === 3389)!;
    expect([rdp.client_role, rdp.server_role, rdp.verdict]).toEqual(['outlook', 'mailbox', 'unexpected']);
    expect(rdp.reason).toMatch(/rdp is not among what the matrix allows between outlook → mailbox/);
    for (const f of flows) {
      expect(f.client_role).not.toBeNull();
      expect(f.server_role).not.toBeNull();
      expect(f.verdict === 'expected' ? f.rule : f.reason).toBeTruthy();
    }
  });

  it("each flow's verdict, joined in per key, is the one the matrix gives that flow alone with its hosts' roles and versions", () => {
    // Verdicts are stored once per (roles, versions, service, port) and joined to the flows by
    // the views: judged here flow by flow, independently of that key, they must agree.
    const rules = loadRules();
    const m = new Matrix(rules.matrix, new Set());
    const tables = (v: string | null) => versionOf(rules.versions, v)?.tables ?? null;
    const cases = [
      run(INVENTORY),
      run(null),
      (() => {
        const db = path.join(tmpDir(), 's.sqlite');
        const a = runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--quiet', '--inventory', path.join(ROOT, 'samples', 'inventory.yaml')]);
        expect(a.code, a.stderr).toBe(0);
        return { db, flows: JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as FlowJson[] };
      })(),
    ];
    let judged = 0;
    for (const { db, flows } of cases) {
      const hosts = new Map((JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; version: string | null }[]).map((h) => [h.address, h]));
      for (const f of flows) {
        const c = hosts.get(f.client)!;
        const sv = hosts.get(f.server)!;
        const v = m.judge({ transport: f.transport, serverPort: f.server_port, service: f.service }, c.roles, sv.roles, tables(c.version), tables(sv.version));
        expect([f.client_role, f.server_role, f.verdict, f.rule, f.reason], `${f.client} → ${f.server}:${f.server_port} ${f.service}`).toEqual([v.clientRole, v.serverRole, v.verdict, v.rule, v.reason]);
        judged++;
      }
    }
    expect(judged).toBe(20 + 20 + 26);
  });

  it('a CSV inventory with a CIDR block: the most specific entry wins', () => {
    const csv = 'address,roles,name\n10.77.0.0/24,outlook-2007,lab-net\n10.77.0.10,domain-controller;dns-server,dc1\n10.77.0.20/32,mailbox,mbx1\n10.77.0.30,client-access,cas1\n';
    const { flows, db } = run(csv, 'csv');
    expect(flows.find((x) => x.server_port === 389)!.server_role).toBe('domain-controller');
    expect(flows.every((x) => x.client_role === 'outlook')).toBe(true);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; role_source: string }[];
    expect(hosts.find((h) => h.address === '10.77.0.100')).toMatchObject({ roles: ['outlook'], role_source: 'inventory' });
  });

  it('without an inventory, inference names 10.77.0.10 a domain controller, with its evidence', () => {
    const { db, flows } = run(null);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; role_source: string; evidence: string[]; confidence: string }[];
    const dc = hosts.find((h) => h.address === '10.77.0.10')!;
    expect(dc.roles).toContain('domain-controller');
    expect(dc.role_source).toBe('inferred');
    expect(dc.confidence).toBe('high');
    expect(dc.evidence.join()).toMatch(/dc-gc \(high\): serves kerberos, ldap, ldap-gc/);
    // The client has no role: its flows are unknown, and say why.
    expect(flows.every((f) => f.verdict === 'unknown' && /^no role for the client( and server)? \(not in the inventory, nothing inferred\)$/.test(f.reason!))).toBe(true);
  });

  it('an inventory that contradicts the traffic is reported', () => {
    const { stderr, db } = run(INVENTORY.replace('roles: [domain-controller]', 'roles: [mailbox]'));
    expect(stderr).toMatch(/exflow: note: 10.77.0.10: inventory says mailbox; the traffic suggests domain-controller/);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; disagreement: string | null }[];
    expect(hosts.find((h) => h.address === '10.77.0.10')!.disagreement).toMatch(/inventory says mailbox/);
  });

  it('a broken inventory: one line with file and line, exit 2', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'hosts:\n  - address: 10.77.0.10\n    roles: [domain-controler]\n');
    const r = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', path.join(dir, 'x.sqlite'), '--inventory', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`exflow: ${file}:3: unknown role "domain-controler" (see "exflow rules show roles")`);
  });

  it('an empty inventory takes back the roles the old one gave; inferred roles stay', () => {
    // Without an inventory only hosts that serve something, use a service an inference rule
    // asks only to be used, or hold role values are read again: the client holds its old ones.
    const { db } = run(INVENTORY);
    const dir = path.dirname(db);
    fs.writeFileSync(path.join(dir, 'empty.yaml'), 'hosts: []\n');
    const a = runCli(['audit', '--db', db, '--inventory', path.join(dir, 'empty.yaml')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/roles for 1 of 4 hosts \(0 from the inventory, 1 inferred\); flows: 0 expected, 0 unexpected, 20 unknown/);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; name: string | null; role_source: string | null; version: string | null }[];
    // The inventory's names go with it; the DC keeps the name DNS gives it (the SMTP server's "220 localhost" names nothing).
    expect(hosts.map((h) => [h.address, h.roles, h.name, h.role_source, h.version])).toEqual([
      ['10.77.0.10', ['domain-controller', 'dns-server'], 'dc1.lab.example', 'inferred', null],
      ['10.77.0.20', [], null, null, null],
      ['10.77.0.30', [], null, null, null],
      ['10.77.0.100', [], null, null, null],
    ]);
  });

  it('exflow audit re-judges with a new inventory, and keeps the stored one otherwise', () => {
    const { db } = run(null);
    const dir = path.dirname(db);
    fs.writeFileSync(path.join(dir, 'inv.yaml'), INVENTORY);
    const a = runCli(['audit', '--db', db, '--inventory', path.join(dir, 'inv.yaml')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/4 from the inventory.*17 expected, 3 unexpected, 0 unknown/);
    const again = runCli(['audit', '--db', db]);
    expect(again.stdout).toMatch(/4 from the inventory.*17 expected, 3 unexpected, 0 unknown/);
  });
});

describe('verdict keys in pages', () => {
  it('12,000 distinct keys (an unnamed service on 12,000 ports): every flow judged, every key stored once, counted once', async () => {
    const { openDb } = await import('../src/store/db');
    const { Auditor } = await import('../src/run/audit');
    const db = openDb(path.join(tmpDir(), 'keys.sqlite'));
    db.exec(`INSERT INTO runs (id, started_at, status, command, exflow_version) VALUES (1, 'now', 'complete', 'test', 'test');
             INSERT INTO captures (id, run_id, path, size, fingerprint, status, analyzed_at, exflow_version) VALUES (1, 1, 'x', 0, 'x', 'ok', 'now', 'test');
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 11999)
             INSERT INTO flows (capture_id, transport, family, client, client_port, server, server_port, direction_by, first_sec, first_nsec, last_sec, last_nsec,
                                packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, payload_c2s, payload_s2c, missing_c2s, missing_s2c, tcp_state)
             SELECT 1, 'tcp', 4, '10.0.0.1', 40000, '10.0.0.2', 1024 + i, 'syn', 0, 0, 1, 0, 1, 1, 60, 60, 0, 0, 0, 0, 'established' FROM n;
             INSERT INTO hosts (address, first_sec, last_sec) VALUES ('10.0.0.1', 0, 1), ('10.0.0.2', 0, 1);`);
    // Added up as a run's writer adds its flows up (the audit judges the rollup rows' keys).
    const { rollUpRun } = await import('../src/store/rollups');
    rollUpRun(db, 1);
    const a = new Auditor(db, loadRules(), null).finish(false, 1);
    expect(a.counts).toMatchObject({ expected: 0, unexpected: 0, unknown: 12000 });
    expect(db.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(12000);
    expect(db.prepare('SELECT count(*) FROM flow_view WHERE verdict IS NULL').pluck().get()).toBe(0);
    // Judged again (exflow audit): the same keys, replaced, not added.
    expect(new Auditor(db, loadRules(), null).finish(true).counts.unknown).toBe(12000);
    expect(db.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(12000);
    db.close();
  });
});
