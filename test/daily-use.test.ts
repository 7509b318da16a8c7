// Issue 32: the daily habits of tshark, Zeek and nfdump users.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { columnDocs, documentedOnly } from '../src/report/columns';
import { parseTime } from '../src/report/filter';
import { FLOW_COLUMNS } from '../src/report/flows';
import { tsvLine } from '../src/report/format';
import { parseBaseline } from '../src/report/new';
import { HAVE_SHARED, ROOT, runCli, shared, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED)('10. hosts sort by address as numbers do', () => {
  it('the lab\'s hosts: 10.77.0.10, .20, .30, .100 — not .100 before .20 as text would', () => {
    const db = path.join(dir, 'lab.sqlite');
    expect(runCli(['analyze', shared('lab', 'lab-ad-epm.pcap'), '--db', db, '--quiet']).code).toBe(0);
    const r = runCli(['hosts', '--db', db, '--format', 'csv']);
    expect(r.code, r.stderr).toBe(0);
    const addresses = r.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(addresses).toEqual(['10.77.0.10', '10.77.0.20', '10.77.0.30', '10.77.0.100']);
    // The same order in every format: JSON too.
    expect((JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string }[]).map((h) => h.address)).toEqual(addresses);
  });
});

describe('11. output flags: one that cannot apply is refused; every report goes where --out says or to standard output', () => {
  const db = path.join(dir, 'sample.sqlite');
  it('--chunk-mb without a bulk body written to files is exit 64 in one line; with one it splits', () => {
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--quiet']).code).toBe(0);
    for (const extra of [[], ['--format', 'bulk'], ['--format', 'csv', '--out', path.join(dir, 'x.csv')]]) {
      const r = runCli(['export', '--db', db, '--chunk-mb', '1', ...extra]);
      expect(r.code, extra.join(' ')).toBe(64);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--chunk-mb splits a _bulk body written to files/);
    }
    const out = path.join(dir, 'body.ndjson');
    const r = runCli(['export', '--db', db, '--chunk-mb', '1', '--format', 'bulk', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'body-0001.ndjson'))).toBe(true);
  });

  it('report html without --out writes the page to standard output, as --out - does', () => {
    const plain = runCli(['report', 'html', '--db', db]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^<!doctype html>/);
    const dash = runCli(['report', 'html', '--db', db, '--out', '-']);
    // The page names when it was made: the rest is the same.
    const strip = (s: string) => s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'T');
    expect(strip(plain.stdout)).toBe(strip(dash.stdout));
  });

  it('every report and listing takes --out: the file holds what standard output gets, in the format its name says', () => {
    const host = (JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string }[])[0].address;
    const commands = [
      ...['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection', 'epm', 'firewall'].map((r) => ['report', r]),
      ['flows'], ['hosts'], ['host', host], ['epm'],
    ];
    // Each command in one of the three formats a name can say (a spawn costs ~0.4 s; every format meets several commands).
    const formats = ['json', 'csv', 'md'];
    for (const [i, c] of commands.entries()) {
      for (const format of [formats[i % 3]]) {
        const file = path.join(dir, `out.${format}`);
        fs.rmSync(file, { force: true });
        const std = runCli([...c, '--db', db, '--format', format]);
        expect(std.code, `${c.join(' ')} ${std.stderr}`).toBe(0);
        const r = runCli([...c, '--db', db, '--out', file]);
        expect(r.code, `${c.join(' ')} --out ${file}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toBe('');
        expect(fs.readFileSync(file, 'utf8'), `${c.join(' ')} --out ${file}`).toBe(std.stdout);
      }
    }
    // A firewall ruleset: .nft and .ps1 name theirs.
    for (const [ext, format] of [['nft', 'nft'], ['ps1', 'powershell']]) {
      const file = path.join(dir, `rules.${ext}`);
      const r = runCli(['report', 'firewall', '--db', db, '--out', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).toBe(runCli(['report', 'firewall', '--db', db, '--format', format]).stdout);
    }
    // The database itself is never a target.
    const bad = runCli(['report', 'firewall', '--db', db, '--out', db]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/names the database/);
  });
});

describe('7. EXFLOW_DB and a default database; relative times; host names wherever addresses are taken', () => {
  const db = path.join(dir, 'named.sqlite');
  const json = (args: string[], env?: Record<string, string>) => {
    const r = runCli([...args, '--format', 'json'], { env });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout);
  };

  it('without --db: $EXFLOW_DB, else exflow.sqlite where the command runs; a missing one says how to name another', () => {
    const env = { EXFLOW_DB: db };
    const a = runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '--quiet'], { env });
    expect(a.code, a.stderr).toBe(0);
    expect(fs.existsSync(db)).toBe(true);
    expect(json(['report', 'summary'], env)).toEqual(json(['report', 'summary', '--db', db]));
    // --db wins over the variable.
    expect(json(['hosts', '--db', db], { EXFLOW_DB: path.join(dir, 'elsewhere.sqlite') })).toEqual(json(['hosts', '--db', db]));
    const here = tmpDir();
    fs.copyFileSync(db, path.join(here, 'exflow.sqlite'));
    expect(runCli(['hosts', '--format', 'json'], { cwd: here, env: { EXFLOW_DB: '' } }).stdout).toBe(runCli(['hosts', '--db', db, '--format', 'json']).stdout);
    const none = runCli(['hosts'], { cwd: tmpDir(), env: { EXFLOW_DB: '' } });
    expect(none.code).toBe(3);
    expect(none.stderr).toBe('exflow: exflow.sqlite: no such database (run "exflow analyze" first); --db FILE or EXFLOW_DB names another\n');
    expect(runCli(['report', 'summary', '--help']).stdout).toMatch(/--db <file\|url> +SQLite database to read, or a ClickHouse engine:[^]*\(default: \$EXFLOW_DB,\s+else\s+exflow\.sqlite\)/);
    expect(runCli(['audit', '--help']).stdout).toMatch(/--db <file> +SQLite database to update \(default:\s+\$EXFLOW_DB, else\s+exflow\.sqlite\)/);
  });

  it('--since/--until before now: -15m, -1h, -2d, -1w, today, yesterday (the sample is from the past)', () => {
    const all = json(['report', 'summary', '--db', db]).totals.flows;
    expect(all).toBeGreaterThan(10);
    for (const t of ['-15m', '-1h', '-2d', '-1w', 'today', 'yesterday', 'now']) {
      expect(json(['report', 'summary', '--db', db, '--since', t]).totals.flows, `--since ${t}`).toBe(0);
      expect(json(['report', 'summary', '--db', db, '--until', t]).totals.flows, `--until ${t}`).toBe(all);
    }
    // Long enough ago to hold the sample: every flow.
    expect(json(['report', 'summary', '--db', db, '--since', '-99999d']).totals.flows).toBe(all);
    const bad = runCli(['flows', '--db', db, '--since', '-1y']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--since takes .* or a time before now \(-15m, -1h, -2d, -1w, today, yesterday\), not "-1y"/);
  });

  it('host NAME, --host/--client/--server NAME and epm --server NAME answer as the address does; the first label will do', () => {
    const byAddress = json(['host', '10.10.0.20', '--db', db]);
    expect(byAddress.flows).toBeGreaterThan(0);
    expect(json(['host', 'mbx1', '--db', db])).toEqual(byAddress);
    expect(json(['host', 'MBX1', '--db', db])).toEqual(byAddress);
    // Wire names (SMTP EHLO, DNS): whole, or the first label; the inventory's and the wire's names of one host are one host.
    expect(json(['host', 'mail.example.org', '--db', db])).toEqual(json(['host', '198.51.100.25', '--db', db]));
    expect(json(['host', 'edge1', '--db', db])).toEqual(json(['host', '172.16.0.50', '--db', db]));
    expect(json(['host', 'edge1.lab.example', '--db', db])).toEqual(json(['host', '172.16.0.50', '--db', db]));
    for (const [option, report] of [['--host', 'unexpected'], ['--client', 'roles'], ['--server', 'matrix']]) {
      expect(json(['report', report, '--db', db, option, 'mbx1']), `${option} ${report}`).toEqual(json(['report', report, '--db', db, option, '10.10.0.20']));
    }
    expect(json(['flows', '--db', db, '--host', 'dc1'])).toEqual(json(['flows', '--db', db, '--host', '10.10.0.10']));
    expect(json(['hosts', '--db', db, '--host', 'dc1'])).toEqual(json(['hosts', '--db', db, '--host', '10.10.0.10']));
    expect(json(['epm', '--db', db, '--server', 'mbx1'])).toEqual(json(['epm', '--db', db, '--server', '10.10.0.20']));
  });

  it('a name for several hosts is exit 64 listing them; a name for none, exit 64 with the nearest names', () => {
    const twins = path.join(dir, 'twins.yaml');
    fs.writeFileSync(twins, 'hosts:\n  - address: 10.10.0.20\n    roles: [mailbox]\n    name: mbx\n  - address: 10.10.0.21\n    roles: [mailbox]\n    name: mbx.example.org\n');
    const copy = path.join(dir, 'twins.sqlite');
    fs.copyFileSync(db, copy);
    expect(runCli(['audit', '--db', copy, '--inventory', twins]).code).toBe(0);
    for (const args of [['host', 'mbx'], ['flows', '--host', 'mbx'], ['report', 'summary', '--client', 'MBX']]) {
      const r = runCli([...args, '--db', copy]);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^exflow: (host|--host|--client) (mbx|MBX) names 2 hosts: 10\.10\.0\.20, 10\.10\.0\.21; give one address\n$/);
    }
    // The wire's names too: "mail" is cas1's HTTP Host (mail.lab.example) and another server's EHLO (mail.example.org).
    const mail = runCli(['host', 'mail', '--db', db]);
    expect(mail.code).toBe(64);
    expect(mail.stderr).toBe('exflow: host mail names 2 hosts: 10.10.0.30, 198.51.100.25; give one address\n');
    const none = runCli(['host', 'mbx3', '--db', db]);
    expect(none.code).toBe(64);
    expect(none.stderr).toBe('exflow: host mbx3: no host of that name in the database (did you mean mbx1, mbx2, mx?); exflow hosts lists the names\n');
    const odd = runCli(['flows', '--db', db, '--host', 'a b\u001b[31m']);
    expect(odd.code).toBe(64);
    expect(odd.stderr).not.toContain('\u001b');
  });
});

describe('7. relative times, exactly', () => {
  it('are seconds before the given now; today and yesterday are midnight UTC', () => {
    const now = Date.parse('2026-03-10T14:25:30.5Z') / 1000;
    const at = (t: string) => parseTime(t, now);
    expect(at('now')).toBe(now);
    expect(at('-90s')).toBe(now - 90);
    expect(at('-15m')).toBe(now - 900);
    expect(at('-1h')).toBe(now - 3600);
    expect(at('-2d')).toBe(now - 2 * 86400);
    expect(at('-1w')).toBe(now - 7 * 86400);
    expect(at('today')).toBe(Date.parse('2026-03-10T00:00:00Z') / 1000);
    expect(at(' Yesterday ')).toBe(Date.parse('2026-03-09T00:00:00Z') / 1000);
    for (const bad of ['-1', '1h', '-1y', '-h', '--1h', 'tomorrow', '-1h30m']) expect(at(bad), bad).toBeNull();
    // A baseline range takes the same times (fractions and Z too); a path with ".." stays a path.
    expect(parseBaseline('2026-01-15T09:00:00Z..2026-01-15T09:00:00.2Z')?.args).toEqual([Date.parse('2026-01-15T09:00:00Z') / 1000, Date.parse('2026-01-15T09:00:00.2Z') / 1000]);
    expect(parseBaseline('-2d..-1d')?.label).toMatch(/^flows that started at or after .* and before /);
    expect(parseBaseline('../day1.pcap')?.label).toBe('capture ../day1.pcap');
    // Absolute times are as before.
    expect(at('2026-01-15T09:00:00Z')).toBe(Date.parse('2026-01-15T09:00:00Z') / 1000);
    expect(at('1700000000')).toBe(1700000000);
  });
});

describe.skipIf(!HAVE_SHARED)('8. warnings grouped with counts; -v every one; -q errors only', () => {
  it('the public captures: three "files overlap" lines and a count by default, every one with -v (as the database keeps them), none with -q', () => {
    const db = path.join(dir, 'public.sqlite');
    const lines = (r: { stderr: string }) => r.stderr.split('\n').filter(Boolean);
    const overlap = (l: string) => /the files overlap in time/.test(l);
    const normal = runCli(['analyze', shared('public'), '--db', db]);
    expect(normal.code, normal.stderr).toBe(0);
    const verbose = runCli(['analyze', shared('public'), '--db', db, '--force', '-v']);
    expect(verbose.code, verbose.stderr).toBe(0);
    const quiet = runCli(['analyze', shared('public'), '--db', db, '--force', '-q']);
    expect(quiet.code, quiet.stderr).toBe(0);
    // Every overlap the database keeps is a line with -v.
    const summary = JSON.parse(runCli(['report', 'summary', '--db', db, '--format', 'json']).stdout) as { captures: { warnings: string[] }[] };
    const stored = summary.captures.flatMap((c) => c.warnings).filter(overlap).length;
    expect(stored).toBeGreaterThan(10);
    expect(lines(verbose).filter(overlap)).toHaveLength(stored);
    // By default: the first three, then one line that counts the rest.
    expect(lines(normal).filter(overlap)).toHaveLength(3);
    expect(lines(normal)).toContain(`exflow: warning: ${stored - 3} more like the above (files that overlap in time) not shown; -v shows every one, exflow report summary lists each capture's warnings`);
    expect(lines(normal).length).toBeLessThan(lines(verbose).length - stored + 6);
    // -q: nothing on standard error (no error happened), nothing on standard output.
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe('');
  });
});

describe('1. text stays text in a pipe: tab-separated, one header line, every column whole', () => {
  const db = path.join(dir, 'tsv.sqlite');

  it('every listing and report, piped into awk -F\'\\t\' and sort: each table\'s lines have its header\'s fields; the values are JSON\'s', () => {
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '-q']).code).toBe(0);
    const commands = [
      ...['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection', 'epm', 'firewall'].map((r) => `report ${r}`),
      'report new --baseline 2026-01-15T09:00:00Z..2026-01-15T09:00:00.2Z', 'flows', 'hosts', 'host 10.10.0.20', 'epm', 'runs', 'rules show services',
    ];
    const cli = `'${process.execPath}' '${path.join(ROOT, 'dist', 'cli', 'main.js')}'`;
    for (const c of commands) {
      const dbArg = c.startsWith('rules') ? '' : `--db '${db}'`;
      // A real pipe (not a captured buffer): awk counts each line's fields, sort orders them; tee keeps what exflow wrote.
      const copy = path.join(dir, 'piped.tsv');
      const r = require('node:child_process').spawnSync('sh', ['-c', `${cli} ${c} ${dbArg} | tee '${copy}' | awk -F'\\t' '{ print NF "\\t" $0 }' | sort -s -k1,1n`], { encoding: 'utf8' });
      expect(r.status, `${c}: ${r.stderr}`).toBe(0);
      expect(r.stderr, c).toBe('');
      const direct = fs.readFileSync(copy, 'utf8');
      expect(direct.startsWith('[') || direct.startsWith('{'), `${c} is not JSON in a pipe`).toBe(false);
      // Sections (summary, host): "# title", the header, the rows, a blank line; one table otherwise.
      const sections = direct.replace(/\n$/, '').split(/\n\n/);
      for (const s of sections) {
        const lines = s.split('\n').filter((l) => !l.startsWith('# '));
        const fields = lines[0].split('\t').length;
        expect(lines[0], `${c}: a header of names`).toMatch(/^[a-z0-9_]+(\t[a-z0-9_]+)*$/);
        for (const l of lines) expect(l.split('\t').length, `${c}: ${l}`).toBe(fields);
      }
      expect(r.stdout.split('\n').length, c).toBe(direct.split('\n').length);
    }
    // The values are JSON's, whole (flows: addresses, times to the nanosecond, roles, reasons).
    const tsv = runCli(['flows', '--db', db]).stdout.trim().split('\n');
    const json = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as Record<string, unknown>[];
    const head = tsv[0].split('\t');
    expect(tsv).toHaveLength(json.length + 1);
    tsv.slice(1).forEach((line, i) => {
      const cells = line.split('\t');
      for (const k of ['client', 'server', 'server_port', 'first_seen', 'last_seen', 'verdict', 'reason', 'client_role']) {
        const want = json[i][k];
        expect(cells[head.indexOf(k)], `flow ${i} ${k}`).toBe(want === null ? '-' : String(want));
      }
    });
  });

  it('tab, line breaks, backslashes and controls escaped, unset "-", empty "(empty)", a comma in a list element \\x2c: one line, read back whole', () => {
    const row = { a: 'x\ty', b: 'one\ntwo\r', c: 'back\\slash', d: null, e: '', f: ['p,q', 'r'], g: 42, h: 'esc\u001b[31m', i: 'plain text' };
    const line = tsvLine(row, Object.keys(row));
    expect(line).toBe('x\\ty\tone\\ntwo\\r\tback\\\\slash\t-\t(empty)\tp\\x2cq,r\t42\tesc\\x1b[31m\tplain text\n');
    expect(line.slice(0, -1)).not.toMatch(/[\n\r]/);
    expect(line.split('\t')).toHaveLength(Object.keys(row).length);
    // Read back as zeek-cut's users do: \t \n \r \\ and \xHH undone.
    const unescape = (s: string) => s.replace(/\\(t|n|r|\\|x([0-9a-f]{2}))/g, (_m, c: string, hex?: string) => (hex ? String.fromCharCode(parseInt(hex, 16)) : ({ t: '\t', n: '\n', r: '\r', '\\': '\\' } as Record<string, string>)[c]));
    const raw = line.slice(0, -1).split('\t');
    const cells = raw.map(unescape);
    expect(cells.slice(0, 3)).toEqual([row.a, row.b, row.c]);
    expect(raw[5].split(',').map(unescape)).toEqual(['p,q', 'r']);
    expect(cells[7]).toBe(row.h);
  });
});

describe('3. grouped times are their flows\' own, to the microsecond; a time known to the second has no fraction', () => {
  it('report unexpected, encryption, host: first and last seen are the earliest and latest of the flows they group', () => {
    const db = path.join(dir, 'times.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '-q']).code).toBe(0);
    const json = (args: string[]) => JSON.parse(runCli([...args, '--db', db, '--format', 'json']).stdout);
    type Flow = { client: string; server: string; first_seen: string; last_seen: string; verdict: string; client_role: string | null; server_role: string | null; service: string | null; encryption: string | null };
    const flows = json(['flows']) as Flow[];
    const span = (fs: Flow[]) => ({ first_seen: fs.map((x) => x.first_seen).sort()[0], last_seen: fs.map((x) => x.last_seen).sort().pop() });
    const role = (r: string | null) => r ?? '(no role)';
    const unexpected = json(['report', 'unexpected']) as { verdict: string; client_role: string; server_role: string; service: string; first_seen: string; last_seen: string }[];
    expect(unexpected.length).toBeGreaterThan(0);
    // The sample's RDP attempt starts at 09:00:00.480000, not 09:00:00.000000.
    expect(unexpected.find((r) => r.service === 'rdp')?.first_seen).toBe('2026-01-15T09:00:00.480000Z');
    for (const r of unexpected) {
      const mine = flows.filter((x) => x.verdict === r.verdict && role(x.client_role) === r.client_role && role(x.server_role) === r.server_role && (x.service ?? '(unknown)') === r.service);
      expect({ first_seen: r.first_seen, last_seen: r.last_seen }, JSON.stringify(r)).toEqual(span(mine));
    }
    const host = json(['host', '10.10.0.20']) as { first_seen: string; last_seen: string };
    expect({ first_seen: host.first_seen, last_seen: host.last_seen }).toEqual(span(flows.filter((x) => x.client === '10.10.0.20' || x.server === '10.10.0.20')));
    // The hosts table keeps seconds: written as such.
    for (const h of json(['hosts']) as { first_seen: string; last_seen: string }[]) {
      expect(h.first_seen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(h.last_seen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });
});

describe('14. a site rules folder accepts a legitimate flow (docs/rules.md)', () => {
  it('the sample\'s RDP to the mailbox server: unexpected, then expected under the site\'s own rule and citation after audit --rules', () => {
    const db = path.join(dir, 'site.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '-q']).code).toBe(0);
    const rdp = () => (JSON.parse(runCli(['flows', '--db', db, '--service', 'rdp', '--format', 'json']).stdout) as { verdict: string; rule: string | null; cite: string | null }[])[0];
    expect(rdp().verdict).toBe('unexpected');
    // The folder exactly as docs/rules.md writes it.
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'rules.md'), 'utf8');
    const yaml = /cat > site-rules\/matrix-site\.yaml <<'YAML'\n([^]*?)\n {4}YAML\n/.exec(doc)?.[1].replace(/^ {4}/gm, '');
    expect(yaml).toBeDefined();
    const site = path.join(dir, 'site-rules');
    fs.mkdirSync(site, { recursive: true });
    fs.writeFileSync(path.join(site, 'matrix-site.yaml'), `${yaml}\n`);
    const check = runCli(['rules', 'check', site]);
    expect(check.code, check.stderr).toBe(0);
    const audit = runCli(['audit', '--db', db, '--rules', site]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(rdp()).toMatchObject({ verdict: 'expected', rule: 'site:admin-rdp-to-mailbox', cite: expect.stringContaining('CHG-1234') });
    const unexpected = JSON.parse(runCli(['report', 'unexpected', '--db', db, '--format', 'json']).stdout) as { service: string }[];
    expect(unexpected.map((r) => r.service)).not.toContain('rdp');
  });
});

describe('10. "verdicts that changed" lists verdicts that changed', () => {
  it('mbx1 gains hub-transport: its RDP attempt stays unexpected under a new label — a role change, not a verdict change', () => {
    const db = path.join(dir, 'changes.sqlite');
    const inventory = path.join(ROOT, 'samples', 'inventory.yaml');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', inventory, '-q']).code).toBe(0);
    const wider = path.join(dir, 'inventory-mbx.yaml');
    const text = fs.readFileSync(inventory, 'utf8');
    expect(text).toContain('  - address: 10.10.0.20\n    roles: [mailbox]\n');
    fs.writeFileSync(wider, text.replace('  - address: 10.10.0.20\n    roles: [mailbox]\n', '  - address: 10.10.0.20\n    roles: [mailbox, hub-transport]\n'));
    const r = runCli(['audit', '--db', db, '--inventory', wider]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Roles that changed \(1 host\)\n.*\n.*\n10\.10\.0\.20 +mailbox +mailbox,hub-transport +inventory/);
    // The RDP flow's server_role label is now mailbox+hub-transport; its verdict is unexpected before and after.
    const rdp = JSON.parse(runCli(['flows', '--db', db, '--service', 'rdp', '--format', 'json']).stdout)[0];
    expect(rdp).toMatchObject({ verdict: 'unexpected', server_role: 'mailbox+hub-transport' });
    expect(r.stdout).not.toMatch(/Verdicts that changed/);
  });
});

describe('5. the inventory CSV: comment lines are skipped whatever they hold, and line numbers stay right', () => {
  it('a row behind "# " (with commas) is not read; an error after it names its own line', () => {
    const db = path.join(dir, 'csv-inventory.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '-q']).code).toBe(0);
    const file = path.join(dir, 'hosts.csv');
    fs.writeFileSync(file, 'address,roles,name,site,version\r\n# inferred (medium confidence): serves mapi-rpc, ldap\r\n# 10.10.0.20,mailbox;client-access,,,\r\n10.10.0.10,domain-controller,dc1,,\r\n10.10.0.999,mailbox,,,\r\n');
    const bad = runCli(['audit', '--db', db, '--inventory', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/hosts\.csv:5: "10\.10\.0\.999" is not an IPv4\/IPv6 address or CIDR block/);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('10.10.0.999,mailbox,,,\r\n', ''));
    const ok = runCli(['audit', '--db', db, '--inventory', file]);
    expect(ok.code, ok.stderr).toBe(0);
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; role_source: string }[];
    expect(hosts.filter((h) => h.role_source === 'inventory').map((h) => h.address)).toEqual(['10.10.0.10']);
  });
});

describe('2. --columns, --sort and --limit on every listing and report', () => {
  const db = path.join(dir, 'view.sqlite');
  const commands = [
    ...['summary', 'roles', 'matrix', 'unexpected', 'services', 'encryption', 'protection', 'epm', 'firewall'].map((r) => `report ${r}`),
    'report new --baseline 2026-01-15T09:00:00Z..2026-01-15T09:00:00.2Z', 'flows', 'hosts', 'host 10.10.0.20', 'epm', 'runs', 'rules show services',
  ];
  const tables = (text: string) =>
    text
      .replace(/\n$/, '')
      .split(/\n\n/)
      .map((s) => s.split('\n').filter((l) => !l.startsWith('# ')).map((l) => l.split('\t')));

  it('each command: the first and a numeric column chosen from its own header, sorted descending by it, at most 2 rows a list', () => {
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '-q']).code).toBe(0);
    for (const c of commands) {
      const args = [...c.split(' '), ...(c.startsWith('rules') ? [] : ['--db', db])];
      const whole = tables(runCli(args).stdout);
      // The list with the most rows, and in it a column that holds numbers (else its first).
      const list = whole.reduce((a, b) => (b.length > a.length ? b : a));
      const [head, ...rows] = list;
      const numeric = head.find((h, i) => h !== head[0] && rows.length > 0 && rows.every((r) => /^\d+$/.test(r[i]))) ?? head[0];
      const chosen = numeric === head[0] ? [head[0]] : [numeric, head[0]];
      const r = runCli([...args, '--columns', chosen.join(','), '--sort', `-${numeric}`, '--limit', '2']);
      expect(r.code, `${c}: ${r.stderr}`).toBe(0);
      for (const t of tables(r.stdout)) {
        // A list shows those of the chosen columns it has, in the order asked; a list with none is left out.
        expect(chosen.filter((x) => t[0].includes(x)), c).toEqual(t[0]);
        expect(t.length - 1, `${c}: ${t[0].join(',')}`).toBeLessThanOrEqual(2);
        const at = t[0].indexOf(numeric);
        if (at >= 0 && numeric !== head[0]) for (let i = 2; i < t.length; i++) expect(Number(t[i][at]), c).toBeLessThanOrEqual(Number(t[i - 1][at]));
      }
      // The chosen list: its two biggest by the column, as sorting the whole list gives them.
      if (numeric !== head[0]) {
        const want = [...rows].sort((a, b) => Number(b[head.indexOf(numeric)]) - Number(a[head.indexOf(numeric)])).slice(0, 2).map((x) => x[head.indexOf(numeric)]);
        const got = tables(r.stdout).find((t) => t[0][0] === numeric && t.length - 1 === Math.min(2, rows.length) && t.slice(1).every((x, i) => x[0] === want[i]));
        expect(got, `${c}: the top two by ${numeric} are ${want.join(', ')}`).toBeDefined();
      }
    }
  });

  it('flows --sort -bytes --limit 3 are the three biggest of all (not of the first three); JSON keeps only the chosen keys', () => {
    const all = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { client: string; bytes: number; first_seen: string }[];
    const top = JSON.parse(runCli(['flows', '--db', db, '--format', 'json', '--sort', '-bytes,first_seen', '--limit', '3', '--columns', 'bytes,client,first_seen']).stdout);
    const want = [...all].sort((a, b) => b.bytes - a.bytes || (a.first_seen < b.first_seen ? -1 : 1)).slice(0, 3).map((f) => ({ bytes: f.bytes, client: f.client, first_seen: f.first_seen }));
    expect(top).toEqual(want);
    // Addresses sort as numbers do; empty values last either way.
    const hosts = runCli(['hosts', '--db', db, '--sort', 'address', '--columns', 'address']).stdout.trim().split('\n').slice(1);
    expect(hosts.indexOf('10.10.0.20')).toBeLessThan(hosts.indexOf('10.10.0.100') === -1 ? Infinity : hosts.indexOf('10.10.0.100'));
    expect(hosts.indexOf('10.10.0.10')).toBeLessThan(hosts.indexOf('10.10.0.20'));
  });

  it('a column the output lacks, a JSON object, a bad --sort: exit 64 in one line that says what there is', () => {
    const bad = runCli(['report', 'unexpected', '--db', db, '--columns', 'service,nonesuch']);
    expect(bad.code).toBe(64);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/has no column nonesuch; its columns: .*reason/);
    const obj = runCli(['report', 'summary', '--db', db, '--format', 'json', '--limit', '1']);
    expect(obj.code).toBe(64);
    expect(obj.stderr).toMatch(/one object, not a list/);
    expect(runCli(['flows', '--db', db, '--sort', 'bytes:sideways']).code).toBe(64);
    // An inventory is written whole (--inventory reads it back): a view of it is refused, not half applied.
    const inv = runCli(['hosts', '--db', db, '--format', 'inventory', '--limit', '2']);
    expect(inv.code).toBe(64);
    expect(inv.stderr).toMatch(/do not apply to --format inventory/);
    // JSON-only keys can be chosen for text too (the full list a short reason counts).
    const r = runCli(['report', 'unexpected', '--db', db, '--columns', 'service,reason_detail']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('service\treason_detail');
  });
});

describe('10. the global catalog over SSL (3269) is what 3268 is, in TLS', () => {
  it('Hub → DC on 3269 in the Exchange lab capture: expected under the cited gc-ssl rule, as 3268 is under the seed\'s', () => {
    const db = path.join(dir, 'gc.sqlite');
    const inventory = path.join(dir, 'gc.yaml');
    fs.writeFileSync(inventory, ['hosts:', '  - { address: 10.77.0.10, roles: [domain-controller] }', '  - { address: 10.77.0.40, roles: [hub-transport], version: "2010" }', '  - { address: 10.77.0.20, roles: [hub-transport], version: "2010" }', ''].join('\n'));
    const a = runCli(['analyze', path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap'), '--db', db, '--inventory', inventory, '-q']);
    expect(a.code, a.stderr).toBe(0);
    const flows = JSON.parse(runCli(['flows', '--db', db, '--server', '10.77.0.10', '--format', 'json']).stdout) as { client: string; server_port: number; service: string; tls: string; verdict: string; rule: string; cite: string }[];
    const gcSsl = flows.filter((f) => f.server_port === 3269);
    expect(gcSsl.length).toBeGreaterThan(0);
    for (const f of gcSsl) {
      expect(f).toMatchObject({ client: '10.77.0.40', service: 'ldaps-gc', tls: 'implicit', verdict: 'expected', rule: '2010:hub-transport>domain-controller:gc-ssl' });
      expect(f.cite).toMatch(/^seed 004 .*; Microsoft, .*Global Catalog 3269\/TCP \(SSL\)/);
    }
    const gc = flows.filter((f) => f.server_port === 3268);
    expect(gc.length).toBeGreaterThan(0);
    for (const f of gc) expect(f).toMatchObject({ verdict: 'expected', rule: '2010:hub-transport>domain-controller' });
  });
});

describe('14. docs/columns.md: every flow column, its meaning, where it is read from', () => {
  it('is what exflow columns --format md prints; every column flows writes has a meaning and a source; each is in the schema', () => {
    const r = runCli(['columns', '--format', 'md']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(ROOT, 'docs', 'columns.md'), 'utf8')).toBe(r.stdout);
    const docs = columnDocs();
    expect(docs.map((d) => d.column)).toEqual(FLOW_COLUMNS);
    for (const d of docs) {
      expect(d.meaning, d.column).not.toBe('');
      expect(d.from, d.column).not.toBe('');
    }
    expect(documentedOnly()).toEqual([]);
    // Each is a column of flow_view (the schema), or made from them for output: the capture's path, the ISO times, the duration.
    const db = path.join(dir, 'columns.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '-q']).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const view = new Set((d.prepare("SELECT name FROM pragma_table_info('flow_view')").pluck().all() as string[]));
    d.close();
    const made: Record<string, string> = { capture: 'capture_path', first_seen: 'first_sec', last_seen: 'last_sec', duration: 'last_sec' };
    for (const c of FLOW_COLUMNS as string[]) expect(view.has(made[c] ?? c), c).toBe(true);
    // Every column the JSON of flows has is one of them.
    const flow = JSON.parse(runCli(['flows', '--db', db, '--format', 'json', '--limit', '1']).stdout)[0];
    expect(Object.keys(flow).sort()).toEqual([...(FLOW_COLUMNS as string[])].sort());
  });
});

describe('10. one host, one label in the role matrix and its heat map', () => {
  it('the sample\'s DC (domain-controller and dns-server) is one column, whatever rule each of its flows matched; the labels are the hosts\' role sets', () => {
    const db = path.join(dir, 'labels.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '-q']).code).toBe(0);
    const cells = JSON.parse(runCli(['report', 'matrix', '--db', db, '--format', 'json']).stdout) as { client_role: string; server_role: string; flows: number }[];
    const hosts = JSON.parse(runCli(['hosts', '--db', db, '--format', 'json']).stdout) as { address: string; roles: string[] }[];
    const sets = new Set(hosts.map((h) => (h.roles.length ? h.roles.join('+') : '(no role)')));
    for (const c of cells) {
      expect(sets.has(c.client_role), c.client_role).toBe(true);
      expect(sets.has(c.server_role), c.server_role).toBe(true);
    }
    const dc = hosts.find((h) => h.address === '10.10.0.10')!.roles.join('+');
    expect(dc).toBe('domain-controller+dns-server');
    const servers = new Set(cells.map((c) => c.server_role));
    expect(servers.has(dc)).toBe(true);
    expect(servers.has('dns-server')).toBe(false);
    expect(servers.has('domain-controller')).toBe(false);
    // Every flow is in one cell: the cells add up to the flows.
    const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as unknown[];
    expect(cells.reduce((a, c) => a + c.flows, 0)).toBe(flows.length);
    // The heat map draws each label once as a column.
    const out = path.join(dir, 'labels.html');
    expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
    const columns = [...fs.readFileSync(out, 'utf8').matchAll(/<text class="col"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(columns.filter((c) => c === dc)).toHaveLength(1);
    expect(new Set(columns).size).toBe(columns.length);
  });
});

describe('10. Outlook of every version is one role, outlook, named so; its old id outlook-2007 still reads', () => {
  it('rules show roles names it for 2007 to Microsoft 365 Apps; an inventory and --role saying outlook-2007 give what outlook gives; no site role may take that id', () => {
    const roles = (JSON.parse(runCli(['rules', 'show', 'roles', '--format', 'json']).stdout) as { roles: { id: string; name: string; aliases: string }[] }).roles;
    const outlook = roles.find((r) => r.id === 'outlook')!;
    expect(outlook.name).toMatch(/Outlook 2007 and later.*Microsoft 365/);
    expect(outlook.aliases).toBe('outlook-2007');
    expect(roles.map((r) => r.id)).not.toContain('outlook-2007');
    // The same capture with the inventory in the new words and in the old: the same hosts, flows and verdicts.
    const sample = path.join(ROOT, 'samples', 'exchange-org.pcapng');
    const text = fs.readFileSync(path.join(ROOT, 'samples', 'inventory.yaml'), 'utf8');
    expect(text).toMatch(/roles: \[outlook\]/);
    const answers: string[] = [];
    for (const [name, inv] of [['new', text], ['old', text.replace(/roles: \[outlook\]/g, 'roles: [outlook-2007]')]]) {
      const db = path.join(dir, `outlook-${name}.sqlite`);
      const inventory = path.join(dir, `outlook-${name}.yaml`);
      fs.writeFileSync(inventory, inv);
      expect(runCli(['analyze', sample, '--db', db, '--inventory', inventory, '-q']).code).toBe(0);
      const byRole = (role: string) => {
        const r = runCli(['flows', '--db', db, '--role', role, '--format', 'json', '--columns', 'client,server,service,client_role,server_role,verdict,rule,reason']);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      const flows = byRole('outlook');
      expect(JSON.parse(flows).length).toBeGreaterThan(5);
      expect(byRole('outlook-2007')).toBe(flows);
      expect(flows).not.toMatch(/outlook-2007/);
      expect(flows).toMatch(/"2010:outlook>client-access"/);
      answers.push(flows);
    }
    expect(answers[1]).toBe(answers[0]);
    // A role of a site's rules may not take an id another role has or had.
    const site = path.join(dir, 'alias-rules');
    fs.mkdirSync(site, { recursive: true });
    fs.writeFileSync(path.join(site, 'site-roles.yaml'), 'roles:\n  - id: thin-client\n    name: Thin client\n    kind: client\n    cite: ["the site"]\n    aliases: [outlook-2007]\n');
    const bad = runCli(['rules', 'check', site]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/site-roles\.yaml:\d+.*alias "outlook-2007" already names the role "outlook"/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
