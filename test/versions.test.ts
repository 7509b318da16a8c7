// Version-aware verdicts and the encryption audit: an inventory's versions select
// the tables that judge a flow (rules/versions.yaml), a 2003↔2007 pair is judged by
// 000's coexistence table, and a session in clear where the table says encrypted is
// a finding of its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';

interface Flow { client: string; server: string; server_port: number; service: string | null; verdict: string | null; rule: string | null; tls: string | null; encryption: string | null; encryption_cite: string | null }
const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');

function analyze(file: string, inventory: string): { db: string; flows: Flow[] } {
  const dir = tmpDir();
  const inv = path.join(dir, 'inv.yaml');
  fs.writeFileSync(inv, inventory);
  const db = path.join(dir, 'x.sqlite');
  const r = runCli(['analyze', file, '--db', db, '--inventory', inv, '--quiet']);
  if (r.code !== 0) throw new Error(r.stderr);
  return { db, flows: JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[] };
}

describe('version-aware verdicts', () => {
  const inventory = fs.readFileSync(path.join(ROOT, 'samples', 'inventory.yaml'), 'utf8');

  it('a 2010 Edge: its Internet SMTP is judged by a 2010 rule; hosts show the version and where it came from', () => {
    const { db, flows } = analyze(SAMPLE, inventory);
    const smtp = flows.find((f) => f.client === '198.51.100.25' && f.server_port === 25)!;
    expect(smtp).toMatchObject({ verdict: 'expected', rule: '2010:internet>edge-transport' });
    // Every flow between two hosts of version 2010 is judged by a 2010 rule.
    expect(flows.filter((f) => f.verdict === 'expected' && ['10.10.0.20', '10.10.0.30', '10.10.0.40', '172.16.0.50'].includes(f.server) && ['10.10.0.20', '10.10.0.30', '10.10.0.40', '172.16.0.50'].includes(f.client)).every((f) => f.rule!.startsWith('2010:'))).toBe(true);
    const edge = (JSON.parse(runCli(['hosts', '--db', db, '--host', '172.16.0.50', '--format', 'json']).stdout) as { version: string; version_source: string }[])[0];
    expect(edge).toMatchObject({ version: '2010', version_source: 'inventory' });
  });

  it('a 2003 bridgehead and a 2007 Hub are judged by 000\'s coexistence table; without versions, every table applies', () => {
    const mixed = inventory
      .replace(/(address: 10\.10\.0\.40\n\s+roles: \[hub-transport\]\n\s+name: hub1\n\s+version: )"2010"/, '$1"Exchange 2007 SP3"')
      .replace(/(address: 172\.16\.0\.50\n\s+roles: )\[edge-transport\](\n\s+name: edge1\n\s+version: )"2010"/, '$1[ex2003-bridgehead]$2"6.5"');
    expect(mixed).toContain('"6.5"');
    const { flows } = analyze(SAMPLE, mixed);
    const smtp = flows.find((f) => f.client === '172.16.0.50' && f.server === '10.10.0.40' && f.server_port === 25)!;
    expect(smtp).toMatchObject({ verdict: 'expected', rule: '2007:ex2003-bridgehead>hub-transport' });
    // The 2010 tables do not judge this pair: EdgeSync (a 2010 Hub → Edge service) is now unexpected.
    const edgesync = flows.find((f) => f.service === 'edgesync')!;
    expect(edgesync.verdict).toBe('unexpected');
    const unversioned = analyze(SAMPLE, inventory.replace(/\n\s+version: "[^"]+"/g, '')).flows;
    expect(unversioned.find((f) => f.client === '198.51.100.25' && f.server_port === 25)!.verdict).toBe('expected');
  });
});

describe('the encryption audit', () => {
  it('POP3 and IMAP4 in clear to a 2010 Client Access server are findings; STARTTLS and TLS sessions are not', () => {
    const inv = 'hosts:\n  - {address: 10.77.0.10, roles: [domain-controller]}\n  - {address: 10.77.0.20, roles: [mailbox], version: "2010"}\n  - {address: 10.77.0.30, roles: [client-access], version: "2010"}\n  - {address: 10.77.0.40, roles: [hub-transport], version: "2010"}\n  - {address: 10.77.0.50, roles: [edge-transport], version: "2010"}\n  - {address: 10.77.0.100, roles: [other-clients]}\n';
    const { db, flows } = analyze(path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap'), inv);
    const clear = flows.filter((f) => f.server === '10.77.0.30' && [110, 143].includes(f.server_port) && f.tls === 'none');
    expect(clear).toHaveLength(2);
    const found = flows.filter((f) => f.encryption !== null);
    expect(found.map((f) => f.server_port).sort()).toEqual([110, 143]);
    for (const f of found) {
      // The finding in English; where the table says so, in the seed's own words (Chinese), apart (issue 23, item 4).
      expect(f.encryption).toMatch(/^(pop3|imap4) between other-clients and client-access is encrypted by the table \(2010:other-clients>client-access\); this session was in clear$/);
      expect(f.encryption_cite).toMatch(/^seed 004 .*[\u4e00-\u9fff]/);
    }
    expect(flows.filter((f) => f.tls === 'starttls' && f.encryption !== null)).toEqual([]);
    const report = JSON.parse(runCli(['report', 'encryption', '--db', db, '--format', 'json']).stdout) as { service: string; flows: number }[];
    expect(report.map((r) => `${r.service} ${r.flows}`).sort()).toEqual(['imap4 1', 'pop3 1']);
    // The HTML page shows them among the findings.
    const out = path.join(tmpDir(), 'r.html');
    expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    expect(html.indexOf('id="encryption"')).toBeGreaterThan(html.indexOf('id="findings"'));
    expect(html.indexOf('id="encryption"')).toBeLessThan(html.indexOf('id="conversations"'));
  });
});

describe('a version the wire shows', () => {
  it('an answer\'s X-OWA-Version gives a host without an inventory version its version (source wire), and its flows are judged by that version\'s table', () => {
    const file = path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-owa-version.pcap');
    const inv = 'hosts:\n  - {address: 10.77.0.20, roles: [client-access]}\n  - {address: 10.77.0.100, roles: [other-clients]}\n';
    const { db, flows } = analyze(file, inv);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; version: string | null; version_source: string | null }[];
    expect(hosts.find((h) => h.address === '10.77.0.20')).toMatchObject({ version: '15.1.2507.6', version_source: 'wire' });
    expect(flows).toHaveLength(2);
    // 15.1 is Exchange 2016, judged by the 2013 table (rules/versions.yaml).
    for (const f of flows) expect(f).toMatchObject({ verdict: 'expected', rule: '2013:other-clients>client-access' });
    // An inventory version wins over the wire's.
    const { db: db2 } = analyze(file, inv.replace('roles: [client-access]}', 'roles: [client-access], version: "2010"}'));
    const h2 = JSON.parse(runCli(['hosts', '--db', db2, '--host', '10.77.0.20', '--format', 'json']).stdout)[0];
    expect(h2).toMatchObject({ version: '2010', version_source: 'inventory' });
  });
});
