// Issue 32: the daily habits of tshark, Zeek and nfdump users.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
