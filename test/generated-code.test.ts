// Code an administrator runs (report firewall --format powershell / nft) is built
// from values, never from pasted strings. Every Unicode quote, dash, control,
// bidirectional mark and line break is fed through every string a plan holds — the
// way a tampered database or rules folder would hand them over — and the output is
// read back by a PowerShell tokenizer written from the language's documented quoting
// rules, and by nft itself (nft -c, then loaded into a private network namespace and
// listed: only exflow's own table, chain and sets may exist).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FirewallPlan, FirewallRule } from '../src/report/firewall';
import { nftRuleset, powershellRules } from '../src/report/firewall';
import { asciiText, scriptAddress, scriptIdentifier } from '../src/report/lang/values';
import { HAVE_SHARED, runCli, shared, tmpDir } from './helpers';

const HAVE_NFT = spawnSync('nft', ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_UNSHARE = spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' }).status === 0;

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String.fromCodePoint(a + i));
/** Quotes of every kind, dashes, C0/C1 controls, bidi marks, line breaks, and the ASCII that scripts give meaning to. */
export const HOSTILE_CHARS = [
  ...`'"\`´`, '\u00ab', '\u00bb', ...range(0x2018, 0x201f), '\u2039', '\u203a', ...range(0x300c, 0x300f), '\uff02', '\uff07', '\uff40', '\u02bc', '\u02bb',
  ...range(0x2010, 0x2015), '\u2212', '\ufe58', '\ufe63', '\uff0d',
  ...range(0x00, 0x1f), ...range(0x7f, 0x9f),
  '\u061c', '\u200b', '\u200e', '\u200f', ...range(0x202a, 0x202e), ...range(0x2066, 0x2069), '\ufeff',
  '\u2028', '\u2029',
  ...';{}#$()|&\\<>@[]*?!%^~=+,:/',
];
/** Payloads that would run a command or add a table were a quote to end a string early. */
const PAYLOADS = [
  (q: string) => `x${q}; Start-Process calc.exe; #`,
  (q: string) => `Microsoft${q}s port reference${q})${q}`,
  (q: string) => `a${q}\n}\ntable ip evil { chain input { type filter hook input priority 0; policy drop; } }\n#`,
  (q: string) => `${q}@\n$(Invoke-Expression 'calc')\n@${q}`,
  (q: string) => `10.0.0.1 }${q} ; add table ip evil${q}`,
];

function hostilePlan(q: string): { plan: FirewallPlan; header: string } {
  const [p0, p1, p2, p3, p4] = PAYLOADS.map((f) => f(q));
  const rule = (over: Partial<FirewallRule>): FirewallRule => ({
    from_kind: 'role', from: 'domain-controller', to_kind: 'role', to: 'mailbox', transport: 'tcp', ports: [135], service: 'msrpc-epm',
    rpc_interfaces: [], dynamic: false, flows: 1, rules: [], cite: [], ...over,
  });
  const plan: FirewallPlan = {
    per: 'role',
    all: false,
    rules: [
      rule({ service: p0, rpc_interfaces: [p1, 'drsuapi'], rules: [p2], cite: [p3, p4] }),
      rule({ from: p1, to: 'mailbox', service: 'ldap', ports: [389, 3268] }),
      rule({ from_kind: 'host', from: p4, to_kind: 'host', to: '10.0.0.20', service: 'smtp', ports: [25] }),
      rule({ from_kind: 'host', from: '10.0.0.30', to_kind: 'host', to: '2001:db8::20', service: 'x', ports: [443] }),
      rule({ from_kind: 'host', from: '2001:db8::30', to_kind: 'host', to: '2001:db8:0:0::20', transport: p0, ports: [443] }),
      rule({ ports: [65536, -1, 1.5, p2 as unknown as number, 53], service: 'dns', transport: 'udp' }),
    ],
    rpc_dynamic: [],
    conflicts: [],
    // 70 more members: address lists that go on over several lines in both languages.
    role_hosts: { 'domain-controller': ['10.0.0.10', p2, `10.0.0.11${q}`, ...Array.from({ length: 70 }, (_, i) => `10.1.0.${i}`)], mailbox: ['10.0.0.20', p4, '2001:db8::20'], [p1]: ['10.0.0.40'] },
    audited_hosts: ['10.0.0.10', '10.0.0.20', p2, '2001:db8::20', `${q}10.0.0.9`],
  };
  return { plan, header: `exflow report firewall from /tmp/a${q}\rb.sqlite\n${p0}\u2028${p3}` };
}

// --- PowerShell, from about_Quoting_Rules and the language specification's lexical grammar ----

type PsToken = { kind: 'comment' | 'string' | 'param' | 'word' | 'comma' | 'variable' | 'equals' | 'other'; text: string };
const PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b";
const PS_DOUBLE_QUOTES = '"\u201c\u201d\u201e';
const PS_NEWLINES = '\r\n';

/** Splits a script into lines by PowerShell's new-line characters and each line into tokens. */
export function psTokenize(script: string): PsToken[][] {
  const lines: PsToken[][] = [];
  let line: PsToken[] = [];
  let i = 0;
  const push = (kind: PsToken['kind'], text: string) => line.push({ kind, text });
  while (i < script.length) {
    const c = script[i];
    if (PS_NEWLINES.includes(c)) {
      // After a comma an array literal goes on over new lines (the grammar's array-literal-expression).
      if (line[line.length - 1]?.kind !== 'comma') {
        lines.push(line);
        line = [];
      }
      i += c === '\r' && script[i + 1] === '\n' ? 2 : 1;
    } else if (c === ' ' || c === '\t') i++;
    else if (c === '#') {
      let j = i;
      while (j < script.length && !PS_NEWLINES.includes(script[j])) j++;
      push('comment', script.slice(i, j));
      i = j;
    } else if (PS_SINGLE_QUOTES.includes(c)) {
      // A single-quoted string ends at any single-quote character not doubled.
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= script.length) throw new Error(`unterminated string at ${i}`);
        if (PS_SINGLE_QUOTES.includes(script[j])) {
          if (PS_SINGLE_QUOTES.includes(script[j + 1] ?? '')) {
            text += script[j];
            j += 2;
            continue;
          }
          j++;
          break;
        }
        text += script[j++];
      }
      push('string', text);
      i = j;
    } else if (PS_DOUBLE_QUOTES.includes(c)) {
      push('other', c); // expandable strings: exflow never writes one
      i++;
    } else if (c === '-' && /[A-Za-z]/.test(script[i + 1] ?? '')) {
      const m = /^-[A-Za-z]+/.exec(script.slice(i))!;
      push('param', m[0]);
      i += m[0].length;
    } else if (c === ',') {
      push('comma', c);
      i++;
    } else if (c === '=') {
      push('equals', c);
      i++;
    } else if (c === '$') {
      const m = /^\$[A-Za-z]+/.exec(script.slice(i));
      push(m ? 'variable' : 'other', m ? m[0] : c);
      i += m ? m[0].length : 1;
    } else {
      const m = /^[A-Za-z0-9.:/-]+/.exec(script.slice(i));
      push(m ? 'word' : 'other', m ? m[0] : c);
      i += m ? m[0].length : 1;
    }
  }
  lines.push(line);
  return lines.filter((l) => l.length > 0);
}

const NEW_RULE_PARAMS = new Set(['-Name', '-DisplayName', '-Group', '-Direction', '-Action', '-Protocol', '-LocalPort', '-RemoteAddress', '-LocalAddress', '-Description']);

/** Every statement is the preference line or one New-NetFirewallRule with known parameters, each a value list of strings or words. */
function checkPowerShell(script: string): void {
  for (const ch of script) expect(ch === '\n' || (ch >= ' ' && ch <= '~'), `character U+${ch.codePointAt(0)!.toString(16)} in the script`).toBe(true);
  for (const line of psTokenize(script)) {
    if (line.length === 1 && line[0].kind === 'comment') continue;
    const kinds = line.map((t) => t.kind);
    expect(kinds, JSON.stringify(line)).not.toContain('other');
    expect(kinds, JSON.stringify(line)).not.toContain('comment');
    if (line[0].kind === 'variable') {
      expect(line.map((t) => t.text)).toEqual(['$ErrorActionPreference', '=', 'Stop']);
      continue;
    }
    if (line[0].text === 'Remove-NetFirewallRule') {
      // The one other statement: an earlier run's rules go first (the script may be run again).
      expect(line.map((t) => t.text)).toEqual(['Remove-NetFirewallRule', '-Group', 'exflow', '-ErrorAction', 'SilentlyContinue']);
      continue;
    }
    expect(line[0]).toEqual({ kind: 'word', text: 'New-NetFirewallRule' });
    let i = 1;
    while (i < line.length) {
      expect(line[i].kind).toBe('param');
      expect(NEW_RULE_PARAMS.has(line[i].text), line[i].text).toBe(true);
      i++;
      expect(['string', 'word']).toContain(line[i]?.kind);
      i++;
      while (line[i]?.kind === 'comma') {
        expect(['string', 'word']).toContain(line[i + 1]?.kind);
        i += 2;
      }
    }
    const addresses = line.flatMap((t, k) => (t.text === '-RemoteAddress' || t.text === '-LocalAddress' ? valueList(line, k + 1) : []));
    for (const a of addresses) expect(scriptAddress(a), a).toBe(a);
  }
}

function valueList(line: PsToken[], i: number): string[] {
  const out = [line[i].text];
  while (line[i + 1]?.kind === 'comma') {
    out.push(line[i + 2].text);
    i += 2;
  }
  return out;
}

// --- nftables -----------------------------------------------------------------

function nftLoad(dir: string, ruleset: string, name: string): { check: number; stderr: string; listed: any } {
  const file = path.join(dir, `${name}.nft`);
  fs.writeFileSync(file, ruleset);
  const check = spawnSync('nft', ['-c', '-f', file], { encoding: 'utf8' });
  if (check.status !== 0 || !HAVE_UNSHARE) return { check: check.status ?? -1, stderr: check.stderr, listed: null };
  const load = spawnSync('unshare', ['--net', 'sh', '-c', `nft -f '${file}' && nft -j list ruleset`], { encoding: 'utf8' });
  expect(load.status, load.stderr).toBe(0);
  return { check: 0, stderr: '', listed: JSON.parse(load.stdout) };
}

/** Only `table inet exflow`, one chain (forward), the sets the plan named; no other table, chain or hook. */
function checkNftObjects(listed: any, plan: FirewallPlan): void {
  const objects = (listed.nftables as Record<string, any>[]).filter((x) => !('metainfo' in x));
  const tables = objects.filter((x) => 'table' in x).map((x) => `${x.table.family} ${x.table.name}`);
  expect(tables).toEqual(['inet exflow']);
  const chains = objects.filter((x) => 'chain' in x).map((x) => x.chain.name);
  expect(chains).toEqual(['forward']);
  for (const x of objects) {
    const o = Object.values(x)[0] as { table?: string; family?: string };
    if (o.table !== undefined) expect(`${o.family} ${o.table}`).toBe('inet exflow');
  }
  const sets = objects.filter((x) => 'set' in x);
  expect(sets.length).toBe((Object.keys(plan.role_hosts).length + 1) * 2);
  for (const s of sets) for (const e of s.set.elem ?? []) expect(scriptAddress(String(e)), String(e)).toBe(String(e));
}

describe('generated code: every hostile character through every string of a firewall plan', () => {
  const dir = tmpDir();

  it('values: addresses are parsed and printed again; identifiers and free text are allow-listed', () => {
    expect(scriptAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(scriptAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(scriptAddress('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(scriptAddress('10.0.0.1 }')).toBeNull();
    expect(scriptAddress('10.0.0.1\n')).toBeNull();
    expect(scriptIdentifier('mailbox')).toBe('mailbox');
    expect(scriptIdentifier('a b')).toMatch(/^a_b_[0-9a-f]{8}$/);
    expect(scriptIdentifier('a b')).not.toBe(scriptIdentifier('a_b'));
    expect(asciiText('Microsoft\u2019s caf\u00e9 \u4e2d\u6587\r\n')).toBe("Microsoft?s cafe ?");
  });

  it(`PowerShell: ${HOSTILE_CHARS.length} characters × ${PAYLOADS.length} payloads in every field: the tokenizer finds only exflow's statements`, () => {
    let rules = 0;
    for (const q of HOSTILE_CHARS) {
      const { plan, header } = hostilePlan(q);
      const script = powershellRules(plan, header);
      checkPowerShell(script);
      rules += script.split('\n').filter((l) => l.startsWith('New-NetFirewallRule')).length;
    }
    // The rules with valid addresses are kept (the hostile ones are left out, not the whole rule set).
    expect(rules).toBeGreaterThanOrEqual(HOSTILE_CHARS.length * 4);
  });

  it('the tokenizer is strict: the old quoting (ASCII apostrophe doubled only) is caught', () => {
    const old = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const bad = `New-NetFirewallRule -DisplayName ${old('x\u2019; Start-Process calc.exe; #')} -Group 'exflow'`;
    expect(() => checkPowerShell(bad)).toThrow();
    expect(psTokenize(bad)[0].some((t) => t.text === 'Start-Process')).toBe(true);
  });

  it.skipIf(!HAVE_NFT)('nftables: nft -c accepts every hostile plan, and loaded it holds only exflow\'s table, chain and sets', () => {
    // nft is slow to start: every character in one field set per run, all characters over the runs.
    const chunks = 6;
    for (let c = 0; c < chunks; c++) {
      const qs = HOSTILE_CHARS.filter((_, i) => i % chunks === c);
      const plan: FirewallPlan = { per: 'role', all: false, rules: [], rpc_dynamic: [], conflicts: [], role_hosts: {}, audited_hosts: [] };
      const headers: string[] = [];
      for (const q of qs) {
        const h = hostilePlan(q);
        plan.rules.push(...h.plan.rules);
        for (const [role, hosts] of Object.entries(h.plan.role_hosts)) plan.role_hosts[role] = [...new Set([...(plan.role_hosts[role] ?? []), ...hosts])];
        plan.audited_hosts.push(...h.plan.audited_hosts);
        headers.push(h.header);
      }
      const ruleset = nftRuleset(plan, headers.join('\n'));
      for (const ch of ruleset) expect(ch === '\n' || ch === '\t' || (ch >= ' ' && ch <= '~'), `U+${ch.codePointAt(0)!.toString(16)}`).toBe(true);
      const r = nftLoad(dir, ruleset, `hostile-${c}`);
      expect(r.check, r.stderr).toBe(0);
      if (r.listed) checkNftObjects(r.listed, plan);
    }
  });
});

describe.skipIf(!HAVE_SHARED)('generated code from a tampered database and rules folder, through the CLI', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'lab.sqlite');
  const inventory = path.join(dir, 'hosts.yaml');
  fs.writeFileSync(inventory, 'hosts:\n  - address: 10.77.0.10\n    roles: [domain-controller]\n  - address: 10.77.0.20\n    roles: [mailbox]\n  - address: 10.77.0.100\n    roles: [outlook-2007]\n');
  const rulesDir = path.join(dir, 'rules');
  const a = runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--inventory', inventory, '--quiet']);

  it('a matrix cite with U+2019 and a database "address" with braces and newlines stay data', () => {
    expect(a.code, a.stderr).toBe(0);
    // A rules folder someone edited: every matrix rule's cite carries the payload.
    fs.cpSync(path.resolve(__dirname, '..', 'rules'), rulesDir, { recursive: true });
    for (const f of fs.readdirSync(rulesDir).filter((n) => n.startsWith('matrix'))) {
      const p = path.join(rulesDir, f);
      fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace(/^(\s+cite:\s*)(.*)$/gm, (_m, k: string, v: string) => `${k}${v.startsWith('[') ? `["Microsoft\u2019s table\u2019; Start-Process calc.exe; #", ${v.slice(1)}` : JSON.stringify(`${v} \u2019; Start-Process calc.exe; #`)}`));
    }
    // A database someone handed over: a host whose "address" closes the set and adds a table.
    const sqlite = require('better-sqlite3');
    const d = new sqlite(db);
    d.prepare("INSERT INTO hosts (address, first_sec, last_sec, roles, role_source) VALUES (?, 0, 0, 'domain-controller', 'inventory')").run('10.77.0.11 }\n}\ntable ip evil {\n\tchain input { type filter hook input priority 0; policy drop; }\n}\ntable inet x {\n\tset y { type ipv4_addr');
    d.prepare("UPDATE verdicts SET rule = rule || ?, reason = ? WHERE verdict = 'expected'").run("\u2019; Start-Process calc.exe; #", "\u2019; Start-Process calc.exe; #");
    d.close();
    const ps = runCli(['report', 'firewall', '--db', db, '--rules', rulesDir, '--format', 'powershell']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^New-NetFirewallRule /m);
    checkPowerShell(ps.stdout);
    expect(ps.stdout).toMatch(/not IP addresses were left out/);
    const nft = runCli(['report', 'firewall', '--db', db, '--rules', rulesDir, '--format', 'nft']);
    expect(nft.code, nft.stderr).toBe(0);
    expect(nft.stdout).not.toMatch(/evil/);
    if (HAVE_NFT) {
      const r = nftLoad(dir, nft.stdout, 'tampered');
      expect(r.check, r.stderr).toBe(0);
      if (r.listed) expect((r.listed.nftables as any[]).filter((x) => 'table' in x).map((x) => x.table.name)).toEqual(['exflow']);
    }
  });
});
