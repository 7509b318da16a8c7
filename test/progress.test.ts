// The progress line and the warnings printed while it is drawn (issue 23, item 5): a
// warning lands on a line of its own above the bar, never on the bar's line; a new
// file of --separate is "reading" again; after stop() nothing draws a bar again; a
// signal's notice goes above the bar too. The screen is rebuilt from what was written,
// as a terminal shows it (carriage return: back to the start of the line).
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TerminalProgress } from '../src/cli/progress';
import { PhaseTimes } from '../src/run/progress';
import { CLI, ROOT, screen } from './helpers';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { tmpDir } from './helpers';
import { writeSynthetic } from '../src/samples/synthetic';

/** A terminal 100 columns wide, as cli-progress asks (isTTY, columns). */
class FakeTerminal {
  readonly isTTY = true;
  columns = 100;
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe('the progress line and warnings', () => {
  it('a warning goes above the bar, which is drawn again below it', () => {
    const t = new FakeTerminal();
    const p = new PhaseTimes(new TerminalProgress(t as unknown as NodeJS.WriteStream));
    p.startRun(2, 2_000_000);
    p.file(1, 'a.pcap', 1_000_000);
    p.update(500_000, 1000, 10);
    p.log('exflow: warning: a.pcap: byte 100: something', () => {
      throw new Error('the terminal progress must print it');
    });
    const s = screen(t.text);
    expect(s).toContain('exflow: warning: a.pcap: byte 100: something');
    expect(s.filter((l) => l.includes('warning') && l.includes('pkt/s'))).toEqual([]);
    expect(s[s.length - 1]).toMatch(/file 1\/2 .* pkt\/s/);
    // Several warnings in a row: each on its own line, one bar at the bottom.
    p.log('exflow: warning: second', () => {});
    p.log('exflow: warning: third', () => {});
    const s2 = screen(t.text);
    expect(s2.filter((l) => /pkt\/s/.test(l))).toHaveLength(1);
    expect(s2.slice(-3)).toEqual(['exflow: warning: second', 'exflow: warning: third', expect.stringMatching(/pkt\/s/)]);
  });

  it('the next file of --separate is "reading" again, not "writing flows"; after stop() no bar comes back', () => {
    const t = new FakeTerminal();
    const p = new PhaseTimes(new TerminalProgress(t as unknown as NodeJS.WriteStream));
    p.startRun(2, 2_000_000);
    p.file(1, 'a.pcap', 1_000_000);
    p.phase('writing flows');
    expect(screen(t.text).pop()).toMatch(/writing flows/);
    p.file(2, 'b.pcap', 1_000_000);
    expect(screen(t.text).pop()).toMatch(/file 2\/2/);
    expect(screen(t.text).pop()).not.toMatch(/writing flows/);
    p.stop();
    p.update(2_000_000, 5000, 20);
    p.phase('judging');
    expect(screen(t.text).pop()).toBe('');
  });

  it('the bar takes the width the terminal gives (200 columns: more than 10 characters), and the line fits it', () => {
    for (const columns of [80, 200]) {
      const t = new FakeTerminal();
      t.columns = columns;
      const p = new TerminalProgress(t as unknown as NodeJS.WriteStream);
      p.startRun(3, 3_000_000);
      p.file(2, 'b.pcap', 1_000_000);
      p.phase(null);
      const line = screen(t.text).pop()!;
      expect(line.length, line).toBeLessThan(columns);
      const bar = /\[([#.]+)\]/.exec(line)![1];
      if (columns === 200) expect(bar.length).toBeGreaterThan(40);
      else expect(bar.length).toBeGreaterThanOrEqual(10);
      p.stop();
      expect(screen(t.text).pop()).toBe('');
    }
  });

  it('without a bar (--quiet, a pipe) a warning goes where warnings go', () => {
    const got: string[] = [];
    const p = new PhaseTimes({ startRun() {}, file() {}, update() {}, phase() {}, stop() {} });
    p.log('exflow: warning: x', (l) => got.push(l));
    expect(got).toEqual(['exflow: warning: x']);
  });

  it.skipIf(!fs.existsSync('/usr/bin/script'))('a real run with --threads 2 on a terminal: the bar reaches 100% of the file', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'two.pcap');
    writeSynthetic(file, { packets: 400_000, flows: 20_000 });
    const cmd = `${process.execPath} ${CLI} analyze ${file} --threads 2 --db ${path.join(dir, 'x.sqlite')}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
    expect(r.status, r.stdout).toBe(0);
    const percents = [...r.stdout.matchAll(/\] +(\d+)%/g)].map((m) => Number(m[1]));
    expect(percents.length).toBeGreaterThan(0);
    expect(Math.max(...percents)).toBe(100);
    // Cleared when done: the screen's last lines are the summary, no bar.
    expect(screen(r.stdout.replace(/\r\n/g, '\n')).filter((l) => l.includes('pkt/s'))).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!fs.existsSync('/usr/bin/script'))('a real run on a terminal, stopped by Ctrl-C: the notice on a line of its own, no bar left behind', async () => {
    // `script` gives exflow a terminal; a Ctrl-C typed on it (ETX) is SIGINT to exflow, as a user's is.
    const dir = tmpDir();
    const file = path.join(dir, 'slow.pcap');
    writeSynthetic(file, { packets: 600_000, flows: 30_000, stepUs: 1000 });
    const cmd = `${process.execPath} ${CLI} analyze ${file} --db ${path.join(dir, 'x.sqlite')}`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (c) => {
      out += c;
      if (!sent && out.includes('pkt/s')) {
        sent = true;
        child.stdin.write('\x03');
      }
    });
    await new Promise((resolve) => child.on('close', resolve));
    const s = screen(out.replace(/\r\n/g, '\n'));
    expect(s.find((l) => l.includes('SIGINT: stopping at the next clean point'))).toMatch(/^exflow: SIGINT/);
    expect(s.find((l) => l.includes('interrupted by SIGINT'))).toMatch(/^exflow: interrupted by SIGINT/);
    expect(s.filter((l) => l.includes('pkt/s'))).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
