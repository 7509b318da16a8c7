// The flow filters mean the same everywhere: flows, reports and export with a filter
// give exactly the flows that the unfiltered JSON holds and the filter, applied here
// in plain code, selects.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contains, parseNet } from '../src/classify/ip';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';

interface Flow { client: string; server: string; service: string | null; client_role: string | null; server_role: string | null; verdict: string | null; client_port: number; server_port: number; transport: string }

const INVENTORY = 'hosts:\n  - address: 10.77.0.10\n    roles: [domain-controller]\n  - address: 10.77.0.20\n    roles: [mailbox]\n  - address: 10.77.0.30\n    roles: [client-access]\n  - address: 10.77.0.100\n    roles: [outlook-2007]\n';
const inNet = (addr: string, v: string) => (v.includes('/') ? contains(parseNet(v)!, parseNet(addr)!) : addr === v);
const key = (f: Flow) => `${f.transport} ${f.client}:${f.client_port} > ${f.server}:${f.server_port}`;

describe.skipIf(!HAVE_SHARED)('flow filters', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'f.sqlite');
  fs.writeFileSync(path.join(dir, 'hosts.yaml'), INVENTORY);
  const a = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), shared('lab', 'lab-sll2-nano.pcap'), '--separate', '--db', db, '--inventory', path.join(dir, 'hosts.yaml'), '--quiet']);
  const all = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Flow[];

  const cases: [string[], (f: Flow) => boolean][] = [
    [['--host', '10.77.0.20'], (f) => f.client === '10.77.0.20' || f.server === '10.77.0.20'],
    [['--host', '10.77.0.20', '--verdict', 'unexpected'], (f) => (f.client === '10.77.0.20' || f.server === '10.77.0.20') && f.verdict === 'unexpected'],
    [['--server', '10.77.0.0/28'], (f) => inNet(f.server, '10.77.0.0/28')],
    [['--client', '10.77.0.100', '--service', 'ad-rpc'], (f) => f.client === '10.77.0.100' && f.service === 'ad-rpc'],
    [['--role', 'domain-controller'], (f) => (f.client_role ?? '').split('+').includes('domain-controller') || (f.server_role ?? '').split('+').includes('domain-controller')],
    [['--verdict', 'expected', '--host', '10.77.0.0/24'], (f) => f.verdict === 'expected' && (inNet(f.client, '10.77.0.0/24') || inNet(f.server, '10.77.0.0/24'))],
  ];

  it('analyzed', () => {
    expect(a.code, a.stderr).toBe(0);
    expect(all.length).toBeGreaterThan(25);
  });

  for (const [args, pick] of cases) {
    it(`${args.join(' ')}: flows, report summary and export agree with the filter applied to all flows`, () => {
      const want = all.filter(pick).map(key).sort();
      expect(want.length, 'a filter that selects nothing proves nothing').toBeGreaterThan(0);
      const got = (JSON.parse(runCli(['flows', '--db', db, '--format', 'json', ...args]).stdout) as Flow[]).map(key).sort();
      expect(got).toEqual(want);
      expect(JSON.parse(runCli(['report', 'summary', '--db', db, '--format', 'json', ...args]).stdout).totals.flows).toBe(want.length);
      const ndjson = runCli(['export', '--db', db, ...args]).stdout.split('\n').filter(Boolean);
      expect(ndjson).toHaveLength(want.length);
    });
  }

  it('hosts take --host and --role, epm takes --server, with the same meaning', () => {
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[] }[];
    const inBlock = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json', '--host', '10.77.0.0/28']).stdout) as { address: string }[];
    expect(inBlock.map((h) => h.address)).toEqual(hosts.filter((h) => inNet(h.address, '10.77.0.0/28')).map((h) => h.address));
    expect(inBlock.length).toBeGreaterThan(0);
    const dcs = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json', '--role', 'domain-controller']).stdout) as { address: string }[];
    expect(dcs.map((h) => h.address)).toEqual(hosts.filter((h) => h.roles.includes('domain-controller')).map((h) => h.address));
    const eps = JSON.parse(runCli(['epm', '--db', db, '--format', 'json']).stdout) as { server: string }[];
    const onDc = JSON.parse(runCli(['epm', '--db', db, '--format', 'json', '--server', '10.77.0.10']).stdout) as { server: string }[];
    expect(onDc).toEqual(eps.filter((e) => e.server === '10.77.0.10'));
    expect(onDc.length).toBeGreaterThan(0);
  });

  it('the 3389 attempt is the one unexpected flow to 10.77.0.20 besides SMTP; a bad address is a usage error', () => {
    const rows = JSON.parse(runCli(['flows', '--db', db, '--host', '10.77.0.20', '--verdict', 'unexpected', '--format', 'json']).stdout) as Flow[];
    expect(rows.map((f) => f.server_port).sort((x, y) => x - y)).toEqual([25, 3389]);
    const bad = runCli(['flows', '--db', db, '--host', '10.77.0.300']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--host takes an IPv4\/IPv6 address, a CIDR block \(10.0.0.0\/8\) or a host name the database knows, not "10.77.0.300"/);
  });
});

describe('a filter that names nothing exflow knows is a usage error with the nearest names', () => {
  const dir = tmpDir();
  const db = path.join(dir, 's.sqlite');
  const sample = path.join(__dirname, '..', 'samples', 'exchange-org.pcapng');
  const a = runCli(['analyze', sample, '--db', db, '--inventory', path.join(__dirname, '..', 'samples', 'inventory.yaml'), '--quiet']);

  it('--service mapi, --role maibox: exit 64 naming mapi-rpc and mailbox, in every command that filters', () => {
    expect(a.code, a.stderr).toBe(0);
    for (const cmd of [['flows'], ['report', 'summary'], ['report', 'unexpected'], ['report', 'firewall'], ['export']]) {
      const s = runCli([...cmd, '--db', db, '--service', 'mapi']);
      expect(s.code, cmd.join(' ')).toBe(64);
      expect(s.stderr).toMatch(/--service "mapi" is not a service exflow knows; did you mean mapi-rpc/);
      const r = runCli([...cmd, '--db', db, '--role', 'maibox']);
      expect(r.code, cmd.join(' ')).toBe(64);
      expect(r.stderr).toMatch(/did you mean mailbox\?/);
    }
    expect(runCli(['hosts', '--db', db, '--role', 'maibox']).code).toBe(64);
    expect(runCli(['report', 'html', '--db', db, '--service', 'mapi', '--out', path.join(dir, 'r.html')]).code).toBe(64);
    expect(fs.existsSync(path.join(dir, 'r.html'))).toBe(false);
  });

  it('names the rules know, and a service only the database holds (an extra rules folder at analyze time), still filter', () => {
    const ok = JSON.parse(runCli(['flows', '--db', db, '--service', 'mapi-rpc', '--format', 'json']).stdout) as Flow[];
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.every((f) => f.service === 'mapi-rpc')).toBe(true);
    const Database = require('better-sqlite3');
    const d = new Database(db);
    d.prepare("UPDATE flows SET service = 'custom-svc' WHERE id = (SELECT min(id) FROM flows)").run();
    d.close();
    const custom = runCli(['flows', '--db', db, '--service', 'custom-svc', '--format', 'json']);
    expect(custom.code, custom.stderr).toBe(0);
    expect(JSON.parse(custom.stdout)).toHaveLength(1);
  });
});

describe('one time, one meaning (issue 23, item 2): UTC unless the text carries an offset', () => {
  it('a space or a T, with or without Z, an offset, epoch seconds: the same instant', async () => {
    const { parseTime } = await import('../src/report/filter');
    const utc = Date.UTC(2026, 0, 15, 9, 0, 0) / 1000;
    for (const text of ['2026-01-15 09:00:00', '2026-01-15T09:00:00', '2026-01-15T09:00:00Z', '2026-01-15 09:00:00Z', '2026-01-15T11:00:00+02:00', '2026-01-15T04:00:00-0500', '2026-01-15T09:00', String(utc)]) {
      expect(parseTime(text), text).toBe(utc);
    }
    expect(parseTime('2026-01-15')).toBe(Date.UTC(2026, 0, 15) / 1000);
    expect(parseTime('2026-01-15T09:00:00.250Z')).toBe(utc + 0.25);
    for (const bad of ['the day before', '2026-01-15T25:00:00', '15.01.2026', '2026-01-15 09:00:00 +0200 extra']) expect(parseTime(bad), bad).toBeNull();
  });
});

describe('one prefix for every error (issue 23, item 9)', () => {
  it("commander's own errors start with exflow:, as exflow's do, and are usage errors", () => {
    for (const args of [['flows', '--nope'], ['reprot'], ['report', 'protection', '--format', 'xx'], ['host']]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr, args.join(' ')).toMatch(/^exflow: /);
      expect(r.stderr).not.toMatch(/^error:/m);
    }
  });
});

describe('no option that does nothing (issue 23, item 9)', () => {
  it('export offers no --wide (it writes no text table); flows and the reports do', () => {
    expect(runCli(['export', '--help']).stdout).not.toMatch(/--wide/);
    expect(runCli(['flows', '--help']).stdout).toMatch(/--wide/);
    expect(runCli(['report', 'protection', '--help']).stdout).toMatch(/--wide/);
    expect(runCli(['export', '--wide']).code).toBe(64);
  });
});

describe('times that sort (issue 23, item 3): one width for every time', () => {
  it('six fraction digits always: a column of times sorts as text, and totals and rows write one instant alike', async () => {
    const { isoTime } = await import('../src/report/format');
    const t = Date.UTC(2026, 0, 15, 9) / 1000;
    expect(isoTime(t, 0)).toBe('2026-01-15T09:00:00.000000Z');
    expect(isoTime(t, 5_000_000)).toBe('2026-01-15T09:00:00.005000Z');
    expect(isoTime(t, 123_456_789)).toBe('2026-01-15T09:00:00.123456Z');
    expect([isoTime(t, 5_000_000)!, isoTime(t, 0)!].sort()).toEqual([isoTime(t, 0), isoTime(t, 5_000_000)]);
    const dir = tmpDir();
    const db = path.join(dir, 't.sqlite');
    expect(runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--quiet']).code).toBe(0);
    const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { first_seen: string; last_seen: string }[];
    const widths = new Set(flows.flatMap((f) => [f.first_seen.length, f.last_seen.length]));
    expect([...widths]).toEqual(['2026-01-15T09:00:00.000000Z'.length]);
    // Item 6: flows say how long they lasted (the table shows start and duration after the verdict).
    for (const f of flows as unknown as { first_seen: string; last_seen: string; duration: number }[]) {
      // A number in JSON (issue 32 item 12), to the microsecond.
      expect(typeof f.duration).toBe('number');
      expect(Math.round(f.duration * 1e6) / 1e6).toBe(f.duration);
      expect(Math.abs(Number(f.duration) - (Date.parse(f.last_seen) - Date.parse(f.first_seen)) / 1000)).toBeLessThan(0.0011);
    }
    expect(runCli(['flows', '--db', db, '--format', 'table', '--wide']).stdout.split('\n')[0]).toMatch(/verdict +first_seen +duration/);
  });
});
