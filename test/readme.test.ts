// The README shows a new user's first page as it really prints (issue 23, items 11 and
// the acceptance): its two blocks of output are what README command 1 and the
// no-inventory command print on a terminal 120 columns wide today (times masked), and
// every document it links to exists.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, screen, ROOT, tmpDir } from './helpers';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** What the commands print on a 120-column terminal, the progress bar's redraws removed and times masked. */
function onTerminal(commands: string[], dir: string): string {
  const cmd = `stty cols 120 rows 24; ${commands.map((c) => `${process.execPath} ${CLI} ${c}`).join(' && ')}`;
  // The README shows the defaults: a thread count from the environment (EXFLOW_THREADS) would add itself to the summary.
  const env = { ...process.env };
  delete env.EXFLOW_THREADS;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: dir, encoding: 'utf8', env });
  // What the terminal shows when the commands are done (the progress bar, cleared, shows nothing).
  return mask(screen(r.stdout.replace(/\r\n/g, '\n')).join('\n'));
}

const mask = (s: string) => s.replace(/\d+\.\d\d s, \d+ packets\/s/g, 'T s, N packets/s').trimEnd();

/** The README's fenced block that follows `after`. */
function blockAfter(after: string): string {
  const at = README.indexOf(after);
  expect(at, after).toBeGreaterThan(-1);
  const open = README.indexOf('```\n', at) + 4;
  return mask(README.slice(open, README.indexOf('```\n', open)));
}

describe.skipIf(!fs.existsSync('/usr/bin/script'))('the README as it prints', () => {
  const dir = tmpDir();
  fs.cpSync(path.join(ROOT, 'samples'), path.join(dir, 'samples'), { recursive: true });

  it('README command 1 prints what the README shows', () => {
    const out = onTerminal(['analyze samples/exchange-org.pcapng --db exflow.sqlite --inventory samples/inventory.yaml', 'flows --db exflow.sqlite --format table'], dir);
    expect(out).toBe(blockAfter('npm ci && npx exflow analyze samples/exchange-org.pcapng'));
  });

  it('the command without the inventory prints what the README shows', () => {
    const out = onTerminal(['analyze samples/exchange-org.pcapng --db wire.sqlite', 'hosts --db wire.sqlite --format table'], dir);
    expect(out).toBe(blockAfter('npx exflow analyze samples/exchange-org.pcapng --db wire.sqlite'));
  });
});

describe('the README', () => {
  it('links only to files that exist, and stays a first-hour page', () => {
    const links = [...README.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1]).filter((l) => !/^https?:/.test(l));
    expect(links.length).toBeGreaterThan(10);
    for (const l of links) expect(fs.existsSync(path.join(ROOT, l)), l).toBe(true);
    expect(README.split('\n').length).toBeLessThan(300);
  });
});
