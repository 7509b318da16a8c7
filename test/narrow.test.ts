// Tables at 80 columns keep what matters (issue 23, item 6): a terminal of 80 columns
// shows each report's most telling columns — for `report unexpected` the example and
// the reason, for `flows` the start and the duration — and names the ones left out.
// Run through a real terminal (script(1), stty cols 80), as a user sees them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, tmpDir } from './helpers';

const HAVE_SCRIPT = fs.existsSync('/usr/bin/script');

/** The command's output on a terminal `cols` columns wide (80 unless said). */
function at80(args: string[], cols = 80): string {
  const cmd = `stty cols ${cols}; ${process.execPath} ${CLI} ${args.map((a) => `'${a}'`).join(' ')}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
  return r.stdout.replace(/\r\n/g, '\n');
}

const header = (out: string) => out.split('\n')[0].trim().split(/\s{2,}/);

describe.skipIf(!HAVE_SCRIPT)('tables on an 80-column terminal', () => {
  const dir = tmpDir();
  const wire = path.join(dir, 'wire.sqlite');
  const lab = path.join(dir, 'lab.sqlite');
  beforeAll(() => {
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', wire, '--quiet']).code).toBe(0);
    const inv = path.join(dir, 'inv.yaml');
    fs.writeFileSync(inv, 'hosts:\n  - {address: 10.77.0.30, roles: [client-access], version: "2010"}\n  - {address: 10.77.0.100, roles: [other-clients]}\n');
    expect(runCli(['analyze', path.join(ROOT, 'test', 'fixtures', 'exchange-lab', 'exchange-lab-full.pcap'), '--db', lab, '--inventory', inv, '--quiet']).code).toBe(0);
  });

  it('report unexpected: the example and the reason stay, wide enough to read; every line fits', () => {
    const out = at80(['report', 'unexpected', '--db', wire]);
    expect(header(out).slice(0, 5)).toEqual(['verdict', 'service', 'flows', 'examples', 'reason']);
    expect(out).toMatch(/10\.20\.0\.100 → 10\.10\.0\.20/);
    expect(out).toMatch(/rdp is not among what/);
    expect(out.replace(/\n/g, ' ')).toMatch(/left out to fit: .*--wide shows all/);
    for (const l of out.trimEnd().split('\n')) expect([...l].length, l).toBeLessThanOrEqual(80);
  });

  it('flows: start and duration right after the verdict (at 132 columns; a time is never cut)', () => {
    const out = at80(['flows', '--db', wire], 132);
    expect(out).toMatch(/2026-01-15T09:00:00\.000000Z/);
    const h = header(out);
    expect(h.indexOf('first_seen')).toBe(h.indexOf('verdict') + 1);
    expect(h.indexOf('duration')).toBe(h.indexOf('verdict') + 2);
  });

  it('report encryption: the finding and an example before the times', () => {
    const out = at80(['report', 'encryption', '--db', lab]);
    expect(header(out)).toEqual(expect.arrayContaining(['service', 'flows', 'examples', 'finding']));
    expect(out).not.toMatch(/[\u4e00-\u9fff]/); // the seed's words are in CSV and JSON (cite), not on the terminal
  });

  it('report protection: severity, finding and examples', () => {
    const out = at80(['report', 'protection', '--db', lab]);
    expect(header(out).slice(0, 3)).toEqual(['severity', 'finding', 'flows']);
    expect(header(out)).toContain('examples');
  });
});
