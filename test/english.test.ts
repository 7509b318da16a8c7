// The sentence a user reads is English; where it comes from — a seed, its section, a
// quote in the seed's language — is a separate cite (issue 23, item 4): in flows and
// export (JSON, CSV), in the encryption report, as a tooltip in the HTML page, and
// never in the PowerShell rules' -Description.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tmpDir } from './helpers';

/** Scripts a terminal or browser without the seeds' fonts shows as boxes: CJK, Cyrillic. */
const FOREIGN = /[\u0400-\u04ff\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]/;

describe('English reasons, cited sources apart', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'x.sqlite');
  const lab = path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap');
  const inv = path.join(dir, 'inv.yaml');
  // Versions make the 2010 tables (seed 004, Chinese) and their encryption notes apply.
  fs.writeFileSync(inv, 'hosts:\n  - {address: 10.77.0.10, roles: [domain-controller]}\n  - {address: 10.77.0.20, roles: [mailbox], version: "2010"}\n  - {address: 10.77.0.30, roles: [client-access], version: "2010"}\n  - {address: 10.77.0.40, roles: [hub-transport], version: "2010"}\n  - {address: 10.77.0.50, roles: [edge-transport], version: "2010"}\n  - {address: 10.77.0.100, roles: [other-clients]}\n');
  const analyzed = runCli(['analyze', lab, path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--separate', '--db', db, '--inventory', inv, '--quiet']);

  it('every reason is English; every expected flow cites its seed in the seed\'s words', () => {
    expect(analyzed.code, analyzed.stderr).toBe(0);
    const flows = JSON.parse(runCli(['flows', '--db', db, '--format', 'json']).stdout) as { verdict: string; reason: string; cite: string | null; encryption: string | null; encryption_cite: string | null }[];
    expect(flows.length).toBeGreaterThan(150);
    for (const f of flows) {
      expect(f.reason).not.toMatch(FOREIGN);
      expect(f.reason).not.toMatch(/seed \d{3}/);
      if (f.verdict === 'expected') expect(f.cite).toMatch(/^seed \d{3} /);
      else expect(f.cite).toBeNull();
      if (f.encryption !== null) {
        expect(f.encryption).not.toMatch(FOREIGN);
        expect(f.encryption_cite).toMatch(/^seed 004 /);
      }
    }
    // The seeds' own words are kept, in their languages: Chinese (004) and German (000/003) both occur.
    expect(flows.some((f) => f.cite !== null && /[\u4e00-\u9fff]/.test(f.cite))).toBe(true);
  });

  it('export CSV and JSON carry cite beside reason; the encryption report has a cite column', () => {
    const csv = runCli(['export', '--db', db, '--format', 'csv']).stdout.split('\n')[0].split(',');
    expect(csv.indexOf('cite')).toBe(csv.indexOf('reason') + 1);
    const ecs = runCli(['export', '--db', db, '--format', 'ndjson']);
    const docs = ecs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { exflow: { verdict: string; reason: string; cite?: string } });
    expect(docs.filter((d) => d.exflow.verdict === 'expected').every((d) => /^seed \d{3} /.test(d.exflow.cite ?? ''))).toBe(true);
    const enc = JSON.parse(runCli(['report', 'encryption', '--db', db, '--format', 'json']).stdout) as { finding: string; cite: string }[];
    expect(enc.length).toBeGreaterThan(0);
    for (const e of enc) {
      expect(e.finding).not.toMatch(FOREIGN);
      expect(e.cite).toMatch(/^seed 004 .*[\u4e00-\u9fff]/);
    }
  });

  it('the HTML page shows the citation as a tooltip of the finding, not as a column', () => {
    const out = path.join(dir, 'r.html');
    expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    const section = html.slice(html.indexOf('id="encryption"'), html.indexOf('</table>', html.indexOf('id="encryption"')));
    expect(section).toMatch(/<td data-h="finding" class="long cited" title="seed 004 [^"]*"><bdi>(pop3|imap4) between/);
    expect(section).not.toMatch(/<th>cite<\/th>/);
    // Visible text (tags and attributes left out) holds no CJK or Cyrillic from the seeds.
    expect(html.replace(/<[^>]*>/g, '')).not.toMatch(FOREIGN);
  });

  it('the PowerShell rules describe themselves in English (ASCII, no "?" where a seed\'s words were)', () => {
    const r = runCli(['report', 'firewall', '--db', db, '--format', 'powershell']);
    expect(r.code, r.stderr).toBe(0);
    const descriptions = [...r.stdout.matchAll(/-Description '([^']*)'/g)].map((m) => m[1]);
    expect(descriptions.length).toBeGreaterThan(3);
    for (const d of descriptions) {
      expect(d).toMatch(/^(RPC: [^;]+; )?(matrix: |seen, not allowed)/);
      expect(d).not.toMatch(/\?\?/);
    }
  });
});
