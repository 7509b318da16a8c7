// Firewall rules Microsoft does not support (issue 23, item 12): between the internal
// servers of Exchange 2013 and later (Exchange servers but the Edge, domain
// controllers) report firewall says "no", citing where Microsoft says so (from
// rules/versions.yaml and the roles' `internal`), and --supported-only leaves them out
// of every format, the nftables ruleset included.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';

describe('report firewall: supported rules only', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'fw.sqlite');
  fs.writeFileSync(
    path.join(dir, 'inv.yaml'),
    `hosts:
  - { address: 10.10.0.10, roles: [domain-controller, dns-server] }
  - { address: 10.10.0.20, roles: [mailbox], version: "2016" }
  - { address: 10.10.0.21, roles: [mailbox], version: "2016" }
  - { address: 10.10.0.30, roles: [mailbox], version: "2016" }
  - { address: 172.16.0.50, roles: [edge-transport], version: "2016" }
  - { address: 10.20.0.0/24, roles: [outlook-2007] }
`,
  );

  it('rules between internal 2013+ servers say no, with the citation; the Edge and the clients stay supported', () => {
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(dir, 'inv.yaml'), '--quiet']).code).toBe(0);
    const plan = JSON.parse(runCli(['report', 'firewall', '--db', db, '--format', 'json']).stdout) as { rules: { from: string; to: string; supported: boolean; unsupported: string[]; rules: string[] }[] };
    const no = plan.rules.filter((r) => !r.supported);
    expect(no.length).toBeGreaterThan(3);
    for (const r of no) {
      expect(r.rules.every((id) => id.startsWith('2013:'))).toBe(true);
      expect(r.unsupported.join(' ')).toMatch(/not supported/);
    }
    expect(no.some((r) => r.from === 'mailbox' && r.to === 'domain-controller')).toBe(true);
    const edge = plan.rules.filter((r) => r.from === 'internet' || r.to === 'edge-transport' || r.from === 'edge-transport');
    expect(edge.length).toBeGreaterThan(0);
    for (const r of edge) expect(r.supported).toBe(true);

    const only = JSON.parse(runCli(['report', 'firewall', '--db', db, '--format', 'json', '--supported-only']).stdout) as { rules: { supported: boolean }[] };
    expect(only.rules.length).toBe(plan.rules.length - no.length);
    expect(only.rules.every((r) => r.supported)).toBe(true);
    const nft = runCli(['report', 'firewall', '--db', db, '--format', 'nft', '--supported-only']).stdout;
    expect(nft).toMatch(new RegExp(`: ${only.rules.length} rules`));
  });
});
