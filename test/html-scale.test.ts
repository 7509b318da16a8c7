// The HTML page leads with findings and stays a page a browser opens at once: on a
// database of 50,000 hosts it is under 2 MB, its long lists capped. How long Chromium takes
// to render it (the time to dump its DOM less an empty page's) is printed for the closing
// note, not asserted: a timed test fails on a busy machine, and times belong to the bench.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSynthetic } from '../src/samples/synthetic';
import { ROOT, runCli, tmpDir } from './helpers';

const HAVE_CHROMIUM = spawnSync('chromium', ['--version'], { stdio: 'ignore' }).status === 0;
const CHROME = ['--headless', '--no-sandbox', '--disable-gpu', '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-logging=stderr', '--v=0'];

function dumpDom(file: string, userData: string): { ms: number; dom: string; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('chromium', [...CHROME, `--user-data-dir=${userData}`, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 120000, maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`chromium failed: ${r.stderr}`);
  return { ms, dom: r.stdout, stderr: r.stderr };
}

const order = (dom: string, ids: string[]) => ids.map((id) => dom.indexOf(`id="${id}"`));

describe.skipIf(!HAVE_CHROMIUM)('the HTML page in Chromium', () => {
  const dir = tmpDir();

  it('the sample: findings and top conversations come right after the counts; hosts have one label and a drill-down', () => {
    const db = path.join(dir, 'sample.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), '--db', db, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml'), '--quiet']).code).toBe(0);
    const out = path.join(dir, 'sample.html');
    expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
    const { dom, stderr } = dumpDom(out, path.join(dir, 'profile-a'));
    expect(stderr).not.toMatch(/CONSOLE|Refused to execute/);
    const at = order(dom, ['summary', 'findings', 'conversations', 'matrix-section', 'timeline-section', 'hosts', 'host-details', 'endpoints']);
    expect(at.every((x) => x > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The unexpected RDP attempt is in the findings table, before the matrix.
    const findings = dom.slice(at[1], at[2]);
    expect(findings).toMatch(/rdp/);
    // A host with two roles is one row with one label.
    const hosts = dom.slice(at[5], at[6]);
    expect(hosts).toMatch(/<td data-h="roles"><bdi>domain-controller \+ dns-server<\/bdi><\/td>/);
    expect(dom).toMatch(/<details class="host" id="host-10-20-0-100">/);
  });

  it('50,000 hosts: the page is under 2 MB and Chromium renders it; long lists are capped and say so', () => {
    const pcap = path.join(dir, 's50k.pcap');
    writeSynthetic(pcap, { packets: 100000, flows: 50000 });
    const db = path.join(dir, 's50k.sqlite');
    expect(runCli(['analyze', pcap, '--db', db, '--quiet']).code).toBe(0);
    fs.rmSync(pcap);
    const out = path.join(dir, 's50k.html');
    const r = runCli(['report', 'html', '--db', db, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const size = fs.statSync(out).size;
    const blank = path.join(dir, 'blank.html');
    fs.writeFileSync(blank, '<!doctype html><title>blank</title>');
    const empty = dumpDom(blank, path.join(dir, 'profile-b')).ms;
    const { ms, dom } = dumpDom(out, path.join(dir, 'profile-c'));
    console.log(`html at 50k hosts: ${size} bytes; Chromium dump-dom ${ms.toFixed(0)} ms, empty page ${empty.toFixed(0)} ms, render ≈ ${Math.max(0, ms - empty).toFixed(0)} ms`);
    expect(size).toBeLessThan(2_000_000);
    expect(dom).toMatch(/200 of 5\d{4} rows shown; the biggest by bytes; exflow hosts lists all/);
    expect(order(dom, ['findings'])[0]).toBeLessThan(order(dom, ['matrix-section'])[0]);
  });
});

describe('the timeline', () => {
  it('one host with a 1970 clock does not stretch the axis: its flow is left off and counted under the chart', async () => {
    const { frame } = await import('../src/samples/frames');
    const { PcapFileWriter } = await import('../src/samples/writer');
    const dir = tmpDir();
    const odd = path.join(dir, 'clock-1970.pcap');
    const w = new PcapFileWriter(odd);
    w.write(3_000_000, frame('udp', { ip: '10.9.9.9', port: 5353 }, { ip: '10.10.0.10', port: 53 }, Buffer.from('x')));
    w.close();
    const db = path.join(dir, 't.sqlite');
    expect(runCli(['analyze', path.join(ROOT, 'samples', 'exchange-org.pcapng'), odd, '--separate', '--db', db, '--quiet']).code).toBe(0);
    const out = path.join(dir, 't.html');
    expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    const svg = /<svg id="timeline"[\s\S]*?<\/svg>/.exec(html)![0];
    const caption = /<p class="note" id="timeline-caption">[^<]*<\/p>/.exec(html)![0];
    expect(caption).toContain('2026-01-15'); // the axis spans the sample's day…
    expect(svg + caption).not.toContain('1970'); // …not 56 years
    expect(html).toMatch(/<p class="note" id="timeline-outliers">1 flow before the axis \(earliest 1970-01-01T00:00:03.000000Z\) not drawn\.<\/p>/);
  });
});
