// The answers an administrator acts on, checked against independent evidence:
//  - `host ADDR` agrees with the flows the database holds for that address;
//  - `report firewall` rules, loaded by nft itself into a private network namespace
//    and read back as nft's JSON, let through every expected flow and, of the others,
//    only those the report lists as "cannot be separated by port";
//  - `report new` against a baseline capture lists exactly the connections that
//    tshark finds in the second capture and not in the first.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAVE_SHARED, HAVE_TSHARK, runCli, shared, tmpDir } from './helpers';

interface Flow { client: string; server: string; client_port: number; server_port: number; transport: string; service: string | null; verdict: string | null }

const INVENTORY = 'hosts:\n  - address: 10.77.0.10\n    roles: [domain-controller]\n  - address: 10.77.0.20\n    roles: [mailbox]\n  - address: 10.77.0.30\n    roles: [client-access]\n  - address: 10.77.0.100\n    roles: [outlook-2007]\n';
const HAVE_NFT = spawnSync('nft', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!HAVE_SHARED)('host and firewall on the lab captures', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'lab.sqlite');
  fs.writeFileSync(path.join(dir, 'hosts.yaml'), INVENTORY);
  const a = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), shared('lab', 'lab-sll2-nano.pcap'), shared('lab-exchange', 'focus-epm-winreg-mbx.pcap'), '--separate', '--db', db, '--inventory', path.join(dir, 'hosts.yaml'), '--quiet']);
  const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[];

  it('analyzed, with expected and unexpected flows to judge', () => {
    expect(a.code, a.stderr).toBe(0);
    expect(flows.filter((f) => f.verdict === 'expected').length).toBeGreaterThan(10);
    expect(flows.filter((f) => f.verdict === 'unexpected').length).toBeGreaterThan(2);
  });

  it('host 10.77.0.10: the DC serves its directory services to its one peer, as the flows say', () => {
    const r = runCli(['host', '10.77.0.10', '--db', db, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    const mine = flows.filter((f) => f.server === '10.77.0.10' || f.client === '10.77.0.10');
    expect(s.flows).toBe(mine.length);
    expect(s.host.roles).toEqual(['domain-controller']);
    const served = new Set((s.serves as { service: string }[]).map((x) => x.service));
    expect([...served].sort()).toEqual([...new Set(mine.filter((f) => f.server === '10.77.0.10').map((f) => f.service ?? '(unknown)'))].sort());
    for (const svc of ['ldap', 'kerberos', 'msrpc-epm', 'ad-rpc']) expect(served).toContain(svc);
    expect(s.uses).toEqual([]);
    expect(new Set((s.peers as { peer: string }[]).map((p) => p.peer))).toEqual(new Set(['10.77.0.100']));
    expect((s.findings as { service: string }[]).map((x) => x.service)).toEqual(['ad-replication-rpc']);
    expect((s.rpc_endpoints as { port: number }[]).some((e) => e.port === 49153)).toBe(true);
    const table = runCli(['host', '10.77.0.10', '--db', db, '--format', 'table']).stdout;
    expect(table).toMatch(/^Host 10\.77\.0\.10/m);
    expect(table).toMatch(/^Serves/m);
    expect(runCli(['host', '10.77.0.99', '--db', db]).code).toBe(2);
    expect(runCli(['host', '10.77.0.0/24', '--db', db]).code).toBe(64);
  });

  it('flows --host 10.77.0.20 --verdict unexpected: the 3389 attempt and the winreg calls, nothing of other hosts', () => {
    const rows = JSON.parse(runCli(['flows', '--db', db, '--host', '10.77.0.20', '--verdict', 'unexpected', '--format', 'json']).stdout) as Flow[];
    expect(rows.every((f) => f.client === '10.77.0.20' || f.server === '10.77.0.20')).toBe(true);
    expect(rows.map((f) => f.server_port)).toContain(3389);
    expect(rows).toEqual(flows.filter((f) => (f.client === '10.77.0.20' || f.server === '10.77.0.20') && f.verdict === 'unexpected').map((f) => expect.objectContaining({ client: f.client, client_port: f.client_port })));
  });

  for (const per of ['role', 'host'] as const) {
    it.skipIf(!HAVE_NFT)(`report firewall --per ${per}: nft accepts the ruleset; replayed through nft's own parse, every expected flow passes and no other flow but the listed conflicts`, () => {
      const nftFile = path.join(dir, `fw-${per}.nft`);
      const nft = runCli(['report', 'firewall', '--db', db, '--per', per, '--format', 'nft']);
      expect(nft.code, nft.stderr).toBe(0);
      fs.writeFileSync(nftFile, nft.stdout);
      const check = spawnSync('nft', ['-c', '-f', nftFile], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
      // Load it into a network namespace of its own and read back what nft made of it.
      const load = spawnSync('unshare', ['--net', 'sh', '-c', `nft -f '${nftFile}' && nft -j list ruleset`], { encoding: 'utf8' });
      expect(load.status, load.stderr).toBe(0);
      const ruleset = new NftRuleset(JSON.parse(load.stdout));
      const plan = JSON.parse(runCli(['report', 'firewall', '--db', db, '--per', per, '--format', 'json']).stdout) as { conflicts: { server: string; transport: string; port: number }[] };
      const conflict = new Set(plan.conflicts.map((c) => `${c.server}|${c.transport}|${c.port}`));
      let denied = 0;
      for (const f of flows) {
        const pass = ruleset.acceptsNew(f);
        if (f.verdict === 'expected') expect(pass, `expected flow ${JSON.stringify(f)}`).toBe(true);
        else if (pass) expect(conflict.has(`${f.server}|${f.transport}|${f.server_port}`), `not expected, passes, not listed: ${JSON.stringify(f)}`).toBe(true);
        else denied++;
      }
      expect(denied).toBeGreaterThan(0);
      // The conflicts are real: drsuapi shares the DC's lsarpc port in this lab (one Samba process).
      expect(plan.conflicts.some((c) => c.server === '10.77.0.10')).toBe(true);
    });
  }

  it('report firewall: PowerShell rules, one per allow rule, with quoted addresses; --all covers every flow', () => {
    const plan = JSON.parse(runCli(['report', 'firewall', '--db', db, '--format', 'json']).stdout) as { rules: unknown[]; rpc_dynamic: { pin: string[] }[] };
    const ps = runCli(['report', 'firewall', '--db', db, '--format', 'powershell']).stdout;
    expect(ps.match(/^New-NetFirewallRule /gm)).toHaveLength(plan.rules.length);
    expect(ps).toMatch(/-RemoteAddress '10\.77\.0\.100' -LocalAddress '10\.77\.0\.10'/);
    expect(plan.rpc_dynamic.some((d) => d.pin.some((p) => p.includes('DCTcpipPort')))).toBe(true);
    const all = JSON.parse(runCli(['report', 'firewall', '--db', db, '--all', '--format', 'json']).stdout) as { rules: { flows: number }[]; conflicts: unknown[] };
    expect(all.rules.reduce((n, r) => n + r.flows, 0)).toBe(flows.length);
    expect(all.conflicts).toEqual([]);
  });
});

/** Enough of nft's JSON to decide what the forward chain does with a new connection. */
class NftRuleset {
  private readonly sets = new Map<string, Set<string>>();
  private readonly rules: { expr: Record<string, unknown>[] }[] = [];
  constructor(json: { nftables: Record<string, any>[] }) {
    for (const x of json.nftables) {
      if (x.set) this.sets.set(x.set.name, new Set((x.set.elem ?? []) as string[]));
      if (x.rule && x.rule.chain === 'forward') this.rules.push(x.rule);
    }
  }
  acceptsNew(f: Flow): boolean {
    const v6 = f.client.includes(':');
    for (const r of this.rules) {
      let match = true;
      let verdict: string | null = null;
      for (const e of r.expr as Record<string, any>[]) {
        if (e.match) {
          const left = e.match.left;
          let value: string | number;
          if (left.ct) value = 'new';
          else if (left.payload.field === 'saddr') value = f.client;
          else if (left.payload.field === 'daddr') value = f.server;
          else if (left.payload.field === 'dport') value = f.server_port;
          else throw new Error(`unexpected match ${JSON.stringify(e.match)}`);
          if (left.payload && ['ip', 'ip6'].includes(left.payload.protocol) && (left.payload.protocol === 'ip6') !== v6) match = false;
          if (left.payload && ['tcp', 'udp'].includes(left.payload.protocol) && left.payload.protocol !== f.transport) match = false;
          if (!this.matches(e.match.right, value)) match = false;
        } else if ('accept' in e) verdict = 'accept';
        else if ('drop' in e) verdict = 'drop';
        if (!match) break;
      }
      if (match && verdict) return verdict === 'accept';
    }
    return true; // policy accept
  }
  private matches(right: any, value: string | number): boolean {
    if (typeof right === 'string' && right.startsWith('@')) return this.sets.get(right.slice(1))?.has(String(value)) ?? false;
    if (typeof right === 'string' || typeof right === 'number') return String(right) === String(value);
    if (Array.isArray(right)) return right.includes(value as string); // ct state [established, related]
    if (right.set) return (right.set as any[]).some((m) => (m.range ? Number(value) >= m.range[0] && Number(value) <= m.range[1] : String(m) === String(value)));
    throw new Error(`unexpected right side ${JSON.stringify(right)}`);
  }
}

describe.skipIf(!HAVE_SHARED || !HAVE_TSHARK)('report new against a baseline capture', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'new.sqlite');
  const base = shared('lab', 'lab-ad-epm.pcap');
  // The second capture: an hour earlier, another mapper exchange, then the baseline's traffic again.
  const shifted = path.join(dir, 'winreg-earlier.pcap');
  const second = path.join(dir, 'second.pcap');
  const tools = [
    spawnSync('editcap', ['-t', '-3600', shared('lab-exchange', 'focus-epm-winreg-mbx.pcap'), shifted]),
    spawnSync('mergecap', ['-F', 'pcap', '-w', second, shifted, base]),
  ];
  const connections = (file: string) =>
    new Set(
      spawnSync('tshark', ['-r', file, '-Y', '(tcp.flags.syn == 1 && tcp.flags.ack == 0) || udp', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'udp.dstport'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => {
          const [s, d, tp, up] = l.split('\t');
          return `${tp ? 'tcp' : 'udp'} ${s} > ${d}:${tp || up}`;
        }),
    );

  it('lists exactly the connections tshark finds in the second capture and not in the baseline', () => {
    for (const t of tools) expect(t.status, String(t.stderr)).toBe(0);
    const r = runCli(['analyze', base, second, '--separate', '--db', db, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const inBase = connections(base);
    // UDP answers come back as their own packets: keep the client → server direction only (to the low port).
    const want = [...connections(second)].filter((k) => !inBase.has(k) && !(k.startsWith('udp') && !/:(53|88|123|135|137|138|389)$/.test(k))).sort();
    expect(want.length).toBeGreaterThan(0);
    const captures = JSON.parse(runCli(['report', 'summary', '--db', db, '--format', 'json']).stdout).captures as { id: number; path: string }[];
    const id = captures.find((c) => c.path === base)!.id;
    for (const spelled of [base, 'lab/lab-ad-epm.pcap', `capture:${path.relative(process.cwd(), base)}`, String(id)]) {
      const rep = JSON.parse(runCli(['report', 'new', '--db', db, '--baseline', spelled, '--format', 'json']).stdout);
      const got = (rep.flows as Flow[]).map((f) => `${f.transport} ${f.client} > ${f.server}:${f.server_port}`).sort();
      expect(got, spelled).toEqual(want);
      expect(rep.baseline_flows).toBe(20);
    }
    const bad = runCli(['report', 'new', '--db', db, '--baseline', 'x..y']);
    expect(bad.code).toBe(64);
  });
});

describe('inventory round trip, audit changes and CLI traps', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'sample.sqlite');
  const sample = path.join(__dirname, '..', 'samples', 'exchange-org.pcapng');
  const a = runCli(['analyze', sample, '--db', db, '--quiet']);
  type Host = { address: string; roles: string[]; role_source: string | null };
  const hosts = () => (JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as Host[]).map((h) => `${h.address} ${h.roles.join('+')}`);

  it('hosts --format inventory: read back unedited, the high-confidence roles; uncommented, every role, now from the inventory', () => {
    expect(a.code, a.stderr).toBe(0);
    const before = hosts();
    const yaml = runCli(['hosts', '--db', db, '--format', 'inventory']).stdout;
    expect(yaml).toMatch(/^hosts:$/m); // always a list to uncomment entries into (issue 32 item 5)
    expect(yaml).toMatch(/^ {2}# inferred \(high confidence\)[^\n]*\n {2}- address/m); // high confidence: an entry, under its evidence
    expect(yaml).toMatch(/^ {2}# inferred \((medium|low) confidence\)[^\n]*\n {2}# - address/m); // less: commented out
    const high = (JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[]; confidence: string | null }[])
      .filter((h) => h.confidence === 'high' && h.roles.length > 0)
      .map((h) => h.address);
    expect(high.length).toBeGreaterThan(0);
    // Unedited: exactly the high-confidence hosts become the inventory's.
    fs.writeFileSync(path.join(dir, 'inv-unedited.yaml'), yaml);
    const copy = path.join(dir, 'unedited.sqlite');
    fs.copyFileSync(db, copy);
    const unedited = runCli(['audit', '--db', copy, '--inventory', path.join(dir, 'inv-unedited.yaml')]);
    expect(unedited.code, unedited.stderr).toBe(0);
    const fromInventory = (JSON.parse(runCli(['hosts', '--db', copy, '--format', 'json']).stdout) as { address: string; role_source: string }[]).filter((h) => h.role_source === 'inventory').map((h) => h.address);
    expect(fromInventory.sort()).toEqual([...high].sort());
    // Every entry uncommented (the "# " before its lines removed): every role, now from the inventory.
    const confirmed = yaml.replace(/^ {2}# (- address| {2}roles| {2}name| {2}site| {2}version)/gm, '  $1');
    fs.writeFileSync(path.join(dir, 'inv.yaml'), confirmed);
    const audit = runCli(['audit', '--db', db, '--inventory', path.join(dir, 'inv.yaml')]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/\(\d+ from the inventory, 0 inferred\)/);
    expect(hosts()).toEqual(before);
    // CSV, written and read back: the same again, and it parses as RFC 4180 (an Excel BOM too);
    // a host to confirm is its row behind "# ", under a comment line.
    const csv = runCli(['hosts', '--db', db, '--format', 'inventory-csv', '--bom']);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.charCodeAt(0)).toBe(0xfeff);
    fs.writeFileSync(path.join(dir, 'inv.csv'), csv.stdout);
    expect(runCli(['audit', '--db', db, '--inventory', path.join(dir, 'inv.csv')]).stdout).toMatch(/no role and no verdict changed/);
    expect(hosts()).toEqual(before);
    const csvFromInferred = runCli(['hosts', '--db', copy, '--format', 'inventory-csv']).stdout;
    expect(csvFromInferred).not.toMatch(/^"#/m); // no comment in a quoted cell
  });

  it('audit with a corrected inventory prints the roles and verdicts that changed', () => {
    const inv = fs.readFileSync(path.join(dir, 'inv.yaml'), 'utf8');
    const first = /address: "([^"]+)"\n {4}roles: \[([^\]]+)\]/.exec(inv)!;
    fs.writeFileSync(path.join(dir, 'inv2.yaml'), inv.replace(first[0], `address: "${first[1]}"\n    roles: ["edge-transport"]`));
    const r = runCli(['audit', '--db', db, '--inventory', path.join(dir, 'inv2.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Roles that changed \(1 host\)/);
    expect(r.stdout).toContain(first[1]);
    expect(r.stdout).toMatch(/edge-transport/);
    expect(r.stdout).toMatch(/Verdicts that changed \(\d+ flows?\)/);
    // Only verdicts that changed: no row is expected (or anything else) both before and after.
    const rows = r.stdout.split(/Verdicts that changed[^\n]*\n/)[1].split('\n').slice(2).filter(Boolean);
    expect(rows.length).toBeGreaterThan(0);
    for (const line of rows) {
      const [before, after] = line.trim().split(/\s{2,}/);
      expect(before, line).not.toBe(after);
    }
  });

  it('--rules is repeatable and does not swallow the captures after it', () => {
    const rules = path.join(dir, 'site-rules');
    fs.mkdirSync(rules);
    const out = path.join(dir, 'rules.sqlite');
    const r = runCli(['analyze', '--rules', rules, '--rules', rules, sample, '--db', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(runCli(['report', 'summary', '--db', out, '--format', 'json']).stdout).totals.captures).toBe(1);
  });

  it('no database is left behind when no capture could be read; one that existed is kept', () => {
    const out = path.join(dir, 'never.sqlite');
    const junk = path.join(dir, 'junk.bin');
    fs.writeFileSync(junk, 'not a capture at all');
    const r = runCli(['analyze', junk, '--db', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1); // the file's one error line, nothing more
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('never.sqlite'))).toEqual([]);
    expect(runCli(['analyze', junk, '--db', db]).code).toBe(2);
    expect(fs.existsSync(db)).toBe(true);
  });

  it('report epm takes --since/--until and keeps to them; flow-only filters are not offered', () => {
    const all = JSON.parse(runCli(['report', 'epm', '--db', db, '--format', 'json']).stdout) as { first_seen: string }[];
    expect(all.length).toBeGreaterThan(1);
    const times = all.map((e) => Date.parse(e.first_seen) / 1000).sort((x, y) => x - y);
    const mid = times[Math.floor(times.length / 2)];
    const late = JSON.parse(runCli(['report', 'epm', '--db', db, '--since', String(mid), '--format', 'json']).stdout) as { first_seen: string }[];
    expect(late.length).toBe(times.filter((t) => t >= mid - 1e-6).length);
    expect(late.length).toBeLessThan(all.length);
    expect(runCli(['report', 'epm', '--db', db, '--verdict', 'expected']).code).toBe(64);
  });
});
