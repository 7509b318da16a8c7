// The HTML page as a reader meets it (issue 23, item 7): counts read "1 flow", the
// header says when the traffic was once, byte counts read in one unit style (sorted by
// the count), the heat map's legend looks like its cells, the timeline's labels never
// crowd each other even when the captures lie two decades apart, and the screenshots in
// docs/ are of the widths the README promises (1400 and 800 pixels).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alteredCopy, HAVE_TSHARK, ROOT, runCli, tmpDir } from './helpers';

const SAMPLE = path.join(ROOT, 'samples', 'exchange-org.pcapng');

function page(args: string[], dir: string, name: string): string {
  const db = path.join(dir, `${name}.sqlite`);
  expect(runCli(['analyze', ...args, '--db', db, '--quiet']).code).toBe(0);
  const out = path.join(dir, `${name}.html`);
  expect(runCli(['report', 'html', '--db', db, '--out', out]).code).toBe(0);
  return fs.readFileSync(out, 'utf8');
}

describe('the HTML page', () => {
  const dir = tmpDir();
  let html = '';
  beforeAll(() => {
    html = page([SAMPLE, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml')], dir, 'sample');
  });

  it('a database whose minute totals count flows it does not hold: one line naming it, exit 3, no page', () => {
    const db = alteredCopy(path.join(dir, 'sample.sqlite'), path.join(dir, 'damaged.sqlite'), 'DELETE FROM flows');
    const out = path.join(dir, 'damaged.html');
    const r = runCli(['report', 'html', '--db', db, '--out', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^exflow: .*damaged\.sqlite: the database's minute totals \(flow_minutes\) count flows of the minute at \d+ .* that its flows table does not hold: a damaged database \(analyze its captures again\)\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('counts agree with their nouns: "1 flow", never "1 flows"', () => {
    const text = html.replace(/<[^>]*>/g, ' ');
    expect(text).not.toMatch(/\b1 (flows|findings|captures)\b/);
    expect(text).toMatch(/\(1 flow\)/);
  });

  it('the header gives the span once: the day once, both times, how long', () => {
    expect(html).toContain('<p>traffic on 2026-01-15 from 09:00:00.000000Z to 09:00:00.480400Z (less than a second)</p>');
  });

  it('every byte count reads with a unit and sorts by the count itself', () => {
    const cells = [...html.matchAll(/<td class="n" data-h="bytes[^"]*" data-v="(\d+)">([^<]*)<\/td>/g)];
    expect(cells.length).toBeGreaterThan(10);
    for (const [, v, shown] of cells) {
      expect(shown).toMatch(/^\d+(\.\d)? (B|kB|MB|GB|TB)$/);
      const n = Number(v);
      const [num, unit] = shown.split(' ');
      const scale = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[unit as 'B']!;
      expect(Math.abs(Number(num) * scale - n)).toBeLessThanOrEqual(0.05 * scale + 0.5);
    }
    // No bytes column holds a bare number beside them.
    for (const table of html.match(/<table[\s\S]*?<\/table>/g)!) {
      const heads = [...table.matchAll(/<th>([^<]*)<\/th>/g)].map((m) => m[1]);
      const byteCols = heads.map((h, i) => (/^bytes(_|$)/.test(h) ? i : -1)).filter((i) => i >= 0);
      for (const row of table.match(/<tr>(?:(?!<\/tr>)[\s\S])*<\/tr>/g)!.slice(1)) {
        const tds = row.match(/<td[^>]*>/g) ?? [];
        for (const i of byteCols) expect(tds[i]).toMatch(/data-v=/);
      }
    }
  });

  it('other counts read with their thousands grouped, and sort by the count itself', () => {
    const counts = [...html.matchAll(/<td class="n" data-h="(?!bytes)[^"]*" data-v="(\d+)">([^<]*)<\/td>/g)];
    expect(counts.length).toBeGreaterThan(10);
    for (const [, v, shown] of counts) expect(shown).toBe(Number(v).toLocaleString('en-US'));
    // The summary's figures likewise (a page of a million flows says 1,000,000).
    expect(html).toMatch(/<b>217<\/b>packets in flows/);
  });

  it('the heat map\'s legend shows the cells as they are drawn: the verdict frames a blue fill', () => {
    const svg = /<svg id="matrix"[\s\S]*?<\/svg>/.exec(html)![0];
    const cellFrames = new Set([...svg.matchAll(/fill="#1565c0" fill-opacity="[\d.]+" stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]));
    const legendFrames = new Set([...html.matchAll(/<span class="swatch" style="border-color:(#[0-9a-f]{6})"><\/span>/g)].map((m) => m[1]));
    expect(cellFrames.size).toBeGreaterThan(1);
    for (const c of cellFrames) expect(legendFrames.has(c)).toBe(true);
    expect(html).toMatch(/\.legend \.swatch\{[^}]*background:rgba\(21,101,192,/); // #1565c0, the cells' fill
  });

  it.skipIf(!HAVE_TSHARK)('captures twenty years apart: at most seven time labels, none over another', () => {
    const old = path.join(dir, 'old.pcapng');
    // editcap (Wireshark's) moves every packet back 20 years (631,152,000 s).
    expect(spawnSync('editcap', ['-t', '-631152000', SAMPLE, old]).status).toBe(0);
    const two = page([SAMPLE, old, '--separate'], dir, 'decades');
    const svg = /<svg id="timeline"[\s\S]*?<\/svg>/.exec(two)![0];
    const labels = [...svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([^<]*)<\/text>/g)].map((m) => ({ x: Number(m[1]), text: m[2] }));
    expect(labels.length).toBeGreaterThanOrEqual(3);
    expect(labels.length).toBeLessThanOrEqual(7);
    for (let i = 1; i < labels.length; i++) {
      // 12px system-ui: no more than 7.5 px a character; centred labels need half of each.
      const room = (labels[i - 1].text.length + labels[i].text.length) * 7.5 / 2;
      expect(labels[i].x - labels[i - 1].x, `${labels[i - 1].text} / ${labels[i].text}`).toBeGreaterThan(room);
    }
    expect(two).toMatch(/traffic from 2006-01-\d\dT[\d:.]+Z to 2026-01-15T09:00:00\.480400Z \(\d+ days\)/);
  });

  it('docs/ holds the page at 1400 and 800 pixels (scripts/report-screenshot.sh)', () => {
    const width = (f: string) => fs.readFileSync(path.join(ROOT, 'docs', f)).readUInt32BE(16); // PNG IHDR width
    expect(width('report.png')).toBe(1400);
    expect(width('report-800.png')).toBe(800);
  });
});

const HAVE_CHROMIUM = spawnSync('chromium', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Where the page, laid out by Chromium `width` pixels wide, cuts a table: the headings of the cells
 * that end right of the page's text column or of the box that would scroll them (issue 32 item 12).
 * The page's own script policy allows only its sort script: the copy measured drops the policy and
 * adds the measurement, which writes its answer into the DOM Chromium dumps.
 */
function cutCells(html: string, dir: string, width: number): string[] {
  const file = path.join(dir, `measure-${width}.html`);
  const measure = `<script>addEventListener('load',function(){var out=[],right=document.body.getBoundingClientRect().right+1;
    document.querySelectorAll('td').forEach(function(td){var r=td.getBoundingClientRect();var box=td.closest('div.wide');
      if(r.right>right||(box&&r.right>box.getBoundingClientRect().right+1))out.push(td.dataset.h)});
    document.body.setAttribute('data-cut',JSON.stringify(out))})</script>`;
  fs.writeFileSync(file, html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '').replace('</body>', `${measure}</body>`));
  const r = spawnSync(
    'chromium',
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND', `--window-size=${width},1000`, '--virtual-time-budget=3000', '--dump-dom', `file://${file}`],
    { encoding: 'utf8', timeout: 90000 },
  );
  expect(r.status, r.stderr).toBe(0);
  const m = /data-cut="([^"]*)"/.exec(r.stdout);
  expect(m, 'the measurement ran').not.toBeNull();
  return JSON.parse(m![1].replace(/&quot;/g, '"'));
}

describe.skipIf(!HAVE_CHROMIUM)('the HTML page at 800 and 1400 pixels', () => {
  it('cuts no column of any table, on the sample and on 10,000 flows between many roles', () => {
    const dir = tmpDir();
    const sample = page([SAMPLE, '--inventory', path.join(ROOT, 'samples', 'inventory.yaml')], dir, 'sample');
    const pcap = path.join(dir, 's10k.pcap');
    require(path.join(ROOT, 'dist', 'samples', 'synthetic.js')).writeSynthetic(pcap, { packets: 40000, flows: 10000 });
    const big = page([pcap], dir, 'big');
    // The pages have what used to be cut: the unexpected table's times, reasons of hosts with several roles.
    expect(big).toMatch(/data-h="last_seen"/);
    expect(big).toMatch(/\(\d+ services allowed by \d+ rules\)/);
    expect(cutCells(sample, dir, 800), 'sample at 800 px').toEqual([]);
    for (const width of [800, 1400]) expect(cutCells(big, dir, width), `10,000 flows at ${width} px`).toEqual([]);
    // The measurement sees a cut: the old layout (a table as wide as its cells, never wrapped) is cut at 800 px.
    const old = sample.replace('</style>', 'table.sortable{display:table!important}table.sortable thead{display:table-header-group!important}table.sortable tr{display:table-row!important}table.sortable td{display:table-cell!important;white-space:nowrap}div.wide{overflow:visible}</style>');
    expect(cutCells(old, dir, 800)).toContain('last_seen');
  });
});
